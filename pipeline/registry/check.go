package registry

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/version"
)

// IndexEntry is one expected platform of a version's index.
type IndexEntry struct {
	// Platform is the expected platform.
	Platform version.Platform
	// Digest is the index's entry for the platform; zero when missing.
	Digest v1.Hash
	// ArchTag is the per-arch tag X.Y.Z-<arch>.
	ArchTag string
	// ArchTagDigest is what ArchTag resolves to; zero when the tag does not exist.
	ArchTagDigest v1.Hash
}

// IndexCheck is what CheckIndex found: the digest X.Y.Z resolves to and every problem with it.
type IndexCheck struct {
	// Repository is the canonical repository name.
	Repository string
	// Version is the version checked.
	Version version.Version
	// Digest is what X.Y.Z resolves to; zero when the tag does not exist.
	Digest v1.Hash
	// MediaType is the media type of Digest.
	MediaType types.MediaType
	// Annotations are the index's annotations.
	Annotations map[string]string
	// Entries are the expected platforms, in the order asked.
	Entries []IndexEntry
	// Problems say exactly what is missing or does not agree; empty means the index is complete.
	Problems []string
}

// OK reports whether X.Y.Z is a complete index whose per-arch tags agree with it.
func (c IndexCheck) OK() bool { return len(c.Problems) == 0 }

// Err is nil when OK, and otherwise one error listing every problem and the fix.
func (c IndexCheck) Err() error {
	if c.OK() {
		return nil
	}
	return fault.Refusedf("%s:%s is not a complete release index (%d problem(s)); re-run publish to repair it:\n  - %s",
		c.Repository, c.Version.ImageTag(), len(c.Problems), strings.Join(c.Problems, "\n  - "))
}

// CheckIndex checks, read-only, that X.Y.Z resolves to an OCI image index (or Docker manifest
// list) holding one image for every expected platform, that each X.Y.Z-<arch> tag resolves to the
// index's entry for its platform, and that the index's version annotation, when present, is v.
// Problems are reported in the result; the error is only for a registry that cannot be read. Its
// cost does not depend on layer sizes: it reads one index and one manifest per platform (a GET:
// what a tag holds is the digest of the bytes it returns).
func (c *Client) CheckIndex(ctx context.Context, repository string, v version.Version, platforms []version.Platform) (IndexCheck, error) {
	repo, err := c.repository(repository)
	if err != nil {
		return IndexCheck{}, err
	}
	if v.IsZero() {
		return IndexCheck{}, fault.BadInputf("check index in %s: no version given: pass X.Y.Z", repo)
	}
	if len(platforms) == 0 {
		return IndexCheck{}, fault.BadInputf("check index %s:%s: no platforms given: pass the platforms the release must hold", repo, v)
	}
	s, err := c.session(ctx)
	if err != nil {
		return IndexCheck{}, err
	}
	out := IndexCheck{Repository: repo.Name(), Version: v}
	for _, p := range platforms {
		out.Entries = append(out.Entries, IndexEntry{Platform: p, ArchTag: v.ArchTag(p)})
	}
	ref, err := tagRef(repo, v.ImageTag())
	if err != nil {
		return out, err
	}
	desc, err := c.get(ctx, s, ref)
	if err != nil {
		return out, err
	}
	if desc == nil {
		out.Problems = append(out.Problems, fmt.Sprintf("tag %s does not exist: publish %s first", v.ImageTag(), v))
		return out, nil
	}
	out.Digest, out.MediaType = desc.Digest, desc.MediaType
	if !desc.MediaType.IsIndex() {
		out.Problems = append(out.Problems, fmt.Sprintf("tag %s resolves to a single manifest %s (%s), not an index of %d platform(s): publish again with --rebuild (unless it was promoted)", v.ImageTag(), desc.Digest, desc.MediaType, len(platforms)))
		return out, nil
	}
	idx, err := desc.ImageIndex()
	if err != nil {
		return out, c.fail("reading", ref.String(), ref.RegistryStr(), err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return out, fault.Unreadablef("index %s at %s could not be read: %w", desc.Digest, ref, err)
	}
	out.Annotations = im.Annotations
	if got, ok := im.Annotations[AnnotationVersion]; ok {
		if gv, err := version.Parse(got); err != nil || !gv.Equal(v) {
			out.Problems = append(out.Problems, fmt.Sprintf("index %s is annotated as version %q, not %s", desc.Digest, got, v))
		}
	}
	for i := range out.Entries {
		problems, err := c.checkEntry(ctx, s, repo, &out.Entries[i], im, desc.Digest)
		if err != nil {
			return out, err
		}
		out.Problems = append(out.Problems, problems...)
	}
	return out, nil
}

// checkEntry finds an expected platform in the index and checks its per-arch tag.
func (c *Client) checkEntry(ctx context.Context, s *session, repo name.Repository, e *IndexEntry, im *v1.IndexManifest, index v1.Hash) ([]string, error) {
	var problems []string
	var found []v1.Descriptor
	for _, m := range im.Manifests {
		if m.Platform != nil && e.Platform.Equal(version.Platform{OS: m.Platform.OS, Architecture: m.Platform.Architecture, Variant: m.Platform.Variant}) {
			found = append(found, m)
		}
	}
	switch {
	case len(found) == 0:
		problems = append(problems, fmt.Sprintf("platform %s is missing from index %s (it holds %s)", e.Platform, index, holds(im)))
	case len(found) > 1:
		problems = append(problems, fmt.Sprintf("platform %s appears %d times in index %s", e.Platform, len(found), index))
	case !found[0].MediaType.IsImage():
		problems = append(problems, fmt.Sprintf("platform %s entry %s of index %s is %s, not an image manifest", e.Platform, found[0].Digest, index, found[0].MediaType))
	default:
		e.Digest = found[0].Digest
	}
	ts, err := c.tagState(ctx, s, repo, e.ArchTag, e.Digest)
	if err != nil {
		return nil, err
	}
	e.ArchTagDigest = ts.Current
	switch {
	case !ts.Exists():
		problems = append(problems, fmt.Sprintf("tag %s does not exist", e.ArchTag))
	case e.Digest != (v1.Hash{}) && ts.Current != e.Digest:
		problems = append(problems, fmt.Sprintf("tag %s resolves to %s, but the index's %s entry is %s", e.ArchTag, ts.Current, e.Platform, e.Digest))
	}
	return problems, nil
}

// holds lists the platforms of an index for messages.
func holds(im *v1.IndexManifest) string {
	var ps []string
	for _, m := range im.Manifests {
		ps = append(ps, platformString(m.Platform))
	}
	if len(ps) == 0 {
		return "nothing"
	}
	return strings.Join(ps, ", ")
}
