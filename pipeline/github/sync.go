package github

import (
	"context"
	"errors"
	"fmt"
	"strings"

	gh "github.com/google/go-github/v62/github"

	"github.com/shipgate/shipgate/pipeline/config"
	"github.com/shipgate/shipgate/pipeline/fault"
)

// Bringing the base branch back into a development branch after a release (--sync-branch): when
// releases are cut from a development branch and merged into the base branch, the base branch
// then holds commits the development branch lacks (the finalize commit, the merge commit).
// ObserveSync only reads; SyncBranch opens (or reuses) the pull request base → dev and has it
// merge by itself when nothing stands in the way.

// SyncState is what ObserveSync saw.
type SyncState struct {
	// Base and Dev are the branch names.
	Base, Dev string
	// Status is GitHub's comparison of dev with base (GET /compare/{dev}...{base}): identical,
	// behind (dev holds all of base), ahead (base has commits dev lacks) or diverged.
	Status string
	// Missing is how many commits of base dev lacks.
	Missing int
	// Done is true when dev already holds base's head: nothing to do.
	Done bool
	// PR is the open pull request from base into dev, nil when there is none (or Done).
	PR *PR
}

// SyncOutcome says what SyncBranch did.
type SyncOutcome int

const (
	// SyncUpToDate: dev already holds base's head; nothing done.
	SyncUpToDate SyncOutcome = iota
	// SyncAutoMergeEnabled: the pull request waits for checks or reviews; auto-merge is now on.
	SyncAutoMergeEnabled
	// SyncAutoMergeAlreadyOn: auto-merge was on already; nothing done.
	SyncAutoMergeAlreadyOn
	// SyncMerged: the pull request could merge at once (GitHub refuses auto-merge on those), so
	// it was merged.
	SyncMerged
	// SyncConflict: the pull request has conflicts; auto-merge was not enabled (Note says so).
	SyncConflict
	// SyncAutoMergeNotAllowed: the pull request waits, and the repository does not allow
	// auto-merge (Note says so).
	SyncAutoMergeNotAllowed
	// SyncLeftOpen: the pull request is left for a person for another reason (Note says which).
	SyncLeftOpen
)

// String describes the outcome.
func (o SyncOutcome) String() string {
	names := [...]string{"up to date", "auto-merge enabled", "auto-merge already enabled", "merged", "conflicts",
		"auto-merge not allowed", "left open"}
	if int(o) < 0 || int(o) >= len(names) {
		return fmt.Sprintf("outcome %d", int(o))
	}
	return names[o]
}

// SyncOptions configure SyncBranch.
type SyncOptions struct {
	// Title and Body of the pull request SyncBranch opens; the title defaults to
	// "Sync <base> into <dev>" (a caller adds the release: "Sync main into dev after v1.2.3").
	Title, Body string
}

// SyncResult is what SyncBranch did.
type SyncResult struct {
	Outcome SyncOutcome
	// State is what was observed before acting.
	State SyncState
	// PR is the pull request from base into dev, nil when SyncUpToDate; Created reports
	// whether this run opened it.
	PR      *PR
	Created bool
	// Note says what is left to a person, empty when nothing is.
	Note string
}

// ObserveSync looks, without writing, whether dev already holds the head of base and, when not,
// for the open pull request from base into dev. A missing branch is BadInput naming its setting
// (--base-branch, --sync-branch). Needs contents: read and pull_requests: read.
func (c *Client) ObserveSync(ctx context.Context, r Repo, base, dev string) (SyncState, error) {
	st := SyncState{Base: base, Dev: dev}
	op := fmt.Sprintf("compare %s with %s in %s", dev, base, r)
	cmp, _, err := c.gh.Repositories.CompareCommits(ctx, r.Owner, r.Name, dev, base, &gh.ListOptions{PerPage: 1})
	if err != nil {
		return st, c.missingBranch(ctx, r, base, dev, c.wrap(err, op, r, "contents: read"))
	}
	st.Status, st.Missing = cmp.GetStatus(), cmp.GetAheadBy()
	switch st.Status {
	case "identical", "behind":
		st.Done = true
		return st, nil
	case "ahead", "diverged":
	default:
		return st, fault.Unreadablef("%s: GitHub answered status %q, not identical, behind, ahead or diverged", op, st.Status)
	}
	st.PR, err = c.findSyncPR(ctx, r, base, dev)
	return st, err
}

// missingBranch turns the 404 of a comparison into the setting to fix when one branch is
// missing; otherwise (the repository is not visible, another failure) it returns err.
func (c *Client) missingBranch(ctx context.Context, r Repo, base, dev string, err error) error {
	if !IsNotFound(err) {
		return err
	}
	_, baseFound, berr := c.branchHead(ctx, r, base)
	_, devFound, derr := c.branchHead(ctx, r, dev)
	switch {
	case berr != nil || derr != nil || (!baseFound && !devFound):
		return err
	case !baseFound:
		return fault.BadInputf("base branch %s not found in %s: give the branch releases are merged into (--base-branch)", base, r)
	case !devFound:
		return fault.BadInputf("development branch %s not found in %s: give the branch %s is brought back into (--sync-branch), or create it", dev, r, base)
	}
	return err
}

