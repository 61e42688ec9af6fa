package sign

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	sigopts "github.com/sigstore/sigstore/pkg/signature/options"

	"github.com/shipgate/shipgate/pipeline/fault"
)

// GitHubActionsIssuer is the OIDC issuer of GitHub Actions tokens, as Fulcio records it.
const GitHubActionsIssuer = "https://token.actions.githubusercontent.com"

// Policy says whose signatures are accepted. Set PublicKeyPEM for key mode, or Issuer with
// Identity or IdentityRegexp for keyless mode; not both. The zero values of the Ignore fields are
// the strict choice, as in cosign.
type Policy struct {
	// PublicKeyPEM is the public key (cosign.pub) signatures must verify with.
	PublicKeyPEM []byte

	// Issuer is the OIDC issuer the Fulcio certificate must record, exactly.
	Issuer string
	// Identity is the certificate's subject alternative name, exactly; IdentityRegexp is a Go
	// regular expression it must match instead (anchor it with ^ and $).
	Identity, IdentityRegexp string
	// SourceRepository, when set, is the repository URL the certificate's Source Repository URI
	// extension must hold ("https://github.com/OWNER/REPO"); it ties a reusable workflow's
	// signature to the calling repository.
	SourceRepository string

	// TrustedRootJSON is a sigstore trusted root (Fulcio CAs, Rekor and CT log keys), as `cosign
	// trusted-root create` or the TUF target trusted_root.json holds it. Empty means the
	// public-good instance's, fetched (and cached) through sigstore's TUF repository. Key mode
	// needs it only for the transparency log.
	TrustedRootJSON []byte
	// IgnoreTlog accepts signatures that are not in a transparency log (cosign:
	// --insecure-ignore-tlog), for key signatures made with DisableTlogUpload. Keyless signatures
	// then verify against the current time, which fails once the certificate expired.
	IgnoreTlog bool
	// IgnoreSCT accepts Fulcio certificates without a certificate transparency timestamp (cosign:
	// --ignore-sct), for private Fulcio deployments without a CT log.
	IgnoreSCT bool
}

// DefaultKeylessPolicy derives the keyless policy for signatures made by a GitHub Actions
// workflow: issuer GitHubActionsIssuer, and identity
//
//	https://github.com/<workflow repo>/<workflow path>@<ref>
//
// which is what Fulcio writes as the certificate's subject alternative name: the URL of the
// workflow file that ran the signing job (the token's job_workflow_ref), at the ref it ran from.
//
//   - githubRepo is OWNER/REPO of the repository that releases.
//   - workflowPath is the path of its publish workflow, ".github/workflows/release.yml". When
//     publish runs in a reusable workflow, the certificate names the *called* workflow, not the
//     caller: give "OWNER/OTHER/.github/workflows/publish.yml" (a path with the called
//     workflow's repository in front). The policy then also requires the certificate's Source
//     Repository URI to be githubRepo, so another repository calling the same reusable workflow
//     cannot pass.
//   - refRegexp is a regular expression for the ref after '@', matched whole. Which ref appears
//     depends on the trigger: a run on the release branch (push, or workflow_dispatch with that
//     branch selected) signs as refs/heads/release/X.Y.Z; a run triggered by pushing tag vX.Y.Z
//     signs as refs/tags/vX.Y.Z; a workflow_dispatch from main signs as refs/heads/main. For a
//     reusable workflow the ref is the one in the caller's `uses: ...@ref` (refs/tags/v1,
//     refs/heads/main, or a commit SHA as written). To pin one release, pass
//     regexp.QuoteMeta("refs/heads/release/1.2.3"). Empty means any release branch:
//     refs/heads/release/ followed by a version.
func DefaultKeylessPolicy(githubRepo, workflowPath, refRegexp string) Policy {
	repo := strings.Trim(githubRepo, "/")
	wf := strings.TrimPrefix(workflowPath, "/")
	p := Policy{Issuer: GitHubActionsIssuer}
	if !strings.HasPrefix(wf, ".github/") {
		// OWNER/REPO/.github/workflows/x.yml: a reusable workflow of another repository. Its
		// certificate names the called workflow at the ref the caller pinned (a tag, a branch or
		// a commit), so any ref of it is accepted — and the Source Repository URI must be ours.
		p.SourceRepository = "https://github.com/" + repo
		if refRegexp == "" {
			refRegexp = `.+`
		}
	} else {
		wf = repo + "/" + wf
	}
	if refRegexp == "" {
		refRegexp = `refs/heads/release/[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?`
	}
	p.IdentityRegexp = "^" + regexp.QuoteMeta("https://github.com/"+wf+"@") + "(?:" + refRegexp + ")$"
	return p
}

// String says what the policy accepts, for messages.
func (p Policy) String() string {
	if len(p.PublicKeyPEM) > 0 {
		b := p.PublicKeyPEM
		if pub, err := cryptoutils.UnmarshalPEMToPublicKey(b); err == nil {
			if der, err := x509.MarshalPKIXPublicKey(pub); err == nil {
				b = der
			}
		}
		sum := sha256.Sum256(b)
		return "public key sha256:" + hex.EncodeToString(sum[:6])
	}
	id := p.Identity
	if id == "" {
		id = "~" + p.IdentityRegexp
	}
	s := fmt.Sprintf("identity %s issued by %s", id, p.Issuer)
	if p.SourceRepository != "" {
		s += " from " + p.SourceRepository
	}
	return s
}

func (p Policy) keyless() bool { return len(p.PublicKeyPEM) == 0 }

