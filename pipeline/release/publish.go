package release

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/shipgate/shipgate/pipeline/changelog"
	"github.com/shipgate/shipgate/pipeline/config"
	"github.com/shipgate/shipgate/pipeline/github"
	"github.com/shipgate/shipgate/pipeline/provenance"
	"github.com/shipgate/shipgate/pipeline/registry"
	"github.com/shipgate/shipgate/pipeline/sign"
	"github.com/shipgate/shipgate/pipeline/source"
	"github.com/shipgate/shipgate/pipeline/step"
	"github.com/shipgate/shipgate/pipeline/version"
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
	Changelog     []byte // the finalized CHANGELOG to write into the tree before building
	Labels        map[string]string
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
	// Rebuild allows replacing an X.Y.Z index that holds different content (never once promoted).
	Rebuild bool
}

// publishRun is the state one publish builds up as its steps run.
type publishRun struct {
	w      *world
	in     PublishInput
	rep    *step.Report
	v      version.Version
	source string // the commit the source tree is
	fin    changelog.Result
	commit string // the finalize commit
	when   time.Time
	digs   map[string]v1.Hash // platform → manifest digest
	index  v1.Hash
	rel    *github.Release
}

// Publish is phase 1. Its steps, in order:
//
//  1. check — version, settings, source tree = commit, CHANGELOG finalizes without TBD, the
//     release is not public yet;
//  2. finalize commit — the finalized CHANGELOG committed on release/X.Y.Z on top of exactly the
//     source commit (so the build cannot race a later commit);
//  3. platform images — each platform built from that commit's tree and pushed as X.Y.Z-<arch>;
//  4. index — the X.Y.Z index of those images (never latest);
//  5. signatures — on the index and every platform image;
//  6. SBOMs — an SPDX attestation on every platform image;
//  7. provenance — SLSA v1 naming the finalize commit, on the index and platforms;
//  8. git tag — vX.Y.Z at the finalize commit;
//  9. draft release — notes from the CHANGELOG, state (digest) kept apart from them;
//  10. smoke test — repository_dispatch to the downstream repository, recorded in the release.
func Publish(ctx context.Context, env *Env, in PublishInput) (*step.Report, error) {
	rep := step.NewReport("publish", in.Version)
	w, err := connect(env)
	if err != nil {
		rep.Err = err.Error()
		return rep, err
	}
	p := &publishRun{w: w, in: in, rep: rep, digs: map[string]v1.Hash{}}
	steps := []step.Step{
		p.check(),
		p.finalizeCommit(),
		p.platformImages(),
		p.indexStep(),
		p.signatures(),
		p.sboms(),
		p.provenanceStep(),
		p.gitTag(),
		p.draftRelease(),
		p.smokeTest(),
	}
	err = w.run(ctx, rep, steps)
	return rep, err
}

func (p *publishRun) check() step.Step {
	return step.Step{
		Name: "check", Kind: step.Gate,
		Observes: "version, settings, source tree vs commit, CHANGELOG, existing release",
		Observe: func(ctx context.Context) (step.Observation, error) {
			v, err := version.Parse(p.in.Version)
			if err != nil {
				return step.Observation{}, err
			}
			p.v = v
			p.rep.Version = v.String()
			if p.source, err = checkSource(ctx, p.w, p.in.Dir, p.in.Commit); err != nil {
				return step.Observation{}, err
			}
			cl, found, err := source.ReadFile(p.in.Dir, p.w.env.Settings.Changelog)
			if err != nil {
				return step.Observation{}, err
			}
			if !found || len(cl) == 0 {
				return step.Observation{}, fmt.Errorf("%s is empty or missing in the source tree: run prepare, or add `## [%s] - TBD` with the release notes", p.w.env.Settings.Changelog, v)
			}
			p.fin, err = changelog.Finalize(cl, v, changelog.Options{Now: p.w.clk.Now(), RepoURL: p.w.repoURL()})
			if err != nil {
				return step.Observation{}, err
			}
			rel, err := p.w.gh.FindRelease(ctx, p.w.repo, v.GitTag())
			if err != nil {
				return step.Observation{}, err
			}
			if rel != nil && !rel.Draft {
				return step.Observation{}, fmt.Errorf("release %s of %s is already published (%s): publish never changes a public release; promote or roll back instead, or release a new version", v.GitTag(), p.w.repo, rel.URL)
			}
			p.rel = rel
			p.rep.Set("source commit", p.source)
			return step.Observation{Detail: fmt.Sprintf("%s from %s, CHANGELOG dated %s", v, short(p.source), p.fin.Date)}, nil
		},
	}
}

