package release_test

// The test harness of the end-to-end suite: worlds on a fake clock, a snapshot of everything a
// release leaves behind (registry and GitHub), a crash switch, and the hands of people who change
// the world behind shipgate's back (editing a draft release, moving a tag, pushing latest).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/shipgate/shipgate/pipeline/clock"
	"github.com/shipgate/shipgate/pipeline/github"
	"github.com/shipgate/shipgate/pipeline/provenance"
	"github.com/shipgate/shipgate/pipeline/registry"
	"github.com/shipgate/shipgate/pipeline/release"
	"github.com/shipgate/shipgate/pipeline/sandbox"
	"github.com/shipgate/shipgate/pipeline/sign"
	"github.com/shipgate/shipgate/pipeline/step"
	"github.com/shipgate/shipgate/pipeline/version"
)

// epoch is where every fake clock starts: early in a UTC day, so waits never change the
// CHANGELOG date, and the same in every world, so two worlds that did the same things hold the same
// commits and dates.
var epoch = time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)

// newFakeWorld is newWorld on a fake clock shared by the GitHub server and the phases: retries and
// rate-limit waits advance it instead of sleeping.
func newFakeWorld(t *testing.T, o sandbox.Options) (*world, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(epoch)
	o.Clock = clk
	w := newWorld(t, o)
	w.env.Clock = clk
	return w, clk
}

// lane names a registry lane: with the OCI referrers API, or without it (signatures found through
// sha256-<hex> tags).
func lane(referrers bool) string {
	if referrers {
		return "referrers"
	}
	return "tag-fallback"
}

// eachLane runs body as a parallel subtest named after each registry lane, in a new world of that
// lane.
func eachLane(t *testing.T, body func(t *testing.T, w *world)) {
	t.Helper()
	for _, referrers := range []bool{true, false} {
		t.Run(lane(referrers), func(t *testing.T) {
			t.Parallel()
			body(t, newWorld(t, sandbox.Options{Referrers: referrers}))
		})
	}
}

// preparedWorld is a new world (default options) in which ver is prepared.
func preparedWorld(t testing.TB, ver string) *world {
	t.Helper()
	w := newWorld(t, sandbox.Options{})
	w.prepare(ver)
	return w
}

// publishedWorld is a new world (default options) in which ver is prepared and published (no
// smoke test yet), with publish's report.
func publishedWorld(t testing.TB, ver string) (*world, *step.Report) {
	t.Helper()
	w := preparedWorld(t, ver)
	return w, w.publish(ver)
}

// promotedWorld is a new world (default options) in which vers are shipped and promoted, in that
// order; it returns their index digests by version.
func promotedWorld(t testing.TB, vers ...string) (*world, map[string]string) {
	t.Helper()
	w := newWorld(t, sandbox.Options{})
	idx := map[string]string{}
	for _, v := range vers {
		idx[v] = w.shipPromoted(v)
	}
	return w, idx
}

// shipPromoted ships ver (see ship) and promotes it; it returns the index digest.
func (w *world) shipPromoted(ver string) string {
	w.t.Helper()
	idx := w.ship(ver)
	w.mustPromote(ver)
	return idx
}

// appRepo is the sandbox's application repository (sandbox.Repo), as the GitHub client names it.
var appRepo = github.Repo{Owner: "acme", Name: "app"}

// gh is a GitHub client of the world's API server, as the release bot.
func (w *world) gh() *github.Client {
	w.t.Helper()
	gh, err := github.New(github.Options{BaseURL: w.sb.GitHub.APIURL(), Token: sandbox.Token})
	if err != nil {
		w.t.Fatal(err)
	}
	return gh
}

// mustPromote promotes ver and fails the test on any error.
func (w *world) mustPromote(ver string) *step.Report {
	w.t.Helper()
	return w.mustPromoteWith(release.PromoteInput{Version: ver})
}

// mustPromoteWith promotes as in says (its flags set) and fails the test on any error.
func (w *world) mustPromoteWith(in release.PromoteInput) *step.Report {
	w.t.Helper()
	rep, err := release.Promote(w.ctx, w.env, in)
	if err != nil {
		w.t.Fatalf("promote %s (%+v): %v\n%s", in.Version, in, err, render(rep))
	}
	return rep
}

