package github

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/pipeline/githubserver"
	"github.com/shipgate/shipgate/pipeline/testkit"
	"github.com/shipgate/shipgate/pipeline/version"
)

const finalized = "# Changelog\n\n## [1.2.3] - 2026-11-03\n\n- fix\n"

func TestNewBaseURLs(t *testing.T) {
	for _, c := range []struct{ base, rest, graphql string }{
		{"", "https://api.github.com/", "https://api.github.com/graphql"},
		{"https://ghe.example.com", "https://ghe.example.com/api/v3/", "https://ghe.example.com/api/graphql"},
		{"https://ghe.example.com/api/v3/", "https://ghe.example.com/api/v3/", "https://ghe.example.com/api/graphql"},
		{"https://api.github.com/", "https://api.github.com/", "https://api.github.com/graphql"},
	} {
		cl, err := New(Options{BaseURL: c.base})
		if err != nil {
			t.Fatal(err)
		}
		if cl.BaseURL() != c.rest || cl.GraphQLURL() != c.graphql {
			t.Errorf("base %q: REST %s GraphQL %s, want %s %s", c.base, cl.BaseURL(), cl.GraphQLURL(), c.rest, c.graphql)
		}
	}
	_, err := New(Options{BaseURL: "https://x:" + token + "@ghe.example.com"})
	mustContain(t, err, "carries credentials")
	testkit.AssertNoSecret(t, token, err)
	_, err = New(Options{BaseURL: "ftp://ghe"})
	mustContain(t, err, "not an http(s) URL")
	_, err = New(Options{Token: token + "\n"})
	mustContain(t, err, "whitespace")
	testkit.AssertNoSecret(t, token, err)
}

