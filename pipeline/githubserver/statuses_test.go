package githubserver

import (
	"strings"
	"testing"
)

func TestCommitStatusesCreateListCombined(t *testing.T) {
	s, _ := newServer(t, Options{PageSize: 2})
	sha, _ := s.Ref("acme/app", "refs/heads/main")
	api := s.APIURL() + "repos/acme/app/"
	post := func(tok string, body map[string]any) answer { return call(t, "POST", api+"statuses/"+sha, tok, body) }
	want(t, post(readTok, map[string]any{"state": "success"}), 403, "status without push")
	want(t, post(pushTok, map[string]any{"state": "green"}), 422, "unknown state")
	a := post(pushTok, map[string]any{"state": "success", "description": strings.Repeat("d", 141)})
	want(t, a, 422, "description over 140")
	if !strings.Contains(string(a.raw), "description is too long (maximum is 140 characters)") {
		t.Fatalf("422 text %s", a.raw)
	}
	want(t, call(t, "POST", api+"statuses/"+strings.Repeat("0", 40), pushTok, map[string]any{"state": "success"}), 422, "unknown commit")
	a = post(pushTok, map[string]any{"state": "pending", "context": "shipgate/smoke-test", "target_url": "https://ci/1"})
	want(t, a, 201, "create")
	if a.obj()["context"] != "shipgate/smoke-test" || a.obj()["creator"].(map[string]any)["login"] != "releaser" {
		t.Fatalf("created %s", a.raw)
	}
	want(t, post(pushTok, map[string]any{"state": "success"}), 201, "context defaults")
	comb := call(t, "GET", api+"commits/"+sha+"/status", readTok, nil).obj()
	if comb["state"] != "pending" || comb["total_count"].(float64) != 3 {
		t.Fatalf("combined with a pending context: %v", comb)
	}
	// A newer status of the same context (any case) replaces it in the combined view.
	want(t, post(pushTok, map[string]any{"state": "failure", "context": "Shipgate/Smoke-Test", "description": "sha256:ab"}), 201, "fail")
	comb = call(t, "GET", api+"commits/main/status", readTok, nil).obj()
	if comb["state"] != "failure" || comb["total_count"].(float64) != 3 {
		t.Fatalf("combined after failure: %v", comb)
	}
	// The list has every status, newest first, paginated (page size 2 here).
	l := call(t, "GET", api+"commits/"+sha+"/statuses", readTok, nil)
	if got := l.list(); len(got) != 2 || got[0]["state"] != "failure" || !strings.Contains(l.header.Get("Link"), `rel="next"`) {
		t.Fatalf("list %s %v", l.raw, l.header)
	}
	// Posting the required check's context drives the required check.
	want(t, post(pushTok, map[string]any{"state": "pending", "context": "ci"}), 201, "required check")
	if st := s.Statuses("acme/app", sha); len(st) != 4 || st[3].Context != "ci" {
		t.Fatalf("stored %+v", st)
	}
	comb = call(t, "GET", api+"commits/"+sha+"/status", readTok, nil).obj()
	for _, x := range comb["statuses"].([]any) {
		if m := x.(map[string]any); m["context"] == "ci" && m["state"] != "pending" {
			t.Fatalf("required check %v", m)
		}
	}
}
