package release

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/shipgate/shipgate/pipeline/changelog"
	"github.com/shipgate/shipgate/pipeline/config"
	"github.com/shipgate/shipgate/pipeline/github"
	"github.com/shipgate/shipgate/pipeline/registry"
	"github.com/shipgate/shipgate/pipeline/step"
	"github.com/shipgate/shipgate/pipeline/version"
)

// PromoteInput is one promote run.
type PromoteInput struct {
	// Version to promote.
	Version string
	// AllowUnknownLatest lets latest (and floating tags) be overwritten when what they hold carries
	// no version annotation (an image not published by shipgate).
	AllowUnknownLatest bool
	// MergeMethod is merge (default), squash or rebase.
	MergeMethod string
	// NoAutoMerge refuses instead of enabling auto-merge when the PR's required checks are pending.
	NoAutoMerge bool
}

// promoteRun is the state one promote (or status) builds up.
type promoteRun struct {
	w      *world
	in     PromoteInput
	rep    *step.Report
	v      version.Version
	check  registry.IndexCheck
	digest v1.Hash
	plats  map[string]name.Digest
	rel    *github.Release
	commit string // the finalize commit the release targets
	pr     github.PRState
	tags   registry.TagPlan
	latest bool // GitHub's "Latest" label goes to this release
}

// Promote is phase 2. Every gate runs first, on the index digest resolved once at the start, and
// nothing changes unless all pass:
//
//  1. index — X.Y.Z is a complete index, each X.Y.Z-<arch> is its entry, built from the release's
//     finalize commit;
//  2. release — the draft vX.Y.Z exists for this digest, its notes pass the TBD rule;
//  3. signatures — index signed, an SBOM per platform, provenance naming the finalize commit, all
//     verified by the policy;
//  4. smoke test — the downstream repository has a release for vX.Y.Z naming this digest;
//  5. pull request — the release PR is mergeable at the finalize commit (or auto-merge allowed);
//  6. tags — the plan for latest (and floating tags) is not blocked.
//
// Then, under the promote lock, the acts:
//
//  7. latest — latest (and X.Y, X) → the verified digest, by its exact manifest bytes;
//  8. merge — the release PR into the base branch;
//  9. publish — the release becomes public.
//
// The order of the acts: latest first, because the registry is where users pull from and a
// failure there leaves nothing public changed; the GitHub release last, because publishing can
// make a release and its tag immutable and announces the release: it happens only once everything
// else is in place. A gate whose object is already in its promoted state by this release
// (latest at this digest, PR merged at the finalize commit, release published at this tag and
// commit) passes as done, so re-running promote finishes a half-done promote.
func Promote(ctx context.Context, env *Env, in PromoteInput) (*step.Report, error) {
	w, rep, v, err := begin(env, "promote", in.Version)
	if err != nil {
		return rep, err
	}
	p := &promoteRun{w: w, in: in, rep: rep, v: v}
	return rep, w.runLocked(ctx, rep, v, p.steps())
}

func (p *promoteRun) steps() []step.Step {
	return []step.Step{
		p.indexGate(),
		p.releaseGate(),
		p.signatureGate(),
		p.smokeGate(),
		p.prGate(),
		p.tagsGate(),
		p.moveLatest(),
		p.mergePR(),
		p.publishRelease(),
	}
}

func (p *promoteRun) indexGate() step.Step {
	return step.Step{
		Name: "index", Kind: step.Gate,
		Observes: "X.Y.Z and X.Y.Z-<arch> in the registry",
		Observe: func(ctx context.Context) (step.Observation, error) {
			chk, err := p.w.reg.CheckIndex(ctx, p.w.image, p.v, p.w.platforms)
			if err != nil {
				return step.Observation{}, err
			}
			if err := chk.Err(); err != nil {
				return step.Observation{}, err
			}
			p.check, p.digest = chk, chk.Digest
			p.plats = map[string]name.Digest{}
			for _, e := range chk.Entries {
				ref, err := p.w.digestRef(e.Digest.String())
				if err != nil {
					return step.Observation{}, err
				}
				p.plats[e.Platform.String()] = ref
				p.rep.Set(e.Platform.String(), ref.String())
			}
			p.rep.Set("index", p.w.image+"@"+chk.Digest.String())
			return step.Observation{Detail: fmt.Sprintf("%s:%s is %s with %d platforms", p.w.image, p.v.ImageTag(), chk.Digest, len(chk.Entries))}, nil
		},
	}
}