func TestPrepareBranchAndPR(t *testing.T) {
	e := newEnv(t, githubserver.Options{}, githubserver.RepoOptions{})
	main := e.head("main")
	if _, found, err := e.c.ReleaseBranch(e.ctx, app, v123); err != nil || found {
		t.Fatalf("release branch before prepare: found=%v err=%v", found, err)
	}
	sha := e.prepared()
	if sha != main || e.head("release/1.2.3") != main {
		t.Fatalf("release branch at %s, want main's head %s", sha, main)
	}
	// The TBD section goes onto the release branch; the PR needs a commit to exist.
	c1, err := e.c.CommitFile(e.ctx, app, "release/1.2.3", sha, "CHANGELOG.md", []byte(changelog+"\n"), "prepare 1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	pr, created, err := e.c.OpenReleasePR(e.ctx, app, v123, "main", "", "Release 1.2.3")
	if err != nil || !created || !pr.Draft || pr.Head != "release/1.2.3" || pr.Base != "main" {
		t.Fatalf("open PR: %+v created=%v err=%v", pr, created, err)
	}
	// Re-run: nothing is written.
	before := e.writes()
	if again := e.prepared(); again != c1 {
		t.Fatalf("re-run returned %s, want the branch head %s", again, c1)
	}
	if got, err := e.c.CommitFile(e.ctx, app, "release/1.2.3", sha, "CHANGELOG.md", []byte(changelog+"\n"), "prepare 1.2.3"); err != nil || got != c1 {
		t.Fatalf("re-run commit: %s %v", got, err)
	}
	pr2, created, err := e.c.OpenReleasePR(e.ctx, app, v123, "main", "", "Release 1.2.3")
	if err != nil || created || pr2.Number != pr.Number {
		t.Fatalf("re-run PR: %+v created=%v err=%v", pr2, created, err)
	}
	if e.writes() != before || len(e.srv.Pulls("acme/app")) != 1 {
		t.Fatalf("re-run wrote %d times, %d PRs", e.writes()-before, len(e.srv.Pulls("acme/app")))
	}
	// A missing base branch is named.
	_, err = e.c.CreateReleaseBranch(e.ctx, app, version.MustParse("1.2.4"), "trunk")
	mustContain(t, err, "base branch trunk not found in acme/app")
	// FileAt: found, missing, directory.
	if b, ok, err := e.c.FileAt(e.ctx, app, "main", "CHANGELOG.md"); err != nil || !ok || string(b) != changelog {
		t.Fatalf("FileAt: %q %v %v", b, ok, err)
	}
	if _, ok, err := e.c.FileAt(e.ctx, app, "main", "NOPE.md"); err != nil || ok {
		t.Fatalf("FileAt missing: %v %v", ok, err)
	}
	e.noLeak(err)
}

func TestPrepareSurvivesLostAnswers(t *testing.T) {
	e := newEnv(t, githubserver.Options{}, githubserver.RepoOptions{})
	// The branch is created but the answer is lost; then the PR likewise.
	lostRef := e.proxy.Inject(testkit.Fault{Method: "POST", Path: re(`/git/refs$`), DropResponse: true, Times: 1})
	sha := e.prepared()
	if sha != e.head("main") {
		t.Fatalf("branch at %s", sha)
	}
	if lostRef.Injected() != 1 {
		t.Fatalf("the branch creation's answer was lost %d times, want 1", lostRef.Injected())
	}
	e.srv.CommitFiles("acme/app", "release/1.2.3", map[string]string{"CHANGELOG.md": changelog + "x"}, "dev")
	lostPR := e.proxy.Inject(testkit.Fault{Method: "POST", Path: re(`/pulls$`), DropResponse: true, Times: 1})
	pr, _, err := e.c.OpenReleasePR(e.ctx, app, v123, "main", "", "")
	if err != nil || pr == nil {
		t.Fatalf("PR after a lost answer: %v", err)
	}
	if lostPR.Injected() != 1 {
		t.Fatalf("the pull request's answer was lost %d times, want 1", lostPR.Injected())
	}
	if n := len(e.srv.Pulls("acme/app")); n != 1 {
		t.Fatalf("%d pull requests, want 1", n)
	}
}

func TestFinalizeCommit(t *testing.T) {
	e := newEnv(t, githubserver.Options{}, githubserver.RepoOptions{})
	source := e.prepared()
	st, err := e.c.ObserveFinalize(e.ctx, app, v123, source, "CHANGELOG.md", []byte(finalized))
	if err != nil || st.Done || st.Head != source {
		t.Fatalf("observe before: %+v %v", st, err)
	}
	commit, err := e.c.Finalize(e.ctx, app, v123, source, "CHANGELOG.md", []byte(finalized))
	if err != nil {
		t.Fatal(err)
	}
	c, _ := e.srv.Commit("acme/app", commit)
	if len(c.Parents) != 1 || c.Parents[0] != source || c.Message != FinalizeMessage(v123) {
		t.Fatalf("finalize commit %+v: want exactly parent %s", c, source)
	}
	if e.head("release/1.2.3") != commit {
		t.Fatalf("branch not fast-forwarded")
	}
	if got, _ := e.srv.File("acme/app", commit, "CHANGELOG.md"); got != finalized {
		t.Fatalf("CHANGELOG at finalize commit: %q", got)
	}
	if got, _ := e.srv.File("acme/app", commit, "main.go"); got != "package main\n" {
		t.Fatalf("other files changed: %q", got)
	}
	when, err := e.c.CommitTime(e.ctx, app, commit)
	if err != nil || !when.Equal(t0) {
		t.Fatalf("CommitTime %v %v", when, err)
	}
	// Re-run: observe says done, finalize returns the same commit and writes nothing.
	before := e.writes()
	st, err = e.c.ObserveFinalize(e.ctx, app, v123, source, "CHANGELOG.md", []byte(finalized))
	if err != nil || !st.Done || st.Commit != commit {
		t.Fatalf("observe after: %+v %v", st, err)
	}
	if again, err := e.c.Finalize(e.ctx, app, v123, source, "CHANGELOG.md", []byte(finalized)); err != nil || again != commit {
		t.Fatalf("re-run finalize: %s %v", again, err)
	}
	if e.writes() != before {
		t.Fatalf("re-run wrote")
	}
	// Different content on top of the same source: the branch has "moved" from its point of view.
	_, err = e.c.Finalize(e.ctx, app, v123, source, "CHANGELOG.md", []byte(finalized+"more\n"))
	var moved *BranchMovedError
	if !errors.As(err, &moved) || moved.Head != commit || moved.Expected != source {
		t.Fatalf("other content: %v", err)
	}
	mustContain(t, err, "release/1.2.3 of acme/app moved")
}

func TestFinalizeRefusesAMovedBranch(t *testing.T) {
	e := newEnv(t, githubserver.Options{}, githubserver.RepoOptions{})
	source := e.prepared()
	// A later commit lands on the release branch after the build took its source tree (the race
	// that shipped "TBD"): the finalize commit must not go on top of it.
	later := e.srv.CommitFiles("acme/app", "release/1.2.3", map[string]string{"main.go": "package main // later\n"}, "later")
	_, err := e.c.ObserveFinalize(e.ctx, app, v123, source, "CHANGELOG.md", []byte(finalized))
	var moved *BranchMovedError
	if !errors.As(err, &moved) || moved.Head != later {
		t.Fatalf("observe on a moved branch: %v", err)
	}
	_, err = e.c.Finalize(e.ctx, app, v123, source, "CHANGELOG.md", []byte(finalized))
	if !errors.As(err, &moved) {
		t.Fatalf("finalize on a moved branch: %v", err)
	}
	if e.head("release/1.2.3") != later {
		t.Fatalf("the branch was moved")
	}
	// The race inside one run: the branch moves between the observation and the fast-forward.
	// The PATCH without force is refused as not a fast-forward, and Finalize says the branch moved.
	e2 := newEnv(t, githubserver.Options{}, githubserver.RepoOptions{})
	src := e2.prepared()
	var racer string
	rc, err := New(Options{BaseURL: e2.srv.URL(), Token: token, Clock: e2.clk, Transport: afterFunc(func(r *http.Request) {
		if r.Method == "POST" && strings.HasSuffix(r.URL.Path, "/git/commits") && racer == "" {
			racer = e2.srv.CommitFiles("acme/app", "release/1.2.3", map[string]string{"y": "1"}, "racer")
		}
	})})
	if err != nil {
		t.Fatal(err)
	}
	_, err = rc.Finalize(e2.ctx, app, v123, src, "CHANGELOG.md", []byte(finalized))
	if !errors.As(err, &moved) || moved.Head != racer {
		t.Fatalf("finalize racing a push: %v", err)
	}
	if e2.head("release/1.2.3") != racer {
		t.Fatalf("the racing push was overwritten")
	}
}

// afterFunc is a transport that calls f after each request was answered.
type afterFunc func(*http.Request)

func (f afterFunc) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	f(r)
	return resp, err
}

