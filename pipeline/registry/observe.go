package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/version"
)

// TagState is what a tag holds compared with what it should hold.
type TagState struct {
	// Tag is the tag name (1.2.3, 1.2.3-arm64).
	Tag string
	// Want is the digest the tag should resolve to.
	Want v1.Hash
	// Current is what the tag resolves to now (the digest of the bytes a GET returned); zero when
	// the tag does not exist.
	Current v1.Hash
	// CurrentMediaType is the media type of Current.
	CurrentMediaType types.MediaType
}

// Exists reports whether the tag exists.
func (t TagState) Exists() bool { return t.Current != v1.Hash{} }

// Done reports whether the tag already resolves to Want.
func (t TagState) Done() bool { return t.Exists() && t.Current == t.Want }

// PlatformState is one platform of a publish as observed.
type PlatformState struct {
	// Platform is the platform built.
	Platform version.Platform
	// Digest is the platform manifest's digest.
	Digest v1.Hash
	// Present reports whether the manifest is already in the repository (by digest).
	Present bool
	// Tag is the per-arch tag X.Y.Z-<arch>.
	Tag TagState
}

// PublishState is what ObservePublish saw: what exists and what Publish would do.
type PublishState struct {
	// Repository is the canonical repository name.
	Repository string
	// Version is the release version.
	Version version.Version
	// Index is the digest of the index Publish writes (the same on every run for the same input).
	Index v1.Hash
	// IndexTag is the tag X.Y.Z.
	IndexTag TagState
	// Platforms are sorted by platform.
	Platforms []PlatformState
	// Conflict is set when X.Y.Z holds different content than Index.
	Conflict string
	// Refusal is set when Publish will refuse (a conflict without Rebuild, or after promotion).
	Refusal string
}

// Done reports whether X.Y.Z and every per-arch tag already hold what Publish would write.
func (s PublishState) Done() bool {
	if !s.IndexTag.Done() {
		return false
	}
	for _, p := range s.Platforms {
		if !p.Tag.Done() || !p.Present {
			return false
		}
	}
	return true
}

// Plan lists, one line each, what Publish would do.
func (s PublishState) Plan() []string {
	if s.Refusal != "" {
		return []string{"refuse: " + s.Refusal}
	}
	if s.Done() {
		return []string{fmt.Sprintf("nothing to do: %s:%s is index %s with every per-arch tag in place", s.Repository, s.IndexTag.Tag, s.Index)}
	}
	var out []string
	for _, p := range s.Platforms {
		if !p.Present {
			out = append(out, fmt.Sprintf("push %s manifest %s (blobs the registry has are skipped)", p.Platform, p.Digest))
		}
	}
	for _, p := range s.Platforms {
		if !p.Tag.Done() {
			out = append(out, tagLine(p.Tag))
		}
	}
	if !s.IndexTag.Done() {
		out = append(out, tagLine(s.IndexTag))
	}
	return out
}

// String is the plan, one line per step.
func (s PublishState) String() string { return strings.Join(s.Plan(), "\n") }

func tagLine(t TagState) string {
	if t.Exists() {
		return fmt.Sprintf("move tag %s from %s to %s", t.Tag, t.Current, t.Want)
	}
	return fmt.Sprintf("tag %s → %s", t.Tag, t.Want)
}

// ObservePublish looks at the registry without changing it: it resolves and checks every source
// (the config's platform must be the one built), computes the index Publish would write, and
// reports which tags and manifests exist. A refusal is reported in the state, not as an error.
func (c *Client) ObservePublish(ctx context.Context, spec IndexSpec) (PublishState, error) {
	p, err := c.observePublish(ctx, spec)
	if err != nil {
		return PublishState{}, err
	}
	return p.state, nil
}

// checkSpec rejects an IndexSpec that cannot be published, before any request.
func checkSpec(repo name.Repository, spec IndexSpec) error {
	if spec.Version.IsZero() {
		return fault.BadInputf("publish %s: no version given: pass the release version X.Y.Z", repo)
	}
	if spec.Created.IsZero() {
		return fault.BadInputf("publish %s:%s: no creation time: pass the finalize commit's time so that a re-run yields the same index digest", repo, spec.Version)
	}
	if len(spec.Sources) == 0 {
		return fault.BadInputf("publish %s:%s: no platform images given: pass one Source per platform", repo, spec.Version)
	}
	for i, a := range spec.Sources {
		for _, b := range spec.Sources[:i] {
			if a.Platform.Equal(b.Platform) {
				return fault.BadInputf("publish %s:%s: platform %s is given twice: pass one Source per platform", repo, spec.Version, a.Platform)
			}
		}
	}
	return nil
}

