package release

import (
	"context"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/shipgate/shipgate/pipeline/config"
	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/provenance"
	"github.com/shipgate/shipgate/pipeline/sign"
	"github.com/shipgate/shipgate/pipeline/step"
	"github.com/shipgate/shipgate/pipeline/version"
)

func (p *publishRun) signatures() step.Step {
	var todo []string
	return step.Step{
		Name:     "signatures",
		Observes: "signatures referring to the index and each platform image", Changes: "signs what is not signed",
		Observe: func(ctx context.Context) (step.Observation, error) {
			if p.index == (v1.Hash{}) {
				return step.Observation{Plan: "sign the index and each platform image"}, nil
			}
			if !p.w.signing() {
				return step.Skip("signing is off (--sign=none): promote will refuse"), nil
			}
			var err error
			todo, err = missing(ctx, p.subjects(), func(ctx context.Context, d string) (bool, error) {
				ref, err := p.w.digestRef(d)
				if err != nil {
					return false, err
				}
				return p.w.store.Signed(ctx, ref, p.w.policy)
			})
			if err != nil {
				return step.Observation{}, err
			}
			if len(todo) == 0 {
				return step.Observation{Done: true, Detail: fmt.Sprintf("%d digests signed under %s", len(p.subjects()), p.w.policy)}, nil
			}
			return step.Observation{Plan: fmt.Sprintf("sign %d digest(s)", len(todo))}, nil
		},
		Act: func(ctx context.Context) (string, error) {
			sg, err := p.w.signerFor()
			if err != nil {
				return "", err
			}
			// One after another: a registry without the referrers API keeps them in one index per
			// subject, and that index is read, changed and written back.
			for _, d := range todo {
				ref, err := p.w.digestRef(d)
				if err != nil {
					return "", err
				}
				if err := p.w.store.Sign(ctx, ref, sg); err != nil {
					return "", err
				}
			}
			return fmt.Sprintf("signed %d digest(s) with %s", len(todo), sg), nil
		},
	}
}

func (p *publishRun) sboms() step.Step {
	var todo []version.Platform
	return step.Step{
		Name:     "SBOMs",
		Observes: "SPDX attestations on each platform image", Changes: "generates and attests the missing SBOMs",
		Observe: func(ctx context.Context) (step.Observation, error) {
			if p.w.s.NoSBOM {
				return step.Skip("SBOMs are off (--no-sbom)"), nil
			}
			if !p.w.signing() {
				return step.Skip("signing is off (--sign=none)"), nil
			}
			if p.index == (v1.Hash{}) {
				return step.Observation{Plan: "attest an SPDX SBOM on each platform image"}, nil
			}
			var err error
			todo, err = missing(ctx, p.w.platforms, func(ctx context.Context, pl version.Platform) (bool, error) {
				ref, err := p.w.digestRef(p.digs[pl.String()].String())
				if err != nil {
					return false, err
				}
				return p.w.store.Attested(ctx, ref, sign.SPDXPredicateType, p.w.policy, nil)
			})
			if err != nil {
				return step.Observation{}, err
			}
			if len(todo) == 0 {
				return step.Observation{Done: true, Detail: fmt.Sprintf("%d platform SBOMs attested", len(p.w.platforms))}, nil
			}
			return step.Observation{Plan: "generate and attest SBOMs for " + platformList(todo)}, nil
		},
		Act: func(ctx context.Context) (string, error) {
			if p.in.Builder == nil {
				return "", fault.BadInputf("no SBOM generator for %s: run publish through dagger call, or pass --no-sbom", platformList(todo))
			}
			sg, err := p.w.signerFor()
			if err != nil {
				return "", err
			}
			for _, pl := range todo {
				ref, err := p.w.digestRef(p.digs[pl.String()].String())
				if err != nil {
					return "", err
				}
				doc, err := p.in.Builder.SBOM(ctx, pl, ref.String())
				if err != nil {
					return "", fmt.Errorf("SBOM of %s: %w", pl, err)
				}
				if err := p.w.store.Attest(ctx, ref, sign.SPDXPredicateType, doc, sg); err != nil {
					return "", err
				}
			}
			return "attested SBOMs for " + platformList(todo), nil
		},
	}
}

func (p *publishRun) provenanceStep() step.Step {
	return step.Step{
		Name:     "provenance",
		Observes: "SLSA provenance on the index naming the finalize commit", Changes: "attests provenance (index and platform images as subjects)",
		Observe: func(ctx context.Context) (step.Observation, error) {
			if !p.w.signing() {
				return step.Skip("signing is off (--sign=none)"), nil
			}
			if p.index == (v1.Hash{}) {
				return step.Observation{Plan: "attest SLSA v1 provenance naming the finalize commit"}, nil
			}
			ref, err := p.w.digestRef(p.index.String())
			if err != nil {
				return step.Observation{}, err
			}
			ok, err := p.w.store.Attested(ctx, ref, sign.ProvenancePredicateType, p.w.policy, sign.BuiltFrom(p.commit))
			if err != nil {
				return step.Observation{}, err
			}
			if ok {
				return step.Observation{Done: true, Detail: "provenance names " + short(p.commit)}, nil
			}
			return step.Observation{Plan: "attest provenance naming " + short(p.commit)}, nil
		},
		Act: func(ctx context.Context) (string, error) {
			sg, err := p.w.signerFor()
			if err != nil {
				return "", err
			}
			pred, err := provenance.Predicate(p.facts())
			if err != nil {
				return "", err
			}
			ref, err := p.w.digestRef(p.index.String())
			if err != nil {
				return "", err
			}
			also, err := p.w.digestRefs(p.subjects()[1:])
			if err != nil {
				return "", err
			}
			if err := p.w.store.Attest(ctx, ref, sign.ProvenancePredicateType, pred, sg, also...); err != nil {
				return "", err
			}
			return "provenance attested for the index and " + fmt.Sprint(len(also)) + " platform image(s)", nil
		},
	}
}

// parseBuildArgs reads the --build-arg values before any step runs (provenance records them).
func parseBuildArgs(items []string) (map[string]string, error) {
	args, err := config.ParseBuildArgs(items)
	if err != nil {
		return nil, fault.AsBadInput(fmt.Errorf("--build-arg: %w", err))
	}
	return args, nil
}

// facts are what the provenance of this release records.
func (p *publishRun) facts() provenance.Facts {
	s, run := p.w.s, p.w.env.Run
	var plats []string
	for _, pl := range p.w.platforms {
		plats = append(plats, pl.String())
	}
	builder := run.BuilderID
	if builder == "" {
		builder = DefaultBuilderID
	}
	return provenance.Facts{
		SourceRepo: p.w.repoURL(), Commit: p.commit, Ref: "refs/heads/" + p.v.Branch(), Version: p.v.String(),
		Workflow: s.Workflow, WorkflowRef: run.WorkflowRef, RunID: run.ID, RunAttempt: run.Attempt, BuilderID: builder,
		Dockerfile: s.Dockerfile, Platforms: plats, BuildArgs: p.plan.buildArgs,
		Started: p.rep.Started, Finished: p.w.clk.Now(),
	}
}
