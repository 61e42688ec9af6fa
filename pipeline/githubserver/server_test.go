package githubserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate/pipeline/clock"
)

const (
	pushTok = "tok-push-111111"
	readTok = "tok-read-222222"
	noneTok = "tok-none-333333"
)

var t0 = time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)

func newServer(t *testing.T, o Options) (*Server, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(t0)
	o.Clock = clk
	s := New(o)
	t.Cleanup(s.Close)
	s.AddRepo("acme/app", RepoOptions{Private: true, Files: map[string]string{"CHANGELOG.md": "# Changelog\n", "src/main.go": "package main\n"}})
	s.AddRepo("acme/public", RepoOptions{})
	s.AddToken(pushTok, "releaser", map[string]Perm{"acme/app": PermPush, "acme/public": PermPush})
	s.AddToken(readTok, "reader", map[string]Perm{"acme/app": PermPull})
	s.AddToken(noneTok, "stranger", nil)
	return s, clk
}

type answer struct {
	status int
	header http.Header
	raw    []byte
}

func (a answer) obj() map[string]any {
	var m map[string]any
	_ = json.Unmarshal(a.raw, &m)
	return m
}

func (a answer) list() []map[string]any {
	var l []map[string]any
	_ = json.Unmarshal(a.raw, &l)
	return l
}

func call(t *testing.T, method, url, token string, body any) answer {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	return send(t, req, token)
}

// send sends req with token (none when empty) and headers (name, value, …; empty values are left
// out) and reads the answer.
func send(t *testing.T, req *http.Request, token string, headers ...string) answer {
	t.Helper()
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] != "" {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, raw: raw}
}

func want(t *testing.T, a answer, status int, what string) {
	t.Helper()
	if a.status != status {
		t.Fatalf("%s: got %d %s, want %d", what, a.status, a.raw, status)
	}
}

func TestGitObjectsHashAsGitDoes(t *testing.T) {
	s, _ := newServer(t, Options{})
	api := s.APIURL() + "repos/acme/app/"
	a := call(t, "POST", api+"git/blobs", pushTok, map[string]string{"content": "hello\n", "encoding": "utf-8"})
	want(t, a, 201, "create blob")
	if a.obj()["sha"] != "ce013625030ba8dba906f756967f9e9ca394464a" { // git hash-object of "hello\n"
		t.Fatalf("blob sha %v is not git's", a.obj()["sha"])
	}
	s.mu.Lock()
	empty := s.repos["acme/app"].putTree(nil)
	s.mu.Unlock()
	if empty != "4b825dc642cb6eb9a060e54bf8d69288fbee4904" {
		t.Fatalf("empty tree sha %s is not git's", empty)
	}
	// A tree with a nested path on top of the default branch's tree, then a commit and its reading.
	head, _ := s.Ref("acme/app", "refs/heads/main")
	base, _ := s.Commit("acme/app", head)
	a = call(t, "POST", api+"git/trees", pushTok, map[string]any{"base_tree": base.Tree, "tree": []map[string]any{{"path": "docs/a/b.md", "mode": "100644", "type": "blob", "content": "b"}}})
	want(t, a, 201, "create tree")
	tree := a.obj()["sha"].(string)
	a = call(t, "POST", api+"git/commits", pushTok, map[string]any{"message": "add b", "tree": tree, "parents": []string{head}})
	want(t, a, 201, "create commit")
	c := a.obj()
	if c["parents"].([]any)[0].(map[string]any)["sha"] != head || c["author"].(map[string]any)["name"] != "releaser" {
		t.Fatalf("commit %v", c)
	}
	a = call(t, "GET", api+"git/trees/"+tree+"?recursive=1", pushTok, nil)
	if !strings.Contains(string(a.raw), `"path":"docs/a/b.md"`) || !strings.Contains(string(a.raw), `"path":"CHANGELOG.md"`) {
		t.Fatalf("recursive tree %s", a.raw)
	}
	a = call(t, "POST", api+"git/commits", pushTok, map[string]any{"message": "x", "tree": tree, "parents": []string{strings.Repeat("0", 40)}})
	want(t, a, 422, "commit with unknown parent")
}

