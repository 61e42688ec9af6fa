package release_test

import (
	"testing"

	"github.com/shipgate/shipgate/pipeline/config"
	"github.com/shipgate/shipgate/pipeline/release"
	"github.com/shipgate/shipgate/pipeline/sandbox"
	"github.com/shipgate/shipgate/pipeline/sign"
	"github.com/shipgate/shipgate/pipeline/sign/signtest"
	"github.com/shipgate/shipgate/pipeline/step"
	"github.com/shipgate/shipgate/pipeline/testkit"
)

// keyless switches w to keyless signing through local stand-ins of the Actions token endpoint,
// Fulcio and Rekor, whose tokens say the job ran release.yml of acme/app on release/ver; the
// policy is the one derived from the repository and workflow.
func keyless(t *testing.T, w *world, ver string) *signtest.Sigstore {
	t.Helper()
	f := signtest.New(t)
	f.SetIdentity(sandbox.Repo, ".github/workflows/release.yml", "refs/heads/release/"+ver, signtest.Issuer)
	s := &w.env.Settings
	s.Sign, s.HasSigningKey, s.HasVerifyKey, s.HasTrustedRoot = config.SignKeyless, false, false, true
	s.FulcioURL, s.RekorURL, s.TlogUpload = f.FulcioURL(), f.RekorURL(), true
	w.env.Secrets.SigningKey, w.env.Secrets.VerifyKey = nil, nil
	w.env.Secrets.OIDCRequestURL, w.env.Secrets.OIDCRequestToken = f.TokenURL(), f.RequestToken
	w.env.Secrets.TrustedRoot = f.TrustedRoot()
	return f
}

// TestKeylessEndToEnd publishes with keyless signing (one OIDC token and one certificate for all
// six bundles, each logged in Rekor) and promotes under the default identity policy; a policy
// naming another workflow identity, or another issuer, refuses promote with nothing changed. The
// OIDC request token and the identity tokens appear in no report or log.
func TestKeylessEndToEnd(t *testing.T) {
	t.Parallel()
	w := newWorld(t, sandbox.Options{})
	f := keyless(t, w, "1.0.0")
	logs := &testkit.Logs{}
	w.env.Progress = logs
	idx := w.ship("1.0.0")
	if f.TokenHits.Load() != 1 || f.FulcioHits.Load() != 1 || f.RekorHits.Load() != 6 {
		t.Fatalf("token %d, Fulcio %d, Rekor %d requests; want 1, 1, 6", f.TokenHits.Load(), f.FulcioHits.Load(), f.RekorHits.Load())
	}

	for _, tc := range []struct{ name, identity, issuer, want string }{
		{"another workflow", "https://github.com/acme/app/.github/workflows/other.yml@refs/heads/release/1.0.0", "", "6 requirement(s) not met"},
		{"a tag ref", "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.0.0", "", "6 requirement(s) not met"},
		{"another issuer", "", "https://accounts.example.com", "6 requirement(s) not met"},
	} {
		t.Run("wrong policy: "+tc.name, func(t *testing.T) {
			env := *w.env
			env.Settings.CertIdentity, env.Settings.CertOIDCIssuer = tc.identity, tc.issuer
			before := w.state("1.0.0")
			rep, err := release.Promote(w.ctx, &env, release.PromoteInput{Version: "1.0.0"})
			refused(t, err, rep, "signatures", tc.want)
			assertUnpromoted(t, w, before, rep)
		})
	}

	t.Run("explicit identity", func(t *testing.T) {
		env := *w.env
		env.Settings.CertIdentity = f.Identity()
		rep, err := release.Status(w.ctx, &env, "1.0.0")
		if err != nil || rep.Status("signatures") != "passed" {
			t.Fatalf("status under %s: %v\n%s", f.Identity(), err, render(rep))
		}
	})

	rep := w.mustPromote("1.0.0")
	if w.tag("latest") != idx {
		t.Fatalf("latest %s, want %s\n%s", w.tag("latest"), idx, render(rep))
	}
	secrets := append([]string{f.RequestToken}, f.IssuedTokens()...)
	texts := []any{logs, render(rep)}
	for _, s := range secrets {
		testkit.AssertNoSecret(t, s, texts...)
	}
}

// TestKeylessBundlesInGitHubsAttestationStore: in keyless mode publish also stores the provenance
// and SBOM bundles through GitHub's attestations API, once (a re-run stores nothing), and what
// GitHub returns verifies with sigstore-go under the policy `gh attestation verify --owner acme`
// applies by default: a signer under https://github.com/acme/, the Actions issuer, SLSA v1
// provenance.
func TestKeylessBundlesInGitHubsAttestationStore(t *testing.T) {
	t.Parallel()
	w := newWorld(t, sandbox.Options{})
	f := keyless(t, w, "1.0.0")
	w.prepare("1.0.0")
	rep := w.publish("1.0.0")
	idx := digestOf(rep, "index")
	if rep.Status("GitHub attestations") != step.Acted {
		t.Fatalf("no bundle stored:\n%s", render(rep))
	}
	if again, err := release.Publish(w.ctx, w.env, w.publishInput("1.0.0")); err != nil || again.Status("GitHub attestations") != step.Done {
		t.Fatalf("re-run: %v\n%s", err, render(again))
	}
	if n := len(w.sb.GitHub.Attestations(sandbox.Repo)); n != 3 {
		t.Fatalf("%d attestations stored, want 3 (provenance, 2 SBOMs)", n)
	}
	bundles, err := w.gh().Attestations(w.ctx, appRepo, idx)
	if err != nil || len(bundles) != 1 {
		t.Fatalf("attestations of the index: %d, %v", len(bundles), err)
	}
	ghDefault := sign.Policy{IdentityRegexp: `^https://github\.com/acme/`, Issuer: signtest.Issuer, TrustedRootJSON: f.TrustedRoot()}
	st, err := sign.VerifyBundle(bundles[0], w.digestRef(idx), sign.ProvenancePredicateType, ghDefault)
	if err != nil || st.PredicateType != "https://slsa.dev/provenance/v1" {
		t.Fatalf("GitHub's copy under gh's default policy: %+v %v", st, err)
	}
	other := ghDefault
	other.IdentityRegexp = `^https://github\.com/mallory/`
	if _, err := sign.VerifyBundle(bundles[0], w.digestRef(idx), sign.ProvenancePredicateType, other); err == nil {
		t.Fatal("GitHub's copy verified for another owner")
	}
}
