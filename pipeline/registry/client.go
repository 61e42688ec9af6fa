package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/shipgate/shipgate/pipeline/clock"
	"github.com/shipgate/shipgate/pipeline/fault"
)

// Defaults for a Client built without options.
const (
	// DefaultRetries is how many times a failed request is tried again (5xx, 429, dropped
	// connections); 401, 403 and 404 are never retried.
	DefaultRetries = 4
	// defaultBackoff is the wait before the first retry; it doubles with each further retry.
	defaultBackoff = time.Second
	// defaultJobs is how many blobs are uploaded at the same time.
	defaultJobs = 4
	// maxRetryAfter caps how long a Retry-After header may hold a request.
	maxRetryAfter = time.Minute
)

// Option configures a Client.
type Option func(*options)

type options struct {
	username, password string
	transport          http.RoundTripper
	insecure           map[string]bool
	retries            int
	backoff            time.Duration
	jobs               int
	logger             *slog.Logger
	clock              clock.Clock
}

// WithAuth authenticates as username with password or token (GHCR: the GitHub user or
// "x-access-token" and a token with write:packages). Without it the client is anonymous.
func WithAuth(username, password string) Option {
	return func(o *options) { o.username, o.password = username, password }
}

// WithTransport sends every request through rt (for example a counting or proxying transport);
// the default is go-containerregistry's remote.DefaultTransport.
func WithTransport(rt http.RoundTripper) Option {
	return func(o *options) { o.transport = rt }
}

// WithInsecureHosts allows plain HTTP to these registry hosts ("127.0.0.1:5000"). Every other
// host is reached over HTTPS only, loopback addresses included.
func WithInsecureHosts(hosts ...string) Option {
	return func(o *options) {
		for _, h := range hosts {
			o.insecure[h] = true
		}
	}
}

// WithRetries sets how many times a request that failed with 5xx, 429 or a dropped connection
// is tried again (0: never). 401, 403 and 404 are never retried.
func WithRetries(n int) Option {
	return func(o *options) {
		if n >= 0 {
			o.retries = n
		}
	}
}

// WithBackoff sets the wait before the first retry; each further retry waits twice as long.
func WithBackoff(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.backoff = d
		}
	}
}

// WithJobs bounds how many blobs are uploaded at the same time (at least 1).
func WithJobs(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.jobs = n
		}
	}
}

// WithLogger receives one line per change and per retry; secrets never reach it.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// WithClock is the clock that waits out Retry-After headers (tests pass a fake one).
func WithClock(c clock.Clock) Option {
	return func(o *options) { o.clock = clock.Or(c) }
}

// Client does everything shipgate does to images in registries. It is safe for concurrent use.
// One Client is one registry session: every operation, and every package given its
// RemoteOptions, shares one puller and one pusher, and the session keeps the auth handshake's
// answers, so each registry is pinged and each token scope requested once for the Client's life
// (one phase), also by the handshakes go-containerregistry starts per delete and per listing.
type Client struct {
	o    options
	auth authn.Authenticator

	once sync.Once
	sess *session
	err  error
	// cache keeps content read by digest (manifests, configs, bundles): it never changes.
	cache *contentCache
}

// New builds a Client; without options it is anonymous, HTTPS-only, retries DefaultRetries times
// and uploads 4 blobs at a time.
func New(opts ...Option) *Client {
	o := options{
		insecure: map[string]bool{},
		retries:  DefaultRetries,
		backoff:  defaultBackoff,
		jobs:     defaultJobs,
		logger:   slog.New(slog.DiscardHandler),
		clock:    clock.Real{},
	}
	for _, opt := range opts {
		opt(&o)
	}
	c := &Client{o: o, auth: authn.Anonymous, cache: newContentCache(o.clock.Now)}
	if o.username != "" || o.password != "" {
		c.auth = &authn.Basic{Username: o.username, Password: o.password}
	}
	return c
}

// String names the client by who it logs in as, never with what: printing a Client (%s, %v,
// %+v) shows no credential.
func (c *Client) String() string {
	if c.o.username == "" {
		return "registry client (anonymous)"
	}
	return "registry client (as " + c.o.username + ")"
}

// GoString keeps %#v from printing the options and their password.
func (c *Client) GoString() string { return c.String() }

// attempts is the number of tries a request gets.
func (c *Client) attempts() int { return c.o.retries + 1 }

