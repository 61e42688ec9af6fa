package release_test

// Tests of what "could not look" means at the edges of a phase: bundles that are there but cannot
// be read fail the signature gate instead of refusing it; the registry's retries show on the
// phase's progress; build settings that do not parse are refused before any step.

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/shipgate/shipgate/pipeline/config"
	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/release"
	"github.com/shipgate/shipgate/pipeline/sandbox"
	"github.com/shipgate/shipgate/pipeline/sign"
	"github.com/shipgate/shipgate/pipeline/step"
	"github.com/shipgate/shipgate/pipeline/testkit"
)

// garbage is a bundle layer that no reader can parse.
const garbage = `{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", "dsseEnvelope": `

// garbleReferrers replaces every referrer manifest of subject with a copy whose bundle layer is
// garbage: same subject, artifact type, annotations and layer media type (so each is still a
// candidate for its predicate type), nothing embedded. On a registry with the referrers API the
// originals are deleted and the copies listed in their place; without it the sha256-<hex> index
// is rewritten to list the copies (their manifests not embedded), and the originals deleted. It
// returns the predicate types it garbled, one per referrer.
func (w *world) garbleReferrers(subject string) []string {
	w.t.Helper()
	// Read before anything is written: without the referrers API, go-containerregistry adds each
	// copy put below to the sha256-<hex> index itself.
	fallback := w.ref(strings.Replace(subject, ":", "-", 1))
	var fallbackIndex *v1.IndexManifest
	if got, err := remote.Get(fallback, w.regOpts()...); err == nil {
		if fallbackIndex, err = v1.ParseIndexManifest(bytes.NewReader(got.Manifest)); err != nil {
			w.t.Fatal(err)
		}
	}
	_, listed := w.indexManifest(remote.Referrers(w.digestRef(subject), w.regOpts()...))
	repo := w.digestRef(subject).Context()
	replaced := map[v1.Hash]v1.Descriptor{}
	var kinds []string
	for _, d := range listed.Manifests {
		got, err := remote.Get(w.digestRef(d.Digest.String()), w.regOpts()...)
		if err != nil {
			w.t.Fatal(err)
		}
		m, err := v1.ParseManifest(bytes.NewReader(got.Manifest))
		if err != nil || len(m.Layers) != 1 || !strings.HasPrefix(string(m.Layers[0].MediaType), "application/vnd.dev.sigstore.bundle") {
			w.t.Fatalf("referrer %s of %s is not a bundle (%v): %s", d.Digest, subject, err, got.Manifest)
		}
		layer := static.NewLayer([]byte(garbage), m.Layers[0].MediaType)
		if err := remote.WriteLayer(repo, layer, w.regOpts()...); err != nil {
			w.t.Fatal(err)
		}
		ld, _ := layer.Digest()
		m.Layers[0] = v1.Descriptor{MediaType: m.Layers[0].MediaType, Size: int64(len(garbage)), Digest: ld, Annotations: m.Layers[0].Annotations}
		raw, err := json.Marshal(m)
		if err != nil {
			w.t.Fatal(err)
		}
		nd, _, _ := v1.SHA256(bytes.NewReader(raw))
		put := &remote.Descriptor{Descriptor: v1.Descriptor{MediaType: got.MediaType}, Manifest: raw}
		if err := remote.Put(w.digestRef(nd.String()), put, w.regOpts()...); err != nil {
			w.t.Fatal(err)
		}
		replaced[d.Digest] = v1.Descriptor{MediaType: got.MediaType, Size: int64(len(raw)), Digest: nd, ArtifactType: d.ArtifactType, Annotations: d.Annotations}
		kinds = append(kinds, d.Annotations[sign.AnnotationPredicateType])
	}
	if im := fallbackIndex; im != nil {
		for i, d := range im.Manifests {
			nd, ok := replaced[d.Digest]
			if !ok {
				w.t.Fatalf("the sha256-<hex> index of %s lists %s, which the listing did not", subject, d.Digest)
			}
			im.Manifests[i] = nd // the original's embedded manifest (Data) goes with it
		}
		raw, err := json.Marshal(im)
		if err != nil {
			w.t.Fatal(err)
		}
		if err := remote.Put(fallback, &remote.Descriptor{Descriptor: v1.Descriptor{MediaType: types.OCIImageIndex}, Manifest: raw}, w.regOpts()...); err != nil {
			w.t.Fatal(err)
		}
	}
	for old := range replaced {
		if err := remote.Delete(w.digestRef(old.String()), w.regOpts()...); err != nil {
			w.t.Fatal(err)
		}
	}
	// What a reader now finds: the copies only, each with its bundle layer garbage.
	_, now := w.indexManifest(remote.Referrers(w.digestRef(subject), w.regOpts()...))
	if len(now.Manifests) != len(replaced) {
		w.t.Fatalf("after garbling, %d referrers of %s are listed, want %d", len(now.Manifests), subject, len(replaced))
	}
	for _, d := range now.Manifests {
		if _, old := replaced[d.Digest]; old || d.Annotations[sign.AnnotationPredicateType] == "" {
			w.t.Fatalf("referrer %s of %s is not a garbled copy: %+v", d.Digest, subject, d)
		}
	}
	return kinds
}

