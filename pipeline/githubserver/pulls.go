package githubserver

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

type pull struct {
	id          int64
	number      int
	title, body string
	head, base  string // branch names
	draft       bool
	closed      bool
	merged      bool
	mergedAt    time.Time
	mergedHead  string
	mergeCommit string
	conflict    bool
	computed    bool
	autoMerge   *autoMerge
	author      string
	created     time.Time
	reviews     []*review
	requested   []string // logins asked to review, until they do
}

type autoMerge struct {
	method string
	by     string
}

// PullRequest is a pull request as the server stores it.
type PullRequest struct {
	Number          int
	Title, Body     string
	Head, Base      string
	HeadSHA         string
	Draft           bool
	State           string // open or closed
	Merged          bool
	MergeCommit     string
	AutoMerge       bool
	AutoMergeMethod string
}

// Dispatch is one accepted repository_dispatch.
type Dispatch struct {
	// Repo is "owner/name" of the repository that received the event.
	Repo          string
	EventType     string
	ClientPayload map[string]any
	Login         string
	At            time.Time
}

// Dispatches returns the repository_dispatch events a repository received, oldest first.
func (s *Server) Dispatches(full string) []Dispatch {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Dispatch(nil), s.repoLocked(full).dispatches...)
}

// Pulls returns every pull request of a repository, oldest first.
func (s *Server) Pulls(full string) []PullRequest {
	return each(s, full, func(rp *repo) []*pull { return rp.pulls }, func(rp *repo, pr *pull) PullRequest {
		p := PullRequest{Number: pr.number, Title: pr.title, Body: pr.body, Head: pr.head, Base: pr.base, HeadSHA: rp.headSHA(pr),
			Draft: pr.draft, State: pr.state(), Merged: pr.merged, MergeCommit: pr.mergeCommit}
		if pr.autoMerge != nil {
			p.AutoMerge, p.AutoMergeMethod = true, pr.autoMerge.method
		}
		return p
	})
}

// OpenPullRequest opens a pull request from head into base as someone else would and returns its
// number.
func (s *Server) OpenPullRequest(full, head, base, title string, draft bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repoLocked(full)
	return s.newPullLocked(rp, head, base, title, "", draft, "someone").number
}

// SetMergeConflict makes a pull request conflict with its base (mergeable false, state dirty).
func (s *Server) SetMergeConflict(full string, number int, conflict bool) {
	s.withPull(full, number, func(_ *repo, pr *pull) {
		pr.conflict = conflict
		pr.computed = s.opts.EagerMergeability
	})
}

// withPull runs f on pull request number of repository full and on that repository, under the
// lock; it does nothing when there is no such pull request. It is the preamble of the test
// controls that change a pull request.
func (s *Server) withPull(full string, number int, f func(rp *repo, pr *pull)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repoLocked(full)
	if pr := rp.pull(number); pr != nil {
		f(rp, pr)
	}
}

func (s *Server) newPullLocked(rp *repo, head, base, title, body string, draft bool, author string) *pull {
	rp.nextNumber++
	pr := &pull{id: s.id(), number: rp.nextNumber, title: title, body: body, head: head, base: base, draft: draft, author: author, created: s.clk.Now(), computed: s.opts.EagerMergeability,
		conflict: s.branchConflictLocked(rp, head, base)}
	rp.pulls = append(rp.pulls, pr)
	return pr
}

func (pr *pull) state() string {
	if pr.closed {
		return "closed"
	}
	return "open"
}

func (rp *repo) pull(n int) *pull {
	for _, pr := range rp.pulls {
		if pr.number == n {
			return pr
		}
	}
	return nil
}

func (rp *repo) headSHA(pr *pull) string {
	if pr.merged {
		return pr.mergedHead
	}
	return rp.refs["refs/heads/"+pr.head]
}

// touchPullsLocked marks every open pull request's mergeability as stale (GitHub recomputes it in
// the background after a push).
func (s *Server) touchPullsLocked(rp *repo) {
	if s.opts.EagerMergeability {
		return
	}
	for _, pr := range rp.pulls {
		if !pr.closed {
			pr.computed = s.opts.EagerMergeability
		}
	}
}

func (rp *repo) mergeableState(pr *pull) string {
	switch {
	case pr.closed:
		return "unknown"
	case pr.draft:
		return "draft"
	case pr.conflict:
		return "dirty"
	case rp.checkState(rp.headSHA(pr)) != "success", rp.reviewBlock(pr) != "":
		return "blocked"
	}
	return "clean"
}

