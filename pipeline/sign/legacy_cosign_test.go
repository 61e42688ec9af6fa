package sign

// Interop with stock cosign v3.1.3 in its older tag-based format (sha256-<hex>.sig / .att): we
// accept what it writes under a key, refuse what does not hold as cosign does, and name the
// command that signs again in the bundle format, which then passes. cosign is found as in
// cosign_test.go.

import (
	"errors"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/shipgate/shipgate/pipeline/sign/signtest"
	"github.com/shipgate/shipgate/pipeline/testkit"
)

// olderFormat makes cosign v3 write its older tag-based format, with no transparency log.
var olderFormat = []string{"--new-bundle-format=false", "--use-signing-config=false", "--tlog-upload=false", "-y"}

// publishOlder has cosign sign and attest a release as publish does, in the older format, with
// the key cosign.key (password in env) and the further flags given.
func (c *cosignCLI) publishOlder(env []string, r release, commit string, flags ...string) {
	c.t.Helper()
	run := func(args ...string) { c.must(env, append(append(args, flags...), olderFormatWith(flags)...)...) }
	run("sign", r.index.String())
	for _, p := range slices.Sorted(maps.Keys(r.platforms)) {
		c.file("sbom.spdx.json", spdx(p))
		run("sign", r.platforms[p].String())
		run("attest", "--type", "spdxjson", "--predicate", "sbom.spdx.json", r.platforms[p].String())
	}
	c.file("provenance.json", provenanceFor(c.t, commit))
	run("attest", "--type", "slsaprovenance1", "--predicate", "provenance.json", r.index.String())
}

// olderFormatWith is olderFormat, but for the transparency log flag when flags give a Rekor.
func olderFormatWith(flags []string) []string {
	if slices.ContainsFunc(flags, func(f string) bool { return strings.HasPrefix(f, "--rekor-url") }) {
		return []string{"--new-bundle-format=false", "--use-signing-config=false", "-y"}
	}
	return olderFormat
}

// failedReasons runs VerifyRelease under p, wants it refused, and returns the reasons by
// requirement ("signature index", "sbom linux/amd64", ...).
func failedReasons(t *testing.T, r release, p Policy) map[string]string {
	t.Helper()
	_, err := storeOn(r.repo.RegistryStr()).VerifyRelease(t.Context(), r.index, r.platforms, finalizeCommit, p)
	var re *ReleaseError
	if !errors.As(err, &re) {
		t.Fatalf("VerifyRelease = %v, want a refusal", err)
	}
	out := map[string]string{}
	for _, q := range re.Failed {
		out[q.What+" "+q.Of] = q.Reason
	}
	return out
}

// TestWeAcceptCosignOlderFormat: cosign v3 signs and attests a release in its older format
// under a key, offline; VerifyRelease accepts it in every registry lane (cosign verify agrees),
// and under another key refuses every requirement, naming the tag and the command.
func TestWeAcceptCosignOlderFormat(t *testing.T) {
	c := findCosign(t)
	key := c.keyPair("cosign")
	env := []string{"COSIGN_PASSWORD=" + string(key.password)}
	eachLane(t, lanes, func(t *testing.T, fx laneFixture) {
		r := fx.r
		c.publishOlder(env, r, finalizeCommit, "--key", "cosign.key")
		if refs := referrersOf(t, r.index); len(refs) != 0 {
			t.Fatalf("cosign wrote referrers, not the older format: %+v", refs)
		}
		c.verifiesOffline(r)

		reqs, err := storeOn(r.repo.RegistryStr()).VerifyRelease(t.Context(), r.index, r.platforms, finalizeCommit, key.offlinePolicy())
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range reqs {
			t.Logf("%v (%d-byte payload by cosign, older format)", q, q.BundleSize)
		}
		for req, reason := range failedReasons(t, r, fx.key.offlinePolicy()) {
			d := digestOf(t, r, req)
			tag, cmd := legacyTagOf(d, legacyAttSuffix).String(), "cosign attest --key cosign.key --type "
			if strings.HasPrefix(req, "signature") {
				tag, cmd = legacyTagOf(d, legacySigSuffix).String(), "cosign sign --key cosign.key "
			}
			for _, want := range []string{tag, "does not verify under policy", cmd} {
				if !strings.Contains(reason, want) {
					t.Errorf("%s: reason does not say %q: %s", req, want, reason)
				}
			}
		}
	})
}

// TestCosignVerifiesOurOlderFormatFixtures: the older-format manifests the tests without cosign
// write (legacy_test.go) are what cosign reads: cosign verify and verify-attestation accept them.
func TestCosignVerifiesOurOlderFormatFixtures(t *testing.T) {
	c := findCosign(t)
	key := c.keyPair("cosign")
	r := pushRelease(t, testkit.Registry(t, testkit.RegistryOptions{}))
	publishLegacy(t, r, key.legacy(t), finalizeCommit)
	c.verifiesOffline(r)
}

