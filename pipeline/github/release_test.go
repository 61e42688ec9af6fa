package github

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	gh "github.com/google/go-github/v62/github"

	"github.com/shipgate/shipgate/pipeline/githubserver"
	"github.com/shipgate/shipgate/pipeline/testkit"
	"github.com/shipgate/shipgate/pipeline/version"
)

const notes = "### Fixed\n\n- fix\n"

// finalizedEnv is an env with release/1.2.3 finalized; it returns the finalize commit.
func finalizedEnv(t testing.TB, o githubserver.Options, ro githubserver.RepoOptions) (*env, string) {
	e := newEnv(t, o, ro)
	commit, err := e.c.Finalize(e.ctx, app, v123, e.prepared(), "CHANGELOG.md", []byte(finalized))
	if err != nil {
		t.Fatal(err)
	}
	return e, commit
}

func TestTag(t *testing.T) {
	e, commit := finalizedEnv(t, githubserver.Options{}, githubserver.RepoOptions{})
	if _, found, err := e.c.Tag(e.ctx, app, v123); err != nil || found {
		t.Fatalf("tag before: %v %v", found, err)
	}
	// The create's answer is lost: the run still converges.
	rule := e.proxy.Inject(testkit.Fault{Method: "POST", Path: re(`/git/refs$`), DropResponse: true, Times: 1})
	if err := e.c.CreateTag(e.ctx, app, v123, commit); err != nil {
		t.Fatal(err)
	}
	if rule.Injected() != 1 {
		t.Fatalf("fault not injected")
	}
	if at, _ := e.srv.Ref("acme/app", "refs/tags/v1.2.3"); at != commit {
		t.Fatalf("tag at %s, want %s", at, commit)
	}
	before := e.writes()
	if err := e.c.CreateTag(e.ctx, app, v123, commit); err != nil || e.writes() != before {
		t.Fatalf("re-run: %v, %d writes", err, e.writes()-before)
	}
	err := e.c.CreateTag(e.ctx, app, v123, e.head("main"))
	var tc *TagConflictError
	if !errors.As(err, &tc) || tc.At != commit {
		t.Fatalf("tag elsewhere: %v", err)
	}
	mustContain(t, err, "tag v1.2.3 in acme/app points at", "git push --delete origin v1.2.3")
	// An annotated tag is peeled to its commit.
	v2 := version.MustParse("2.0.0")
	tagObj := e.annotatedTag("v2.0.0", commit)
	e.srv.SetRef("acme/app", "refs/tags/v2.0.0", tagObj)
	if at, found, err := e.c.Tag(e.ctx, app, v2); err != nil || !found || at != commit {
		t.Fatalf("annotated tag: %s %v %v", at, found, err)
	}
	if err := e.c.CreateTag(e.ctx, app, v2, commit); err != nil {
		t.Fatalf("annotated tag at the commit: %v", err)
	}
}

// annotatedTag makes a tag object through the API (as a human's `git tag -a` push would).
func (e *env) annotatedTag(name, commit string) string {
	tg, _, err := e.c.gh.Git.CreateTag(e.ctx, "acme", "app", &gh.Tag{Tag: &name, Message: strPtr("release"), Object: &gh.GitObject{SHA: &commit, Type: strPtr("commit")}})
	if err != nil {
		e.t.Fatal(err)
	}
	return tg.GetSHA()
}

func TestBodyMarker(t *testing.T) {
	st := State{IndexDigest: "sha256:abc", Dispatch: &DispatchRecord{Repo: "acme/smoke", EventType: "e", CorrelationID: "id-->x<!--", Digest: "sha256:abc", At: t0}}
	body := ComposeBody("notes\r\n\n", st)
	if strings.Count(body, "-->") != 1 || !strings.HasPrefix(body, "notes\n\n<!-- shipgate:state ") {
		t.Fatalf("body %q: the marker must be one comment on its own line", body)
	}
	n, got, err := SplitBody(body)
	if err != nil || n != "notes" || got.IndexDigest != "sha256:abc" || got.Dispatch.CorrelationID != "id-->x<!--" {
		t.Fatalf("split: %q %+v %v", n, got, err)
	}
	// TBD in the state does not reach the notes; notes without a marker are all notes.
	n, _, _ = SplitBody(ComposeBody("ok", State{IndexDigest: "TBD"}))
	if strings.Contains(n, "TBD") {
		t.Fatalf("marker leaked into notes: %q", n)
	}
	if n, st, err := SplitBody("plain\n"); n != "plain" || !st.IsZero() || err != nil {
		t.Fatalf("plain body: %q %+v %v", n, st, err)
	}
	if ComposeBody("x", State{}) != "x" {
		t.Fatal("empty state adds a marker")
	}
	_, _, err = SplitBody("x\n<!-- shipgate:state {broken -->")
	mustContain(t, err, "not valid JSON", "delete that HTML comment")
}

