package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/shipgate/shipgate/pipeline/fault"
)

// ErrDeleteUnsupported is in the chain of the error of ApplyDelete when the registry refuses
// manifest deletes altogether (405, or the UNSUPPORTED error code): ghcr.io, or a distribution
// registry without storage.delete.enabled.
var ErrDeleteUnsupported = errors.New("the registry does not allow deleting manifests")

// Manifest kinds in a DeletePlan.
const (
	KindIndex    = "index"          // what a candidate tag holds: an index (or a single image)
	KindImage    = "platform image" // a child of a deleted index, or what a per-arch tag holds
	KindReferrer = "referrer"       // a signature or attestation of a deleted manifest
	KindFallback = "referrers tag"  // the sha256-<hex> index listing a deleted manifest's referrers
)

// DeleteManifest is a manifest the plan deletes, by digest.
type DeleteManifest struct {
	// Digest is the manifest's digest.
	Digest v1.Hash
	// MediaType is its media type, when known.
	MediaType types.MediaType
	// Kind is KindIndex, KindImage, KindReferrer or KindFallback.
	Kind string
	// Tags are the tags (of those to delete) that hold it; for KindFallback its sha256-<hex> tag.
	Tags []string
	// Subject is, for a referrer or a referrers tag, the manifest it belongs to.
	Subject v1.Hash
}

// KeptManifest is a manifest held by a tag to delete that the plan keeps, and why.
type KeptManifest struct {
	// Digest is the manifest kept.
	Digest v1.Hash
	// Tags are the tags to delete that hold it.
	Tags []string
	// KeptBy is the kept tag that refers to it (directly, or as a child of the index it holds).
	KeptBy string
	// Reason says why it stays.
	Reason string
}

// DeletePlan is what ApplyDelete does to a repository: delete the manifests (referrers first,
// then referrer tags, indexes, platform images), then each tag in Tags that still exists. It is
// computed read-only by PlanDelete; it holds no bytes.
type DeletePlan struct {
	// Repository is the canonical repository name.
	Repository string
	// Tags are the tags to delete, with the digest each held when planned.
	Tags []TagState
	// Missing are tags asked for that do not exist (already deleted: nothing to do).
	Missing []string
	// Delete are the manifests deleted by digest, in the order ApplyDelete deletes them.
	Delete []DeleteManifest
	// Kept are manifests held by tags to delete that a kept tag still refers to; their tags are
	// deleted by name only (where the registry can), the manifests stay.
	Kept []KeptManifest
	// KeptTags are the tags given to keep that exist, and what they hold.
	KeptTags []TagState
}

// Done reports whether nothing is left to delete.
func (p DeletePlan) Done() bool { return len(p.Tags) == 0 && len(p.Delete) == 0 }

// Digests lists the digests the plan deletes (for a registry without manifest deletes, such as
// ghcr.io, these are the package versions to delete: a version's name is its digest).
func (p DeletePlan) Digests() []v1.Hash {
	out := make([]v1.Hash, 0, len(p.Delete))
	for _, m := range p.Delete {
		out = append(out, m.Digest)
	}
	return out
}

// Lines describe the plan, one line per manifest and tag.
func (p DeletePlan) Lines() []string {
	var out []string
	for _, m := range p.Delete {
		what := m.Kind
		if m.Subject != (v1.Hash{}) {
			what += " of " + m.Subject.String()
		}
		tags := ""
		if len(m.Tags) > 0 {
			tags = " (" + strings.Join(m.Tags, ", ") + ")"
		}
		out = append(out, fmt.Sprintf("delete %s %s%s", what, m.Digest, tags))
	}
	for _, k := range p.Kept {
		out = append(out, fmt.Sprintf("keep %s (%s): %s", k.Digest, strings.Join(k.Tags, ", "), k.Reason))
	}
	for _, t := range p.Tags {
		out = append(out, fmt.Sprintf("untag %s (held %s)", t.Tag, t.Current))
	}
	for _, t := range p.Missing {
		out = append(out, fmt.Sprintf("%s already gone", t))
	}
	return out
}

// String is Lines joined by newlines.
func (p DeletePlan) String() string { return strings.Join(p.Lines(), "\n") }

