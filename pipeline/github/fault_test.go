package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/pipeline/config"
	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/githubserver"
	"github.com/shipgate/shipgate/pipeline/testkit"
)

// lookups are the reads that promote's and publish's gates make, each named.
func lookups(e *env) map[string]func() error {
	return map[string]func() error{
		"FindRelease": func() error { _, err := e.c.FindRelease(e.ctx, app, "v1.2.3"); return err },
		"PRState":     func() error { _, err := e.c.PRState(e.ctx, app, v123, "main", ""); return err },
		"DownstreamResult": func() error {
			_, err := e.down.DownstreamResult(e.ctx, down, v123, digest, "", config.GatePrerelease, true)
			return err
		},
		"LatestRelease": func() error { _, err := e.c.LatestRelease(e.ctx, app); return err },
		"IsHighest":     func() error { _, err := e.c.IsHighest(e.ctx, app, v123); return err },
		"Tag":           func() error { _, _, err := e.c.Tag(e.ctx, app, v123); return err },
		"LockState":     func() error { _, _, err := e.c.LockState(e.ctx, app); return err },
		"ReleaseBranch": func() error { _, _, err := e.c.ReleaseBranch(e.ctx, app, v123); return err },
	}
}

// A GitHub that answers 200 with a body that is not the JSON expected could not be read: a gate
// that meets it "could not look", it did not refuse (issue 10, bug 3).
func TestMalformedAnswersAreUnreadable(t *testing.T) {
	for _, body := range []string{`{"id": 1, "tag_name": `, `{"message": "an object where a list belongs"}`, `[{"id": "not a number"}]`, `<html>proxy error</html>`} {
		e := newEnv(t, githubserver.Options{}, githubserver.RepoOptions{})
		e.srv.CreateRelease("acme/app", githubserver.ReleaseSeed{Tag: "v1.2.3"})
		e.proxy.Inject(testkit.Fault{Status: http.StatusOK, Body: body, Header: http.Header{"Content-Type": {"application/json"}}})
		for name, look := range lookups(e) {
			err := look()
			if fault.Of(err) != fault.Unreadable {
				t.Errorf("%s with body %q: class %v, want could not read: %v", name, body, fault.Of(err), err)
			}
		}
	}
}

func TestOutagesAreUnreachable(t *testing.T) {
	e := newEnv(t, githubserver.Options{}, githubserver.RepoOptions{})
	rule := e.proxy.Inject(testkit.Fault{Status: http.StatusServiceUnavailable})
	for name, look := range lookups(e) {
		if err := look(); fault.Of(err) != fault.Unreachable {
			t.Errorf("%s behind a 503: class %v, want could not reach: %v", name, fault.Of(err), err)
		}
	}
	if rule.Injected() == 0 {
		t.Fatal("503 never injected")
	}
	e.proxy.Clear()
	e.proxy.Inject(testkit.Fault{Drop: true})
	for name, look := range lookups(e) {
		if err := look(); fault.Of(err) != fault.Unreachable {
			t.Errorf("%s with dropped connections: class %v, want could not reach: %v", name, fault.Of(err), err)
		}
	}
	e.proxy.Clear()
	ctx, cancel := context.WithCancel(e.ctx)
	cancel()
	if _, err := e.c.FindRelease(ctx, app, "v1.2.3"); fault.Of(err) != fault.Unreachable {
		t.Errorf("cancelled: class %v: %v", fault.Of(err), err)
	}
}

// A rejected token means shipgate could not read: the error names the setting the token came from
// and the permission needed (a gate that meets it fails; it has not seen the world).
func TestTokenRefusalsNameTheFlag(t *testing.T) {
	e := newEnv(t, githubserver.Options{}, githubserver.RepoOptions{})
	bad, err := New(Options{BaseURL: e.srv.URL(), Token: "ghp_unknown", Clock: e.clk})
	if err != nil {
		t.Fatal(err)
	}
	_, err = bad.FindRelease(e.ctx, app, "v1.2.3")
	if fault.Of(err) != fault.Unreadable || StatusOf(err) != 401 {
		t.Fatalf("401: %v %v", fault.Of(err), err)
	}
	mustContain(t, err, "--github-token", "rejected")
	// The downstream token may read acme/app but not write to it.
	e.srv.SetPermission(downToken, "acme/app", githubserver.PermPull)
	dc, err := New(Options{BaseURL: e.srv.URL(), Token: downToken, Clock: e.clk, TokenFlag: "--downstream-token"})
	if err != nil {
		t.Fatal(err)
	}
	err = dc.Dispatch(e.ctx, app, "", payload("c"))
	if fault.Of(err) != fault.Unreadable || StatusOf(err) != 403 {
		t.Fatalf("403: %v %v", fault.Of(err), err)
	}
	mustContain(t, err, "--downstream-token", "contents=write")
	var ge *Error
	if !errors.As(err, &ge) {
		t.Fatalf("the GitHub answer is lost from the chain: %v", err)
	}
	_, err = New(Options{Token: "ghp_x\n", TokenFlag: "--downstream-token"})
	if fault.Of(err) != fault.BadInput {
		t.Fatalf("token with a newline: %v", err)
	}
	mustContain(t, err, "--downstream-token")
	if _, err = e.down.DownstreamResult(e.ctx, down, v123, digest, "", "sometimes", true); fault.Of(err) != fault.BadInput {
		t.Fatalf("DownstreamResult with an unknown gate mode: %v", err)
	}
	mustContain(t, err, "--downstream-gate", "sometimes")
}

// An error message that echoes the Authorization header (a proxy or an API in front of GitHub
// may) never carries the token into the error.
func TestEchoedTokenIsScrubbed(t *testing.T) {
	const token = "ghp_echoed0123456789"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnprocessableEntity)
		fmt.Fprintf(w, `{"message":"rejected %s","errors":[{"message":"header was %s"}]}`, r.Header.Get("Authorization"), r.Header.Get("Authorization"))
	}))
	defer srv.Close()
	c, err := New(Options{BaseURL: srv.URL + "/", Token: token})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.FindRelease(context.Background(), Repo{"acme", "app"}, "v1.0.0")
	if err == nil || strings.Contains(err.Error(), token) || !strings.Contains(err.Error(), "***") {
		t.Fatalf("the echoed token reached the error: %v", err)
	}
}
