// Package signtest runs local stand-ins for the GitHub Actions OIDC token endpoint, Fulcio and
// Rekor, so that the real keyless code path (sigstore-go's Fulcio and Rekor clients, as package
// sign uses them) runs offline, in sign's own tests and in the end-to-end tests of the phases.
// Rekor is backed by sigstore-go's VirtualSigstore (its log key signs entry timestamps and
// checkpoints); Fulcio is a CA made with the same package's helpers that certifies the requested
// key for the token's workflow identity, with a signed certificate timestamp from a local CT log
// key, as the public-good Fulcio does. The trusted root it hands out trusts exactly these.
//
// It imports nothing of package sign, so sign's internal tests can use it.
package signtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-openapi/runtime"
	ct "github.com/google/certificate-transparency-go"
	cttls "github.com/google/certificate-transparency-go/tls"
	"github.com/google/certificate-transparency-go/x509util"
	"github.com/sigstore/rekor/pkg/generated/models"
	rekortypes "github.com/sigstore/rekor/pkg/types"
	_ "github.com/sigstore/rekor/pkg/types/dsse/v0.0.1"
	_ "github.com/sigstore/rekor/pkg/types/hashedrekord/v0.0.1"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/sigstore/sigstore-go/pkg/tlog"

	"github.com/shipgate/shipgate/pipeline/clock"
)

// Issuer is the OIDC issuer of GitHub Actions tokens, which the token endpoint writes into its
// tokens unless told otherwise.
const Issuer = "https://token.actions.githubusercontent.com"

// Sigstore is one offline sigstore instance: token endpoint, Fulcio, Rekor, and the trusted
// root that goes with them. Its servers stop when the test ends.
type Sigstore struct {
	t  testing.TB
	vs *ca.VirtualSigstore

	rootCert, interCert *x509.Certificate
	rootKey, interKey   *ecdsa.PrivateKey
	ctKey               *ecdsa.PrivateKey

	// RequestToken is the bearer the token endpoint wants (ACTIONS_ID_TOKEN_REQUEST_TOKEN).
	RequestToken string
	// TokenHits, FulcioHits and RekorHits count the requests each stand-in received.
	TokenHits, FulcioHits, RekorHits atomic.Int64

	mu sync.Mutex
	// claims are the token claims the endpoint hands out; set with SetIdentity or SetClaims.
	claims map[string]any
	issued []string
	// fulcioStatus, when set, makes Fulcio answer with it and echo the caller's token.
	fulcioStatus int
	// clock dates Fulcio certificates.
	clock clock.Clock

	token, fulcio, rekor *httptest.Server
}

// New starts an instance whose token endpoint hands out tokens of the workflow
// .github/workflows/release.yml of shipgate/demo on refs/heads/release/1.2.3 (see SetIdentity).
func New(t testing.TB) *Sigstore {
	t.Helper()
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	f := &Sigstore{t: t, vs: vs, RequestToken: "request-token-" + randHex(t, 12), clock: clock.Real{}}
	f.rootCert, f.rootKey, err = ca.GenerateRootCa()
	if err != nil {
		t.Fatal(err)
	}
	f.interCert, f.interKey, err = ca.GenerateFulcioIntermediate(f.rootCert, f.rootKey)
	if err != nil {
		t.Fatal(err)
	}
	f.ctKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f.SetIdentity("shipgate/demo", ".github/workflows/release.yml", "refs/heads/release/1.2.3", Issuer)
	f.token = httptest.NewServer(http.HandlerFunc(f.serveToken))
	f.fulcio = httptest.NewServer(http.HandlerFunc(f.serveFulcio))
	f.rekor = httptest.NewServer(http.HandlerFunc(f.serveRekor))
	t.Cleanup(func() { f.token.Close(); f.fulcio.Close(); f.rekor.Close() })
	return f
}

func randHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// SetIdentity makes the token endpoint hand out tokens of a workflow in repo at ref, as GitHub
// does: job_workflow_ref names the workflow file that runs the job. Fulcio certifies it as the
// identity https://github.com/REPO/WORKFLOW@REF (see Identity).
func (f *Sigstore) SetIdentity(repo, workflow, ref, issuer string) {
	f.SetClaims(map[string]any{
		"iss":              issuer,
		"aud":              "sigstore",
		"sub":              "repo:" + repo + ":ref:" + ref,
		"repository":       repo,
		"ref":              ref,
		"job_workflow_ref": repo + "/" + workflow + "@" + ref,
	})
}

