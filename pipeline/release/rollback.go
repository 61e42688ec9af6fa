package release

import (
	"context"
	"fmt"
	"strings"

	"github.com/shipgate/shipgate/pipeline/config"
	"github.com/shipgate/shipgate/pipeline/registry"
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
//  5. move latest — latest → that index, by its exact manifest bytes;
//  6. Latest label — GitHub's "Latest" release label follows latest.
//
// Like promote, it runs under the promote lock, and shares promote's index and signature gates.
func Rollback(ctx context.Context, env *Env, in RollbackInput) (*step.Report, error) {
	w, rep, v, err := begin(env, "rollback", in.Version)
	if err != nil {
		return rep, err
	}
	p := &promoteRun{w: w, rep: rep, v: v}
	steps := []step.Step{
		{
			Name: "release", Kind: step.Gate, Observes: "release vX.Y.Z",
			Observe: func(ctx context.Context) (step.Observation, error) {
				if v.IsPrerelease() {
					return step.Observation{}, fmt.Errorf("%s is a pre-release: latest never points at a pre-release", v)
				}
				r, err := w.gh.FindRelease(ctx, w.repo, v.GitTag())
				if err != nil {
					return step.Observation{}, err
				}
				if r == nil || r.Draft {
					return step.Observation{}, fmt.Errorf("%s of %s was never promoted (no published release): rollback only goes back to a promoted version", v.GitTag(), w.repo)
				}
				p.rel, p.commit = r, r.Target
				rep.Set("release", r.URL)
				return step.Observation{Detail: "published " + r.URL + " at " + short(r.Target)}, nil
			},
		},
		p.indexGate(),
		p.signatureGate(),
		{
			Name: "tags", Kind: step.Gate, Observes: "what latest (and X.Y, X) hold now",
			Observe: func(ctx context.Context) (step.Observation, error) {
				if w.env.Settings.Sign == config.SignNone {
					return step.Observation{}, fmt.Errorf("not checked: signing is off")
				}
				pl, err := w.reg.PlanRollback(ctx, w.image, v, w.platforms, registry.TagOptions{Floating: w.env.Settings.FloatingTags, AllowUnknownLatest: in.AllowUnknownLatest})
				if err != nil {
					return step.Observation{}, err
				}
				if b := pl.Blocked(); len(b) > 0 {
					return step.Observation{}, fmt.Errorf("%s: %s", b[0].Tag, b[0].Reason)
				}
				p.tags = pl
				return step.Observation{Done: pl.Done(), Detail: strings.Join(pl.Lines(), "; ")}, nil
			},
		},
		p.moveLatest(),
		{
			Name: "Latest label", Observes: "which release GitHub marks Latest", Changes: "marks vX.Y.Z Latest",
			Observe: func(ctx context.Context) (step.Observation, error) {
				cur, err := w.gh.LatestRelease(ctx, w.repo)
				if err != nil {
					return step.Observation{}, err
				}
				if cur != nil && cur.Tag == v.GitTag() {
					return step.Observation{Done: true, Detail: v.GitTag() + " is Latest"}, nil
				}
				from := "none"
				if cur != nil {
					from = cur.Tag
				}
				return step.Observation{Plan: fmt.Sprintf("move GitHub's Latest label from %s to %s", from, v.GitTag())}, nil
			},
			Act: func(ctx context.Context) (string, error) {
				if err := w.gh.MarkLatest(ctx, w.repo, p.rel); err != nil {
					return "", err
				}
				return v.GitTag() + " marked Latest", nil
			},
		},
	}
	return rep, w.runLocked(ctx, rep, v, steps)
}
