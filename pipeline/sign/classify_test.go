package sign

// Signing failures are classified where they happen (see package fault) and name what to fix in
// the user's terms: flags and environment variables, never Go API names.

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/sign/signtest"
	"github.com/shipgate/shipgate/pipeline/testkit"
)

// goAPIName matches the Go names of options and constructors that must not reach a user.
var goAPIName = regexp.MustCompile(`\b(TokenURL|RequestToken|IDToken|FulcioURL|RekorURL|NewKeySigner|NewKeylessSigner|KeylessOptions|KeyOptions)\b`)

// wantFault fails the test unless err has class c and says every one of says, and names no Go API.
func wantFault(t *testing.T, what string, err error, c fault.Class, says ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, want %v", what, c)
		return
	}
	if fault.Of(err) != c {
		t.Errorf("%s: class %v, want %v: %v", what, fault.Of(err), c, err)
	}
	for _, s := range says {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("%s: error does not say %q: %v", what, s, err)
		}
	}
	if m := goAPIName.FindString(err.Error()); m != "" {
		t.Errorf("%s: error names the Go API %q: %v", what, m, err)
	}
}

// A key that cannot be used is bad input naming --signing-key, a wrong password bad input naming
// --signing-password; neither the password nor the key shows.
func TestKeySignerInputErrorsAreBadInput(t *testing.T) {
	key := newTestKey(t)
	wrong := []byte("wrong-" + randHex(t, 8))
	_, err := NewKeySigner(key.private, wrong, KeyOptions{})
	wantFault(t, "wrong password", err, fault.BadInput, "--signing-password", "env:COSIGN_PASSWORD")
	testkit.AssertNoSecret(t, string(wrong), err)
	testkit.AssertNoSecret(t, string(key.password), err)

	_, err = NewKeySigner(key.private, nil, KeyOptions{})
	wantFault(t, "no password for an encrypted key", err, fault.BadInput, "--signing-password")

	body := strings.Split(string(key.private), "\n")[1]
	for _, c := range []struct {
		what string
		pem  []byte
		says string
	}{
		{"not PEM", []byte("not a key"), "--signing-key is not PEM"},
		{"public key", key.public, `--signing-key is a PEM "PUBLIC KEY" block`},
		{"two blocks", append(append([]byte(nil), key.private...), key.public...), "--signing-key holds more than one PEM block"},
		{"damaged EC key", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte("junk")}), "--signing-key"},
		{"damaged PKCS#8 key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("junk")}), "--signing-key"},
	} {
		_, err := NewKeySigner(c.pem, key.password, KeyOptions{})
		wantFault(t, c.what, err, fault.BadInput, c.says)
		testkit.AssertNoSecret(t, body, err)
	}

	_, err = NewKeySigner(key.private, key.password, KeyOptions{RekorURL: "rekor.example.com"})
	wantFault(t, "Rekor URL without a scheme", err, fault.BadInput, "--rekor-url")
}

// keylessStore is a keyless signer whose token endpoint is tokenURL (with the stand-in f's
// Fulcio and Rekor), and a store on a fresh registry with a release to sign.
func keylessStore(t *testing.T, f *signtest.Sigstore, tokenURL, requestToken string) (Signer, *Store, release) {
	t.Helper()
	o := keylessOptions(f)
	o.TokenURL, o.RequestToken = tokenURL, requestToken
	sg, err := NewKeylessSigner(o)
	if err != nil {
		t.Fatal(err)
	}
	host := testkit.Registry(t, testkit.RegistryOptions{})
	return sg, storeOn(host), pushRelease(t, host)
}

// A GitHub Actions token endpoint that is down or failing could not be reached; one that refuses
// the request token, or is no token endpoint, is bad input naming the flag; one that answers
// without a token could not be read. The request token shows in none of the errors.
func TestOIDCTokenEndpointFailuresAreClassified(t *testing.T) {
	f := signtest.New(t)
	requestToken := "request-token-" + randHex(t, 10)
	// A careless endpoint echoes what it was sent.
	answer := func(status int, body string) string { return answering(t, status, body, true) + "/token" }
	down := testkit.GoneURL()
	for _, c := range []struct {
		what     string
		tokenURL string
		class    fault.Class
		says     []string
	}{
		{"endpoint down", down + "/token", fault.Unreachable, []string{"could not reach the token endpoint (--oidc-request-url)"}},
		{"endpoint answers 500", answer(http.StatusInternalServerError, "oops"), fault.Unreachable, []string{"500 Internal Server Error", "retry the job"}},
		{"endpoint answers 503", answer(http.StatusServiceUnavailable, "later"), fault.Unreachable, []string{"503"}},
		{"request token refused", answer(http.StatusUnauthorized, "no"), fault.BadInput, []string{"--oidc-request-token env:ACTIONS_ID_TOKEN_REQUEST_TOKEN", "id-token: write"}},
		{"not a token endpoint", answer(http.StatusNotFound, "nothing here"), fault.BadInput, []string{"--oidc-request-url is env:ACTIONS_ID_TOKEN_REQUEST_URL"}},
		{"answer without a token", answer(http.StatusOK, `{"count":0}`), fault.Unreadable, []string{`no "value"`, "--oidc-request-url"}},
	} {
		t.Run(c.what, func(t *testing.T) {
			sg, st, r := keylessStore(t, f, c.tokenURL, requestToken)
			err := st.Sign(t.Context(), r.index, sg)
			wantFault(t, c.what, err, c.class, c.says...)
			testkit.AssertNoSecret(t, requestToken, err)
		})
	}
	if f.FulcioHits.Load() != 0 {
		t.Errorf("Fulcio was asked %d times without a token", f.FulcioHits.Load())
	}
}

