package github

import (
	"strings"
	"testing"

	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/githubserver"
	"github.com/shipgate/shipgate/pipeline/version"
)

// syncEnv is a repository whose development branch dev has work of its own, and whose main has
// since received a release dev lacks (as after promote merged a release pull request). It returns
// main's head.
func syncEnv(t testing.TB, ro githubserver.RepoOptions) (*env, string) {
	t.Helper()
	e := newEnv(t, githubserver.Options{}, ro)
	e.srv.CommitFiles("acme/app", "dev", map[string]string{"dev.txt": "work in progress\n"}, "dev work")
	released := e.srv.CommitFiles("acme/app", "main", map[string]string{"CHANGELOG.md": "# Changelog\n\n## [1.2.3] - 2026-11-03\n"}, "Merge release 1.2.3")
	return e, released
}

// syncDone checks that dev holds main's head and kept its own work.
func (e *env) syncDone(released string) {
	e.t.Helper()
	st, err := e.c.ObserveSync(e.ctx, app, "main", "dev")
	if err != nil || !st.Done {
		e.t.Fatalf("dev does not hold main after the sync: %+v %v", st, err)
	}
	if cl, _ := e.srv.File("acme/app", "dev", "CHANGELOG.md"); !strings.Contains(cl, "[1.2.3]") {
		e.t.Fatalf("dev lacks the release's CHANGELOG: %q", cl)
	}
	if w, ok := e.srv.File("acme/app", "dev", "dev.txt"); !ok || w != "work in progress\n" {
		e.t.Fatalf("dev lost its own work: %q %v", w, ok)
	}
	if got, _ := e.srv.Commit("acme/app", e.head("dev")); len(got.Parents) != 2 || got.Parents[1] != released {
		e.t.Fatalf("dev's head is not a merge commit of %s: %+v", short(released), got)
	}
}

func TestSyncOpensPRWithAutoMergeAndReusesIt(t *testing.T) {
	e, released := syncEnv(t, githubserver.RepoOptions{AllowAutoMerge: true})
	e.srv.SetChecksPending("acme/app", released, true) // dev's checks run on the sync pull request
	before := e.writes()
	st, err := e.c.ObserveSync(e.ctx, app, "main", "dev")
	if err != nil || st.Done || st.Status != "diverged" || st.Missing != 1 || st.PR != nil || e.writes() != before {
		t.Fatalf("observe: %+v %v (writes %d)", st, err, e.writes()-before)
	}
	res, err := e.c.SyncBranch(e.ctx, app, "main", "dev", SyncOptions{Title: "Sync main into dev after v1.2.3"})
	if err != nil || res.Outcome != SyncAutoMergeEnabled || !res.Created || res.PR == nil || res.Note != "" {
		t.Fatalf("sync: %+v %v", res, err)
	}
	prs := e.srv.Pulls("acme/app")
	if len(prs) != 1 || prs[0].Head != "main" || prs[0].Base != "dev" || !prs[0].AutoMerge || prs[0].AutoMergeMethod != "merge" || prs[0].Title != "Sync main into dev after v1.2.3" {
		t.Fatalf("pull requests: %+v", prs)
	}
	// Re-run while the checks run: the same pull request, nothing written.
	before = e.writes()
	st, err = e.c.ObserveSync(e.ctx, app, "main", "dev")
	if err != nil || st.PR == nil || st.PR.Number != prs[0].Number || !st.PR.AutoMerge {
		t.Fatalf("observe the open sync: %+v %v", st, err)
	}
	res, err = e.c.SyncBranch(e.ctx, app, "main", "dev", SyncOptions{})
	if err != nil || res.Outcome != SyncAutoMergeAlreadyOn || res.Created || res.PR.Number != prs[0].Number || e.writes() != before || len(e.srv.Pulls("acme/app")) != 1 {
		t.Fatalf("re-run: %+v %v (writes %d)", res, err, e.writes()-before)
	}
	// The checks pass: GitHub merges it.
	e.srv.SetChecksPending("acme/app", released, false)
	e.syncDone(released)
	res, err = e.c.SyncBranch(e.ctx, app, "main", "dev", SyncOptions{})
	if err != nil || res.Outcome != SyncUpToDate || len(e.srv.Pulls("acme/app")) != 1 {
		t.Fatalf("after the merge: %+v %v", res, err)
	}
}

