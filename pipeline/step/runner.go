package step

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/shipgate/shipgate/pipeline/clock"
	"github.com/shipgate/shipgate/pipeline/fault"
)

// TracerName is the instrumentation name of shipgate's spans.
const TracerName = "github.com/shipgate/shipgate/pipeline"

// Runner runs phases.
type Runner struct {
	// DryRun runs every Observe and no Act.
	DryRun bool
	// Clock times steps; nil is the wall clock.
	Clock clock.Clock
	// Tracer opens a span per phase and per step; nil uses the global provider (which `dagger call`
	// connects to its progress output).
	Tracer trace.Tracer
	// Progress, when set, gets one line per step as it finishes.
	Progress io.Writer
	// Hook, when set, runs after every step that acted; tests use it to crash between steps.
	Hook func(ctx context.Context, step string) error
}

// Run runs steps in order into report. It stops at the first failure; a run of consecutive gates
// is evaluated completely, and if any refused, nothing after them runs and the error is a
// *RefusedError listing every refusal (and, apart, every gate not checked because of one). However
// the run stops — a failed step, a refusal, a failed Hook — the phase span and the report carry
// the error.
func (r Runner) Run(ctx context.Context, rep *Report, steps []Step) error {
	clk := clock.Or(r.Clock)
	tracer := r.Tracer
	if tracer == nil {
		tracer = otel.Tracer(TracerName)
	}
	ctx, span := tracer.Start(ctx, rep.Phase, trace.WithAttributes(attribute.Bool("shipgate.dry_run", r.DryRun), attribute.String("shipgate.version", rep.Version)))
	defer span.End()
	started := clk.Now()
	rep.begin(r.DryRun, started)
	defer func() { rep.finish(clk.Now().Sub(started)) }()

	// stop ends the run with err: the steps in rest are recorded as not run, and the phase span
	// and the report get the error.
	stop := func(err error, rest []Step) error {
		for _, s := range rest {
			rep.add(Record{Name: s.Name, Kind: s.Kind, Status: NotRun})
		}
		span.SetStatus(codes.Error, err.Error())
		rep.SetError(err)
		return err
	}
	var refused, notChecked, acted []string
	refusal := func() error {
		return &RefusedError{Phase: rep.Phase, Reasons: refused, NotChecked: notChecked, Acted: acted}
	}
	for i, s := range steps {
		if len(refused)+len(notChecked) > 0 && s.Kind != Gate {
			// A block of gates just ended with refusals: nothing after it runs.
			return stop(refusal(), steps[i:])
		}
		rec, err := r.runOne(ctx, clk, tracer, s)
		if rec.Status == Acted {
			acted = append(acted, s.Name)
		}
		rep.add(rec)
		r.progress(rec)
		if err != nil && s.Kind == Gate {
			switch rec.Status {
			case Refused:
				refused = append(refused, s.Name+": "+err.Error())
				continue
			case NotRun:
				notChecked = append(notChecked, s.Name+": "+err.Error())
				continue
			}
		}
		if err != nil {
			return stop(&StepError{Step: s.Name, Err: err}, steps[i+1:])
		}
		if rec.Status == Acted && r.Hook != nil {
			if err := r.Hook(ctx, s.Name); err != nil {
				return stop(err, steps[i+1:])
			}
		}
	}
	if len(refused)+len(notChecked) > 0 {
		return stop(refusal(), nil)
	}
	return nil
}

func (r Runner) runOne(ctx context.Context, clk clock.Clock, tracer trace.Tracer, s Step) (rec Record, err error) {
	ctx, span := tracer.Start(ctx, s.Name)
	defer span.End()
	start := clk.Now()
	rec = Record{Name: s.Name, Kind: s.Kind, Observes: s.Observes, Changes: s.Changes}
	defer func() {
		rec.Duration = clk.Now().Sub(start)
		span.SetAttributes(attribute.String("shipgate.status", string(rec.Status)))
		if rec.Detail != "" {
			span.SetAttributes(attribute.String("shipgate.detail", rec.Detail))
		}
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
	}()

	obs := Observation{}
	switch {
	case s.Observe != nil:
		obs, err = s.Observe(ctx)
	case s.Kind == Gate:
		// Fail closed: a gate with nothing to check must not read as "passed".
		rec.Status, rec.Detail = Failed, ErrNoObserve.Error()
		return rec, ErrNoObserve
	}
	if s.Kind == Gate {
		rec.Status, rec.Detail = gateOutcome(obs, err)
		return rec, err
	}
	switch {
	case err != nil:
		rec.Status, rec.Detail = Failed, "observe: "+err.Error()
		return rec, fmt.Errorf("observe: %w", err)
	case obs.Skip:
		rec.Status, rec.Detail = Skipped, obs.Detail
		return rec, nil
	case obs.Done:
		rec.Status, rec.Detail = Done, obs.Detail
		return rec, nil
	case r.DryRun:
		rec.Status, rec.Detail = Planned, obs.Plan
		if rec.Detail == "" {
			rec.Detail = obs.Detail
		}
		return rec, nil
	case s.Act == nil:
		// Fail closed: "planned" in a real run would read as success.
		rec.Status, rec.Detail = Failed, ErrNoAct.Error()
		return rec, ErrNoAct
	}
	what, err := s.Act(ctx)
	if err != nil {
		rec.Status, rec.Detail = Failed, err.Error()
		return rec, err
	}
	rec.Status, rec.Detail = Acted, what
	return rec, nil
}

// gateOutcome turns a gate's observation into its status: a refusal only when the gate says so
// (fault.Refused or fault.BadInput), and not run when it could not check because an earlier gate
// refused (NotChecked); a system that could not be reached or read, or an error nobody
// classified, is a failure — never a verdict the operator would try to fix.
func gateOutcome(obs Observation, err error) (Status, string) {
	if err != nil {
		switch c := fault.Of(err); c {
		case fault.Refused, fault.BadInput:
			if errors.Is(err, ErrNotChecked) {
				return NotRun, err.Error()
			}
			return Refused, err.Error()
		case fault.Unreachable, fault.Unreadable:
			return Failed, "could not look: " + err.Error()
		default:
			return Failed, err.Error()
		}
	}
	switch {
	case obs.Skip:
		return Skipped, obs.Detail
	case obs.Done:
		return Done, obs.Detail
	}
	return Passed, obs.Detail
}

func (r Runner) progress(rec Record) {
	if r.Progress == nil {
		return
	}
	line := fmt.Sprintf("%-8s %s", rec.Status, rec.Name)
	if rec.Detail != "" {
		line += ": " + rec.Detail
	}
	fmt.Fprintf(r.Progress, "%s (%s)\n", line, rec.Duration.Round(time.Millisecond))
}
