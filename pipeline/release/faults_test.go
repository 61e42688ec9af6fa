package release_test

import (
	"fmt"
	"regexp"
	"testing"

	"github.com/shipgate/shipgate/pipeline/clock"
	"github.com/shipgate/shipgate/pipeline/release"
	"github.com/shipgate/shipgate/pipeline/sandbox"
	"github.com/shipgate/shipgate/pipeline/step"
	"github.com/shipgate/shipgate/pipeline/testkit"
)

// proxied is a world whose phases reach the registry and GitHub only through fault proxies.
type proxied struct {
	*world
	clk     *clock.Fake
	reg, gh *testkit.FaultProxy
	rules   map[string][]*testkit.Rule // each fault rule injected, by what it says
}

// inject adds a fault rule to proxy and remembers it, so the test can check it fired.
func (p *proxied) inject(proxy *testkit.FaultProxy, f testkit.Fault) {
	key := fmt.Sprintf("%s %+v", map[bool]string{true: "registry", false: "github"}[proxy == p.reg], f)
	p.rules[key] = append(p.rules[key], proxy.Inject(f))
}

// smokeTestedProxiedWorld is a proxied world where ver is published and its smoke test passed:
// what promote needs.
func smokeTestedProxiedWorld(t *testing.T, ver string) *proxied {
	t.Helper()
	p := newProxiedWorld(t)
	p.prepare(ver)
	p.sb.PassSmokeTest(ver, digestOf(p.publish(ver), "index"))
	return p
}

func newProxiedWorld(t *testing.T) *proxied {
	t.Helper()
	w, clk := newFakeWorld(t, sandbox.Options{})
	p := &proxied{world: w, clk: clk, rules: map[string][]*testkit.Rule{},
		reg: testkit.NewFaultProxy(t, "http://"+w.sb.Registry),
		gh:  testkit.NewFaultProxy(t, w.sb.GitHub.URL())}
	w.env.Settings.Image = p.reg.Host() + "/acme/app"
	w.env.Settings.PlainHTTP = []string{p.reg.Host()}
	w.env.Settings.GitHubAPI = p.gh.URL() + "/"
	return p
}

// releaseThrough runs publish and promote of 1.0.0 (prepare and the smoke test in between are not under
// test: they run with the proxies quiet), each re-run until it succeeds. Every failed run must
// fail cleanly: an error in the report and latest nowhere but at the verified index (or absent).
// It returns how many runs failed.
func (p *proxied) releaseThrough(t *testing.T, faults func()) int {
	t.Helper()
	p.prepare("1.0.0")
	faults()
	failed := 0
	var index string
	until := func(what string, run func() (*step.Report, error)) {
		t.Helper()
		for attempt := 1; ; attempt++ {
			rep, err := run()
			if err == nil {
				if index == "" {
					index = digestOf(rep, "index")
				}
				return
			}
			failed++
			t.Logf("%s attempt %d failed cleanly? %v", what, attempt, err)
			if rep == nil || rep.Err == "" || rep.Count(step.Failed)+rep.Count(step.Refused) == 0 {
				t.Fatalf("%s failed without saying where: %v\n%s", what, err, render(rep))
			}
			if l := p.tag("latest"); l != "" && l != index {
				t.Fatalf("after a failed %s latest is %s, not the verified index %s", what, l, index)
			}
			if attempt == 6 {
				t.Fatalf("%s does not converge: %v\n%s", what, err, render(rep))
			}
		}
	}
	until("publish", func() (*step.Report, error) {
		return release.Publish(p.ctx, p.env, p.publishInput("1.0.0"))
	})
	p.reg.Clear()
	p.gh.Clear()
	p.sb.PassSmokeTest("1.0.0", index)
	faults()
	until("promote", func() (*step.Report, error) { return p.promote("1.0.0") })
	return failed
}

