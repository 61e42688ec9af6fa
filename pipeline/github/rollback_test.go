package github

import (
	"strings"
	"testing"

	"github.com/shipgate/shipgate/pipeline/githubserver"
)

// A rollback record is durable: a later run reads it, writing it again keeps the first, and
// clearing it twice is fine. A reader token can read it but not write it.
func TestRollbackRecord(t *testing.T) {
	e := newEnv(t, githubserver.Options{}, githubserver.RepoOptions{})
	if _, found, err := e.c.RollbackOf(e.ctx, app, "v1.1.0"); err != nil || found {
		t.Fatalf("record before any rollback: %v %v", found, err)
	}
	first := RollbackRecord{Tag: "v1.1.0", To: "1.0.0", At: t0, RunID: "42", Actor: "octocat"}
	if err := e.c.RecordRollback(e.ctx, app, first); err != nil {
		t.Fatal(err)
	}
	again := first
	again.To, again.RunID = "0.9.0", "43"
	if err := e.c.RecordRollback(e.ctx, app, again); err != nil {
		t.Fatalf("recording again: %v", err)
	}
	got, found, err := e.client(readToken).RollbackOf(e.ctx, app, "v1.1.0")
	if err != nil || !found || got.To != "1.0.0" || got.RunID != "42" || !got.At.Equal(t0) {
		t.Fatalf("read back %+v %v %v", got, found, err)
	}
	if s := got.String(); !strings.Contains(s, "rolled back to 1.0.0 on ") || !strings.Contains(s, "by run 42 (octocat)") {
		t.Fatalf("String: %q", s)
	}
	if err := e.client(readToken).RecordRollback(e.ctx, app, RollbackRecord{Tag: "v1.2.0", To: "1.0.0", At: t0}); err == nil {
		t.Fatal("a read-only token recorded a rollback")
	}
	for i := 0; i < 2; i++ {
		if err := e.c.ClearRollback(e.ctx, app, "v1.1.0"); err != nil {
			t.Fatalf("clear %d: %v", i, err)
		}
	}
	if _, found, err := e.c.RollbackOf(e.ctx, app, "v1.1.0"); err != nil || found {
		t.Fatalf("record after clearing: %v %v", found, err)
	}
}