func TestFinalizeConvergesAfterFaults(t *testing.T) {
	e := newEnv(t, githubserver.Options{}, githubserver.RepoOptions{})
	source := e.prepared()
	// 5xx on the blob (retried: content-addressed), a dropped connection on the tree, and the
	// fast-forward's answer lost after it took effect.
	e.proxy.Inject(testkit.Fault{Method: "POST", Path: re(`/git/blobs$`), Status: 502, Times: 2})
	e.proxy.Inject(testkit.Fault{Method: "POST", Path: re(`/git/trees$`), Drop: true, Times: 1})
	e.proxy.Inject(testkit.Fault{Method: "PATCH", Path: re(`/git/refs/heads/release`), DropResponse: true, Times: 1})
	commit, err := e.c.Finalize(e.ctx, app, v123, source, "CHANGELOG.md", []byte(finalized))
	if err != nil {
		t.Fatal(err)
	}
	if e.head("release/1.2.3") != commit {
		t.Fatalf("branch at %s, finalize returned %s", e.head("release/1.2.3"), commit)
	}
	if e.clk.Slept() == 0 {
		t.Fatalf("retries did not back off on the clock")
	}
	// A crash after the fast-forward: the next run converges on the same commit.
	again, err := e.c.Finalize(e.ctx, app, v123, source, "CHANGELOG.md", []byte(finalized))
	if err != nil || again != commit {
		t.Fatalf("re-run: %s %v", again, err)
	}
	e.noLeak(err)
}

