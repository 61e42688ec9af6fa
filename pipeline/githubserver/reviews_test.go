package githubserver

import (
	"fmt"
	"strings"
	"testing"
)

// The default branch requires one approving review from a writer, and its required check: the
// merge is refused until both hold, and the refusal says which is missing.
func TestRequiredReviewsAndChecks(t *testing.T) {
	clkOpts := Options{EagerMergeability: true}
	s, _ := newServer(t, clkOpts)
	s.AddRepo("acme/gated", RepoOptions{RequiredApprovals: 1})
	const writer2 = "tok-push-444444"
	s.AddToken(pushTok+"-g", "releaser", map[string]Perm{"acme/gated": PermPush})
	s.AddToken(writer2, "alice", map[string]Perm{"acme/gated": PermPush})
	s.AddToken(readTok+"-g", "reader", map[string]Perm{"acme/gated": PermPull})
	api := s.APIURL() + "repos/acme/gated/"
	head := s.CommitFiles("acme/gated", "release/1.0.0", map[string]string{"CHANGELOG.md": "## [1.0.0]\n"}, "prepare")
	a := call(t, "POST", api+"pulls", pushTok+"-g", map[string]any{"title": "Release 1.0.0", "head": "release/1.0.0", "base": "main"})
	want(t, a, 201, "open PR")
	n := fmt.Sprint(int(a.obj()["number"].(float64)))
	s.RequestReviewers("acme/gated", 1, "alice")
	if rr := call(t, "GET", api+"pulls/"+n, readTok+"-g", nil).obj()["requested_reviewers"].([]any); len(rr) != 1 {
		t.Fatalf("requested reviewers %v", rr)
	}
	rules := call(t, "GET", api+"rules/branches/main", readTok+"-g", nil)
	want(t, rules, 200, "rules")
	if !strings.Contains(string(rules.raw), `"required_approving_review_count":1`) || !strings.Contains(string(rules.raw), `"context":"ci"`) {
		t.Fatalf("rules %s", rules.raw)
	}
	if l := call(t, "GET", api+"rules/branches/release/1.0.0", readTok+"-g", nil).list(); len(l) != 0 {
		t.Fatalf("rules of another branch %v", l)
	}
	merge := func(what string, status int, msg string) {
		t.Helper()
		a := call(t, "PUT", api+"pulls/"+n+"/merge", pushTok+"-g", map[string]any{"sha": head})
		want(t, a, status, what)
		if msg != "" && !strings.Contains(fmt.Sprint(a.obj()["message"]), msg) {
			t.Fatalf("%s: %v", what, a.obj())
		}
	}
	merge("no approval", 405, "At least 1 approving review")
	// The author cannot approve; a reader's approval does not count.
	want(t, call(t, "POST", api+"pulls/"+n+"/reviews", pushTok+"-g", map[string]any{"event": "APPROVE"}), 422, "author approves")
	want(t, call(t, "POST", api+"pulls/"+n+"/reviews", readTok+"-g", map[string]any{"event": "APPROVE"}), 200, "reader approves")
	merge("a reader's approval", 405, "At least 1 approving review")
	want(t, call(t, "POST", api+"pulls/"+n+"/reviews", writer2, map[string]any{"event": "REQUEST_CHANGES"}), 200, "changes requested")
	merge("changes requested", 405, "Changes requested by alice")
	want(t, call(t, "POST", api+"pulls/"+n+"/reviews", writer2, map[string]any{"event": "COMMENT"}), 200, "a comment")
	merge("a comment changes nothing", 405, "Changes requested by alice")
	want(t, call(t, "POST", api+"pulls/"+n+"/reviews", writer2, map[string]any{"event": "APPROVE"}), 200, "approved")
	reviews := call(t, "GET", api+"pulls/"+n+"/reviews", readTok+"-g", nil).list()
	if len(reviews) != 4 || reviews[3]["state"] != "APPROVED" || reviews[3]["commit_id"] != head {
		t.Fatalf("reviews %v", reviews)
	}
	if rr := call(t, "GET", api+"pulls/"+n, readTok+"-g", nil).obj()["requested_reviewers"].([]any); len(rr) != 0 {
		t.Fatalf("alice reviewed but is still requested: %v", rr)
	}
	// Approved; the required check fails, then passes.
	s.SetCheckState("acme/gated", head, "failure")
	st := call(t, "GET", api+"commits/"+head+"/status", readTok+"-g", nil).obj()
	if st["state"] != "failure" {
		t.Fatalf("combined status %v", st)
	}
	merge("check failing", 405, `Required status check "ci" is failing.`)
	s.SetChecksPending("acme/gated", head, true)
	merge("check pending", 405, `Required status check "ci" is expected.`)
	s.SetChecksPending("acme/gated", head, false)
	merge("ready", 200, "")
}

// A maintainer's hands: MarkReady takes a PR out of draft, Approve counts as a writer's approval.
func TestMaintainerMarksReadyAndApproves(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	s.AddRepo("acme/gated", RepoOptions{RequiredApprovals: 1})
	n := s.OpenPullRequest("acme/gated", "main", "main", "Release", true)
	rp := s.repoLocked("acme/gated")
	if rp.reviewBlock(rp.pull(n)) == "" {
		t.Fatal("no approval yet, but nothing blocks")
	}
	s.MarkReady("acme/gated", n)
	s.Approve("acme/gated", n, "maintainer")
	for _, p := range s.Pulls("acme/gated") {
		if p.Number == n && p.Draft {
			t.Fatal("still a draft")
		}
	}
	if b := rp.reviewBlock(rp.pull(n)); b != "" {
		t.Fatalf("approved, still blocked: %s", b)
	}
}
