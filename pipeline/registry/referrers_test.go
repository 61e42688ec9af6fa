package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/testkit"
)

// Artifact types of the referrers the tests store.
const (
	bundleType = "application/vnd.dev.sigstore.bundle.v0.3+json"
	sbomType   = "application/vnd.example.sbom"
	emptyType  = "application/vnd.oci.empty.v1+json"
)

// referrerLanes are the registries a referrers listing is checked against: the referrers API in
// pages of 2, the same with server-side filtering, the sha256-<hex> tag fallback in-process and
// in a real registry process.
func referrerLanes() []lane {
	api := func(filter bool) func(testing.TB, testkit.RegistryOptions) string {
		return func(t testing.TB, o testkit.RegistryOptions) string {
			o.Referrers, o.ReferrersPage, o.ReferrersFilter = true, 2, filter
			return testkit.Registry(t, o)
		}
	}
	return []lane{{"api-paged", api(false)}, {"api-paged-filtered", api(true)}, {"tag-fallback", testkit.Registry}, {"process", testkit.RegistryProcess}}
}

// referrer is a signature-like referrer of subject, as the signature store writes one: an empty
// config, one layer (body) and the artifact type; its manifest bytes and blobs.
func referrer(tb testing.TB, subject v1.Descriptor, artifactType, body string) (rawManifest, []v1.Layer) {
	tb.Helper()
	cfg := static.NewLayer([]byte("{}"), emptyType)
	layer := static.NewLayer([]byte(body), types.MediaType(artifactType))
	cd, _ := cfg.Digest()
	ld, _ := layer.Digest()
	m := v1.Manifest{
		SchemaVersion: 2, MediaType: types.OCIManifestSchema1, ArtifactType: artifactType,
		Config:      v1.Descriptor{MediaType: emptyType, Digest: cd, Size: 2},
		Layers:      []v1.Descriptor{{MediaType: types.MediaType(artifactType), Digest: ld, Size: int64(len(body))}},
		Subject:     &v1.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size},
		Annotations: map[string]string{AnnotationCreated: created.UTC().Format(time.RFC3339)},
	}
	raw, err := json.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	return rawManifest{raw: raw, mediaType: types.OCIManifestSchema1}, []v1.Layer{cfg, layer}
}

