package github

import (
	"strings"
	"testing"

	gh "github.com/google/go-github/v62/github"

	"github.com/shipgate/shipgate/pipeline/config"
	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/githubserver"
	"github.com/shipgate/shipgate/pipeline/testkit"
)

// prEnv is a finalized release with its draft PR open (mergeability computed lazily, as on GitHub).
func prEnv(t *testing.T, ro githubserver.RepoOptions) (*env, string) {
	e, commit := finalizedEnv(t, githubserver.Options{}, ro)
	if _, _, err := e.c.OpenReleasePR(e.ctx, app, v123, "main", "", "Release 1.2.3"); err != nil {
		t.Fatal(err)
	}
	return e, commit
}

func TestMergeDraftPR(t *testing.T) {
	e, commit := prEnv(t, githubserver.RepoOptions{})
	st, err := e.c.PRState(e.ctx, app, v123, "main", commit)
	if err != nil || !st.Ready || st.PR == nil || !st.PR.Draft {
		t.Fatalf("state: %+v %v", st, err)
	}
	if e.clk.Slept() == 0 {
		t.Fatalf("mergeability was unknown at first; PRState should have waited on the clock")
	}
	res, err := e.c.MergePR(e.ctx, app, v123, "main", commit, MergeOptions{})
	if err != nil || res.Outcome != Merged || res.SHA == "" {
		t.Fatalf("merge: %+v %v", res, err)
	}
	mc, _ := e.srv.Commit("acme/app", res.SHA)
	if len(mc.Parents) != 2 || mc.Parents[1] != commit || e.head("main") != res.SHA {
		t.Fatalf("not a merge commit of the finalize commit: %+v", mc)
	}
	// Re-run: already merged at the expected head, nothing written.
	before := e.writes()
	res, err = e.c.MergePR(e.ctx, app, v123, "main", commit, MergeOptions{})
	if err != nil || res.Outcome != AlreadyMerged || e.writes() != before {
		t.Fatalf("re-run: %+v %v", res, err)
	}
	st, _ = e.c.PRState(e.ctx, app, v123, "main", commit)
	if !st.Done {
		t.Fatalf("state after merge: %+v", st)
	}
	// Merged, but at another head than this release's: not ours.
	st, _ = e.c.PRState(e.ctx, app, v123, "main", strings.Repeat("1", 40))
	if st.Done || !strings.Contains(st.Problem, "merged at") {
		t.Fatalf("merged elsewhere: %+v", st)
	}
}

func TestMergeRefusals(t *testing.T) {
	e, commit := prEnv(t, githubserver.RepoOptions{})
	// Head moved after publish.
	e.srv.CommitFiles("acme/app", "release/1.2.3", map[string]string{"late": "1"}, "late")
	_, err := e.c.MergePR(e.ctx, app, v123, "main", commit, MergeOptions{})
	mustContain(t, err, "head moved", "re-run publish")
	e.srv.SetRef("acme/app", "refs/heads/release/1.2.3", commit)
	// Conflicts.
	e.srv.SetMergeConflict("acme/app", 1, true)
	_, err = e.c.MergePR(e.ctx, app, v123, "main", commit, MergeOptions{})
	mustContain(t, err, "has conflicts with main")
	e.srv.SetMergeConflict("acme/app", 1, false)
	// Bad method.
	_, err = e.c.MergePR(e.ctx, app, v123, "main", commit, MergeOptions{MergeMethod: "octopus"})
	mustContain(t, err, "--merge-method", "octopus", "merge, squash, rebase")
	// No PR at all.
	st, err := e.c.PRState(e.ctx, app, v123, "develop", commit)
	if err != nil || !strings.Contains(st.Problem, "no pull request from release/1.2.3 into develop") {
		t.Fatalf("no PR: %+v %v", st, err)
	}
	// Closed without merging.
	e2, c2 := prEnv(t, githubserver.RepoOptions{})
	if _, _, err := e2.c.gh.PullRequests.Edit(e2.ctx, "acme", "app", 1, &gh.PullRequest{State: strPtr("closed")}); err != nil {
		t.Fatal(err)
	}
	_, err = e2.c.MergePR(e2.ctx, app, v123, "main", c2, MergeOptions{})
	mustContain(t, err, "closed without merging: reopen it")
}