// checkSource resolves the commit of the source directory (--commit, or .git/HEAD) and refuses a
// directory that is not exactly that commit's tree on GitHub.
func checkSource(ctx context.Context, w *world, dir, flag string) (string, error) {
	if dir == "" {
		return "", fmt.Errorf("no source directory given: pass the repository checkout as --source")
	}
	head, _, err := source.Head(dir)
	if err != nil && flag == "" {
		return "", fmt.Errorf("%v: pass --commit", err)
	}
	commit, err := source.Commit(flag, head)
	if err != nil {
		return "", err
	}
	local, err := source.Walk(dir)
	if err != nil {
		return "", fmt.Errorf("read the source directory: %w", err)
	}
	committed, err := w.gh.CommitTree(ctx, w.repo, commit)
	if err != nil {
		return "", err
	}
	return commit, source.Check(commit, local, committed)
}

func (p *publishRun) finalizeCommit() step.Step {
	path := p.w.env.Settings.Changelog
	return step.Step{
		Name:     "finalize commit",
		Observes: "release/X.Y.Z head and its CHANGELOG", Changes: "a commit of the finalized CHANGELOG on release/X.Y.Z",
		Observe: func(ctx context.Context) (step.Observation, error) {
			st, err := p.w.gh.ObserveFinalize(ctx, p.w.repo, p.v, p.source, path, p.fin.Content)
			if err != nil {
				return step.Observation{}, err
			}
			if st.Done {
				return p.finalized(ctx, st.Commit, "already on "+p.v.Branch())
			}
			return step.Observation{Plan: fmt.Sprintf("commit the finalized %s (dated %s) on %s on top of %s", path, p.fin.Date, p.v.Branch(), short(p.source))}, nil
		},
		Act: func(ctx context.Context) (string, error) {
			c, err := p.w.gh.Finalize(ctx, p.w.repo, p.v, p.source, path, p.fin.Content)
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
	p.rep.Set("finalize commit", commit)
	return step.Observation{Done: true, Detail: fmt.Sprintf("%s %s", short(commit), how)}, nil
}

// pending is the observation of a step that cannot look yet because an earlier one only planned.
func (p *publishRun) pending(what string) (step.Observation, bool) {
	if p.commit == "" {
		return step.Observation{Plan: what + " (after the finalize commit)"}, true
	}
	return step.Observation{}, false
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
			missing = nil
			var have []string
			for _, pl := range p.w.platforms {
				if d, ok := p.in.Digests[pl.String()]; ok {
					h, err := v1.NewHash(d)
					if err != nil {
						return step.Observation{}, fmt.Errorf("--platform-digest %s=%s: %v", pl, d, err)
					}
					p.digs[pl.String()] = h
					have = append(have, pl.Suffix()+" given")
					continue
				}
				img, err := p.w.reg.Image(ctx, p.w.image, p.v.ArchTag(pl))
				if err != nil {
					return step.Observation{}, err
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
					return step.Observation{}, fmt.Errorf("%s:%s is %s, not from the finalize commit %s: run publish-platform for %s first", p.w.image, p.v.ArchTag(pl), got, short(p.commit), pl)
				}
				missing = append(missing, pl)
			}
			if len(missing) == 0 {
				return step.Observation{Done: true, Detail: strings.Join(have, ", ")}, nil
			}
			return step.Observation{Plan: "build and push " + platformList(missing)}, nil
		},
		Act: func(ctx context.Context) (string, error) {
			if p.in.Builder == nil {
				return "", fmt.Errorf("no builder for %s: publish needs a container engine (dagger call publish), or the platform digests", platformList(missing))
			}
			var built []string
			for _, pl := range missing {
				spec := BuildSpec{Image: p.w.image, Tag: p.v.ArchTag(pl), Commit: p.commit, ChangelogPath: p.w.env.Settings.Changelog, Changelog: p.fin.Content,
					Labels: map[string]string{registry.LabelRevision: p.commit, registry.AnnotationVersion: p.v.String(), registry.AnnotationSource: p.w.repoURL()}}
				d, err := p.in.Builder.Build(ctx, pl, spec)
				if err != nil {
					return "", fmt.Errorf("build %s: %w", pl, err)
				}
				h, err := v1.NewHash(d)
				if err != nil {
					return "", fmt.Errorf("build %s returned %q, not a digest", pl, d)
				}
				p.digs[pl.String()] = h
				built = append(built, pl.Suffix()+"@"+h.String()[:19])
			}
			return "built " + strings.Join(built, ", "), nil
		},
	}
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
		return fmt.Errorf("%s:%s already holds index %s built from commit %s, not the finalize commit %s: X.Y.Z is immutable once published; release a new version, or pass --rebuild if nothing was promoted", p.w.image, p.v.ImageTag(), chk.Digest, short(rev), short(p.commit))
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
				return step.Observation{}, fmt.Errorf("%w: %s", registry.ErrImmutable, st.Refusal)
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

func (p *publishRun) signatures() step.Step {
	var todo []string
	return step.Step{
		Name:     "signatures",
		Observes: "signatures referring to the index and each platform image", Changes: "signs what is not signed",
		Observe: func(ctx context.Context) (step.Observation, error) {
			if p.index == (v1.Hash{}) {
				return step.Observation{Plan: "sign the index and each platform image"}, nil
			}
			if p.w.env.Settings.Sign == config.SignNone {
				return step.Observation{Done: true, Detail: "signing is off (--sign=none): promote will refuse"}, nil
			}
			todo = nil
			for _, d := range p.subjects() {
				ref, err := p.w.digestRef(d)
				if err != nil {
					return step.Observation{}, err
				}
				ok, err := p.w.store.Signed(ctx, ref, p.w.policy)
				if err != nil {
					return step.Observation{}, err
				}
				if !ok {
					todo = append(todo, d)
				}
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
			if p.w.env.Settings.NoSBOM {
				return step.Observation{Done: true, Detail: "SBOMs are off (--no-sbom)"}, nil
			}
			if p.w.env.Settings.Sign == config.SignNone {
				return step.Observation{Done: true, Detail: "signing is off (--sign=none)"}, nil
			}
			if p.index == (v1.Hash{}) {
				return step.Observation{Plan: "attest an SPDX SBOM on each platform image"}, nil
			}
			todo = nil
			for _, pl := range p.w.platforms {
				ref, err := p.w.digestRef(p.digs[pl.String()].String())
				if err != nil {
					return step.Observation{}, err
				}
				ok, err := p.w.store.Attested(ctx, ref, sign.SPDXPredicateType, p.w.policy, nil)
				if err != nil {
					return step.Observation{}, err
				}
				if !ok {
					todo = append(todo, pl)
				}
			}
			if len(todo) == 0 {
				return step.Observation{Done: true, Detail: fmt.Sprintf("%d platform SBOMs attested", len(p.w.platforms))}, nil
			}
			return step.Observation{Plan: "generate and attest SBOMs for " + platformList(todo)}, nil
		},
		Act: func(ctx context.Context) (string, error) {
			if p.in.Builder == nil {
				return "", fmt.Errorf("no SBOM generator for %s: run publish through dagger call, or pass --no-sbom", platformList(todo))
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
			if p.w.env.Settings.Sign == config.SignNone {
				return step.Observation{Done: true, Detail: "signing is off (--sign=none)"}, nil
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
			also, err := refsOf(p.w, p.subjects()[1:])
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

func (p *publishRun) facts() provenance.Facts {
	s, run := p.w.env.Settings, p.w.env.Run
	args, _ := config.ParseBuildArgs(s.BuildArgs)
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
		Dockerfile: s.Dockerfile, Platforms: plats, BuildArgs: args,
		Started: p.rep.Started, Finished: p.w.clk.Now(),
	}
}

func refsOf(w *world, digests []string) ([]name.Digest, error) {
	var out []name.Digest
	for _, d := range digests {
		r, err := w.digestRef(d)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func (p *publishRun) gitTag() step.Step {
	return step.Step{
		Name:     "git tag",
		Observes: "tag vX.Y.Z", Changes: "creates vX.Y.Z at the finalize commit",
		Observe: func(ctx context.Context) (step.Observation, error) {
			if obs, ok := p.pending("tag " + p.v.GitTag()); ok {
				return obs, nil
			}
			at, found, err := p.w.gh.Tag(ctx, p.w.repo, p.v)
			if err != nil {
				return step.Observation{}, err
			}
			if found && at == p.commit {
				return step.Observation{Done: true, Detail: p.v.GitTag() + " at " + short(at)}, nil
			}
			if found {
				return step.Observation{}, &github.TagConflictError{Repo: p.w.repo, Tag: p.v.GitTag(), At: at, Wanted: p.commit}
			}
			return step.Observation{Plan: fmt.Sprintf("tag %s at %s", p.v.GitTag(), short(p.commit))}, nil
		},
		Act: func(ctx context.Context) (string, error) {
			if err := p.w.gh.CreateTag(ctx, p.w.repo, p.v, p.commit); err != nil {
				return "", err
			}
			return fmt.Sprintf("tagged %s at %s", p.v.GitTag(), short(p.commit)), nil
		},
	}
}

func (p *publishRun) draftRelease() step.Step {
	return step.Step{
		Name:     "draft release",
		Observes: "releases of the repository (listed: drafts are hidden by tag)", Changes: "creates or updates the draft release vX.Y.Z",
		Observe: func(ctx context.Context) (step.Observation, error) {
			if obs, ok := p.pending("draft release " + p.v.GitTag()); ok {
				return obs, nil
			}
			rel, err := p.w.gh.FindRelease(ctx, p.w.repo, p.v.GitTag())
			if err != nil {
				return step.Observation{}, err
			}
			p.rel = rel
			if rel != nil && rel.Draft && rel.Target == p.commit && rel.Notes == normalize(p.fin.Notes) && rel.State.IndexDigest == p.index.String() && rel.Prerelease == p.v.IsPrerelease() {
				p.rep.Set("release", rel.URL)
				return step.Observation{Done: true, Detail: "draft " + rel.URL + " is current"}, nil
			}
			if rel == nil {
				return step.Observation{Plan: "create draft release " + p.v.GitTag()}, nil
			}
			return step.Observation{Plan: "update draft release " + p.v.GitTag()}, nil
		},
		Act: func(ctx context.Context) (string, error) {
			rel, changed, err := p.w.gh.EnsureDraft(ctx, p.w.repo, p.v, p.commit, p.fin.Notes, github.State{IndexDigest: p.index.String()})
			if err != nil {
				if errors.Is(err, github.ErrAlreadyPublished) {
					return "", fmt.Errorf("%w: publish never changes a public release", err)
				}
				return "", err
			}
			p.rel = rel
			p.rep.Set("release", rel.URL)
			if !changed {
				return "draft " + rel.URL + " was current", nil
			}
			return "draft " + rel.URL, nil
		},
	}
}

func (p *publishRun) smokeTest() step.Step {
	return step.Step{
		Name:     "smoke test",
		Observes: "the dispatch record in the draft release", Changes: "repository_dispatch to the downstream repository, then records it",
		Observe: func(ctx context.Context) (step.Observation, error) {
			if p.w.down == nil {
				return step.Observation{Done: true, Detail: "no downstream repository configured"}, nil
			}
			if p.rel == nil || p.index == (v1.Hash{}) {
				return step.Observation{Plan: "dispatch " + p.w.env.Settings.EventType + " to " + p.w.downRepo.String()}, nil
			}
			corr := github.CorrelationID(p.v, p.index.String())
			p.rep.Set("correlation id", corr)
			if d := p.rel.State.Dispatch; d != nil && d.CorrelationID == corr && strings.EqualFold(d.Repo, p.w.downRepo.String()) {
				return step.Observation{Done: true, Detail: fmt.Sprintf("dispatched to %s at %s", d.Repo, d.At.Format(time.RFC3339))}, nil
			}
			return step.Observation{Plan: fmt.Sprintf("dispatch %s to %s (correlation id %s)", p.w.env.Settings.EventType, p.w.downRepo, corr)}, nil
		},
		Act: func(ctx context.Context) (string, error) {
			payload := github.DispatchPayload{Version: p.v.String(), Tag: p.v.GitTag(), Image: p.w.image, Digest: p.index.String(),
				Repository: p.w.repo.String(), Commit: p.commit, RunID: p.w.env.Run.ID, CorrelationID: github.CorrelationID(p.v, p.index.String())}
			out, err := p.w.gh.EnsureDispatch(ctx, p.w.repo, p.rel, p.w.down, p.w.downRepo, p.w.env.Settings.EventType, payload)
			if err != nil {
				return "", err
			}
			p.rel = out.Release
			return fmt.Sprintf("dispatched %s to %s", out.Record.EventType, out.Record.Repo), nil
		},
	}
}

func platformList(ps []version.Platform) string {
	var s []string
	for _, p := range ps {
		s = append(s, p.String())
	}
	sort.Strings(s)
	return strings.Join(s, ", ")
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

// normalize compares notes the way the GitHub side stores them.
func normalize(notes string) string {
	n, _, _ := github.SplitBody(notes)
	return n
}
