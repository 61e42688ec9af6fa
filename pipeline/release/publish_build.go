package release

import (
	"context"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/registry"
	"github.com/shipgate/shipgate/pipeline/step"
	"github.com/shipgate/shipgate/pipeline/version"
	"github.com/shipgate/shipgate/pipeline/vulnscan"
)

func (p *publishRun) finalizeCommit() step.Step {
	path := p.w.s.Changelog
	return step.Step{
		Name:     "finalize commit",
		Observes: "release/X.Y.Z head and its CHANGELOG", Changes: "a commit of the finalized CHANGELOG on release/X.Y.Z",
		Observe: func(ctx context.Context) (step.Observation, error) {
			if p.candidate() {
				if _, err := p.finalized(ctx, p.plan.source, ""); err != nil {
					return step.Observation{}, err
				}
				return step.Skip(fmt.Sprintf("a candidate is built from %s head %s as it is", p.v.Branch(), short(p.plan.source))), nil
			}
			st, err := p.w.gh.ObserveFinalizeFiles(ctx, p.w.repo, p.v, p.plan.source, p.files())
			if err != nil {
				return step.Observation{}, err
			}
			if st.Done {
				return p.finalized(ctx, st.Commit, "already on "+p.v.Branch())
			}
			return step.Observation{Plan: fmt.Sprintf("commit the finalized %s (dated %s) on %s on top of %s", path, p.plan.fin.Date, p.v.Branch(), short(p.plan.source))}, nil
		},
		Act: func(ctx context.Context) (string, error) {
			c, err := p.w.gh.FinalizeFiles(ctx, p.w.repo, p.v, p.plan.source, p.files())
			if err != nil {
				return "", err
			}
			obs, err := p.finalized(ctx, c, "committed on "+p.v.Branch())
			return obs.Detail, err
		},
	}
}

func (p *publishRun) finalized(ctx context.Context, commit, how string) (step.Observation, error) {
	when, err := p.w.gh.CommitTime(ctx, p.w.repo, commit)
	if err != nil {
		return step.Observation{}, err
	}
	p.commit, p.when = commit, when
	if p.candidate() {
		p.rep.Set("commit", commit) // a candidate has no finalize commit: it is built from this one
	} else {
		p.rep.Set("finalize commit", commit)
	}
	return step.Observation{Done: true, Detail: fmt.Sprintf("%s %s", short(commit), how)}, nil
}

func (p *publishRun) platformImages() step.Step {
	var missing []version.Platform
	return step.Step{
		Name:     "platform images",
		Observes: "X.Y.Z-<arch> tags and their revision labels; the X.Y.Z index's revision", Changes: "builds and pushes X.Y.Z-<arch>",
		Observe: func(ctx context.Context) (step.Observation, error) {
			if obs, ok := p.pending("build " + platformList(p.w.platforms)); ok {
				return obs, nil
			}
			if err := p.refuseOtherCommit(ctx); err != nil {
				return step.Observation{}, err
			}
			var have []string
			var err error
			if missing, have, err = p.platformState(ctx); err != nil {
				return step.Observation{}, err
			}
			if len(missing) == 0 {
				return step.Observation{Done: true, Detail: strings.Join(have, ", ")}, nil
			}
			return step.Observation{Plan: "build and push " + platformList(missing)}, nil
		},
		Act: func(ctx context.Context) (string, error) {
			if p.in.Builder == nil {
				return "", fault.BadInputf("no builder for %s: publish needs a container engine (dagger call publish), or the platform digests (--platform-digest)", platformList(missing))
			}
			var built []string
			for _, pl := range missing {
				h, err := p.build(ctx, pl)
				if err != nil {
					return "", err
				}
				p.digs[pl.String()] = h
				built = append(built, pl.Suffix()+"@"+h.String()[:19])
			}
			return "built " + strings.Join(built, ", "), nil
		},
	}
}