func (p *promoteRun) releaseGate() step.Step {
	return step.Step{
		Name: "release", Kind: step.Gate,
		Observes: "the draft release vX.Y.Z (found by listing), its notes and state",
		Observe: func(ctx context.Context) (step.Observation, error) {
			rel, err := p.w.gh.FindRelease(ctx, p.w.repo, p.v.GitTag())
			if err != nil {
				return step.Observation{}, err
			}
			if rel == nil {
				return step.Observation{}, fmt.Errorf("draft release %s not found in %s: run publish first", p.v.GitTag(), p.w.repo)
			}
			p.rel, p.commit = rel, rel.Target
			p.rep.Set("release", rel.URL)
			p.rep.Set("finalize commit", rel.Target)
			if len(rel.Target) != 40 {
				return step.Observation{}, fmt.Errorf("release %s targets %q, not the finalize commit: re-run publish", p.v.GitTag(), rel.Target)
			}
			if rel.State.IndexDigest != "" && p.digest != (v1.Hash{}) && rel.State.IndexDigest != p.digest.String() {
				return step.Observation{}, fmt.Errorf("release %s was drafted for index %s but %s:%s is %s now: re-run publish so the release and the image agree", p.v.GitTag(), rel.State.IndexDigest, p.w.image, p.v.ImageTag(), p.digest)
			}
			if rev := p.check.Annotations[registry.AnnotationRevision]; rev != "" && rev != rel.Target {
				return step.Observation{}, fmt.Errorf("%s:%s was built from %s but release %s targets %s: re-run publish", p.w.image, p.v.ImageTag(), short(rev), p.v.GitTag(), short(rel.Target))
			}
			if err := changelog.CheckNotes(rel.Notes); err != nil {
				return step.Observation{}, fmt.Errorf("release %s: %w", p.v.GitTag(), err)
			}
			if !rel.Draft {
				return step.Observation{Done: true, Detail: "already published at " + short(rel.Target) + " by this release"}, nil
			}
			return step.Observation{Detail: "draft " + rel.URL + " at " + short(rel.Target) + ", notes pass the TBD rule"}, nil
		},
	}
}

func (p *promoteRun) signatureGate() step.Step {
	return step.Step{
		Name: "signatures", Kind: step.Gate,
		Observes: "signature, SBOM and provenance bundles of the index and platforms, by policy",
		Observe: func(ctx context.Context) (step.Observation, error) {
			if p.w.env.Settings.Sign == config.SignNone {
				return step.Observation{}, fmt.Errorf("signing is off (--sign=none): nothing proves who built %s; publish with --sign=keyless or --sign=key", p.v)
			}
			if p.digest == (v1.Hash{}) || p.commit == "" {
				return step.Observation{}, fmt.Errorf("not checked: the index and release gates must pass first")
			}
			n, err := p.w.verify(ctx, p.digest, p.plats, p.commit)
			if err != nil {
				return step.Observation{}, err
			}
			return step.Observation{Detail: fmt.Sprintf("%d requirements verified under %s", n, p.w.policy)}, nil
		},
	}
}

func (p *promoteRun) smokeGate() step.Step {
	return step.Step{
		Name: "smoke test", Kind: step.Gate,
		Observes: "releases of the downstream repository for vX.Y.Z",
		Observe: func(ctx context.Context) (step.Observation, error) {
			if p.w.down == nil {
				return step.Observation{Detail: "no downstream repository configured"}, nil
			}
			if p.digest == (v1.Hash{}) {
				return step.Observation{}, fmt.Errorf("not checked: the index gate must pass first")
			}
			mode, err := github.ParseGateMode(p.w.env.Settings.DownstreamGate)
			if err != nil {
				return step.Observation{}, err
			}
			corr := github.CorrelationID(p.v, p.digest.String())
			res, err := p.w.down.DownstreamResult(ctx, p.w.downRepo, p.v, p.digest.String(), corr, mode, !p.w.env.Settings.DownstreamTagOnly)
			if err != nil {
				return step.Observation{}, err
			}
			if res.URL != "" {
				p.rep.Set("smoke test", res.URL)
			}
			if !res.Passed {
				return step.Observation{}, errors.New(res.Reason)
			}
			return step.Observation{Detail: res.Reason}, nil
		},
	}
}