// attachVia stores a referrer of subject through c's RemoteOptions, in c's session, as the
// signature store does: HEAD the subject, upload the blobs, PUT the manifest by digest (on a
// registry without the referrers API go-containerregistry adds it to the sha256-<hex> index), then
// list the subject's referrers to see it there.
func attachVia(tb testing.TB, c *Client, subject name.Digest, artifactType, body string) v1.Hash {
	tb.Helper()
	ctx := context.Background()
	opts := c.RemoteOptions(ctx)
	desc, err := remote.Head(subject, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	m, blobs := referrer(tb, *desc, artifactType, body)
	for _, b := range blobs {
		if err := remote.WriteLayer(subject.Context(), b, opts...); err != nil {
			tb.Fatal(err)
		}
	}
	h, _, _ := v1.SHA256(strings.NewReader(string(m.raw)))
	if err := remote.Put(subject.Context().Digest(h.String()), m, opts...); err != nil {
		tb.Fatal(err)
	}
	listed, err := c.Referrers(ctx, subject, artifactType)
	if err != nil || !listedIn(listed, h) {
		tb.Fatalf("referrer %s of %s not listed: %v", h, subject, err)
	}
	return h
}

// listedIn reports whether ds lists the descriptor of digest h.
func listedIn(ds []v1.Descriptor, h v1.Hash) bool {
	return slices.ContainsFunc(ds, func(d v1.Descriptor) bool { return d.Digest == h })
}

// subjectOf publishes a release and returns its index as a subject.
func (e *env) subjectOf(v string) name.Digest {
	e.t.Helper()
	p := e.publish(v)
	return e.ref("acme/app@" + p.Index.String()).(name.Digest)
}

// Every referrer is listed, each once, across pages; a filter by artifact type is applied by the
// registry when it says so and here otherwise; on a registry without the referrers API the
// sha256-<hex> tag is read instead, and the API is asked once per phase.
func TestReferrersListsEveryPage(t *testing.T) {
	for _, l := range referrerLanes() {
		t.Run(l.name, func(t *testing.T) {
			e := laneEnv(t, l)
			ctx := context.Background()
			subject := e.subjectOf("1.2.3")
			var sigs, sboms []v1.Hash
			for i := 0; i < 3; i++ {
				sigs = append(sigs, attachVia(t, e.c, subject, bundleType, fmt.Sprintf("sig %d", i)))
				if i < 2 {
					sboms = append(sboms, attachVia(t, e.c, subject, sbomType, fmt.Sprintf("sbom %d", i)))
				}
			}
			c := e.fresh()
			mark := e.mark()
			all, err := c.Referrers(ctx, subject, "")
			if err != nil || len(all) != 5 {
				t.Fatalf("all referrers: %d %v", len(all), err)
			}
			for _, h := range append(append([]v1.Hash{}, sigs...), sboms...) {
				if !listedIn(all, h) {
					t.Fatalf("%s missing from %v", h, all)
				}
			}
			api, tag := e.count("GET", `/referrers/`, mark), e.count("GET", `/manifests/sha256-`, mark)
			if strings.HasPrefix(l.name, "api") && (api != 3 || tag != 0) {
				t.Fatalf("API lane: %d referrers pages (want 3: 5 referrers, 2 a page), %d tag reads", api, tag)
			}
			if !strings.HasPrefix(l.name, "api") && (api > 1 || tag != 1) {
				t.Fatalf("fallback lane: %d referrers API requests (want at most 1), %d tag reads (want 1)", api, tag)
			}
			mark = e.mark()
			got, err := c.Referrers(ctx, subject, sbomType)
			if err != nil || len(got) != 2 || !listedIn(got, sboms[0]) || !listedIn(got, sboms[1]) {
				t.Fatalf("sboms: %v %v", got, err)
			}
			if n := e.count("GET", `/referrers/`, mark); !strings.HasPrefix(l.name, "api") && n != 0 {
				t.Fatalf("the referrers API was asked again (%d) on a registry that lacks it", n)
			}
			if l.name == "api-paged-filtered" && e.count("GET", `/referrers/.*artifactType=`, mark) != 1 {
				t.Fatalf("a filtered listing of 2 took more than one page: %v", e.proxy.Requests()[mark:])
			}
		})
	}
}

// A listing longer than the page limit fails naming the subject; nothing partial comes back.
func TestReferrersPageLimitNamesTheListing(t *testing.T) {
	e := laneEnv(t, referrerLanes()[0])
	subject := e.subjectOf("1.2.3")
	for i := 0; i < 5; i++ {
		attachVia(t, e.c, subject, bundleType, fmt.Sprintf("sig %d", i))
	}
	old := maxReferrerPages
	maxReferrerPages = 2
	t.Cleanup(func() { maxReferrerPages = old })
	got, err := e.fresh().Referrers(context.Background(), subject, "")
	if got != nil || err == nil || fault.Of(err) != fault.Unreadable || !strings.Contains(err.Error(), subject.String()) || !strings.Contains(err.Error(), "partial") {
		t.Fatalf("over the limit: %v, %v", got, err)
	}
	t.Logf("error: %v", err)
}

// A sha256-<hex> tag that holds something other than an index is reported, not read as "no
// referrers".
func TestReferrersTagThatIsNoIndex(t *testing.T) {
	e := localEnv(t)
	subject := e.subjectOf("1.2.3")
	e.retag("acme/app:1.2.3-amd64", "acme/app:"+strings.Replace(subject.DigestStr(), ":", "-", 1))
	_, err := e.fresh().Referrers(context.Background(), subject, "")
	if err == nil || fault.Of(err) != fault.Unreadable || !strings.Contains(err.Error(), "not an index") {
		t.Fatalf("non-index referrers tag: %v", err)
	}
}

// seedReferrers stores n referrers of subject straight into the registry at upstream (not
// counted): their manifests, and on a registry without the referrers API one sha256-<hex> index
// listing them all.
func seedReferrers(tb testing.TB, upstream string, subject name.Digest, n int, fallback bool) {
	tb.Helper()
	desc, err := remote.Head(retarget(tb, subject, upstream))
	if err != nil {
		tb.Fatal(err)
	}
	repo := retarget(tb, subject, upstream).Context()
	im := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex}
	for i := 0; i < n; i++ {
		m, blobs := referrer(tb, *desc, bundleType, fmt.Sprintf("sig %d", i))
		if i == 0 {
			for _, b := range blobs {
				if err := remote.WriteLayer(repo, b); err != nil {
					tb.Fatal(err)
				}
			}
		}
		h, size, _ := v1.SHA256(strings.NewReader(string(m.raw)))
		put(tb, repo.Digest(h.String()), m)
		im.Manifests = append(im.Manifests, v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: h, Size: size, ArtifactType: bundleType})
	}
	if fallback {
		raw, _ := json.Marshal(im)
		put(tb, repo.Tag(strings.Replace(subject.DigestStr(), ":", "-", 1)), rawManifest{raw: raw, mediaType: types.OCIImageIndex})
	}
}

