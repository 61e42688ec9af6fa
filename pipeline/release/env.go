// Package release is the one place that knows the order of things: prepare, publish, promote,
// status and rollback, each an ordered list of steps (package step) over the capabilities —
// changelog, registry, sign, github. Every step observes the world before it acts, so re-running a
// phase after any failure finishes the job, and --dry-run runs the observations only.
package release

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"go.opentelemetry.io/otel/trace"

	"github.com/shipgate/shipgate/pipeline/clock"
	"github.com/shipgate/shipgate/pipeline/config"
	"github.com/shipgate/shipgate/pipeline/github"
	"github.com/shipgate/shipgate/pipeline/registry"
	"github.com/shipgate/shipgate/pipeline/sign"
	"github.com/shipgate/shipgate/pipeline/step"
	"github.com/shipgate/shipgate/pipeline/version"
)

// Env is what every phase needs from outside: the shared settings, the secrets, facts about the
// run, and (for tests and the demo) the transport and clock.
type Env struct {
	Settings config.Settings
	Secrets  Secrets
	Run      Run

	// DryRun observes only: no step acts, no lock is taken.
	DryRun bool
	// Clock times steps, waits for locks and retries; nil is the wall clock.
	Clock clock.Clock
	// Transport carries every registry and GitHub request; nil is the default transport.
	Transport http.RoundTripper
	// Progress gets one line per finished step; nil discards.
	Progress io.Writer
	// Tracer opens the phase and step spans; nil uses the global provider (Dagger's, in a module).
	Tracer trace.Tracer
	// Hook runs after every step that acted (tests crash the run here).
	Hook func(ctx context.Context, step string) error
	// Signer replaces the signer the settings describe (tests: VirtualSigstore; the demo: a
	// throwaway key).
	Signer sign.Signer
	// Lock shapes the promote lock.
	Lock LockOptions
}

// Secrets are the secret values, read from *dagger.Secret at the last moment. They are never
// logged and never part of an error.
type Secrets struct {
	RegistryPassword string
	GitHubToken      string
	DownstreamToken  string
	SigningKey       []byte
	SigningPassword  []byte
	OIDCRequestURL   string
	OIDCRequestToken string
	// VerifyKey (cosign.pub) and TrustedRoot are not secret; they travel with the secrets because
	// they are files, read the same way.
	VerifyKey   []byte
	TrustedRoot []byte
}

// Run holds facts about the run that provenance and the lock record.
type Run struct {
	// ID and Attempt of the GitHub Actions run (GITHUB_RUN_ID, GITHUB_RUN_ATTEMPT); empty outside
	// Actions.
	ID, Attempt string
	// WorkflowRef is GITHUB_WORKFLOW_REF (owner/repo/.github/workflows/release.yml@refs/heads/...).
	WorkflowRef string
	// Actor is who started the run.
	Actor string
	// BuilderID names the builder in provenance; default DefaultBuilderID.
	BuilderID string
}

// DefaultBuilderID is the SLSA builder id shipgate records.
const DefaultBuilderID = "https://github.com/shipgate/shipgate"

// LockOptions shape the promote lock (a ref GitHub arbitrates, see github.AcquireLock).
type LockOptions struct {
	// Wait is how long a promote waits for another one to finish; default 10 minutes.
	Wait time.Duration
	// Poll is how often it looks again; default 10 seconds.
	Poll time.Duration
	// StaleAfter is when a held lock counts as stale; default 1 hour.
	StaleAfter time.Duration
	// BreakStale takes over a stale lock (a promote that died without releasing it).
	BreakStale bool
}

func (o LockOptions) withDefaults() LockOptions {
	if o.Wait == 0 {
		o.Wait = 10 * time.Minute
	}
	if o.Poll == 0 {
		o.Poll = 10 * time.Second
	}
	if o.StaleAfter == 0 {
		o.StaleAfter = time.Hour
	}
	return o
}

// world holds the clients of one phase run.
type world struct {
	env       *Env
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
}