// RemoteOptions are the client's whole stack as go-containerregistry options: its session (the
// puller and pusher every operation of the client shares: one ping and one token per repository
// and scope), credentials, transport (the plain-HTTP guard, retries and Retry-After on the
// client's clock, the logger). Packages that reach registries through
// go-containerregistry themselves (the signature store) use these, so every registry request of
// a phase goes through one stack. go-containerregistry's own retries are off: the client's
// transport retries.
func (c *Client) RemoteOptions(ctx context.Context) []remote.Option {
	opts := c.stack(ctx)
	if s, err := c.session(ctx); err == nil {
		opts = append(opts, remote.Reuse(s.pull), remote.Reuse(s.push))
	}
	return opts
}

// stack is the options a session is made of.
func (c *Client) stack(ctx context.Context) []remote.Option {
	g := c.guard()
	opts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuth(c.auth),
		remote.WithTransport(c.cache.over(g)),
		remote.WithJobs(c.o.jobs),
		// The guard retries each request, waiting on the client's clock. go-containerregistry
		// only starts a whole blob upload again (the guard does not retry inside an upload
		// session), and its predicate waits on the client's clock; its own waits are zero.
		remote.WithRetryBackoff(remote.Backoff{Steps: c.attempts()}),
		remote.WithRetryStatusCodes(),
		remote.WithRetryPredicate(c.restartUpload(ctx)),
	}
	return opts
}

// guard is the innermost transport of the stack (plain-HTTP rule, retries on the client's clock).
func (c *Client) guard() *guard {
	base := c.o.transport
	if base == nil {
		base = remote.DefaultTransport
	}
	return &guard{base: base, insecure: c.o.insecure, clock: c.o.clock, log: c.o.logger,
		attempts: c.attempts(), backoff: c.o.backoff, scrub: c.scrub}
}

// retryStatusCodes are the answers that mean "try again": timeouts, rate limits, server errors.
var retryStatusCodes = map[int]bool{
	http.StatusRequestTimeout:      true,
	http.StatusTooManyRequests:     true,
	http.StatusInternalServerError: true,
	http.StatusBadGateway:          true,
	http.StatusServiceUnavailable:  true,
	http.StatusGatewayTimeout:      true,
}

// retryable says whether a request that ended with resp or err is worth trying again, and why.
func retryable(resp *http.Response, err error) (string, bool) {
	if err == nil {
		if resp != nil && retryStatusCodes[resp.StatusCode] {
			return "status " + strconv.Itoa(resp.StatusCode), true
		}
		return "", false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return "", false
	}
	var plain *plainHTTPError
	if errors.As(err, &plain) {
		return "", false
	}
	if isDropped(err) {
		return "dropped connection", true
	}
	var te interface{ Temporary() bool }
	if errors.As(err, &te) && te.Temporary() {
		return "temporary error", true
	}
	return "", false
}

// isDropped reports errors of a connection that went away mid-request.
func isDropped(err error) bool {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return false
}

// session is the client's puller and pusher: they keep, per repository, the registry's auth
// handshake (ping, token); the content cache keeps its answers (see handshake.go), so it happens
// once for everything the client does.
type session struct {
	pull *remote.Puller
	push *remote.Pusher
}

// session returns the client's session, made at the first call. A request's context is the one
// given to each call; the session only keeps what the handshake established.
func (c *Client) session(context.Context) (*session, error) {
	c.once.Do(func() {
		opts := c.stack(context.Background())
		pull, err := remote.NewPuller(opts...)
		if err != nil {
			c.err = fault.BadInputf("registry client options: %w", err)
			return
		}
		push, err := remote.NewPusher(opts...)
		if err != nil {
			c.err = fault.BadInputf("registry client options: %w", err)
			return
		}
		c.sess = &session{pull: pull, push: push}
	})
	return c.sess, c.err
}

// repository parses a repository name and applies the client's plain-HTTP allowance.
func (c *Client) repository(s string) (name.Repository, error) {
	canon, err := ParseRepository(s)
	if err != nil {
		return name.Repository{}, err
	}
	opts := []name.Option{name.StrictValidation}
	host, _, _ := strings.Cut(canon, "/")
	if c.o.insecure[host] {
		opts = append(opts, name.Insecure)
	}
	return name.NewRepository(canon, opts...)
}

// plainHTTPError is returned for a plain-HTTP request to a host that was not allowed.
type plainHTTPError struct{ host string }

// Error says which host was refused and how to allow it.
func (e *plainHTTPError) Error() string {
	return fmt.Sprintf("plain HTTP to %s is not allowed: if this registry has no TLS, list it in --plain-http %s", e.host, e.host)
}

