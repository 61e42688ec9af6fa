package release_test

import (
	"strings"
	"testing"

	"github.com/shipgate/shipgate/pipeline/github"
	"github.com/shipgate/shipgate/pipeline/release"
)

// TestSmokeStatusChannel: the downstream may report on the finalize commit as a commit status. A
// failure refuses promote as FAILED, naming the run (not "has not reported yet"); a success that
// names this build's correlation id passes without any downstream release.
func TestSmokeStatusChannel(t *testing.T) {
	t.Parallel()
	w, rep := publishedWorld(t, "1.0.0")
	fin, corr := rep.Get("finalize commit"), rep.Get("correlation id")
	run := "https://github.example/acme/smoke/actions/runs/7"
	w.setSmokeStatus(fin, "failure", run, "smoke "+corr)
	rep, err := w.promote("1.0.0")
	refused(t, err, rep, "smoke test", "smoke test FAILED")
	if !strings.Contains(err.Error(), run) || w.tag("latest") != "" {
		t.Fatalf("a failed smoke test: %v, latest %q", err, w.tag("latest"))
	}
	w.setSmokeStatus(fin, "success", run, "smoke "+corr)
	w.mustPromote("1.0.0")
}

// setSmokeStatus plays the downstream reporting on commit through the status channel.
func (w *world) setSmokeStatus(commit, state, url, desc string) {
	w.t.Helper()
	if err := w.gh().SetStatus(w.ctx, appRepo, commit, github.CommitStatus{State: state, Context: github.DefaultSmokeContext, TargetURL: url, Description: desc}); err != nil {
		w.t.Fatal(err)
	}
}

// TestDraftNotesEndWithTheDigestAndVerifyCommands: the release notes say which digest this
// release is and how to verify it with stock cosign, under the policy promote applies.
func TestDraftNotesEndWithTheDigestAndVerifyCommands(t *testing.T) {
	t.Parallel()
	w, rep := publishedWorld(t, "1.0.0")
	idx := digestOf(rep, "index")
	rel, ok := w.ghRelease("v1.0.0")
	img := w.sb.Image + "@" + idx
	if !ok || !strings.Contains(rel.Body, "**Image:** `"+img+"`") || !strings.Contains(rel.Body, "cosign verify --key cosign.pub") || !strings.Contains(rel.Body, "verify-attestation --type slsaprovenance1") {
		t.Fatalf("draft notes:\n%s", rel.Body)
	}
	if rep, err := w.promote("1.0.0"); err == nil || strings.Contains(err.Error(), "TBD") {
		t.Fatalf("the notes block broke the notes gate: %v\n%s", err, render(rep))
	}
}

// TestReleaseAssets: the draft release carries each platform's SPDX SBOM and the signed
// provenance bundle as files; a re-run attaches nothing.
func TestReleaseAssets(t *testing.T) {
	t.Parallel()
	w, _ := publishedWorld(t, "1.0.0")
	rel, _ := w.ghRelease("v1.0.0")
	assets, err := w.gh().Assets(w.ctx, appRepo, rel.ID)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, a := range assets {
		names[a.Name] = true
	}
	for _, want := range []string{"sbom-amd64.spdx.json", "sbom-arm64.spdx.json", "provenance.sigstore.json"} {
		if !names[want] {
			t.Fatalf("assets %v lack %s", names, want)
		}
	}
	rep, err := release.Publish(w.ctx, w.env, w.publishInput("1.0.0"))
	if err != nil || rep.Status("release assets") != "done" {
		t.Fatalf("re-run: %v\n%s", err, render(rep))
	}
}
