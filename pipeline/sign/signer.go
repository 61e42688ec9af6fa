package sign

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-openapi/runtime"
	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	rekorclient "github.com/sigstore/rekor/pkg/generated/client"
	sgsign "github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	sigopts "github.com/sigstore/sigstore/pkg/signature/options"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/shipgate/shipgate/pipeline/fault"
)

// Public-good sigstore service URLs, the defaults.
const (
	PublicFulcioURL = "https://fulcio.sigstore.dev"
	PublicRekorURL  = "https://rekor.sigstore.dev"
)

// inTotoPayloadType is the DSSE payload type of an in-toto statement.
const inTotoPayloadType = "application/vnd.in-toto+json"

// Signer signs in-toto statements into sigstore bundles. Make one with NewKeySigner or
// NewKeylessSigner and hand it to Store.Sign and Store.Attest. A Signer's String names its mode
// and services and never holds a secret, so it is safe to log.
type Signer interface {
	fmt.Stringer
	// signStatement returns the JSON of a sigstore bundle holding a DSSE envelope of statement.
	signStatement(ctx context.Context, statement []byte) ([]byte, error)
}

// KeyOptions configure a key signer.
type KeyOptions struct {
	// RekorURL is the Rekor (v1 API) instance to log signatures in; empty means PublicRekorURL.
	RekorURL string
	// DisableTlogUpload keeps signatures out of any transparency log, for private deployments.
	// Verify such signatures with Policy.IgnoreTlog (cosign: --insecure-ignore-tlog).
	DisableTlogUpload bool
	// Transport carries requests to Rekor; nil means http.DefaultTransport.
	Transport http.RoundTripper
}

// NewKeySigner makes a signer from a private key as `cosign generate-key-pair` writes it (PEM block
// "ENCRYPTED SIGSTORE PRIVATE KEY" or "ENCRYPTED COSIGN PRIVATE KEY", decrypted with password), or
// an unencrypted PKCS#8 / SEC 1 PEM key when password is empty. Signatures are logged in Rekor
// unless o.DisableTlogUpload. A key that cannot be read or decrypted, or a Rekor URL that is not
// one, is bad input (see package fault) naming the flag to fix. Neither the key nor the password is
// kept in any error.
func NewKeySigner(pemKey, password []byte, o KeyOptions) (Signer, error) {
	priv, err := loadPrivateKey(pemKey, password)
	if err != nil {
		return nil, err
	}
	kp, err := newKeypair(priv)
	if err != nil {
		return nil, err
	}
	s := &keySigner{kp: kp}
	if !o.DisableTlogUpload {
		r, u, err := rekorOrPublic(o.RekorURL, o.Transport)
		if err != nil {
			return nil, err
		}
		s.tlog, s.rekorURL = r, u
	}
	return s, nil
}

