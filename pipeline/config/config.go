// Package config holds the settings both release phases share — what the Dagger module's
// constructor declares — and validates them in one place, reporting every problem at once.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/shipgate/shipgate/pipeline/step"
	"github.com/shipgate/shipgate/pipeline/version"
)

// Signing modes.
const (
	SignKeyless = "keyless" // GitHub Actions OIDC → Fulcio certificate + Rekor entry
	SignKey     = "key"     // a cosign key pair (cosign generate-key-pair)
	SignNone    = "none"    // no signatures: promote's signature gate cannot pass; for dry runs and demos
)

// Downstream gate modes: which kind of downstream release counts as a passed smoke test.
const (
	GatePrerelease = "prerelease"
	GateRelease    = "release"
	GateAny        = "any"
)

// Defaults.
const (
	DefaultGitHubAPI    = "https://api.github.com/"
	DefaultBaseBranch   = "main"
	DefaultDockerfile   = "Dockerfile"
	DefaultChangelog    = "CHANGELOG.md"
	DefaultEventType    = "shipgate-smoke-test"
	DefaultWorkflow     = ".github/workflows/release.yml"
	DefaultFulcioURL    = "https://fulcio.sigstore.dev"
	DefaultRekorURL     = "https://rekor.sigstore.dev"
	GitHubActionsIssuer = "https://token.actions.githubusercontent.com"
)

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
	Sign          string
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
	Downstream        string // owner/name; empty: no dispatch and no smoke-test gate
	DownstreamGate    string // prerelease | release | any
	DownstreamTagOnly bool   // relax: a downstream release for the tag counts even if it names no digest
	EventType         string

	// NoSBOM turns SBOM attestations off in publish and the SBOM requirement off in promote.
	NoSBOM bool
	// FloatingTags also moves X.Y and X on promote and rollback.
	FloatingTags bool

	Platforms  []string
	Dockerfile string
	BuildArgs  []string
	Changelog  string
	Format     string
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
	def(&s.Sign, SignKeyless)
	def(&s.DownstreamGate, GatePrerelease)
	def(&s.Format, "text")
	def(&s.Workflow, DefaultWorkflow)
	def(&s.FulcioURL, DefaultFulcioURL)
	def(&s.RekorURL, DefaultRekorURL)
	if len(s.Platforms) == 0 {
		for _, p := range version.DefaultPlatforms {
			s.Platforms = append(s.Platforms, p.String())
		}
	}
}