func (s *Server) pullJSON(r *http.Request, rp *repo, pr *pull, detail bool) map[string]any {
	full := rp.owner + "/" + rp.name
	m := map[string]any{
		"id": pr.id, "node_id": nodeID("PR", pr.id), "number": pr.number, "state": pr.state(), "title": pr.title, "body": pr.body,
		"draft": pr.draft, "user": map[string]any{"login": pr.author},
		"created_at":       pr.created.UTC().Format(time.RFC3339),
		"url":              apiBase(r) + "repos/" + full + "/pulls/" + strconv.Itoa(pr.number),
		"html_url":         "https://github.example/" + full + "/pull/" + strconv.Itoa(pr.number),
		"head":             map[string]any{"ref": pr.head, "sha": rp.headSHA(pr), "label": rp.owner + ":" + pr.head, "repo": map[string]any{"full_name": full}},
		"base":             map[string]any{"ref": pr.base, "sha": rp.refs["refs/heads/"+pr.base], "label": rp.owner + ":" + pr.base, "repo": map[string]any{"full_name": full}},
		"merge_commit_sha": nil, "merged_at": nil, "auto_merge": nil,
		"requested_reviewers": logins(pr.requested),
	}
	if pr.merged {
		m["merge_commit_sha"] = pr.mergeCommit
		m["merged_at"] = pr.mergedAt.UTC().Format(time.RFC3339)
	}
	if pr.autoMerge != nil {
		m["auto_merge"] = map[string]any{"merge_method": pr.autoMerge.method, "enabled_by": map[string]any{"login": pr.autoMerge.by}}
	}
	if detail {
		m["merged"] = pr.merged
		if pr.computed || pr.closed {
			m["mergeable"] = !pr.conflict && !pr.closed
			if pr.closed {
				m["mergeable"] = nil
			}
			m["mergeable_state"] = rp.mergeableState(pr)
		} else {
			m["mergeable"] = nil
			m["mergeable_state"] = "unknown"
		}
	}
	return m
}

func pullNumber(r *http.Request) int {
	n, _ := strconv.Atoi(r.PathValue("number"))
	return n
}

func (s *Server) listPulls(w http.ResponseWriter, r *http.Request, rp *repo, _ caller) {
	q := r.URL.Query()
	state := q.Get("state")
	if state == "" {
		state = "open"
	}
	head := q.Get("head")
	if owner, branch, ok := strings.Cut(head, ":"); ok {
		if !strings.EqualFold(owner, rp.owner) {
			page(s, w, r, []*pull{}, nil)
			return
		}
		head = branch
	}
	var out []*pull
	for i := len(rp.pulls) - 1; i >= 0; i-- {
		pr := rp.pulls[i]
		if (state != "all" && pr.state() != state) || (head != "" && pr.head != head) || (q.Get("base") != "" && pr.base != q.Get("base")) {
			continue
		}
		out = append(out, pr)
	}
	page(s, w, r, out, func(pr *pull) map[string]any { return s.pullJSON(r, rp, pr, false) })
}

func (s *Server) getPull(w http.ResponseWriter, r *http.Request, rp *repo, _ caller, pr *pull) {
	writeJSON(w, http.StatusOK, s.pullJSON(r, rp, pr, true))
	pr.computed = true
}

func (s *Server) createPull(w http.ResponseWriter, r *http.Request, rp *repo, c caller) {
	var in struct {
		Title string `json:"title"`
		Head  string `json:"head"`
		Base  string `json:"base"`
		Body  string `json:"body"`
		Draft bool   `json:"draft"`
	}
	if !decode(w, r, &in) {
		return
	}
	head := in.Head
	if owner, branch, ok := strings.Cut(head, ":"); ok {
		if !strings.EqualFold(owner, rp.owner) {
			validation(w, "PullRequest", "head", "invalid", "")
			return
		}
		head = branch
	}
	if in.Title == "" {
		validation(w, "PullRequest", "title", "missing_field", "")
		return
	}
	hs, okH := rp.refs["refs/heads/"+head]
	if !okH {
		validation(w, "PullRequest", "head", "invalid", "")
		return
	}
	bs, okB := rp.refs["refs/heads/"+in.Base]
	if !okB {
		validation(w, "PullRequest", "base", "invalid", "")
		return
	}
	for _, pr := range rp.pulls {
		if !pr.closed && pr.head == head && pr.base == in.Base {
			writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": "Validation Failed", "status": "422", "documentation_url": docs("rest/pulls/pulls#create-a-pull-request"),
				"errors": []any{map[string]any{"resource": "PullRequest", "code": "custom", "message": fmt.Sprintf("A pull request already exists for %s:%s.", rp.owner, head)}}})
			return
		}
	}
	if rp.isAncestor(hs, bs) {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": "Validation Failed", "status": "422",
			"errors": []any{map[string]any{"resource": "PullRequest", "code": "custom", "message": fmt.Sprintf("No commits between %s and %s", in.Base, head)}}})
		return
	}
	pr := s.newPullLocked(rp, head, in.Base, in.Title, in.Body, in.Draft, c.login())
	writeJSON(w, http.StatusCreated, s.pullJSON(r, rp, pr, true))
}

