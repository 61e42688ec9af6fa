// Package release is the one place that knows the order of things: prepare, publish (and its
// native-runner parts finalize and publish-platform), promote, status and rollback, each an
// ordered list of named steps (package step) over the capabilities — changelog, registry, sign,
// github.
//
// Every phase has one shape:
//
//   - begin parses the version and every setting once (bad input fails before any step runs) and
//     builds the clients (world.go); the caller's Env is never written;
//   - the first steps are gates: they only observe, and together they produce the phase's plan —
//     a typed value (publishPlan, promotePlan) that the later acts read and never change;
//   - a refused gate stops the phase before any act, and every refusal of a run of gates is shown
//     at once; a system that could not be reached or read fails the gate instead (package fault);
//   - acts observe before they change anything, so a re-run skips what is done; a step that does
//     not apply to this run reports "skipped", not "done";
//   - promote and rollback take the promote lock (lock.go) only after every gate passed, then
//     re-check under it what another run could have changed.
//
// Files: env.go (what a phase needs from outside), world.go (clients and policy of one run),
// phase.go (running a phase), lock.go, verify.go (signature requirements), then one file per phase.
package release

import (
	"context"
	"io"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/shipgate/shipgate/pipeline/clock"
	"github.com/shipgate/shipgate/pipeline/config"
	"github.com/shipgate/shipgate/pipeline/sign"
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
