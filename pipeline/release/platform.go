package release

import (
	"context"
	"fmt"
	"strings"

	"github.com/shipgate/shipgate/pipeline/changelog"
	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/registry"
	"github.com/shipgate/shipgate/pipeline/source"
	"github.com/shipgate/shipgate/pipeline/step"
	"github.com/shipgate/shipgate/pipeline/version"
	"github.com/shipgate/shipgate/pipeline/vulnscan"
)

// PlatformInput is one native-runner platform build.
type PlatformInput struct {
	// Version being published.
	Version string
	// Platform to build (linux/amd64, linux/arm64 ...).
	Platform string
	// Commit is the finalize commit (Finalize's output); the source directory must be its tree.
	Commit string
	// Dir is the source directory, a checkout of Commit.
	Dir string
	// Builder builds and pushes the image.
	Builder Builder
	// Tests are commands (--test) run inside the image before it is pushed.
	Tests []string
	// Scan runs a vulnerability scan over the image before it is pushed (--scan); nil: none.
	Scan *Scan
}

// platformRun is one PublishPlatform: what its gates found, then the build.
type platformRun struct {
	w   *world
	in  PlatformInput
	rep *step.Report
	v   version.Version
	pl  version.Platform
	// The plan: the finalize commit, checked, its CHANGELOG, the --test commands.
	commit string
	cl     []byte
	tests  [][]string
	scan   *vulnscan.Policy
}

// PublishPlatform builds one platform on its own runner from the finalize commit's tree (already
// finalized: its CHANGELOG carries the date) and pushes it as X.Y.Z-<arch>, labelled with the
// commit. Its steps:
//
//  1. source tree — the source directory is exactly --commit, the head of release/X.Y.Z;
//  2. CHANGELOG — that tree's CHANGELOG passes the TBD rule (it is finalized);
//  3. image checks — each --test runs in the image built from that commit, and its CHANGELOG
//     files are scanned, before the push;
//  4. platform image — X.Y.Z-<arch> built from that commit (done when already there).
//
// The report's "digest" output is the platform manifest's digest.
func PublishPlatform(ctx context.Context, env *Env, in PlatformInput) (*step.Report, error) {
	w, rep, v, err := begin(env, "publish-platform", in.Version)
	if err != nil {
		return rep, err
	}
	p := &platformRun{w: w, in: in, rep: rep, v: v}
	if p.pl, err = version.ParsePlatform(in.Platform); err != nil {
		return fail(rep, fault.AsBadInput(fmt.Errorf("--platform: %w", err)))
	}
	if in.Commit == "" {
		return fail(rep, fault.BadInputf("--commit is required: the finalize commit that `finalize` printed"))
	}
	if p.tests, err = parseTests(in.Tests); err != nil {
		return fail(rep, err)
	}
	if p.scan, err = parseScan(in.Scan); err != nil {
		return fail(rep, err)
	}
	return rep, w.run(ctx, rep, []step.Step{p.sourceGate(), p.changelogGate(), p.imageChecks(), p.image()})
}

func (p *platformRun) sourceGate() step.Step {
	return step.Step{
		Name: "source tree", Kind: step.Gate, Observes: "the source directory against --commit and the head of release/X.Y.Z",
		Observe: func(ctx context.Context) (step.Observation, error) {
			commit, err := checkSource(ctx, p.w, p.in.Dir, p.in.Commit)
			if err != nil {
				return step.Observation{}, err
			}
			head, found, err := p.w.gh.ReleaseBranch(ctx, p.w.repo, p.v)
			if err != nil {
				return step.Observation{}, err
			}
			if !found || head != commit {
				return step.Observation{}, refuse("%s is not the head of %s (%s): run finalize first and build the commit it prints", short(commit), p.v.Branch(), short(head))
			}
			p.commit = commit
			return step.Observation{Detail: fmt.Sprintf("%s from the finalize commit %s", p.pl, short(commit))}, nil
		},
	}
}

