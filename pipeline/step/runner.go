package step

import (
	"context"
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
// *RefusedError listing every refusal.
func (r Runner) Run(ctx context.Context, rep *Report, steps []Step) error {
	clk := clock.Or(r.Clock)
	tracer := r.Tracer
	if tracer == nil {
		tracer = otel.Tracer(TracerName)
	}
	ctx, span := tracer.Start(ctx, rep.Phase, trace.WithAttributes(attribute.Bool("shipgate.dry_run", r.DryRun), attribute.String("shipgate.version", rep.Version)))
	defer span.End()
	rep.DryRun = r.DryRun
	rep.Started = clk.Now()
	defer func() { rep.Duration = clk.Now().Sub(rep.Started) }()

	var refused, acted []string
	for i, s := range steps {
		if len(refused) > 0 && s.Kind != Gate {
			// A block of gates just ended with refusals: nothing after it runs.
			for _, rest := range steps[i:] {
				rep.add(Record{Name: rest.Name, Kind: rest.Kind, Status: NotRun})
			}
			err := &RefusedError{Phase: rep.Phase, Reasons: refused, Acted: acted}
			span.SetStatus(codes.Error, err.Error())
			rep.Err = err.Error()
			return err
		}
		rec, err := r.runOne(ctx, clk, tracer, s)
		if rec.Status == Acted {
			acted = append(acted, s.Name)
		}
		rep.add(rec)
		r.progress(rec)
		if err != nil && s.Kind == Gate && rec.Status == Refused {
			refused = append(refused, s.Name+": "+err.Error())
			continue
		}
		if err != nil {
			for _, rest := range steps[i+1:] {
				rep.add(Record{Name: rest.Name, Kind: rest.Kind, Status: NotRun})
			}
			serr := &StepError{Step: s.Name, Err: err}
			span.SetStatus(codes.Error, serr.Error())
			rep.Err = serr.Error()
			return serr
		}
		if rec.Status == Acted && r.Hook != nil {
			if err := r.Hook(ctx, s.Name); err != nil {
				for _, rest := range steps[i+1:] {
					rep.add(Record{Name: rest.Name, Kind: rest.Kind, Status: NotRun})
				}
				rep.Err = err.Error()
				return err
			}
		}
	}
	if len(refused) > 0 {
		err := &RefusedError{Phase: rep.Phase, Reasons: refused, Acted: acted}
		span.SetStatus(codes.Error, err.Error())
		rep.Err = err.Error()
		return err
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
	if s.Observe != nil {
		obs, err = s.Observe(ctx)
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
// (fault.Refused or fault.BadInput); a system that could not be reached or read, or an error
// nobody classified, is a failure — never a verdict the operator would try to fix.
func gateOutcome(obs Observation, err error) (Status, string) {
	if err != nil {
		switch c := fault.Of(err); c {
		case fault.Refused, fault.BadInput:
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
