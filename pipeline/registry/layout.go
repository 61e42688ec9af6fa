package registry

import (
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/shipgate/shipgate/pipeline/version"
)

// LayoutImage reads the image for platform p from an OCI image layout directory (as written by
// an OCI exporter): the one image whose descriptor names p, or the only image when descriptors
// carry no platform. Pass it as Source.Image; Publish still checks its config's platform.
func LayoutImage(dir string, p version.Platform) (v1.Image, error) {
	ii, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("OCI layout %s: %v: pass a directory holding index.json and blobs/", dir, err)
	}
	var matched, all []v1.Image
	var seen []string
	if err := walkLayout(ii, p, &matched, &all, &seen, 0); err != nil {
		return nil, fmt.Errorf("OCI layout %s: %w", dir, err)
	}
	switch {
	case len(matched) == 1:
		return matched[0], nil
	case len(matched) > 1:
		return nil, fmt.Errorf("OCI layout %s holds %d images for %s: export one image per platform", dir, len(matched), p)
	case len(all) == 1 && len(seen) == 0:
		return all[0], nil
	}
	if len(seen) == 0 {
		seen = []string{"no platform-labelled image"}
	}
	return nil, fmt.Errorf("OCI layout %s has no image for %s (it holds %s)", dir, p, strings.Join(seen, ", "))
}

func walkLayout(ii v1.ImageIndex, p version.Platform, matched, all *[]v1.Image, seen *[]string, depth int) error {
	if depth > 4 {
		return fmt.Errorf("indexes nested more than 4 deep")
	}
	im, err := ii.IndexManifest()
	if err != nil {
		return err
	}
	for _, d := range im.Manifests {
		switch {
		case d.MediaType.IsIndex():
			child, err := ii.ImageIndex(d.Digest)
			if err != nil {
				return err
			}
			if err := walkLayout(child, p, matched, all, seen, depth+1); err != nil {
				return err
			}
		case d.MediaType.IsImage():
			img, err := ii.Image(d.Digest)
			if err != nil {
				return err
			}
			*all = append(*all, img)
			if d.Platform != nil {
				*seen = append(*seen, d.Platform.String())
				if p.Equal(version.Platform{OS: d.Platform.OS, Architecture: d.Platform.Architecture, Variant: d.Platform.Variant}) {
					*matched = append(*matched, img)
				}
			}
		}
	}
	return nil
}
