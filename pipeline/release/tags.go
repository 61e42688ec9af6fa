package release

import (
	"context"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/shipgate/shipgate/pipeline/registry"
	"github.com/shipgate/shipgate/pipeline/step"
	"github.com/shipgate/shipgate/pipeline/version"
)

// planTags is the one tag-planning function of promote and rollback: the registry's plan for
// latest (and X.Y, X) — forward to digest, or with rollback backwards to v's index — with every
// tag that the plan would leave alone because it "holds a newer version" checked: a version label
// is a claim, so the tag is deferred to only when what it holds is a verified release (see
// trusted). Anything else is unknown: blocked, or overwritten with allowUnknown.
func (w *world) planTags(ctx context.Context, rep *step.Report, v version.Version, digest v1.Hash, rollback, allowUnknown bool) (registry.TagPlan, error) {
	o := registry.TagOptions{Floating: w.s.FloatingTags, AllowUnknownLatest: allowUnknown}
	var plan registry.TagPlan
	var err error
	if rollback {
		plan, err = w.reg.PlanRollback(ctx, w.image, v, w.platforms, o)
	} else {
		plan, err = w.reg.PlanTags(ctx, w.image, v, digest, o)
	}
	if err != nil {
		return plan, err
	}
	if plan, err = w.distrust(ctx, plan, allowUnknown); err != nil {
		return plan, err
	}
	if b := plan.Blocked(); len(b) > 0 {
		var why []string
		for _, s := range b {
			why = append(why, s.Tag+": "+s.Reason)
		}
		return plan, refuse("%s", strings.Join(why, "; "))
	}
	for _, s := range plan.Skips {
		rep.Note("%s left alone: %s", s.Tag, s.Reason)
	}
	return plan, nil
}

// distrust turns each "newer version, left alone" skip whose digest is not a verified release
// into a blocked skip — or, with allowUnknown, into a move.
func (w *world) distrust(ctx context.Context, plan registry.TagPlan, allowUnknown bool) (registry.TagPlan, error) {
	var skips []registry.TagSkip
	for _, s := range plan.Skips {
		if s.Blocked || s.Current == (v1.Hash{}) {
			skips = append(skips, s)
			continue
		}
		ok, why, err := w.trusted(ctx, s.Current, s.CurrentVersion)
		if err != nil {
			return plan, err
		}
		if ok {
			s.Reason += " (" + why + ")"
			skips = append(skips, s)
			continue
		}
		unknown := w.unverified(s.Tag, s.Current, s.CurrentVersion)
		if allowUnknown {
			plan.Moves = append(plan.Moves, registry.TagMove{Tag: s.Tag, From: s.Current, FromVersion: s.CurrentVersion, Reason: unknown + "; overwriting as allowed (--allow-unknown-latest)"})
			continue
		}
		s.Blocked, s.Reason = true, unknown+": check what it is, then re-run with --allow-unknown-latest to overwrite it"
		skips = append(skips, s)
	}
	plan.Skips = skips
	return plan, nil
}

// unverified says why a tag's content is not deferred to.
func (w *world) unverified(tag string, d v1.Hash, label string) string {
	if v, err := version.Parse(label); err == nil && v.IsPrerelease() {
		return fmt.Sprintf("%s holds %s labelled with the pre-release %s: %s never defers to a pre-release", tag, d, label, tag)
	}
	return fmt.Sprintf("%s holds %s labelled %q, which is neither recorded by a published release of %s nor signed under %s: the label is an unverified claim", tag, d, label, w.repo, w.policy)
}

// trusted reports whether digest d, found in a moving tag with version label label, is a fact
// rather than a claim: a published GitHub release of this repository records it, or it verifies
// under the signing policy. A pre-release label is never trusted: latest never holds one.
func (w *world) trusted(ctx context.Context, d v1.Hash, label string) (bool, string, error) {
	v, err := version.Parse(label)
	if err == nil && v.IsPrerelease() {
		return false, "", nil
	}
	if err == nil {
		rel, err := w.gh.FindRelease(ctx, w.repo, v.WithTagPrefix(w.s.GitTagPrefix()).GitTag())
		if err != nil {
			return false, "", err
		}
		if rel != nil && !rel.Draft && rel.State.IndexDigest == d.String() {
			return true, "recorded by the published release " + rel.URL, nil
		}
	}
	if !w.signing() {
		return false, "", nil
	}
	ref, err := w.digestRef(d.String())
	if err != nil {
		return false, "", err
	}
	ok, err := w.store.Signed(ctx, ref, w.policy)
	if err != nil || !ok {
		return false, "", err
	}
	return true, fmt.Sprintf("signed under %s", w.policy), nil
}

// latestLabel decides whether GitHub's "Latest" label goes to v: the same rule as the registry's
// latest — v is above the release GitHub marks Latest now, which rollback moves back — so both
// follow the highest promoted, not rolled-back, release.
func (w *world) latestLabel(ctx context.Context, v version.Version) (bool, error) {
	return w.gh.IsHighest(ctx, w.repo, v)
}
