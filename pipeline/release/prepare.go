package release

import (
	"context"
	"fmt"

	"github.com/shipgate/shipgate/pipeline/changelog"
	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/github"
	"github.com/shipgate/shipgate/pipeline/step"
	"github.com/shipgate/shipgate/pipeline/version"
)

// PrepareMessage is the commit message of the CHANGELOG section prepare opens.
func PrepareMessage(v version.Version) string {
	return fmt.Sprintf("chore(release): open CHANGELOG section for %s", v)
}

// prepareRun is one prepare: the release branch's head once known, and the CHANGELOG to commit.
type prepareRun struct {
	w        *world
	rep      *step.Report
	v        version.Version
	head     string
	prepared []byte
}

// Prepare opens a release. Its steps, in order:
//
//  1. release branch — release/X.Y.Z from the base branch (or the development branch,
//     --prepare-from);
//  2. changelog section — `## [Unreleased]` becomes `## [X.Y.Z] - TBD` on that branch;
//  3. release PR — a draft pull request release/X.Y.Z → base branch.
func Prepare(ctx context.Context, env *Env, ver string) (*step.Report, error) {
	w, rep, v, err := begin(env, "prepare", ver)
	if err != nil {
		return rep, err
	}
	if v.IsCandidate() {
		return fail(rep, fault.BadInputf("--version %s is a release candidate: prepare %s, then publish its candidates from %s with publish --candidate --version %s", v, v.Final(), v.Branch(), v.Final()))
	}
	p := &prepareRun{w: w, rep: rep, v: v}
	return rep, w.run(ctx, rep, []step.Step{p.branch(), p.section(), p.pullRequest()})
}

func (p *prepareRun) branch() step.Step {
	return step.Step{
		Name:     "release branch",
		Observes: "branch release/X.Y.Z", Changes: "creates it from the base branch",
		Observe: func(ctx context.Context) (step.Observation, error) {
			sha, found, err := p.w.gh.ReleaseBranch(ctx, p.w.repo, p.v)
			if err != nil || !found {
				return step.Observation{Plan: fmt.Sprintf("create %s from %s", p.v.Branch(), p.from())}, err
			}
			p.head = sha
			return step.Observation{Done: true, Detail: p.v.Branch() + " at " + short(sha)}, nil
		},
		Act: func(ctx context.Context) (string, error) {
			setting := "--base-branch"
			if p.w.s.DevBranch != "" {
				setting = "--prepare-from"
			}
			sha, err := p.w.gh.CreateReleaseBranchFrom(ctx, p.w.repo, p.v, p.from(), setting)
			if err != nil {
				return "", err
			}
			p.head = sha
			return fmt.Sprintf("created %s at %s", p.v.Branch(), short(sha)), nil
		},
	}
}

func (p *prepareRun) section() step.Step {
	path := p.w.s.Changelog
	return step.Step{
		Name:     "changelog section",
		Observes: "the CHANGELOG on release/X.Y.Z", Changes: "commits `## [X.Y.Z] - TBD` on it",
		Observe: func(ctx context.Context) (step.Observation, error) {
			if p.head == "" {
				return step.Observation{Plan: fmt.Sprintf("open `## [%s] - TBD` in %s", p.v, path)}, nil
			}
			cur, found, err := p.w.gh.FileAt(ctx, p.w.repo, p.head, path)
			if err != nil {
				return step.Observation{}, err
			}
			if !found {
				return step.Observation{}, fault.BadInputf("%s not found on %s of %s: add a Keep a Changelog file with an `## [Unreleased]` section to %s (or set --changelog)", path, p.v.Branch(), p.w.repo, p.w.s.BaseBranch)
			}
			out, changed, err := changelog.Prepare(cur, p.v)
			if err != nil {
				return step.Observation{}, fault.AsBadInput(err)
			}
			if !changed {
				return step.Observation{Done: true, Detail: fmt.Sprintf("%s already has a [%s] section", path, p.v)}, nil
			}
			p.prepared = out
			return step.Observation{Plan: fmt.Sprintf("commit `## [%s] - TBD` to %s on %s", p.v, path, p.v.Branch())}, nil
		},
		Act: func(ctx context.Context) (string, error) {
			sha, err := p.w.gh.CommitFile(ctx, p.w.repo, p.v.Branch(), p.head, path, p.prepared, PrepareMessage(p.v))
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("committed %s at %s", path, short(sha)), nil
		},
	}
}

func (p *prepareRun) pullRequest() step.Step {
	return step.Step{
		Name:     "release PR",
		Observes: "open pull requests release/X.Y.Z → base branch", Changes: "opens a draft pull request",
		Observe: func(ctx context.Context) (step.Observation, error) {
			pr, err := p.w.gh.FindReleasePR(ctx, p.w.repo, p.v, p.w.s.BaseBranch)
			if err != nil || pr == nil {
				return step.Observation{Plan: fmt.Sprintf("open a draft PR %s → %s", p.v.Branch(), p.w.s.BaseBranch)}, err
			}
			p.rep.Set("pull request", pr.URL)
			return step.Observation{Done: true, Detail: fmt.Sprintf("#%d %s", pr.Number, pr.URL)}, nil
		},
		Act: func(ctx context.Context) (string, error) {
			pr, _, err := p.w.gh.OpenReleasePR(ctx, p.w.repo, p.v, p.w.s.BaseBranch, "Release "+p.v.String(), prBody(p.v, p.w.repo))
			if err != nil {
				return "", err
			}
			p.rep.Set("pull request", pr.URL)
			return fmt.Sprintf("opened #%d %s", pr.Number, pr.URL), nil
		},
	}
}

func prBody(v version.Version, r github.Repo) string {
	return fmt.Sprintf("Release %s, opened by shipgate.\n\n1. Edit the `## [%s] - TBD` section of the CHANGELOG on `%s`.\n2. Publish: `gh workflow run release.yml --ref %s -f version=%s`.\n3. Inspect (`just status %s`), then promote: `gh workflow run promote-release.yml -f version=%s`.\n\nPromote merges this pull request at the finalize commit.", v, v, v.Branch(), v.Branch(), v, v, v)
}

// from is the branch release/X.Y.Z is cut from: the development branch (--prepare-from), or the
// base branch.
func (p *prepareRun) from() string {
	if p.w.s.DevBranch != "" {
		return p.w.s.DevBranch
	}
	return p.w.s.BaseBranch
}
