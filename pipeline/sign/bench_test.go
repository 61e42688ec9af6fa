package sign

import (
	"testing"
	"time"

	"github.com/shipgate/shipgate/pipeline/registry"
	"github.com/shipgate/shipgate/pipeline/sign/signtest"
	"github.com/shipgate/shipgate/pipeline/testkit"
)

// modes are the three ways of signing, each with the policy that accepts it.
func modes(t testing.TB) []struct {
	name   string
	signer Signer
	policy Policy
} {
	key := newTestKey(t)
	f := signtest.New(t)
	keyless := standInSigner(t, f)
	kp := DefaultKeylessPolicy("shipgate/demo", ".github/workflows/release.yml", "")
	kp.TrustedRootJSON = f.TrustedRoot()
	return []struct {
		name   string
		signer Signer
		policy Policy
	}{
		{"key", key.signer(t, KeyOptions{DisableTlogUpload: true}), key.offlinePolicy()},
		{"key+rekor", key.signer(t, KeyOptions{RekorURL: f.RekorURL()}), Policy{PublicKeyPEM: key.public, TrustedRootJSON: f.RekorOnlyRoot()}},
		{"keyless", keyless, kp},
	}
}

// TestBundleSizes records the size of each kind of bundle in each mode, and keeps them small: a
// promote reads them all.
func TestBundleSizes(t *testing.T) {
	host := testkit.Registry(t, testkit.RegistryOptions{})
	for _, m := range modes(t) {
		r := pushRelease(t, host)
		st := storeOn(host)
		publish(t, st, r, m.signer, finalizeCommit)
		reqs, err := st.VerifyRelease(t.Context(), r.index, r.platforms, finalizeCommit, m.policy)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range reqs {
			if q.Of == "linux/arm64" {
				continue
			}
			var sbom int
			if q.What == "sbom" {
				sbom = len(spdx(q.Of))
			}
			t.Logf("%-9s %-10s bundle %5d bytes (predicate %d bytes)", m.name, q.What, q.BundleSize, sbom)
			// Overhead beyond the predicate: base64 of the statement plus key or certificate,
			// signature and log entry.
			if over := q.BundleSize - sbom*4/3; over > 8<<10 {
				t.Errorf("%s %s bundle is %d bytes over its predicate", m.name, q.What, over)
			}
		}
	}
}

// BenchmarkVerifyRelease measures a promote's signature gate: six requirements over one index
// and two platforms (six bundles, four looked up at a time), per release and per bundle. Each
// operation is a phase of its own: a new Store, which lists every subject again.
func BenchmarkVerifyRelease(b *testing.B) {
	for _, l := range lanes {
		for _, m := range modes(b) {
			b.Run(l.name+"/"+m.name, func(b *testing.B) {
				host := l.start(b)
				r := pushRelease(b, host)
				publish(b, storeOn(host), r, m.signer, finalizeCommit)
				c := testkit.NewCounter(nil)
				ctx := b.Context()
				b.ResetTimer()
				start := time.Now()
				for i := 0; i < b.N; i++ {
					if _, err := storeOn(host, registry.WithTransport(c)).VerifyRelease(ctx, r.index, r.platforms, finalizeCommit, m.policy); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N)/6, "wall-µs/bundle")
				testkit.ReportPerOp(b, c.Total())
			})
		}
	}
}

// BenchmarkSigned is publish's observe for one digest that is already signed, in a phase of its
// own (a new Store per operation).
func BenchmarkSigned(b *testing.B) {
	eachLane(b, lanes[:2], func(b *testing.B, fx laneFixture) {
		r, key := fx.r, fx.key
		if err := fx.st.Sign(b.Context(), r.index, key.signer(b, KeyOptions{DisableTlogUpload: true})); err != nil {
			b.Fatal(err)
		}
		c := testkit.NewCounter(nil)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if ok, err := storeOn(fx.host, registry.WithTransport(c)).Signed(b.Context(), r.index, key.offlinePolicy()); err != nil || !ok {
				b.Fatal(ok, err)
			}
		}
		testkit.ReportPerOp(b, c.Total())
	})
}
