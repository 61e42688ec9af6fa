package release_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shipgate/shipgate/pipeline/release"
	"github.com/shipgate/shipgate/pipeline/sandbox"
	"github.com/shipgate/shipgate/pipeline/step"
)

// TestConcurrentPromotes races the promotes of 1.0.0 and 1.1.0 (both published and smoke-tested)
// on the wall clock. The promote lock serializes them — one waits for the other, and their acts
// never interleave — latest ends at 1.1.0 whichever goes first, and latest, read from the
// registry all along, only ever holds nothing or one of the two verified index digests.
func TestConcurrentPromotes(t *testing.T) {
	t.Parallel()
	w := newWorld(t, sandbox.Options{})
	w.prepare("1.0.0")
	w.prepare("1.1.0")
	w.notes("1.1.0", "A second line of releases.")
	idx100 := digestOf(w.publish("1.0.0"), "index")
	idx110 := digestOf(w.publish("1.1.0"), "index")
	w.sb.PassSmokeTest("1.0.0", idx100)
	w.sb.PassSmokeTest("1.1.0", idx110)
	w.sb.GitHub.ResetRequests()

	var mu sync.Mutex
	var acts []string // "1.0.0 move latest", in the order they happened
	sample := w.sampleLatest()
	start := make(chan struct{})
	reps := map[string]*step.Report{}
	errs := map[string]error{}
	var wg sync.WaitGroup
	for _, ver := range []string{"1.0.0", "1.1.0"} {
		env := *w.env // each promote its own environment, as two workflow runs have
		env.Lock = release.LockOptions{Poll: 5 * time.Millisecond, Wait: 30 * time.Second}
		env.Hook = func(ctx context.Context, s string) error {
			mu.Lock()
			acts = append(acts, ver+" "+s)
			mu.Unlock()
			time.Sleep(20 * time.Millisecond) // hold the lock a while: the other promote must wait
			return nil
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			rep, err := release.Promote(context.Background(), &env, release.PromoteInput{Version: ver})
			mu.Lock()
			reps[ver], errs[ver] = rep, err
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	seen, reads := sample.Stop()

	for ver, err := range errs {
		if err != nil {
			t.Fatalf("promote %s: %v\n%s", ver, err, render(reps[ver]))
		}
	}
	// Serialized: all acts of one promote, then all of the other's.
	first := strings.Fields(acts[0])[0]
	switched := 0
	for i := 1; i < len(acts); i++ {
		if strings.Fields(acts[i])[0] != strings.Fields(acts[i-1])[0] {
			switched++
		}
	}
	if switched != 1 {
		t.Fatalf("acts interleaved: %q", acts)
	}
	// And they did contend: GitHub refused one lock ref creation with 422.
	contended := false
	for _, r := range w.sb.GitHub.Requests() {
		if r.Method == "POST" && strings.HasSuffix(r.Path, "/git/refs") && r.Status == 422 {
			contended = true
		}
	}
	if !contended {
		t.Fatalf("the promotes never contended for the lock; acts %q", acts)
	}
	if w.tag("latest") != idx110 || w.tag("1") != idx110 || w.tag("1.1") != idx110 || w.tag("1.0") != idx100 {
		t.Fatalf("latest %s 1 %s 1.1 %s 1.0 %s; want 1.1.0 = %s, 1.0.0 = %s", w.tag("latest"), w.tag("1"), w.tag("1.1"), w.tag("1.0"), idx110, idx100)
	}
	if got := w.latestLabel(); got != "v1.1.0" {
		t.Fatalf("GitHub's Latest label on %q, want v1.1.0", got)
	}
	for _, d := range seen {
		if d != "" && d != idx100 && d != idx110 {
			t.Fatalf("latest was seen at %s, which no promote verified (seen %q)", d, seen)
		}
	}
	if reads < 10 {
		t.Fatalf("latest sampled only %d times", reads)
	}
	if _, held := w.sb.GitHub.Ref(sandbox.Repo, "refs/shipgate/promote-lock"); held {
		t.Fatalf("lock left behind")
	}
	t.Logf("first %s; latest seen %q over %d reads; acts %q", first, seen, reads, acts)
}