func TestCommitFileNestedPathKeepsMode(t *testing.T) {
	e := newEnv(t, githubserver.Options{}, githubserver.RepoOptions{Files: map[string]string{"docs/CHANGELOG.md": changelog, "docs/other.md": "o", "x": "y"}})
	source := e.prepared()
	commit, err := e.c.CommitFile(e.ctx, app, "release/1.2.3", source, "docs/CHANGELOG.md", []byte(finalized), "m")
	if err != nil {
		t.Fatal(err)
	}
	st, err := e.c.ObserveCommitFile(e.ctx, app, "release/1.2.3", source, "docs/CHANGELOG.md", []byte(finalized))
	if err != nil || !st.Done || st.Commit != commit {
		t.Fatalf("nested observe: %+v %v", st, err)
	}
	// Content already there at the source: no commit, the source is the answer.
	st, err = e.c.ObserveCommitFile(e.ctx, app, "release/1.2.3", commit, "docs/CHANGELOG.md", []byte(finalized))
	if err != nil || !st.Done || st.Commit != commit {
		t.Fatalf("already final at source: %+v %v", st, err)
	}
	_, err = e.c.CommitFile(e.ctx, app, "release/9.9.9", source, "x", []byte("z"), "m")
	mustContain(t, err, "branch release/9.9.9 not found in acme/app: run prepare first")
}

func TestErrorsNameObjectAndPermission(t *testing.T) {
	e := newEnv(t, githubserver.Options{}, githubserver.RepoOptions{})
	ro := e.client(readToken)
	_, err := ro.CreateReleaseBranch(e.ctx, app, v123, "main")
	mustContain(t, err, "create branch release/1.2.3 of acme/app", "403", "contents=write")
	if StatusOf(err) != http.StatusForbidden {
		t.Fatalf("status %d", StatusOf(err))
	}
	bad := e.client("ghp_NotAValidT0kenAtAll")
	_, _, err2 := bad.ReleaseBranch(e.ctx, app, v123)
	mustContain(t, err2, "401", "the token given with --github-token was rejected")
	_, _, err3 := e.c.ReleaseBranch(e.ctx, Repo{Owner: "acme", Name: "nope"}, v123)
	// 404 on the ref of a missing repository reads as "not found": ReleaseBranch says found=false.
	if err3 != nil {
		t.Fatalf("missing repo: %v", err3)
	}
	_, err4 := e.c.FindRelease(e.ctx, Repo{Owner: "acme", Name: "nope"}, "v1.2.3")
	mustContain(t, err4, "acme/nope", "404", "not visible to the token given with --github-token")
	e.noLeak(err, err2, err3, err4)
	testkit.AssertNoSecret(t, "ghp_NotAValidT0kenAtAll", err2, e.logs)
	if strings.Contains(err.Error(), "Bearer") {
		t.Fatalf("error mentions the auth header: %v", err)
	}
}

// Several files in one commit (a CHANGELOG and a copy in a subdirectory): observed as done only
// when the commit changes exactly those files to exactly that content.
func TestCommitFilesTogether(t *testing.T) {
	e := newEnv(t, githubserver.Options{}, githubserver.RepoOptions{})
	base, _ := e.srv.Ref("acme/app", "refs/heads/main")
	files := map[string][]byte{"CHANGELOG.md": []byte("# Changelog\n\n## [1.0.0] - 2026-11-29\n"), "docs/changelog.md": []byte("# Changelog\n\n## [1.0.0] - 2026-11-29\n")}
	c1, err := e.c.CommitFiles(e.ctx, app, "main", base, files, "release")
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.c.CommitFiles(e.ctx, app, "main", base, files, "release")
	if err != nil || again != c1 {
		t.Fatalf("re-run: %s %v, want %s", again, err, c1)
	}
	for path, want := range files {
		if got, ok := e.srv.File("acme/app", c1, path); !ok || got != string(want) {
			t.Fatalf("%s at the commit: %q", path, got)
		}
	}
	other := map[string][]byte{"CHANGELOG.md": files["CHANGELOG.md"], "docs/changelog.md": []byte("stale\n")}
	if _, err := e.c.ObserveCommitFiles(e.ctx, app, "main", base, other); err == nil {
		t.Fatal("a commit with other content at a copy counted as done")
	}
}