func TestRefsCreateConflictAndFastForward(t *testing.T) {
	s, _ := newServer(t, Options{})
	api := s.APIURL() + "repos/acme/app/git/"
	head, _ := s.Ref("acme/app", "refs/heads/main")
	want(t, call(t, "POST", api+"refs", pushTok, map[string]string{"ref": "refs/heads/release/1.0.0", "sha": head}), 201, "create ref")
	a := call(t, "POST", api+"refs", pushTok, map[string]string{"ref": "refs/heads/release/1.0.0", "sha": head})
	want(t, a, 422, "create existing ref")
	if a.obj()["message"] != "Reference already exists" {
		t.Fatalf("message %v", a.obj())
	}
	want(t, call(t, "POST", api+"refs", pushTok, map[string]string{"ref": "heads/x", "sha": head}), 422, "ref without refs/")
	want(t, call(t, "POST", api+"refs", pushTok, map[string]string{"ref": "refs/heads/y", "sha": strings.Repeat("a", 40)}), 422, "ref to unknown object")
	// A developer pushes to main; the release branch cannot be moved there without force…
	other := s.CommitFiles("acme/app", "side", map[string]string{"x": "1"}, "side")
	a = call(t, "PATCH", api+"refs/heads/release/1.0.0", pushTok, map[string]any{"sha": other, "force": false})
	if a.status != 200 { // side is a descendant of main's head: a fast-forward
		t.Fatalf("fast-forward refused: %d %s", a.status, a.raw)
	}
	a = call(t, "PATCH", api+"refs/heads/release/1.0.0", pushTok, map[string]any{"sha": head, "force": false})
	want(t, a, 422, "backwards update without force")
	if a.obj()["message"] != "Update is not a fast forward" {
		t.Fatalf("message %v", a.obj())
	}
	want(t, call(t, "PATCH", api+"refs/heads/release/1.0.0", pushTok, map[string]any{"sha": head, "force": true}), 200, "forced update")
	want(t, call(t, "PATCH", api+"refs/heads/release/1.0.0", pushTok, map[string]any{"sha": head}), 200, "update to the same commit")
	want(t, call(t, "GET", api+"ref/heads/release/1.0.0", readTok, nil), 200, "get ref")
	want(t, call(t, "DELETE", api+"refs/heads/release/1.0.0", pushTok, nil), 204, "delete ref")
	want(t, call(t, "DELETE", api+"refs/heads/release/1.0.0", pushTok, nil), 422, "delete missing ref")
	want(t, call(t, "GET", api+"ref/heads/release/1.0.0", pushTok, nil), 404, "get deleted ref")
	// Custom namespaces (the promote lock) work like any ref.
	want(t, call(t, "POST", api+"refs", pushTok, map[string]string{"ref": "refs/shipgate/promote-lock", "sha": head}), 201, "custom namespace")
	want(t, call(t, "POST", api+"refs", pushTok, map[string]string{"ref": "refs/shipgate/promote-lock", "sha": head}), 422, "custom namespace twice")
}

func TestDraftsHiddenFromByTagAndListedOnlyWithPush(t *testing.T) {
	s, _ := newServer(t, Options{})
	api := s.APIURL() + "repos/acme/app/releases"
	a := call(t, "POST", api, pushTok, map[string]any{"tag_name": "v1.0.0", "name": "v1.0.0", "body": "notes", "draft": true})
	want(t, a, 201, "create draft")
	rel := a.obj()
	id := fmt.Sprint(int64(rel["id"].(float64)))
	if rel["draft"] != true || rel["published_at"] != nil || !strings.Contains(rel["html_url"].(string), "untagged-") {
		t.Fatalf("draft %v", rel)
	}
	for _, tok := range []string{pushTok, readTok} {
		want(t, call(t, "GET", api+"/tags/v1.0.0", tok, nil), 404, "draft by tag with "+tok)
	}
	if l := call(t, "GET", api, pushTok, nil).list(); len(l) != 1 {
		t.Fatalf("push token lists %d releases, want the draft", len(l))
	}
	if l := call(t, "GET", api, readTok, nil).list(); len(l) != 0 {
		t.Fatalf("read token lists %d releases, want none (drafts hidden)", len(l))
	}
	want(t, call(t, "GET", api+"/"+id, readTok, nil), 404, "draft by id with read token")
	want(t, call(t, "GET", api+"/"+id, pushTok, nil), 200, "draft by id with push token")
	// A second draft for the same tag is accepted, as on GitHub: clients must look first.
	want(t, call(t, "POST", api, pushTok, map[string]any{"tag_name": "v1.0.0", "draft": true}), 201, "second draft, same tag")
	// Publishing creates the tag at the target and makes the release visible by tag.
	a = call(t, "PATCH", api+"/"+id, pushTok, map[string]any{"draft": false, "make_latest": "true"})
	want(t, a, 200, "publish")
	if _, ok := s.Ref("acme/app", "refs/tags/v1.0.0"); !ok {
		t.Fatalf("publishing did not create the tag")
	}
	want(t, call(t, "GET", api+"/tags/v1.0.0", readTok, nil), 200, "published by tag")
	want(t, call(t, "GET", api+"/latest", readTok, nil), 200, "latest")
	// A published release owns its tag: a new one for the tag is refused.
	a = call(t, "POST", api, pushTok, map[string]any{"tag_name": "v1.0.0", "draft": false})
	want(t, a, 422, "duplicate published release")
	if !strings.Contains(string(a.raw), "already_exists") {
		t.Fatalf("duplicate refusal %s", a.raw)
	}
	want(t, call(t, "PATCH", api+"/"+id, pushTok, map[string]any{"make_latest": "maybe"}), 422, "bad make_latest")
}

