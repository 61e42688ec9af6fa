package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/testkit"
	"github.com/shipgate/shipgate/pipeline/version"
)

// attach stores a referrer of subject (a signature-like artifact) as cosign v3 does: by digest,
// with a subject; go-containerregistry updates the sha256-<hex> tag on registries without the
// referrers API. It returns the referrer's digest.
func (e *env) attach(subject v1.Hash, created time.Time) v1.Hash {
	e.t.Helper()
	sub := e.ref("acme/app@" + subject.String()).(name.Digest)
	desc, err := remote.Head(sub)
	if err != nil {
		e.t.Fatal(err)
	}
	bundle := static.NewLayer([]byte(fmt.Sprintf(`{"bundle":%q}`, subject.String()+created.String())), "application/vnd.dev.sigstore.bundle.v0.3+json")
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), bundle)
	if err != nil {
		e.t.Fatal(err)
	}
	img = mutate.ConfigMediaType(img, "application/vnd.oci.empty.v1+json")
	img = mutate.Annotations(img, map[string]string{AnnotationCreated: created.UTC().Format(time.RFC3339)}).(v1.Image)
	img = mutate.Subject(img, v1.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size}).(v1.Image)
	d := testkit.Digest(e.t, img)
	if err := remote.Write(e.ref("acme/app@"+d.String()), img); err != nil {
		e.t.Fatal(err)
	}
	return d
}

// exists reports whether a manifest digest is still in the repository.
func (e *env) exists(d v1.Hash) bool {
	e.t.Helper()
	_, err := remote.Head(e.ref("acme/app@" + d.String()))
	if err == nil {
		return true
	}
	if strings.Contains(err.Error(), "404") || strings.Contains(err.Error(), "MANIFEST_UNKNOWN") {
		return false
	}
	e.t.Fatalf("HEAD %s: %v", d, err)
	return false
}

// publishFrom publishes version v from the given release's images.
func (e *env) publishFrom(v string, r release) Published {
	e.t.Helper()
	p, err := e.c.Publish(context.Background(), specFor(e.repo, v, r.sources()))
	if err != nil {
		e.t.Fatalf("publish %s: %v", v, err)
	}
	return p
}

func candidateNames(cs []Candidate) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Tag)
	}
	return out
}

