package testkit

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// Fault describes what the proxy does to matching requests.
type Fault struct {
	// Method matches the HTTP method; empty matches any.
	Method string
	// Path matches the request path plus query ("/v2/app/manifests/1.2.3"); nil matches any.
	Path *regexp.Regexp
	// Skip lets this many matching requests through before the fault starts.
	Skip int
	// Times is how many matching requests get the fault; 0 means every one after Skip.
	Times int

	// Status answers with this HTTP status instead of forwarding (e.g. 500, 503, 429).
	Status int
	// RetryAfter sets the Retry-After header on the injected answer.
	RetryAfter string
	// Header adds headers to the injected answer (e.g. X-RateLimit-Remaining: 0, or a
	// Content-Type other than the default application/json).
	Header http.Header
	// Body is the injected answer's body.
	Body string
	// Drop closes the connection without any answer; the upstream never sees the request.
	Drop bool
	// DropResponse forwards the request upstream (so it takes effect) and then closes the
	// connection without an answer: the client cannot know the write happened.
	DropResponse bool
	// Latency delays the request before anything else happens.
	Latency time.Duration
}

// Rule is an installed fault; it counts what it matched and injected.
type Rule struct {
	f        Fault
	mu       sync.Mutex
	matched  int
	injected int
}

// Injected is how many requests this rule changed.
func (r *Rule) Injected() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.injected
}

// take decides under lock whether this request gets the fault.
func (r *Rule) take(req *http.Request) bool {
	if r.f.Method != "" && !strings.EqualFold(r.f.Method, req.Method) {
		return false
	}
	if r.f.Path != nil && !r.f.Path.MatchString(req.URL.RequestURI()) {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.matched++
	if r.matched <= r.f.Skip {
		return false
	}
	if r.f.Times > 0 && r.injected >= r.f.Times {
		return false
	}
	r.injected++
	return true
}

// Request is one request seen by the proxy.
type Request struct {
	Method string
	Path   string
	// Fault says what was done: "" (forwarded), "status 503", "drop", "drop-response", "latency".
	Fault string
}

// FaultProxy is an HTTP server that forwards to a target and injects faults by rule.
type FaultProxy struct {
	srv    *httptest.Server
	target *url.URL
	rp     *httputil.ReverseProxy

	mu    sync.Mutex
	rules []*Rule
	log   []Request
}

// NewFaultProxy starts a proxy in front of target (a base URL such as http://127.0.0.1:5000) and
// stops it when the test ends. The upstream sees the proxy's Host header, so absolute URLs it
// writes (Location, Link) point back at the proxy.
func NewFaultProxy(t testing.TB, target string) *FaultProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatalf("fault proxy target %q: %v", target, err)
	}
	p := &FaultProxy{target: u}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.Out.Host = r.In.Host
		},
		ErrorLog: nil,
	}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	return p
}

// URL is the proxy's base URL (http://127.0.0.1:PORT).
func (p *FaultProxy) URL() string { return p.srv.URL }

// Host is the proxy's host:port, for image references.
func (p *FaultProxy) Host() string { return strings.TrimPrefix(p.srv.URL, "http://") }

// Inject adds a fault rule; rules are tried in the order added, the first that takes a request wins.
func (p *FaultProxy) Inject(f Fault) *Rule {
	r := &Rule{f: f}
	p.mu.Lock()
	p.rules = append(p.rules, r)
	p.mu.Unlock()
	return r
}

// Clear removes every rule.
func (p *FaultProxy) Clear() {
	p.mu.Lock()
	p.rules = nil
	p.mu.Unlock()
}

// Requests returns every request seen so far.
func (p *FaultProxy) Requests() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Request(nil), p.log...)
}

func (p *FaultProxy) record(req *http.Request, what string) {
	p.mu.Lock()
	p.log = append(p.log, Request{Method: req.Method, Path: req.URL.RequestURI(), Fault: what})
	p.mu.Unlock()
}

func (p *FaultProxy) serve(w http.ResponseWriter, req *http.Request) {
	p.mu.Lock()
	rules := append([]*Rule(nil), p.rules...)
	p.mu.Unlock()
	var rule *Rule
	for _, r := range rules {
		if r.take(req) {
			rule = r
			break
		}
	}
	if rule == nil {
		p.record(req, "")
		p.rp.ServeHTTP(w, req)
		return
	}
	f := rule.f
	if f.Latency > 0 {
		time.Sleep(f.Latency)
	}
	switch {
	case f.Drop:
		p.record(req, "drop")
		hijackClose(w)
	case f.DropResponse:
		p.record(req, "drop-response")
		rec := httptest.NewRecorder()
		p.rp.ServeHTTP(rec, req)
		hijackClose(w)
	case f.Status != 0:
		p.record(req, fmt.Sprintf("status %d", f.Status))
		for k, vs := range f.Header {
			for _, v := range vs {
				w.Header().Add(k, v)
			}
		}
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		body := f.Body
		if body == "" {
			body = fmt.Sprintf(`{"message":"injected fault: %d"}`, f.Status)
		}
		if w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(f.Status)
		_, _ = w.Write([]byte(body))
	default:
		p.record(req, "latency")
		p.rp.ServeHTTP(w, req)
	}
}

func hijackClose(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("fault proxy: response writer cannot hijack")
	}
	conn, _, err := hj.Hijack()
	if err == nil {
		_ = conn.Close()
	}
}

// GoneURL is the base URL (http://127.0.0.1:PORT) of a server that was started and closed:
// nothing listens there any more, for the "service is down" cases.
func GoneURL() string {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	return srv.URL
}
