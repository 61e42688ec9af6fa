// Package config holds the settings both release phases share — what the Dagger module's
// constructor declares — and validates them in one place, reporting every problem at once.
package config

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/version"
)

// Defaults: the one place they are defined. The module's +default pragmas say the same (a test
// reads them: pipeline/enginetest), and Defaults fills them in.
const (
	DefaultGitHubAPI      = "https://api.github.com/"
	DefaultBaseBranch     = "main"
	DefaultDockerfile     = "Dockerfile"
	DefaultChangelog      = "CHANGELOG.md"
	DefaultEventType      = "shipgate-smoke-test"
	DefaultWorkflow       = ".github/workflows/release.yml"
	DefaultFulcioURL      = "https://fulcio.sigstore.dev"
	DefaultRekorURL       = "https://rekor.sigstore.dev"
	GitHubActionsIssuer   = "https://token.actions.githubusercontent.com"
	DefaultSign           = SignKeyless
	DefaultDownstreamGate = GatePrerelease
	DefaultMergeMethod    = MergeCommit
	DefaultFormat         = FormatText
	// DefaultOrphanAge is how old an orphan must be before cleanup --orphans deletes it.
	DefaultOrphanAge = "7d"
	// DefaultGrypeImage is the grype image, pinned by digest (v0.116.1), that publish --scan runs.
	DefaultGrypeImage = "anchore/grype:v0.116.1@sha256:1e71065c0a4cff3e6bd3b8add525ffac4343eb4971694eb90a31cf6d4d3e85db"
	// DefaultScanFailOn is the lowest severity that refuses a release under --scan.
	DefaultScanFailOn = "high"
	// DefaultSyftImage is the syft image, pinned by digest (v1.50.0), that makes publish's SBOMs.
	DefaultSyftImage = "anchore/syft:v1.50.0@sha256:1288ea4c8b38767b4e620c1e312c8cb26b6e887a99b4f07ab6cd19fc6f225026"
)

// MaxEventTypeLength is the longest repository_dispatch event_type GitHub accepts.
const MaxEventTypeLength = 100

// flagDefaults are the defaults above by the flag that sets them (platforms: see Defaults).
var flagDefaults = map[string]string{
	"--github-api":              DefaultGitHubAPI,
	"--base-branch":             DefaultBaseBranch,
	"--dockerfile":              DefaultDockerfile,
	"--changelog":               DefaultChangelog,
	"--event-type":              DefaultEventType,
	"--workflow":                DefaultWorkflow,
	"--fulcio-url":              DefaultFulcioURL,
	"--rekor-url":               DefaultRekorURL,
	"--certificate-oidc-issuer": GitHubActionsIssuer,
	"--sign":                    string(DefaultSign),
	"--downstream-gate":         string(DefaultDownstreamGate),
	"--merge-method":            string(DefaultMergeMethod),
	"--format":                  string(DefaultFormat),
	"--syft-image":              DefaultSyftImage,
	"--tag-prefix":              version.DefaultTagPrefix,
	"--candidate-form":          string(version.CandidateDotted),
	"--older-than":              DefaultOrphanAge,
	"--grype-image":             DefaultGrypeImage,
	"--scan-fail-on":            DefaultScanFailOn,
}

// FlagDefault is the default of a flag ("--sign"), and whether it has one here. The module's
// +default pragmas must agree with it.
func FlagDefault(flag string) (string, bool) {
	v, ok := flagDefaults[flag]
	return v, ok
}