func (c *Client) observePublish(ctx context.Context, spec IndexSpec) (*publishPlan, error) {
	repo, err := c.repository(spec.Repository)
	if err != nil {
		return nil, err
	}
	if err := checkSpec(repo, spec); err != nil {
		return nil, err
	}
	s, err := c.session(ctx)
	if err != nil {
		return nil, err
	}
	p := &publishPlan{s: s, repo: repo, spec: spec}
	for _, src := range spec.Sources {
		pi, err := c.resolveImage(ctx, s, repo, src)
		if err != nil {
			return nil, err
		}
		p.platforms = append(p.platforms, pi)
	}
	sort.Slice(p.platforms, func(i, j int) bool { return p.platforms[i].platform.String() < p.platforms[j].platform.String() })
	if p.indexRaw, p.index, err = buildIndex(spec, p.platforms); err != nil {
		return nil, fault.Unreadablef("build index %s:%s: %w", repo, spec.Version, err)
	}
	st := PublishState{Repository: repo.Name(), Version: spec.Version, Index: p.index}
	if st.IndexTag, err = c.tagState(ctx, s, repo, spec.Version.ImageTag(), p.index); err != nil {
		return nil, err
	}
	for _, pi := range p.platforms {
		if pi.tag, err = c.tagState(ctx, s, repo, spec.Version.ArchTag(pi.platform), pi.desc.Digest); err != nil {
			return nil, err
		}
		st.Platforms = append(st.Platforms, PlatformState{Platform: pi.platform, Digest: pi.desc.Digest, Present: pi.present, Tag: pi.tag})
	}
	st.Conflict, st.Refusal = conflict(repo, spec, st.IndexTag, p.index)
	p.state = st
	return p, nil
}

// conflict says whether X.Y.Z holds other content than the index, and whether Publish refuses.
func conflict(repo name.Repository, spec IndexSpec, tag TagState, index v1.Hash) (conflict, refusal string) {
	if !tag.Exists() || tag.Done() {
		return "", ""
	}
	what := "an index"
	if !tag.CurrentMediaType.IsIndex() {
		what = fmt.Sprintf("a single manifest (%s), not an index", tag.CurrentMediaType)
	}
	conflict = fmt.Sprintf("%s:%s already holds %s %s, not the index %s built from these platform images", repo, tag.Tag, what, tag.Current, index)
	switch {
	case spec.Promoted:
		refusal = conflict + fmt.Sprintf("; %s was promoted, so it is never replaced: release a new version", spec.Version)
	case !spec.Rebuild:
		refusal = conflict + fmt.Sprintf("; a published version is immutable once signed: release a new version, or, if %s was never promoted, publish again with --rebuild", spec.Version)
	}
	return conflict, refusal
}

// resolveImage reads a source's manifest and config (from the registry for digest sources) and
// checks that the config's platform is the one built.
func (c *Client) resolveImage(ctx context.Context, s *session, repo name.Repository, src Source) (*platformImage, error) {
	bp := src.Platform
	if bp.OS == "" || bp.Architecture == "" {
		return nil, fault.BadInputf("source for %s: the platform needs an OS and an architecture, for example linux/amd64", repo)
	}
	var pi *platformImage
	var err error
	switch {
	case src.Image != nil && src.Digest != "":
		return nil, fault.BadInputf("source for %s: give either a digest or an image, not both", bp)
	case src.Image != nil:
		pi, err = c.resolveInMemory(ctx, s, repo, bp, src.Image)
	case src.Digest != "":
		pi, err = c.resolveDigest(ctx, s, repo, bp, src.Digest)
	default:
		return nil, fault.BadInputf("source for %s: give the manifest digest pushed by the build, or the image", bp)
	}
	if err != nil {
		return nil, err
	}
	cfg, err := pi.img.ConfigFile()
	if err != nil {
		return nil, c.fail("reading", fmt.Sprintf("config of %s image %s", bp, pi.desc.Digest), repo.RegistryStr(), err)
	}
	got := version.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}
	if !got.Equal(bp) {
		return nil, mislabelled(bp, pi.desc.Digest, got)
	}
	pi.desc.Platform = &v1.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant, OSVersion: cfg.OSVersion}
	if len(cfg.OSFeatures) > 0 {
		pi.desc.Platform.OSFeatures = append([]string(nil), cfg.OSFeatures...)
	}
	return pi, nil
}