// PlanDelete decides, read-only, what deleting tags (candidate tags, for example those of
// CandidateTags) from repository involves: the manifests they hold (an index's children
// included), those manifests' referrers (signatures and attestations, through the referrers API
// or the sha256-<hex> tag, which goes too), and which of them a kept tag still refers to. Every
// tag, kept ones included, is read with a GET (the digest of the bytes returned). A manifest that
// a kept tag holds, or that is a child of an index a kept tag holds, is kept with the reason, and
// so are its referrers. Tags that are neither deleted nor kept are not looked at: name every tag
// whose content must survive (X.Y.Z, latest, X.Y, X, other versions) in keep.
func (c *Client) PlanDelete(ctx context.Context, repository string, tags, keep []string) (DeletePlan, error) {
	repo, err := c.repository(repository)
	if err != nil {
		return DeletePlan{}, err
	}
	if err := checkDeleteArgs(tags, keep); err != nil {
		return DeletePlan{}, err
	}
	s, err := c.session(ctx)
	if err != nil {
		return DeletePlan{}, err
	}
	plan := DeletePlan{Repository: repo.Name()}
	// What the kept tags hold, children of kept indexes included.
	keptBy, keptTags, err := c.reachable(ctx, s, repo, keep)
	if err != nil {
		return DeletePlan{}, err
	}
	plan.KeptTags = keptTags
	h, err := c.heldBy(ctx, s, repo, tags, &plan)
	if err != nil {
		return DeletePlan{}, err
	}
	subjects, seen := h.split(&plan, keptBy)
	referrers, fallbacks, err := c.referrersToDelete(ctx, s, repo, subjects, seen, keptBy, &plan)
	if err != nil {
		return DeletePlan{}, err
	}
	// Referrers first: a crash half-way leaves subjects with fewer signatures, never signatures
	// whose subject is gone. Indexes before their children.
	var indexes, images []DeleteManifest
	for _, m := range subjects {
		if m.Kind == KindIndex {
			indexes = append(indexes, m)
		} else {
			images = append(images, m)
		}
	}
	plan.Delete = append(append(append(append(plan.Delete, referrers...), fallbacks...), indexes...), images...)
	return plan, nil
}

// checkDeleteArgs refuses tags that are not tags, and a tag both to delete and to keep.
func checkDeleteArgs(tags, keep []string) error {
	keepSet := map[string]bool{}
	for _, t := range keep {
		if err := validateTag(t); err != nil {
			return fault.BadInputf("tag to keep: %w", err)
		}
		keepSet[t] = true
	}
	for _, t := range tags {
		if err := validateTag(t); err != nil {
			return fault.BadInputf("tag to delete: %w", err)
		}
		if keepSet[t] {
			return fault.BadInputf("tag %s is both to delete and to keep: name it once", t)
		}
	}
	return nil
}

// held is what the tags to delete hold, in the order first seen.
type held struct {
	byDigest map[v1.Hash]*heldManifest
	order    []v1.Hash
}

type heldManifest struct {
	desc *remote.Descriptor
	kind string
	tags []string
}

func (h *held) add(d v1.Hash, kind, tag string) *heldManifest {
	m := h.byDigest[d]
	if m == nil {
		m = &heldManifest{kind: kind}
		h.byDigest[d] = m
		h.order = append(h.order, d)
	}
	if tag != "" {
		m.tags = append(m.tags, tag)
	}
	return m
}

// heldBy reads every tag to delete (GET) and collects what they hold, an index's children too;
// tags that do not exist go to plan.Missing.
func (c *Client) heldBy(ctx context.Context, s *session, repo name.Repository, tags []string, plan *DeletePlan) (*held, error) {
	h := &held{byDigest: map[v1.Hash]*heldManifest{}}
	for _, t := range sortedUnique(tags) {
		desc, err := c.getTag(ctx, s, repo, t)
		if err != nil {
			return nil, err
		}
		if desc == nil {
			plan.Missing = append(plan.Missing, t)
			continue
		}
		plan.Tags = append(plan.Tags, TagState{Tag: t, Current: desc.Digest, CurrentMediaType: desc.MediaType})
		kind := KindImage
		if desc.MediaType.IsIndex() {
			kind = KindIndex
		}
		h.add(desc.Digest, kind, t).desc = desc
		for _, child := range childrenOf(desc) {
			h.add(child, KindImage, "")
		}
	}
	return h, nil
}

