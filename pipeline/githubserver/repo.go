package githubserver

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
)

type reqInfo struct {
	enterprise bool
	host       string
	// after runs once the handler released the server's lock (see Server.on).
	after []func()
}

type reqInfoKey struct{}

func withReqInfo(ctx context.Context, i *reqInfo) context.Context {
	return context.WithValue(ctx, reqInfoKey{}, i)
}

func reqInfoOf(ctx context.Context) *reqInfo {
	if i, ok := ctx.Value(reqInfoKey{}).(*reqInfo); ok {
		return i
	}
	return &reqInfo{}
}

func repoKey(owner, name string) string { return strings.ToLower(owner + "/" + name) }

type repo struct {
	key                                  string
	owner, name                          string
	id                                   int64
	private                              bool
	defaultBranch                        string
	allowAutoMerge                       bool
	allowMerge, allowSquash, allowRebase bool
	immutableReleases                    bool
	requiredCheck                        string
	requiredApprovals                    int

	objects    map[string]*object
	refs       map[string]string // full ref name → sha
	releases   []*release        // in creation order
	pulls      []*pull
	dispatches []Dispatch
	nextNumber int
	// latest is the id of the release that carries the "Latest" label, 0 for none.
	latest int64
	// checks holds the state of the required check per commit SHA when it is not success
	// (pending, failure, error).
	checks map[string]string
	// statuses are the commit statuses posted per commit SHA, oldest first.
	statuses map[string][]*status
	// attestations are the stored attestation bundles, oldest first.
	attestations []*attestation
}

// RepoOptions describe a repository to create.
type RepoOptions struct {
	// Private hides the repository from tokens without access (404) and from anonymous callers.
	Private bool
	// DefaultBranch defaults to "main".
	DefaultBranch string
	// Files are committed as the first commit on the default branch ("path" → content); a
	// README.md is added when empty.
	Files map[string]string
	// AllowAutoMerge is the repository setting "Allow auto-merge".
	AllowAutoMerge bool
	// DisallowMergeCommit, DisallowSquash and DisallowRebase turn merge methods off (405 when used).
	DisallowMergeCommit, DisallowSquash, DisallowRebase bool
	// ImmutableReleases locks the tag of a published release: moving or deleting it answers 422.
	ImmutableReleases bool
	// RequiredCheck names the status check the default branch requires; default "ci". It reports
	// success on every commit unless SetChecksPending or SetCheckState says otherwise.
	RequiredCheck string
	// RequiredApprovals is the default branch's rule "require N approving reviews" (a ruleset
	// pull_request rule); 0 requires none. Approvals count from reviewers with push access, not
	// from the pull request's author; a writer's request for changes blocks the merge.
	RequiredApprovals int
}

