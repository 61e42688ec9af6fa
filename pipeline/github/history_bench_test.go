package github

import (
	"fmt"
	"testing"

	"github.com/shipgate/shipgate/pipeline/config"
	"github.com/shipgate/shipgate/pipeline/githubserver"
)

// historyEnv is an env whose source and downstream repositories hold n published releases each
// (older versions), then release 1.2.3: a draft in acme/app and the smoke test's pre-release in
// acme/smoke; acme/app also holds published release v1.2.2.
func historyEnv(b testing.TB, n int) *env {
	e, commit := finalizedEnv(b, githubserver.Options{}, githubserver.RepoOptions{})
	for i := 0; i < n; i++ {
		tag := fmt.Sprintf("v0.%d.%d", i/100, i%100)
		e.srv.CreateRelease("acme/app", githubserver.ReleaseSeed{Tag: tag, Name: tag})
		e.srv.CreateRelease("acme/smoke", githubserver.ReleaseSeed{Tag: tag, Name: tag, Prerelease: true})
	}
	e.srv.CreateRelease("acme/app", githubserver.ReleaseSeed{Tag: "v1.2.2", Name: "v1.2.2", MakeLatest: true})
	if _, _, err := e.c.EnsureDraft(e.ctx, app, v123, commit, notes, State{IndexDigest: digest}); err != nil {
		b.Fatal(err)
	}
	e.srv.CreateRelease("acme/smoke", githubserver.ReleaseSeed{Tag: "v1.2.3", Name: "smoke " + digest, Prerelease: true})
	return e
}

// BenchmarkHistory reports the GitHub requests of each lookup promote, status and a publish re-run
// make, at 0, 1000 and 10,000 releases of history: they must not grow with it. 304s/op counts
// those answered 304 Not Modified (conditional reads of what the client read before: free of
// rate limit on GitHub).
func BenchmarkHistory(b *testing.B) {
	lookups := []struct {
		name string
		run  func(e *env) error
	}{
		{"FindRelease/draft", func(e *env) error {
			rel, err := e.c.FindRelease(e.ctx, app, "v1.2.3")
			if err == nil && (rel == nil || !rel.Draft) {
				err = fmt.Errorf("draft not found: %+v", rel)
			}
			return err
		}},
		{"FindRelease/published", func(e *env) error {
			rel, err := e.c.FindRelease(e.ctx, app, "v1.2.2")
			if err == nil && (rel == nil || rel.Draft) {
				err = fmt.Errorf("published release not found: %+v", rel)
			}
			return err
		}},
		{"FindRelease/absent", func(e *env) error {
			rel, err := e.c.FindRelease(e.ctx, app, "v9.9.9")
			if err == nil && rel != nil {
				err = fmt.Errorf("found %+v", rel)
			}
			return err
		}},
		{"EnsureDraft/re-run", func(e *env) error {
			_, changed, err := e.c.EnsureDraft(e.ctx, app, v123, e.head("release/1.2.3"), notes, State{IndexDigest: digest})
			if err == nil && changed {
				err = fmt.Errorf("a re-run changed the draft")
			}
			return err
		}},
		{"IsHighest", func(e *env) error {
			hi, err := e.c.IsHighest(e.ctx, app, v123)
			if err == nil && !hi {
				err = fmt.Errorf("1.2.3 is not the highest")
			}
			return err
		}},
		{"LatestRelease", func(e *env) error {
			rel, err := e.c.LatestRelease(e.ctx, app)
			if err == nil && (rel == nil || rel.Tag != "v1.2.2") {
				err = fmt.Errorf("latest %+v", rel)
			}
			return err
		}},
		{"DownstreamResult", func(e *env) error {
			res, err := e.down.DownstreamResult(e.ctx, down, v123, digest, "", config.GatePrerelease, true)
			if err == nil && !res.Passed {
				err = fmt.Errorf("gate: %s", res.Reason)
			}
			return err
		}},
	}
	for _, n := range []int{0, 1000, 10000} {
		e := historyEnv(b, n)
		for _, l := range lookups {
			b.Run(fmt.Sprintf("%s/releases=%d", l.name, n), func(b *testing.B) {
				e.srv.ResetRequests()
				for i := 0; i < b.N; i++ {
					if err := l.run(e); err != nil {
						b.Fatal(err)
					}
				}
				n := e.srv.Counts()
				b.ReportMetric(float64(n.Requests)/float64(b.N), "requests/op")
				b.ReportMetric(float64(n.NotModified)/float64(b.N), "304s/op")
			})
		}
	}
}
