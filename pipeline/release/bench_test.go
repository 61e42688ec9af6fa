package release_test

import (
	"context"
	"net/url"
	"testing"

	"github.com/shipgate/shipgate/pipeline/release"
	"github.com/shipgate/shipgate/pipeline/sandbox"
	"github.com/shipgate/shipgate/pipeline/testkit"
)

// BenchmarkPromote measures a whole promote — every gate, the lock, latest and the floating tags
// moved, the PR merged, the release published — as the next release of a line: 1.0.0 is promoted
// already and 1.1.0 is published and smoke-tested, in a fresh sandbox per iteration (set up off
// the clock). It reports the HTTP requests per promote to each server, and the registry bytes
// (manifests and bundles only: promote never moves a layer).
func BenchmarkPromote(b *testing.B) {
	var regReq, ghReq, regBytes int64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		w := newWorld(b, sandbox.Options{})
		sb := w.sb
		w.ship("1.0.0")
		w.mustPromote("1.0.0")
		w.ship("1.1.0")
		counter := testkit.NewCounter(nil)
		env := *w.env
		env.Transport = counter
		b.StartTimer()
		rep, err := release.Promote(context.Background(), &env, release.PromoteInput{Version: "1.1.0"})
		b.StopTimer()
		if err != nil {
			b.Fatalf("promote: %v\n%s", err, render(rep))
		}
		gh, _ := url.Parse(sb.GitHub.URL())
		reg := counter.Host(sb.Registry)
		regReq += int64(reg.Requests)
		regBytes += reg.BytesSent + reg.BytesReceived
		ghReq += int64(counter.Host(gh.Host).Requests)
		if reg.Requests+counter.Host(gh.Host).Requests != counter.Total().Requests {
			b.Fatalf("requests to other hosts:\n%s", counter)
		}
		sb.Close() // now rather than when the benchmark ends: b.N sandboxes would pile up
		b.StartTimer()
	}
	n := float64(b.N)
	b.ReportMetric(float64(regReq)/n, "registry-requests/op")
	b.ReportMetric(float64(ghReq)/n, "github-requests/op")
	b.ReportMetric(float64(regBytes)/n, "registry-B/op")
}
