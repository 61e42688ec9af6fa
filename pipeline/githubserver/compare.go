package githubserver

import (
	"net/http"
	"strings"
)

// The commit graph between two refs: GET /repos/{o}/{r}/compare/{base}...{head}
// (https://docs.github.com/en/rest/commits/commits#compare-two-commits), merge bases, and the
// trees of merges.

// maxCompareCommits is how many commits a comparison lists (GitHub's limit without pagination).
const maxCompareCommits = 250

// reach is every commit reachable from sha (sha included).
func (rp *repo) reach(sha string) map[string]bool {
	seen := map[string]bool{}
	rp.ancestors(sha, func(c string) bool { seen[c] = true; return false })
	return seen
}

// mergeBase is the nearest commit of b's history that a's history holds, "" for none.
func (rp *repo) mergeBase(a, b string) string {
	inA := rp.reach(a)
	found := ""
	rp.ancestors(b, func(c string) bool {
		if inA[c] {
			found = c
		}
		return found != ""
	})
	return found
}

// only is the commits reachable from head and not from base, parents before children.
func (rp *repo) only(head string, base map[string]bool) []string {
	var out []string
	done := map[string]bool{}
	var visit func(c string)
	visit = func(c string) {
		if done[c] || base[c] {
			return
		}
		done[c] = true
		if o := rp.objects[c]; o != nil && o.kind == "commit" {
			for _, p := range o.parents {
				visit(p)
			}
		}
		out = append(out, c)
	}
	visit(head)
	return out
}

// flatten is every file of a tree, by path.
func (rp *repo) flatten(tree string) map[string]entry {
	out := map[string]entry{}
	var walk func(t, prefix string)
	walk = func(t, prefix string) {
		for _, e := range rp.treeEntries(t) {
			if e.typ == "tree" {
				walk(e.sha, prefix+e.name+"/")
				continue
			}
			out[prefix+e.name] = e
		}
	}
	walk(tree, "")
	return out
}

// mergeTrees is ours with the file changes theirs made since base. Where both changed a file,
// theirs wins: the server does not merge file contents (SetMergeConflict and SetBranchConflict
// make pull requests conflict instead).
func (rp *repo) mergeTrees(base, ours, theirs string) string {
	was, now := rp.flatten(base), rp.flatten(theirs)
	out := ours
	var err error
	for path, e := range now {
		if old, ok := was[path]; !ok || old != e {
			if out, err = rp.setPath(out, strings.Split(path, "/"), &e); err != nil {
				return theirs // a file where ours has a directory: theirs wins whole
			}
		}
	}
	for path := range was {
		if _, ok := now[path]; !ok {
			if out, err = rp.setPath(out, strings.Split(path, "/"), nil); err != nil {
				return theirs
			}
		}
	}
	if out == "" {
		out = rp.putTree(nil)
	}
	return out
}

// mergedTree is the tree of head merged into base: base's files with head's changes since their
// merge base (head's tree when they share no history).
func (rp *repo) mergedTree(base, head string) string {
	mb := rp.mergeBase(base, head)
	if mb == "" {
		return rp.objects[head].tree
	}
	return rp.mergeTrees(rp.objects[mb].tree, rp.objects[base].tree, rp.objects[head].tree)
}

// SetBranchConflict makes every pull request from head into base, open now or opened later,
// conflict with its base (mergeable false, state dirty), or stop conflicting.
func (s *Server) SetBranchConflict(full, head, base string, conflict bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repoLocked(full)
	if s.branchConflicts == nil {
		s.branchConflicts = map[string]bool{}
	}
	s.branchConflicts[rp.key+"\x00"+head+"\x00"+base] = conflict
	for _, pr := range rp.pulls {
		if !pr.closed && pr.head == head && pr.base == base {
			pr.conflict = conflict
			pr.computed = s.opts.EagerMergeability
		}
	}
}

