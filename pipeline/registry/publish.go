package registry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/version"
)

// ErrImmutable marks a refusal to replace a version's index that holds different content.
var ErrImmutable = errors.New("version is immutable")

// Source is one platform's image for an index: already in the registry (Digest) or in memory
// (Image). Exactly one of the two is set.
type Source struct {
	// Platform is what was built; the image's config must say the same.
	Platform version.Platform
	// Digest is the platform manifest's digest: "sha256:…" in the index's repository (what the
	// Dagger engine pushed), or "registry/other/repo@sha256:…" in another repository of the same
	// registry, whose blobs are then mounted, not uploaded.
	Digest string
	// Image is the platform image in memory.
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
	s         *session // the phase's registry session the plan was observed in
	repo      name.Repository
	spec      IndexSpec
	platforms []*platformImage
	indexRaw  []byte
	index     v1.Hash
	state     PublishState
}

// Publish puts the release's platform manifests, per-arch tags X.Y.Z-<arch> and index X.Y.Z in
// place, writing only what is missing (a re-run uploads nothing), and never writes latest. X.Y.Z
// holding different content is refused (ErrImmutable) unless spec.Rebuild, and always once
// spec.Promoted. Every tag written is read back and checked.
func (c *Client) Publish(ctx context.Context, spec IndexSpec) (Published, error) {
	p, err := c.observePublish(ctx, spec)
	if err != nil {
		return Published{}, err
	}
	s := p.s
	out := Published{Repository: p.repo.Name(), Index: p.index, Platforms: map[string]v1.Hash{}}
	for _, pi := range p.platforms {
		out.Platforms[pi.platform.String()] = pi.desc.Digest
	}
	if p.state.Refusal != "" {
		return out, fault.Refusedf("%w: %s", ErrImmutable, p.state.Refusal)
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
	if out.Wrote, err = c.writeRelease(ctx, s, p); err != nil {
		return out, err
	}
	return out, c.readBack(ctx, s, p)
}

// writeRelease writes what is missing, in an order that never lets a tag name what is not there:
// platform manifests (and their blobs), then per-arch tags, then the index X.Y.Z.
func (c *Client) writeRelease(ctx context.Context, s *session, p *publishPlan) ([]string, error) {
	var wrote []string
	var missing []*platformImage
	for _, pi := range p.platforms {
		if !pi.present {
			missing = append(missing, pi)
		}
	}
	if err := c.pushImages(ctx, s, p.repo, missing); err != nil {
		return wrote, err
	}
	// Not read back: a manifest PUT by digest is stored under that digest or refused, and the
	// config's platform was checked on the same bytes (resolveImage).
	for _, pi := range missing {
		wrote = append(wrote, fmt.Sprintf("manifest %s %s", pi.platform, pi.desc.Digest))
	}
	for _, pi := range p.platforms {
		if pi.tag.Done() {
			continue
		}
		raw, err := pi.img.RawManifest()
		if err != nil {
			return wrote, fault.Unreadablef("platform %s manifest %s: %w", pi.platform, pi.desc.Digest, err)
		}
		if err := c.putTag(ctx, s, p.repo, pi.tag.Tag, rawManifest{raw: raw, mediaType: pi.desc.MediaType}, false); err != nil {
			return wrote, err
		}
		wrote = append(wrote, fmt.Sprintf("tag %s → %s", pi.tag.Tag, pi.desc.Digest))
	}
	if !p.state.IndexTag.Done() {
		if err := c.putTag(ctx, s, p.repo, p.state.IndexTag.Tag, rawManifest{raw: p.indexRaw, mediaType: types.OCIImageIndex}, false); err != nil {
			return wrote, err
		}
		wrote = append(wrote, fmt.Sprintf("tag %s → index %s", p.state.IndexTag.Tag, p.index))
	}
	return wrote, nil
}

// readBack checks that every tag of the release resolves to what was written.
func (c *Client) readBack(ctx context.Context, s *session, p *publishPlan) error {
	if err := c.expectTag(ctx, s, p.repo, p.state.IndexTag.Tag, p.index); err != nil {
		return err
	}
	for _, pi := range p.platforms {
		if err := c.expectTag(ctx, s, p.repo, pi.tag.Tag, pi.desc.Digest); err != nil {
			return err
		}
	}
	return nil
}
