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
	"strings"

	"dagger/shipgate/internal/dagger"

	"github.com/shipgate/shipgate/pipeline/config"
	"github.com/shipgate/shipgate/pipeline/release"
	"github.com/shipgate/shipgate/pipeline/sandbox"
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
	NoSbom       bool
	Format       string
	PlainHTTP    []string
}

// New configures shipgate for one repository and image. Every setting is checked here, so a typo
// fails before anything is built or pushed.
func New(
	// Source tree to release: a git checkout of the repository (default: the directory dagger is
	// called from; pass --source . when calling the module from another repository). Publish
	// refuses a tree that is not exactly the commit it releases: commit or remove other files.
	// +defaultPath="/"
	// +ignore=["**/node_modules"]
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
	// Platforms to build (repeatable or comma-separated); default linux/amd64,linux/arm64.
	// +optional
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
	// Publish no SBOM attestations, and do not require them in promote.
	// +optional
	noSbom bool,
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
		FloatingTags: floatingTags, NoSbom: noSbom, Format: format, PlainHTTP: plainHTTP,
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
		NoSBOM: m.NoSbom, FloatingTags: m.FloatingTags,
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
	// Version to release: X.Y.Z or X.Y.Z-rc.N (a leading v is accepted).
	version string,
	// Observe only: print the plan, change nothing.
	// +optional
	dryRun bool,
) (string, error) {
	env, err := m.env(ctx, dryRun, run{})
	if err != nil {
		return "", err
	}
	return m.result(release.Prepare(ctx, env, version))
}

// Publish is phase 1: finalize the CHANGELOG in a commit on release/X.Y.Z, build every platform
// from exactly that commit's tree, push X.Y.Z-<arch> and the X.Y.Z index (never latest), sign and
// attest, tag vX.Y.Z, draft the GitHub release and dispatch the downstream smoke test. Every step
// looks first, so a re-run finishes what a failed run left.
// +cache="never"
func (m *Shipgate) Publish(
	ctx context.Context,
	// Version to publish: X.Y.Z or X.Y.Z-rc.N (a leading v is accepted).
	version string,
	// Commit the source tree is (in GitHub Actions: ${{ github.sha }}); default: the tree's HEAD.
	// +optional
	commit string,
	// Observe only: print the plan, change nothing.
	// +optional
	dryRun bool,
	// Replace an X.Y.Z index that holds different content (never allowed once promoted).
	// +optional
	rebuild bool,
	// Take the platform images from the X.Y.Z-<arch> tags that publish-platform pushed for the
	// finalize commit (the native-runner join) instead of building.
	// +optional
	prebuilt bool,
	// A platform image built elsewhere, PLATFORM=DIGEST (repeatable), e.g.
	// linux/arm64=sha256:… in the image repository.
	// +optional
	platformDigest []string,
	// syft image that generates each platform's SPDX SBOM.
	// +optional
	// +default="anchore/syft:v1.50.0@sha256:1288ea4c8b38767b4e620c1e312c8cb26b6e887a99b4f07ab6cd19fc6f225026"
	syftImage string,
	// GitHub Actions run id (GITHUB_RUN_ID), recorded in provenance and the dispatch.
	// +optional
	runID string,
	// GitHub Actions run attempt (GITHUB_RUN_ATTEMPT), recorded in provenance.
	// +optional
	runAttempt string,
	// GitHub Actions workflow ref (GITHUB_WORKFLOW_REF), recorded in provenance.
	// +optional
	workflowRef string,
) (string, error) {
	digests, err := parseDigests(platformDigest)
	if err != nil {
		return "", err
	}
	env, err := m.env(ctx, dryRun, run{id: runID, attempt: runAttempt, workflowRef: workflowRef})
	if err != nil {
		return "", err
	}
	dir, err := m.checkout(ctx)
	if err != nil {
		return "", err
	}
	b := m.builder(syftImage)
	return m.result(release.Publish(ctx, env, release.PublishInput{Version: version, Commit: commit, Dir: dir, Builder: b, Digests: digests, Prebuilt: prebuilt, Rebuild: rebuild}))
}

// Finalize is the first part of publish alone, for native per-arch runners: it commits the
// finalized CHANGELOG on release/X.Y.Z and prints the finalize commit that each publish-platform
// job checks out.
// +cache="never"
func (m *Shipgate) Finalize(
	ctx context.Context,
	// Version to publish.
	version string,
	// Commit the source tree is (in GitHub Actions: ${{ github.sha }}); default: the tree's HEAD.
	// +optional
	commit string,
	// Observe only: print the plan, change nothing.
	// +optional
	dryRun bool,
) (string, error) {
	env, err := m.env(ctx, dryRun, run{})
	if err != nil {
		return "", err
	}
	dir, err := m.checkout(ctx)
	if err != nil {
		return "", err
	}
	return m.result(release.Finalize(ctx, env, release.PublishInput{Version: version, Commit: commit, Dir: dir}))
}

