package release_test

import (
	"testing"

	"github.com/shipgate/shipgate/pipeline/release"
	"github.com/shipgate/shipgate/pipeline/sandbox"
	"github.com/shipgate/shipgate/pipeline/step"
)

// TestCleanupAfterTheFinalShips: two candidates of 2.0.0 were published (one promoted as a
// pre-release, one left a draft); after 2.0.0 ships, cleanup deletes their image tags,
// signatures, releases and git tags, keeps everything the final and latest need (the final still
// verifies: status says promoted), and a re-run changes nothing. A dry run plans only; cleanup
// before the final ships is refused. Both registry lanes.
func TestCleanupAfterTheFinalShips(t *testing.T) {
	eachLane(t, func(t *testing.T, w *world) {
		w.prepare("2.0.0")
		w.notes("2.0.0", "First cut.")
		w.sb.PassSmokeTest("2.0.0-rc.1", digestOf(w.candidateRelease("2.0.0", "2.0.0-rc.1"), "index"))
		w.mustPromote("2.0.0-rc.1")
		w.notes("2.0.0", "Second cut.")
		w.candidateRelease("2.0.0", "2.0.0-rc.2")
		if _, err := release.Cleanup(w.ctx, w.env, "2.0.0"); err == nil {
			t.Fatal("cleanup before the final shipped was not refused")
		}
		idx := w.shipPromoted("2.0.0")

		dry := *w.env
		dry.DryRun = true
		before := w.state("2.0.0")
		if rep, err := release.Cleanup(w.ctx, &dry, "2.0.0"); err != nil || rep.Count(step.Planned) == 0 {
			t.Fatalf("dry-run cleanup: %v\n%s", err, render(rep))
		}
		if w.state("2.0.0") != before || w.tag("2.0.0-rc.1") == "" {
			t.Fatal("a dry-run cleanup changed the world")
		}

		rep, err := release.Cleanup(w.ctx, w.env, "2.0.0")
		if err != nil {
			t.Fatalf("cleanup: %v\n%s", err, render(rep))
		}
		for _, tag := range []string{"2.0.0-rc.1", "2.0.0-rc.2", "2.0.0-rc.1-amd64", "2.0.0-rc.2-arm64"} {
			if w.tag(tag) != "" {
				t.Errorf("%s survived cleanup", tag)
			}
		}
		for _, tag := range []string{"v2.0.0-rc.1", "v2.0.0-rc.2"} {
			if _, found := w.ghRelease(tag); found {
				t.Errorf("release %s survived cleanup", tag)
			}
			if _, ok := w.sb.GitHub.Ref(sandbox.Repo, "refs/tags/"+tag); ok {
				t.Errorf("git tag %s survived cleanup", tag)
			}
		}
		if w.tag("2.0.0") != idx || w.tag("latest") != idx {
			t.Fatalf("cleanup touched the final: 2.0.0 %s latest %s, want %s", w.tag("2.0.0"), w.tag("latest"), idx)
		}
		if st, err := release.Status(w.ctx, w.env, "2.0.0"); err != nil || st.Verdict != "promoted" {
			t.Fatalf("the final after cleanup: %v\n%s", err, render(st))
		}
		if rep, err := release.Cleanup(w.ctx, w.env, "2.0.0"); err != nil || rep.Count(step.Acted) != 0 {
			t.Fatalf("cleanup re-run: %v\n%s", err, render(rep))
		}
	})
}
