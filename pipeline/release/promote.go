package release

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/shipgate/shipgate/pipeline/changelog"
	"github.com/shipgate/shipgate/pipeline/config"
	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/github"
	"github.com/shipgate/shipgate/pipeline/registry"
	"github.com/shipgate/shipgate/pipeline/step"
	"github.com/shipgate/shipgate/pipeline/version"
)

// PromoteInput is one promote run.
type PromoteInput struct {
	// Version to promote.
	Version string
	// AllowUnknownLatest lets latest (and floating tags) be overwritten when what they hold is not
	// a verified release: no version annotation, a pre-release label, or a digest that neither
	// verifies under the signing policy nor is recorded by a published release.
	AllowUnknownLatest bool
	// MergeMethod is merge (default), squash or rebase; checked before the first step.
	MergeMethod string
	// AutoMerge lets promote go on while the release PR's required checks are still running: the
	// PR is set to merge by itself when they pass. Never for missing reviews or failed checks.
	AutoMerge bool
	// Reinstate promotes a version that was rolled back (its rollback record is cleared). Without
	// it such a promote is refused: it would silently undo the rollback.
	Reinstate bool
	// Cleanup deletes the candidates of X.Y.Z once it is public (as cleanup --version X.Y.Z); a
	// cleanup that cannot finish is a note, never a failed promote.
	Cleanup bool
}

// promotePlan is what promote's gates found, on the index digest resolved once. The gates fill it
// in; the acts only read it.
type promotePlan struct {
	check  registry.IndexCheck
	digest v1.Hash
	plats  map[string]name.Digest
	rel    *github.Release
	commit string // the finalize commit the release targets
	pr     github.PRState
	tags   registry.TagPlan
	latest bool // GitHub's "Latest" label goes to this release
	// rolledBack is the rollback record of this version when --reinstate promotes it again.
	rolledBack *github.RollbackRecord
}

// promoteRun is one promote, status or rollback: its inputs, its plan and its report.
type promoteRun struct {
	w     *world
	in    PromoteInput
	merge config.MergeMethod
	rep   *step.Report
	v     version.Version
	plan  promotePlan
	// merged says the merge act merged the release PR (not only enabled auto-merge).
	merged bool
}

// Promote is phase 2. Every gate runs first, on the index digest resolved once at the start, and
// nothing changes — not even the lock — unless all pass:
//
//  1. index — X.Y.Z is a complete index, each X.Y.Z-<arch> is its entry, built from the release's
//     finalize commit;
//  2. release — the draft vX.Y.Z exists for this digest, its notes pass the TBD rule;
//  3. signatures — index signed, an SBOM per platform, provenance naming the finalize commit, all
//     verified by the policy;
//  4. smoke test — the downstream repository has a release for vX.Y.Z naming this digest;
//  5. pull request — the release PR is mergeable at the finalize commit (or auto-merge allowed);
//  6. tags — the plan for latest (and floating tags): what they hold is a verified release, or
//     the move is refused (--allow-unknown-latest overrides).
//
// Then the promote lock, a re-check under it, and the acts:
//
//  7. latest — latest (and X.Y, X) → the verified digest, by its exact manifest bytes, read back;
//  8. merge — the release PR into the base branch;
//  9. publish — the release becomes public.
//
// The order of the acts: latest first, because the registry is where users pull from and a
// failure there leaves nothing public changed; the GitHub release last, because publishing can
// make a release and its tag immutable and announces the release: it happens only once everything
// else is in place. A gate whose object is already in its promoted state by this release passes
// as done, so re-running promote finishes a half-done promote.
func Promote(ctx context.Context, env *Env, in PromoteInput) (*step.Report, error) {
	w, rep, v, err := begin(env, "promote", in.Version)
	if err != nil {
		return rep, err
	}
	merge, err := config.ParseMergeMethod(in.MergeMethod)
	if err != nil {
		return fail(rep, fault.AsBadInput(err))
	}
	p := &promoteRun{w: w, in: in, merge: merge, rep: rep, v: v}
	steps := append(p.gates(), w.takeLock(rep, v, p.pending), p.recheck())
	return rep, w.run(ctx, rep, append(steps, p.acts()...))
}

