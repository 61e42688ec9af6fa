package registry

import (
	"bytes"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/shipgate/shipgate/pipeline/fault"
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
		return nil, v1.Hash{}, fault.Unreadablef("annotating the index did not yield an index")
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

// indexVersion is the version annotation of an index manifest.
func indexVersion(raw []byte) (string, error) {
	im, err := v1.ParseIndexManifest(bytes.NewReader(raw))
	if err != nil {
		return "", err
	}
	return im.Annotations[AnnotationVersion], nil
}

func platformString(p *v1.Platform) string {
	if p == nil {
		return "(no platform)"
	}
	return p.String()
}