// validate checks the policy is complete; its errors say which field to set.
func (p Policy) validate() error {
	hasKeyless := p.Issuer != "" || p.Identity != "" || p.IdentityRegexp != ""
	switch {
	case len(p.PublicKeyPEM) > 0 && hasKeyless:
		return errors.New("policy has both a public key and a keyless identity: give --verify-key for key signatures (--sign=key), or --certificate-identity and --certificate-oidc-issuer for keyless ones")
	case len(p.PublicKeyPEM) > 0:
		return nil
	case !hasKeyless:
		return errors.New("policy is empty: give --verify-key (cosign.pub, --sign=key) or, keyless, --certificate-identity or --certificate-identity-regexp with --certificate-oidc-issuer")
	case p.Issuer == "":
		return errors.New("keyless policy has no issuer: give --certificate-oidc-issuer, for GitHub Actions " + GitHubActionsIssuer)
	case p.Identity == "" && p.IdentityRegexp == "":
		return errors.New("keyless policy has no identity: give --certificate-identity or --certificate-identity-regexp")
	case p.Identity != "" && p.IdentityRegexp != "":
		return errors.New("keyless policy has both --certificate-identity and --certificate-identity-regexp: give one")
	}
	if p.IdentityRegexp != "" {
		if _, err := regexp.Compile(p.IdentityRegexp); err != nil {
			return fmt.Errorf("--certificate-identity-regexp does not compile: %w", err)
		}
	}
	return nil
}

// checker is a policy made ready for sigstore-go.
type checker struct {
	policy   Policy
	verifier *verify.Verifier
	opts     []verify.PolicyOption
}

// publicGood caches the public-good trusted root for the life of the process once fetched; a
// failed fetch is tried again next time.
var publicGood struct {
	mu   sync.Mutex
	root *root.TrustedRoot
}

func trustedRoot(p Policy) (*root.TrustedRoot, error) {
	if len(p.TrustedRootJSON) > 0 {
		tr, err := root.NewTrustedRootFromJSON(p.TrustedRootJSON)
		if err != nil {
			return nil, fault.BadInputf("--trusted-root is not a sigstore trusted root (trusted_root.json): %w", err)
		}
		return tr, nil
	}
	publicGood.mu.Lock()
	defer publicGood.mu.Unlock()
	if publicGood.root == nil {
		tr, err := root.FetchTrustedRoot()
		if err != nil {
			return nil, fault.Unreachablef("fetch the public-good sigstore trusted root over TUF: %w: give --trusted-root to verify offline", err)
		}
		publicGood.root = tr
	}
	return publicGood.root, nil
}

func newChecker(p Policy) (*checker, error) { return newCheckerWith(p, nil) }

// newCheckerWith builds the checker with the given trusted root material instead of the policy's
// (tests use sigstore-go's VirtualSigstore); nil means the policy's. An incomplete or unreadable
// policy is bad input; a trusted root that cannot be fetched could not be reached.
func newCheckerWith(p Policy, tm root.TrustedMaterial) (*checker, error) {
	c, err := buildChecker(p, tm)
	return c, fault.AsBadInput(err)
}

func buildChecker(p Policy, tm root.TrustedMaterial) (*checker, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	loadRoot := func() (root.TrustedMaterial, error) {
		if tm != nil {
			return tm, nil
		}
		return trustedRoot(p)
	}
	c := &checker{policy: p}
	var material root.TrustedMaterial
	var vopts []verify.VerifierOption
	if !p.keyless() {
		pub, err := cryptoutils.UnmarshalPEMToPublicKey(p.PublicKeyPEM)
		if err != nil {
			return nil, fmt.Errorf("--verify-key is not a PEM public key: give the cosign.pub that goes with the signing key: %w", err)
		}
		v, err := signature.LoadDefaultVerifier(pub, sigopts.WithED25519ph())
		if err != nil {
			return nil, fmt.Errorf("policy public key: %w", err)
		}
		key := root.NewExpiringKey(v, time.Time{}, time.Time{})
		keys := root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) { return key, nil })
		material = keys
		if !p.IgnoreTlog {
			tr, err := loadRoot()
			if err != nil {
				return nil, err
			}
			material = root.TrustedMaterialCollection{tr, keys}
			vopts = append(vopts, verify.WithTransparencyLog(1))
		}
		vopts = append(vopts, verify.WithNoObserverTimestamps())
		c.opts = []verify.PolicyOption{verify.WithKey()}
	} else {
		tr, err := loadRoot()
		if err != nil {
			return nil, err
		}
		material = tr
		if p.IgnoreTlog {
			vopts = append(vopts, verify.WithCurrentTime())
		} else {
			vopts = append(vopts, verify.WithTransparencyLog(1), verify.WithObserverTimestamps(1))
		}
		if !p.IgnoreSCT {
			vopts = append(vopts, verify.WithSignedCertificateTimestamps(1))
		}
		san, err := verify.NewSANMatcher(p.Identity, p.IdentityRegexp)
		if err != nil {
			return nil, fmt.Errorf("policy identity: %w", err)
		}
		iss, err := verify.NewIssuerMatcher(p.Issuer, "")
		if err != nil {
			return nil, fmt.Errorf("policy issuer: %w", err)
		}
		id, err := verify.NewCertificateIdentity(san, iss, certificate.Extensions{SourceRepositoryURI: p.SourceRepository})
		if err != nil {
			return nil, fmt.Errorf("policy identity: %w", err)
		}
		c.opts = []verify.PolicyOption{verify.WithCertificateIdentity(id)}
	}
	v, err := verify.NewVerifier(material, vopts...)
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", p, err)
	}
	c.verifier = v
	return c, nil
}
