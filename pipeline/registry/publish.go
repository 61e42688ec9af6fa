package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/shipgate/shipgate/pipeline/version"
)

// OCI annotations publish writes on the index.
const (
	// AnnotationVersion holds the release version (1.2.3); promote reads it to apply the hotfix rule.
	AnnotationVersion = "org.opencontainers.image.version"
	// AnnotationSource is the source repository URL.
	AnnotationSource = "org.opencontainers.image.source"
	// AnnotationRevision is the commit the image was built from (the finalize commit).
	AnnotationRevision = "org.opencontainers.image.revision"
	// AnnotationCreated is the finalize commit's time (RFC 3339, UTC), so a re-run yields the
	// same index digest.
	AnnotationCreated = "org.opencontainers.image.created"
)

// ErrImmutable marks a refusal to replace a version's index that holds different content.
var ErrImmutable = errors.New("version is immutable")

// Source is one platform's image for an index: already in the registry (Digest) or in memory
// (Image). Exactly one of the two is set.
type Source struct {
	// Platform is what was built; the image's config must say the same.
	Platform version.Platform
	// Digest is the platform manifest's digest: "sha256:…" in the index's repository (what the
	// Dagger engine or PushPlatform pushed), or "registry/other/repo@sha256:…" in another
	// repository of the same registry, whose blobs are then mounted, not uploaded.
	Digest string
	// Image is the platform image in memory (built here, or read with LayoutImage).
	Image v1.Image
}

// IndexSpec says what the X.Y.Z index of a release must hold.
type IndexSpec struct {
	// Repository is where the release lives: ghcr.io/acme/app.
	Repository string
	// Version is the release version; tags X.Y.Z and X.Y.Z-<arch> derive from it.
	Version version.Version
	// Sources are the platform images, one per platform.
	Sources []Source
	// SourceURL and Revision become the index's source and revision annotations (omitted when empty).
	SourceURL, Revision string
	// Created is the finalize commit's time; it becomes the created annotation. Required.
	Created time.Time
	// Rebuild allows replacing an X.Y.Z that holds different content (never once promoted).
	Rebuild bool
	// Promoted says the version was promoted (the GitHub side knows): X.Y.Z is then never replaced.
	Promoted bool
}

