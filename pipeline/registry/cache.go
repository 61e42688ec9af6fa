package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"path"
	"regexp"
	"strconv"
	"sync"
	"time"
)

// maxCached bounds what the content cache keeps of one answer: manifests, image configs and
// signature bundles are a few KiB; layers are never kept.
const maxCached = 1 << 20

// contentPath matches what a registry serves by digest: a manifest or a blob. Its bytes can never
// change, so one phase reads each once.
var contentPath = regexp.MustCompile(`^/v2/.+/(manifests|blobs)/sha256:[0-9a-f]{64}$`)

// manifestPath matches a manifest by tag or digest.
var manifestPath = regexp.MustCompile(`^(/v2/.+/manifests/)[^/]+$`)

// referrersPath matches the OCI referrers API. A registry that has it answers 200 even for a
// subject without referrers, so a 404 means it lacks the API (GHCR): go-containerregistry then
// falls back to the sha256-<hex> tag, and later subjects need not ask again.
var referrersPath = regexp.MustCompile(`^/v2/.+/referrers/sha256:[0-9a-f]{64}$`)

// contentCache keeps a client's GET answers for content addressed by digest. Every gate, the
// re-check under the lock and the signature store read the same index, platform manifests,
// configs and bundles; with it each goes over the wire once per phase. Only 200 answers with a
// known length up to maxCached are kept.
type contentCache struct {
	mu          sync.Mutex
	got         map[string]cachedAnswer
	heads       map[string]cachedAnswer // HEAD answers (no body) of content found by digest
	noReferrers map[string]bool         // hosts that answered the referrers API with 404

	// The auth handshake (see handshake.go): ping answers per scheme://host, the token endpoints
	// their challenges named, and token answers per request and credentials.
	pings  map[string]cachedAnswer
	realms map[string]bool
	tokens map[string]keptToken
	now    func() time.Time
}

type cachedAnswer struct {
	status int // 0 means 200
	header http.Header
	body   []byte
	size   int64 // the content's length (for a HEAD answer, which keeps no body)
}

func newContentCache(now func() time.Time) *contentCache {
	return &contentCache{got: map[string]cachedAnswer{}, heads: map[string]cachedAnswer{}, noReferrers: map[string]bool{},
		pings: map[string]cachedAnswer{}, realms: map[string]bool{}, tokens: map[string]keptToken{}, now: now}
}

// over returns a transport that answers from the cache and forwards the rest to next.
func (c *contentCache) over(next http.RoundTripper) http.RoundTripper {
	return cachingTransport{cache: c, next: next}
}

type cachingTransport struct {
	cache *contentCache
	next  http.RoundTripper
}

// RoundTrip answers a GET of content by digest from the cache, or forwards and keeps the answer.
func (t cachingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodDelete {
		// Content by digest only goes away by a delete (cleanup): forget it, whatever the answer.
		t.cache.mu.Lock()
		delete(t.cache.got, req.URL.Host+req.URL.Path)
		delete(t.cache.heads, req.URL.Host+req.URL.Path)
		t.cache.mu.Unlock()
		return t.forward(req)
	}
	if req.Method == http.MethodHead && contentPath.MatchString(req.URL.Path) {
		return t.head(req)
	}
	if isPing(req) {
		return t.ping(req)
	}
	if t.isTokenRequest(req) {
		return t.token(req)
	}
	if req.Method == http.MethodGet && referrersPath.MatchString(req.URL.Path) {
		return t.referrers(req)
	}
	if req.Method == http.MethodGet && manifestPath.MatchString(req.URL.Path) && !contentPath.MatchString(req.URL.Path) {
		return t.byTag(req)
	}
	if req.Method != http.MethodGet || !contentPath.MatchString(req.URL.Path) {
		return t.forward(req)
	}
	key := req.URL.Host + req.URL.Path
	if a, ok := t.cache.lookup(key); ok {
		return a.response(req), nil
	}
	return t.keep(req, func([]byte) string { return key })
}

