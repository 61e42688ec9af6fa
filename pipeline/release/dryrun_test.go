package release_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/pipeline/release"
	"github.com/shipgate/shipgate/pipeline/sandbox"
	"github.com/shipgate/shipgate/pipeline/step"
	"github.com/shipgate/shipgate/pipeline/testkit"
)

// readOnly runs f with a counting transport and checks that neither server saw a write and that
// the world's state did not change.
func (w *world) readOnly(versions []string, f func(env *release.Env)) {
	w.t.Helper()
	before := w.state(versions...)
	w.sb.GitHub.ResetRequests()
	counter := testkit.NewCounter(nil)
	env := *w.env
	env.Transport = counter
	f(&env)
	for m, n := range counter.Host(w.sb.Registry).ByMethod {
		if m != "GET" && m != "HEAD" {
			w.t.Errorf("%d %s requests to the registry", n, m)
		}
	}
	for _, r := range w.sb.GitHub.Requests() {
		if r.Method != "GET" {
			w.t.Errorf("GitHub saw %s %s", r.Method, r.Path)
		}
	}
	if counter.Total().Requests == 0 {
		w.t.Errorf("nothing was observed")
	}
	if after := w.state(versions...); after != before {
		w.t.Fatalf("read-only run changed the world: %s", diff(after, before))
	}
}

// TestDryRun: --dry-run of publish and of promote observes only — no write reaches either server
// and the world is as before — and prints the plan.
func TestDryRun(t *testing.T) {
	t.Parallel()
	w := preparedWorld(t, "1.0.0")
	w.readOnly([]string{"1.0.0"}, func(env *release.Env) {
		env.DryRun = true
		rep, err := release.Publish(w.ctx, env, w.publishInput("1.0.0"))
		if err != nil {
			t.Fatalf("dry-run publish: %v\n%s", err, render(rep))
		}
		text := render(rep)
		for _, want := range []string{"dry run: nothing changed", "PLANNED", "planned  finalize commit: commit the finalized CHANGELOG.md", "planned  smoke test"} {
			if !strings.Contains(text, want) {
				t.Errorf("dry-run publish plan lacks %q:\n%s", want, text)
			}
		}
		if rep.Count(step.Acted) != 0 || rep.Count(step.Planned) < 5 {
			t.Fatalf("dry-run publish:\n%s", text)
		}
	})
	idx := digestOf(w.publish("1.0.0"), "index")
	w.sb.PassSmokeTest("1.0.0", idx)
	w.readOnly([]string{"1.0.0"}, func(env *release.Env) {
		env.DryRun = true
		rep, err := w.promoteWith(env)
		if err != nil {
			t.Fatalf("dry-run promote: %v\n%s", err, render(rep))
		}
		text := render(rep)
		for _, want := range []string{"dry run: nothing changed", "planned  promote lock", "skipped  re-check under lock", "planned  move latest: tag latest → " + idx, "planned  merge pull request", "planned  publish release: publish v1.0.0 as Latest"} {
			if !strings.Contains(text, want) {
				t.Errorf("dry-run promote plan lacks %q:\n%s", want, text)
			}
		}
		if rep.Count(step.Passed) != 6 || rep.Count(step.Planned) != 4 {
			t.Fatalf("dry-run promote:\n%s", text)
		}
	})
	if _, held := w.sb.GitHub.Ref(sandbox.Repo, "refs/shipgate/promote-lock"); held {
		t.Fatalf("dry run took the lock")
	}
}

func (w *world) promoteWith(env *release.Env) (*step.Report, error) {
	return release.Promote(w.ctx, env, release.PromoteInput{Version: "1.0.0"})
}

// TestStatusDuringInspection: status, at every stage of a release, reports each gate's result,
// changes nothing, and returns no error for refused gates.
func TestStatusDuringInspection(t *testing.T) {
	t.Parallel()
	w := newWorld(t, sandbox.Options{})
	status := func(wantVerdict string, want map[string]step.Status) *step.Report {
		t.Helper()
		var rep *step.Report
		w.readOnly([]string{"1.0.0"}, func(env *release.Env) {
			var err error
			rep, err = release.Status(w.ctx, env, "1.0.0")
			if err != nil {
				t.Fatalf("status returned an error: %v\n%s", err, render(rep))
			}
		})
		if !strings.Contains(rep.Verdict, wantVerdict) {
			t.Fatalf("verdict %q, want %q\n%s", rep.Verdict, wantVerdict, render(rep))
		}
		for name, st := range want {
			if got := rep.Status(name); got != st {
				t.Errorf("%s: %s, want %s\n%s", name, got, st, render(rep))
			}
		}
		for _, f := range step.Formats {
			out, err := rep.Render(f)
			if err != nil || !strings.Contains(out, wantVerdict) {
				t.Fatalf("%s rendering: %v\n%s", f, err, out)
			}
			if f == "json" && !json.Valid([]byte(out)) {
				t.Fatalf("json rendering is not JSON:\n%s", out)
			}
		}
		return rep
	}

	w.prepare("1.0.0")
	status("promote would be refused", map[string]step.Status{"index": step.Refused, "release": step.Refused, "move latest": step.NotRun})

	idx := digestOf(w.publish("1.0.0"), "index")
	rep := status("promote would be refused: 1 gate(s)", map[string]step.Status{
		"index": step.Passed, "release": step.Passed, "signatures": step.Passed, "smoke test": step.Refused,
		"pull request": step.Passed, "tags": step.Passed, "move latest": step.NotRun,
	})
	for _, key := range []string{"index", "release", "finalize commit", "dispatch", "pull request", "lock"} {
		if rep.Get(key) == "" {
			t.Errorf("status lacks %q:\n%s", key, render(rep))
		}
	}
	if !strings.Contains(rep.Get("dispatch"), "correlation id shipgate-1.0.0-") || rep.Get("lock") != "free" {
		t.Errorf("dispatch %q lock %q", rep.Get("dispatch"), rep.Get("lock"))
	}

	w.editNotes("v1.0.0", func(n string) string { return n + "\n- TBD" })
	status("promote would be refused: 2 gate(s)", map[string]step.Status{"release": step.Refused, "smoke test": step.Refused})
	w.editNotes("v1.0.0", func(n string) string { return strings.TrimSuffix(n, "\n- TBD") })

	w.sb.PassSmokeTest("1.0.0", idx)
	status("every gate passes: ready to promote", map[string]step.Status{"smoke test": step.Passed, "move latest": step.Planned, "publish release": step.Planned})

	w.mustPromote("1.0.0")
	status("promoted", map[string]step.Status{"release": step.Done, "pull request": step.Done, "tags": step.Done, "publish release": step.Done})
}