func (c *Client) findSyncPR(ctx context.Context, r Repo, base, dev string) (*PR, error) {
	prs, err := listAll(func(o gh.ListOptions) ([]*gh.PullRequest, *gh.Response, error) {
		return c.gh.PullRequests.List(ctx, r.Owner, r.Name, &gh.PullRequestListOptions{State: "open", Head: r.Owner + ":" + base, Base: dev, ListOptions: o})
	})
	if err != nil {
		return nil, c.wrap(err, fmt.Sprintf("list pull requests from %s into %s in %s", base, dev, r), r, "pull_requests: read")
	}
	if len(prs) == 0 {
		return nil, nil
	}
	return prFromGH(prs[0]), nil
}

// SyncBranch brings base back into dev: nothing when dev already holds base's head; otherwise it
// reuses the open pull request base → dev or opens one, then, once GitHub has computed its
// mergeability: with conflicts it leaves it to a person (SyncConflict); when it can merge at once
// it merges it with a merge commit (GitHub refuses auto-merge on such a pull request, and a
// squash or rebase would leave dev without base's commits); when it waits for checks or reviews
// it enables auto-merge (SyncAutoMergeEnabled), or says that the repository does not allow it
// (SyncAutoMergeNotAllowed). Only failures to read or write are errors; what is left to a person
// is in the result's Note. Needs contents: read and pull_requests: write (and contents: write to
// merge at once).
func (c *Client) SyncBranch(ctx context.Context, r Repo, base, dev string, o SyncOptions) (SyncResult, error) {
	st, err := c.ObserveSync(ctx, r, base, dev)
	if err != nil {
		return SyncResult{State: st}, err
	}
	if st.Done {
		return SyncResult{Outcome: SyncUpToDate, State: st}, nil
	}
	res := SyncResult{State: st, PR: st.PR}
	if res.PR == nil {
		pr, done, err := c.openSyncPR(ctx, r, base, dev, o)
		if err != nil || done {
			return SyncResult{Outcome: SyncUpToDate, State: st}, err
		}
		res.PR, res.Created = pr, true
	}
	if res.PR.AutoMerge {
		res.Outcome = SyncAutoMergeAlreadyOn
		return res, nil
	}
	pr, err := c.pullDetail(ctx, r, res.PR.Number)
	if err != nil {
		return res, err
	}
	res.PR = pr
	return c.settleSync(ctx, r, res)
}

// openSyncPR opens the pull request base → dev; done is true when GitHub says there is nothing to
// merge any more (dev caught up meanwhile).
func (c *Client) openSyncPR(ctx context.Context, r Repo, base, dev string, o SyncOptions) (pr *PR, done bool, err error) {
	title := o.Title
	if title == "" {
		title = fmt.Sprintf("Sync %s into %s", base, dev)
	}
	body := o.Body
	if body == "" {
		body = fmt.Sprintf("Brings %s back into %s after a release, opened by shipgate.", base, dev)
	}
	op := fmt.Sprintf("open pull request %s → %s in %s", base, dev, r)
	pr, err = retryWrite(ctx, c, func() (*PR, error) {
		p, _, err := c.gh.PullRequests.Create(ctx, r.Owner, r.Name, &gh.NewPullRequest{Title: gh.String(title), Head: gh.String(base), Base: gh.String(dev), Body: gh.String(body)})
		if err == nil {
			return prFromGH(p), nil
		}
		err = c.wrap(err, op, r, "pull_requests: write")
		if StatusOf(err) == 422 && strings.Contains(err.Error(), "already exists") {
			if got, ferr := c.findSyncPR(ctx, r, base, dev); ferr == nil && got != nil {
				return got, nil
			}
		}
		return nil, err
	}, func() (*PR, bool, error) {
		got, err := c.findSyncPR(ctx, r, base, dev)
		return got, got != nil, err
	})
	if StatusOf(err) == 422 && strings.Contains(err.Error(), "No commits between") {
		return nil, true, nil
	}
	return pr, false, err
}

