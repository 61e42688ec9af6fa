package release

import (
	"context"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/github"
	"github.com/shipgate/shipgate/pipeline/registry"
	"github.com/shipgate/shipgate/pipeline/step"
	"github.com/shipgate/shipgate/pipeline/version"
)

// A release candidate X.Y.Z-rc.N (or -rcN, --candidate-form) is published from release/X.Y.Z as
// it is: no finalize commit (the CHANGELOG heading stays TBD until the final), built, pushed,
// signed and attested like a final, tagged at the branch head, and its smoke test dispatched
// marked as a candidate. It gets a GitHub pre-release only with --candidate-release.

// candidateNumber is the first gate of publish --candidate: it picks N. The highest candidate of
// X.Y.Z among the git tags and the registry's tags is reused when it was built from this source
// commit (a re-run finishes a candidate whose push half-failed instead of taking a new number);
// otherwise N is one more.
func (p *publishRun) candidateNumber() step.Step {
	return step.Step{
		Name: "candidate number", Kind: step.Gate,
		Observes: "git tags and image tags of the candidates of X.Y.Z, and what the highest was built from",
		Observe: func(ctx context.Context) (step.Observation, error) {
			if !p.in.Candidate {
				return step.Skip("no --candidate: the version is given"), nil
			}
			if p.plan.source == "" {
				return step.Observation{}, step.NotChecked("source tree")
			}
			// A candidate is the branch as it is: its head, not any commit that happens to exist.
			head, found, err := p.w.gh.ReleaseBranch(ctx, p.w.repo, p.final)
			switch {
			case err != nil:
				return step.Observation{}, err
			case !found:
				return step.Observation{}, refuse("%s does not exist: run prepare --version %s first", p.final.Branch(), p.final)
			case head != p.plan.source:
				return step.Observation{}, refuse("--commit %s is not the head of %s (%s): a candidate is built from the branch head; check out %s and publish again", short(p.plan.source), p.final.Branch(), short(head), p.final.Branch())
			}
			hi, at, err := p.highestCandidate(ctx)
			if err != nil {
				return step.Observation{}, err
			}
			n, why := hi+1, "the next candidate"
			switch {
			case hi == 0:
				why = "the first candidate"
			case at == p.plan.source:
				n, why = hi, fmt.Sprintf("candidate %d was built from this commit: finishing it", hi)
			case at != "":
				why = fmt.Sprintf("candidate %d is of commit %s", hi, short(at))
			}
			cv, err := p.final.Candidate(n, p.w.s.CandidateForm)
			if err != nil {
				return step.Observation{}, err
			}
			p.v = cv
			p.rep.Version = cv.String()
			p.rep.Set("candidate", cv.ImageTag())
			return step.Observation{Detail: fmt.Sprintf("%s: %s", cv.ImageTag(), why)}, nil
		},
	}
}

// highestCandidate is the highest candidate number of X.Y.Z found in git tags or image tags (0:
// none) and the commit it was built from ("" when nothing says).
func (p *publishRun) highestCandidate(ctx context.Context) (int, string, error) {
	tags, err := p.w.gh.CandidateGitTags(ctx, p.w.repo, p.final, p.final.TagPrefix())
	if err != nil {
		return 0, "", err
	}
	imgs, err := p.w.reg.CandidateTags(ctx, p.w.image, p.final)
	if err != nil {
		return 0, "", err
	}
	hi, at := 0, ""
	for _, t := range tags {
		if t.N > hi {
			hi, at = t.N, t.SHA
		} else if t.N == hi && at == "" {
			at = t.SHA
		}
	}
	inRegistry := false
	for _, c := range imgs {
		if c.N > hi {
			hi, at = c.N, ""
		}
		inRegistry = inRegistry || c.N == hi
	}
	if at != "" || hi == 0 || !inRegistry {
		return hi, at, nil
	}
	at, err = p.candidateRevision(ctx, hi, imgs)
	return hi, at, err
}