func loadPrivateKey(pemKey, password []byte) (crypto.PrivateKey, error) {
	block, rest := pem.Decode(pemKey)
	if block == nil {
		return nil, fault.BadInputf("--signing-key is not PEM: give the cosign.key file that `cosign generate-key-pair` wrote")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, fault.BadInputf("--signing-key holds more than one PEM block: give only the private key (cosign.key), not the public key too")
	}
	var der []byte
	switch block.Type {
	case "ENCRYPTED SIGSTORE PRIVATE KEY", "ENCRYPTED COSIGN PRIVATE KEY":
		d, err := encrypted.Decrypt(block.Bytes, password)
		if err != nil {
			// The library's message never holds the password; keep only its gist anyway.
			return nil, fault.BadInputf("cannot decrypt --signing-key: wrong --signing-password, or the key file is damaged: give the password the key was generated with (--signing-password, for example env:COSIGN_PASSWORD)")
		}
		der = d
	case "PRIVATE KEY":
		der = block.Bytes
	case "EC PRIVATE KEY":
		k, err := x509.ParseECPrivateKey(block.Bytes)
		if err != nil {
			return nil, fault.BadInputf("--signing-key is an \"EC PRIVATE KEY\" PEM block that does not parse as a SEC 1 EC private key: give the cosign.key file that `cosign generate-key-pair` wrote")
		}
		return k, nil
	default:
		return nil, fault.BadInputf("--signing-key is a PEM %q block: give an encrypted cosign key (`cosign generate-key-pair`) or a PKCS#8 private key", block.Type)
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	for i := range der {
		der[i] = 0
	}
	if err != nil {
		return nil, fault.BadInputf("--signing-key does not hold a PKCS#8 private key once decrypted: regenerate it with `cosign generate-key-pair`")
	}
	return k, nil
}

// keypair adapts a long-lived private key (or sigstore-go's ephemeral one) to sigstore-go's
// sign.Keypair.
type keypair struct {
	sv     signature.SignerVerifier
	pub    crypto.PublicKey
	hint   []byte
	keyAlg string
	alg    signature.AlgorithmDetails
}

var _ sgsign.Keypair = (*keypair)(nil)

func newKeypair(priv crypto.PrivateKey) (*keypair, error) {
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fault.BadInputf("--signing-key holds a key that cannot sign: use an ECDSA, RSA or Ed25519 key")
	}
	pub := signer.Public()
	var keyAlg string
	switch pub.(type) {
	case *ecdsa.PublicKey:
		keyAlg = "ECDSA"
	case *rsa.PublicKey:
		keyAlg = "RSA"
	case ed25519.PublicKey:
		keyAlg = "ED25519"
	default:
		return nil, fault.BadInputf("--signing-key holds a %T, which is not supported: use an ECDSA, RSA or Ed25519 key", pub)
	}
	// Ed25519 keys sign pre-hashed (Ed25519ph), as cosign does, so that Rekor accepts them.
	alg, err := signature.GetDefaultAlgorithmDetails(pub, sigopts.WithED25519ph())
	if err != nil {
		return nil, fault.BadInputf("--signing-key cannot be used for sigstore signatures (%w): use an ECDSA P-256/P-384/P-521, RSA (2048 bits or more) or Ed25519 key", err)
	}
	sv, err := signature.LoadSignerVerifierFromAlgorithmDetails(priv, alg)
	if err != nil {
		return nil, fault.BadInputf("--signing-key cannot be used for sigstore signatures (%w): use an ECDSA P-256/P-384/P-521, RSA (2048 bits or more) or Ed25519 key", err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fault.BadInputf("--signing-key: its public key cannot be encoded (%w): regenerate the key pair with `cosign generate-key-pair`", err)
	}
	sum := sha256.Sum256(der)
	return &keypair{sv: sv, pub: pub, hint: []byte(base64.StdEncoding.EncodeToString(sum[:])), keyAlg: keyAlg, alg: alg}, nil
}

func (k *keypair) GetHashAlgorithm() protocommon.HashAlgorithm { return k.alg.GetProtoHashType() }
func (k *keypair) GetSigningAlgorithm() protocommon.PublicKeyDetails {
	return k.alg.GetSignatureAlgorithm()
}
func (k *keypair) GetHint() []byte                { return k.hint }
func (k *keypair) GetKeyAlgorithm() string        { return k.keyAlg }
func (k *keypair) GetPublicKey() crypto.PublicKey { return k.pub }

func (k *keypair) GetPublicKeyPem() (string, error) {
	b, err := cryptoutils.MarshalPublicKeyToPEM(k.pub)
	return string(b), err
}

func (k *keypair) SignData(ctx context.Context, data []byte) ([]byte, []byte, error) {
	opts := []signature.SignOption{sigopts.WithContext(ctx)}
	var digest []byte
	if h := k.alg.GetHashType(); h != 0 {
		hh := h.New()
		hh.Write(data)
		digest = hh.Sum(nil)
		opts = append(opts, sigopts.WithDigest(digest))
	}
	sig, err := k.sv.SignMessage(bytes.NewReader(data), opts...)
	return sig, digest, err
}

type keySigner struct {
	kp       *keypair
	tlog     sgsign.Transparency
	rekorURL string
}

func (s *keySigner) String() string {
	if s.tlog == nil {
		return fmt.Sprintf("key %s (no transparency log)", s.kp.hint)
	}
	return fmt.Sprintf("key %s (Rekor %s)", s.kp.hint, s.rekorURL)
}

// GoString keeps %#v from printing the key material.
func (s *keySigner) GoString() string { return s.String() }

func (s *keySigner) signStatement(ctx context.Context, statement []byte) ([]byte, error) {
	opts := sgsign.BundleOptions{Context: ctx}
	if s.tlog != nil {
		opts.TransparencyLogs = []sgsign.Transparency{s.tlog}
	}
	b, err := sgsign.Bundle(&sgsign.DSSEData{Data: statement, PayloadType: inTotoPayloadType}, s.kp, opts)
	if err != nil {
		// Rekor's failures are classified and name the instance (see rekorLog); anything else
		// failed here, not in a service, and stays unclassified.
		return nil, fmt.Errorf("sign with key %s: %w", s.kp.hint, err)
	}
	return protojson.Marshal(b)
}

// rekorOrPublic is newRekor for base, or for PublicRekorURL when base is empty, with the URL it
// reaches.
func rekorOrPublic(base string, rt http.RoundTripper) (sgsign.Transparency, string, error) {
	if base == "" {
		base = PublicRekorURL
	}
	r, err := newRekor(base, rt)
	return r, base, err
}

// newRekor returns sigstore-go's Rekor v1 client for base, with its failures classified (see
// rekorLog); with a transport, the generated Rekor API client is built over it (sigstore-go's own
// client has no transport option).
func newRekor(base string, rt http.RoundTripper) (sgsign.Transparency, error) {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fault.BadInputf("--rekor-url is not an http(s) URL: give the instance's base URL, for example %s", PublicRekorURL)
	}
	o := &sgsign.RekorOptions{BaseURL: strings.TrimSuffix(base, "/"), Timeout: 30 * time.Second, Retries: 2}
	if rt != nil {
		path := u.Path
		if path == "" || path == "/" {
			path = rekorclient.DefaultBasePath
		}
		c := rekorclient.New(httptransport.NewWithClient(u.Host, path, []string{u.Scheme}, &http.Client{Transport: rt}), strfmt.Default)
		o.Client = c.Entries
	}
	return rekorLog{rekor: sgsign.NewRekor(o), url: base}, nil
}

