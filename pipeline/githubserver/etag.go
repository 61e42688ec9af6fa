package githubserver

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
)

// Conditional requests, as GitHub's REST API answers them
// (https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api#use-conditional-requests-if-appropriate):
// every successful GET carries an ETag (here W/"<sha256 of the body>", the shape GitHub sends)
// and Vary: Accept, Authorization, Cookie, X-GitHub-OTP; a GET whose If-None-Match names the
// current ETag (weak comparison, or *) is answered 304 Not Modified without a body, and, when it
// was made with a token, does not count against that token's primary rate limit.

// Counts is how the server answered the requests it saw since the last ResetRequests.
type Counts struct {
	// Requests is every request.
	Requests int
	// NotModified is the conditional GETs answered 304 Not Modified (free of rate limit on GitHub).
	NotModified int
	// Full is the requests answered otherwise (Requests - NotModified).
	Full int
}

// Counts counts the requests seen since the last ResetRequests, 304 answers apart.
func (s *Server) Counts() Counts {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := Counts{Requests: len(s.log)}
	for _, r := range s.log {
		if r.Status == http.StatusNotModified {
			c.NotModified++
		}
	}
	c.Full = c.Requests - c.NotModified
	return c
}

// heldAnswer holds back a GET handler's 200 answer so that it can be given an ETag or replaced by
// 304. Any other status goes through at once.
type heldAnswer struct {
	w       http.ResponseWriter
	status  int
	through bool
	body    bytes.Buffer
}

// Header is the underlying writer's header: nothing is sent before the answer is decided.
func (h *heldAnswer) Header() http.Header { return h.w.Header() }

// WriteHeader holds a 200 back and lets any other status through.
func (h *heldAnswer) WriteHeader(code int) {
	if h.status != 0 {
		return
	}
	h.status = code
	if code != http.StatusOK {
		h.through = true
		h.w.WriteHeader(code)
	}
}

// Write buffers a 200 answer's body and writes any other.
func (h *heldAnswer) Write(b []byte) (int, error) {
	if h.status == 0 {
		h.WriteHeader(http.StatusOK)
	}
	if h.through {
		return h.w.Write(b)
	}
	return h.body.Write(b)
}

// etagOf is the ETag of a body: a weak validator (as GitHub's) over a strong hash.
func etagOf(body []byte) string {
	sum := sha256.Sum256(body)
	return `W/"` + hex.EncodeToString(sum[:]) + `"`
}

// noneMatchHits applies If-None-Match (RFC 9110 13.1.2, weak comparison) to etag.
func noneMatchHits(header, etag string) bool {
	if header == "" {
		return false
	}
	opaque := strings.TrimPrefix(etag, "W/")
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == opaque {
			return true
		}
	}
	return false
}

// serveConditional runs a GET through the API, then sends the held 200 answer with its ETag, or
// 304 when the request's If-None-Match names it. A 304 to a token is given back to the token's
// primary rate limit, as GitHub does not count it.
func (s *Server) serveConditional(w http.ResponseWriter, r *http.Request, secret string) {
	h := &heldAnswer{w: w}
	s.inner.ServeHTTP(h, r)
	if h.through {
		return
	}
	if h.status == 0 { // a handler that wrote nothing: an empty 200
		h.status = http.StatusOK
	}
	etag := etagOf(h.body.Bytes())
	hdr := w.Header()
	hdr.Set("ETag", etag)
	hdr.Set("Vary", "Accept, Authorization, Cookie, X-GitHub-OTP")
	if !noneMatchHits(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(h.body.Bytes())
		return
	}
	s.refund(hdr, secret)
	hdr.Del("Content-Type")
	hdr.Del("Content-Length")
	w.WriteHeader(http.StatusNotModified)
}

// refund gives a request back to the primary rate limit of the token secret (not to anonymous
// callers: GitHub waives 304s only for requests "correctly authorized with an Authorization
// header") and corrects the rate-limit headers.
func (s *Server) refund(hdr http.Header, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tok := s.tokens[secret]
	if secret == "" || tok == nil {
		return
	}
	b := tok.rate
	if b.remaining < b.limit {
		b.remaining++
	}
	hdr.Set("X-RateLimit-Remaining", strconv.Itoa(b.remaining))
	hdr.Set("X-RateLimit-Used", strconv.Itoa(b.limit-b.remaining))
}