// SetClaims replaces the claims of the tokens handed out from now on.
func (f *Sigstore) SetClaims(c map[string]any) {
	f.mu.Lock()
	f.claims = c
	f.mu.Unlock()
}

// Identity is the certificate identity (URI SAN) Fulcio writes for the current claims.
func (f *Sigstore) Identity() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	wf, _ := f.claims["job_workflow_ref"].(string)
	return "https://github.com/" + wf
}

// SetClock makes Fulcio date its certificates by c (default: the wall clock).
func (f *Sigstore) SetClock(c clock.Clock) {
	f.mu.Lock()
	f.clock = c
	f.mu.Unlock()
}

// SetFulcioStatus makes Fulcio refuse every request with status, echoing the caller's token in
// its answer as a careless server would; 0 restores normal service.
func (f *Sigstore) SetFulcioStatus(status int) {
	f.mu.Lock()
	f.fulcioStatus = status
	f.mu.Unlock()
}

// TokenURL is the Actions token endpoint (ACTIONS_ID_TOKEN_REQUEST_URL), with the query GitHub
// puts on it.
func (f *Sigstore) TokenURL() string { return f.token.URL + "/token?api-version=2.0" }

// FulcioURL is the Fulcio stand-in's base URL.
func (f *Sigstore) FulcioURL() string { return f.fulcio.URL }

// RekorURL is the Rekor stand-in's base URL.
func (f *Sigstore) RekorURL() string { return f.rekor.URL }

// MintToken hands out an identity token directly, as the token endpoint would.
func (f *Sigstore) MintToken() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	claims := map[string]any{}
	for k, v := range f.claims {
		claims[k] = v
	}
	now := time.Now()
	claims["iat"], claims["exp"], claims["jti"] = now.Unix(), now.Add(5*time.Minute).Unix(), fmt.Sprint(len(f.issued))
	body, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding
	tok := enc.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + enc.EncodeToString(body) + "." + enc.EncodeToString([]byte("sig-"+fmt.Sprint(len(f.issued))))
	f.issued = append(f.issued, tok)
	return tok
}

func (f *Sigstore) serveToken(w http.ResponseWriter, r *http.Request) {
	f.TokenHits.Add(1)
	if r.Header.Get("Authorization") != "Bearer "+f.RequestToken {
		http.Error(w, `{"message":"bad credentials"}`, http.StatusUnauthorized)
		return
	}
	if r.URL.Query().Get("audience") != "sigstore" || r.URL.Query().Get("api-version") != "2.0" {
		http.Error(w, "want audience=sigstore and the original query", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"count": 1, "value": f.MintToken()})
}

func (f *Sigstore) tokenClaims(tok string) (map[string]any, bool) {
	f.mu.Lock()
	known := false
	for _, t := range f.issued {
		known = known || t == tok
	}
	f.mu.Unlock()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, false
	}
	body, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, false
	}
	var c map[string]any
	if json.Unmarshal(body, &c) != nil {
		return nil, false
	}
	return c, known
}

// Fulcio OIDs: issuer (v1, raw), issuer (v2, DER), source repository URI.
var (
	oidIssuerV1   = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 1}
	oidIssuerV2   = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8}
	oidSourceRepo = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 12}
	oidSCTList    = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11129, 2, 4, 2}
)

