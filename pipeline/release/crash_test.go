package release_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate/pipeline/github"
	"github.com/shipgate/shipgate/pipeline/release"
	"github.com/shipgate/shipgate/pipeline/sandbox"
	"github.com/shipgate/shipgate/pipeline/step"
)

// phase is one phase under test: what must exist before it, and the run itself.
type phase struct {
	name     string
	versions []string // the versions whose refs the state covers
	setup    func(w *world)
	run      func(w *world) (*step.Report, error)
}

var phases = []phase{
	{
		name: "prepare", versions: []string{"1.0.0"},
		setup: func(w *world) {},
		run:   func(w *world) (*step.Report, error) { return release.Prepare(w.ctx, w.env, "1.0.0") },
	},
	{
		name: "publish", versions: []string{"1.0.0"},
		setup: func(w *world) { w.prepare("1.0.0") },
		run: func(w *world) (*step.Report, error) {
			return release.Publish(w.ctx, w.env, w.publishInput("1.0.0"))
		},
	},
	{
		// Numbering under crashes: a re-run finishes the candidate the crashed run started.
		name: "publish --candidate", versions: []string{"1.0.0", "1.0.0-rc.1"},
		setup: func(w *world) { w.prepare("1.0.0") },
		run: func(w *world) (*step.Report, error) {
			in := w.publishInput("1.0.0")
			in.Candidate = true
			return release.Publish(w.ctx, w.env, in)
		},
	},
	{
		name: "promote", versions: []string{"1.0.0"},
		setup: func(w *world) { w.ship("1.0.0") },
		run:   func(w *world) (*step.Report, error) { return w.promote("1.0.0") },
	},
	{
		name: "rollback", versions: []string{"1.0.0", "1.1.0"},
		setup: func(w *world) {
			w.shipPromoted("1.0.0")
			w.shipPromoted("1.1.0")
		},
		run: func(w *world) (*step.Report, error) {
			return release.Rollback(w.ctx, w.env, release.RollbackInput{Version: "1.0.0"})
		},
	},
}

// crashWorld is a world on a fake clock, set up for ph, whose phases talk through a crash switch.
func crashWorld(t *testing.T, ph phase, referrers bool) (*world, *crashSwitch) {
	t.Helper()
	w, _ := newFakeWorld(t, sandbox.Options{Referrers: referrers})
	ph.setup(w)
	sw := &crashSwitch{base: http.DefaultTransport}
	w.env.Transport = sw
	return w, sw
}

// TestCrashAfterEveryStep kills each phase right after each step that acted — its process dies,
// so nothing after that reaches a server, the promote lock included — and re-runs it: the re-run
// must end in exactly the state of an uninterrupted run (tags and digests, bundles, refs, release
// state and body, PR, builds, dispatches), and one more run must act 0 times.
func TestCrashAfterEveryStep(t *testing.T) {
	t.Parallel()
	for _, ph := range phases {
		for _, referrers := range []bool{false, true} {
			if referrers && ph.name != "publish" {
				continue // the referrers API only changes how publish writes bundles
			}
			lane := "tag-fallback"
			if referrers {
				lane = "referrers"
			}
			t.Run(ph.name+"/"+lane, func(t *testing.T) {
				t.Parallel()
				ref, _ := crashWorld(t, ph, referrers)
				rep, err := ph.run(ref)
				if err != nil {
					t.Fatalf("uninterrupted %s: %v\n%s", ph.name, err, render(rep))
				}
				want := canonical(ref.state(ph.versions...))
				wantDispatches := len(ref.sb.GitHub.Dispatches(sandbox.DownstreamRepo))
				var acted []string
				for _, r := range rep.Records {
					if r.Status == step.Acted {
						acted = append(acted, r.Name)
					}
				}
				if len(acted) == 0 {
					t.Fatalf("%s acted nowhere:\n%s", ph.name, render(rep))
				}
				for _, name := range acted {
					t.Run("after "+name, func(t *testing.T) {
						t.Parallel()
						w, sw := crashWorld(t, ph, referrers)
						w.env.Run = release.Run{ID: "77", Attempt: "1"}
						w.crashAfter(sw, name)
						rep, err := ph.run(w)
						if !errors.Is(err, errCrashed) || rep.Status(name) != step.Acted {
							t.Fatalf("crash after %q: %v\n%s", name, err, render(rep))
						}
						sw.dead.Store(false) // the next run starts on a healthy machine
						w.env.Hook = nil
						w.env.Run.Attempt = "2" // re-run of the workflow run: its next attempt
						converges(t, w, ph, want, wantDispatches, wantDispatches)
					})
				}
				if ph.name == "publish" {
					// The dispatch is at-least-once: a death between the dispatch and its record
					// in the release makes the re-run dispatch again, with the same correlation id.
					t.Run("between dispatch and record", func(t *testing.T) {
						t.Parallel()
						w, sw := crashWorld(t, ph, referrers)
						sw.TripAfter = func(req *http.Request, resp *http.Response) bool {
							return req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/repos/"+sandbox.DownstreamRepo+"/dispatches") && resp.StatusCode == http.StatusNoContent
						}
						rep, err := ph.run(w)
						if err == nil || rep.Status("smoke test") != step.Failed || len(w.sb.GitHub.Dispatches(sandbox.DownstreamRepo)) != 1 {
							t.Fatalf("crash after the dispatch: %v\n%s", err, render(rep))
						}
						sw.dead.Store(false)
						sw.TripAfter = nil
						converges(t, w, ph, want, wantDispatches+1, wantDispatches)
					})
				}
			})
		}
	}
}

