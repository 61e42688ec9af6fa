package github

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/githubserver"
	"github.com/shipgate/shipgate/pipeline/version"
)

const pkgToken = "ghp_PackageAdm1nToken99"

func digestN(i int) string { return fmt.Sprintf("sha256:%064x", i) }

// packagesEnv adds an org-owned package acme/app and a user-owned nested package alice/tools/app,
// each with versions, and a token that may read both and administer neither.
func packagesEnv(t *testing.T) *env {
	e := newEnv(t, githubserver.Options{PageSize: 2}, githubserver.RepoOptions{})
	e.srv.AddPackage("acme", true, "app")
	e.srv.AddPackage("alice", false, "tools/app")
	for i := 1; i <= 5; i++ {
		e.srv.AddPackageVersion("acme", "app", digestN(i), fmt.Sprintf("1.2.3-rc.%d", i))
		e.clk.Advance(1)
	}
	e.srv.AddPackageVersion("acme", "app", digestN(9)) // untagged
	e.srv.AddPackageVersion("alice", "tools/app", digestN(7), "0.1.0", "latest")
	e.srv.AddToken(pkgToken, "pkg-bot", nil)
	e.srv.GrantPackage(pkgToken, "acme", "app", githubserver.PermPull)
	e.srv.GrantPackage(pkgToken, "alice", "tools/app", githubserver.PermPull)
	return e
}

func TestPackageVersionsUserAndOrgPaginated(t *testing.T) {
	e := packagesEnv(t)
	c := e.client(pkgToken)
	org, err := c.PackageOwnerOf(e.ctx, "acme")
	if err != nil || !org.Org {
		t.Fatalf("owner acme = %+v, %v", org, err)
	}
	user, err := c.PackageOwnerOf(e.ctx, "alice")
	if err != nil || user.Org {
		t.Fatalf("owner alice = %+v, %v", user, err)
	}
	vs, err := c.PackageVersions(e.ctx, org, "app")
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 6 || vs[0].Digest != digestN(9) || len(vs[0].Tags) != 0 || !slices.Equal(vs[5].Tags, []string{"1.2.3-rc.1"}) || vs[5].ID == 0 || vs[5].CreatedAt.IsZero() {
		t.Fatalf("versions (newest first, untagged included) = %+v", vs)
	}
	nested, err := c.PackageVersions(e.ctx, user, "tools/app")
	if err != nil || len(nested) != 1 || !slices.Equal(nested[0].Tags, []string{"0.1.0", "latest"}) {
		t.Fatalf("nested user package: %+v, %v", nested, err)
	}
	var sawEscaped bool
	for _, r := range e.srv.Requests() {
		sawEscaped = sawEscaped || strings.Contains(r.Path, "/users/alice/packages/container/tools/app/versions")
	}
	if !sawEscaped {
		t.Error("nested package name did not reach the server as one name")
	}
	if login, pkg, ok := GHCRPackage("ghcr.io/alice/tools/app"); !ok || login != "alice" || pkg != "tools/app" {
		t.Errorf("GHCRPackage = %q %q %v", login, pkg, ok)
	}
	if _, _, ok := GHCRPackage("registry.example.com/acme/app"); ok {
		t.Error("GHCRPackage accepted another registry")
	}
	_, err = c.PackageVersions(e.ctx, org, "missing")
	if !errors.Is(err, fault.ErrRefused) || !strings.Contains(err.Error(), "read:packages") {
		t.Errorf("missing package: %v", err)
	}
}

// TestDeletePackageVersionWithoutAdminNamesIt: GitHub answers 404, not 403, to a token without
// admin on the package; the error says so and names what the token needs. With admin, the
// version goes; deleting it again is success.
func TestDeletePackageVersionWithoutAdminNamesIt(t *testing.T) {
	e := packagesEnv(t)
	c := e.client(pkgToken)
	org := PackageOwner{Login: "acme", Org: true}
	vs, err := c.PackageVersions(e.ctx, org, "app")
	if err != nil {
		t.Fatal(err)
	}
	err = c.DeletePackageVersion(e.ctx, org, "app", vs[1].ID)
	if !errors.Is(err, fault.ErrRefused) {
		t.Fatalf("err = %v, want a refusal", err)
	}
	mustContain(t, err, "404", "not 403", "admin on the package", "delete:packages", "organization admin", vs[1].Digest)
	if _, ok := e.srv.PackageVersionTags("acme", "app")[vs[1].Digest]; !ok {
		t.Fatal("the version went without admin")
	}
	e.srv.GrantPackage(pkgToken, "acme", "app", githubserver.PermAdmin)
	if err := c.DeletePackageVersion(e.ctx, org, "app", vs[1].ID); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.srv.PackageVersionTags("acme", "app")[vs[1].Digest]; ok {
		t.Fatal("the version is still there")
	}
	if err := c.DeletePackageVersion(e.ctx, org, "app", vs[1].ID); err != nil {
		t.Fatalf("deleting again: %v", err)
	}
	// A popular public version cannot be deleted.
	e.srv.SetPackageDownloads("acme", "app", vs[2].ID, 6000)
	err = c.DeletePackageVersion(e.ctx, org, "app", vs[2].ID)
	mustContain(t, err, "5,000 downloads")
	e.noLeak(err)
}

