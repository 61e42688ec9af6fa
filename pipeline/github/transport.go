package github

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shipgate/shipgate/pipeline/clock"
)

// RateLimitError says that GitHub's rate limit would need a longer wait than the client's bound
// (Options.MaxWait), and when to retry. It never holds the token.
type RateLimitError struct {
	// Method and Path name the refused request (no host, no query).
	Method, Path string
	// Secondary is true for a secondary (abuse) limit, false for the primary hourly quota.
	Secondary bool
	// RetryAt is when GitHub allows the next attempt.
	RetryAt time.Time
	// Bound is the longest total wait the client was allowed.
	Bound time.Duration
}

// Error says what happened and what to do.
func (e *RateLimitError) Error() string {
	kind := "primary rate limit (hourly quota) is exhausted"
	if e.Secondary {
		kind = "secondary rate limit was hit"
	}
	at := e.RetryAt.UTC().Format("2006-01-02 15:04:05 UTC")
	return fmt.Sprintf("GitHub API %s for %s %s; waiting until %s would exceed the %s bound: retry after %s", kind, e.Method, e.Path, at, e.Bound, at)
}

type idempotentKey struct{}

// idempotent marks a POST as safe to repeat (content-addressed git objects, dispatches that are
// at-least-once by design, GraphQL mutations that converge), so the transport may retry it after
// a dropped connection or a 5xx answer.
func idempotent(ctx context.Context) context.Context {
	return context.WithValue(ctx, idempotentKey{}, true)
}

func retryable(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	v, _ := req.Context().Value(idempotentKey{}).(bool)
	return v
}

// transport is the one place that authenticates, retries and waits for rate limits. It sets the
// Authorization header itself, so the token lives nowhere else, and it hides X-RateLimit-Reset from
// go-github so that go-github's own wall-clock rate-limit pre-check never refuses a request: this
// transport waits on the injected clock instead.
type transport struct {
	base       http.RoundTripper
	token      string
	clk        clock.Clock
	maxWait    time.Duration
	maxRetries int
	log        io.Writer
	// cache holds the ETag and body of GET answers for conditional requests; nil: none.
	cache *etagCache

	mu        sync.Mutex
	exhausted time.Time // primary quota known to be empty until then
}

func (t *transport) logf(format string, args ...any) {
	if t.log != nil {
		fmt.Fprintf(t.log, "github: "+format+"\n", args...)
	}
}

// RoundTrip sends req, waiting out rate limits within the bound and retrying 5xx answers and
// dropped connections (for requests that are safe to repeat) a bounded number of times. A GET
// whose answer is cached is sent as a conditional request (see etagCache).
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	key := t.cache.keyOf(req)
	sent := t.cache.lookup(key)
	if sent != nil {
		req = conditional(req, sent)
	}
	resp, err := t.roundTrip(req)
	if err != nil {
		return nil, err
	}
	return t.cache.settle(key, sent, resp), nil
}

// roundTrip is RoundTrip without the cache.
func (t *transport) roundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}
	a := &attempts{t: t, req: req, path: req.URL.Path}
	for {
		// A quota known to be empty: wait before asking (GitHub may ban clients that keep asking).
		if err := a.waitForQuota(); err != nil {
			return nil, err
		}
		resp, err := t.send(req)
		if err != nil {
			if err := a.afterFailure(err); err != nil {
				return nil, err
			}
			continue
		}
		if resp, err := a.afterAnswer(resp); resp != nil || err != nil {
			return resp, err
		}
	}
}

// send makes one attempt, with the token and the API version set.
func (t *transport) send(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	r2 := req.Clone(ctx)
	if req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		r2.Body = body
	}
	if t.token != "" {
		r2.Header.Set("Authorization", "Bearer "+t.token)
	}
	r2.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	return t.base.RoundTrip(r2)
}

// attempts is what one request has waited and retried so far.
type attempts struct {
	t                           *transport
	req                         *http.Request
	path                        string
	waited                      time.Duration
	retries, secondary, primary int
}

func (a *attempts) wait(d time.Duration, why string) error {
	a.t.logf("%s %s: %s; waiting %s", a.req.Method, a.path, why, d)
	a.waited += d
	return a.t.clk.Sleep(a.req.Context(), d)
}

func (a *attempts) limited(secondary bool, at time.Time) error {
	return &RateLimitError{Method: a.req.Method, Path: a.path, Secondary: secondary, RetryAt: at, Bound: a.t.maxWait}
}