// guard is the innermost transport: it refuses plain HTTP to hosts not allowed and retries a
// request that failed with 408, 429, 5xx or a dropped connection, waiting on the client's clock
// (Retry-After when the registry says, capped; otherwise backoff, doubling).
type guard struct {
	base     http.RoundTripper
	insecure map[string]bool
	clock    clock.Clock
	log      *slog.Logger
	attempts int
	backoff  time.Duration
	scrub    func(string) string
}

// RoundTrip refuses disallowed plain HTTP, forwards, and retries what is worth retrying. A
// request whose body cannot be read again (no GetBody), or that belongs to a blob upload
// session, is sent once.
func (g *guard) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !g.insecure[req.URL.Host] {
		return nil, &plainHTTPError{host: req.URL.Host}
	}
	if req.URL.Scheme == "https" && g.insecure[req.URL.Host] {
		// A host given as plain HTTP (--plain-http) is spoken to in plain HTTP directly:
		// go-containerregistry tries HTTPS first and falls back on this answer, with no request
		// on the wire.
		return nil, &noTLSError{host: req.URL.Host}
	}
	return g.retry(req)
}

// noTLSError answers, without a request, an HTTPS request to a host allowed plain HTTP that
// answered HTTPS with plain HTTP before.
type noTLSError struct{ host string }

func (e *noTLSError) Error() string {
	return fmt.Sprintf("%s is given as plain HTTP (--plain-http): not tried over HTTPS", e.host)
}

// retry forwards req, and retries what is worth retrying.
func (g *guard) retry(req *http.Request) (*http.Response, error) {
	// Requests inside a blob upload session are not sent again: data resent into a session whose
	// answer was lost would be appended twice. The whole upload is started again instead (see
	// restartUpload).
	again := (req.Body == nil || req.Body == http.NoBody || req.GetBody != nil) && !inUploadSession(req)
	wait := g.backoff
	try := req
	for attempt := 1; ; attempt++ {
		resp, err := g.base.RoundTrip(try)
		why, ok := retryable(resp, err)
		if !ok || !again || attempt >= g.attempts || req.Context().Err() != nil {
			return resp, err
		}
		d := wait
		if resp != nil {
			if ra, ok := retryAfter(resp.Header.Get("Retry-After"), g.clock.Now()); ok {
				d = min(ra, maxRetryAfter)
			}
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		}
		msg := why
		if err != nil {
			msg = g.scrub(err.Error())
		}
		g.log.Warn("registry: retrying", "method", req.Method, "host", req.URL.Host, "attempt", attempt+1, "of", g.attempts, "wait", d.String(), "after", msg)
		if err := g.clock.Sleep(req.Context(), d); err != nil {
			return nil, err
		}
		wait *= 2
		if try, err = rewind(req); err != nil {
			return nil, err
		}
	}
}

// inUploadSession reports the requests of a blob upload (POST, PATCH and the committing PUT).
func inUploadSession(req *http.Request) bool {
	return strings.Contains(req.URL.Path, "/blobs/uploads/")
}

// restartUpload is go-containerregistry's retry predicate: true, after waiting the backoff on
// the client's clock, for a blob upload session that failed in a way worth retrying (the guard
// does not retry requests inside one); false for everything else, which the guard has retried
// already. go-containerregistry also asks after the last attempt, so the last failure of an
// upload is reported one backoff late.
func (c *Client) restartUpload(ctx context.Context) func(error) bool {
	return func(err error) bool {
		if err == nil || !fromUploadSession(err) || !retryableErr(err) {
			return false
		}
		c.o.logger.Warn("registry: retrying the upload from the start", "wait", c.o.backoff.String(), "after", c.scrub(err.Error()))
		return c.o.clock.Sleep(ctx, c.o.backoff) == nil
	}
}

// fromUploadSession reports an error of a request inside a blob upload session.
func fromUploadSession(err error) bool {
	var terr *transport.Error
	if errors.As(err, &terr) && terr.Request != nil {
		return inUploadSession(terr.Request)
	}
	var uerr *url.Error
	return errors.As(err, &uerr) && strings.Contains(uerr.URL, "/blobs/uploads/")
}

// retryableErr says whether an operation that failed with err is worth starting again.
func retryableErr(err error) bool {
	var terr *transport.Error
	if errors.As(err, &terr) {
		return retryStatusCodes[terr.StatusCode]
	}
	_, ok := retryable(nil, err)
	return ok
}

// rewind is a copy of req with its body read afresh.
func rewind(req *http.Request) (*http.Request, error) {
	r := req.Clone(req.Context())
	if req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		r.Body = body
	}
	return r, nil
}

// retryAfter parses a Retry-After header: delta-seconds or an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0, false
		}
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if d < 0 {
			d = 0
		}
		return d, true
	}
	return 0, false
}