func TestSyncMergesAtOnceWhenNothingWaits(t *testing.T) {
	e, released := syncEnv(t, githubserver.RepoOptions{AllowAutoMerge: true})
	res, err := e.c.SyncBranch(e.ctx, app, "main", "dev", SyncOptions{})
	if err != nil || res.Outcome != SyncMerged || !res.Created || res.PR.State != "merged" || res.PR.MergeCommit != e.head("dev") {
		t.Fatalf("sync: %+v %v", res, err)
	}
	if prs := e.srv.Pulls("acme/app"); len(prs) != 1 || prs[0].Title != "Sync main into dev" || !prs[0].Merged {
		t.Fatalf("pull requests: %+v", prs)
	}
	e.syncDone(released)
}

func TestSyncNothingToDoWhenDevIsUpToDate(t *testing.T) {
	e := newEnv(t, githubserver.Options{}, githubserver.RepoOptions{AllowAutoMerge: true})
	identical := func() { e.srv.SetRef("acme/app", "refs/heads/dev", e.head("main")) }
	ahead := func() {
		e.srv.CommitFiles("acme/app", "dev", map[string]string{"dev.txt": "ahead\n"}, "dev ahead of main")
	}
	for _, dev := range []func(){identical, ahead} {
		dev()
		before := e.writes()
		res, err := e.c.SyncBranch(e.ctx, app, "main", "dev", SyncOptions{})
		if err != nil || res.Outcome != SyncUpToDate || !res.State.Done || res.PR != nil || e.writes() != before || len(e.srv.Pulls("acme/app")) != 0 {
			t.Fatalf("up to date (%s): %+v %v", res.State.Status, res, err)
		}
	}
}

func TestSyncConflictLeavesPROpenWithoutAutoMerge(t *testing.T) {
	e, _ := syncEnv(t, githubserver.RepoOptions{AllowAutoMerge: true})
	e.srv.SetBranchConflict("acme/app", "main", "dev", true)
	res, err := e.c.SyncBranch(e.ctx, app, "main", "dev", SyncOptions{})
	if err != nil || res.Outcome != SyncConflict || !res.Created || !strings.Contains(res.Note, "conflicts with dev") || !strings.Contains(res.Note, "auto-merge was not enabled") {
		t.Fatalf("sync: %+v %v", res, err)
	}
	if prs := e.srv.Pulls("acme/app"); len(prs) != 1 || prs[0].AutoMerge || prs[0].Merged || prs[0].State != "open" {
		t.Fatalf("pull requests: %+v", prs)
	}
}

func TestSyncSaysWhenAutoMergeIsNotAllowed(t *testing.T) {
	e, released := syncEnv(t, githubserver.RepoOptions{})
	e.srv.SetChecksPending("acme/app", released, true)
	res, err := e.c.SyncBranch(e.ctx, app, "main", "dev", SyncOptions{})
	if err != nil || res.Outcome != SyncAutoMergeNotAllowed || !strings.Contains(res.Note, `"Allow auto-merge"`) {
		t.Fatalf("sync: %+v %v", res, err)
	}
	if prs := e.srv.Pulls("acme/app"); len(prs) != 1 || prs[0].AutoMerge || prs[0].State != "open" {
		t.Fatalf("pull requests: %+v", prs)
	}
}

