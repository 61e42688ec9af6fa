package release

import (
	"context"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/github"
	"github.com/shipgate/shipgate/pipeline/step"
	"github.com/shipgate/shipgate/pipeline/version"
)

// dispatchRun is one re-dispatch: the build its gate found.
type dispatchRun struct {
	w      *world
	rep    *step.Report
	v      version.Version
	commit string
	index  v1.Hash
	rel    *github.Release
}

// Dispatch sends the downstream smoke test of a published build again — after a flake, without
// building or signing anything — with the next attempt number in the payload (the correlation id
// gains "-rN"). Its steps:
//
//  1. build — the git tag of the version (its commit) and the X.Y.Z index (its digest);
//  2. smoke test — repository_dispatch to the downstream repository, recorded with its attempt.
//
// Unlike the other phases it acts on every run: each run is one more attempt.
func Dispatch(ctx context.Context, env *Env, ver string) (*step.Report, error) {
	w, rep, v, err := begin(env, "dispatch", ver)
	if err != nil {
		return rep, err
	}
	if w.down == nil {
		return fail(rep, fault.BadInputf("no downstream repository configured: set --downstream owner/name (and --downstream-token) to dispatch a smoke test"))
	}
	d := &dispatchRun{w: w, rep: rep, v: v}
	return rep, w.run(ctx, rep, []step.Step{d.build(), d.send()})
}

func (d *dispatchRun) build() step.Step {
	return step.Step{
		Name: "build", Kind: step.Gate,
		Observes: "tag vX.Y.Z, the X.Y.Z index and the release, if any",
		Observe: func(ctx context.Context) (step.Observation, error) {
			at, found, err := d.w.gh.Tag(ctx, d.w.repo, d.v)
			if err != nil {
				return step.Observation{}, err
			}
			if !found {
				return step.Observation{}, refuse("%s does not exist in %s: publish %s first (the smoke test is dispatched by publish)", d.v.GitTag(), d.w.repo, d.v)
			}
			chk, err := d.w.reg.CheckIndex(ctx, d.w.image, d.v, d.w.platforms)
			if err != nil {
				return step.Observation{}, err
			}
			if chk.Digest == (v1.Hash{}) {
				return step.Observation{}, refuse("%s:%s does not exist: publish %s first", d.w.image, d.v.ImageTag(), d.v)
			}
			if d.rel, err = d.w.gh.FindRelease(ctx, d.w.repo, d.v.GitTag()); err != nil {
				return step.Observation{}, err
			}
			d.commit, d.index = at, chk.Digest
			d.rep.Set("index", d.w.image+"@"+chk.Digest.String())
			return step.Observation{Detail: fmt.Sprintf("%s at %s, %s:%s is %s", d.v.GitTag(), short(at), d.w.image, d.v.ImageTag(), chk.Digest)}, nil
		},
	}
}

func (d *dispatchRun) send() step.Step {
	return step.Step{
		Name:     "smoke test",
		Observes: "the recorded dispatches of this build", Changes: "repository_dispatch to the downstream repository again, then records the attempt",
		Observe: func(ctx context.Context) (step.Observation, error) {
			return step.Observation{Plan: fmt.Sprintf("dispatch %s to %s again", d.w.s.EventType, d.w.downRepo)}, nil
		},
		Act: func(ctx context.Context) (string, error) {
			out, err := d.w.gh.Redispatch(ctx, d.w.repo, d.v.GitTag(), d.rel, d.w.down, d.w.downRepo, d.w.s.EventType, d.w.payload(d.v, d.index, d.commit))
			if err != nil {
				return "", err
			}
			d.rep.Set("correlation id", out.Record.CorrelationID)
			return fmt.Sprintf("dispatched %s to %s, attempt %d (correlation id %s)", out.Record.EventType, out.Record.Repo, out.Record.Attempt, out.Record.CorrelationID), nil
		},
	}
}

// payload is the smoke-test dispatch of build index of v, made from commit.
func (w *world) payload(v version.Version, index v1.Hash, commit string) github.DispatchPayload {
	p := github.DispatchPayload{Version: v.String(), Tag: v.GitTag(), ReleaseKind: github.ReleaseFinal, Image: w.image, Digest: index.String(),
		Repository: w.repo.String(), Commit: commit, RunID: w.env.Run.ID, RunURL: w.runURL(), CorrelationID: github.CorrelationID(v, index.String())}
	if v.IsPrerelease() {
		p.ReleaseKind = github.ReleaseCandidate
	}
	return p
}
