package registry

import (
	"bytes"
	"context"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"

	"github.com/shipgate/shipgate/pipeline/fault"
)

// rawManifest is manifest bytes to PUT unchanged (retag without re-wrapping).
type rawManifest struct {
	raw       []byte
	mediaType types.MediaType
}

// RawManifest returns the bytes as they are.
func (r rawManifest) RawManifest() ([]byte, error) { return r.raw, nil }

// MediaType is the Content-Type of the PUT.
func (r rawManifest) MediaType() (types.MediaType, error) { return r.mediaType, nil }

// check that rawManifest satisfies what remote.Put needs.
var _ remote.Taggable = rawManifest{}

// putTag PUTs manifest bytes under repo:tag. Publish may never write latest.
func (c *Client) putTag(ctx context.Context, s *session, repo name.Repository, tag string, m rawManifest, promote bool) error {
	if !promote && tag == LatestTag {
		return fault.BadInputf("refusing to write %s:%s outside promote: publish never moves latest", repo, tag)
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

// expectTag reads a tag back (GET, digest computed from the bytes) and checks its digest: a tag
// counts as written only once read back.
func (c *Client) expectTag(ctx context.Context, s *session, repo name.Repository, tag string, want v1.Hash) error {
	ts, err := c.tagState(ctx, s, repo, tag, want)
	if err != nil {
		return err
	}
	if !ts.Done() {
		return fault.Refusedf("read back %s:%s: it resolves to %s, not %s as just written: another writer changed it, or a cache in front of the registry did not take the write; re-run to converge", repo, tag, hashOrNone(ts.Current), want)
	}
	return nil
}

// pushImages uploads the distinct blobs of imgs (configs included) with at most jobs uploads at
// a time, each only if the registry lacks it (HEAD, or a mount from the image's own repository),
// then PUTs each manifest by digest: its bytes as they are, without go-containerregistry's
// existence check (the caller found it missing) and without uploading the blobs again.
func (c *Client) pushImages(ctx context.Context, s *session, repo name.Repository, imgs []*platformImage) error {
	blobs, err := distinctBlobs(imgs)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.o.jobs)
	for _, b := range blobs {
		g.Go(func() error {
			d, _ := b.Digest()
			if err := s.push.Upload(gctx, repo, b); err != nil {
				return c.fail("uploading", repo.Digest(d.String()).String(), repo.RegistryStr(), err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for _, pi := range imgs {
		ref := repo.Digest(pi.desc.Digest.String())
		raw, err := pi.img.RawManifest()
		if err != nil {
			return fault.Unreadablef("platform %s manifest %s: %w", pi.platform, pi.desc.Digest, err)
		}
		if err := s.push.Put(ctx, ref, rawManifest{raw: raw, mediaType: pi.desc.MediaType}); err != nil {
			return c.fail("pushing", ref.String(), ref.RegistryStr(), err)
		}
		c.o.logger.Info("registry: pushed manifest", "platform", pi.platform.String(), "ref", ref.String())
	}
	return nil
}

// distinctBlobs are the layers and configs of imgs, each once.
func distinctBlobs(imgs []*platformImage) ([]v1.Layer, error) {
	seen := map[v1.Hash]bool{}
	var blobs []v1.Layer
	for _, pi := range imgs {
		ls, err := pi.img.Layers()
		if err != nil {
			return nil, fault.Unreadablef("layers of %s image %s: %w", pi.platform, pi.desc.Digest, err)
		}
		cl, err := partial.ConfigLayer(pi.img)
		if err != nil {
			return nil, fault.Unreadablef("config of %s image %s: %w", pi.platform, pi.desc.Digest, err)
		}
		for _, l := range append(ls, cl) {
			d, err := l.Digest()
			if err != nil {
				return nil, fault.Unreadablef("layer of %s image %s: %w", pi.platform, pi.desc.Digest, err)
			}
			if !seen[d] {
				seen[d] = true
				blobs = append(blobs, l)
			}
		}
	}
	return blobs, nil
}
