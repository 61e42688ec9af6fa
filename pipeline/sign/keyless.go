package sign

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	sgsign "github.com/sigstore/sigstore-go/pkg/sign"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/shipgate/shipgate/pipeline/clock"
	"github.com/shipgate/shipgate/pipeline/fault"
)

// KeylessOptions configure a keyless signer. Give either IDToken, or TokenURL and RequestToken.
type KeylessOptions struct {
	// IDToken is an OIDC identity token for Fulcio, used as is (it cannot be renewed).
	IDToken string
	// TokenURL and RequestToken are the GitHub Actions values ACTIONS_ID_TOKEN_REQUEST_URL and
	// ACTIONS_ID_TOKEN_REQUEST_TOKEN (the job needs `permissions: id-token: write`). A token for
	// audience "sigstore" is requested each time a certificate is needed.
	TokenURL, RequestToken string
	// FulcioURL and RekorURL are the sigstore instance; empty means the public-good instance.
	FulcioURL, RekorURL string
	// Transport carries requests to the token endpoint, Fulcio and Rekor; nil means
	// http.DefaultTransport.
	Transport http.RoundTripper
	// Clock decides when a certificate is too close to expiry to use; nil means the wall clock.
	Clock clock.Clock
}

// certMargin is how long a Fulcio certificate must still be valid to sign with it; Fulcio issues
// certificates for ten minutes.
const certMargin = 2 * time.Minute

// NewKeylessSigner makes a signer that signs with an ephemeral key, certified by Fulcio for the
// OIDC identity of the token, and logs every signature in Rekor. One key and certificate serve
// every signature while the certificate has more than two minutes left; then a new certificate
// is requested (with a new token when the token comes from GitHub Actions). Incomplete or
// malformed options are bad input naming the flag; when signing, a token endpoint, Fulcio or Rekor
// that cannot be reached (or answers 5xx) is Unreachable, and a malformed answer Unreadable (see
// package fault). No token appears in any error.
func NewKeylessSigner(o KeylessOptions) (Signer, error) {
	var tok tokenSource
	switch {
	case o.IDToken != "" && (o.TokenURL != "" || o.RequestToken != ""):
		return nil, fault.BadInputf("keyless signing was given both an OIDC identity token and --oidc-request-url/--oidc-request-token: give one of them")
	case o.IDToken != "":
		static := o.IDToken
		tok = func(context.Context) (string, error) { return static, nil }
	case o.TokenURL != "" && o.RequestToken != "":
		a := &actionsToken{url: o.TokenURL, bearer: o.RequestToken, client: &http.Client{Transport: o.Transport, Timeout: 30 * time.Second}}
		if _, err := a.requestURL(); err != nil {
			return nil, err
		}
		tok = a.get
	case o.TokenURL != "" || o.RequestToken != "":
		return nil, fault.BadInputf("keyless signing: --oidc-request-url and --oidc-request-token go together: pass both, --oidc-request-url env:ACTIONS_ID_TOKEN_REQUEST_URL --oidc-request-token env:ACTIONS_ID_TOKEN_REQUEST_TOKEN (the job needs `permissions: id-token: write`)")
	default:
		return nil, fault.BadInputf("keyless signing has no identity token: in GitHub Actions pass --oidc-request-url env:ACTIONS_ID_TOKEN_REQUEST_URL --oidc-request-token env:ACTIONS_ID_TOKEN_REQUEST_TOKEN (with `permissions: id-token: write`), or sign with a key (--sign=key)")
	}
	fulcioURL := o.FulcioURL
	if fulcioURL == "" {
		fulcioURL = PublicFulcioURL
	}
	if u, err := url.Parse(fulcioURL); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fault.BadInputf("--fulcio-url is not an http(s) URL: give the instance's base URL, for example %s", PublicFulcioURL)
	}
	rekor, rekorURL, err := rekorOrPublic(o.RekorURL, o.Transport)
	if err != nil {
		return nil, err
	}
	ek, err := sgsign.NewEphemeralKeypair(nil)
	if err != nil {
		return nil, fmt.Errorf("keyless signer: make ephemeral key: %w", err)
	}
	s := &keylessSigner{
		kp:        ek,
		fulcio:    sgsign.NewFulcio(&sgsign.FulcioOptions{BaseURL: strings.TrimSuffix(fulcioURL, "/"), Timeout: 30 * time.Second, Retries: 2, Transport: o.Transport}),
		fulcioURL: fulcioURL,
		rekor:     rekor,
		rekorURL:  rekorURL,
		token:     tok,
		clock:     clock.Or(o.Clock),
		secrets:   []string{o.IDToken, o.RequestToken},
	}
	return s, nil
}

