package release_test

import (
	"strings"
	"testing"

	"github.com/shipgate/shipgate/pipeline/release"
	"github.com/shipgate/shipgate/pipeline/sandbox"
	"github.com/shipgate/shipgate/pipeline/step"
)

// pull is the release PR of ver.
func (w *world) pull(ver string) (merged bool, state string) {
	for _, p := range w.sb.GitHub.Pulls(sandbox.Repo) {
		if p.Head == "release/"+ver {
			return p.Merged, p.State
		}
	}
	w.t.Fatalf("no release PR for %s", ver)
	return false, ""
}

// TestHotfixOfAnOlderLine: with 1.1.0 promoted, the hotfix 1.0.1 is released — published, its PR
// merged, 1.0 moved to it — while latest, 1 and GitHub's Latest label stay on 1.1.0, and the
// report says so.
func TestHotfixOfAnOlderLine(t *testing.T) {
	t.Parallel()
	w, idx := promotedWorld(t, "1.0.0", "1.1.0")

	idx101 := w.ship("1.0.1")
	rep := w.mustPromote("1.0.1")
	if w.tag("latest") != idx["1.1.0"] || w.tag("1") != idx["1.1.0"] || w.tag("1.1") != idx["1.1.0"] {
		t.Fatalf("hotfix moved latest/1/1.1: %s %s %s, want 1.1.0 %s", w.tag("latest"), w.tag("1"), w.tag("1.1"), idx["1.1.0"])
	}
	if w.tag("1.0") != idx101 || idx101 == idx["1.0.0"] {
		t.Fatalf("1.0 is %s, want the hotfix %s", w.tag("1.0"), idx101)
	}
	if rel, _ := w.ghRelease("v1.0.1"); rel.Draft {
		t.Fatalf("hotfix release not published")
	}
	if merged, _ := w.pull("1.0.1"); !merged {
		t.Fatalf("hotfix PR not merged")
	}
	if got := w.latestLabel(); got != "v1.1.0" {
		t.Fatalf("GitHub's Latest label went to %q, want it left on v1.1.0", got)
	}
	notes := strings.Join(rep.Notes, "\n")
	if !strings.Contains(notes, "latest left alone") || !strings.Contains(notes, "1.1.0") {
		t.Fatalf("the report does not say latest was left on 1.1.0:\n%s", render(rep))
	}
	text, _ := rep.Render("text")
	md, _ := rep.Render("markdown")
	if !strings.Contains(text, "note: latest left alone") || !strings.Contains(md, "latest left alone") {
		t.Fatalf("rendered reports lack the note:\n%s\n%s", text, md)
	}
}

// TestPrerelease: 2.0.0-beta.1 is published as a pre-release; latest and the floating tags stay,
// no 2.0 or 2 appears, GitHub's Latest stays, and the release PR stays open. A release of the
// 1.x line after it still takes latest and the Latest label: pre-releases do not count as higher.
func TestPrerelease(t *testing.T) {
	t.Parallel()
	w, idx := promotedWorld(t, "1.0.0")
	w.ship("2.0.0-beta.1")
	rep := w.mustPromote("2.0.0-beta.1")

	var found bool
	for _, r := range w.sb.GitHub.Releases(sandbox.Repo) {
		if r.Tag == "v2.0.0-beta.1" {
			found = true
			if r.Draft || !r.Prerelease || r.Latest {
				t.Fatalf("beta release draft=%v prerelease=%v latest=%v", r.Draft, r.Prerelease, r.Latest)
			}
		}
	}
	if !found {
		t.Fatalf("no release v2.0.0-beta.1")
	}
	if w.tag("latest") != idx["1.0.0"] || w.tag("1") != idx["1.0.0"] || w.tag("2") != "" || w.tag("2.0") != "" {
		t.Fatalf("pre-release moved tags: latest %s 1 %s 2 %q 2.0 %q", w.tag("latest"), w.tag("1"), w.tag("2"), w.tag("2.0"))
	}
	if merged, state := w.pull("2.0.0-beta.1"); merged || state != "open" {
		t.Fatalf("pre-release PR merged=%v state=%s, want it open", merged, state)
	}
	if got := w.latestLabel(); got != "v1.0.0" {
		t.Fatalf("Latest label %q", got)
	}
	if rep.Status("merge pull request") != step.Skipped {
		t.Fatalf("merge step: %s\n%s", rep.Status("merge pull request"), render(rep))
	}
	// A re-run is a no-op.
	rep, err := w.promote("2.0.0-beta.1")
	if err != nil || rep.Count(step.Acted) != 0 {
		t.Fatalf("re-run: %v\n%s", err, render(rep))
	}

	w.wantLatest(t, "after 1.1.0", "1.1.0", w.shipPromoted("1.1.0"))
}