func TestEnsureDraft(t *testing.T) {
	// Seven older releases and pages of two: the draft is found by listing, across pages.
	e, commit := finalizedEnv(t, githubserver.Options{PageSize: 2}, githubserver.RepoOptions{})
	for i := 0; i < 7; i++ {
		e.srv.CreateRelease("acme/app", githubserver.ReleaseSeed{Tag: fmt.Sprintf("v1.1.%d", i)})
	}
	rel, changed, err := e.c.EnsureDraft(e.ctx, app, v123, commit, notes, State{IndexDigest: "sha256:aaa"})
	if err != nil || !changed {
		t.Fatalf("first run: %v changed=%v", err, changed)
	}
	if !rel.Draft || rel.Prerelease || rel.Tag != "v1.2.3" || rel.Name != "v1.2.3" || rel.Target != commit || rel.Notes != strings.TrimRight(notes, "\n") || rel.State.IndexDigest != "sha256:aaa" {
		t.Fatalf("draft %+v", rel)
	}
	// Move the draft to the end of the listing (newest releases come first).
	for i := 0; i < 3; i++ {
		e.srv.CreateRelease("acme/app", githubserver.ReleaseSeed{Tag: fmt.Sprintf("v1.0.%d", i)})
	}
	if plan := PlanDraft(nil, v123, commit, notes, State{}); fmt.Sprint(plan) != "[create]" {
		t.Fatalf("plan without a release: %v", plan)
	}
	if plan := PlanDraft(rel, v123, commit, "other", State{IndexDigest: "sha256:bbb"}); fmt.Sprint(plan) != "[notes state]" {
		t.Fatalf("plan: %v", plan)
	}
	// Re-run: found on the last page, nothing changes, nothing is written.
	before := e.writes()
	again, changed, err := e.c.EnsureDraft(e.ctx, app, v123, commit, notes+"\n\n", State{})
	if err != nil || changed || again.ID != rel.ID || e.writes() != before {
		t.Fatalf("re-run: %v changed=%v id %d/%d, %d writes", err, changed, again.ID, rel.ID, e.writes()-before)
	}
	// New notes: updated in place, the recorded state kept.
	upd, changed, err := e.c.EnsureDraft(e.ctx, app, v123, commit, "new notes", State{})
	if err != nil || !changed || upd.ID != rel.ID || upd.Notes != "new notes" || upd.State.IndexDigest != "sha256:aaa" {
		t.Fatalf("update: %+v changed=%v %v", upd, changed, err)
	}
	drafts := 0
	for _, r := range e.srv.Releases("acme/app") {
		if r.Draft {
			drafts++
		}
	}
	if drafts != 1 {
		t.Fatalf("%d drafts, want 1", drafts)
	}
	// FindRelease sees the draft; GitHub's by-tag endpoint does not (why we list).
	if f, err := e.c.FindRelease(e.ctx, app, "v1.2.3"); err != nil || f == nil || f.ID != rel.ID {
		t.Fatalf("FindRelease: %+v %v", f, err)
	}
	if _, _, err := e.c.gh.Repositories.GetReleaseByTag(e.ctx, "acme", "app", "v1.2.3"); err == nil {
		t.Fatalf("by-tag endpoint returned a draft")
	}
	// A read-only token does not see the draft: FindRelease says so instead of "no draft", and
	// EnsureDraft is refused by GitHub (no duplicate).
	_, err = e.client(readToken).FindRelease(e.ctx, app, "v1.2.3")
	mustContain(t, err, "cannot push to acme/app", "contents: write")
	_, _, err2 := e.client(readToken).EnsureDraft(e.ctx, app, v123, commit, notes, State{})
	mustContain(t, err2, "cannot push to acme/app", "--github-token", "contents: write")
	if n := len(e.srv.Releases("acme/app")); n != 11 {
		t.Fatalf("%d releases, want 11", n)
	}
	e.noLeak(err, err2)
}

