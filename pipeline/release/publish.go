package release

import (
	"context"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/shipgate/shipgate/pipeline/changelog"
	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/github"
	"github.com/shipgate/shipgate/pipeline/step"
	"github.com/shipgate/shipgate/pipeline/version"
	"github.com/shipgate/shipgate/pipeline/vulnscan"
)

// Builder is the part of publish that needs a container engine: the Dagger module implements it
// (tests and the demo build in memory).
type Builder interface {
	// Build builds platform p from the finalized tree — the source at spec.Commit's parent with the
	// finalized CHANGELOG written in, which is exactly the finalize commit's tree — labels it
	// org.opencontainers.image.revision=spec.Commit, pushes it as spec.Tag (X.Y.Z-<arch>) in the
	// image repository and returns the pushed manifest's digest.
	Build(ctx context.Context, p version.Platform, spec BuildSpec) (string, error)
	// SBOM returns an SPDX JSON document for the platform image at ref (repository@digest).
	SBOM(ctx context.Context, p version.Platform, ref string) ([]byte, error)
}

// BuildSpec is what one platform build needs.
type BuildSpec struct {
	Image         string // image repository
	Tag           string // X.Y.Z-<arch>
	Commit        string // the finalize commit
	ChangelogPath string
	Changelog     []byte   // the finalized CHANGELOG to write into the tree before building; nil for a candidate (the tree as it is)
	Copies        []string // further paths the finalized CHANGELOG is written to (--changelog-copy)
	// Files are the files --finalize-command added or changed (path → content), written into the
	// tree too; nil without one (and in publish-platform, whose checkout holds them already).
	Files  map[string][]byte
	Labels map[string]string
}

// PublishInput is one publish run.
type PublishInput struct {
	// Version to publish (X.Y.Z, X.Y.Z-rc.N, a leading v accepted).
	Version string
	// Commit is --commit; empty releases the source directory's HEAD.
	Commit string
	// Dir is the source directory: a checkout of the commit, which must be exactly its tree.
	Dir string
	// Builder builds missing platform images; nil when every platform image already exists
	// (Prebuilt, or Digests).
	Builder Builder
	// Digests are platform images pushed elsewhere ("linux/amd64" → "sha256:…"), e.g. by
	// PublishPlatform on native runners.
	Digests map[string]string
	// Prebuilt takes the platform images from the X.Y.Z-<arch> tags, which must carry the finalize
	// commit as their revision label (the native-runner join).
	Prebuilt bool
	// Rebuild allows replacing an X.Y.Z index that holds different content — refused once promote
	// has started.
	Rebuild bool
	// Tests are commands (--test) run inside each platform image built here, before anything is
	// pushed; one that fails refuses the push.
	Tests []string
	// Scan runs a vulnerability scan over each platform image built here before anything is
	// pushed (--scan); nil: none.
	Scan *Scan
	// Candidate publishes the next release candidate of Version (X.Y.Z): shipgate picks N
	// (publish_candidate.go). A Version given as X.Y.Z-rc.N is that candidate.
	Candidate bool
	// CandidateRelease gives a candidate a draft GitHub pre-release (promote publishes it).
	CandidateRelease bool
	// RequireCandidate refuses a final unless a candidate of it from the same source commit passed
	// its downstream smoke test.
	RequireCandidate bool
}

// publishPlan is what publish's gates found; the acts only read it.
type publishPlan struct {
	source  string             // the commit the source tree is
	fin     changelog.Result   // the finalized CHANGELOG
	given   map[string]v1.Hash // --platform-digest values, parsed
	tests   [][]string         // --test commands, parsed
	tagAt   string             // the commit vX.Y.Z points at, "" when it does not exist
	release *github.Release    // the draft found (nil: none yet)
	derived map[string][]byte  // what --finalize-command added or changed
	scan    *vulnscan.Policy   // --scan's threshold and ignore entries; nil: no --scan

	// finalize is --finalize-command as the argv it runs, parsed; nil without one.
	finalize []string
	// buildArgs are the --build-arg values, parsed (KEY → VALUE), as provenance records them.
	buildArgs map[string]string
}

// publishRun is one publish: the plan of its gates and what its acts produced, in order.
type publishRun struct {
	w   *world
	in  PublishInput
	rep *step.Report
	v   version.Version // the version published (a candidate's once "candidate number" chose N)
	// final is X.Y.Z: v itself, or the version v is a candidate of.
	final version.Version
	plan  publishPlan

	commit string // the finalize commit
	when   time.Time
	digs   map[string]v1.Hash // platform → manifest digest
	index  v1.Hash
	rel    *github.Release
}