// keep forwards req and keeps a 200 answer small enough to keep under the key it names for the
// body; anything else passes through untouched.
func (t cachingTransport) keep(req *http.Request, key func(body []byte) string) (*http.Response, error) {
	resp, err := t.forward(req)
	if err != nil || resp.StatusCode != http.StatusOK || resp.ContentLength < 0 || resp.ContentLength > maxCached {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	a := cachedAnswer{header: resp.Header.Clone(), body: body, size: int64(len(body))}
	t.cache.mu.Lock()
	t.cache.got[key(body)] = a
	t.cache.mu.Unlock()
	return a.response(req), nil
}

// head answers a HEAD of content by digest from what the phase read or found before (it cannot
// change), or forwards it and keeps a 200 answer's headers. A request under fresh(ctx) asks the
// registry whatever the session kept, and a 404 then drops what was kept.
func (t cachingTransport) head(req *http.Request) (*http.Response, error) {
	key := req.URL.Host + req.URL.Path
	t.cache.mu.Lock()
	a, ok := t.cache.got[key]
	if !ok {
		a, ok = t.cache.heads[key]
	}
	t.cache.mu.Unlock()
	if ok && req.Context().Value(freshKey{}) == nil {
		return a.headResponse(req, path.Base(req.URL.Path)), nil
	}
	resp, err := t.forward(req)
	if err != nil {
		return resp, err
	}
	t.cache.mu.Lock()
	defer t.cache.mu.Unlock()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		delete(t.cache.got, key)
		delete(t.cache.heads, key)
	case resp.StatusCode == http.StatusOK && resp.ContentLength >= 0 && resp.Header.Get("Docker-Content-Digest") != "":
		t.cache.heads[key] = cachedAnswer{header: resp.Header.Clone(), size: resp.ContentLength}
	}
	return resp, nil
}

// freshKey marks a context whose HEAD requests must reach the registry (see fresh).
type freshKey struct{}

// fresh is ctx for a request whose answer must come from the registry, not from what the session
// kept: an existence check, where another tool may have deleted the manifest meanwhile.
func fresh(ctx context.Context) context.Context { return context.WithValue(ctx, freshKey{}, true) }

// byTag forwards a GET of a manifest by tag (tags move: never answered from the cache) and
// keeps the bytes under the digest computed from them, for a later read by digest.
func (t cachingTransport) byTag(req *http.Request) (*http.Response, error) {
	prefix := req.URL.Host + manifestPath.FindStringSubmatch(req.URL.Path)[1]
	return t.keep(req, func(body []byte) string {
		sum := sha256.Sum256(body)
		return prefix + "sha256:" + hex.EncodeToString(sum[:])
	})
}

// referrers asks the referrers API once per host that lacks it.
func (t cachingTransport) referrers(req *http.Request) (*http.Response, error) {
	t.cache.mu.Lock()
	lacks := t.cache.noReferrers[req.URL.Host]
	t.cache.mu.Unlock()
	if lacks {
		return &http.Response{Status: "404 Not Found", StatusCode: http.StatusNotFound, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(nil)), Request: req}, nil
	}
	resp, err := t.forward(req)
	if err == nil && resp.StatusCode == http.StatusNotFound {
		t.cache.mu.Lock()
		t.cache.noReferrers[req.URL.Host] = true
		t.cache.mu.Unlock()
	}
	return resp, err
}

func (c *contentCache) lookup(key string) (cachedAnswer, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.got[key]
	return a, ok
}

// headResponse is the kept answer as the answer to a HEAD of digest.
func (a cachedAnswer) headResponse(req *http.Request, digest string) *http.Response {
	h := a.header.Clone()
	h.Set("Content-Length", strconv.FormatInt(a.size, 10))
	h.Set("Docker-Content-Digest", digest)
	return &http.Response{Status: "200 OK", StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: http.NoBody, ContentLength: a.size, Request: req}
}

// response is a fresh copy of the kept answer for req.
func (a cachedAnswer) response(req *http.Request) *http.Response {
	status := a.status
	if status == 0 {
		status = http.StatusOK
	}
	return &http.Response{
		Status: strconv.Itoa(status) + " " + http.StatusText(status), StatusCode: status, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: a.header.Clone(), Body: io.NopCloser(bytes.NewReader(a.body)), ContentLength: int64(len(a.body)), Request: req,
	}
}
