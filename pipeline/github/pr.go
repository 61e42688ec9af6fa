package github

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	gh "github.com/google/go-github/v62/github"

	"github.com/shipgate/shipgate/pipeline/config"
	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/version"
)

// PR is a pull request as shipgate sees it.
type PR struct {
	Number int
	URL    string
	NodeID string
	// Head and Base are branch names; HeadSHA is the head commit (frozen at merge time).
	Head, Base string
	HeadSHA    string
	Draft      bool
	// State is open, closed (without merge) or merged.
	State string
	// Mergeable is nil while GitHub is still computing it; MergeableState is GitHub's
	// mergeable_state (clean, blocked, dirty, draft, unstable, behind, unknown …).
	Mergeable      *bool
	MergeableState string
	AutoMerge      bool
	MergeCommit    string
}

func prFromGH(p *gh.PullRequest) *PR {
	out := &PR{Number: p.GetNumber(), URL: p.GetHTMLURL(), NodeID: p.GetNodeID(), Head: p.GetHead().GetRef(), Base: p.GetBase().GetRef(),
		HeadSHA: p.GetHead().GetSHA(), Draft: p.GetDraft(), State: p.GetState(), Mergeable: p.Mergeable, MergeableState: p.GetMergeableState(),
		AutoMerge: p.AutoMerge != nil, MergeCommit: p.GetMergeCommitSHA()}
	if p.GetMerged() || p.MergedAt != nil {
		out.State = "merged"
	}
	return out
}

func (c *Client) listReleasePRs(ctx context.Context, r Repo, v version.Version, base, state string) ([]*gh.PullRequest, error) {
	all, err := listAll(func(o gh.ListOptions) ([]*gh.PullRequest, *gh.Response, error) {
		return c.gh.PullRequests.List(ctx, r.Owner, r.Name, &gh.PullRequestListOptions{State: state, Head: r.Owner + ":" + v.Branch(), Base: base, ListOptions: o})
	})
	return all, c.wrap(err, fmt.Sprintf("list pull requests from %s into %s in %s", v.Branch(), base, r), r, "pull_requests: read")
}

// openReleasePRs lists the open pull requests from release/X.Y.Z into base, newest first. It reads
// the listing of every state, as PRState does, so that the second of the two reads in a run is a
// conditional request answered 304.
func (c *Client) openReleasePRs(ctx context.Context, r Repo, v version.Version, base string) ([]*gh.PullRequest, error) {
	prs, err := c.listReleasePRs(ctx, r, v, base, "all")
	return slices.DeleteFunc(prs, func(p *gh.PullRequest) bool { return p.GetState() != "open" }), err
}

// FindReleasePR returns the open pull request from release/X.Y.Z into base, nil if there is none.
func (c *Client) FindReleasePR(ctx context.Context, r Repo, v version.Version, base string) (*PR, error) {
	prs, err := c.openReleasePRs(ctx, r, v, base)
	if err != nil || len(prs) == 0 {
		return nil, err
	}
	return prFromGH(prs[0]), nil
}

// OpenReleasePR opens the release pull request from release/X.Y.Z into base as a draft, or returns
// the open one when it exists (created reports which).
func (c *Client) OpenReleasePR(ctx context.Context, r Repo, v version.Version, base, title, body string) (pr *PR, created bool, err error) {
	if pr, err := c.FindReleasePR(ctx, r, v, base); err != nil || pr != nil {
		return pr, false, err
	}
	if title == "" {
		title = "Release " + v.String()
	}
	op := fmt.Sprintf("open pull request %s → %s in %s", v.Branch(), base, r)
	pr, err = retryWrite(ctx, c, func() (*PR, error) {
		p, _, err := c.gh.PullRequests.Create(ctx, r.Owner, r.Name, &gh.NewPullRequest{Title: gh.String(title), Head: gh.String(v.Branch()), Base: gh.String(base), Body: gh.String(body), Draft: gh.Bool(true)})
		if err != nil {
			err = c.wrap(err, op, r, "pull_requests: write")
			if StatusOf(err) == 422 && strings.Contains(err.Error(), "already exists") {
				if got, ferr := c.FindReleasePR(ctx, r, v, base); ferr == nil && got != nil {
					return got, nil
				}
			}
			return nil, err
		}
		return prFromGH(p), nil
	}, func() (*PR, bool, error) {
		got, err := c.FindReleasePR(ctx, r, v, base)
		return got, got != nil, err
	})
	return pr, err == nil, err
}