// notes adds a line of release notes under the [ver] section on release/ver, as a developer does
// before publishing; sections opened from an empty [Unreleased] have no notes yet.
func (w *world) notes(ver, line string) {
	w.t.Helper()
	w.sb.EditChangelog("release/"+ver, func(cl string) string {
		head := "## [" + ver + "] - TBD\n"
		if !strings.Contains(cl, head) {
			w.t.Fatalf("release/%s CHANGELOG has no %q:\n%s", ver, head, cl)
		}
		return strings.Replace(cl, head, head+"\n### Fixed\n- "+line+"\n", 1)
	})
}

// ship prepares, publishes and passes the smoke test of ver (adding notes when the section has
// none), and returns the index digest: the inspection window of ver.
func (w *world) ship(ver string) string {
	w.t.Helper()
	w.prepare(ver)
	cl, _ := w.sb.GitHub.File(sandbox.Repo, "release/"+ver, "CHANGELOG.md")
	if sec := section(cl, ver); strings.TrimSpace(sec) == "" {
		w.notes(ver, "Changes of "+ver+".")
	}
	idx := digestOf(w.publish(ver), "index")
	w.sb.PassSmokeTest(ver, idx)
	return idx
}

// section is the body of the [ver] section of a CHANGELOG (between its heading and the next).
func section(cl, ver string) string {
	_, rest, ok := strings.Cut(cl, "## ["+ver+"]")
	if !ok {
		return ""
	}
	_, rest, _ = strings.Cut(rest, "\n")
	body, _, _ := strings.Cut(rest, "\n## ")
	return body
}

// refused checks that err is a refusal naming gate and mentioning want.
func refused(t *testing.T, err error, rep *step.Report, gate, want string) {
	t.Helper()
	var re *step.RefusedError
	if !errors.As(err, &re) {
		t.Fatalf("want a refusal by %q, got %v\n%s", gate, err, render(rep))
	}
	for _, r := range re.Reasons {
		if strings.HasPrefix(r, gate+": ") && strings.Contains(r, want) {
			return
		}
	}
	t.Fatalf("refusal does not name %q with %q:\n%v", gate, want, err)
}

// regOpts reach the sandbox registry directly (not through the phases' transport).
func (w *world) regOpts() []remote.Option {
	return []remote.Option{remote.WithAuth(&authn.Basic{Username: sandbox.RegistryUser, Password: sandbox.RegistryPass})}
}

// ref is image:tag in the sandbox registry.
func (w *world) ref(tag string) name.Tag {
	w.t.Helper()
	return mustName(w.t, name.NewTag, w.sb.Image+":"+tag)
}

// digestRef is image@d in the sandbox registry.
func (w *world) digestRef(d string) name.Digest {
	w.t.Helper()
	return mustName(w.t, name.NewDigest, w.sb.Image+"@"+d)
}

// mustName parses s with parse (name.NewTag, name.NewDigest …), allowing plain HTTP; an error
// fails the test.
func mustName[T any](t testing.TB, parse func(string, ...name.Option) (T, error), s string) T {
	t.Helper()
	r, err := parse(s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// retag plays someone copying the manifest at from to tag by hand.
func (w *world) retag(from, tag string) {
	w.t.Helper()
	desc, err := remote.Get(w.ref(from), w.regOpts()...)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := remote.Put(w.ref(tag), desc, w.regOpts()...); err != nil {
		w.t.Fatal(err)
	}
}

// dropPlatform plays a broken push: the X.Y.Z tag now holds an index with only the first
// platform of the published one, with the same annotations.
func (w *world) dropPlatform(ver string) {
	w.t.Helper()
	idx, im := w.indexManifest(remote.Index(w.ref(ver), w.regOpts()...))
	first := im.Manifests[0]
	img, err := idx.Image(first.Digest)
	if err != nil {
		w.t.Fatal(err)
	}
	out := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	out = mutate.AppendManifests(out, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: first.Platform, MediaType: first.MediaType}})
	out = mutate.Annotations(out, im.Annotations).(v1.ImageIndex)
	if err := remote.WriteIndex(w.ref(ver), out, w.regOpts()...); err != nil {
		w.t.Fatal(err)
	}
}

