package release_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/shipgate/shipgate/pipeline/githubserver"
	"github.com/shipgate/shipgate/pipeline/release"
	"github.com/shipgate/shipgate/pipeline/sandbox"
	"github.com/shipgate/shipgate/pipeline/step"
	"github.com/shipgate/shipgate/pipeline/testkit"
)

// BenchmarkPromote measures a whole promote — every gate, the lock, latest moved, the PR merged,
// the release published — as the next release of a line: 1.0.0 is promoted already and 1.1.0 is
// published and smoke-tested, in a fresh sandbox per iteration (set up off the clock). It runs in
// both registry lanes (referrers API, sha256-<hex> fallback tag), with Basic auth and with a token
// service in front of the registry (as ghcr.io has: tokens/op), and with floating tags (X.Y and X
// move too: the floating- metrics). It reports the HTTP requests per promote to each server and
// the registry bytes (manifests and bundles only: promote never moves a layer); "again" is a
// second promote of the same version, latest already in place.
func BenchmarkPromote(b *testing.B) {
	for _, referrers := range []bool{false, true} {
		for _, token := range []bool{false, true} {
			name := lane(referrers) + "/basic-auth"
			if token {
				name = lane(referrers) + "/token-auth"
			}
			b.Run(name, func(b *testing.B) {
				var first, again, floating promoteCost
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					for _, f := range []bool{false, true} {
						w := newWorld(b, sandbox.Options{Token: token, Referrers: referrers})
						w.env.Settings.FloatingTags = f
						w.shipPromoted("1.0.0")
						w.ship("1.1.0")
						if f {
							floating.add(b, w, "1.1.0", false)
						} else {
							first.add(b, w, "1.1.0", true)
							again.add(b, w, "1.1.0", false)
						}
						w.sb.Close() // now rather than when the benchmark ends: b.N sandboxes would pile up
					}
					b.StartTimer()
				}
				first.report(b, "", token)
				again.report(b, "again-", token)
				floating.report(b, "floating-", token)
			})
		}
	}
}

// promoteCost sums what promotes cost.
type promoteCost struct{ n, reg, gh, bytes, tokens int64 }

// add runs one promote of ver, timing it when timed.
func (c *promoteCost) add(b *testing.B, w *world, ver string, timed bool) {
	counter := testkit.NewCounter(nil)
	env := *w.env
	env.Transport = counter
	if w.sb.RegistryTokens != nil {
		w.sb.RegistryTokens.Reset()
	}
	if timed {
		b.StartTimer()
	}
	rep, err := release.Promote(context.Background(), &env, release.PromoteInput{Version: ver})
	b.StopTimer()
	if err != nil {
		b.Fatalf("promote: %v\n%s", err, render(rep))
	}
	gh, _ := url.Parse(w.sb.GitHub.URL())
	reg := counter.Host(w.sb.Registry)
	if reg.Requests+counter.Host(gh.Host).Requests != counter.Total().Requests {
		b.Fatalf("requests to other hosts:\n%s", counter)
	}
	c.n++
	c.reg += int64(reg.Requests)
	c.bytes += reg.BytesSent + reg.BytesReceived
	c.gh += int64(counter.Host(gh.Host).Requests)
	if w.sb.RegistryTokens != nil {
		c.tokens += int64(w.sb.RegistryTokens.Requests())
	}
}

func (c *promoteCost) report(b *testing.B, prefix string, tokens bool) {
	n := float64(c.n)
	b.ReportMetric(float64(c.reg)/n, prefix+"registry-requests/op")
	b.ReportMetric(float64(c.gh)/n, prefix+"github-requests/op")
	b.ReportMetric(float64(c.bytes)/n, prefix+"registry-B/op")
	if tokens {
		b.ReportMetric(float64(c.tokens)/n, prefix+"tokens/op")
	}
}

// BenchmarkHistory measures what a long-lived project pays: promote, status and a re-run of
// publish of 5.0.0 when the repository already holds 0, 1000 or 10000 published releases (and the
// downstream repository as many), and the image repository as many version tags. It reports the
// requests to GitHub and to the registry per phase; they must not grow with history.
func BenchmarkHistory(b *testing.B) {
	for _, n := range []int{0, 1000, 10000} {
		b.Run(fmt.Sprintf("history=%d", n), func(b *testing.B) {
			var gh, reg map[string]int64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				gh, reg = historyRun(b, n)
				b.StartTimer()
			}
			for _, ph := range []string{"publish-rerun", "status", "promote"} {
				b.ReportMetric(float64(gh[ph]), ph+"-github-requests/op")
				b.ReportMetric(float64(reg[ph]), ph+"-registry-requests/op")
			}
		})
	}
}

// historyRun seeds a world with n releases and tags, then runs the three phases once each,
// counting requests.
func historyRun(b *testing.B, n int) (gh, reg map[string]int64) {
	w := newWorld(b, sandbox.Options{})
	defer w.sb.Close()
	seedHistory(b, w, n)
	w.prepare("5.0.0")
	in := w.publishInput("5.0.0")
	idx := digestOf(w.publish("5.0.0"), "index")
	w.sb.PassSmokeTest("5.0.0", idx)
	ghURL, _ := url.Parse(w.sb.GitHub.URL())
	gh, reg = map[string]int64{}, map[string]int64{}
	count := func(phase string, run func(env *release.Env) (*step.Report, error)) {
		counter := testkit.NewCounter(nil)
		env := *w.env
		env.Transport = counter
		if rep, err := run(&env); err != nil {
			b.Fatalf("%s: %v\n%s", phase, err, render(rep))
		}
		gh[phase], reg[phase] = int64(counter.Host(ghURL.Host).Requests), int64(counter.Host(w.sb.Registry).Requests)
	}
	count("publish-rerun", func(env *release.Env) (*step.Report, error) { return release.Publish(w.ctx, env, in) })
	count("status", func(env *release.Env) (*step.Report, error) { return release.Status(w.ctx, env, "5.0.0") })
	count("promote", func(env *release.Env) (*step.Report, error) {
		return release.Promote(w.ctx, env, release.PromoteInput{Version: "5.0.0"})
	})
	return gh, reg
}