// imageChecks looks into each platform image about to be built, before any push: the --test
// commands run in it, and its files are scanned for a CHANGELOG (or copy) that still says TBD or
// is stale. A failure refuses the push: nothing is pushed, X.Y.Z is not burnt.
func (p *publishRun) imageChecks() step.Step {
	return step.Step{
		Name: "image checks", Kind: step.Gate,
		Observes: "each platform image built from the finalize commit, before any push: --test commands, CHANGELOG files",
		Observe: func(ctx context.Context) (step.Observation, error) {
			_, scans := p.in.Builder.(ImageSource)
			switch {
			case len(p.plan.tests) == 0 && !scans && p.plan.scan == nil:
				return step.Skip("no --test given, and the builder hands over no image to scan"), nil
			case len(p.plan.tests) == 0 && p.candidate() && p.plan.scan == nil:
				return step.Skip("no --test given; a candidate's CHANGELOG says TBD until the final, so it is not scanned"), nil
			case p.in.Prebuilt || len(p.plan.given) == len(p.w.platforms):
				return step.Skip("the platform images were built elsewhere (publish-platform checks them there)"), nil
			case p.w.env.DryRun || p.commit == "":
				return step.Skip("dry run: each platform image is checked before its push"), nil
			}
			missing, _, err := p.platformState(ctx)
			if err != nil {
				return step.Observation{}, err
			}
			if len(missing) == 0 {
				return step.Observation{Done: true, Detail: "every platform image is already pushed from the finalize commit (checked before its push)"}, nil
			}
			var did []string
			var verdicts []vulnscan.Verdict
			for _, pl := range missing {
				d, err := p.w.checkImage(ctx, p.in.Builder, p.v, pl, p.buildSpec(pl), p.plan.tests, &verdicts, p.plan.scan)
				if err != nil {
					return step.Observation{}, err
				}
				did = append(did, d)
			}
			sum, err := p.w.judgeScans(p.rep.Note, verdicts)
			if err != nil {
				return step.Observation{}, err
			}
			if sum != "" {
				did = append(did, sum)
			}
			return step.Observation{Detail: strings.Join(did, "; ")}, nil
		},
	}
}

// platformState finds each platform's image: given by --platform-digest, or already pushed from
// the finalize commit; the rest are missing.
func (p *publishRun) platformState(ctx context.Context) (missing []version.Platform, have []string, err error) {
	for _, pl := range p.w.platforms {
		if h, ok := p.plan.given[pl.String()]; ok {
			p.digs[pl.String()] = h
			have = append(have, pl.Suffix()+" given")
			continue
		}
		img, err := p.w.reg.Image(ctx, p.w.image, p.v.ArchTag(pl))
		if err != nil {
			return nil, nil, err
		}
		if img.Found && img.Labels[registry.LabelRevision] == p.commit {
			p.digs[pl.String()] = img.Digest
			have = append(have, pl.Suffix()+" built")
			continue
		}
		if p.in.Prebuilt {
			got := "missing"
			if img.Found {
				got = fmt.Sprintf("built from %q", img.Labels[registry.LabelRevision])
			}
			return nil, nil, refuse("%s:%s is %s, not from the finalize commit %s: run publish-platform for %s first", p.w.image, p.v.ArchTag(pl), got, short(p.commit), pl)
		}
		missing = append(missing, pl)
	}
	return missing, have, nil
}

// build builds one platform from the finalize commit's tree.
func (p *publishRun) build(ctx context.Context, pl version.Platform) (v1.Hash, error) {
	d, err := p.in.Builder.Build(ctx, pl, p.buildSpec(pl))
	if err != nil {
		return v1.Hash{}, fmt.Errorf("build %s: %w", pl, err)
	}
	h, err := v1.NewHash(d)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("build %s returned %q, not a digest", pl, d)
	}
	return h, nil
}

// finalized are the files of the finalize commit: the finalized CHANGELOG cl at its path and at
// every --changelog-copy.
func (w *world) finalized(cl []byte) map[string][]byte {
	files := map[string][]byte{w.s.Changelog: cl}
	for _, c := range w.s.ChangelogCopies {
		files[c] = cl
	}
	return files
}

