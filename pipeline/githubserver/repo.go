package githubserver

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
)

type reqInfo struct {
	enterprise bool
	host       string
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

	objects    map[string]*object
	refs       map[string]string // full ref name → sha
	releases   []*release        // in creation order
	pulls      []*pull
	dispatches []Dispatch
	nextNumber int
	// latest is the id of the release that carries the "Latest" label, 0 for none.
	latest int64
	// checksPending is the set of commit SHAs whose required check has not finished.
	checksPending map[string]bool
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
	// RequiredCheck names the required status check used in merge refusals; default "ci".
	RequiredCheck string
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
		immutableReleases: o.ImmutableReleases, requiredCheck: o.RequiredCheck,
		objects: map[string]*object{}, refs: map[string]string{}, checksPending: map[string]bool{},
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
	for _, p := range sortedKeys(files) {
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
	if pending {
		rp.checksPending[sha] = true
	} else {
		delete(rp.checksPending, sha)
	}
	s.touchPullsLocked(rp)
	if !pending {
		s.runAutoMergesLocked(rp)
	}
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

func (s *Server) getRepo(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, c, ok := s.access(w, r, PermPull, "metadata=read")
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, s.repoJSON(r, rp, c))
}

// routes registers the REST and GraphQL endpoints (paths without the /api/v3 prefix).
func (s *Server) routes() {
	m := s.inner
	m.HandleFunc("GET /repos/{owner}/{repo}", s.getRepo)
	// git data
	m.HandleFunc("GET /repos/{owner}/{repo}/git/ref/{ref...}", s.getRef)
	m.HandleFunc("GET /repos/{owner}/{repo}/git/matching-refs/{ref...}", s.matchingRefs)
	m.HandleFunc("POST /repos/{owner}/{repo}/git/refs", s.createRef)
	m.HandleFunc("PATCH /repos/{owner}/{repo}/git/refs/{ref...}", s.updateRef)
	m.HandleFunc("DELETE /repos/{owner}/{repo}/git/refs/{ref...}", s.deleteRef)
	m.HandleFunc("POST /repos/{owner}/{repo}/git/blobs", s.createBlob)
	m.HandleFunc("GET /repos/{owner}/{repo}/git/blobs/{sha}", s.getBlob)
	m.HandleFunc("POST /repos/{owner}/{repo}/git/trees", s.createTree)
	m.HandleFunc("GET /repos/{owner}/{repo}/git/trees/{sha}", s.getTree)
	m.HandleFunc("POST /repos/{owner}/{repo}/git/commits", s.createCommit)
	m.HandleFunc("GET /repos/{owner}/{repo}/git/commits/{sha}", s.getCommit)
	m.HandleFunc("POST /repos/{owner}/{repo}/git/tags", s.createTagObject)
	m.HandleFunc("GET /repos/{owner}/{repo}/git/tags/{sha}", s.getTagObject)
	m.HandleFunc("GET /repos/{owner}/{repo}/contents/{path...}", s.getContents)
	// releases
	m.HandleFunc("GET /repos/{owner}/{repo}/releases", s.listReleases)
	m.HandleFunc("POST /repos/{owner}/{repo}/releases", s.createRelease)
	m.HandleFunc("GET /repos/{owner}/{repo}/releases/latest", s.latestRelease)
	m.HandleFunc("GET /repos/{owner}/{repo}/releases/tags/{tag...}", s.releaseByTag)
	m.HandleFunc("GET /repos/{owner}/{repo}/releases/{id}", s.getRelease)
	m.HandleFunc("PATCH /repos/{owner}/{repo}/releases/{id}", s.editRelease)
	m.HandleFunc("DELETE /repos/{owner}/{repo}/releases/{id}", s.deleteRelease)
	// dispatch
	m.HandleFunc("POST /repos/{owner}/{repo}/dispatches", s.dispatch)
	// pulls
	m.HandleFunc("GET /repos/{owner}/{repo}/pulls", s.listPulls)
	m.HandleFunc("POST /repos/{owner}/{repo}/pulls", s.createPull)
	m.HandleFunc("GET /repos/{owner}/{repo}/pulls/{number}", s.getPull)
	m.HandleFunc("PATCH /repos/{owner}/{repo}/pulls/{number}", s.editPull)
	m.HandleFunc("PUT /repos/{owner}/{repo}/pulls/{number}/merge", s.mergePull)
	m.HandleFunc("GET /repos/{owner}/{repo}/pulls/{number}/merge", s.isMerged)
	// GraphQL (the github.com path; /api/graphql is rewritten to it)
	m.HandleFunc("POST /graphql", s.graphql)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { notFound(w) })
}

func sortedStrings(in []string) []string {
	out := append([]string(nil), in...)
	sort.Strings(out)
	return out
}
