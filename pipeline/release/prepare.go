package release

import (
	"context"
	"fmt"

	"github.com/shipgate/shipgate/pipeline/changelog"
	"github.com/shipgate/shipgate/pipeline/github"
	"github.com/shipgate/shipgate/pipeline/step"
	"github.com/shipgate/shipgate/pipeline/version"
)

// PrepareMessage is the commit message of the CHANGELOG section prepare opens.
func PrepareMessage(v version.Version) string {
	return fmt.Sprintf("chore(release): open CHANGELOG section for %s", v)
}

// Prepare opens a release. Its steps, in order:
//
//  1. release branch — release/X.Y.Z from the base branch;
//  2. changelog section — `## [Unreleased]` becomes `## [X.Y.Z] - TBD` on that branch;
//  3. release PR — a draft pull request release/X.Y.Z → base branch.
func Prepare(ctx context.Context, env *Env, ver string) (*step.Report, error) {
	rep := step.NewReport("prepare", ver)
	w, err := connect(env)
	if err != nil {
		rep.Err = err.Error()
		return rep, err
	}
	v, err := version.Parse(ver)
	if err != nil {
		rep.Err = err.Error()
		return rep, err
	}
	rep.Version = v.String()
	base, path := w.env.Settings.BaseBranch, w.env.Settings.Changelog
	var head string
	var prepared []byte
	steps := []step.Step{
		{
			Name:     "release branch",
			Observes: "branch release/X.Y.Z", Changes: "creates it from the base branch",
			Observe: func(ctx context.Context) (step.Observation, error) {
				sha, found, err := w.gh.ReleaseBranch(ctx, w.repo, v)
				if err != nil {
					return step.Observation{}, err
				}
				if found {
					head = sha
					return step.Observation{Done: true, Detail: v.Branch() + " at " + short(sha)}, nil
				}
				return step.Observation{Plan: fmt.Sprintf("create %s from %s", v.Branch(), base)}, nil
			},
			Act: func(ctx context.Context) (string, error) {
				sha, err := w.gh.CreateReleaseBranch(ctx, w.repo, v, base)
				if err != nil {
					return "", err
				}
				head = sha
				return fmt.Sprintf("created %s at %s", v.Branch(), short(sha)), nil
			},
		},
		{
			Name:     "changelog section",
			Observes: "the CHANGELOG on release/X.Y.Z", Changes: "commits `## [X.Y.Z] - TBD` on it",
			Observe: func(ctx context.Context) (step.Observation, error) {
				if head == "" {
					return step.Observation{Plan: fmt.Sprintf("open `## [%s] - TBD` in %s", v, path)}, nil
				}
				cur, found, err := w.gh.FileAt(ctx, w.repo, head, path)
				if err != nil {
					return step.Observation{}, err
				}
				if !found {
					return step.Observation{}, fmt.Errorf("%s not found on %s of %s: add a Keep a Changelog file with an `## [Unreleased]` section to %s", path, v.Branch(), w.repo, base)
				}
				out, changed, err := changelog.Prepare(cur, v)
				if err != nil {
					return step.Observation{}, err
				}
				if !changed {
					return step.Observation{Done: true, Detail: fmt.Sprintf("%s already has a [%s] section", path, v)}, nil
				}
				prepared = out
				return step.Observation{Plan: fmt.Sprintf("commit `## [%s] - TBD` to %s on %s", v, path, v.Branch())}, nil
			},
			Act: func(ctx context.Context) (string, error) {
				sha, err := w.gh.CommitFile(ctx, w.repo, v.Branch(), head, path, prepared, PrepareMessage(v))
				if err != nil {
					return "", err
				}
				return fmt.Sprintf("committed %s at %s", path, short(sha)), nil
			},
		},
		{
			Name:     "release PR",
			Observes: "open pull requests release/X.Y.Z → base branch", Changes: "opens a draft pull request",
			Observe: func(ctx context.Context) (step.Observation, error) {
				pr, err := w.gh.FindReleasePR(ctx, w.repo, v, base)
				if err != nil {
					return step.Observation{}, err
				}
				if pr != nil {
					rep.Set("pull request", pr.URL)
					return step.Observation{Done: true, Detail: fmt.Sprintf("#%d %s", pr.Number, pr.URL)}, nil
				}
				return step.Observation{Plan: fmt.Sprintf("open a draft PR %s → %s", v.Branch(), base)}, nil
			},
			Act: func(ctx context.Context) (string, error) {
				pr, _, err := w.gh.OpenReleasePR(ctx, w.repo, v, base, "Release "+v.String(), prBody(v, w.repo))
				if err != nil {
					return "", err
				}
				rep.Set("pull request", pr.URL)
				return fmt.Sprintf("opened #%d %s", pr.Number, pr.URL), nil
			},
		},
	}
	err = w.run(ctx, rep, steps)
	return rep, err
}

func prBody(v version.Version, r github.Repo) string {
	return fmt.Sprintf("Release %s, opened by shipgate.\n\n1. Edit the `## [%s] - TBD` section of the CHANGELOG on `%s`.\n2. Publish: `gh workflow run release.yml --ref %s -f version=%s`.\n3. Inspect (`just status %s`), then promote: `gh workflow run promote-release.yml -f version=%s`.\n\nPromote merges this pull request at the finalize commit.", v, v, v.Branch(), v.Branch(), v, v, v)
}
