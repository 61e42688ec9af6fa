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
// come back as *Error, naming the object and, for 403, the permission GitHub says is missing. The
// token is set only in the Authorization header, is never logged and never appears in an error.
//
// # Permissions
//
// The token of the released repository (fine-grained token or GitHub App installation token):
//
//	prepare  contents: write (branch, commit), pull_requests: write (draft PR)
//	publish  contents: write (finalize commit, tag, draft release — drafts are listed only with
//	         write access); the downstream token needs contents: write on the downstream repository
//	         to dispatch (the Actions GITHUB_TOKEN cannot dispatch to another repository)
//	promote  contents: write (publish release, lock ref, merge), pull_requests: write (mark ready,
//	         merge, enable auto-merge); contents: read on the downstream repository for the gate
//	status   contents: write to see drafts (read-only tokens do not see them), pull_requests: read
//
// Commits made with the Actions GITHUB_TOKEN trigger no workflows, so the release PR's required
// checks never run on the finalize commit: prepare and publish need a GitHub App or personal token
// when the base branch requires checks.
package github

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	gh "github.com/google/go-github/v62/github"

	"github.com/shipgate/shipgate/pipeline/clock"
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
}

// Client performs shipgate's GitHub operations.
type Client struct {
	gh         *gh.Client
	graphqlURL string
	clk        clock.Clock
	log        io.Writer
	token      string
	// seesDrafts remembers repositories where the token was seen to have push access.
	seesDrafts sync.Map
}

// New checks the options and builds a Client. It makes no request.
func New(o Options) (*Client, error) {
	t := &transport{base: o.Transport, token: o.Token, clk: clock.Or(o.Clock), maxWait: o.MaxWait, maxRetries: o.MaxRetries, log: o.Log}
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
	if strings.ContainsAny(o.Token, " \r\n\t") {
		return nil, errors.New("GitHub token contains whitespace: pass the token alone, without \"Bearer\" or a newline")
	}
	c := gh.NewClient(&http.Client{Transport: t})
	c.UserAgent = "shipgate"
	graphqlURL := "https://api.github.com/graphql"
	if o.BaseURL != "" {
		u, err := url.Parse(o.BaseURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("GitHub base URL %q is not an http(s) URL: give the API root, for example https://ghe.example.com", redactURL(o.BaseURL))
		}
		if u.User != nil {
			return nil, fmt.Errorf("GitHub base URL %s carries credentials: pass the token in Options.Token, not in the URL", redactURL(o.BaseURL))
		}
		c, err = c.WithEnterpriseURLs(o.BaseURL, o.BaseURL)
		if err != nil {
			return nil, fmt.Errorf("GitHub base URL %q: %v", o.BaseURL, err)
		}
		graphqlURL = graphQLFor(c.BaseURL)
	}
	return &Client{gh: c, graphqlURL: graphqlURL, clk: clock.Or(o.Clock), log: o.Log, token: o.Token}, nil
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

// Repo names a repository.
type Repo struct{ Owner, Name string }

var repoPart = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// ParseRepo reads "owner/name".
func ParseRepo(s string) (Repo, error) {
	owner, name, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok || !repoPart.MatchString(owner) || !repoPart.MatchString(name) || name == "." || name == ".." {
		return Repo{}, fmt.Errorf("repository %q is not owner/name: write it like acme/app", s)
	}
	return Repo{Owner: owner, Name: strings.TrimSuffix(name, ".git")}, nil
}

// String is owner/name.
func (r Repo) String() string { return r.Owner + "/" + r.Name }

// ---- errors

// Error is a refusal from GitHub: what was being done, what GitHub answered and how to fix it.
// It keeps no request or response (they carry the Authorization header).
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

// wrap turns a go-github error into an *Error for op on r; need is the permission the operation
// requires ("contents: write"), used in the hint when GitHub refuses with 403. The go-github error
// is not kept: it holds the HTTP request.
func wrap(err error, op string, r Repo, need string) error {
	if err == nil {
		return nil
	}
	var rl *RateLimitError
	if errors.As(err, &rl) {
		return fmt.Errorf("%s: %w", op, rl)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", op, err)
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
		e.Hint = hint(e, r, need)
		return e
	}
	var rle *gh.RateLimitError
	if errors.As(err, &rle) {
		return fmt.Errorf("%s: GitHub API rate limit exhausted until %s: retry after that", op, rle.Rate.Reset.UTC().Format(time.RFC3339))
	}
	var abuse *gh.AbuseRateLimitError
	if errors.As(err, &abuse) {
		return fmt.Errorf("%s: GitHub secondary rate limit: retry in a few minutes", op)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: cannot reach GitHub: %s %s: %v", op, ue.Op, redactURL(ue.URL), ue.Err)
	}
	return fmt.Errorf("%s: %v", op, err)
}

func hint(e *Error, r Repo, need string) string {
	switch e.Status {
	case http.StatusUnauthorized:
		return "the token was rejected: check that it is set, valid and not expired"
	case http.StatusForbidden:
		perm := need
		if e.Permission != "" {
			perm = e.Permission
		}
		if perm != "" {
			return fmt.Sprintf("the token lacks %s on %s: grant it, or use a token (GitHub App or fine-grained) that has it", perm, r)
		}
		return fmt.Sprintf("the token may not do this on %s", r)
	case http.StatusNotFound:
		return fmt.Sprintf("not found, or %s is not visible to this token: check the names and that the token can read %s", r, r)
	}
	return ""
}

// ---- small helpers

// listAll follows GitHub's pagination (Link headers) up to 100 pages of 100.
func listAll[T any](ctx context.Context, fetch func(opts gh.ListOptions) ([]T, *gh.Response, error)) ([]T, error) {
	opts := gh.ListOptions{PerPage: 100, Page: 1}
	var all []T
	for i := 0; i < 100; i++ {
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
	return all, nil
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
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
		if serr := c.clk.Sleep(ctx, backoff(attempt)); serr != nil {
			return zero, serr
		}
	}
	return zero, err
}
