package github

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	gh "github.com/google/go-github/v62/github"

	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/version"
)

// Readiness says whether the release pull request may be merged now, as its base branch requires.
type Readiness struct {
	// PR is the open release pull request, nil when there is none.
	PR *PR
	// Ready: open, not a draft, approved as the base branch requires, and every required check of
	// its head passed.
	Ready bool
	// Missing says what blocks the merge, one line each: no pull request, a draft, the reviews
	// missing (naming who must approve), required checks that failed.
	Missing []string
	// Waiting names the required checks still running (or not reported yet): only these may be
	// waited for with auto-merge.
	Waiting []string
}

// ReadinessOptions configure PRReadiness.
type ReadinessOptions struct {
	// SkipReviews leaves reviews out (a candidate, or a repository without reviews): only the
	// required checks count.
	SkipReviews bool
	// AllowDraft accepts a draft pull request (a candidate's PR may still be one).
	AllowDraft bool
	// Commit, when set, is the commit whose required checks count instead of the PR's head: the
	// source commit publish releases (the head may already be its finalize commit on a re-run).
	Commit string
}

// PRReadiness looks at the open pull request from release/X.Y.Z into base: not a draft, approved
// as the base branch's rules require (GET /rules/branches/{base}, readable with metadata: read),
// and its head's required checks passed (commit statuses and check runs). Approvals count as
// GitHub counts them as far as the API shows: each reviewer's latest approval or request for
// changes, not the author's, from reviewers associated with the repository (owner, member,
// collaborator). GitHub remains the judge when the merge is made. Branch protection rules that
// only an admin can read are not seen.
func (c *Client) PRReadiness(ctx context.Context, r Repo, v version.Version, base string, o ReadinessOptions) (Readiness, error) {
	prs, err := c.openReleasePRs(ctx, r, v, base)
	if err != nil {
		return Readiness{}, err
	}
	if len(prs) == 0 {
		return Readiness{Missing: []string{fmt.Sprintf("no open pull request from %s into %s in %s: run prepare", v.Branch(), base, r)}}, nil
	}
	p := prs[0]
	rd := Readiness{PR: prFromGH(p)}
	if p.GetDraft() && !o.AllowDraft {
		rd.Missing = append(rd.Missing, fmt.Sprintf("pull request #%d is a draft: mark it ready for review (%s)", p.GetNumber(), p.GetHTMLURL()))
	}
	approvals, contexts, err := c.branchRules(ctx, r, base)
	if err != nil {
		return Readiness{}, err
	}
	if !o.SkipReviews && approvals > 0 {
		missing, err := c.missingReviews(ctx, r, p, approvals)
		if err != nil {
			return Readiness{}, err
		}
		rd.Missing = append(rd.Missing, missing...)
	}
	sha := p.GetHead().GetSHA()
	if o.Commit != "" {
		sha = o.Commit
	}
	failed, pending, err := c.requiredChecks(ctx, r, sha, contexts)
	if err != nil {
		return Readiness{}, err
	}
	rd.Missing = append(rd.Missing, failed...)
	rd.Waiting = pending
	rd.Ready = len(rd.Missing) == 0 && len(rd.Waiting) == 0
	return rd, nil
}

// branchRules reads the rules of base: the approving reviews required and the required checks.
func (c *Client) branchRules(ctx context.Context, r Repo, base string) (int, []string, error) {
	op := fmt.Sprintf("read the rules of branch %s of %s", base, r)
	rules, _, err := c.gh.Repositories.GetRulesForBranch(ctx, r.Owner, r.Name, base)
	if err != nil {
		return 0, nil, c.wrap(err, op, r, "metadata: read")
	}
	approvals := 0
	var contexts []string
	for _, rule := range rules {
		if rule.Parameters == nil {
			continue
		}
		switch rule.Type {
		case "pull_request":
			var p gh.PullRequestRuleParameters
			if err := json.Unmarshal(*rule.Parameters, &p); err != nil {
				return 0, nil, fault.Unreadablef("%s: the pull_request rule does not read: %w", op, err)
			}
			approvals = max(approvals, p.RequiredApprovingReviewCount)
		case "required_status_checks":
			var p gh.RequiredStatusChecksRuleParameters
			if err := json.Unmarshal(*rule.Parameters, &p); err != nil {
				return 0, nil, fault.Unreadablef("%s: the required_status_checks rule does not read: %w", op, err)
			}
			for _, chk := range p.RequiredStatusChecks {
				if !slices.Contains(contexts, chk.Context) {
					contexts = append(contexts, chk.Context)
				}
			}
		}
	}
	return approvals, contexts, nil
}

