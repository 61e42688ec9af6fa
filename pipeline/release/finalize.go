package release

import (
	"context"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/shipgate/shipgate/pipeline/changelog"
	"github.com/shipgate/shipgate/pipeline/registry"
	"github.com/shipgate/shipgate/pipeline/source"
	"github.com/shipgate/shipgate/pipeline/step"
	"github.com/shipgate/shipgate/pipeline/version"
)

// Finalize is the first part of publish on its own, for native per-arch runners: check, then the
// finalize commit. Its report's "finalize commit" output is what each PublishPlatform checks out
// and what the joining Publish continues from.
func Finalize(ctx context.Context, env *Env, in PublishInput) (*step.Report, error) {
	rep := step.NewReport("finalize", in.Version)
	w, err := connect(env)
	if err != nil {
		rep.Err = err.Error()
		return rep, err
	}
	p := &publishRun{w: w, in: in, rep: rep, digs: map[string]v1.Hash{}}
	err = w.run(ctx, rep, []step.Step{p.check(), p.finalizeCommit()})
	return rep, err
}

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
}

// PublishPlatform builds one platform on its own runner from the finalize commit's tree (already
// finalized: its CHANGELOG carries the date) and pushes it as X.Y.Z-<arch>, labelled with the
// commit. Its steps:
//
//  1. check — the source directory is exactly the finalize commit, the head of release/X.Y.Z,
//     and its CHANGELOG passes the TBD rule;
//  2. platform image — X.Y.Z-<arch> built from that commit (skipped when already there).
//
// The report's "digest" output is the platform manifest's digest.
func PublishPlatform(ctx context.Context, env *Env, in PlatformInput) (*step.Report, error) {
	rep := step.NewReport("publish-platform", in.Version)
	w, err := connect(env)
	if err != nil {
		rep.Err = err.Error()
		return rep, err
	}
	var v version.Version
	var pl version.Platform
	var commit string
	var cl []byte
	steps := []step.Step{
		{
			Name: "check", Kind: step.Gate, Observes: "version, platform, source tree vs the finalize commit",
			Observe: func(ctx context.Context) (step.Observation, error) {
				if v, err = version.Parse(in.Version); err != nil {
					return step.Observation{}, err
				}
				rep.Version = v.String()
				if pl, err = version.ParsePlatform(in.Platform); err != nil {
					return step.Observation{}, err
				}
				if in.Commit == "" {
					return step.Observation{}, fmt.Errorf("--commit is required: the finalize commit that `finalize` printed")
				}
				if commit, err = checkSource(ctx, w, in.Dir, in.Commit); err != nil {
					return step.Observation{}, err
				}
				head, found, err := w.gh.ReleaseBranch(ctx, w.repo, v)
				if err != nil {
					return step.Observation{}, err
				}
				if !found || head != commit {
					return step.Observation{}, fmt.Errorf("%s is not the head of %s (%s): run finalize first and build the commit it prints", short(commit), v.Branch(), short(head))
				}
				var ok bool
				if cl, ok, err = source.ReadFile(in.Dir, w.env.Settings.Changelog); err != nil || !ok {
					return step.Observation{}, fmt.Errorf("%s missing from the source directory (%v)", w.env.Settings.Changelog, err)
				}
				if err := changelog.Check(cl, v); err != nil {
					return step.Observation{}, fmt.Errorf("commit %s is not finalized: %w", short(commit), err)
				}
				return step.Observation{Detail: fmt.Sprintf("%s from the finalize commit %s", pl, short(commit))}, nil
			},
		},
		{
			Name: "platform image", Observes: "X.Y.Z-<arch> and its revision label", Changes: "builds and pushes X.Y.Z-<arch>",
			Observe: func(ctx context.Context) (step.Observation, error) {
				img, err := w.reg.Image(ctx, w.image, v.ArchTag(pl))
				if err != nil {
					return step.Observation{}, err
				}
				if img.Found && img.Labels[registry.LabelRevision] == commit {
					rep.Set("digest", img.Digest.String())
					return step.Observation{Done: true, Detail: fmt.Sprintf("%s:%s is %s from %s", w.image, v.ArchTag(pl), img.Digest, short(commit))}, nil
				}
				return step.Observation{Plan: fmt.Sprintf("build %s and push %s:%s", pl, w.image, v.ArchTag(pl))}, nil
			},
			Act: func(ctx context.Context) (string, error) {
				if in.Builder == nil {
					return "", fmt.Errorf("no builder: publish-platform needs a container engine")
				}
				d, err := in.Builder.Build(ctx, pl, BuildSpec{Image: w.image, Tag: v.ArchTag(pl), Commit: commit, ChangelogPath: w.env.Settings.Changelog, Changelog: cl,
					Labels: map[string]string{registry.LabelRevision: commit, registry.AnnotationVersion: v.String(), registry.AnnotationSource: w.repoURL()}})
				if err != nil {
					return "", err
				}
				rep.Set("digest", d)
				return fmt.Sprintf("pushed %s:%s → %s", w.image, v.ArchTag(pl), d), nil
			},
		},
	}
	err = w.run(ctx, rep, steps)
	return rep, err
}