func TestDeletePackageDigestsConverges(t *testing.T) {
	e := packagesEnv(t)
	e.srv.GrantPackage(pkgToken, "alice", "tools/app", githubserver.PermAdmin)
	c := e.client(pkgToken)
	user := PackageOwner{Login: "alice"}
	res, err := c.DeletePackageDigests(e.ctx, user, "tools/app", []string{digestN(7), digestN(8)})
	if err != nil || !slices.Equal(res.Deleted, []string{digestN(7)}) || !slices.Equal(res.Missing, []string{digestN(8)}) {
		t.Fatalf("res = %+v, %v", res, err)
	}
	res, err = c.DeletePackageDigests(e.ctx, user, "tools/app", []string{digestN(7)})
	if err != nil || len(res.Deleted) != 0 {
		t.Fatalf("re-run: %+v, %v", res, err)
	}
}

// TestCandidateReleasesAndTags: the candidates of 1.2.3 (both spellings, a draft pre-release that
// has no tag yet and a published pre-release) are found without listing every release, and
// deleting them (releases first, then tags) converges.
func TestCandidateReleasesAndTags(t *testing.T) {
	e := newEnv(t, githubserver.Options{PageSize: 2}, githubserver.RepoOptions{})
	main := e.head("main")
	for _, tag := range []string{"v1.2.3-rc.1", "v1.2.3-rc2", "v1.2.30-rc.1", "v1.2.3", "v1.2.3-rc.1x"} {
		e.srv.SetRef("acme/app", "refs/tags/"+tag, main)
	}
	rc1 := version.MustParse("1.2.3-rc.1")
	rel1, _, err := e.c.EnsureDraft(e.ctx, app, rc1, main, notes, State{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.PublishRelease(e.ctx, app, rel1, false); err != nil {
		t.Fatal(err)
	}
	draft3, _, err := e.c.EnsureDraft(e.ctx, app, version.MustParse("1.2.3-rc.3"), main, notes, State{})
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := e.c.EnsureDraft(e.ctx, app, version.MustParse("1.2.30-rc.1"), main, notes, State{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ { // history that must not be listed
		e.srv.SetRef("acme/app", fmt.Sprintf("refs/tags/v0.%d.0", i), main)
	}

	tags, err := e.c.CandidateGitTags(e.ctx, app, v123, "v")
	if err != nil {
		t.Fatal(err)
	}
	if len(tags) != 2 || tags[0].Tag != "v1.2.3-rc.1" || tags[1].Tag != "v1.2.3-rc2" || tags[1].N != 2 || tags[0].SHA != main {
		t.Fatalf("tags = %+v", tags)
	}
	// A candidate tagged by hand with an annotated tag reads as the commit it tags.
	e.srv.SetRef("acme/app", "refs/tags/v1.2.3-rc.4", e.annotatedTag("v1.2.3-rc.4", main))
	if tags, err = e.c.CandidateGitTags(e.ctx, app, v123, "v"); err != nil || len(tags) != 3 || tags[2].N != 4 || tags[2].SHA != main {
		t.Fatalf("annotated candidate tag: %+v %v", tags, err)
	}
	if err := e.c.DeleteGitTag(e.ctx, app, "v1.2.3-rc.4"); err != nil {
		t.Fatal(err)
	}
	e.srv.ResetRequests()
	rels, err := e.c.CandidateReleases(e.ctx, app, v123, "v")
	if err != nil {
		t.Fatal(err)
	}
	if len(rels) != 2 || rels[0].ID != rel1.ID || rels[0].Draft || !rels[0].Prerelease || rels[1].ID != draft3.ID || !rels[1].Draft || rels[1].N != 3 {
		t.Fatalf("releases = %+v", rels)
	}
	for _, r := range e.srv.Requests() {
		if strings.HasSuffix(strings.Split(r.Path, "?")[0], "/releases") {
			t.Errorf("listed every release: %s", r.Path)
		}
		if strings.Contains(r.Path, "matching-refs/tags/?") || strings.HasSuffix(r.Path, "matching-refs/tags") {
			t.Errorf("listed every tag: %s", r.Path)
		}
	}
	t.Logf("%d requests for %d candidate releases", len(e.srv.Requests()), len(rels))

	for _, r := range rels {
		if err := e.c.DeleteCandidateRelease(e.ctx, app, r); err != nil {
			t.Fatal(err)
		}
	}
	for _, tg := range tags {
		if err := e.c.DeleteGitTag(e.ctx, app, tg.Tag); err != nil {
			t.Fatal(err)
		}
	}
	// A re-run finds nothing and deleting again is fine.
	if rels, err := e.c.CandidateReleases(e.ctx, app, v123, "v"); err != nil || len(rels) != 0 {
		t.Fatalf("after cleanup: %+v, %v", rels, err)
	}
	if err := e.c.DeleteCandidateRelease(e.ctx, app, CandidateRelease{ID: draft3.ID, Tag: "v1.2.3-rc.3", Draft: true}); err != nil {
		t.Fatalf("deleting again: %v", err)
	}
	if err := e.c.DeleteGitTag(e.ctx, app, "v1.2.3-rc2"); err != nil {
		t.Fatalf("deleting a tag again: %v", err)
	}
	for _, keep := range []string{"refs/tags/v1.2.3", "refs/tags/v1.2.30-rc.1"} {
		if _, ok := e.srv.Ref("acme/app", keep); !ok {
			t.Errorf("%s was deleted", keep)
		}
	}
	if got, err := e.c.FindRelease(e.ctx, app, "v1.2.30-rc.1"); err != nil || got == nil || got.ID != other.ID {
		t.Errorf("another version's draft: %+v, %v", got, err)
	}
	if _, ok := e.srv.Ref("acme/app", DraftRecordPrefix+"v1.2.3-rc.3/id-"+fmt.Sprint(draft3.ID)); ok {
		t.Error("the draft record stayed")
	}
	// A pending draft record without a readable draft (a crash while making it): the releases
	// are listed once, and nothing is missed.
	e.srv.SetRef("acme/app", DraftRecordPrefix+"v1.2.3-rc.4/pending", main)
	lost := e.srv.CreateRelease("acme/app", githubserver.ReleaseSeed{Tag: "v1.2.3-rc.4", Name: "v1.2.3-rc.4", Draft: true, Prerelease: true, Target: main})
	if rels, err := e.c.CandidateReleases(e.ctx, app, v123, "v"); err != nil || len(rels) != 1 || rels[0].ID != lost {
		t.Fatalf("lost draft: %+v, %v", rels, err)
	}
	// A full release is never deleted as a candidate.
	err = e.c.DeleteCandidateRelease(e.ctx, app, CandidateRelease{ID: 1, Tag: "v1.2.3"})
	if !errors.Is(err, fault.ErrRefused) {
		t.Errorf("full release: %v", err)
	}
}

func TestCandidateTagsBareSpellingAndLimit(t *testing.T) {
	e := newEnv(t, githubserver.Options{PageSize: 1}, githubserver.RepoOptions{})
	main := e.head("main")
	for _, tag := range []string{"1.2.3-rc1", "1.2.3-rc.2", "v1.2.3-rc.3"} {
		e.srv.SetRef("acme/app", "refs/tags/"+tag, main)
	}
	tags, err := e.c.CandidateGitTags(e.ctx, app, v123, "")
	if err != nil || len(tags) != 2 || tags[0].Tag != "1.2.3-rc1" {
		t.Fatalf("bare tags = %+v, %v", tags, err)
	}
	if _, err := e.c.CandidateGitTags(e.ctx, app, version.MustParse("1.2.3-rc.1"), "v"); !errors.Is(err, fault.ErrBadInput) {
		t.Errorf("candidates of a pre-release: %v", err)
	}
	for i := 0; i < 101; i++ {
		e.srv.SetRef("acme/app", fmt.Sprintf("refs/tags/v1.2.3-rc.%d", 100+i), main)
	}
	_, err = e.c.CandidateGitTags(e.ctx, app, v123, "v")
	if !errors.Is(err, fault.ErrUnreadable) || !strings.Contains(err.Error(), "candidate tags v1.2.3-rc*") || !strings.Contains(err.Error(), "more than 100 pages") {
		t.Fatalf("limit: %v", err)
	}
	// A reader cannot see drafts: the release listing is refused rather than incomplete.
	if _, err := e.client(readToken).CandidateReleases(e.ctx, app, v123, "v"); !errors.Is(err, fault.ErrRefused) {
		t.Errorf("read-only token: %v", err)
	}
}

func TestUntaggedVersionsSparesReachableAndRecent(t *testing.T) {
	now := t0.Add(30 * 24 * time.Hour)
	vs := []PackageVersion{
		{ID: 1, Digest: digestN(1), Tags: []string{"1.0.0"}, UpdatedAt: t0},
		{ID: 2, Digest: digestN(2), UpdatedAt: t0},                  // child of 1.0.0: reachable
		{ID: 3, Digest: digestN(3), UpdatedAt: t0},                  // orphan
		{ID: 4, Digest: digestN(4), UpdatedAt: now.Add(-time.Hour)}, // too recent
		{ID: 5, Digest: digestN(5)},                                 // no time: not judged old
		{ID: 6, Digest: digestN(6), CreatedAt: t0},                  // created time only
	}
	got := UntaggedVersions(vs, func(d string) bool { return d == digestN(2) }, 7*24*time.Hour, now)
	if len(got) != 2 || got[0].ID != 3 || got[1].ID != 6 {
		t.Fatalf("orphans = %+v", got)
	}
}