// verifiesOffline has cosign verify, with cosign.pub and no transparency log, the signatures on
// r's index and amd64 image, amd64's SBOM and the index's provenance.
func (c *cosignCLI) verifiesOffline(r release) {
	c.t.Helper()
	amd := r.platforms["linux/amd64"].String()
	for _, args := range [][]string{
		{"verify", "--key", "cosign.pub", "--insecure-ignore-tlog", r.index.String()},
		{"verify", "--key", "cosign.pub", "--insecure-ignore-tlog", amd},
		{"verify-attestation", "--key", "cosign.pub", "--insecure-ignore-tlog", "--type", "spdxjson", amd},
		{"verify-attestation", "--key", "cosign.pub", "--insecure-ignore-tlog", "--type", "slsaprovenance1", r.index.String()},
	} {
		c.must(nil, args...)
	}
}

// digestOf is the digest a requirement ("sbom linux/amd64") is about.
func digestOf(t *testing.T, r release, req string) name.Digest {
	t.Helper()
	_, of, _ := strings.Cut(req, " ")
	if of == "index" {
		return r.index
	}
	d, ok := r.platforms[of]
	if !ok {
		t.Fatalf("no subject for %q", req)
	}
	return d
}

// TestCosignOlderFormatInRekor: cosign logs its older-format signatures in Rekor (the stand-in)
// and records the entry in the dev.sigstore.cosign/bundle annotation; a policy that requires the
// log accepts them through the log's key, and refuses them under a root without it.
func TestCosignOlderFormatInRekor(t *testing.T) {
	c := findCosign(t)
	key := c.keyPair("cosign")
	f := signtest.New(t)
	r := pushRelease(t, testkit.Registry(t, testkit.RegistryOptions{}))
	c.publishOlder([]string{"COSIGN_PASSWORD=" + string(key.password)}, r, finalizeCommit, "--key", "cosign.key", "--rekor-url", f.RekorURL())
	if f.RekorHits.Load() < 6 {
		t.Fatalf("cosign logged %d entries in the stand-in Rekor, want 6", f.RekorHits.Load())
	}
	strict := Policy{PublicKeyPEM: key.public, TrustedRootJSON: f.RekorOnlyRoot()}
	if _, err := storeOn(r.repo.RegistryStr()).VerifyRelease(t.Context(), r.index, r.platforms, finalizeCommit, strict); err != nil {
		t.Fatal(err)
	}
	other := Policy{PublicKeyPEM: key.public, TrustedRootJSON: signtest.New(t).RekorOnlyRoot()}
	for req, reason := range failedReasons(t, r, other) {
		if !strings.Contains(reason, "transparency log") {
			t.Errorf("%s under a root without this Rekor: %s", req, reason)
		}
	}
}

// TestCosignOlderFormatRefusals: what does not hold in cosign's older format is refused, by cosign
// and here, saying why: a changed payload, another key, another image's signature or attestation.
func TestCosignOlderFormatRefusals(t *testing.T) {
	c := findCosign(t)
	key := c.keyPair("cosign")
	wrong := c.keyPair("wrong")
	r := pushRelease(t, testkit.Registry(t, testkit.RegistryOptions{}))
	c.publishOlder([]string{"COSIGN_PASSWORD=" + string(key.password)}, r, finalizeCommit, "--key", "cosign.key")
	amd, arm := r.platforms["linux/amd64"], r.platforms["linux/arm64"]
	st := storeOn(r.repo.RegistryStr())
	refused := func(subject name.Digest, pt string, p Policy, want string) {
		t.Helper()
		v, err := st.lookupUnder(t.Context(), p, subject, pt, nil)
		if err != nil || v.ok || !strings.Contains(v.reason(subject, pt), want) {
			t.Fatalf("%s on %s: ok=%v err=%v, want a refusal saying %q:\n%s", pt, subject.DigestStr(), v.ok, err, want, v.reason(subject, pt))
		}
		t.Logf("refused: %s", v.reason(subject, pt))
	}
	refused(r.index, SignaturePredicateType, wrong.offlinePolicy(), "does not verify under policy")
	c.mustFail(refusal(`invalid signature`), nil, "verify", "--key", "wrong.pub", "--insecure-ignore-tlog", r.index.String())

	// The index's signature copied to the amd64 image: it signs another digest.
	copyTag(t, legacyTagOf(r.index, legacySigSuffix), legacyTagOf(amd, legacySigSuffix))
	refused(amd, SignaturePredicateType, key.offlinePolicy(), "it is the signature of another image")
	c.mustFail(regexp.MustCompile(`invalid or missing digest in claim`), nil, "verify", "--key", "cosign.pub", "--insecure-ignore-tlog", amd.String())

	// amd64's SBOM attestation copied to arm64: its statement is about another digest.
	copyTag(t, legacyTagOf(amd, legacyAttSuffix), legacyTagOf(arm, legacyAttSuffix))
	refused(arm, SPDXPredicateType, key.offlinePolicy(), "provided artifact digest does not match any digest in statement")
	c.mustFail(regexp.MustCompile(`no matching attestations|no matching subject digest found`), nil, "verify-attestation", "--key", "cosign.pub", "--insecure-ignore-tlog", "--type", "spdxjson", arm.String())

	// The index's signed payload changed (same signature annotation).
	tamper(t, legacyTagOf(r.index, legacySigSuffix), []byte(`"optional":null`), []byte(`"optional":{"by":"mallory"}`))
	refused(r.index, SignaturePredicateType, key.offlinePolicy(), "could not verify message")
	c.mustFail(refusal(`.*invalid signature`), nil, "verify", "--key", "cosign.pub", "--insecure-ignore-tlog", r.index.String())
}

