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
	"github.com/shipgate/shipgate/pipeline/step"
	"github.com/shipgate/shipgate/pipeline/version"
)

// Shipgate holds the settings every function shares.
//
// Its fields are the constructor's arguments, kept between calls. Each is marked private: the Go
// SDK would otherwise list every field as an undocumented function of the module.
type Shipgate struct {
	// Source is the source tree to release (--source).
	// +private
	Source *dagger.Directory
	// Image is the image repository (--image).
	// +private
	Image string
	// Repo is the GitHub repository owner/name (--repo).
	// +private
	Repo string
	// GithubAPI is the GitHub REST API base URL (--github-api).
	// +private
	GithubAPI string
	// BaseBranch is the branch the release PR merges into (--base-branch).
	// +private
	BaseBranch string

	// RegistryUsername is the registry user (--registry-username).
	// +private
	RegistryUsername string
	// RegistryPassword is the registry password (--registry-password).
	// +private
	RegistryPassword *dagger.Secret
	// GithubToken is the token for this repository (--github-token).
	// +private
	GithubToken *dagger.Secret
	// DownstreamToken is the token for the downstream repository (--downstream-token).
	// +private
	DownstreamToken *dagger.Secret

	// Sign is the signing mode (--sign).
	// +private
	Sign string
	// SigningKey is the cosign private key (--signing-key).
	// +private
	SigningKey *dagger.Secret
	// SigningPassword is the cosign key's password (--signing-password).
	// +private
	SigningPassword *dagger.Secret
	// OidcRequestURL is the Actions OIDC token URL (--oidc-request-url).
	// +private
	OidcRequestURL *dagger.Secret
	// OidcRequestToken is the Actions OIDC request token (--oidc-request-token).
	// +private
	OidcRequestToken *dagger.Secret
	// FulcioURL is the Fulcio URL (--fulcio-url).
	// +private
	FulcioURL string
	// RekorURL is the Rekor URL (--rekor-url).
	// +private
	RekorURL string
	// NoTlogUpload turns the Rekor upload of key-mode signatures off (--no-tlog-upload).
	// +private
	NoTlogUpload bool

	// VerifyKey is the public key promote verifies against (--verify-key).
	// +private
	VerifyKey *dagger.File
	// TrustedRoot is the Sigstore trusted root (--trusted-root).
	// +private
	TrustedRoot *dagger.File
	// CertificateIdentity is the keyless identity to require (--certificate-identity).
	// +private
	CertificateIdentity string
	// CertificateIdentityRegexp is the keyless identity pattern (--certificate-identity-regexp).
	// +private
	CertificateIdentityRegexp string
	// CertificateOidcIssuer is the keyless OIDC issuer to require (--certificate-oidc-issuer).
	// +private
	CertificateOidcIssuer string
	// Workflow is the publish workflow path (--workflow).
	// +private
	Workflow string

	// Downstream is the smoke-test repository (--downstream).
	// +private
	Downstream string
	// DownstreamGate is which downstream release passes (--downstream-gate).
	// +private
	DownstreamGate string
	// DownstreamTagOnly accepts a downstream release that names no digest (--downstream-tag-only).
	// +private
	DownstreamTagOnly bool
	// EventType is the repository_dispatch event type (--event-type).
	// +private
	EventType string

	// Platforms are the platforms to build (--platforms).
	// +private
	Platforms []string
	// Dockerfile is the Dockerfile path (--dockerfile).
	// +private
	Dockerfile string
	// BuildArgs are the build arguments (--build-arg).
	// +private
	BuildArgs []string
	// Changelog is the CHANGELOG path (--changelog).
	// +private
	Changelog string
	// FloatingTags also moves X.Y and X (--floating-tags).
	// +private
	FloatingTags bool
	// NoSbom turns SBOM attestations off (--no-sbom).
	// +private
	NoSbom bool
	// Format is the output format (--format).
	// +private
	Format string
	// PlainHTTP lists the hosts reachable over plain HTTP (--plain-http).
	// +private
	PlainHTTP []string
	// NoFail returns every report as the value, refused or failed ones too (--no-fail).
	// +private
	NoFail bool
	// SkipReviewGate leaves approvals out of the release PR gates (--skip-review-gate).
	// +private
	SkipReviewGate bool
	// ChangelogCopies are further paths of the finalized CHANGELOG (--changelog-copy).
	// +private
	ChangelogCopies []string
	// TagPrefix is what git tags put before X.Y.Z (--tag-prefix).
	// +private
	TagPrefix string
	// CandidateForm is the spelling of release candidates (--candidate-form).
	// +private
	CandidateForm string
	// PrepareFrom is the development branch releases are cut from (--prepare-from).
	// +private
	PrepareFrom string
	// SyncBranch is the branch the base branch is merged back into after promote (--sync-branch).
	// +private
	SyncBranch string
	// FinalizeCommand regenerates derived files before the finalize commit (--finalize-command).
	// +private
	FinalizeCommand string
	// FinalizeImage is the image --finalize-command runs in (--finalize-image).
	// +private
	FinalizeImage string
}

