package sign

// Interop with stock cosign v3.1.3: cosign verifies what we write, and we accept what cosign
// writes. Tests find cosign through SHIPGATE_COSIGN (a path) or PATH, and skip without it unless
// SHIPGATE_REQUIRE_COSIGN=1 (set by CI), where they fail.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/shipgate/shipgate/pipeline/sign/signtest"
	"github.com/shipgate/shipgate/pipeline/testkit"
)

// cosignVersion is the cosign release the interop tests are written against.
const cosignVersion = "v3.1.3"

type cosignCLI struct {
	t    *testing.T
	bin  string
	home string
	dir  string
}

func findCosign(t *testing.T) *cosignCLI {
	t.Helper()
	bin := os.Getenv("SHIPGATE_COSIGN")
	if bin == "" {
		bin, _ = exec.LookPath("cosign")
	}
	c := &cosignCLI{t: t, bin: bin, home: t.TempDir(), dir: t.TempDir()}
	var version string
	if bin != "" {
		out, err := c.run(nil, "version")
		if err != nil {
			t.Fatalf("%s version: %v\n%s", bin, err, out)
		}
		version = out
	}
	switch verdict, why := cosignUsable(bin, version, os.Getenv("SHIPGATE_REQUIRE_COSIGN") == "1"); verdict {
	case "fail":
		t.Fatal(why)
	case "skip":
		t.Skip(why)
	}
	return c
}

// cosignUsable says whether the interop tests run with cosign at bin (empty: none found), whose
// `cosign version` printed version: "run", or "skip" or "fail" with the reason. With
// SHIPGATE_REQUIRE_COSIGN=1 (require) a missing or wrong cosign fails instead of skipping.
func cosignUsable(bin, version string, require bool) (verdict, why string) {
	verdict = "skip"
	if require {
		verdict = "fail"
	}
	switch {
	case bin == "":
		return verdict, fmt.Sprintf("cosign not found: go install github.com/sigstore/cosign/v3/cmd/cosign@%s and set SHIPGATE_COSIGN or put it on PATH (SHIPGATE_REQUIRE_COSIGN=1 makes this a failure)", cosignVersion)
	case !cosignVersionLine.MatchString(version):
		return verdict, fmt.Sprintf("interop tests are written for cosign %s; %s says:\n%s(SHIPGATE_REQUIRE_COSIGN=1 makes a wrong version a failure)", cosignVersion, bin, version)
	}
	return "run", ""
}

// With SHIPGATE_REQUIRE_COSIGN=1 a missing or wrong cosign fails the interop tests; without it
// they are skipped.
func TestCosignRequirement(t *testing.T) {
	right := "GitVersion:    " + cosignVersion + "\nGitCommit:     x\n"
	wrong := "GitVersion:    v2.5.0\nGitCommit:     x\n"
	for _, tc := range []struct {
		bin, version string
		require      bool
		want         string
	}{
		{"/bin/cosign", right, false, "run"},
		{"/bin/cosign", right, true, "run"},
		{"/bin/cosign", wrong, false, "skip"},
		{"/bin/cosign", wrong, true, "fail"},
		{"/bin/cosign", "GitVersion:    " + cosignVersion + "-dirty\n", true, "fail"},
		{"", "", false, "skip"},
		{"", "", true, "fail"},
	} {
		if got, why := cosignUsable(tc.bin, tc.version, tc.require); got != tc.want {
			t.Errorf("cosignUsable(%q, %q, require=%v) = %s (%s), want %s", tc.bin, tc.version, tc.require, got, why, tc.want)
		}
	}
}

// cosignVersionLine is the line of `cosign version` that names cosignVersion.
var cosignVersionLine = regexp.MustCompile(`(?m)^GitVersion:\s+` + regexp.QuoteMeta(cosignVersion) + `\s*$`)

// What cosign v3 prints when verification itself fails (pkg/cosign/verify.go and
// cmd/cosign/cli/verify), as opposed to a bad flag, a crash or an unreachable registry: "no
// matching attestations" (bundles are attestations to cosign v3, signatures included), then why.
func refusal(why string) *regexp.Regexp {
	return regexp.MustCompile(`no matching (signatures|attestations): ` + why)
}

