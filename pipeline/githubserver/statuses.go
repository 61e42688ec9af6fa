package githubserver

import (
	"net/http"
	"strings"
	"time"
)

// status is one commit status as POST /statuses/{sha} created it.
type status struct {
	id          int64
	sha         string
	context     string
	state       string
	targetURL   string
	description string
	creator     string
	created     time.Time
}

// CommitStatus is a commit status as the server stores it.
type CommitStatus struct {
	SHA, Context, State, TargetURL, Description, Creator string
}

// Statuses returns the statuses posted on commit sha, oldest first (the required check's state set
// with SetCheckState is not among them unless someone posted it).
func (s *Server) Statuses(full, sha string) []CommitStatus {
	return each(s, full, func(rp *repo) []*status { return rp.statuses[sha] }, func(_ *repo, st *status) CommitStatus {
		return CommitStatus{SHA: st.sha, Context: st.context, State: st.state, TargetURL: st.targetURL, Description: st.description, Creator: st.creator}
	})
}

// maxStatusesPerContext is GitHub's limit of statuses per commit and context.
const maxStatusesPerContext = 1000

func validStatusState(s string) bool {
	switch s {
	case "error", "failure", "pending", "success":
		return true
	}
	return false
}

// createStatus answers POST /statuses/{sha} (201). A status of the required check's context also
// sets that check's state, so merges and auto-merges see it.
func (s *Server) createStatus(w http.ResponseWriter, r *http.Request, rp *repo, c caller) {
	var in struct {
		State       string `json:"state"`
		TargetURL   string `json:"target_url"`
		Description string `json:"description"`
		Context     string `json:"context"`
	}
	if !decode(w, r, &in) {
		return
	}
	sha := r.PathValue("sha")
	if o := rp.objects[sha]; o == nil || o.kind != "commit" {
		unprocessable(w, "No commit found for SHA: "+sha)
		return
	}
	switch {
	case !validStatusState(in.State):
		validation(w, "Status", "state", "invalid", "")
		return
	case len([]rune(in.Description)) > 140:
		validation(w, "Status", "description", "custom", "description is too long (maximum is 140 characters)")
		return
	}
	if in.Context == "" {
		in.Context = "default"
	}
	n := 0
	for _, st := range rp.statuses[sha] {
		if strings.EqualFold(st.context, in.Context) {
			n++
		}
	}
	if n >= maxStatusesPerContext {
		validation(w, "Status", "context", "custom", "This SHA and context has reached the maximum number of statuses.")
		return
	}
	st := &status{id: s.id(), sha: sha, context: in.Context, state: in.State, targetURL: in.TargetURL, description: in.Description, creator: c.login(), created: s.clk.Now()}
	rp.statuses[sha] = append(rp.statuses[sha], st)
	if strings.EqualFold(in.Context, rp.requiredCheck) {
		s.setCheckLocked(rp, sha, in.State)
	}
	writeJSON(w, http.StatusCreated, statusJSON(r, rp, st))
}

func statusJSON(r *http.Request, rp *repo, st *status) map[string]any {
	m := map[string]any{
		"id": st.id, "node_id": nodeID("SC", st.id), "state": st.state, "context": st.context,
		"description": nilIfEmpty(st.description), "target_url": nilIfEmpty(st.targetURL),
		"created_at": st.created.UTC().Format(time.RFC3339), "updated_at": st.created.UTC().Format(time.RFC3339),
		"url": apiBase(r) + "repos/" + rp.owner + "/" + rp.name + "/statuses/" + st.sha,
	}
	if st.creator != "" {
		m["creator"] = map[string]any{"login": st.creator}
	}
	return m
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// statusesOf is every status of commit sha, newest first: the posted ones, and the required
// check's state (SetCheckState) as the oldest when nobody posted that context.
func (s *Server) statusesOf(rp *repo, sha string) []*status {
	posted := rp.statuses[sha]
	out := make([]*status, 0, len(posted)+1)
	required := false
	for i := len(posted) - 1; i >= 0; i-- {
		out = append(out, posted[i])
		required = required || strings.EqualFold(posted[i].context, rp.requiredCheck)
	}
	if !required {
		st := rp.checkState(sha)
		out = append(out, &status{sha: sha, context: rp.requiredCheck, state: st, description: "required check " + st, created: rp.objects[sha].committer.Date})
	}
	return out
}

// latestPerContext keeps the newest status of each context (case-insensitive); the required
// check's state is the one SetCheckState or the last post gave it.
func latestPerContext(rp *repo, all []*status) []*status {
	seen := map[string]bool{}
	var out []*status
	for _, st := range all {
		k := strings.ToLower(st.context)
		if seen[k] {
			continue
		}
		seen[k] = true
		if strings.EqualFold(st.context, rp.requiredCheck) {
			cp := *st
			cp.state = rp.checkState(st.sha)
			st = &cp
		}
		out = append(out, st)
	}
	return out
}

// combinedState is GitHub's rule: failure if any context is error or failure, pending if there
// are none or any is pending, success when every context's latest status is success.
func combinedState(latest []*status) string {
	state := "success"
	if len(latest) == 0 {
		state = "pending"
	}
	for _, st := range latest {
		switch st.state {
		case "error", "failure":
			return "failure"
		case "pending":
			state = "pending"
		}
	}
	return state
}

// commitOf resolves {ref} to a commit, or answers 422 as GitHub does.
func commitOf(w http.ResponseWriter, r *http.Request, rp *repo) string {
	sha := rp.resolve(r.PathValue("ref"))
	if sha == "" {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": "No commit found for SHA: " + r.PathValue("ref"), "documentation_url": docs("rest"), "status": "422"})
	}
	return sha
}

// listStatuses answers GET /commits/{ref}/statuses: every status, newest first, paginated.
func (s *Server) listStatuses(w http.ResponseWriter, r *http.Request, rp *repo, _ caller) {
	if sha := commitOf(w, r, rp); sha != "" {
		page(s, w, r, s.statusesOf(rp, sha), func(st *status) map[string]any { return statusJSON(r, rp, st) })
	}
}

// combinedStatus answers GET /commits/{ref}/status: the latest status of each context and the
// combined state.
func (s *Server) combinedStatus(w http.ResponseWriter, r *http.Request, rp *repo, _ caller) {
	sha := commitOf(w, r, rp)
	if sha == "" {
		return
	}
	latest := latestPerContext(rp, s.statusesOf(rp, sha))
	out := make([]any, 0, len(latest))
	for _, st := range latest {
		out = append(out, statusJSON(r, rp, st))
	}
	writeJSON(w, http.StatusOK, map[string]any{"state": combinedState(latest), "sha": sha, "total_count": len(latest), "statuses": out,
		"repository": map[string]any{"full_name": rp.owner + "/" + rp.name}})
}
