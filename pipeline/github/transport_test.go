package github

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	gh "github.com/google/go-github/v62/github"

	"github.com/shipgate/shipgate/pipeline/githubserver"
	"github.com/shipgate/shipgate/pipeline/testkit"
)

func TestPrimaryRateLimitWaitsUntilReset(t *testing.T) {
	e := newEnv(t, githubserver.Options{}, githubserver.RepoOptions{})
	reset := e.clk.Now().Add(10 * time.Minute)
	e.srv.SetRateLimit(token, 5000, 0, reset)
	if _, _, err := e.c.ReleaseBranch(e.ctx, app, v123); err != nil {
		t.Fatal(err)
	}
	if s := e.clk.Slept(); s < 10*time.Minute || s > 10*time.Minute+2*time.Second {
		t.Fatalf("waited %s, want until the reset (10m)", s)
	}
	refused := 0
	for _, r := range e.srv.Requests() {
		if r.Status == 403 {
			refused++
		}
	}
	if refused != 1 {
		t.Fatalf("%d refused requests: the client kept asking while limited", refused)
	}
	if !strings.Contains(e.logs.String(), "primary rate limit exhausted") {
		t.Fatalf("wait not logged: %q", e.logs.String())
	}
}

func TestPrimaryRateLimitBeyondBoundFailsSayingWhen(t *testing.T) {
	e := newEnv(t, githubserver.Options{}, githubserver.RepoOptions{})
	reset := e.clk.Now().Add(2 * time.Hour)
	e.srv.SetRateLimit(token, 5000, 0, reset)
	_, _, err := e.c.ReleaseBranch(e.ctx, app, v123)
	var rl *RateLimitError
	if !errors.As(err, &rl) || !rl.RetryAt.Equal(reset) || rl.Path != "/api/v3/repos/acme/app/git/ref/heads/release/1.2.3" {
		t.Fatalf("want RateLimitError until %s, got %v", reset, err)
	}
	mustContain(t, err, "retry after "+reset.UTC().Format("2006-01-02 15:04:05 UTC"), "read branch release/1.2.3 of acme/app")
	// The next call does not even ask GitHub: the quota is known to be empty.
	n := len(e.srv.Requests())
	_, _, err = e.c.ReleaseBranch(e.ctx, app, v123)
	if !errors.As(err, &rl) || len(e.srv.Requests()) != n {
		t.Fatalf("second call asked GitHub again (%d requests) or did not fail: %v", len(e.srv.Requests())-n, err)
	}
	e.noLeak(err)
}

