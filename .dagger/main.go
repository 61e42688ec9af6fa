// Shipgate releases a container image in two phases with an inspection window between them.
//
// publish finalizes the CHANGELOG in a commit, builds every platform from exactly that tree,
// pushes X.Y.Z (never latest), signs and attests it, drafts the GitHub release and dispatches a
// downstream smoke test. promote checks every gate against the image digest, then moves latest to
// that digest, publishes the release and merges the release PR. Every step looks at the world
// first, so re-running a phase finishes what a failed run left half-done.
//
// All release logic lives in the plain-Go packages under pipeline/; this module is the glue that
// turns arguments and secrets into settings, builds containers, and calls pipeline.
package main

import (
	"context"
	"fmt"

	"dagger/shipgate/internal/dagger"

	"github.com/shipgate/shipgate/pipeline/config"
)

// Shipgate holds the settings every function shares.
type Shipgate struct {
	Source *dagger.Directory

	Image      string
	Repo       string
	GithubAPI  string
	BaseBranch string

	RegistryUsername string
	RegistryPassword *dagger.Secret
	GithubToken      *dagger.Secret
	DownstreamToken  *dagger.Secret

	Sign             string
	SigningKey       *dagger.Secret
	SigningPassword  *dagger.Secret
	OidcRequestURL   *dagger.Secret
	OidcRequestToken *dagger.Secret
	FulcioURL        string
	RekorURL         string
	NoTlogUpload     bool

	VerifyKey                 *dagger.File
	TrustedRoot               *dagger.File
	CertificateIdentity       string
	CertificateIdentityRegexp string
	CertificateOidcIssuer     string
	Workflow                  string

	Downstream        string
	DownstreamGate    string
	DownstreamTagOnly bool
	EventType         string

	Platforms    []string
	Dockerfile   string
	BuildArgs    []string
	Changelog    string
	FloatingTags bool
	Format       string
	PlainHTTP    []string
}

// New configures shipgate for one repository and image. Every setting is checked here, so a typo
// fails before anything is built or pushed.
func New(
	// Source tree to release: the repository root (default: the directory dagger is called from).
	// Pass --source . when calling the module from another repository.
	// +defaultPath="/"
	// +ignore=["bin", "dist", "build", "node_modules", ".dagger/internal"]
	// +optional
	source *dagger.Directory,
	// Image repository without tag, e.g. ghcr.io/acme/app.
	// +optional
	image string,
	// GitHub repository owner/name, e.g. acme/app.
	// +optional
	repo string,
	// GitHub REST API base URL; for GitHub Enterprise Server https://HOST/api/v3/.
	// +optional
	// +default="https://api.github.com/"
	githubAPI string,
	// Branch the release PR merges into.
	// +optional
	// +default="main"
	baseBranch string,
	// Registry username (for GHCR: the GitHub user or github.actor).
	// +optional
	registryUsername string,
	// Registry password or token (for GHCR: a token with write:packages), e.g. env:GHCR_TOKEN.
	// +optional
	registryPassword *dagger.Secret,
	// GitHub token for this repository. Use a GitHub App or personal token: commits made with the
	// Actions GITHUB_TOKEN trigger no workflows, so the release PR's checks would never run.
	// +optional
	githubToken *dagger.Secret,
	// Token that may dispatch to and read releases of the downstream repository.
	// +optional
	downstreamToken *dagger.Secret,
	// Signing mode: keyless (GitHub OIDC → Fulcio/Rekor), key (cosign key pair) or none.
	// +optional
	// +default="keyless"
	sign string,
	// cosign private key (from cosign generate-key-pair) for --sign=key, e.g. env:COSIGN_KEY.
	// +optional
	signingKey *dagger.Secret,
	// Password of the cosign private key, e.g. env:COSIGN_PASSWORD.
	// +optional
	signingPassword *dagger.Secret,
	// For keyless signing in GitHub Actions: env:ACTIONS_ID_TOKEN_REQUEST_URL.
	// +optional
	oidcRequestURL *dagger.Secret,
	// For keyless signing in GitHub Actions: env:ACTIONS_ID_TOKEN_REQUEST_TOKEN.
	// +optional
	oidcRequestToken *dagger.Secret,
	// Fulcio URL for keyless signing.
	// +optional
	// +default="https://fulcio.sigstore.dev"
	fulcioURL string,
	// Rekor URL for the transparency log.
	// +optional
	// +default="https://rekor.sigstore.dev"
	rekorURL string,
	// Key mode only: do not upload signatures to Rekor (private deployments; verify with
	// cosign --insecure-ignore-tlog).
	// +optional
	noTlogUpload bool,
	// Public key (cosign.pub) that promote verifies signatures against in key mode.
	// +optional
	verifyKey *dagger.File,
	// Trusted root JSON for keyless verification (default: the Sigstore public-good root).
	// +optional
	trustedRoot *dagger.File,
	// Keyless: exact certificate identity to require. Default: derived from --repo and --workflow.
	// +optional
	certificateIdentity string,
	// Keyless: regular expression the certificate identity must match (instead of an exact one).
	// +optional
	certificateIdentityRegexp string,
	// Keyless: OIDC issuer to require.
	// +optional
	// +default="https://token.actions.githubusercontent.com"
	certificateOidcIssuer string,
	// Path of the publish workflow, from which the default keyless identity is derived.
	// +optional
	// +default=".github/workflows/release.yml"
	workflow string,
	// Downstream repository (owner/name) that runs the smoke test; empty: no dispatch, no gate.
	// +optional
	downstream string,
	// Which downstream release counts as a passed smoke test: prerelease, release or any.
	// +optional
	// +default="prerelease"
	downstreamGate string,
	// Accept a downstream release for the tag even if it does not name the dispatched digest.
	// +optional
	downstreamTagOnly bool,
	// repository_dispatch event type sent to the downstream repository.
	// +optional
	// +default="shipgate-smoke-test"
	eventType string,
	// Platforms to build, e.g. linux/amd64,linux/arm64.
	// +optional
	// +default=["linux/amd64", "linux/arm64"]
	platforms []string,
	// Dockerfile path inside the source tree.
	// +optional
	// +default="Dockerfile"
	dockerfile string,
	// Build arguments KEY=VALUE (repeatable).
	// +optional
	buildArg []string,
	// CHANGELOG path inside the source tree.
	// +optional
	// +default="CHANGELOG.md"
	changelog string,
	// Also move the floating tags X.Y and X on promote and rollback.
	// +optional
	floatingTags bool,
	// Output format of every function: text, markdown (for $GITHUB_STEP_SUMMARY) or json.
	// +optional
	// +default="text"
	format string,
	// Registry or API hosts (host:port) that may be reached over plain HTTP; loopback always may.
	// +optional
	plainHTTP []string,
) (*Shipgate, error) {
	m := &Shipgate{
		Source: source, Image: image, Repo: repo, GithubAPI: githubAPI, BaseBranch: baseBranch,
		RegistryUsername: registryUsername, RegistryPassword: registryPassword,
		GithubToken: githubToken, DownstreamToken: downstreamToken,
		Sign: sign, SigningKey: signingKey, SigningPassword: signingPassword,
		OidcRequestURL: oidcRequestURL, OidcRequestToken: oidcRequestToken,
		FulcioURL: fulcioURL, RekorURL: rekorURL, NoTlogUpload: noTlogUpload,
		VerifyKey: verifyKey, TrustedRoot: trustedRoot,
		CertificateIdentity: certificateIdentity, CertificateIdentityRegexp: certificateIdentityRegexp,
		CertificateOidcIssuer: certificateOidcIssuer, Workflow: workflow,
		Downstream: downstream, DownstreamGate: downstreamGate, DownstreamTagOnly: downstreamTagOnly, EventType: eventType,
		Platforms: platforms, Dockerfile: dockerfile, BuildArgs: buildArg, Changelog: changelog,
		FloatingTags: floatingTags, Format: format, PlainHTTP: plainHTTP,
	}
	if err := m.settings().ValidateGiven(); err != nil {
		return nil, err
	}
	return m, nil
}

