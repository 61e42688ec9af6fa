package imagescan

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"hash"
	"io"
	"testing"

	gcompression "github.com/google/go-containerregistry/pkg/compression"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/zstd"

	"github.com/shipgate/shipgate/pipeline/version"
)

var (
	release  = version.MustParse("1.4.0")
	platform = version.Platform{OS: "linux", Architecture: "arm64"}
)

// finalized is the CHANGELOG of the finalize commit of 1.4.0.
const finalized = `# Changelog

## [Unreleased]

## [1.4.0] - 2026-11-29

### Added
- Multi-arch images.

## [1.3.0] - 2026-09-15

### Fixed
- Parser crash on empty input.
`

// withTBD is the same CHANGELOG before finalize: the founding bug.
const withTBD = `# Changelog

## [Unreleased]

## [1.4.0] - TBD

### Added
- Multi-arch images.

## [1.3.0] - 2026-09-15

### Fixed
- Parser crash on empty input.
`

// beforePrepare is this project's CHANGELOG before the release section was opened.
const beforePrepare = `# Changelog

## [Unreleased]

### Added
- Multi-arch images.

## [1.3.0] - 2026-09-15

### Fixed
- Parser crash on empty input.
`

// vendored is another project's CHANGELOG, with no [1.4.0].
const vendored = `# Changelog

## [2.0.1] - 2021-03-04

- Fix padding of empty strings.

## [2.0.0] - 2020-01-01

- First stable release.
`

// vendoredSameVersion is another project's CHANGELOG that happens to have a [1.4.0].
const vendoredSameVersion = `# left-pad

## 1.4.0 - 2019-05-05

- Pad with any rune.

## 1.3.0 - 2018-01-01

- Pad on the right.
`

// ent is one tar entry of a test layer.
type ent struct {
	name string
	body string
	typ  byte // tar.TypeReg when zero
	link string
}

func file(name, body string) ent    { return ent{name: name, body: body} }
func dir(name string) ent           { return ent{name: name, typ: tar.TypeDir} }
func symlink(name, to string) ent   { return ent{name: name, typ: tar.TypeSymlink, link: to} }
func hardlink(name, to string) ent  { return ent{name: name, typ: tar.TypeLink, link: to} }
func whiteout(dir, name string) ent { return ent{name: dir + "/.wh." + name} }
func opaque(dir string) ent         { return ent{name: dir + "/.wh..wh..opq"} }

// tarOf writes entries as a tar stream.
func tarOf(t testing.TB, entries ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: 0o644, Size: int64(len(e.body))}
		if e.typ == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Typeflag != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil && h.Size > 0 {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// compression is how a test layer is stored.
type compression int

const (
	gzipped   compression = iota
	zstded                // zstd, with the OCI zstd media type
	plain                 // uncompressed, with the OCI uncompressed media type
	plainAsGz             // uncompressed tar under ggcr's default (gzip) media type
)

// layerOf is a gzip layer of entries (uncompressed, with an uncompressed media type, when gz is false).
func layerOf(t testing.TB, gz bool, entries ...ent) v1.Layer {
	t.Helper()
	if gz {
		return layerAs(t, gzipped, entries...)
	}
	return layerAs(t, plain, entries...)
}

// layerAs is a layer of entries stored as c.
func layerAs(t testing.TB, c compression, entries ...ent) v1.Layer {
	t.Helper()
	b := tarOf(t, entries...)
	var opts []tarball.LayerOption
	switch c {
	case gzipped:
		var z bytes.Buffer
		w := gzip.NewWriter(&z)
		_, _ = w.Write(b)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		b = z.Bytes()
	case zstded:
		w, _ := zstd.NewWriter(nil)
		b = w.EncodeAll(b, nil)
		opts = append(opts, tarball.WithMediaType(types.OCILayerZStd), tarball.WithCompression(gcompression.ZStd))
	case plain:
		opts = append(opts, tarball.WithMediaType(types.OCIUncompressedLayer))
	}
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// imageOf stacks layers on an empty image.
func imageOf(t testing.TB, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// scan runs Scan on img for release 1.4.0 with the finalized CHANGELOG.
func scan(t testing.TB, img v1.Image, copies ...string) (Result, error) {
	t.Helper()
	return Scan(context.Background(), Input{Image: img, Platform: platform, Version: release, Changelog: []byte(finalized), Copies: copies, FinalizeCommit: "abc1234"})
}

func digestOf(t testing.TB, l v1.Layer) v1.Hash {
	t.Helper()
	d, err := l.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// fileAt finds the verdict on p, failing the test when there is none.
func fileAt(t testing.TB, r Result, p string) File {
	t.Helper()
	for _, f := range r.Files {
		if f.Path == p {
			return f
		}
	}
	t.Fatalf("no verdict on %s in %+v", p, r.Files)
	return File{}
}

// tarballLayer is a layer of raw bytes, as given.
func tarballLayer(b []byte) (v1.Layer, error) {
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
}

// memLayer is a test layer held in memory: blob is the layer as stored, under mediaType, and
// digest its digest; diffID is the digest of the uncompressed tar, and tarSize its length where
// the test needs it (the benchmark's layers).
type memLayer struct {
	blob           []byte
	mediaType      types.MediaType
	digest, diffID v1.Hash
	tarSize        int64
}

func (l *memLayer) Digest() (v1.Hash, error)            { return l.digest, nil }
func (l *memLayer) DiffID() (v1.Hash, error)            { return l.diffID, nil }
func (l *memLayer) Size() (int64, error)                { return int64(len(l.blob)), nil }
func (l *memLayer) MediaType() (types.MediaType, error) { return l.mediaType, nil }
func (l *memLayer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.blob)), nil
}

// Uncompressed is the blob as stored under an uncompressed media type, and the blob inflated
// otherwise (the compressed test layers are gzip).
func (l *memLayer) Uncompressed() (io.ReadCloser, error) {
	if uncompressed[l.mediaType] {
		return l.Compressed()
	}
	return gzip.NewReader(bytes.NewReader(l.blob))
}

// sum is the sha256 digest h has computed.
func sum(h hash.Hash) v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}
}