// missingReviews says what reviews p lacks to have need approvals, naming who must act.
func (c *Client) missingReviews(ctx context.Context, r Repo, p *gh.PullRequest, need int) ([]string, error) {
	n := p.GetNumber()
	reviews, err := listAll(func(o gh.ListOptions) ([]*gh.PullRequestReview, *gh.Response, error) {
		return c.gh.PullRequests.ListReviews(ctx, r.Owner, r.Name, n, &o)
	})
	if err != nil {
		return nil, c.wrap(err, fmt.Sprintf("list the reviews of pull request #%d of %s", n, r), r, "pull_requests: read")
	}
	verdict := map[string]string{}
	for _, rv := range reviews { // chronological: the latest verdict of each reviewer stands
		login, state := rv.GetUser().GetLogin(), rv.GetState()
		if login == p.GetUser().GetLogin() || state == "COMMENTED" || state == "PENDING" || !associated(rv.GetAuthorAssociation()) {
			continue
		}
		verdict[login] = state
	}
	var approved, changes []string
	for login, state := range verdict {
		switch state {
		case "APPROVED":
			approved = append(approved, login)
		case "CHANGES_REQUESTED":
			changes = append(changes, login)
		}
	}
	slices.Sort(changes)
	var out []string
	if len(changes) > 0 {
		out = append(out, fmt.Sprintf("pull request #%d: changes requested by %s: address them and ask for a new review", n, strings.Join(changes, ", ")))
	}
	if len(approved) < need {
		var requested []string
		for _, u := range p.RequestedReviewers {
			requested = append(requested, u.GetLogin())
		}
		who := "someone with write access to " + r.String()
		if len(requested) > 0 {
			who += " (requested: " + strings.Join(requested, ", ") + ")"
		}
		out = append(out, fmt.Sprintf("pull request #%d has %d of %d approving reviews the branch %s requires: it needs approval from %s (%s)",
			n, len(approved), need, p.GetBase().GetRef(), who, p.GetHTMLURL()))
	}
	return out, nil
}

// associated reports whether an author association is one of the repository's own (a reviewer who
// may have write access). An empty association (not reported) counts.
func associated(a string) bool {
	switch a {
	case "", "OWNER", "MEMBER", "COLLABORATOR":
		return true
	}
	return false
}

// requiredChecks reads the head's statuses and check runs and says, per required check, which
// failed (or never reported) and which are still running.
func (c *Client) requiredChecks(ctx context.Context, r Repo, sha string, contexts []string) (failed, pending []string, err error) {
	if len(contexts) == 0 {
		return nil, nil, nil
	}
	op := fmt.Sprintf("read the checks of %s in %s", short(sha), r)
	// Page 1 spelled out: the same URL as SmokeStatus's first page, so a second read is a 304.
	st, _, err := c.gh.Repositories.GetCombinedStatus(ctx, r.Owner, r.Name, sha, &gh.ListOptions{PerPage: 100, Page: 1})
	if err != nil {
		return nil, nil, c.wrap(err, op, r, "statuses: read")
	}
	runs, _, err := c.gh.Checks.ListCheckRunsForRef(ctx, r.Owner, r.Name, sha, &gh.ListCheckRunsOptions{ListOptions: gh.ListOptions{PerPage: 100}})
	if err != nil {
		return nil, nil, c.wrap(err, op, r, "checks: read")
	}
	state := map[string]string{}
	for _, s := range st.Statuses { // newest first: keep the first of each context
		if _, seen := state[s.GetContext()]; !seen {
			state[s.GetContext()] = s.GetState()
		}
	}
	for _, run := range runs.CheckRuns {
		switch {
		case run.GetStatus() != "completed":
			state[run.GetName()] = "pending"
		case slices.Contains([]string{"success", "neutral", "skipped"}, run.GetConclusion()):
			state[run.GetName()] = "success"
		default:
			state[run.GetName()] = run.GetConclusion()
		}
	}
	for _, ctxName := range contexts {
		switch s, ok := state[ctxName]; {
		case !ok:
			pending = append(pending, fmt.Sprintf("required check %q has not reported on %s", ctxName, short(sha)))
		case s == "pending":
			pending = append(pending, fmt.Sprintf("required check %q is still running on %s", ctxName, short(sha)))
		case s != "success":
			failed = append(failed, fmt.Sprintf("required check %q is %s on %s", ctxName, s, short(sha)))
		}
	}
	return failed, pending, nil
}
