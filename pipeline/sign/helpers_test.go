package sign

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/shipgate/shipgate/pipeline/provenance"
	"github.com/shipgate/shipgate/pipeline/registry"
	"github.com/shipgate/shipgate/pipeline/sign/signtest"
	"github.com/shipgate/shipgate/pipeline/testkit"
)

// lane is one kind of registry the tests run against.
type lane struct {
	name string
	// start returns host:port of a fresh registry.
	start func(t testing.TB) string
	// referrers says whether the registry has the OCI referrers API.
	referrers bool
}

var lanes = []lane{
	{"referrers-api", func(t testing.TB) string { return testkit.Registry(t, testkit.RegistryOptions{Referrers: true}) }, true},
	{"tag-fallback", func(t testing.TB) string { return testkit.Registry(t, testkit.RegistryOptions{Referrers: false}) }, false},
	{"distribution", func(t testing.TB) string { return testkit.RegistryProcess(t, testkit.RegistryOptions{}) }, false},
}

// laneFixture is what a test in one registry lane starts from: a fresh registry of the lane with
// a release pushed to it, a new key and a new store.
type laneFixture struct {
	lane lane
	host string
	r    release
	key  testKey
	st   *Store
}

// setUp starts a registry of l, pushes a release to it, and makes a key and a store.
func setUp(tb testing.TB, l lane) laneFixture {
	tb.Helper()
	host := l.start(tb)
	return laneFixture{lane: l, host: host, r: pushRelease(tb, host), key: newTestKey(tb), st: storeOn(host)}
}

// storeOn is a Store as a phase makes one (see pipeline/release's world.registry): on a registry
// client of its own that reaches host, a test registry over plain HTTP, with opts.
func storeOn(host string, opts ...registry.Option) *Store {
	return NewRegistryStore(registry.New(append([]registry.Option{registry.WithInsecureHosts(host)}, opts...)...), nil)
}

// runner is *testing.T or *testing.B: what runs subtests (or sub-benchmarks) of its own kind.
type runner[T any] interface {
	testing.TB
	Run(name string, f func(T)) bool
}

// eachLane runs f, as a subtest or sub-benchmark of tb named after the lane, on a fixture set up
// for each lane of ls.
func eachLane[T runner[T]](tb T, ls []lane, f func(T, laneFixture)) {
	tb.Helper()
	for _, l := range ls {
		tb.Run(l.name, func(tb T) { f(tb, setUp(tb, l)) })
	}
}

// release is a pushed multi-platform image: its index and platform manifests.
type release struct {
	repo      name.Repository
	index     name.Digest
	platforms map[string]name.Digest
}