func TestEnsureDraftPrereleaseAndPublishedConflict(t *testing.T) {
	e, commit := finalizedEnv(t, githubserver.Options{}, githubserver.RepoOptions{})
	rc := version.MustParse("1.3.0-rc.1")
	rel, _, err := e.c.EnsureDraft(e.ctx, app, rc, commit, notes, State{})
	if err != nil || !rel.Prerelease {
		t.Fatalf("pre-release draft: %+v %v", rel, err)
	}
	e.srv.CreateRelease("acme/app", githubserver.ReleaseSeed{Tag: "v1.2.3", Target: commit})
	_, _, err = e.c.EnsureDraft(e.ctx, app, v123, commit, notes, State{})
	if !errors.Is(err, ErrAlreadyPublished) {
		t.Fatalf("published release: %v", err)
	}
	mustContain(t, err, "release v1.2.3 in acme/app is already published", "run promote")
	// A draft for the same tag made by hand is not shipgate's: the recorded one is found.
	other := e.srv.CreateRelease("acme/app", githubserver.ReleaseSeed{Tag: "v1.3.0-rc.1", Draft: true})
	if got, err := e.c.FindRelease(e.ctx, app, "v1.3.0-rc.1"); err != nil || got == nil || got.ID != rel.ID {
		t.Fatalf("recorded draft: %+v %v", got, err)
	}
	// Two recorded drafts for one tag: ambiguous, named, not guessed.
	e.srv.SetRef("acme/app", fmt.Sprintf("%sv1.3.0-rc.1/id-%d", DraftRecordPrefix, other), commit)
	_, err = e.c.FindRelease(e.ctx, app, "v1.3.0-rc.1")
	mustContain(t, err, "2 releases for tag v1.3.0-rc.1 in acme/app", "delete the extra ones")
}

func TestEnsureDraftConvergesAfterFaults(t *testing.T) {
	for _, f := range []testkit.Fault{
		{Method: "POST", Path: re(`/releases$`), DropResponse: true, Times: 1}, // created, answer lost
		{Method: "POST", Path: re(`/releases$`), Status: 502, Times: 1},        // not created, 5xx
		{Method: "POST", Path: re(`/releases$`), Drop: true, Times: 1},         // not created, dropped
		{Method: "GET", Path: re(`/releases`), Status: 503, Times: 2},          // listing retried
		{Path: re(`/releases`), Status: 429, RetryAfter: "7", Times: 1},        // secondary limit
		{Method: "POST", Path: re(`/git/refs$`), DropResponse: true, Times: 2}, // records made, answers lost
		{Method: "POST", Path: re(`/git/refs$`), Status: 502, Times: 2},        // records retried
		{Method: "GET", Path: re(`/matching-refs/`), Drop: true, Times: 2},     // records read again
	} {
		t.Run(fmt.Sprintf("%s-%d-%v-%v", f.Method, f.Status, f.Drop, f.DropResponse), func(t *testing.T) {
			e, commit := finalizedEnv(t, githubserver.Options{}, githubserver.RepoOptions{})
			rule := e.proxy.Inject(f)
			rel, _, err := e.c.EnsureDraft(e.ctx, app, v123, commit, notes, State{})
			if err != nil {
				t.Fatal(err)
			}
			if rule.Injected() == 0 {
				t.Fatal("fault not injected")
			}
			if n := len(e.srv.Releases("acme/app")); n != 1 || !rel.Draft {
				t.Fatalf("%d releases after the fault, want exactly one draft", n)
			}
			again, changed, err := e.c.EnsureDraft(e.ctx, app, v123, commit, notes, State{})
			if err != nil || changed || again.ID != rel.ID {
				t.Fatalf("re-run: %v %v", changed, err)
			}
			e.noLeak(err)
		})
	}
}

func TestPublishRelease(t *testing.T) {
	e, commit := finalizedEnv(t, githubserver.Options{}, githubserver.RepoOptions{})
	e.srv.CreateRelease("acme/app", githubserver.ReleaseSeed{Tag: "v1.2.2", MakeLatest: true})
	if err := e.c.CreateTag(e.ctx, app, v123, commit); err != nil {
		t.Fatal(err)
	}
	rel, _, err := e.c.EnsureDraft(e.ctx, app, v123, commit, notes, State{})
	if err != nil {
		t.Fatal(err)
	}
	latest, err := e.c.IsHighest(e.ctx, app, v123)
	if err != nil || !latest {
		t.Fatalf("IsHighest: %v %v", latest, err)
	}
	// The answer is lost after the publish took effect: still done.
	e.proxy.Inject(testkit.Fault{Method: "PATCH", Path: re(`/releases/\d+$`), DropResponse: true, Times: 1})
	out, err := e.c.PublishRelease(e.ctx, app, rel, latest)
	if err != nil || out.AlreadyPublished || !out.Latest || out.Release.Draft {
		t.Fatalf("publish: %+v %v", out, err)
	}
	for _, r := range e.srv.Releases("acme/app") {
		if r.Tag == "v1.2.3" && (!r.Latest || r.Draft) {
			t.Fatalf("server release %+v", r)
		}
	}
	// Re-run: no-op reported as done.
	before := e.writes()
	out, err = e.c.PublishRelease(e.ctx, app, rel, latest)
	if err != nil || !out.AlreadyPublished || e.writes() != before {
		t.Fatalf("re-run: %+v %v", out, err)
	}
	vs, err := e.c.ReleasedVersions(e.ctx, app)
	if err != nil || fmt.Sprint(vs) != "[1.2.3 1.2.2]" {
		t.Fatalf("ReleasedVersions %v %v", vs, err)
	}
}

