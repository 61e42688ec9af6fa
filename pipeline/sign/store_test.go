package sign

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/registry"
	"github.com/shipgate/shipgate/pipeline/sign/signtest"
	"github.com/shipgate/shipgate/pipeline/testkit"
)

// TestKeySignAndVerifyInEveryLane signs with a cosign-format key (no transparency log) in each
// registry lane, checks the stored layout, and that only the right key verifies.
func TestKeySignAndVerifyInEveryLane(t *testing.T) {
	eachLane(t, lanes, func(t *testing.T, fx laneFixture) {
		r, key, st := fx.r, fx.key, fx.st
		other := newTestKey(t)
		ctx := t.Context()
		sg := key.signer(t, KeyOptions{DisableTlogUpload: true})

		if ok, err := st.Signed(ctx, r.index, key.offlinePolicy()); err != nil || ok {
			t.Fatalf("before signing: Signed = %v, %v; want false, nil", ok, err)
		}
		if err := st.Sign(ctx, r.index, sg); err != nil {
			t.Fatal(err)
		}
		if ok, err := st.Signed(ctx, r.index, key.offlinePolicy()); err != nil || !ok {
			t.Fatalf("after signing: Signed = %v, %v; want true", ok, err)
		}
		if ok, err := st.Signed(ctx, r.index, other.offlinePolicy()); err != nil || ok {
			t.Fatalf("another key's policy: Signed = %v, %v; want false", ok, err)
		}
		// A signature on the index says nothing about the platforms.
		if ok, err := st.Signed(ctx, r.platforms["linux/amd64"], key.offlinePolicy()); err != nil || ok {
			t.Fatalf("unsigned platform: Signed = %v, %v; want false", ok, err)
		}
		// Without the transparency log entry the strict policy refuses (the trusted root is
		// given so that nothing is fetched).
		strict := Policy{PublicKeyPEM: key.public, TrustedRootJSON: signtest.New(t).RekorOnlyRoot()}
		if ok, err := st.Signed(ctx, r.index, strict); err != nil || ok {
			t.Fatalf("policy requiring a tlog entry: Signed = %v, %v; want false", ok, err)
		}
		checkLayout(t, r.index, fx.lane.referrers, SignaturePredicateType, 1)
	})
}

// checkLayout reads the referrers of subject as a registry client would and checks the cosign v3
// layout, and on registries without the referrers API the sha256-<hex> index tag.
func checkLayout(t *testing.T, subject name.Digest, referrersAPI bool, predicateType string, want int) {
	t.Helper()
	refs := referrersOf(t, subject)
	if len(refs) != want {
		t.Fatalf("%d referrers listed, want %d: %+v", len(refs), want, refs)
	}
	d := refs[0]
	if d.Annotations[AnnotationPredicateType] != predicateType || d.Annotations[AnnotationContent] != "dsse-envelope" || d.Annotations[AnnotationCreated] == "" {
		t.Errorf("listing annotations %v", d.Annotations)
	}
	if !referrersAPI && d.ArtifactType != BundleMediaType {
		t.Errorf("fallback index artifactType %q, want %s", d.ArtifactType, BundleMediaType)
	}
	raw, m := manifestAt(t, subject.Context().Digest(d.Digest.String()), v1.ParseManifest)
	if m.MediaType != types.OCIManifestSchema1 || m.ArtifactType != BundleMediaType || m.Config.MediaType != "application/vnd.oci.empty.v1+json" || m.Config.Size != 2 {
		t.Errorf("manifest %s", raw)
	}
	if len(m.Layers) != 1 || m.Layers[0].MediaType != BundleMediaType {
		t.Errorf("layers %+v", m.Layers)
	}
	if m.Subject == nil || m.Subject.Digest.String() != subject.DigestStr() {
		t.Errorf("subject %+v, want %s", m.Subject, subject.DigestStr())
	}
	tag := subject.Context().Tag(strings.Replace(subject.DigestStr(), ":", "-", 1))
	_, err := remote.Head(tag)
	if referrersAPI && err == nil {
		t.Errorf("registry with the referrers API got a fallback tag %s", tag)
	}
	if !referrersAPI && err != nil {
		t.Errorf("no fallback tag %s: %v", tag, err)
	}
}