// Fulcio that is down, or keeps answering 5xx, could not be reached; one that refuses the token is
// a refusal. Fulcio echoes the token it refuses: the error is scrubbed and keeps its class.
func TestFulcioFailuresAreClassified(t *testing.T) {
	t.Run("down", func(t *testing.T) {
		f := signtest.New(t)
		down := testkit.GoneURL()
		o := keylessOptions(f)
		o.FulcioURL = down
		sg, err := NewKeylessSigner(o)
		if err != nil {
			t.Fatal(err)
		}
		host := testkit.Registry(t, testkit.RegistryOptions{})
		r := pushRelease(t, host)
		err = storeOn(host).Sign(t.Context(), r.index, sg)
		wantFault(t, "Fulcio down", err, fault.Unreachable, "Fulcio "+down)
	})
	for _, c := range []struct {
		status int
		class  fault.Class
		says   []string
	}{
		// sigstore-go tries three times, waiting 1, 2 and 4 s on the wall clock.
		{http.StatusServiceUnavailable, fault.Unreachable, []string{"answered 5xx or 429 to every attempt", "re-run the job later"}},
		// Fulcio echoes the token it refuses: the error is scrubbed.
		{http.StatusUnauthorized, fault.Refused, []string{"Fulcio returned 401", "[REDACTED]"}},
	} {
		t.Run(fmt.Sprint(c.status), func(t *testing.T) {
			f := signtest.New(t)
			f.SetFulcioStatus(c.status)
			sg, st, r := keylessStore(t, f, f.TokenURL(), f.RequestToken)
			err := st.Sign(t.Context(), r.index, sg)
			wantFault(t, "Fulcio answering "+fmt.Sprint(c.status), err, c.class, append(c.says, "Fulcio "+f.FulcioURL())...)
			for _, tok := range append(f.IssuedTokens(), f.RequestToken) {
				testkit.AssertNoSecret(t, tok, err)
			}
		})
	}
}

// Rekor that is down or answers 5xx could not be reached, one that turns the entry down refused,
// and one whose answer is not a log entry could not be read.
func TestRekorFailuresAreClassified(t *testing.T) {
	host := testkit.Registry(t, testkit.RegistryOptions{})
	r := pushRelease(t, host)
	key := newTestKey(t)
	rekor := func(status int, body string) string { return answering(t, status, body, false) }
	down := testkit.GoneURL()
	for _, c := range []struct {
		what  string
		url   string
		class fault.Class
	}{
		{"down", down, fault.Unreachable},
		{"503", rekor(http.StatusServiceUnavailable, `{"code":503,"message":"unavailable"}`), fault.Unreachable},
		{"400", rekor(http.StatusBadRequest, `{"code":400,"message":"invalid entry"}`), fault.Refused},
		{"malformed entry", rekor(http.StatusCreated, `{"not":"an entry"}`), fault.Unreadable},
	} {
		t.Run(c.what, func(t *testing.T) {
			// With a transport the Rekor client does not retry (see newRekor).
			sg := key.signer(t, KeyOptions{RekorURL: c.url, Transport: http.DefaultTransport})
			err := storeOn(host).Sign(t.Context(), r.index, sg)
			wantFault(t, "Rekor "+c.what, err, c.class, "Rekor "+c.url)
		})
	}
}

// scrubError removes the secrets from the text and keeps the class; an error without one stays
// without one.
func TestScrubbedErrorKeepsItsClass(t *testing.T) {
	tok := "eyJhbGciOi." + randHex(t, 12) + ".sig"
	for _, c := range []fault.Class{fault.Unreachable, fault.Unreadable, fault.Refused, fault.BadInput} {
		err := fmt.Errorf("keyless sign: %w", fault.Wrap(c, fmt.Errorf("Fulcio said: bad token %s", tok)))
		got := scrubError(err, tok)
		if fault.Of(got) != c {
			t.Errorf("scrubbed %v error has class %v", c, fault.Of(got))
		}
		if !strings.Contains(got.Error(), "bad token [REDACTED]") {
			t.Errorf("scrubbed text %q", got)
		}
		testkit.AssertNoSecret(t, tok, got)
		// Nothing in the chain holds the unscrubbed message.
		for e := got; e != nil; e = errors.Unwrap(e) {
			testkit.AssertNoSecret(t, tok, e.Error())
		}
	}
	plain := scrubError(fmt.Errorf("token %s", tok), tok)
	if fault.Of(plain) != fault.Unknown || strings.Contains(plain.Error(), tok) {
		t.Errorf("unclassified error scrubbed to %v (class %v)", plain, fault.Of(plain))
	}
	untouched := fault.Unreachablef("nothing secret")
	if scrubError(untouched, tok) != untouched {
		t.Error("an error without a secret was replaced")
	}
}

// A nil signer is a bug of the caller, not bad input: it stays unclassified and says so.
func TestNilSignerIsABug(t *testing.T) {
	host := testkit.Registry(t, testkit.RegistryOptions{})
	r := pushRelease(t, host)
	err := storeOn(host).Sign(context.Background(), r.index, nil)
	if err == nil || fault.Of(err) != fault.Unknown || !strings.Contains(err.Error(), "bug") {
		t.Fatalf("Sign with no signer: class %v, %v", fault.Of(err), err)
	}
	if m := goAPIName.FindString(err.Error()); m != "" {
		t.Fatalf("error names the Go API %q: %v", m, err)
	}
}

// answering is the URL of a server that answers every request with status and a JSON body (with
// echo, followed by the request's Authorization header, as a careless server would).
func answering(t *testing.T, status int, body string, echo bool) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		out := body
		if echo {
			out += " " + r.Header.Get("Authorization")
		}
		_, _ = io.WriteString(w, out)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}
