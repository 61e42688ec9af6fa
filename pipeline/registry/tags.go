package registry

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/version"
)

// TagOptions shape which moving tags promote and rollback touch.
type TagOptions struct {
	// Floating also moves X.Y and X, each only when the version is the highest of that line.
	Floating bool
	// AllowUnknownLatest allows overwriting latest (and, with Floating, X.Y and X) when what it
	// holds carries no readable version annotation. Without it such a tag is left alone and the
	// plan reports it as blocked.
	AllowUnknownLatest bool
}

// TagMove is a tag the plan moves to the plan's digest.
type TagMove struct {
	// Tag is latest, X.Y or X.
	Tag string
	// From is what the tag holds now; zero when it does not exist. ApplyTags refuses to move a
	// tag that no longer holds From.
	From v1.Hash
	// FromVersion is From's version annotation; empty when absent or unknown.
	FromVersion string
	// Reason says why the tag moves.
	Reason string
}

// TagSkip is a tag the plan leaves alone.
type TagSkip struct {
	// Tag is latest, X.Y or X.
	Tag string
	// Current is what the tag holds; zero when it does not exist.
	Current v1.Hash
	// CurrentVersion is Current's version annotation; empty when absent or unknown.
	CurrentVersion string
	// Reason says why the tag stays.
	Reason string
	// Blocked means the tag stays only because an allowance is missing (AllowUnknownLatest), not
	// because a rule says so (hotfix, pre-release).
	Blocked bool
}

// TagPlan is what ApplyTags will do: PUT the index's exact manifest bytes under each moved tag.
type TagPlan struct {
	// Repository is the canonical repository name.
	Repository string
	// Version is the version whose index the tags move to.
	Version version.Version
	// Digest is the index digest the tags move to; it is never re-resolved.
	Digest v1.Hash
	// MediaType is the index's media type.
	MediaType types.MediaType
	// Rollback marks a plan made by PlanRollback.
	Rollback bool
	// Moves are the tags that move, in order.
	Moves []TagMove
	// Skips are the tags left alone, with the reason.
	Skips []TagSkip
	// Already lists tags that already resolve to Digest (no PUT).
	Already []string
	// UnderLock says the plan was made under the promote lock, right before ApplyTags: no other
	// shipgate run moves these tags meanwhile, so ApplyTags writes without reading each tag
	// again first (the read-back after each write stays).
	UnderLock bool

	manifest []byte
}

// Done reports whether nothing needs to move.
func (p TagPlan) Done() bool { return len(p.Moves) == 0 }

// Blocked lists the tags left alone only for lack of AllowUnknownLatest.
func (p TagPlan) Blocked() []TagSkip {
	return slices.DeleteFunc(slices.Clone(p.Skips), func(s TagSkip) bool { return !s.Blocked })
}

// Lines describe the plan, one line per tag.
func (p TagPlan) Lines() []string {
	var out []string
	for _, m := range p.Moves {
		if m.From == (v1.Hash{}) {
			out = append(out, fmt.Sprintf("tag %s → %s (%s): %s", m.Tag, p.Digest, p.Version, m.Reason))
		} else {
			out = append(out, fmt.Sprintf("move %s from %s (%s) to %s (%s): %s", m.Tag, m.From, orUnknown(m.FromVersion), p.Digest, p.Version, m.Reason))
		}
	}
	for _, t := range p.Already {
		out = append(out, fmt.Sprintf("%s already at %s (%s)", t, p.Digest, p.Version))
	}
	for _, s := range p.Skips {
		verb := "skip"
		if s.Blocked {
			verb = "blocked"
		}
		out = append(out, fmt.Sprintf("%s %s: %s", verb, s.Tag, s.Reason))
	}
	return out
}

// String is Lines joined by newlines.
func (p TagPlan) String() string { return strings.Join(p.Lines(), "\n") }

func orUnknown(v string) string {
	if v == "" {
		return "unknown version"
	}
	return v
}