// copyTag points tag to at the manifest tag from holds.
func copyTag(t *testing.T, from, to name.Tag) {
	t.Helper()
	desc, err := remote.Get(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Put(to, desc); err != nil {
		t.Fatal(err)
	}
}

// tamper rewrites the first layer of the image at tag, replacing old with new in its payload and
// keeping its annotations (the signature).
func tamper(t *testing.T, tag name.Tag, old, new []byte) {
	t.Helper()
	_, m := manifestAt(t, tag, v1.ParseManifest)
	if len(m.Layers) == 0 {
		t.Fatalf("%s holds no layer", tag)
	}
	p, err := readBlob(testConn(t, storeOn(tag.RegistryStr())), tag.Context().Digest(m.Layers[0].Digest.String()))
	if err != nil || !strings.Contains(string(p), string(old)) {
		t.Fatalf("payload %s: %v", p, err)
	}
	out := mutate.ConfigMediaType(mutate.MediaType(empty.Image, m.MediaType), m.Config.MediaType)
	out, err = mutate.Append(out, mutate.Addendum{Layer: staticLayer([]byte(strings.Replace(string(p), string(old), string(new), 1)), string(m.Layers[0].MediaType)), Annotations: m.Layers[0].Annotations})
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, out); err != nil {
		t.Fatal(err)
	}
}

// resignCommands are the commands the reasons name, one per requirement, as argument lists
// without the leading "cosign".
func resignCommands(t *testing.T, reasons map[string]string) [][]string {
	t.Helper()
	var cmds [][]string
	seen := map[string]bool{}
	for _, req := range slices.Sorted(maps.Keys(reasons)) {
		_, cmd, ok := strings.Cut(reasons[req], "(its default format): ")
		if !ok || !strings.HasPrefix(cmd, "cosign ") {
			t.Fatalf("%s: the reason names no command: %s", req, reasons[req])
		}
		if !seen[cmd] {
			seen[cmd] = true
			cmds = append(cmds, strings.Fields(cmd)[1:])
		}
	}
	return cmds
}