var (
	// wrongKey: the signature does not verify under the key given.
	wrongKey = refusal(`failed to verify signature`)
	// notInLog: the transparency log entry does not verify under the trusted root.
	notInLog = refusal(`failed to verify log inclusion`)
	// wrongIdentity and wrongIssuer: the certificate names someone else.
	wrongIdentity = refusal(`failed to verify certificate identity: .*expected SAN value`)
	wrongIssuer   = refusal(`failed to verify certificate identity: .*expected issuer value "https://accounts.google.com"`)
	// noSBOM: bundles verified, but none of the predicate type asked for.
	noSBOM = regexp.MustCompile(`none of the attestations matched the predicate type: spdxjson`)
)

// run runs cosign in its own HOME (so nothing is cached between tests) and working directory.
func (c *cosignCLI) run(env []string, args ...string) (string, error) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Dir = c.dir
	cmd.Env = append([]string{"HOME=" + c.home, "PATH=" + os.Getenv("PATH"), "NO_COLOR=1"}, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// must runs cosign and fails the test if it fails.
func (c *cosignCLI) must(env []string, args ...string) string {
	c.t.Helper()
	out, err := c.run(env, args...)
	if err != nil {
		c.t.Fatalf("cosign %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// mustFail runs cosign and fails the test unless cosign ran and refused with a verification
// failure matching want; any other failure (a bad flag, a crash, a registry error) fails the test.
func (c *cosignCLI) mustFail(want *regexp.Regexp, env []string, args ...string) string {
	c.t.Helper()
	out, err := c.run(env, args...)
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		c.t.Fatalf("cosign %s succeeded (or did not run: %v), want a refusal matching %q\n%s", strings.Join(args, " "), err, want, out)
	}
	if !want.MatchString(out) {
		c.t.Fatalf("cosign %s failed, but not with a verification failure matching %q:\n%s", strings.Join(args, " "), want, out)
	}
	c.t.Logf("cosign %s refused, as it should: %s", args[0], want.FindString(out))
	return out
}

func (c *cosignCLI) file(name string, b []byte) string {
	c.t.Helper()
	p := filepath.Join(c.dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		c.t.Fatal(err)
	}
	return p
}

// keyPair runs `cosign generate-key-pair` with a password and returns the files' bytes.
func (c *cosignCLI) keyPair(prefix string) testKey {
	c.t.Helper()
	pw := "cosign-pw-" + randHex(c.t, 6)
	c.must([]string{"COSIGN_PASSWORD=" + pw}, "generate-key-pair", "--output-key-prefix", prefix)
	priv, err := os.ReadFile(filepath.Join(c.dir, prefix+".key"))
	if err != nil {
		c.t.Fatal(err)
	}
	pub, err := os.ReadFile(filepath.Join(c.dir, prefix+".pub"))
	if err != nil {
		c.t.Fatal(err)
	}
	return testKey{private: priv, public: pub, password: []byte(pw)}
}

// TestCosignVerifiesKeySignatures: a key from `cosign generate-key-pair` signs a release here,
// without a transparency log; `cosign verify` and `cosign verify-attestation` accept it in every
// registry lane, and refuse it under another key.
func TestCosignVerifiesKeySignatures(t *testing.T) {
	c := findCosign(t)
	key := c.keyPair("cosign")
	wrong := c.keyPair("wrong")
	for _, l := range lanes {
		t.Run(l.name, func(t *testing.T) {
			r := pushRelease(t, l.start(t))
			st := storeOn(r.repo.RegistryStr())
			publish(t, st, r, key.signer(t, KeyOptions{DisableTlogUpload: true}), finalizeCommit)
			if _, err := st.VerifyRelease(t.Context(), r.index, r.platforms, finalizeCommit, key.offlinePolicy()); err != nil {
				t.Fatal(err)
			}
			c.verifiesOffline(r)
			c.mustFail(wrongKey, nil, "verify", "--key", "wrong.pub", "--insecure-ignore-tlog", r.index.String())
			// The index has no SBOM: cosign must not find one there.
			c.mustFail(noSBOM, nil, "verify-attestation", "--key", "cosign.pub", "--insecure-ignore-tlog", "--type", "spdxjson", r.index.String())
			if ok, err := st.Signed(t.Context(), r.index, wrong.offlinePolicy()); err != nil || ok {
				t.Fatalf("Signed under the wrong key = %v, %v", ok, err)
			}
		})
	}
}

// TestCosignVerifiesKeySignaturesInRekor: with the transparency log on (the default), cosign
// verifies the Rekor entry against the trusted root, as it would the public-good one.
func TestCosignVerifiesKeySignaturesInRekor(t *testing.T) {
	c := findCosign(t)
	key := c.keyPair("cosign")
	f := signtest.New(t)
	r := pushRelease(t, testkit.RegistryProcess(t, testkit.RegistryOptions{}))
	st := storeOn(r.repo.RegistryStr())
	publish(t, st, r, key.signer(t, KeyOptions{RekorURL: f.RekorURL()}), finalizeCommit)
	tr := f.RekorOnlyRoot()
	strict := Policy{PublicKeyPEM: key.public, TrustedRootJSON: tr}
	if _, err := st.VerifyRelease(t.Context(), r.index, r.platforms, finalizeCommit, strict); err != nil {
		t.Fatal(err)
	}
	c.file("trusted_root.json", tr)
	c.must(nil, "verify", "--key", "cosign.pub", "--trusted-root", "trusted_root.json", r.index.String())
	c.must(nil, "verify-attestation", "--key", "cosign.pub", "--trusted-root", "trusted_root.json", "--type", "slsaprovenance1", r.index.String())
	c.must(nil, "verify-attestation", "--key", "cosign.pub", "--trusted-root", "trusted_root.json", "--type", "spdxjson", r.platforms["linux/arm64"].String())
	// A root that does not hold this Rekor's key: cosign refuses the entry.
	c.file("other_root.json", signtest.New(t).RekorOnlyRoot())
	c.mustFail(notInLog, nil, "verify", "--key", "cosign.pub", "--trusted-root", "other_root.json", r.index.String())
}

// TestCosignVerifiesKeyless: keyless signatures made through the stand-ins verify with cosign,
// given the stand-ins' trusted root, by identity and issuer (the SCT is checked too).
func TestCosignVerifiesKeyless(t *testing.T) {
	c := findCosign(t)
	f := signtest.New(t)
	r := pushRelease(t, testkit.RegistryProcess(t, testkit.RegistryOptions{}))
	st := storeOn(r.repo.RegistryStr())
	sg := standInSigner(t, f)
	publish(t, st, r, sg, finalizeCommit)
	c.file("trusted_root.json", f.TrustedRoot())
	p := DefaultKeylessPolicy("shipgate/demo", ".github/workflows/release.yml", regexp.QuoteMeta("refs/heads/release/1.2.3"))
	id := []string{"--certificate-identity-regexp", p.IdentityRegexp, "--certificate-oidc-issuer", GitHubActionsIssuer, "--trusted-root", "trusted_root.json"}
	c.must(nil, append([]string{"verify"}, append(id, r.index.String())...)...)
	c.must(nil, append([]string{"verify", "--certificate-identity", releaseIdentity, "--certificate-oidc-issuer", GitHubActionsIssuer, "--trusted-root", "trusted_root.json"}, r.index.String())...)
	c.must(nil, append([]string{"verify-attestation", "--type", "spdxjson"}, append(id, r.platforms["linux/amd64"].String())...)...)
	c.must(nil, append([]string{"verify-attestation", "--type", "slsaprovenance1"}, append(id, r.index.String())...)...)
	// The wrong identity and the wrong issuer are refused by cosign too.
	c.mustFail(wrongIdentity, nil, "verify", "--certificate-identity", "https://github.com/shipgate/demo/.github/workflows/release.yml@refs/heads/main", "--certificate-oidc-issuer", GitHubActionsIssuer, "--trusted-root", "trusted_root.json", r.index.String())
	c.mustFail(wrongIssuer, nil, "verify", "--certificate-identity", releaseIdentity, "--certificate-oidc-issuer", "https://accounts.google.com", "--trusted-root", "trusted_root.json", r.index.String())
}

// TestWeAcceptCosignSignatures: cosign v3 signs and attests a release with a key, offline (an
// empty signing config: no Fulcio, no Rekor); VerifyRelease accepts it, and refuses it under
// another key.
func TestWeAcceptCosignSignatures(t *testing.T) {
	c := findCosign(t)
	key := c.keyPair("cosign")
	eachLane(t, []lane{lanes[0], lanes[2]}, func(t *testing.T, fx laneFixture) {
		r, st := fx.r, fx.st
		c.file("signing_config.json", []byte(`{"mediaType":"application/vnd.dev.sigstore.signingconfig.v0.2+json"}`))
		// A trusted root keeps cosign from reaching for the public TUF repository.
		c.file("trusted_root.json", []byte(`{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}`))
		env := []string{"COSIGN_PASSWORD=" + string(key.password)}
		offline := []string{"--key", "cosign.key", "--signing-config", "signing_config.json", "--trusted-root", "trusted_root.json", "-y"}
		c.must(env, append(append([]string{"sign"}, offline...), r.index.String())...)
		var all []name.Digest
		for _, p := range slices.Sorted(maps.Keys(r.platforms)) {
			d := r.platforms[p]
			all = append(all, d)
			c.file("sbom.json", spdx(p))
			c.must(env, append(append([]string{"sign"}, offline...), d.String())...)
			c.must(env, append(append([]string{"attest", "--type", "spdxjson", "--predicate", "sbom.json"}, offline...), d.String())...)
		}
		c.file("provenance.json", provenanceFor(t, finalizeCommit))
		c.must(env, append(append([]string{"attest", "--type", "slsaprovenance1", "--predicate", "provenance.json"}, offline...), r.index.String())...)

		reqs, err := st.VerifyRelease(t.Context(), r.index, r.platforms, finalizeCommit, key.offlinePolicy())
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range reqs {
			t.Logf("%v (%d-byte bundle by cosign)", q, q.BundleSize)
		}
		if _, err := st.VerifyRelease(t.Context(), r.index, r.platforms, finalizeCommit, fx.key.offlinePolicy()); err == nil {
			t.Fatal("cosign's signatures verified under another key")
		}
		// cosign's SBOM statement is in-toto v0.1 with the predicate as given.
		_, err = st.Attested(t.Context(), all[0], SPDXPredicateType, key.offlinePolicy(), func(s Statement) error {
			if !strings.Contains(string(s.Predicate), `"SPDX-2.3"`) {
				t.Errorf("predicate %s", s.Predicate)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// TestWeAcceptCosignKeyless: cosign v3 signs and attests keylessly through the same stand-ins
// (its own Fulcio and Rekor clients, an identity token given on the command line); the keyless
// policy here accepts its bundles, and refuses them for another workflow.
func TestWeAcceptCosignKeyless(t *testing.T) {
	c := findCosign(t)
	f := signtest.New(t)
	r := pushRelease(t, testkit.RegistryProcess(t, testkit.RegistryOptions{}))
	c.file("trusted_root.json", f.TrustedRoot())
	c.file("signing_config.json", []byte(`{"mediaType":"application/vnd.dev.sigstore.signingconfig.v0.2+json",`+
		`"caUrls":[{"url":"`+f.FulcioURL()+`","majorApiVersion":1,"validFor":{"start":"2020-01-01T00:00:00Z"},"operator":"test"}],`+
		`"rekorTlogUrls":[{"url":"`+f.RekorURL()+`","majorApiVersion":1,"validFor":{"start":"2020-01-01T00:00:00Z"},"operator":"test"}],`+
		`"rekorTlogConfig":{"selector":"ANY"},"tsaConfig":{"selector":"ANY"}}`))
	c.file("provenance.json", provenanceFor(t, finalizeCommit))
	keyless := []string{"--signing-config", "signing_config.json", "--trusted-root", "trusted_root.json", "--identity-token", f.MintToken(), "-y"}
	c.must(nil, append(append([]string{"sign"}, keyless...), r.index.String())...)
	c.must(nil, append(append([]string{"attest", "--type", "slsaprovenance1", "--predicate", "provenance.json"}, keyless...), r.index.String())...)
	if f.FulcioHits.Load() < 1 || f.RekorHits.Load() < 2 {
		t.Fatalf("cosign did not go through the stand-ins: Fulcio %d, Rekor %d requests", f.FulcioHits.Load(), f.RekorHits.Load())
	}
	acceptsKeylessIndex(t, r, f.TrustedRoot(), "cosign's keyless")
}
