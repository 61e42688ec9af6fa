package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"regexp"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/shipgate/shipgate/pipeline/testkit"
	"github.com/shipgate/shipgate/pipeline/version"
)

// zeroLayer is an uncompressed layer of n zero bytes (a valid, empty tar stream) generated on the
// fly, so that a 256 MiB layer costs no memory to build.
type zeroLayer struct {
	n    int64
	once sync.Once
	h    v1.Hash
}

func (z *zeroLayer) Digest() (v1.Hash, error) {
	z.once.Do(func() {
		s := sha256.New()
		_, _ = io.Copy(s, io.LimitReader(zeros{}, z.n))
		z.h = v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(s.Sum(nil))}
	})
	return z.h, nil
}
func (z *zeroLayer) DiffID() (v1.Hash, error) { return z.Digest() }
func (z *zeroLayer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(io.LimitReader(zeros{}, z.n)), nil
}
func (z *zeroLayer) Uncompressed() (io.ReadCloser, error) { return z.Compressed() }
func (z *zeroLayer) Size() (int64, error)                 { return z.n, nil }
func (z *zeroLayer) MediaType() (types.MediaType, error)  { return types.OCIUncompressedLayer, nil }

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// benchUpstream is the real registry process when it is available (or required), else the
// in-process one: big layers go to disk, not memory.
func benchUpstream(tb testing.TB) string {
	tb.Helper()
	if _, err := exec.LookPath(testkit.RegistryBinary()); err == nil || os.Getenv("SHIPGATE_REQUIRE_REGISTRY") == "1" {
		return testkit.RegistryProcess(tb, testkit.RegistryOptions{})
	}
	return testkit.Registry(tb, testkit.RegistryOptions{})
}

// promoteFixture publishes 1.0.0 (small, what latest holds before) and 1.1.0, whose two
// platforms share one base layer of layerSize bytes.
type promoteFixture struct {
	e        *env
	old, rel Published
}

func newPromoteFixture(tb testing.TB, upstream string, layerSize int64) *promoteFixture {
	tb.Helper()
	e := newEnv(tb, upstream)
	f := &promoteFixture{e: e}
	f.old = e.publishPromoted("1.0.0", TagOptions{})
	base := &zeroLayer{n: layerSize}
	srcs := []Source{
		{Platform: amd64, Image: image(tb, amd64, base, layer(tb, 1024))},
		{Platform: arm64, Image: image(tb, arm64, base, layer(tb, 1024))},
	}
	var err error
	e.counter.Reset()
	if f.rel, err = e.c.Publish(context.Background(), specFor(e.repo, "1.1.0", srcs)); err != nil {
		tb.Fatal(err)
	}
	if sent := e.counter.Total().BytesSent; sent < layerSize {
		tb.Fatalf("publishing a %d-byte layer sent only %d bytes", layerSize, sent)
	}
	return f
}

// promoteOnce resets latest to 1.0.0 (not counted), then counts the registry work of promote,
// as one phase with its own client (its own registry session): check the index, plan the tags,
// retag latest.
func (f *promoteFixture) promoteOnce(tb testing.TB, timer benchTimer) testkit.Stats {
	tb.Helper()
	ctx := context.Background()
	if timer != nil {
		timer.StopTimer()
	}
	f.e.retag("acme/app@"+f.old.Index.String(), "acme/app:latest")
	f.e.counter.Reset()
	if timer != nil {
		timer.StartTimer()
	}
	v := version.MustParse("1.1.0")
	c := f.e.fresh()
	chk, err := c.CheckIndex(ctx, f.e.repo, v, both)
	if err != nil || !chk.OK() || chk.Digest != f.rel.Index {
		tb.Fatalf("check: %v %v", err, chk.Err())
	}
	plan, err := c.PlanTags(ctx, f.e.repo, v, chk.Digest, TagOptions{})
	if err != nil || len(plan.Moves) != 1 {
		tb.Fatalf("plan: %v\n%s", err, plan)
	}
	if err := c.ApplyTags(ctx, plan); err != nil {
		tb.Fatal(err)
	}
	if timer != nil {
		timer.StopTimer()
	}
	st := f.e.counter.Total()
	if f.e.resolve("acme/app", "latest") != f.rel.Index {
		tb.Fatal("latest did not move")
	}
	if timer != nil {
		timer.StartTimer()
	}
	return st
}

// benchTimer is the part of *testing.B that pauses timing; nil in tests.
type benchTimer interface {
	StopTimer()
	StartTimer()
}

func addStats(a, b testkit.Stats) testkit.Stats {
	a.Requests += b.Requests
	a.BytesSent += b.BytesSent
	a.BytesReceived += b.BytesReceived
	return a
}

