package release

import (
	"fmt"
	"io"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/shipgate/shipgate/pipeline/clock"
	"github.com/shipgate/shipgate/pipeline/config"
	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/github"
	"github.com/shipgate/shipgate/pipeline/registry"
	"github.com/shipgate/shipgate/pipeline/sign"
	"github.com/shipgate/shipgate/pipeline/version"
)

// world holds what one phase run works with: its own copy of the settings (defaults applied,
// validated), the clients, and the verification policy. It is built once per run and never
// written back into the caller's Env, so two phases may share one Env.
type world struct {
	env       *Env
	s         config.Settings
	clk       clock.Clock
	repo      github.Repo
	gh        *github.Client
	downRepo  github.Repo
	down      *github.Client
	reg       *registry.Client
	store     *sign.Store
	image     string // canonical repository name
	insecure  bool   // the image registry is reached over plain HTTP
	platforms []version.Platform
	policy    sign.Policy
	signer    sign.Signer
	held      *github.Lock // the promote lock, while this run holds it
	// progress is env.Progress shared by the step runner, the GitHub and the registry client
	// (see progressTo); nil discards.
	progress io.Writer
}

// connect validates the settings and builds the clients; it makes no request.
func connect(env *Env) (*world, error) {
	s := env.Settings
	s.Defaults()
	if err := s.Validate(); err != nil {
		return nil, fault.AsBadInput(err)
	}
	w := &world{env: env, s: s, clk: clock.Or(env.Clock), progress: progressTo(env.Progress)}
	var err error
	if w.repo, err = parseRepo(s.Repo, "--repo"); err != nil {
		return nil, err
	}
	if w.platforms, err = version.ParsePlatforms(s.Platforms); err != nil {
		return nil, fault.AsBadInput(err)
	}
	if w.image, err = registry.ParseRepository(s.Image); err != nil {
		return nil, fault.AsBadInput(fmt.Errorf("--image: %w", err))
	}
	host, _, _ := strings.Cut(w.image, "/")
	w.insecure = s.AllowsPlainHTTP(host)
	if w.gh, err = w.github(env.Secrets.GitHubToken, "--github-token"); err != nil {
		return nil, err
	}
	if s.Downstream != "" {
		if w.downRepo, err = parseRepo(s.Downstream, "--downstream"); err != nil {
			return nil, err
		}
		if w.down, err = w.github(env.Secrets.DownstreamToken, "--downstream-token"); err != nil {
			return nil, err
		}
	}
	w.reg, w.store = w.registry(host)
	w.policy = policyFor(s, env.Secrets)
	return w, nil
}

// parseRepo reads an owner/name setting with config's one parser.
func parseRepo(s, flag string) (github.Repo, error) {
	r, err := config.ParseRepo(s)
	if err != nil {
		return github.Repo{}, fault.AsBadInput(fmt.Errorf("%s: %w", flag, err))
	}
	return github.Repo(r), nil
}

func (w *world) github(token, flag string) (*github.Client, error) {
	return github.New(github.Options{BaseURL: apiBase(w.s.GitHubAPI), Token: token, TokenFlag: flag, Transport: w.env.Transport, Clock: w.env.Clock, Log: w.progress})
}

// registry builds the registry client and the signature store over it: one stack (transport,
// retries on the run's clock, plain-HTTP guard, secret scrubbing) for images, tags, signatures
// and attestations. Its changes and retries (the signature store's too) are lines on the
// phase's Progress, as the GitHub client's are; the client scrubs its credentials from them.
func (w *world) registry(host string) (*registry.Client, *sign.Store) {
	env := w.env
	ropts := []registry.Option{registry.WithClock(env.Clock)}
	if w.progress != nil {
		ropts = append(ropts, registry.WithLogger(newProgressLog(w.progress)))
	}
	if env.Secrets.RegistryPassword != "" {
		ropts = append(ropts, registry.WithAuth(w.s.RegistryUsername, env.Secrets.RegistryPassword))
	}
	if env.Transport != nil {
		ropts = append(ropts, registry.WithTransport(env.Transport))
	}
	if w.insecure {
		ropts = append(ropts, registry.WithInsecureHosts(host))
	}
	reg := registry.New(ropts...)
	return reg, sign.NewRegistryStore(reg, env.Clock)
}

// apiBase maps the default public API URL to "" (go-github's own default) and passes others on.
func apiBase(u string) string {
	if u == config.DefaultGitHubAPI {
		return ""
	}
	return u
}