func TestMergeWithPendingChecks(t *testing.T) {
	e, commit := prEnv(t, githubserver.RepoOptions{})
	e.srv.SetChecksPending("acme/app", commit, true)
	_, err := e.c.MergePR(e.ctx, app, v123, "main", commit, MergeOptions{})
	mustContain(t, err, "waits for required checks", "allow auto-merge")
	_, err = e.c.MergePR(e.ctx, app, v123, "main", commit, MergeOptions{AllowAutoMerge: true})
	mustContain(t, err, "Auto merge is not allowed", "turn on \"Allow auto-merge\"")
	e.srv.SetAllowAutoMerge("acme/app", true)
	res, err := e.c.MergePR(e.ctx, app, v123, "main", commit, MergeOptions{AllowAutoMerge: true, MergeMethod: config.MergeSquash})
	if err != nil || res.Outcome != AutoMergeEnabled {
		t.Fatalf("auto-merge: %+v %v", res, err)
	}
	if p := e.srv.Pulls("acme/app")[0]; !p.AutoMerge || p.AutoMergeMethod != "squash" || p.Draft {
		t.Fatalf("server PR %+v", p)
	}
	res, err = e.c.MergePR(e.ctx, app, v123, "main", commit, MergeOptions{AllowAutoMerge: true})
	if err != nil || res.Outcome != AutoMergeAlreadyOn {
		t.Fatalf("re-run: %+v %v", res, err)
	}
	// Checks pass: GitHub merges; the next promote sees it merged.
	e.srv.SetChecksPending("acme/app", commit, false)
	res, err = e.c.MergePR(e.ctx, app, v123, "main", commit, MergeOptions{AllowAutoMerge: true})
	if err != nil || res.Outcome != AlreadyMerged {
		t.Fatalf("after checks: %+v %v", res, err)
	}
}

func TestMergeConvergesAfterLostAnswer(t *testing.T) {
	e, commit := prEnv(t, githubserver.RepoOptions{})
	rule := e.proxy.Inject(testkit.Fault{Method: "PUT", Path: re(`/merge$`), DropResponse: true, Times: 1})
	res, err := e.c.MergePR(e.ctx, app, v123, "main", commit, MergeOptions{})
	if err != nil || rule.Injected() != 1 || (res.Outcome != Merged && res.Outcome != AlreadyMerged) {
		t.Fatalf("merge with a lost answer: %+v %v (injected %d)", res, err, rule.Injected())
	}
	if p := e.srv.Pulls("acme/app")[0]; !p.Merged {
		t.Fatalf("not merged")
	}
	// GraphQL goes through the same transport: a dropped mark-ready is retried.
	e2, c2 := prEnv(t, githubserver.RepoOptions{})
	rule = e2.proxy.Inject(testkit.Fault{Method: "POST", Path: re(`graphql$`), Status: 502, Times: 1})
	if _, err := e2.c.MergePR(e2.ctx, app, v123, "main", c2, MergeOptions{}); err != nil || rule.Injected() != 1 {
		t.Fatalf("merge after a 502 on GraphQL: %v", err)
	}
	e.noLeak(err)
}

func TestGraphQLEndpoints(t *testing.T) {
	// GitHub Enterprise Server layout (srv.URL() as base): REST under /api/v3, GraphQL at /api/graphql.
	e, commit := prEnv(t, githubserver.RepoOptions{})
	if _, err := e.c.MergePR(e.ctx, app, v123, "main", commit, MergeOptions{}); err != nil {
		t.Fatal(err)
	}
	sawGraphQL := false
	for _, r := range e.proxy.Requests() {
		if strings.Contains(r.Path, "graphql") {
			sawGraphQL = r.Path == "/api/graphql"
		} else if !strings.HasPrefix(r.Path, "/api/v3/") {
			t.Fatalf("REST request outside /api/v3: %s", r.Path)
		}
	}
	if !sawGraphQL {
		t.Fatal("mark-ready did not go to /api/graphql")
	}
	// github.com layout: https://api.github.com/ with a transport that sends it to the server.
	e2, c2 := prEnv(t, githubserver.RepoOptions{})
	dotcom, err := New(Options{BaseURL: "https://api.github.com/", Token: token, Clock: e2.clk, Transport: redirect(e2.srv.URL())})
	if err != nil {
		t.Fatal(err)
	}
	e2.srv.ResetRequests()
	if _, err := dotcom.MergePR(e2.ctx, app, v123, "main", c2, MergeOptions{}); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range e2.srv.Requests() {
		seen[strings.SplitN(r.Path, "/", 3)[1]] = true
	}
	if !seen["graphql"] || !seen["repos"] || len(seen) != 2 {
		t.Fatalf("github.com layout paths: %v", seen)
	}
}

// MergePR checks its method with config's reader of --merge-method: a method config does not know
// is refused as bad input, naming the flag, before any request. (The zero value merges with a
// merge commit, config's default: TestMergeDraftPR.)
func TestMergeMethodChecked(t *testing.T) {
	e, commit := prEnv(t, githubserver.RepoOptions{})
	before := len(e.srv.Requests())
	_, err := e.c.MergePR(e.ctx, app, v123, "main", commit, MergeOptions{MergeMethod: "sqaush"})
	if fault.Of(err) != fault.BadInput {
		t.Errorf("class %v, want bad input: %v", fault.Of(err), err)
	}
	mustContain(t, err, "--merge-method", "sqaush")
	if n := len(e.srv.Requests()) - before; n != 0 {
		t.Errorf("a bad merge method still sent %d request(s)", n)
	}
}