// TestCosignOlderFormatSignedAgain: a release cosign signed in the older format with a key, and
// without a transparency log, is refused by a policy that cannot accept it (keyless; a key policy
// that requires the log): every refusal names the .sig or .att tag and a command. Running exactly
// those commands (plus where to reach the stand-in sigstore) signs again in the bundle format,
// and the release then verifies.
func TestCosignOlderFormatSignedAgain(t *testing.T) {
	c := findCosign(t)
	key := c.keyPair("cosign")
	env := []string{"COSIGN_PASSWORD=" + string(key.password)}
	f := signtest.New(t)
	c.file("trusted_root.json", f.TrustedRoot())
	c.file("signing_config.json", []byte(`{"mediaType":"application/vnd.dev.sigstore.signingconfig.v0.2+json",`+
		`"caUrls":[{"url":"`+f.FulcioURL()+`","majorApiVersion":1,"validFor":{"start":"2020-01-01T00:00:00Z"},"operator":"test"}],`+
		`"rekorTlogUrls":[{"url":"`+f.RekorURL()+`","majorApiVersion":1,"validFor":{"start":"2020-01-01T00:00:00Z"},"operator":"test"}],`+
		`"rekorTlogConfig":{"selector":"ANY"},"tsaConfig":{"selector":"ANY"}}`))
	keyless := DefaultKeylessPolicy("shipgate/demo", ".github/workflows/release.yml", "")
	keyless.TrustedRootJSON = f.TrustedRoot()
	strict := Policy{PublicKeyPEM: key.public, TrustedRootJSON: f.RekorOnlyRoot()}
	for _, tc := range []struct {
		name   string
		policy Policy
		// extra is what the commands need besides themselves to reach the stand-ins.
		extra   func() []string
		want    string
		withKey bool
	}{
		{"keyless", keyless, func() []string { return []string{"--identity-token", f.MintToken()} }, "signed with a key (no Fulcio certificate", false},
		{"key with log", strict, func() []string { return nil }, "signed without a transparency log entry", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := pushRelease(t, testkit.Registry(t, testkit.RegistryOptions{Referrers: true}))
			c.publishOlder(env, r, finalizeCommit, "--key", "cosign.key")
			reasons := failedReasons(t, r, tc.policy)
			if len(reasons) != 6 {
				t.Fatalf("%d requirements refused, want all 6: %v", len(reasons), reasons)
			}
			for req, reason := range reasons {
				d := digestOf(t, r, req)
				tag := legacyTagOf(d, legacySigSuffix).String()
				if !strings.HasPrefix(req, "signature") {
					tag = legacyTagOf(d, legacyAttSuffix).String()
				}
				if !strings.Contains(reason, tag) || !strings.Contains(reason, tc.want) || strings.Contains(reason, "--key") != tc.withKey {
					t.Errorf("%s: reason does not name %s, say %q, and give the command (with --key: %v):\n%s", req, tag, tc.want, tc.withKey, reason)
				}
			}
			for _, args := range resignCommands(t, reasons) {
				if slices.Contains(args, "sbom.spdx.json") {
					c.file("sbom.spdx.json", spdx("linux/amd64"))
				}
				c.file("provenance.json", provenanceFor(t, finalizeCommit))
				c.must(env, append(args, append(tc.extra(), "--signing-config", "signing_config.json", "--trusted-root", "trusted_root.json", "-y")...)...)
			}
			reqs, err := storeOn(r.repo.RegistryStr()).VerifyRelease(t.Context(), r.index, r.platforms, finalizeCommit, tc.policy)
			if err != nil {
				t.Fatalf("after signing again with the named commands: %v", err)
			}
			for _, q := range reqs {
				t.Logf("%v (%d-byte bundle)", q, q.BundleSize)
			}
		})
	}
}

// TestWeAcceptCosignOlderFormatKeyless: cosign v3 signs and attests keylessly in its older format
// through the stand-ins (certificate and Rekor entry in annotations); the keyless policy accepts
// them by identity and refuses them for another workflow.
func TestWeAcceptCosignOlderFormatKeyless(t *testing.T) {
	c := findCosign(t)
	f := signtest.New(t)
	r := pushRelease(t, testkit.Registry(t, testkit.RegistryOptions{}))
	c.file("trusted_root.json", f.TrustedRoot())
	c.file("provenance.json", provenanceFor(t, finalizeCommit))
	older := []string{"--new-bundle-format=false", "--use-signing-config=false", "--fulcio-url", f.FulcioURL(), "--rekor-url", f.RekorURL(), "--trusted-root", "trusted_root.json", "-y"}
	c.must(nil, append(append([]string{"sign", "--identity-token", f.MintToken()}, older...), r.index.String())...)
	c.must(nil, append(append([]string{"attest", "--identity-token", f.MintToken(), "--type", "slsaprovenance1", "--predicate", "provenance.json"}, older...), r.index.String())...)
	if refs := referrersOf(t, r.index); len(refs) != 0 {
		t.Fatalf("cosign wrote referrers, not the older format: %+v", refs)
	}
	acceptsKeylessIndex(t, r, f.TrustedRoot(), "cosign's older keyless")
}

// acceptsKeylessIndex checks that the release workflow's keyless policy (under root) accepts the
// signature and provenance on r's index, and another workflow's refuses the signature.
func acceptsKeylessIndex(t *testing.T, r release, root []byte, what string) {
	t.Helper()
	st := storeOn(r.repo.RegistryStr())
	p := DefaultKeylessPolicy("shipgate/demo", ".github/workflows/release.yml", "")
	p.TrustedRootJSON = root
	if ok, err := st.Signed(t.Context(), r.index, p); err != nil || !ok {
		t.Fatalf("%s signature: Signed = %v, %v", what, ok, err)
	}
	if ok, err := st.Attested(t.Context(), r.index, ProvenancePredicateType, p, BuiltFrom(finalizeCommit)); err != nil || !ok {
		t.Fatalf("%s provenance: Attested = %v, %v", what, ok, err)
	}
	other := DefaultKeylessPolicy("shipgate/demo", ".github/workflows/other.yml", "")
	other.TrustedRootJSON = root
	if ok, err := st.Signed(t.Context(), r.index, other); err != nil || ok {
		t.Fatalf("another workflow's policy: Signed = %v, %v", ok, err)
	}
}
