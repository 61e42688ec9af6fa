package sign

// Cosign's older tag-based format, written here as cosign writes it (go-containerregistry
// manifests, no cosign needed); legacy_cosign_test.go has stock cosign write it.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature/payload"

	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/registry"
	"github.com/shipgate/shipgate/pipeline/sign/signtest"
	"github.com/shipgate/shipgate/pipeline/testkit"
)

// legacyItem is one layer of a .sig or .att manifest.
type legacyItem struct {
	mediaType string
	payload   []byte
	ann       map[string]string
}

// pushLegacy writes the sha256-<hex><suffix> tag of subject holding items, laid out as cosign's
// older format lays it out (an OCI image manifest, one layer per signature).
func pushLegacy(t testing.TB, subject name.Digest, suffix string, items ...legacyItem) {
	t.Helper()
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	for _, it := range items {
		var err error
		img, err = mutate.Append(img, mutate.Addendum{Layer: staticLayer(it.payload, it.mediaType), Annotations: it.ann})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := remote.Write(legacyTagOf(subject, suffix), img); err != nil {
		t.Fatal(err)
	}
}

// legacyKey signs as `cosign sign --key` / `cosign attest --key` did before bundles.
type legacyKey struct {
	t  testing.TB
	kp *keypair
}

func (k testKey) legacy(t testing.TB) legacyKey {
	t.Helper()
	priv, err := loadPrivateKey(k.private, k.password)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := newKeypair(priv)
	if err != nil {
		t.Fatal(err)
	}
	return legacyKey{t: t, kp: kp}
}

func (k legacyKey) sign(b []byte) []byte {
	k.t.Helper()
	sig, _, err := k.kp.SignData(context.Background(), b)
	if err != nil {
		k.t.Fatal(err)
	}
	return sig
}

// simpleSigning is the payload `cosign sign` signs for subject; claimed, when set, is the
// identity it claims instead of subject's repository.
func simpleSigning(t testing.TB, subject name.Digest, claimed string) []byte {
	t.Helper()
	p, err := payload.Cosign{Image: subject, ClaimedIdentity: claimed}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// sig is a .sig layer signing p.
func (k legacyKey) sig(p []byte) legacyItem {
	return legacyItem{SimpleSigningMediaType, p, map[string]string{AnnotationLegacySignature: base64.StdEncoding.EncodeToString(k.sign(p))}}
}

// att is an .att layer: a DSSE envelope of stmt signed over its PAE.
func (k legacyKey) att(predicateType string, stmt []byte) legacyItem {
	env := dsse.Envelope{PayloadType: inTotoPayloadType, Payload: base64.StdEncoding.EncodeToString(stmt)}
	env.Signatures = []dsse.Signature{{Sig: base64.StdEncoding.EncodeToString(k.sign(dsse.PAE(inTotoPayloadType, stmt)))}}
	raw, err := json.Marshal(env)
	if err != nil {
		k.t.Fatal(err)
	}
	return legacyItem{DSSEEnvelopeMediaType, raw, map[string]string{AnnotationLegacySignature: "", AnnotationLegacyPredicateType: predicateType}}
}

// attest is an .att layer of an in-toto statement about subject (and also).
func (k legacyKey) attest(predicateType string, predicate []byte, subject name.Digest, also ...name.Digest) legacyItem {
	k.t.Helper()
	stmt, err := statement(predicateType, predicate, true, subject, also...)
	if err != nil {
		k.t.Fatal(err)
	}
	return k.att(predicateType, stmt)
}

// publishLegacy signs and attests a release as publish does, in cosign's older format.
func publishLegacy(t testing.TB, r release, k legacyKey, commit string) {
	t.Helper()
	pushLegacy(t, r.index, legacySigSuffix, k.sig(simpleSigning(t, r.index, "")))
	amd, arm := r.platforms["linux/amd64"], r.platforms["linux/arm64"]
	for p, d := range r.platforms {
		pushLegacy(t, d, legacySigSuffix, k.sig(simpleSigning(t, d, "")))
		pushLegacy(t, d, legacyAttSuffix, k.attest(SPDXPredicateType, spdx(p), d))
	}
	pushLegacy(t, r.index, legacyAttSuffix, k.attest(ProvenancePredicateType, provenanceFor(t, commit), r.index, amd, arm))
}

// A signature in cosign's older tag-based format that holds no cosign layer (here a random
// image) is named in the refusal, with the command that signs again in the bundle format.
func TestOlderCosignFormatIsNamed(t *testing.T) {
	host := testkit.Registry(t, testkit.RegistryOptions{})
	r := pushRelease(t, host)
	old, err := random.Image(128, 1)
	if err != nil {
		t.Fatal(err)
	}
	tag := legacyTagOf(r.index, legacySigSuffix)
	if err := remote.Write(tag, old); err != nil {
		t.Fatal(err)
	}
	reqs, err := storeOn(r.repo.RegistryStr()).VerifyRelease(t.Context(), r.index, r.platforms, finalizeCommit, newTestKey(t).offlinePolicy())
	if err == nil {
		t.Fatal("an unsigned release verified")
	}
	reason := reasonOf(reqs, "signature", "index")
	for _, want := range []string{tag.TagStr(), "older tag-based format holds no signature", "cosign v3", "cosign sign --key cosign.key " + r.index.String()} {
		if !strings.Contains(reason, want) {
			t.Fatalf("the index signature's reason does not say %q: %q", want, reason)
		}
	}
	for _, q := range reqs {
		if q.Of != "index" && strings.Contains(q.Reason, "older") {
			t.Fatalf("a platform without an older-format tag was said to have one: %q", q.Reason)
		}
	}
}

func reasonOf(reqs []Requirement, what, of string) string {
	for _, q := range reqs {
		if q.What == what && q.Of == of {
			return q.Reason
		}
	}
	return ""
}

// TestLegacyKeySignaturesAccepted: a release signed and attested in the older format under a key,
// without a transparency log, verifies in both registry lanes; under another key it does not, and
// each refusal names the tag and the command.
func TestLegacyKeySignaturesAccepted(t *testing.T) {
	eachLane(t, lanes[:2], func(t *testing.T, fx laneFixture) {
		r, key, st := fx.r, fx.key, fx.st
		publishLegacy(t, r, key.legacy(t), finalizeCommit)
		reqs, err := st.VerifyRelease(t.Context(), r.index, r.platforms, finalizeCommit, key.offlinePolicy())
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range reqs {
			if !q.OK || q.BundleSize == 0 {
				t.Errorf("%v (size %d)", q, q.BundleSize)
			}
		}
		var seen Statement
		if ok, err := st.Attested(t.Context(), r.platforms["linux/amd64"], SPDXPredicateType, key.offlinePolicy(), func(s Statement) error { seen = s; return nil }); !ok || err != nil {
			t.Fatalf("Attested = %v, %v", ok, err)
		}
		if !bytes.Equal(seen.Predicate, spdx("linux/amd64")) || !seen.Covers(r.platforms["linux/amd64"].DigestStr()) {
			t.Errorf("SBOM statement %+v", seen)
		}
		// The older format is no sigstore bundle to hand on.
		if _, err := st.Bundle(t.Context(), r.index, ProvenancePredicateType, key.offlinePolicy()); fault.Of(err) != fault.Refused || !strings.Contains(err.Error(), "cosign attest --key cosign.key --type slsaprovenance1") {
			t.Errorf("Bundle of an older-format attestation: %v", err)
		}

		_, err = st.VerifyRelease(t.Context(), r.index, r.platforms, finalizeCommit, newTestKey(t).offlinePolicy())
		var re *ReleaseError
		if !errors.As(err, &re) || len(re.Failed) != 6 {
			t.Fatalf("another key: %v", err)
		}
		for _, q := range re.Failed {
			d, _ := name.NewDigest(r.repo.Name() + "@" + q.Digest)
			suffix, cmd := legacyAttSuffix, "cosign attest --key cosign.key --type "
			if q.What == "signature" {
				suffix, cmd = legacySigSuffix, "cosign sign --key cosign.key "
			}
			for _, want := range []string{legacyTagOf(d, suffix).TagStr(), "none accepted: layer 1: does not verify under policy", cmd} {
				if !strings.Contains(q.Reason, want) {
					t.Errorf("%s on %s: reason does not say %q: %s", q.What, q.Of, want, q.Reason)
				}
			}
		}
	})
}

// legacyVerdict looks subject up for predicateType under p, as VerifyRelease does.
func legacyVerdict(t *testing.T, subject name.Digest, predicateType string, p Policy, check func(Statement) error) verdict {
	t.Helper()
	v, err := storeOn(subject.RegistryStr()).lookupUnder(t.Context(), p, subject, predicateType, check)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestLegacyRefusals: what does not hold in the older format is refused, saying why, naming the
// tag and the command that signs again.
func TestLegacyRefusals(t *testing.T) {
	host := testkit.Registry(t, testkit.RegistryOptions{})
	key, other := newTestKey(t), newTestKey(t)
	k := key.legacy(t)
	strict := Policy{PublicKeyPEM: key.public, TrustedRootJSON: signtest.New(t).RekorOnlyRoot()}
	for _, tc := range []struct {
		name  string
		items func(r, r2 release) []legacyItem
		pt    string
		p     Policy
		class fault.Class
		want  string
	}{
		{"wrong key", func(r, _ release) []legacyItem {
			return []legacyItem{other.legacy(t).sig(simpleSigning(t, r.index, ""))}
		},
			SignaturePredicateType, key.offlinePolicy(), fault.Refused, "does not verify under policy (public key sha256:"},
		{"tampered payload", func(r, _ release) []legacyItem {
			it := k.sig(simpleSigning(t, r.index, ""))
			it.payload = bytes.Replace(it.payload, []byte(`"optional":null`), []byte(`"optional":{"by":"mallory"}`), 1)
			return []legacyItem{it}
		}, SignaturePredicateType, key.offlinePolicy(), fault.Refused, "could not verify message"},
		{"another image", func(_, r2 release) []legacyItem {
			return []legacyItem{k.sig(simpleSigning(t, r2.platforms["linux/amd64"], ""))}
		},
			SignaturePredicateType, key.offlinePolicy(), fault.Refused, "it is the signature of another image"},
		{"another repository", func(r, _ release) []legacyItem {
			return []legacyItem{k.sig(simpleSigning(t, r.index, "registry.example/other/app:1.2.3"))}
		}, SignaturePredicateType, key.offlinePolicy(), fault.Refused, "signed for registry.example/other/app, not "},
		{"not a cosign signature", func(r, _ release) []legacyItem {
			return []legacyItem{k.sig(bytes.Replace(simpleSigning(t, r.index, ""), []byte(payload.CosignSignatureType), []byte("atomic container signature"), 1))}
		}, SignaturePredicateType, key.offlinePolicy(), fault.Refused, `of type "atomic container signature"`},
		{"no signature", func(r, _ release) []legacyItem {
			return []legacyItem{{SimpleSigningMediaType, simpleSigning(t, r.index, ""), nil}}
		}, SignaturePredicateType, key.offlinePolicy(), fault.Unreadable, "no base64 signature in its dev.cosignproject.cosign/signature annotation"},
		{"no log entry", func(r, _ release) []legacyItem { return []legacyItem{k.sig(simpleSigning(t, r.index, ""))} },
			SignaturePredicateType, strict, fault.Refused, "signed without a transparency log entry"},
		{"statement about another image", func(r, r2 release) []legacyItem {
			return []legacyItem{k.attest(ProvenancePredicateType, provenanceFor(t, finalizeCommit), r2.index)}
		}, ProvenancePredicateType, key.offlinePolicy(), fault.Refused, "does not verify under policy"},
		{"provenance of another tree", func(r, _ release) []legacyItem {
			return []legacyItem{k.attest(ProvenancePredicateType, provenanceFor(t, strings.Repeat("f", 40)), r.index)}
		}, ProvenancePredicateType, key.offlinePolicy(), fault.Refused, "names commit ffffffffffffffffffffffffffffffffffffffff, not the finalize commit"},
		{"annotation says provenance, statement says SBOM", func(r, _ release) []legacyItem {
			it := k.attest(SPDXPredicateType, spdx("index"), r.index)
			it.ann[AnnotationLegacyPredicateType] = ProvenancePredicateType
			return []legacyItem{it}
		}, ProvenancePredicateType, key.offlinePolicy(), fault.Refused, "statement has predicate type https://spdx.dev/Document, want https://slsa.dev/provenance/v1"},
		{"not a DSSE envelope", func(r, _ release) []legacyItem {
			return []legacyItem{{DSSEEnvelopeMediaType, []byte(`{"payload":1}`), map[string]string{AnnotationLegacyPredicateType: ProvenancePredicateType}}}
		}, ProvenancePredicateType, key.offlinePolicy(), fault.Unreadable, "layer is not a DSSE envelope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, r2 := pushRelease(t, host), pushRelease(t, host)
			suffix := legacySuffix(tc.pt)
			pushLegacy(t, r.index, suffix, tc.items(r, r2)...)
			v := legacyVerdict(t, r.index, tc.pt, tc.p, BuiltFrom(finalizeCommit))
			if v.ok {
				t.Fatal("accepted")
			}
			reason := v.reason(r.index, tc.pt)
			cmd := "cosign sign --key cosign.key " + r.index.String()
			if tc.pt == ProvenancePredicateType {
				cmd = "cosign attest --key cosign.key --type slsaprovenance1 --predicate provenance.json " + r.index.String()
			}
			for _, want := range []string{tc.want, legacyTagOf(r.index, suffix).TagStr(), cmd} {
				if !strings.Contains(reason, want) {
					t.Errorf("reason does not say %q:\n%s", want, reason)
				}
			}
			if v.class() != tc.class {
				t.Errorf("class %v, want %v", v.class(), tc.class)
			}
			t.Logf("%v: %s", v.class(), reason)
		})
	}
}

// TestLegacyKeyWithTransparencyLog: an older-format signature whose Rekor entry is recorded in
// the dev.sigstore.cosign/bundle annotation passes a policy that requires a log, through the log's
// key in the trusted root; under a root without that log it is refused.
func TestLegacyKeyWithTransparencyLog(t *testing.T) {
	host := testkit.Registry(t, testkit.RegistryOptions{})
	r := pushRelease(t, host)
	f := signtest.New(t)
	key := newTestKey(t)
	k := key.legacy(t)
	p := simpleSigning(t, r.index, "")
	it := k.sig(p)
	sig, _ := base64.StdEncoding.DecodeString(it.ann[AnnotationLegacySignature])
	sum := sumOf(p)
	pb := &protobundle.Bundle{Content: &protobundle.Bundle_MessageSignature{MessageSignature: &protocommon.MessageSignature{
		MessageDigest: &protocommon.HashOutput{Algorithm: protocommon.HashAlgorithm_SHA2_256, Digest: sum}, Signature: sig}},
		VerificationMaterial: &protobundle.VerificationMaterial{}}
	rekor, err := newRekor(f.RekorURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := rekor.GetTransparencyLogEntry(t.Context(), key.public, pb); err != nil {
		t.Fatal(err)
	}
	it.ann[AnnotationLegacyRekorBundle] = cosignRekorBundle(t, pb.GetVerificationMaterial().GetTlogEntries()[0])
	pushLegacy(t, r.index, legacySigSuffix, it)

	strict := Policy{PublicKeyPEM: key.public, TrustedRootJSON: f.RekorOnlyRoot()}
	if v := legacyVerdict(t, r.index, SignaturePredicateType, strict, nil); !v.ok {
		t.Fatalf("logged signature refused: %s", v.reason(r.index, SignaturePredicateType))
	}
	otherLog := Policy{PublicKeyPEM: key.public, TrustedRootJSON: signtest.New(t).RekorOnlyRoot()}
	v := legacyVerdict(t, r.index, SignaturePredicateType, otherLog, nil)
	if reason := v.reason(r.index, SignaturePredicateType); v.ok || !strings.Contains(reason, "transparency log") {
		t.Fatalf("a log the root does not trust: ok=%v %s", v.ok, reason)
	}
	// A broken record of the entry is unreadable, not accepted.
	it.ann[AnnotationLegacyRekorBundle] = `{"SignedEntryTimestamp":"AA==","Payload":{"body":"not base64"}}`
	pushLegacy(t, r.index, legacySigSuffix, it)
	v = legacyVerdict(t, r.index, SignaturePredicateType, strict, nil)
	if v.ok || v.class() != fault.Unreadable || !strings.Contains(v.reason(r.index, SignaturePredicateType), "body that is not base64") {
		t.Fatalf("broken Rekor bundle: ok=%v class=%v %s", v.ok, v.class(), v.reason(r.index, SignaturePredicateType))
	}
}

func sumOf(b []byte) []byte {
	h := sha256.Sum256(b)
	return h[:]
}

// legacyDescriptor is a layer descriptor of the older format with annotations ann.
func legacyDescriptor(isDSSE bool, ann map[string]string) v1.Descriptor {
	mt := SimpleSigningMediaType
	if isDSSE {
		mt = DSSEEnvelopeMediaType
	}
	return v1.Descriptor{MediaType: types.MediaType(mt), Annotations: ann}
}

// cosignRekorBundle is the dev.sigstore.cosign/bundle annotation cosign writes for a log entry.
func cosignRekorBundle(t testing.TB, tle *protorekor.TransparencyLogEntry) string {
	t.Helper()
	var rb rekorBundle
	rb.SignedEntryTimestamp = tle.GetInclusionPromise().GetSignedEntryTimestamp()
	rb.Payload.Body = base64.StdEncoding.EncodeToString(tle.GetCanonicalizedBody())
	rb.Payload.IntegratedTime, rb.Payload.LogIndex = tle.GetIntegratedTime(), tle.GetLogIndex()
	rb.Payload.LogID = hex.EncodeToString(tle.GetLogId().GetKeyId())
	raw, err := json.Marshal(rb)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// keylessItem is a keyless layer made by VirtualSigstore: its certificate, signature and Rekor
// entry (with a signed entry timestamp) in the annotations cosign uses.
func keylessItem(t *testing.T, vs *ca.VirtualSigstore, e *ca.TestEntity, it legacyItem) legacyItem {
	t.Helper()
	vc, err := e.VerificationContent()
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := cryptoutils.MarshalCertificateToPEM(vc.Certificate())
	if err != nil {
		t.Fatal(err)
	}
	entries, err := e.TlogEntries()
	if err != nil || len(entries) != 1 {
		t.Fatal(entries, err)
	}
	tle := entries[0].TransparencyLogEntry()
	set, err := vs.RekorSignPayload(tlog.RekorPayload{Body: base64.StdEncoding.EncodeToString(tle.CanonicalizedBody), IntegratedTime: tle.IntegratedTime,
		LogIndex: tle.LogIndex, LogID: hex.EncodeToString(tle.LogId.KeyId)})
	if err != nil {
		t.Fatal(err)
	}
	tle.InclusionPromise = &protorekor.InclusionPromise{SignedEntryTimestamp: set}
	if it.ann == nil {
		it.ann = map[string]string{}
	}
	it.ann[AnnotationLegacyCertificate] = string(certPEM)
	it.ann[AnnotationLegacyRekorBundle] = cosignRekorBundle(t, tle)
	return it
}

// TestLegacyKeyless: the older keyless format (Fulcio certificate and Rekor entry in annotations)
// verifies under the keyless policy, by identity; a key signature under a keyless policy is
// refused with the keyless command (no --key).
func TestLegacyKeyless(t *testing.T) {
	host := testkit.Registry(t, testkit.RegistryOptions{})
	vs := virtualSigstore(t)
	p := DefaultKeylessPolicy("shipgate/demo", ".github/workflows/release.yml", regexp.QuoteMeta("refs/heads/release/1.2.3"))
	p.IgnoreSCT = true // VirtualSigstore has no CT log
	c, err := newCheckerWith(p, vs)
	if err != nil {
		t.Fatal(err)
	}
	look := func(subject name.Digest, pt string) verdict {
		t.Helper()
		var check func(Statement) error
		if pt == ProvenancePredicateType {
			check = BuiltFrom(finalizeCommit)
		}
		v, err := lookup(t.Context(), testConn(t, storeOn(subject.RegistryStr())), c, subject, pt, check)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	r := pushRelease(t, host)
	sp := simpleSigning(t, r.index, "")
	se, err := vs.Sign(releaseIdentity, GitHubActionsIssuer, sp)
	if err != nil {
		t.Fatal(err)
	}
	sc, _ := se.SignatureContent()
	pushLegacy(t, r.index, legacySigSuffix, keylessItem(t, vs, se, legacyItem{SimpleSigningMediaType, sp, map[string]string{AnnotationLegacySignature: base64.StdEncoding.EncodeToString(sc.Signature())}}))
	stmt, _ := statement(ProvenancePredicateType, provenanceFor(t, finalizeCommit), true, r.index)
	ae, err := vs.Attest(releaseIdentity, GitHubActionsIssuer, stmt)
	if err != nil {
		t.Fatal(err)
	}
	ac, _ := ae.SignatureContent()
	env, _ := json.Marshal(ac.EnvelopeContent().RawEnvelope())
	pushLegacy(t, r.index, legacyAttSuffix, keylessItem(t, vs, ae, legacyItem{DSSEEnvelopeMediaType, env, map[string]string{AnnotationLegacyPredicateType: ProvenancePredicateType}}))
	for _, pt := range []string{SignaturePredicateType, ProvenancePredicateType} {
		if v := look(r.index, pt); !v.ok {
			t.Errorf("keyless %s refused: %s", pt, v.reason(r.index, pt))
		}
	}

	// Another workflow's certificate, and a key signature, are refused.
	r2 := pushRelease(t, host)
	oe, err := vs.Sign("https://github.com/shipgate/demo/.github/workflows/other.yml@refs/heads/release/1.2.3", GitHubActionsIssuer, simpleSigning(t, r2.index, ""))
	if err != nil {
		t.Fatal(err)
	}
	oc, _ := oe.SignatureContent()
	pushLegacy(t, r2.index, legacySigSuffix, keylessItem(t, vs, oe, legacyItem{SimpleSigningMediaType, simpleSigning(t, r2.index, ""), map[string]string{AnnotationLegacySignature: base64.StdEncoding.EncodeToString(oc.Signature())}}),
		newTestKey(t).legacy(t).sig(simpleSigning(t, r2.index, "")))
	v := look(r2.index, SignaturePredicateType)
	reason := v.reason(r2.index, SignaturePredicateType)
	for _, want := range []string{"holds 2 signatures, none accepted", "layer 1: does not verify under policy (identity", "expected SAN value",
		"layer 2: signed with a key (no Fulcio certificate", "cosign sign " + r2.index.String(), legacyTagOf(r2.index, legacySigSuffix).TagStr()} {
		if v.ok || !strings.Contains(reason, want) {
			t.Errorf("reason does not say %q:\n%s", want, reason)
		}
	}
}

// pathRecorder records the path of every request it carries.
type pathRecorder struct {
	mu    sync.Mutex
	paths []string
}

func (p *pathRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	p.mu.Lock()
	p.paths = append(p.paths, req.Method+" "+req.URL.Path)
	p.mu.Unlock()
	return http.DefaultTransport.RoundTrip(req)
}

func (p *pathRecorder) matching(re *regexp.Regexp) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, s := range p.paths {
		if re.MatchString(s) {
			out = append(out, s)
		}
	}
	return out
}

var legacyTagPath = regexp.MustCompile(`/manifests/sha256-[0-9a-f]{64}\.(sig|att)$`)

// TestLegacyTagsReadOnlyWhenNeeded: the normal path (bundles that verify) reads no tag of the
// older format; when bundles do not satisfy a requirement, each subject's .sig and .att tags are
// read once for all its requirements.
func TestLegacyTagsReadOnlyWhenNeeded(t *testing.T) {
	eachLane(t, lanes[:2], func(t *testing.T, fx laneFixture) {
		host, r, key := fx.host, fx.r, fx.key
		publish(t, fx.st, r, key.signer(t, KeyOptions{DisableTlogUpload: true}), finalizeCommit)
		rec := &pathRecorder{}
		if _, err := phaseStore(host, rec).VerifyRelease(t.Context(), r.index, r.platforms, finalizeCommit, key.offlinePolicy()); err != nil {
			t.Fatal(err)
		}
		if got := rec.matching(legacyTagPath); len(got) != 0 {
			t.Fatalf("the normal path read older-format tags: %v", got)
		}
		normal := len(rec.paths)

		r2 := pushRelease(t, host)
		publishLegacy(t, r2, key.legacy(t), finalizeCommit)
		rec = &pathRecorder{}
		if _, err := phaseStore(host, rec).VerifyRelease(t.Context(), r2.index, r2.platforms, finalizeCommit, key.offlinePolicy()); err != nil {
			t.Fatal(err)
		}
		got := rec.matching(legacyTagPath)
		if len(got) != 6 {
			t.Fatalf("read %d older-format tags, want 6 (.sig and .att of three subjects), once each: %v", len(got), got)
		}
		t.Logf("requests per release verification: %d with bundles, %d in the older format", normal, len(rec.paths))
	})
}

// BenchmarkVerifyReleaseOlderFormat is promote's signature gate over a release signed in cosign's
// older format (key, no transparency log): referrers listed and found empty, then each subject's
// .sig and .att tag and each signature's payload read once (a new Store per operation).
func BenchmarkVerifyReleaseOlderFormat(b *testing.B) {
	eachLane(b, lanes[:2], func(b *testing.B, fx laneFixture) {
		r, key := fx.r, fx.key
		publishLegacy(b, r, key.legacy(b), finalizeCommit)
		c := testkit.NewCounter(nil)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := storeOn(fx.host, registry.WithTransport(c)).VerifyRelease(b.Context(), r.index, r.platforms, finalizeCommit, key.offlinePolicy()); err != nil {
				b.Fatal(err)
			}
		}
		testkit.ReportPerOp(b, c.Total())
	})
}

// FuzzLegacyLayer feeds arbitrary payloads and annotations through the older format's parsers
// (simple-signing JSON, DSSE envelope, certificate, Rekor bundle) and verification: nothing
// panics, and nothing that was not signed by the policy's key is accepted.
func FuzzLegacyLayer(f *testing.F) {
	key := newTestKey(f)
	repo, _ := name.NewRepository("registry.example/shipgate/demo")
	subject := repo.Digest("sha256:" + strings.Repeat("ab", 32))
	k := newTestKey(f).legacy(f) // another key: nothing it signs may pass
	sig := k.sig(simpleSigning(f, subject, ""))
	att := k.attest(SPDXPredicateType, []byte(`{"spdxVersion":"SPDX-2.3"}`), subject)
	f.Add(false, sig.payload, sig.ann[AnnotationLegacySignature], "", "")
	f.Add(true, att.payload, "", "", `{"SignedEntryTimestamp":"AA==","Payload":{"body":"e30=","integratedTime":1,"logIndex":0,"logID":"00"}}`)
	f.Add(true, []byte(`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"sig":"AA=="}]}`), "", "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n", "")
	policies := []Policy{key.offlinePolicy(), {PublicKeyPEM: key.public, TrustedRootJSON: signtest.New(f).RekorOnlyRoot()}}
	var checkers []*checker
	for _, p := range policies {
		c, err := newChecker(p)
		if err != nil {
			f.Fatal(err)
		}
		checkers = append(checkers, c)
	}
	f.Fuzz(func(t *testing.T, isDSSE bool, p []byte, sigAnn, certAnn, rekorAnn string) {
		d := legacyDescriptor(isDSSE, map[string]string{AnnotationLegacySignature: sigAnn, AnnotationLegacyCertificate: certAnn, AnnotationLegacyRekorBundle: rekorAnn})
		pt := SignaturePredicateType
		if isDSSE {
			pt = SPDXPredicateType
		}
		_, _ = parseSimpleSigning(p)
		_, _ = parseLegacyEnvelope(p)
		_, _ = parseRekorBundle(rekorAnn)
		_, _ = parseLegacyCertificate(certAnn)
		for _, c := range checkers {
			if st, err := c.acceptLegacy(d, p, subject, pt, nil); err == nil {
				t.Fatalf("accepted without the key's signature: %+v", st)
			}
		}
	})
}
