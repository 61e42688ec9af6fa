package release_test

import (
	"strings"
	"testing"

	"github.com/shipgate/shipgate/pipeline/release"
	"github.com/shipgate/shipgate/pipeline/sandbox"
)

// pinned is a finalize image pinned by digest (the sandbox runs no image; the setting must be
// valid).
const pinned = "alpine@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// TestFinalizeCommand: the files --finalize-command adds or changes go into the finalize commit
// and into every image; a re-run commits nothing new; a failing command, a deleted file, a
// rewritten CHANGELOG or a TBD next to the version refuse before anything is committed or pushed.
// Both registry lanes.
func TestFinalizeCommand(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		run  func(files map[string][]byte) release.FinalizeResult
		want string // "" passes
	}{
		{"writes derived files", func(files map[string][]byte) release.FinalizeResult {
			return release.FinalizeResult{Changed: map[string][]byte{"VERSION": []byte("1.0.0\n"), "docs/index.md": []byte("# App 1.0.0, released " + dateOf(files) + "\n"),
				".git/index": []byte("a git command ran")}} // repository metadata never joins the commit
		}, ""},
		{"fails", func(map[string][]byte) release.FinalizeResult {
			return release.FinalizeResult{ExitCode: 2, Output: "make: *** no rule for docs\n"}
		}, "no rule for docs"},
		{"deletes", func(map[string][]byte) release.FinalizeResult {
			return release.FinalizeResult{Removed: []string{"docs/old.md"}}
		}, "deleted docs/old.md"},
		{"rewrites the CHANGELOG", func(map[string][]byte) release.FinalizeResult {
			return release.FinalizeResult{Changed: map[string][]byte{"CHANGELOG.md": []byte("# x\n")}}
		}, "publish finalizes itself"},
		{"leaves TBD", func(map[string][]byte) release.FinalizeResult {
			return release.FinalizeResult{Changed: map[string][]byte{"docs/index.md": []byte("intro\n\nApp 1.0.0 - released TBD\n")}}
		}, "docs/index.md, as --finalize-command"},
	} {
		t.Run(c.name, func(t *testing.T) {
			eachLane(t, func(t *testing.T, w *world) {
				w.env.Settings.FinalizeCommand, w.env.Settings.FinalizeImage = "make docs", pinned
				var argv []string
				w.sb.Builder.Finalize = func(files map[string][]byte, a []string) release.FinalizeResult {
					argv = a
					return c.run(files)
				}
				w.prepare("1.0.0")
				head, _ := w.sb.GitHub.Ref(sandbox.Repo, "refs/heads/release/1.0.0")
				rep, err := release.Publish(w.ctx, w.env, w.publishInput("1.0.0"))
				if strings.Join(argv, " ") != "make docs" {
					t.Fatalf("ran %q", argv)
				}
				if c.want != "" {
					refused(t, err, rep, "derived files", c.want)
					if now, _ := w.sb.GitHub.Ref(sandbox.Repo, "refs/heads/release/1.0.0"); now != head || len(w.sb.Builder.Builds()) != 0 || w.tag("1.0.0-amd64") != "" {
						t.Fatal("a refused --finalize-command changed the world")
					}
					return
				}
				if err != nil {
					t.Fatalf("publish: %v\n%s", err, render(rep))
				}
				if _, found := w.sb.GitHub.File(sandbox.Repo, "release/1.0.0", ".git/index"); found {
					t.Fatal(".git/index was committed")
				}
				if v, _ := w.sb.GitHub.File(sandbox.Repo, "release/1.0.0", "VERSION"); v != "1.0.0\n" {
					t.Fatalf("VERSION on the release branch: %q", v)
				}
				if doc, _ := w.sb.GitHub.File(sandbox.Repo, "release/1.0.0", "docs/index.md"); !strings.Contains(doc, "released 20") {
					t.Fatalf("docs/index.md: %q", doc)
				}
				again, err := release.Publish(w.ctx, w.env, w.publishInput("1.0.0"))
				if err != nil || again.Status("finalize commit") != "done" || again.Get("finalize commit") != rep.Get("finalize commit") {
					t.Fatalf("re-run: %v\n%s", err, render(again))
				}
			})
		})
	}
}

// dateOf is the date the finalized CHANGELOG gives 1.0.0.
func dateOf(files map[string][]byte) string {
	_, rest, _ := strings.Cut(string(files["CHANGELOG.md"]), "## [1.0.0] - ")
	d, _, _ := strings.Cut(rest, "\n")
	return d
}
