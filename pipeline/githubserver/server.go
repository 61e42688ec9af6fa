// Package githubserver is a stateful, in-process GitHub REST API server for tests and the demo. It
// speaks the REST paths that go-github uses for repositories, git refs and objects, contents,
// releases, repository dispatches and pull requests, plus the two GraphQL mutations shipgate sends
// (enablePullRequestAutoMerge, markPullRequestReadyForReview), and reproduces the GitHub behaviours
// that break release pipelines:
//
//   - draft releases are hidden from GET /repos/{o}/{r}/releases/tags/{tag} (404) and are listed
//     only for tokens with push access;
//   - duplicates answer 422 (ref already exists, release tag already_exists, pull request already
//     exists), and a second draft for the same tag is accepted, as on GitHub;
//   - ref updates without force must be fast-forwards (422 "Update is not a fast forward");
//   - merges refuse with 405 (not mergeable, draft, required check pending, method not allowed),
//     409 (head SHA mismatch) and 422 (bad input);
//   - lists are paginated with Link headers, and the page size can be made small;
//   - tokens carry per-repository permissions (pull, push, admin): unknown tokens get 401, private
//     repositories are 404 to those who cannot read them, writes without push get 403 with the
//     X-Accepted-GitHub-Permissions header naming the missing permission;
//   - primary rate limits (403 + X-RateLimit-Remaining: 0 until X-RateLimit-Reset), secondary rate
//     limits (403 or 429 + Retry-After) and 5xx answers can be injected;
//   - mergeability is computed lazily: the first read of a changed pull request has
//     "mergeable": null; conflicts are set by the test (SetMergeConflict, SetBranchConflict), and
//     a merge keeps the base's own changes (file by file: the head's version wins where both
//     changed a file);
//   - comparisons (compare.go): GET /compare/{base}...{head} with status identical, ahead,
//     behind or diverged, ahead_by, behind_by, the merge base and the commits head adds;
//   - pull request reviews, and the default branch's rules (GET /rules/branches/{branch}): a
//     number of approving reviews from writers (not the author), and a required status check
//     whose state per commit the test sets; merges refuse with 405 until both hold;
//   - commit statuses (POST /statuses/{sha}, GET /commits/{ref}/statuses newest first, and the
//     combined status: failure if any context failed or errored, pending if any is pending,
//     latest status per context, case-insensitive); a description over 140 characters is 422;
//     a status of the required check's context drives that check;
//   - release assets: uploads on the uploads root (UploadURL, /api/uploads/ as in go-github's
//     Enterprise layout) with a raw body and a required Content-Type, 422 already_exists for a
//     name used twice, special characters renamed to periods, "digest" and "size" in every asset;
//     on a published release of a repository with immutable releases, uploads and deletes
//     answer 422 ("Cannot upload assets to an immutable release.");
//   - the repository attestations API: POST /attestations {"bundle"} (attestations: write) stores
//     a sigstore bundle under the digests it attests (the in-toto statement's subjects in its DSSE
//     envelope, or a message signature's digest), GET /attestations/{subject_digest} lists them
//     with an "after" cursor and a predicate_type filter, and answers 404 when there are none;
//   - conditional requests (etag.go): every 200 answer to a GET carries an ETag (a hash of its
//     body) and a GET whose If-None-Match names it gets 304 Not Modified, which, made with a
//     token, does not count against its rate limit; Counts tells 304s from full answers;
//   - container packages of users and organizations (packages.go): versions listed newest first
//     with metadata.container.tags, nested names as one %2F segment, and DELETE of a version
//     answering 404 "Package not found." (not 403) to a token without admin on the package.
//
// Git objects are hashed as git hashes them (blob, tree and commit SHA-1), so a client that
// computes a blob SHA locally agrees with the server.
//
// The server serves both the github.com layout (REST at /, GraphQL at /graphql) and the GitHub
// Enterprise Server layout (REST at /api/v3/, GraphQL at /api/graphql).
package githubserver

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shipgate/shipgate/pipeline/clock"
)

// Perm is a token's access level on one repository.
type Perm int

const (
	// PermNone means no access: a private repository is invisible (404).
	PermNone Perm = iota
	// PermPull reads (contents: read, pull_requests: read).
	PermPull
	// PermPush reads and writes (contents: write, pull_requests: write); it also sees drafts.
	PermPush
	// PermAdmin is push plus administration.
	PermAdmin
)

// String is pull, push, admin or none.
func (p Perm) String() string {
	switch p {
	case PermPull:
		return "pull"
	case PermPush:
		return "push"
	case PermAdmin:
		return "admin"
	}
	return "none"
}