func TestPublishNeverLatestForPrereleaseOrHotfix(t *testing.T) {
	e, commit := finalizedEnv(t, githubserver.Options{}, githubserver.RepoOptions{})
	e.srv.CreateRelease("acme/app", githubserver.ReleaseSeed{Tag: "v2.0.0", MakeLatest: true})
	// Hotfix 1.2.3 of the older line while 2.0.0 is out.
	if ok, _ := e.c.IsHighest(e.ctx, app, v123); ok {
		t.Fatal("a hotfix of an older line claims the Latest label")
	}
	rel, _, _ := e.c.EnsureDraft(e.ctx, app, v123, commit, notes, State{})
	if _, err := e.c.PublishRelease(e.ctx, app, rel, false); err != nil {
		t.Fatal(err)
	}
	rc := version.MustParse("2.1.0-rc.1")
	pre, _, _ := e.c.EnsureDraft(e.ctx, app, rc, commit, notes, State{})
	if _, err := e.c.PublishRelease(e.ctx, app, pre, true); err != nil { // asked, but a pre-release never is
		t.Fatal(err)
	}
	for _, r := range e.srv.Releases("acme/app") {
		if r.Latest != (r.Tag == "v2.0.0") {
			t.Fatalf("Latest moved: %+v", r)
		}
	}
	for _, c := range []struct {
		v    string
		rel  []string
		want bool
	}{{"1.2.3", nil, true}, {"1.2.3", []string{"1.2.2", "1.3.0-rc.1"}, true}, {"1.2.3", []string{"1.3.0"}, false}, {"1.2.3", []string{"1.2.3"}, true}, {"2.0.0-rc.1", nil, false}} {
		var vs []version.Version
		for _, s := range c.rel {
			vs = append(vs, version.MustParse(s))
		}
		if MakeLatest(version.MustParse(c.v), vs) != c.want {
			t.Errorf("MakeLatest(%s, %v) != %v", c.v, c.rel, c.want)
		}
	}
}

func TestPublishRefusesTagElsewhere(t *testing.T) {
	e, commit := finalizedEnv(t, githubserver.Options{}, githubserver.RepoOptions{})
	rel, _, _ := e.c.EnsureDraft(e.ctx, app, v123, commit, notes, State{})
	e.srv.SetRef("acme/app", "refs/tags/v1.2.3", e.head("main"))
	_, err := e.c.PublishRelease(e.ctx, app, rel, true)
	var tc *TagConflictError
	if !errors.As(err, &tc) {
		t.Fatalf("publish with the tag elsewhere: %v", err)
	}
	if r := e.srv.Releases("acme/app")[0]; !r.Draft {
		t.Fatalf("published despite the tag conflict")
	}
	_, err = e.c.PublishRelease(e.ctx, app, &Release{Tag: "v9.9.9"}, true)
	mustContain(t, err, "draft release v9.9.9 not found in acme/app: run publish first")
}

func TestRateLimitWaitInsideAnOperation(t *testing.T) {
	e, commit := finalizedEnv(t, githubserver.Options{}, githubserver.RepoOptions{})
	e.srv.SetRateLimit(token, 5000, 0, e.clk.Now().Add(20*time.Minute))
	_, _, err := e.c.EnsureDraft(e.ctx, app, v123, commit, notes, State{})
	var rl *RateLimitError
	if !errors.As(err, &rl) || rl.Secondary {
		t.Fatalf("want a primary RateLimitError beyond the 15m bound, got %v", err)
	}
	mustContain(t, err, "retry after", "primary rate limit")
	e.noLeak(err)
}

func strPtr(s string) *string { return &s }

// The Latest release of another component of the repository (another tag prefix: cli-v9.0.0
// beside v1.2.3) is not a higher version of this one: it does not keep v1.2.3 from the label.
func TestIsHighestReadsOnlyItsOwnTagPrefix(t *testing.T) {
	e, _ := finalizedEnv(t, githubserver.Options{}, githubserver.RepoOptions{})
	e.srv.CreateRelease("acme/app", githubserver.ReleaseSeed{Tag: "cli-v9.0.0", MakeLatest: true})
	if ok, err := e.c.IsHighest(e.ctx, app, v123); err != nil || !ok {
		t.Fatalf("v1.2.3 against another component's Latest cli-v9.0.0: %v %v", ok, err)
	}
	cli := version.MustParse("8.0.0").WithTagPrefix("cli-v")
	if ok, err := e.c.IsHighest(e.ctx, app, cli); err != nil || ok {
		t.Fatalf("cli-v8.0.0 against cli-v9.0.0: %v %v", ok, err)
	}
}
