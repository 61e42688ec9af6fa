package sign

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"

	"github.com/shipgate/shipgate/pipeline/clock"
	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/sign/signtest"
	"github.com/shipgate/shipgate/pipeline/testkit"
)

const releaseIdentity = "https://github.com/shipgate/demo/.github/workflows/release.yml@refs/heads/release/1.2.3"

// TestVirtualSigstoreIdentityPolicy checks the keyless policy on entities signed directly by
// sigstore-go's VirtualSigstore (certificate, DSSE envelope, Rekor entry with SET).
func TestVirtualSigstoreIdentityPolicy(t *testing.T) {
	vs, stranger := virtualSigstore(t), virtualSigstore(t)
	repo, err := name.NewRepository("registry.example/shipgate/demo")
	if err != nil {
		t.Fatal(err)
	}
	subject, other := repo.Digest("sha256:"+strings.Repeat("ab", 32)), repo.Digest("sha256:"+strings.Repeat("cd", 32))
	sigStmt, err := statement(SignaturePredicateType, []byte("{}"), false, subject)
	if err != nil {
		t.Fatal(err)
	}
	// VirtualSigstore has no CT log to issue SCTs: this policy accepts certificates without one.
	p := DefaultKeylessPolicy("shipgate/demo", ".github/workflows/release.yml", regexp.QuoteMeta("refs/heads/release/1.2.3"))
	p.IgnoreSCT = true
	c, err := newCheckerWith(p, vs)
	if err != nil {
		t.Fatal(err)
	}
	attest := func(ss *ca.VirtualSigstore, identity, issuer string, stmt []byte) *ca.TestEntity {
		t.Helper()
		e, err := ss.Attest(identity, issuer, stmt)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}

	st, err := c.verifyEntity(attest(vs, releaseIdentity, GitHubActionsIssuer, sigStmt), subject)
	if err != nil || st.PredicateType != SignaturePredicateType || !st.Covers(subject.DigestStr()) {
		t.Fatalf("right identity and issuer: %+v, %v", st, err)
	}

	tampered := attest(vs, releaseIdentity, GitHubActionsIssuer, sigStmt)
	sc, _ := tampered.SignatureContent()
	otherStmt, _ := statement(SignaturePredicateType, []byte("{}"), false, other)
	sc.EnvelopeContent().RawEnvelope().Payload = base64.StdEncoding.EncodeToString(otherStmt)

	prov, _ := statement(ProvenancePredicateType, provenanceFor(t, strings.Repeat("e", 40)), true, subject)
	provSt, err := c.verifyEntity(attest(vs, releaseIdentity, GitHubActionsIssuer, prov), subject)
	if err != nil {
		t.Fatal(err)
	}
	if err := BuiltFrom(strings.Repeat("e", 40))(provSt); err != nil {
		t.Fatalf("provenance of the right commit: %v", err)
	}

	for _, tc := range []struct {
		name    string
		entity  *ca.TestEntity
		subject name.Digest
		want    string
	}{
		{"wrong identity", attest(vs, "https://github.com/evil/demo/.github/workflows/release.yml@refs/heads/release/1.2.3", GitHubActionsIssuer, sigStmt), subject, "failed to verify certificate identity"},
		{"other branch", attest(vs, "https://github.com/shipgate/demo/.github/workflows/release.yml@refs/heads/main", GitHubActionsIssuer, sigStmt), subject, "expected SAN value to match regex"},
		{"wrong issuer", attest(vs, releaseIdentity, "https://accounts.google.com", sigStmt), subject, "expected issuer value \"" + GitHubActionsIssuer + "\""},
		{"untrusted CA", attest(stranger, releaseIdentity, GitHubActionsIssuer, sigStmt), subject, "failed to verify"},
		{"copied onto another digest", attest(vs, releaseIdentity, GitHubActionsIssuer, sigStmt), other, "artifact digest"},
		{"tampered payload", tampered, other, "does not match envelope payload hash"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.verifyEntity(tc.entity, tc.subject)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "does not verify under policy (identity ~") {
				t.Fatalf("reason %q, want it to say %q and name the policy", err, tc.want)
			}
		})
	}
	t.Run("provenance naming another commit", func(t *testing.T) {
		err := BuiltFrom(finalizeCommit)(provSt)
		if err == nil || !strings.Contains(err.Error(), "names commit "+strings.Repeat("e", 40)+", not the finalize commit "+finalizeCommit) {
			t.Fatalf("BuiltFrom = %v", err)
		}
	})
}

// virtualSigstore is a new sigstore-go VirtualSigstore: a CA and transparency log in memory.
func virtualSigstore(tb testing.TB) *ca.VirtualSigstore {
	tb.Helper()
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		tb.Fatal(err)
	}
	return vs
}

