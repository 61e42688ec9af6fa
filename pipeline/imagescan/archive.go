package imagescan

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/shipgate/shipgate/pipeline/fault"
)

// OpenOCIArchive opens the image in an OCI image archive (a tar of an OCI layout, as the Dagger
// engine's Container.asTarball writes it): it unpacks the archive into a temporary directory and
// returns the one image it holds. done removes the directory; call it when the image is no longer
// read.
func OpenOCIArchive(path string) (img v1.Image, done func(), err error) {
	dir, err := os.MkdirTemp("", "shipgate-oci-")
	if err != nil {
		return nil, nil, err
	}
	remove := func() { _ = os.RemoveAll(dir) }
	defer func() {
		if err != nil {
			remove()
		}
	}()
	if err := untar(path, dir); err != nil {
		return nil, nil, err
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, nil, fault.Unreadablef("%s is not an OCI image archive: %w", path, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, nil, fault.Unreadablef("%s: %w", path, err)
	}
	if len(im.Manifests) != 1 {
		return nil, nil, fault.Unreadablef("%s holds %d manifests, want one platform image", path, len(im.Manifests))
	}
	if img, err = idx.Image(im.Manifests[0].Digest); err != nil {
		return nil, nil, fault.Unreadablef("%s: %w", path, err)
	}
	return img, remove, nil
}

// untar unpacks the regular files and directories of a tar into dir; anything that would land
// outside dir is refused.
func untar(path, dir string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fault.Unreadablef("read %s: %w", path, err)
		}
		name := filepath.Clean(h.Name)
		if filepath.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return fault.Unreadablef("%s: entry %q points outside the archive", path, h.Name)
		}
		target := filepath.Join(dir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := writeFile(target, tr); err != nil {
				return fmt.Errorf("unpack %s: %w", h.Name, err)
			}
		}
	}
}

func writeFile(target string, r io.Reader) error {
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	out, err := os.Create(target)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, r); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
