// Package github is everything shipgate does on GitHub for prepare, publish and promote, built on
// go-github v62. Every operation looks first and acts only on what is missing, so a re-run after
// any failure converges and never duplicates: Observe* and the finders only read (dry-run uses
// them), the other methods act.
//
// One http.RoundTripper (see Options) authenticates, retries 5xx answers and dropped connections a
// bounded number of times (only for requests that are safe to repeat), waits out primary rate
// limits (403/429 with X-RateLimit-Remaining: 0, until X-RateLimit-Reset) and secondary ones
// (403/429 with Retry-After, or one minute doubling) within Options.MaxWait, and otherwise fails
// saying when to retry. Waits use an injectable clock. Other 4xx answers are not retried: they
// come back as *Error, naming the object and, for 401 and 403, the setting the token came from
// (Options.TokenFlag) and the permission GitHub says is missing. The token is set only in the
// Authorization header, is never logged and never appears in an error.
//
// The same transport sends a GET it has made before as a conditional request (If-None-Match with
// the ETag GitHub sent): an unchanged answer costs a 304, which GitHub does not count against the
// rate limit, and go-github gets the body kept from the first answer (see Options.CacheBytes).
// Every read still asks GitHub, so no answer is stale; the kept answers are the Client's own
// (never shared between tokens) and bounded in memory.
//
// Every error carries a fault class, wrapped with %w: Unreachable (connection failures, 5xx after
// the retries, rate limits beyond the bound, cancellation), Unreadable (an answer that is not the
// JSON expected, a listing longer than 100 pages), Refused (GitHub's refusals, and the world not
// as the step needs it) and BadInput (settings: --merge-method, --downstream-gate, a token with
// whitespace).
//
// Lookups cost the same few requests however long the history: published releases are read by
// tag, drafts through the record shipgate keeps of them (DraftRecordPrefix), the "Latest" decision
// from the release GitHub marks Latest, the smoke-test gate from the downstream release by tag.
//
// # Permissions
//
// The token of the released repository (fine-grained token or GitHub App installation token):
//
//	prepare  contents: write (branch, commit), pull_requests: write (draft PR)
//	publish  contents: write (finalize commit, tag, draft release and its record ref — drafts are
//	         shown only with write access); the downstream token needs contents: write on the
//	         downstream repository to dispatch (the Actions GITHUB_TOKEN cannot dispatch to another
//	         repository); PRReadiness reads metadata, statuses and checks (read)
//	promote  contents: write (publish release, lock ref, merge), pull_requests: write (mark ready,
//	         merge, enable auto-merge); contents: read on the downstream repository for the gate
//	status   contents: write to see drafts (read-only tokens do not see them), pull_requests: read
//	sync     contents: read (compare the branches), pull_requests: write (open the pull request,
//	         enable auto-merge), contents: write (merge it when it can merge at once)
//	assets   contents: write (UploadAsset; attach to the draft: immutable releases refuse later)
//	attest   attestations: write (StoreAttestation, EnsureAttestation; the signing workflow also
//	         needs id-token: write); attestations: read to list them in a private repository
//	smoke    statuses: read on the released repository (SmokeStatus); the downstream reporting
//	         the result needs statuses: write there (SetStatus)
//	cleanup  contents: write (candidate drafts, releases and tags: CandidateReleases,
//	         DeleteCandidateRelease, DeleteGitTag); for ghcr.io packages read:packages to list
//	         and delete:packages plus admin on the package to delete (GitHub answers 404, not 403,
//	         without it: DeletePackageVersion says so)
//
// Commits made with the Actions GITHUB_TOKEN trigger no workflows, so the release PR's required
// checks never run on the finalize commit: prepare and publish need a GitHub App or personal token
// when the base branch requires checks.
package github

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	gh "github.com/google/go-github/v62/github"

	"github.com/shipgate/shipgate/pipeline/clock"
	"github.com/shipgate/shipgate/pipeline/fault"
)

// Options configure a Client.
type Options struct {
	// BaseURL is the REST API root. Empty means https://api.github.com/. A GitHub Enterprise
	// Server host ("https://ghe.example.com") gets /api/v3/ appended for REST, and its GraphQL
	// endpoint is https://ghe.example.com/api/graphql.
	BaseURL string
	// Token authenticates every request (Authorization: Bearer). Empty means anonymous.
	Token string
	// Transport sends the requests; nil is http.DefaultTransport.
	Transport http.RoundTripper
	// Clock measures rate-limit waits and back-off; nil is the wall clock.
	Clock clock.Clock
	// MaxWait bounds the total time one request may wait for rate limits; default 15 minutes.
	MaxWait time.Duration
	// MaxRetries bounds retries of 5xx answers and dropped connections per request; default 4.
	MaxRetries int
	// Log receives one line per retry or wait; nil discards. It never receives the token.
	Log io.Writer
	// CacheBytes bounds the memory of the conditional-request cache: the ETag and body of GET
	// answers, sent back as If-None-Match so that an unchanged answer costs a 304, which GitHub
	// does not count against the rate limit. Every read still asks GitHub. Zero means 8 MiB (and
	// at most 1,024 answers, none over an eighth of the bound); negative turns the cache off.
	CacheBytes int64
	// TokenFlag names the setting the token came from ("--github-token", "--downstream-token"),
	// so that a refusal (401, 403) says which token to fix; default "--github-token".
	TokenFlag string
}