func (f *Sigstore) serveFulcio(w http.ResponseWriter, r *http.Request) {
	f.FulcioHits.Add(1)
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	f.mu.Lock()
	status := f.fulcioStatus
	f.mu.Unlock()
	if status != 0 {
		// A careless server that echoes the credential it was given.
		http.Error(w, "rejected token "+tok, status)
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/api/v2/signingCert" {
		http.NotFound(w, r)
		return
	}
	claims, known := f.tokenClaims(tok)
	if !known {
		http.Error(w, "unknown token", http.StatusUnauthorized)
		return
	}
	var req struct {
		PublicKeyRequest struct {
			PublicKey struct {
				Algorithm, Content string
			}
			ProofOfPossession string
		}
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	block, _ := pem.Decode([]byte(req.PublicKeyRequest.PublicKey.Content))
	if block == nil {
		http.Error(w, "public key is not PEM", http.StatusBadRequest)
		return
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ecPub, ok := pub.(*ecdsa.PublicKey)
	pop, _ := base64.StdEncoding.DecodeString(req.PublicKeyRequest.ProofOfPossession)
	sub, _ := claims["sub"].(string)
	sum := sha256.Sum256([]byte(sub))
	if !ok || !ecdsa.VerifyASN1(ecPub, sum[:], pop) {
		http.Error(w, "proof of possession does not verify", http.StatusBadRequest)
		return
	}
	wf, _ := claims["job_workflow_ref"].(string)
	iss, _ := claims["iss"].(string)
	repo, _ := claims["repository"].(string)
	leaf, err := f.issue(pub, "https://github.com/"+wf, iss, "https://github.com/"+repo)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	chain := []string{pemCert(leaf), pemCert(f.interCert.Raw), pemCert(f.rootCert.Raw)}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"signedCertificateEmbeddedSct": map[string]any{"chain": map[string]any{"certificates": chain}}})
}

func pemCert(der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// issue makes a ten-minute code-signing certificate for pub with the identity as a URI SAN, and
// embeds an SCT from the CT log key over it, as Fulcio does.
func (f *Sigstore) issue(pub crypto.PublicKey, identity, issuer, sourceRepo string) ([]byte, error) {
	san, err := url.Parse(identity)
	if err != nil {
		return nil, err
	}
	utf8 := func(s string) []byte { b, _ := asn1.MarshalWithParams(s, "utf8"); return b }
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	f.mu.Lock()
	clk := f.clock
	f.mu.Unlock()
	now := clk.Now().Truncate(time.Second)
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{},
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(10 * time.Minute),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		URIs:         []*url.URL{san},
		ExtraExtensions: []pkix.Extension{
			{Id: oidIssuerV1, Value: []byte(issuer)},
			{Id: oidIssuerV2, Value: utf8(issuer)},
			{Id: oidSourceRepo, Value: utf8(sourceRepo)},
		},
	}
	// The certificate without the SCT list is what the CT log signs (its TBS, as a precertificate).
	pre, err := x509.CreateCertificate(rand.Reader, tmpl, f.interCert, pub, f.interKey)
	if err != nil {
		return nil, err
	}
	preCert, err := x509.ParseCertificate(pre)
	if err != nil {
		return nil, err
	}
	ctPub, _ := x509.MarshalPKIXPublicKey(f.ctKey.Public())
	sct := ct.SignedCertificateTimestamp{SCTVersion: ct.V1, LogID: ct.LogID{KeyID: sha256.Sum256(ctPub)}, Timestamp: uint64(now.UnixMilli())}
	leafEntry := ct.LogEntry{Leaf: ct.MerkleTreeLeaf{
		Version:  ct.V1,
		LeafType: ct.TimestampedEntryLeafType,
		TimestampedEntry: &ct.TimestampedEntry{
			Timestamp: sct.Timestamp,
			EntryType: ct.PrecertLogEntryType,
			PrecertEntry: &ct.PreCert{
				IssuerKeyHash:  sha256.Sum256(f.interCert.RawSubjectPublicKeyInfo),
				TBSCertificate: preCert.RawTBSCertificate,
			},
		},
	}}
	input, err := ct.SerializeSCTSignatureInput(sct, leafEntry)
	if err != nil {
		return nil, err
	}
	digest := sha256.Sum256(input)
	sig, err := ecdsa.SignASN1(rand.Reader, f.ctKey, digest[:])
	if err != nil {
		return nil, err
	}
	sct.Signature = ct.DigitallySigned{Algorithm: cttls.SignatureAndHashAlgorithm{Hash: cttls.SHA256, Signature: cttls.ECDSA}, Signature: sig}
	list, err := x509util.MarshalSCTsIntoSCTList([]*ct.SignedCertificateTimestamp{&sct})
	if err != nil {
		return nil, err
	}
	listBytes, err := cttls.Marshal(*list)
	if err != nil {
		return nil, err
	}
	ext, err := asn1.Marshal(listBytes)
	if err != nil {
		return nil, err
	}
	tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, pkix.Extension{Id: oidSCTList, Value: ext})
	return x509.CreateCertificate(rand.Reader, tmpl, f.interCert, pub, f.interKey)
}

