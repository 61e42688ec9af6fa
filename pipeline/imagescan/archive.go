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
	if img, err = openLayout(dir, path); err != nil {
		return nil, nil, err
	}
	return img, remove, nil
}

// openLayout opens the one image of the OCI layout in dir (unpacked from the archive at path).
// Its layers open their blobs as files, so the scan of an uncompressed layer skips the bodies of
// the files it does not read (see openLayer).
func openLayout(dir, path string) (v1.Image, error) {
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fault.Unreadablef("%s is not an OCI image archive: %w", path, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fault.Unreadablef("%s: %w", path, err)
	}
	if len(im.Manifests) != 1 {
		return nil, fault.Unreadablef("%s holds %d manifests, want one platform image", path, len(im.Manifests))
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		return nil, fault.Unreadablef("%s: %w", path, err)
	}
	return archiveImage{Image: img, dir: dir}, nil
}

// archiveImage is an image of an unpacked OCI archive: Layers returns layers whose blobs open as
// the files they are.
type archiveImage struct {
	v1.Image
	dir string
}

// Layers returns the image's layers, each opening its blob as the file it is.
func (a archiveImage) Layers() ([]v1.Layer, error) {
	ls, err := a.Image.Layers()
	if err != nil {
		return nil, err
	}
	out := make([]v1.Layer, len(ls))
	for i, l := range ls {
		out[i] = l
		if h, err := l.Digest(); err == nil {
			out[i] = archiveLayer{Layer: l, path: filepath.Join(a.dir, "blobs", h.Algorithm, h.Hex)}
		}
	}
	return out, nil
}

// archiveLayer is a layer of an unpacked OCI archive, its blob the file at path.
type archiveLayer struct {
	v1.Layer
	path string
}

func (l archiveLayer) openStored() (io.ReadSeekCloser, error) { return os.Open(l.path) }

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