func (p *promoteRun) prGate() step.Step {
	return step.Step{
		Name: "pull request", Kind: step.Gate,
		Observes: "the pull request release/X.Y.Z → base branch",
		Observe: func(ctx context.Context) (step.Observation, error) {
			if p.v.IsPrerelease() {
				return step.Observation{Detail: "pre-release: the release PR stays open"}, nil
			}
			if p.commit == "" {
				return step.Observation{}, fmt.Errorf("not checked: the release gate must pass first")
			}
			st, err := p.w.gh.PRState(ctx, p.w.repo, p.v, p.w.env.Settings.BaseBranch, p.commit)
			if err != nil {
				return step.Observation{}, err
			}
			p.pr = st
			if st.PR != nil {
				p.rep.Set("pull request", st.PR.URL)
			}
			switch {
			case st.Done:
				return step.Observation{Done: true, Detail: fmt.Sprintf("#%d already merged at %s", st.PR.Number, short(p.commit))}, nil
			case st.Ready:
				return step.Observation{Detail: fmt.Sprintf("#%d mergeable at %s", st.PR.Number, short(p.commit))}, nil
			case st.Pending && !p.in.NoAutoMerge:
				return step.Observation{Detail: fmt.Sprintf("#%d waits for checks: auto-merge will be enabled", st.PR.Number)}, nil
			case st.Pending:
				return step.Observation{}, fmt.Errorf("#%d waits for required checks and auto-merge is off (--no-auto-merge): wait for the checks and re-run promote", st.PR.Number)
			}
			return step.Observation{}, errors.New(st.Problem)
		},
	}
}

func (p *promoteRun) tagsGate() step.Step {
	return step.Step{
		Name: "tags", Kind: step.Gate,
		Observes: "what latest (and X.Y, X) hold now and the versions they name",
		Observe: func(ctx context.Context) (step.Observation, error) {
			if p.digest == (v1.Hash{}) {
				return step.Observation{}, fmt.Errorf("not checked: the index gate must pass first")
			}
			plan, err := p.w.reg.PlanTags(ctx, p.w.image, p.v, p.digest, registry.TagOptions{Floating: p.w.env.Settings.FloatingTags, AllowUnknownLatest: p.in.AllowUnknownLatest})
			if err != nil {
				return step.Observation{}, err
			}
			p.tags = plan
			if b := plan.Blocked(); len(b) > 0 {
				var why []string
				for _, s := range b {
					why = append(why, s.Tag+": "+s.Reason)
				}
				return step.Observation{}, errors.New(strings.Join(why, "; "))
			}
			// GitHub's "Latest" label follows the registry's latest: only the highest release gets it.
			released, err := p.w.gh.ReleasedVersions(ctx, p.w.repo)
			if err != nil {
				return step.Observation{}, err
			}
			p.latest = github.MakeLatest(p.v, released)
			for _, s := range plan.Skips {
				p.rep.Note("%s left alone: %s", s.Tag, s.Reason)
			}
			lines := plan.Lines()
			if len(lines) == 0 {
				lines = []string{"no tags to move"}
			}
			return step.Observation{Done: plan.Done(), Detail: strings.Join(lines, "; ")}, nil
		},
	}
}

func (p *promoteRun) moveLatest() step.Step {
	return step.Step{
		Name:     "move latest",
		Observes: "the tag plan made by the tags gate", Changes: "latest (and X.Y, X) → the verified index digest, same manifest bytes",
		Observe: func(ctx context.Context) (step.Observation, error) {
			if p.tags.Done() {
				detail := "nothing to move"
				if len(p.tags.Already) > 0 {
					detail = strings.Join(p.tags.Already, ", ") + " already at " + p.digest.String()
				} else if len(p.tags.Skips) > 0 {
					detail = "left alone: " + p.tags.Skips[0].Reason
				}
				return step.Observation{Done: true, Detail: detail}, nil
			}
			return step.Observation{Plan: strings.Join(p.tags.Lines(), "; ")}, nil
		},
		Act: func(ctx context.Context) (string, error) {
			if err := p.w.reg.ApplyTags(ctx, p.tags); err != nil {
				return "", err
			}
			var moved []string
			for _, m := range p.tags.Moves {
				moved = append(moved, m.Tag)
			}
			return fmt.Sprintf("%s → %s", strings.Join(moved, ", "), p.digest), nil
		},
	}
}