// split keeps (in plan.Kept, with the reason) what a kept tag refers to and returns the rest, to
// delete, and the set of digests deleted so far.
func (h *held) split(plan *DeletePlan, keptBy map[v1.Hash]string) ([]DeleteManifest, map[v1.Hash]bool) {
	var subjects []DeleteManifest
	seen := map[v1.Hash]bool{}
	for _, d := range h.order {
		m := h.byDigest[d]
		if by, ok := keptBy[d]; ok {
			plan.Kept = append(plan.Kept, KeptManifest{Digest: d, Tags: m.tags, KeptBy: by,
				Reason: fmt.Sprintf("still referred to by the kept tag %s; only the tags are removed (where the registry can delete a tag alone), the manifest and its signatures stay", by)})
			continue
		}
		dm := DeleteManifest{Digest: d, Kind: m.kind, Tags: m.tags}
		if m.desc != nil {
			dm.MediaType = m.desc.MediaType
		}
		subjects = append(subjects, dm)
		seen[d] = true
	}
	return subjects, seen
}

// referrersToDelete finds the referrers (and sha256-<hex> fallback indexes) of the subjects to
// delete; a referrer a kept tag holds is kept.
func (c *Client) referrersToDelete(ctx context.Context, s *session, repo name.Repository, subjects []DeleteManifest, seen map[v1.Hash]bool, keptBy map[v1.Hash]string, plan *DeletePlan) (referrers, fallbacks []DeleteManifest, err error) {
	for _, m := range subjects {
		refs, fb, err := c.referrersOf(ctx, s, repo, m.Digest)
		if err != nil {
			return nil, nil, err
		}
		for _, r := range refs {
			if seen[r.Digest] {
				continue
			}
			if by, ok := keptBy[r.Digest]; ok {
				plan.Kept = append(plan.Kept, KeptManifest{Digest: r.Digest, KeptBy: by, Reason: fmt.Sprintf("a referrer of %s, but also held by the kept tag %s", m.Digest, by)})
				continue
			}
			seen[r.Digest] = true
			referrers = append(referrers, DeleteManifest{Digest: r.Digest, MediaType: r.MediaType, Kind: KindReferrer, Subject: m.Digest})
		}
		if fb != nil && !seen[fb.Digest] {
			seen[fb.Digest] = true
			fallbacks = append(fallbacks, DeleteManifest{Digest: fb.Digest, MediaType: fb.MediaType, Kind: KindFallback, Tags: []string{fallbackTag(m.Digest)}, Subject: m.Digest})
		}
	}
	return referrers, fallbacks, nil
}

// Reachable reads (GET) every tag given and returns the manifests they hold, and the children of
// the indexes among them, each with the tag that refers to it. Given every tag of a repository,
// sha256-<hex> referrers tags included, it is what must survive a cleanup of untagged manifests:
// on ghcr.io, where platform manifests of a multi-platform image and signatures are untagged
// package versions too, an untagged version that is not reachable is an orphan.
func (c *Client) Reachable(ctx context.Context, repository string, tags []string) (map[v1.Hash]string, error) {
	repo, err := c.repository(repository)
	if err != nil {
		return nil, err
	}
	for _, t := range tags {
		if err := validateTag(t); err != nil {
			return nil, err
		}
	}
	s, err := c.session(ctx)
	if err != nil {
		return nil, err
	}
	by, _, err := c.reachable(ctx, s, repo, tags)
	return by, err
}

func (c *Client) reachable(ctx context.Context, s *session, repo name.Repository, tags []string) (map[v1.Hash]string, []TagState, error) {
	by := map[v1.Hash]string{}
	var states []TagState
	for _, t := range sortedUnique(tags) {
		desc, err := c.getTag(ctx, s, repo, t)
		if err != nil {
			return nil, nil, err
		}
		if desc == nil {
			continue
		}
		states = append(states, TagState{Tag: t, Current: desc.Digest, CurrentMediaType: desc.MediaType})
		if _, ok := by[desc.Digest]; !ok {
			by[desc.Digest] = t
		}
		for _, child := range childrenOf(desc) {
			if _, ok := by[child]; !ok {
				by[child] = t + " (as a child of its index)"
			}
		}
	}
	return by, states, nil
}

