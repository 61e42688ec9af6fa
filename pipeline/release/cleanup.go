package release

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/github"
	"github.com/shipgate/shipgate/pipeline/registry"
	"github.com/shipgate/shipgate/pipeline/step"
	"github.com/shipgate/shipgate/pipeline/version"
)

// cleanupPlan is what cleanup's gates found: the registry delete plan of the candidates of X.Y.Z,
// their GitHub pre-releases and drafts, and their git tags.
type cleanupPlan struct {
	registry registry.DeletePlan
	releases []github.CandidateRelease
	tags     []github.CandidateTag
}

// cleanupRun is one cleanup.
type cleanupRun struct {
	w    *world
	rep  *step.Report
	v    version.Version
	plan cleanupPlan
}

// Cleanup removes the release candidates of a version that shipped: their image tags (index and
// per-arch), their signatures and attestations (referrers or fallback tags), their pre-releases
// and drafts on GitHub, and their git tags. It never deletes a digest that a kept tag — X.Y.Z,
// its per-arch tags, latest, X.Y, X — still refers to, and says what it kept and why. Its steps:
//
//  1. release — vX.Y.Z is published (the final shipped): candidates are cleaned up only then;
//  2. plan — the candidates' tags, manifests and referrers in the registry, what stays, and their
//     releases and git tags on GitHub;
//  3. registry — the planned deletes (the distribution API);
//  4. candidate releases — their drafts and pre-releases (before their tags: GitHub turns a
//     published release whose tag is deleted into a draft);
//  5. candidate tags — their git tags.
//
// Every step observes first, so a re-run finishes what a failed run left.
func Cleanup(ctx context.Context, env *Env, ver string) (*step.Report, error) {
	w, rep, v, err := begin(env, "cleanup", ver)
	if err != nil {
		return rep, err
	}
	if v.IsPrerelease() {
		return fail(rep, fault.BadInputf("--version %s is a candidate: give the final version X.Y.Z whose candidates to clean up", v))
	}
	c := &cleanupRun{w: w, rep: rep, v: v}
	return rep, w.run(ctx, rep, []step.Step{c.shipped(), c.planned(), c.registryDeletes(), c.releases(), c.gitTags()})
}

func (c *cleanupRun) shipped() step.Step {
	return step.Step{
		Name: "release", Kind: step.Gate, Observes: "release vX.Y.Z",
		Observe: func(ctx context.Context) (step.Observation, error) {
			rel, err := c.w.gh.FindRelease(ctx, c.w.repo, c.v.GitTag())
			if err != nil {
				return step.Observation{}, err
			}
			if rel == nil || rel.Draft {
				return step.Observation{}, refuse("%s of %s is not published: clean up its candidates after promote", c.v.GitTag(), c.w.repo)
			}
			return step.Observation{Detail: "published " + rel.URL}, nil
		},
	}
}

func (c *cleanupRun) planned() step.Step {
	return step.Step{
		Name: "plan", Kind: step.Gate, Observes: "candidate tags of X.Y.Z in the registry, what kept tags hold, candidate releases and git tags",
		Observe: func(ctx context.Context) (step.Observation, error) {
			cands, err := c.w.reg.CandidateTags(ctx, c.w.image, c.v)
			if err != nil {
				return step.Observation{}, err
			}
			var tags []string
			for _, cd := range cands {
				tags = append(tags, cd.Tag)
			}
			if c.plan.registry, err = c.w.reg.PlanDelete(ctx, c.w.image, tags, c.kept()); err != nil {
				return step.Observation{}, err
			}
			if c.plan.releases, err = c.w.gh.CandidateReleases(ctx, c.w.repo, c.v, c.v.TagPrefix()); err != nil {
				return step.Observation{}, err
			}
			if c.plan.tags, err = c.w.gh.CandidateGitTags(ctx, c.w.repo, c.v, c.v.TagPrefix()); err != nil {
				return step.Observation{}, err
			}
			for _, k := range c.plan.registry.Kept {
				c.rep.Note("kept %s: %s", k.Digest, k.Reason)
			}
			return step.Observation{Detail: fmt.Sprintf("%d candidate tag(s), %d manifest(s) to delete, %d kept; %d candidate release(s), %d git tag(s)",
				len(tags), len(c.plan.registry.Delete), len(c.plan.registry.Kept), len(c.plan.releases), len(c.plan.tags))}, nil
		},
	}
}

