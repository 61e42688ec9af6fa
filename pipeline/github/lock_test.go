package github

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shipgate/shipgate/pipeline/githubserver"
	"github.com/shipgate/shipgate/pipeline/testkit"
)

func TestPromoteLock(t *testing.T) {
	e := newEnv(t, githubserver.Options{}, githubserver.RepoOptions{})
	if _, held, err := e.c.LockState(e.ctx, app); err != nil || held {
		t.Fatalf("lock before: %v %v", held, err)
	}
	l, err := e.c.AcquireLock(e.ctx, app, "run 1", time.Hour, false)
	if err != nil {
		t.Fatal(err)
	}
	info, held, err := e.c.LockState(e.ctx, app)
	if err != nil || !held || info.Holder != "run 1" || !info.Acquired.Equal(t0) {
		t.Fatalf("lock state: %+v %v %v", info, held, err)
	}
	// Another promote is refused and told who holds it and what to do.
	_, err = e.c.AcquireLock(e.ctx, app, "run 2", time.Hour, false)
	var le *LockedError
	if !errors.As(err, &le) || le.Info.Holder != "run 1" || le.Stale {
		t.Fatalf("second holder: %v", err)
	}
	mustContain(t, err, `locked by "run 1"`, "wait for that promote", "stale-lock override")
	// The same holder (a re-run of the crashed attempt) gets it back.
	if l2, err := e.c.AcquireLock(e.ctx, app, "run 1", time.Hour, false); err != nil || l2.Info.SHA != l.Info.SHA {
		t.Fatalf("same holder: %v", err)
	}
	// Stale, without the override: refused, but told it is stale.
	e.clk.Advance(2 * time.Hour)
	_, err = e.c.AcquireLock(e.ctx, app, "run 2", time.Hour, false)
	if !errors.As(err, &le) || !le.Stale {
		t.Fatalf("stale without override: %v", err)
	}
	mustContain(t, err, "--break-stale-lock")
	// With the override: taken over; the old holder's Release leaves it alone.
	l3, err := e.c.AcquireLock(e.ctx, app, "run 2", time.Hour, true)
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, l.Release(e.ctx), `now held by "run 2"`)
	if err := l3.Release(e.ctx); err != nil {
		t.Fatal(err)
	}
	if _, held, _ := e.c.LockState(e.ctx, app); held {
		t.Fatal("lock not released")
	}
	if err := l3.Release(e.ctx); err != nil {
		t.Fatalf("second release: %v", err)
	}
}

func TestPromoteLockIsExclusive(t *testing.T) {
	e := newEnv(t, githubserver.Options{}, githubserver.RepoOptions{})
	// Concurrent promotes: exactly one wins.
	if won := race(6, func(i int) bool {
		_, err := e.client(token).AcquireLock(e.ctx, app, "run "+string(rune('a'+i)), time.Hour, false)
		return err == nil
	}); won != 1 {
		t.Fatalf("%d promotes took the lock, want 1", won)
	}
	// Concurrent breakers of a stale lock: exactly one wins (the ref moves without force).
	e.clk.Advance(3 * time.Hour)
	if won := race(6, func(i int) bool {
		_, err := e.client(token).AcquireLock(e.ctx, app, "breaker "+string(rune('a'+i)), time.Hour, true)
		return err == nil
	}); won != 1 {
		t.Fatalf("%d breakers took the stale lock, want 1", won)
	}
}

func TestPromoteLockAfterLostAnswer(t *testing.T) {
	e := newEnv(t, githubserver.Options{}, githubserver.RepoOptions{})
	rule := e.proxy.Inject(testkit.Fault{Method: "POST", Path: re(`/git/refs$`), DropResponse: true, Times: 1})
	l, err := e.c.AcquireLock(e.ctx, app, "run 1", time.Hour, false)
	if err != nil || rule.Injected() != 1 {
		t.Fatalf("lock with a lost answer: %v", err)
	}
	e.proxy.Inject(testkit.Fault{Method: "DELETE", DropResponse: true, Times: 1})
	if err := l.Release(e.ctx); err != nil {
		t.Fatalf("release with a lost answer: %v", err)
	}
	if _, held, _ := e.c.LockState(e.ctx, app); held {
		t.Fatal("lock still held")
	}
	_, err = e.c.AcquireLock(e.ctx, app, " ", time.Hour, false)
	mustContain(t, err, "holder name is empty")
}

// race runs n attempts at once and counts the ones that won.
func race(n int, try func(i int) bool) int {
	var wg sync.WaitGroup
	var won atomic.Int32
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if try(i) {
				won.Add(1)
			}
		}(i)
	}
	wg.Wait()
	return int(won.Load())
}