// converges re-runs ph in w and checks it ends in the state want (canonical) with the given
// number of dispatches, all with one correlation id, and that one more run acts 0 times.
func converges(t *testing.T, w *world, ph phase, want string, dispatches, correlations int) {
	t.Helper()
	rep, err := ph.run(w)
	if err != nil {
		t.Fatalf("re-run after the crash: %v\n%s", err, render(rep))
	}
	if got := canonical(w.state(ph.versions...)); got != want {
		t.Fatalf("re-run after the crash ends elsewhere than an uninterrupted run:\n%s\nre-run report:\n%s", diff(got, want), render(rep))
	}
	if n := len(w.sb.GitHub.Dispatches(sandbox.DownstreamRepo)); n != dispatches || len(w.correlations()) != correlations {
		t.Fatalf("%d dispatches with correlation ids %v; want %d with %d id(s)", n, w.correlations(), dispatches, correlations)
	}
	rep, err = ph.run(w)
	if err != nil || rep.Count(step.Acted) != 0 {
		t.Fatalf("run after completion: %v, acted %d\n%s", err, rep.Count(step.Acted), render(rep))
	}
}

// TestRerunAttemptTakesOverItsLock: in Actions a crashed promote is finished by re-running its
// workflow run — the same run id, the next attempt, maybe started by someone else. GitHub starts
// attempt n+1 only after attempt n ended, so the lock attempt n left behind is the re-run's own to
// take over; any other run still waits for it.
func TestRerunAttemptTakesOverItsLock(t *testing.T) {
	t.Parallel()
	w, _ := newFakeWorld(t, sandbox.Options{})
	w.ship("1.0.0")
	sw := &crashSwitch{base: http.DefaultTransport}
	w.env.Transport = sw
	w.env.Run = release.Run{ID: "4242", Attempt: "1", Actor: "octocat"}
	w.crashAfter(sw, "move latest")
	if _, err := w.promote("1.0.0"); !errors.Is(err, errCrashed) {
		t.Fatalf("crash: %v", err)
	}
	sw.dead.Store(false)
	w.env.Hook = nil
	if _, held := w.sb.GitHub.Ref(sandbox.Repo, "refs/shipgate/promote-lock"); !held {
		t.Fatalf("the dead attempt left no lock: the test crashes too gently")
	}

	other := *w.env
	other.Run = release.Run{ID: "4343", Attempt: "1", Actor: "hubot"}
	other.Lock = release.LockOptions{Wait: time.Minute, Poll: 10 * time.Second}
	rep, err := release.Promote(w.ctx, &other, release.PromoteInput{Version: "1.0.0"})
	var locked *github.LockedError
	if !errors.As(err, &locked) {
		t.Fatalf("another run took the lock of a run that may be alive: %v\n%s", err, render(rep))
	}

	w.env.Run = release.Run{ID: "4242", Attempt: "2", Actor: "hubot"}
	rep, err = w.promote("1.0.0")
	if err != nil {
		t.Fatalf("re-run attempt 2: %v\n%s", err, render(rep))
	}
	if rel, _ := w.ghRelease("v1.0.0"); rel.Draft {
		t.Fatalf("re-run did not finish the promote")
	}
	if _, held := w.sb.GitHub.Ref(sandbox.Repo, "refs/shipgate/promote-lock"); held {
		t.Fatalf("lock left behind")
	}
}
