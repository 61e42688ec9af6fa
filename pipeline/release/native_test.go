package release_test

import (
	"strings"
	"testing"

	"github.com/shipgate/shipgate/pipeline/release"
)

// TestNativeRunners runs publish as the native-runner workflow does: finalize on one machine,
// each platform built on its own from a checkout of the finalize commit, then the join.
func TestNativeRunners(t *testing.T) {
	w := preparedWorld(t, "1.0.0")
	in := w.publishInput("1.0.0")
	rep, err := release.Finalize(w.ctx, w.env, in)
	if err != nil {
		t.Fatalf("finalize: %v\n%s", err, render(rep))
	}
	fin := rep.Get("finalize commit")
	if len(fin) != 40 {
		t.Fatalf("finalize printed no commit:\n%s", render(rep))
	}

	// Building from the pre-finalize checkout is refused: that tree is not the finalize commit.
	old, err := release.PublishPlatform(w.ctx, w.env, release.PlatformInput{Version: "1.0.0", Platform: "linux/amd64", Commit: fin, Dir: in.Dir, Builder: w.sb.Builder})
	refused(t, err, old, "source tree", "--commit "+fin[:12]+" is not the source directory's HEAD")
	refused(t, err, old, "CHANGELOG", "not finalized")

	digests := map[string]string{}
	for _, p := range []string{"linux/amd64", "linux/arm64"} {
		dir := t.TempDir()
		if _, err := w.sb.Checkout(w.ctx, "release/1.0.0", dir); err != nil {
			t.Fatal(err)
		}
		rep, err := release.PublishPlatform(w.ctx, w.env, release.PlatformInput{Version: "1.0.0", Platform: p, Commit: fin, Dir: dir, Builder: w.sb.Builder})
		if err != nil {
			t.Fatalf("publish-platform %s: %v\n%s", p, err, render(rep))
		}
		digests[p] = rep.Get("digest")
		// A re-run builds nothing.
		n := len(w.sb.Builder.Builds())
		if _, err := release.PublishPlatform(w.ctx, w.env, release.PlatformInput{Version: "1.0.0", Platform: p, Commit: fin, Dir: dir, Builder: w.sb.Builder}); err != nil || len(w.sb.Builder.Builds()) != n {
			t.Fatalf("publish-platform re-run: %v, builds %d → %d", err, n, len(w.sb.Builder.Builds()))
		}
	}

	join := release.PublishInput{Version: "1.0.0", Dir: t.TempDir(), Prebuilt: true, Builder: w.sb.Builder} // the builder makes SBOMs only
	if _, err := w.sb.Checkout(w.ctx, "release/1.0.0", join.Dir); err != nil {
		t.Fatal(err)
	}
	rep, err = release.Publish(w.ctx, w.env, join)
	if err != nil {
		t.Fatalf("join: %v\n%s", err, render(rep))
	}
	if rep.Get("finalize commit") != fin {
		t.Fatalf("join finalized again: %s vs %s", rep.Get("finalize commit"), fin)
	}
	for p, d := range digests {
		if !strings.HasSuffix(rep.Get(p), d) {
			t.Fatalf("join used %s for %s, the runner pushed %s", rep.Get(p), p, d)
		}
	}
	for _, b := range w.sb.Builder.Builds() {
		if !strings.HasSuffix(b, fin) {
			t.Fatalf("a build was not from the finalize commit: %s", b)
		}
	}
	if len(w.sb.Builder.Builds()) != 2 {
		t.Fatalf("builds %v, want exactly one per platform", w.sb.Builder.Builds())
	}
}
