package github

import (
	"bytes"
	"container/list"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"sync"
)

// Conditional requests. GitHub answers most GETs with an ETag, and a GET that sends it back in
// If-None-Match is answered 304 Not Modified when nothing changed, which does not count against
// the primary rate limit (https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api#use-conditional-requests-if-appropriate).
// The transport keeps the ETag and body of the 200 answers to GETs in an etagCache and sends the
// ETag with the next GET of the same URL; on 304 it hands go-github the stored body as a 200.
// Every read still asks GitHub, so an answer is never stale: only the body is not sent again.

const (
	// defaultCacheBytes bounds the bodies a Client keeps (Options.CacheBytes).
	defaultCacheBytes = 8 << 20
	// maxCacheEntries bounds how many answers a Client keeps, whatever their size.
	maxCacheEntries = 1024
)

// etagCache holds the last 200 answer to each GET a Client made, least recently used first out.
// Entries are keyed by URL, Accept header and the token's identity: the transport has one token,
// and keying by it too keeps one token's answers from ever serving another's request.
type etagCache struct {
	identity string
	maxBytes int64

	mu      sync.Mutex
	bytes   int64
	order   *list.List // of *etagEntry, most recently used first
	entries map[string]*list.Element
}

type etagEntry struct {
	key    string
	etag   string
	header http.Header
	body   []byte
}

// newETagCache makes a cache of at most maxBytes of bodies for token; nil when maxBytes < 0.
func newETagCache(token string, maxBytes int64) *etagCache {
	if maxBytes < 0 {
		return nil
	}
	if maxBytes == 0 {
		maxBytes = defaultCacheBytes
	}
	sum := sha256.Sum256([]byte("shipgate etag cache\x00" + token))
	return &etagCache{identity: hex.EncodeToString(sum[:8]), maxBytes: maxBytes, order: list.New(), entries: map[string]*list.Element{}}
}

// keyOf is the cache key of req, "" when req must not use the cache: only plain GETs do (no
// Range, no conditional headers the caller set itself).
func (c *etagCache) keyOf(req *http.Request) string {
	if c == nil || req.Method != http.MethodGet {
		return ""
	}
	h := req.Header
	if h.Get("Range") != "" || h.Get("If-None-Match") != "" || h.Get("If-Modified-Since") != "" {
		return ""
	}
	return c.identity + "\x00" + h.Get("Accept") + "\x00" + req.URL.String()
}

// lookup returns the stored answer for key, nil if none.
func (c *etagCache) lookup(key string) *etagEntry {
	if key == "" {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el := c.entries[key]
	if el == nil {
		return nil
	}
	c.order.MoveToFront(el)
	return el.Value.(*etagEntry)
}

// store keeps an answer, evicting the least recently used ones beyond the bounds. A body larger
// than an eighth of the byte bound is not kept.
func (c *etagCache) store(e *etagEntry) {
	size := int64(len(e.body))
	c.mu.Lock()
	defer c.mu.Unlock()
	c.removeLocked(e.key)
	if size > c.maxBytes/8 {
		return
	}
	c.entries[e.key] = c.order.PushFront(e)
	c.bytes += size
	for c.bytes > c.maxBytes || c.order.Len() > maxCacheEntries {
		c.removeLocked(c.order.Back().Value.(*etagEntry).key)
	}
}

// drop forgets key (its resource answered something other than 200 or 304).
func (c *etagCache) drop(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.removeLocked(key)
}

func (c *etagCache) removeLocked(key string) {
	if el := c.entries[key]; el != nil {
		c.bytes -= int64(len(el.Value.(*etagEntry).body))
		c.order.Remove(el)
		delete(c.entries, key)
	}
}

// conditional is req with If-None-Match set to the stored ETag (a copy: a RoundTripper must not
// change its request).
func conditional(req *http.Request, e *etagEntry) *http.Request {
	r2 := req.Clone(req.Context())
	r2.Header.Set("If-None-Match", e.etag)
	return r2
}

// settle turns GitHub's answer to a GET with key into what go-github gets: on 304 to a request
// that sent a stored ETag, the stored answer as a 200 (with the 304's fresh headers: rate limit,
// date); a 200 with an ETag is stored; any other answer drops what was stored.
func (c *etagCache) settle(key string, sent *etagEntry, resp *http.Response) *http.Response {
	switch {
	case key == "":
		return resp
	case resp.StatusCode == http.StatusNotModified && sent != nil:
		drain(resp)
		h := sent.header.Clone()
		for k, v := range resp.Header {
			if k != "Content-Length" {
				h[k] = v
			}
		}
		return &http.Response{
			Status: "200 OK", StatusCode: http.StatusOK, Proto: resp.Proto, ProtoMajor: resp.ProtoMajor, ProtoMinor: resp.ProtoMinor,
			Header: h, Body: io.NopCloser(bytes.NewReader(sent.body)), ContentLength: int64(len(sent.body)), Request: resp.Request,
		}
	case resp.StatusCode == http.StatusOK && resp.Header.Get("ETag") != "":
		return c.keep(key, resp)
	}
	c.drop(key)
	return resp
}

// keep reads a 200 answer's body (up to the largest body the cache keeps) and stores it. A body
// too large, or one that fails to read, is handed on as it came and not stored.
func (c *etagCache) keep(key string, resp *http.Response) *http.Response {
	limit := c.maxBytes / 8
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil || int64(len(b)) > limit {
		c.drop(key)
		var rest io.Reader = resp.Body
		if err != nil {
			rest = errReader{err}
		}
		resp.Body = readCloser{io.MultiReader(bytes.NewReader(b), rest), resp.Body}
		return resp
	}
	resp.Body.Close()
	c.store(&etagEntry{key: key, etag: resp.Header.Get("ETag"), header: resp.Header.Clone(), body: b})
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// readCloser reads from one reader and closes another (the original body).
type readCloser struct {
	io.Reader
	c io.Closer
}

func (r readCloser) Close() error { return r.c.Close() }
