package sign

// The store on the registry client's stack: one retry policy on the injected clock, failures
// classified where they happen, secrets scrubbed on the signature path too.

import (
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/shipgate/shipgate/pipeline/clock"
	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/registry"
	"github.com/shipgate/shipgate/pipeline/testkit"
	"github.com/shipgate/shipgate/pipeline/version"
)

var storeEpoch = time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)

// stackEnv is a registry behind a fault proxy, a registry client on a fake clock talking to the
// proxy, and a store built on that client.
type stackEnv struct {
	proxy *testkit.FaultProxy
	clock *clock.Fake
	logs  *testkit.Logs
	store *Store
	r     release
	opts  []registry.Option
}

// newPhase is a store of a phase run after the one of e.store: on a client of its own, with the
// same options, so that nothing the first phase read is kept.
func (e *stackEnv) newPhase() *Store {
	return NewRegistryStore(registry.New(e.opts...), e.clock)
}

func newStackEnv(t *testing.T, o testkit.RegistryOptions) *stackEnv {
	t.Helper()
	upstream := testkit.Registry(t, o)
	e := &stackEnv{proxy: testkit.NewFaultProxy(t, "http://"+upstream), clock: clock.NewFake(storeEpoch), logs: &testkit.Logs{}}
	opts := []registry.Option{registry.WithInsecureHosts(e.proxy.Host()), registry.WithClock(e.clock), registry.WithLogger(slog.New(slog.NewTextHandler(e.logs, nil)))}
	var push []remote.Option
	if o.Username != "" {
		opts = append(opts, registry.WithAuth(o.Username, o.Password))
		push = append(push, remote.WithAuth(&authn.Basic{Username: o.Username, Password: o.Password}))
	}
	e.store, e.opts = NewRegistryStore(registry.New(opts...), e.clock), opts
	e.r = pushRelease(t, e.proxy.Host(), push...)
	return e
}

// A registry outage while verifying is "could not reach", not a refusal, and its retries wait on
// the injected clock (backoffs of 1 s, 2 s, 4 s and 8 s), none of them in real time.
func TestRegistryOutageWhileVerifyingIsUnreachable(t *testing.T) {
	for _, referrersAPI := range []bool{true, false} {
		t.Run(map[bool]string{true: "referrers-api", false: "tag-fallback"}[referrersAPI], func(t *testing.T) {
			e := newStackEnv(t, testkit.RegistryOptions{Referrers: referrersAPI})
			key := newTestKey(t)
			publish(t, e.store, e.r, key.signer(t, KeyOptions{DisableTlogUpload: true}), finalizeCommit)
			down := e.proxy.Inject(testkit.Fault{Method: "GET", Path: regexp.MustCompile(`/referrers/|/manifests/sha256-`), Status: 503})

			// Promote is another phase: it lists again (what publish's store kept is not used).
			st := e.newPhase()
			reqs, err := st.VerifyRelease(t.Context(), e.r.index, e.r.platforms, finalizeCommit, key.offlinePolicy())
			var rerr *ReleaseError
			if err == nil || errors.As(err, &rerr) || fault.Of(err) != fault.Unreachable {
				t.Fatalf("verify during an outage: class %v, error %v, requirements %v", fault.Of(err), err, reqs)
			}
			if down.Injected() < registry.DefaultRetries+1 {
				t.Fatalf("the outage answered %d requests, want at least %d (1 + retries)", down.Injected(), registry.DefaultRetries+1)
			}
			// Each request waited 1 s, 2 s, 4 s, 8 s on the fake clock (lookups run side by side).
			got := e.clock.Sleeps()
			for _, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second} {
				if !slices.Contains(got, want) {
					t.Fatalf("retries did not wait %v on the injected clock: %v", want, got)
				}
			}
			// A failed listing is not kept: the store asks again, and again after the outage.
			ok, err := st.Signed(t.Context(), e.r.index, key.offlinePolicy())
			if ok || fault.Of(err) != fault.Unreachable {
				t.Fatalf("Signed during an outage: %v, class %v, error %v", ok, fault.Of(err), err)
			}
			e.proxy.Clear()
			if _, err := st.VerifyRelease(t.Context(), e.r.index, e.r.platforms, finalizeCommit, key.offlinePolicy()); err != nil {
				t.Fatalf("after the outage: %v", err)
			}
		})
	}
}