// Client performs shipgate's GitHub operations.
type Client struct {
	gh         *gh.Client
	graphqlURL string
	clk        clock.Clock
	log        io.Writer
	token      string
	tokenFlag  string
	// perms remembers what GitHub said the token may do, per repository.
	perms sync.Map
	// plain sends requests without the token: downloads GitHub redirects to a storage host.
	plain http.RoundTripper
}

// New checks the options and builds a Client. It makes no request.
func New(o Options) (*Client, error) {
	t := &transport{base: o.Transport, token: o.Token, clk: clock.Or(o.Clock), maxWait: o.MaxWait, maxRetries: o.MaxRetries, log: o.Log,
		cache: newETagCache(o.Token, o.CacheBytes)}
	if t.base == nil {
		t.base = http.DefaultTransport
	}
	if t.maxWait == 0 {
		t.maxWait = 15 * time.Minute
	}
	if t.maxRetries == 0 {
		t.maxRetries = 4
	}
	if t.maxRetries < 0 {
		t.maxRetries = 0
	}
	flag := o.TokenFlag
	if flag == "" {
		flag = "--github-token"
	}
	if strings.ContainsAny(o.Token, " \r\n\t") {
		return nil, fault.BadInputf("the GitHub token (%s) contains whitespace: pass the token alone, without \"Bearer\" or a newline", flag)
	}
	c := gh.NewClient(&http.Client{Transport: t})
	c.UserAgent = "shipgate"
	graphqlURL := "https://api.github.com/graphql"
	if o.BaseURL != "" {
		u, err := url.Parse(o.BaseURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fault.BadInputf("GitHub API URL %q (--github-api) is not an http(s) URL: give the API root, for example https://ghe.example.com", redactURL(o.BaseURL))
		}
		if u.User != nil {
			return nil, fault.BadInputf("GitHub API URL %s (--github-api) carries credentials: pass the token with %s, not in the URL", redactURL(o.BaseURL), flag)
		}
		c, err = c.WithEnterpriseURLs(o.BaseURL, o.BaseURL)
		if err != nil {
			return nil, fault.BadInputf("GitHub API URL %q (--github-api): %w", redactURL(o.BaseURL), err)
		}
		c.UploadURL, _ = url.Parse(uploadFor(o.BaseURL)) // go-github would derive <base>/api/v3/api/uploads/
		graphqlURL = graphQLFor(c.BaseURL)
	}
	return &Client{gh: c, graphqlURL: graphqlURL, clk: clock.Or(o.Clock), log: o.Log, token: o.Token, tokenFlag: flag, plain: t.base}, nil
}

// uploadFor derives the uploads root from the REST root: api.X → uploads.X (github.com, GHE.com),
// otherwise the host's /api/uploads/ (GitHub Enterprise Server), whatever path the REST root has.
func uploadFor(base string) string {
	u, err := url.Parse(base)
	if err != nil {
		return base
	}
	u.RawQuery, u.Fragment = "", ""
	if h, ok := strings.CutPrefix(u.Host, "api."); ok {
		u.Host, u.Path = "uploads."+h, "/"
		return u.String()
	}
	u.Path = "/api/uploads/"
	return u.String()
}

// graphQLFor derives the GraphQL endpoint from the REST base: /api/v3/ → /api/graphql (GitHub
// Enterprise Server), otherwise <base>graphql (api.github.com and api.* hosts).
func graphQLFor(base *url.URL) string {
	u := *base
	if strings.HasSuffix(u.Path, "/api/v3/") {
		u.Path = strings.TrimSuffix(u.Path, "/api/v3/") + "/api/graphql"
	} else {
		u.Path = strings.TrimSuffix(u.Path, "/") + "/graphql"
	}
	return u.String()
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		if i := strings.Index(s, "@"); i >= 0 {
			return "<redacted>" + s[i:]
		}
		return s
	}
	u.User = url.User("***")
	return u.String()
}