// TestRollback: latest (and 1, 1.x) move back to an earlier promoted version and GitHub's Latest
// label follows; rolling back to a version never promoted, or one whose signatures no longer
// verify (the verification key rotated), is refused with nothing changed.
func TestRollback(t *testing.T) {
	t.Parallel()
	w, idx := promotedWorld(t, "1.0.0", "1.1.0")
	w.ship("1.2.0") // published and smoke-tested, never promoted
	versions := []string{"1.0.0", "1.1.0", "1.2.0"}

	rollback := func(ver string) (*step.Report, error) {
		return release.Rollback(w.ctx, w.env, release.RollbackInput{Version: ver})
	}
	t.Run("never promoted", func(t *testing.T) {
		before := w.state(versions...)
		rep, err := rollback("1.2.0")
		refused(t, err, rep, "release", "never promoted")
		if after := w.state(versions...); after != before {
			t.Fatalf("refused rollback changed the world: %s", diff(after, before))
		}
	})
	t.Run("signatures no longer verify", func(t *testing.T) {
		before := w.state(versions...)
		good := w.env.Secrets.VerifyKey
		w.env.Secrets.VerifyKey = otherKey(t)
		defer func() { w.env.Secrets.VerifyKey = good }()
		rep, err := rollback("1.0.0")
		refused(t, err, rep, "signatures", "requirement(s) not met under")
		if after := w.state(versions...); after != before {
			t.Fatalf("refused rollback changed the world: %s", diff(after, before))
		}
	})
	t.Run("to 1.0.0", func(t *testing.T) {
		rep, err := rollback("1.0.0")
		if err != nil {
			t.Fatalf("rollback: %v\n%s", err, render(rep))
		}
		if w.tag("latest") != idx["1.0.0"] || w.tag("1") != idx["1.0.0"] || w.tag("1.0") != idx["1.0.0"] || w.tag("1.1") != idx["1.1.0"] {
			t.Fatalf("after rollback latest %s 1 %s 1.0 %s 1.1 %s; want 1.0.0 %s (1.1 stays %s)", w.tag("latest"), w.tag("1"), w.tag("1.0"), w.tag("1.1"), idx["1.0.0"], idx["1.1.0"])
		}
		if got := w.latestLabel(); got != "v1.0.0" {
			t.Fatalf("Latest label on %q after rollback", got)
		}
		if _, held := w.sb.GitHub.Ref(sandbox.Repo, "refs/shipgate/promote-lock"); held {
			t.Fatalf("rollback left its lock")
		}
		rep, err = rollback("1.0.0")
		if err != nil || rep.Count(step.Acted) != 0 {
			t.Fatalf("rollback re-run: %v\n%s", err, render(rep))
		}
	})
	t.Run("forward again by promote", func(t *testing.T) {
		// Promote of 1.1.0 is done by this release (published, merged) but latest was rolled
		// back: a plain re-run is refused (it would undo the rollback silently); --reinstate
		// moves latest forward again.
		rep, err := w.promote("1.1.0")
		refused(t, err, rep, "release", "--reinstate")
		rep, err = release.Promote(w.ctx, w.env, release.PromoteInput{Version: "1.1.0", Reinstate: true})
		if err != nil {
			t.Fatalf("promote --reinstate: %v\n%s", err, render(rep))
		}
		if w.tag("latest") != idx["1.1.0"] {
			t.Fatalf("latest %s after promoting 1.1.0 again\n%s", w.tag("latest"), render(rep))
		}
		if got := w.latestLabel(); got != "v1.1.0" {
			t.Fatalf("GitHub's Latest label stays on %q after latest moved forward to 1.1.0 again", got)
		}
		if rep.Status("publish release") != step.Acted {
			t.Fatalf("the label did not move in the publish step:\n%s", render(rep))
		}
	})
}