// connect validates the settings and builds the clients; it makes no request.
func connect(env *Env) (*world, error) {
	s := env.Settings
	s.Defaults()
	env.Settings = s
	if err := s.Validate(); err != nil {
		return nil, err
	}
	w := &world{env: env, clk: clock.Or(env.Clock)}
	var err error
	if w.repo, err = github.ParseRepo(s.Repo); err != nil {
		return nil, err
	}
	if w.platforms, err = version.ParsePlatforms(s.Platforms); err != nil {
		return nil, err
	}
	if w.image, err = registry.ParseRepository(s.Image); err != nil {
		return nil, fmt.Errorf("--image: %w", err)
	}
	host, _, _ := strings.Cut(w.image, "/")
	w.insecure = s.AllowsPlainHTTP(host)

	if w.gh, err = github.New(github.Options{BaseURL: apiBase(s.GitHubAPI), Token: env.Secrets.GitHubToken, Transport: env.Transport, Clock: env.Clock, Log: env.Progress}); err != nil {
		return nil, err
	}
	if s.Downstream != "" {
		if w.downRepo, err = github.ParseRepo(s.Downstream); err != nil {
			return nil, err
		}
		if w.down, err = github.New(github.Options{BaseURL: apiBase(s.GitHubAPI), Token: env.Secrets.DownstreamToken, Transport: env.Transport, Clock: env.Clock, Log: env.Progress}); err != nil {
			return nil, err
		}
	}

	ropts := []registry.Option{registry.WithClock(env.Clock)}
	var auth authn.Authenticator = authn.Anonymous
	if env.Secrets.RegistryPassword != "" {
		ropts = append(ropts, registry.WithAuth(s.RegistryUsername, env.Secrets.RegistryPassword))
		auth = &authn.Basic{Username: s.RegistryUsername, Password: env.Secrets.RegistryPassword}
	}
	if env.Transport != nil {
		ropts = append(ropts, registry.WithTransport(env.Transport))
	}
	if w.insecure {
		ropts = append(ropts, registry.WithInsecureHosts(host))
	}
	w.reg = registry.New(ropts...)
	sopts := []remote.Option{remote.WithAuth(auth)}
	if env.Transport != nil {
		sopts = append(sopts, remote.WithTransport(env.Transport))
	}
	w.store = sign.NewStore(sopts...)
	w.policy = policyFor(s, env.Secrets)
	return w, nil
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
	s, sec := w.env.Settings, w.env.Secrets
	var err error
	switch s.Sign {
	case config.SignKey:
		if len(sec.SigningKey) == 0 {
			return nil, fmt.Errorf("--sign=key needs --signing-key (cosign.key from cosign generate-key-pair) and --signing-password to sign")
		}
		w.signer, err = sign.NewKeySigner(sec.SigningKey, sec.SigningPassword, sign.KeyOptions{RekorURL: s.RekorURL, DisableTlogUpload: !s.TlogUpload, Transport: w.env.Transport})
	case config.SignKeyless:
		if sec.OIDCRequestURL == "" || sec.OIDCRequestToken == "" {
			return nil, fmt.Errorf("keyless signing needs the GitHub Actions OIDC token: run in Actions with `permissions: id-token: write` and pass --oidc-request-url env:ACTIONS_ID_TOKEN_REQUEST_URL --oidc-request-token env:ACTIONS_ID_TOKEN_REQUEST_TOKEN (or use --sign=key)")
		}
		w.signer, err = sign.NewKeylessSigner(sign.KeylessOptions{TokenURL: sec.OIDCRequestURL, RequestToken: sec.OIDCRequestToken, FulcioURL: s.FulcioURL, RekorURL: s.RekorURL, Transport: w.env.Transport, Clock: w.env.Clock})
	default:
		return nil, fmt.Errorf("signing is off (--sign=none): promote's signature gate cannot pass; use --sign=keyless or --sign=key")
	}
	return w.signer, err
}

// digestRef is image@digest, honouring the plain-HTTP allowance.
func (w *world) digestRef(d string) (name.Digest, error) {
	var opts []name.Option
	if w.insecure {
		opts = append(opts, name.Insecure)
	}
	return name.NewDigest(w.image+"@"+d, opts...)
}

// run runs a phase's steps with this run's runner; gate errors from systems that could not be
// read are failures, not refusals (see classify).
func (w *world) run(ctx context.Context, rep *step.Report, steps []step.Step) error {
	r := step.Runner{DryRun: w.env.DryRun, Clock: w.env.Clock, Tracer: w.env.Tracer, Progress: w.env.Progress, Hook: w.env.Hook}
	return r.Run(ctx, rep, classify(steps))
}