type tokenSource func(ctx context.Context) (string, error)

type keylessSigner struct {
	kp        *sgsign.EphemeralKeypair
	fulcio    *sgsign.Fulcio
	fulcioURL string
	rekor     sgsign.Transparency
	rekorURL  string
	token     tokenSource
	clock     clock.Clock
	// secrets are scrubbed from every error, with every token fetched.
	secrets []string

	mu       sync.Mutex
	cert     []byte
	notAfter time.Time
}

func (s *keylessSigner) String() string {
	return fmt.Sprintf("keyless (Fulcio %s, Rekor %s)", s.fulcioURL, s.rekorURL)
}

// GoString keeps %#v from printing tokens.
func (s *keylessSigner) GoString() string { return s.String() }

func (s *keylessSigner) signStatement(ctx context.Context, statement []byte) ([]byte, error) {
	b, err := sgsign.Bundle(&sgsign.DSSEData{Data: statement, PayloadType: inTotoPayloadType}, s.kp, sgsign.BundleOptions{
		Context:             ctx,
		CertificateProvider: certProvider{s},
		// The token is fetched by the provider; this only satisfies the interface.
		CertificateProviderOptions: &sgsign.CertificateProviderOptions{},
		TransparencyLogs:           []sgsign.Transparency{s.rekor},
	})
	if err != nil {
		// The token endpoint's, Fulcio's and Rekor's failures are classified and name the
		// service; anything else failed here and stays unclassified.
		return nil, s.scrub(fmt.Errorf("keyless sign: %w", err))
	}
	return protojson.Marshal(b)
}

// certProvider hands sigstore-go the cached Fulcio certificate, renewing it near expiry.
type certProvider struct{ s *keylessSigner }