// PlanTags decides, read-only, which of latest (and with o.Floating X.Y and X) move to the index
// digest of version v. The digest is the one the promote gates checked; it is read once, by
// digest, and its bytes are what ApplyTags writes. Rules: a pre-release moves nothing; latest
// moves only forward (a hotfix of an older line is skipped, not an error); X.Y and X move only
// when v is the highest of that line; a tag whose content has no version annotation is blocked
// unless o.AllowUnknownLatest.
func (c *Client) PlanTags(ctx context.Context, repository string, v version.Version, digest v1.Hash, o TagOptions) (TagPlan, error) {
	repo, err := c.repository(repository)
	if err != nil {
		return TagPlan{}, err
	}
	if v.IsZero() {
		return TagPlan{}, fault.BadInputf("plan tags in %s: no version given: pass X.Y.Z", repo)
	}
	if digest == (v1.Hash{}) {
		return TagPlan{}, fault.BadInputf("plan tags for %s:%s: no digest given: pass the index digest the gates verified", repo, v)
	}
	s, err := c.session(ctx)
	if err != nil {
		return TagPlan{}, err
	}
	plan, err := c.targetPlan(ctx, s, repo, v, digest)
	if err != nil {
		return TagPlan{}, err
	}
	if v.IsPrerelease() {
		plan.Skips = append(plan.Skips, TagSkip{Tag: LatestTag, Reason: fmt.Sprintf("%s is a pre-release: latest and floating tags never move to a pre-release", v)})
		return plan, nil
	}
	err = c.eachMoving(ctx, s, repo, v, o.Floating, func(tag string, cur currentTag) {
		switch {
		case !cur.exists:
			plan.Moves = append(plan.Moves, TagMove{Tag: tag, Reason: firstReason(tag)})
		case cur.digest == digest:
			plan.Already = append(plan.Already, tag)
		case cur.version.IsZero() || (tag != LatestTag && !cur.version.InLine(tag)):
			unknown := cur.unknownReason(tag)
			if o.AllowUnknownLatest {
				plan.Moves = append(plan.Moves, TagMove{Tag: tag, From: cur.digest, FromVersion: cur.raw, Reason: unknown + "; overwriting as allowed"})
			} else {
				plan.Skips = append(plan.Skips, TagSkip{Tag: tag, Current: cur.digest, CurrentVersion: cur.raw, Blocked: true, Reason: unknown + ": overwriting it needs the allowance for unknown tags (shipgate: --allow-unknown-latest)"})
			}
		case v.Less(cur.version):
			why := "a hotfix of an older line leaves latest alone; only rollback moves latest backwards"
			if tag != LatestTag {
				why = fmt.Sprintf("%s only follows the highest %s release", tag, tag)
			}
			plan.Skips = append(plan.Skips, TagSkip{Tag: tag, Current: cur.digest, CurrentVersion: cur.raw, Reason: fmt.Sprintf("holds %s (%s), newer than %s: %s", cur.version, cur.digest, v, why)})
		case cur.version.Equal(v):
			plan.Moves = append(plan.Moves, TagMove{Tag: tag, From: cur.digest, FromVersion: cur.raw, Reason: "same version, other digest: the verified digest wins"})
		default:
			plan.Moves = append(plan.Moves, TagMove{Tag: tag, From: cur.digest, FromVersion: cur.raw, Reason: fmt.Sprintf("%s is newer than %s", v, cur.version)})
		}
	})
	return plan, err
}

// eachMoving reads what latest (and with floating the X.Y and X of v) holds, and hands each to
// decide: the one reading of the moving tags that promote and rollback plan from.
func (c *Client) eachMoving(ctx context.Context, s *session, repo name.Repository, v version.Version, floating bool, decide func(tag string, cur currentTag)) error {
	tags := []string{LatestTag}
	if floating {
		tags = append(tags, v.LineTags()...)
	}
	for _, tag := range tags {
		cur, err := c.current(ctx, s, repo, tag)
		if err != nil {
			return err
		}
		decide(tag, cur)
	}
	return nil
}