// PRState is the release pull request as promote's gate sees it.
type PRState struct {
	// PR is the pull request looked at, nil when there is none.
	PR *PR
	// Done: merged at the expected head by an earlier run; nothing to do.
	Done bool
	// Ready: open at the expected head and mergeable now (a draft is marked ready first).
	Ready bool
	// Pending: open at the expected head, waiting for required checks or reviews.
	Pending bool
	// Problem says why it cannot be merged, empty when Done, Ready or Pending.
	Problem string
}

// PRState looks at the pull request from release/X.Y.Z into base: merged already, mergeable now,
// waiting for checks, or not mergeable and why. expectedHead is the commit that must be the head
// (the finalize commit); empty accepts any head. It waits (a minute at most) while GitHub computes
// mergeability.
func (c *Client) PRState(ctx context.Context, r Repo, v version.Version, base, expectedHead string) (PRState, error) {
	prs, err := c.listReleasePRs(ctx, r, v, base, "all")
	if err != nil {
		return PRState{}, err
	}
	if len(prs) == 0 {
		return PRState{Problem: fmt.Sprintf("no pull request from %s into %s in %s: run prepare", v.Branch(), base, r)}, nil
	}
	pick := prs[0] // newest first; prefer an open one, then a merged one
	for i := len(prs) - 1; i >= 0; i-- {
		if prs[i].GetMergedAt().Time != (time.Time{}) {
			pick = prs[i]
		}
	}
	for i := len(prs) - 1; i >= 0; i-- {
		if prs[i].GetState() == "open" {
			pick = prs[i]
		}
	}
	pr, err := c.pullDetail(ctx, r, pick.GetNumber())
	if err != nil {
		return PRState{}, err
	}
	st := PRState{PR: pr}
	atHead := expectedHead == "" || pr.HeadSHA == expectedHead
	switch {
	case pr.State == "merged" && atHead:
		st.Done = true
	case pr.State == "merged":
		st.Problem = fmt.Sprintf("pull request #%d was merged at %s, not at the expected head %s", pr.Number, short(pr.HeadSHA), short(expectedHead))
	case pr.State == "closed":
		st.Problem = fmt.Sprintf("pull request #%d (%s → %s) was closed without merging: reopen it (%s)", pr.Number, pr.Head, pr.Base, pr.URL)
	case !atHead:
		st.Problem = fmt.Sprintf("pull request #%d head moved to %s, not the finalize commit %s: someone pushed to %s after publish; re-run publish", pr.Number, short(pr.HeadSHA), short(expectedHead), pr.Head)
	case pr.AutoMerge:
		st.Pending = true
	case pr.MergeableState == "dirty" || (pr.Mergeable != nil && !*pr.Mergeable):
		st.Problem = fmt.Sprintf("pull request #%d has conflicts with %s: merge %s into %s and re-run publish (%s)", pr.Number, pr.Base, pr.Base, pr.Head, pr.URL)
	case pr.MergeableState == "blocked":
		st.Pending = true
	default: // clean, unstable, has_hooks, behind, draft, unknown: try
		st.Ready = true
	}
	return st, nil
}

// pullDetail reads one pull request, waiting (about a minute at most, on the client clock) while GitHub
// computes its mergeability.
func (c *Client) pullDetail(ctx context.Context, r Repo, n int) (*PR, error) {
	var pr *PR
	for i := 0; i < 6; i++ {
		p, _, err := c.gh.PullRequests.Get(ctx, r.Owner, r.Name, n)
		if err != nil {
			return nil, c.wrap(err, fmt.Sprintf("read pull request #%d of %s", n, r), r, "pull_requests: read")
		}
		pr = prFromGH(p)
		if pr.State != "open" || pr.Mergeable != nil {
			return pr, nil
		}
		if err := c.sleep(ctx, backoff(i+1)); err != nil {
			return nil, err
		}
	}
	return pr, nil
}

// MergeOptions configure MergePR.
type MergeOptions struct {
	// MergeMethod is how to merge, as config.ParseMergeMethod read it; the zero value is
	// config's default. MergePR refuses, before any request, a value config does not read.
	MergeMethod config.MergeMethod
	// AllowAutoMerge enables GitHub auto-merge when required checks are pending.
	AllowAutoMerge bool
	// CommitTitle overrides GitHub's merge commit title.
	CommitTitle string
}

// MergeOutcome says what MergePR did.
type MergeOutcome int

