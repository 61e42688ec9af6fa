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
	for _, referrers := range []bool{true, false} {
		t.Run(lane(referrers), func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, sandbox.Options{Referrers: referrers})
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
			refused(t, err, rep, "image tests", "panic: illegal instruction")
			if strings.Count(err.Error(), "noise") > 15 {
				t.Fatalf("the refusal shows more than the last lines:\n%v", err)
			}
			if w.tag("1.0.0-amd64") != "" || w.tag("1.0.0-arm64") != "" || w.tag("1.0.0") != "" || len(w.sb.Builder.Builds()) != 0 {
				t.Fatalf("a failed image test still pushed: %v", w.sb.Builder.Builds())
			}
			w.sb.Builder.Exec = nil // the fix
			rep, err = release.Publish(w.ctx, w.env, in)
			if err != nil || rep.Status("image tests") != step.Passed || w.tag("1.0.0") == "" {
				t.Fatalf("publish with passing tests: %v\n%s", err, render(rep))
			}
			if got := w.sb.Builder.Tests(); len(got) != 4 { // arm64 failed once, then both platforms
				t.Fatalf("tests run: %q", got)
			}
			rep, err = release.Publish(w.ctx, w.env, in)
			if err != nil || rep.Status("image tests") != step.Done || rep.Count(step.Acted) != 0 {
				t.Fatalf("re-run: %v\n%s", err, render(rep))
			}
		})
	}
}

// noProver builds but cannot run commands in what it built.
type noProver struct{ release.Builder }

// TestImageTestsNeedAnEngine: --test with a builder that cannot run commands is bad input, named.
func TestImageTestsNeedAnEngine(t *testing.T) {
	t.Parallel()
	w := newWorld(t, sandbox.Options{})
	w.prepare("1.0.0")
	in := w.publishInput("1.0.0")
	in.Tests = []string{"/app --version"}
	in.Builder = noProver{w.sb.Builder}
	rep, err := release.Publish(w.ctx, w.env, in)
	refused(t, err, rep, "image tests", "needs a container engine")
	in.Tests = []string{"/app 'unclosed"}
	if rep, err := release.Publish(context.Background(), w.env, in); err == nil || len(rep.Records) != 0 || !strings.Contains(err.Error(), "--test") {
		t.Fatalf("an unparsable --test ran steps: %v\n%s", err, render(rep))
	}
}
