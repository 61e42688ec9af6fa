package github

import (
	"errors"
	"testing"

	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/githubserver"
	"github.com/shipgate/shipgate/pipeline/testkit"
)

func TestUploadAssetIdempotent(t *testing.T) {
	e, commit := finalizedEnv(t, githubserver.Options{}, githubserver.RepoOptions{})
	rel, _, err := e.c.EnsureDraft(e.ctx, app, v123, commit, notes, State{})
	if err != nil {
		t.Fatal(err)
	}
	sbom := []byte(`{"spdxVersion":"SPDX-2.3"}`)
	// The upload's answer is lost: the retry finds the asset and uploads nothing more.
	lost := e.proxy.Inject(testkit.Fault{Method: "POST", Path: re(`/api/uploads/.*/assets`), DropResponse: true, Times: 1})
	if err := e.c.UploadAsset(e.ctx, app, rel, "sbom-linux-amd64.spdx.json", "application/spdx+json", sbom); err != nil {
		t.Fatal(err)
	}
	if lost.Injected() != 1 {
		t.Fatalf("the upload's answer was lost %d times, want 1", lost.Injected())
	}
	if as := e.srv.Assets("acme/app", rel.ID); len(as) != 1 || string(as[0].Data) != string(sbom) {
		t.Fatalf("after the lost answer: assets %+v, want the SBOM once", as)
	}
	writes := e.writes()
	if err := e.c.UploadAsset(e.ctx, app, rel, "sbom-linux-amd64.spdx.json", "application/spdx+json", sbom); err != nil || e.writes() != writes {
		t.Fatalf("re-run wrote: %v (%d → %d writes)", err, writes, e.writes())
	}
	// Other content under the same name on the draft: replaced.
	if err := e.c.UploadAsset(e.ctx, app, rel, "sbom-linux-amd64.spdx.json", "application/spdx+json", []byte(`{"spdxVersion":"SPDX-2.2"}`)); err != nil {
		t.Fatal(err)
	}
	as := e.srv.Assets("acme/app", rel.ID)
	if len(as) != 1 || string(as[0].Data) != `{"spdxVersion":"SPDX-2.2"}` || as[0].ContentType != "application/spdx+json" {
		t.Fatalf("assets %+v", as)
	}
	listed, err := e.client(readToken).Assets(e.ctx, app, rel.ID)
	if err == nil || len(listed) != 0 {
		t.Fatalf("a reader listed a draft's assets: %v %v", listed, err)
	}
	mustContain(t, e.c.UploadAsset(e.ctx, app, rel, "my sbom.json", "application/json", sbom), "GitHub renames other names")
	e.noLeak()
}

func TestUploadAssetToPublishedImmutableRelease(t *testing.T) {
	e, commit := finalizedEnv(t, githubserver.Options{}, githubserver.RepoOptions{ImmutableReleases: true})
	rel, _, _ := e.c.EnsureDraft(e.ctx, app, v123, commit, notes, State{})
	if err := e.c.UploadAsset(e.ctx, app, rel, "provenance.intoto.json", "application/json", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	pub, err := e.c.PublishRelease(e.ctx, app, rel, true)
	if err != nil {
		t.Fatal(err)
	}
	// The same asset: nothing to do, even on the published release.
	if err := e.c.UploadAsset(e.ctx, app, pub.Release, "provenance.intoto.json", "application/json", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	// A new asset: GitHub's 422, with the fix.
	err = e.c.UploadAsset(e.ctx, app, pub.Release, "sbom.spdx.json", "application/json", []byte("{}"))
	mustContain(t, err, "422 Cannot upload assets to an immutable release.", "attach every asset to the draft")
	if !errors.Is(err, fault.ErrRefused) {
		t.Fatalf("not Refused: %v", err)
	}
	// Other content under an existing name: refused without deleting anything.
	err = e.c.UploadAsset(e.ctx, app, pub.Release, "provenance.intoto.json", "application/json", []byte(`{"x":1}`))
	mustContain(t, err, "is published and its asset provenance.intoto.json differs")
	if as := e.srv.Assets("acme/app", rel.ID); len(as) != 1 || string(as[0].Data) != "{}" {
		t.Fatalf("assets changed: %+v", as)
	}
}

func TestUploadURLFollowsTheAPIHost(t *testing.T) {
	for base, want := range map[string]string{
		"https://api.github.com/":          "https://uploads.github.com/",
		"https://api.acme.ghe.com":         "https://uploads.acme.ghe.com/",
		"https://ghe.example.com":          "https://ghe.example.com/api/uploads/",
		"https://ghe.example.com/api/v3/":  "https://ghe.example.com/api/uploads/",
		"http://127.0.0.1:8080/api/v3?x=1": "http://127.0.0.1:8080/api/uploads/",
	} {
		c, err := New(Options{BaseURL: base})
		if err != nil {
			t.Fatal(err)
		}
		if got := c.gh.UploadURL.String(); got != want {
			t.Errorf("%s: uploads go to %s, want %s", base, got, want)
		}
	}
}