// waitForQuota waits while the primary quota is known to be empty, or fails when that would
// exceed the bound.
func (a *attempts) waitForQuota() error {
	t := a.t
	t.mu.Lock()
	until := t.exhausted
	t.mu.Unlock()
	now := t.clk.Now()
	if !now.Before(until) {
		return nil
	}
	d := until.Sub(now) + time.Second
	if a.waited+d > t.maxWait {
		return a.limited(false, until)
	}
	return a.wait(d, "primary rate limit exhausted until "+until.UTC().Format(time.RFC3339))
}

// afterFailure decides on a connection that failed: nil to try again, else the error to return.
func (a *attempts) afterFailure(err error) error {
	t := a.t
	if ctxErr := a.req.Context().Err(); ctxErr != nil {
		return ctxErr
	}
	if !retryable(a.req) || a.retries >= t.maxRetries {
		return scrub(err, t.token)
	}
	a.retries++
	return a.wait(backoff(a.retries), fmt.Sprintf("connection failed (%v), retry %d of %d", scrub(err, t.token), a.retries, t.maxRetries))
}

// afterAnswer decides on GitHub's answer: the response to hand on, an error, or neither (nil,
// nil) to try again after waiting.
func (a *attempts) afterAnswer(resp *http.Response) (*http.Response, error) {
	t := a.t
	remaining := resp.Header.Get("X-RateLimit-Remaining")
	reset := parseReset(resp.Header.Get("X-RateLimit-Reset"))
	limited := resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusTooManyRequests
	switch {
	case limited && remaining == "0" && resp.Header.Get("Retry-After") == "":
		drain(resp)
		a.primary++
		if now := t.clk.Now(); !reset.After(now) {
			reset = now.Add(time.Minute)
		}
		if a.primary > 3 {
			return nil, a.limited(false, reset)
		}
		t.mu.Lock()
		t.exhausted = reset
		t.mu.Unlock()
		return nil, nil // the pre-wait waits or gives up
	case limited:
		ra, isSecondary := secondaryWait(resp, a.secondary, t.clk.Now())
		if !isSecondary {
			return t.pass(resp, remaining, reset), nil
		}
		drain(resp)
		a.secondary++
		if a.secondary > 6 || a.waited+ra > t.maxWait {
			return nil, a.limited(true, t.clk.Now().Add(ra))
		}
		return nil, a.wait(ra, fmt.Sprintf("secondary rate limit (%d)", resp.StatusCode))
	case resp.StatusCode >= 500 && resp.StatusCode <= 599 && resp.StatusCode != http.StatusNotImplemented && retryable(a.req) && a.retries < t.maxRetries:
		drain(resp)
		a.retries++
		return nil, a.wait(backoff(a.retries), fmt.Sprintf("GitHub answered %d, retry %d of %d", resp.StatusCode, a.retries, t.maxRetries))
	}
	return t.pass(resp, remaining, reset), nil
}

// pass records an emptied quota and hands the response to go-github without X-RateLimit-Reset.
func (t *transport) pass(resp *http.Response, remaining string, reset time.Time) *http.Response {
	if remaining == "0" && !reset.IsZero() {
		t.mu.Lock()
		t.exhausted = reset
		t.mu.Unlock()
	}
	resp.Header.Del("X-RateLimit-Reset")
	return resp
}

// secondaryWait tells a secondary rate limit from a permission refusal and says how long to wait:
// Retry-After when present, otherwise one minute, doubling with each further hit (GitHub's advice).
func secondaryWait(resp *http.Response, n int, now time.Time) (time.Duration, bool) {
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		if secs, err := strconv.Atoi(strings.TrimSpace(ra)); err == nil && secs >= 0 {
			return time.Duration(secs) * time.Second, true
		}
		if at, err := http.ParseTime(ra); err == nil {
			if d := at.Sub(now); d > 0 {
				return d, true
			}
			return time.Second, true
		}
	}
	d := time.Minute << n
	if resp.StatusCode == http.StatusTooManyRequests {
		return d, true
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	low := strings.ToLower(string(b))
	if strings.Contains(low, "secondary rate limit") || strings.Contains(low, "abuse") {
		return d, true
	}
	return 0, false
}

func parseReset(v string) time.Time {
	secs, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || secs <= 0 {
		return time.Time{}
	}
	return time.Unix(secs, 0)
}

// backoff is 1s, 2s, 4s … capped at 30s.
func backoff(n int) time.Duration {
	d := time.Second << (n - 1)
	if d > 30*time.Second || d <= 0 {
		d = 30 * time.Second
	}
	return d
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
}

// scrub removes the token from an error's text, should a lower layer ever include it.
func scrub(err error, token string) error {
	if err == nil || token == "" || !strings.Contains(err.Error(), token) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), token, "***"))
}
