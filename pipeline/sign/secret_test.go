package sign

import (
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/logs"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/registry"
	"github.com/shipgate/shipgate/pipeline/sign/signtest"
	"github.com/shipgate/shipgate/pipeline/testkit"
)

// captureLogs sends go-containerregistry's warning, progress and debug logs (debug dumps every
// HTTP exchange) to a capture for the rest of the test.
func captureLogs(t *testing.T) *testkit.Logs {
	l := &testkit.Logs{}
	w, p, d := logs.Warn, logs.Progress, logs.Debug
	logs.Warn, logs.Progress, logs.Debug = log.New(l, "warn ", 0), log.New(l, "progress ", 0), log.New(l, "debug ", 0)
	t.Cleanup(func() { logs.Warn, logs.Progress, logs.Debug = w, p, d })
	return l
}

func printed(v any) string { return fmt.Sprintf("%v %+v %#v %s", v, v, v, v) }

func TestKeyPasswordNeverShows(t *testing.T) {
	key := newTestKey(t)
	pw := string(key.password)
	_, err := NewKeySigner(key.private, []byte(pw+"-wrong"), KeyOptions{})
	if err == nil || !strings.Contains(err.Error(), "wrong --signing-password") || fault.Of(err) != fault.BadInput {
		t.Fatalf("wrong password: class %v, %v; want bad input naming --signing-password", fault.Of(err), err)
	}
	testkit.AssertNoSecret(t, pw, err)
	testkit.AssertNoSecret(t, pw+"-wrong", err)

	// A release signed with the key (against a registry that wants a password too), with every
	// log of the registry client captured.
	l := captureLogs(t)
	regPW := "registry-pw-" + randHex(t, 8)
	host := testkit.Registry(t, testkit.RegistryOptions{Username: "ci", Password: regPW})
	auth := remote.WithAuth(&authn.Basic{Username: "ci", Password: regPW})
	r := pushRelease(t, host, auth)
	sg := key.signer(t, KeyOptions{DisableTlogUpload: true})
	// The store as a phase makes it, its client's log captured too.
	st := storeOn(host, registry.WithAuth("ci", regPW), registry.WithLogger(slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	publish(t, st, r, sg, finalizeCommit)
	if _, err := st.VerifyRelease(t.Context(), r.index, r.platforms, finalizeCommit, key.offlinePolicy()); err != nil {
		t.Fatal(err)
	}
	// A failing write: the registry refuses, the error says so.
	_, err = storeOn(host).Signed(t.Context(), r.index, key.offlinePolicy())
	if err == nil {
		t.Fatal("unauthenticated read succeeded")
	}
	if len(l.String()) == 0 {
		t.Fatal("captured no registry client logs: the capture is not wired")
	}
	for _, secret := range []string{pw, regPW} {
		testkit.AssertNoSecret(t, secret, l, err, printed(sg), printed(st))
	}
	// The PEM key itself does not show either (its base64 body).
	body := strings.Split(string(key.private), "\n")[1]
	testkit.AssertNoSecret(t, body, l, err, printed(sg))
}

func TestOIDCTokensNeverShow(t *testing.T) {
	l := captureLogs(t)
	f := signtest.New(t)
	host := testkit.Registry(t, testkit.RegistryOptions{})
	r := pushRelease(t, host)
	st := storeOn(host)

	// Fulcio refuses and echoes the token it was given.
	f.SetFulcioStatus(http.StatusUnauthorized)
	sg := standInSigner(t, f)
	signErr := st.Sign(t.Context(), r.index, sg)
	if signErr == nil || !strings.Contains(signErr.Error(), "Fulcio returned 401") || !strings.Contains(signErr.Error(), "[REDACTED]") {
		t.Fatalf("Sign with a refusing Fulcio: %v", signErr)
	}
	tokens := f.IssuedTokens()
	if len(tokens) == 0 {
		t.Fatal("no token was fetched")
	}

	// The token endpoint refuses a wrong request token.
	o := keylessOptions(f)
	o.RequestToken = "wrong-request-token-" + randHex(t, 6)
	bad, err := NewKeylessSigner(o)
	if err != nil {
		t.Fatal(err)
	}
	badErr := st.Sign(t.Context(), r.index, bad)
	if badErr == nil || !strings.Contains(badErr.Error(), "id-token: write") {
		t.Fatalf("Sign with a wrong request token: %v", badErr)
	}

	// A token endpoint that is down.
	o = keylessOptions(f)
	o.TokenURL = testkit.GoneURL() + "/token"
	unreachable, err := NewKeylessSigner(o)
	if err != nil {
		t.Fatal(err)
	}
	downErr := st.Sign(t.Context(), r.index, unreachable)
	if downErr == nil {
		t.Fatal("Sign with the token endpoint down succeeded")
	}

	// A signer given the token directly, failing the same way.
	direct := f.MintToken()
	ds, err := NewKeylessSigner(KeylessOptions{IDToken: direct, FulcioURL: f.FulcioURL(), RekorURL: f.RekorURL()})
	if err != nil {
		t.Fatal(err)
	}
	directErr := st.Sign(t.Context(), r.index, ds)
	if directErr == nil {
		t.Fatal("Sign with a refusing Fulcio succeeded")
	}

	// And a signer that works, to have logs of a success too.
	f.SetFulcioStatus(0)
	good := standInSigner(t, f)
	publish(t, st, r, good, finalizeCommit)

	secrets := append(f.IssuedTokens(), f.RequestToken, o.RequestToken, direct)
	for _, s := range secrets {
		testkit.AssertNoSecret(t, s, l, signErr, badErr, downErr, directErr, printed(sg), printed(bad), printed(ds), printed(good))
	}
	// The JWT's signature part alone does not show either.
	for _, tok := range tokens {
		parts := strings.Split(tok, ".")
		testkit.AssertNoSecret(t, parts[1], signErr, directErr)
	}
}