// Options configure a Server.
type Options struct {
	// Addr is the listen address; empty means 127.0.0.1 on a free port.
	Addr string
	// Clock gives commit dates and rate-limit windows; nil is the wall clock. Share a clock.Fake
	// with the client under test so rate-limit waits never sleep.
	Clock clock.Clock
	// PageSize caps every page of every list (GitHub's default is 30, its maximum 100); 0 keeps
	// GitHub's behaviour. Small values exercise pagination.
	PageSize int
	// EagerMergeability answers "mergeable" at once instead of null on the first read after a
	// change (GitHub computes mergeability in the background).
	EagerMergeability bool
}

// Request is one request the server saw.
type Request struct {
	Method string
	// Path is the path without the /api/v3 prefix, plus the query.
	Path   string
	Status int
	// Login is the token's user, "" when anonymous or unknown.
	Login string
}

// Server is a running GitHub API server. All methods are safe for concurrent use.
type Server struct {
	opts  Options
	clk   clock.Clock
	ln    net.Listener
	http  *http.Server
	url   string
	inner *http.ServeMux

	mu        sync.Mutex
	repos     map[string]*repo
	tokens    map[string]*token
	anonRate  *rateBucket
	faults    []*fault
	secondary []*secondaryFault
	log       []Request
	nextID    int64
	onDisp    []func(Dispatch)
	// pkgs are the container packages (see packages.go), pkgPerms each token's access to them,
	// owners the package owners (login → organization).
	pkgs     map[string]*pkg
	pkgPerms map[string]map[string]Perm
	owners   map[string]bool
	// branchConflicts marks head → base pairs whose pull requests conflict (SetBranchConflict).
	branchConflicts map[string]bool
}

type token struct {
	secret string
	login  string
	perms  map[string]Perm // repo key → perm
	rate   *rateBucket
}

type rateBucket struct {
	limit     int
	remaining int
	reset     time.Time
}

type fault struct {
	method string
	path   *regexp.Regexp
	status int
	times  int
	shot   *Injection
}

type secondaryFault struct {
	status     int
	retryAfter int
	times      int
	shot       *Injection
}

// Injection is a fault injected with Inject5xx or InjectSecondaryRateLimit. It counts the
// requests it answered, so a test can tell that its fault fired.
type Injection struct {
	mu       *sync.Mutex // the server's
	injected int
}

// Injected is how many requests the fault answered so far.
func (i *Injection) Injected() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.injected
}

// New starts a server; call Close when done.
func New(o Options) *Server {
	s := &Server{
		opts:   o,
		clk:    clock.Or(o.Clock),
		repos:  map[string]*repo{},
		tokens: map[string]*token{},
		nextID: 1000,
	}
	s.anonRate = &rateBucket{limit: 60, remaining: 60}
	s.inner = http.NewServeMux()
	s.routes()
	addr := o.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		panic(fmt.Sprintf("githubserver: listen on %s: %v", addr, err))
	}
	s.ln = ln
	s.url = "http://" + ln.Addr().String()
	s.http = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.http.Serve(ln) }()
	return s
}

// URL is the server's root (http://127.0.0.1:PORT). As a client base URL it reads as a GitHub
// Enterprise Server host: go-github appends /api/v3/.
func (s *Server) URL() string { return s.url }

// APIURL is the REST base in the github.com layout (http://127.0.0.1:PORT/).
func (s *Server) APIURL() string { return s.url + "/" }

// EnterpriseURL is the REST base in the GitHub Enterprise Server layout (…/api/v3/).
func (s *Server) EnterpriseURL() string { return s.url + "/api/v3/" }

// Close stops the server.
func (s *Server) Close() { _ = s.http.Close() }

// Requests returns every request seen so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.log...)
}

// ResetRequests forgets the request log.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	s.log = nil
	s.mu.Unlock()
}

// AddToken registers a token for a user with per-repository permissions ("owner/name" → perm).
// Each token gets a primary rate limit of 5,000 requests per hour.
func (s *Server) AddToken(secret, login string, perms map[string]Perm) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := &token{secret: secret, login: login, perms: map[string]Perm{}, rate: &rateBucket{limit: 5000, remaining: 5000}}
	for k, p := range perms {
		t.perms[strings.ToLower(k)] = p
	}
	s.tokens[secret] = t
}

// SetPermission changes one token's permission on one repository.
func (s *Server) SetPermission(secret, repo string, p Perm) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.tokens[secret]; t != nil {
		t.perms[strings.ToLower(repo)] = p
	}
}