// kept are the tags whose content cleanup never deletes.
func (c *cleanupRun) kept() []string {
	out := []string{c.v.ImageTag(), registry.LatestTag}
	for _, pl := range c.w.platforms {
		out = append(out, c.v.ArchTag(pl))
	}
	return append(out, c.v.LineTags()...)
}

func (c *cleanupRun) registryDeletes() step.Step {
	return step.Step{
		Name: "registry", Observes: "the delete plan", Changes: "deletes the candidates' manifests, referrers and tags",
		Observe: func(ctx context.Context) (step.Observation, error) {
			if c.plan.registry.Done() {
				return step.Observation{Done: true, Detail: "no candidate left in " + c.w.image}, nil
			}
			return step.Observation{Plan: strings.Join(c.plan.registry.Lines(), "; ")}, nil
		},
		Act: func(ctx context.Context) (string, error) {
			res, err := c.w.reg.ApplyDelete(ctx, c.plan.registry)
			if errors.Is(err, registry.ErrDeleteUnsupported) {
				if login, pkg, ok := github.GHCRPackage(c.w.image); ok {
					return c.deletePackageVersions(ctx, login, pkg)
				}
			}
			if err != nil {
				return "", err
			}
			if len(res.Failed) > 0 {
				return "", fault.Unreachablef("%d delete(s) failed, re-run cleanup to finish: %s", len(res.Failed), strings.Join(res.Failed, "; "))
			}
			return fmt.Sprintf("deleted %d manifest(s), untagged %d", len(res.Deleted), len(res.Untagged)), nil
		},
	}
}

// deletePackageVersions deletes the planned digests on ghcr.io, which refuses the distribution
// API's deletes: through GitHub's packages API, with the registry token (--registry-password:
// it needs delete:packages and admin on the package).
func (c *cleanupRun) deletePackageVersions(ctx context.Context, login, pkg string) (string, error) {
	gh, owner, err := c.w.packages(ctx, login)
	if err != nil {
		return "", err
	}
	var digests []string
	for _, d := range c.plan.registry.Digests() {
		digests = append(digests, d.String())
	}
	res, err := gh.DeletePackageDigests(ctx, owner, pkg, digests)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("deleted %d package version(s) of %s through GitHub's packages API (%d already gone)", len(res.Deleted), pkg, len(res.Missing)), nil
}

func (c *cleanupRun) releases() step.Step {
	return deleteEach("candidate releases", "pre-releases and drafts of the candidates", "candidate release(s)", &c.plan.releases,
		func(ctx context.Context, rel github.CandidateRelease) error {
			return c.w.gh.DeleteCandidateRelease(ctx, c.w.repo, rel)
		})
}

func (c *cleanupRun) gitTags() step.Step {
	return deleteEach("candidate tags", "git tags of the candidates", "git tag(s)", &c.plan.tags,
		func(ctx context.Context, t github.CandidateTag) error {
			return c.w.gh.DeleteGitTag(ctx, c.w.repo, t.Tag)
		})
}

// deleteEach is a step that deletes, one by one, the items the plan gate put in *planned (what
// names them, e.g. "git tag(s)"); a re-run finds none left.
func deleteEach[T any](name, observes, what string, planned *[]T, del func(context.Context, T) error) step.Step {
	return step.Step{
		Name: name, Observes: observes, Changes: "deletes them",
		Observe: func(ctx context.Context) (step.Observation, error) {
			if len(*planned) == 0 {
				return step.Observation{Done: true, Detail: "none"}, nil
			}
			return step.Observation{Plan: fmt.Sprintf("delete %d %s", len(*planned), what)}, nil
		},
		Act: func(ctx context.Context) (string, error) {
			for _, it := range *planned {
				if err := del(ctx, it); err != nil {
					return "", err
				}
			}
			return fmt.Sprintf("deleted %d %s", len(*planned), what), nil
		},
	}
}

// packages is GitHub's packages API for the ghcr.io packages of login, with the registry token
// (--registry-password: delete:packages and admin on the package), and who owns them.
func (w *world) packages(ctx context.Context, login string) (*github.Client, github.PackageOwner, error) {
	gh, err := w.github(w.env.Secrets.RegistryPassword, "--registry-password")
	if err != nil {
		return nil, github.PackageOwner{}, err
	}
	owner, err := gh.PackageOwnerOf(ctx, login)
	return gh, owner, err
}
