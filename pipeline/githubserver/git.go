package githubserver

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"
)

// object is a git object, hashed as git hashes it.
type object struct {
	kind    string // blob, tree, commit, tag
	data    []byte
	entries []entry
	// commit
	tree              string
	parents           []string
	author, committer signature
	message           string
	// tag
	tagName, tagObject, tagType string
	tagger                      signature
}

type entry struct {
	name, mode, typ, sha string
}

type signature struct {
	Name  string    `json:"name"`
	Email string    `json:"email"`
	Date  time.Time `json:"date"`
}

func (g signature) git() string {
	return fmt.Sprintf("%s <%s> %d +0000", g.Name, g.Email, g.Date.Unix())
}

func hashObject(kind string, body []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "%s %d\x00", kind, len(body))
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

func (rp *repo) put(o *object, body []byte) string {
	sha := hashObject(o.kind, body)
	if _, ok := rp.objects[sha]; !ok {
		rp.objects[sha] = o
	}
	return sha
}

func (rp *repo) putBlob(data []byte) string {
	return rp.put(&object{kind: "blob", data: append([]byte(nil), data...)}, data)
}

func treeSortKey(e entry) string {
	if e.typ == "tree" {
		return e.name + "/"
	}
	return e.name
}

func (rp *repo) putTree(entries []entry) string {
	es := append([]entry(nil), entries...)
	sort.Slice(es, func(i, j int) bool { return treeSortKey(es[i]) < treeSortKey(es[j]) })
	var b bytes.Buffer
	for _, e := range es {
		mode := strings.TrimPrefix(e.mode, "0")
		raw, _ := hex.DecodeString(e.sha)
		fmt.Fprintf(&b, "%s %s\x00", mode, e.name)
		b.Write(raw)
	}
	return rp.put(&object{kind: "tree", entries: es}, b.Bytes())
}

func (rp *repo) putCommit(tree string, parents []string, author, committer signature, msg string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "tree %s\n", tree)
	for _, p := range parents {
		fmt.Fprintf(&b, "parent %s\n", p)
	}
	fmt.Fprintf(&b, "author %s\ncommitter %s\n\n%s", author.git(), committer.git(), msg)
	return rp.put(&object{kind: "commit", tree: tree, parents: append([]string(nil), parents...), author: author, committer: committer, message: msg}, []byte(b.String()))
}

func (rp *repo) putTag(name, obj, typ string, tagger signature, msg string) string {
	body := fmt.Sprintf("object %s\ntype %s\ntag %s\ntagger %s\n\n%s", obj, typ, name, tagger.git(), msg)
	return rp.put(&object{kind: "tag", tagName: name, tagObject: obj, tagType: typ, tagger: tagger, message: msg}, []byte(body))
}

func (rp *repo) treeEntries(sha string) []entry {
	if sha == "" {
		return nil
	}
	if o := rp.objects[sha]; o != nil && o.kind == "tree" {
		return o.entries
	}
	return nil
}

// setPath returns the tree that is tree with parts set to e (nil deletes), creating subtrees.
func (rp *repo) setPath(tree string, parts []string, e *entry) (string, error) {
	if len(parts) == 0 || parts[0] == "" {
		return "", fmt.Errorf("empty path element")
	}
	entries := append([]entry(nil), rp.treeEntries(tree)...)
	idx := -1
	for i, x := range entries {
		if x.name == parts[0] {
			idx = i
		}
	}
	var next *entry
	if len(parts) == 1 {
		if e != nil {
			n := *e
			n.name = parts[0]
			next = &n
		}
	} else {
		sub := ""
		if idx >= 0 {
			if entries[idx].typ != "tree" {
				return "", fmt.Errorf("%s is not a directory", parts[0])
			}
			sub = entries[idx].sha
		}
		subSHA, err := rp.setPath(sub, parts[1:], e)
		if err != nil {
			return "", err
		}
		if len(rp.treeEntries(subSHA)) > 0 {
			next = &entry{name: parts[0], mode: "040000", typ: "tree", sha: subSHA}
		}
	}
	switch {
	case idx >= 0 && next != nil:
		entries[idx] = *next
	case idx >= 0:
		entries = append(entries[:idx], entries[idx+1:]...)
	case next != nil:
		entries = append(entries, *next)
	}
	return rp.putTree(entries), nil
}

func (rp *repo) lookup(tree string, parts []string) *entry {
	entries := rp.treeEntries(tree)
	for _, x := range entries {
		if x.name != parts[0] {
			continue
		}
		if len(parts) == 1 {
			e := x
			return &e
		}
		if x.typ != "tree" {
			return nil
		}
		return rp.lookup(x.sha, parts[1:])
	}
	return nil
}

