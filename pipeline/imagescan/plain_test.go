package imagescan

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/shipgate/shipgate/pipeline/fault"
)

// newPlainLayer is a layer stored as the bytes of b (a plain tar, or anything) under an
// uncompressed media type.
func newPlainLayer(b []byte) *memLayer {
	h := sha256.New()
	h.Write(b)
	d := sum(h)
	return &memLayer{blob: b, mediaType: types.OCIUncompressedLayer, digest: d, diffID: d}
}

// countedLayer is a plain layer whose blob opens for seeking and counts the bytes read from it.
type countedLayer struct {
	*memLayer
	read int64
}

func (l *countedLayer) openStored() (io.ReadSeekCloser, error) {
	return countingFile{r: bytes.NewReader(l.blob), n: &l.read}, nil
}

type countingFile struct {
	r *bytes.Reader
	n *int64
}

func (f countingFile) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	*f.n += int64(n)
	return n, err
}
func (f countingFile) Seek(off int64, whence int) (int64, error) { return f.r.Seek(off, whence) }
func (f countingFile) Close() error                              { return nil }

// A plain tar whose blob can seek is walked without reading the bodies of the files the scan does
// not judge, and judged exactly as when it is read through.
func TestPlainTarSkipsBodies(t *testing.T) {
	big := strings.Repeat("x", 3<<20)
	var entries []ent
	for i := range 30 { // small files: skipped inside the read buffer
		entries = append(entries, file(fmt.Sprintf("etc/conf.d/%02d.conf", i), big[:1<<10*(i%4+1)]))
	}
	for i := range 6 { // big ones: skipped by moving the file's offset
		entries = append(entries, file(fmt.Sprintf("usr/lib/lib%d.so", i), big[:1<<20]))
	}
	entries = append(entries, file("opt/blob.bin", big), file("app/CHANGELOG.md", withTBD), file("app/docs/HISTORY.md", finalized), whiteout("usr/lib", "lib0.so"))
	tarball := tarOf(t, entries...)
	l := &countedLayer{memLayer: newPlainLayer(tarball)}
	res, err := scan(t, imageOf(t, l))
	refusal(t, err, "/app/CHANGELOG.md", l.digest.String())
	if res.Bytes != int64(len(tarball)) || len(res.Files) != 2 || fileAt(t, res, "/app/docs/HISTORY.md").Verdict != Passed {
		t.Errorf("walked %d of %d bytes; %+v", res.Bytes, len(tarball), res.Files)
	}
	if l.read > int64(len(tarball))/8 {
		t.Errorf("read %d of %d bytes: the bodies were read, not skipped", l.read, len(tarball))
	}
	through, err2 := scan(t, imageOf(t, l.memLayer)) // the same layer, read through
	if err2 == nil || err2.Error() != err.Error() || through.Bytes != res.Bytes {
		t.Errorf("read through: %v, %d bytes", err2, through.Bytes)
	}
}

// The layers of an OCI archive open their blobs as files: an uncompressed layer is skipped through,
// a blob that is compressed after all is inflated, and both judge as in memory.
func TestOpenOCIArchivePlainLayers(t *testing.T) {
	lower := newPlainLayer(tarOf(t, file("app/CHANGELOG.md", withTBD), file("srv/CHANGELOG.md", withTBD), file("opt/data.bin", strings.Repeat("d", 1<<20))))
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(tarOf(t, file("app/CHANGELOG.md", finalized), whiteout("srv", "CHANGELOG.md")))
	_ = zw.Close()
	upper := newPlainLayer(gz.Bytes()) // gzip bytes under an uncompressed media type
	archive := filepath.Join(t.TempDir(), "image.tar")
	tarDir(t, layoutOf(t, imageOf(t, lower, upper)), archive, "")
	img, done, err := OpenOCIArchive(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	ls, err := img.Layers()
	if err != nil || len(ls) != 2 {
		t.Fatalf("%d layers, %v", len(ls), err)
	}
	for _, l := range ls {
		if _, ok := l.(storedLayer); !ok {
			t.Fatalf("layer %T does not open its blob as a file", l)
		}
	}
	res, err := scan(t, img)
	if err != nil || len(res.Files) != 1 || fileAt(t, res, "/app/CHANGELOG.md").Layer != upper.digest || res.Layers != 2 {
		t.Fatalf("%v %+v", err, res)
	}
	if _, err := scan(t, imageOf(t, lower)); err == nil {
		t.Fatal("the lower layer alone passed")
	}
}

// A plain tar cut short inside a body it skips is unreadable, not a shorter image.
func TestPlainTarCutShort(t *testing.T) {
	whole := tarOf(t, file("app/CHANGELOG.md", finalized), file("opt/blob.bin", strings.Repeat("b", 1<<20)), file("srv/CHANGELOG.md", withTBD))
	l := &countedLayer{memLayer: newPlainLayer(whole[:len(whole)/2])}
	_, err := scan(t, imageOf(t, l))
	if !errors.Is(err, fault.ErrUnreadable) || !strings.Contains(err.Error(), "layer 1") {
		t.Fatalf("want unreadable naming layer 1, got %v", err)
	}
}