// Settings are the shared settings. Secrets are not here: only whether they were given.
type Settings struct {
	// Image is the image repository without tag or digest: ghcr.io/acme/app.
	Image string
	// Repo is the GitHub repository owner/name.
	Repo string
	// GitHubAPI is the REST base URL: https://api.github.com/ or https://HOST/api/v3/.
	GitHubAPI string
	// BaseBranch is the branch the release PR merges into.
	BaseBranch string

	RegistryUsername                                        string
	HasRegistryPassword, HasGitHubToken, HasDownstreamToken bool

	// Sign is keyless, key or none; key mode needs HasSigningKey.
	Sign          SignMode
	HasSigningKey bool
	FulcioURL     string
	RekorURL      string
	// TlogUpload records key-mode signatures in Rekor (default on; off for private deployments).
	TlogUpload bool

	// Verification policy: a public key (key mode), or certificate identity + issuer (keyless).
	HasVerifyKey       bool
	CertIdentity       string
	CertIdentityRegexp string
	CertOIDCIssuer     string
	HasTrustedRoot     bool
	// Workflow is the publish workflow path, from which the default keyless identity is derived.
	Workflow string

	// Downstream smoke test.
	Downstream        string   // owner/name; empty: no dispatch and no smoke-test gate
	DownstreamGate    GateMode // prerelease | release | any
	DownstreamTagOnly bool     // relax: a downstream release for the tag counts even if it names no digest
	EventType         string

	// NoSBOM turns SBOM attestations off in publish and the SBOM requirement off in promote.
	NoSBOM bool
	// FloatingTags also moves X.Y and X on promote and rollback.
	FloatingTags bool
	// TagPrefix is what git tags put before X.Y.Z (--tag-prefix): nil is the default, "v"
	// (v1.2.3); "" gives bare tags (1.2.3).
	TagPrefix *string
	// CandidateForm is how shipgate spells the release candidates it numbers (--candidate-form):
	// rc.N (1.2.3-rc.4, the default) or rcN (1.2.3-rc4). Both spellings are read everywhere.
	CandidateForm version.CandidateForm
	// DevBranch is the development branch (--prepare-from): prepare cuts release/X.Y.Z from it
	// instead of the base branch. Empty: the base branch.
	DevBranch string
	// SyncBranch (--sync-branch) is the branch that promote brings the base branch back into after
	// merging the release PR (a PR with auto-merge). Empty: none.
	SyncBranch string

	// SkipReviewGate leaves approvals out of the release PR gates of publish and promote (for
	// repositories without reviews); the required checks still count.
	SkipReviewGate bool

	Platforms  []string
	Dockerfile string
	BuildArgs  []string
	Changelog  string
	// ChangelogCopies are further paths (--changelog-copy) the finalized CHANGELOG is written to,
	// in the same finalize commit; the TBD rule and the image scan cover each.
	ChangelogCopies []string
	// FinalizeCommand (--finalize-command) runs in FinalizeImage on the tree with the finalized
	// CHANGELOG before the finalize commit; every file it adds or changes goes into that commit.
	FinalizeCommand string
	// FinalizeImage is the image --finalize-command runs in, pinned by digest.
	FinalizeImage string
	Format        Format
	// PlainHTTP lists registry hosts that may be reached without TLS (local registries).
	PlainHTTP []string
}

// Defaults fills what was left empty.
func (s *Settings) Defaults() {
	def := func(p *string, v string) {
		if strings.TrimSpace(*p) == "" {
			*p = v
		}
	}
	def(&s.GitHubAPI, DefaultGitHubAPI)
	def(&s.BaseBranch, DefaultBaseBranch)
	def(&s.Dockerfile, DefaultDockerfile)
	def(&s.Changelog, DefaultChangelog)
	def(&s.EventType, DefaultEventType)
	if s.Sign == "" {
		s.Sign = DefaultSign
	}
	if s.DownstreamGate == "" {
		s.DownstreamGate = DefaultDownstreamGate
	}
	if s.Format == "" {
		s.Format = DefaultFormat
	}
	def(&s.Workflow, DefaultWorkflow)
	def(&s.FulcioURL, DefaultFulcioURL)
	def(&s.RekorURL, DefaultRekorURL)
	def(&s.CertOIDCIssuer, GitHubActionsIssuer)
	if s.CandidateForm == "" {
		s.CandidateForm = version.CandidateDotted
	}
	if len(s.Platforms) == 0 {
		for _, p := range version.DefaultPlatforms {
			s.Platforms = append(s.Platforms, p.String())
		}
	}
}

// validBranch reports whether b is a branch name shipgate accepts.
func validBranch(b string) bool {
	return len(b) <= 255 && branchRE.MatchString(b) && !strings.Contains(b, "..") && !strings.HasPrefix(b, "-")
}