// policyFor derives the verification policy from the settings: a public key in key mode; in
// keyless mode the given identity, or the one derived from the repository and its publish
// workflow (see sign.DefaultKeylessPolicy).
func policyFor(s config.Settings, sec Secrets) sign.Policy {
	switch s.Sign {
	case config.SignKey:
		return sign.Policy{PublicKeyPEM: sec.VerifyKey, TrustedRootJSON: sec.TrustedRoot, IgnoreTlog: !s.TlogUpload}
	case config.SignKeyless:
		var p sign.Policy
		switch {
		case s.CertIdentity != "":
			p = sign.Policy{Identity: s.CertIdentity}
		case s.CertIdentityRegexp != "":
			p = sign.Policy{IdentityRegexp: s.CertIdentityRegexp}
		default:
			p = sign.DefaultKeylessPolicy(s.Repo, s.Workflow, "")
		}
		p.Issuer = s.CertOIDCIssuer
		if p.Issuer == "" {
			p.Issuer = sign.GitHubActionsIssuer
		}
		p.TrustedRootJSON = sec.TrustedRoot
		return p
	}
	return sign.Policy{}
}

// signerFor builds the signer lazily, at the first signature: keyless needs a fresh OIDC token.
func (w *world) signerFor() (sign.Signer, error) {
	if w.signer != nil {
		return w.signer, nil
	}
	if w.env.Signer != nil {
		w.signer = w.env.Signer
		return w.signer, nil
	}
	sec := w.env.Secrets
	var err error
	switch w.s.Sign {
	case config.SignKey:
		if len(sec.SigningKey) == 0 {
			return nil, fault.BadInputf("--sign=key needs --signing-key (cosign.key from cosign generate-key-pair) and --signing-password to sign")
		}
		w.signer, err = sign.NewKeySigner(sec.SigningKey, sec.SigningPassword, sign.KeyOptions{RekorURL: w.s.RekorURL, DisableTlogUpload: !w.s.TlogUpload, Transport: w.env.Transport})
	case config.SignKeyless:
		if sec.OIDCRequestURL == "" || sec.OIDCRequestToken == "" {
			return nil, fault.BadInputf("keyless signing needs the GitHub Actions OIDC token: run in Actions with `permissions: id-token: write` and pass --oidc-request-url env:ACTIONS_ID_TOKEN_REQUEST_URL --oidc-request-token env:ACTIONS_ID_TOKEN_REQUEST_TOKEN (or use --sign=key)")
		}
		w.signer, err = sign.NewKeylessSigner(sign.KeylessOptions{TokenURL: sec.OIDCRequestURL, RequestToken: sec.OIDCRequestToken, FulcioURL: w.s.FulcioURL, RekorURL: w.s.RekorURL, Transport: w.env.Transport, Clock: w.env.Clock})
	default:
		return nil, fault.BadInputf("signing is off (--sign=none): promote's signature gate cannot pass; use --sign=keyless or --sign=key")
	}
	return w.signer, err
}

// signing reports whether this run signs (and so verifies) at all.
func (w *world) signing() bool { return w.s.Sign != config.SignNone }

// digestRef is image@digest, honouring the plain-HTTP allowance.
func (w *world) digestRef(d string) (name.Digest, error) {
	var opts []name.Option
	if w.insecure {
		opts = append(opts, name.Insecure)
	}
	ref, err := name.NewDigest(w.image+"@"+d, opts...)
	return ref, fault.AsUnreadable(err)
}

// digestRefs maps digestRef over digests.
func (w *world) digestRefs(digests []string) ([]name.Digest, error) {
	return mapAll(digests, w.digestRef)
}

// repoURL is the web URL of the repository (for the CHANGELOG links and provenance).
func (w *world) repoURL() string {
	return webURL(w.s.GitHubAPI) + "/" + w.repo.String()
}

// runURL is the web URL of this run's attempt in GitHub Actions, "" outside Actions.
func (w *world) runURL() string {
	run := w.env.Run
	if run.ID == "" {
		return ""
	}
	u := w.repoURL() + "/actions/runs/" + run.ID
	if run.Attempt != "" {
		u += "/attempts/" + run.Attempt
	}
	return u
}

// webURL derives the web root from the REST API root: api.github.com → github.com, and
// https://HOST/api/v3/ → https://HOST.
func webURL(api string) string {
	api = strings.TrimRight(api, "/")
	switch {
	case api == "" || api == strings.TrimRight(config.DefaultGitHubAPI, "/"):
		return "https://github.com"
	case strings.HasSuffix(api, "/api/v3"):
		return strings.TrimSuffix(api, "/api/v3")
	}
	return api
}
