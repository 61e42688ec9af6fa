package release

import (
	"context"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/shipgate/shipgate/pipeline/changelog"
	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/github"
	"github.com/shipgate/shipgate/pipeline/registry"
	"github.com/shipgate/shipgate/pipeline/source"
	"github.com/shipgate/shipgate/pipeline/step"
	"github.com/shipgate/shipgate/pipeline/version"
)

// parseDigests reads --platform-digest values before any step runs.
func parseDigests(platforms []version.Platform, given map[string]string) (map[string]v1.Hash, error) {
	out := map[string]v1.Hash{}
	for _, pl := range platforms {
		d, ok := given[pl.String()]
		if !ok {
			continue
		}
		h, err := v1.NewHash(d)
		if err != nil {
			return nil, fault.BadInputf("--platform-digest %s=%s is not a digest (sha256:<64 hex>): %v", pl, d, err)
		}
		out[pl.String()] = h
	}
	for k := range given {
		if _, ok := out[k]; !ok {
			return nil, fault.BadInputf("--platform-digest %s: %s is not one of --platforms (%s)", k, k, platformList(platforms))
		}
	}
	return out, nil
}

func (p *publishRun) sourceGate() step.Step {
	return step.Step{
		Name: "source tree", Kind: step.Gate,
		Observes: "the source directory against the commit's tree on GitHub",
		Observe: func(ctx context.Context) (step.Observation, error) {
			c, err := checkSource(ctx, p.w, p.in.Dir, p.in.Commit)
			if err != nil {
				return step.Observation{}, err
			}
			p.plan.source = c
			p.rep.Set("source commit", c)
			return step.Observation{Detail: fmt.Sprintf("%s is exactly commit %s", p.in.Dir, short(c))}, nil
		},
	}
}

// checkSource resolves the commit of the source directory (--commit, or .git/HEAD) and refuses a
// directory that is not exactly that commit's tree on GitHub.
func checkSource(ctx context.Context, w *world, dir, flag string) (string, error) {
	if dir == "" {
		return "", fault.BadInputf("no source directory given: pass the repository checkout as --source")
	}
	head, _, err := source.Head(dir)
	if err != nil && flag == "" {
		return "", fault.BadInputf("%v: pass --commit", err)
	}
	commit, err := source.Commit(flag, head)
	if err != nil {
		return "", err
	}
	local, err := source.Walk(dir)
	if err != nil {
		return "", fault.BadInputf("read the source directory: %w", err)
	}
	committed, err := w.gh.CommitTree(ctx, w.repo, commit)
	if err != nil {
		return "", err
	}
	return commit, source.Check(commit, local, committed)
}

func (p *publishRun) changelogGate() step.Step {
	path := p.w.s.Changelog
	return step.Step{
		Name: "CHANGELOG", Kind: step.Gate,
		Observes: path + " in the source directory",
		Observe: func(ctx context.Context) (step.Observation, error) {
			if p.candidate() {
				p.plan.fin.Notes = fmt.Sprintf("Release candidate %s of %s, built from %s as it is (its CHANGELOG is finalized by the final).\n", p.v.ImageTag(), p.final, short(p.plan.source))
				return step.Skip("a candidate leaves the CHANGELOG alone: its heading stays TBD until the final"), nil
			}
			cl, found, err := source.ReadFile(p.in.Dir, path)
			if err != nil {
				return step.Observation{}, fault.AsBadInput(err)
			}
			if !found || len(cl) == 0 {
				return step.Observation{}, refuse("%s is empty or missing in the source tree: run prepare, or add `## [%s] - TBD` with the release notes", path, p.v)
			}
			fin, err := changelog.Finalize(cl, p.v, changelog.Options{Now: p.w.clk.Now(), RepoURL: p.w.repoURL()})
			if err != nil {
				return step.Observation{}, fault.AsRefused(err)
			}
			p.plan.fin = fin
			return step.Observation{Detail: fmt.Sprintf("%s finalizes %s dated %s, no TBD", path, p.v, fin.Date)}, nil
		},
	}
}

func (p *publishRun) releaseGate() step.Step {
	return step.Step{
		Name: "release", Kind: step.Gate,
		Observes: "the release vX.Y.Z on GitHub",
		Observe: func(ctx context.Context) (step.Observation, error) {
			if p.candidate() {
				fin, err := p.w.gh.FindRelease(ctx, p.w.repo, p.final.GitTag())
				if err != nil {
					return step.Observation{}, err
				}
				if fin != nil && !fin.Draft {
					return step.Observation{}, refuse("%s of %s is already released (%s): candidates come before the final; release a new version", p.final.GitTag(), p.w.repo, fin.URL)
				}
				if !p.v.IsCandidate() {
					return step.Observation{}, step.NotChecked("candidate number")
				}
			}
			rel, err := p.w.gh.FindRelease(ctx, p.w.repo, p.v.GitTag())
			if err != nil {
				return step.Observation{}, err
			}
			if rel != nil && !rel.Draft {
				return step.Observation{}, refuse("release %s of %s is already published (%s): publish never changes a public release; promote or roll back instead, or release a new version", p.v.GitTag(), p.w.repo, rel.URL)
			}
			p.plan.release = rel
			if rel == nil {
				return step.Observation{Detail: p.v.GitTag() + " has no release yet"}, nil
			}
			return step.Observation{Detail: "draft " + rel.URL + " is not public yet"}, nil
		},
	}
}

