package github

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shipgate/shipgate/pipeline/fault"
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
		t.Fatalf("lock with a lost answer: %v (answer lost %d times, want 1)", err, rule.Injected())
	}
	lostDelete := e.proxy.Inject(testkit.Fault{Method: "DELETE", DropResponse: true, Times: 1})
	if err := l.Release(e.ctx); err != nil {
		t.Fatalf("release with a lost answer: %v", err)
	}
	if lostDelete.Injected() != 1 {
		t.Fatalf("the lock release's answer was lost %d times, want 1", lostDelete.Injected())
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

// gate holds a client's first lock-ref create until the test lets it go: a channel barrier that
// builds contention without sleeps.
type gate struct {
	base    http.RoundTripper
	arrived chan<- int
	id      int
	release chan struct{}
	once    sync.Once
}

func (g *gate) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/git/refs") {
		g.once.Do(func() {
			g.arrived <- g.id
			<-g.release
		})
	}
	return g.base.RoundTrip(req)
}

func (e *env) gatedClient(g *gate) *Client {
	e.t.Helper()
	g.base = &http.Transport{DisableKeepAlives: true}
	c, err := New(Options{BaseURL: e.proxy.URL(), Token: token, Clock: e.clk, Log: e.logs, Transport: g})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

type lockResult struct {
	lock *Lock
	err  error
}

// contend lets two holders write their lock commits, then lets their ref creates reach GitHub
// first one, then (after the first has its answer) the other; it returns both results.
func contend(e *env, holders [2]LockHolder, first int) [2]lockResult {
	arrived := make(chan int, 2)
	var gates [2]*gate
	var done [2]chan lockResult
	for i := range holders {
		gates[i] = &gate{arrived: arrived, id: i, release: make(chan struct{})}
		done[i] = make(chan lockResult, 1)
		c := e.gatedClient(gates[i])
		go func(i int) {
			l, err := c.AcquirePromoteLock(e.ctx, app, holders[i], LockPolicy{StaleAfter: time.Hour})
			done[i] <- lockResult{l, err}
		}(i)
	}
	<-arrived
	<-arrived // both lock commits written, both creates waiting at the barrier
	var out [2]lockResult
	for _, i := range []int{first, 1 - first} {
		close(gates[i].release)
		out[i] = <-done[i]
	}
	return out
}

// Two runs with the same holder name (two laptops promoting 1.2.3, or two jobs of one attempt)
// are two holders: exactly one gets the lock, in either order (issue 11, item 6).
func TestPromoteLockSameNameSerializes(t *testing.T) {
	for _, holders := range [][2]LockHolder{
		{{Name: "promote 1.2.3"}, {Name: "promote 1.2.3"}},
		{{Name: "promote 1.2.3", RunID: "42", Attempt: "1"}, {Name: "promote 1.2.3", RunID: "42", Attempt: "1"}},
	} {
		for first := 0; first < 2; first++ {
			e := newEnv(t, githubserver.Options{}, githubserver.RepoOptions{})
			res := contend(e, holders, first)
			won, lost := res[first], res[1-first]
			var le *LockedError
			if won.err != nil || !errors.As(lost.err, &le) || fault.Of(lost.err) != fault.Refused {
				t.Fatalf("%+v, first %d: winner %v, loser %v", holders, first, won.err, lost.err)
			}
			if le.Info.Nonce != won.lock.Info.Nonce || le.Info.Nonce == "" {
				t.Fatalf("the loser was told of another holder: %+v vs %+v", le.Info, won.lock.Info)
			}
			if info, held, err := e.c.LockState(e.ctx, app); err != nil || !held || info.SHA != won.lock.Info.SHA {
				t.Fatalf("lock state %+v %v %v", info, held, err)
			}
		}
	}
}

// A re-run attempt takes over the lock its own crashed attempt left; other runs, and another job
// of the same attempt, wait; a stale lock is broken only with the override.
func TestPromoteLockTakeOver(t *testing.T) {
	e := newEnv(t, githubserver.Options{}, githubserver.RepoOptions{})
	p := LockPolicy{StaleAfter: time.Hour}
	crashed, err := e.c.AcquirePromoteLock(e.ctx, app, LockHolder{Name: "promote 1.2.3", RunID: "42", Attempt: "1"}, p)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []LockHolder{{Name: "promote 1.2.3"}, {Name: "promote 1.2.3", RunID: "43", Attempt: "2"}, {Name: "promote 1.2.3", RunID: "42", Attempt: "1"}} {
		_, err := e.c.AcquirePromoteLock(e.ctx, app, h, p)
		var le *LockedError
		if !errors.As(err, &le) || le.Info.SHA != crashed.Info.SHA {
			t.Fatalf("%+v took the lock of attempt 1: %v", h, err)
		}
		mustContain(t, err, `"promote 1.2.3" (run 42, attempt 1)`, "wait for that promote")
	}
	rerun, err := e.c.AcquirePromoteLock(e.ctx, app, LockHolder{Name: "promote 1.2.3", RunID: "42", Attempt: "2"}, p)
	if err != nil || rerun.Info.Attempt != "2" || rerun.Info.SHA == crashed.Info.SHA {
		t.Fatalf("re-run attempt: %+v %v", rerun, err)
	}
	if cm, _ := e.srv.Commit("acme/app", rerun.Info.SHA); len(cm.Parents) != 1 || cm.Parents[0] != crashed.Info.SHA {
		t.Fatalf("take-over is not a compare-and-swap on the old lock: %+v", cm)
	}
	mustContain(t, crashed.Release(e.ctx), "now held by", "attempt 2")
	// Stale: only with the override.
	e.clk.Advance(2 * time.Hour)
	other := LockHolder{Name: "rollback 1.2.3", RunID: "50", Attempt: "1"}
	if _, err := e.c.AcquirePromoteLock(e.ctx, app, other, p); err == nil {
		t.Fatal("stale lock taken without the override")
	}
	broke, err := e.c.AcquirePromoteLock(e.ctx, app, other, LockPolicy{StaleAfter: time.Hour, BreakStale: true})
	if err != nil || broke.Info.RunID != "50" {
		t.Fatalf("break stale: %v", err)
	}
	if err := broke.Release(e.ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.AcquirePromoteLock(e.ctx, app, LockHolder{Name: " "}, p); fault.Of(err) != fault.BadInput {
		t.Fatalf("empty name: %v", err)
	}
}