func (s *Server) editPull(w http.ResponseWriter, r *http.Request, rp *repo, _ caller, pr *pull) {
	var in struct {
		Title *string `json:"title"`
		Body  *string `json:"body"`
		State *string `json:"state"`
		Base  *string `json:"base"`
	}
	if !decode(w, r, &in) {
		return
	}
	if in.Title != nil {
		pr.title = *in.Title
	}
	if in.Body != nil {
		pr.body = *in.Body
	}
	if in.State != nil && !pr.merged {
		pr.closed = *in.State == "closed"
	}
	if in.Base != nil {
		pr.base = *in.Base
		pr.computed = s.opts.EagerMergeability
	}
	writeJSON(w, http.StatusOK, s.pullJSON(r, rp, pr, true))
}

func (s *Server) isMerged(w http.ResponseWriter, r *http.Request, rp *repo, _ caller) {
	if pr := rp.pull(pullNumber(r)); pr != nil && pr.merged {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	notFound(w)
}

func methodAllowed(rp *repo, m string) (bool, string) {
	switch m {
	case "merge":
		return rp.allowMerge, "Merge commits are not allowed on this repository."
	case "squash":
		return rp.allowSquash, "Squash merges are not allowed on this repository."
	case "rebase":
		return rp.allowRebase, "Rebase merges are not allowed on this repository."
	}
	return false, ""
}

func notAllowed(w http.ResponseWriter, msg string) {
	writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"message": msg, "documentation_url": docs("rest/pulls/pulls#merge-a-pull-request"), "status": "405"})
}

func (s *Server) mergePull(w http.ResponseWriter, r *http.Request, rp *repo, c caller, pr *pull) {
	var in struct {
		CommitTitle   string `json:"commit_title"`
		CommitMessage string `json:"commit_message"`
		SHA           string `json:"sha"`
		MergeMethod   string `json:"merge_method"`
	}
	if !decode(w, r, &in) {
		return
	}
	if in.MergeMethod == "" {
		in.MergeMethod = "merge"
	}
	if in.MergeMethod != "merge" && in.MergeMethod != "squash" && in.MergeMethod != "rebase" {
		validation(w, "PullRequest", "merge_method", "invalid", "")
		return
	}
	if in.SHA != "" && len(in.SHA) != 40 {
		validation(w, "PullRequest", "sha", "invalid", "")
		return
	}
	if pr.closed {
		notAllowed(w, "Pull Request is not mergeable")
		return
	}
	if pr.draft {
		notAllowed(w, "Pull Request is still a draft")
		return
	}
	if in.SHA != "" && in.SHA != rp.headSHA(pr) {
		writeJSON(w, http.StatusConflict, map[string]any{"message": "Head branch was modified. Review and try the merge again.", "documentation_url": docs("rest/pulls/pulls#merge-a-pull-request"), "status": "409"})
		return
	}
	if ok, msg := methodAllowed(rp, in.MergeMethod); !ok {
		notAllowed(w, msg)
		return
	}
	switch rp.mergeableState(pr) {
	case "dirty":
		notAllowed(w, "Pull Request is not mergeable")
		return
	case "blocked":
		switch st := rp.checkState(rp.headSHA(pr)); st {
		case "success":
			notAllowed(w, rp.reviewBlock(pr))
		case "pending":
			notAllowed(w, fmt.Sprintf("Required status check %q is expected.", rp.requiredCheck))
		default:
			notAllowed(w, fmt.Sprintf("Required status check %q is failing.", rp.requiredCheck))
		}
		return
	}
	title := in.CommitTitle
	if title == "" {
		title = fmt.Sprintf("Merge pull request #%d from %s/%s", pr.number, rp.owner, pr.head)
	}
	sha := s.mergeLocked(rp, pr, in.MergeMethod, title, c.login())
	writeJSON(w, http.StatusOK, map[string]any{"sha": sha, "merged": true, "message": "Pull Request successfully merged"})
}

