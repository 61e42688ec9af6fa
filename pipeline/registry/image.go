package registry

import (
	"context"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/version"
)

// LabelRevision is the image config label that names the commit an image was built from; publish
// reuses an already pushed per-arch image only when it carries the finalize commit here.
const LabelRevision = "org.opencontainers.image.revision"

// TaggedImage is what a tag resolves to, read from its manifest and config.
type TaggedImage struct {
	// Found is false when the tag does not exist.
	Found bool
	// Digest is the manifest's digest.
	Digest v1.Hash
	// Platform is what the image's config says (not what anyone claims it is).
	Platform version.Platform
	// Labels are the config's labels.
	Labels map[string]string
}

// Image reads, without changing anything, the platform image a tag resolves to (for example
// X.Y.Z-arm64): its digest, the platform its config names and its labels. A tag that does not
// exist is not an error (Found is false); a tag holding an index is.
func (c *Client) Image(ctx context.Context, repository, tag string) (TaggedImage, error) {
	repo, err := c.repository(repository)
	if err != nil {
		return TaggedImage{}, err
	}
	ref, err := tagRef(repo, tag)
	if err != nil {
		return TaggedImage{}, err
	}
	s, err := c.session(ctx)
	if err != nil {
		return TaggedImage{}, err
	}
	desc, err := c.get(ctx, s, ref)
	if desc == nil || err != nil {
		return TaggedImage{}, err
	}
	if !desc.MediaType.IsImage() {
		return TaggedImage{}, fault.Refusedf("%s is %s, not a platform image manifest: per-arch tags hold one image each", ref, desc.MediaType)
	}
	img, err := desc.Image()
	if err != nil {
		return TaggedImage{}, c.fail("reading", ref.String(), ref.RegistryStr(), err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return TaggedImage{}, c.fail("reading config of", ref.String(), ref.RegistryStr(), err)
	}
	return TaggedImage{
		Found:    true,
		Digest:   desc.Digest,
		Platform: version.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant},
		Labels:   cfg.Config.Labels,
	}, nil
}