// DeleteResult is what ApplyDelete did.
type DeleteResult struct {
	// Deleted are the manifests deleted by digest (or already gone).
	Deleted []v1.Hash
	// Untagged are the tags removed by name (their manifest was kept or already gone).
	Untagged []string
	// Kept are tags that stay because the registry cannot delete a tag alone and their manifest
	// is kept, with the reason.
	Kept []string
	// Failed says what could not be deleted and why; a re-run finishes it.
	Failed []string
}

// Lines describe the result.
func (r DeleteResult) Lines() []string {
	var out []string
	for _, d := range r.Deleted {
		out = append(out, "deleted "+d.String())
	}
	for _, t := range r.Untagged {
		out = append(out, "untagged "+t)
	}
	out = append(out, r.Kept...)
	for _, f := range r.Failed {
		out = append(out, "FAILED "+f)
	}
	return out
}

// ApplyDelete carries out a plan through the OCI distribution API: DELETE
// /v2/<name>/manifests/<digest> for every manifest of plan.Delete, in order, then, for every tag
// of plan.Tags that still exists (go-containerregistry's registry and distribution v3 keep a tag
// whose manifest was deleted; a kept manifest's candidate tag), DELETE /v2/<name>/manifests/<tag>.
// Something already gone counts as deleted, so a re-run converges. A registry that refuses deletes
// altogether (405 or UNSUPPORTED: ghcr.io, distribution without storage.delete.enabled) stops it
// with a Refused error wrapping ErrDeleteUnsupported that says what to do; other failures are
// collected in the result and returned together, and the rest is still attempted.
func (c *Client) ApplyDelete(ctx context.Context, plan DeletePlan) (DeleteResult, error) {
	var res DeleteResult
	repo, err := c.repository(plan.Repository)
	if err != nil {
		return res, err
	}
	s, err := c.session(ctx)
	if err != nil {
		return res, err
	}
	var errs []error
	failed := map[v1.Hash]bool{}
	for _, m := range plan.Delete {
		ref := repo.Digest(m.Digest.String())
		err := c.deleteRef(ctx, s, ref)
		switch {
		case err == nil:
			res.Deleted = append(res.Deleted, m.Digest)
			c.o.logger.Info("registry: deleted", "ref", ref.String(), "kind", m.Kind)
		case errors.Is(err, ErrDeleteUnsupported):
			return res, err
		default:
			failed[m.Digest] = true
			res.Failed = append(res.Failed, fmt.Sprintf("%s %s: %v", m.Kind, ref, err))
			errs = append(errs, err)
		}
	}
	kept := map[v1.Hash]string{}
	for _, k := range plan.Kept {
		kept[k.Digest] = k.KeptBy
	}
	for _, t := range plan.Tags {
		if failed[t.Current] {
			continue // the tag is how a re-run finds the manifest that could not be deleted
		}
		ref, err := tagRef(repo, t.Tag)
		if err != nil {
			return res, err
		}
		desc, err := c.getTag(ctx, s, repo, t.Tag)
		if err != nil {
			res.Failed = append(res.Failed, fmt.Sprintf("tag %s: %v", ref, err))
			errs = append(errs, err)
			continue
		}
		if desc == nil {
			continue // went with its manifest
		}
		if desc.Digest != t.Current {
			res.Failed = append(res.Failed, fmt.Sprintf("tag %s moved since the plan (planned %s, now %s): left alone; re-run to plan again", ref, t.Current, desc.Digest))
			errs = append(errs, fault.Refusedf("%s moved since the plan (planned %s, now %s): another writer changed it; re-run cleanup to plan again", ref, t.Current, desc.Digest))
			continue
		}
		err = c.deleteRef(ctx, s, ref)
		switch {
		case err == nil:
			res.Untagged = append(res.Untagged, t.Tag)
		case errors.Is(err, ErrDeleteUnsupported) && kept[t.Current] != "":
			res.Kept = append(res.Kept, fmt.Sprintf("kept tag %s: its manifest %s is still referred to by %s, and this registry deletes tags only with their manifest", t.Tag, t.Current, kept[t.Current]))
		case errors.Is(err, ErrDeleteUnsupported):
			return res, err
		default:
			res.Failed = append(res.Failed, fmt.Sprintf("tag %s: %v", ref, err))
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return res, fmt.Errorf("cleanup of %s: %d deletion(s) failed, re-run to finish: %w", repo, len(errs), errors.Join(errs...))
	}
	return res, nil
}

// deleteRef DELETEs a manifest by digest or tag; gone already is success.
func (c *Client) deleteRef(ctx context.Context, s *session, ref name.Reference) error {
	err := s.push.Delete(ctx, ref)
	if err == nil || isNotFound(err) {
		return nil
	}
	return c.deleteFailed(ref, err)
}

// deleteFailed classifies a failed DELETE: a registry refusing deletes says what to do.
func (c *Client) deleteFailed(ref name.Reference, err error) error {
	if deleteUnsupported(err) {
		host := ref.Context().RegistryStr()
		fix := "enable deletes on the registry (distribution: storage.delete.enabled: true, or REGISTRY_STORAGE_DELETE_ENABLED=true) and re-run cleanup"
		if host == "ghcr.io" {
			fix = "ghcr.io has no manifest DELETE: delete through GitHub's packages API (a package version's name is the digest; the token needs delete:packages and admin on the package)"
		}
		return fault.Refusedf("%s refuses to delete %s (%w): %s", host, ref, ErrDeleteUnsupported, fix)
	}
	if _, ok := ref.(name.Tag); ok && tagDeleteUnsupported(err) {
		return fault.Refusedf("%s cannot delete tag %s alone (%w)", ref.Context().RegistryStr(), ref, ErrDeleteUnsupported)
	}
	return c.fail("deleting", ref.String(), ref.Context().RegistryStr(), err)
}

// deleteUnsupported reports a registry that refuses DELETE itself.
func deleteUnsupported(err error) bool {
	return registryAnswered(err, http.StatusMethodNotAllowed, transport.UnsupportedErrorCode)
}

// tagDeleteUnsupported reports a registry that takes DELETE by digest only (distribution 2.x
// answers a tag with 400 DIGEST_INVALID).
func tagDeleteUnsupported(err error) bool {
	return registryAnswered(err, http.StatusBadRequest, transport.DigestInvalidErrorCode)
}

// childrenOf lists the manifests an index holds (nothing for an image).
func childrenOf(desc *remote.Descriptor) []v1.Hash {
	if !desc.MediaType.IsIndex() {
		return nil
	}
	im, err := v1.ParseIndexManifest(strings.NewReader(string(desc.Manifest)))
	if err != nil {
		return nil
	}
	out := make([]v1.Hash, 0, len(im.Manifests))
	for _, m := range im.Manifests {
		out = append(out, m.Digest)
	}
	return out
}

// fallbackTag is the referrers tag schema's tag for subject: sha256-<hex>.
func fallbackTag(subject v1.Hash) string { return subject.Algorithm + "-" + subject.Hex }

// referrersOf lists subject's referrers: those the referrers API lists, or (on a registry
// without it) those in the sha256-<hex> index; and that index itself when it exists, on either
// kind of registry (another tool may have written one). On a registry without the API the tag is
// read once, by the listing.
func (c *Client) referrersOf(ctx context.Context, s *session, repo name.Repository, subject v1.Hash) ([]v1.Descriptor, *remote.Descriptor, error) {
	l, err := c.listReferrers(ctx, s, repo, subject, "")
	if err != nil || !l.api {
		return l.manifests, l.fallback, err
	}
	out := l.manifests
	fb, err := c.getTag(ctx, s, repo, fallbackTag(subject))
	if err != nil {
		return nil, nil, err
	}
	if fb != nil && fb.MediaType.IsIndex() {
		if fim, err := v1.ParseIndexManifest(strings.NewReader(string(fb.Manifest))); err == nil {
			have := map[v1.Hash]bool{}
			for _, d := range out {
				have[d.Digest] = true
			}
			out = addReferrers(out, have, fim.Manifests, "")
		}
	}
	return out, fb, nil
}

// sortedUnique is a sorted copy of in without duplicates; in is left as it was.
func sortedUnique(in []string) []string {
	out := slices.Clone(in)
	slices.Sort(out)
	return slices.Compact(out)
}