// New configures shipgate for one repository and image.
//
// Every setting is checked here, so a typo fails before anything is built or pushed.
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
	// Return the report with exit 0 even when the phase is refused or fails; its verdict is in it
	// ("ok" and the refusals in JSON, the first line otherwise), for scripts that decide themselves.
	// +optional
	noFail bool,
	// Leave approvals out of the release PR gates of publish and promote (a repository without
	// reviews); the PR must still be ready for review and its required checks green.
	// +optional
	skipReviewGate bool,
	// A further path the finalized CHANGELOG is written to in the finalize commit (repeatable).
	//
	// Each copy gets the finalized bytes, the TBD rule covers it, and the scan of every built
	// image refuses a copy that differs.
	// +optional
	changelogCopy []string,
	// What git tags put before X.Y.Z: v (v1.2.3), or "" for bare 1.2.3 tags.
	// +optional
	// +default="v"
	tagPrefix string,
	// How the candidates publish --candidate numbers are spelt: rc.N (1.2.3-rc.4) or rcN (1.2.3-rc4).
	//
	// Both spellings are read everywhere (status, promote, rollback, cleanup); this decides what
	// shipgate writes.
	// +optional
	// +default="rc.N"
	candidateForm string,
	// Development branch that prepare cuts release/X.Y.Z from; empty: the base branch.
	//
	// The release PR still goes to the base branch.
	// +optional
	prepareFrom string,
	// Branch to bring the base branch back into after promote merged the release PR (a PR with
	// auto-merge when it merges cleanly); empty: none.
	// +optional
	syncBranch string,
	// Command that regenerates derived files (docs, version files) in the finalized tree before
	// the finalize commit; every file it adds or changes goes into that commit.
	//
	// It runs without a shell in --finalize-image with the source tree (the finalized CHANGELOG
	// written in) as its working directory; a failure, a deleted file or a TBD next to the version
	// refuses before anything is committed.
	// +optional
	finalizeCommand string,
	// Image --finalize-command runs in, pinned by digest (IMAGE@sha256:…).
	// +optional
	finalizeImage string,
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
		FloatingTags: floatingTags, NoSbom: noSbom, Format: format, PlainHTTP: plainHTTP, NoFail: noFail, SkipReviewGate: skipReviewGate, ChangelogCopies: changelogCopy,
		TagPrefix: tagPrefix, CandidateForm: candidateForm, PrepareFrom: prepareFrom, SyncBranch: syncBranch,
		FinalizeCommand: finalizeCommand, FinalizeImage: finalizeImage,
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
		Sign: config.SignMode(m.Sign), HasSigningKey: m.SigningKey != nil, FulcioURL: m.FulcioURL, RekorURL: m.RekorURL, TlogUpload: !m.NoTlogUpload,
		HasVerifyKey: m.VerifyKey != nil, HasTrustedRoot: m.TrustedRoot != nil,
		CertIdentity: m.CertificateIdentity, CertIdentityRegexp: m.CertificateIdentityRegexp, CertOIDCIssuer: m.CertificateOidcIssuer,
		Workflow:   m.Workflow,
		Downstream: m.Downstream, DownstreamGate: config.GateMode(m.DownstreamGate), DownstreamTagOnly: m.DownstreamTagOnly, EventType: m.EventType,
		Platforms: m.Platforms, Dockerfile: m.Dockerfile, BuildArgs: m.BuildArgs, Changelog: m.Changelog,
		NoSBOM: m.NoSbom, FloatingTags: m.FloatingTags, SkipReviewGate: m.SkipReviewGate, ChangelogCopies: m.ChangelogCopies,
		Format: config.Format(m.Format), PlainHTTP: m.PlainHTTP,
		TagPrefix: &m.TagPrefix, CandidateForm: version.CandidateForm(m.CandidateForm), DevBranch: m.PrepareFrom, SyncBranch: m.SyncBranch,
		FinalizeCommand: m.FinalizeCommand, FinalizeImage: m.FinalizeImage,
	}
	s.Defaults()
	return s
}