// SetRateLimit sets a token's primary rate limit: limit requests per window, remaining now, and the
// time the window resets (on the server's clock). When remaining reaches 0 the server answers 403
// with X-RateLimit-Remaining: 0 until reset, then refills to limit for another hour.
func (s *Server) SetRateLimit(secret string, limit, remaining int, reset time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.tokens[secret]; t != nil {
		t.rate = &rateBucket{limit: limit, remaining: remaining, reset: reset}
	}
}

// InjectSecondaryRateLimit makes the next times requests fail with a secondary rate limit: status
// 403 or 429 and, when retryAfter > 0, a Retry-After header of that many seconds. The Injection
// counts the requests it answered.
func (s *Server) InjectSecondaryRateLimit(status, retryAfter, times int) *Injection {
	s.mu.Lock()
	defer s.mu.Unlock()
	shot := &Injection{mu: &s.mu}
	s.secondary = append(s.secondary, &secondaryFault{status: status, retryAfter: retryAfter, times: times, shot: shot})
	return shot
}

// Inject5xx makes the next times requests whose method matches (empty: any) and whose path matches
// pathRE (empty: any) fail with status (500, 502, 503 …) before they take effect. The Injection
// counts the requests it answered.
func (s *Server) Inject5xx(method, pathRE string, status, times int) *Injection {
	s.mu.Lock()
	defer s.mu.Unlock()
	var re *regexp.Regexp
	if pathRE != "" {
		re = regexp.MustCompile(pathRE)
	}
	shot := &Injection{mu: &s.mu}
	s.faults = append(s.faults, &fault{method: method, path: re, status: status, times: times, shot: shot})
	return shot
}

// ClearFaults removes every injected 5xx and secondary rate limit that has not fired yet.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	s.faults, s.secondary = nil, nil
	s.mu.Unlock()
}

// SetPageSize caps every page (0: GitHub's own sizes).
func (s *Server) SetPageSize(n int) {
	s.mu.Lock()
	s.opts.PageSize = n
	s.mu.Unlock()
}

// OnDispatch registers a function called (outside the server's lock, before the 204 answer) for
// every accepted repository_dispatch, so a test or the demo can play the downstream workflow.
func (s *Server) OnDispatch(f func(Dispatch)) {
	s.mu.Lock()
	s.onDisp = append(s.onDisp, f)
	s.mu.Unlock()
}

// ServeHTTP routes a request: faults, authentication, rate limits, then the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w, status: 200}
	path := r.URL.Path
	enterprise := false
	if strings.HasPrefix(path, "/api/v3/") {
		path = strings.TrimPrefix(path, "/api/v3")
		enterprise = true
	} else if path == "/api/graphql" {
		path = "/graphql"
	} else if strings.HasPrefix(path, uploadsPrefix) {
		enterprise = true // the uploads host of the Enterprise layout
	}
	login, ok := s.admit(rec, r, path)
	defer func() {
		q := ""
		if r.URL.RawQuery != "" {
			q = "?" + r.URL.RawQuery
		}
		s.mu.Lock()
		s.log = append(s.log, Request{Method: r.Method, Path: path + q, Status: rec.status, Login: login})
		s.mu.Unlock()
	}()
	if !ok {
		return
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path = path
	r2.URL.RawPath = ""
	r2 = r2.WithContext(withReqInfo(r2.Context(), &reqInfo{enterprise: enterprise, host: r.Host}))
	if r.Method == http.MethodGet {
		s.serveConditional(rec, r2, bearer(r)) // ETag, and 304 to a matching If-None-Match
		return
	}
	s.inner.ServeHTTP(rec, r2)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

// WriteHeader records the status.
func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// admit applies injected faults, authentication and rate limits; false means it answered.
func (s *Server) admit(w http.ResponseWriter, r *http.Request, path string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.faults {
		if f.times <= 0 || (f.method != "" && !strings.EqualFold(f.method, r.Method)) || (f.path != nil && !f.path.MatchString(path)) {
			continue
		}
		f.times--
		f.shot.injected++
		writeJSON(w, f.status, map[string]any{"message": http.StatusText(f.status)})
		return "", false
	}
	secret := bearer(r)
	var tok *token
	bucket := s.anonRate
	if secret != "" {
		tok = s.tokens[secret]
		if tok == nil {
			writeJSON(w, http.StatusUnauthorized, map[string]any{"message": "Bad credentials", "documentation_url": docs("rest"), "status": "401"})
			return "", false
		}
		bucket = tok.rate
	}
	login := ""
	if tok != nil {
		login = tok.login
	}
	for _, f := range s.secondary {
		if f.times <= 0 {
			continue
		}
		f.times--
		f.shot.injected++
		if f.retryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(f.retryAfter))
		}
		writeJSON(w, f.status, map[string]any{
			"message":           "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
			"documentation_url": docs("rest/using-the-rest-api/rate-limits-for-the-rest-api#about-secondary-rate-limits"),
		})
		return login, false
	}
	now := s.clk.Now()
	if bucket.reset.IsZero() || !now.Before(bucket.reset) {
		if !bucket.reset.IsZero() || bucket.remaining <= 0 {
			bucket.remaining = bucket.limit
		}
		bucket.reset = now.Add(time.Hour)
	}
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(bucket.limit))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(bucket.reset.Unix(), 10))
	h.Set("X-RateLimit-Resource", "core")
	if bucket.remaining <= 0 {
		h.Set("X-RateLimit-Remaining", "0")
		h.Set("X-RateLimit-Used", strconv.Itoa(bucket.limit))
		writeJSON(w, http.StatusForbidden, map[string]any{
			"message":           fmt.Sprintf("API rate limit exceeded for user %s.", login),
			"documentation_url": docs("rest/using-the-rest-api/rate-limits-for-the-rest-api#primary-rate-limit"),
		})
		return login, false
	}
	bucket.remaining--
	h.Set("X-RateLimit-Remaining", strconv.Itoa(bucket.remaining))
	h.Set("X-RateLimit-Used", strconv.Itoa(bucket.limit-bucket.remaining))
	return login, true
}