// Publish is phase 1. Its gates run first and every refusal shows at once:
//
//  1. source tree — the source directory is exactly the commit it releases;
//     candidate number — with --candidate, N for X.Y.Z-rc.N (publish_candidate.go);
//  2. CHANGELOG — it finalizes without TBD (a candidate leaves it alone);
//     derived files — with --finalize-command, what it changes joins the finalize commit;
//  3. pull request — the release PR is ready for review, approved as the base branch requires,
//     and the source commit's required checks passed (a pre-release: the checks only);
//  4. release — vX.Y.Z is not public yet;
//  5. git tag — vX.Y.Z, if it exists, is at this release's finalize commit;
//  6. rebuild — with --rebuild, promote has not started for X.Y.Z;
//     candidate — with --require-candidate, a candidate of this commit passed its smoke test.
//
// Then the acts, each observing first so a re-run finishes the job:
//
//  7. finalize commit — the finalized CHANGELOG committed on release/X.Y.Z on top of exactly the
//     source commit (so the build cannot race a later commit);
//  8. image checks (a gate) — in every platform image built from that commit, before anything is
//     pushed: each --test runs, and no CHANGELOG or copy in its files says TBD or is stale;
//  9. platform images — each platform built from that commit's tree and pushed as X.Y.Z-<arch>;
//  10. index — the X.Y.Z index of those images (never latest);
//  11. signatures, 12. SBOMs, 13. provenance — SLSA v1 naming the finalize commit;
//  14. git tag — vX.Y.Z at the finalize commit;
//  15. draft release — notes from the CHANGELOG, state (digest) kept apart from them;
//  16. smoke test — repository_dispatch to the downstream repository, recorded in the release.
func Publish(ctx context.Context, env *Env, in PublishInput) (*step.Report, error) {
	p, err := startPublish(env, "publish", in)
	if err != nil {
		return p.rep, err
	}
	steps := append(p.gates(),
		p.finalizeCommit(),
		p.imageChecks(),
		p.platformImages(),
		p.indexStep(),
		p.signatures(),
		p.sboms(),
		p.provenanceStep(),
		p.githubAttestations(),
		p.gitTag(),
		p.draftRelease(),
		p.releaseAssets(),
		p.smokeTest(),
	)
	return p.rep, p.w.run(ctx, p.rep, steps)
}

// Finalize is the first part of publish on its own, for native per-arch runners: the gates, then
// the finalize commit. Its report's "finalize commit" output is what each PublishPlatform checks
// out and what the joining Publish continues from.
func Finalize(ctx context.Context, env *Env, in PublishInput) (*step.Report, error) {
	p, err := startPublish(env, "finalize", in)
	if err != nil {
		return p.rep, err
	}
	return p.rep, p.w.run(ctx, p.rep, append(p.gates(), p.finalizeCommit()))
}

func startPublish(env *Env, phase string, in PublishInput) (*publishRun, error) {
	w, rep, v, err := begin(env, phase, in.Version)
	p := &publishRun{w: w, in: in, rep: rep, v: v, final: v.Final(), digs: map[string]v1.Hash{}}
	if err != nil {
		return p, err
	}
	if in.Candidate && v.IsPrerelease() {
		_, err = fail(rep, fault.BadInputf("--candidate numbers the candidate itself: give --version %s (or drop --candidate to publish %s)", v.Final(), v))
		return p, err
	}
	if (in.Candidate || v.IsCandidate()) && in.RequireCandidate {
		_, err = fail(rep, fault.BadInputf("--require-candidate is for the final %s, not a candidate", v.Final()))
		return p, err
	}
	if p.plan.given, err = parseDigests(w.platforms, in.Digests); err != nil {
		_, err = fail(rep, err)
		return p, err
	}
	if p.plan.tests, err = parseTests(in.Tests); err != nil {
		_, err = fail(rep, err)
		return p, err
	}
	if p.plan.scan, err = parseScan(in.Scan); err != nil {
		_, err = fail(rep, err)
		return p, err
	}
	if p.plan.finalize, err = parseFinalize(w.s.FinalizeCommand); err != nil {
		_, err = fail(rep, err)
		return p, err
	}
	if p.plan.buildArgs, err = parseBuildArgs(w.s.BuildArgs); err != nil {
		_, err = fail(rep, err)
	}
	return p, err
}

func (p *publishRun) gates() []step.Step {
	return []step.Step{
		p.sourceGate(),
		p.candidateNumber(),
		p.changelogGate(),
		p.derivedFiles(),
		p.prGate(),
		p.releaseGate(),
		p.tagGate(),
		p.rebuildGate(),
		p.requireCandidate(),
	}
}

// candidate reports whether this run publishes a release candidate.
func (p *publishRun) candidate() bool { return p.in.Candidate || p.v.IsCandidate() }

// pending is the observation of a step that cannot look yet because the finalize commit is only
// planned (a dry run of a first publish).
func (p *publishRun) pending(what string) (step.Observation, bool) {
	if p.commit == "" {
		return step.Observation{Plan: what + " (after the finalize commit)"}, true
	}
	return step.Observation{}, false
}

func platformList(ps []version.Platform) string {
	var s []string
	for _, p := range ps {
		s = append(s, p.String())
	}
	slices.Sort(s)
	return strings.Join(s, ", ")
}

// normalize compares notes the way the GitHub side stores them.
func normalize(notes string) string {
	n, _, _ := github.SplitBody(notes)
	return n
}
