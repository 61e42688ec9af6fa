package release_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/pipeline/githubserver"
	"github.com/shipgate/shipgate/pipeline/release"
	"github.com/shipgate/shipgate/pipeline/sandbox"
	"github.com/shipgate/shipgate/pipeline/step"
)

// TestPublishRefusesEveryProblemAtOnce: a publish with three problems — a source tree that is
// not the commit it claims (main.go edited after the checkout), a TBD left in the release's
// CHANGELOG section, and v1.0.0 already a public release (its tag at another commit) — is refused
// in one run that names all three, each by its gate and with its reason, so one fix-up round is
// enough. Every other gate that did not pass only waits for these (not checked), and nothing is
// written to the registry or GitHub. Both registry lanes.
func TestPublishRefusesEveryProblemAtOnce(t *testing.T) {
	eachLane(t, func(t *testing.T, w *world) {
		w.prepare("1.0.0")
		w.sb.EditChangelog("release/1.0.0", func(cl string) string {
			return strings.Replace(cl, "- A health endpoint at /healthz.", "- A health endpoint at /healthz.\n- Metrics: TBD", 1)
		})
		changelog, _ := w.sb.GitHub.File(sandbox.Repo, "release/1.0.0", "CHANGELOG.md")
		tbd := slices.Index(strings.Split(changelog, "\n"), "- Metrics: TBD") + 1
		if tbd == 0 {
			t.Fatalf("the TBD line was not committed:\n%s", changelog)
		}
		in := w.publishInput("1.0.0") // a checkout of release/1.0.0, TBD included
		if err := os.WriteFile(filepath.Join(in.Dir, "main.go"), []byte("package main\n\nfunc main() { println(\"edited\") }\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		w.sb.GitHub.CreateRelease(sandbox.Repo, githubserver.ReleaseSeed{Tag: "v1.0.0", Body: "published by hand"})

		var rep *step.Report
		var err error
		w.readOnly([]string{"1.0.0"}, func(env *release.Env) { rep, err = release.Publish(w.ctx, env, in) })

		refused(t, err, rep, "source tree", "main.go")
		refused(t, err, rep, "CHANGELOG", fmt.Sprintf("line %d", tbd))
		refused(t, err, rep, "release", "already published")
		for _, g := range []string{"source tree", "CHANGELOG", "release"} {
			if rep.Status(g) != step.Refused {
				t.Errorf("gate %s: %s, want refused\n%s", g, rep.Status(g), render(rep))
			}
		}
		// Gates that could not check because of these are listed, but as not checked: the three
		// are all the operator has to fix.
		var re *step.RefusedError
		errors.As(err, &re)
		var own []string
		for _, r := range append(slices.Clone(re.Reasons), re.NotChecked...) {
			if !strings.Contains(r, ": not checked: ") {
				own = append(own, strings.SplitN(r, ":", 2)[0])
			}
		}
		if !slices.Equal(own, []string{"source tree", "CHANGELOG", "release"}) {
			t.Errorf("gates refused for a reason of their own: %q, want source tree, CHANGELOG, release:\n%v", own, err)
		}
		// The verdict counts only those three; the gates they kept from checking are counted apart.
		if len(re.Reasons) != 3 || len(re.NotChecked) == 0 || !strings.HasPrefix(err.Error(), fmt.Sprintf("publish refused by 3 gate(s); %d not checked", len(re.NotChecked))) {
			t.Errorf("verdict %q: want 3 refusals and the not-checked gates counted apart", strings.SplitN(err.Error(), "\n", 2)[0])
		}
		if rep.Count(step.Acted) != 0 || len(w.sb.Builder.Builds()) != 0 {
			t.Fatalf("the refused publish acted or built:\n%s", render(rep))
		}
	})
}
