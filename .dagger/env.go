package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"dagger/shipgate/internal/dagger"

	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/release"
	"github.com/shipgate/shipgate/pipeline/step"
)

// run carries GitHub Actions facts given as function arguments.
type run struct {
	id, attempt, workflowRef string
	breakStale               bool // --break-stale-lock
}

// env turns the module's settings and secrets into a release environment. Secrets become plain
// text here, inside this function's process, and go nowhere else: not into argv, not into a
// container, not into the report.
func (m *Shipgate) env(ctx context.Context, dryRun bool, r run) (*release.Env, error) {
	var sec release.Secrets
	var err error
	read := func(flag string, s *dagger.Secret) string {
		if s == nil || err != nil {
			return ""
		}
		v, e := s.Plaintext(ctx)
		if e != nil {
			err = fmt.Errorf("%s: could not read the secret (check its env:, file: or cmd: source): %w", flag, e)
		}
		return v
	}
	readFile := func(flag string, f *dagger.File) []byte {
		if f == nil || err != nil {
			return nil
		}
		v, e := f.Contents(ctx)
		if e != nil {
			err = fmt.Errorf("%s: could not read the file: %w", flag, e)
		}
		return []byte(v)
	}
	sec.RegistryPassword = read("--registry-password", m.RegistryPassword)
	sec.GitHubToken = read("--github-token", m.GithubToken)
	sec.DownstreamToken = read("--downstream-token", m.DownstreamToken)
	sec.SigningKey = []byte(read("--signing-key", m.SigningKey))
	sec.SigningPassword = []byte(read("--signing-password", m.SigningPassword))
	sec.OIDCRequestURL = read("--oidc-request-url", m.OidcRequestURL)
	sec.OIDCRequestToken = read("--oidc-request-token", m.OidcRequestToken)
	sec.VerifyKey = readFile("--verify-key", m.VerifyKey)
	sec.TrustedRoot = readFile("--trusted-root", m.TrustedRoot)
	if err != nil {
		return nil, fault.AsBadInput(err)
	}
	return &release.Env{
		Settings: m.settings(),
		Secrets:  sec,
		Run:      release.Run{ID: r.id, Attempt: r.attempt, WorkflowRef: r.workflowRef},
		DryRun:   dryRun,
		Progress: os.Stderr,
		Lock:     release.LockOptions{BreakStale: r.breakStale},
	}, nil
}

// phase runs one phase with this call's environment and renders its report.
func (m *Shipgate) phase(ctx context.Context, dryRun bool, r run, do func(env *release.Env) (*step.Report, error)) (string, error) {
	env, err := m.env(ctx, dryRun, r)
	if err != nil {
		return "", err
	}
	return m.result(do(env))
}

// inCheckout is phase for the phases that read the source tree: it is exported into this
// function's container first.
func (m *Shipgate) inCheckout(ctx context.Context, dryRun bool, r run, do func(env *release.Env, dir string) (*step.Report, error)) (string, error) {
	dir, err := m.checkout(ctx)
	if err != nil {
		return "", err
	}
	return m.phase(ctx, dryRun, r, func(env *release.Env) (*step.Report, error) { return do(env, dir) })
}

// result renders a phase's report in the chosen format. A failed phase is an error (a non-zero
// exit from dagger call) whose message is the whole report, so nothing of it is lost; with
// --no-fail it is the value, its verdict inside it.
func (m *Shipgate) result(rep *step.Report, err error) (string, error) {
	out, rerr := rep.Render(m.Format)
	if rerr != nil {
		return "", rerr
	}
	if err != nil && !m.NoFail {
		return "", fmt.Errorf("%s", strings.TrimRight(out, "\n"))
	}
	return out, nil
}

// checkout exports the source directory into this function's container, where pipeline compares
// it with the commit's tree and reads the CHANGELOG.
func (m *Shipgate) checkout(ctx context.Context) (string, error) {
	if m.Source == nil {
		return "", fault.BadInputf("no source directory: pass --source (a git checkout of the repository)")
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
			return nil, fault.BadInputf("--platform-digest %q is not PLATFORM=sha256:DIGEST", it)
		}
		out[p] = d
	}
	return out, nil
}

// scanOf turns --scan, --scan-fail-on and the --scan-ignore file into publish's scan settings;
// nil without --scan.
func scanOf(ctx context.Context, scan bool, failOn string, ignore *dagger.File) (*release.Scan, error) {
	if !scan {
		if ignore != nil {
			return nil, fault.BadInputf("--scan-ignore is given but --scan is not: add --scan")
		}
		return nil, nil
	}
	sc := &release.Scan{FailOn: failOn}
	if ignore != nil {
		text, err := ignore.Contents(ctx)
		if err != nil {
			return nil, fault.BadInputf("--scan-ignore: could not read the file: %v", err)
		}
		sc.Ignore = []byte(text)
	}
	return sc, nil
}
