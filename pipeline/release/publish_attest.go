package release

import (
	"context"
	"fmt"

	"github.com/shipgate/shipgate/pipeline/config"
	"github.com/shipgate/shipgate/pipeline/sign"
	"github.com/shipgate/shipgate/pipeline/step"
)

// attestedBundle is one bundle publish also keeps in GitHub's attestation store.
type attestedBundle struct {
	what   string
	digest string
	bundle []byte
}

// githubAttestations stores, in keyless mode, the provenance and SBOM bundles also through
// GitHub's repository attestations API, so `gh attestation verify oci://IMAGE@DIGEST --owner
// OWNER` finds them. Re-runs store nothing twice.
func (p *publishRun) githubAttestations() step.Step {
	var todo []attestedBundle
	return step.Step{
		Name:     "GitHub attestations",
		Observes: "provenance and SBOM bundles, and GitHub's attestation store for their digests", Changes: "stores the bundles missing there",
		Observe: func(ctx context.Context) (step.Observation, error) {
			if p.w.s.Sign != config.SignKeyless {
				return step.Skip("keyless signing only (--sign=keyless): gh attestation verify trusts Sigstore's public instance"), nil
			}
			if p.index.Hex == "" {
				return step.Observation{Plan: "store the provenance and SBOM bundles in GitHub's attestation store"}, nil
			}
			all, err := p.bundlesForGitHub(ctx)
			if err != nil {
				return step.Observation{}, err
			}
			todo = nil
			for _, b := range all {
				has, err := p.w.gh.HasAttestation(ctx, p.w.repo, b.digest, b.bundle)
				if err != nil {
					return step.Observation{}, err
				}
				if !has {
					todo = append(todo, b)
				}
			}
			if len(todo) == 0 {
				return step.Observation{Done: true, Detail: fmt.Sprintf("%d bundle(s) in GitHub's attestation store", len(all))}, nil
			}
			return step.Observation{Plan: fmt.Sprintf("store %d bundle(s) in GitHub's attestation store", len(todo))}, nil
		},
		Act: func(ctx context.Context) (string, error) {
			for _, b := range todo {
				if _, err := p.w.gh.EnsureAttestation(ctx, p.w.repo, b.digest, b.bundle); err != nil {
					return "", fmt.Errorf("store the %s bundle in GitHub's attestation store: %w", b.what, err)
				}
			}
			return fmt.Sprintf("stored %d bundle(s) in GitHub's attestation store", len(todo)), nil
		},
	}
}

// bundlesForGitHub reads back the verified provenance bundle of the index and the SBOM bundle of
// each platform image.
func (p *publishRun) bundlesForGitHub(ctx context.Context) ([]attestedBundle, error) {
	type want struct {
		what, digest, predicate string
	}
	wants := []want{{"provenance", p.index.String(), sign.ProvenancePredicateType}}
	if !p.w.s.NoSBOM {
		for _, pl := range p.w.platforms {
			wants = append(wants, want{"SBOM of " + pl.String(), p.digs[pl.String()].String(), sign.SPDXPredicateType})
		}
	}
	var out []attestedBundle
	for _, wt := range wants {
		ref, err := p.w.digestRef(wt.digest)
		if err != nil {
			return nil, err
		}
		b, err := p.w.store.Bundle(ctx, ref, wt.predicate, p.w.policy)
		if err != nil {
			return nil, fmt.Errorf("the %s bundle of %s: %w", wt.what, wt.digest, err)
		}
		out = append(out, attestedBundle{what: wt.what, digest: wt.digest, bundle: b})
	}
	return out, nil
}