// rekorLog is a Rekor instance as sigstore-go's Bundle uses it, with its failures classified (see
// serviceFault) and naming the instance.
type rekorLog struct {
	rekor sgsign.Transparency
	url   string
}

// GetTransparencyLogEntry logs the signature of b in Rekor and adds the entry to b.
func (l rekorLog) GetTransparencyLogEntry(ctx context.Context, keyOrCertPEM []byte, b *protobundle.Bundle) error {
	if err := l.rekor.GetTransparencyLogEntry(ctx, keyOrCertPEM, b); err != nil {
		return serviceFault("log the signature in Rekor "+l.url, "Rekor (v1 API)", "--rekor-url", err)
	}
	return nil
}

// fulcioStatus is how sigstore-go's Fulcio client reports an HTTP answer other than 200 (after
// its retries of 5xx and 429).
var fulcioStatus = regexp.MustCompile(`\bFulcio returned (\d{3})\b`)

// serviceFault is err of a request to a sigstore service (Fulcio, Rekor), doing what, classified
// (see serviceClass), with the fix in terms of flag, the setting naming the service. An error that
// has a class keeps it.
func serviceFault(what, service, flag string, err error) error {
	if err == nil {
		return nil
	}
	c := fault.Of(err)
	if c != fault.Unknown {
		return fmt.Errorf("%s: %w", what, err)
	}
	c = serviceClass(err)
	var hint string
	switch c {
	case fault.Unreachable:
		hint = fmt.Sprintf("it is down or overloaded: check %s and the network, then re-run", flag)
	case fault.Refused:
		hint = fmt.Sprintf("it turned the request down: check %s", flag)
	default:
		hint = fmt.Sprintf("its answer could not be read: check that %s is a %s instance", flag, service)
	}
	return fault.Wrap(c, fmt.Errorf("%s: %w: %s", what, err, hint))
}

// serviceClass classifies an error of a request to a sigstore service: no answer (connection
// refused, DNS, timeout, cancelled) or a 5xx or 429 answer is Unreachable; another HTTP error
// status is Refused (the service turned the request down); anything else is an answer that could
// not be read.
func serviceClass(err error) fault.Class {
	if status, ok := serviceStatus(err); ok {
		if status == http.StatusTooManyRequests || status >= 500 {
			return fault.Unreachable
		}
		return fault.Refused
	}
	var uerr *url.Error
	var nerr net.Error
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.As(err, &uerr) || errors.As(err, &nerr) {
		return fault.Unreachable
	}
	return fault.Unreadable
}

// serviceStatus is the HTTP status a sigstore service answered, where err records one: Rekor's
// generated API errors carry it, sigstore-go's Fulcio client writes it in its message.
func serviceStatus(err error) (int, bool) {
	var coded interface{ Code() int }
	if errors.As(err, &coded) {
		return coded.Code(), true
	}
	var api *runtime.APIError
	if errors.As(err, &api) {
		return api.Code, true
	}
	if m := fulcioStatus.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n, true
	}
	return 0, false
}