func TestMakeLatestValues(t *testing.T) {
	s, _ := newServer(t, Options{})
	s.CreateRelease("acme/app", ReleaseSeed{Tag: "v2.0.0", MakeLatest: true})
	api := s.APIURL() + "repos/acme/app/releases"
	for _, c := range []struct {
		tag, ml string
		pre     bool
		latest  string
	}{{"v1.9.1", "false", false, "v2.0.0"}, {"v2.1.0-rc.1", "true", true, "v2.0.0"}, {"v2.1.0", "true", false, "v2.1.0"}, {"v1.9.2", "legacy", false, "v1.9.2"}} {
		want(t, call(t, "POST", api, pushTok, map[string]any{"tag_name": c.tag, "prerelease": c.pre, "make_latest": c.ml}), 201, "publish "+c.tag)
		if got := call(t, "GET", api+"/latest", pushTok, nil).obj()["tag_name"]; got != c.latest {
			t.Fatalf("after %s with make_latest=%s latest is %v, want %s", c.tag, c.ml, got, c.latest)
		}
	}
}

func TestAuthAnswersAsGitHub(t *testing.T) {
	s, _ := newServer(t, Options{})
	api := s.APIURL() + "repos/"
	a := call(t, "GET", api+"acme/app", "tok-unknown-999", nil)
	want(t, a, 401, "unknown token")
	if a.obj()["message"] != "Bad credentials" {
		t.Fatalf("401 message %v", a.obj())
	}
	want(t, call(t, "GET", api+"acme/app", "", nil), 404, "private repo anonymously")
	want(t, call(t, "GET", api+"acme/app", noneTok, nil), 404, "private repo without access")
	want(t, call(t, "GET", api+"acme/public", "", nil), 200, "public repo anonymously")
	want(t, call(t, "POST", api+"acme/public/dispatches", "", map[string]any{"event_type": "x"}), 401, "anonymous write")
	a = call(t, "POST", api+"acme/app/releases", readTok, map[string]any{"tag_name": "v1.0.0"})
	want(t, a, 403, "write with read token")
	if a.header.Get("X-Accepted-GitHub-Permissions") != "contents=write" {
		t.Fatalf("403 does not name the permission: %v", a.header)
	}
	perms := call(t, "GET", api+"acme/app", readTok, nil).obj()["permissions"].(map[string]any)
	if perms["push"] != false || perms["pull"] != true {
		t.Fatalf("permissions %v", perms)
	}
}

