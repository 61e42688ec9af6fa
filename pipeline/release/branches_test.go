package release_test

import (
	"strings"
	"testing"

	"github.com/shipgate/shipgate/pipeline/release"
	"github.com/shipgate/shipgate/pipeline/sandbox"
	"github.com/shipgate/shipgate/pipeline/step"
)

// TestDevelopmentBranchModel: with --prepare-from dev the release branch is cut from dev (its
// work included) and the PR still goes to main; after promote merged it, --sync-branch dev
// brings main back into dev through a PR; a re-run of promote changes nothing.
func TestDevelopmentBranchModel(t *testing.T) {
	t.Parallel()
	w := newWorld(t, sandbox.Options{})
	main, _ := w.sb.GitHub.Ref(sandbox.Repo, "refs/heads/main")
	w.sb.GitHub.SetRef(sandbox.Repo, "refs/heads/dev", main)
	w.sb.GitHub.CommitFiles(sandbox.Repo, "dev", map[string]string{"feature.txt": "only on dev\n"}, "feat: dev work")
	w.env.Settings.DevBranch, w.env.Settings.SyncBranch = "dev", "dev"

	w.ship("1.0.0")
	if f, ok := w.sb.GitHub.File(sandbox.Repo, "release/1.0.0", "feature.txt"); !ok || f != "only on dev\n" {
		t.Fatal("release/1.0.0 was not cut from dev")
	}
	for _, p := range w.sb.GitHub.Pulls(sandbox.Repo) {
		if p.Head == "release/1.0.0" && p.Base != "main" {
			t.Fatalf("the release PR goes to %s, want main", p.Base)
		}
	}
	rep := w.mustPromote("1.0.0")
	if rep.Status("sync branch") != step.Acted {
		t.Fatalf("sync branch: %s\n%s", rep.Status("sync branch"), render(rep))
	}
	var sync bool
	for _, p := range w.sb.GitHub.Pulls(sandbox.Repo) {
		if p.Head == "main" && p.Base == "dev" {
			sync = true
			if !p.Merged && !p.AutoMerge {
				t.Fatalf("sync PR #%d neither merged nor set to merge", p.Number)
			}
		}
	}
	if !sync || !strings.Contains(rep.Get("sync pull request"), "/pull/") {
		t.Fatalf("no sync PR main → dev:\n%s", render(rep))
	}
	if again := w.mustPromote("1.0.0"); again.Count(step.Acted) != 0 {
		t.Fatalf("re-run acted:\n%s", render(again))
	}
}

// TestSyncBranchNeverFailsPromote: --sync-branch runs after latest moved and the release is
// public, so what keeps it from finishing is a note naming the command, never a failed promote.
// A branch that does not exist is such a case (and the reinstate before it still runs); a
// release PR set to merge by itself when its checks pass is not merged yet, so there is nothing
// to bring into dev: the sync waits, with the same note, instead of syncing an older base.
func TestSyncBranchNeverFailsPromote(t *testing.T) {
	t.Parallel()
	t.Run("missing branch", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, sandbox.Options{})
		w.env.Settings.SyncBranch = "nope"
		idx := w.ship("1.0.0")
		rep := w.mustPromote("1.0.0")
		if w.tag("latest") != idx || rep.Status("sync branch") != step.Skipped || !strings.Contains(strings.Join(rep.Notes, "\n"), "promote --version 1.0.0 --sync-branch nope") {
			t.Fatalf("promote with a missing sync branch:\n%s", render(rep))
		}
	})
	t.Run("release PR merges later", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, sandbox.Options{})
		main, _ := w.sb.GitHub.Ref(sandbox.Repo, "refs/heads/main")
		w.sb.GitHub.SetRef(sandbox.Repo, "refs/heads/dev", main)
		w.env.Settings.SyncBranch = "dev"
		idx := w.ship("1.0.0")
		head, _ := w.sb.GitHub.Ref(sandbox.Repo, "refs/heads/release/1.0.0")
		w.sb.GitHub.SetCheckState(sandbox.Repo, head, "pending")
		rep, err := release.Promote(w.ctx, w.env, release.PromoteInput{Version: "1.0.0", AutoMerge: true})
		if err != nil || w.tag("latest") != idx || rep.Status("sync branch") != step.Skipped || !strings.Contains(strings.Join(rep.Notes, "\n"), "has not merged yet") {
			t.Fatalf("promote --auto-merge --sync-branch dev with checks running: %v\n%s", err, render(rep))
		}
		for _, p := range w.sb.GitHub.Pulls(sandbox.Repo) {
			if p.Head == "main" && p.Base == "dev" {
				t.Fatalf("a sync PR #%d was opened before the release PR merged", p.Number)
			}
		}
	})
}
