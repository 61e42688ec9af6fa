package release

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/shipgate/shipgate/pipeline/step"
)

// Status shows, for the inspection window, what exists for a version and which promote gates
// pass. It runs promote's gates and the observations of its acts (no lock, no re-check), changes
// nothing, and reports refused gates instead of returning them as errors. It names a moving tag
// that holds something other than a verified release, whatever its label claims.
func Status(ctx context.Context, env *Env, ver string) (*step.Report, error) {
	e := *env
	e.DryRun = true
	w, rep, v, err := begin(&e, "status", ver)
	if err != nil {
		return rep, err
	}
	p := &promoteRun{w: w, rep: rep, v: v}
	if info, held, err := w.gh.LockState(ctx, w.repo); err == nil {
		if held {
			rep.Set("lock", fmt.Sprintf("held by %s since %s", info, info.Acquired.Format(time.RFC3339)))
		} else {
			rep.Set("lock", "free")
		}
	}
	err = w.run(ctx, rep, append(p.gates(), p.acts()...))
	if rel := p.plan.rel; rel != nil && rel.State.Dispatch != nil {
		d := rel.State.Dispatch
		rep.Set("dispatch", fmt.Sprintf("%s to %s at %s (correlation id %s)", d.EventType, d.Repo, d.At.Format(time.RFC3339), d.CorrelationID))
	}
	tampered, terr := p.tampered(ctx)
	if terr != nil && err == nil {
		err = terr
	}
	var refused *step.RefusedError
	verdict := ""
	switch {
	case errors.As(err, &refused):
		verdict = "promote would be refused"
		if n := len(refused.Reasons); n > 0 || len(refused.NotChecked) == 0 {
			verdict += fmt.Sprintf(": %d gate(s) do not pass", n)
		}
		if n := len(refused.NotChecked); n > 0 {
			verdict += fmt.Sprintf("; %d not checked", n)
		}
		rep.SetError(nil)
		err = nil
	case err != nil:
	case rep.Count(step.Planned) == 0:
		verdict = "promoted"
	default:
		verdict = "every gate passes: ready to promote"
	}
	if tampered != "" {
		rep.Set("tampering", tampered)
		rep.Note("%s", tampered)
		if verdict != "" {
			verdict += "; WARNING: " + tampered
		}
	}
	if verdict != "" {
		rep.SetVerdict(verdict)
	}
	return rep, err
}

// tampered names every moving tag the plan would move whose current content is not a verified
// release (a label is only a claim), or "" when there is none.
func (p *promoteRun) tampered(ctx context.Context) (string, error) {
	var out []string
	for _, m := range p.plan.tags.Moves {
		if m.From == (v1.Hash{}) {
			continue
		}
		ok, _, err := p.w.trusted(ctx, m.From, m.FromVersion)
		if err != nil {
			return "", err
		}
		if !ok {
			out = append(out, p.w.unverified(m.Tag, m.From, m.FromVersion)+" — not a verified promoted release")
		}
	}
	if len(out) == 0 {
		return "", nil
	}
	return strings.Join(out, "; "), nil
}
