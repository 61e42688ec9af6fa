package release_test

import (
	"context"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/pipeline/release"
	"github.com/shipgate/shipgate/pipeline/sandbox"
	"github.com/shipgate/shipgate/pipeline/step"
	"github.com/shipgate/shipgate/pipeline/version"
)

// TestImageTestsRunBeforeAnyPush: --test commands run in every platform image built from the
// finalize commit before anything is pushed; a failing one refuses with its last output lines,
// pushes nothing (X.Y.Z is not burnt), and a re-run with the fix finishes. Both registry lanes.
func TestImageTestsRunBeforeAnyPush(t *testing.T) {
	eachLane(t, func(t *testing.T, w *world) {
		w.prepare("1.0.0")
		w.sb.Builder.Exec = func(p version.Platform, argv []string) release.TestResult {
			if p.Architecture == "arm64" && argv[0] == "/app" {
				return release.TestResult{ExitCode: 2, Output: strings.Repeat("noise\n", 30) + "panic: illegal instruction\n"}
			}
			return sandbox.RunInImage(p, argv)
		}
		in := w.publishInput("1.0.0")
		in.Tests = []string{"/app --version"}
		rep, err := release.Publish(w.ctx, w.env, in)
		refused(t, err, rep, "image checks", "panic: illegal instruction")
		if strings.Count(err.Error(), "noise") > 15 {
			t.Fatalf("the refusal shows more than the last lines:\n%v", err)
		}
		if w.tag("1.0.0-amd64") != "" || w.tag("1.0.0-arm64") != "" || w.tag("1.0.0") != "" || len(w.sb.Builder.Builds()) != 0 {
			t.Fatalf("a failed image test still pushed: %v", w.sb.Builder.Builds())
		}
		w.sb.Builder.Exec = nil // the fix
		rep, err = release.Publish(w.ctx, w.env, in)
		if err != nil || rep.Status("image checks") != step.Passed || w.tag("1.0.0") == "" {
			t.Fatalf("publish with passing tests: %v\n%s", err, render(rep))
		}
		if got := w.sb.Builder.Tests(); len(got) != 4 { // arm64 failed once, then both platforms
			t.Fatalf("tests run: %q", got)
		}
		rep, err = release.Publish(w.ctx, w.env, in)
		if err != nil || rep.Status("image checks") != step.Done || rep.Count(step.Acted) != 0 {
			t.Fatalf("re-run: %v\n%s", err, render(rep))
		}
	})
}

// noProver builds but cannot run commands in what it built.
type noProver struct{ release.Builder }

// TestImageTestsNeedAnEngine: --test with a builder that cannot run commands is bad input, named.
func TestImageTestsNeedAnEngine(t *testing.T) {
	t.Parallel()
	w := preparedWorld(t, "1.0.0")
	in := w.publishInput("1.0.0")
	in.Tests = []string{"/app --version"}
	in.Builder = noProver{w.sb.Builder}
	rep, err := release.Publish(w.ctx, w.env, in)
	refused(t, err, rep, "image checks", "needs a container engine")
	in.Tests = []string{"/app 'unclosed"}
	if rep, err := release.Publish(context.Background(), w.env, in); err == nil || len(rep.Records) != 0 || !strings.Contains(err.Error(), "--test") {
		t.Fatalf("an unparsable --test ran steps: %v\n%s", err, render(rep))
	}
}

// TestNoTBDInsideTheImage: the motivating bug. A Dockerfile that copies an old CHANGELOG (still
// TBD) into the image is caught before anything is pushed, naming the file and the platform.
// Both registry lanes.
func TestNoTBDInsideTheImage(t *testing.T) {
	eachLane(t, func(t *testing.T, w *world) {
		w.prepare("1.0.0")
		cl, _ := w.sb.GitHub.File(sandbox.Repo, "release/1.0.0", "CHANGELOG.md") // the TBD one
		w.sb.Builder.Stale = map[string]string{"usr/share/doc/app/changelog.md": cl}
		rep, err := release.Publish(w.ctx, w.env, w.publishInput("1.0.0"))
		refused(t, err, rep, "image checks", "usr/share/doc/app/changelog.md")
		if !strings.Contains(err.Error(), "linux/") || w.tag("1.0.0-amd64") != "" || w.tag("1.0.0") != "" {
			t.Fatalf("a TBD inside the image: %v; pushed %q", err, w.tag("1.0.0-amd64"))
		}
		w.sb.Builder.Stale = nil // the Dockerfile fixed
		if rep, err := release.Publish(w.ctx, w.env, w.publishInput("1.0.0")); err != nil || !strings.Contains(render(rep), "CHANGELOG file(s) passed") {
			t.Fatalf("publish after the fix: %v\n%s", err, render(rep))
		}
	})
}

// TestChangelogCopies: --changelog-copy writes the finalized CHANGELOG to each copy in the same
// finalize commit; the image must carry the copy as finalized; publish-platform refuses a tree
// whose copy differs.
func TestChangelogCopies(t *testing.T) {
	t.Parallel()
	w := newWorld(t, sandbox.Options{})
	w.env.Settings.ChangelogCopies = []string{"docs/CHANGELOG.md"}
	w.prepare("1.0.0")
	rep := w.publish("1.0.0")
	fin := rep.Get("finalize commit")
	main, _ := w.sb.GitHub.File(sandbox.Repo, fin, "CHANGELOG.md")
	cp, ok := w.sb.GitHub.File(sandbox.Repo, fin, "docs/CHANGELOG.md")
	if !ok || cp != main || strings.Contains(cp, "] - TBD") {
		t.Fatalf("the copy in the finalize commit:\n%s", cp)
	}

	w.prepare("1.1.0")
	w.notes("1.1.0", "Second.")
	old, _ := w.sb.GitHub.File(sandbox.Repo, "release/1.1.0", "CHANGELOG.md")
	w.sb.Builder.Stale = map[string]string{"docs/CHANGELOG.md": old}
	rep, err := release.Publish(w.ctx, w.env, w.publishInput("1.1.0"))
	refused(t, err, rep, "image checks", "docs/CHANGELOG.md")
}