// What the registry holds decides the class: a bundle that does not verify is a refusal, a
// malformed one could not be read.
func TestVerificationFailuresAreClassified(t *testing.T) {
	e := newStackEnv(t, testkit.RegistryOptions{})
	key, other := newTestKey(t), newTestKey(t)
	publish(t, e.store, e.r, key.signer(t, KeyOptions{DisableTlogUpload: true}), finalizeCommit)

	_, err := e.store.VerifyRelease(t.Context(), e.r.index, e.r.platforms, finalizeCommit, other.offlinePolicy())
	var rerr *ReleaseError
	if !errors.As(err, &rerr) || fault.Of(err) != fault.Refused || len(rerr.Failed) != rerr.Total {
		t.Fatalf("wrong key: class %v, %v", fault.Of(err), err)
	}

	// A digest whose only signature is not a bundle at all.
	r2 := pushRelease(t, e.proxy.Host())
	cn := testConn(t, e.store)
	desc, err := remote.Head(r2.index, cn.opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.putReferrer(t.Context(), cn, r2.index, *desc, []byte(`{"mediaType":"not a bundle"`), SignaturePredicateType); err != nil {
		t.Fatal(err)
	}
	ok, err := e.store.Signed(t.Context(), r2.index, key.offlinePolicy())
	if ok || fault.Of(err) != fault.Unreadable {
		t.Fatalf("malformed bundle: %v, class %v, error %v", ok, fault.Of(err), err)
	}
	// Next to a good signature, the malformed bundle changes nothing.
	if err := e.store.Sign(t.Context(), r2.index, key.signer(t, KeyOptions{DisableTlogUpload: true})); err != nil {
		t.Fatal(err)
	}
	if ok, err := e.store.Signed(t.Context(), r2.index, key.offlinePolicy()); !ok || err != nil {
		t.Fatalf("good signature next to a malformed one: %v %v", ok, err)
	}
}

// A registry error body that echoes the Authorization header never reaches an error or a log
// through the signature store, on reads and on writes.
func TestSignaturePathScrubsEchoedCredentials(t *testing.T) {
	const user = "ci-bot"
	password := "registry-pw-" + randHex(t, 8)
	e := newStackEnv(t, testkit.RegistryOptions{Username: user, Password: password})
	key := newTestKey(t)
	basic := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
	echo := `{"errors":[{"code":"DENIED","message":"denied: request had Authorization: Basic ` + basic + ` (password ` + password + `)"}]}`

	read := e.proxy.Inject(testkit.Fault{Method: "GET", Path: regexp.MustCompile(`/manifests/sha256-`), Times: 1, Status: 403, Body: echo})
	_, readErr := e.store.Signed(t.Context(), e.r.index, key.offlinePolicy())
	write := e.proxy.Inject(testkit.Fault{Method: "PUT", Path: regexp.MustCompile(`/manifests/`), Times: 1, Status: 403, Body: echo})
	writeErr := e.store.Sign(t.Context(), e.r.index, key.signer(t, KeyOptions{DisableTlogUpload: true}))
	if read.Injected() != 1 || write.Injected() != 1 {
		t.Fatalf("faults fired %d and %d times, want 1 each", read.Injected(), write.Injected())
	}
	for what, err := range map[string]error{"read": readErr, "write": writeErr} {
		if fault.Of(err) != fault.Unreadable {
			t.Errorf("%s: class %v, want could not read: %v", what, fault.Of(err), err)
		}
		var regErr *registry.Error
		if !errors.As(err, &regErr) || regErr.Status != 403 {
			t.Errorf("%s: not the registry client's error: %v", what, err)
		}
		t.Logf("%s error: %v", what, err)
	}
	testkit.AssertNoSecret(t, password, readErr, writeErr, e.logs)
	testkit.AssertNoSecret(t, basic, readErr, writeErr, e.logs)
}

// The referrers the store writes are dated by the injected clock.
func TestReferrersAreDatedByTheInjectedClock(t *testing.T) {
	e := newStackEnv(t, testkit.RegistryOptions{Referrers: true})
	e.clock.Advance(90 * time.Minute)
	if err := e.store.Sign(t.Context(), e.r.index, newTestKey(t).signer(t, KeyOptions{DisableTlogUpload: true})); err != nil {
		t.Fatal(err)
	}
	listed, err := e.store.listing(t.Context(), e.r.index)
	if err != nil || len(listed) != 1 {
		t.Fatalf("referrers: %v %v", err, listed)
	}
	if got, want := listed[0].Annotations[AnnotationCreated], storeEpoch.Add(90*time.Minute).Format(time.RFC3339); got != want {
		t.Fatalf("created %s, want the injected clock's %s", got, want)
	}
}

// BenchmarkVerifyReleaseOnClientStack is promote's signature gate as a phase runs it: a fresh
// registry client (one session) and a store on it, per operation; six requirements over three
// subjects, each subject's referrers listed once.
func BenchmarkVerifyReleaseOnClientStack(b *testing.B) {
	eachLane(b, lanes, func(b *testing.B, fx laneFixture) {
		host, r, key := fx.host, fx.r, fx.key
		publish(b, fx.st, r, key.signer(b, KeyOptions{DisableTlogUpload: true}), finalizeCommit)
		c := testkit.NewCounter(nil)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			reg := registry.New(registry.WithInsecureHosts(host), registry.WithTransport(c))
			if _, err := NewRegistryStore(reg, nil).VerifyRelease(b.Context(), r.index, r.platforms, finalizeCommit, key.offlinePolicy()); err != nil {
				b.Fatal(err)
			}
		}
		testkit.ReportPerOp(b, c.Total())
	})
}