// peel follows tag objects to what they point at.
func (rp *repo) peel(sha string) string {
	for i := 0; i < 10; i++ {
		o := rp.objects[sha]
		if o == nil || o.kind != "tag" {
			return sha
		}
		sha = o.tagObject
	}
	return sha
}

// resolve turns a ref name, branch, tag or SHA into a commit SHA ("" when unknown).
func (rp *repo) resolve(ref string) string {
	if ref == "" {
		ref = rp.defaultBranch
	}
	for _, full := range []string{ref, "refs/" + ref, "refs/heads/" + ref, "refs/tags/" + ref} {
		if sha, ok := rp.refs[full]; ok {
			return rp.peel(sha)
		}
	}
	if o := rp.objects[ref]; o != nil {
		sha := rp.peel(ref)
		if c := rp.objects[sha]; c != nil && c.kind == "commit" {
			return sha
		}
	}
	return ""
}

// isAncestor reports whether a is b or an ancestor of b.
func (rp *repo) isAncestor(a, b string) bool {
	return rp.ancestors(b, func(c string) bool { return c == a })
}

// ancestors visits sha and its ancestors, nearest first (breadth first), each once, until visit
// returns true; it reports whether it did.
func (rp *repo) ancestors(sha string, visit func(c string) bool) bool {
	seen := map[string]bool{}
	queue := []string{sha}
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		if seen[c] {
			continue
		}
		seen[c] = true
		if visit(c) {
			return true
		}
		if o := rp.objects[c]; o != nil && o.kind == "commit" {
			queue = append(queue, o.parents...)
		}
	}
	return false
}

// protectedTag reports whether ref is the tag of a published release in a repository with
// immutable releases.
func (rp *repo) protectedTag(ref string) bool {
	if !rp.immutableReleases || !strings.HasPrefix(ref, "refs/tags/") {
		return false
	}
	tag := strings.TrimPrefix(ref, "refs/tags/")
	for _, rel := range rp.releases {
		if !rel.draft && rel.tag == tag {
			return true
		}
	}
	return false
}

// ---- JSON shapes

func objURL(r *http.Request, rp *repo, kind, sha string) string {
	return apiBase(r) + "repos/" + rp.owner + "/" + rp.name + "/git/" + kind + "s/" + sha
}

func (s *Server) refJSON(r *http.Request, rp *repo, ref string) map[string]any {
	sha := rp.refs[ref]
	kind := "commit"
	if o := rp.objects[sha]; o != nil {
		kind = o.kind
	}
	return map[string]any{
		"ref": ref, "node_id": "REF_" + strings.ReplaceAll(ref, "/", "_"),
		"url":    apiBase(r) + "repos/" + rp.owner + "/" + rp.name + "/git/" + ref,
		"object": map[string]any{"type": kind, "sha": sha, "url": objURL(r, rp, kind, sha)},
	}
}

func sigJSON(g signature) map[string]any {
	return map[string]any{"name": g.Name, "email": g.Email, "date": g.Date.UTC().Format(time.RFC3339)}
}

func (s *Server) commitJSON(r *http.Request, rp *repo, sha string) map[string]any {
	o := rp.objects[sha]
	parents := []any{}
	for _, p := range o.parents {
		parents = append(parents, map[string]any{"sha": p, "url": objURL(r, rp, "commit", p)})
	}
	return map[string]any{
		"sha": sha, "node_id": "C_" + sha[:12], "url": objURL(r, rp, "commit", sha),
		"html_url": "https://github.example/" + rp.owner + "/" + rp.name + "/commit/" + sha,
		"author":   sigJSON(o.author), "committer": sigJSON(o.committer), "message": o.message,
		"tree":         map[string]any{"sha": o.tree, "url": objURL(r, rp, "tree", o.tree)},
		"parents":      parents,
		"verification": map[string]any{"verified": false, "reason": "unsigned", "signature": nil, "payload": nil},
	}
}

func (s *Server) treeJSON(r *http.Request, rp *repo, sha string, recursive bool) map[string]any {
	var list []any
	var walk func(tree, prefix string)
	walk = func(tree, prefix string) {
		for _, e := range rp.treeEntries(tree) {
			m := map[string]any{"path": prefix + e.name, "mode": e.mode, "type": e.typ, "sha": e.sha, "url": objURL(r, rp, e.typ, e.sha)}
			if e.typ == "blob" {
				m["size"] = len(rp.objects[e.sha].data)
			}
			list = append(list, m)
			if recursive && e.typ == "tree" {
				walk(e.sha, prefix+e.name+"/")
			}
		}
	}
	walk(sha, "")
	if list == nil {
		list = []any{}
	}
	return map[string]any{"sha": sha, "url": objURL(r, rp, "tree", sha), "tree": list, "truncated": false}
}