const (
	// Merged: merged now.
	Merged MergeOutcome = iota
	// AlreadyMerged: merged at the expected head before; nothing done.
	AlreadyMerged
	// AutoMergeEnabled: checks were pending, auto-merge is now on.
	AutoMergeEnabled
	// AutoMergeAlreadyOn: auto-merge was on already; nothing done.
	AutoMergeAlreadyOn
)

// String describes the outcome.
func (m MergeOutcome) String() string {
	return [...]string{"merged", "already merged", "auto-merge enabled", "auto-merge already enabled"}[m]
}

// MergeResult is MergePR's result.
type MergeResult struct {
	Outcome MergeOutcome
	PR      *PR
	// SHA is the merge commit when merged.
	SHA string
}

// MergePR merges the release pull request from release/X.Y.Z into base, passing expectedHead so
// GitHub refuses if the head moved (409). A draft is marked ready for review first (GraphQL
// markPullRequestReadyForReview: the REST API cannot). When required checks are pending it
// enables auto-merge (GraphQL enablePullRequestAutoMerge with expectedHeadOid) if allowed, and
// fails saying so otherwise. A pull request already merged at expectedHead is AlreadyMerged.
func (c *Client) MergePR(ctx context.Context, r Repo, v version.Version, base, expectedHead string, o MergeOptions) (MergeResult, error) {
	// Checked with config's one reader of --merge-method, which also gives the zero value its
	// default: the method and its default live in config only.
	parsed, err := config.ParseMergeMethod(string(o.MergeMethod))
	if err != nil {
		return MergeResult{}, err
	}
	method := string(parsed)
	st, err := c.PRState(ctx, r, v, base, expectedHead)
	if err != nil {
		return MergeResult{}, err
	}
	if st.Done {
		return MergeResult{Outcome: AlreadyMerged, PR: st.PR, SHA: st.PR.MergeCommit}, nil
	}
	if st.Problem != "" {
		return MergeResult{PR: st.PR}, fault.Refusedf("%s", st.Problem)
	}
	pr := st.PR
	if pr.AutoMerge {
		return MergeResult{Outcome: AutoMergeAlreadyOn, PR: pr}, nil
	}
	if pr.Draft {
		if err := c.graphql(ctx, r, "mark pull request #"+fmt.Sprint(pr.Number)+" ready for review", markReadyMutation, map[string]any{"input": map[string]any{"pullRequestId": pr.NodeID}}); err != nil {
			return MergeResult{PR: pr}, err
		}
		if st, err = c.PRState(ctx, r, v, base, expectedHead); err != nil {
			return MergeResult{}, err
		}
		if st.Problem != "" {
			return MergeResult{PR: st.PR}, fault.Refusedf("%s", st.Problem)
		}
		pr = st.PR
	}
	if st.Pending {
		return c.autoMerge(ctx, r, v, pr, method, expectedHead, o)
	}
	op := fmt.Sprintf("merge pull request #%d (%s → %s) of %s", pr.Number, pr.Head, pr.Base, r)
	res, _, err := c.gh.PullRequests.Merge(ctx, r.Owner, r.Name, pr.Number, "", &gh.PullRequestOptions{SHA: expectedHead, MergeMethod: method, CommitTitle: o.CommitTitle})
	if err == nil {
		pr.State, pr.MergeCommit = "merged", res.GetSHA()
		return MergeResult{Outcome: Merged, PR: pr, SHA: res.GetSHA()}, nil
	}
	err = c.wrap(err, op, r, "contents: write")
	var ge *Error
	errors.As(err, &ge)
	switch {
	case transient(err) || StatusOf(err) == 405 && strings.Contains(err.Error(), "not mergeable"):
		// The answer may have been lost after the merge happened: look again.
		again, oerr := c.PRState(ctx, r, v, base, expectedHead)
		if oerr == nil && again.Done {
			return MergeResult{Outcome: Merged, PR: again.PR, SHA: again.PR.MergeCommit}, nil
		}
	case StatusOf(err) == 405 && (strings.Contains(ge.Message, "status check") || strings.Contains(ge.Message, "review")):
		return c.autoMerge(ctx, r, v, pr, method, expectedHead, o)
	case StatusOf(err) == 409:
		return MergeResult{PR: pr}, fmt.Errorf("%w (the head of #%d is no longer %s: someone pushed to %s; re-run publish)", err, pr.Number, short(expectedHead), pr.Head)
	}
	return MergeResult{PR: pr}, err
}