// branchConflictLocked reports whether SetBranchConflict marked head into base of rp.
func (s *Server) branchConflictLocked(rp *repo, head, base string) bool {
	return s.branchConflicts[rp.key+"\x00"+head+"\x00"+base]
}

// restCommitJSON is a commit as the REST commits API shows it (not the git data API's shape).
func (s *Server) restCommitJSON(r *http.Request, rp *repo, sha string) map[string]any {
	o := rp.objects[sha]
	parents := []any{}
	for _, p := range o.parents {
		parents = append(parents, map[string]any{"sha": p, "url": apiBase(r) + "repos/" + rp.owner + "/" + rp.name + "/commits/" + p})
	}
	return map[string]any{
		"sha": sha, "node_id": "C_" + sha[:12],
		"url":      apiBase(r) + "repos/" + rp.owner + "/" + rp.name + "/commits/" + sha,
		"html_url": "https://github.example/" + rp.owner + "/" + rp.name + "/commit/" + sha,
		"commit": map[string]any{
			"author": sigJSON(o.author), "committer": sigJSON(o.committer), "message": o.message,
			"tree": map[string]any{"sha": o.tree, "url": objURL(r, rp, "tree", o.tree)},
			"url":  objURL(r, rp, "commit", sha),
		},
		"parents": parents,
	}
}

// compare answers GET /compare/{base}...{head}: status identical, ahead (head has commits base
// lacks), behind (base has commits head lacks) or diverged, ahead_by and behind_by, the merge
// base, and the commits head adds, oldest first (at most 250). Either side is a branch, tag or
// commit SHA, optionally "owner:branch" with this repository's owner. Unknown refs are 404, as
// are refs without common history ("No common ancestor between …"). The file list GitHub adds
// is left out: the server does not diff contents.
func (s *Server) compare(w http.ResponseWriter, r *http.Request, rp *repo, _ caller) {
	basehead := r.PathValue("basehead")
	baseName, headName, ok := strings.Cut(basehead, "...")
	if !ok {
		notFound(w)
		return
	}
	side := func(name string) string {
		if owner, branch, found := strings.Cut(name, ":"); found {
			if !strings.EqualFold(owner, rp.owner) {
				return ""
			}
			name = branch
		}
		return rp.resolve(name)
	}
	base, head := side(baseName), side(headName)
	if base == "" || head == "" {
		notFound(w)
		return
	}
	mb := rp.mergeBase(base, head)
	if mb == "" {
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "No common ancestor between " + baseName + " and " + headName + ".", "documentation_url": docs("rest/commits/commits#compare-two-commits"), "status": "404"})
		return
	}
	ahead := rp.only(head, rp.reach(base))
	behind := rp.only(base, rp.reach(head))
	status := "diverged"
	switch {
	case base == head:
		status = "identical"
	case len(behind) == 0:
		status = "ahead"
	case len(ahead) == 0:
		status = "behind"
	}
	listed := ahead
	if len(listed) > maxCompareCommits {
		listed = listed[:maxCompareCommits]
	}
	commits := make([]any, 0, len(listed))
	for _, c := range listed {
		commits = append(commits, s.restCommitJSON(r, rp, c))
	}
	full := rp.owner + "/" + rp.name
	html := "https://github.example/" + full + "/compare/" + basehead
	writeJSON(w, http.StatusOK, map[string]any{
		"url": apiBase(r) + "repos/" + full + "/compare/" + basehead, "html_url": html,
		"permalink_url": "https://github.example/" + full + "/compare/" + base[:12] + "..." + head[:12],
		"diff_url":      html + ".diff", "patch_url": html + ".patch",
		"base_commit": s.restCommitJSON(r, rp, base), "merge_base_commit": s.restCommitJSON(r, rp, mb),
		"status": status, "ahead_by": len(ahead), "behind_by": len(behind), "total_commits": len(ahead),
		"commits": commits,
	})
}
