package github

import (
	"strings"
	"testing"

	gh "github.com/google/go-github/v62/github"

	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/githubserver"
)

// The release PR is ready only when it is not a draft, approved as the base branch requires
// (naming who must approve) and its head's required checks passed (issue 13, item 1).
func TestPRReadiness(t *testing.T) {
	e, commit := finalizedEnv(t, githubserver.Options{}, githubserver.RepoOptions{RequiredApprovals: 1})
	const aliceToken = "ghp_AliceT0ken5555"
	e.srv.AddToken(aliceToken, "alice", map[string]githubserver.Perm{"acme/app": githubserver.PermPush})
	alice := e.client(aliceToken)
	rd, err := e.c.PRReadiness(e.ctx, app, v123, "main", ReadinessOptions{})
	if err != nil || rd.Ready || rd.PR != nil || !strings.Contains(strings.Join(rd.Missing, ";"), "run prepare") {
		t.Fatalf("no PR: %+v %v", rd, err)
	}
	if _, _, err := e.c.OpenReleasePR(e.ctx, app, v123, "main", "", "Release 1.2.3"); err != nil {
		t.Fatal(err)
	}
	e.srv.RequestReviewers("acme/app", 1, "alice")
	e.srv.SetChecksPending("acme/app", commit, true)
	rd, err = e.c.PRReadiness(e.ctx, app, v123, "main", ReadinessOptions{})
	missing := strings.Join(append(rd.Missing, rd.Waiting...), "\n")
	if err != nil || rd.Ready || rd.PR == nil || len(rd.Waiting) != 1 || len(rd.Missing) != 2 {
		t.Fatalf("draft, unapproved, pending: %+v %v", rd, err)
	}
	for _, want := range []string{"is a draft", "0 of 1 approving reviews", "requested: alice", `required check "ci" is still running`} {
		if !strings.Contains(missing, want) {
			t.Errorf("missing %q in:\n%s", want, missing)
		}
	}
	// Without reviews (a candidate): only the draft and the checks count.
	if rd, _ := e.c.PRReadiness(e.ctx, app, v123, "main", ReadinessOptions{SkipReviews: true}); len(rd.Missing) != 1 || len(rd.Waiting) != 1 {
		t.Fatalf("skip reviews: %+v", rd)
	}
	// The author's own approval is refused by GitHub and would not count; alice requests changes,
	// then approves; the check fails, then passes; the PR is marked ready.
	approve := "APPROVE"
	if _, _, err := e.c.gh.PullRequests.CreateReview(e.ctx, "acme", "app", 1, &gh.PullRequestReviewRequest{Event: &approve}); StatusOf(e.c.wrap(err, "", app, "")) != 422 {
		t.Fatalf("the author approved their own pull request: %v", err)
	}
	review(t, e, alice, "REQUEST_CHANGES")
	e.srv.SetCheckState("acme/app", commit, "failure")
	rd, _ = e.c.PRReadiness(e.ctx, app, v123, "main", ReadinessOptions{})
	missing = strings.Join(rd.Missing, "\n")
	if len(rd.Waiting) != 0 || !strings.Contains(missing, "changes requested by alice") || !strings.Contains(missing, `required check "ci" is failure`) {
		t.Fatalf("changes requested, check failed: %+v", rd)
	}
	review(t, e, alice, "APPROVE")
	e.srv.SetChecksPending("acme/app", commit, false)
	if err := e.c.graphql(e.ctx, app, "mark ready", markReadyMutation, map[string]any{"input": map[string]any{"pullRequestId": rd.PR.NodeID}}); err != nil {
		t.Fatal(err)
	}
	rd, err = e.c.PRReadiness(e.ctx, app, v123, "main", ReadinessOptions{})
	if err != nil || !rd.Ready || len(rd.Missing) != 0 {
		t.Fatalf("approved, checks green, not a draft: %+v %v", rd, err)
	}
	if res, err := e.c.MergePR(e.ctx, app, v123, "main", commit, MergeOptions{}); err != nil || res.Outcome != Merged {
		t.Fatalf("GitHub disagrees: %+v %v", res, err)
	}
}

func review(t *testing.T, e *env, c *Client, event string) {
	t.Helper()
	if _, _, err := c.gh.PullRequests.CreateReview(e.ctx, "acme", "app", 1, &gh.PullRequestReviewRequest{Event: &event}); err != nil {
		t.Fatal(err)
	}
}

// Auto-merge waits only for required checks still running: a missing approval or a failed check
// is refused, naming it, and auto-merge stays off (issue 13, item 5: it used to be enabled, and
// promote moved latest while the merge waited for a review).
func TestAutoMergeOnlyForPendingChecks(t *testing.T) {
	e, commit := finalizedEnv(t, githubserver.Options{}, githubserver.RepoOptions{RequiredApprovals: 1, AllowAutoMerge: true})
	const aliceToken = "ghp_AliceT0ken5555"
	e.srv.AddToken(aliceToken, "alice", map[string]githubserver.Perm{"acme/app": githubserver.PermPush})
	if _, _, err := e.c.OpenReleasePR(e.ctx, app, v123, "main", "", "Release 1.2.3"); err != nil {
		t.Fatal(err)
	}
	e.srv.RequestReviewers("acme/app", 1, "alice")
	e.srv.SetChecksPending("acme/app", commit, true)
	merge := func() error {
		_, err := e.c.MergePR(e.ctx, app, v123, "main", commit, MergeOptions{AllowAutoMerge: true})
		return err
	}
	err := merge()
	if fault.Of(err) != fault.Refused || e.srv.Pulls("acme/app")[0].AutoMerge {
		t.Fatalf("unapproved: %v, auto-merge %v", err, e.srv.Pulls("acme/app")[0].AutoMerge)
	}
	mustContain(t, err, "0 of 1 approving reviews", "requested: alice")
	review(t, e, e.client(aliceToken), "APPROVE")
	e.srv.SetCheckState("acme/app", commit, "failure")
	err = merge()
	if fault.Of(err) != fault.Refused || e.srv.Pulls("acme/app")[0].AutoMerge {
		t.Fatalf("check failed: %v", err)
	}
	mustContain(t, err, `required check "ci" is failure`)
	e.srv.SetChecksPending("acme/app", commit, true)
	if res, err := e.c.MergePR(e.ctx, app, v123, "main", commit, MergeOptions{AllowAutoMerge: true}); err != nil || res.Outcome != AutoMergeEnabled {
		t.Fatalf("approved, check running: %+v %v", res, err)
	}
	e.srv.SetChecksPending("acme/app", commit, false)
	if p := e.srv.Pulls("acme/app")[0]; !p.Merged {
		t.Fatalf("auto-merge did not merge once the check passed: %+v", p)
	}
}