// seedHistory gives the repository, the downstream repository and the image repository n old
// releases: published GitHub releases v0.A.B, downstream smoke releases, and image tags 0.A.B
// (all holding one small manifest).
func seedHistory(b *testing.B, w *world, n int) {
	if n == 0 {
		return
	}
	img, err := random.Image(64, 1)
	if err != nil {
		b.Fatal(err)
	}
	if err := remote.Write(w.ref("0.0.0"), img, w.regOpts()...); err != nil {
		b.Fatal(err)
	}
	desc, err := remote.Get(w.ref("0.0.0"), w.regOpts()...)
	if err != nil {
		b.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		ver := fmt.Sprintf("0.%d.%d", i/1000, i%1000)
		w.sb.GitHub.CreateRelease(sandbox.Repo, githubserver.ReleaseSeed{Tag: "v" + ver, Name: "v" + ver, Body: "old"})
		w.sb.GitHub.CreateRelease(sandbox.DownstreamRepo, githubserver.ReleaseSeed{Tag: "v" + ver, Prerelease: true, Body: "smoke"})
		if err := remote.Put(w.ref(ver), desc, w.regOpts()...); err != nil {
			b.Fatal(err)
		}
	}
	if got := len(w.sb.GitHub.Releases(sandbox.Repo)); got < n {
		b.Fatalf("seeded %d releases, want %d", got, n)
	}
}

// BenchmarkPublish measures publish's registry part — builds pushed by the sandbox builder are
// not counted (they go through their own client), everything shipgate does is: the index, the
// signatures, SBOM and provenance attestations of 2 platforms — first, and re-run with
// everything done (which must upload 0 bytes). Both registry lanes.
func BenchmarkPublish(b *testing.B) {
	for _, referrers := range []bool{false, true} {
		b.Run(lane(referrers), func(b *testing.B) {
			var first, rerun, rerunSent int64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				w := newWorld(b, sandbox.Options{Referrers: referrers})
				w.prepare("1.0.0")
				run := func() testkit.Stats {
					counter := testkit.NewCounter(nil)
					env := *w.env
					env.Transport = counter
					if rep, err := release.Publish(w.ctx, &env, w.publishInput("1.0.0")); err != nil {
						b.Fatalf("publish: %v\n%s", err, render(rep))
					}
					return counter.Host(w.sb.Registry)
				}
				b.StartTimer()
				s := run()
				b.StopTimer()
				first += int64(s.Requests)
				s = run()
				rerun += int64(s.Requests)
				rerunSent += s.BytesSent
				w.sb.Close()
			}
			n := float64(b.N)
			b.ReportMetric(float64(first)/n, "registry-requests/op")
			b.ReportMetric(float64(rerun)/n, "rerun-registry-requests/op")
			b.ReportMetric(float64(rerunSent)/n, "rerun-sent-B/op")
		})
	}
}

// BenchmarkManyReferrers measures promote when the index carries 0, 100 or 1000 referrers of
// other tools besides shipgate's own bundles (re-signing, scanners): the registry requests must not
// grow with them beyond the listing's pages. Both lanes: the referrers API (pages of 100) and the
// sha256-<hex> fallback tag.
func BenchmarkManyReferrers(b *testing.B) {
	for _, referrers := range []bool{false, true} {
		for _, n := range []int{0, 100, 1000} {
			b.Run(fmt.Sprintf("%s/referrers=%d", lane(referrers), n), func(b *testing.B) {
				var cost promoteCost
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					w := newWorld(b, sandbox.Options{Referrers: referrers})
					idx := w.ship("1.0.0")
					addReferrers(b, w, idx, n, referrers)
					cost.add(b, w, "1.0.0", true)
					w.sb.Close()
				}
				cost.report(b, "", false)
			})
		}
	}
}

// addReferrers gives the index n small referrers of another tool's artifact type: as manifests
// with a subject (the referrers API lists them) or in the sha256-<hex> fallback index.
func addReferrers(b *testing.B, w *world, index string, n int, api bool) {
	if n == 0 {
		return
	}
	subject, err := remote.Head(w.digestRef(index), w.regOpts()...)
	if err != nil {
		b.Fatal(err)
	}
	fallback := w.ref(strings.Replace(index, ":", "-", 1))
	var idx v1.ImageIndex
	if !api {
		if idx, err = remote.Index(fallback, w.regOpts()...); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < n; i++ {
		img := mutate.Subject(mutate.ConfigMediaType(mutate.Annotations(empty.Image, map[string]string{"n": fmt.Sprint(i)}).(v1.Image), "application/vnd.example.scan+json"), *subject).(v1.Image)
		d, _ := img.Digest()
		if err := remote.Write(w.digestRef(d.String()), img, w.regOpts()...); err != nil {
			b.Fatal(err)
		}
		if !api {
			idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{ArtifactType: "application/vnd.example.scan+json"}})
		}
	}
	if !api {
		if err := remote.WriteIndex(fallback, idx, w.regOpts()...); err != nil {
			b.Fatal(err)
		}
	}
}