func (p certProvider) GetCertificate(ctx context.Context, kp sgsign.Keypair, _ *sgsign.CertificateProviderOptions) ([]byte, error) {
	s := p.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cert != nil && s.clock.Now().Add(certMargin).Before(s.notAfter) {
		return s.cert, nil
	}
	tok, err := s.token(ctx)
	if err != nil {
		return nil, err
	}
	s.secrets = append(s.secrets, tok)
	der, err := s.fulcio.GetCertificate(ctx, kp, &sgsign.CertificateProviderOptions{IDToken: tok})
	if err != nil && strings.Contains(err.Error(), "read on closed response body") {
		// sigstore-go (v1.3.0) closes the last answer before reading it when every attempt
		// answered 5xx or 429: net/http's error for that read is how an overloaded Fulcio shows.
		return nil, fault.Unreachablef("get signing certificate from Fulcio %s: it answered 5xx or 429 to every attempt: re-run the job later, or check --fulcio-url", s.fulcioURL)
	}
	if err != nil {
		return nil, serviceFault("get signing certificate from Fulcio "+s.fulcioURL, "Fulcio", "--fulcio-url", err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fault.Unreadablef("Fulcio %s returned a certificate that does not parse: %w", s.fulcioURL, err)
	}
	if !s.clock.Now().Add(certMargin).Before(c.NotAfter) {
		return nil, fault.Unreadablef("Fulcio %s issued a certificate valid only until %s: check the clock of this machine", s.fulcioURL, c.NotAfter.UTC().Format(time.RFC3339))
	}
	s.cert, s.notAfter = der, c.NotAfter
	return der, nil
}

// scrub removes every secret the signer has seen from err's message.
func (s *keylessSigner) scrub(err error) error {
	s.mu.Lock()
	secrets := append([]string(nil), s.secrets...)
	s.mu.Unlock()
	return scrubError(err, secrets...)
}

// scrubbed is an error's message with its secrets replaced; it wraps nothing.
type scrubbed struct{ msg string }

func (e scrubbed) Error() string { return e.msg }

// scrubError returns err with every form of each secret replaced by [REDACTED]. The result does
// not wrap err, so no caller can reach the unscrubbed message; it keeps err's class (see package
// fault).
func scrubError(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	changed := false
	for _, sec := range secrets {
		if len(sec) < 4 {
			continue
		}
		for _, form := range []string{sec, url.QueryEscape(sec)} {
			if strings.Contains(msg, form) {
				msg = strings.ReplaceAll(msg, form, "[REDACTED]")
				changed = true
			}
		}
	}
	if !changed {
		return err
	}
	if c := fault.Of(err); c != fault.Unknown {
		return fault.Wrap(c, scrubbed{msg})
	}
	return scrubbed{msg}
}

// actionsToken requests OIDC tokens from the GitHub Actions token endpoint.
type actionsToken struct {
	url    string
	bearer string
	client *http.Client
}

// requestURL is the token request's URL: the endpoint's, asking for audience "sigstore".
func (a *actionsToken) requestURL() (string, error) {
	u, err := url.Parse(a.url)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "", fault.BadInputf("keyless signing: --oidc-request-url is not an http(s) URL: pass --oidc-request-url env:ACTIONS_ID_TOKEN_REQUEST_URL, as the runner sets it")
	}
	q := u.Query()
	q.Set("audience", "sigstore")
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// get requests a token. A token endpoint that cannot be reached, or answers 5xx or 429, is
// Unreachable; one that refuses the request token or is not a token endpoint is bad input naming
// the flag; an answer without a token could not be read.
func (a *actionsToken) get(ctx context.Context) (string, error) {
	u, err := a.requestURL()
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", fault.BadInputf("keyless signing: cannot build the token request from --oidc-request-url: pass --oidc-request-url env:ACTIONS_ID_TOKEN_REQUEST_URL, as the runner sets it")
	}
	req.Header.Set("Authorization", "Bearer "+a.bearer)
	req.Header.Set("Accept", "application/json")
	resp, err := a.client.Do(req)
	if err != nil {
		// The transport's message names the URL, which holds no secret; scrub anyway.
		return "", scrubError(fault.Unreachablef("request a GitHub Actions OIDC token: could not reach the token endpoint (--oidc-request-url): %w: re-run the job", err), a.bearer)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", scrubError(fault.Unreachablef("read the GitHub Actions OIDC token answer: %w: re-run the job", err), a.bearer)
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return "", fault.BadInputf("GitHub Actions OIDC token endpoint refused the request token (%s): give the job `permissions: id-token: write` and pass --oidc-request-token env:ACTIONS_ID_TOKEN_REQUEST_TOKEN of this job", resp.Status)
	case resp.StatusCode == http.StatusNotFound:
		return "", fault.BadInputf("GitHub Actions OIDC token endpoint answered %s: check that --oidc-request-url is env:ACTIONS_ID_TOKEN_REQUEST_URL of this job", resp.Status)
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return "", fault.Unreachablef("GitHub Actions OIDC token endpoint answered %s: retry the job", resp.Status)
	case resp.StatusCode != http.StatusOK:
		return "", fault.Unreadablef("GitHub Actions OIDC token endpoint answered %s: check that --oidc-request-url is env:ACTIONS_ID_TOKEN_REQUEST_URL of this job", resp.Status)
	}
	var v struct {
		Value string `json:"value"`
	}
	if err := json.Unmarshal(body, &v); err != nil || v.Value == "" {
		return "", fault.Unreadablef("GitHub Actions OIDC token endpoint answered without a token (no \"value\" in its JSON): check that --oidc-request-url is env:ACTIONS_ID_TOKEN_REQUEST_URL of this job")
	}
	return v.Value, nil
}