// TestCleanupCandidatesEveryLane is the cleanup after a final ships: rc.1 (semver spelling) and
// rc2 (bare spelling) were published and signed; the final 1.2.3 reuses rc2's platform images
// and is promoted. Deleting the candidates removes rc.1 entirely with its signature, rc2's index
// and signature, and keeps rc2's platform images (children of the kept 1.2.3 index), saying why.
// Other versions and look-alike tags are untouched; a re-run converges.
func TestCleanupCandidatesEveryLane(t *testing.T) {
	eachLane(t, lanes(), func(t *testing.T, e *env) {
		ctx := context.Background()
		old := e.publishPromoted("1.2.2", TagOptions{})
		rc1 := e.publish("1.2.3-rc.1")
		r2 := newRelease(t, 512)
		rc2 := e.publishFrom("1.2.3-rc2", r2)
		other := e.publish("1.2.30-rc.1") // shares the prefix 1.2.3 but is another version
		final := e.publishFrom("1.2.3", r2)
		e.promote("1.2.3", final, TagOptions{})
		t0 := created
		sig1 := e.attach(rc1.Index, t0)
		sig2 := e.attach(rc2.Index, t0)
		sigFinal := e.attach(final.Index, t0)

		cands, err := e.c.CandidateTags(ctx, e.repo, version.MustParse("1.2.3"))
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"1.2.3-rc.1", "1.2.3-rc.1-amd64", "1.2.3-rc.1-arm64", "1.2.3-rc2", "1.2.3-rc2-amd64", "1.2.3-rc2-arm64"}
		if got := candidateNames(cands); !slices.Equal(got, want) {
			t.Fatalf("candidates = %v, want %v", got, want)
		}
		if cands[0].N != 1 || cands[1].Arch != "amd64" || cands[3].N != 2 {
			t.Fatalf("candidate fields: %+v", cands)
		}

		keep := []string{"1.2.3", "1.2.3-amd64", "1.2.3-arm64", "latest", "1.2.2"}
		plan, err := e.c.PlanDelete(ctx, e.repo, want, keep)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("plan:\n%s", plan)
		deleted := map[v1.Hash]string{}
		for _, m := range plan.Delete {
			deleted[m.Digest] = m.Kind
		}
		for d, kind := range map[v1.Hash]string{rc1.Index: KindIndex, rc2.Index: KindIndex, sig1: KindReferrer, sig2: KindReferrer,
			rc1.Platforms["linux/amd64"]: KindImage, rc1.Platforms["linux/arm64"]: KindImage} {
			if deleted[d] != kind {
				t.Errorf("plan deletes %s as %q, want %q", d, deleted[d], kind)
			}
		}
		for _, d := range []v1.Hash{final.Index, sigFinal, old.Index, rc2.Platforms["linux/amd64"], rc2.Platforms["linux/arm64"]} {
			if _, ok := deleted[d]; ok {
				t.Errorf("plan deletes %s, which a kept tag refers to", d)
			}
		}
		if len(plan.Kept) != 2 || !strings.Contains(plan.Kept[0].Reason, "kept tag 1.2.3") {
			t.Errorf("kept = %+v, want rc2's two platform images kept by 1.2.3", plan.Kept)
		}
		if e.lane != "referrers" && !slices.ContainsFunc(plan.Delete, func(m DeleteManifest) bool { return m.Kind == KindFallback && m.Subject == rc1.Index }) {
			t.Errorf("no referrers tag of %s in the plan on a registry without the referrers API", rc1.Index)
		}

		res, err := e.c.ApplyDelete(ctx, plan)
		if err != nil {
			t.Fatalf("apply: %v\n%v", err, res.Lines())
		}
		t.Logf("result:\n%s", strings.Join(res.Lines(), "\n"))
		for _, d := range []v1.Hash{rc1.Index, rc2.Index, sig1, sig2, rc1.Platforms["linux/amd64"]} {
			if e.exists(d) {
				t.Errorf("%s still exists", d)
			}
		}
		for _, d := range []v1.Hash{final.Index, sigFinal, old.Index, other.Index, r2Digest(t, r2)} {
			if !e.exists(d) {
				t.Errorf("%s was deleted, but a kept tag refers to it", d)
			}
		}
		for tag, d := range map[string]v1.Hash{"1.2.3": final.Index, "latest": final.Index, "1.2.2": old.Index, "1.2.30-rc.1": other.Index} {
			if got := e.resolve("acme/app", tag); got != d {
				t.Errorf("%s resolves to %s, want %s", tag, got, d)
			}
		}
		for _, tag := range []string{"1.2.3-rc.1", "1.2.3-rc.1-amd64", "1.2.3-rc2"} {
			if got := e.resolve("acme/app", tag); got != (v1.Hash{}) {
				t.Errorf("candidate tag %s still resolves to %s", tag, got)
			}
		}
		if e.lane == "process" {
			// distribution 2.x deletes a tag only with its manifest: rc2's per-arch tags stay, said why.
			if len(res.Kept) != 2 || !strings.Contains(res.Kept[0], "still referred to by 1.2.3") {
				t.Errorf("result kept = %v", res.Kept)
			}
		} else if got := e.resolve("acme/app", "1.2.3-rc2-amd64"); got != (v1.Hash{}) {
			t.Errorf("1.2.3-rc2-amd64 still resolves to %s on a registry that deletes tags", got)
		}

		// A re-run converges: nothing left to delete, no error.
		cands, err = e.fresh().CandidateTags(ctx, e.repo, version.MustParse("1.2.3"))
		if err != nil {
			t.Fatal(err)
		}
		plan2, err := e.fresh().PlanDelete(ctx, e.repo, candidateNames(cands), keep)
		if err != nil {
			t.Fatal(err)
		}
		if len(plan2.Delete) != 0 {
			t.Errorf("re-run plans to delete again:\n%s", plan2)
		}
		if _, err := e.fresh().ApplyDelete(ctx, plan2); err != nil {
			t.Errorf("re-run: %v", err)
		}
		// Applying the first plan again finds everything gone: still no error.
		if _, err := e.fresh().ApplyDelete(ctx, plan); err != nil {
			t.Errorf("applying the old plan again: %v", err)
		}
	})
}

func r2Digest(t testing.TB, r release) v1.Hash { return testkit.Digest(t, r.amd) }