// TestKeylessThroughStandIns runs the real keyless path (Actions token endpoint, sigstore-go's
// Fulcio and Rekor clients) against the local stand-ins, stores the bundles, and verifies them
// with the instance's trusted root, SCT included.
func TestKeylessThroughStandIns(t *testing.T) {
	for _, l := range lanes {
		t.Run(l.name, func(t *testing.T) {
			f := signtest.New(t)
			r := pushRelease(t, l.start(t))
			st := storeOn(r.repo.RegistryStr())
			publish(t, st, r, standInSigner(t, f), finalizeCommit)
			if f.TokenHits.Load() != 1 || f.FulcioHits.Load() != 1 || f.RekorHits.Load() != 6 {
				t.Errorf("token %d, Fulcio %d, Rekor %d requests; want one certificate for all six bundles, each logged", f.TokenHits.Load(), f.FulcioHits.Load(), f.RekorHits.Load())
			}
			p := DefaultKeylessPolicy("shipgate/demo", ".github/workflows/release.yml", "")
			p.TrustedRootJSON = f.TrustedRoot()
			if _, err := st.VerifyRelease(t.Context(), r.index, r.platforms, finalizeCommit, p); err != nil {
				t.Fatal(err)
			}
			if ok, err := st.Signed(t.Context(), r.index, p); err != nil || !ok {
				t.Fatalf("Signed = %v, %v", ok, err)
			}
		})
	}
}

// TestKeylessRejections stores keyless bundles made through the stand-ins and checks that each
// wrong policy or wrong bundle is rejected with its reason.
func TestKeylessRejections(t *testing.T) {
	f := signtest.New(t)
	host := testkit.Registry(t, testkit.RegistryOptions{})
	r := pushRelease(t, host)
	st := storeOn(host)
	publish(t, st, r, standInSigner(t, f), finalizeCommit)
	good := DefaultKeylessPolicy("shipgate/demo", ".github/workflows/release.yml", "")
	good.TrustedRootJSON = f.TrustedRoot()

	reason := func(t *testing.T, subject name.Digest, pt string, p Policy) string {
		t.Helper()
		v, err := st.lookupUnder(t.Context(), p, subject, pt, nil)
		if err != nil {
			t.Fatal(err)
		}
		if v.ok {
			t.Fatalf("accepted under %s", p)
		}
		return v.reason(subject, pt)
	}
	withPolicy := func(mut func(*Policy)) Policy { p := good; mut(&p); return p }
	for _, tc := range []struct {
		name string
		p    Policy
		want string
	}{
		{"wrong identity", withPolicy(func(p *Policy) {
			p.IdentityRegexp = DefaultKeylessPolicy("shipgate/other", ".github/workflows/release.yml", "").IdentityRegexp
		}), "expected SAN value to match regex"},
		{"tag ref instead of branch", withPolicy(func(p *Policy) {
			p.IdentityRegexp = DefaultKeylessPolicy("shipgate/demo", ".github/workflows/release.yml", `refs/tags/v1\.2\.3`).IdentityRegexp
		}), "got \"" + releaseIdentity + "\""},
		{"wrong issuer", withPolicy(func(p *Policy) { p.Issuer = "https://accounts.google.com" }), "expected issuer value \"https://accounts.google.com\""},
		{"untrusted CA", withPolicy(func(p *Policy) { p.TrustedRootJSON = signtest.New(t).TrustedRoot() }), "failed to verify"},
		{"CT log not trusted", withPolicy(func(p *Policy) {
			other := signtest.New(t)
			other.ShareCA(f)
			p.TrustedRootJSON = other.TrustedRoot()
		}), "signed certificate timestamp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := reason(t, r.index, SignaturePredicateType, tc.p)
			if !strings.Contains(got, tc.want) || !strings.Contains(got, "1 bundle(s) found, none accepted: referrer sha256:") {
				t.Fatalf("reason %q, want it to say %q", got, tc.want)
			}
		})
	}

	// A second image, unsigned, to copy bundles onto.
	r2 := pushRelease(t, host)
	sigBundle := bundleOf(t, r.index, SignaturePredicateType)
	t.Run("bundle copied onto another digest", func(t *testing.T) {
		desc, err := remote.Head(r2.index)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.putReferrer(t.Context(), testConn(t, st), r2.index, *desc, sigBundle, SignaturePredicateType); err != nil {
			t.Fatal(err)
		}
		got := reason(t, r2.index, SignaturePredicateType, good)
		if !strings.Contains(got, "artifact digest") {
			t.Fatalf("reason %q", got)
		}
	})
	t.Run("tampered payload", func(t *testing.T) {
		// Rewrite the statement to name the other image and store it there.
		var b map[string]any
		if err := json.Unmarshal(sigBundle, &b); err != nil {
			t.Fatal(err)
		}
		stmt, _ := statement(SignaturePredicateType, []byte("{}"), false, r2.platforms["linux/amd64"])
		b["dsseEnvelope"].(map[string]any)["payload"] = base64.StdEncoding.EncodeToString(stmt)
		forged, _ := json.Marshal(b)
		d := r2.platforms["linux/amd64"]
		desc, err := remote.Head(d)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.putReferrer(t.Context(), testConn(t, st), d, *desc, forged, SignaturePredicateType); err != nil {
			t.Fatal(err)
		}
		got := reason(t, d, SignaturePredicateType, good)
		if !strings.Contains(got, "does not match envelope payload hash") {
			t.Fatalf("reason %q", got)
		}
	})
	t.Run("provenance naming another commit", func(t *testing.T) {
		_, err := st.VerifyRelease(t.Context(), r.index, r.platforms, strings.Repeat("9", 40), good)
		var re *ReleaseError
		if !errors.As(err, &re) || len(re.Failed) != 1 || re.Failed[0].What != "provenance" {
			t.Fatalf("VerifyRelease = %v", err)
		}
		if !strings.Contains(err.Error(), "names commit "+finalizeCommit+", not the finalize commit "+strings.Repeat("9", 40)) {
			t.Fatalf("reason: %v", err)
		}
	})
}

