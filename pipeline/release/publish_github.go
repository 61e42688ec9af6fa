package release

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/github"
	"github.com/shipgate/shipgate/pipeline/step"
)

func (p *publishRun) gitTag() step.Step {
	return step.Step{
		Name:     "git tag",
		Observes: "tag vX.Y.Z", Changes: "creates vX.Y.Z at the finalize commit",
		Observe: func(ctx context.Context) (step.Observation, error) {
			if obs, ok := p.pending("tag " + p.v.GitTag()); ok {
				return obs, nil
			}
			at, found, err := p.w.gh.Tag(ctx, p.w.repo, p.v)
			if err != nil {
				return step.Observation{}, err
			}
			if found && at == p.commit {
				return step.Observation{Done: true, Detail: p.v.GitTag() + " at " + short(at)}, nil
			}
			if found {
				return step.Observation{}, fault.AsRefused(&github.TagConflictError{Repo: p.w.repo, Tag: p.v.GitTag(), At: at, Wanted: p.commit})
			}
			return step.Observation{Plan: fmt.Sprintf("tag %s at %s", p.v.GitTag(), short(p.commit))}, nil
		},
		Act: func(ctx context.Context) (string, error) {
			if err := p.w.gh.CreateTag(ctx, p.w.repo, p.v, p.commit); err != nil {
				return "", err
			}
			return fmt.Sprintf("tagged %s at %s", p.v.GitTag(), short(p.commit)), nil
		},
	}
}

func (p *publishRun) draftRelease() step.Step {
	return step.Step{
		Name:     "draft release",
		Observes: "releases of the repository (listed: drafts are hidden by tag)", Changes: "creates or updates the draft release vX.Y.Z",
		Observe: func(ctx context.Context) (step.Observation, error) {
			if p.candidate() && !p.in.CandidateRelease {
				return step.Skip("a candidate gets no GitHub release without --candidate-release"), nil
			}
			if obs, ok := p.pending("draft release " + p.v.GitTag()); ok {
				return obs, nil
			}
			rel, err := p.w.gh.FindRelease(ctx, p.w.repo, p.v.GitTag())
			if err != nil {
				return step.Observation{}, err
			}
			p.rel = rel
			if rel != nil && rel.Draft && rel.Target == p.commit && rel.Notes == normalize(p.notes()) && rel.State.IndexDigest == p.index.String() && rel.Prerelease == p.v.IsPrerelease() {
				p.rep.Set("release", rel.URL)
				return step.Observation{Done: true, Detail: "draft " + rel.URL + " is current"}, nil
			}
			if rel == nil {
				return step.Observation{Plan: "create draft release " + p.v.GitTag()}, nil
			}
			return step.Observation{Plan: "update draft release " + p.v.GitTag()}, nil
		},
		Act: func(ctx context.Context) (string, error) {
			rel, changed, err := p.w.gh.EnsureDraft(ctx, p.w.repo, p.v, p.commit, p.notes(), github.State{IndexDigest: p.index.String()})
			if err != nil {
				if errors.Is(err, github.ErrAlreadyPublished) {
					return "", fault.AsRefused(fmt.Errorf("%w: publish never changes a public release", err))
				}
				return "", err
			}
			p.rel = rel
			p.rep.Set("release", rel.URL)
			if !changed {
				return "draft " + rel.URL + " was current", nil
			}
			return "draft " + rel.URL, nil
		},
	}
}

