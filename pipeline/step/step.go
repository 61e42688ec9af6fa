// Package step is shipgate's model of a release phase: an ordered list of steps, each of which
// first observes the world (is it already done? what is there?) and only then acts. A Runner runs
// a phase in order, stops at the first error, supports dry-run (observe only), records what acted,
// what was already done and what was planned, and opens an OpenTelemetry span for every step so
// that `dagger call` shows each step as a named, timed line.
package step

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Kind separates gates from actions.
type Kind int

const (
	// Action is a step that may change the world.
	Action Kind = iota
	// Gate is a check: its Observe passes (nil) or refuses (an error). A run of consecutive gates is
	// evaluated completely before anything after them, so every refusal is reported at once.
	Gate
)

// String is "action" or "gate".
func (k Kind) String() string {
	if k == Gate {
		return "gate"
	}
	return "action"
}

// MarshalText writes String.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Observation is what a step saw before acting.
type Observation struct {
	// Done means the world is already in the state the step would produce: it will not act.
	Done bool
	// Detail says what was seen ("index 1.2.3 at sha256:ab… already pushed").
	Detail string
	// Plan says what Act would do, shown in dry-run ("push tag latest → sha256:ab…").
	Plan string
}

// Step is one unit of a phase.
type Step struct {
	// Name is short and stable: "finalize changelog", "push index".
	Name string
	// Observes and Changes say, in a few words, what the step reads and what it writes; the dry-run
	// plan prints them so a reader knows what a re-run will look at.
	Observes string
	Changes  string
	Kind     Kind
	// Observe looks at the world without changing it. A nil Observe means "never done".
	Observe func(ctx context.Context) (Observation, error)
	// Act makes the change and returns a one-line description of what it did. Gates have none.
	Act func(ctx context.Context) (string, error)
}

// Status is what happened to a step.
type Status string

const (
	// Acted: the step changed the world.
	Acted Status = "acted"
	// Done: observe found the work already done; nothing was changed.
	Done Status = "done"
	// Planned: dry-run; observe found work to do and Act did not run.
	Planned Status = "planned"
	// Passed: a gate passed.
	Passed Status = "passed"
	// Refused: a gate refused.
	Refused Status = "refused"
	// Failed: observe or act returned an error.
	Failed Status = "failed"
	// NotRun: an earlier step failed or a gate refused.
	NotRun Status = "not run"
)

// ErrRefused marks errors returned when one or more gates refused.
var ErrRefused = errors.New("gate refused")

// RefusedError lists every gate that refused, with its reason.
type RefusedError struct {
	Phase   string
	Reasons []string // "gate-name: reason"
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("%s refused by %d gate(s), nothing changed:\n  - %s", e.Phase, len(e.Reasons), strings.Join(e.Reasons, "\n  - "))
}

// Is lets errors.Is(err, ErrRefused) match.
func (e *RefusedError) Is(target error) bool { return target == ErrRefused }

// LookError marks a gate's error as a failure to look — a registry or API that could not be read —
// rather than a refusal: the gate counts as failed, not refused, and the run stops there.
type LookError struct{ Err error }

func (e *LookError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *LookError) Unwrap() error { return e.Err }

// CouldNotLook wraps err as a LookError (nil stays nil).
func CouldNotLook(err error) error {
	if err == nil {
		return nil
	}
	return &LookError{Err: err}
}

// StepError is a failed step's error, naming the step.
type StepError struct {
	Step string
	Err  error
}

func (e *StepError) Error() string { return fmt.Sprintf("step %q: %v", e.Step, e.Err) }

// Unwrap returns the step's own error.
func (e *StepError) Unwrap() error { return e.Err }