// record is the report's record of the step named name.
func record(t *testing.T, rep *step.Report, name string) step.Record {
	t.Helper()
	for _, r := range rep.Records {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no step %q in the report:\n%s", name, render(rep))
	return step.Record{}
}

// TestUnreadableIndexBundles: every signature and provenance bundle referring to the index is
// there (listed, with its artifact type and annotations) but cannot be parsed. Promote and status
// fail the signature gate with "could not look" — the bundles may verify once they can be read —
// and do not refuse it; latest does not move and nothing changes. On both registry lanes.
func TestUnreadableIndexBundles(t *testing.T) {
	t.Parallel()
	eachLane(t, func(t *testing.T, w *world) {
		idx := w.ship("1.0.0")
		kinds := w.garbleReferrers(idx)
		if !strings.Contains(strings.Join(kinds, " "), sign.SignaturePredicateType) || !strings.Contains(strings.Join(kinds, " "), sign.ProvenancePredicateType) {
			t.Fatalf("the index's referrers were %q: want its signature and provenance among them", kinds)
		}
		before := w.state("1.0.0")

		couldNotRead := func(what string, rep *step.Report, err error) {
			t.Helper()
			if err == nil || errors.Is(err, step.ErrRefused) || errors.Is(err, fault.ErrRefused) || fault.Of(err) != fault.Unreadable {
				t.Fatalf("%s: want a failure classified could not read (%v), got %v\n%s", what, fault.Of(err), err, render(rep))
			}
			rec := record(t, rep, "signatures")
			if rec.Status != step.Failed || !strings.HasPrefix(rec.Detail, "could not look: ") {
				t.Fatalf("%s: the signature gate is %s (%q), want failed: could not look\n%s", what, rec.Status, rec.Detail, render(rep))
			}
			for _, want := range []string{"signature on index", "provenance on index", "not a valid sigstore bundle"} {
				if !strings.Contains(rec.Detail, want) {
					t.Fatalf("%s: the signature gate does not say %q:\n%s", what, want, rec.Detail)
				}
			}
			if strings.Contains(rec.Detail, "FAIL signature on linux/") || strings.Contains(rec.Detail, "FAIL sbom") {
				t.Fatalf("%s: the platforms' bundles were not garbled, yet fail:\n%s", what, rec.Detail)
			}
		}

		rep, err := release.Status(w.ctx, w.env, "1.0.0")
		couldNotRead("status", rep, err)
		if strings.Contains(rep.Verdict, "refused") {
			t.Fatalf("status says promote would be refused: %s", rep.Verdict)
		}
		rep, err = w.promote("1.0.0")
		couldNotRead("promote", rep, err)
		if w.tag("latest") != "" {
			t.Fatal("latest moved")
		}
		assertUnpromoted(t, w, before, rep)
	})
}

// TestRegistryRetriesOnProgress: the registry client's retries — here of the signature store's
// reads during promote — are lines on the phase's progress, as the GitHub client's are, and the
// registry's echo of the credentials reaches none of them.
func TestRegistryRetriesOnProgress(t *testing.T) {
	t.Parallel()
	p := smokeTestedProxiedWorld(t, "1.0.0")
	echo := `{"errors":[{"code":"UNAVAILABLE","message":"upstream down","detail":"password=` + sandbox.RegistryPass + `"}]}`
	p.inject(p.reg, testkit.Fault{Method: "GET", Path: regexp.MustCompile(`/referrers/|/manifests/sha256-`), Status: 503, Times: 2, Body: echo})
	logs := &testkit.Logs{}
	p.env.Progress = logs

	if rep, err := p.promote("1.0.0"); err != nil {
		t.Fatalf("promote through two 503s: %v\n%s", err, render(rep))
	}
	var retries []string
	for _, l := range logs.Lines() {
		if strings.HasPrefix(l, "registry: retrying ") {
			retries = append(retries, l)
		}
	}
	if len(retries) != 2 {
		t.Fatalf("want the 2 registry retries on the progress, got:\n%s", logs)
	}
	for _, l := range retries {
		for _, want := range []string{"method=GET", "host=" + p.reg.Host(), "after=\"status 503\"", "wait="} {
			if !strings.Contains(l, want) {
				t.Fatalf("retry line %q does not say %s", l, want)
			}
		}
	}
	if !strings.Contains(logs.String(), "registry: tagged ") {
		t.Fatalf("moving latest is not on the progress:\n%s", logs)
	}
	testkit.AssertNoSecret(t, sandbox.RegistryPass, logs)
}

// TestBadBuildSettingsRefusedBeforeAnyStep: a --finalize-command or --build-arg that does not
// parse is bad input naming the flag, found before publish's (or finalize's) first step: no step
// runs, nothing is built and nothing is written.
func TestBadBuildSettingsRefusedBeforeAnyStep(t *testing.T) {
	t.Parallel()
	w := preparedWorld(t, "1.0.0")
	in := w.publishInput("1.0.0")
	before := w.state("1.0.0")
	rec := w.recordWrites()
	pinned := "registry.example/tools@sha256:" + strings.Repeat("a", 64)
	for _, tc := range []struct {
		name, flag string
		set        func(*config.Settings)
	}{
		{"unclosed quote", "--finalize-command", func(s *config.Settings) { s.FinalizeCommand, s.FinalizeImage = `make "docs`, pinned }},
		{"trailing backslash", "--finalize-command", func(s *config.Settings) { s.FinalizeCommand, s.FinalizeImage = `make docs\`, pinned }},
		{"no =", "--build-arg", func(s *config.Settings) { s.BuildArgs = []string{"VERSION"} }},
		{"a key twice", "--build-arg", func(s *config.Settings) { s.BuildArgs = []string{"A=1", "A=2"} }},
	} {
		for _, phase := range []struct {
			name string
			run  func(*release.Env) (*step.Report, error)
		}{
			{"publish", func(env *release.Env) (*step.Report, error) { return release.Publish(w.ctx, env, in) }},
			{"finalize", func(env *release.Env) (*step.Report, error) { return release.Finalize(w.ctx, env, in) }},
		} {
			t.Run(phase.name+": "+tc.flag+": "+tc.name, func(t *testing.T) {
				env := *w.env
				tc.set(&env.Settings)
				rep, err := phase.run(&env)
				if !errors.Is(err, fault.ErrBadInput) || !strings.Contains(err.Error(), tc.flag) || strings.Contains(err.Error(), "--test") {
					t.Fatalf("want bad input naming %s (and no other flag), got %v", tc.flag, err)
				}
				if rep == nil || len(rep.Records) != 0 || rep.Err == "" {
					t.Fatalf("a step ran, or the report lacks the error:\n%s", render(rep))
				}
			})
		}
	}
	if writes := rec.list(); len(writes) != 0 {
		t.Fatalf("bad build settings still wrote: %q", writes)
	}
	if builds := w.sb.Builder.Builds(); len(builds) != 0 {
		t.Fatalf("bad build settings still built %q", builds)
	}
	if after := w.state("1.0.0"); after != before {
		t.Fatalf("bad build settings changed the world: %s", diff(after, before))
	}
}
