package testkit

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// TokenService is the path of the token endpoint a registry with RegistryOptions.Token serves, as
// ghcr.io serves https://ghcr.io/token.
const TokenService = "/token"

// tokenServiceName is the service= parameter of the challenge and of token requests.
const tokenServiceName = "testkit"

// TokenLog counts what a registry's token service did. Its methods may be called concurrently.
type TokenLog struct {
	mu       sync.Mutex
	requests int
	refused  int
	byScope  map[string]int
	issued   []string
}

// Requests is how many token requests the service answered (granted or refused).
func (l *TokenLog) Requests() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.requests
}

// Refused is how many token requests were refused (wrong username or password).
func (l *TokenLog) Refused() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.refused
}

// ByScope counts token requests per scope asked for ("repository:acme/app:pull",
// "repository:acme/app:pull,push": actions sorted); a request for several scopes counts once for
// each.
func (l *TokenLog) ByScope() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]int, len(l.byScope))
	for s, n := range l.byScope {
		out[s] = n
	}
	return out
}

// Issued are the tokens handed out, oldest first: secrets a test checks reach no error or log.
func (l *TokenLog) Issued() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.issued...)
}

// Reset forgets the counts (tokens already issued stay valid).
func (l *TokenLog) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.requests, l.refused, l.byScope = 0, 0, nil
}

// String lists the counts per scope, for test logs.
func (l *TokenLog) String() string {
	by := l.ByScope()
	var b strings.Builder
	fmt.Fprintf(&b, "%d token request(s), %d refused", l.Requests(), l.Refused())
	for _, s := range slices.Sorted(maps.Keys(by)) {
		fmt.Fprintf(&b, "; %s: %d", s, by[s])
	}
	return b.String()
}

// grant is what a token allows: repository name → actions.
type grant map[string]map[string]bool

// tokenAuth is a token service (Docker/OCI token auth, as ghcr.io does it) in front of a registry
// handler: every /v2/ request needs a bearer token that covers it, or is answered 401 with a
// Bearer challenge naming the realm, the service and the scope it needs; GET /token hands out
// tokens for the scopes asked. With a username, only that user and password (HTTP Basic on the
// token request) get push; anonymous requests get pull only (a public package). Without one,
// anyone gets what they ask.
type tokenAuth struct {
	next       http.Handler
	user, pass string
	log        *TokenLog

	mu     sync.Mutex
	grants map[string]grant
}

// newTokenAuth puts a token service in front of next (see RegistryOptions.Token).
func newTokenAuth(next http.Handler, user, pass string) *tokenAuth {
	return &tokenAuth{next: next, user: user, pass: pass, log: &TokenLog{}, grants: map[string]grant{}}
}

// TokenAuth puts a token service in front of a registry handler, as ghcr.io has one: the
// handler RegistryOptions.Token gives, for a registry started elsewhere (the sandbox's). The
// log counts the tokens it hands out.
func TokenAuth(next http.Handler, user, pass string) (http.Handler, *TokenLog) {
	a := newTokenAuth(next, user, pass)
	return a, a.log
}

// repoPath finds the repository name and the API of a /v2/ request.
var repoPath = regexp.MustCompile(`^/v2/(.+?)/(manifests|blobs|tags|referrers)/`)

func (a *tokenAuth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == TokenService {
		a.token(w, r)
		return
	}
	name, action := "", ""
	if m := repoPath.FindStringSubmatch(r.URL.Path); m != nil {
		name, action = m[1], "pull"
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			action = "push"
		}
	}
	tok, bearer := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	a.mu.Lock()
	g, known := a.grants[tok]
	a.mu.Unlock()
	switch {
	case !known && bearer:
		a.challenge(w, r, name, action, "invalid_token")
	case !known:
		a.challenge(w, r, name, action, "")
	case name != "" && !g[name][action]:
		a.challenge(w, r, name, action, "insufficient_scope")
	default:
		a.next.ServeHTTP(w, r)
	}
}

// challenge answers 401 with the Bearer challenge for what the request needs.
func (a *tokenAuth) challenge(w http.ResponseWriter, r *http.Request, name, action, why string) {
	c := fmt.Sprintf(`Bearer realm="http://%s%s",service="%s"`, r.Host, TokenService, tokenServiceName)
	if name != "" {
		actions := "pull"
		if action == "push" {
			actions = "pull,push"
		}
		c += fmt.Sprintf(`,scope="repository:%s:%s"`, name, actions)
	}
	if why != "" {
		c += fmt.Sprintf(`,error="%s"`, why)
	}
	w.Header().Set("WWW-Authenticate", c)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`))
}

// token serves GET /token?service=...&scope=...: it checks the Basic credentials, counts the
// request per scope and hands out a token for what the caller may do.
func (a *tokenAuth) token(w http.ResponseWriter, r *http.Request) {
	var scopes []string
	for _, s := range r.URL.Query()["scope"] {
		scopes = append(scopes, strings.Fields(s)...)
	}
	u, p, basic := r.BasicAuth()
	refused := a.user != "" && basic && (subtle.ConstantTimeCompare([]byte(u), []byte(a.user)) != 1 || subtle.ConstantTimeCompare([]byte(p), []byte(a.pass)) != 1)
	push := a.user == "" || (basic && !refused)
	a.log.mu.Lock()
	a.log.requests++
	if refused {
		a.log.refused++
	}
	if a.log.byScope == nil {
		a.log.byScope = map[string]int{}
	}
	for _, s := range scopes {
		a.log.byScope[normalScope(s)]++
	}
	a.log.mu.Unlock()
	if refused {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"wrong username or password"}]}`))
		return
	}
	tok := a.issue(scopes, push)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"token": tok, "access_token": tok, "expires_in": 300})
}

// issue makes a token granting the scopes' actions (pull only unless push is allowed).
func (a *tokenAuth) issue(scopes []string, push bool) string {
	g := grant{}
	for _, s := range scopes {
		typ, rest, ok := strings.Cut(s, ":")
		i := strings.LastIndex(rest, ":")
		if !ok || typ != "repository" || i < 0 {
			continue
		}
		name := rest[:i]
		if g[name] == nil {
			g[name] = map[string]bool{}
		}
		for _, act := range strings.Split(rest[i+1:], ",") {
			if act == "pull" || push {
				g[name][act] = true
			}
		}
	}
	raw := make([]byte, 24)
	_, _ = rand.Read(raw)
	tok := "tk_" + hex.EncodeToString(raw)
	a.mu.Lock()
	a.grants[tok] = g
	a.mu.Unlock()
	a.log.mu.Lock()
	a.log.issued = append(a.log.issued, tok)
	a.log.mu.Unlock()
	return tok
}

// normalScope sorts a scope's actions: "repository:a:push,pull" → "repository:a:pull,push".
func normalScope(s string) string {
	i := strings.LastIndex(s, ":")
	if i < 0 {
		return s
	}
	acts := strings.Split(s[i+1:], ",")
	slices.Sort(acts)
	return s[:i+1] + strings.Join(acts, ",")
}