// BenchmarkPromoteRegistryPart is all of promote's registry traffic as one phase on one client:
// check the index, verify the release's bundles, plan and move latest (reset before each
// operation, not counted).
func BenchmarkPromoteRegistryPart(b *testing.B) {
	for _, l := range lanes {
		b.Run(l.name, func(b *testing.B) {
			host := l.start(b)
			old := pushRelease(b, host) // what latest holds before; 1.2.3 is then pushed again
			r := pushRelease(b, host)
			key := newTestKey(b)
			publish(b, storeOn(host), r, key.signer(b, KeyOptions{DisableTlogUpload: true}), finalizeCommit)
			v := version.MustParse("1.2.3")
			plats := []version.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}}
			// References as the release layer makes them for a --plain-http registry.
			index, platforms := plainHTTP(b, r.index), map[string]name.Digest{}
			for p, d := range r.platforms {
				platforms[p] = plainHTTP(b, d)
			}
			c := testkit.NewCounter(nil)
			var total testkit.Stats
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				desc, err := remote.Get(old.index)
				if err != nil {
					b.Fatal(err)
				}
				if err := remote.Tag(r.repo.Tag("latest"), desc); err != nil {
					b.Fatal(err)
				}
				c.Reset()
				b.StartTimer()
				reg := registry.New(registry.WithInsecureHosts(host), registry.WithTransport(c))
				chk, err := reg.CheckIndex(b.Context(), r.repo.Name(), v, plats)
				if err != nil || !chk.OK() {
					b.Fatal(err, chk.Err())
				}
				if _, err := NewRegistryStore(reg, nil).VerifyRelease(b.Context(), index, platforms, finalizeCommit, key.offlinePolicy()); err != nil {
					b.Fatal(err)
				}
				plan, err := reg.PlanTags(b.Context(), r.repo.Name(), v, chk.Digest, registry.TagOptions{AllowUnknownLatest: true})
				if err != nil || len(plan.Moves) != 1 {
					b.Fatal(err, plan)
				}
				if err := reg.ApplyTags(b.Context(), plan); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				total = testkit.Stats{Requests: total.Requests + c.Total().Requests, BytesSent: total.BytesSent + c.Total().BytesSent, BytesReceived: total.BytesReceived + c.Total().BytesReceived}
				b.StartTimer()
			}
			testkit.ReportPerOp(b, total)
		})
	}
}