func (p *platformRun) changelogGate() step.Step {
	path := p.w.s.Changelog
	return step.Step{
		Name: "CHANGELOG", Kind: step.Gate, Observes: path + " in the source directory",
		Observe: func(ctx context.Context) (step.Observation, error) {
			cl, ok, err := source.ReadFile(p.in.Dir, path)
			if err != nil || !ok {
				return step.Observation{}, refuse("%s missing from the source directory (%v)", path, err)
			}
			if err := changelog.Check(cl, p.v); err != nil {
				return step.Observation{}, fault.AsRefused(fmt.Errorf("the source is not finalized: %w", err))
			}
			for _, c := range p.w.s.ChangelogCopies {
				cp, ok, err := source.ReadFile(p.in.Dir, c)
				if err != nil || !ok || string(cp) != string(cl) {
					return step.Observation{}, refuse("--changelog-copy %s is missing or differs from %s in the source: run finalize and build the commit it prints", c, path)
				}
			}
			p.cl = cl
			return step.Observation{Detail: path + " is finalized for " + p.v.String()}, nil
		},
	}
}

func (p *platformRun) imageChecks() step.Step {
	return step.Step{
		Name: "image checks", Kind: step.Gate, Observes: "the image before its push: --test commands, CHANGELOG files",
		Observe: func(ctx context.Context) (step.Observation, error) {
			_, scans := p.in.Builder.(ImageSource)
			switch {
			case len(p.tests) == 0 && !scans && p.scan == nil:
				return step.Skip("no --test given, and the builder hands over no image to scan"), nil
			case p.w.env.DryRun:
				return step.Skip("dry run: the image is checked before its push"), nil
			}
			img, err := p.w.reg.Image(ctx, p.w.image, p.v.ArchTag(p.pl))
			if err != nil {
				return step.Observation{}, err
			}
			if img.Found && img.Labels[registry.LabelRevision] == p.commit {
				return step.Observation{Done: true, Detail: "already pushed from the finalize commit (checked before its push)"}, nil
			}
			var verdicts []vulnscan.Verdict
			did, err := p.w.checkImage(ctx, p.in.Builder, p.v, p.pl, p.w.buildSpec(p.v, p.pl, p.commit, p.cl), p.tests, &verdicts, p.scan)
			if err != nil {
				return step.Observation{}, err
			}
			sum, err := p.w.judgeScans(p.rep.Note, verdicts)
			if err != nil {
				return step.Observation{}, err
			}
			return step.Observation{Detail: strings.TrimSuffix(did+"; "+sum, "; ")}, nil
		},
	}
}

func (p *platformRun) image() step.Step {
	return step.Step{
		Name: "platform image", Observes: "X.Y.Z-<arch> and its revision label", Changes: "builds and pushes X.Y.Z-<arch>",
		Observe: func(ctx context.Context) (step.Observation, error) {
			img, err := p.w.reg.Image(ctx, p.w.image, p.v.ArchTag(p.pl))
			if err != nil {
				return step.Observation{}, err
			}
			if img.Found && img.Labels[registry.LabelRevision] == p.commit {
				p.rep.Set("digest", img.Digest.String())
				return step.Observation{Done: true, Detail: fmt.Sprintf("%s:%s is %s from %s", p.w.image, p.v.ArchTag(p.pl), img.Digest, short(p.commit))}, nil
			}
			return step.Observation{Plan: fmt.Sprintf("build %s and push %s:%s", p.pl, p.w.image, p.v.ArchTag(p.pl))}, nil
		},
		Act: func(ctx context.Context) (string, error) {
			if p.in.Builder == nil {
				return "", fault.BadInputf("no builder: publish-platform needs a container engine (dagger call publish-platform)")
			}
			d, err := p.in.Builder.Build(ctx, p.pl, p.w.buildSpec(p.v, p.pl, p.commit, p.cl))
			if err != nil {
				return "", err
			}
			p.rep.Set("digest", d)
			return fmt.Sprintf("pushed %s:%s → %s", p.w.image, p.v.ArchTag(p.pl), d), nil
		},
	}
}