// Prepare opens a release: a release branch, its CHANGELOG section and a draft release PR.
//
// It creates the branch release/X.Y.Z from the base branch, the CHANGELOG section
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
	return m.phase(ctx, dryRun, run{}, func(env *release.Env) (*step.Report, error) { return release.Prepare(ctx, env, version) })
}

// Publish is phase 1: it builds, pushes, signs and drafts version X.Y.Z, never latest.
//
// It finalizes the CHANGELOG in a commit on release/X.Y.Z, builds every platform from exactly that
// commit's tree, pushes X.Y.Z-<arch> and the X.Y.Z index, signs and attests, tags vX.Y.Z, drafts
// the GitHub release and dispatches the downstream smoke test. Every step looks first, so a re-run
// finishes what a failed run left.
// +cache="never"
func (m *Shipgate) Publish(
	ctx context.Context,
	// Version to publish: X.Y.Z or X.Y.Z-rc.N (a leading v is accepted).
	version string,
	// Commit the source tree is (in GitHub Actions: ${{ github.sha }}); default: the tree's HEAD.
	// +optional
	commit string,
	// Publish the next release candidate of X.Y.Z from release/X.Y.Z as it is.
	//
	// shipgate picks N (one more than the highest candidate tag; a re-run of the same commit
	// finishes its candidate), leaves the CHANGELOG alone and dispatches the smoke test marked as a
	// candidate.
	// +optional
	candidate bool,
	// Give the candidate a draft GitHub pre-release, which promote can publish.
	// +optional
	candidateRelease bool,
	// Refuse the final X.Y.Z unless a candidate of the same commit passed its smoke test.
	// +optional
	requireCandidate bool,
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
	// Command to run inside each built platform image before anything is pushed (repeatable).
	//
	// Split into words like a shell would (quotes, backslashes) but run without one; a command
	// that exits non-zero refuses the push and the report shows its last lines.
	// +optional
	test []string,
	// Scan each platform image for vulnerabilities (grype) before anything is pushed.
	//
	// A finding at or above --scan-fail-on refuses the push, unless an entry of --scan-ignore
	// covers it; the report lists the findings, their fixes and platforms.
	// +optional
	scan bool,
	// Lowest severity that refuses under --scan: negligible, low, medium, high or critical.
	// +optional
	// +default="high"
	scanFailOn string,
	// Ignore file for --scan: one entry a line, `ID expires=YYYY-MM-DD reason="…"
	// [package=NAME[@VERSION]]`; an expired entry ignores nothing and is named.
	// +optional
	scanIgnore *dagger.File,
	// grype image --scan runs, pinned by digest.
	// +optional
	// +default="anchore/grype:v0.116.1@sha256:1e71065c0a4cff3e6bd3b8add525ffac4343eb4971694eb90a31cf6d4d3e85db"
	grypeImage string,
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
	sc, err := scanOf(ctx, scan, scanFailOn, scanIgnore)
	if err != nil {
		return "", err
	}
	return m.inCheckout(ctx, dryRun, run{id: runID, attempt: runAttempt, workflowRef: workflowRef}, func(env *release.Env, dir string) (*step.Report, error) {
		return release.Publish(ctx, env, release.PublishInput{Version: version, Commit: commit, Dir: dir, Builder: m.builder(syftImage, grypeImage), Digests: digests, Prebuilt: prebuilt, Rebuild: rebuild, Tests: test,
			Scan: sc, Candidate: candidate, CandidateRelease: candidateRelease, RequireCandidate: requireCandidate})
	})
}