// settleSync decides on the sync pull request res.PR, whose mergeability GitHub has computed (or
// gave up computing).
func (c *Client) settleSync(ctx context.Context, r Repo, res SyncResult) (SyncResult, error) {
	pr := res.PR
	switch {
	case pr.State == "merged":
		res.Outcome = SyncMerged
		return res, nil
	case pr.State != "open":
		res.Outcome, res.Note = SyncLeftOpen, fmt.Sprintf("pull request #%d (%s → %s) was closed: reopen and merge it, or re-run (%s)", pr.Number, pr.Head, pr.Base, pr.URL)
		return res, nil
	case pr.MergeableState == "dirty" || (pr.Mergeable != nil && !*pr.Mergeable):
		res.Outcome = SyncConflict
		res.Note = fmt.Sprintf("pull request #%d has conflicts with %s: merge %s into %s by hand and push (%s); auto-merge was not enabled", pr.Number, pr.Base, pr.Head, pr.Base, pr.URL)
		return res, nil
	case pr.Draft:
		res.Outcome, res.Note = SyncLeftOpen, fmt.Sprintf("pull request #%d is a draft: mark it ready for review and merge it (%s)", pr.Number, pr.URL)
		return res, nil
	case pr.MergeableState == "behind": // auto-merge would wait for ever: updating it would merge dev into base
		res.Outcome = SyncLeftOpen
		res.Note = fmt.Sprintf("%s requires branches to be up to date before merging, and %s lacks commits of %s: merge pull request #%d by hand (%s)", pr.Base, pr.Head, pr.Base, pr.Number, pr.URL)
		return res, nil
	case pr.MergeableState == "clean" || pr.MergeableState == "unstable" || pr.MergeableState == "has_hooks":
		return c.mergeSync(ctx, r, res, true)
	}
	return c.autoMergeSync(ctx, r, res, true)
}

// autoMergeSync enables auto-merge on the sync pull request, which waits for checks or reviews;
// when GitHub says it can merge now instead (and mayMerge), it merges it.
func (c *Client) autoMergeSync(ctx context.Context, r Repo, res SyncResult, mayMerge bool) (SyncResult, error) {
	pr := res.PR
	vars := map[string]any{"input": map[string]any{"pullRequestId": pr.NodeID, "mergeMethod": "MERGE", "expectedHeadOid": pr.HeadSHA}}
	err := c.graphql(ctx, r, fmt.Sprintf("enable auto-merge on pull request #%d", pr.Number), autoMergeMutation, vars)
	var ge *GraphQLError
	switch {
	case err == nil:
		res.Outcome, res.PR.AutoMerge = SyncAutoMergeEnabled, true
	case mayMerge && (strings.Contains(err.Error(), "clean status") || strings.Contains(err.Error(), "unstable status")):
		return c.mergeSync(ctx, r, res, false) // it became mergeable meanwhile
	case strings.Contains(err.Error(), "Auto merge is not allowed"):
		res.Outcome = SyncAutoMergeNotAllowed
		res.Note = fmt.Sprintf("pull request #%d waits for checks or reviews and %s does not allow auto-merge: merge it once they pass, or turn on \"Allow auto-merge\" in the repository settings and re-run (%s)", pr.Number, r, pr.URL)
	case errors.As(err, &ge) && ge.Type == "FORBIDDEN":
		return res, fmt.Errorf("%w: the token given with %s lacks pull_requests: write on %s", err, c.tokenFlag, r)
	default:
		return res, err
	}
	return res, nil
}

// mergeSync merges the sync pull request now, with a merge commit, at the head GitHub showed; when
// GitHub answers that checks or reviews are still missing (and mayWait), it enables auto-merge.
func (c *Client) mergeSync(ctx context.Context, r Repo, res SyncResult, mayWait bool) (SyncResult, error) {
	pr := res.PR
	op := fmt.Sprintf("merge pull request #%d (%s → %s) of %s", pr.Number, pr.Head, pr.Base, r)
	out, _, err := c.gh.PullRequests.Merge(ctx, r.Owner, r.Name, pr.Number, "", &gh.PullRequestOptions{SHA: pr.HeadSHA, MergeMethod: string(config.MergeCommit)})
	if err == nil {
		res.Outcome, pr.State, pr.MergeCommit = SyncMerged, "merged", out.GetSHA()
		return res, nil
	}
	err = c.wrap(err, op, r, "contents: write")
	var ge *Error
	switch {
	case mayWait && errors.As(err, &ge) && ge.Status == 405 && (strings.Contains(ge.Message, "status check") || strings.Contains(ge.Message, "review")):
		return c.autoMergeSync(ctx, r, res, false)
	case StatusOf(err) == 405 || StatusOf(err) == 409: // refused (merge commits not allowed, a rule), or the head moved
		res.Outcome, res.Note = SyncLeftOpen, fmt.Sprintf("%s; merge it by hand (%s)", err, pr.URL)
		return res, nil
	case transient(err): // the answer may have been lost after the merge: look again
		if again, derr := c.pullDetail(ctx, r, pr.Number); derr == nil && again.State == "merged" {
			res.Outcome, res.PR = SyncMerged, again
			return res, nil
		}
	}
	return res, err
}