func TestAttestAndVerifyRelease(t *testing.T) {
	eachLane(t, lanes, func(t *testing.T, fx laneFixture) {
		r, key, st := fx.r, fx.key, fx.st
		sg := key.signer(t, KeyOptions{DisableTlogUpload: true})
		publish(t, st, r, sg, finalizeCommit)

		reqs, err := st.VerifyRelease(t.Context(), r.index, r.platforms, finalizeCommit, key.offlinePolicy())
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, q := range reqs {
			lines = append(lines, q.What+" "+q.Of)
			if !q.OK || q.BundleSize == 0 {
				t.Errorf("%v", q)
			}
		}
		want := "signature index,signature linux/amd64,sbom linux/amd64,signature linux/arm64,sbom linux/arm64,provenance index"
		if strings.Join(lines, ",") != want {
			t.Errorf("requirements %q, want %q", strings.Join(lines, ","), want)
		}
		// Each platform has a signature and an SBOM: two referrers on one subject, written one
		// after the other into the same fallback index.
		checkCount(t, r.platforms["linux/arm64"], 2)
		checkCount(t, r.index, 2)

		// The SBOM is stored byte for byte (compacted), and Attested sees it.
		var seen []byte
		ok, err := st.Attested(t.Context(), r.platforms["linux/amd64"], SPDXPredicateType, key.offlinePolicy(), func(s Statement) error {
			seen = s.Predicate
			if !s.Covers(r.platforms["linux/amd64"].DigestStr()) || s.Subjects[0].Name != r.repo.Name() {
				t.Errorf("subjects %+v", s.Subjects)
			}
			return nil
		})
		if err != nil || !ok {
			t.Fatalf("Attested = %v, %v", ok, err)
		}
		if !bytes.Equal(seen, spdx("linux/amd64")) {
			t.Errorf("SBOM predicate changed:\n%s\n%s", seen, spdx("linux/amd64"))
		}
		// The provenance names every digest.
		_, err = st.Attested(t.Context(), r.index, ProvenancePredicateType, key.offlinePolicy(), func(s Statement) error {
			for _, d := range append([]name.Digest{r.index}, r.platforms["linux/amd64"], r.platforms["linux/arm64"]) {
				if !s.Covers(d.DigestStr()) {
					t.Errorf("provenance does not name %s: %+v", d, s.Subjects)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

func checkCount(t *testing.T, subject name.Digest, want int) {
	t.Helper()
	if refs := referrersOf(t, subject); len(refs) != want {
		t.Errorf("%s has %d referrers, want %d", subject.DigestStr(), len(refs), want)
	}
}

func TestVerifyReleaseSaysWhichRequirementFailed(t *testing.T) {
	host := testkit.Registry(t, testkit.RegistryOptions{})
	r := pushRelease(t, host)
	key := newTestKey(t)
	st := storeOn(host)
	sg := key.signer(t, KeyOptions{DisableTlogUpload: true})
	ctx := t.Context()
	// Everything but: no SBOM for arm64, no signature on amd64, and provenance of another tree.
	if err := st.Sign(ctx, r.index, sg); err != nil {
		t.Fatal(err)
	}
	amd, arm := r.platforms["linux/amd64"], r.platforms["linux/arm64"]
	for _, step := range []error{
		st.Sign(ctx, arm, sg),
		st.Attest(ctx, amd, SPDXPredicateType, spdx("linux/amd64"), sg),
		st.Attest(ctx, r.index, ProvenancePredicateType, provenanceFor(t, strings.Repeat("f", 40)), sg, amd, arm),
	} {
		if step != nil {
			t.Fatal(step)
		}
	}
	reqs, err := st.VerifyRelease(ctx, r.index, r.platforms, finalizeCommit, key.offlinePolicy())
	var re *ReleaseError
	if !errors.As(err, &re) {
		t.Fatalf("VerifyRelease error = %v, want a *ReleaseError", err)
	}
	if len(reqs) != 6 || len(re.Failed) != 3 || re.Total != 6 {
		t.Fatalf("requirements %v, failed %v", reqs, re.Failed)
	}
	msg := err.Error()
	for _, want := range []string{
		"FAIL signature on linux/amd64 " + amd.DigestStr() + ": no sigstore bundle with predicate type " + SignaturePredicateType,
		"FAIL sbom on linux/arm64 " + arm.DigestStr() + ": no sigstore bundle with predicate type " + SPDXPredicateType,
		"FAIL provenance on index " + r.index.DigestStr() + ": 1 bundle(s) found, none accepted",
		"names commit ffffffffffffffffffffffffffffffffffffffff, not the finalize commit " + finalizeCommit,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not say %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "FAIL signature on index") || strings.Contains(msg, "FAIL sbom on linux/amd64") {
		t.Errorf("error lists a requirement that holds:\n%s", msg)
	}
	// Under another key, every requirement fails, each with the policy named.
	_, err = st.VerifyRelease(ctx, r.index, r.platforms, finalizeCommit, newTestKey(t).offlinePolicy())
	if !errors.As(err, &re) || len(re.Failed) != 6 {
		t.Fatalf("wrong key: %v", err)
	}
	if !strings.Contains(err.Error(), "does not verify under policy (public key sha256:") {
		t.Errorf("wrong key reason: %v", err)
	}
}

func TestSignRefusesWhatIsNotThere(t *testing.T) {
	host := testkit.Registry(t, testkit.RegistryOptions{})
	r := pushRelease(t, host)
	missing := r.repo.Digest("sha256:" + strings.Repeat("0", 64))
	err := storeOn(host).Sign(t.Context(), missing, newTestKey(t).signer(t, KeyOptions{DisableTlogUpload: true}))
	if err == nil || !strings.Contains(err.Error(), "push the image before signing it") {
		t.Fatalf("Sign(missing) = %v", err)
	}
	err = storeOn(host).Attest(t.Context(), r.index, SPDXPredicateType, []byte(`["not","an","object"]`), newTestKey(t).signer(t, KeyOptions{DisableTlogUpload: true}))
	if err == nil || !strings.Contains(err.Error(), "not a JSON object") {
		t.Fatalf("Attest(array) = %v", err)
	}
}

func TestPolicyMustBeComplete(t *testing.T) {
	host := testkit.Registry(t, testkit.RegistryOptions{})
	r := pushRelease(t, host)
	for _, c := range []struct {
		p    Policy
		want string
	}{
		{Policy{}, "policy is empty"},
		{Policy{PublicKeyPEM: []byte("x"), Issuer: GitHubActionsIssuer}, "both a public key and a keyless identity"},
		{Policy{Identity: "a"}, "no issuer: give --certificate-oidc-issuer"},
		{Policy{Issuer: GitHubActionsIssuer}, "no identity: give --certificate-identity"},
		{Policy{Issuer: GitHubActionsIssuer, Identity: "a", IdentityRegexp: "b"}, "both --certificate-identity and --certificate-identity-regexp"},
		{Policy{Issuer: GitHubActionsIssuer, IdentityRegexp: "("}, "does not compile"},
		{Policy{PublicKeyPEM: []byte("not pem"), IgnoreTlog: true}, "not a PEM public key"},
		{Policy{Issuer: GitHubActionsIssuer, Identity: "a", TrustedRootJSON: []byte("{}")}, "not a sigstore trusted root"},
	} {
		_, err := storeOn(host).Signed(t.Context(), r.index, c.p)
		if err == nil || !strings.Contains(err.Error(), c.want) || fault.Of(err) != fault.BadInput {
			t.Errorf("Signed(%+v) error = %v (class %v), want bad input saying %q", c.p, err, fault.Of(err), c.want)
		}
	}
}

// TestLostFallbackUpdateIsRepaired has another writer overwrite the sha256-<hex> index tag right
// after our write, dropping our referrer, as two concurrent publishes can; the store notices on
// read-back and writes again.
func TestLostFallbackUpdateIsRepaired(t *testing.T) {
	host := testkit.Registry(t, testkit.RegistryOptions{})
	r := pushRelease(t, host)
	key := newTestKey(t)
	sg := key.signer(t, KeyOptions{DisableTlogUpload: true})
	ctx := t.Context()
	// The other writer read the index when it was empty, and now puts back what it read plus
	// its own referrer; here: an index with no entries but a foreign one.
	tag := r.repo.Tag(strings.Replace(r.index.DigestStr(), ":", "-", 1))
	var clobbered atomic.Int32
	clobber := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err == nil && req.Method == http.MethodPut && strings.HasSuffix(req.URL.Path, "/manifests/"+tag.TagStr()) && clobbered.Add(1) == 1 {
			stale := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`
			put, _ := http.NewRequest(http.MethodPut, req.URL.String(), strings.NewReader(stale))
			put.Header.Set("Content-Type", string(types.OCIImageIndex))
			if pr, err := http.DefaultTransport.RoundTrip(put); err == nil {
				_, _ = io.Copy(io.Discard, pr.Body)
				pr.Body.Close()
			}
		}
		return resp, err
	})
	st := storeOn(host, registry.WithTransport(clobber))
	if err := st.Sign(ctx, r.index, sg); err != nil {
		t.Fatal(err)
	}
	if clobbered.Load() < 2 {
		t.Fatalf("the fallback tag was written %d times; the lost update was not repaired", clobbered.Load())
	}
	if ok, err := storeOn(host).Signed(ctx, r.index, key.offlinePolicy()); err != nil || !ok {
		t.Fatalf("after repair: Signed = %v, %v", ok, err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestForeignReferrersAreIgnored puts a non-sigstore referrer (and a bundle of another type) next
// to ours: lookups skip them without error.
func TestForeignReferrersAreIgnored(t *testing.T) {
	eachLane(t, lanes[:2], func(t *testing.T, fx laneFixture) {
		r, key, st := fx.r, fx.key, fx.st
		sg := key.signer(t, KeyOptions{DisableTlogUpload: true})
		desc, err := remote.Head(r.index)
		if err != nil {
			t.Fatal(err)
		}
		// An unrelated artifact referring to the index (say, a notation signature).
		foreign := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, ArtifactType: "application/vnd.cncf.notary.signature",
			Config: v1.Descriptor{MediaType: emptyConfigMediaType, Size: 2, Digest: mustDigest(t, []byte("{}"))},
			Layers: []v1.Descriptor{}, Subject: &v1.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size}}
		raw, _ := json.Marshal(foreign)
		if err := st.putReferrerRaw(t, r.index, raw); err != nil {
			t.Fatal(err)
		}
		if err := st.Attest(t.Context(), r.index, SPDXPredicateType, spdx("index"), sg); err != nil {
			t.Fatal(err)
		}
		if ok, err := st.Signed(t.Context(), r.index, key.offlinePolicy()); err != nil || ok {
			t.Fatalf("an SBOM attestation counted as a signature: %v, %v", ok, err)
		}
		if err := st.Sign(t.Context(), r.index, sg); err != nil {
			t.Fatal(err)
		}
		if ok, err := st.Signed(t.Context(), r.index, key.offlinePolicy()); err != nil || !ok {
			t.Fatalf("Signed = %v, %v", ok, err)
		}
	})
}

func mustDigest(t *testing.T, b []byte) v1.Hash {
	h, _, err := v1.SHA256(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// putReferrerRaw pushes a manifest (and the empty config) as is.
func (s *Store) putReferrerRaw(t *testing.T, subject name.Digest, raw []byte) error {
	t.Helper()
	if err := remote.WriteLayer(subject.Context(), staticLayer([]byte("{}"), emptyConfigMediaType)); err != nil {
		return err
	}
	h := mustDigest(t, raw)
	return remote.Put(subject.Context().Digest(h.String()), rawManifest{raw, types.OCIManifestSchema1})
}

// TestConcurrentWritesToOneSubject: signatures and attestations on one subject from many
// goroutines all end up listed, also without a referrers API.
func TestConcurrentWritesToOneSubject(t *testing.T) {
	eachLane(t, lanes[:2], func(t *testing.T, fx laneFixture) {
		r, key, st := fx.r, fx.key, fx.st
		sg := key.signer(t, KeyOptions{DisableTlogUpload: true})
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- st.Attest(t.Context(), r.index, "https://example.com/predicate/"+string(rune('a'+i)), []byte(`{"n":1}`), sg)
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		checkCount(t, r.index, 8)
	})
}

// TestTamperedKeySignature: with no log entry to catch it first, a changed payload fails the
// signature check itself.
func TestTamperedKeySignature(t *testing.T) {
	host := testkit.Registry(t, testkit.RegistryOptions{})
	r, r2 := pushRelease(t, host), pushRelease(t, host)
	key := newTestKey(t)
	st := storeOn(host)
	if err := st.Sign(t.Context(), r.index, key.signer(t, KeyOptions{DisableTlogUpload: true})); err != nil {
		t.Fatal(err)
	}
	var b map[string]any
	if err := json.Unmarshal(bundleOf(t, r.index, SignaturePredicateType), &b); err != nil {
		t.Fatal(err)
	}
	stmt, _ := statement(SignaturePredicateType, []byte("{}"), false, r2.index)
	b["dsseEnvelope"].(map[string]any)["payload"] = base64.StdEncoding.EncodeToString(stmt)
	forged, _ := json.Marshal(b)
	desc, err := remote.Head(r2.index)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.putReferrer(t.Context(), testConn(t, st), r2.index, *desc, forged, SignaturePredicateType); err != nil {
		t.Fatal(err)
	}
	v, err := st.lookupUnder(t.Context(), key.offlinePolicy(), r2.index, SignaturePredicateType, nil)
	if err != nil || v.ok {
		t.Fatalf("forged signature: ok=%v err=%v", v.ok, err)
	}
	if got := v.reason(r2.index, SignaturePredicateType); !strings.Contains(got, "failed to verify signature") {
		t.Fatalf("reason %q", got)
	}
}