// mergeLocked merges pr with method and returns the new base head. The result has the base's files
// with the head's changes since their merge base: the server does not merge file contents (the
// head's version of a file both changed wins; conflicts are simulated with SetMergeConflict and
// SetBranchConflict).
func (s *Server) mergeLocked(rp *repo, pr *pull, method, title, login string) string {
	head := rp.headSHA(pr)
	base := rp.refs["refs/heads/"+pr.base]
	tree := rp.mergedTree(base, head)
	sig := signature{Name: login, Email: login + "@users.noreply.github.example", Date: s.clk.Now()}
	var sha string
	switch method {
	case "merge":
		sha = rp.putCommit(tree, []string{base, head}, sig, sig, title)
	case "squash":
		sha = rp.putCommit(tree, []string{base}, sig, sig, title)
	default:
		sha = rp.putCommit(tree, []string{base}, rp.objects[head].author, sig, rp.objects[head].message)
	}
	rp.refs["refs/heads/"+pr.base] = sha
	pr.merged, pr.closed, pr.mergedHead, pr.mergeCommit, pr.mergedAt = true, true, head, sha, s.clk.Now()
	pr.autoMerge = nil
	s.touchPullsLocked(rp)
	return sha
}

func (s *Server) runAutoMergesLocked(rp *repo) {
	for _, pr := range rp.pulls {
		if pr.autoMerge != nil && !pr.closed && rp.mergeableState(pr) == "clean" {
			title := fmt.Sprintf("Merge pull request #%d from %s/%s", pr.number, rp.owner, pr.head)
			s.mergeLocked(rp, pr, pr.autoMerge.method, title, pr.autoMerge.by)
		}
	}
}

// ---- dispatch