// candidateRevision is the commit candidate n's images say they were built from: its index's
// revision annotation, or a per-arch image's revision label.
func (p *publishRun) candidateRevision(ctx context.Context, n int, imgs []registry.Candidate) (string, error) {
	for _, c := range imgs {
		if c.N != n {
			continue
		}
		if c.Arch != "" {
			img, err := p.w.reg.Image(ctx, p.w.image, c.Tag)
			if err != nil {
				return "", err
			}
			if rev := img.Labels[registry.LabelRevision]; rev != "" {
				return rev, nil
			}
			continue
		}
		chk, _, err := p.candidateIndex(ctx, c.Tag)
		if err != nil {
			return "", err
		}
		if rev := chk.Annotations[registry.AnnotationRevision]; rev != "" {
			return rev, nil
		}
	}
	return "", nil
}

// candidateIndex reads the index of the candidate a tag names (an image tag 1.2.3-rc.4 or a git
// tag v1.2.3-rc.4); a tag that names no version reads as no index.
func (p *publishRun) candidateIndex(ctx context.Context, tag string) (registry.IndexCheck, version.Version, error) {
	cv, err := version.ParseGitTag(tag)
	if err != nil {
		return registry.IndexCheck{}, cv, nil
	}
	chk, err := p.w.reg.CheckIndex(ctx, p.w.image, cv, p.w.platforms)
	return chk, cv, err
}

// requireCandidate is the final's gate under --require-candidate: a candidate of X.Y.Z was
// published from this very source commit and its downstream smoke test passed.
func (p *publishRun) requireCandidate() step.Step {
	return step.Step{
		Name: "candidate", Kind: step.Gate,
		Observes: "with --require-candidate: the candidates' git tags, indexes and smoke tests",
		Observe: func(ctx context.Context) (step.Observation, error) {
			switch {
			case !p.in.RequireCandidate:
				return step.Skip("no --require-candidate"), nil
			case p.v.IsCandidate():
				return step.Skip("this is a candidate"), nil
			case p.w.down == nil:
				return step.Observation{}, fault.BadInputf("--require-candidate needs a downstream smoke test (--downstream) to know that a candidate passed")
			case p.plan.source == "":
				return step.Observation{}, step.NotChecked("source tree")
			}
			tags, err := p.w.gh.CandidateGitTags(ctx, p.w.repo, p.v, p.v.TagPrefix())
			if err != nil {
				return step.Observation{}, err
			}
			return p.passedCandidate(ctx, tags)
		},
	}
}

// passedCandidate looks, newest first, for a candidate tagged at the source commit whose smoke
// test passed.
func (p *publishRun) passedCandidate(ctx context.Context, tags []github.CandidateTag) (step.Observation, error) {
	var tried []string
	for i := len(tags) - 1; i >= 0; i-- {
		t := tags[i]
		if t.SHA != p.plan.source {
			tried = append(tried, fmt.Sprintf("%s is of commit %s", t.Tag, short(t.SHA)))
			continue
		}
		chk, cv, err := p.candidateIndex(ctx, t.Tag)
		if err != nil {
			return step.Observation{}, err
		}
		if chk.Digest == (v1.Hash{}) {
			tried = append(tried, fmt.Sprintf("%s has no image %s:%s", t.Tag, p.w.image, cv.ImageTag()))
			continue
		}
		sv, err := p.w.smokeOf(ctx, cv, t.SHA, chk.Digest)
		if err != nil {
			return step.Observation{}, err
		}
		if sv.passed {
			p.rep.Set("candidate", cv.ImageTag()+" "+sv.url)
			return step.Observation{Detail: fmt.Sprintf("%s of this commit passed its smoke test: %s", cv.ImageTag(), sv.reason)}, nil
		}
		tried = append(tried, sv.reason)
	}
	if len(tried) == 0 {
		return step.Observation{}, refuse("no candidate of %s exists (--require-candidate): publish one first with publish --candidate --version %s, and let its smoke test pass", p.v, p.v)
	}
	return step.Observation{}, refuse("no candidate of %s from commit %s passed its smoke test (--require-candidate): %s", p.v, short(p.plan.source), strings.Join(tried, "; "))
}