// ---- HTTP: refs

func (s *Server) getRef(w http.ResponseWriter, r *http.Request, rp *repo, _ caller) {
	ref := "refs/" + r.PathValue("ref")
	if _, ok := rp.refs[ref]; !ok {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, s.refJSON(r, rp, ref))
}

func (s *Server) matchingRefs(w http.ResponseWriter, r *http.Request, rp *repo, _ caller) {
	prefix := "refs/" + r.PathValue("ref")
	var out []string
	for _, ref := range slices.Sorted(maps.Keys(rp.refs)) {
		if strings.HasPrefix(ref, prefix) {
			out = append(out, ref)
		}
	}
	page(s, w, r, out, func(ref string) map[string]any { return s.refJSON(r, rp, ref) })
}

func (s *Server) createRef(w http.ResponseWriter, r *http.Request, rp *repo, _ caller) {
	var in struct {
		Ref string `json:"ref"`
		SHA string `json:"sha"`
	}
	if !decode(w, r, &in) {
		return
	}
	if !strings.HasPrefix(in.Ref, "refs/") || strings.Count(in.Ref, "/") < 2 || strings.HasSuffix(in.Ref, "/") || strings.Contains(in.Ref, "..") {
		unprocessable(w, "Reference name is invalid")
		return
	}
	if rp.objects[in.SHA] == nil {
		unprocessable(w, "Object does not exist")
		return
	}
	if _, exists := rp.refs[in.Ref]; exists {
		unprocessable(w, "Reference already exists")
		return
	}
	rp.refs[in.Ref] = in.SHA
	s.touchPullsLocked(rp)
	writeJSON(w, http.StatusCreated, s.refJSON(r, rp, in.Ref))
}

func (s *Server) updateRef(w http.ResponseWriter, r *http.Request, rp *repo, _ caller) {
	var in struct {
		SHA   string `json:"sha"`
		Force bool   `json:"force"`
	}
	if !decode(w, r, &in) {
		return
	}
	ref := "refs/" + r.PathValue("ref")
	cur, exists := rp.refs[ref]
	if !exists {
		unprocessable(w, "Reference does not exist")
		return
	}
	if rp.objects[in.SHA] == nil {
		unprocessable(w, "Object does not exist")
		return
	}
	if rp.protectedTag(ref) && cur != in.SHA {
		unprocessable(w, "Cannot update a tag that belongs to an immutable release")
		return
	}
	if !in.Force && !rp.isAncestor(cur, in.SHA) {
		unprocessable(w, "Update is not a fast forward")
		return
	}
	rp.refs[ref] = in.SHA
	s.touchPullsLocked(rp)
	writeJSON(w, http.StatusOK, s.refJSON(r, rp, ref))
}

func (s *Server) deleteRef(w http.ResponseWriter, r *http.Request, rp *repo, _ caller) {
	ref := "refs/" + r.PathValue("ref")
	if _, exists := rp.refs[ref]; !exists {
		unprocessable(w, "Reference does not exist")
		return
	}
	if rp.protectedTag(ref) {
		unprocessable(w, "Cannot delete a tag that belongs to an immutable release")
		return
	}
	delete(rp.refs, ref)
	s.touchPullsLocked(rp)
	w.WriteHeader(http.StatusNoContent)
}

// ---- HTTP: objects

func (s *Server) createBlob(w http.ResponseWriter, r *http.Request, rp *repo, _ caller) {
	var in struct {
		Content  *string `json:"content"`
		Encoding string  `json:"encoding"`
	}
	if !decode(w, r, &in) {
		return
	}
	if in.Content == nil {
		validation(w, "Blob", "content", "missing_field", "")
		return
	}
	data := []byte(*in.Content)
	switch in.Encoding {
	case "", "utf-8":
	case "base64":
		d, err := base64.StdEncoding.DecodeString(*in.Content)
		if err != nil {
			unprocessable(w, "content is not valid Base64")
			return
		}
		data = d
	default:
		validation(w, "Blob", "encoding", "invalid", "")
		return
	}
	sha := rp.putBlob(data)
	writeJSON(w, http.StatusCreated, map[string]any{"sha": sha, "url": objURL(r, rp, "blob", sha)})
}