// TagState is what a tag holds compared with what it should hold.
type TagState struct {
	// Tag is the tag name (1.2.3, 1.2.3-arm64).
	Tag string
	// Want is the digest the tag should resolve to.
	Want v1.Hash
	// Current is what the tag resolves to now; zero when the tag does not exist.
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

func tagLine(t TagState) string {
	if t.Exists() {
		return fmt.Sprintf("move tag %s from %s to %s", t.Tag, t.Current, t.Want)
	}
	return fmt.Sprintf("tag %s → %s", t.Tag, t.Want)
}

// String is the plan, one line per step.
func (s PublishState) String() string { return strings.Join(s.Plan(), "\n") }

// Published is what Publish left in the registry.
type Published struct {
	// Repository is the canonical repository name.
	Repository string
	// Index is the digest X.Y.Z resolves to.
	Index v1.Hash
	// Platforms maps "linux/amd64" to its manifest digest (what X.Y.Z-<arch> resolves to).
	Platforms map[string]v1.Hash
	// Reused reports that everything was already in place and nothing was written.
	Reused bool
	// Replaced is the digest X.Y.Z held before a Rebuild replaced it.
	Replaced v1.Hash
	// Wrote lists what was written, one line each.
	Wrote []string
}

// Ref is repository@digest of the index.
func (p Published) Ref() string { return p.Repository + "@" + p.Index.String() }

// platformImage is one resolved source.
type platformImage struct {
	platform version.Platform
	desc     v1.Descriptor // digest, size, media type, platform from the config
	img      v1.Image      // what to push when not present; a remote image for digest sources
	present  bool
	tag      TagState
}

// publishPlan is the resolved publish: the index to write and the state around it.
type publishPlan struct {
	repo      name.Repository
	spec      IndexSpec
	platforms []*platformImage
	indexRaw  []byte
	index     v1.Hash
	state     PublishState
}

// ObservePublish looks at the registry without changing it: it resolves and checks every source
// (the config's platform must be the one built), computes the index Publish would write, and
// reports which tags and manifests exist. A refusal is reported in the state, not as an error.
func (c *Client) ObservePublish(ctx context.Context, spec IndexSpec) (PublishState, error) {
	s, err := c.session(ctx)
	if err != nil {
		return PublishState{}, err
	}
	p, err := c.observePublish(ctx, s, spec)
	if err != nil {
		return PublishState{}, err
	}
	return p.state, nil
}

// Publish puts the release's platform manifests, per-arch tags X.Y.Z-<arch> and index X.Y.Z in
// place, writing only what is missing (a re-run uploads nothing), and never writes latest. X.Y.Z
// holding different content is refused (ErrImmutable) unless spec.Rebuild, and always once
// spec.Promoted. Everything written is read back and checked.
func (c *Client) Publish(ctx context.Context, spec IndexSpec) (Published, error) {
	s, err := c.session(ctx)
	if err != nil {
		return Published{}, err
	}
	p, err := c.observePublish(ctx, s, spec)
	if err != nil {
		return Published{}, err
	}
	out := Published{Repository: p.repo.Name(), Index: p.index, Platforms: map[string]v1.Hash{}}
	for _, pi := range p.platforms {
		out.Platforms[pi.platform.String()] = pi.desc.Digest
	}
	if p.state.Refusal != "" {
		return out, fmt.Errorf("%w: %s", ErrImmutable, p.state.Refusal)
	}
	if p.state.Done() {
		out.Reused = true
		c.o.logger.Info("registry: index already published", "ref", p.repo.Tag(p.spec.Version.ImageTag()).String(), "digest", p.index.String())
		return out, nil
	}
	if p.state.Conflict != "" {
		out.Replaced = p.state.IndexTag.Current
		c.o.logger.Warn("registry: replacing index (rebuild)", "tag", p.state.IndexTag.Tag, "old", out.Replaced.String(), "new", p.index.String())
	}

	// 1. Platform manifests (and their blobs) the repository does not have yet.
	var missing []*platformImage
	for _, pi := range p.platforms {
		if !pi.present {
			missing = append(missing, pi)
		}
	}
	if err := c.pushImages(ctx, s, p.repo, missing); err != nil {
		return out, err
	}
	for _, pi := range missing {
		out.Wrote = append(out.Wrote, fmt.Sprintf("manifest %s %s", pi.platform, pi.desc.Digest))
		if err := c.verifyPlatform(ctx, s, p.repo, pi.platform, pi.desc.Digest); err != nil {
			return out, err
		}
	}

	// 2. Per-arch tags, then 3. the index: X.Y.Z exists only once everything it names does.
	for _, pi := range p.platforms {
		if pi.tag.Done() {
			continue
		}
		raw, err := pi.img.RawManifest()
		if err != nil {
			return out, fmt.Errorf("platform %s manifest %s: %w", pi.platform, pi.desc.Digest, err)
		}
		if err := c.putTag(ctx, s, p.repo, pi.tag.Tag, rawManifest{raw: raw, mediaType: pi.desc.MediaType}, false); err != nil {
			return out, err
		}
		out.Wrote = append(out.Wrote, fmt.Sprintf("tag %s → %s", pi.tag.Tag, pi.desc.Digest))
	}
	if !p.state.IndexTag.Done() {
		if err := c.putTag(ctx, s, p.repo, p.state.IndexTag.Tag, rawManifest{raw: p.indexRaw, mediaType: types.OCIImageIndex}, false); err != nil {
			return out, err
		}
		out.Wrote = append(out.Wrote, fmt.Sprintf("tag %s → index %s", p.state.IndexTag.Tag, p.index))
	}

	// 4. Read back: every tag must resolve to what was written.
	if err := c.expectTag(ctx, s, p.repo, p.state.IndexTag.Tag, p.index); err != nil {
		return out, err
	}
	for _, pi := range p.platforms {
		if err := c.expectTag(ctx, s, p.repo, pi.tag.Tag, pi.desc.Digest); err != nil {
			return out, err
		}
	}
	return out, nil
}

// PushPlatform pushes one platform image by digest into repo (no tag: Publish sets the tags),
// uploading only blobs the registry lacks, after checking that the image's config says platform
// p; it reads the manifest and config back and returns the manifest digest. Use it on each
// native builder; Publish then joins the digests.
func (c *Client) PushPlatform(ctx context.Context, repository string, p version.Platform, img v1.Image) (v1.Hash, error) {
	repo, err := c.repository(repository)
	if err != nil {
		return v1.Hash{}, err
	}
	s, err := c.session(ctx)
	if err != nil {
		return v1.Hash{}, err
	}
	pi, err := c.resolveImage(ctx, s, repo, Source{Platform: p, Image: img})
	if err != nil {
		return v1.Hash{}, err
	}
	if !pi.present {
		if err := c.pushImages(ctx, s, repo, []*platformImage{pi}); err != nil {
			return v1.Hash{}, err
		}
	}
	if err := c.verifyPlatform(ctx, s, repo, p, pi.desc.Digest); err != nil {
		return v1.Hash{}, err
	}
	return pi.desc.Digest, nil
}

func (c *Client) observePublish(ctx context.Context, s *session, spec IndexSpec) (*publishPlan, error) {
	repo, err := c.repository(spec.Repository)
	if err != nil {
		return nil, err
	}
	if spec.Version.IsZero() {
		return nil, fmt.Errorf("publish %s: no version given: pass the release version X.Y.Z", repo)
	}
	if spec.Created.IsZero() {
		return nil, fmt.Errorf("publish %s:%s: no creation time: pass the finalize commit's time so that a re-run yields the same index digest", repo, spec.Version)
	}
	if len(spec.Sources) == 0 {
		return nil, fmt.Errorf("publish %s:%s: no platform images given: pass one Source per platform", repo, spec.Version)
	}
	for i, a := range spec.Sources {
		for _, b := range spec.Sources[:i] {
			if a.Platform.Equal(b.Platform) {
				return nil, fmt.Errorf("publish %s:%s: platform %s is given twice: pass one Source per platform", repo, spec.Version, a.Platform)
			}
		}
	}
	p := &publishPlan{repo: repo, spec: spec}
	for _, src := range spec.Sources {
		pi, err := c.resolveImage(ctx, s, repo, src)
		if err != nil {
			return nil, err
		}
		p.platforms = append(p.platforms, pi)
	}
	sort.Slice(p.platforms, func(i, j int) bool { return p.platforms[i].platform.String() < p.platforms[j].platform.String() })

	p.indexRaw, p.index, err = buildIndex(spec, p.platforms)
	if err != nil {
		return nil, fmt.Errorf("build index %s:%s: %w", repo, spec.Version, err)
	}

	st := PublishState{Repository: repo.Name(), Version: spec.Version, Index: p.index}
	st.IndexTag, err = c.tagState(ctx, s, repo, spec.Version.ImageTag(), p.index)
	if err != nil {
		return nil, err
	}
	for _, pi := range p.platforms {
		pi.tag, err = c.tagState(ctx, s, repo, spec.Version.ArchTag(pi.platform), pi.desc.Digest)
		if err != nil {
			return nil, err
		}
		st.Platforms = append(st.Platforms, PlatformState{Platform: pi.platform, Digest: pi.desc.Digest, Present: pi.present, Tag: pi.tag})
	}
	if st.IndexTag.Exists() && !st.IndexTag.Done() {
		what := "an index"
		if !st.IndexTag.CurrentMediaType.IsIndex() {
			what = fmt.Sprintf("a single manifest (%s), not an index", st.IndexTag.CurrentMediaType)
		}
		st.Conflict = fmt.Sprintf("%s:%s already holds %s %s, not the index %s built from these platform images", repo, st.IndexTag.Tag, what, st.IndexTag.Current, p.index)
		switch {
		case spec.Promoted:
			st.Refusal = st.Conflict + fmt.Sprintf("; %s was promoted, so it is never replaced: release a new version", spec.Version)
		case !spec.Rebuild:
			st.Refusal = st.Conflict + fmt.Sprintf("; a published version is immutable once signed: release a new version, or, if %s was never promoted, publish again with Rebuild", spec.Version)
		}
	}
	p.state = st
	return p, nil
}

// resolveImage reads a source's manifest and config (from the registry for digest sources) and
// checks that the config's platform is the one built.
func (c *Client) resolveImage(ctx context.Context, s *session, repo name.Repository, src Source) (*platformImage, error) {
	bp := src.Platform
	if bp.OS == "" || bp.Architecture == "" {
		return nil, fmt.Errorf("source for %s: the platform needs an OS and an architecture, for example linux/amd64", repo)
	}
	pi := &platformImage{platform: bp}
	switch {
	case src.Image != nil && src.Digest != "":
		return nil, fmt.Errorf("source for %s: give either a digest or an image, not both", bp)
	case src.Image != nil:
		pi.img = src.Image
		mt, err := src.Image.MediaType()
		if err != nil {
			return nil, fmt.Errorf("image for %s: %w", bp, err)
		}
		if !mt.IsImage() {
			return nil, fmt.Errorf("image for %s has media type %s, not an image manifest: pass the %s image itself", bp, mt, bp)
		}
		d, err := src.Image.Digest()
		if err != nil {
			return nil, fmt.Errorf("image for %s: %w", bp, err)
		}
		size, err := src.Image.Size()
		if err != nil {
			return nil, fmt.Errorf("image for %s: %w", bp, err)
		}
		pi.desc = v1.Descriptor{MediaType: mt, Digest: d, Size: size}
		present, err := c.manifestExists(ctx, s, repo.Digest(d.String()))
		if err != nil {
			return nil, err
		}
		pi.present = present
	case src.Digest != "":
		fromName, d, err := ParseDigest(src.Digest)
		if err != nil {
			return nil, fmt.Errorf("source for %s: %w", bp, err)
		}
		from := repo
		if fromName != "" && fromName != repo.Name() {
			from, err = c.repository(fromName)
			if err != nil {
				return nil, fmt.Errorf("source for %s: %w", bp, err)
			}
			if from.RegistryStr() != repo.RegistryStr() {
				return nil, fmt.Errorf("source for %s is in registry %s, the release in %s: push it to %s first (blobs are mounted only within one registry)", bp, from.RegistryStr(), repo.RegistryStr(), repo.RegistryStr())
			}
		}
		ref := from.Digest(d.String())
		desc, err := s.pull.Get(ctx, ref)
		if err != nil {
			if isNotFound(err) {
				return nil, fmt.Errorf("source for %s: %s does not exist: push the %s image first (the engine's Publish or PushPlatform) and pass the digest it returned", bp, ref, bp)
			}
			return nil, c.fail("reading", ref.String(), ref.RegistryStr(), err)
		}
		if !desc.MediaType.IsImage() {
			hint := ""
			if desc.MediaType.IsIndex() {
				if idx, err := desc.ImageIndex(); err == nil {
					if im, err := idx.IndexManifest(); err == nil {
						var kids []string
						for _, m := range im.Manifests {
							kids = append(kids, fmt.Sprintf("%s %s", platformString(m.Platform), m.Digest))
						}
						hint = " (it holds: " + strings.Join(kids, ", ") + ")"
					}
				}
			}
			return nil, fmt.Errorf("source for %s: %s is %s, not a platform image manifest: pass the digest of the %s manifest itself%s", bp, ref, desc.MediaType, bp, hint)
		}
		img, err := desc.Image()
		if err != nil {
			return nil, c.fail("reading", ref.String(), ref.RegistryStr(), err)
		}
		pi.img = img
		pi.desc = v1.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size}
		if from.Name() == repo.Name() {
			pi.present = true
		} else {
			present, err := c.manifestExists(ctx, s, repo.Digest(d.String()))
			if err != nil {
				return nil, err
			}
			pi.present = present
		}
	default:
		return nil, fmt.Errorf("source for %s: give the manifest digest pushed by the build, or the image", bp)
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

// mislabelled is the error for an image whose config names another platform than the one built.
func mislabelled(built version.Platform, d v1.Hash, got version.Platform) error {
	says := got.String()
	if got.OS == "" && got.Architecture == "" {
		says = "no platform at all"
	}
	return fmt.Errorf("image %s was built for %s but its config says %s: the build mislabelled it (Dagger v0.21.8 does this for FROM scratch on arm64: re-wrap with Container(platform).WithRootfs and re-apply the config); nothing was published", d, built, says)
}

func platformString(p *v1.Platform) string {
	if p == nil {
		return "(no platform)"
	}
	return p.String()
}

// buildIndex makes the OCI index: children sorted by platform, each described only by media
// type, size, digest and platform, plus the release annotations. Same input, same bytes.
func buildIndex(spec IndexSpec, ps []*platformImage) ([]byte, v1.Hash, error) {
	var adds []mutate.IndexAddendum
	for _, pi := range ps {
		adds = append(adds, mutate.IndexAddendum{Add: described{Image: pi.img, desc: pi.desc}})
	}
	ann := map[string]string{
		AnnotationVersion: spec.Version.String(),
		AnnotationCreated: spec.Created.UTC().Format(time.RFC3339),
	}
	if spec.SourceURL != "" {
		ann[AnnotationSource] = spec.SourceURL
	}
	if spec.Revision != "" {
		ann[AnnotationRevision] = spec.Revision
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	idx = mutate.AppendManifests(idx, adds...)
	idx, ok := mutate.Annotations(idx, ann).(v1.ImageIndex)
	if !ok {
		return nil, v1.Hash{}, errors.New("annotating the index did not yield an index")
	}
	raw, err := idx.RawManifest()
	if err != nil {
		return nil, v1.Hash{}, err
	}
	h, _, err := v1.SHA256(bytes.NewReader(raw))
	return raw, h, err
}

// described is an image whose index descriptor is exactly desc (no inherited artifactType or
// annotations), so the index bytes depend only on what matters.
type described struct {
	v1.Image
	desc v1.Descriptor
}

// Descriptor is the descriptor the index records for this image.
func (d described) Descriptor() (*v1.Descriptor, error) {
	desc := d.desc
	return &desc, nil
}

// rawManifest is manifest bytes to PUT unchanged (retag without re-wrapping).
type rawManifest struct {
	raw       []byte
	mediaType types.MediaType
}

// RawManifest returns the bytes as they are.
func (r rawManifest) RawManifest() ([]byte, error) { return r.raw, nil }

// MediaType is the Content-Type of the PUT.
func (r rawManifest) MediaType() (types.MediaType, error) { return r.mediaType, nil }

// putTag PUTs manifest bytes under repo:tag. Publish may never write latest.
func (c *Client) putTag(ctx context.Context, s *session, repo name.Repository, tag string, m rawManifest, promote bool) error {
	if !promote && tag == LatestTag {
		return fmt.Errorf("refusing to write %s:%s outside promote: publish never moves latest", repo, tag)
	}
	ref, err := tagRef(repo, tag)
	if err != nil {
		return err
	}
	if err := s.push.Put(ctx, ref, m); err != nil {
		return c.fail("tagging", ref.String(), ref.RegistryStr(), err)
	}
	h, _, _ := v1.SHA256(bytes.NewReader(m.raw))
	c.o.logger.Info("registry: tagged", "ref", ref.String(), "digest", h.String())
	return nil
}

// expectTag reads a tag back (GET, digest computed from the bytes) and checks its digest.
func (c *Client) expectTag(ctx context.Context, s *session, repo name.Repository, tag string, want v1.Hash) error {
	ref, err := tagRef(repo, tag)
	if err != nil {
		return err
	}
	desc, err := s.pull.Get(ctx, ref)
	if err != nil {
		return c.fail("reading back", ref.String(), ref.RegistryStr(), err)
	}
	if desc.Digest != want {
		return fmt.Errorf("read back %s: it resolves to %s, not %s as just written: another writer changed it; re-run to converge", ref, desc.Digest, want)
	}
	return nil
}

// tagState resolves a tag (HEAD) without changing anything.
func (c *Client) tagState(ctx context.Context, s *session, repo name.Repository, tag string, want v1.Hash) (TagState, error) {
	ts := TagState{Tag: tag, Want: want}
	ref, err := tagRef(repo, tag)
	if err != nil {
		return ts, err
	}
	d, err := s.pull.Head(ctx, ref)
	if err != nil {
		if isNotFound(err) {
			return ts, nil
		}
		return ts, c.fail("reading", ref.String(), ref.RegistryStr(), err)
	}
	ts.Current, ts.CurrentMediaType = d.Digest, d.MediaType
	return ts, nil
}

// manifestExists HEADs a manifest by digest.
func (c *Client) manifestExists(ctx context.Context, s *session, ref name.Digest) (bool, error) {
	_, err := s.pull.Head(ctx, ref)
	if err == nil {
		return true, nil
	}
	if isNotFound(err) {
		return false, nil
	}
	return false, c.fail("reading", ref.String(), ref.RegistryStr(), err)
}

// verifyPlatform reads a manifest and its config back from the registry and checks the platform.
func (c *Client) verifyPlatform(ctx context.Context, s *session, repo name.Repository, p version.Platform, d v1.Hash) error {
	ref := repo.Digest(d.String())
	desc, err := s.pull.Get(ctx, ref)
	if err != nil {
		return c.fail("reading back", ref.String(), ref.RegistryStr(), err)
	}
	if !desc.MediaType.IsImage() {
		return fmt.Errorf("read back %s: media type %s is not an image manifest", ref, desc.MediaType)
	}
	img, err := desc.Image()
	if err != nil {
		return c.fail("reading back", ref.String(), ref.RegistryStr(), err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return c.fail("reading back config of", ref.String(), ref.RegistryStr(), err)
	}
	if got := (version.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}); !got.Equal(p) {
		return mislabelled(p, d, got)
	}
	return nil
}

// pushImages uploads the distinct blobs of imgs (configs included) with at most jobs uploads at
// a time, each only if the registry lacks it (HEAD, or a mount from the image's own repository),
// then PUTs each manifest by digest.
func (c *Client) pushImages(ctx context.Context, s *session, repo name.Repository, imgs []*platformImage) error {
	if len(imgs) == 0 {
		return nil
	}
	seen := map[v1.Hash]bool{}
	var blobs []v1.Layer
	for _, pi := range imgs {
		ls, err := pi.img.Layers()
		if err != nil {
			return fmt.Errorf("layers of %s image %s: %w", pi.platform, pi.desc.Digest, err)
		}
		cl, err := partial.ConfigLayer(pi.img)
		if err != nil {
			return fmt.Errorf("config of %s image %s: %w", pi.platform, pi.desc.Digest, err)
		}
		for _, l := range append(ls, cl) {
			d, err := l.Digest()
			if err != nil {
				return fmt.Errorf("layer of %s image %s: %w", pi.platform, pi.desc.Digest, err)
			}
			if !seen[d] {
				seen[d] = true
				blobs = append(blobs, l)
			}
		}
	}
	if err := c.forEach(ctx, len(blobs), func(ctx context.Context, i int) error {
		d, _ := blobs[i].Digest()
		if err := s.push.Upload(ctx, repo, blobs[i]); err != nil {
			return c.fail("uploading", repo.Digest(d.String()).String(), repo.RegistryStr(), err)
		}
		return nil
	}); err != nil {
		return err
	}
	for _, pi := range imgs {
		ref := repo.Digest(pi.desc.Digest.String())
		if err := s.push.Push(ctx, ref, pi.img); err != nil {
			return c.fail("pushing", ref.String(), ref.RegistryStr(), err)
		}
		c.o.logger.Info("registry: pushed manifest", "platform", pi.platform.String(), "ref", ref.String())
	}
	return nil
}

// forEach runs f(0..n-1) with at most jobs at a time and returns the first error; after an
// error no new work starts.
func (c *Client) forEach(ctx context.Context, n int, f func(context.Context, int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, c.o.jobs)
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for i := 0; i < n; i++ {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			if err := f(ctx, i); err != nil {
				once.Do(func() { first = err; cancel() })
			}
		}(i)
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return first
}

// check that rawManifest satisfies what remote.Put needs.
var _ remote.Taggable = rawManifest{}
