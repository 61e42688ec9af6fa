package githubserver

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func packagesServer(t *testing.T) (*Server, map[int]int64) {
	s, clk := newServer(t, Options{PageSize: 2})
	s.AddPackage("acme", true, "app")
	s.AddPackage("alice", false, "tools/app")
	ids := map[int]int64{}
	for i := 1; i <= 3; i++ {
		ids[i] = s.AddPackageVersion("acme", "app", fmt.Sprintf("sha256:%064x", i), fmt.Sprintf("1.0.%d", i))
		clk.Advance(1)
	}
	ids[4] = s.AddPackageVersion("acme", "app", fmt.Sprintf("sha256:%064x", 4)) // untagged
	ids[5] = s.AddPackageVersion("alice", "tools/app", fmt.Sprintf("sha256:%064x", 5), "latest")
	s.GrantPackage(readTok, "acme", "app", PermPull)
	s.GrantPackage(readTok, "alice", "tools/app", PermPull)
	s.GrantPackage(pushTok, "acme", "app", PermAdmin)
	s.GrantPackage(pushTok, "alice", "tools/app", PermAdmin)
	return s, ids
}

// TestPackageVersionsListedNewestFirstWithTags: org and user packages list their versions, newest
// first, paginated with Link, each with id, name (the digest) and metadata.container.tags; a
// nested name is one segment (%2F).
func TestPackageVersionsListedNewestFirstWithTags(t *testing.T) {
	s, ids := packagesServer(t)
	a := call(t, "GET", s.URL()+"/orgs/acme/packages/container/app/versions", readTok, nil)
	want(t, a, 200, "list org package versions")
	l := a.list()
	if len(l) != 2 || l[0]["name"] != fmt.Sprintf("sha256:%064x", 4) || int64(l[0]["id"].(float64)) != ids[4] || !strings.Contains(a.header.Get("Link"), `rel="next"`) {
		t.Fatalf("page 1: %s %v", a.raw, a.header)
	}
	tags := l[0]["metadata"].(map[string]any)["container"].(map[string]any)["tags"].([]any)
	if len(tags) != 0 {
		t.Fatalf("untagged version has tags %v", tags)
	}
	a = call(t, "GET", s.URL()+"/orgs/acme/packages/container/app/versions?page=2", readTok, nil)
	if l := a.list(); len(l) != 2 || l[0]["metadata"].(map[string]any)["container"].(map[string]any)["tags"].([]any)[0] != "1.0.2" {
		t.Fatalf("page 2: %s", a.raw)
	}
	a = call(t, "GET", s.URL()+"/users/alice/packages/container/tools%2Fapp/versions", readTok, nil)
	want(t, a, 200, "list nested user package")
	if l := a.list(); len(l) != 1 || l[0]["created_at"] == nil || l[0]["updated_at"] == nil {
		t.Fatalf("user package: %s", a.raw)
	}
	// The owner kind is part of the path: an org's package is not found under /users.
	want(t, call(t, "GET", s.URL()+"/users/acme/packages/container/app/versions", readTok, nil), 404, "org package under /users")
	want(t, call(t, "GET", s.URL()+"/orgs/acme/packages/container/app/versions", noneTok, nil), 404, "package the token cannot read")
	want(t, call(t, "GET", s.URL()+"/orgs/acme/packages/container/app/versions", "", nil), 401, "anonymous")
	u := call(t, "GET", s.URL()+"/users/acme", readTok, nil)
	if u.obj()["type"] != "Organization" || call(t, "GET", s.URL()+"/users/alice", readTok, nil).obj()["type"] != "User" {
		t.Fatalf("owner types: %s", u.raw)
	}
	want(t, call(t, "GET", s.URL()+fmt.Sprintf("/api/v3/orgs/acme/packages/container/app/versions/%d", ids[1]), readTok, nil), 200, "one version (enterprise layout)")
}

// TestPackageDeleteNeedsAdminAnswers404: deleting without admin on the package answers 404
// "Package not found." (not 403) although listing works; with admin it is 204 and the version is
// gone; a public version with more than 5,000 downloads cannot be deleted.
func TestPackageDeleteNeedsAdminAnswers404(t *testing.T) {
	s, ids := packagesServer(t)
	path := fmt.Sprintf("%s/orgs/acme/packages/container/app/versions/%d", s.URL(), ids[2])
	a := call(t, "DELETE", path, readTok, nil)
	want(t, a, 404, "delete without admin")
	if a.obj()["message"] != "Package not found." {
		t.Fatalf("message %s", a.raw)
	}
	want(t, call(t, "GET", path, readTok, nil), 200, "still there")
	want(t, call(t, "DELETE", path, pushTok, nil), http.StatusNoContent, "delete with admin")
	want(t, call(t, "GET", path, readTok, nil), 404, "gone")
	want(t, call(t, "DELETE", path, pushTok, nil), 404, "delete again")
	if _, ok := s.PackageVersionTags("acme", "app")[fmt.Sprintf("sha256:%064x", 2)]; ok {
		t.Fatal("deleted version still listed")
	}
	s.SetPackageDownloads("alice", "tools/app", ids[5], 5001)
	a = call(t, "DELETE", fmt.Sprintf("%s/users/alice/packages/container/tools%%2Fapp/versions/%d", s.URL(), ids[5]), pushTok, nil)
	want(t, a, 400, "popular version")
}

// TestPackageTagMovesToNewVersion: pushing a tag to another digest takes it off the old version.
func TestPackageTagMovesToNewVersion(t *testing.T) {
	s, _ := packagesServer(t)
	s.AddPackageVersion("acme", "app", fmt.Sprintf("sha256:%064x", 9), "1.0.1")
	got := s.PackageVersionTags("acme", "app")
	if len(got[fmt.Sprintf("sha256:%064x", 1)]) != 0 || got[fmt.Sprintf("sha256:%064x", 9)][0] != "1.0.1" {
		t.Fatalf("tags = %v", got)
	}
}
