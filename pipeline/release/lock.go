package release

import (
	"context"
	"errors"
	"fmt"

	"github.com/shipgate/shipgate/pipeline/github"
	"github.com/shipgate/shipgate/pipeline/step"
	"github.com/shipgate/shipgate/pipeline/version"
)

// The promote lock serializes promotes and rollbacks of one repository (a ref GitHub arbitrates,
// see github.AcquireLock). It is a step of its own, placed after every gate: a refused phase
// never writes the lock, never waits behind another run's lock, and a token that cannot write
// still gets the gates' verdict. The step after it re-checks under the lock what another run
// could have changed while the gates ran.

// takeLock is the step that takes the promote lock for phase and version v, once every gate
// passed. pending says, from the gates' plan, whether any act is left to do: a phase whose work is
// all done (a re-run after it finished) takes no lock and writes nothing.
func (w *world) takeLock(rep *step.Report, v version.Version, pending func(context.Context) (bool, error)) step.Step {
	holder := github.LockHolder{Name: fmt.Sprintf("%s %s", rep.Phase, v), RunID: w.env.Run.ID, Attempt: w.env.Run.Attempt}
	return step.Step{
		Name:     "promote lock",
		Observes: "the gates' plan: is anything left to change?", Changes: "takes " + github.LockRef + " (waits while another promote or rollback holds it)",
		Observe: func(ctx context.Context) (step.Observation, error) {
			todo, err := pending(ctx)
			if err != nil {
				return step.Observation{}, err
			}
			if todo {
				return step.Observation{Plan: "take the promote lock as " + holder.Name}, nil
			}
			// Nothing to change, but a crashed attempt of this run may have left its lock behind:
			// take it over to release it, so the re-run ends where an uninterrupted run would.
			info, held, err := w.gh.LockState(ctx, w.repo)
			if err != nil || !held || holder.RunID == "" || info.RunID != holder.RunID || info.Attempt == holder.Attempt {
				return step.Skip("nothing left to change: no lock needed"), err
			}
			return step.Observation{Plan: fmt.Sprintf("take over and release the lock attempt %s of this run left", info.Attempt)}, nil
		},
		Act: func(ctx context.Context) (string, error) {
			l, err := w.acquire(ctx, holder)
			if err != nil {
				return "", err
			}
			w.held = l
			held := "held by " + l.Info.String()
			if run := w.env.Run; run.Actor != "" {
				held += " for " + run.Actor
			}
			rep.Set("lock", held)
			return held, nil
		},
	}
}

// acquire takes the lock, waiting while another run holds it. Two runs never share it, even
// under one name (two laptops promoting one version): a run takes over only its own crashed
// attempt (same workflow run, another attempt), or a stale lock with LockOptions.BreakStale.
func (w *world) acquire(ctx context.Context, holder github.LockHolder) (*github.Lock, error) {
	o := w.env.Lock.withDefaults()
	deadline := w.clk.Now().Add(o.Wait)
	for {
		l, err := w.gh.AcquirePromoteLock(ctx, w.repo, holder, github.LockPolicy{StaleAfter: o.StaleAfter, BreakStale: o.BreakStale})
		if err == nil {
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

// unlock releases the lock if this run holds it; a failure to release is a note, not an error
// (the next run takes over a stale lock).
func (w *world) unlock(ctx context.Context, rep *step.Report) {
	if w.held == nil {
		return
	}
	l := w.held
	w.held = nil
	if err := l.Release(context.WithoutCancel(ctx)); err != nil {
		rep.Note("promote lock not released: %v", err)
		return
	}
	rep.Set("lock", "taken and released")
}