func (s *Server) getBlob(w http.ResponseWriter, r *http.Request, rp *repo, _ caller) {
	o := objectIn(w, r, rp, "blob")
	if o == nil {
		return
	}
	if strings.Contains(r.Header.Get("Accept"), "raw") {
		w.Header().Set("Content-Type", "application/vnd.github.raw")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(o.data)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"sha": r.PathValue("sha"), "size": len(o.data), "content": wrap64(o.data), "encoding": "base64", "url": objURL(r, rp, "blob", r.PathValue("sha"))})
}

func wrap64(b []byte) string {
	enc := base64.StdEncoding.EncodeToString(b)
	var out strings.Builder
	for len(enc) > 60 {
		out.WriteString(enc[:60])
		out.WriteString("\n")
		enc = enc[60:]
	}
	out.WriteString(enc)
	out.WriteString("\n")
	return out.String()
}

func (s *Server) createTree(w http.ResponseWriter, r *http.Request, rp *repo, _ caller) {
	var in struct {
		BaseTree string `json:"base_tree"`
		Tree     []struct {
			Path    string          `json:"path"`
			Mode    string          `json:"mode"`
			Type    string          `json:"type"`
			SHA     json.RawMessage `json:"sha"`
			Content *string         `json:"content"`
		} `json:"tree"`
	}
	if !decode(w, r, &in) {
		return
	}
	if in.BaseTree != "" {
		if o := rp.objects[in.BaseTree]; o == nil || o.kind != "tree" {
			unprocessable(w, "base_tree is not a valid tree oid")
			return
		}
	}
	if len(in.Tree) == 0 {
		validation(w, "Tree", "tree", "missing_field", "")
		return
	}
	tree := in.BaseTree
	for _, e := range in.Tree {
		if e.Path == "" || strings.HasPrefix(e.Path, "/") {
			unprocessable(w, "tree.path contains a malformed path component")
			return
		}
		var ent *entry
		switch {
		case e.Content != nil:
			ent = &entry{mode: e.Mode, typ: "blob", sha: rp.putBlob([]byte(*e.Content))}
		case string(e.SHA) == "null":
			ent = nil
		default:
			var sha string
			if json.Unmarshal(e.SHA, &sha) != nil || rp.objects[sha] == nil {
				unprocessable(w, "tree.sha "+strings.Trim(string(e.SHA), `"`)+" is not a valid blob")
				return
			}
			ent = &entry{mode: e.Mode, typ: e.Type, sha: sha}
			if ent.typ == "" {
				ent.typ = rp.objects[sha].kind
			}
		}
		if ent != nil && ent.mode == "" {
			unprocessable(w, "Must supply tree.mode")
			return
		}
		var err error
		tree, err = rp.setPath(tree, strings.Split(e.Path, "/"), ent)
		if err != nil {
			unprocessable(w, "tree.path: "+err.Error())
			return
		}
	}
	if tree == "" {
		tree = rp.putTree(nil)
	}
	writeJSON(w, http.StatusCreated, s.treeJSON(r, rp, tree, false))
}

func (s *Server) getTree(w http.ResponseWriter, r *http.Request, rp *repo, _ caller) {
	sha := r.PathValue("sha")
	if o := rp.objects[sha]; o != nil && o.kind == "commit" {
		sha = o.tree
	}
	if o := rp.objects[sha]; o == nil || o.kind != "tree" {
		notFound(w)
		return
	}
	rec := r.URL.Query().Get("recursive")
	writeJSON(w, http.StatusOK, s.treeJSON(r, rp, sha, rec != "" && rec != "0" && rec != "false"))
}

func (s *Server) createCommit(w http.ResponseWriter, r *http.Request, rp *repo, c caller) {
	var in struct {
		Message   string     `json:"message"`
		Tree      string     `json:"tree"`
		Parents   []string   `json:"parents"`
		Author    *signature `json:"author"`
		Committer *signature `json:"committer"`
	}
	if !decode(w, r, &in) {
		return
	}
	if in.Message == "" {
		validation(w, "Commit", "message", "missing_field", "")
		return
	}
	if o := rp.objects[in.Tree]; o == nil || o.kind != "tree" {
		unprocessable(w, "Tree SHA does not exist")
		return
	}
	for _, p := range in.Parents {
		if o := rp.objects[p]; o == nil || o.kind != "commit" {
			unprocessable(w, "Parent SHA does not exist or is not a commit object")
			return
		}
	}
	now := s.clk.Now()
	who := signature{Name: c.login(), Email: c.login() + "@users.noreply.github.example", Date: now}
	author := who
	if in.Author != nil {
		author = *in.Author
		if author.Date.IsZero() {
			author.Date = now
		}
	}
	committer := author
	if in.Committer != nil {
		committer = *in.Committer
		if committer.Date.IsZero() {
			committer.Date = now
		}
	}
	sha := rp.putCommit(in.Tree, in.Parents, author, committer, in.Message)
	writeJSON(w, http.StatusCreated, s.commitJSON(r, rp, sha))
}