// indexManifest takes what remote.Index or remote.Referrers return: the index with its manifest,
// or a failed test.
func (w *world) indexManifest(idx v1.ImageIndex, err error) (v1.ImageIndex, *v1.IndexManifest) {
	w.t.Helper()
	if err != nil {
		w.t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		w.t.Fatal(err)
	}
	return idx, im
}

// ghRelease is the GitHub release for tag in the application repository.
func (w *world) ghRelease(tag string) (r struct {
	ID     int64
	Body   string
	Draft  bool
	Latest bool
}, found bool) {
	for _, rel := range w.sb.GitHub.Releases(sandbox.Repo) {
		if rel.Tag == tag {
			r.ID, r.Body, r.Draft, r.Latest = rel.ID, rel.Body, rel.Draft, rel.Latest
			return r, true
		}
	}
	return r, false
}

// wantLatest fails t unless latest holds idx and GitHub's Latest label is on ver's release; when
// says at which point of the test.
func (w *world) wantLatest(t testing.TB, when, ver, idx string) {
	t.Helper()
	if got, label := w.tag("latest"), w.latestLabel(); got != idx || label != "v"+ver {
		t.Fatalf("%s: latest %s (want %s, %s), Latest label %q (want v%s)", when, got, idx, ver, label, ver)
	}
}

// latestLabel is the tag of the release GitHub labels "Latest", "" for none.
func (w *world) latestLabel() string {
	for _, rel := range w.sb.GitHub.Releases(sandbox.Repo) {
		if rel.Latest {
			return rel.Tag
		}
	}
	return ""
}

// api sends one request to the GitHub API server as the release bot, as a person using the API or
// the web UI would, and fails the test unless GitHub answers want.
func (w *world) api(method, path string, body any, want int) {
	w.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, strings.TrimSuffix(w.sb.GitHub.APIURL(), "/")+path, rd)
	if err != nil {
		w.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+sandbox.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		b, _ := io.ReadAll(resp.Body)
		w.t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, b, want)
	}
}

// editNotes plays a maintainer editing the draft release's notes on GitHub; the state marker
// shipgate keeps on the last line is left as it is.
func (w *world) editNotes(tag string, edit func(notes string) string) {
	w.t.Helper()
	rel, ok := w.ghRelease(tag)
	if !ok {
		w.t.Fatalf("no release %s", tag)
	}
	notes, st, err := github.SplitBody(rel.Body)
	if err != nil || st.IndexDigest == "" {
		w.t.Fatalf("release %s has no state marker (%v):\n%s", tag, err, rel.Body)
	}
	w.api("PATCH", fmt.Sprintf("/repos/%s/releases/%d", sandbox.Repo, rel.ID), map[string]string{"body": github.ComposeBody(edit(notes), st)}, 200)
}