func (s *Server) dispatch(w http.ResponseWriter, r *http.Request, rp *repo, c caller) {
	var in struct {
		EventType     string          `json:"event_type"`
		ClientPayload json.RawMessage `json:"client_payload"`
	}
	if !decode(w, r, &in) {
		return
	}
	if in.EventType == "" {
		validation(w, "Repository", "event_type", "missing_field", "")
		return
	}
	if len(in.EventType) > 100 {
		unprocessable(w, "event_type must be 100 characters or fewer")
		return
	}
	payload := map[string]any{}
	if len(in.ClientPayload) > 0 && string(in.ClientPayload) != "null" {
		if err := json.Unmarshal(in.ClientPayload, &payload); err != nil {
			unprocessable(w, "client_payload is not an object")
			return
		}
	}
	if len(payload) > 10 {
		unprocessable(w, fmt.Sprintf("client_payload: No more than 10 properties are allowed; %d were supplied.", len(payload)))
		return
	}
	d := Dispatch{Repo: rp.owner + "/" + rp.name, EventType: in.EventType, ClientPayload: payload, Login: c.login(), At: s.clk.Now()}
	rp.dispatches = append(rp.dispatches, d)
	hooks := slices.Clone(s.onDisp)
	// The hooks play the downstream workflow: they run outside the lock, before the answer.
	info := reqInfoOf(r.Context())
	info.after = append(info.after, func() {
		for _, h := range hooks {
			h(d)
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// ---- GraphQL: the two mutations shipgate sends

// mutation is the GraphQL mutation a request asks for: its field and its input variables.
type mutation struct {
	field string
	input map[string]any
}

// fail answers the mutation with one GraphQL error of type typ: status 200, data.<field> null,
// as GitHub answers a mutation it refuses.
func (m mutation) fail(w http.ResponseWriter, typ, msg string) {
	writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{m.field: nil}, "errors": []any{map[string]any{"type": typ, "path": []string{m.field}, "message": msg}}})
}

// mutationHandler answers one mutation about pull request pr of repository rp, under the server's
// lock, once the caller's push access was checked.
type mutationHandler func(w http.ResponseWriter, rp *repo, c caller, pr *pull, m mutation)

// onMutation is on for the GraphQL endpoint, where the pull request is named by the node ID in
// the input's pullRequestId instead of the path: the lock, authentication (401 to anonymous
// callers), the mutation (an error naming the ones served when the query asks for none of
// them), the pull request (NOT_FOUND when the caller cannot see it, FORBIDDEN without push),
// then the mutation's handler.
func (s *Server) onMutation(handlers map[string]mutationHandler) http.HandlerFunc {
	fields := slices.Sorted(maps.Keys(handlers))
	return s.locked(func(w http.ResponseWriter, r *http.Request) {
		c := s.callerOf(r)
		if c.tok == nil {
			writeJSON(w, http.StatusUnauthorized, map[string]any{"message": "This endpoint requires you to be authenticated.", "documentation_url": docs("graphql/guides/forming-calls-with-graphql#authenticating-with-graphql")})
			return
		}
		var in struct {
			Query     string `json:"query"`
			Variables struct {
				Input map[string]any `json:"input"`
			} `json:"variables"`
		}
		if !decode(w, r, &in) {
			return
		}
		m := mutation{input: in.Variables.Input}
		for _, f := range fields {
			if strings.Contains(in.Query, f) {
				m.field = f
			}
		}
		if m.field == "" {
			writeJSON(w, http.StatusOK, map[string]any{"errors": []any{map[string]any{"message": "githubserver answers only " + strings.Join(fields, " and ")}}})
			return
		}
		id, _ := m.input["pullRequestId"].(string)
		var rp *repo
		var pr *pull
		for _, k := range slices.Sorted(maps.Keys(s.repos)) {
			for _, p := range s.repos[k].pulls {
				if nodeID("PR", p.id) == id {
					rp, pr = s.repos[k], p
				}
			}
		}
		if pr == nil || c.perm(rp) < PermPull {
			m.fail(w, "NOT_FOUND", fmt.Sprintf("Could not resolve to a node with the global id of '%s'", id))
			return
		}
		if c.perm(rp) < PermPush {
			m.fail(w, "FORBIDDEN", "Resource not accessible by personal access token")
			return
		}
		handlers[m.field](w, rp, c, pr, m)
	})
}

// markReady is markPullRequestReadyForReview: a draft becomes ready (a closed one cannot).
func (s *Server) markReady(w http.ResponseWriter, _ *repo, _ caller, pr *pull, m mutation) {
	if pr.closed {
		m.fail(w, "UNPROCESSABLE", "Pull request is closed")
		return
	}
	pr.draft = false
	pr.computed = s.opts.EagerMergeability
	writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{m.field: map[string]any{"pullRequest": map[string]any{"number": pr.number, "isDraft": false}}}})
}

// enableAutoMerge is enablePullRequestAutoMerge: refused as GitHub refuses it (not allowed on the
// repository, closed, head moved, already clean, conflicting, merge method not allowed),
// otherwise the pull request merges once it can.
func (s *Server) enableAutoMerge(w http.ResponseWriter, rp *repo, c caller, pr *pull, m mutation) {
	method, _ := m.input["mergeMethod"].(string)
	if method == "" {
		method = "MERGE"
	}
	expected, _ := m.input["expectedHeadOid"].(string)
	switch {
	case !rp.allowAutoMerge:
		m.fail(w, "UNPROCESSABLE", "Pull request Auto merge is not allowed for this repository")
	case pr.closed:
		m.fail(w, "UNPROCESSABLE", "Pull request Pull request is closed")
	case expected != "" && expected != rp.headSHA(pr):
		m.fail(w, "UNPROCESSABLE", "Pull request The head of this pull request has changed")
	case rp.mergeableState(pr) == "clean":
		m.fail(w, "UNPROCESSABLE", "Pull request Pull request is in clean status")
	case rp.mergeableState(pr) == "dirty":
		m.fail(w, "UNPROCESSABLE", "Pull request Pull request is not mergeable")
	default:
		if ok, msg := methodAllowed(rp, strings.ToLower(method)); !ok {
			m.fail(w, "UNPROCESSABLE", "Pull request "+msg)
			return
		}
		pr.autoMerge = &autoMerge{method: strings.ToLower(method), by: c.login()}
		writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{m.field: map[string]any{"pullRequest": map[string]any{
			"number": pr.number, "autoMergeRequest": map[string]any{"mergeMethod": strings.ToUpper(method), "enabledAt": s.clk.Now().UTC().Format(time.RFC3339)}}}}})
	}
}
