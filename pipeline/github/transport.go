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

	mu        sync.Mutex
	exhausted time.Time // primary quota known to be empty until then
}

func (t *transport) logf(format string, args ...any) {
	if t.log != nil {
		fmt.Fprintf(t.log, "github: "+format+"\n", args...)
	}
}

// RoundTrip sends req, waiting out rate limits within the bound and retrying 5xx answers and
// dropped connections (for requests that are safe to repeat) a bounded number of times.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}
	path := req.URL.Path
	var waited time.Duration
	retries, secondary, primary := 0, 0, 0
	wait := func(d time.Duration, why string) error {
		t.logf("%s %s: %s; waiting %s", req.Method, path, why, d)
		waited += d
		return t.clk.Sleep(ctx, d)
	}
	for {
		// A quota known to be empty: wait before asking (GitHub may ban clients that keep asking).
		t.mu.Lock()
		until := t.exhausted
		t.mu.Unlock()
		if now := t.clk.Now(); now.Before(until) {
			d := until.Sub(now) + time.Second
			if waited+d > t.maxWait {
				return nil, &RateLimitError{Method: req.Method, Path: path, RetryAt: until, Bound: t.maxWait}
			}
			if err := wait(d, "primary rate limit exhausted until "+until.UTC().Format(time.RFC3339)); err != nil {
				return nil, err
			}
		}
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
		resp, err := t.base.RoundTrip(r2)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if retryable(req) && retries < t.maxRetries {
				retries++
				if werr := wait(backoff(retries), fmt.Sprintf("connection failed (%v), retry %d of %d", scrub(err, t.token), retries, t.maxRetries)); werr != nil {
					return nil, werr
				}
				continue
			}
			return nil, scrub(err, t.token)
		}
		remaining := resp.Header.Get("X-RateLimit-Remaining")
		reset := parseReset(resp.Header.Get("X-RateLimit-Reset"))
		switch {
		case (resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusTooManyRequests) && remaining == "0" && resp.Header.Get("Retry-After") == "":
			drain(resp)
			primary++
			if now := t.clk.Now(); !reset.After(now) {
				reset = now.Add(time.Minute)
			}
			if primary > 3 {
				return nil, &RateLimitError{Method: req.Method, Path: path, RetryAt: reset, Bound: t.maxWait}
			}
			t.mu.Lock()
			t.exhausted = reset
			t.mu.Unlock()
			continue // the pre-wait above waits or gives up
		case resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusTooManyRequests:
			ra, isSecondary := secondaryWait(resp, secondary, t.clk.Now())
			if !isSecondary {
				return t.pass(resp, remaining, reset), nil
			}
			drain(resp)
			secondary++
			if secondary > 6 || waited+ra > t.maxWait {
				return nil, &RateLimitError{Method: req.Method, Path: path, Secondary: true, RetryAt: t.clk.Now().Add(ra), Bound: t.maxWait}
			}
			if err := wait(ra, fmt.Sprintf("secondary rate limit (%d)", resp.StatusCode)); err != nil {
				return nil, err
			}
			continue
		case resp.StatusCode >= 500 && resp.StatusCode <= 599 && resp.StatusCode != http.StatusNotImplemented:
			if retryable(req) && retries < t.maxRetries {
				drain(resp)
				retries++
				if err := wait(backoff(retries), fmt.Sprintf("GitHub answered %d, retry %d of %d", resp.StatusCode, retries, t.maxRetries)); err != nil {
					return nil, err
				}
				continue
			}
		}
		return t.pass(resp, remaining, reset), nil
	}
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