// plainHTTP is d for a registry reached over plain HTTP, as the release layer names it.
func plainHTTP(tb testing.TB, d name.Digest) name.Digest {
	tb.Helper()
	n, err := name.NewDigest(d.String(), name.Insecure)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// A registry hiccup while storing a signature is retried on the client's stack: the bundle's
// upload is started again, waiting on the injected clock.
func TestSignatureUploadIsRetriedOnTheClientClock(t *testing.T) {
	e := newStackEnv(t, testkit.RegistryOptions{})
	key := newTestKey(t)
	hiccup := e.proxy.Inject(testkit.Fault{Method: "PATCH", Path: regexp.MustCompile(`/blobs/uploads/`), Times: 1, Status: 503})
	lost := e.proxy.Inject(testkit.Fault{Method: "PUT", Path: regexp.MustCompile(`/manifests/sha256:`), Times: 1, DropResponse: true})
	if err := e.store.Sign(t.Context(), e.r.index, key.signer(t, KeyOptions{DisableTlogUpload: true})); err != nil {
		t.Fatalf("sign through a 503 and a lost answer: %v", err)
	}
	if hiccup.Injected() != 1 || lost.Injected() != 1 {
		t.Fatalf("faults fired %d and %d times, want 1 each", hiccup.Injected(), lost.Injected())
	}
	if len(e.clock.Sleeps()) < 2 {
		t.Fatalf("the retries did not wait on the injected clock: %v", e.clock.Sleeps())
	}
	if ok, err := e.store.Signed(t.Context(), e.r.index, key.offlinePolicy()); !ok || err != nil {
		t.Fatalf("Signed after the retries: %v %v", ok, err)
	}
}

// A proxy that answers the sha256-<hex> referrers tag with a page (200, text/html) has not said
// what the tag holds: signing fails "could not read", naming --image and the proxy, and never
// advises deleting the tag (only another tool's manifest there earns that advice).
// Both reads meet it: the listing's (first GET), and the one before the tag is written (second).
func TestFallbackTagAnsweredWithAPage(t *testing.T) {
	for skip, when := range []string{"listing", "before the write"} {
		t.Run(when, func(t *testing.T) {
			e := newStackEnv(t, testkit.RegistryOptions{})
			page := e.proxy.Inject(testkit.Fault{Method: "GET", Path: regexp.MustCompile(`/manifests/sha256-`), Skip: skip, Status: 200, Header: http.Header{"Content-Type": {"text/html"}}, Body: "<html>sign in</html>"})
			err := e.store.Sign(t.Context(), e.r.index, newTestKey(t).signer(t, KeyOptions{DisableTlogUpload: true}))
			if fault.Of(err) != fault.Unreadable || !strings.Contains(err.Error(), `"text/html"`) || !strings.Contains(err.Error(), "proxy") || strings.Contains(err.Error(), "delete that tag") {
				t.Fatalf("Sign over a page: class %v, %v", fault.Of(err), err)
			}
			if page.Injected() == 0 {
				t.Fatal("the page was never served")
			}
		})
	}
}

// A referrers tag labelled an index whose body does not parse could not be read: said so, not
// "holds an index, not an index of referrers".
func TestFallbackTagThatDoesNotParse(t *testing.T) {
	e := newStackEnv(t, testkit.RegistryOptions{})
	broken := e.proxy.Inject(testkit.Fault{Method: "GET", Path: regexp.MustCompile(`/manifests/sha256-`), Status: 200, Header: http.Header{"Content-Type": {string(types.OCIImageIndex)}}, Body: "{"})
	err := e.store.Sign(t.Context(), e.r.index, newTestKey(t).signer(t, KeyOptions{DisableTlogUpload: true}))
	if fault.Of(err) != fault.Unreadable || !strings.Contains(err.Error(), "labelled an index but cannot be read") || broken.Injected() == 0 {
		t.Fatalf("Sign over a broken index: class %v, %v (served %d)", fault.Of(err), err, broken.Injected())
	}
}