// autoMerge enables auto-merge on pr, which GitHub refused to merge now, when only required checks
// still running stand in the way: missing reviews or failed checks are refused, naming them, since
// auto-merge would merge behind promote's back once someone approves.
func (c *Client) autoMerge(ctx context.Context, r Repo, v version.Version, pr *PR, method, expectedHead string, o MergeOptions) (MergeResult, error) {
	rd, err := c.PRReadiness(ctx, r, v, pr.Base, ReadinessOptions{})
	if err != nil {
		return MergeResult{PR: pr}, err
	}
	if len(rd.Missing) > 0 {
		return MergeResult{PR: pr}, fault.Refusedf("pull request #%d of %s cannot merge: %s", pr.Number, r, strings.Join(rd.Missing, "; "))
	}
	if !o.AllowAutoMerge {
		return MergeResult{PR: pr}, fault.Refusedf("pull request #%d of %s waits for required checks or reviews (%s): wait for them and re-run promote, or allow auto-merge", pr.Number, r, pr.URL)
	}
	vars := map[string]any{"input": map[string]any{"pullRequestId": pr.NodeID, "mergeMethod": strings.ToUpper(method), "expectedHeadOid": expectedHead}}
	err = c.graphql(ctx, r, fmt.Sprintf("enable auto-merge on pull request #%d", pr.Number), autoMergeMutation, vars)
	if err != nil {
		if strings.Contains(err.Error(), "clean status") {
			// The checks finished meanwhile: merge directly.
			res, _, merr := c.gh.PullRequests.Merge(ctx, r.Owner, r.Name, pr.Number, "", &gh.PullRequestOptions{SHA: expectedHead, MergeMethod: method, CommitTitle: o.CommitTitle})
			if merr != nil {
				return MergeResult{PR: pr}, c.wrap(merr, fmt.Sprintf("merge pull request #%d of %s", pr.Number, r), r, "contents: write")
			}
			return MergeResult{Outcome: Merged, PR: pr, SHA: res.GetSHA()}, nil
		}
		if strings.Contains(err.Error(), "not allowed") {
			return MergeResult{PR: pr}, fmt.Errorf("%w: turn on \"Allow auto-merge\" in the settings of %s, or wait for the checks and re-run promote", err, r)
		}
		return MergeResult{PR: pr}, err
	}
	pr.AutoMerge = true
	return MergeResult{Outcome: AutoMergeEnabled, PR: pr}, nil
}

const autoMergeMutation = `mutation EnableAutoMerge($input: EnablePullRequestAutoMergeInput!) {
  enablePullRequestAutoMerge(input: $input) { pullRequest { number autoMergeRequest { enabledAt mergeMethod } } }
}`

const markReadyMutation = `mutation MarkReady($input: MarkPullRequestReadyForReviewInput!) {
  markPullRequestReadyForReview(input: $input) { pullRequest { number isDraft } }
}`

// GraphQLError is an error GitHub's GraphQL API returned in its "errors" list (with HTTP 200).
type GraphQLError struct {
	Op       string
	Type     string
	Messages []string
}

// Error says what happened and what to do.
func (e *GraphQLError) Error() string {
	return fmt.Sprintf("%s: GitHub GraphQL refused (%s): %s", e.Op, e.Type, strings.Join(e.Messages, "; "))
}

// graphql sends one mutation through go-github's client (same transport, token and retries).
func (c *Client) graphql(ctx context.Context, r Repo, op, query string, vars map[string]any) error {
	req, err := c.gh.NewRequest("POST", c.graphqlURL, map[string]any{"query": query, "variables": vars})
	if err != nil {
		return fault.BadInputf("%s: %w", op, err)
	}
	var out struct {
		Data   json.RawMessage `json:"data"`
		Errors []struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	// Both mutations converge when repeated, so the transport may retry them.
	if _, err := c.gh.Do(idempotent(ctx), req, &out); err != nil {
		return c.wrap(err, op+" in "+r.String(), r, "pull_requests: write")
	}
	if len(out.Errors) > 0 {
		ge := &GraphQLError{Op: op + " in " + r.String(), Type: out.Errors[0].Type}
		for _, e := range out.Errors {
			ge.Messages = append(ge.Messages, c.scrub(e.Message))
		}
		if ge.Type == "RATE_LIMITED" {
			return fault.AsUnreachable(ge)
		}
		return fault.AsRefused(ge)
	}
	return nil
}
