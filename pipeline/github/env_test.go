package github

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate/pipeline/clock"
	"github.com/shipgate/shipgate/pipeline/githubserver"
	"github.com/shipgate/shipgate/pipeline/testkit"
	"github.com/shipgate/shipgate/pipeline/version"
)

const (
	token     = "ghp_SourceT0kenValue4242"
	downToken = "ghp_DownstreamT0ken7777"
	readToken = "ghp_ReadOnlyT0ken31337"
)

var (
	t0   = time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	app  = Repo{Owner: "acme", Name: "app"}
	down = Repo{Owner: "acme", Name: "smoke"}
	v123 = version.MustParse("1.2.3")
)

const changelog = "# Changelog\n\n## [1.2.3] - TBD\n\n- fix\n"

// env is a GitHub server with acme/app (source) and acme/smoke (downstream), a fault proxy in front
// of it, a fake clock shared by both sides, and clients for the source and downstream tokens.
type env struct {
	t     testing.TB
	srv   *githubserver.Server
	proxy *testkit.FaultProxy
	clk   *clock.Fake
	logs  *testkit.Logs
	c     *Client // source token, through the proxy
	down  *Client // downstream token, through the proxy
	ctx   context.Context
}

func newEnv(t testing.TB, o githubserver.Options, ro githubserver.RepoOptions) *env {
	t.Helper()
	clk := clock.NewFake(t0)
	o.Clock = clk
	srv := githubserver.New(o)
	t.Cleanup(srv.Close)
	if ro.Files == nil {
		ro.Files = map[string]string{"CHANGELOG.md": changelog, "main.go": "package main\n"}
	}
	ro.Private = true
	srv.AddRepo("acme/app", ro)
	srv.AddRepo("acme/smoke", githubserver.RepoOptions{Private: true})
	srv.AddToken(token, "releaser", map[string]githubserver.Perm{"acme/app": githubserver.PermPush})
	srv.AddToken(downToken, "smoke-bot", map[string]githubserver.Perm{"acme/smoke": githubserver.PermPush})
	srv.AddToken(readToken, "reader", map[string]githubserver.Perm{"acme/app": githubserver.PermPull, "acme/smoke": githubserver.PermPull})
	e := &env{t: t, srv: srv, clk: clk, logs: &testkit.Logs{}, ctx: context.Background()}
	e.proxy = testkit.NewFaultProxy(t, srv.URL())
	e.c = e.client(token)
	e.down = e.client(downToken)
	return e
}

func (e *env) client(tok string) *Client {
	e.t.Helper()
	c, err := New(Options{BaseURL: e.proxy.URL(), Token: tok, Clock: e.clk, Log: e.logs, Transport: &http.Transport{DisableKeepAlives: true}})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// head is the commit a branch points at on the server.
func (e *env) head(branch string) string {
	sha, _ := e.srv.Ref("acme/app", "refs/heads/"+branch)
	return sha
}

// writes counts the requests that reached the server with a writing method.
func (e *env) writes() int {
	n := 0
	for _, r := range e.srv.Requests() {
		if r.Method != "GET" && r.Status < 300 {
			n++
		}
	}
	return n
}

// prepared creates release/1.2.3 from main and returns its head.
func (e *env) prepared() string {
	e.t.Helper()
	sha, err := e.c.CreateReleaseBranch(e.ctx, app, v123, "main")
	if err != nil {
		e.t.Fatal(err)
	}
	return sha
}

func (e *env) noLeak(errs ...error) {
	e.t.Helper()
	where := []any{e.logs}
	for _, err := range errs {
		if err != nil {
			where = append(where, err)
		}
	}
	for _, tok := range []string{token, downToken, readToken} {
		testkit.AssertNoSecret(e.t, tok, where...)
	}
}

func re(s string) *regexp.Regexp { return regexp.MustCompile(s) }

func mustContain(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one containing %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q does not contain %q", err, p)
		}
	}
}

// redirect is a transport that sends every request to base (scheme and host), keeping the path.
type redirect string

func (b redirect) RoundTrip(r *http.Request) (*http.Response, error) {
	u, _ := url.Parse(string(b))
	r2 := r.Clone(r.Context())
	r2.URL.Scheme, r2.URL.Host, r2.Host = u.Scheme, u.Host, u.Host
	return http.DefaultTransport.RoundTrip(r2)
}