func (p *promoteRun) gates() []step.Step {
	return []step.Step{
		p.indexGate(),
		p.releaseGate(),
		p.signatureGate(),
		p.smokeGate(),
		p.prGate(),
		p.tagsGate(),
	}
}

func (p *promoteRun) acts() []step.Step {
	return []step.Step{
		p.moveLatest(),
		p.mergePR(),
		p.publishRelease(),
		p.reinstate(),
		p.syncBranch(),
		p.cleanupCandidates(),
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
				return step.Observation{}, fault.AsRefused(err)
			}
			plats := map[string]name.Digest{}
			for _, e := range chk.Entries {
				ref, err := p.w.digestRef(e.Digest.String())
				if err != nil {
					return step.Observation{}, err
				}
				plats[e.Platform.String()] = ref
				p.rep.Set(e.Platform.String(), ref.String())
			}
			p.plan.check, p.plan.digest, p.plan.plats = chk, chk.Digest, plats
			p.rep.Set("index", p.w.image+"@"+chk.Digest.String())
			return step.Observation{Detail: fmt.Sprintf("%s:%s is %s with %d platforms", p.w.image, p.v.ImageTag(), chk.Digest, len(chk.Entries))}, nil
		},
	}
}

// noRelease is the release gate's refusal when vX.Y.Z has no release. A candidate published
// without --candidate-release has none by design: its commit is then taken from its git tag, so
// the signature and smoke-test gates still say how that candidate stands (status shows them).
func (p *promoteRun) noRelease(ctx context.Context) error {
	if p.v.IsCandidate() {
		at, found, err := p.w.gh.Tag(ctx, p.w.repo, p.v)
		if err != nil {
			return err
		}
		if found {
			p.plan.commit = at
			p.rep.Set("commit", at)
			return refuse("candidate %s has no GitHub release (published without --candidate-release): there is nothing for promote to publish; its signatures and smoke test are checked below", p.v)
		}
	}
	return refuse("draft release %s not found in %s: run publish first", p.v.GitTag(), p.w.repo)
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
				return step.Observation{}, p.noRelease(ctx)
			}
			p.plan.rel, p.plan.commit = rel, rel.Target
			p.rep.Set("release", rel.URL)
			p.rep.Set("finalize commit", rel.Target)
			if err := p.releaseMatches(rel); err != nil {
				return step.Observation{}, err
			}
			if err := p.checkRollback(ctx); err != nil {
				return step.Observation{}, err
			}
			if !rel.Draft {
				return step.Observation{Done: true, Detail: "already published at " + short(rel.Target) + " by this release"}, nil
			}
			return step.Observation{Detail: "draft " + rel.URL + " at " + short(rel.Target) + ", notes pass the TBD rule"}, nil
		},
	}
}

// checkRollback refuses to promote a version that was rolled back, unless --reinstate says so:
// moving latest back to it would silently undo the rollback.
func (p *promoteRun) checkRollback(ctx context.Context) error {
	rr, found, err := p.w.gh.RollbackOf(ctx, p.w.repo, p.v.GitTag())
	if err != nil || !found {
		return err
	}
	p.rep.Set("rolled back", rr.String())
	if !p.in.Reinstate {
		return refuse("%s was %s: promoting it again would undo that rollback; if that is what you want, promote with --reinstate", p.v.GitTag(), rr)
	}
	p.plan.rolledBack = &rr
	return nil
}

