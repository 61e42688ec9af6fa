package registry

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// One phase reads content by digest once: a tag read keeps the bytes under their computed digest,
// reads (GET and HEAD) by digest are answered from the cache except an existence check, tags are
// always read again (they move), the registry is pinged once, the referrers API is asked once on
// a registry that lacks it, and a plain-HTTP host is never tried over HTTPS.
func TestContentReadOncePerPhase(t *testing.T) {
	e := localEnv(t)
	ctx := context.Background()
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	tag, _ := name.NewTag(e.repo+":1.0.0", name.Insecure)
	if err := remote.Write(tag, img, remote.WithTransport(e.counter)); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	rec := &recorder{next: e.counter}
	c := New(WithInsecureHosts(e.host), WithTransport(rec), WithClock(e.clock))

	for i := 0; i < 3; i++ {
		got, found, err := c.Resolve(ctx, e.repo, "1.0.0")
		if err != nil || !found || got != d {
			t.Fatalf("Resolve: %v %v %v", got, found, err)
		}
	}
	opts := c.RemoteOptions(ctx)
	ref, _ := name.NewDigest(e.repo+"@"+d.String(), name.Insecure)
	for i := 0; i < 3; i++ {
		if _, err := remote.Get(ref, opts...); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 3; i++ {
		if _, err := remote.Referrers(ref, opts...); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 3; i++ {
		if _, err := remote.Head(ref, opts...); err != nil {
			t.Fatal(err)
		}
	}
	// An existence check asks the registry itself.
	s, _ := c.session(ctx)
	if ok, err := c.manifestExists(ctx, s, ref); !ok || err != nil {
		t.Fatalf("manifestExists: %v %v", ok, err)
	}
	var byTag, byDigest, referrers, https, heads, pings int
	for _, r := range rec.list() {
		switch {
		case r.URL.Scheme == "https":
			https++
		case r.URL.Path == "/v2/":
			pings++
		case r.Method == "HEAD" && r.URL.Path == "/v2/acme/app/manifests/"+d.String():
			heads++
		case r.Method == "GET" && r.URL.Path == "/v2/acme/app/manifests/1.0.0":
			byTag++
		case r.Method == "GET" && r.URL.Path == "/v2/acme/app/manifests/"+d.String():
			byDigest++
		case r.Method == "GET" && r.URL.Path == "/v2/acme/app/referrers/"+d.String():
			referrers++
		}
	}
	if byTag != 3 || byDigest != 0 || referrers != 1 || https != 0 || heads != 1 || pings != 1 {
		t.Fatalf("by tag %d (want 3), by digest %d (want 0), referrers %d (want 1), https %d (want 0), HEAD by digest %d (want 1: the existence check), pings %d (want 1)", byTag, byDigest, referrers, https, heads, pings)
	}
}

// recorder keeps every request it forwards.
type recorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	reqs []*http.Request
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.reqs = append(r.reqs, req)
	r.mu.Unlock()
	return r.next.RoundTrip(req)
}

func (r *recorder) list() []*http.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*http.Request(nil), r.reqs...)
}