// BaseURL is the REST root requests go to.
func (c *Client) BaseURL() string { return c.gh.BaseURL.String() }

// GraphQLURL is the GraphQL endpoint mutations go to.
func (c *Client) GraphQLURL() string { return c.graphqlURL }

// Repo names a repository; config.ParseRepo reads one from a setting.
type Repo struct{ Owner, Name string }

// String is owner/name.
func (r Repo) String() string { return r.Owner + "/" + r.Name }

// ---- errors

// Error is an answer in which GitHub refused or failed a request: what was being done, what GitHub
// answered and how to fix it. It keeps no request or response (they carry the Authorization
// header). Errors the client returns carry it inside a fault class (see statusClass).
type Error struct {
	// Op says what was being done ("create draft release v1.2.3 in acme/app").
	Op string
	// Status is GitHub's HTTP status.
	Status int
	// Message is GitHub's message and its validation errors.
	Message string
	// Permission is the fine-grained permission GitHub says the endpoint needs
	// (X-Accepted-GitHub-Permissions), when it said so.
	Permission string
	// Hint says how to fix it.
	Hint string
}

// Error says what happened and what to do.
func (e *Error) Error() string {
	s := fmt.Sprintf("%s: GitHub answered %d", e.Op, e.Status)
	if e.Message != "" {
		s += " " + e.Message
	}
	if e.Hint != "" {
		s += ": " + e.Hint
	}
	return s
}

// StatusOf is the HTTP status of a GitHub refusal in err's chain, 0 if none.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// IsNotFound reports whether err is GitHub's 404.
func IsNotFound(err error) bool { return StatusOf(err) == http.StatusNotFound }

// transient reports whether err may go away by itself: a dropped connection, a timeout or a 5xx
// answer that the transport stopped retrying. After a transient failure of a write, the write may
// or may not have happened: callers look again before deciding.
func transient(err error) bool {
	if err == nil {
		return false
	}
	var rl *RateLimitError
	if errors.As(err, &rl) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if s := StatusOf(err); s != 0 {
		return s >= 500
	}
	return true
}

// statusClass says what GitHub's answer means to the step that asked: 5xx (after the transport's
// retries) and 429 mean GitHub could not be reached; 401 and 403 mean the token could not read
// what the step looks at (a gate that meets them has not seen the world, so it fails rather than
// refuses, and the hint names the token flag); the refusals GitHub documents (404, 405, 409, 410,
// 422) mean the world or the input is not as the step needs; any other status is an answer
// shipgate cannot read.
func statusClass(status int) fault.Class {
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden:
		return fault.Unreadable
	case http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusConflict, http.StatusGone, http.StatusUnprocessableEntity:
		return fault.Refused
	case http.StatusTooManyRequests:
		return fault.Unreachable
	}
	if status >= 500 {
		return fault.Unreachable
	}
	return fault.Unreadable
}

// wrap classifies a go-github error for op on r; need is the permission the operation requires
// ("contents: write"), named in the hint when GitHub refuses with 403. A GitHub answer becomes an
// *Error (the go-github error is not kept: it holds the HTTP request); rate limits, timeouts and
// connection failures are Unreachable; a 2xx answer whose body is not the JSON expected is
// Unreadable.
func (c *Client) wrap(err error, op string, r Repo, need string) error {
	if err == nil {
		return nil
	}
	var er *gh.ErrorResponse
	if errors.As(err, &er) {
		e := &Error{Op: op, Message: er.Message}
		if er.Response != nil {
			e.Status = er.Response.StatusCode
			e.Permission = er.Response.Header.Get("X-Accepted-GitHub-Permissions")
		}
		var details []string
		for _, x := range er.Errors {
			switch {
			case x.Message != "":
				details = append(details, x.Message)
			case x.Code != "":
				details = append(details, fmt.Sprintf("%s %s %s", x.Resource, x.Field, x.Code))
			}
		}
		if len(details) > 0 {
			e.Message += " (" + strings.Join(details, "; ") + ")"
		}
		e.Message = c.scrub(e.Message)
		e.Hint = c.hint(e, r, need)
		return fault.Wrap(statusClass(e.Status), e)
	}
	return classifyOther(err, op)
}