func TestLinkPagination(t *testing.T) {
	s, _ := newServer(t, Options{})
	for i := 0; i < 7; i++ {
		s.CreateRelease("acme/app", ReleaseSeed{Tag: fmt.Sprintf("v1.0.%d", i)})
	}
	s.SetPageSize(3)
	url := s.EnterpriseURL() + "repos/acme/app/releases?per_page=100"
	var tags []string
	for pages := 0; url != ""; pages++ {
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		a := call(t, "GET", url, pushTok, nil)
		want(t, a, 200, "page")
		for _, r := range a.list() {
			tags = append(tags, r["tag_name"].(string))
		}
		url = ""
		for _, l := range strings.Split(a.header.Get("Link"), ",") {
			if strings.Contains(l, `rel="next"`) {
				url = strings.Trim(strings.TrimSpace(strings.Split(l, ";")[0]), "<>")
				if !strings.Contains(url, "/api/v3/repos/") {
					t.Fatalf("next link %s lost the /api/v3 prefix", url)
				}
			}
		}
	}
	if fmt.Sprint(tags) != "[v1.0.6 v1.0.5 v1.0.4 v1.0.3 v1.0.2 v1.0.1 v1.0.0]" {
		t.Fatalf("paged releases %v, want all seven newest first", tags)
	}
	a := call(t, "GET", s.APIURL()+"repos/acme/app/releases?page=2&per_page=3", pushTok, nil)
	if l := a.header.Get("Link"); !strings.Contains(l, `rel="prev"`) || !strings.Contains(l, `rel="first"`) || !strings.Contains(l, `rel="last"`) {
		t.Fatalf("middle page Link %q", l)
	}
}

func TestRateLimitsAndInjectedFaults(t *testing.T) {
	s, clk := newServer(t, Options{})
	url := s.APIURL() + "repos/acme/app"
	a := call(t, "GET", url, pushTok, nil)
	if a.header.Get("X-RateLimit-Limit") != "5000" || a.header.Get("X-RateLimit-Remaining") != "4999" || a.header.Get("X-RateLimit-Reset") == "" {
		t.Fatalf("rate headers %v", a.header)
	}
	reset := clk.Now().Add(10 * time.Minute)
	s.SetRateLimit(pushTok, 100, 1, reset)
	want(t, call(t, "GET", url, pushTok, nil), 200, "last request of the window")
	a = call(t, "GET", url, pushTok, nil)
	want(t, a, 403, "over the primary limit")
	if a.header.Get("X-RateLimit-Remaining") != "0" || a.header.Get("X-RateLimit-Reset") != fmt.Sprint(reset.Unix()) {
		t.Fatalf("primary limit headers %v", a.header)
	}
	clk.Advance(10*time.Minute + time.Second)
	a = call(t, "GET", url, pushTok, nil)
	want(t, a, 200, "after the reset")
	if a.header.Get("X-RateLimit-Remaining") != "99" {
		t.Fatalf("window did not refill: %v", a.header.Get("X-RateLimit-Remaining"))
	}
	secondary := s.InjectSecondaryRateLimit(429, 30, 1)
	if secondary.Injected() != 0 {
		t.Fatalf("a secondary limit counted before any request: %d", secondary.Injected())
	}
	a = call(t, "GET", url, pushTok, nil)
	want(t, a, 429, "secondary limit")
	if a.header.Get("Retry-After") != "30" || !strings.Contains(string(a.raw), "secondary rate limit") {
		t.Fatalf("secondary limit answer %v %s", a.header, a.raw)
	}
	s.InjectSecondaryRateLimit(403, 0, 1)
	a = call(t, "GET", url, pushTok, nil)
	want(t, a, 403, "secondary limit without Retry-After")
	want(t, call(t, "GET", url, pushTok, nil), 200, "after the secondary limit")
	if secondary.Injected() != 1 {
		t.Fatalf("the 429 secondary limit counts %d answers, want 1", secondary.Injected())
	}
	bad := s.Inject5xx("POST", `/releases$`, 502, 2)
	want(t, call(t, "GET", url, pushTok, nil), 200, "a GET past a POST-only 5xx")
	for i := 0; i < 2; i++ {
		want(t, call(t, "POST", url+"/releases", pushTok, map[string]any{"tag_name": "v1.0.0", "draft": true}), 502, "injected 5xx")
	}
	want(t, call(t, "POST", url+"/releases", pushTok, map[string]any{"tag_name": "v1.0.0", "draft": true}), 201, "after the 5xx")
	if bad.Injected() != 2 {
		t.Fatalf("the 502 counts %d answers, want 2 (the POSTs it answered, not the GET)", bad.Injected())
	}
	if n := len(s.Releases("acme/app")); n != 1 {
		t.Fatalf("5xx answers took effect: %d releases", n)
	}
}