// releaseMatches refuses a release that does not describe the index the index gate found.
func (p *promoteRun) releaseMatches(rel *github.Release) error {
	tag, digest := p.v.GitTag(), p.plan.digest
	if len(rel.Target) != 40 {
		return refuse("release %s targets %q, not the finalize commit: re-run publish", tag, rel.Target)
	}
	if rel.State.IndexDigest != "" && digest != (v1.Hash{}) && rel.State.IndexDigest != digest.String() {
		return refuse("release %s was drafted for index %s but %s:%s is %s now: re-run publish so the release and the image agree", tag, rel.State.IndexDigest, p.w.image, p.v.ImageTag(), digest)
	}
	if rev := p.plan.check.Annotations[registry.AnnotationRevision]; rev != "" && rev != rel.Target {
		return refuse("%s:%s was built from %s but release %s targets %s: re-run publish", p.w.image, p.v.ImageTag(), short(rev), tag, short(rel.Target))
	}
	if err := changelog.CheckNotes(rel.Notes); err != nil {
		return fault.AsRefused(fmt.Errorf("release %s: %w", tag, err))
	}
	return nil
}

func (p *promoteRun) signatureGate() step.Step {
	return step.Step{
		Name: "signatures", Kind: step.Gate,
		Observes: "signature, SBOM and provenance bundles of the index and platforms, by policy",
		Observe: func(ctx context.Context) (step.Observation, error) {
			if !p.w.signing() {
				return step.Observation{}, refuse("signing is off (--sign=none): nothing proves who built %s; publish with --sign=keyless or --sign=key", p.v)
			}
			if p.plan.digest == (v1.Hash{}) || p.plan.commit == "" {
				return step.Observation{}, step.NotChecked("index and release")
			}
			n, err := p.w.verify(ctx, p.plan.digest, p.plan.plats, p.plan.commit)
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
		Observes: "the downstream's commit status on the finalize commit, then its releases for vX.Y.Z",
		Observe: func(ctx context.Context) (step.Observation, error) {
			if p.w.down == nil {
				return step.Skip("no downstream repository configured (--downstream)"), nil
			}
			if p.plan.digest == (v1.Hash{}) || p.plan.commit == "" {
				return step.Observation{}, step.NotChecked("index and release")
			}
			sv, err := p.w.smokeOf(ctx, p.v, p.plan.commit, p.plan.digest)
			if err != nil {
				return step.Observation{}, err
			}
			if sv.url != "" {
				p.rep.Set("smoke test", sv.url)
			}
			if !sv.passed {
				return step.Observation{}, refuse("%s", sv.reason)
			}
			return step.Observation{Detail: sv.reason}, nil
		},
	}
}

// smokeVerdict is what the downstream said of one build.
type smokeVerdict struct {
	passed bool
	reason string // why it passed, FAILED, or has not reported
	url    string // where it said so
}

// smokeOf reads the smoke test of build digest of v, made from commit: first the status channel
// (a commit status on commit, which can say FAILED; a success there passes), and when nothing is
// reported there, the release channel (the downstream's release for v naming the build).
func (w *world) smokeOf(ctx context.Context, v version.Version, commit string, digest v1.Hash) (smokeVerdict, error) {
	corr := github.CorrelationID(v, digest.String())
	st, err := w.gh.SmokeStatus(ctx, w.repo, commit, "", corr, digest.String())
	if err != nil {
		return smokeVerdict{}, err
	}
	switch st.State {
	case github.SmokeFailed:
		return smokeVerdict{reason: st.Reason + ": fix the image or the test, publish again and re-run the smoke test (or re-dispatch it after a flake: dispatch --version " + v.String() + ")", url: st.URL}, nil
	case github.SmokePassed:
		return smokeVerdict{passed: true, reason: st.Reason, url: st.URL}, nil
	}
	// --downstream-gate was read (and checked) once, before any step: connect validates it.
	res, err := w.down.DownstreamResult(ctx, w.downRepo, v, digest.String(), corr, w.s.DownstreamGate, !w.s.DownstreamTagOnly)
	if err != nil {
		return smokeVerdict{}, err
	}
	return smokeVerdict{passed: res.Passed, reason: res.Reason, url: res.URL}, nil
}

func (p *promoteRun) prGate() step.Step {
	return step.Step{
		Name: "pull request", Kind: step.Gate,
		Observes: "the pull request release/X.Y.Z → base branch: approvals, required checks, mergeability",
		Observe: func(ctx context.Context) (step.Observation, error) {
			if p.v.IsPrerelease() {
				return step.Skip("pre-release: the release PR stays open"), nil
			}
			if p.plan.commit == "" {
				return step.Observation{}, step.NotChecked("release")
			}
			st, err := p.w.gh.PRState(ctx, p.w.repo, p.v, p.w.s.BaseBranch, p.plan.commit)
			if err != nil {
				return step.Observation{}, err
			}
			p.plan.pr = st
			if st.PR != nil {
				p.rep.Set("pull request", st.PR.URL)
			}
			if st.Done {
				return step.Observation{Done: true, Detail: fmt.Sprintf("#%d already merged at %s", st.PR.Number, short(p.plan.commit))}, nil
			}
			return p.mergeableNow(ctx, st)
		},
	}
}

// mergeableNow passes only a release PR that can merge now: approved as the base branch requires,
// its required checks passed, mergeable. Checks still running pass only with --auto-merge (the
// PR then merges by itself); missing reviews and failed checks never do. latest must not move
// while the merge waits on anything else.
func (p *promoteRun) mergeableNow(ctx context.Context, st github.PRState) (step.Observation, error) {
	rd, err := p.w.gh.PRReadiness(ctx, p.w.repo, p.v, p.w.s.BaseBranch, github.ReadinessOptions{SkipReviews: p.w.s.SkipReviewGate})
	if err != nil {
		return step.Observation{}, err
	}
	n := 0
	if st.PR != nil {
		n = st.PR.Number
	}
	switch {
	case len(rd.Missing) > 0:
		return step.Observation{}, refuse("#%d cannot merge: %s", n, strings.Join(rd.Missing, "; "))
	case (len(rd.Waiting) > 0 || st.Pending) && !p.in.AutoMerge:
		return step.Observation{}, refuse("#%d waits for required checks %s: wait for them and re-run promote, or pass --auto-merge to let it merge when they pass", n, strings.Join(rd.Waiting, ", "))
	case len(rd.Waiting) > 0 || st.Pending:
		return step.Observation{Detail: fmt.Sprintf("#%d waits for checks %s: auto-merge will be enabled (--auto-merge)", n, strings.Join(rd.Waiting, ", "))}, nil
	case !st.Ready:
		return step.Observation{}, refuse("%s", st.Problem)
	}
	return step.Observation{Detail: fmt.Sprintf("#%d approved, checks passed, mergeable at %s", n, short(p.plan.commit))}, nil
}

func (p *promoteRun) tagsGate() step.Step {
	return step.Step{
		Name: "tags", Kind: step.Gate,
		Observes: "what latest (and X.Y, X) hold now, and whether that is a verified release",
		Observe: func(ctx context.Context) (step.Observation, error) {
			if p.plan.digest == (v1.Hash{}) {
				return step.Observation{}, step.NotChecked("index")
			}
			plan, err := p.w.planTags(ctx, p.rep, p.v, p.plan.digest, false, p.in.AllowUnknownLatest)
			if err != nil {
				return step.Observation{}, err
			}
			p.plan.tags = plan
			// GitHub's "Latest" label follows the registry's latest: the highest promoted release.
			if p.plan.latest, err = p.w.latestLabel(ctx, p.v); err != nil {
				return step.Observation{}, err
			}
			return step.Observation{Done: plan.Done(), Detail: tagDetail(plan)}, nil
		},
	}
}

// pending says whether any of promote's acts has work left, from the plan.
func (p *promoteRun) pending(ctx context.Context) (bool, error) {
	pl := p.plan
	prLeft := !p.v.IsPrerelease() && !pl.pr.Done && (pl.pr.PR == nil || !pl.pr.PR.AutoMerge)
	if len(pl.tags.Moves) > 0 || prLeft || pl.rel == nil || pl.rel.Draft || pl.rolledBack != nil {
		return true, nil
	}
	return p.labelLeft(ctx)
}

// labelLeft says whether GitHub's Latest label still has to move to this (published) release.
func (p *promoteRun) labelLeft(ctx context.Context) (bool, error) {
	if !p.plan.latest {
		return false, nil
	}
	cur, err := p.w.gh.LatestRelease(ctx, p.w.repo)
	return err == nil && (cur == nil || cur.Tag != p.v.GitTag()), err
}

// recheck runs under the promote lock: another promote or rollback may have moved the index or
// the tags while the gates ran, so both are read again before anything changes.
func (p *promoteRun) recheck() step.Step {
	return step.Step{
		Name: "re-check under lock", Kind: step.Gate,
		Observes: "the X.Y.Z index digest and what latest (and X.Y, X) hold, now that no other run can move them",
		Observe: func(ctx context.Context) (step.Observation, error) {
			if p.w.held == nil {
				return step.Skip("no lock taken"), nil
			}
			now, _, err := p.w.reg.Resolve(ctx, p.w.image, p.v.ImageTag())
			if err != nil {
				return step.Observation{}, err
			}
			if now != p.plan.digest {
				return step.Observation{}, refuse("%s:%s changed from %s to %s while the gates ran: re-run promote to check the new index", p.w.image, p.v.ImageTag(), p.plan.digest, now)
			}
			plan, err := p.w.planTags(ctx, p.rep, p.v, p.plan.digest, p.plan.tags.Rollback, p.in.AllowUnknownLatest)
			if err != nil {
				return step.Observation{}, err
			}
			plan.UnderLock = true // planned under the lock: move latest writes without reading each tag again
			p.plan.tags = plan
			// Another run may have published a higher release meanwhile: GitHub's Latest label
			// is decided again too.
			if !plan.Rollback {
				if p.plan.latest, err = p.w.latestLabel(ctx, p.v); err != nil {
					return step.Observation{}, err
				}
			}
			return step.Observation{Detail: "index unchanged; " + tagDetail(plan)}, nil
		},
	}
}

func tagDetail(plan registry.TagPlan) string {
	lines := plan.Lines()
	if len(lines) == 0 {
		return "no tags to move"
	}
	return strings.Join(lines, "; ")
}

func (p *promoteRun) moveLatest() step.Step {
	return step.Step{
		Name:     "move latest",
		Observes: "the tag plan made by the tags gate", Changes: "latest (and X.Y, X) → the verified index digest, same manifest bytes, read back",
		Observe: func(ctx context.Context) (step.Observation, error) {
			tags := p.plan.tags
			switch {
			case len(tags.Moves) > 0:
				return step.Observation{Plan: strings.Join(tags.Lines(), "; ")}, nil
			case len(tags.Already) > 0:
				return step.Observation{Done: true, Detail: strings.Join(tags.Already, ", ") + " already at " + p.plan.digest.String()}, nil
			case len(tags.Skips) > 0:
				return step.Skip("left alone: " + tags.Skips[0].Reason), nil
			}
			return step.Skip("nothing to move"), nil
		},
		Act: func(ctx context.Context) (string, error) {
			if err := p.w.reg.ApplyTags(ctx, p.plan.tags); err != nil {
				return "", err
			}
			var moved []string
			for _, m := range p.plan.tags.Moves {
				moved = append(moved, m.Tag)
			}
			return fmt.Sprintf("%s → %s", strings.Join(moved, ", "), p.plan.digest), nil
		},
	}
}

func (p *promoteRun) mergePR() step.Step {
	return step.Step{
		Name:     "merge pull request",
		Observes: "the release PR's state", Changes: "merges it at the finalize commit (or enables auto-merge)",
		Observe: func(ctx context.Context) (step.Observation, error) {
			pr := p.plan.pr
			switch {
			case p.v.IsPrerelease():
				return step.Skip("pre-release: not merged"), nil
			case pr.Done:
				return step.Observation{Done: true, Detail: fmt.Sprintf("#%d merged", pr.PR.Number)}, nil
			case pr.PR != nil && pr.PR.AutoMerge:
				return step.Observation{Done: true, Detail: fmt.Sprintf("#%d has auto-merge on", pr.PR.Number)}, nil
			}
			return step.Observation{Plan: fmt.Sprintf("merge the release PR into %s (%s)", p.w.s.BaseBranch, p.merge)}, nil
		},
		Act: func(ctx context.Context) (string, error) {
			res, err := p.w.gh.MergePR(ctx, p.w.repo, p.v, p.w.s.BaseBranch, p.plan.commit, github.MergeOptions{MergeMethod: p.merge, AllowAutoMerge: p.in.AutoMerge})
			if err != nil {
				return "", err
			}
			p.merged = res.Outcome == github.Merged || res.Outcome == github.AlreadyMerged
			return fmt.Sprintf("#%d %s", res.PR.Number, res.Outcome), nil
		},
	}
}

func (p *promoteRun) publishRelease() step.Step {
	return step.Step{
		Name:     "publish release",
		Observes: "the release's draft flag and GitHub's Latest label", Changes: "publishes the release (GitHub's Latest label only for the highest promoted version)",
		Observe: func(ctx context.Context) (step.Observation, error) {
			rel := p.plan.rel
			if rel == nil || rel.Draft {
				label := "without the Latest label"
				if p.plan.latest {
					label = "as Latest"
				}
				return step.Observation{Plan: fmt.Sprintf("publish %s %s", p.v.GitTag(), label)}, nil
			}
			// Published by an earlier run. When latest moves to this version again (a promote
			// re-run after a rollback), GitHub's Latest label must follow it back.
			if p.plan.latest {
				cur, err := p.w.gh.LatestRelease(ctx, p.w.repo)
				if err != nil {
					return step.Observation{}, err
				}
				if cur == nil || cur.ID != rel.ID {
					return step.Observation{Plan: fmt.Sprintf("%s is published; move GitHub's Latest label from %s to it", p.v.GitTag(), tagOf(cur))}, nil
				}
			}
			return step.Observation{Done: true, Detail: "published " + rel.URL}, nil
		},
		Act: func(ctx context.Context) (string, error) {
			rel := p.plan.rel
			if !rel.Draft {
				if err := p.w.gh.MarkLatest(ctx, p.w.repo, rel); err != nil {
					return "", err
				}
				return p.v.GitTag() + " marked Latest", nil
			}
			out, err := p.w.gh.PublishRelease(ctx, p.w.repo, rel, p.plan.latest)
			if err != nil {
				return "", err
			}
			p.rep.Set("release", out.Release.URL)
			if out.Latest {
				return "published " + out.Release.URL + " as Latest", nil
			}
			return "published " + out.Release.URL, nil
		},
	}
}

// reinstate clears the rollback record of a version promoted again with --reinstate, once latest
// is back at this version and the release is public (before the tidying steps, which never fail a
// promote): the record keeps refusing plain promotes until then.
func (p *promoteRun) reinstate() step.Step {
	return step.Step{
		Name:     "reinstate",
		Observes: "the rollback record of vX.Y.Z", Changes: "deletes it (--reinstate)",
		Observe: func(ctx context.Context) (step.Observation, error) {
			if p.plan.rolledBack == nil {
				return step.Skip("not rolled back"), nil
			}
			return step.Observation{Plan: fmt.Sprintf("clear the record that %s was %s", p.v.GitTag(), p.plan.rolledBack)}, nil
		},
		Act: func(ctx context.Context) (string, error) {
			if err := p.w.gh.ClearRollback(ctx, p.w.repo, p.v.GitTag()); err != nil {
				return "", err
			}
			return p.v.GitTag() + " reinstated: its rollback record is cleared", nil
		},
	}
}

func tagOf(r *github.Release) string {
	if r == nil {
		return "none"
	}
	return r.Tag
}
