// Package step is shipgate's model of a release phase: an ordered list of steps, each of which
// first observes the world (is it already done? what is there? does it apply at all?) and only
// then acts. A Runner runs a phase in order, stops at the first error, supports dry-run (observe
// only), and records each step as acted, done, skipped (does not apply: not the same as done),
// planned, passed, refused, failed or not run. A run of gates is evaluated completely, so every
// refusal shows at once; a gate refuses only with a classified refusal (package fault) — a system
// that could not be reached or read, or an unclassified error, fails it; so does a gate with
// nothing to check. A gate that could not check because an earlier one refused (NotChecked) is
// reported as not run, not as one more refusal. An action that finds work but has no act fails:
// nothing is silently "planned" in a real run. Every step gets an OpenTelemetry span, so
// `dagger call` shows each as a named, timed line.
package step

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/shipgate/shipgate/pipeline/fault"
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

// UnmarshalText reads "gate" or "action", so a JSON report reads back.
func (k *Kind) UnmarshalText(b []byte) error {
	switch string(b) {
	case "gate":
		*k = Gate
	case "action":
		*k = Action
	default:
		return fmt.Errorf("step kind %q is neither gate nor action", b)
	}
	return nil
}

// Observation is what a step saw before acting.
type Observation struct {
	// Done means the world is already in the state the step would produce: it will not act.
	Done bool
	// Detail says what was seen ("index 1.2.3 at sha256:ab… already pushed").
	Detail string
	// Plan says what Act would do, shown in dry-run ("push tag latest → sha256:ab…").
	Plan string
	// Skip means the step does not apply to this run (signing is off, no downstream repository,
	// a pre-release has no PR to merge): it neither acts nor counts as done. Detail says why.
	Skip bool
}

// Skip is the observation of a step that does not apply here, saying why.
func Skip(why string) Observation { return Observation{Skip: true, Detail: why} }

// Step is one unit of a phase.
type Step struct {
	// Name is short and stable: "finalize changelog", "push index".
	Name string
	// Observes and Changes say, in a few words, what the step reads and what it writes; the dry-run
	// plan prints them so a reader knows what a re-run will look at.
	Observes string
	Changes  string
	Kind     Kind
	// Observe looks at the world without changing it. For an action a nil Observe means "never
	// done"; a gate with a nil Observe fails (ErrNoObserve): a check that cannot run never passes.
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
	// Skipped: the step does not apply to this run (not the same as done).
	Skipped Status = "skipped"
	// Passed: a gate passed.
	Passed Status = "passed"
	// Refused: a gate refused.
	Refused Status = "refused"
	// Failed: observe or act returned an error.
	Failed Status = "failed"
	// NotRun: an earlier step failed or a gate refused; also a gate that could not check because
	// an earlier gate refused (NotChecked).
	NotRun Status = "not run"
)

// ErrRefused marks errors returned when one or more gates refused.
var ErrRefused = errors.New("gate refused")

// RefusedError lists every gate that refused, with its reason.
type RefusedError struct {
	Phase   string
	Reasons []string // "gate-name: reason", one per gate that refused for a reason of its own
	// NotChecked lists, in the same form, the gates that could not check anything because an
	// earlier gate refused (see NotChecked): they are not counted as refusals.
	NotChecked []string
	// Acted names the steps that acted before the refusing gates (a gate after an act); empty
	// when nothing changed.
	Acted []string
}

func (e *RefusedError) Error() string {
	var b strings.Builder
	if len(e.Reasons) > 0 || len(e.NotChecked) == 0 {
		fmt.Fprintf(&b, "%s refused by %d gate(s)", e.Phase, len(e.Reasons))
	} else {
		// No gate refused for a reason of its own, yet some could not check: still no pass.
		fmt.Fprintf(&b, "%s refused", e.Phase)
	}
	if len(e.Acted) > 0 {
		fmt.Fprintf(&b, " after %s", strings.Join(e.Acted, ", "))
	}
	if len(e.NotChecked) > 0 {
		fmt.Fprintf(&b, "; %d not checked", len(e.NotChecked))
	}
	if len(e.Acted) == 0 {
		b.WriteString(", nothing changed:")
	} else {
		b.WriteString("; nothing after them changed:")
	}
	for _, r := range append(slices.Clip(e.Reasons), e.NotChecked...) {
		// A reason's own lines (a list of unmet requirements) are indented under its bullet, so
		// they cannot be read as gates of their own.
		lines := strings.Split(strings.TrimRight(r, "\n"), "\n")
		b.WriteString("\n  - " + strings.TrimSpace(lines[0]))
		for _, l := range lines[1:] {
			if l = strings.TrimSpace(l); l != "" {
				b.WriteString("\n      " + l)
			}
		}
	}
	return b.String()
}

// Is lets errors.Is(err, ErrRefused) match.
func (e *RefusedError) Is(target error) bool { return target == ErrRefused }

// CouldNotLook marks err as a failure to look — a registry or API that could not be reached —
// unless it already carries a class (see package fault). nil stays nil.
func CouldNotLook(err error) error { return fault.AsUnreachable(err) }

// ErrNotChecked matches (errors.Is) the refusal made by NotChecked.
var ErrNotChecked = errors.New("not checked")

// NotChecked is the refusal of a gate whose input the earlier gate named after did not produce,
// because that gate refused: the phase cannot go on, but the problem is the earlier gate's. The
// runner records such a gate as not run and counts it apart from the gates that refused.
func NotChecked(after string) error { return fault.AsRefused(notCheckedError(after)) }

// notCheckedError is NotChecked's error; its value is the gate that must pass first.
type notCheckedError string

func (e notCheckedError) Error() string {
	return "not checked: the " + string(e) + " gate must pass first"
}

// Is lets errors.Is(err, ErrNotChecked) match.
func (e notCheckedError) Is(target error) bool { return target == ErrNotChecked }

// ErrNoObserve is the failure of a gate with no Observe: a check that cannot run must never pass.
var ErrNoObserve = errors.New("this gate has no check to run, so it cannot pass: this is a bug in shipgate, not in your release; report it to the shipgate maintainers with this report")

// ErrNoAct is the failure of an action that found work to do but has no Act: a bug in the phase,
// never a silent "planned" in a real run.
var ErrNoAct = errors.New("this step found work to do but has no way to do it")

// StepError is a failed step's error, naming the step.
type StepError struct {
	Step string
	Err  error
}

func (e *StepError) Error() string { return fmt.Sprintf("step %q: %v", e.Step, e.Err) }

// Unwrap returns the step's own error.
func (e *StepError) Unwrap() error { return e.Err }