// state describes, as one text, everything releases leave behind in a world: every tag of the
// image repository and what it resolves to (the sha256-<hex> referrer-fallback tags excepted),
// the predicate types of the bundles referring to each tagged digest and each platform of a
// tagged index, the platform builds, and on GitHub the branch, tag and lock refs of the versions,
// every release, pull request and dispatch correlation id. Two worlds in the same state give the
// same text after canonical().
func (w *world) state(versions ...string) string {
	w.t.Helper()
	var b strings.Builder
	repo, _ := name.NewRepository(w.sb.Image, name.Insecure)
	tags, err := remote.List(repo, w.regOpts()...)
	if err != nil && !strings.Contains(err.Error(), "NAME_UNKNOWN") {
		w.t.Fatal(err)
	}
	sort.Strings(tags)
	var subjects []string
	seen := map[string]bool{}
	add := func(d string) {
		if !seen[d] {
			seen[d] = true
			subjects = append(subjects, d)
		}
	}
	for _, tag := range tags {
		if strings.HasPrefix(tag, "sha256-") {
			continue
		}
		desc, err := remote.Get(w.ref(tag), w.regOpts()...)
		if err != nil {
			w.t.Fatal(err)
		}
		fmt.Fprintf(&b, "tag %s = %s (%s)\n", tag, desc.Digest, desc.MediaType)
		add(desc.Digest.String())
		if desc.MediaType.IsIndex() {
			im, err := v1.ParseIndexManifest(bytes.NewReader(desc.Manifest))
			if err != nil {
				w.t.Fatal(err)
			}
			for _, m := range im.Manifests {
				fmt.Fprintf(&b, "  entry %s %s\n", m.Platform, m.Digest)
				add(m.Digest.String())
			}
		}
	}
	for _, d := range subjects {
		_, im := w.indexManifest(remote.Referrers(w.digestRef(d), w.regOpts()...))
		var kinds []string
		for _, m := range im.Manifests {
			kinds = append(kinds, m.Annotations["dev.sigstore.bundle.predicateType"])
		}
		sort.Strings(kinds)
		fmt.Fprintf(&b, "referrers of %s: %s\n", d, strings.Join(kinds, ", "))
	}
	fmt.Fprintf(&b, "builds: %s\n", strings.Join(w.sb.Builder.Builds(), ", "))

	refs := []string{"refs/heads/main", github.LockRef}
	for _, v := range versions {
		refs = append(refs, "refs/heads/release/"+v, "refs/tags/v"+v)
	}
	for _, r := range refs {
		sha, ok := w.sb.GitHub.Ref(sandbox.Repo, r)
		fmt.Fprintf(&b, "ref %s = %s %v\n", r, sha, ok)
	}
	for _, v := range versions {
		_, ok := w.sb.GitHub.Ref(sandbox.Repo, github.DispatchPrefix+"v"+v)
		fmt.Fprintf(&b, "dispatch record of v%s: %v\n", v, ok)
	}
	rels := w.sb.GitHub.Releases(sandbox.Repo)
	sort.Slice(rels, func(i, j int) bool { return rels[i].Tag < rels[j].Tag })
	for _, r := range rels {
		fmt.Fprintf(&b, "release %s draft=%v prerelease=%v latest=%v target=%s name=%s\n%s\n", r.Tag, r.Draft, r.Prerelease, r.Latest, r.Target, r.Name, indent(r.Body))
	}
	for _, p := range w.sb.GitHub.Pulls(sandbox.Repo) {
		fmt.Fprintf(&b, "pull #%d %s→%s state=%s draft=%v merged=%v head=%s merge=%s automerge=%v\n", p.Number, p.Head, p.Base, p.State, p.Draft, p.Merged, p.HeadSHA, p.MergeCommit, p.AutoMerge)
	}
	fmt.Fprintf(&b, "dispatched: %s\n", strings.Join(w.correlations(), ", "))
	return b.String()
}