func firstReason(tag string) string {
	if tag == LatestTag {
		return "latest does not exist yet"
	}
	return tag + " does not exist yet"
}

// PlanRollback plans moving latest (and with o.Floating the X.Y and X tags of to) backwards to
// the index of an earlier version, after checking, read-only, that to's index exists and is
// complete for platforms. A tag with unknown content is blocked unless o.AllowUnknownLatest.
func (c *Client) PlanRollback(ctx context.Context, repository string, to version.Version, platforms []version.Platform, o TagOptions) (TagPlan, error) {
	repo, err := c.repository(repository)
	if err != nil {
		return TagPlan{}, err
	}
	if to.IsZero() {
		return TagPlan{}, fault.BadInputf("roll back in %s: no version given: pass the version to roll back to", repo)
	}
	if to.IsPrerelease() {
		return TagPlan{}, fault.BadInputf("roll back %s to %s: it is a pre-release; latest never points at a pre-release: pick a release", repo, to)
	}
	check, err := c.CheckIndex(ctx, repository, to, platforms)
	if err != nil {
		return TagPlan{}, err
	}
	if !check.OK() {
		return TagPlan{}, fault.Refusedf("cannot roll back to %s: %w", to, check.Err())
	}
	s, err := c.session(ctx)
	if err != nil {
		return TagPlan{}, err
	}
	plan, err := c.targetPlan(ctx, s, repo, to, check.Digest)
	if err != nil {
		return TagPlan{}, err
	}
	plan.Rollback = true
	err = c.eachMoving(ctx, s, repo, to, o.Floating, func(tag string, cur currentTag) {
		switch {
		case !cur.exists:
			plan.Moves = append(plan.Moves, TagMove{Tag: tag, Reason: "rollback: " + firstReason(tag)})
		case cur.digest == check.Digest:
			plan.Already = append(plan.Already, tag)
		case cur.version.IsZero():
			unknown := cur.unknownReason(tag)
			if o.AllowUnknownLatest {
				plan.Moves = append(plan.Moves, TagMove{Tag: tag, From: cur.digest, Reason: "rollback: " + unknown + "; overwriting as allowed"})
			} else {
				plan.Skips = append(plan.Skips, TagSkip{Tag: tag, Current: cur.digest, Blocked: true, Reason: unknown + ": overwriting it needs the allowance for unknown tags (shipgate: --allow-unknown-latest)"})
			}
		default:
			plan.Moves = append(plan.Moves, TagMove{Tag: tag, From: cur.digest, FromVersion: cur.raw, Reason: fmt.Sprintf("rollback from %s to %s", cur.version, to)})
		}
	})
	return plan, err
}

// ApplyTags carries out a plan: for each move it checks the tag still holds what the plan saw
// (another promote may have moved it; skipped for a plan made UnderLock), PUTs the index's exact manifest bytes under the tag unless
// it is already there, and reads the tag back to assert the digest. Nothing is re-resolved.
func (c *Client) ApplyTags(ctx context.Context, plan TagPlan) error {
	if plan.manifest == nil {
		if plan.Done() {
			return nil
		}
		// Plans come from planning the tags against the registry: no flag can get here.
		return fmt.Errorf("internal error: the plan to move tags of %s holds no index manifest, so no tag was moved; re-run the command to plan again; this is a bug in shipgate, please report it", plan.Repository)
	}
	if h, _, err := v1.SHA256(bytes.NewReader(plan.manifest)); err != nil || h != plan.Digest {
		return fmt.Errorf("internal error: the index manifest in the plan to move tags of %s does not hash to %s, the digest the plan names, so no tag was moved; re-run the command to plan again; this is a bug in shipgate, please report it", plan.Repository, plan.Digest)
	}
	repo, err := c.repository(plan.Repository)
	if err != nil {
		return err
	}
	s, err := c.session(ctx)
	if err != nil {
		return err
	}
	for _, m := range plan.Moves {
		if !plan.UnderLock {
			ts, err := c.tagState(ctx, s, repo, m.Tag, plan.Digest)
			if err != nil {
				return err
			}
			if ts.Done() {
				c.o.logger.Info("registry: tag already in place", "tag", m.Tag, "digest", plan.Digest.String())
				continue
			}
			if ts.Current != m.From {
				return fault.Refusedf("%s:%s moved since the plan (planned from %s, now %s): another promote or rollback ran; re-run to plan again",
					repo, m.Tag, hashOrNone(m.From), hashOrNone(ts.Current))
			}
		}
		if err := c.putTag(ctx, s, repo, m.Tag, rawManifest{raw: plan.manifest, mediaType: plan.MediaType}, true); err != nil {
			return err
		}
		if err := c.expectTag(ctx, s, repo, m.Tag, plan.Digest); err != nil {
			return err
		}
	}
	return nil
}