// TestFaultProxies releases 1.0.0 through fault proxies in front of the registry and GitHub —
// 5xx, 429 with Retry-After, dropped connections, and writes whose answer is lost — and checks
// that every run finishes or fails cleanly and that re-runs end in the state of a release made
// without faults (the dispatch, at-least-once, may arrive twice with one correlation id). Waits
// go through the fake clock.
func TestFaultProxies(t *testing.T) {
	t.Parallel()
	re := regexp.MustCompile
	ref := newProxiedWorld(t)
	ref.releaseThrough(t, func() {})
	want := canonical(ref.state("1.0.0"))

	for _, tc := range []struct {
		name   string
		faults func(p *proxied)
		// waits: the fake clock must have been asked to wait (Retry-After, back-off).
		waits bool
		// fails: some run must have failed (the faults outlast the retries).
		fails bool
	}{
		{name: "github 5xx", faults: func(p *proxied) {
			p.inject(p.gh, testkit.Fault{Method: "GET", Status: 502, Skip: 2, Times: 3})
			p.inject(p.gh, testkit.Fault{Method: "POST", Status: 500, Times: 2})
			p.inject(p.gh, testkit.Fault{Method: "PATCH", Status: 503, Times: 2})
			p.inject(p.gh, testkit.Fault{Method: "PUT", Status: 502, Times: 1})
		}, waits: true},
		{name: "github 429 with Retry-After", faults: func(p *proxied) {
			p.inject(p.gh, testkit.Fault{Status: 429, RetryAfter: "7", Skip: 1, Times: 4})
		}, waits: true},
		{name: "github dropped connections", faults: func(p *proxied) {
			p.inject(p.gh, testkit.Fault{Method: "GET", Drop: true, Skip: 1, Times: 3})
			p.inject(p.gh, testkit.Fault{Method: "POST", Drop: true, Times: 2})
			p.inject(p.gh, testkit.Fault{Method: "PATCH", Drop: true, Times: 1})
		}},
		{name: "github lost answers", faults: func(p *proxied) {
			p.inject(p.gh, testkit.Fault{Method: "POST", Path: re(`/releases$`), DropResponse: true, Times: 1})
			p.inject(p.gh, testkit.Fault{Method: "POST", Path: re(`/dispatches$`), DropResponse: true, Times: 1})
			p.inject(p.gh, testkit.Fault{Method: "PATCH", Path: re(`/releases/\d+$`), DropResponse: true, Times: 2})
			p.inject(p.gh, testkit.Fault{Method: "POST", Path: re(`/git/refs$`), DropResponse: true, Times: 2})
			p.inject(p.gh, testkit.Fault{Method: "POST", Path: re(`/git/commits$`), DropResponse: true, Times: 1})
			p.inject(p.gh, testkit.Fault{Method: "PUT", Path: re(`/merge$`), DropResponse: true, Times: 1})
			p.inject(p.gh, testkit.Fault{Method: "DELETE", Path: re(`/git/refs/`), DropResponse: true, Times: 1})
		}},
		{name: "github outage past the retries", faults: func(p *proxied) {
			// Longer than the client retries: the run fails at that step, a re-run finishes.
			p.inject(p.gh, testkit.Fault{Method: "PATCH", Path: re(`/releases/\d+$`), Status: 502, Times: 6})
			p.inject(p.gh, testkit.Fault{Method: "PUT", Path: re(`/merge$`), Status: 503, Times: 6})
		}, waits: true, fails: true},
		{name: "github connections dropped past the retries", faults: func(p *proxied) {
			p.inject(p.gh, testkit.Fault{Method: "GET", Path: re(`/releases`), Skip: 1, Drop: true, Times: 6})
		}, waits: true, fails: true},
		{name: "registry 5xx and 429", faults: func(p *proxied) {
			p.inject(p.reg, testkit.Fault{Method: "PUT", Path: re(`/manifests/(1\.0\.0|latest)$`), Status: 503, Times: 1})
			p.inject(p.reg, testkit.Fault{Method: "GET", Path: re(`/manifests/1\.0\.0$`), Status: 429, RetryAfter: "3", Times: 1})
		}, waits: true},
		{name: "registry dropped connections and lost answers", faults: func(p *proxied) {
			p.inject(p.reg, testkit.Fault{Method: "GET", Path: re(`/manifests/1\.0\.0-arm64$`), Drop: true, Times: 1})
			p.inject(p.reg, testkit.Fault{Method: "PUT", Path: re(`/manifests/(1\.0\.0|latest)$`), DropResponse: true, Times: 1})
			p.inject(p.reg, testkit.Fault{Method: "PUT", Path: re(`/manifests/sha256-`), DropResponse: true, Times: 1})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newProxiedWorld(t)
			failed := p.releaseThrough(t, func() { tc.faults(p) })
			injected := 0
			for _, r := range append(p.gh.Requests(), p.reg.Requests()...) {
				if r.Fault != "" {
					injected++
				}
			}
			if injected == 0 {
				t.Fatalf("no fault was injected")
			}
			for what, rules := range p.rules {
				n := 0
				for _, r := range rules {
					n += r.Injected()
				}
				if n == 0 {
					t.Errorf("fault %s never fired: the case does not test what it says", what)
				}
			}
			if got := canonical(p.state("1.0.0")); got != want {
				t.Fatalf("after faults the release ends elsewhere than without:\n%s", diff(got, want))
			}
			if n := len(p.sb.GitHub.Dispatches(sandbox.DownstreamRepo)); n < 1 || n > 2 {
				t.Fatalf("%d dispatches", n)
			}
			if tc.fails && failed == 0 {
				t.Fatalf("no run failed: the faults did not outlast the retries")
			}
			if tc.waits && p.clk.Slept() == 0 {
				t.Fatalf("no wait went through the fake clock")
			}
			t.Logf("%d faults injected, %d failed runs, %s waited on the fake clock", injected, failed, p.clk.Slept())
		})
	}
}