func TestLastRequestOfQuotaMakesNextOneWait(t *testing.T) {
	e := newEnv(t, githubserver.Options{}, githubserver.RepoOptions{})
	e.srv.SetRateLimit(token, 5000, 1, e.clk.Now().Add(5*time.Minute))
	for i := 0; i < 2; i++ {
		if _, _, err := e.c.ReleaseBranch(e.ctx, app, v123); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range e.srv.Requests() {
		if r.Status == 403 {
			t.Fatalf("the client asked with an empty quota: %+v", r)
		}
	}
	if e.clk.Slept() < 5*time.Minute {
		t.Fatalf("slept %s, want to wait for the reset before asking", e.clk.Slept())
	}
}

func TestSecondaryRateLimitBacksOff(t *testing.T) {
	e := newEnv(t, githubserver.Options{}, githubserver.RepoOptions{})
	e.srv.InjectSecondaryRateLimit(429, 30, 1)
	e.srv.InjectSecondaryRateLimit(403, 0, 1) // no Retry-After: one minute, doubling
	if _, _, err := e.c.ReleaseBranch(e.ctx, app, v123); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(e.clk.Sleeps()); got != "[30s 2m0s]" {
		t.Fatalf("waits %s, want [30s 2m0s]", got)
	}
	// Too many secondary refusals: give up saying when.
	e.srv.InjectSecondaryRateLimit(429, 600, 5)
	_, _, err := e.c.ReleaseBranch(e.ctx, app, v123)
	var rl *RateLimitError
	if !errors.As(err, &rl) || !rl.Secondary {
		t.Fatalf("want a secondary RateLimitError, got %v", err)
	}
	mustContain(t, err, "secondary rate limit", "retry after")
}

func TestServerErrorsRetriedBoundedOthersNot(t *testing.T) {
	e := newEnv(t, githubserver.Options{}, githubserver.RepoOptions{})
	e.srv.Inject5xx("GET", `/git/ref/`, 503, 2)
	if _, _, err := e.c.ReleaseBranch(e.ctx, app, v123); err != nil {
		t.Fatalf("two 503s were not retried: %v", err)
	}
	if got := fmt.Sprint(e.clk.Sleeps()); got != "[1s 2s]" {
		t.Fatalf("back-off %s, want [1s 2s]", got)
	}
	// Always 500: bounded (1 + 4 retries), then a clear error.
	e.srv.ResetRequests()
	e.srv.Inject5xx("GET", `/git/ref/`, 500, 100)
	_, _, err := e.c.ReleaseBranch(e.ctx, app, v123)
	mustContain(t, err, "read branch release/1.2.3 of acme/app", "500")
	if n := len(e.srv.Requests()); n != 5 {
		t.Fatalf("%d attempts, want 5", n)
	}
	// A 4xx is not retried.
	e.srv.ClearFaults()
	e.srv.ResetRequests()
	_, err = e.client(readToken).CreateReleaseBranch(e.ctx, app, v123, "main")
	mustContain(t, err, "403")
	posts := 0
	for _, r := range e.srv.Requests() {
		if r.Method == "POST" {
			posts++
		}
	}
	if posts != 1 {
		t.Fatalf("a 403 was retried: %d POSTs", posts)
	}
	// A plain POST (not idempotent) is not retried by the transport after a 5xx.
	e.srv.ResetRequests()
	e.srv.Inject5xx("POST", `/releases$`, 500, 1)
	_, _, err = e.c.gh.Repositories.CreateRelease(e.ctx, "acme", "app", &gh.RepositoryRelease{TagName: strPtr("v1.0.0")})
	if err == nil || len(e.srv.Requests()) != 1 {
		t.Fatalf("non-idempotent POST retried by the transport: %d requests", len(e.srv.Requests()))
	}
}

func TestDroppedConnectionsRetried(t *testing.T) {
	e := newEnv(t, githubserver.Options{}, githubserver.RepoOptions{})
	rule := e.proxy.Inject(testkit.Fault{Method: "GET", Drop: true, Times: 2})
	if _, _, err := e.c.ReleaseBranch(e.ctx, app, v123); err != nil {
		t.Fatal(err)
	}
	if rule.Injected() != 2 {
		t.Fatalf("injected %d", rule.Injected())
	}
	e.proxy.Inject(testkit.Fault{Drop: true})
	_, _, err := e.c.ReleaseBranch(e.ctx, app, v123)
	mustContain(t, err, "read branch release/1.2.3 of acme/app", "cannot reach GitHub")
	e.noLeak(err)
}

// TestTokenNeverLeaks runs operations into every failure shape and checks logs and errors.
func TestTokenNeverLeaks(t *testing.T) {
	e, commit := finalizedEnv(t, githubserver.Options{}, githubserver.RepoOptions{})
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	// The first call meets a secondary rate limit and a 502, retries past both and succeeds; each
	// call after it fails in its own way.
	limited := e.srv.InjectSecondaryRateLimit(429, 1, 1)
	bad := e.srv.Inject5xx("", "", 502, 1)
	_, _, err := e.c.EnsureDraft(e.ctx, app, v123, commit, notes, State{})
	if err != nil || limited.Injected() != 1 || bad.Injected() != 1 {
		t.Fatalf("draft past a 429 (answered %d) and a 502 (answered %d): %v", limited.Injected(), bad.Injected(), err)
	}
	_, _, err = e.client(readToken).EnsureDraft(e.ctx, app, v123, commit, notes, State{})
	add(err)
	wrong := e.client("ghp_WrongT0kenButLongEnough")
	_, _, err = wrong.ReleaseBranch(e.ctx, app, v123)
	add(err)
	add(e.c.Dispatch(e.ctx, down, "", payload(commit)))
	e.proxy.Inject(testkit.Fault{Drop: true})
	_, err = e.c.FindRelease(e.ctx, app, "v1.2.3")
	add(err)
	e.proxy.Clear()
	e.srv.SetRateLimit(token, 1, 0, e.clk.Now().Add(24*time.Hour))
	_, err = e.c.FindRelease(e.ctx, app, "v1.2.3")
	add(err)
	if failed := anys(errs); len(failed) != len(errs) || len(failed) != 5 {
		t.Fatalf("%d of %d calls failed, want all 5: %v", len(failed), len(errs), errs)
	}
	e.noLeak(errs...)
	testkit.AssertNoSecret(t, "ghp_WrongT0kenButLongEnough", append([]any{e.logs}, anys(errs)...)...)
	for _, err := range errs {
		if err != nil && strings.Contains(fmt.Sprintf("%+v %#v", err, err), token) {
			t.Fatalf("formatted error holds the token: %v", err)
		}
	}
	// The token reached the server only in the Authorization header.
	var seen http.Header
	probe, _ := New(Options{Token: readToken, Clock: e.clk, Transport: afterFunc(func(r *http.Request) { seen = r.Header.Clone() }), BaseURL: e.srv.URL()})
	_, _, _ = probe.ReleaseBranch(e.ctx, app, v123)
	if seen.Get("Authorization") != "Bearer "+readToken {
		t.Fatalf("Authorization header %q", seen.Get("Authorization"))
	}
}

func anys(errs []error) []any {
	var out []any
	for _, e := range errs {
		if e != nil {
			out = append(out, e)
		}
	}
	return out
}
