package release

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/shipgate/shipgate/pipeline/config"
	"github.com/shipgate/shipgate/pipeline/github"
	"github.com/shipgate/shipgate/pipeline/registry"
	"github.com/shipgate/shipgate/pipeline/sign"
	"github.com/shipgate/shipgate/pipeline/step"
	"github.com/shipgate/shipgate/pipeline/version"
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
// Like promote, it runs under the promote lock.
func Rollback(ctx context.Context, env *Env, in RollbackInput) (*step.Report, error) {
	rep := step.NewReport("rollback", in.Version)
	w, err := connect(env)
	if err != nil {
		rep.Err = err.Error()
		return rep, err
	}
	v, err := version.Parse(in.Version)
	if err != nil {
		rep.Err = err.Error()
		return rep, err
	}
	rep.Version = v.String()
	p := &promoteRun{w: w, rep: rep, v: v}
	if !env.DryRun {
		lock, err := p.lock(ctx)
		if err != nil {
			rep.Err = err.Error()
			return rep, err
		}
		defer func() {
			if err := lock.Release(context.WithoutCancel(ctx)); err != nil {
				rep.Note("promote lock not released: %v", err)
			}
		}()
	}
	var rel *github.Release
	var digest v1.Hash
	plats := map[string]name.Digest{}
	var plan registry.TagPlan
	steps := []step.Step{
		{
			Name: "release", Kind: step.Gate, Observes: "release vX.Y.Z",
			Observe: func(ctx context.Context) (step.Observation, error) {
				r, err := w.gh.FindRelease(ctx, w.repo, v.GitTag())
				if err != nil {
					return step.Observation{}, err
				}
				if r == nil || r.Draft {
					return step.Observation{}, fmt.Errorf("%s of %s was never promoted (no published release): rollback only goes back to a promoted version", v.GitTag(), w.repo)
				}
				if v.IsPrerelease() {
					return step.Observation{}, fmt.Errorf("%s is a pre-release: latest never points at a pre-release", v)
				}
				rel = r
				rep.Set("release", r.URL)
				return step.Observation{Detail: "published " + r.URL + " at " + short(r.Target)}, nil
			},
		},
		{
			Name: "index", Kind: step.Gate, Observes: "X.Y.Z and X.Y.Z-<arch> in the registry",
			Observe: func(ctx context.Context) (step.Observation, error) {
				chk, err := w.reg.CheckIndex(ctx, w.image, v, w.platforms)
				if err != nil {
					return step.Observation{}, err
				}
				if err := chk.Err(); err != nil {
					return step.Observation{}, err
				}
				digest = chk.Digest
				for _, e := range chk.Entries {
					ref, err := w.digestRef(e.Digest.String())
					if err != nil {
						return step.Observation{}, err
					}
					plats[e.Platform.String()] = ref
				}
				rep.Set("index", w.image+"@"+digest.String())
				return step.Observation{Detail: fmt.Sprintf("%s:%s is %s", w.image, v.ImageTag(), digest)}, nil
			},
		},
		{
			Name: "signatures", Kind: step.Gate, Observes: "bundles of the index and platforms, by policy",
			Observe: func(ctx context.Context) (step.Observation, error) {
				if w.env.Settings.Sign == config.SignNone {
					return step.Observation{}, fmt.Errorf("signing is off (--sign=none): cannot verify %s", v)
				}
				if rel == nil || digest == (v1.Hash{}) {
					return step.Observation{}, fmt.Errorf("not checked: the release and index gates must pass first")
				}
				idx, err := w.digestRef(digest.String())
				if err != nil {
					return step.Observation{}, err
				}
				reqs, err := w.store.VerifyRelease(ctx, idx, plats, rel.Target, w.policy)
				var rerr *sign.ReleaseError
				if err != nil && !errors.As(err, &rerr) {
					return step.Observation{}, err
				}
				var failed []string
				for _, r := range reqs {
					if !r.OK && !(w.env.Settings.NoSBOM && strings.Contains(strings.ToLower(r.What), "sbom")) {
						failed = append(failed, r.String())
					}
				}
				if len(failed) > 0 {
					return step.Observation{}, fmt.Errorf("%s no longer verifies under %s:\n    %s", v, w.policy, strings.Join(failed, "\n    "))
				}
				return step.Observation{Detail: fmt.Sprintf("%d requirements verified", len(reqs))}, nil
			},
		},
		{
			Name: "tags", Kind: step.Gate, Observes: "what latest (and X.Y, X) hold now",
			Observe: func(ctx context.Context) (step.Observation, error) {
				pl, err := w.reg.PlanRollback(ctx, w.image, v, w.platforms, registry.TagOptions{Floating: w.env.Settings.FloatingTags, AllowUnknownLatest: in.AllowUnknownLatest})
				if err != nil {
					return step.Observation{}, err
				}
				if b := pl.Blocked(); len(b) > 0 {
					return step.Observation{}, fmt.Errorf("%s: %s", b[0].Tag, b[0].Reason)
				}
				plan = pl
				return step.Observation{Done: pl.Done(), Detail: strings.Join(pl.Lines(), "; ")}, nil
			},
		},
		{
			Name: "move latest", Observes: "the rollback plan", Changes: "latest (and X.Y, X) → the earlier index",
			Observe: func(ctx context.Context) (step.Observation, error) {
				if plan.Done() {
					return step.Observation{Done: true, Detail: "latest already at " + digest.String()}, nil
				}
				return step.Observation{Plan: strings.Join(plan.Lines(), "; ")}, nil
			},
			Act: func(ctx context.Context) (string, error) {
				if err := w.reg.ApplyTags(ctx, plan); err != nil {
					return "", err
				}
				return "latest → " + digest.String() + " (" + v.String() + ")", nil
			},
		},
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
				if err := w.gh.MarkLatest(ctx, w.repo, rel); err != nil {
					return "", err
				}
				return v.GitTag() + " marked Latest", nil
			},
		},
	}
	err = w.run(ctx, rep, steps)
	return rep, err
}