// AddRepo creates a repository "owner/name" with an initial commit on its default branch and
// returns that commit's SHA.
func (s *Server) AddRepo(full string, o RepoOptions) string {
	owner, name, ok := strings.Cut(full, "/")
	if !ok {
		panic("githubserver.AddRepo: want owner/name, got " + full)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := &repo{
		key: repoKey(owner, name), owner: owner, name: name, id: s.id(), private: o.Private,
		defaultBranch: o.DefaultBranch, allowAutoMerge: o.AllowAutoMerge,
		allowMerge: !o.DisallowMergeCommit, allowSquash: !o.DisallowSquash, allowRebase: !o.DisallowRebase,
		immutableReleases: o.ImmutableReleases, requiredCheck: o.RequiredCheck, requiredApprovals: o.RequiredApprovals,
		objects: map[string]*object{}, refs: map[string]string{}, checks: map[string]string{}, statuses: map[string][]*status{},
	}
	if rp.defaultBranch == "" {
		rp.defaultBranch = "main"
	}
	if rp.requiredCheck == "" {
		rp.requiredCheck = "ci"
	}
	files := o.Files
	if len(files) == 0 {
		files = map[string]string{"README.md": "# " + name + "\n"}
	}
	s.repos[rp.key] = rp
	sha := s.commitFilesLocked(rp, "", files, "Initial commit")
	rp.refs["refs/heads/"+rp.defaultBranch] = sha
	return sha
}

func (s *Server) repoLocked(full string) *repo {
	owner, name, _ := strings.Cut(full, "/")
	rp := s.repos[repoKey(owner, name)]
	if rp == nil {
		panic("githubserver: no repository " + full)
	}
	return rp
}

// each is what a test reads of one kind of thing in a repository: every item list(rp) holds,
// oldest first, turned into its exported form by view, under the lock.
func each[T, V any](s *Server, full string, list func(*repo) []T, view func(*repo, T) V) []V {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repoLocked(full)
	var out []V
	for _, x := range list(rp) {
		out = append(out, view(rp, x))
	}
	return out
}

// CommitFiles commits files ("path" → content; a nil-like empty string keeps the file empty) on
// top of branch, creating the branch from the default branch when it does not exist, and returns
// the new commit's SHA. It plays a developer pushing.
func (s *Server) CommitFiles(full, branch string, files map[string]string, msg string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repoLocked(full)
	ref := "refs/heads/" + branch
	parent, ok := rp.refs[ref]
	if !ok {
		parent = rp.refs["refs/heads/"+rp.defaultBranch]
	}
	sha := s.commitFilesLocked(rp, parent, files, msg)
	rp.refs[ref] = sha
	s.touchPullsLocked(rp)
	return sha
}

func (s *Server) commitFilesLocked(rp *repo, parent string, files map[string]string, msg string) string {
	base := ""
	var parents []string
	if parent != "" {
		base = rp.objects[parent].tree
		parents = []string{parent}
	}
	tree := base
	for _, p := range slices.Sorted(maps.Keys(files)) {
		blob := rp.putBlob([]byte(files[p]))
		var err error
		tree, err = rp.setPath(tree, strings.Split(p, "/"), &entry{mode: "100644", typ: "blob", sha: blob})
		if err != nil {
			panic(err)
		}
	}
	now := s.clk.Now()
	sig := signature{Name: "Developer", Email: "dev@example.com", Date: now}
	return rp.putCommit(tree, parents, sig, sig, msg)
}

// Ref returns the SHA a full ref ("refs/heads/main", "refs/tags/v1.2.3") points at.
func (s *Server) Ref(full, ref string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sha, ok := s.repoLocked(full).refs[ref]
	return sha, ok
}

// SetRef points a full ref at sha without any check (a force push); an empty sha deletes it.
func (s *Server) SetRef(full, ref, sha string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repoLocked(full)
	if sha == "" {
		delete(rp.refs, ref)
	} else {
		rp.refs[ref] = sha
	}
	s.touchPullsLocked(rp)
}

// File returns the content of path at a ref, branch name, tag name or commit SHA.
func (s *Server) File(full, ref, path string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repoLocked(full)
	c := rp.resolve(ref)
	if c == "" {
		return "", false
	}
	e := rp.lookup(rp.objects[c].tree, strings.Split(path, "/"))
	if e == nil || e.typ != "blob" {
		return "", false
	}
	return string(rp.objects[e.sha].data), true
}

// CommitInfo is a commit as the server stores it.
type CommitInfo struct {
	SHA     string
	Tree    string
	Parents []string
	Message string
	Date    time.Time
}

// Commit returns a commit object.
func (s *Server) Commit(full, sha string) (CommitInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.repoLocked(full).objects[sha]
	if o == nil || o.kind != "commit" {
		return CommitInfo{}, false
	}
	return CommitInfo{SHA: sha, Tree: o.tree, Parents: append([]string(nil), o.parents...), Message: o.message, Date: o.committer.Date}, true
}

// SetChecksPending marks the required check of commit sha as pending (true) or finished (false).
// Finishing it runs any auto-merge waiting on a pull request whose head is sha.
func (s *Server) SetChecksPending(full, sha string, pending bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repoLocked(full)
	state := "success"
	if pending {
		state = "pending"
	}
	s.setCheckLocked(rp, sha, state)
}

// SetCheckState sets the state of the required check of commit sha: success, pending, failure
// or error. Success runs any auto-merge waiting on a pull request whose head is sha.
func (s *Server) SetCheckState(full, sha, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setCheckLocked(s.repoLocked(full), sha, state)
}

func (s *Server) setCheckLocked(rp *repo, sha, state string) {
	if state == "success" {
		delete(rp.checks, sha)
	} else {
		rp.checks[sha] = state
	}
	s.touchPullsLocked(rp)
	if state == "success" {
		s.runAutoMergesLocked(rp)
	}
}

func (rp *repo) checkState(sha string) string {
	if st, ok := rp.checks[sha]; ok {
		return st
	}
	return "success"
}

// SetAllowAutoMerge changes the repository setting "Allow auto-merge".
func (s *Server) SetAllowAutoMerge(full string, allow bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.repoLocked(full).allowAutoMerge = allow
}

// ---- HTTP: repository

func (s *Server) repoJSON(r *http.Request, rp *repo, c caller) map[string]any {
	m := map[string]any{
		"id": rp.id, "node_id": nodeID("R", rp.id), "name": rp.name, "full_name": rp.owner + "/" + rp.name,
		"owner": map[string]any{"login": rp.owner}, "private": rp.private, "default_branch": rp.defaultBranch,
		"allow_auto_merge": rp.allowAutoMerge, "allow_merge_commit": rp.allowMerge, "allow_squash_merge": rp.allowSquash,
		"allow_rebase_merge": rp.allowRebase,
		"html_url":           "https://github.example/" + rp.owner + "/" + rp.name,
		"url":                apiBase(r) + "repos/" + rp.owner + "/" + rp.name,
	}
	if c.tok != nil {
		p := c.perm(rp)
		m["permissions"] = map[string]bool{"admin": p >= PermAdmin, "maintain": p >= PermAdmin, "push": p >= PermPush, "triage": p >= PermPush, "pull": p >= PermPull}
	}
	return m
}

func apiBase(r *http.Request) string {
	i := reqInfoOf(r.Context())
	if i.enterprise {
		return "http://" + i.host + "/api/v3/"
	}
	return "http://" + i.host + "/"
}

func nodeID(prefix string, id int64) string { return fmt.Sprintf("%s_kwDO%08d", prefix, id) }

func (s *Server) getRepo(w http.ResponseWriter, r *http.Request, rp *repo, c caller) {
	writeJSON(w, http.StatusOK, s.repoJSON(r, rp, c))
}

// routes registers the REST and GraphQL endpoints (paths without the /api/v3 prefix). Every REST
// endpoint names the access it needs; on, onPull and onRelease check it.
func (s *Server) routes() {
	m := s.inner
	m.HandleFunc("GET /repos/{owner}/{repo}", s.on(PermPull, "metadata=read", s.getRepo))
	// git data
	m.HandleFunc("GET /repos/{owner}/{repo}/git/ref/{ref...}", s.on(PermPull, "contents=read", s.getRef))
	m.HandleFunc("GET /repos/{owner}/{repo}/git/matching-refs/{ref...}", s.on(PermPull, "contents=read", s.matchingRefs))
	m.HandleFunc("POST /repos/{owner}/{repo}/git/refs", s.on(PermPush, "contents=write", s.createRef))
	m.HandleFunc("PATCH /repos/{owner}/{repo}/git/refs/{ref...}", s.on(PermPush, "contents=write", s.updateRef))
	m.HandleFunc("DELETE /repos/{owner}/{repo}/git/refs/{ref...}", s.on(PermPush, "contents=write", s.deleteRef))
	m.HandleFunc("POST /repos/{owner}/{repo}/git/blobs", s.on(PermPush, "contents=write", s.createBlob))
	m.HandleFunc("GET /repos/{owner}/{repo}/git/blobs/{sha}", s.on(PermPull, "contents=read", s.getBlob))
	m.HandleFunc("POST /repos/{owner}/{repo}/git/trees", s.on(PermPush, "contents=write", s.createTree))
	m.HandleFunc("GET /repos/{owner}/{repo}/git/trees/{sha}", s.on(PermPull, "contents=read", s.getTree))
	m.HandleFunc("POST /repos/{owner}/{repo}/git/commits", s.on(PermPush, "contents=write", s.createCommit))
	m.HandleFunc("GET /repos/{owner}/{repo}/git/commits/{sha}", s.on(PermPull, "contents=read", s.getCommit))
	m.HandleFunc("POST /repos/{owner}/{repo}/git/tags", s.on(PermPush, "contents=write", s.createTagObject))
	m.HandleFunc("GET /repos/{owner}/{repo}/git/tags/{sha}", s.on(PermPull, "contents=read", s.getTagObject))
	m.HandleFunc("GET /repos/{owner}/{repo}/contents/{path...}", s.on(PermPull, "contents=read", s.getContents))
	m.HandleFunc("GET /repos/{owner}/{repo}/compare/{basehead...}", s.on(PermPull, "contents=read", s.compare))
	// releases
	m.HandleFunc("GET /repos/{owner}/{repo}/releases", s.on(PermPull, "contents=read", s.listReleases))
	m.HandleFunc("POST /repos/{owner}/{repo}/releases", s.on(PermPush, "contents=write", s.createRelease))
	m.HandleFunc("GET /repos/{owner}/{repo}/releases/latest", s.on(PermPull, "contents=read", s.latestRelease))
	m.HandleFunc("GET /repos/{owner}/{repo}/releases/tags/{tag...}", s.on(PermPull, "contents=read", s.releaseByTag))
	m.HandleFunc("GET /repos/{owner}/{repo}/releases/{id}", s.onRelease(PermPull, "contents=read", s.getRelease))
	m.HandleFunc("PATCH /repos/{owner}/{repo}/releases/{id}", s.onRelease(PermPush, "contents=write", s.editRelease))
	m.HandleFunc("DELETE /repos/{owner}/{repo}/releases/{id}", s.onRelease(PermPush, "contents=write", s.deleteRelease))
	// {id}/{sub...} (sub "assets"): {id}/assets would conflict with tags/{tag...} in the mux
	m.HandleFunc("GET /repos/{owner}/{repo}/releases/{id}/{sub...}", s.onRelease(PermPull, "contents=read", s.listAssets))
	m.HandleFunc("GET /repos/{owner}/{repo}/releases/assets/{asset}", s.onAsset(PermPull, "contents=read", s.getAsset))
	m.HandleFunc("DELETE /repos/{owner}/{repo}/releases/assets/{asset}", s.onAsset(PermPush, "contents=write", s.deleteAsset))
	// uploads: GitHub's separate host; here under /api/uploads/ (go-github's Enterprise layout)
	m.HandleFunc("POST "+uploadsPrefix+"repos/{owner}/{repo}/releases/{id}/assets", s.onRelease(PermPush, "contents=write", s.uploadAsset))
	// dispatch
	m.HandleFunc("POST /repos/{owner}/{repo}/dispatches", s.on(PermPush, "contents=write", s.dispatch))
	// pulls
	m.HandleFunc("GET /repos/{owner}/{repo}/pulls", s.on(PermPull, "pull_requests=read", s.listPulls))
	m.HandleFunc("POST /repos/{owner}/{repo}/pulls", s.on(PermPush, "pull_requests=write", s.createPull))
	m.HandleFunc("GET /repos/{owner}/{repo}/pulls/{number}", s.onPull(PermPull, "pull_requests=read", s.getPull))
	m.HandleFunc("PATCH /repos/{owner}/{repo}/pulls/{number}", s.onPull(PermPush, "pull_requests=write", s.editPull))
	m.HandleFunc("PUT /repos/{owner}/{repo}/pulls/{number}/merge", s.onPull(PermPush, "contents=write", s.mergePull))
	m.HandleFunc("GET /repos/{owner}/{repo}/pulls/{number}/merge", s.on(PermPull, "pull_requests=read", s.isMerged))
	m.HandleFunc("GET /repos/{owner}/{repo}/pulls/{number}/reviews", s.onPull(PermPull, "pull_requests=read", s.listReviews))
	m.HandleFunc("POST /repos/{owner}/{repo}/pulls/{number}/reviews", s.onPull(PermPull, "pull_requests=write", s.createReview))
	// rules and statuses
	m.HandleFunc("GET /repos/{owner}/{repo}/rules/branches/{branch...}", s.on(PermPull, "metadata=read", s.branchRules))
	m.HandleFunc("GET /repos/{owner}/{repo}/commits/{ref}/status", s.on(PermPull, "statuses=read", s.combinedStatus))
	m.HandleFunc("GET /repos/{owner}/{repo}/commits/{ref}/statuses", s.on(PermPull, "statuses=read", s.listStatuses))
	m.HandleFunc("POST /repos/{owner}/{repo}/statuses/{sha}", s.on(PermPush, "statuses=write", s.createStatus))
	// attestations
	m.HandleFunc("POST /repos/{owner}/{repo}/attestations", s.on(PermPush, "attestations=write", s.storeAttestation))
	m.HandleFunc("GET /repos/{owner}/{repo}/attestations/{digest}", s.on(PermPull, "attestations=read", s.listAttestations))
	m.HandleFunc("GET /repos/{owner}/{repo}/commits/{ref}/check-runs", s.on(PermPull, "checks=read", s.checkRuns))
	s.packageRoutes(m)
	// GraphQL (the github.com path; /api/graphql is rewritten to it)
	m.HandleFunc("POST /graphql", s.onMutation(map[string]mutationHandler{
		"enablePullRequestAutoMerge":    s.enableAutoMerge,
		"markPullRequestReadyForReview": s.markReady,
	}))
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { notFound(w) })
}
