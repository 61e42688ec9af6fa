package release_test

import (
	"strings"
	"testing"

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