func bearer(r *http.Request) string {
	a := r.Header.Get("Authorization")
	for _, p := range []string{"Bearer ", "bearer ", "token ", "Token "} {
		if strings.HasPrefix(a, p) {
			return strings.TrimSpace(a[len(p):])
		}
	}
	return ""
}

// caller is who is asking, resolved under the lock.
type caller struct {
	tok *token
}

func (s *Server) callerOf(r *http.Request) caller {
	return caller{tok: s.tokens[bearer(r)]}
}

func (c caller) login() string {
	if c.tok == nil {
		return ""
	}
	return c.tok.login
}

func (c caller) perm(rp *repo) Perm {
	p := PermNone
	if c.tok != nil {
		p = c.tok.perms[rp.key]
	}
	if p == PermNone && !rp.private {
		return PermPull
	}
	return p
}

// access checks need on the repository named in the path and answers as GitHub does when it is
// missing: 404 when the caller cannot see the repository, 401 for anonymous writes, 403 with the
// fine-grained permission in X-Accepted-GitHub-Permissions otherwise. Call with the lock held.
func (s *Server) access(w http.ResponseWriter, r *http.Request, need Perm, fine string) (*repo, caller, bool) {
	c := s.callerOf(r)
	rp := s.repos[repoKey(r.PathValue("owner"), r.PathValue("repo"))]
	if rp == nil || c.perm(rp) < PermPull {
		notFound(w)
		return nil, c, false
	}
	if c.perm(rp) < need {
		if c.tok == nil {
			writeJSON(w, http.StatusUnauthorized, map[string]any{"message": "Requires authentication", "documentation_url": docs("rest"), "status": "401"})
			return nil, c, false
		}
		if fine != "" {
			w.Header().Set("X-Accepted-GitHub-Permissions", fine)
		}
		writeJSON(w, http.StatusForbidden, map[string]any{"message": "Resource not accessible by personal access token", "documentation_url": docs("rest"), "status": "403"})
		return nil, c, false
	}
	return rp, c, true
}

// repoHandler answers a request about the repository named in the path, under the server's lock,
// once the caller's access was checked.
type repoHandler func(w http.ResponseWriter, r *http.Request, rp *repo, c caller)

// locked runs h under the server's lock, then the functions h registered in the request's after
// list once the lock is released. Every endpoint's wrapper (on, onPackage, onMutation) starts
// with it, so no handler takes the lock itself.
func (s *Server) locked(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		info := reqInfoOf(r.Context())
		func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			h(w, r)
		}()
		for _, f := range info.after {
			f()
		}
	}
}

// on is the preamble every repository endpoint shares: the lock, then the access check (404, 401
// or 403 as GitHub answers, naming the fine-grained permission), then h. Functions h registers in
// the request's after list run once the lock is released.
func (s *Server) on(need Perm, fine string, h repoHandler) http.HandlerFunc {
	return s.locked(func(w http.ResponseWriter, r *http.Request) {
		if rp, c, ok := s.access(w, r, need, fine); ok {
			h(w, r, rp, c)
		}
	})
}

