package imagescan

import (
	"archive/tar"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/random"
)

// An OCI archive as the engine writes it opens as its one image, with the same digest; the
// temporary directory goes away with done; entries escaping the archive are refused.
func TestOpenOCIArchive(t *testing.T) {
	img, err := random.Image(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	dir := layoutOf(t, img)
	archive := filepath.Join(t.TempDir(), "image.tar")
	tarDir(t, dir, archive, "")
	got, done, err := OpenOCIArchive(archive)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	if d, _ := got.Digest(); d != want {
		t.Fatalf("digest %s, want %s", d, want)
	}
	if ls, err := got.Layers(); err != nil || len(ls) != 2 {
		t.Fatalf("layers %d %v", len(ls), err)
	}
	done()

	evil := filepath.Join(t.TempDir(), "evil.tar")
	tarDir(t, dir, evil, "../escape")
	if _, _, err := OpenOCIArchive(evil); err == nil {
		t.Fatal("an entry outside the archive was accepted")
	}
}

// layoutOf writes img as the one image of an OCI layout and returns its directory.
func layoutOf(t testing.TB, img v1.Image) string {
	t.Helper()
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err == nil {
		err = p.AppendImage(img)
	}
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// tarDir writes dir as a tar at out, plus an entry named extra when given.
func tarDir(t *testing.T, dir, out, extra string) {
	t.Helper()
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if d.IsDir() {
			return tw.WriteHeader(&tar.Header{Name: rel + "/", Typeflag: tar.TypeDir, Mode: 0o755})
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: rel, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(b))}); err != nil {
			return err
		}
		_, err = tw.Write(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if extra != "" {
		_ = tw.WriteHeader(&tar.Header{Name: extra, Typeflag: tar.TypeReg, Mode: 0o644, Size: 1})
		_, _ = tw.Write([]byte("x"))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}