// buildSpec is the build of platform pl from the finalize commit's tree: the source with the
// finalized CHANGELOG, its copies and the files --finalize-command changed written in.
func (p *publishRun) buildSpec(pl version.Platform) BuildSpec {
	spec := p.w.buildSpec(p.v, pl, p.commit, p.plan.fin.Content)
	spec.Files = p.plan.derived
	return spec
}

// buildSpec is one platform build of version v from commit with the finalized CHANGELOG cl.
func (w *world) buildSpec(v version.Version, pl version.Platform, commit string, cl []byte) BuildSpec {
	return BuildSpec{Image: w.image, Tag: v.ArchTag(pl), Commit: commit, ChangelogPath: w.s.Changelog, Changelog: cl, Copies: w.s.ChangelogCopies,
		Labels: map[string]string{registry.LabelRevision: commit, registry.AnnotationVersion: v.String(), registry.AnnotationSource: w.repoURL()}}
}

// refuseOtherCommit stops a publish whose X.Y.Z index was built from another commit before any
// build overwrites the per-arch tags.
func (p *publishRun) refuseOtherCommit(ctx context.Context) error {
	chk, err := p.w.reg.CheckIndex(ctx, p.w.image, p.v, p.w.platforms)
	if err != nil {
		return err
	}
	rev := chk.Annotations[registry.AnnotationRevision]
	if chk.Digest != (v1.Hash{}) && rev != "" && rev != p.commit && !p.in.Rebuild {
		return refuse("%s:%s already holds index %s built from commit %s, not the finalize commit %s: X.Y.Z is immutable once published; release a new version, or pass --rebuild if nothing was promoted", p.w.image, p.v.ImageTag(), chk.Digest, short(rev), short(p.commit))
	}
	return nil
}

func (p *publishRun) spec() registry.IndexSpec {
	var srcs []registry.Source
	for _, pl := range p.w.platforms {
		srcs = append(srcs, registry.Source{Platform: pl, Digest: p.digs[pl.String()].String()})
	}
	return registry.IndexSpec{Repository: p.w.image, Version: p.v, Sources: srcs, SourceURL: p.w.repoURL(), Revision: p.commit, Created: p.when, Rebuild: p.in.Rebuild}
}

func (p *publishRun) indexStep() step.Step {
	return step.Step{
		Name:     "index",
		Observes: "X.Y.Z and X.Y.Z-<arch> in the registry", Changes: "per-arch tags and the X.Y.Z index (never latest)",
		Observe: func(ctx context.Context) (step.Observation, error) {
			if obs, ok := p.pending("push index " + p.v.ImageTag()); ok {
				return obs, nil
			}
			if len(p.digs) < len(p.w.platforms) {
				return step.Observation{Plan: "push index " + p.v.ImageTag() + " of the platform images"}, nil
			}
			st, err := p.w.reg.ObservePublish(ctx, p.spec())
			if err != nil {
				return step.Observation{}, err
			}
			if st.Refusal != "" {
				return step.Observation{}, fault.AsRefused(fmt.Errorf("%w: %s", registry.ErrImmutable, st.Refusal))
			}
			p.index = st.Index
			if st.Done() {
				p.outputs()
				return step.Observation{Done: true, Detail: fmt.Sprintf("%s:%s is %s", p.w.image, p.v.ImageTag(), st.Index)}, nil
			}
			return step.Observation{Plan: strings.Join(st.Plan(), "; ")}, nil
		},
		Act: func(ctx context.Context) (string, error) {
			pub, err := p.w.reg.Publish(ctx, p.spec())
			if err != nil {
				return "", err
			}
			p.index = pub.Index
			p.outputs()
			return fmt.Sprintf("%s:%s → %s", p.w.image, p.v.ImageTag(), pub.Index), nil
		},
	}
}

func (p *publishRun) outputs() {
	p.rep.Set("index", p.w.image+"@"+p.index.String())
	for _, pl := range p.w.platforms {
		p.rep.Set(pl.String(), p.w.image+"@"+p.digs[pl.String()].String())
	}
}

// subjects are the index and the platform images, in a stable order.
func (p *publishRun) subjects() []string {
	out := []string{p.index.String()}
	for _, pl := range p.w.platforms {
		out = append(out, p.digs[pl.String()].String())
	}
	return out
}
