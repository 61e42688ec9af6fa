package sign

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"golang.org/x/sync/errgroup"

	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/provenance"
)

// Requirement is one thing release verification demands, and whether it holds.
type Requirement struct {
	// What is WhatSignature, WhatSBOM or WhatProvenance.
	What string
	// Of names the subject: "index" or a platform such as "linux/amd64".
	Of string
	// Digest is the subject's digest, "sha256:<hex>".
	Digest string
	// OK says the requirement holds.
	OK bool
	// Reason says why it does not hold (empty when OK).
	Reason string
	// Class is why it does not hold: fault.Unreadable when what was there could not be read (a
	// malformed bundle), else fault.Refused (fault.Unknown when OK).
	Class fault.Class
	// BundleSize is the size in bytes of the accepted bundle (for a signature in cosign's older
	// format, of its signed payload; 0 when not OK).
	BundleSize int
}

// What a requirement is of.
const (
	WhatSignature  = "signature"
	WhatSBOM       = "sbom"
	WhatProvenance = "provenance"
)

// String is one line: "ok   signature on index sha256:..." or "FAIL sbom on linux/arm64 ...: reason".
func (r Requirement) String() string {
	if r.OK {
		return fmt.Sprintf("ok   %s on %s %s", r.What, r.Of, r.Digest)
	}
	return fmt.Sprintf("FAIL %s on %s %s: %s", r.What, r.Of, r.Digest, r.Reason)
}

// ReleaseError is returned by VerifyRelease when a requirement fails; it lists every failure.
type ReleaseError struct {
	// Failed are the requirements that do not hold, in VerifyRelease's order.
	Failed []Requirement
	// Total is how many requirements were checked.
	Total int
}

// Error lists every failed requirement, one per line.
func (e *ReleaseError) Error() string {
	lines := make([]string, len(e.Failed))
	for i, r := range e.Failed {
		lines[i] = "  " + r.String()
	}
	return fmt.Sprintf("release verification failed: %d of %d requirements do not hold:\n%s", len(e.Failed), e.Total, strings.Join(lines, "\n"))
}

// VerifyRelease checks, under policy p, everything promote requires of a release, against
// digests only:
//
//   - a signature on the index, and on each platform manifest;
//   - an SPDX SBOM attestation on each platform manifest;
//   - a SLSA v1 provenance attestation on the index that names the index as a subject and
//     commit (the release's finalize commit) as its source commit.
//
// platforms maps a platform ("linux/amd64") to its manifest digest. It returns every requirement
// in a fixed order (index signature, then per platform signature and SBOM, then provenance), and
// a *ReleaseError listing the failed ones when any fails, classified Refused (Unreadable when
// every failure is a bundle that could not be read). A registry that cannot be read fails the
// whole verification with its own class (Unreachable for an outage), never a ReleaseError: "could
// not look" is not "does not hold". Other errors (the policy is incomplete, the trusted root
// cannot be loaded) come with no requirements. It only reads.
func (s *Store) VerifyRelease(ctx context.Context, index name.Digest, platforms map[string]name.Digest, commit string, p Policy) ([]Requirement, error) {
	c, err := newChecker(p)
	if err != nil {
		return nil, err
	}
	commit = strings.ToLower(strings.TrimSpace(commit))
	if commit == "" {
		return nil, fault.BadInputf("verify release %s: no finalize commit given: pass the commit the release branch was finalized at", index)
	}
	jobs := releaseJobs(index, platforms, commit)
	reqs := make([]Requirement, len(jobs))
	for i, j := range jobs {
		reqs[i] = j.req
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	cn, err := s.conn(gctx)
	if err != nil {
		return nil, err
	}
	// Each subject's referrers are listed once (once per Store), and each bundle fetched once,
	// for all its requirements.
	sets := map[string]*referrerSet{}
	for _, j := range jobs {
		if sets[j.subject.String()] == nil {
			sets[j.subject.String()] = newReferrerSet(cn, j.subject)
		}
	}
	for i, j := range jobs {
		g.Go(func() error {
			v, err := sets[j.subject.String()].lookup(gctx, c, j.predicateType, j.check)
			if err != nil {
				return err
			}
			if gctx.Err() != nil {
				return gctx.Err()
			}
			reqs[i].OK, reqs[i].BundleSize = v.ok, v.size
			reqs[i].Reason, reqs[i].Class = v.reason(j.subject, j.predicateType), v.class()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return reqs, fmt.Errorf("verify release %s: %w", index, err)
	}
	return reqs, releaseError(reqs)
}

// releaseJob is one requirement to look up.
type releaseJob struct {
	req           Requirement
	subject       name.Digest
	predicateType string
	check         func(Statement) error
}

// releaseJobs lists the requirements in VerifyRelease's order.
func releaseJobs(index name.Digest, platforms map[string]name.Digest, commit string) []releaseJob {
	var jobs []releaseJob
	add := func(what, of string, d name.Digest, pt string, check func(Statement) error) {
		jobs = append(jobs, releaseJob{req: Requirement{What: what, Of: of, Digest: d.DigestStr()}, subject: d, predicateType: pt, check: check})
	}
	add(WhatSignature, "index", index, SignaturePredicateType, nil)
	for _, pl := range slices.Sorted(maps.Keys(platforms)) {
		add(WhatSignature, pl, platforms[pl], SignaturePredicateType, nil)
		add(WhatSBOM, pl, platforms[pl], SPDXPredicateType, nil)
	}
	add(WhatProvenance, "index", index, ProvenancePredicateType, BuiltFrom(commit))
	return jobs
}

// releaseError is nil when every requirement holds, and otherwise a classified *ReleaseError.
func releaseError(reqs []Requirement) error {
	failed := slices.DeleteFunc(slices.Clone(reqs), func(r Requirement) bool { return r.OK })
	if len(failed) == 0 {
		return nil
	}
	return fault.Wrap(FailureClass(failed), &ReleaseError{Failed: failed, Total: len(reqs)})
}

// FailureClass is the class of a set of failed requirements: fault.Unreadable when none of them
// could be read (what is there may be fine: look again), fault.Refused when any was refused.
func FailureClass(failed []Requirement) fault.Class {
	for _, r := range failed {
		if r.Class != fault.Unreadable {
			return fault.Refused
		}
	}
	return fault.Unreadable
}

// BuiltFrom is a check for Attested: the provenance statement names commit as its source commit.
func BuiltFrom(commit string) func(Statement) error {
	commit = strings.ToLower(strings.TrimSpace(commit))
	return func(st Statement) error {
		got, err := provenance.CommitOf(st.Predicate)
		if err != nil {
			return err
		}
		if got != commit {
			return fmt.Errorf("provenance names commit %s, not the finalize commit %s: this image was built from another tree", got, commit)
		}
		return nil
	}
}
