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
	what      string
	digest    string
	predicate string // predicate type
	asset     string // the release asset's name for its content
	bundle    []byte
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
			all, err := p.signedBundles(ctx)
			if err != nil {
				return step.Observation{}, err
			}
			todo, err = missing(ctx, all, func(ctx context.Context, b attestedBundle) (bool, error) {
				return p.w.gh.HasAttestation(ctx, p.w.repo, b.digest, b.bundle)
			})
			if err != nil {
				return step.Observation{}, err
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

// signedBundles reads back the verified provenance bundle of the index and the SBOM bundle of
// each platform image.
func (p *publishRun) signedBundles(ctx context.Context) ([]attestedBundle, error) {
	wants := []attestedBundle{{what: "provenance", digest: p.index.String(), predicate: sign.ProvenancePredicateType, asset: "provenance.sigstore.json"}}
	if !p.w.s.NoSBOM {
		for _, pl := range p.w.platforms {
			wants = append(wants, attestedBundle{what: "SBOM of " + pl.String(), digest: p.digs[pl.String()].String(), predicate: sign.SPDXPredicateType, asset: "sbom-" + pl.Suffix() + ".spdx.json"})
		}
	}
	for i, wt := range wants {
		ref, err := p.w.digestRef(wt.digest)
		if err != nil {
			return nil, err
		}
		if wants[i].bundle, err = p.w.store.Bundle(ctx, ref, wt.predicate, p.w.policy); err != nil {
			return nil, fmt.Errorf("the %s bundle of %s: %w", wt.what, wt.digest, err)
		}
	}
	return wants, nil
}

// releaseAssets attaches to the draft release, as files, each platform's SPDX SBOM and the signed
// provenance bundle (verifiable with cosign verify-blob-attestation or sigstore tools). Assets
// already there with the same size stay; a re-run uploads nothing.
func (p *publishRun) releaseAssets() step.Step {
	var todo []releaseAsset
	return step.Step{
		Name:     "release assets",
		Observes: "the draft release's assets", Changes: "attaches the SBOMs and the provenance bundle",
		Observe: func(ctx context.Context) (step.Observation, error) {
			if !p.w.signing() {
				return step.Skip("signing is off (--sign=none): no SBOM or provenance to attach"), nil
			}
			if p.candidate() && !p.in.CandidateRelease {
				return step.Skip("a candidate gets no GitHub release without --candidate-release"), nil
			}
			if p.rel == nil || p.index.Hex == "" {
				return step.Observation{Plan: "attach the SBOMs and the provenance bundle to the draft release"}, nil
			}
			var err error
			if todo, err = p.missingAssets(ctx); err != nil {
				return step.Observation{}, err
			}
			if len(todo) == 0 {
				return step.Observation{Done: true, Detail: "SBOMs and provenance attached"}, nil
			}
			return step.Observation{Plan: fmt.Sprintf("attach %d file(s) to %s", len(todo), p.v.GitTag())}, nil
		},
		Act: func(ctx context.Context) (string, error) {
			for _, a := range todo {
				if err := p.w.gh.UploadAsset(ctx, p.w.repo, p.rel, a.name, "application/json", a.data); err != nil {
					return "", err
				}
			}
			return fmt.Sprintf("attached %d file(s) to %s", len(todo), p.v.GitTag()), nil
		},
	}
}

type releaseAsset struct {
	name string
	data []byte
}

// missingAssets are the files the draft release lacks (or holds with another size).
func (p *publishRun) missingAssets(ctx context.Context) ([]releaseAsset, error) {
	bundles, err := p.signedBundles(ctx)
	if err != nil {
		return nil, err
	}
	have, err := p.w.gh.Assets(ctx, p.w.repo, p.rel.ID)
	if err != nil {
		return nil, err
	}
	size := map[string]int{}
	for _, a := range have {
		size[a.Name] = a.Size
	}
	var out []releaseAsset
	for _, b := range bundles {
		data := b.bundle
		if b.predicate == sign.SPDXPredicateType {
			ref, err := p.w.digestRef(b.digest)
			if err != nil {
				return nil, err
			}
			st, err := sign.VerifyBundle(b.bundle, ref, b.predicate, p.w.policy)
			if err != nil {
				return nil, err
			}
			data = st.Predicate
		}
		if n, ok := size[b.asset]; !ok || n != len(data) {
			out = append(out, releaseAsset{name: b.asset, data: data})
		}
	}
	return out, nil
}