// TestDeleteRefusedSaysWhatToDo: a registry that answers DELETE with 405 UNSUPPORTED (GHCR,
// distribution without storage.delete.enabled) stops the cleanup with a Refused error naming
// the fix; nothing else is tried.
func TestDeleteRefusedSaysWhatToDo(t *testing.T) {
	eachLane(t, faultLanes(), func(t *testing.T, e *env) {
		ctx := context.Background()
		rc := e.publish("2.0.0-rc.1")
		rule := e.proxy.Inject(testkit.Fault{Method: http.MethodDelete, Status: http.StatusMethodNotAllowed,
			Body: `{"errors":[{"code":"UNSUPPORTED","message":"The operation is unsupported."}]}`})
		plan, err := e.c.PlanDelete(ctx, e.repo, []string{"2.0.0-rc.1"}, []string{"2.0.0"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.c.ApplyDelete(ctx, plan)
		if err == nil || !errors.Is(err, ErrDeleteUnsupported) || !errors.Is(err, fault.ErrRefused) || !strings.Contains(err.Error(), "storage.delete.enabled") {
			t.Fatalf("err = %v, want a refusal naming storage.delete.enabled", err)
		}
		if rule.Injected() != 1 {
			t.Errorf("%d DELETEs after the registry refused the first", rule.Injected())
		}
		if !e.exists(rc.Index) {
			t.Error("the index went although the registry refused")
		}
	})
}

// TestDeleteOnGHCRNamesThePackagesAPI: the refusal for ghcr.io points at the packages API.
func TestDeleteOnGHCRNamesThePackagesAPI(t *testing.T) {
	ref, err := name.NewDigest("ghcr.io/acme/app@sha256:" + strings.Repeat("a", 64))
	if err != nil {
		t.Fatal(err)
	}
	err = New().deleteFailed(ref, &transport.Error{StatusCode: http.StatusMethodNotAllowed})
	if !errors.Is(err, ErrDeleteUnsupported) || !strings.Contains(err.Error(), "packages API") || !strings.Contains(err.Error(), "admin on the package") {
		t.Fatalf("err = %v", err)
	}
}

// TestDeleteFailureIsReportedAndRerunFinishes: a DELETE that keeps failing (503) is reported in
// the result and the error, the rest is still deleted, and a re-run finishes.
func TestDeleteFailureIsReportedAndRerunFinishes(t *testing.T) {
	e := localEnv(t)
	ctx := context.Background()
	rc := e.publish("2.0.0-rc.1")
	e.proxy.Inject(testkit.Fault{Method: http.MethodDelete, Path: regexp.MustCompile(regexp.QuoteMeta(rc.Index.String())), Times: 4, Status: 503})
	plan, err := e.c.PlanDelete(ctx, e.repo, []string{"2.0.0-rc.1", "2.0.0-rc.1-amd64", "2.0.0-rc.1-arm64"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.c.ApplyDelete(ctx, plan)
	if err == nil || !errors.Is(err, fault.ErrUnreachable) || len(res.Failed) != 1 {
		t.Fatalf("err = %v, failed = %v", err, res.Failed)
	}
	if e.exists(rc.Platforms["linux/amd64"]) {
		t.Error("the platform images were not deleted after the index failed")
	}
	plan, err = e.fresh().PlanDelete(ctx, e.repo, []string{"2.0.0-rc.1", "2.0.0-rc.1-amd64", "2.0.0-rc.1-arm64"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.fresh().ApplyDelete(ctx, plan); err != nil {
		t.Fatalf("re-run: %v", err)
	}
	if e.exists(rc.Index) {
		t.Error("the re-run did not finish")
	}
}

func TestPlanDeleteRejectsBadInput(t *testing.T) {
	e := localEnv(t)
	ctx := context.Background()
	for _, tc := range []struct{ del, keep []string }{
		{[]string{"1.2.3"}, []string{"1.2.3"}},
		{[]string{"bad tag"}, nil},
		{nil, []string{"-x"}},
	} {
		if _, err := e.c.PlanDelete(ctx, e.repo, tc.del, tc.keep); !errors.Is(err, fault.ErrBadInput) {
			t.Errorf("PlanDelete(%v, %v) = %v, want bad input", tc.del, tc.keep, err)
		}
	}
	if _, err := e.c.CandidateTags(ctx, e.repo, version.MustParse("1.2.3-rc.1")); !errors.Is(err, fault.ErrBadInput) {
		t.Errorf("candidates of a pre-release: %v", err)
	}
}

// tagMany points n tags at one small manifest (cheap: one PUT each).
func (e *env) tagMany(tags []string) {
	e.t.Helper()
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	first := e.ref("acme/app:" + tags[0])
	if err := remote.Write(first, img); err != nil {
		e.t.Fatal(err)
	}
	d, err := remote.Get(first)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, t := range tags[1:] {
		tag, err := name.NewTag(e.host+"/acme/app:"+t, name.Insecure)
		if err != nil {
			e.t.Fatal(err)
		}
		if err := remote.Tag(tag, d); err != nil {
			e.t.Fatal(err)
		}
	}
}

// historyTags are many other versions and their per-arch tags, plus candidates of 1.2.3.
func historyTags(versions, candidates int) []string {
	var out []string
	for i := 0; i < versions; i++ {
		v := fmt.Sprintf("%d.%d.%d", i/100, i%100/10, i%10)
		if v == "1.2.3" {
			v = "9.9.9"
		}
		out = append(out, v, v+"-amd64", v+"-rc.1", "sha256-"+fmt.Sprintf("%064x", i))
	}
	for n := 1; len(out) < versions*4+candidates; n++ {
		spell := fmt.Sprintf("1.2.3-rc.%d", n)
		if n%2 == 0 {
			spell = fmt.Sprintf("1.2.3-rc%d", n)
		}
		out = append(out, spell, spell+"-amd64", spell+"-arm64")
	}
	return out[:versions*4+candidates]
}

func setPaging(t testing.TB, size, pages int) {
	t.Helper()
	oldSize, oldPages := tagPageSize, maxTagPages
	tagPageSize, maxTagPages = size, pages
	t.Cleanup(func() { tagPageSize, maxTagPages = oldSize, oldPages })
}

// TestCandidateTagsPagesAndStopsEarly: with small pages, every candidate is found, the listing
// starts after "1.2.3-rc" and stops past the candidates (far fewer pages than the whole list).
func TestCandidateTagsPagesAndStopsEarly(t *testing.T) {
	eachLane(t, faultLanes(), func(t *testing.T, e *env) {
		setPaging(t, 7, 1000)
		all := historyTags(40, 60) // 160 other tags, 60 candidate tags
		all = append(all, "1.2.3-rc.1x", "1.2.3-rca", "1.2.3-rc.01-amd64-extra", "1.2.4-rc.1")
		e.tagMany(all)
		mark := e.mark()
		cands, err := e.c.CandidateTags(context.Background(), e.repo, version.MustParse("1.2.3"))
		if err != nil {
			t.Fatal(err)
		}
		if len(cands) != 60 {
			t.Fatalf("%d candidates, want 60: %v", len(cands), candidateNames(cands))
		}
		pages := e.count(http.MethodGet, `/tags/list`, mark)
		if pages > 60/7+3 {
			t.Errorf("%d tag list pages for 60 candidates among %d tags: not stopping early", pages, len(all))
		}
		t.Logf("%d pages", pages)
	})
}

// TestCandidateTagsLimitNamesTheListing: a listing that reaches the page limit fails, naming the
// listing; it never returns what it read so far.
func TestCandidateTagsLimitNamesTheListing(t *testing.T) {
	setPaging(t, 5, 3)
	e := localEnv(t)
	e.tagMany(historyTags(0, 30))
	_, err := e.c.CandidateTags(context.Background(), e.repo, version.MustParse("1.2.3"))
	if err == nil || !errors.Is(err, fault.ErrUnreadable) || !strings.Contains(err.Error(), `listing the tags of`) || !strings.Contains(err.Error(), `"1.2.3-rc"`) || !strings.Contains(err.Error(), "more than 3 pages") {
		t.Fatalf("err = %v, want the listing named and the limit", err)
	}
}

// TestListOrphansFindsReferrerTagsOfDeletedSubjects: on registries without the referrers API, a
// sha256-<hex> tag whose subject is gone is an orphan; its age comes from the referrers' creation
// annotation; deleting it through PlanDelete converges.
func TestListOrphansFindsReferrerTagsOfDeletedSubjects(t *testing.T) {
	eachLane(t, faultLanes(), func(t *testing.T, e *env) {
		ctx := context.Background()
		gone := e.publish("3.0.0-rc.1")
		kept := e.publish("3.0.0")
		e.attach(gone.Index, created.Add(-10*24*time.Hour))
		e.attach(kept.Index, created.Add(-10*24*time.Hour))
		// Another tool deleted the subject, not its referrers tag.
		if err := remote.Delete(e.ref("acme/app@" + gone.Index.String())); err != nil {
			t.Fatal(err)
		}
		o, err := e.c.ListOrphans(ctx, e.repo, 7*24*time.Hour, created)
		if err != nil {
			t.Fatal(err)
		}
		if len(o.Found) != 1 || o.Found[0].Subject != gone.Index || !o.Found[0].AgeKnown || !o.Found[0].Old || len(o.Old()) != 1 {
			t.Fatalf("orphans = %+v", o)
		}
		if len(o.Limits) == 0 {
			t.Error("no word on what cannot be listed")
		}
		recent, err := e.c.ListOrphans(ctx, e.repo, 30*24*time.Hour, created)
		if err != nil || len(recent.Old()) != 0 {
			t.Fatalf("orphans older than 30 days: %+v, %v", recent.Old(), err)
		}
		plan, err := e.c.PlanDelete(ctx, e.repo, []string{o.Found[0].Tag}, []string{"3.0.0"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.c.ApplyDelete(ctx, plan); err != nil {
			t.Fatal(err)
		}
		after, err := e.fresh().ListOrphans(ctx, e.repo, 0, created)
		if err != nil || len(after.Found) != 0 {
			t.Fatalf("after deleting: %+v, %v", after.Found, err)
		}
	})
}

// TestCleanupWithAuth: listing, planning and deleting authenticate like every other operation;
// a wrong token is a 401 that names the flags and holds no secret.
func TestCleanupWithAuth(t *testing.T) {
	eachAuthLane(t, func(t *testing.T, upstream string, e *env) {
		ctx := context.Background()
		rc := e.c
		if _, err := rc.Publish(ctx, specFor(e.repo, "1.2.3-rc.1", newRelease(t, 256).sources())); err != nil {
			t.Fatal(err)
		}
		cands, err := e.fresh().CandidateTags(ctx, e.repo, version.MustParse("1.2.3"))
		if err != nil || len(cands) != 3 {
			t.Fatalf("candidates: %v, %v", cands, err)
		}
		plan, err := e.c.PlanDelete(ctx, e.repo, candidateNames(cands), []string{"1.2.3"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.c.ApplyDelete(ctx, plan); err != nil {
			t.Fatal(err)
		}
		wrong := newEnv(t, upstream, WithAuth(botUser, "ghp_WrongT0kenValue9999"))
		_, err = wrong.c.CandidateTags(ctx, wrong.host+"/acme/app", version.MustParse("1.2.3"))
		var rerr *Error
		if !errors.As(err, &rerr) || rerr.Status != 401 || !strings.Contains(err.Error(), "--registry-username") {
			t.Fatalf("wrong token: %v", err)
		}
		testkit.AssertNoSecret(t, botToken, err, e.logs, wrong.logs)
		testkit.AssertNoSecret(t, "ghp_WrongT0kenValue9999", err, wrong.logs)
	})
}

// TestReachableFromTags: the manifests tags hold and the children of indexes among them, and the
// referrers a sha256-<hex> tag lists; an untagged manifest is not reachable.
func TestReachableFromTags(t *testing.T) {
	e := localEnv(t)
	p := e.publish("1.0.0")
	sig := e.attach(p.Index, created)
	stray := e.publish("1.0.1-rc.1")
	got, err := e.c.Reachable(context.Background(), e.repo, []string{"1.0.0", fallbackTag(p.Index), "gone"})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []v1.Hash{p.Index, p.Platforms["linux/amd64"], p.Platforms["linux/arm64"], sig} {
		if got[d] == "" {
			t.Errorf("%s not reachable: %v", d, got)
		}
	}
	if _, ok := got[stray.Index]; ok {
		t.Errorf("untagged-by-these-tags %s is reachable", stray.Index)
	}
	if !strings.Contains(got[p.Platforms["linux/amd64"]], "child") {
		t.Errorf("reason %q", got[p.Platforms["linux/amd64"]])
	}
}
