package testkit

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// Stats are counts for one host (or all hosts).
type Stats struct {
	Requests int
	// BytesSent counts request body bytes; BytesReceived counts response body bytes read.
	BytesSent     int64
	BytesReceived int64
	// ByMethod counts requests per HTTP method.
	ByMethod map[string]int
}

// Counter is an http.RoundTripper that counts requests and body bytes per host.
type Counter struct {
	// Base does the real work; nil means http.DefaultTransport.
	Base http.RoundTripper

	mu    sync.Mutex
	hosts map[string]*hostStats
}

type hostStats struct {
	requests int
	sent     atomic.Int64
	received atomic.Int64
	methods  map[string]int
}

// NewCounter counts requests made through base (nil: http.DefaultTransport).
func NewCounter(base http.RoundTripper) *Counter { return &Counter{Base: base} }

// RoundTrip counts and forwards.
func (c *Counter) RoundTrip(req *http.Request) (*http.Response, error) {
	c.mu.Lock()
	if c.hosts == nil {
		c.hosts = map[string]*hostStats{}
	}
	h := c.hosts[req.URL.Host]
	if h == nil {
		h = &hostStats{methods: map[string]int{}}
		c.hosts[req.URL.Host] = h
	}
	h.requests++
	h.methods[req.Method]++
	c.mu.Unlock()

	if req.Body != nil && req.Body != http.NoBody {
		req = req.Clone(req.Context())
		req.Body = &countingReader{rc: req.Body, n: &h.sent}
	}
	base := c.Base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.Body != nil {
		resp.Body = &countingReader{rc: resp.Body, n: &h.received}
	}
	return resp, nil
}

type countingReader struct {
	rc io.ReadCloser
	n  *atomic.Int64
}

func (r *countingReader) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	r.n.Add(int64(n))
	return n, err
}

func (r *countingReader) Close() error { return r.rc.Close() }

// Host returns the counts for one host:port.
func (c *Counter) Host(host string) Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.hosts[host]
	if h == nil {
		return Stats{ByMethod: map[string]int{}}
	}
	return h.snapshot()
}

func (h *hostStats) snapshot() Stats {
	s := Stats{Requests: h.requests, BytesSent: h.sent.Load(), BytesReceived: h.received.Load(), ByMethod: map[string]int{}}
	for m, n := range h.methods {
		s.ByMethod[m] = n
	}
	return s
}

// Total returns the counts over all hosts.
func (c *Counter) Total() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := Stats{ByMethod: map[string]int{}}
	for _, h := range c.hosts {
		s := h.snapshot()
		t.Requests += s.Requests
		t.BytesSent += s.BytesSent
		t.BytesReceived += s.BytesReceived
		for m, n := range s.ByMethod {
			t.ByMethod[m] += n
		}
	}
	return t
}

// Reset forgets all counts.
func (c *Counter) Reset() {
	c.mu.Lock()
	c.hosts = nil
	c.mu.Unlock()
}

// String lists counts per host, for test logs.
func (c *Counter) String() string {
	c.mu.Lock()
	hosts := slices.Sorted(maps.Keys(c.hosts))
	c.mu.Unlock()
	var b strings.Builder
	for _, h := range hosts {
		s := c.Host(h)
		fmt.Fprintf(&b, "%s: %d requests, %d bytes sent, %d bytes received %v\n", h, s.Requests, s.BytesSent, s.BytesReceived, s.ByMethod)
	}
	return b.String()
}

// ReportPerOp reports requests/op, sent-bytes/op and received-bytes/op on a benchmark, from
// counts taken over b.N iterations.
func ReportPerOp(b *testing.B, s Stats) {
	b.Helper()
	n := float64(b.N)
	b.ReportMetric(float64(s.Requests)/n, "requests/op")
	b.ReportMetric(float64(s.BytesSent)/n, "sent-B/op")
	b.ReportMetric(float64(s.BytesReceived)/n, "recv-B/op")
}