// classifyOther classifies what is not a GitHub answer: rate limits, cancellations, connection
// failures (Unreachable), and bodies that do not decode (Unreadable).
func classifyOther(err error, op string) error {
	if fault.Of(err) != fault.Unknown {
		return fmt.Errorf("%s: %w", op, err)
	}
	var rl *RateLimitError
	var rle *gh.RateLimitError
	var abuse *gh.AbuseRateLimitError
	var ue *url.Error
	var ne net.Error
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &rl):
		return fault.Unreachablef("%s: %w", op, rl)
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return fault.Unreachablef("%s: %w", op, err)
	case errors.As(err, &rle):
		return fault.Unreachablef("%s: GitHub API rate limit exhausted until %s: retry after that", op, rle.Rate.Reset.UTC().Format(time.RFC3339))
	case errors.As(err, &abuse):
		return fault.Unreachablef("%s: GitHub secondary rate limit: retry in a few minutes", op)
	case errors.As(err, &ue):
		return fault.Unreachablef("%s: cannot reach GitHub: %s %s: %w", op, ue.Op, redactURL(ue.URL), ue.Err)
	case errors.As(err, &ne):
		return fault.Unreachablef("%s: cannot reach GitHub: %w", op, err)
	case errors.As(err, &syn) || errors.As(err, &typ) || errors.Is(err, io.ErrUnexpectedEOF):
		return fault.Unreadablef("%s: GitHub's answer is not the JSON expected: %w", op, err)
	}
	return fault.Unreadablef("%s: %w", op, err)
}

func (c *Client) hint(e *Error, r Repo, need string) string {
	switch e.Status {
	case http.StatusUnauthorized:
		return fmt.Sprintf("the token given with %s was rejected: check that it is set, valid and not expired", c.tokenFlag)
	case http.StatusForbidden:
		perm := need
		if e.Permission != "" {
			perm = e.Permission
		}
		if perm != "" {
			return fmt.Sprintf("the token given with %s lacks %s on %s: grant it, or use a token (GitHub App or fine-grained) that has it", c.tokenFlag, perm, r)
		}
		return fmt.Sprintf("the token given with %s may not do this on %s", c.tokenFlag, r)
	case http.StatusNotFound:
		return fmt.Sprintf("not found, or %s is not visible to the token given with %s: check the names and that the token can read %s", r, c.tokenFlag, r)
	}
	return ""
}

// ---- small helpers

// maxPages bounds every listing: 100 pages of 100 items.
const maxPages = 100

// listAll follows GitHub's pagination (Link headers) up to maxPages pages of 100. A listing that
// goes on beyond that fails naming what (Unreadable): shipgate does not conclude anything from a
// partial listing. Callers wrap the error with what was listed.
func listAll[T any](fetch func(opts gh.ListOptions) ([]T, *gh.Response, error)) ([]T, error) {
	opts := gh.ListOptions{PerPage: 100, Page: 1}
	var all []T
	for i := 0; i < maxPages; i++ {
		items, resp, err := fetch(opts)
		if err != nil {
			return nil, err
		}
		all = append(all, items...)
		if resp == nil || resp.NextPage == 0 {
			return all, nil
		}
		opts.Page = resp.NextPage
	}
	return nil, fault.Unreadablef("more than %d pages (%d items) and still going: shipgate stops rather than decide on a partial listing", maxPages, len(all))
}

// objectSHA is the object a ref read from GitHub points at; a ref without one is an answer of
// an unexpected shape (Unreadable).
func objectSHA(ref *gh.Reference, op string) (string, error) {
	sha := ref.GetObject().GetSHA()
	if sha == "" {
		return "", fault.Unreadablef("%s: GitHub answered with a ref that points at nothing", op)
	}
	return sha, nil
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

// sleep waits on the client clock; a cancelled wait is Unreachable (the run stopped looking).
func (c *Client) sleep(ctx context.Context, d time.Duration) error {
	return fault.AsUnreachable(c.clk.Sleep(ctx, d))
}

// scrub removes the client's token from text GitHub sent back (an API or proxy in front of it
// may echo the Authorization header in an error message), so it reaches no error, report or log.
func (c *Client) scrub(text string) string {
	if len(c.token) < 4 {
		return text
	}
	return strings.ReplaceAll(text, c.token, "***")
}

func (c *Client) logf(format string, args ...any) {
	if c.log != nil {
		fmt.Fprintf(c.log, "github: "+format+"\n", args...)
	}
}

// retryWrite runs act; when it fails transiently (the write may or may not have happened), it
// looks with observe and returns what is there, or tries act again (three attempts in all).
func retryWrite[T any](ctx context.Context, c *Client, act func() (T, error), observe func() (T, bool, error)) (T, error) {
	var zero T
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		var v T
		v, err = act()
		if err == nil {
			return v, nil
		}
		if !transient(err) {
			return zero, err
		}
		got, found, oerr := observe()
		if oerr != nil {
			return zero, fmt.Errorf("%w (and looking again failed: %v)", err, oerr)
		}
		if found {
			return got, nil
		}
		if serr := c.sleep(ctx, backoff(attempt)); serr != nil {
			return zero, serr
		}
	}
	return zero, err
}
