package release

import (
	"context"
	"fmt"
	"time"

	"github.com/shipgate/shipgate/pipeline/github"
	"github.com/shipgate/shipgate/pipeline/registry"
	"github.com/shipgate/shipgate/pipeline/version"

	"github.com/shipgate/shipgate/pipeline/step"
)

// RollbackInput is one rollback run.
type RollbackInput struct {
	// Version to roll back to: an earlier version that was promoted (its release is published).
	Version string
	// AllowUnknownLatest lets latest be overwritten when what it holds names no version.
	AllowUnknownLatest bool
}

// Rollback moves latest (and floating tags) backwards to an earlier promoted version. Its steps:
//
//  1. release — vX.Y.Z was promoted: its GitHub release is published;
//  2. index — X.Y.Z is still a complete index;
//  3. signatures — it still verifies by policy, with provenance naming its finalize commit;
//  4. tags — the rollback plan for latest (and X.Y, X);
//
// then, like promote, the promote lock and a re-check under it, and the acts:
//
//  5. record rollback — the release latest held is recorded as rolled back, so no later promote
//     silently moves latest back to it (promote --reinstate does, on purpose);
//  6. move latest — latest → that index, by its exact manifest bytes, read back;
//  7. Latest label — GitHub's "Latest" release label follows latest.
func Rollback(ctx context.Context, env *Env, in RollbackInput) (*step.Report, error) {
	w, rep, v, err := begin(env, "rollback", in.Version)
	if err != nil {
		return rep, err
	}
	p := &promoteRun{w: w, in: PromoteInput{Version: in.Version, AllowUnknownLatest: in.AllowUnknownLatest}, rep: rep, v: v}
	steps := []step.Step{
		p.publishedGate(),
		p.indexGate(),
		p.signatureGate(),
		p.rollbackTagsGate(),
		w.takeLock(rep, v, p.rollbackPending),
		p.recheck(),
		p.recordRollback(),
		p.moveLatest(),
		p.latestLabelStep(),
	}
	return rep, w.run(ctx, rep, steps)
}

func (p *promoteRun) publishedGate() step.Step {
	return step.Step{
		Name: "release", Kind: step.Gate, Observes: "release vX.Y.Z",
		Observe: func(ctx context.Context) (step.Observation, error) {
			if p.v.IsPrerelease() {
				return step.Observation{}, refuse("%s is a pre-release: latest never points at a pre-release", p.v)
			}
			r, err := p.w.gh.FindRelease(ctx, p.w.repo, p.v.GitTag())
			if err != nil {
				return step.Observation{}, err
			}
			if r == nil || r.Draft {
				return step.Observation{}, refuse("%s of %s was never promoted (no published release): rollback only goes back to a promoted version", p.v.GitTag(), p.w.repo)
			}
			p.plan.rel, p.plan.commit = r, r.Target
			p.rep.Set("release", r.URL)
			return step.Observation{Detail: "published " + r.URL + " at " + short(r.Target)}, nil
		},
	}
}

func (p *promoteRun) rollbackTagsGate() step.Step {
	return step.Step{
		Name: "tags", Kind: step.Gate, Observes: "what latest (and X.Y, X) hold now",
		Observe: func(ctx context.Context) (step.Observation, error) {
			if !p.w.signing() {
				return step.Observation{}, refuse("not checked: signing is off (--sign=none)")
			}
			plan, err := p.w.planTags(ctx, p.rep, p.v, p.plan.digest, true, p.in.AllowUnknownLatest)
			if err != nil {
				return step.Observation{}, err
			}
			p.plan.tags = plan
			return step.Observation{Done: plan.Done(), Detail: tagDetail(plan)}, nil
		},
	}
}

// recordRollback records, before latest moves, that the release latest holds was rolled back.
func (p *promoteRun) recordRollback() step.Step {
	var from version.Version
	return step.Step{
		Name:     "record rollback",
		Observes: "what latest holds and that release's rollback record", Changes: "records that release as rolled back",
		Observe: func(ctx context.Context) (step.Observation, error) {
			from = version.Version{}
			for _, m := range p.plan.tags.Moves {
				if v, err := version.Parse(m.FromVersion); m.Tag == registry.LatestTag && err == nil && p.v.Less(v) {
					from = v
				}
			}
			if from.IsZero() {
				return step.Skip("latest holds no later release"), nil
			}
			_, found, err := p.w.gh.RollbackOf(ctx, p.w.repo, from.GitTag())
			if err != nil || found {
				return step.Observation{Done: true, Detail: from.GitTag() + " is recorded as rolled back"}, err
			}
			return step.Observation{Plan: fmt.Sprintf("record %s as rolled back to %s", from.GitTag(), p.v)}, nil
		},
		Act: func(ctx context.Context) (string, error) {
			run := p.w.env.Run
			rec := github.RollbackRecord{Tag: from.GitTag(), To: p.v.String(), At: p.w.clk.Now().UTC().Truncate(time.Second), RunID: run.ID, Actor: run.Actor}
			if err := p.w.gh.RecordRollback(ctx, p.w.repo, rec); err != nil {
				return "", err
			}
			return fmt.Sprintf("%s recorded as rolled back: promoting it again needs --reinstate", from.GitTag()), nil
		},
	}
}

// rollbackPending says whether latest or GitHub's Latest label still has to move.
func (p *promoteRun) rollbackPending(ctx context.Context) (bool, error) {
	if len(p.plan.tags.Moves) > 0 {
		return true, nil
	}
	p.plan.latest = true
	return p.labelLeft(ctx)
}

func (p *promoteRun) latestLabelStep() step.Step {
	return step.Step{
		Name: "Latest label", Observes: "which release GitHub marks Latest", Changes: "marks vX.Y.Z Latest",
		Observe: func(ctx context.Context) (step.Observation, error) {
			cur, err := p.w.gh.LatestRelease(ctx, p.w.repo)
			if err != nil {
				return step.Observation{}, err
			}
			if cur != nil && cur.Tag == p.v.GitTag() {
				return step.Observation{Done: true, Detail: p.v.GitTag() + " is Latest"}, nil
			}
			return step.Observation{Plan: fmt.Sprintf("move GitHub's Latest label from %s to %s", tagOf(cur), p.v.GitTag())}, nil
		},
		Act: func(ctx context.Context) (string, error) {
			if err := p.w.gh.MarkLatest(ctx, p.w.repo, p.plan.rel); err != nil {
				return "", err
			}
			return p.v.GitTag() + " marked Latest", nil
		},
	}
}
