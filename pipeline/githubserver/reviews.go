package githubserver

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
)

// review is a submitted pull request review.
type review struct {
	id     int64
	login  string
	state  string // APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED
	commit string
	writer bool // the reviewer had push access when reviewing: only then does it count
	at     time.Time
}

// RequestReviewers asks logins to review pull request number, as its author would.
func (s *Server) RequestReviewers(full string, number int, logins ...string) {
	s.withPull(full, number, func(_ *repo, pr *pull) {
		for _, l := range logins {
			if !slices.Contains(pr.requested, l) {
				pr.requested = append(pr.requested, l)
			}
		}
	})
}

func logins(ls []string) []map[string]any {
	out := []map[string]any{}
	for _, l := range ls {
		out = append(out, map[string]any{"login": l, "type": "User"})
	}
	return out
}

// verdicts is each reviewer's standing review: the latest that approved, requested changes or was
// dismissed (comments change nothing), from reviewers with push access other than the author.
func (rp *repo) verdicts(pr *pull) map[string]string {
	out := map[string]string{}
	for _, rv := range pr.reviews {
		if rv.writer && rv.login != pr.author && rv.state != "COMMENTED" {
			out[rv.login] = rv.state
		}
	}
	return out
}

// reviewBlock is GitHub's refusal when pr lacks the reviews the base branch requires, "" when it
// has them (or the base branch requires none).
func (rp *repo) reviewBlock(pr *pull) string {
	if rp.requiredApprovals == 0 || pr.base != rp.defaultBranch {
		return ""
	}
	approved := 0
	var changes []string
	verdicts := rp.verdicts(pr)
	for _, login := range slices.Sorted(maps.Keys(verdicts)) {
		switch verdicts[login] {
		case "APPROVED":
			approved++
		case "CHANGES_REQUESTED":
			changes = append(changes, login)
		}
	}
	if len(changes) > 0 {
		return fmt.Sprintf("Changes requested by %s must be addressed before merging.", strings.Join(changes, ", "))
	}
	if approved < rp.requiredApprovals {
		return fmt.Sprintf("At least %d approving review(s) is required by reviewers with write access.", rp.requiredApprovals)
	}
	return ""
}

// reviewJSON renders a review. author_association is COLLABORATOR for reviewers with push access
// and NONE otherwise (GitHub also says COLLABORATOR for read-only collaborators).
func reviewJSON(rv *review) map[string]any {
	assoc := "NONE"
	if rv.writer {
		assoc = "COLLABORATOR"
	}
	return map[string]any{"id": rv.id, "node_id": nodeID("PRR", rv.id), "user": map[string]any{"login": rv.login}, "state": rv.state,
		"commit_id": rv.commit, "submitted_at": rv.at.UTC().Format(time.RFC3339), "body": "", "author_association": assoc}
}

func (s *Server) listReviews(w http.ResponseWriter, r *http.Request, _ *repo, _ caller, pr *pull) {
	page(s, w, r, pr.reviews, reviewJSON)
}

// createReview submits a review (event APPROVE, REQUEST_CHANGES or COMMENT). Anyone who can read
// the repository may review; only reviews of writers count toward the base branch's rule.
func (s *Server) createReview(w http.ResponseWriter, r *http.Request, rp *repo, c caller, pr *pull) {
	var in struct {
		Event    string `json:"event"`
		CommitID string `json:"commit_id"`
	}
	if !decode(w, r, &in) {
		return
	}
	state, ok := map[string]string{"APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED", "COMMENT": "COMMENTED"}[in.Event]
	switch {
	case !ok:
		validation(w, "PullRequestReview", "event", "invalid", "")
		return
	case c.login() == pr.author && state != "COMMENTED":
		unprocessable(w, fmt.Sprintf("Review Can not %s your own pull request", map[string]string{"APPROVED": "approve", "CHANGES_REQUESTED": "request changes on"}[state]))
		return
	case pr.closed:
		unprocessable(w, "Pull request is closed")
		return
	}
	if in.CommitID == "" {
		in.CommitID = rp.headSHA(pr)
	}
	rv := &review{id: s.id(), login: c.login(), state: state, commit: in.CommitID, writer: c.perm(rp) >= PermPush, at: s.clk.Now()}
	pr.reviews = append(pr.reviews, rv)
	pr.requested = slices.DeleteFunc(pr.requested, func(l string) bool { return l == rv.login })
	pr.computed = s.opts.EagerMergeability
	s.runAutoMergesLocked(rp)
	writeJSON(w, http.StatusOK, reviewJSON(rv))
}

// branchRules answers GET /rules/branches/{branch}: the rules of the default branch (a
// pull_request rule when approvals are required, and the required status check); other branches
// have none.
func (s *Server) branchRules(w http.ResponseWriter, r *http.Request, rp *repo, _ caller) {
	rules := []any{}
	if r.PathValue("branch") == rp.defaultBranch {
		if rp.requiredApprovals > 0 {
			rules = append(rules, map[string]any{"type": "pull_request", "ruleset_source_type": "Repository", "ruleset_id": 1,
				"parameters": map[string]any{"required_approving_review_count": rp.requiredApprovals, "dismiss_stale_reviews_on_push": false,
					"require_code_owner_review": false, "require_last_push_approval": false, "required_review_thread_resolution": false}})
		}
		rules = append(rules, map[string]any{"type": "required_status_checks", "ruleset_source_type": "Repository", "ruleset_id": 1,
			"parameters": map[string]any{"required_status_checks": []any{map[string]any{"context": rp.requiredCheck}}, "strict_required_status_checks_policy": false}})
	}
	writeJSON(w, http.StatusOK, rules)
}

// checkRuns answers GET /commits/{ref}/check-runs: the server's required check is a commit
// status, so there are none.
func (s *Server) checkRuns(w http.ResponseWriter, r *http.Request, _ *repo, _ caller) {
	writeJSON(w, http.StatusOK, map[string]any{"total_count": 0, "check_runs": []any{}})
}
