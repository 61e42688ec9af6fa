package release

import (
	"context"
	"fmt"
	"strings"

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
				first, _, _ := strings.Cut(err.Error(), "\n")
				p.rep.Note("cleanup of the candidates of %s did not finish (%s): the release is promoted; run cleanup --version %s to finish", p.v, first, p.v)
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