// Promote's registry cost must not depend on layer sizes (checked here on every go test).
func TestPromoteCostIndependentOfLayerSize(t *testing.T) {
	small := newPromoteFixture(t, testkit.Registry(t, testkit.RegistryOptions{}), 4<<10).promoteOnce(t, nil)
	large := newPromoteFixture(t, testkit.Registry(t, testkit.RegistryOptions{}), 4<<20).promoteOnce(t, nil)
	// Tags are read with GETs (manifests whose size fields have more digits for larger layers):
	// equal requests, bytes within 1%.
	sb, lb := small.BytesSent+small.BytesReceived, large.BytesSent+large.BytesReceived
	if small.Requests != large.Requests || lb-sb > sb/100 || sb-lb > sb/100 {
		t.Fatalf("promote cost depends on layer size: 4 KiB %+v, 4 MiB %+v", small, large)
	}
	if large.BytesSent+large.BytesReceived > 32<<10 {
		t.Fatalf("promote moved %d bytes: manifests only, please", large.BytesSent+large.BytesReceived)
	}
}

var promoteCosts sync.Map // layer label → testkit.Stats per op

// BenchmarkPromote measures promote's registry work (check + plan + retag of latest, latest reset
// before each iteration so the PUT happens) for 1 MiB and 256 MiB layers: requests/op must be
// identical and bytes/op within 1% (manifests read with GETs carry the layer sizes).
func BenchmarkPromote(b *testing.B) {
	for _, sz := range []struct {
		label string
		n     int64
	}{{"layer=1MiB", 1 << 20}, {"layer=256MiB", 256 << 20}} {
		b.Run(sz.label, func(b *testing.B) {
			f := newPromoteFixture(b, benchUpstream(b), sz.n)
			var total testkit.Stats
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				total = addStats(total, f.promoteOnce(b, b))
			}
			b.StopTimer()
			testkit.ReportPerOp(b, total)
			perOp := testkit.Stats{Requests: total.Requests / b.N, BytesSent: total.BytesSent / int64(b.N), BytesReceived: total.BytesReceived / int64(b.N)}
			promoteCosts.Store(sz.label, perOp)
			if other, ok := promoteCosts.Load("layer=1MiB"); ok && sz.label != "layer=1MiB" {
				o := other.(testkit.Stats)
				ob, pb := o.BytesSent+o.BytesReceived, perOp.BytesSent+perOp.BytesReceived
				if o.Requests != perOp.Requests || pb-ob > ob/100 || ob-pb > ob/100 {
					b.Fatalf("promote cost grows with layer size: 1 MiB %+v, %s %+v", o, sz.label, perOp)
				}
			}
		})
	}
}

// BenchmarkPublishReRun re-publishes an already published two-platform release, each time as a
// new phase (a new client): 0 bytes sent.
func BenchmarkPublishReRun(b *testing.B) {
	e := newEnv(b, benchUpstream(b))
	r := newRelease(b, 1<<20)
	spec := specFor(e.repo, "1.2.3", r.sources())
	if _, err := e.c.Publish(context.Background(), spec); err != nil {
		b.Fatal(err)
	}
	e.counter.Reset()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p, err := e.fresh().Publish(context.Background(), spec)
		if err != nil || !p.Reused {
			b.Fatalf("re-run: %+v %v", p, err)
		}
	}
	b.StopTimer()
	tot := e.counter.Total()
	testkit.ReportPerOp(b, tot)
	if tot.BytesSent != 0 {
		b.Fatalf("re-run sent %d bytes", tot.BytesSent)
	}
}

// BenchmarkPublishFirst publishes two platforms sharing two base layers into an empty registry
// and counts blob uploads: each shared blob is uploaded once.
func BenchmarkPublishFirst(b *testing.B) {
	r := newRelease(b, 1<<20)
	shared := map[string]bool{}
	for _, l := range r.base {
		d, _ := l.Digest()
		shared[d.Hex] = true
	}
	commit := regexp.MustCompile(`digest=sha256(?:%3A|:)([0-9a-f]{64})`)
	var uploads, sharedUploads int
	var total testkit.Stats
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		e := newEnv(b, testkit.Registry(b, testkit.RegistryOptions{}))
		b.StartTimer()
		if _, err := e.c.Publish(context.Background(), specFor(e.repo, "1.2.3", r.sources())); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		total = addStats(total, e.counter.Total())
		perBlob := map[string]int{}
		for _, req := range e.proxy.Requests() {
			if m := commit.FindStringSubmatch(req.Path); m != nil && req.Method == "PUT" {
				perBlob[m[1]]++
				uploads++
				if shared[m[1]] {
					sharedUploads++
				}
			}
		}
		for d, n := range perBlob {
			if n != 1 {
				b.Fatalf("blob %s uploaded %d times", d, n)
			}
		}
		b.StartTimer()
	}
	b.StopTimer()
	testkit.ReportPerOp(b, total)
	b.ReportMetric(float64(uploads)/float64(b.N), "blob-uploads/op")
	b.ReportMetric(float64(sharedUploads)/float64(b.N*len(shared)), "uploads-per-shared-blob")
	if sharedUploads != b.N*len(shared) {
		b.Fatalf("shared blobs uploaded %d times over %d ops, want %d", sharedUploads, b.N, b.N*len(shared))
	}
}