// repoURL is the web URL of the repository (for the CHANGELOG links and provenance).
func (w *world) repoURL() string {
	return webURL(w.env.Settings.GitHubAPI) + "/" + w.repo.String()
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

// classify marks, in every gate, an error that comes from not being able to read a registry or
// GitHub (an outage, a rate limit, a bad token) as such, so the gate reports "failed: could not
// look" and the run stops, instead of reporting a refusal the operator would try to fix.
func classify(steps []step.Step) []step.Step {
	out := make([]step.Step, len(steps))
	for i, s := range steps {
		if s.Kind == step.Gate && s.Observe != nil {
			observe := s.Observe
			s.Observe = func(ctx context.Context) (step.Observation, error) {
				obs, err := observe(ctx)
				if err != nil && infrastructure(err) {
					return obs, step.CouldNotLook(err)
				}
				return obs, err
			}
		}
		out[i] = s
	}
	return out
}

// infrastructure reports errors of the systems looked at, as opposed to what they said.
func infrastructure(err error) bool {
	var ghErr *github.Error
	var rlErr *github.RateLimitError
	var regErr *registry.Error
	var tErr *transport.Error
	var netErr net.Error
	var urlErr *url.Error
	return errors.As(err, &ghErr) || errors.As(err, &rlErr) || errors.As(err, &regErr) || errors.As(err, &tErr) ||
		errors.As(err, &netErr) || errors.As(err, &urlErr) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// begin starts a phase run: its report, the clients, and the version.
func begin(env *Env, phase, ver string) (*world, *step.Report, version.Version, error) {
	rep := step.NewReport(phase, ver)
	w, err := connect(env)
	var v version.Version
	if err == nil {
		v, err = version.Parse(ver)
	}
	if err != nil {
		rep.Err = err.Error()
		return nil, rep, v, err
	}
	rep.Version = v.String()
	return w, rep, v, nil
}

// runLocked runs steps under the promote lock, which serializes promotes and rollbacks of one
// repository; a dry run takes no lock.
func (w *world) runLocked(ctx context.Context, rep *step.Report, v version.Version, steps []step.Step) error {
	if !w.env.DryRun {
		lock, err := w.lock(ctx, rep, v)
		if err != nil {
			rep.Err = err.Error()
			return err
		}
		defer func() {
			if err := lock.Release(context.WithoutCancel(ctx)); err != nil {
				rep.Note("promote lock not released: %v", err)
				return
			}
			rep.Set("lock", "taken and released")
		}()
	}
	return w.run(ctx, rep, steps)
}

// lock takes the promote lock, waiting while another promote holds it.
func (w *world) lock(ctx context.Context, rep *step.Report, v version.Version) (*github.Lock, error) {
	o := w.env.Lock.withDefaults()
	// The holder names the workflow run, not its attempt or actor: GitHub starts attempt n+1 of a
	// run only after attempt n ended, so a re-run (by anyone) takes over the lock its crashed
	// attempt left behind, while any other run waits. Outside Actions the holder is the version
	// alone: a re-run on a laptop takes its lock back too.
	holder := fmt.Sprintf("%s %s", rep.Phase, v)
	run := w.env.Run
	if run.ID != "" {
		holder += fmt.Sprintf(" (run %s)", run.ID)
	}
	deadline := w.clk.Now().Add(o.Wait)
	for {
		l, err := w.gh.AcquireLock(ctx, w.repo, holder, o.StaleAfter, o.BreakStale)
		if err == nil {
			held := "held by " + holder
			if run.ID != "" {
				held += fmt.Sprintf(", attempt %s by %s", run.Attempt, run.Actor)
			}
			rep.Set("lock", held)
			return l, nil
		}
		var locked *github.LockedError
		if !errors.As(err, &locked) || !w.clk.Now().Before(deadline) {
			return nil, err
		}
		if err := w.clk.Sleep(ctx, o.Poll); err != nil {
			return nil, err
		}
	}
}

// verify checks a release's bundles by policy — index signature, an SBOM per platform (unless
// SBOMs are off), provenance naming commit — and returns how many requirements held, or an error
// listing each that did not, with its digest.
func (w *world) verify(ctx context.Context, digest v1.Hash, plats map[string]name.Digest, commit string) (int, error) {
	idx, err := w.digestRef(digest.String())
	if err != nil {
		return 0, err
	}
	reqs, err := w.store.VerifyRelease(ctx, idx, plats, commit, w.policy)
	var rerr *sign.ReleaseError
	if err != nil && !errors.As(err, &rerr) {
		return 0, err
	}
	var failed []string
	ok := 0
	for _, r := range reqs {
		switch {
		case r.OK:
			ok++
		case w.env.Settings.NoSBOM && strings.Contains(strings.ToLower(r.What), "sbom"):
		default:
			failed = append(failed, r.String())
		}
	}
	if len(failed) > 0 {
		return ok, fmt.Errorf("%d requirement(s) not met under %s:\n    %s", len(failed), w.policy, strings.Join(failed, "\n    "))
	}
	return ok, nil
}
