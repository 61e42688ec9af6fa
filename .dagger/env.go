package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"dagger/shipgate/internal/dagger"

	"github.com/shipgate/shipgate/pipeline/release"
	"github.com/shipgate/shipgate/pipeline/step"
)

// run carries GitHub Actions facts given as function arguments.
type run struct{ id, attempt, workflowRef string }

// env turns the module's settings and secrets into a release environment. Secrets become plain
// text here, inside this function's process, and go nowhere else: not into argv, not into a
// container, not into the report.
func (m *Shipgate) env(ctx context.Context, dryRun bool, r run) (*release.Env, error) {
	var sec release.Secrets
	var err error
	read := func(s *dagger.Secret) string {
		if s == nil || err != nil {
			return ""
		}
		var v string
		v, err = s.Plaintext(ctx)
		return v
	}
	readFile := func(f *dagger.File) []byte {
		if f == nil || err != nil {
			return nil
		}
		var v string
		v, err = f.Contents(ctx)
		return []byte(v)
	}
	sec.RegistryPassword = read(m.RegistryPassword)
	sec.GitHubToken = read(m.GithubToken)
	sec.DownstreamToken = read(m.DownstreamToken)
	sec.SigningKey = []byte(read(m.SigningKey))
	sec.SigningPassword = []byte(read(m.SigningPassword))
	sec.OIDCRequestURL = read(m.OidcRequestURL)
	sec.OIDCRequestToken = read(m.OidcRequestToken)
	sec.VerifyKey = readFile(m.VerifyKey)
	sec.TrustedRoot = readFile(m.TrustedRoot)
	if err != nil {
		return nil, fmt.Errorf("read a secret or file argument: %w", err)
	}
	return &release.Env{
		Settings: m.settings(),
		Secrets:  sec,
		Run:      release.Run{ID: r.id, Attempt: r.attempt, WorkflowRef: r.workflowRef},
		DryRun:   dryRun,
		Progress: os.Stderr,
	}, nil
}

// result renders a phase's report in the chosen format. A failed phase is an error (a non-zero
// exit from dagger call) whose message is the whole report, so nothing of it is lost.
func (m *Shipgate) result(rep *step.Report, err error) (string, error) {
	out, rerr := rep.Render(m.Format)
	if rerr != nil {
		return "", rerr
	}
	if err != nil {
		return "", fmt.Errorf("%s", strings.TrimRight(out, "\n"))
	}
	return out, nil
}

// checkout exports the source directory into this function's container, where pipeline compares
// it with the commit's tree and reads the CHANGELOG.
func (m *Shipgate) checkout(ctx context.Context) (string, error) {
	if m.Source == nil {
		return "", fmt.Errorf("no source directory: pass --source (a git checkout of the repository)")
	}
	dir, err := os.MkdirTemp("", "shipgate-src-")
	if err != nil {
		return "", err
	}
	if _, err := m.Source.Export(ctx, dir); err != nil {
		return "", fmt.Errorf("export the source directory: %w", err)
	}
	return dir, nil
}

// parseDigests reads --platform-digest PLATFORM=DIGEST items.
func parseDigests(items []string) (map[string]string, error) {
	out := map[string]string{}
	for _, it := range items {
		p, d, ok := strings.Cut(it, "=")
		if !ok || p == "" || !strings.HasPrefix(d, "sha256:") {
			return nil, fmt.Errorf("--platform-digest %q is not PLATFORM=sha256:DIGEST", it)
		}
		out[p] = d
	}
	return out, nil
}
