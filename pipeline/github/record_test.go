package github

import (
	"fmt"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/githubserver"
	"github.com/shipgate/shipgate/pipeline/testkit"
)

// A run that died between creating the draft and recording its id left only the pending record:
// the next run finds the draft by listing once, records its id, and from then on reads it
// directly.
func TestDraftRecordHealsAfterACrash(t *testing.T) {
	e, commit := finalizedEnv(t, githubserver.Options{PageSize: 2}, githubserver.RepoOptions{})
	for i := 0; i < 5; i++ {
		e.srv.CreateRelease("acme/app", githubserver.ReleaseSeed{Tag: fmt.Sprintf("v1.1.%d", i)})
	}
	// The id record never arrives (the run dies there).
	rule := e.proxy.Inject(testkit.Fault{Method: "POST", Path: re(`/git/refs$`), Skip: 1, Status: 500, Times: 100})
	if _, _, err := e.c.EnsureDraft(e.ctx, app, v123, commit, notes, State{}); err == nil || rule.Injected() == 0 {
		t.Fatalf("the id record was written: %v", err)
	}
	e.proxy.Clear()
	if _, ok := e.srv.Ref("acme/app", DraftRecordPrefix+"v1.2.3/pending"); !ok {
		t.Fatal("no pending record")
	}
	e.srv.ResetRequests()
	rel, changed, err := e.c.EnsureDraft(e.ctx, app, v123, commit, notes, State{})
	if err != nil || changed || rel == nil {
		t.Fatalf("re-run: %+v %v %v", rel, changed, err)
	}
	if !listed(e) {
		t.Fatal("the draft was found without listing: what recorded it?")
	}
	if _, ok := e.srv.Ref("acme/app", fmt.Sprintf("%sv1.2.3/id-%d", DraftRecordPrefix, rel.ID)); !ok {
		t.Fatal("the re-run did not record the draft's id")
	}
	e.srv.ResetRequests()
	if got, err := e.c.FindRelease(e.ctx, app, "v1.2.3"); err != nil || got == nil || got.ID != rel.ID || listed(e) {
		t.Fatalf("after healing: %+v %v (listed %v)", got, err, listed(e))
	}
	if n := len(e.srv.Releases("acme/app")); n != 6 {
		t.Fatalf("%d releases, want 6: a second draft was made", n)
	}
}

func listed(e *env) bool {
	for _, r := range e.srv.Requests() {
		if r.Method == "GET" && strings.HasPrefix(r.Path, "/repos/acme/app/releases?") {
			return true
		}
	}
	return false
}

// A listing that reaches its limit fails naming the listing; it never answers from part of it.
func TestListingLimitIsAnError(t *testing.T) {
	e := newEnv(t, githubserver.Options{PageSize: 1}, githubserver.RepoOptions{})
	for i := 0; i <= maxPages; i++ {
		e.srv.CreateRelease("acme/app", githubserver.ReleaseSeed{Tag: fmt.Sprintf("v0.0.%d", i)})
	}
	_, err := e.c.ReleasedVersions(e.ctx, app)
	if fault.Of(err) != fault.Unreadable {
		t.Fatalf("class %v: %v", fault.Of(err), err)
	}
	mustContain(t, err, "list releases of acme/app", "more than 100 pages")
}
