// Package sandbox is a whole release world on this machine, for the demo and the end-to-end
// tests: an OCI registry (go-containerregistry's, in process), the GitHub API server with the
// application and downstream repositories, a throwaway signing key, and a builder that builds
// images in memory the way the Dagger module builds them in an engine. Nothing leaves 127.0.0.1.
package sandbox

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"

	"github.com/shipgate/shipgate/pipeline/clock"
	"github.com/shipgate/shipgate/pipeline/config"
	"github.com/shipgate/shipgate/pipeline/github"
	"github.com/shipgate/shipgate/pipeline/githubserver"
	"github.com/shipgate/shipgate/pipeline/release"
	"github.com/shipgate/shipgate/pipeline/testkit"
)

// Names of the sandbox's repositories and tokens.
const (
	Repo            = "acme/app"
	DownstreamRepo  = "acme/smoke"
	Token           = "ghs_sandboxReleaseToken0001"
	DownstreamToken = "ghs_sandboxSmokeToken0002"
	RegistryUser    = "releaser"
	RegistryPass    = "sandbox-registry-pass-0003"
)

// InitialChangelog is the CHANGELOG the application repository starts with.
const InitialChangelog = `# Changelog

All notable changes to this project are documented in this file.

## [Unreleased]

### Added
- Multi-arch images for amd64 and arm64.
- A health endpoint at /healthz.

## [0.3.0] - 2026-10-01

### Added
- First public image.

[Unreleased]: https://github.com/acme/app/compare/v0.3.0...HEAD
[0.3.0]: https://github.com/acme/app/releases/tag/v0.3.0
`

// Options shape a sandbox.
type Options struct {
	// Referrers turns on the registry's OCI referrers API (off: GHCR-like tag fallback).
	Referrers bool
	// Clock drives the GitHub server's dates; nil is the wall clock.
	Clock clock.Clock
	// PageSize makes GitHub list pages small, to exercise pagination; 0 is GitHub's default.
	PageSize int
	// Token puts a token service in front of the registry, as ghcr.io has one (the registry
	// user's password buys push tokens); Sandbox.RegistryTokens counts what it hands out.
	Token bool
}

// Sandbox is a running release world.
type Sandbox struct {
	// Registry is the registry's host:port; Image the application's image repository in it.
	Registry string
	Image    string
	GitHub   *githubserver.Server
	// KeyPEM and PubPEM are the throwaway signing key pair.
	KeyPEM, PubPEM []byte
	// Builder builds platform images in memory and pushes them to the registry.
	Builder *Builder
	// RegistryTokens counts the registry's tokens (Options.Token); nil without a token service.
	RegistryTokens *testkit.TokenLog

	regSrv *http.Server
}

// Start brings the sandbox up.
func Start(o Options) (*Sandbox, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	var h http.Handler = ggcrregistry.New(ggcrregistry.WithReferrersSupport(o.Referrers), ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	var tokens *testkit.TokenLog
	if o.Token {
		h, tokens = testkit.TokenAuth(h, RegistryUser, RegistryPass)
	} else {
		h = basicAuth(h, RegistryUser, RegistryPass)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	s := &Sandbox{Registry: ln.Addr().String(), regSrv: srv, RegistryTokens: tokens}
	s.Image = s.Registry + "/acme/app"

	gh := githubserver.New(githubserver.Options{Clock: o.Clock, PageSize: o.PageSize, EagerMergeability: true})
	// The base branch requires one approving review, as most release repositories do.
	gh.AddRepo(Repo, githubserver.RepoOptions{Private: true, AllowAutoMerge: true, RequiredApprovals: 1, Files: map[string]string{
		"CHANGELOG.md": InitialChangelog,
		"Dockerfile":   "FROM scratch\nCOPY app /app\nENTRYPOINT [\"/app\"]\n",
		"main.go":      "package main\n\nfunc main() {}\n",
	}})
	gh.AddRepo(DownstreamRepo, githubserver.RepoOptions{Private: true})
	gh.AddToken(Token, "release-bot", map[string]githubserver.Perm{Repo: githubserver.PermPush})
	gh.AddToken(DownstreamToken, "smoke-bot", map[string]githubserver.Perm{DownstreamRepo: githubserver.PermPush})
	s.GitHub = gh

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	s.KeyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	s.PubPEM = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})
	s.Builder = &Builder{Username: RegistryUser, Password: RegistryPass, Insecure: true}
	return s, nil
}