func (p *publishRun) smokeTest() step.Step {
	return step.Step{
		Name:     "smoke test",
		Observes: "the dispatch record in the draft release", Changes: "repository_dispatch to the downstream repository, then records it",
		Observe: func(ctx context.Context) (step.Observation, error) {
			if p.w.down == nil {
				return step.Skip("no downstream repository configured (--downstream)"), nil
			}
			if p.index == (v1.Hash{}) || (p.rel == nil && !p.recordedDispatch()) {
				return step.Observation{Plan: "dispatch " + p.w.s.EventType + " to " + p.w.downRepo.String()}, nil
			}
			corr := github.CorrelationID(p.v, p.index.String())
			p.rep.Set("correlation id", corr)
			if p.recordedDispatch() {
				rec, found, err := p.w.gh.DispatchOf(ctx, p.w.repo, p.v.GitTag())
				if err != nil {
					return step.Observation{}, err
				}
				if found && rec.For(corr, p.w.downRepo) {
					return step.Observation{Done: true, Detail: fmt.Sprintf("dispatched to %s at %s", rec.Repo, rec.At.Format(time.RFC3339))}, nil
				}
				return step.Observation{Plan: fmt.Sprintf("dispatch %s to %s (correlation id %s)", p.w.s.EventType, p.w.downRepo, corr)}, nil
			}
			if d := p.rel.State.Dispatch; d != nil && d.CorrelationID == corr && strings.EqualFold(d.Repo, p.w.downRepo.String()) {
				return step.Observation{Done: true, Detail: fmt.Sprintf("dispatched to %s at %s", d.Repo, d.At.Format(time.RFC3339))}, nil
			}
			return step.Observation{Plan: fmt.Sprintf("dispatch %s to %s (correlation id %s)", p.w.s.EventType, p.w.downRepo, corr)}, nil
		},
		Act: func(ctx context.Context) (string, error) {
			payload := p.w.payload(p.v, p.index, p.commit)
			if p.recordedDispatch() {
				out, err := p.w.gh.EnsureRecordedDispatch(ctx, p.w.repo, p.v.GitTag(), p.w.down, p.w.downRepo, p.w.s.EventType, payload)
				if err != nil {
					return "", err
				}
				return fmt.Sprintf("dispatched %s to %s (recorded in %s%s)", out.Record.EventType, out.Record.Repo, github.DispatchPrefix, p.v.GitTag()), nil
			}
			out, err := p.w.gh.EnsureDispatch(ctx, p.w.repo, p.rel, p.w.down, p.w.downRepo, p.w.s.EventType, payload)
			if err != nil {
				return "", err
			}
			p.rel = out.Release
			return fmt.Sprintf("dispatched %s to %s", out.Record.EventType, out.Record.Repo), nil
		},
	}
}

// notes are the draft release's notes: the CHANGELOG section, then the index digest and the
// commands that verify this release with stock cosign.
func (p *publishRun) notes() string {
	img := p.w.image + "@" + p.index.String()
	var b strings.Builder
	b.WriteString(strings.TrimRight(p.plan.fin.Notes, "\n"))
	fmt.Fprintf(&b, "\n\n---\n\n**Image:** `%s` (`%s`)\n", img, p.v.ImageTag())
	pol := p.w.policy
	var who string
	switch {
	case !p.w.signing():
		return b.String() + "\nNot signed (`--sign=none`).\n"
	case len(pol.PublicKeyPEM) > 0 || p.w.s.Sign == "key":
		who = "--key cosign.pub"
		if pol.IgnoreTlog {
			who += " --insecure-ignore-tlog"
		}
	case pol.Identity != "":
		who = fmt.Sprintf("--certificate-identity '%s' --certificate-oidc-issuer '%s'", pol.Identity, pol.Issuer)
	default:
		who = fmt.Sprintf("--certificate-identity-regexp '%s' --certificate-oidc-issuer '%s'", pol.IdentityRegexp, pol.Issuer)
	}
	fmt.Fprintf(&b, "\nVerify with cosign v3:\n\n```sh\ncosign verify %s %s\ncosign verify-attestation --type slsaprovenance1 %s %s\n```\n", who, img, who, img)
	return b.String()
}

// recordedDispatch: a build without a draft release (a candidate without --candidate-release)
// records its dispatch in a ref instead of the release.
func (p *publishRun) recordedDispatch() bool { return p.candidate() && !p.in.CandidateRelease }
