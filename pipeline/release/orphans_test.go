package release_test

import (
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/shipgate/shipgate/pipeline/registry"
	"github.com/shipgate/shipgate/pipeline/release"
	"github.com/shipgate/shipgate/pipeline/step"
)

// orphan writes a referrers tag sha256-<hex> for a subject that does not exist, listing one
// signature-like manifest created at created; it returns the tag and the referrer's digest.
func (w *world) orphan(created time.Time) (string, string) {
	w.t.Helper()
	ref, err := random.Image(64, 1)
	if err != nil {
		w.t.Fatal(err)
	}
	d, _ := ref.Digest()
	if err := remote.Write(w.digestRef(d.String()), ref, w.regOpts()...); err != nil {
		w.t.Fatal(err)
	}
	idx := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: ref, Descriptor: v1.Descriptor{
		Annotations: map[string]string{registry.AnnotationCreated: created.UTC().Format(time.RFC3339)}}})
	gone, _ := random.Image(16, 1)
	gd, _ := gone.Digest()
	tag := "sha256-" + gd.Hex
	if err := remote.WriteIndex(w.ref(tag), idx, w.regOpts()...); err != nil {
		w.t.Fatal(err)
	}
	return tag, d.String()
}

// TestCleanupOrphans: referrers tags whose subject is gone are deleted once older than
// --older-than, with the manifests they list; recent ones and every signature of a live release
// stay (the release still verifies); a dry run plans only; a re-run finds nothing.
func TestCleanupOrphans(t *testing.T) {
	t.Parallel()
	w, _ := promotedWorld(t, "1.0.0")
	old, oldRef := w.orphan(time.Now().Add(-30 * 24 * time.Hour))
	recent, _ := w.orphan(time.Now().Add(-time.Hour))

	dry := *w.env
	dry.DryRun = true
	before := w.state("1.0.0")
	if rep, err := release.CleanupOrphans(w.ctx, &dry, 7*24*time.Hour); err != nil || rep.Count(step.Planned) == 0 {
		t.Fatalf("dry run: %v\n%s", err, render(rep))
	}
	if w.state("1.0.0") != before {
		t.Fatal("a dry run changed the world")
	}
	rep, err := release.CleanupOrphans(w.ctx, w.env, 7*24*time.Hour)
	if err != nil || !strings.Contains(render(rep), old) {
		t.Fatalf("cleanup --orphans: %v\n%s", err, render(rep))
	}
	if w.tag(old) != "" || w.tag(recent) == "" {
		t.Fatalf("after cleanup: old %q (want gone), recent %q (want kept)", w.tag(old), w.tag(recent))
	}
	if _, err := remote.Get(w.digestRef(oldRef), w.regOpts()...); err == nil {
		t.Fatal("the orphan's referrer manifest survived")
	}
	if st, err := release.Status(w.ctx, w.env, "1.0.0"); err != nil || st.Verdict != "promoted" {
		t.Fatalf("the live release after cleanup: %v\n%s", err, render(st))
	}
	if rep, err := release.CleanupOrphans(w.ctx, w.env, 7*24*time.Hour); err != nil || rep.Count(step.Acted) != 0 {
		t.Fatalf("re-run: %v\n%s", err, render(rep))
	}
	if _, err := release.CleanupOrphans(w.ctx, w.env, 0); err == nil || !strings.Contains(err.Error(), "--older-than") {
		t.Fatalf("no age: %v", err)
	}
}