// Close stops the servers.
func (s *Sandbox) Close() {
	_ = s.regSrv.Close()
	s.GitHub.Close()
}

// Env is a release environment pointing at the sandbox: key-mode signing with the throwaway key
// (no transparency log: nothing leaves this machine), the downstream smoke test on, the settings
// validated as a real run validates them.
func (s *Sandbox) Env() *release.Env {
	st := config.Settings{
		Image: s.Image, Repo: Repo, GitHubAPI: s.GitHub.APIURL(),
		RegistryUsername: RegistryUser, HasRegistryPassword: true, HasGitHubToken: true, HasDownstreamToken: true,
		Sign: config.SignKey, HasSigningKey: true, HasVerifyKey: true, TlogUpload: false,
		Downstream: DownstreamRepo, FloatingTags: true, PlainHTTP: []string{s.Registry},
	}
	st.Defaults()
	return &release.Env{
		Settings: st,
		Secrets: release.Secrets{RegistryPassword: RegistryPass, GitHubToken: Token, DownstreamToken: DownstreamToken,
			SigningKey: s.KeyPEM, VerifyKey: s.PubPEM},
	}
}

// Checkout writes a clean checkout of branch into dir, as actions/checkout leaves it (the files,
// and .git/HEAD at the branch's head commit), and returns that commit.
func (s *Sandbox) Checkout(ctx context.Context, branch, dir string) (string, error) {
	sha, ok := s.GitHub.Ref(Repo, "refs/heads/"+branch)
	if !ok {
		return "", fmt.Errorf("branch %s not found in %s", branch, Repo)
	}
	c, err := github.New(github.Options{BaseURL: s.GitHub.APIURL(), Token: Token})
	if err != nil {
		return "", err
	}
	r := github.Repo{Owner: "acme", Name: "app"}
	tree, err := c.CommitTree(ctx, r, sha)
	if err != nil {
		return "", err
	}
	for path, e := range tree {
		b, _, err := c.FileAt(ctx, r, sha, path)
		if err != nil {
			return "", err
		}
		mode := os.FileMode(0o644)
		if e.Mode == "100755" {
			mode = 0o755
		}
		p := filepath.Join(dir, filepath.FromSlash(path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(p, b, mode); err != nil {
			return "", err
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, ".git"), 0o755); err != nil {
		return "", err
	}
	return sha, os.WriteFile(filepath.Join(dir, ".git", "HEAD"), []byte(sha+"\n"), 0o644)
}

// EditChangelog plays a developer committing a new CHANGELOG on branch; it returns the commit.
func (s *Sandbox) EditChangelog(branch string, edit func(string) string) string {
	sha, _ := s.GitHub.Ref(Repo, "refs/heads/"+branch)
	cl, _ := s.GitHub.File(Repo, sha, "CHANGELOG.md")
	return s.GitHub.CommitFiles(Repo, branch, map[string]string{"CHANGELOG.md": edit(cl)}, "docs: edit CHANGELOG")
}

// Maintainer is who reviews release pull requests in the sandbox.
const Maintainer = "maintainer"

// ReviewRelease plays a maintainer who read the release notes of ver: the release PR is marked
// ready for review and approved. It returns the PR number, 0 when there is no open release PR.
func (s *Sandbox) ReviewRelease(ver string) int {
	branch := "release/" + strings.TrimPrefix(ver, "v")
	for _, p := range s.GitHub.Pulls(Repo) {
		if p.Head == branch && p.State == "open" {
			s.GitHub.MarkReady(Repo, p.Number)
			s.GitHub.Approve(Repo, p.Number, Maintainer)
			return p.Number
		}
	}
	return 0
}

// PassSmokeTest plays the downstream repository's smoke test passing for version vX.Y.Z of the
// build with the given index digest: it creates the pre-release that promote's gate looks for.
func (s *Sandbox) PassSmokeTest(ver, digest string) {
	s.PassSmokeTestOf("v"+strings.TrimPrefix(ver, "v"), digest)
}

// PassSmokeTestOf is PassSmokeTest for a build whose git tag is tag (bare tags: 1.2.3-rc4).
func (s *Sandbox) PassSmokeTestOf(tag, digest string) {
	s.GitHub.CreateRelease(DownstreamRepo, githubserver.ReleaseSeed{Tag: tag, Name: "smoke " + tag, Prerelease: true,
		Body: "Smoke test passed for ghcr image " + digest + "\n"})
}

func basicAuth(next http.Handler, user, pass string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != user || p != pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="sandbox"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}