// objectIn is the git object {sha} of that kind in rp, nil (after answering 404, as GitHub
// does) when there is none.
func objectIn(w http.ResponseWriter, r *http.Request, rp *repo, kind string) *object {
	o := rp.objects[r.PathValue("sha")]
	if o == nil || o.kind != kind {
		notFound(w)
		return nil
	}
	return o
}

func (s *Server) getCommit(w http.ResponseWriter, r *http.Request, rp *repo, _ caller) {
	if objectIn(w, r, rp, "commit") != nil {
		writeJSON(w, http.StatusOK, s.commitJSON(r, rp, r.PathValue("sha")))
	}
}

func (s *Server) tagJSON(r *http.Request, rp *repo, sha string) map[string]any {
	o := rp.objects[sha]
	return map[string]any{
		"sha": sha, "url": objURL(r, rp, "tag", sha), "tag": o.tagName, "message": o.message,
		"tagger": sigJSON(o.tagger),
		"object": map[string]any{"type": o.tagType, "sha": o.tagObject, "url": objURL(r, rp, o.tagType, o.tagObject)},
	}
}

func (s *Server) createTagObject(w http.ResponseWriter, r *http.Request, rp *repo, c caller) {
	var in struct {
		Tag     string     `json:"tag"`
		Message string     `json:"message"`
		Object  string     `json:"object"`
		Type    string     `json:"type"`
		Tagger  *signature `json:"tagger"`
	}
	if !decode(w, r, &in) {
		return
	}
	o := rp.objects[in.Object]
	if in.Tag == "" || o == nil || (in.Type != "" && in.Type != o.kind) {
		unprocessable(w, "Object does not exist")
		return
	}
	tagger := signature{Name: c.login(), Email: c.login() + "@users.noreply.github.example", Date: s.clk.Now()}
	if in.Tagger != nil {
		tagger = *in.Tagger
	}
	sha := rp.putTag(in.Tag, in.Object, o.kind, tagger, in.Message)
	writeJSON(w, http.StatusCreated, s.tagJSON(r, rp, sha))
}

func (s *Server) getTagObject(w http.ResponseWriter, r *http.Request, rp *repo, _ caller) {
	if objectIn(w, r, rp, "tag") != nil {
		writeJSON(w, http.StatusOK, s.tagJSON(r, rp, r.PathValue("sha")))
	}
}

func (s *Server) getContents(w http.ResponseWriter, r *http.Request, rp *repo, _ caller) {
	commit := rp.resolve(r.URL.Query().Get("ref"))
	if commit == "" {
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "No commit found for the ref " + r.URL.Query().Get("ref"), "documentation_url": docs("rest/repos/contents"), "status": "404"})
		return
	}
	p := strings.Trim(r.PathValue("path"), "/")
	tree := rp.objects[commit].tree
	fileJSON := func(path string, e entry) map[string]any {
		m := map[string]any{"type": map[string]string{"blob": "file", "tree": "dir"}[e.typ], "name": e.name, "path": path, "sha": e.sha,
			"url":      apiBase(r) + "repos/" + rp.owner + "/" + rp.name + "/contents/" + path,
			"git_url":  objURL(r, rp, e.typ, e.sha),
			"html_url": "https://github.example/" + rp.owner + "/" + rp.name + "/blob/" + commit + "/" + path}
		if e.typ == "blob" {
			m["size"] = len(rp.objects[e.sha].data)
		}
		return m
	}
	listDir := func(t, prefix string) {
		out := []any{}
		for _, e := range rp.treeEntries(t) {
			out = append(out, fileJSON(prefix+e.name, e))
		}
		writeJSON(w, http.StatusOK, out)
	}
	if p == "" {
		listDir(tree, "")
		return
	}
	e := rp.lookup(tree, strings.Split(p, "/"))
	if e == nil {
		notFound(w)
		return
	}
	if e.typ == "tree" {
		listDir(e.sha, p+"/")
		return
	}
	m := fileJSON(p, *e)
	m["encoding"] = "base64"
	m["content"] = wrap64(rp.objects[e.sha].data)
	writeJSON(w, http.StatusOK, m)
}
