package registry

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// The auth handshake of a registry is a ping (GET /v2/ without credentials: 200, or 401 with a
// challenge) and, for a Bearer challenge, a token request per scope to the challenge's realm.
// go-containerregistry makes one for every puller target, every pusher repository, every delete
// and every lister; the session keeps both answers, so each happens once per phase: one ping per
// registry, one token per scope, shared by images, tags, signatures and attestations.

// defaultTokenLife is how long a token without expires_in lives (the token spec's 60 seconds).
const defaultTokenLife = 60 * time.Second

// challengeParam matches one key="value" parameter of a WWW-Authenticate challenge.
var challengeParam = regexp.MustCompile(`([A-Za-z_]+)="([^"]*)"`)

// challengeParams parses the parameters of a Bearer challenge; nil for any other scheme.
func challengeParams(h string) map[string]string {
	scheme, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	if !strings.EqualFold(scheme, "bearer") {
		return nil
	}
	out := map[string]string{}
	for _, m := range challengeParam.FindAllStringSubmatch(rest, -1) {
		out[strings.ToLower(m[1])] = m[2]
	}
	return out
}

// keptToken is a token answer kept for a phase, until half its life is over.
type keptToken struct {
	answer cachedAnswer
	token  string
	until  time.Time
}

// isPing reports go-containerregistry's ping: GET /v2/ without credentials.
func isPing(req *http.Request) bool {
	return req.Method == http.MethodGet && req.URL.Path == "/v2/" && req.Header.Get("Authorization") == ""
}

// ping answers a ping from the session's memo, or forwards it and keeps a 200 or 401 answer (and
// the realm of a Bearer challenge, to recognise token requests).
func (t cachingTransport) ping(req *http.Request) (*http.Response, error) {
	key := req.URL.Scheme + "://" + req.URL.Host
	t.cache.mu.Lock()
	a, ok := t.cache.pings[key]
	t.cache.mu.Unlock()
	if ok {
		return a.response(req), nil
	}
	resp, err := t.forward(req)
	if err != nil || (resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusUnauthorized) {
		return resp, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxCached))
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	a = cachedAnswer{status: resp.StatusCode, header: resp.Header.Clone(), body: body}
	t.cache.mu.Lock()
	t.cache.pings[key] = a
	if p := challengeParams(resp.Header.Get("WWW-Authenticate")); p["realm"] != "" {
		t.cache.realms[realmKey(p["realm"])] = true
	}
	t.cache.mu.Unlock()
	return a.response(req), nil
}

// realmKey is a token endpoint's URL without its query.
func realmKey(u string) string {
	base, _, _ := strings.Cut(u, "?")
	return base
}

// isTokenRequest reports a GET of a realm a ping's challenge named.
func (t cachingTransport) isTokenRequest(req *http.Request) bool {
	if req.Method != http.MethodGet {
		return false
	}
	u := *req.URL
	u.RawQuery, u.Fragment = "", ""
	t.cache.mu.Lock()
	defer t.cache.mu.Unlock()
	return t.cache.realms[u.String()]
}

// token answers a token request (same realm, scopes, service and credentials) with a token kept
// from earlier in the phase while it is young enough, or forwards it and keeps the answer.
func (t cachingTransport) token(req *http.Request) (*http.Response, error) {
	sum := sha256.Sum256([]byte(req.Header.Get("Authorization")))
	key := req.URL.String() + " " + hex.EncodeToString(sum[:])
	now := t.cache.now()
	t.cache.mu.Lock()
	k, ok := t.cache.tokens[key]
	t.cache.mu.Unlock()
	if ok && now.Before(k.until) {
		return k.answer.response(req), nil
	}
	resp, err := t.forward(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	a := cachedAnswer{status: http.StatusOK, header: resp.Header.Clone(), body: body}
	var tr struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if json.Unmarshal(body, &tr) == nil && (tr.Token != "" || tr.AccessToken != "") {
		life := defaultTokenLife
		if tr.ExpiresIn > 0 {
			// Bounded: a token service's number, however large, cannot overflow the duration.
			life = time.Duration(min(tr.ExpiresIn, 24*60*60)) * time.Second
		}
		tok := tr.Token
		if tr.AccessToken != "" {
			tok = tr.AccessToken // what go-containerregistry sends when both are given
		}
		t.cache.mu.Lock()
		t.cache.tokens[key] = keptToken{answer: a, token: tok, until: now.Add(life / 2)}
		t.cache.mu.Unlock()
	}
	return a.response(req), nil
}

// forward sends req on. A 401 to a request that carried a bearer token, other than for missing
// scope, means the token is no longer good (expired, revoked): it is forgotten, so that the
// refresh go-containerregistry then makes asks the token service again.
func (t cachingTransport) forward(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	tok, bearer := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
	if !bearer || challengeParams(resp.Header.Get("WWW-Authenticate"))["error"] == "insufficient_scope" {
		return resp, nil
	}
	t.cache.mu.Lock()
	for key, k := range t.cache.tokens {
		if k.token == tok {
			delete(t.cache.tokens, key)
		}
	}
	t.cache.mu.Unlock()
	return resp, nil
}
