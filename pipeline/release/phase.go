package release

import (
	"context"

	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/step"
	"github.com/shipgate/shipgate/pipeline/version"
)

// begin starts a phase run: its report, the version and every setting parsed once (bad input
// fails here, before any step runs), and the clients.
func begin(env *Env, phase, ver string) (*world, *step.Report, version.Version, error) {
	rep := step.NewReport(phase, ver)
	v, err := version.Parse(ver)
	if err != nil {
		err = fault.AsBadInput(err)
		rep.SetError(err)
		return nil, rep, v, err
	}
	rep.Version = v.String()
	w, err := connect(env)
	if err != nil {
		rep.SetError(err)
		return nil, rep, v, err
	}
	return w, rep, v.WithTagPrefix(w.s.GitTagPrefix()), nil
}

// fail records an error found before the first step (an argument that does not parse).
func fail(rep *step.Report, err error) (*step.Report, error) {
	rep.SetError(err)
	return rep, err
}

// run runs a phase's steps with this run's runner. A promote lock taken by one of the steps is
// released when the phase ends, however it ends.
func (w *world) run(ctx context.Context, rep *step.Report, steps []step.Step) error {
	defer w.unlock(ctx, rep)
	r := step.Runner{DryRun: w.env.DryRun, Clock: w.env.Clock, Tracer: w.env.Tracer, Progress: w.progress, Hook: w.env.Hook}
	return r.Run(ctx, rep, steps)
}

// refuse is a gate's refusal: the world is not as the phase needs, and the message says what to
// do about it.
func refuse(format string, args ...any) error { return fault.Refusedf(format, args...) }

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