func (p *promoteRun) mergePR() step.Step {
	return step.Step{
		Name:     "merge pull request",
		Observes: "the release PR's state", Changes: "merges it at the finalize commit (or enables auto-merge)",
		Observe: func(ctx context.Context) (step.Observation, error) {
			if p.v.IsPrerelease() {
				return step.Observation{Done: true, Detail: "pre-release: not merged"}, nil
			}
			if p.pr.Done {
				return step.Observation{Done: true, Detail: fmt.Sprintf("#%d merged", p.pr.PR.Number)}, nil
			}
			if p.pr.PR != nil && p.pr.PR.AutoMerge {
				return step.Observation{Done: true, Detail: fmt.Sprintf("#%d has auto-merge on", p.pr.PR.Number)}, nil
			}
			return step.Observation{Plan: "merge the release PR into " + p.w.env.Settings.BaseBranch}, nil
		},
		Act: func(ctx context.Context) (string, error) {
			res, err := p.w.gh.MergePR(ctx, p.w.repo, p.v, p.w.env.Settings.BaseBranch, p.commit, github.MergeOptions{Method: p.in.MergeMethod, AllowAutoMerge: !p.in.NoAutoMerge})
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("#%d %s", res.PR.Number, res.Outcome), nil
		},
	}
}

func (p *promoteRun) publishRelease() step.Step {
	return step.Step{
		Name:     "publish release",
		Observes: "the release's draft flag", Changes: "publishes the release (GitHub's Latest label only for the highest version)",
		Observe: func(ctx context.Context) (step.Observation, error) {
			if p.rel != nil && !p.rel.Draft {
				// Published by an earlier run. When latest moves to this version again (a promote
				// re-run after a rollback), GitHub's Latest label must follow it back.
				if p.latest {
					cur, err := p.w.gh.LatestRelease(ctx, p.w.repo)
					if err != nil {
						return step.Observation{}, err
					}
					if cur == nil || cur.ID != p.rel.ID {
						from := "none"
						if cur != nil {
							from = cur.Tag
						}
						return step.Observation{Plan: fmt.Sprintf("%s is published; move GitHub's Latest label from %s to it", p.v.GitTag(), from)}, nil
					}
				}
				return step.Observation{Done: true, Detail: "published " + p.rel.URL}, nil
			}
			label := "without the Latest label"
			if p.latest {
				label = "as Latest"
			}
			return step.Observation{Plan: fmt.Sprintf("publish %s %s", p.v.GitTag(), label)}, nil
		},
		Act: func(ctx context.Context) (string, error) {
			if p.rel != nil && !p.rel.Draft {
				if err := p.w.gh.MarkLatest(ctx, p.w.repo, p.rel); err != nil {
					return "", err
				}
				return p.v.GitTag() + " marked Latest", nil
			}
			out, err := p.w.gh.PublishRelease(ctx, p.w.repo, p.rel, p.latest)
			if err != nil {
				return "", err
			}
			p.rel = out.Release
			p.rep.Set("release", out.Release.URL)
			if out.Latest {
				return "published " + out.Release.URL + " as Latest", nil
			}
			return "published " + out.Release.URL, nil
		},
	}
}

// Status shows, for the inspection window, what exists for a version and which promote gates
// pass. It changes nothing and takes no lock; refused gates are reported, not returned as errors.
func Status(ctx context.Context, env *Env, ver string) (*step.Report, error) {
	e := *env
	e.DryRun = true
	w, rep, v, err := begin(&e, "status", ver)
	if err != nil {
		return rep, err
	}
	p := &promoteRun{w: w, rep: rep, v: v}
	if info, held, err := w.gh.LockState(ctx, w.repo); err == nil {
		if held {
			rep.Set("lock", fmt.Sprintf("held by %s since %s", info.Holder, info.Acquired.Format(time.RFC3339)))
		} else {
			rep.Set("lock", "free")
		}
	}
	err = w.run(ctx, rep, p.steps())
	if p.rel != nil && p.rel.State.Dispatch != nil {
		d := p.rel.State.Dispatch
		rep.Set("dispatch", fmt.Sprintf("%s to %s at %s (correlation id %s)", d.EventType, d.Repo, d.At.Format(time.RFC3339), d.CorrelationID))
	}
	var refused *step.RefusedError
	switch {
	case errors.As(err, &refused):
		rep.Verdict = fmt.Sprintf("promote would be refused: %d gate(s) do not pass", len(refused.Reasons))
		rep.Err = ""
		return rep, nil
	case err == nil && rep.Count(step.Planned) == 0:
		rep.Verdict = "promoted"
	case err == nil:
		rep.Verdict = "every gate passes: ready to promote"
	}
	return rep, err
}