// correlations are the distinct correlation ids of the dispatches the downstream received.
func (w *world) correlations() []string {
	var out []string
	seen := map[string]bool{}
	for _, d := range w.sb.GitHub.Dispatches(sandbox.DownstreamRepo) {
		c, _ := d.ClientPayload["correlation_id"].(string)
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	return out
}

func indent(s string) string { return "    " + strings.ReplaceAll(s, "\n", "\n    ") }

var (
	digestRE = regexp.MustCompile(`sha256:[0-9a-f]{64}`)
	shaRE    = regexp.MustCompile(`\b[0-9a-f]{40}\b`)
	corrRE   = regexp.MustCompile(`shipgate-[0-9A-Za-z.+-]+?-[0-9a-f]{16}\b`)
	timeRE   = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z`)
	portRE   = regexp.MustCompile(`127\.0\.0\.1:\d+`)
)

// canonical renames what differs between two worlds that did the same things — the servers'
// ports, digests, commit SHAs, correlation ids (derived from digests) and timestamps — by order of
// first appearance (D1, C1, K1 …), so equal texts mean equal states up to those names while every
// "this tag holds that digest" relation is kept.
func canonical(s string) string {
	s = portRE.ReplaceAllString(s, "HOST")
	s = timeRE.ReplaceAllString(s, "TIME")
	for _, r := range []struct {
		re     *regexp.Regexp
		prefix string
	}{{corrRE, "K"}, {digestRE, "D"}, {shaRE, "C"}} {
		names := map[string]string{}
		s = r.re.ReplaceAllStringFunc(s, func(m string) string {
			if n, ok := names[m]; ok {
				return n
			}
			n := fmt.Sprintf("%s%d", r.prefix, len(names)+1)
			names[m] = n
			return n
		})
	}
	return s
}

// diff says where two texts first differ, for failure messages.
func diff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return fmt.Sprintf("line %d:\n  got  %q\n  want %q\n\ngot:\n%s\nwant:\n%s", i+1, x, y, a, b)
		}
	}
	return "(equal)"
}

// crashSwitch is the phases' transport with a power switch: once tripped, every request fails, as
// when the process running a phase dies (nothing it still meant to do, such as releasing the
// promote lock, reaches a server). Trip it from Env.Hook, or after a request matching TripAfter
// got its answer.
type crashSwitch struct {
	base http.RoundTripper
	dead atomic.Bool
	// TripAfter, when set, trips the switch once a matching request was answered.
	TripAfter func(*http.Request, *http.Response) bool
}

var errCrashed = errors.New("crash injected: the process running the phase died")

func (c *crashSwitch) RoundTrip(req *http.Request) (*http.Response, error) {
	if c.dead.Load() {
		return nil, errCrashed
	}
	resp, err := c.base.RoundTrip(req)
	if err == nil && c.TripAfter != nil && c.TripAfter(req, resp) {
		c.dead.Store(true)
	}
	return resp, err
}

// crashAfter makes the phase run next die right after its step named stepName acted.
func (w *world) crashAfter(sw *crashSwitch, stepName string) {
	w.env.Hook = func(ctx context.Context, s string) error {
		if s == stepName {
			sw.dead.Store(true)
			return errCrashed
		}
		return nil
	}
}

// signWith signs (and attests) a published release by hand with the sandbox key, as an operator
// with the key could: signatures on the index and platforms, an SBOM per platform, and provenance
// naming commit.
func (w *world) signWith(indexDigest, commit string) {
	w.t.Helper()
	ctx := context.Background()
	sg, err := sign.NewKeySigner(w.sb.KeyPEM, nil, sign.KeyOptions{DisableTlogUpload: true})
	if err != nil {
		w.t.Fatal(err)
	}
	host := w.digestRef(indexDigest).RegistryStr()
	st := sign.NewRegistryStore(registry.New(registry.WithAuth(sandbox.RegistryUser, sandbox.RegistryPass), registry.WithInsecureHosts(host)), nil)
	_, im := w.indexManifest(remote.Index(w.digestRef(indexDigest), w.regOpts()...))
	index := w.digestRef(indexDigest)
	var plats []name.Digest
	for _, m := range im.Manifests {
		plats = append(plats, w.digestRef(m.Digest.String()))
	}
	for _, d := range append([]name.Digest{index}, plats...) {
		if err := st.Sign(ctx, d, sg); err != nil {
			w.t.Fatal(err)
		}
	}
	for i, p := range plats {
		pl, err := version.ParsePlatform(im.Manifests[i].Platform.String())
		if err != nil {
			w.t.Fatal(err)
		}
		doc, _ := w.sb.Builder.SBOM(ctx, pl, p.String())
		if err := st.Attest(ctx, p, sign.SPDXPredicateType, doc, sg); err != nil {
			w.t.Fatal(err)
		}
	}
	pred, err := provenance.Predicate(provenance.Facts{SourceRepo: "https://github.com/" + sandbox.Repo, Commit: commit, Version: im.Annotations[registry.AnnotationVersion], BuilderID: release.DefaultBuilderID})
	if err != nil {
		w.t.Fatal(err)
	}
	if err := st.Attest(ctx, index, sign.ProvenancePredicateType, pred, sg, plats...); err != nil {
		w.t.Fatal(err)
	}
}
