package release

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/sign"
)

// verify checks a release's bundles by policy — index signature, an SBOM per platform (unless
// SBOMs are off), provenance naming commit — and returns how many requirements held, or a refusal
// listing each that did not, with its digest. A registry that could not be read is not a refusal:
// its error keeps the class the signature store gave it.
func (w *world) verify(ctx context.Context, digest v1.Hash, plats map[string]name.Digest, commit string) (int, error) {
	idx, err := w.digestRef(digest.String())
	if err != nil {
		return 0, err
	}
	reqs, err := w.store.VerifyRelease(ctx, idx, plats, commit, w.policy)
	var rerr *sign.ReleaseError
	if err != nil && !errors.As(err, &rerr) {
		return 0, err
	}
	var failed []sign.Requirement
	var lines []string
	ok := 0
	for _, r := range reqs {
		switch {
		case r.OK:
			ok++
		case w.s.NoSBOM && r.What == sign.WhatSBOM:
		default:
			failed = append(failed, r)
			lines = append(lines, r.String())
		}
	}
	if len(failed) > 0 {
		// A bundle that could not be read is "could not look", not a refusal: what is there may
		// verify once it can be read.
		return ok, fault.Wrap(sign.FailureClass(failed), fmt.Errorf("%d requirement(s) not met under %s:\n    %s", len(failed), w.policy, strings.Join(lines, "\n    ")))
	}
	return ok, nil
}
