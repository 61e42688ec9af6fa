package githubserver

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func upload(t *testing.T, url, token, contentType string, data []byte) answer {
	t.Helper()
	req, _ := http.NewRequest("POST", url, bytes.NewReader(data))
	return send(t, req, token, "Content-Type", contentType)
}

func TestReleaseAssetsUploadListDelete(t *testing.T) {
	s, _ := newServer(t, Options{})
	id := s.CreateRelease("acme/app", ReleaseSeed{Tag: "v1.0.0", Draft: true})
	api := s.APIURL() + "repos/acme/app/releases/"
	rel := call(t, "GET", fmt.Sprintf("%s%d", api, id), pushTok, nil).obj()
	up := strings.TrimSuffix(rel["upload_url"].(string), "{?name,label}")
	if !strings.HasPrefix(up, s.UploadURL()) {
		t.Fatalf("upload_url %s is not under %s", up, s.UploadURL())
	}
	want(t, upload(t, up+"?name=sbom.json", readTok, "application/json", []byte("{}")), 403, "upload without push")
	want(t, upload(t, up+"?name=sbom.json", pushTok, "", []byte("{}")), 422, "no content type")
	want(t, upload(t, up, pushTok, "application/json", []byte("{}")), 422, "no name")
	a := upload(t, up+"?name=sbom.spdx.json", pushTok, "application/json", []byte(`{"spdx":1}`))
	want(t, a, 201, "upload")
	sum := sha256.Sum256([]byte(`{"spdx":1}`))
	if o := a.obj(); o["size"].(float64) != 10 || o["digest"] != "sha256:"+hex.EncodeToString(sum[:]) || o["state"] != "uploaded" {
		t.Fatalf("asset %s", a.raw)
	}
	want(t, upload(t, up+"?name=sbom.spdx.json", pushTok, "application/json", []byte(`{}`)), 422, "same name twice")
	if r := upload(t, up+"?name=my%20file.txt", pushTok, "text/plain", []byte("x")); r.obj()["name"] != "my.file.txt" {
		t.Fatalf("special characters not renamed: %s", r.raw)
	}
	l := call(t, "GET", fmt.Sprintf("%s%d/assets", api, id), pushTok, nil).list()
	if len(l) != 2 || l[0]["name"] != "sbom.spdx.json" {
		t.Fatalf("list %v", l)
	}
	assetURL := fmt.Sprintf("%sassets/%v", api, l[0]["id"])
	want(t, call(t, "GET", assetURL, readTok, nil), 404, "asset of a draft, to a reader")
	want(t, call(t, "DELETE", assetURL, pushTok, nil), 204, "delete")
	if got := s.Assets("acme/app", id); len(got) != 1 || got[0].Name != "my.file.txt" {
		t.Fatalf("after delete %+v", got)
	}
}

func TestImmutableReleaseRefusesAssetChanges(t *testing.T) {
	s, _ := newServer(t, Options{})
	s.AddRepo("acme/locked", RepoOptions{ImmutableReleases: true})
	s.SetPermission(pushTok, "acme/locked", PermPush)
	draft := s.CreateRelease("acme/locked", ReleaseSeed{Tag: "v1.0.0", Draft: true})
	up := fmt.Sprintf("%srepos/acme/locked/releases/%d/assets", s.UploadURL(), draft)
	a := upload(t, up+"?name=a.txt", pushTok, "text/plain", []byte("a"))
	want(t, a, 201, "upload to the draft")
	want(t, call(t, "PATCH", fmt.Sprintf("%srepos/acme/locked/releases/%d", s.APIURL(), draft), pushTok, map[string]any{"draft": false}), 200, "publish")
	rel := call(t, "GET", fmt.Sprintf("%srepos/acme/locked/releases/%d", s.APIURL(), draft), pushTok, nil).obj()
	if rel["immutable"] != true || len(rel["assets"].([]any)) != 1 {
		t.Fatalf("published release %v", rel)
	}
	r := upload(t, up+"?name=b.txt", pushTok, "text/plain", []byte("b"))
	want(t, r, 422, "upload to a published immutable release")
	if r.obj()["message"] != "Cannot upload assets to an immutable release." {
		t.Fatalf("message %s", r.raw)
	}
	want(t, call(t, "DELETE", fmt.Sprintf("%srepos/acme/locked/releases/assets/%v", s.APIURL(), a.obj()["id"]), pushTok, nil), 422, "delete an immutable release's asset")
}