func TestMergeRefusals(t *testing.T) {
	s, _ := newServer(t, Options{EagerMergeability: true})
	api := s.APIURL() + "repos/acme/app/pulls"
	head := s.CommitFiles("acme/app", "release/1.0.0", map[string]string{"CHANGELOG.md": "## [1.0.0]\n"}, "prepare")
	a := call(t, "POST", api, pushTok, map[string]any{"title": "Release 1.0.0", "head": "acme:release/1.0.0", "base": "main", "draft": true})
	want(t, a, 201, "open PR")
	n := fmt.Sprint(int(a.obj()["number"].(float64)))
	a = call(t, "POST", api, pushTok, map[string]any{"title": "again", "head": "release/1.0.0", "base": "main"})
	want(t, a, 422, "second PR for the same head")
	if !strings.Contains(string(a.raw), "A pull request already exists for acme:release/1.0.0.") {
		t.Fatalf("duplicate PR message %s", a.raw)
	}
	want(t, call(t, "POST", api, pushTok, map[string]any{"title": "x", "head": "nope", "base": "main"}), 422, "PR from a missing branch")
	merge := api + "/" + n + "/merge"
	a = call(t, "PUT", merge, pushTok, map[string]any{"sha": head})
	want(t, a, 405, "merge a draft")
	if a.obj()["message"] != "Pull Request is still a draft" {
		t.Fatalf("draft refusal %v", a.obj())
	}
	// Mark ready through GraphQL (the REST API cannot), via the GHES path.
	nodeID := call(t, "GET", api+"/"+n, pushTok, nil).obj()["node_id"]
	a = call(t, "POST", s.URL()+"/api/graphql", pushTok, map[string]any{"query": "mutation($input: MarkPullRequestReadyForReviewInput!){ markPullRequestReadyForReview(input: $input){ pullRequest { number } } }", "variables": map[string]any{"input": map[string]any{"pullRequestId": nodeID}}})
	want(t, a, 200, "mark ready")
	want(t, call(t, "PUT", merge, pushTok, map[string]any{"sha": strings.Repeat("1", 40)}), 409, "merge with another head SHA")
	want(t, call(t, "PUT", merge, pushTok, map[string]any{"merge_method": "octopus"}), 422, "bad merge method")
	s.SetMergeConflict("acme/app", 1, true)
	a = call(t, "PUT", merge, pushTok, map[string]any{"sha": head})
	want(t, a, 405, "merge with conflicts")
	if a.obj()["message"] != "Pull Request is not mergeable" {
		t.Fatalf("conflict refusal %v", a.obj())
	}
	if pr := call(t, "GET", api+"/"+n, pushTok, nil).obj(); pr["mergeable"] != false || pr["mergeable_state"] != "dirty" {
		t.Fatalf("conflicting PR %v %v", pr["mergeable"], pr["mergeable_state"])
	}
	s.SetMergeConflict("acme/app", 1, false)
	s.SetChecksPending("acme/app", head, true)
	a = call(t, "PUT", merge, pushTok, map[string]any{"sha": head})
	want(t, a, 405, "merge with a pending required check")
	if !strings.Contains(a.obj()["message"].(string), `Required status check "ci"`) {
		t.Fatalf("pending refusal %v", a.obj())
	}
	s.SetChecksPending("acme/app", head, false)
	want(t, call(t, "PUT", merge, readTok, map[string]any{"sha": head}), 403, "merge with a read token")
	a = call(t, "PUT", merge, pushTok, map[string]any{"sha": head})
	want(t, a, 200, "merge")
	mc := a.obj()["sha"].(string)
	c, _ := s.Commit("acme/app", mc)
	if len(c.Parents) != 2 || c.Parents[1] != head {
		t.Fatalf("merge commit parents %v", c.Parents)
	}
	if main, _ := s.Ref("acme/app", "refs/heads/main"); main != mc {
		t.Fatalf("main not at the merge commit")
	}
	want(t, call(t, "GET", merge, pushTok, nil), 204, "is merged")
	want(t, call(t, "PUT", merge, pushTok, map[string]any{"sha": head}), 405, "merge twice")
	// A repository that forbids merge commits.
	s.AddRepo("acme/squash", RepoOptions{DisallowMergeCommit: true})
	s.SetPermission(pushTok, "acme/squash", PermPush)
	s.CommitFiles("acme/squash", "f", map[string]string{"a": "b"}, "f")
	want(t, call(t, "POST", s.APIURL()+"repos/acme/squash/pulls", pushTok, map[string]any{"title": "f", "head": "f", "base": "main"}), 201, "open PR")
	a = call(t, "PUT", s.APIURL()+"repos/acme/squash/pulls/1/merge", pushTok, map[string]any{})
	want(t, a, 405, "merge commit where forbidden")
	if a.obj()["message"] != "Merge commits are not allowed on this repository." {
		t.Fatalf("method refusal %v", a.obj())
	}
	want(t, call(t, "PUT", s.APIURL()+"repos/acme/squash/pulls/1/merge", pushTok, map[string]any{"merge_method": "squash"}), 200, "squash")
}