// settings turns the module's fields into pipeline settings (secrets only as "given or not").
func (m *Shipgate) settings() config.Settings {
	s := config.Settings{
		Image: m.Image, Repo: m.Repo, GitHubAPI: m.GithubAPI, BaseBranch: m.BaseBranch,
		RegistryUsername:    m.RegistryUsername,
		HasRegistryPassword: m.RegistryPassword != nil, HasGitHubToken: m.GithubToken != nil, HasDownstreamToken: m.DownstreamToken != nil,
		Sign: m.Sign, HasSigningKey: m.SigningKey != nil, FulcioURL: m.FulcioURL, RekorURL: m.RekorURL, TlogUpload: !m.NoTlogUpload,
		HasVerifyKey: m.VerifyKey != nil, HasTrustedRoot: m.TrustedRoot != nil,
		CertIdentity: m.CertificateIdentity, CertIdentityRegexp: m.CertificateIdentityRegexp, CertOIDCIssuer: m.CertificateOidcIssuer,
		Workflow:   m.Workflow,
		Downstream: m.Downstream, DownstreamGate: m.DownstreamGate, DownstreamTagOnly: m.DownstreamTagOnly, EventType: m.EventType,
		Platforms: m.Platforms, Dockerfile: m.Dockerfile, BuildArgs: m.BuildArgs, Changelog: m.Changelog,
		Format: m.Format, PlainHTTP: m.PlainHTTP,
	}
	s.Defaults()
	return s
}

// Prepare opens a release: the branch release/X.Y.Z from the base branch, its CHANGELOG section
// `## [X.Y.Z] - TBD`, and a draft release PR into the base branch. Re-running reuses what exists.
// +cache="never"
func (m *Shipgate) Prepare(
	ctx context.Context,
	// Version to release, X.Y.Z or X.Y.Z-rc.N (a leading v is accepted).
	version string,
	// Observe only: print the plan, change nothing.
	// +optional
	dryRun bool,
) (string, error) {
	return "", fmt.Errorf("prepare %s: not implemented yet", version)
}

// Publish is phase 1: finalize the CHANGELOG in a commit, build every platform from exactly that
// tree, push X.Y.Z-<arch> and the X.Y.Z index (never latest), sign and attest, tag, draft the
// GitHub release and dispatch the downstream smoke test.
// +cache="never"
func (m *Shipgate) Publish(
	ctx context.Context,
	// Version to release, X.Y.Z or X.Y.Z-rc.N (a leading v is accepted).
	version string,
	// Observe only: print the plan, change nothing.
	// +optional
	dryRun bool,
) (string, error) {
	return "", fmt.Errorf("publish %s: not implemented yet", version)
}

// Promote is phase 2: check every gate against the X.Y.Z index digest, then move latest to that
// digest, publish the release and merge the release PR.
// +cache="never"
func (m *Shipgate) Promote(
	ctx context.Context,
	// Version to promote.
	version string,
	// Observe only: evaluate the gates and print the plan, change nothing.
	// +optional
	dryRun bool,
) (string, error) {
	return "", fmt.Errorf("promote %s: not implemented yet", version)
}

// Status shows, during the inspection window, what exists for a version and which promote gates
// pass. It changes nothing.
// +cache="never"
func (m *Shipgate) Status(
	ctx context.Context,
	// Version to inspect.
	version string,
) (string, error) {
	return "", fmt.Errorf("status %s: not implemented yet", version)
}