// tagGate checks the git tag before anything is written: a vX.Y.Z that points anywhere but this
// release's finalize commit would otherwise be found only after the registry was written.
func (p *publishRun) tagGate() step.Step {
	return step.Step{
		Name: "existing git tag", Kind: step.Gate,
		Observes: "tag vX.Y.Z and the head of release/X.Y.Z",
		Observe: func(ctx context.Context) (step.Observation, error) {
			if p.in.Candidate && !p.v.IsCandidate() {
				return step.Observation{}, step.NotChecked("candidate number")
			}
			at, found, err := p.w.gh.Tag(ctx, p.w.repo, p.v)
			if err != nil || !found {
				return step.Observation{Detail: p.v.GitTag() + " does not exist yet"}, err
			}
			if p.candidate() {
				return p.candidateTag(at)
			}
			if p.plan.source == "" || p.plan.fin.Content == nil {
				return step.Observation{}, step.NotChecked("source tree and CHANGELOG")
			}
			st, err := p.w.gh.ObserveFinalizeFiles(ctx, p.w.repo, p.v, p.plan.source, p.files())
			if err != nil {
				return step.Observation{}, err
			}
			if !st.Done || st.Commit != at {
				wanted := "a finalize commit not made yet"
				if st.Done {
					wanted = st.Commit
				}
				return step.Observation{}, fault.AsRefused(&github.TagConflictError{Repo: p.w.repo, Tag: p.v.GitTag(), At: at, Wanted: wanted})
			}
			p.plan.tagAt = at
			return step.Observation{Detail: p.v.GitTag() + " is at the finalize commit " + short(at)}, nil
		},
	}
}

// rebuildGate refuses --rebuild once promote has started: latest, X.Y or X holds X.Y.Z's index,
// or the promote lock names this version (the release being public is the release gate's).
func (p *publishRun) rebuildGate() step.Step {
	return step.Step{
		Name: "rebuild", Kind: step.Gate,
		Observes: "with --rebuild: latest, X.Y, X and the promote lock",
		Observe: func(ctx context.Context) (step.Observation, error) {
			if !p.in.Rebuild {
				return step.Skip("no --rebuild: X.Y.Z is never replaced"), nil
			}
			chk, err := p.w.reg.CheckIndex(ctx, p.w.image, p.v, p.w.platforms)
			if err != nil {
				return step.Observation{}, err
			}
			if chk.Digest != (v1.Hash{}) && !p.v.IsPrerelease() {
				plan, err := p.w.reg.PlanTags(ctx, p.w.image, p.v, chk.Digest, registry.TagOptions{Floating: true})
				if err != nil {
					return step.Observation{}, err
				}
				if len(plan.Already) > 0 {
					return step.Observation{}, refuse("--rebuild refused: %s already hold(s) %s:%s (%s): promote has started, so X.Y.Z can no longer be replaced; finish the promote, or release a new version", strings.Join(plan.Already, ", "), p.w.image, p.v.ImageTag(), chk.Digest)
				}
			}
			info, held, err := p.w.gh.LockState(ctx, p.w.repo)
			if err != nil {
				return step.Observation{}, err
			}
			if held && (info.Holder == "promote "+p.v.String() || info.Holder == "rollback "+p.v.String()) {
				return step.Observation{}, refuse("--rebuild refused: the promote lock is held by %q: a promote of %s is under way or crashed; finish it, or release a new version", info.Holder, p.v)
			}
			return step.Observation{Detail: "promote has not started: X.Y.Z may be replaced"}, nil
		},
	}
}

// prGate checks the release PR before anything is pushed: it exists, is ready for review and
// approved as the base branch requires, and the source commit's required checks passed. For a
// pre-release (a candidate) only the required checks count; the PR may still be a draft.
func (p *publishRun) prGate() step.Step {
	return step.Step{
		Name: "pull request", Kind: step.Gate,
		Observes: "the release PR: draft or not, approvals, the source commit's required checks",
		Observe: func(ctx context.Context) (step.Observation, error) {
			if p.plan.source == "" {
				return step.Observation{}, step.NotChecked("source tree")
			}
			cand := p.v.IsPrerelease()
			rd, err := p.w.gh.PRReadiness(ctx, p.w.repo, p.v, p.w.s.BaseBranch, github.ReadinessOptions{SkipReviews: cand || p.w.s.SkipReviewGate, AllowDraft: cand, Commit: p.plan.source})
			if err != nil {
				return step.Observation{}, err
			}
			if rd.PR != nil {
				p.rep.Set("pull request", rd.PR.URL)
			}
			if len(rd.Missing) > 0 {
				return step.Observation{}, refuse("%s", strings.Join(rd.Missing, "; "))
			}
			if len(rd.Waiting) > 0 {
				return step.Observation{}, refuse("required checks of %s still running: %s: wait for them, then re-run publish", short(p.plan.source), strings.Join(rd.Waiting, ", "))
			}
			if cand {
				return step.Observation{Detail: fmt.Sprintf("#%d: required checks of %s passed", rd.PR.Number, short(p.plan.source))}, nil
			}
			return step.Observation{Detail: fmt.Sprintf("#%d ready for review, approved, required checks of %s passed", rd.PR.Number, short(p.plan.source))}, nil
		},
	}
}

// candidateTag: a candidate's tag, when it exists, is at the commit it was built from.
func (p *publishRun) candidateTag(at string) (step.Observation, error) {
	if p.plan.source == "" {
		return step.Observation{}, step.NotChecked("source tree")
	}
	if at != p.plan.source {
		return step.Observation{}, fault.AsRefused(&github.TagConflictError{Repo: p.w.repo, Tag: p.v.GitTag(), At: at, Wanted: p.plan.source})
	}
	p.plan.tagAt = at
	return step.Observation{Detail: p.v.GitTag() + " is at the source commit " + short(at)}, nil
}