// Finalize commits the finalized CHANGELOG for native per-arch runners and prints the commit.
//
// It is the first part of publish alone: it commits the finalized CHANGELOG on release/X.Y.Z and
// prints the finalize commit that each publish-platform job checks out.
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
	return m.inCheckout(ctx, dryRun, run{}, func(env *release.Env, dir string) (*step.Report, error) {
		// The engine runs --finalize-command, as in publish; nothing is built here.
		return release.Finalize(ctx, env, release.PublishInput{Version: version, Commit: commit, Dir: dir, Builder: m.builder("", "")})
	})
}

// PublishPlatform builds one platform on a native runner and pushes it as X.Y.Z-<arch>.
//
// It builds from a checkout of the finalize commit and prints the platform image's digest;
// publish --prebuilt then joins the platforms.
// +cache="never"
func (m *Shipgate) PublishPlatform(
	ctx context.Context,
	// Version being published.
	version string,
	// Platform to build, e.g. linux/arm64.
	platform string,
	// The finalize commit that finalize printed; the source tree must be exactly this commit.
	commit string,
	// Command to run inside the built image before it is pushed (repeatable), as for publish.
	// +optional
	test []string,
	// Scan each platform image for vulnerabilities (grype) before anything is pushed.
	//
	// A finding at or above --scan-fail-on refuses the push, unless an entry of --scan-ignore
	// covers it; the report lists the findings, their fixes and platforms.
	// +optional
	scan bool,
	// Lowest severity that refuses under --scan: negligible, low, medium, high or critical.
	// +optional
	// +default="high"
	scanFailOn string,
	// Ignore file for --scan: one entry a line, `ID expires=YYYY-MM-DD reason="…"
	// [package=NAME[@VERSION]]`; an expired entry ignores nothing and is named.
	// +optional
	scanIgnore *dagger.File,
	// grype image --scan runs, pinned by digest.
	// +optional
	// +default="anchore/grype:v0.116.1@sha256:1e71065c0a4cff3e6bd3b8add525ffac4343eb4971694eb90a31cf6d4d3e85db"
	grypeImage string,
) (string, error) {
	sc, err := scanOf(ctx, scan, scanFailOn, scanIgnore)
	if err != nil {
		return "", err
	}
	return m.inCheckout(ctx, false, run{}, func(env *release.Env, dir string) (*step.Report, error) {
		return release.PublishPlatform(ctx, env, release.PlatformInput{Version: version, Platform: platform, Commit: commit, Dir: dir, Builder: m.builder("", grypeImage), Tests: test, Scan: sc})
	})
}

// Promote is phase 2: it checks every gate, then moves latest and publishes the release.
//
// The gates look at the X.Y.Z index digest: images, signatures and attestations by policy, release
// notes without TBD, the downstream smoke test for this digest, and a mergeable release PR. Then it
// moves latest to exactly that digest, merges the release PR and publishes the release. A re-run
// finishes a half-done promote.
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
	// Go on while the release PR's required checks are still running, set to merge when they pass.
	//
	// Never for missing reviews or failed checks: those refuse.
	// +optional
	autoMerge bool,
	// Promote a version that was rolled back, clearing its rollback record (without it, refused).
	// +optional
	reinstate bool,
	// Delete the candidates of X.Y.Z once it is public, as cleanup --version X.Y.Z does.
	//
	// A cleanup that cannot finish never fails the promote: a note names the command to re-run.
	// +optional
	cleanup bool,
	// GitHub Actions run id (GITHUB_RUN_ID), named in the promote lock.
	// +optional
	runID string,
	// GitHub Actions run attempt (GITHUB_RUN_ATTEMPT): a re-run attempt takes over the lock its
	// crashed attempt left.
	// +optional
	runAttempt string,
) (string, error) {
	// release.Promote parses --merge-method before its first step: a typo never surfaces after
	// latest moved.
	return m.phase(ctx, dryRun, run{id: runID, attempt: runAttempt, breakStale: breakStaleLock}, func(env *release.Env) (*step.Report, error) {
		return release.Promote(ctx, env, release.PromoteInput{Version: version, AllowUnknownLatest: allowUnknownLatest, MergeMethod: mergeMethod, AutoMerge: autoMerge, Reinstate: reinstate, Cleanup: cleanup})
	})
}