// serveRekor is the one call of the Rekor v1 API a signer makes: create a log entry. Each entry
// is its own one-leaf tree, with an inclusion proof and checkpoint from the VirtualSigstore's log
// key.
func (f *Sigstore) serveRekor(w http.ResponseWriter, r *http.Request) {
	f.RekorHits.Add(1)
	if r.Method != http.MethodPost || r.URL.Path != "/api/v1/log/entries" {
		http.NotFound(w, r)
		return
	}
	pe, err := models.UnmarshalProposedEntry(r.Body, runtime.JSONConsumer())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	entry, err := rekortypes.CreateVersionedEntry(pe)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	body, err := rekortypes.CanonicalizeEntry(r.Context(), entry)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	logID, err := f.vs.RekorLogID()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	now := time.Now().Unix()
	idx := int64(0)
	b64 := base64.StdEncoding.EncodeToString(body)
	set, err := f.vs.RekorSignPayload(tlog.RekorPayload{Body: b64, IntegratedTime: now, LogIndex: idx, LogID: logID})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	proof, err := f.vs.GetInclusionProof(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	leaf := sha256.Sum256(append([]byte{0}, body...))
	uuid := hex.EncodeToString(leaf[:])
	resp := map[string]*models.LogEntryAnon{uuid: {
		Body:           b64,
		IntegratedTime: &now,
		LogID:          &logID,
		LogIndex:       &idx,
		Verification:   &models.LogEntryAnonVerification{InclusionProof: proof, SignedEntryTimestamp: set},
	}}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("ETag", uuid)
	w.Header().Set("Location", "/api/v1/log/entries/"+uuid)
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(resp)
}

// TrustedRoot is the trusted root JSON of this instance: its Fulcio CA, CT log and Rekor log (with
// the VirtualSigstore's TSA).
func (f *Sigstore) TrustedRoot() []byte { return f.trustedRoot(true) }

// trustedRoot is TrustedRoot; withFulcio=false leaves the CA out (a key-only root).
func (f *Sigstore) trustedRoot(withFulcio bool) []byte {
	f.t.Helper()
	start := time.Now().Add(-time.Hour)
	var cas []root.CertificateAuthority
	if withFulcio {
		cas = append(cas, &root.FulcioCertificateAuthority{
			Root:                f.rootCert,
			Intermediates:       []*x509.Certificate{f.interCert},
			ValidityPeriodStart: start,
			URI:                 f.fulcio.URL,
		})
	}
	ctPub, _ := x509.MarshalPKIXPublicKey(f.ctKey.Public())
	ctID := sha256.Sum256(ctPub)
	ctlogs := map[string]*root.TransparencyLog{hex.EncodeToString(ctID[:]): {
		BaseURL: "https://ctfe.localhost", ID: ctID[:], ValidityPeriodStart: start,
		HashFunc: crypto.SHA256, PublicKey: f.ctKey.Public(), SignatureHashFunc: crypto.SHA256,
	}}
	rekor := map[string]*root.TransparencyLog{}
	for id, l := range f.vs.RekorLogs() {
		raw, err := hex.DecodeString(id)
		if err != nil {
			f.t.Fatal(err)
		}
		c := *l
		c.ID = raw // the root's JSON carries the raw key id; VirtualSigstore keeps its hex
		c.ValidityPeriodStart, c.ValidityPeriodEnd = start, time.Time{}
		rekor[id] = &c
	}
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, cas, ctlogs, f.vs.TimestampingAuthorities(), rekor)
	if err != nil {
		f.t.Fatal(err)
	}
	b, err := tr.MarshalJSON()
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

// RekorOnlyRoot is a trusted root with this instance's Rekor log only, for key signatures.
func (f *Sigstore) RekorOnlyRoot() []byte { return f.trustedRoot(false) }

// ShareCA makes f certify with from's Fulcio CA and log to from's Rekor, keeping its own CT log
// key: f's trusted root then trusts from's certificates and log entries but not their SCTs.
func (f *Sigstore) ShareCA(from *Sigstore) {
	f.rootCert, f.interCert, f.rootKey, f.interKey = from.rootCert, from.interCert, from.rootKey, from.interKey
	f.vs = from.vs
}

// IssuedTokens returns every token handed out so far.
func (f *Sigstore) IssuedTokens() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.issued...)
}
