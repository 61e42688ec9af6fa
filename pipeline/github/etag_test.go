package github

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/shipgate/shipgate/pipeline/githubserver"
)

// answers lists the statuses the server gave to GETs of path (without /api/v3, with the query),
// oldest first.
func (e *env) answers(path string) []int {
	var out []int
	for _, r := range e.srv.Requests() {
		if r.Method == "GET" && r.Path == path {
			out = append(out, r.Status)
		}
	}
	return out
}

func (e *env) wantAnswers(path string, want ...int) {
	e.t.Helper()
	if got := e.answers(path); fmt.Sprint(got) != fmt.Sprint(want) {
		e.t.Fatalf("GET %s answered %v, want %v", path, got, want)
	}
}

func TestSecondReadCostsNotModified(t *testing.T) {
	e, commit := prEnv(t, githubserver.RepoOptions{})
	e.srv.CreateRelease("acme/app", githubserver.ReleaseSeed{Tag: "v1.2.2", Name: "v1.2.2"})
	e.srv.ResetRequests()

	// A release read by tag.
	a, err := e.c.FindRelease(e.ctx, app, "v1.2.2")
	if err != nil || a == nil {
		t.Fatal(a, err)
	}
	b, err := e.c.FindRelease(e.ctx, app, "v1.2.2")
	if err != nil || !reflect.DeepEqual(a, b) {
		t.Fatalf("second read: %+v, %v; first %+v", b, err, a)
	}
	e.wantAnswers("/repos/acme/app/releases/tags/v1.2.2", 200, 304)

	// A ref.
	for i := 0; i < 2; i++ {
		if sha, ok, err := e.c.ReleaseBranch(e.ctx, app, v123); err != nil || !ok || sha != commit {
			t.Fatalf("read %d: %s %v %v", i, sha, ok, err)
		}
	}
	e.wantAnswers("/repos/acme/app/git/ref/heads/release/1.2.3", 200, 304)

	// A pull request: its listing and its detail. The first read of the detail has mergeability
	// unknown (null), the second, after waiting, has it: a new body; then nothing changes.
	var states []PRState
	for i := 0; i < 3; i++ {
		st, err := e.c.PRState(e.ctx, app, v123, "main", commit)
		if err != nil || !st.Ready {
			t.Fatalf("PR state %d: %+v %v", i, st, err)
		}
		states = append(states, st)
	}
	if !reflect.DeepEqual(states[1], states[2]) || !reflect.DeepEqual(states[0], states[2]) {
		t.Fatalf("PR states differ: %+v", states)
	}
	e.wantAnswers("/repos/acme/app/pulls/1", 200, 200, 304, 304)
	e.wantAnswers("/repos/acme/app/pulls?base=main&head=acme%3Arelease%2F1.2.3&page=1&per_page=100&state=all", 200, 304, 304)
	if n := e.srv.Counts(); n.Requests != 11 || n.NotModified != 6 || n.Full != 5 {
		t.Fatalf("counts %+v, want 6 of 11 requests answered 304", n)
	}
}

func TestConditionalReadSeesChanges(t *testing.T) {
	e, commit := prEnv(t, githubserver.RepoOptions{})
	if _, err := e.c.PRState(e.ctx, app, v123, "main", commit); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.c.ReleaseBranch(e.ctx, app, v123); err != nil {
		t.Fatal(err)
	}
	// Someone pushes to the release branch: the next reads answer the new state, not the kept one.
	moved := e.srv.CommitFiles("acme/app", "release/1.2.3", map[string]string{"late": "1"}, "late")
	e.srv.ResetRequests()
	sha, _, err := e.c.ReleaseBranch(e.ctx, app, v123)
	if err != nil || sha != moved {
		t.Fatalf("branch read %s (%v), want the new head %s", sha, err, moved)
	}
	e.wantAnswers("/repos/acme/app/git/ref/heads/release/1.2.3", 200)
	st, err := e.c.PRState(e.ctx, app, v123, "main", commit)
	if err != nil || st.Ready || !strings.Contains(st.Problem, "head moved") {
		t.Fatalf("PR state after the push: %+v %v", st, err)
	}
	// A change of a release between two reads.
	e.srv.CreateRelease("acme/app", githubserver.ReleaseSeed{Tag: "v1.2.2", Name: "first"})
	if rel, err := e.c.FindRelease(e.ctx, app, "v1.2.2"); err != nil || rel.Name != "first" {
		t.Fatal(rel, err)
	}
	rel, _ := e.c.FindRelease(e.ctx, app, "v1.2.2")
	e.api("PATCH", fmt.Sprintf("/repos/acme/app/releases/%d", rel.ID), map[string]any{"name": "second"})
	if rel, err := e.c.FindRelease(e.ctx, app, "v1.2.2"); err != nil || rel.Name != "second" {
		t.Fatalf("release after the edit: %+v %v", rel, err)
	}
	e.wantAnswers("/repos/acme/app/releases/tags/v1.2.2", 200, 304, 200)
	// A ref that disappears is not served from what was kept.
	e.srv.SetRef("acme/app", "refs/heads/release/1.2.3", "")
	if _, found, err := e.c.ReleaseBranch(e.ctx, app, v123); err != nil || found {
		t.Fatalf("deleted branch still found: %v %v", found, err)
	}
}