// pushRelease pushes an index of two small random platform images to host/shipgate/demo, tagged
// 1.2.3, as publish would.
func pushRelease(t testing.TB, host string, opts ...remote.Option) release {
	t.Helper()
	repo, err := name.NewRepository(host + "/shipgate/demo")
	if err != nil {
		t.Fatal(err)
	}
	r := release{repo: repo, platforms: map[string]name.Digest{}}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, arch := range []string{"amd64", "arm64"} {
		img, err := random.Image(512, 1)
		if err != nil {
			t.Fatal(err)
		}
		img = mutate.MediaType(img, types.OCIManifestSchema1)
		img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
		if err := remote.Write(repo.Tag("1.2.3-"+arch), img, opts...); err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		r.platforms["linux/"+arch] = repo.Digest(d.String())
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	if err := remote.WriteIndex(repo.Tag("1.2.3"), idx, opts...); err != nil {
		t.Fatal(err)
	}
	d, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	r.index = repo.Digest(d.String())
	return r
}

// referrersOf lists the referrers of d as a registry client reads them: through the referrers
// API, or the sha256-<hex> index tag where the registry has none.
func referrersOf(tb testing.TB, d name.Digest) []v1.Descriptor {
	tb.Helper()
	idx, err := remote.Referrers(d)
	if err != nil {
		tb.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		tb.Fatal(err)
	}
	return im.Manifests
}

// manifestAt reads the manifest ref names: as stored, and as parse reads it (v1.ParseManifest,
// v1.ParseIndexManifest).
func manifestAt[M any](tb testing.TB, ref name.Reference, parse func(io.Reader) (M, error)) ([]byte, M) {
	tb.Helper()
	got, err := remote.Get(ref)
	if err != nil {
		tb.Fatal(err)
	}
	m, err := parse(bytes.NewReader(got.Manifest))
	if err != nil {
		tb.Fatal(err)
	}
	return got.Manifest, m
}

// testKey is a key pair in cosign's format: the private key encrypted with the password.
type testKey struct {
	private, public, password []byte
}

// newTestKey makes an ECDSA P-256 key encrypted as `cosign generate-key-pair` does (scrypt +
// secretbox via go-securesystemslib, PEM "ENCRYPTED SIGSTORE PRIVATE KEY").
func newTestKey(t testing.TB) testKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	pw := []byte("pw-" + randHex(t, 8))
	enc, err := encrypted.Encrypt(der, pw)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := cryptoutils.MarshalPublicKeyToPEM(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return testKey{
		private:  pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED SIGSTORE PRIVATE KEY", Bytes: enc}),
		public:   pub,
		password: pw,
	}
}

func (k testKey) signer(t testing.TB, o KeyOptions) Signer {
	t.Helper()
	s, err := NewKeySigner(k.private, k.password, o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// offlinePolicy accepts key signatures without a transparency log.
func (k testKey) offlinePolicy() Policy { return Policy{PublicKeyPEM: k.public, IgnoreTlog: true} }

const finalizeCommit = "0123456789abcdef0123456789abcdef01234567"

// spdx is a small SPDX JSON document for a platform.
func spdx(platform string) []byte {
	return []byte(fmt.Sprintf(`{"spdxVersion":"SPDX-2.3","dataLicense":"CC0-1.0","SPDXID":"SPDXRef-DOCUMENT","name":"demo %s","documentNamespace":"https://example.com/demo/%s","creationInfo":{"created":"2026-11-20T10:00:00Z","creators":["Tool: syft-1.18.0"]},"packages":[{"name":"busybox","SPDXID":"SPDXRef-Package-busybox","versionInfo":"1.36.1","downloadLocation":"NOASSERTION"}]}`, platform, strings.ReplaceAll(platform, "/", "-")))
}

func provenanceFor(t testing.TB, commit string) []byte {
	t.Helper()
	p, err := provenance.Predicate(provenance.Facts{
		SourceRepo: "shipgate/demo", Commit: commit, Ref: "refs/heads/release/1.2.3", Version: "1.2.3",
		Workflow: ".github/workflows/release.yml", RunID: "77", RunAttempt: "1",
		BuilderID:  "https://github.com/shipgate/demo/.github/workflows/release.yml@refs/heads/release/1.2.3",
		Dockerfile: "Dockerfile", Platforms: []string{"linux/amd64", "linux/arm64"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// publish signs and attests a release as publish does: signatures on the index and each
// platform, an SBOM per platform, provenance on the index naming every digest.
func publish(t testing.TB, st *Store, r release, sg Signer, commit string) {
	t.Helper()
	ctx := t.Context()
	if err := st.Sign(ctx, r.index, sg); err != nil {
		t.Fatalf("sign index: %v", err)
	}
	var all []name.Digest
	for _, p := range slices.Sorted(maps.Keys(r.platforms)) {
		d := r.platforms[p]
		all = append(all, d)
		if err := st.Sign(ctx, d, sg); err != nil {
			t.Fatalf("sign %s: %v", p, err)
		}
		if err := st.Attest(ctx, d, SPDXPredicateType, spdx(p), sg); err != nil {
			t.Fatalf("attest SBOM %s: %v", p, err)
		}
	}
	if err := st.Attest(ctx, r.index, ProvenancePredicateType, provenanceFor(t, commit), sg, all...); err != nil {
		t.Fatalf("attest provenance: %v", err)
	}
}

func staticLayer(b []byte, mt string) v1.Layer { return static.NewLayer(b, types.MediaType(mt)) }

// standInSigner is a keyless signer through the stand-in sigstore f (see keylessOptions).
func standInSigner(tb testing.TB, f *signtest.Sigstore) Signer {
	tb.Helper()
	sg, err := NewKeylessSigner(keylessOptions(f))
	if err != nil {
		tb.Fatal(err)
	}
	return sg
}

// keylessOptions point a keyless signer at a stand-in sigstore through its Actions token endpoint.
func keylessOptions(f *signtest.Sigstore) KeylessOptions {
	return KeylessOptions{TokenURL: f.TokenURL(), RequestToken: f.RequestToken, FulcioURL: f.FulcioURL(), RekorURL: f.RekorURL()}
}

// randHex is n random bytes in hex, for passwords and tokens that must not collide.
func randHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// testConn is one operation's registry connection of st.
func testConn(t testing.TB, st *Store) conn {
	t.Helper()
	cn, err := st.conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return cn
}