// bundleOf returns the bundle of the first referrer of subject with predicate type pt.
func bundleOf(t *testing.T, subject name.Digest, pt string) []byte {
	t.Helper()
	for _, d := range referrersOf(t, subject) {
		if d.Annotations[AnnotationPredicateType] == pt {
			b, ok, err := fetchBundle(testConn(t, storeOn(subject.RegistryStr())), subject, d)
			if err != nil || !ok {
				t.Fatal(ok, err)
			}
			return b
		}
	}
	t.Fatalf("no %s referrer on %s", pt, subject)
	return nil
}

// TestKeylessIdentities covers how the trigger and reusable workflows change the identity.
func TestKeylessIdentities(t *testing.T) {
	host := testkit.Registry(t, testkit.RegistryOptions{Referrers: true})
	for _, tc := range []struct {
		name           string
		claims         map[string]any
		pass, fail     Policy
		failWant       string
		passWorkflowID string
	}{
		{
			name:   "tag-triggered run",
			claims: claims("shipgate/demo", "shipgate/demo/.github/workflows/release.yml@refs/tags/v1.2.3", "refs/tags/v1.2.3"),
			pass:   DefaultKeylessPolicy("shipgate/demo", ".github/workflows/release.yml", `refs/tags/v1\.2\.3`),
			fail:   DefaultKeylessPolicy("shipgate/demo", ".github/workflows/release.yml", ""),
		},
		{
			name:   "reusable workflow signs as the called workflow",
			claims: claims("shipgate/demo", "shipgate/workflows/.github/workflows/publish.yml@refs/tags/v1", "refs/heads/release/1.2.3"),
			pass:   DefaultKeylessPolicy("shipgate/demo", "shipgate/workflows/.github/workflows/publish.yml", `refs/tags/v1`),
			fail:   DefaultKeylessPolicy("shipgate/demo", ".github/workflows/release.yml", ""),
		},
		{
			name:   "reusable workflow pinned by commit, default ref",
			claims: claims("shipgate/demo", "shipgate/workflows/.github/workflows/publish.yml@3d3c42e5aac5ba805825da76410c181273ba90b1", "refs/heads/release/1.2.3"),
			pass:   DefaultKeylessPolicy("shipgate/demo", "shipgate/workflows/.github/workflows/publish.yml", ""),
			fail:   DefaultKeylessPolicy("mallory/fork", "shipgate/workflows/.github/workflows/publish.yml", ""),
		},
		{
			name:     "reusable workflow called from another repository",
			claims:   claims("mallory/fork", "shipgate/workflows/.github/workflows/publish.yml@refs/tags/v1", "refs/heads/release/1.2.3"),
			pass:     Policy{Issuer: GitHubActionsIssuer, Identity: "https://github.com/shipgate/workflows/.github/workflows/publish.yml@refs/tags/v1"},
			fail:     DefaultKeylessPolicy("shipgate/demo", "shipgate/workflows/.github/workflows/publish.yml", `refs/tags/v1`),
			failWant: "expected SourceRepositoryURI",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := signtest.New(t)
			f.SetClaims(tc.claims)
			r := pushRelease(t, host)
			st := storeOn(host)
			sg := standInSigner(t, f)
			if err := st.Sign(t.Context(), r.index, sg); err != nil {
				t.Fatal(err)
			}
			tr := f.TrustedRoot()
			tc.pass.TrustedRootJSON, tc.fail.TrustedRootJSON = tr, tr
			if ok, err := st.Signed(t.Context(), r.index, tc.pass); err != nil || !ok {
				t.Fatalf("%s: Signed = %v, %v", tc.pass, ok, err)
			}
			v, err := st.lookupUnder(t.Context(), tc.fail, r.index, SignaturePredicateType, nil)
			if err != nil || v.ok {
				t.Fatalf("%s accepted (%v)", tc.fail, err)
			}
			if tc.failWant != "" && !strings.Contains(v.reason(r.index, SignaturePredicateType), tc.failWant) {
				t.Fatalf("reason %q, want %q", v.reason(r.index, SignaturePredicateType), tc.failWant)
			}
		})
	}
}