func TestMergeabilityIsComputedLazily(t *testing.T) {
	s, _ := newServer(t, Options{})
	s.CommitFiles("acme/app", "f", map[string]string{"a": "b"}, "f")
	n := s.OpenPullRequest("acme/app", "f", "main", "f", false)
	url := fmt.Sprintf("%srepos/acme/app/pulls/%d", s.APIURL(), n)
	if pr := call(t, "GET", url, pushTok, nil).obj(); pr["mergeable"] != nil || pr["mergeable_state"] != "unknown" {
		t.Fatalf("first read: mergeable %v state %v, want null/unknown", pr["mergeable"], pr["mergeable_state"])
	}
	if pr := call(t, "GET", url, pushTok, nil).obj(); pr["mergeable"] != true || pr["mergeable_state"] != "clean" {
		t.Fatalf("second read: %v %v", pr["mergeable"], pr["mergeable_state"])
	}
	s.CommitFiles("acme/app", "f", map[string]string{"a": "c"}, "push")
	if pr := call(t, "GET", url, pushTok, nil).obj(); pr["mergeable"] != nil {
		t.Fatalf("after a push mergeable is %v, want null", pr["mergeable"])
	}
}

func TestAutoMergeGraphQL(t *testing.T) {
	s, _ := newServer(t, Options{EagerMergeability: true})
	head := s.CommitFiles("acme/app", "f", map[string]string{"a": "b"}, "f")
	n := s.OpenPullRequest("acme/app", "f", "main", "f", false)
	node := call(t, "GET", fmt.Sprintf("%srepos/acme/app/pulls/%d", s.APIURL(), n), pushTok, nil).obj()["node_id"]
	q := map[string]any{"query": "mutation($input: EnablePullRequestAutoMergeInput!){ enablePullRequestAutoMerge(input: $input){ pullRequest { number } } }",
		"variables": map[string]any{"input": map[string]any{"pullRequestId": node, "mergeMethod": "MERGE", "expectedHeadOid": head}}}
	errs := func(a answer) string {
		if e, ok := a.obj()["errors"].([]any); ok && len(e) > 0 {
			return e[0].(map[string]any)["message"].(string)
		}
		return ""
	}
	want(t, call(t, "POST", s.URL()+"/graphql", "", q), 401, "anonymous GraphQL")
	if m := errs(call(t, "POST", s.URL()+"/graphql", pushTok, q)); !strings.Contains(m, "not allowed") {
		t.Fatalf("auto-merge on a repository without the setting: %q", m)
	}
	s.SetAllowAutoMerge("acme/app", true)
	if m := errs(call(t, "POST", s.URL()+"/graphql", pushTok, q)); !strings.Contains(m, "clean status") {
		t.Fatalf("auto-merge on a clean PR: %q", m)
	}
	s.SetChecksPending("acme/app", head, true)
	if m := errs(call(t, "POST", s.URL()+"/graphql", readTok, q)); !strings.Contains(m, "not accessible") {
		t.Fatalf("auto-merge with a read token: %q", m)
	}
	if m := errs(call(t, "POST", s.URL()+"/graphql", pushTok, q)); m != "" {
		t.Fatalf("auto-merge refused: %s", m)
	}
	if p := s.Pulls("acme/app")[0]; !p.AutoMerge || p.Merged {
		t.Fatalf("after enabling: %+v", p)
	}
	s.SetChecksPending("acme/app", head, false)
	if p := s.Pulls("acme/app")[0]; !p.Merged || p.State != "closed" {
		t.Fatalf("checks passed but auto-merge did not merge: %+v", p)
	}
}