// Status shows every artifact of a version and which promote gates pass; it changes nothing.
//
// For the inspection window: digests, tags, release, dispatch, downstream result, PR and lock.
// +cache="never"
func (m *Shipgate) Status(
	ctx context.Context,
	// Version to inspect.
	version string,
) (string, error) {
	return m.phase(ctx, true, run{}, func(env *release.Env) (*step.Report, error) { return release.Status(ctx, env, version) })
}

// Rollback moves latest back to an earlier promoted version whose signatures still verify.
//
// It moves the floating tags too when they are on, and gives that version's GitHub release the
// Latest label.
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
	// GitHub Actions run id (GITHUB_RUN_ID), named in the promote lock and the rollback record.
	// +optional
	runID string,
	// GitHub Actions run attempt (GITHUB_RUN_ATTEMPT).
	// +optional
	runAttempt string,
) (string, error) {
	return m.phase(ctx, dryRun, run{id: runID, attempt: runAttempt, breakStale: breakStaleLock}, func(env *release.Env) (*step.Report, error) {
		return release.Rollback(ctx, env, release.RollbackInput{Version: version, AllowUnknownLatest: allowUnknownLatest})
	})
}

// Cleanup deletes the release candidates of a version that shipped, keeping what the final needs.
//
// It removes the candidates' image tags (index and per-arch), their signatures and attestations,
// their pre-releases and drafts on GitHub and their git tags; it never deletes a digest that
// X.Y.Z, its per-arch tags, latest or the floating tags still refer to, and says what it kept.
// With --orphans instead of --version it deletes what belongs to nothing any more.
// +cache="never"
func (m *Shipgate) Cleanup(
	ctx context.Context,
	// The final version whose candidates (X.Y.Z-rc.N) to delete; it must be published.
	// +optional
	version string,
	// Delete orphans instead: referrers tags whose subject is gone, and on ghcr.io untagged
	// versions no tag reaches, older than --older-than.
	// +optional
	orphans bool,
	// How old an orphan must be to be deleted: 7d, 36h, 90m.
	// +optional
	// +default="7d"
	olderThan string,
	// Observe only: print the plan, change nothing.
	// +optional
	dryRun bool,
) (string, error) {
	if orphans == (version != "") {
		return "", fmt.Errorf("give either --version X.Y.Z (its candidates) or --orphans (what belongs to nothing)")
	}
	age, err := config.ParseAge(olderThan)
	if err != nil && orphans {
		return "", err
	}
	return m.phase(ctx, dryRun, run{}, func(env *release.Env) (*step.Report, error) {
		if orphans {
			return release.CleanupOrphans(ctx, env, age)
		}
		return release.Cleanup(ctx, env, version)
	})
}

// Dispatch sends the downstream smoke test of a published build again, after a flake.
//
// It builds and signs nothing: it reads the git tag and the image index of the version and
// dispatches that build again with the next attempt number (the correlation id gains -rN).
// +cache="never"
func (m *Shipgate) Dispatch(
	ctx context.Context,
	// The published version (X.Y.Z or a candidate X.Y.Z-rc.N) whose smoke test to send again.
	version string,
	// Observe only: print the plan, change nothing.
	// +optional
	dryRun bool,
	// GitHub Actions run id (GITHUB_RUN_ID), recorded in the dispatch.
	// +optional
	runID string,
) (string, error) {
	return m.phase(ctx, dryRun, run{id: runID}, func(env *release.Env) (*step.Report, error) { return release.Dispatch(ctx, env, version) })
}

// Demo runs a whole release against local services inside the function; it needs no settings.
//
// The services are an OCI registry, a GitHub API server and a throwaway signing key; the release is
// prepare, publish, a promote refused because the smoke test has not passed, the smoke test
// passing, promote, status.
// +cache="never"
func (m *Shipgate) Demo(ctx context.Context) (string, error) {
	var out strings.Builder
	if err := sandbox.Demo(ctx, &out, m.Format); err != nil {
		return out.String(), fmt.Errorf("%s\ndemo failed: %w", out.String(), err)
	}
	return out.String(), nil
}
