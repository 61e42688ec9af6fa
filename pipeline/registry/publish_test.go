package registry

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/testkit"
	"github.com/shipgate/shipgate/pipeline/version"
)

func TestPublishInMemoryEveryLane(t *testing.T) {
	eachLane(t, lanes(), func(t *testing.T, e *env) {
		ctx := context.Background()
		r := newRelease(t, 4096)
		spec := specFor(e.repo, "1.2.3", r.sources())

		// Dry run: the plan, and nothing written.
		st, err := e.c.ObservePublish(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		if st.Done() || st.Refusal != "" || len(st.Plan()) != 5 {
			t.Fatalf("fresh observe: done=%v refusal=%q plan:\n%s", st.Done(), st.Refusal, st)
		}
		if w := e.writes(); len(w) != 0 {
			t.Fatalf("observe wrote: %v", w)
		}

		p, err := e.c.Publish(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		if p.Reused || p.Index != st.Index {
			t.Fatalf("published %+v, observe predicted %s", p, st.Index)
		}
		// Tags: X.Y.Z is the index, per-arch tags are the platform manifests, no latest.
		if got := e.resolve("acme/app", "1.2.3"); got != p.Index {
			t.Fatalf("1.2.3 → %s, want %s", got, p.Index)
		}
		if got := e.resolve("acme/app", "1.2.3-amd64"); got != testkit.Digest(t, r.amd) {
			t.Fatalf("1.2.3-amd64 → %s", got)
		}
		if got := e.resolve("acme/app", "1.2.3-arm64"); got != testkit.Digest(t, r.arm) {
			t.Fatalf("1.2.3-arm64 → %s", got)
		}
		if n := e.count("", `/manifests/latest`, 0); n != 0 {
			t.Fatalf("publish sent %d requests for latest", n)
		}
		if got := e.resolve("acme/app", "latest"); got != (v1.Hash{}) {
			t.Fatalf("publish wrote latest → %s", got)
		}
		// The index: OCI, platforms, annotations.
		im, err := v1.ParseIndexManifest(bytes.NewReader(e.manifestBytes("acme/app:1.2.3")))
		if err != nil {
			t.Fatal(err)
		}
		if im.MediaType != types.OCIImageIndex || len(im.Manifests) != 2 {
			t.Fatalf("index %+v", im)
		}
		for i, want := range []version.Platform{amd64, arm64} {
			m := im.Manifests[i]
			if m.Platform == nil || m.Platform.OS != want.OS || m.Platform.Architecture != want.Architecture || m.ArtifactType != "" || len(m.Annotations) != 0 {
				t.Fatalf("entry %d: %+v", i, m)
			}
		}
		wantAnn := map[string]string{
			AnnotationVersion:  "1.2.3",
			AnnotationSource:   "https://github.com/acme/app",
			AnnotationRevision: "0123456789abcdef0123456789abcdef01234567",
			AnnotationCreated:  "2026-11-03T09:30:00Z",
		}
		for k, v := range wantAnn {
			if im.Annotations[k] != v {
				t.Errorf("annotation %s = %q, want %q", k, im.Annotations[k], v)
			}
		}
		chk, err := e.c.CheckIndex(ctx, e.repo, spec.Version, both)
		if err != nil || !chk.OK() || chk.Digest != p.Index {
			t.Fatalf("check after publish: %v %v", err, chk.Err())
		}

		// Re-run: same digest, nothing written, not one byte sent.
		mark := e.mark()
		e.counter.Reset()
		again, err := e.c.Publish(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		if !again.Reused || again.Index != p.Index {
			t.Fatalf("re-run: %+v", again)
		}
		tot := e.counter.Total()
		if tot.BytesSent != 0 || tot.ByMethod["PUT"]+tot.ByMethod["POST"]+tot.ByMethod["PATCH"] != 0 {
			t.Fatalf("re-run sent %d bytes, methods %v", tot.BytesSent, tot.ByMethod)
		}
		if n := e.count("", "", mark); n > 8 {
			t.Fatalf("re-run made %d requests, want a handful of reads", n)
		}
	})
}

func TestPublishIsDeterministic(t *testing.T) {
	r := newRelease(t, 1024)
	a := localEnv(t)
	b := localEnv(t)
	pa, err := a.c.Publish(context.Background(), specFor(a.repo, "1.2.3", r.sources()))
	if err != nil {
		t.Fatal(err)
	}
	// Sources in another order, the same instant in another zone: the same index.
	spec := specFor(b.repo, "1.2.3", []Source{r.sources()[1], r.sources()[0]})
	spec.Created = created.UTC()
	pb, err := b.c.Publish(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if pa.Index != pb.Index {
		t.Fatalf("same input, different index digests %s and %s", pa.Index, pb.Index)
	}
	spec.Created = created.Add(time.Second)
	st, err := b.c.ObservePublish(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if st.Index == pa.Index {
		t.Fatalf("a different commit time must give a different index")
	}
}

// Platform images built on different machines are pushed by digest and joined.
func TestPublishJoinsDigestsFromNativeBuilders(t *testing.T) {
	eachLane(t, lanes(), func(t *testing.T, e *env) {
		ctx := context.Background()
		r := newRelease(t, 2048)
		// Two builders, each pushing its image by digest as the engine does.
		amdDigest, armDigest := testkit.Digest(t, r.amd), testkit.Digest(t, r.arm)
		for _, img := range []v1.Image{r.amd, r.arm} {
			if err := remote.Write(e.ref("acme/app@"+testkit.Digest(t, img).String()), img); err != nil {
				t.Fatal(err)
			}
		}
		// Digests as the engine reports them: alone, or as ref@digest.
		spec := specFor(e.repo, "2.0.0", []Source{
			{Platform: amd64, Digest: amdDigest.String()},
			{Platform: arm64, Digest: e.repo + ":2.0.0-arm64@" + armDigest.String()},
		})
		mark := e.mark()
		p, err := e.c.Publish(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		if n := e.count("", `/blobs/`, mark); n != 2 {
			// only the two config reads; no blob is uploaded for a join
			t.Fatalf("join touched blobs %d times, want 2 config reads", n)
		}
		if e.count("PATCH", ``, mark)+e.count("POST", ``, mark) != 0 {
			t.Fatalf("join uploaded blobs")
		}
		// The join equals an in-memory publish of the same images.
		st, err := e.c.ObservePublish(ctx, specFor(e.repo, "2.0.0", r.sources()))
		if err != nil {
			t.Fatal(err)
		}
		if st.Index != p.Index || !st.Done() {
			t.Fatalf("in-memory observe of the same images: %s done=%v, join %s", st.Index, st.Done(), p.Index)
		}
	})
}

// A digest pushed to another repository of the same registry is mounted, not uploaded.
func TestPublishMountsAcrossRepositories(t *testing.T) {
	eachLane(t, lanes(), func(t *testing.T, e *env) {
		ctx := context.Background()
		r := newRelease(t, 2048)
		staging := e.host + "/acme/staging"
		var sources []Source
		for _, s := range r.sources() {
			d := testkit.Digest(t, s.Image)
			if err := remote.Write(e.ref("acme/staging@"+d.String()), s.Image); err != nil {
				t.Fatal(err)
			}
			sources = append(sources, Source{Platform: s.Platform, Digest: staging + "@" + d.String()})
		}
		mark := e.mark()
		e.counter.Reset()
		p, err := e.c.Publish(ctx, specFor(e.repo, "1.0.0", sources))
		if err != nil {
			t.Fatal(err)
		}
		if n := e.count("PATCH", ``, mark); n != 0 {
			t.Fatalf("%d blob uploads; every blob should have been mounted or found", n)
		}
		if e.lane == "process" {
			// distribution answers HEAD 404 in the new repository, then mounts: 6 distinct blobs.
			if n := e.count("POST", `mount=sha256`, mark); n != 6 {
				t.Fatalf("%d mount requests, want 6", n)
			}
		}
		if chk, err := e.c.CheckIndex(ctx, e.repo, version.MustParse("1.0.0"), both); err != nil || !chk.OK() || chk.Digest != p.Index {
			t.Fatalf("check: %v %v", err, chk.Err())
		}
	})
}

func TestPublishUploadsSharedBlobsOnceWithBoundedJobs(t *testing.T) {
	e := localEnv(t, WithJobs(2))
	r := newRelease(t, 64<<10)
	var inflight, peak atomic.Int64
	e.c.o.transport = roundTripFunc(func(req *http.Request) (*http.Response, error) {
		if strings.Contains(req.URL.Path, "/blobs/uploads") {
			n := inflight.Add(1)
			defer inflight.Add(-1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
		}
		return e.counter.RoundTrip(req)
	})
	slow := e.proxy.Inject(testkit.Fault{Path: regexp.MustCompile(`/blobs/uploads`), Latency: 20 * time.Millisecond})
	if _, err := e.c.Publish(context.Background(), specFor(e.repo, "1.2.3", r.sources())); err != nil {
		t.Fatal(err)
	}
	if slow.Injected() == 0 {
		t.Fatal("the upload latency never applied")
	}
	commits := map[string]int{}
	re := regexp.MustCompile(`digest=(sha256(%3A|:)[0-9a-f]{64})`)
	for _, req := range e.proxy.Requests() {
		if req.Method == "PUT" {
			if m := re.FindStringSubmatch(req.Path); m != nil {
				commits[m[1]]++
			}
		}
	}
	// 2 shared base layers + 2 own layers + 2 configs.
	if len(commits) != 6 {
		t.Fatalf("%d distinct blobs committed, want 6: %v", len(commits), commits)
	}
	for d, n := range commits {
		if n != 1 {
			t.Errorf("blob %s uploaded %d times", d, n)
		}
	}
	if p := peak.Load(); p != 2 {
		t.Fatalf("peak concurrent uploads %d, want exactly the 2 jobs allowed", p)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestPublishRefusesMislabelledPlatform(t *testing.T) {
	eachLane(t, lanes(), func(t *testing.T, e *env) {
		ctx := context.Background()
		// What a real engine produced: an arm64 build whose config says amd64.
		good := image(t, amd64, layer(t, 256))
		bad := image(t, amd64, layer(t, 256))

		// In memory: refused before anything is written.
		_, err := e.c.Publish(ctx, specFor(e.repo, "1.2.3", []Source{{Platform: amd64, Image: good}, {Platform: arm64, Image: bad}}))
		if err == nil || !strings.Contains(err.Error(), "built for linux/arm64 but its config says linux/amd64") || !strings.Contains(err.Error(), "nothing was published") ||
			!strings.Contains(err.Error(), "upgrade the engine") || !strings.Contains(err.Error(), "the image's config says linux/arm64") || strings.Contains(err.Error(), "WithRootfs") {
			t.Fatalf("publish of a mislabelled image: %v", err)
		}
		if w := e.writes(); len(w) != 0 {
			t.Fatalf("wrote %d requests before refusing: %v", len(w), w)
		}
		if fault.Of(err) != fault.Refused {
			t.Fatalf("a mislabelled image is a refusal, got %v", fault.Of(err))
		}

		// Pushed by the engine: the registry's config is read and the publish refused.
		if err := remote.Write(e.ref("acme/app@"+testkit.Digest(t, bad).String()), bad); err != nil {
			t.Fatal(err)
		}
		gd := testkit.Digest(t, good)
		if err := remote.Write(e.ref("acme/app@"+gd.String()), good); err != nil {
			t.Fatal(err)
		}
		mark := e.mark()
		_, err = e.c.Publish(ctx, specFor(e.repo, "1.2.3", []Source{{Platform: amd64, Digest: gd.String()}, {Platform: arm64, Digest: testkit.Digest(t, bad).String()}}))
		if err == nil || !strings.Contains(err.Error(), "config says linux/amd64") {
			t.Fatalf("publish of a mislabelled digest: %v", err)
		}
		if n := len(e.writes()) - countWrites(e.proxy.Requests()[:mark]); n != 0 {
			t.Fatalf("wrote %d requests", n)
		}
		for _, tag := range []string{"1.2.3", "1.2.3-amd64", "1.2.3-arm64"} {
			if got := e.resolve("acme/app", tag); got != (v1.Hash{}) {
				t.Fatalf("tag %s written: %s", tag, got)
			}
		}
	})
}

func countWrites(rs []testkit.Request) int {
	n := 0
	for _, r := range rs {
		if r.Method != "GET" && r.Method != "HEAD" {
			n++
		}
	}
	return n
}

func TestPublishBadInput(t *testing.T) {
	e := localEnv(t)
	ctx := context.Background()
	r := newRelease(t, 256)
	img := r.amd
	idx := mustIndex(t)
	if err := remote.WriteIndex(e.ref("acme/app:engine-index"), idx); err != nil {
		t.Fatal(err)
	}
	idxDigest, _ := idx.Digest()
	cases := []struct {
		name string
		spec IndexSpec
		want string
	}{
		{"no registry", specFor("acme/app", "1.2.3", r.sources()), "does not name its registry"},
		{"tag in repository", specFor(e.repo+":1.2.3", "1.2.3", r.sources()), "has a tag"},
		{"upper case", specFor(e.host+"/Acme/App", "1.2.3", r.sources()), "write " + e.host + "/acme/app"},
		{"no sources", specFor(e.repo, "1.2.3", nil), "no platform images"},
		{"duplicate platform", specFor(e.repo, "1.2.3", []Source{{Platform: amd64, Image: img}, {Platform: amd64, Image: img}}), "given twice"},
		{"both digest and image", specFor(e.repo, "1.2.3", []Source{{Platform: amd64, Image: img, Digest: "sha256:" + strings.Repeat("a", 64)}}), "not both"},
		{"neither", specFor(e.repo, "1.2.3", []Source{{Platform: amd64}}), "give the manifest digest"},
		{"malformed digest", specFor(e.repo, "1.2.3", []Source{{Platform: amd64, Digest: "sha256:abc"}}), "not a manifest digest"},
		{"unknown digest", specFor(e.repo, "1.2.3", []Source{{Platform: amd64, Digest: "sha256:" + strings.Repeat("a", 64)}}), "does not exist: push the linux/amd64 image first"},
		{"digest is an index", specFor(e.repo, "1.2.3", []Source{{Platform: amd64, Digest: idxDigest.String()}}), "not a platform image manifest"},
		{"other registry", specFor(e.repo, "1.2.3", []Source{{Platform: amd64, Digest: "ghcr.io/acme/app@sha256:" + strings.Repeat("a", 64)}}), "blobs are mounted only within one registry"},
		{"no created", func() IndexSpec { s := specFor(e.repo, "1.2.3", r.sources()); s.Created = time.Time{}; return s }(), "finalize commit's time"},
		{"no version", func() IndexSpec { s := specFor(e.repo, "1.2.3", r.sources()); s.Version = version.Version{}; return s }(), "no version"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mark := countWrites(e.proxy.Requests())
			_, err := e.c.Publish(ctx, tc.spec)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to say %q", err, tc.want)
			}
			if n := countWrites(e.proxy.Requests()) - mark; n != 0 {
				t.Fatalf("wrote %d requests", n)
			}
		})
	}
}

func mustIndex(t testing.TB) v1.ImageIndex {
	t.Helper()
	idx, err := randomIndex()
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

func TestPublishImmutability(t *testing.T) {
	eachLane(t, lanes(), func(t *testing.T, e *env) {
		ctx := context.Background()
		first := e.publish("1.2.3")
		other := newRelease(t, 512)
		spec := specFor(e.repo, "1.2.3", other.sources())

		st, err := e.c.ObservePublish(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		if st.Conflict == "" || st.Refusal == "" || !strings.HasPrefix(st.Plan()[0], "refuse:") {
			t.Fatalf("observe of different content: %+v", st)
		}
		mark := countWrites(e.proxy.Requests())
		_, err = e.c.Publish(ctx, spec)
		if !errors.Is(err, ErrImmutable) || !strings.Contains(err.Error(), "--rebuild") || !strings.Contains(err.Error(), first.Index.String()) || fault.Of(err) != fault.Refused {
			t.Fatalf("different content without rebuild: %v", err)
		}
		if n := countWrites(e.proxy.Requests()) - mark; n != 0 {
			t.Fatalf("refusal wrote %d requests", n)
		}

		promoted := spec
		promoted.Rebuild, promoted.Promoted = true, true
		if _, err := e.c.Publish(ctx, promoted); !errors.Is(err, ErrImmutable) || !strings.Contains(err.Error(), "was promoted") {
			t.Fatalf("rebuild of a promoted version: %v", err)
		}
		if got := e.resolve("acme/app", "1.2.3"); got != first.Index {
			t.Fatalf("1.2.3 changed to %s", got)
		}

		rebuild := spec
		rebuild.Rebuild = true
		p, err := e.c.Publish(ctx, rebuild)
		if err != nil {
			t.Fatal(err)
		}
		if p.Replaced != first.Index || p.Index == first.Index {
			t.Fatalf("rebuild: %+v", p)
		}
		if chk, err := e.c.CheckIndex(ctx, e.repo, spec.Version, both); err != nil || !chk.OK() || chk.Digest != p.Index {
			t.Fatalf("after rebuild: %v %v", err, chk.Err())
		}
		// Same content once promoted is still just reused.
		same := spec
		same.Promoted = true
		if p2, err := e.c.Publish(ctx, same); err != nil || !p2.Reused {
			t.Fatalf("re-run of a promoted version: %+v %v", p2, err)
		}
	})
}

func TestPublishReplacesSingleManifestOnlyWithRebuild(t *testing.T) {
	e := localEnv(t)
	ctx := context.Background()
	r := newRelease(t, 256)
	// The engine bug: one amd64 manifest pushed as 1.2.3.
	if err := remote.Write(e.ref("acme/app:1.2.3"), r.amd); err != nil {
		t.Fatal(err)
	}
	spec := specFor(e.repo, "1.2.3", r.sources())
	_, err := e.c.Publish(ctx, spec)
	if !errors.Is(err, ErrImmutable) || !strings.Contains(err.Error(), "a single manifest") {
		t.Fatalf("publish over a single manifest: %v", err)
	}
	chk, err := e.c.CheckIndex(ctx, e.repo, spec.Version, both)
	if err != nil || chk.OK() || !strings.Contains(chk.Err().Error(), "single manifest") {
		t.Fatalf("check of a single manifest: %v %v", err, chk.Err())
	}
	spec.Rebuild = true
	if _, err := e.c.Publish(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if chk, _ := e.c.CheckIndex(ctx, e.repo, spec.Version, both); !chk.OK() {
		t.Fatal(chk.Err())
	}
}

func TestPublishRepairsPerArchTag(t *testing.T) {
	e := localEnv(t)
	ctx := context.Background()
	r := newRelease(t, 256)
	spec := specFor(e.repo, "1.2.3", r.sources())
	if _, err := e.c.Publish(ctx, spec); err != nil {
		t.Fatal(err)
	}
	// Someone points 1.2.3-arm64 at the amd64 manifest.
	e.retag("acme/app@"+testkit.Digest(t, r.amd).String(), "acme/app:1.2.3-arm64")
	chk, err := e.c.CheckIndex(ctx, e.repo, spec.Version, both)
	if err != nil || chk.OK() || !strings.Contains(chk.Err().Error(), "tag 1.2.3-arm64 resolves to "+testkit.Digest(t, r.amd).String()+", but the index's linux/arm64 entry is "+testkit.Digest(t, r.arm).String()) {
		t.Fatalf("check of a moved per-arch tag: %v %v", err, chk.Err())
	}
	// The index is the same, so a re-run repairs the per-arch tag without Rebuild.
	p, err := e.c.Publish(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if p.Reused || len(p.Wrote) != 1 || !strings.Contains(p.Wrote[0], "1.2.3-arm64") {
		t.Fatalf("repair wrote %v", p.Wrote)
	}
	if chk, _ := e.c.CheckIndex(ctx, e.repo, spec.Version, both); !chk.OK() {
		t.Fatal(chk.Err())
	}
}