// resolveInMemory describes an image built here and looks whether the repository has it.
func (c *Client) resolveInMemory(ctx context.Context, s *session, repo name.Repository, bp version.Platform, img v1.Image) (*platformImage, error) {
	mt, err := img.MediaType()
	if err != nil {
		return nil, fault.Unreadablef("image for %s: %w", bp, err)
	}
	if !mt.IsImage() {
		return nil, fault.BadInputf("image for %s has media type %s, not an image manifest: pass the %s image itself", bp, mt, bp)
	}
	d, err := img.Digest()
	if err != nil {
		return nil, fault.Unreadablef("image for %s: %w", bp, err)
	}
	size, err := img.Size()
	if err != nil {
		return nil, fault.Unreadablef("image for %s: %w", bp, err)
	}
	present, err := c.manifestExists(ctx, s, repo.Digest(d.String()))
	if err != nil {
		return nil, err
	}
	return &platformImage{platform: bp, img: img, present: present, desc: v1.Descriptor{MediaType: mt, Digest: d, Size: size}}, nil
}

// resolveDigest reads a platform manifest already pushed, to this repository or to another one of
// the same registry (whose blobs are then mounted).
func (c *Client) resolveDigest(ctx context.Context, s *session, repo name.Repository, bp version.Platform, digest string) (*platformImage, error) {
	fromName, d, err := parseDigest(digest)
	if err != nil {
		return nil, fault.BadInputf("source for %s: %w", bp, err)
	}
	from := repo
	if fromName != "" && fromName != repo.Name() {
		if from, err = c.repository(fromName); err != nil {
			return nil, fault.BadInputf("source for %s: %w", bp, err)
		}
		if from.RegistryStr() != repo.RegistryStr() {
			return nil, fault.BadInputf("source for %s is in registry %s, the release in %s: push it to %s first (blobs are mounted only within one registry)", bp, from.RegistryStr(), repo.RegistryStr(), repo.RegistryStr())
		}
	}
	ref := from.Digest(d.String())
	desc, err := c.get(ctx, s, ref)
	if err != nil {
		return nil, err
	}
	if desc == nil {
		return nil, fault.Refusedf("source for %s: %s does not exist: push the %s image first and pass the digest the push returned", bp, ref, bp)
	}
	if !desc.MediaType.IsImage() {
		return nil, fault.BadInputf("source for %s: %s is %s, not a platform image manifest: pass the digest of the %s manifest itself%s", bp, ref, desc.MediaType, bp, children(desc))
	}
	img, err := desc.Image()
	if err != nil {
		return nil, c.fail("reading", ref.String(), ref.RegistryStr(), err)
	}
	pi := &platformImage{platform: bp, img: img, present: true, desc: v1.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size}}
	if from.Name() != repo.Name() {
		if pi.present, err = c.manifestExists(ctx, s, repo.Digest(d.String())); err != nil {
			return nil, err
		}
	}
	return pi, nil
}

// children lists, for a message, what an index holds (empty for anything else).
func children(desc *remote.Descriptor) string {
	if !desc.MediaType.IsIndex() {
		return ""
	}
	idx, err := desc.ImageIndex()
	if err != nil {
		return ""
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return ""
	}
	var kids []string
	for _, m := range im.Manifests {
		kids = append(kids, fmt.Sprintf("%s %s", platformString(m.Platform), m.Digest))
	}
	return " (it holds: " + strings.Join(kids, ", ") + ")"
}