func TestSyncErrorsNameTheSettingOrPermission(t *testing.T) {
	e, released := syncEnv(t, githubserver.RepoOptions{AllowAutoMerge: true})
	reader := e.client(readToken)
	_, err := reader.SyncBranch(e.ctx, app, "main", "dev", SyncOptions{})
	mustContain(t, err, "open pull request main → dev in acme/app", "403", "lacks pull_requests=write on acme/app", "--github-token")
	// A pull request someone else opened: enabling auto-merge needs write too.
	e.srv.SetChecksPending("acme/app", released, true)
	e.srv.OpenPullRequest("acme/app", "main", "dev", "sync", false)
	_, err = reader.SyncBranch(e.ctx, app, "main", "dev", SyncOptions{})
	mustContain(t, err, "enable auto-merge", "lacks pull_requests: write on acme/app")

	_, err = e.c.SyncBranch(e.ctx, app, "main", "develop", SyncOptions{})
	mustContain(t, err, "development branch develop not found in acme/app", "--sync-branch")
	if fault.Of(err) != fault.BadInput {
		t.Fatalf("class %v", fault.Of(err))
	}
	_, err = e.c.ObserveSync(e.ctx, app, "trunk", "dev")
	mustContain(t, err, "base branch trunk not found in acme/app", "--base-branch")
	e.srv.AddToken("ghp_StrangerT0ken5555", "stranger", nil)
	_, err = e.client("ghp_StrangerT0ken5555").ObserveSync(e.ctx, app, "main", "dev")
	mustContain(t, err, "compare dev with main in acme/app", "404", "not visible to the token given with --github-token")
	e.noLeak(err)
}

func TestReleaseBranchFromDevelopmentBranch(t *testing.T) {
	e := newEnv(t, githubserver.Options{}, githubserver.RepoOptions{})
	dev := e.srv.CommitFiles("acme/app", "dev", map[string]string{"feature.go": "package main\n"}, "feature")
	sha, err := e.c.CreateReleaseBranchFrom(e.ctx, app, v123, "dev", "--prepare-from")
	if err != nil || sha != dev || e.head("release/1.2.3") != dev {
		t.Fatalf("release branch at %s (%v), want dev's head %s", sha, err, dev)
	}
	// Re-run: reused as it is; the release pull request still goes to main.
	if again, err := e.c.CreateReleaseBranchFrom(e.ctx, app, v123, "dev", "--prepare-from"); err != nil || again != dev {
		t.Fatalf("re-run: %s %v", again, err)
	}
	pr, created, err := e.c.OpenReleasePR(e.ctx, app, v123, "main", "", "body")
	if err != nil || !created || pr.Base != "main" || pr.Head != "release/1.2.3" {
		t.Fatalf("release PR: %+v %v %v", pr, created, err)
	}
	_, err = e.c.CreateReleaseBranchFrom(e.ctx, app, version.MustParse("1.2.4"), "develop", "--prepare-from")
	mustContain(t, err, "branch develop not found in acme/app", "(--prepare-from)")
}

// BenchmarkSync reports the requests of a sync that merges at once, of one that enables
// auto-merge, and of a re-run once dev is up to date (one comparison).
func BenchmarkSync(b *testing.B) {
	for _, c := range []struct {
		name    string
		pending bool
		want    SyncOutcome
	}{{"merge", false, SyncMerged}, {"auto-merge", true, SyncAutoMergeEnabled}, {"re-run", false, SyncUpToDate}} {
		b.Run(c.name, func(b *testing.B) {
			var reqs, notModified int
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				e, released := syncEnv(b, githubserver.RepoOptions{AllowAutoMerge: true})
				e.srv.SetChecksPending("acme/app", released, c.pending)
				if c.want == SyncUpToDate {
					if _, err := e.c.SyncBranch(e.ctx, app, "main", "dev", SyncOptions{}); err != nil {
						b.Fatal(err)
					}
				}
				e.srv.ResetRequests()
				b.StartTimer()
				res, err := e.c.SyncBranch(e.ctx, app, "main", "dev", SyncOptions{})
				b.StopTimer()
				if err != nil || res.Outcome != c.want {
					b.Fatalf("sync: %+v %v", res, err)
				}
				n := e.srv.Counts()
				reqs, notModified = reqs+n.Requests, notModified+n.NotModified
			}
			b.ReportMetric(float64(reqs)/float64(b.N), "requests/op")
			b.ReportMetric(float64(notModified)/float64(b.N), "304s/op")
		})
	}
}
