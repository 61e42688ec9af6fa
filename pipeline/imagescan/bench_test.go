package imagescan

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// alphabet makes random data "incompressible-ish": 6 bits of entropy a byte, so gzip works (and
// inflate decodes Huffman codes) but gains only about a quarter, like binaries and assets do.
const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

// fsGen writes a deterministic layer filesystem: big and small files of random data, and a few
// CHANGELOGs (the finalized one, a vendored one).
type fsGen struct {
	rng *rand.ChaCha8
	buf []byte
}

func newFSGen(seed uint64) *fsGen {
	var s [32]byte
	s[0], s[1] = byte(seed), byte(seed>>8)
	return &fsGen{rng: rand.NewChaCha8(s)}
}

// fill returns n deterministic bytes over alphabet (valid until the next call).
func (g *fsGen) fill(n int) []byte {
	if cap(g.buf) < n {
		g.buf = make([]byte, n)
	}
	b := g.buf[:n]
	_, _ = g.rng.Read(b)
	for i := range b {
		b[i] = alphabet[b[i]&63]
	}
	return b
}

// writeLayer writes layer i of about size bytes as a tar stream to w: half in 4 MiB files, half
// in 16 KiB files, plus two CHANGELOGs.
func (g *fsGen) writeLayer(w io.Writer, i int, size int64) error {
	tw := tar.NewWriter(w)
	put := func(p string, body []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: p, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))}); err != nil {
			return err
		}
		_, err := tw.Write(body)
		return err
	}
	if err := put(fmt.Sprintf("app/layer%d/CHANGELOG.md", i), []byte(finalized)); err != nil {
		return err
	}
	if err := put(fmt.Sprintf("app/node_modules/dep%d/CHANGELOG.md", i), []byte(vendored)); err != nil {
		return err
	}
	for k, n := 0, int64(0); n < size; k++ {
		sz := 4 << 20
		if n >= size/2 {
			sz = 16 << 10
		}
		if err := put(fmt.Sprintf("data/l%d/d%d/f%06d.bin", i, k%64, k), g.fill(sz)); err != nil {
			return err
		}
		n += int64(sz)
	}
	return tw.Close()
}

// buildMemLayer generates layer i in one pass: tar -> diffID hash and byte count, gzip -> digest
// hash and bytes.
func buildMemLayer(i int, size int64) (*memLayer, error) {
	var gz bytes.Buffer
	dh, uh := sha256.New(), sha256.New()
	zw, _ := gzip.NewWriterLevel(io.MultiWriter(&gz, dh), gzip.BestSpeed)
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(newFSGen(uint64(i)+1).writeLayer(pw, i, size)) }()
	n, err := io.Copy(io.MultiWriter(zw, uh), pr)
	pr.CloseWithError(err) // unblocks the writer if the copy stopped early
	if err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return &memLayer{blob: gz.Bytes(), mediaType: types.DockerLayer, digest: sum(dh), diffID: sum(uh), tarSize: n}, nil
}

var bench struct {
	once   sync.Once
	img    v1.Image
	layers []*memLayer
	size   int64 // uncompressed bytes of all layers
	err    error
}

// benchImageMiB is the size of the benchmark image: 1 GiB, or SHIPGATE_IMAGESCAN_BENCH_MIB.
func benchImageMiB() int64 {
	if n, err := strconv.ParseInt(os.Getenv("SHIPGATE_IMAGESCAN_BENCH_MIB"), 10, 64); err == nil && n >= 8 {
		return n
	}
	return 1024
}

// benchImage builds, once per process, an image of 8 gzip layers of an eighth of
// benchImageMiB each (128 MiB: 1 GiB in all), in about ten seconds.
func benchImage(b *testing.B) (v1.Image, int64) {
	b.Helper()
	bench.once.Do(func() {
		const n = 8
		per := benchImageMiB() << 20 / n
		layers := make([]v1.Layer, n)
		bench.layers = make([]*memLayer, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		sem := make(chan struct{}, runtime.GOMAXPROCS(0))
		for i := range n {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				m, err := buildMemLayer(i, per)
				if errs[i] = err; err == nil {
					bench.layers[i] = m
					layers[i], errs[i] = partial.CompressedToLayer(m)
				}
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				bench.err = err
				return
			}
			bench.size += bench.layers[i].tarSize
		}
		bench.img = imageOf(b, layers...)
	})
	if bench.err != nil {
		b.Fatal(bench.err)
	}
	return bench.img, bench.size
}

// BenchmarkScan scans a 1 GiB image (8 gzip layers); MB/s counts uncompressed layer bytes.
// B/op shows that memory does not grow with the image: layers are streamed, never buffered.
func BenchmarkScan(b *testing.B) {
	img, size := benchImage(b)
	benchScan(b, img, size)
}

// BenchmarkScanPlainArchive scans the same filesystem as BenchmarkScan as the engine exports it
// with uncompressed layers (Container.asTarball with forcedCompression Uncompressed), unpacked
// on disk as OpenOCIArchive leaves it: the scan moves past the bodies of the files it does not
// judge instead of inflating them. Compare it with BenchmarkPushReference too: the push is of the
// gzip image, as publish pushes it.
func BenchmarkScanPlainArchive(b *testing.B) {
	_, size := benchImage(b)
	layers := make([]v1.Layer, len(bench.layers))
	for i, m := range bench.layers {
		layers[i] = gunzipLayer{m}
	}
	dir := layoutOf(b, imageOf(b, layers...))
	img, err := openLayout(dir, dir)
	if err != nil {
		b.Fatal(err)
	}
	benchScan(b, img, size)
}

// benchScan scans img, whose layers hold size uncompressed bytes, b.N times.
func benchScan(b *testing.B, img v1.Image, size int64) {
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		res, err := Scan(b.Context(), Input{Image: img, Platform: platform, Version: release, Changelog: []byte(finalized)})
		if err != nil || res.Bytes != size || res.Count(Passed) != 8 || res.Count(Skipped) != 8 {
			b.Fatalf("%v: %d bytes, %d passed, %d skipped", err, res.Bytes, res.Count(Passed), res.Count(Skipped))
		}
	}
}

// gunzipLayer is a bench layer uncompressed: stored as plain tar under an uncompressed media type.
type gunzipLayer struct{ m *memLayer }

func (g gunzipLayer) Digest() (v1.Hash, error)             { return g.m.diffID, nil }
func (g gunzipLayer) DiffID() (v1.Hash, error)             { return g.m.diffID, nil }
func (g gunzipLayer) Size() (int64, error)                 { return g.m.tarSize, nil }
func (g gunzipLayer) MediaType() (types.MediaType, error)  { return types.OCIUncompressedLayer, nil }
func (g gunzipLayer) Uncompressed() (io.ReadCloser, error) { return g.m.Uncompressed() }
func (g gunzipLayer) Compressed() (io.ReadCloser, error)   { return g.Uncompressed() }

// BenchmarkPushReference pushes the same image with remote.Write to a fresh in-process registry
// (ggcr pkg/registry): the scan must not cost more than this. MB/s counts the same bytes as
// BenchmarkScan, so the two figures compare directly.
func BenchmarkPushReference(b *testing.B) {
	img, size := benchImage(b)
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
		ref, err := name.ParseReference(strings.TrimPrefix(srv.URL, "http://") + "/app:1.4.0-arm64")
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := remote.Write(ref, img, remote.WithContext(b.Context())); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		srv.Close()
		runtime.GC()
		b.StartTimer()
	}
}