func hashOrNone(h v1.Hash) string {
	if h == (v1.Hash{}) {
		return "nothing"
	}
	return h.String()
}

// targetPlan reads the target index by digest (its bytes are what will be written) and checks
// that it is an index of version v.
func (c *Client) targetPlan(ctx context.Context, s *session, repo name.Repository, v version.Version, digest v1.Hash) (TagPlan, error) {
	ref := repo.Digest(digest.String())
	desc, err := c.get(ctx, s, ref)
	if err != nil {
		return TagPlan{}, err
	}
	if desc == nil {
		return TagPlan{}, fault.Refusedf("index %s does not exist: pass the digest publish returned for %s; nothing was changed", ref, v)
	}
	if !desc.MediaType.IsIndex() {
		return TagPlan{}, fault.Refusedf("%s is a single manifest (%s), not a release index: latest only ever points at a multi-platform index; nothing was changed", ref, desc.MediaType)
	}
	if got, _ := indexVersion(desc.Manifest); got != "" {
		if gv, err := version.Parse(got); err != nil || !gv.Equal(v) {
			return TagPlan{}, fault.Refusedf("index %s is annotated as version %q, not %s: pass the digest of %s's index; nothing was changed", ref, got, v, v)
		}
	}
	return TagPlan{Repository: repo.Name(), Version: v, Digest: digest, MediaType: desc.MediaType, manifest: desc.Manifest}, nil
}

// currentTag is what a moving tag holds now.
type currentTag struct {
	exists    bool
	digest    v1.Hash
	mediaType types.MediaType
	raw       string          // version annotation as written
	version   version.Version // zero when absent or unparseable
}

func (t currentTag) unknownReason(tag string) string {
	switch {
	case !t.mediaType.IsIndex():
		return fmt.Sprintf("%s holds %s, a single manifest (%s) with no release version", tag, t.digest, t.mediaType)
	case t.raw == "":
		return fmt.Sprintf("%s holds %s with no version annotation (%s)", tag, t.digest, AnnotationVersion)
	case t.version.IsZero():
		return fmt.Sprintf("%s holds %s annotated with version %q, which is not X.Y.Z", tag, t.digest, t.raw)
	default:
		return fmt.Sprintf("%s holds %s annotated as %s, which is not of the %s line", tag, t.digest, t.version, tag)
	}
}

// current reads a moving tag and its version annotation.
func (c *Client) current(ctx context.Context, s *session, repo name.Repository, tag string) (currentTag, error) {
	desc, err := c.getTag(ctx, s, repo, tag)
	if desc == nil || err != nil {
		return currentTag{}, err
	}
	cur := currentTag{exists: true, digest: desc.Digest, mediaType: desc.MediaType}
	if desc.MediaType.IsIndex() {
		cur.raw, _ = indexVersion(desc.Manifest)
		if cur.raw != "" {
			if v, err := version.Parse(cur.raw); err == nil {
				cur.version = v
			}
		}
	}
	return cur, nil
}
