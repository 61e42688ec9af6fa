package sign

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"golang.org/x/sync/errgroup"

	"github.com/shipgate/shipgate/pipeline/provenance"
)

// Requirement is one thing release verification demands, and whether it holds.
type Requirement struct {
	// What is "signature", "sbom" or "provenance".
	What string
	// Of names the subject: "index" or a platform such as "linux/amd64".
	Of string
	// Digest is the subject's digest, "sha256:<hex>".
	Digest string
	// OK says the requirement holds.
	OK bool
	// Reason says why it does not hold (empty when OK).
	Reason string
	// BundleSize is the size in bytes of the accepted bundle (0 when not OK).
	BundleSize int
}

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
// a *ReleaseError listing the failed ones when any fails. Other errors (the policy is incomplete,
// the trusted root cannot be loaded) come with no requirements. It only reads.
func (s *Store) VerifyRelease(ctx context.Context, index name.Digest, platforms map[string]name.Digest, commit string, p Policy) ([]Requirement, error) {
	c, err := newChecker(p)
	if err != nil {
		return nil, err
	}
	commit = strings.ToLower(strings.TrimSpace(commit))
	if commit == "" {
		return nil, fmt.Errorf("verify release %s: no finalize commit given: pass the commit the release branch was finalized at", index)
	}
	type job struct {
		req           *Requirement
		subject       name.Digest
		predicateType string
		check         func(Statement) error
	}
	var reqs []Requirement
	var jobs []job
	add := func(what, of string, d name.Digest, pt string, check func(Statement) error) {
		reqs = append(reqs, Requirement{What: what, Of: of, Digest: d.DigestStr()})
		jobs = append(jobs, job{subject: d, predicateType: pt, check: check})
	}
	add("signature", "index", index, SignaturePredicateType, nil)
	for _, pl := range sortedKeys(platforms) {
		add("signature", pl, platforms[pl], SignaturePredicateType, nil)
		add("sbom", pl, platforms[pl], SPDXPredicateType, nil)
	}
	add("provenance", "index", index, ProvenancePredicateType, BuiltFrom(commit))

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	opts, err := s.clients(gctx)
	if err != nil {
		return nil, err
	}
	for i := range jobs {
		j, r := jobs[i], &reqs[i]
		g.Go(func() error {
			v, err := lookup(opts, c, j.subject, j.predicateType, j.check)
			switch {
			case err != nil:
				r.Reason = "cannot read the registry: " + err.Error()
			case v.ok:
				r.OK, r.BundleSize = true, v.size
			default:
				r.Reason = v.reason(j.subject, j.predicateType)
			}
			return nil
		})
	}
	_ = g.Wait()
	if err := ctx.Err(); err != nil {
		return reqs, fmt.Errorf("verify release %s: %w", index, err)
	}
	var failed []Requirement
	for _, r := range reqs {
		if !r.OK {
			failed = append(failed, r)
		}
	}
	if len(failed) > 0 {
		return reqs, &ReleaseError{Failed: failed, Total: len(reqs)}
	}
	return reqs, nil
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

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
