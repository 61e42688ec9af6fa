package release_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shipgate/shipgate/pipeline/clock"
	"github.com/shipgate/shipgate/pipeline/release"
	"github.com/shipgate/shipgate/pipeline/sandbox"
	"github.com/shipgate/shipgate/pipeline/step"
)

// waitClock is the wall clock that says, once, when its owner first waits for the promote lock.
type waitClock struct {
	clock.Real
	once    sync.Once
	waiting chan struct{}
}

func (c *waitClock) Sleep(ctx context.Context, d time.Duration) error {
	c.once.Do(func() { close(c.waiting) })
	return c.Real.Sleep(ctx, d)
}

// TestConcurrentPromotes races the promotes of 1.0.0 and 1.1.0 (both published and smoke-tested),
// in both orders. Contention is built with barriers, not sleeps: the first promote stops right
// after taking the lock; the second runs every gate, finds the lock held and waits (its clock says
// so); only then does the first go on. The lock serializes them — their acts never interleave —
// latest ends at 1.1.0 whichever went first, and latest, read after every act of either, only
// ever holds nothing or one of the two verified index digests.
func TestConcurrentPromotes(t *testing.T) {
	for _, first := range []string{"1.0.0", "1.1.0"} {
		t.Run(first+" first", func(t *testing.T) {
			t.Parallel()
			racePromotes(t, first)
		})
	}
}

func racePromotes(t *testing.T, first string) {
	w := preparedWorld(t, "1.0.0")
	w.prepare("1.1.0")
	w.notes("1.1.0", "A second line of releases.")
	idx := map[string]string{"1.0.0": digestOf(w.publish("1.0.0"), "index"), "1.1.0": digestOf(w.publish("1.1.0"), "index")}
	w.sb.PassSmokeTest("1.0.0", idx["1.0.0"])
	w.sb.PassSmokeTest("1.1.0", idx["1.1.0"])
	second := map[string]string{"1.0.0": "1.1.0", "1.1.0": "1.0.0"}[first]

	var mu sync.Mutex
	var acts, seen []string // "1.0.0 move latest" in the order they happened; latest after each
	holds, goOn := make(chan struct{}), make(chan struct{})
	wait := &waitClock{waiting: make(chan struct{})}
	envFor := func(ver string) *release.Env {
		env := *w.env // each promote its own environment, as two workflow runs have
		env.Lock = release.LockOptions{Poll: time.Millisecond, Wait: time.Minute}
		env.Hook = func(ctx context.Context, s string) error {
			mu.Lock()
			acts = append(acts, ver+" "+s)
			seen = append(seen, w.tag("latest"))
			mu.Unlock()
			if ver == first && s == "promote lock" {
				close(holds)
				<-goOn
			}
			return nil
		}
		if ver == second {
			env.Clock = wait
		}
		return &env
	}
	reps, errs := map[string]*step.Report{}, map[string]error{}
	finished := map[string]chan struct{}{first: make(chan struct{}), second: make(chan struct{})}
	var wg sync.WaitGroup
	run := func(ver string) {
		defer wg.Done()
		defer close(finished[ver])
		rep, err := release.Promote(context.Background(), envFor(ver), release.PromoteInput{Version: ver})
		mu.Lock()
		reps[ver], errs[ver] = rep, err
		mu.Unlock()
	}
	// await waits until ver's promote reaches barrier (what it does there). If that promote
	// finishes instead, the race did not happen as built and the test says so (why: what that
	// means); if neither happens for minutes — a last resort — it fails instead of hanging until
	// go test's timeout.
	await := func(barrier <-chan struct{}, ver, what, why string) {
		t.Helper()
		select {
		case <-barrier:
			return
		case <-finished[ver]:
			close(goOn) // the other promote, if it holds the lock, goes on and ends
			wg.Wait()
			t.Fatalf("promote %s finished without %s: %s (error: %v)\n%s", ver, what, why, errs[ver], render(reps[ver]))
		case <-time.After(3 * time.Minute):
			close(goOn) // unblock what can be unblocked; whatever still hangs is not waited for
			t.Fatalf("promote %s is still not %s after 3 minutes", ver, what)
		}
	}
	wg.Add(1)
	go run(first)
	await(holds, first, "taking the lock", "it never reached its promote lock step")
	wg.Add(1)
	go run(second)
	await(wait.waiting, second, "waiting for the lock", "the lock "+first+" holds did not make it wait, so the promotes were not serialized")
	close(goOn)
	wg.Wait()

	for ver, err := range errs {
		if err != nil {
			t.Fatalf("promote %s: %v\n%s", ver, err, render(reps[ver]))
		}
	}
	switched := 0
	for i := 1; i < len(acts); i++ {
		if strings.Fields(acts[i])[0] != strings.Fields(acts[i-1])[0] {
			switched++
		}
	}
	if switched != 1 || !strings.HasPrefix(acts[0], first) {
		t.Fatalf("acts interleaved or out of order: %q", acts)
	}
	if w.tag("latest") != idx["1.1.0"] || w.tag("1") != idx["1.1.0"] || w.tag("1.1") != idx["1.1.0"] || w.tag("1.0") != idx["1.0.0"] {
		t.Fatalf("latest %s 1 %s 1.1 %s 1.0 %s; want 1.1.0 = %s, 1.0.0 = %s", w.tag("latest"), w.tag("1"), w.tag("1.1"), w.tag("1.0"), idx["1.1.0"], idx["1.0.0"])
	}
	if got := w.latestLabel(); got != "v1.1.0" {
		t.Fatalf("GitHub's Latest label on %q, want v1.1.0", got)
	}
	for _, d := range seen {
		if d != "" && d != idx["1.0.0"] && d != idx["1.1.0"] {
			t.Fatalf("latest was seen at %s, which no promote verified (seen %q)", d, seen)
		}
	}
	if rec := reps[second].Status("re-check under lock"); rec != step.Passed {
		t.Fatalf("the second promote did not re-check under the lock: %s\n%s", rec, render(reps[second]))
	}
	if _, held := w.sb.GitHub.Ref(sandbox.Repo, "refs/shipgate/promote-lock"); held {
		t.Fatalf("lock left behind")
	}
	t.Log(fmt.Sprintf("acts %q; latest seen %q", acts, seen))
}
