package release

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/github"
	"github.com/shipgate/shipgate/pipeline/registry"
	"github.com/shipgate/shipgate/pipeline/step"
)

// orphansRun is one cleanup --orphans: what its gate found to delete.
type orphansRun struct {
	w         *world
	rep       *step.Report
	olderThan time.Duration
	plan      registry.DeletePlan     // the distribution API's deletes (sha256-<hex> tags whose subject is gone)
	versions  []github.PackageVersion // on ghcr.io: untagged package versions nothing tagged reaches
	ghcr      *github.Client          // on ghcr.io: the packages API with the registry token
	owner     github.PackageOwner
	pkg       string
}

// CleanupOrphans deletes what belongs to nothing any more, older than olderThan: referrers tags
// (sha256-<hex>, the signatures and attestations of registries without the referrers API) whose
// subject manifest is gone, and — on ghcr.io, where the packages API lists them with their times —
// untagged manifests that no tag reaches (platform manifests of a multi-platform image and the
// signatures its referrers tags list are untagged but reachable: they stay). Its steps:
//
//  1. orphans — what is orphaned and old enough, and what could not be looked at;
//  2. registry — the deletes.
//
// Nothing a tag refers to is deleted; a re-run finishes a cleanup that failed half-way.
func CleanupOrphans(ctx context.Context, env *Env, olderThan time.Duration) (*step.Report, error) {
	rep := step.NewReport("cleanup --orphans", "")
	if olderThan <= 0 {
		return fail(rep, fault.BadInputf("--older-than %s: give how old an orphan must be before it is deleted, e.g. 7d or 36h", olderThan))
	}
	w, err := connect(env)
	if err != nil {
		return fail(rep, err)
	}
	o := &orphansRun{w: w, rep: rep, olderThan: olderThan}
	return rep, w.run(ctx, rep, []step.Step{o.find(), o.delete()})
}

func (o *orphansRun) find() step.Step {
	return step.Step{
		Name: "orphans", Kind: step.Gate,
		Observes: "sha256-<hex> referrers tags and their subjects; on ghcr.io the package's untagged versions",
		Observe: func(ctx context.Context) (step.Observation, error) {
			now := o.w.clk.Now()
			found, err := o.w.reg.ListOrphans(ctx, o.w.image, o.olderThan, now)
			if err != nil {
				return step.Observation{}, err
			}
			var tags []string
			for _, f := range found.Old() {
				tags = append(tags, f.Tag)
			}
			if o.plan, err = o.w.reg.PlanDelete(ctx, o.w.image, tags, nil); err != nil {
				return step.Observation{}, err
			}
			if login, pkg, ok := github.GHCRPackage(o.w.image); ok {
				if err := o.findUntagged(ctx, login, pkg, now); err != nil {
					return step.Observation{}, err
				}
			} else {
				for _, l := range found.Limits {
					o.rep.Note("%s", l)
				}
			}
			for _, l := range found.Lines() {
				if strings.HasPrefix(l, "orphan ") {
					o.rep.Note("%s", l)
				}
			}
			return step.Observation{Detail: fmt.Sprintf("%d orphaned referrers tag(s) older than %s, %d untagged package version(s)", len(tags), o.olderThan, len(o.versions))}, nil
		},
	}
}

// findUntagged lists the ghcr.io package's versions through GitHub's packages API (with the
// registry token) and picks the untagged ones no tag reaches.
func (o *orphansRun) findUntagged(ctx context.Context, login, pkg string, now time.Time) error {
	gh, owner, err := o.w.packages(ctx, login)
	if err != nil {
		return err
	}
	all, err := gh.PackageVersions(ctx, owner, pkg)
	if err != nil {
		return err
	}
	var tags []string
	for _, v := range all {
		tags = append(tags, v.Tags...)
	}
	reach, err := o.w.reg.Reachable(ctx, o.w.image, tags)
	if err != nil {
		return err
	}
	keep := func(d string) bool {
		h, err := v1.NewHash(d)
		_, ok := reach[h]
		return err != nil || ok // a name that is not a digest: not ours to judge
	}
	o.ghcr, o.owner, o.pkg = gh, owner, pkg
	o.versions = github.UntaggedVersions(all, keep, o.olderThan, now)
	return nil
}

func (o *orphansRun) delete() step.Step {
	return step.Step{
		Name: "registry", Observes: "the delete plan", Changes: "deletes the orphans",
		Observe: func(ctx context.Context) (step.Observation, error) {
			if o.plan.Done() && len(o.versions) == 0 {
				return step.Observation{Done: true, Detail: "no orphan older than " + o.olderThan.String() + " in " + o.w.image}, nil
			}
			lines := o.plan.Lines()
			for _, v := range o.versions {
				lines = append(lines, fmt.Sprintf("delete untagged package version %s (%s, updated %s)", v.Digest, o.pkg, v.UpdatedAt.UTC().Format(time.RFC3339)))
			}
			return step.Observation{Plan: strings.Join(lines, "; ")}, nil
		},
		Act: func(ctx context.Context) (string, error) {
			var done []string
			if !o.plan.Done() {
				res, err := o.w.reg.ApplyDelete(ctx, o.plan)
				switch {
				case errors.Is(err, registry.ErrDeleteUnsupported) && o.ghcr != nil:
					o.versions = append(o.versions, o.planVersions()...)
				case err != nil:
					return "", err
				case len(res.Failed) > 0:
					return "", fault.Unreachablef("%d delete(s) failed, re-run cleanup --orphans to finish: %s", len(res.Failed), strings.Join(res.Failed, "; "))
				default:
					done = append(done, fmt.Sprintf("deleted %d manifest(s), untagged %d", len(res.Deleted), len(res.Untagged)))
				}
			}
			if len(o.versions) > 0 {
				var digests []string
				for _, v := range o.versions {
					digests = append(digests, v.Digest)
				}
				res, err := o.ghcr.DeletePackageDigests(ctx, o.owner, o.pkg, digests)
				if err != nil {
					return "", err
				}
				done = append(done, fmt.Sprintf("deleted %d package version(s) of %s (%d already gone)", len(res.Deleted), o.pkg, len(res.Missing)))
			}
			return strings.Join(done, "; "), nil
		},
	}
}

// planVersions are the plan's digests as package versions (ghcr.io refuses the distribution
// API's deletes; a version's name is its digest).
func (o *orphansRun) planVersions() []github.PackageVersion {
	var out []github.PackageVersion
	for _, d := range o.plan.Digests() {
		out = append(out, github.PackageVersion{Digest: d.String()})
	}
	return out
}