func claims(repo, jobWorkflowRef, ref string) map[string]any {
	return map[string]any{
		"iss": GitHubActionsIssuer, "aud": "sigstore", "sub": "repo:" + repo + ":ref:" + ref,
		"repository": repo, "ref": ref, "job_workflow_ref": jobWorkflowRef,
	}
}

// TestKeylessRenewsCertificateBeforeExpiry: one certificate serves while it has more than two
// minutes left; then a new token and certificate are fetched.
func TestKeylessRenewsCertificateBeforeExpiry(t *testing.T) {
	f := signtest.New(t)
	host := testkit.Registry(t, testkit.RegistryOptions{})
	r := pushRelease(t, host)
	clk := clock.NewFake(time.Now())
	f.SetClock(clk)
	o := keylessOptions(f)
	o.Clock = clk
	sg, err := NewKeylessSigner(o)
	if err != nil {
		t.Fatal(err)
	}
	st := storeOn(host)
	ctx := t.Context()
	for _, d := range []name.Digest{r.index, r.platforms["linux/amd64"]} {
		if err := st.Sign(ctx, d, sg); err != nil {
			t.Fatal(err)
		}
	}
	if f.FulcioHits.Load() != 1 {
		t.Fatalf("%d certificates for two signatures in a minute", f.FulcioHits.Load())
	}
	clk.Advance(8*time.Minute + 30*time.Second) // 1.5 minutes left of ten (minus one of backdating)
	if err := st.Sign(ctx, r.platforms["linux/arm64"], sg); err != nil {
		t.Fatal(err)
	}
	if f.FulcioHits.Load() != 2 || f.TokenHits.Load() != 2 {
		t.Fatalf("Fulcio %d, token %d requests: the nearly expired certificate was not renewed", f.FulcioHits.Load(), f.TokenHits.Load())
	}
}

// TestKeylessWithGivenToken signs with an identity token given directly (not in Actions).
func TestKeylessWithGivenToken(t *testing.T) {
	f := signtest.New(t)
	host := testkit.Registry(t, testkit.RegistryOptions{})
	r := pushRelease(t, host)
	sg, err := NewKeylessSigner(KeylessOptions{IDToken: f.MintToken(), FulcioURL: f.FulcioURL(), RekorURL: f.RekorURL()})
	if err != nil {
		t.Fatal(err)
	}
	st := storeOn(host)
	if err := st.Sign(t.Context(), r.index, sg); err != nil {
		t.Fatal(err)
	}
	p := Policy{Issuer: GitHubActionsIssuer, Identity: releaseIdentity, TrustedRootJSON: f.TrustedRoot()}
	if ok, err := st.Signed(t.Context(), r.index, p); err != nil || !ok {
		t.Fatalf("Signed = %v, %v", ok, err)
	}
}

func TestKeylessOptionsMustBeComplete(t *testing.T) {
	for _, c := range []struct {
		o    KeylessOptions
		want string
	}{
		{KeylessOptions{}, "no identity token"},
		{KeylessOptions{TokenURL: "https://x"}, "go together"},
		{KeylessOptions{IDToken: "a.b.c", RequestToken: "r"}, "both an OIDC identity token and --oidc-request-url/--oidc-request-token: give one of them"},
		{KeylessOptions{TokenURL: "::", RequestToken: "r"}, "--oidc-request-url is not an http(s) URL: pass --oidc-request-url env:ACTIONS_ID_TOKEN_REQUEST_URL"},
		{KeylessOptions{IDToken: "a.b.c", FulcioURL: "ftp://x"}, "--fulcio-url is not an http(s) URL"},
		{KeylessOptions{IDToken: "a.b.c", RekorURL: "nope"}, "--rekor-url is not an http(s) URL"},
	} {
		_, err := NewKeylessSigner(c.o)
		wantFault(t, fmt.Sprintf("NewKeylessSigner(%+v)", c.o), err, fault.BadInput, c.want)
	}
}