// retarget is subject in the registry at host.
func retarget(tb testing.TB, subject name.Digest, host string) name.Digest {
	tb.Helper()
	d, err := name.NewDigest(host+"/"+subject.Context().RepositoryStr()+"@"+subject.DigestStr(), name.Insecure)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// put PUTs manifest bytes, as another tool would.
func put(tb testing.TB, ref name.Reference, m rawManifest) {
	tb.Helper()
	u := fmt.Sprintf("http://%s/v2/%s/manifests/%s", ref.Context().RegistryStr(), ref.Context().RepositoryStr(), ref.Identifier())
	req, _ := http.NewRequest(http.MethodPut, u, strings.NewReader(string(m.raw)))
	req.Header.Set("Content-Type", string(m.mediaType))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		tb.Fatalf("PUT %s: %d", u, resp.StatusCode)
	}
}

// BenchmarkReferrers lists the referrers of a subject holding 1, 100 and 1000 of them, each op a
// new phase (a new client: its handshake included), on a registry with the referrers API (pages
// of 100, as registries cut them) and on one without (the sha256-<hex> tag).
func BenchmarkReferrers(b *testing.B) {
	for _, l := range []struct {
		name     string
		o        testkit.RegistryOptions
		fallback bool
	}{{"api", testkit.RegistryOptions{Referrers: true, ReferrersPage: 100}, false}, {"tag-fallback", testkit.RegistryOptions{}, true}} {
		for _, n := range []int{1, 100, 1000} {
			b.Run(fmt.Sprintf("%s/referrers=%d", l.name, n), func(b *testing.B) {
				upstream := testkit.Registry(b, l.o)
				e := newEnv(b, upstream)
				subject := e.subjectOf("1.2.3")
				seedReferrers(b, upstream, subject, n, l.fallback)
				e.counter.Reset()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					got, err := e.fresh().Referrers(context.Background(), subject, "")
					if err != nil || len(got) != n {
						b.Fatalf("%d referrers listed, want %d: %v", len(got), n, err)
					}
				}
				b.StopTimer()
				testkit.ReportPerOp(b, e.counter.Total())
			})
		}
	}
}

// A referrers API that labels its index application/json is still the API: go-containerregistry
// writes referrers there (it takes any 200 for the API), so reading the sha256-<hex> tag instead
// would never find them.
func TestReferrersAPILabelledJSON(t *testing.T) {
	e := localEnv(t)
	subject := e.subjectOf("1.2.3")
	want := v1.Descriptor{MediaType: types.OCIManifestSchema1, ArtifactType: bundleType, Digest: v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)}, Size: 123}
	body, err := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{want}})
	if err != nil {
		t.Fatal(err)
	}
	api := e.proxy.Inject(testkit.Fault{Method: "GET", Path: regexp.MustCompile(`/referrers/`), Status: 200, Header: http.Header{"Content-Type": {"application/json"}}, Body: string(body)})
	got, err := e.fresh().Referrers(context.Background(), subject, bundleType)
	if err != nil || len(got) != 1 || got[0].Digest != want.Digest || api.Injected() == 0 {
		t.Fatalf("referrers from an API answering application/json: %v, %v (served %d)", got, err, api.Injected())
	}
}
