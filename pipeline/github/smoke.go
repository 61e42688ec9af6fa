package github

import (
	"context"
	"fmt"
	"strings"

	gh "github.com/google/go-github/v62/github"

	"github.com/shipgate/shipgate/pipeline/fault"
)

// DefaultSmokeContext is the commit status context the downstream smoke test reports with.
const DefaultSmokeContext = "shipgate/smoke-test"

// SmokeState is what the smoke test's commit status says.
type SmokeState int

const (
	// SmokeWaiting: no status yet, a pending one, or a success for another build.
	SmokeWaiting SmokeState = iota
	// SmokePassed: success naming this build (its correlation id or digest).
	SmokePassed
	// SmokeFailed: failure or error.
	SmokeFailed
)

// String is waiting, passed or failed.
func (s SmokeState) String() string {
	switch s {
	case SmokePassed:
		return "passed"
	case SmokeFailed:
		return "failed"
	}
	return "waiting"
}

// SmokeResult is the smoke test's verdict read from a commit status.
type SmokeResult struct {
	State SmokeState
	// Reason says why in one line; for a failure it starts "smoke test FAILED: " and names the URL.
	Reason string
	// URL is the status's target URL (the downstream run), Description its description.
	URL, Description string
}

// Passed reports whether the smoke test passed for this build.
func (r SmokeResult) Passed() bool { return r.State == SmokePassed }

// SmokeStatus reads the smoke-test result the downstream reported as a commit status on commit
// (the finalize commit) in r, under statusContext (DefaultSmokeContext when empty): the latest
// status of that context decides. success passes when its description or target URL names
// correlationID or digest (otherwise it reported on another build: waiting); failure and error
// fail, naming the URL; pending or no status is waiting.
func (c *Client) SmokeStatus(ctx context.Context, r Repo, commit, statusContext, correlationID, digest string) (SmokeResult, error) {
	if statusContext == "" {
		statusContext = DefaultSmokeContext
	}
	if commit == "" || (correlationID == "" && digest == "") {
		return SmokeResult{}, fault.BadInputf("smoke-test status in %s: needs the commit and the correlation id or digest", r)
	}
	op := fmt.Sprintf("read the %s status of %s in %s", statusContext, short(commit), r)
	var latest *gh.RepoStatus
	_, err := listAll(func(o gh.ListOptions) ([]*gh.RepoStatus, *gh.Response, error) {
		st, resp, err := c.gh.Repositories.GetCombinedStatus(ctx, r.Owner, r.Name, commit, &o)
		if err != nil {
			return nil, resp, c.wrap(err, op, r, "statuses: read")
		}
		for _, s := range st.Statuses { // the latest status of each context
			if latest == nil && strings.EqualFold(s.GetContext(), statusContext) {
				latest = s
			}
		}
		return st.Statuses, resp, nil
	})
	if err != nil {
		return SmokeResult{}, fmt.Errorf("%s: %w", op, err)
	}
	return smokeVerdict(latest, r, commit, statusContext, correlationID, digest), nil
}

func smokeVerdict(s *gh.RepoStatus, r Repo, commit, statusContext, correlationID, digest string) SmokeResult {
	if s == nil {
		return SmokeResult{Reason: fmt.Sprintf("no %s status on %s in %s yet: the smoke test has not reported; wait for it and re-run", statusContext, short(commit), r)}
	}
	res := SmokeResult{URL: s.GetTargetURL(), Description: s.GetDescription()}
	where := res.URL
	if where == "" {
		where = fmt.Sprintf("%s status on %s in %s (%q; no target URL)", statusContext, short(commit), r, res.Description)
	}
	text := res.Description + "\n" + res.URL
	names := (correlationID != "" && strings.Contains(text, correlationID)) || (digest != "" && strings.Contains(text, digest))
	switch s.GetState() {
	case "failure", "error":
		res.State, res.Reason = SmokeFailed, fmt.Sprintf("smoke test FAILED: %s", where)
	case "success":
		if names {
			res.State, res.Reason = SmokePassed, fmt.Sprintf("smoke test passed: %s", where)
		} else {
			res.Reason = fmt.Sprintf("the %s status on %s names neither correlation id %s nor digest %s: it reported on another build; wait for this build's", statusContext, short(commit), correlationID, digest)
		}
	default:
		res.Reason = fmt.Sprintf("smoke test still running: %s", where)
	}
	return res
}

// CommitStatus is a commit status to set (SetStatus).
type CommitStatus struct {
	// State is error, failure, pending or success.
	State string
	// Context defaults to "default" on GitHub; TargetURL and Description are optional.
	Context, TargetURL, Description string
}

// SetStatus sets a commit status on sha in r (the downstream reporting its smoke test, or the
// demo playing it). The description may have at most 140 characters (GitHub's 422 otherwise).
func (c *Client) SetStatus(ctx context.Context, r Repo, sha string, s CommitStatus) error {
	switch s.State {
	case "error", "failure", "pending", "success":
	default:
		return fault.BadInputf("commit status state %q: use error, failure, pending or success", s.State)
	}
	if n := len([]rune(s.Description)); n > 140 {
		return fault.BadInputf("commit status description is %d characters: GitHub accepts at most 140", n)
	}
	in := &gh.RepoStatus{State: gh.String(s.State)}
	if s.Context != "" {
		in.Context = gh.String(s.Context)
	}
	if s.TargetURL != "" {
		in.TargetURL = gh.String(s.TargetURL)
	}
	if s.Description != "" {
		in.Description = gh.String(s.Description)
	}
	_, _, err := c.gh.Repositories.CreateStatus(idempotent(ctx), r.Owner, r.Name, sha, in)
	return c.wrap(err, fmt.Sprintf("set the %s status of %s in %s", s.Context, short(sha), r), r, "statuses: write")
}
