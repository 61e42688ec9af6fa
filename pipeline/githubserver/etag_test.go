package githubserver

import (
	"net/http"
	"strings"
	"testing"
)

// getIf is a GET with If-None-Match (none when inm is empty).
func getIf(t *testing.T, url, token, inm string) answer {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return send(t, req, token, "If-None-Match", inm)
}

func TestConditionalGetAnswersNotModified(t *testing.T) {
	s, _ := newServer(t, Options{})
	url := s.APIURL() + "repos/acme/app/git/ref/heads/main"
	a := getIf(t, url, pushTok, "")
	want(t, a, 200, "first read")
	etag := a.header.Get("ETag")
	if !strings.HasPrefix(etag, `W/"`) || len(etag) != len(`W/""`)+64 || !strings.Contains(a.header.Get("Vary"), "Authorization") {
		t.Fatalf("ETag %q, Vary %q", etag, a.header.Get("Vary"))
	}
	if again := getIf(t, url, pushTok, ""); again.header.Get("ETag") != etag {
		t.Fatalf("the same answer has another ETag: %q", again.header.Get("ETag"))
	}
	remaining := getIf(t, url, pushTok, "").header.Get("X-RateLimit-Remaining")

	// A matching If-None-Match: 304, no body, the ETag again, and no request charged.
	for _, inm := range []string{etag, strings.TrimPrefix(etag, "W/"), `"other", ` + etag, "*"} {
		nm := getIf(t, url, pushTok, inm)
		want(t, nm, 304, "If-None-Match "+inm)
		if len(nm.raw) != 0 || nm.header.Get("ETag") != etag || nm.header.Get("X-RateLimit-Remaining") != remaining {
			t.Fatalf("304 to %s: body %q, ETag %q, remaining %s (want %s)", inm, nm.raw, nm.header.Get("ETag"), nm.header.Get("X-RateLimit-Remaining"), remaining)
		}
	}
	want(t, getIf(t, url, pushTok, `W/"other"`), 200, "an ETag that does not match")

	// A change: the old ETag no longer matches.
	s.CommitFiles("acme/app", "main", map[string]string{"new": "1"}, "new")
	b := getIf(t, url, pushTok, etag)
	want(t, b, 200, "read after a push")
	if b.header.Get("ETag") == etag || !strings.Contains(string(b.raw), `"sha"`) {
		t.Fatalf("changed answer: ETag %q, body %s", b.header.Get("ETag"), b.raw)
	}

	// Refusals carry no ETag; writes are never answered 304; anonymous 304s are charged.
	if nf := getIf(t, s.APIURL()+"repos/acme/app/git/ref/heads/nope", pushTok, ""); nf.status != 404 || nf.header.Get("ETag") != "" {
		t.Fatalf("404: %d, ETag %q", nf.status, nf.header.Get("ETag"))
	}
	pub := s.APIURL() + "repos/acme/public"
	p := getIf(t, pub, "", "")
	nm := getIf(t, pub, "", p.header.Get("ETag"))
	want(t, nm, 304, "anonymous conditional read")
	if nm.header.Get("X-RateLimit-Remaining") == p.header.Get("X-RateLimit-Remaining") {
		t.Fatalf("an anonymous 304 was not charged: remaining %s", nm.header.Get("X-RateLimit-Remaining"))
	}
	req, _ := http.NewRequest("POST", s.APIURL()+"repos/acme/app/git/blobs", strings.NewReader(`{"content":"x"}`))
	want(t, send(t, req, pushTok, "If-None-Match", "*"), 201, "POST with If-None-Match")

	c := s.Counts()
	if c.NotModified != 5 || c.Full != c.Requests-5 {
		t.Fatalf("counts %+v, want 5 answers 304", c)
	}
	s.ResetRequests()
	if c := s.Counts(); c != (Counts{}) {
		t.Fatalf("counts after reset %+v", c)
	}
}