// mislabelled is the error for an image whose config names another platform than the one built.
func mislabelled(built version.Platform, d v1.Hash, got version.Platform) error {
	says := got.String()
	if got.OS == "" && got.Architecture == "" {
		says = "no platform at all"
	}
	return fault.Refusedf("image %s was built for %s but its config says %s, so it would be published as the wrong platform: nothing was published. "+
		"The engine that built it labelled it with the wrong platform, a known bug of the Dagger engine v0.21.8 with FROM scratch images built for arm64: "+
		"upgrade the engine (or fix the build so that the image's config says %s), then publish again; "+
		"if an up-to-date engine still does this, report it to the engine's maintainers", d, built, says, built)
}

// get GETs a manifest; nil when the registry says it does not exist. An answer that is not a
// manifest at all (a proxy's login page served with 200) could not be read: it says nothing about
// what the tag holds, so no step may act on it as if it were the tag's content.
func (c *Client) get(ctx context.Context, s *session, ref name.Reference) (*remote.Descriptor, error) {
	desc, err := s.pull.Get(ctx, ref)
	switch {
	case isNotFound(err):
		return nil, nil
	case err != nil:
		return nil, c.fail("reading", ref.String(), ref.Context().RegistryStr(), err)
	}
	if !isManifest(desc.MediaType) {
		// Some servers label manifests application/json: the manifest's own mediaType decides.
		var body struct {
			MediaType types.MediaType `json:"mediaType"`
		}
		if json.Unmarshal(desc.Manifest, &body) != nil || !isManifest(body.MediaType) {
			return nil, fault.Unreadablef("reading %s: %s answered with %q, not an image manifest or index: check --image and any proxy between here and the registry, then re-run; nothing was changed", ref, ref.Context().RegistryStr(), desc.MediaType)
		}
		desc.MediaType = body.MediaType
	}
	return desc, nil
}

// isManifest reports the media types of a manifest: an image (OCI or Docker, artifacts included),
// an index, or Docker's old schema 1.
func isManifest(mt types.MediaType) bool { return mt.IsImage() || mt.IsIndex() || mt.IsSchema1() }

// getTag GETs a tag; nil when it does not exist. Its Digest is that of the bytes returned, not
// the header's: an answer from a cache or CDN can carry a stale one.
func (c *Client) getTag(ctx context.Context, s *session, repo name.Repository, tag string) (*remote.Descriptor, error) {
	ref, err := tagRef(repo, tag)
	if err != nil {
		return nil, err
	}
	desc, err := c.get(ctx, s, ref)
	if desc == nil || err != nil {
		return nil, err
	}
	h, _, err := v1.SHA256(bytes.NewReader(desc.Manifest))
	if err != nil {
		return nil, fault.Unreadablef("digest of %s: %w", ref, err)
	}
	desc.Digest = h
	return desc, nil
}

// tagState reads what a tag holds with a GET and computes its digest from the bytes returned:
// a HEAD answer (the Docker-Content-Digest header) can be stale behind a cache or CDN.
func (c *Client) tagState(ctx context.Context, s *session, repo name.Repository, tag string, want v1.Hash) (TagState, error) {
	ts := TagState{Tag: tag, Want: want}
	desc, err := c.getTag(ctx, s, repo, tag)
	if desc == nil || err != nil {
		return ts, err
	}
	ts.Current, ts.CurrentMediaType = desc.Digest, desc.MediaType
	return ts, nil
}

// Resolve reads what tag holds, by a GET whose digest is computed from the bytes (a HEAD answer
// from a cache can be stale); found is false when the tag does not exist.
func (c *Client) Resolve(ctx context.Context, repository, tag string) (digest v1.Hash, found bool, err error) {
	repo, err := c.repository(repository)
	if err != nil {
		return v1.Hash{}, false, err
	}
	s, err := c.session(ctx)
	if err != nil {
		return v1.Hash{}, false, err
	}
	ts, err := c.tagState(ctx, s, repo, tag, v1.Hash{})
	return ts.Current, ts.Current != (v1.Hash{}), err
}

// manifestExists HEADs a manifest by digest (a digest names its bytes: no cache can make it lie),
// asking the registry itself: another tool may have deleted it since the phase last saw it.
func (c *Client) manifestExists(ctx context.Context, s *session, ref name.Digest) (bool, error) {
	_, err := s.pull.Head(fresh(ctx), ref)
	if err == nil {
		return true, nil
	}
	if isNotFound(err) {
		return false, nil
	}
	return false, c.fail("reading", ref.String(), ref.RegistryStr(), err)
}