// validTagPrefix reports whether p may stand before X.Y.Z in a git tag ("" and "v" included):
// besides its characters, what git allows in a ref (git check-ref-format): no "..", no empty
// path component, none that starts with '.', none that ends with ".lock".
func validTagPrefix(p string) bool {
	if p == "" {
		return true
	}
	if len(p) > 40 || !tagPrefixRE.MatchString(p) || strings.Contains(p, "..") || strings.Contains(p, "//") {
		return false
	}
	parts := strings.Split(p, "/")
	for i, c := range parts {
		// The last part goes on with X.Y.Z, so only it cannot end in ".lock".
		if strings.HasPrefix(c, ".") || (i < len(parts)-1 && strings.HasSuffix(c, ".lock")) {
			return false
		}
	}
	return true
}

// GitTagPrefix is the tag prefix the settings give: TagPrefix, or DefaultTagPrefix when unset.
func (s Settings) GitTagPrefix() string {
	if s.TagPrefix == nil {
		return version.DefaultTagPrefix
	}
	return *s.TagPrefix
}

var (
	tagPrefixRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z._/-]*$`)
	branchRE    = regexp.MustCompile(`^[A-Za-z0-9._/-]+$`)
	argRE       = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// Validate checks every setting, including that the image and repository are given, and returns
// all problems together, each naming the flag to fix, as one fault.BadInput error. The release
// phases call it.
func (s Settings) Validate() error { return s.validate(true) }

// ValidateGiven checks that every setting given is well-formed, without requiring the image and
// repository; the module's constructor calls it, so functions that need neither (demo) still work.
func (s Settings) ValidateGiven() error { return s.validate(false) }

func (s Settings) validate(required bool) error {
	v := &problems{}
	s.checkWhere(v, required)
	s.checkSigning(v)
	s.checkDownstream(v)
	s.checkBuild(v)
	_, err := ParseFormat(string(s.Format))
	v.check(err)
	for _, h := range s.PlainHTTP {
		if h == "" || hasUserinfo(h) || strings.ContainsAny(h, "/?# ") {
			v.add("--plain-http %s is not host or host:port", show(h))
		}
	}
	if len(v.errs) == 0 {
		return nil
	}
	return fault.BadInputf("invalid settings:\n  - %s", strings.Join(v.errs, "\n  - "))
}

// problems collects every problem of the settings, so all are reported at once.
type problems struct{ errs []string }

func (v *problems) add(format string, a ...any) { v.errs = append(v.errs, fmt.Sprintf(format, a...)) }

func (v *problems) check(err error) {
	if err != nil {
		v.errs = append(v.errs, err.Error())
	}
}

// checkWhere checks where the release goes: the image, the repository, the API, the branch, the
// registry login.
func (s Settings) checkWhere(v *problems, required bool) {
	if s.Image == "" {
		if required {
			v.add("--image is required: the image repository, e.g. ghcr.io/acme/app")
		}
	} else if _, err := ParseImage(s.Image); err != nil {
		v.add("--image: %v", err)
	}
	if s.Repo == "" {
		if required {
			v.add("--repo is required: the GitHub repository owner/name, e.g. acme/app")
		}
	} else if _, err := ParseRepo(s.Repo); err != nil {
		v.add("--repo: %v", err)
	}
	if err := checkURL(s.GitHubAPI, s.PlainHTTP); err != nil {
		v.add("--github-api: %v", err)
	}
	for _, b := range []struct{ flag, name string }{{"--base-branch", s.BaseBranch}, {"--prepare-from", s.DevBranch}, {"--sync-branch", s.SyncBranch}} {
		if (b.name != "" || b.flag == "--base-branch") && !validBranch(b.name) {
			v.add("%s %s is not a valid branch name", b.flag, show(b.name))
		}
	}
	if s.SyncBranch != "" && s.SyncBranch == s.BaseBranch {
		v.add("--sync-branch %s is the base branch: name the development branch the base branch is merged back into", show(s.SyncBranch))
	}
	if s.TagPrefix != nil && !validTagPrefix(*s.TagPrefix) {
		v.add("--tag-prefix %s is not a git tag prefix: use v (v1.2.3), nothing for bare 1.2.3 tags, or letters, '.', '_', '-' and '/' (at most 40; no digits: a tag is read back as the prefix, then X.Y.Z; no part that starts with '.' or ends with .lock, as git refuses those)", show(*s.TagPrefix))
	}
	_, err := version.ParseCandidateForm(string(s.CandidateForm))
	v.check(err)
	if s.HasRegistryPassword && s.RegistryUsername == "" {
		v.add("--registry-password needs --registry-username (for GHCR: the GitHub user or the Actions actor)")
	}
}

// checkSigning checks the signing mode, its services and the verification policy.
func (s Settings) checkSigning(v *problems) {
	sign, err := ParseSignMode(string(s.Sign))
	v.check(err)
	switch sign {
	case SignKeyless:
		if err := checkURL(s.FulcioURL, s.PlainHTTP); err != nil {
			v.add("--fulcio-url: %v", err)
		}
		if err := checkURL(s.RekorURL, s.PlainHTTP); err != nil {
			v.add("--rekor-url: %v", err)
		}
	case SignKey:
		if s.TlogUpload {
			if err := checkURL(s.RekorURL, s.PlainHTTP); err != nil {
				v.add("--rekor-url: %v", err)
			}
		}
		if !s.HasVerifyKey {
			v.add("--sign=key needs --verify-key (the cosign.pub of the signing key) so signatures can be checked")
		}
	}
	if s.CertIdentity != "" && s.CertIdentityRegexp != "" {
		v.add("give --certificate-identity or --certificate-identity-regexp, not both")
	}
	if s.CertIdentityRegexp != "" {
		if _, err := regexp.Compile(s.CertIdentityRegexp); err != nil {
			v.add("--certificate-identity-regexp: %v", err)
		}
	}
}

// checkDownstream checks the smoke-test settings.
func (s Settings) checkDownstream(v *problems) {
	if s.Downstream != "" {
		if _, err := ParseRepo(s.Downstream); err != nil {
			v.add("--downstream: %v", err)
		} else if !s.HasDownstreamToken {
			v.add("--downstream %s needs --downstream-token: the Actions GITHUB_TOKEN cannot dispatch to another repository", s.Downstream)
		}
	}
	_, err := ParseGateMode(string(s.DownstreamGate))
	v.check(err)
	if n := utf8.RuneCountInString(s.EventType); n == 0 || n > MaxEventTypeLength {
		v.add("--event-type %s is %d characters: GitHub accepts 1 to %d", show(s.EventType), n, MaxEventTypeLength)
	}
}

// checkBuild checks what the build reads: platforms, Dockerfile, CHANGELOG and its copies, build
// arguments.
func (s Settings) checkBuild(v *problems) {
	if _, err := version.ParsePlatforms(s.Platforms); err != nil {
		v.add("--platforms: %v", err)
	}
	if s.Dockerfile == "" || strings.HasPrefix(s.Dockerfile, "/") || strings.Contains(s.Dockerfile, "..") {
		v.add("--dockerfile %s must be a path inside the source directory", show(s.Dockerfile))
	}
	for _, c := range s.ChangelogCopies {
		if c == "" || strings.HasPrefix(c, "/") || strings.Contains(c, "..") || c == s.Changelog || strings.HasSuffix(c, "/") {
			v.add("--changelog-copy %s must be a file path inside the source directory, other than --changelog", show(c))
		}
	}
	if s.Changelog == "" || strings.HasPrefix(s.Changelog, "/") || strings.Contains(s.Changelog, "..") {
		v.add("--changelog %s must be a path inside the source directory", show(s.Changelog))
	}
	if _, err := ParseBuildArgs(s.BuildArgs); err != nil {
		v.add("--build-arg: %v", err)
	}
	s.checkFinalize(v)
}

// checkFinalize: --finalize-command parses and runs in an image pinned by digest.
func (s Settings) checkFinalize(v *problems) {
	if s.FinalizeCommand == "" {
		if s.FinalizeImage != "" {
			v.add("--finalize-image is set but --finalize-command is not: give the command to run in it")
		}
		return
	}
	if _, err := ParseCommand("--finalize-command", s.FinalizeCommand); err != nil {
		v.add("%v", err)
	}
	if _, err := name.NewDigest(s.FinalizeImage); err != nil || hasUserinfo(s.FinalizeImage) {
		v.add("--finalize-image %s must be an image pinned by digest (IMAGE@sha256:…), so the finalize commit does not depend on a moving tag", show(s.FinalizeImage))
	}
}

// ParseImage checks an image repository (no tag, no digest) and returns it. Credentials written
// into it (user:pass@host/...) are refused, and never repeated.
func ParseImage(s string) (name.Repository, error) {
	switch {
	case hasUserinfo(s):
		return name.Repository{}, fault.BadInputf("%s carries credentials: give the repository only and pass --registry-username and --registry-password (a secret)", show(s))
	case len(s) > maxImageLength:
		return name.Repository{}, fault.BadInputf("%s is %d characters: an image repository has at most %d", show(s), len(s), maxImageLength)
	case strings.Contains(s, "@"):
		return name.Repository{}, fault.BadInputf("%s has a digest: give the repository only, e.g. ghcr.io/acme/app", show(s))
	}
	last := s[strings.LastIndex(s, "/")+1:]
	if strings.Contains(last, ":") {
		return name.Repository{}, fault.BadInputf("%s has a tag: give the repository only; shipgate chooses the tags", show(s))
	}
	r, err := name.NewRepository(s, name.StrictValidation)
	if err != nil {
		return name.Repository{}, fault.BadInputf("%s is not an image repository (lowercase host/path, e.g. ghcr.io/acme/app): %v", show(s), err)
	}
	return r, nil
}

// maxURLLength bounds a URL setting (browsers and servers stop near 2 KB).
const maxURLLength = 2048

// maxImageLength bounds an image repository: a host (at most 255) and a path (registries cap
// names at 255).
const maxImageLength = 511

// ParseBuildArgs turns KEY=VALUE items into a map, refusing malformed and repeated keys.
func ParseBuildArgs(items []string) (map[string]string, error) {
	out := map[string]string{}
	for _, it := range items {
		k, v, ok := strings.Cut(it, "=")
		if !ok || !argRE.MatchString(k) {
			return nil, fault.BadInputf("%s is not KEY=VALUE", show(it))
		}
		if _, dup := out[k]; dup {
			return nil, fault.BadInputf("%s is given twice", show(k))
		}
		out[k] = v
	}
	return out, nil
}

func checkURL(s string, plainHTTP []string) error {
	if hasUserinfo(s) {
		return fault.BadInputf("%s carries credentials in the URL: pass them as secrets instead", show(s))
	}
	if len(s) > maxURLLength {
		return fault.BadInputf("%s is %d characters: a URL setting has at most %d", show(s), len(s), maxURLLength)
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.User != nil {
		return fault.BadInputf("%s is not an http(s) URL", show(s))
	}
	if u.Scheme == "http" && !isLocal(u.Hostname()) && !slices.Contains(plainHTTP, u.Host) && !slices.Contains(plainHTTP, u.Hostname()) {
		return fault.BadInputf("%s is plain http to a non-local host: use https (or list the host in --plain-http)", show(s))
	}
	return nil
}

func isLocal(host string) bool {
	return host == "localhost" || strings.HasPrefix(host, "127.") || host == "::1" || strings.HasSuffix(host, ".localhost")
}

// AllowsPlainHTTP reports whether a registry or API host may be reached without TLS: loopback
// hosts always, others only when listed in PlainHTTP.
func (s Settings) AllowsPlainHTTP(host string) bool {
	h := host
	if i := strings.LastIndex(h, ":"); i > 0 && !strings.Contains(h[i:], "]") {
		h = h[:i]
	}
	return isLocal(strings.Trim(h, "[]")) || slices.Contains(s.PlainHTTP, host) || slices.Contains(s.PlainHTTP, h)
}
