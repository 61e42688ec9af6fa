package release

import (
	"context"
	"fmt"
	"strings"

	"github.com/shipgate/shipgate/pipeline/github"
	"github.com/shipgate/shipgate/pipeline/step"
)

// The steps promote runs once the release is public. They tidy up after it; a failure of theirs
// never fails a promote that already moved latest and published the release: it is reported as
// a note with the command that finishes the job.

// cleanupCandidates runs cleanup --version X.Y.Z after the final is public (--cleanup).
func (p *promoteRun) cleanupCandidates() step.Step {
	return step.Step{
		Name:     "cleanup candidates",
		Observes: "with --cleanup: the candidates of X.Y.Z", Changes: "deletes them as cleanup --version X.Y.Z does",
		Observe: func(ctx context.Context) (step.Observation, error) {
			switch {
			case !p.in.Cleanup:
				return step.Skip("no --cleanup (cleanup --version X.Y.Z deletes the candidates later)"), nil
			case p.v.IsPrerelease():
				return step.Skip("a pre-release: candidates are cleaned up after the final"), nil
			}
			return step.Observation{Plan: fmt.Sprintf("delete the candidates of %s (cleanup --version %s)", p.v, p.v)}, nil
		},
		Act: func(ctx context.Context) (string, error) {
			rep, err := Cleanup(ctx, p.w.env, p.v.String())
			if err != nil {
				p.rep.Note("cleanup of the candidates of %s did not finish (%s): the release is promoted; run cleanup --version %s to finish", p.v, oneLine(err), p.v)
				return "not finished: see the note", nil
			}
			var did []string
			for _, r := range rep.Records {
				if r.Status == step.Acted {
					did = append(did, r.Name+": "+r.Detail)
				}
			}
			if len(did) == 0 {
				return "no candidate left", nil
			}
			return strings.Join(did, "; "), nil
		},
	}
}

// syncBranch brings the base branch back into the development branch (--sync-branch) once the
// release PR merged: a PR base → dev, opened or reused, merging by itself when nothing stands in
// the way. What is left to a person (conflicts, auto-merge not allowed, a release PR still waiting
// for its checks, a branch that cannot be read) is a note naming the command that finishes it,
// never a failure of a promote that already moved latest.
func (p *promoteRun) syncBranch() step.Step {
	base, dev := p.w.s.BaseBranch, p.w.s.SyncBranch
	again := fmt.Sprintf("promote --version %s --sync-branch %s", p.v, dev)
	return step.Step{
		Name:     "sync branch",
		Observes: "with --sync-branch: whether it holds the base branch's head, and the PR base → it", Changes: "opens or reuses that PR, with auto-merge",
		Observe: func(ctx context.Context) (step.Observation, error) {
			switch {
			case dev == "":
				return step.Skip("no --sync-branch"), nil
			case p.v.IsPrerelease():
				return step.Skip("a pre-release merges no PR"), nil
			case !p.plan.pr.Done && !p.merged && !p.w.env.DryRun:
				p.rep.Note("sync %s into %s waits: the release PR has not merged yet (auto-merge); once it has, run %s", base, dev, again)
				return step.Skip("the release PR has not merged yet: see the note"), nil
			}
			st, err := p.w.gh.ObserveSync(ctx, p.w.repo, base, dev)
			if err != nil {
				p.rep.Note("sync %s into %s: could not look (%s): the release is promoted; fix that and run %s", base, dev, oneLine(err), again)
				return step.Skip("could not look at " + dev + ": see the note"), nil
			}
			if st.Done {
				return step.Observation{Done: true, Detail: fmt.Sprintf("%s holds %s's head", dev, base)}, nil
			}
			if st.PR != nil && st.PR.AutoMerge {
				return step.Observation{Done: true, Detail: fmt.Sprintf("#%d %s → %s merges by itself", st.PR.Number, base, dev)}, nil
			}
			return step.Observation{Plan: fmt.Sprintf("bring %s (%d commit(s) ahead) into %s through a PR", base, st.Missing, dev)}, nil
		},
		Act: func(ctx context.Context) (string, error) {
			res, err := p.w.gh.SyncBranch(ctx, p.w.repo, base, dev, github.SyncOptions{Title: fmt.Sprintf("Sync %s into %s after %s", base, dev, p.v.GitTag())})
			if err != nil {
				p.rep.Note("sync %s into %s did not finish (%s): the release is promoted; fix that and run %s", base, dev, oneLine(err), again)
				return "not finished: see the note", nil
			}
			if res.Note != "" {
				p.rep.Note("sync %s into %s: %s", base, dev, res.Note)
			}
			if res.PR == nil {
				return res.Outcome.String(), nil
			}
			p.rep.Set("sync pull request", res.PR.URL)
			return fmt.Sprintf("#%d %s → %s: %s", res.PR.Number, base, dev, res.Outcome), nil
		},
	}
}

// oneLine is err's text on one line, for a note: a refusal's reasons, listed one a line, stay in.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
