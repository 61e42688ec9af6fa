package github

import (
	"strings"
	"testing"

	"github.com/shipgate/shipgate/pipeline/githubserver"
)

func TestSmokeStatus(t *testing.T) {
	e, commit := finalizedEnv(t, githubserver.Options{}, githubserver.RepoOptions{})
	corr := CorrelationID(v123, digest)
	read := func() SmokeResult {
		t.Helper()
		r, err := e.client(readToken).SmokeStatus(e.ctx, app, commit, "", corr, digest)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := read(); r.State != SmokeWaiting || !strings.Contains(r.Reason, "has not reported") {
		t.Fatalf("nothing yet: %+v", r)
	}
	// The downstream reports with its own token on the upstream repository (statuses: write).
	e.srv.SetPermission(downToken, "acme/app", githubserver.PermPush)
	set := func(state, url, desc string) {
		t.Helper()
		if err := e.down.SetStatus(e.ctx, app, commit, CommitStatus{State: state, Context: DefaultSmokeContext, TargetURL: url, Description: desc}); err != nil {
			t.Fatal(err)
		}
	}
	set("pending", "https://ci/smoke/1", "testing "+corr)
	if r := read(); r.State != SmokeWaiting || !strings.Contains(r.Reason, "still running") {
		t.Fatalf("pending: %+v", r)
	}
	set("success", "https://ci/smoke/0", "passed sha256:other")
	if r := read(); r.State != SmokeWaiting || !strings.Contains(r.Reason, "another build") {
		t.Fatalf("success for another build: %+v", r)
	}
	set("success", "https://ci/smoke/1", "passed "+digest)
	if r := read(); !r.Passed() || r.URL != "https://ci/smoke/1" {
		t.Fatalf("success naming the digest: %+v", r)
	}
	set("failure", "https://ci/smoke/2", "failed "+corr)
	if r := read(); r.State != SmokeFailed || r.Reason != "smoke test FAILED: https://ci/smoke/2" {
		t.Fatalf("failure: %+v", r)
	}
	// Another context name (configurable) is read on its own.
	if r, err := e.c.SmokeStatus(e.ctx, app, commit, "smoke/other", corr, digest); err != nil || r.State != SmokeWaiting {
		t.Fatalf("other context: %+v %v", r, err)
	}
	mustContain(t, e.down.SetStatus(e.ctx, app, commit, CommitStatus{State: "success", Description: strings.Repeat("x", 141)}), "at most 140")
	_, err := e.down.SmokeStatus(e.ctx, down, commit, "", corr, digest)
	mustContain(t, err, "No commit found")
}