var (
	repoRE   = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$`)
	branchRE = regexp.MustCompile(`^[A-Za-z0-9._/-]+$`)
	argRE    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)
)

// Validate checks every setting, including that the image and repository are given, and returns
// all problems together, each naming the flag to fix. The release phases call it.
func (s Settings) Validate() error { return s.validate(true) }

// ValidateGiven checks that every setting given is well-formed, without requiring the image and
// repository; the module's constructor calls it, so functions that need neither (demo) still work.
func (s Settings) ValidateGiven() error { return s.validate(false) }

func (s Settings) validate(required bool) error {
	var errs []string
	add := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }

	if s.Image == "" {
		if required {
			add("--image is required: the image repository, e.g. ghcr.io/acme/app")
		}
	} else if _, err := ParseImage(s.Image); err != nil {
		add("--image: %v", err)
	}
	if s.Repo == "" {
		if required {
			add("--repo is required: the GitHub repository owner/name, e.g. acme/app")
		}
	} else if !repoRE.MatchString(s.Repo) {
		add("--repo %q is not owner/name", s.Repo)
	}
	if err := checkURL(s.GitHubAPI, s.PlainHTTP); err != nil {
		add("--github-api: %v", err)
	}
	if !branchRE.MatchString(s.BaseBranch) || strings.Contains(s.BaseBranch, "..") || strings.HasPrefix(s.BaseBranch, "-") {
		add("--base-branch %q is not a valid branch name", s.BaseBranch)
	}
	if s.HasRegistryPassword && s.RegistryUsername == "" {
		add("--registry-password needs --registry-username (for GHCR: the GitHub user or the Actions actor)")
	}
	switch s.Sign {
	case SignKeyless:
		if err := checkURL(s.FulcioURL, s.PlainHTTP); err != nil {
			add("--fulcio-url: %v", err)
		}
		if err := checkURL(s.RekorURL, s.PlainHTTP); err != nil {
			add("--rekor-url: %v", err)
		}
	case SignKey:
		if s.TlogUpload {
			if err := checkURL(s.RekorURL, s.PlainHTTP); err != nil {
				add("--rekor-url: %v", err)
			}
		}
	case SignNone:
	default:
		add("--sign %q is not one of keyless, key, none", s.Sign)
	}
	if s.CertIdentity != "" && s.CertIdentityRegexp != "" {
		add("give --certificate-identity or --certificate-identity-regexp, not both")
	}
	if s.CertIdentityRegexp != "" {
		if _, err := regexp.Compile(s.CertIdentityRegexp); err != nil {
			add("--certificate-identity-regexp: %v", err)
		}
	}
	if s.Sign == SignKey && !s.HasVerifyKey {
		add("--sign=key needs --verify-key (the cosign.pub of the signing key) so signatures can be checked")
	}
	if s.Downstream != "" && !repoRE.MatchString(s.Downstream) {
		add("--downstream %q is not owner/name", s.Downstream)
	}
	switch s.DownstreamGate {
	case GatePrerelease, GateRelease, GateAny:
	default:
		add("--downstream-gate %q is not one of prerelease, release, any", s.DownstreamGate)
	}
	if s.Downstream != "" && !s.HasDownstreamToken {
		add("--downstream %s needs --downstream-token: the Actions GITHUB_TOKEN cannot dispatch to another repository", s.Downstream)
	}
	if _, err := version.ParsePlatforms(s.Platforms); err != nil {
		add("--platforms: %v", err)
	}
	if s.Dockerfile == "" || strings.HasPrefix(s.Dockerfile, "/") || strings.Contains(s.Dockerfile, "..") {
		add("--dockerfile %q must be a path inside the source directory", s.Dockerfile)
	}
	if s.Changelog == "" || strings.HasPrefix(s.Changelog, "/") || strings.Contains(s.Changelog, "..") {
		add("--changelog %q must be a path inside the source directory", s.Changelog)
	}
	if _, err := ParseBuildArgs(s.BuildArgs); err != nil {
		add("--build-arg: %v", err)
	}
	if err := step.ValidFormat(s.Format); err != nil {
		add("--format: %v", err)
	}
	if len(errs) == 0 {
		return nil
	}
	return errors.New("invalid settings:\n  - " + strings.Join(errs, "\n  - "))
}

// ParseImage checks an image repository (no tag, no digest) and returns it.
func ParseImage(s string) (name.Repository, error) {
	if strings.ContainsAny(s, "@") {
		return name.Repository{}, fmt.Errorf("%q has a digest: give the repository only, e.g. ghcr.io/acme/app", s)
	}
	last := s[strings.LastIndex(s, "/")+1:]
	if strings.Contains(last, ":") {
		return name.Repository{}, fmt.Errorf("%q has a tag: give the repository only; shipgate chooses the tags", s)
	}
	r, err := name.NewRepository(s, name.StrictValidation)
	if err != nil {
		return name.Repository{}, fmt.Errorf("%q is not an image repository: %v", s, err)
	}
	return r, nil
}

// ParseBuildArgs turns KEY=VALUE items into a map, refusing malformed and repeated keys.
func ParseBuildArgs(items []string) (map[string]string, error) {
	out := map[string]string{}
	for _, it := range items {
		if !argRE.MatchString(it) {
			return nil, fmt.Errorf("%q is not KEY=VALUE", it)
		}
		k, v, _ := strings.Cut(it, "=")
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("%s is given twice", k)
		}
		out[k] = v
	}
	return out, nil
}

// SortedKeys returns a map's keys in order, for stable output.
func SortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func checkURL(s string, plainHTTP []string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("%q is not an http(s) URL", s)
	}
	if u.User != nil {
		return fmt.Errorf("%q carries credentials in the URL: pass them as secrets instead", redact(u))
	}
	if u.Scheme == "http" && !isLocal(u.Hostname()) && !contains(plainHTTP, u.Host) && !contains(plainHTTP, u.Hostname()) {
		return fmt.Errorf("%q is plain http to a non-local host: use https (or list the host in --plain-http)", s)
	}
	return nil
}

func redact(u *url.URL) string {
	c := *u
	c.User = url.User("***")
	return c.String()
}

func isLocal(host string) bool {
	return host == "localhost" || strings.HasPrefix(host, "127.") || host == "::1" || strings.HasSuffix(host, ".localhost")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// AllowsPlainHTTP reports whether a registry or API host may be reached without TLS: loopback
// hosts always, others only when listed in PlainHTTP.
func (s Settings) AllowsPlainHTTP(host string) bool {
	h := host
	if i := strings.LastIndex(h, ":"); i > 0 && !strings.Contains(h[i:], "]") {
		h = h[:i]
	}
	return isLocal(strings.Trim(h, "[]")) || contains(s.PlainHTTP, host) || contains(s.PlainHTTP, h)
}