func TestDispatchValidatesAndRecords(t *testing.T) {
	s, _ := newServer(t, Options{})
	var got []Dispatch
	// The hook plays the downstream workflow: it may call the server (it runs outside the lock).
	s.OnDispatch(func(d Dispatch) {
		got = append(got, d)
		s.CreateRelease("acme/public", ReleaseSeed{Tag: "v1.0.0", Body: "tested"})
	})
	url := s.APIURL() + "repos/acme/app/dispatches"
	payload := map[string]any{}
	for i := 0; i < 11; i++ {
		payload[fmt.Sprintf("k%d", i)] = i
	}
	a := call(t, "POST", url, pushTok, map[string]any{"event_type": "smoke", "client_payload": payload})
	want(t, a, 422, "11 top-level properties")
	if !strings.Contains(string(a.raw), "No more than 10 properties") {
		t.Fatalf("payload refusal %s", a.raw)
	}
	want(t, call(t, "POST", url, pushTok, map[string]any{"event_type": strings.Repeat("e", 101)}), 422, "event type of 101 characters")
	want(t, call(t, "POST", url, readTok, map[string]any{"event_type": "smoke"}), 403, "dispatch with a read token")
	delete(payload, "k10")
	want(t, call(t, "POST", url, pushTok, map[string]any{"event_type": "smoke", "client_payload": payload}), 204, "dispatch")
	if d := s.Dispatches("acme/app"); len(d) != 1 || d[0].EventType != "smoke" || len(d[0].ClientPayload) != 10 || d[0].Login != "releaser" || len(got) != 1 {
		t.Fatalf("recorded %+v, hook saw %d", d, len(got))
	}
	if rs := s.Releases("acme/public"); len(rs) != 1 {
		t.Fatalf("the hook's release: %+v", rs)
	}
}

func TestImmutableReleaseLocksItsTag(t *testing.T) {
	s, _ := newServer(t, Options{})
	s.AddRepo("acme/locked", RepoOptions{ImmutableReleases: true})
	s.SetPermission(pushTok, "acme/locked", PermPush)
	id := s.CreateRelease("acme/locked", ReleaseSeed{Tag: "v1.0.0"})
	other := s.CommitFiles("acme/locked", "main", map[string]string{"x": "y"}, "later")
	api := s.APIURL() + "repos/acme/locked/"
	want(t, call(t, "PATCH", api+"git/refs/tags/v1.0.0", pushTok, map[string]any{"sha": other, "force": true}), 422, "move an immutable release's tag")
	want(t, call(t, "DELETE", api+"git/refs/tags/v1.0.0", pushTok, nil), 422, "delete an immutable release's tag")
	want(t, call(t, "PATCH", fmt.Sprintf("%sreleases/%d", api, id), pushTok, map[string]any{"draft": true}), 422, "unpublish an immutable release")
	want(t, call(t, "PATCH", fmt.Sprintf("%sreleases/%d", api, id), pushTok, map[string]any{"body": "fixed typo"}), 200, "edit notes")
}

func TestContentsAndEnterpriseLayout(t *testing.T) {
	s, _ := newServer(t, Options{})
	a := call(t, "GET", s.EnterpriseURL()+"repos/acme/app/contents/CHANGELOG.md?ref=main", readTok, nil)
	want(t, a, 200, "contents via /api/v3")
	if a.obj()["encoding"] != "base64" || a.obj()["type"] != "file" {
		t.Fatalf("contents %v", a.obj())
	}
	want(t, call(t, "GET", s.APIURL()+"repos/acme/app/contents/nope.md", readTok, nil), 404, "missing file")
	if l := call(t, "GET", s.APIURL()+"repos/acme/app/contents/src", readTok, nil).list(); len(l) != 1 || l[0]["name"] != "main.go" {
		t.Fatalf("directory listing %v", l)
	}
	if reqs := s.Requests(); reqs[0].Path != "/repos/acme/app/contents/CHANGELOG.md?ref=main" || reqs[0].Login != "reader" {
		t.Fatalf("request log %+v", reqs[0])
	}
}
