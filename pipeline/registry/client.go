package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/shipgate/shipgate/pipeline/clock"
)

// Defaults for a Client built without options.
const (
	// DefaultRetries is how many times a failed request is tried again (5xx, 429, dropped
	// connections); 401, 403 and 404 are never retried.
	DefaultRetries = 4
	// DefaultBackoff is the wait before the first retry; it doubles with each further retry.
	DefaultBackoff = time.Second
	// DefaultJobs is how many blobs are uploaded at the same time.
	DefaultJobs = 4
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
	userAgent          string
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

// WithUserAgent adds a product token to the User-Agent header ("shipgate/1.0").
func WithUserAgent(ua string) Option {
	return func(o *options) { o.userAgent = ua }
}

// Client does everything shipgate does to images in registries. It is safe for concurrent use.
type Client struct {
	o    options
	auth authn.Authenticator
}

// New builds a Client; without options it is anonymous, HTTPS-only, retries DefaultRetries times
// and uploads DefaultJobs blobs at a time.
func New(opts ...Option) *Client {
	o := options{
		insecure: map[string]bool{},
		retries:  DefaultRetries,
		backoff:  DefaultBackoff,
		jobs:     DefaultJobs,
		logger:   slog.New(slog.DiscardHandler),
		clock:    clock.Real{},
	}
	for _, opt := range opts {
		opt(&o)
	}
	c := &Client{o: o, auth: authn.Anonymous}
	if o.username != "" || o.password != "" {
		c.auth = &authn.Basic{Username: o.username, Password: o.password}
	}
	return c
}

// attempts is the number of tries a request gets.
func (c *Client) attempts() int { return c.o.retries + 1 }

// remoteOptions are the go-containerregistry options every call uses.
func (c *Client) remoteOptions(ctx context.Context) []remote.Option {
	base := c.o.transport
	if base == nil {
		base = remote.DefaultTransport
	}
	opts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuth(c.auth),
		remote.WithTransport(&guard{base: base, insecure: c.o.insecure, clock: c.o.clock, log: c.o.logger}),
		remote.WithJobs(c.o.jobs),
		remote.WithRetryBackoff(remote.Backoff{Duration: c.o.backoff, Factor: 2, Jitter: 0.1, Steps: c.attempts()}),
		remote.WithRetryStatusCodes(retryStatusCodes...),
		remote.WithRetryPredicate(c.retryable),
	}
	if c.o.userAgent != "" {
		opts = append(opts, remote.WithUserAgent(c.o.userAgent))
	}
	return opts
}

// retryStatusCodes are the answers that mean "try again": timeouts, rate limits, server errors.
var retryStatusCodes = []int{
	http.StatusRequestTimeout,
	http.StatusTooManyRequests,
	http.StatusInternalServerError,
	http.StatusBadGateway,
	http.StatusServiceUnavailable,
	http.StatusGatewayTimeout,
}

// retryable decides whether go-containerregistry tries a failed request again.
func (c *Client) retryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var plain *plainHTTPError
	if errors.As(err, &plain) {
		return false
	}
	var terr *transport.Error
	if errors.As(err, &terr) {
		if !terr.Temporary() {
			return false
		}
		c.o.logger.Warn("registry: retrying", "status", terr.StatusCode, "error", c.scrub(err.Error()))
		return true
	}
	if isDropped(err) {
		c.o.logger.Warn("registry: retrying after a dropped connection", "error", c.scrub(err.Error()))
		return true
	}
	var te interface{ Temporary() bool }
	if errors.As(err, &te) && te.Temporary() {
		c.o.logger.Warn("registry: retrying", "error", c.scrub(err.Error()))
		return true
	}
	return false
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

// session is one operation's puller and pusher: they share pings and tokens per repository.
type session struct {
	pull *remote.Puller
	push *remote.Pusher
}

func (c *Client) session(ctx context.Context) (*session, error) {
	opts := c.remoteOptions(ctx)
	pull, err := remote.NewPuller(opts...)
	if err != nil {
		return nil, fmt.Errorf("registry client options: %w", err)
	}
	push, err := remote.NewPusher(opts...)
	if err != nil {
		return nil, fmt.Errorf("registry client options: %w", err)
	}
	return &session{pull: pull, push: push}, nil
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
	return fmt.Sprintf("plain HTTP to %s is not allowed: if this registry has no TLS, allow it with WithInsecureHosts(%q)", e.host, e.host)
}

// guard is the innermost transport: it refuses plain HTTP to hosts not allowed and waits out
// Retry-After on 429/503 answers (capped) before go-containerregistry's retry sees them.
type guard struct {
	base     http.RoundTripper
	insecure map[string]bool
	clock    clock.Clock
	log      *slog.Logger
}

// RoundTrip refuses disallowed plain HTTP, forwards, and waits out Retry-After.
func (g *guard) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !g.insecure[req.URL.Host] {
		return nil, &plainHTTPError{host: req.URL.Host}
	}
	resp, err := g.base.RoundTrip(req)
	if err != nil || resp == nil {
		return resp, err
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		if d, ok := retryAfter(resp.Header.Get("Retry-After"), g.clock.Now()); ok {
			if d > maxRetryAfter {
				d = maxRetryAfter
			}
			g.log.Warn("registry: waiting as asked by Retry-After", "host", req.URL.Host, "status", resp.StatusCode, "wait", d.String())
			if err := g.clock.Sleep(req.Context(), d); err != nil {
				resp.Body.Close()
				return nil, err
			}
		}
	}
	return resp, nil
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