// api sends one request to the server with the source token, outside the client under test.
func (e *env) api(method, path string, body map[string]any) {
	e.t.Helper()
	req, err := e.c.gh.NewRequest(method, strings.TrimPrefix(path, "/"), body)
	if err != nil {
		e.t.Fatal(err)
	}
	other := e.client(token)
	if _, err := other.gh.Do(e.ctx, req, nil); err != nil {
		e.t.Fatal(err)
	}
}

// headerLog records, per request, the If-None-Match header that left the client.
type headerLog struct {
	mu   sync.Mutex
	seen []string
}

func (h *headerLog) transport() http.RoundTripper {
	return afterFunc(func(r *http.Request) {
		h.mu.Lock()
		h.seen = append(h.seen, r.Method+" "+r.Header.Get("If-None-Match"))
		h.mu.Unlock()
	})
}

func TestConditionalCacheIsPerToken(t *testing.T) {
	e := newEnv(t, githubserver.Options{}, githubserver.RepoOptions{})
	e.prepared()
	var logA, logB headerLog
	a, _ := New(Options{BaseURL: e.srv.URL(), Token: token, Clock: e.clk, Transport: logA.transport()})
	b, _ := New(Options{BaseURL: e.srv.URL(), Token: readToken, Clock: e.clk, Transport: logB.transport()})
	e.srv.ResetRequests()
	for _, c := range []*Client{a, b, a, b} {
		if _, ok, err := c.ReleaseBranch(e.ctx, app, v123); err != nil || !ok {
			t.Fatal(ok, err)
		}
	}
	e.wantAnswers("/repos/acme/app/git/ref/heads/release/1.2.3", 200, 200, 304, 304)
	if logA.seen[0] != "GET " || logB.seen[0] != "GET " {
		t.Fatalf("a first read sent If-None-Match: %q %q", logA.seen, logB.seen)
	}
	if !strings.HasPrefix(logA.seen[1], `GET W/"`) || logA.seen[1] != logB.seen[1] {
		t.Fatalf("second reads did not send the ETag: %q %q", logA.seen, logB.seen)
	}
	// Writes never carry a validator.
	if _, err := a.CommitFile(e.ctx, app, "release/1.2.3", e.head("release/1.2.3"), "x.txt", []byte("x"), "x"); err != nil {
		t.Fatal(err)
	}
	for _, s := range logA.seen {
		if method, inm, _ := strings.Cut(s, " "); method != "GET" && inm != "" {
			t.Fatalf("a %s sent If-None-Match %s", method, inm)
		}
	}
}

func TestConditionalCacheIsBounded(t *testing.T) {
	c := newETagCache(token, 800) // bodies up to 100 bytes, 800 in all
	body := strings.Repeat("b", 100)
	for i := 0; i < 20; i++ {
		c.store(&etagEntry{key: fmt.Sprint(i), etag: `"x"`, header: http.Header{}, body: []byte(body)})
	}
	if c.bytes > 800 || c.order.Len() != 8 || c.lookup("19") == nil || c.lookup("11") != nil {
		t.Fatalf("kept %d bytes in %d entries; want the 8 most recent", c.bytes, c.order.Len())
	}
	c.lookup("12") // used: kept over 13
	c.store(&etagEntry{key: "new", etag: `"x"`, header: http.Header{}, body: []byte(body)})
	if c.lookup("12") == nil || c.lookup("13") != nil {
		t.Fatal("not least recently used first out")
	}
	c.store(&etagEntry{key: "big", etag: `"x"`, header: http.Header{}, body: []byte(body + "!")})
	if c.lookup("big") != nil {
		t.Fatal("kept a body over an eighth of the bound")
	}
	if newETagCache(token, -1) != nil {
		t.Fatal("a negative bound did not turn the cache off")
	}

	// Off: every read is a full answer.
	e := newEnv(t, githubserver.Options{}, githubserver.RepoOptions{})
	e.prepared()
	e.srv.ResetRequests()
	off, _ := New(Options{BaseURL: e.srv.URL(), Token: token, Clock: e.clk, CacheBytes: -1})
	for i := 0; i < 2; i++ {
		if _, _, err := off.ReleaseBranch(e.ctx, app, v123); err != nil {
			t.Fatal(err)
		}
	}
	e.wantAnswers("/repos/acme/app/git/ref/heads/release/1.2.3", 200, 200)
}

func TestConditionalReadsKeepPagination(t *testing.T) {
	e := newEnv(t, githubserver.Options{PageSize: 2}, githubserver.RepoOptions{})
	for i := 0; i < 5; i++ {
		e.srv.CreateRelease("acme/app", githubserver.ReleaseSeed{Tag: fmt.Sprintf("v1.0.%d", i)})
	}
	first, err := e.c.ReleasedVersions(e.ctx, app)
	if err != nil || len(first) != 5 {
		t.Fatal(first, err)
	}
	e.srv.ResetRequests()
	again, err := e.c.ReleasedVersions(e.ctx, app)
	if err != nil || !reflect.DeepEqual(first, again) {
		t.Fatalf("second listing %v (%v), want %v", again, err, first)
	}
	if n := e.srv.Counts(); n.Requests != 3 || n.NotModified != 3 {
		t.Fatalf("second listing: %+v, want its 3 pages answered 304", n)
	}
}