// PublishPlatform builds one platform on a native runner from a checkout of the finalize commit
// and pushes it as X.Y.Z-<arch>; publish --prebuilt then joins the platforms. It prints the
// platform image's digest.
// +cache="never"
func (m *Shipgate) PublishPlatform(
	ctx context.Context,
	// Version being published.
	version string,
	// Platform to build, e.g. linux/arm64.
	platform string,
	// The finalize commit that finalize printed; the source tree must be exactly this commit.
	commit string,
) (string, error) {
	env, err := m.env(ctx, false, run{})
	if err != nil {
		return "", err
	}
	dir, err := m.checkout(ctx)
	if err != nil {
		return "", err
	}
	return m.result(release.PublishPlatform(ctx, env, release.PlatformInput{Version: version, Platform: platform, Commit: commit, Dir: dir, Builder: m.builder("")}))
}

// Promote is phase 2: check every gate against the X.Y.Z index digest (images, signatures and
// attestations by policy, release notes without TBD, downstream smoke test for this digest, release
// PR mergeable), then move latest to exactly that digest, merge the release PR and publish the
// release. A re-run finishes a half-done promote.
// +cache="never"
func (m *Shipgate) Promote(
	ctx context.Context,
	// Version to promote.
	version string,
	// Observe only: evaluate the gates and print the plan, change nothing.
	// +optional
	dryRun bool,
	// Overwrite latest (and floating tags) even when what they hold names no version.
	// +optional
	allowUnknownLatest bool,
	// Take over a promote lock older than an hour (a promote that died without releasing it).
	// +optional
	breakStaleLock bool,
	// How to merge the release PR: merge (keeps the tag reachable from the base branch), squash or
	// rebase.
	// +optional
	// +default="merge"
	mergeMethod string,
	// Refuse instead of enabling auto-merge when the release PR's required checks are pending.
	// +optional
	noAutoMerge bool,
	// GitHub Actions run id (GITHUB_RUN_ID), named in the promote lock.
	// +optional
	runID string,
) (string, error) {
	env, err := m.env(ctx, dryRun, run{id: runID})
	if err != nil {
		return "", err
	}
	env.Lock.BreakStale = breakStaleLock
	return m.result(release.Promote(ctx, env, release.PromoteInput{Version: version, AllowUnknownLatest: allowUnknownLatest, MergeMethod: mergeMethod, NoAutoMerge: noAutoMerge}))
}

// Status shows, during the inspection window, every artifact of a version (digests, tags, release,
// dispatch, downstream result, PR, lock) and which promote gates pass. It changes nothing.
// +cache="never"
func (m *Shipgate) Status(
	ctx context.Context,
	// Version to inspect.
	version string,
) (string, error) {
	env, err := m.env(ctx, true, run{})
	if err != nil {
		return "", err
	}
	return m.result(release.Status(ctx, env, version))
}

// Rollback moves latest (and floating tags) back to an earlier promoted version whose signatures
// still verify, and gives its GitHub release the Latest label.
// +cache="never"
func (m *Shipgate) Rollback(
	ctx context.Context,
	// Version to roll back to: an earlier, promoted version.
	version string,
	// Observe only: print the plan, change nothing.
	// +optional
	dryRun bool,
	// Overwrite latest even when what it holds names no version.
	// +optional
	allowUnknownLatest bool,
	// Take over a promote lock older than an hour.
	// +optional
	breakStaleLock bool,
) (string, error) {
	env, err := m.env(ctx, dryRun, run{})
	if err != nil {
		return "", err
	}
	env.Lock.BreakStale = breakStaleLock
	return m.result(release.Rollback(ctx, env, release.RollbackInput{Version: version, AllowUnknownLatest: allowUnknownLatest}))
}

// Demo runs a whole release against local services inside the function — an OCI registry, a
// GitHub API server, a throwaway signing key: prepare, publish, a promote refused because the smoke
// test has not passed, the smoke test passing, promote, status. Needs no settings or secrets.
// +cache="never"
func (m *Shipgate) Demo(ctx context.Context) (string, error) {
	var out strings.Builder
	if err := sandbox.Demo(ctx, &out, m.Format); err != nil {
		return out.String(), fmt.Errorf("%s\ndemo failed: %w", out.String(), err)
	}
	return out.String(), nil
}
