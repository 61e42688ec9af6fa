package github

import (
	"testing"

	"github.com/shipgate/shipgate/pipeline/githubserver"
)

func TestMarkLatest(t *testing.T) {
	e := newEnv(t, githubserver.Options{}, githubserver.RepoOptions{})
	if cur, err := e.c.LatestRelease(e.ctx, app); err != nil || cur != nil {
		t.Fatalf("no release yet: %v %v", cur, err)
	}
	e.srv.CreateRelease("acme/app", githubserver.ReleaseSeed{Tag: "v1.0.0", Name: "v1.0.0", Body: "one", MakeLatest: true})
	e.srv.CreateRelease("acme/app", githubserver.ReleaseSeed{Tag: "v1.1.0", Name: "v1.1.0", Body: "two", MakeLatest: true})
	cur, err := e.c.LatestRelease(e.ctx, app)
	if err != nil || cur == nil || cur.Tag != "v1.1.0" {
		t.Fatalf("latest = %+v, %v", cur, err)
	}
	old, err := e.c.FindRelease(e.ctx, app, "v1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.c.MarkLatest(e.ctx, app, old); err != nil {
		t.Fatal(err)
	}
	if cur, _ := e.c.LatestRelease(e.ctx, app); cur == nil || cur.Tag != "v1.0.0" {
		t.Fatalf("latest after MarkLatest = %+v", cur)
	}
	// Again: already Latest, no write.
	e.srv.ResetRequests()
	if err := e.c.MarkLatest(e.ctx, app, old); err != nil {
		t.Fatal(err)
	}
	for _, r := range e.srv.Requests() {
		if r.Method == "PATCH" {
			t.Fatalf("re-marking wrote: %+v", r)
		}
	}
	draft := &Release{ID: 99, Tag: "v2.0.0", Draft: true}
	if err := e.c.MarkLatest(e.ctx, app, draft); err == nil {
		t.Fatalf("a draft was marked Latest")
	}
}