// onPull is on for endpoints about pull request {number}: 404 when there is none.
func (s *Server) onPull(need Perm, fine string, h func(w http.ResponseWriter, r *http.Request, rp *repo, c caller, pr *pull)) http.HandlerFunc {
	return s.on(need, fine, func(w http.ResponseWriter, r *http.Request, rp *repo, c caller) {
		if pr := rp.pull(pullNumber(r)); pr != nil {
			h(w, r, rp, c, pr)
			return
		}
		notFound(w)
	})
}

// onRelease is on for endpoints about release {id}: 404 when there is none, or when it is a
// draft and the caller cannot push (GitHub hides drafts from readers).
func (s *Server) onRelease(need Perm, fine string, h func(w http.ResponseWriter, r *http.Request, rp *repo, c caller, rel *release)) http.HandlerFunc {
	return s.on(need, fine, func(w http.ResponseWriter, r *http.Request, rp *repo, c caller) {
		if rel := rp.releaseByID(r.PathValue("id")); rel != nil && (!rel.draft || c.perm(rp) >= PermPush) {
			h(w, r, rp, c, rel)
			return
		}
		notFound(w)
	})
}

func (s *Server) id() int64 {
	s.nextID++
	return s.nextID
}

// ---- JSON helpers

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}

func docs(p string) string { return "https://docs.github.com/" + p }

func notFound(w http.ResponseWriter) {
	writeJSON(w, http.StatusNotFound, map[string]any{"message": "Not Found", "documentation_url": docs("rest"), "status": "404"})
}

func unprocessable(w http.ResponseWriter, msg string) {
	writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": msg, "documentation_url": docs("rest"), "status": "422"})
}

func validation(w http.ResponseWriter, resource, field, code, msg string) {
	e := map[string]any{"resource": resource, "field": field, "code": code}
	if msg != "" {
		e["message"] = msg
	}
	writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": "Validation Failed", "errors": []any{e}, "documentation_url": docs("rest"), "status": "422"})
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	b, err := io.ReadAll(io.LimitReader(r.Body, 32<<20))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"message": "Problems reading the request body"})
		return false
	}
	if len(b) == 0 {
		b = []byte("{}")
	}
	if err := json.Unmarshal(b, v); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"message": "Problems parsing JSON", "documentation_url": docs("rest"), "status": "400"})
		return false
	}
	return true
}

// page answers one page of items, each rendered by render, with GitHub's Link header. per_page
// defaults to 30 and is capped at 100 and at the server's PageSize. Only the page is rendered, so
// long histories stay cheap.
func page[T any](s *Server, w http.ResponseWriter, r *http.Request, items []T, render func(T) map[string]any) {
	q := r.URL.Query()
	per := perPage(s, q)
	pg := 1
	if v, err := strconv.Atoi(q.Get("page")); err == nil && v > 0 {
		pg = v
	}
	last := (len(items) + per - 1) / per
	if last == 0 {
		last = 1
	}
	lo := (pg - 1) * per
	hi := lo + per
	if lo > len(items) {
		lo = len(items)
	}
	if hi > len(items) {
		hi = len(items)
	}
	link := func(n int, rel string) string {
		return fmt.Sprintf("<%s>; rel=%q", selfURL(r, "page", strconv.Itoa(n)), rel)
	}
	var links []string
	if pg < last {
		links = append(links, link(pg+1, "next"), link(last, "last"))
	}
	if pg > 1 {
		links = append(links, link(1, "first"), link(pg-1, "prev"))
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
	out := make([]map[string]any, 0, hi-lo)
	for _, it := range items[lo:hi] {
		out = append(out, render(it))
	}
	writeJSON(w, http.StatusOK, out)
}

// perPage is the page size a list request asked for: 30 by default, at most 100 and at most the
// server's PageSize.
func perPage(s *Server, q url.Values) int {
	per := 30
	if v, err := strconv.Atoi(q.Get("per_page")); err == nil && v > 0 {
		per = v
	}
	if per > 100 {
		per = 100
	}
	if s.opts.PageSize > 0 && per > s.opts.PageSize {
		per = s.opts.PageSize
	}
	return per
}

// selfURL is the request's own URL as the client sent it (with the /api/v3 prefix when it used
// one), with query parameter key set to value: the target of a Link header.
func selfURL(r *http.Request, key, value string) string {
	info := reqInfoOf(r.Context())
	u := url.URL{Scheme: "http", Host: info.host, Path: r.URL.Path}
	if info.enterprise && !strings.HasPrefix(u.Path, uploadsPrefix) {
		u.Path = "/api/v3" + u.Path
	}
	q := r.URL.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}
