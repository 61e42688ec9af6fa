package release_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/shipgate/shipgate/pipeline/config"
	"github.com/shipgate/shipgate/pipeline/githubserver"
	"github.com/shipgate/shipgate/pipeline/release"
	"github.com/shipgate/shipgate/pipeline/sandbox"
	"github.com/shipgate/shipgate/pipeline/step"
)

// TestPublishRefusesTBD: notes that still say TBD stop publish at its check, with the CHANGELOG
// line, before anything is committed, pushed, tagged, drafted or dispatched.
func TestPublishRefusesTBD(t *testing.T) {
	t.Parallel()
	w := preparedWorld(t, "1.0.0")
	w.sb.EditChangelog("release/1.0.0", func(cl string) string {
		return strings.Replace(cl, "- A health endpoint at /healthz.", "- A health endpoint at /healthz.\n- Metrics: TBD", 1)
	})
	cl, _ := w.sb.GitHub.File(sandbox.Repo, "release/1.0.0", "CHANGELOG.md")
	line := 0
	for i, l := range strings.Split(cl, "\n") {
		if l == "- Metrics: TBD" {
			line = i + 1
		}
	}
	before := w.state("1.0.0")

	rep, err := release.Publish(w.ctx, w.env, w.publishInput("1.0.0"))
	refused(t, err, rep, "CHANGELOG", fmt.Sprintf("line %d", line))
	if rep.Count(step.Acted) != 0 {
		t.Fatalf("publish acted after refusing:\n%s", render(rep))
	}
	if after := w.state("1.0.0"); after != before {
		t.Fatalf("refused publish changed the world: %s", diff(after, before))
	}
	if len(w.sb.Builder.Builds()) != 0 || w.tag("1.0.0") != "" || len(w.sb.GitHub.Releases(sandbox.Repo)) != 0 {
		t.Fatalf("refused publish built, pushed or drafted")
	}
}

// TestPromoteRefusesTBDInEditedNotes: a maintainer edits the draft's notes on GitHub to say TBD
// (the state marker untouched); promote refuses with the line in the notes, and nothing changes.
func TestPromoteRefusesTBDInEditedNotes(t *testing.T) {
	t.Parallel()
	w := newWorld(t, sandbox.Options{})
	w.ship("1.0.0")
	w.editNotes("v1.0.0", func(n string) string { return n + "\n- Upgrade notes: TBD" })
	lines := strings.Split(mustNotes(t, w, "v1.0.0"), "\n")
	before := w.state("1.0.0")

	rep, err := w.promote("1.0.0")
	refused(t, err, rep, "release", fmt.Sprintf("line %d", len(lines)))
	assertUnpromoted(t, w, before, rep)

	// Fixing the notes on GitHub is enough: promote then goes through.
	w.editNotes("v1.0.0", func(n string) string { return strings.Replace(n, "TBD", "none", 1) })
	w.mustPromote("1.0.0")
}

func mustNotes(t *testing.T, w *world, tag string) string {
	t.Helper()
	rel, _ := w.ghRelease(tag)
	n, _, _ := strings.Cut(rel.Body, "\n\n<!-- shipgate:state")
	return n
}

// assertUnpromoted checks that a refused promote changed nothing: the world is as before, latest
// did not move, the release is a draft, the PR open, and no lock is left behind.
func assertUnpromoted(t *testing.T, w *world, before string, rep *step.Report) {
	t.Helper()
	if rep.Count(step.Acted) != 0 {
		t.Fatalf("refused promote acted:\n%s", render(rep))
	}
	if after := w.state("1.0.0"); after != before {
		t.Fatalf("refused promote changed the world: %s", diff(after, before))
	}
	if rel, ok := w.ghRelease("v1.0.0"); ok && !rel.Draft {
		t.Fatalf("refused promote published the release")
	}
	for _, p := range w.sb.GitHub.Pulls(sandbox.Repo) {
		if p.Merged || p.State != "open" {
			t.Fatalf("refused promote merged or closed #%d", p.Number)
		}
	}
	if sha, held := w.sb.GitHub.Ref(sandbox.Repo, "refs/shipgate/promote-lock"); held {
		t.Fatalf("refused promote left its lock behind at %s", sha)
	}
}

// otherKey is the public half of a key nobody signed with.
func otherKey(t testing.TB) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// TestPromoteRefusedNothingChanged breaks one promote gate at a time after a complete publish
// and smoke test, and checks that promote refuses on that gate, with its reason, and changes
// nothing anywhere.
func TestPromoteRefusedNothingChanged(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		// publish replaces the default publish (prepare, publish, smoke test passed) when set.
		publish func(w *world) string
		// breakIt changes the world (or the environment) after publish.
		breakIt    func(w *world, index string)
		in         release.PromoteInput
		gate, want string
	}{
		{name: "index missing a platform", gate: "index", want: "linux/arm64",
			breakIt: func(w *world, _ string) { w.dropPlatform("1.0.0") }},
		{name: "per-arch tag moved", gate: "index", want: "1.0.0-arm64",
			breakIt: func(w *world, _ string) { w.retag("1.0.0-amd64", "1.0.0-arm64") }},
		{name: "no signature", gate: "signatures", want: "signature",
			publish: func(w *world) string {
				w.prepare("1.0.0")
				w.env.Settings.Sign = config.SignNone
				idx := digestOf(w.publish("1.0.0"), "index")
				w.env.Settings.Sign = config.SignKey
				w.sb.PassSmokeTest("1.0.0", idx)
				return idx
			}},
		{name: "wrong key", gate: "signatures", want: "requirement(s) not met",
			breakIt: func(w *world, _ string) { w.env.Secrets.VerifyKey = otherKey(w.t) }},
		{name: "provenance names another commit", gate: "signatures", want: "provenance",
			publish: func(w *world) string {
				w.prepare("1.0.0")
				source, _ := w.sb.GitHub.Ref(sandbox.Repo, "refs/heads/release/1.0.0")
				w.env.Settings.Sign = config.SignNone
				idx := digestOf(w.publish("1.0.0"), "index")
				w.env.Settings.Sign = config.SignKey
				// Signed and attested by hand, the provenance naming the source commit (the
				// finalize commit's parent), not the commit that was built.
				w.signWith(idx, source)
				w.sb.PassSmokeTest("1.0.0", idx)
				return idx
			}},
		{name: "draft release missing", gate: "release", want: "not found",
			breakIt: func(w *world, _ string) {
				rel, _ := w.ghRelease("v1.0.0")
				w.api("DELETE", fmt.Sprintf("/repos/%s/releases/%d", sandbox.Repo, rel.ID), nil, 204)
			}},
		{name: "notes say TBD", gate: "release", want: "TBD",
			breakIt: func(w *world, _ string) {
				w.editNotes("v1.0.0", func(n string) string { return "TBD\n\n" + n })
			}},
		{name: "smoke test not passed", gate: "smoke test", want: "has no prerelease v1.0.0 yet",
			publish: func(w *world) string { w.prepare("1.0.0"); return digestOf(w.publish("1.0.0"), "index") }},
		{name: "smoke test of another digest", gate: "smoke test", want: "it tested another build",
			publish: func(w *world) string {
				w.prepare("1.0.0")
				idx := digestOf(w.publish("1.0.0"), "index")
				w.sb.PassSmokeTest("1.0.0", "sha256:"+strings.Repeat("0", 64))
				return idx
			}},
		{name: "draft downstream release", gate: "smoke test", want: "drafts do not count",
			publish: func(w *world) string {
				w.prepare("1.0.0")
				idx := digestOf(w.publish("1.0.0"), "index")
				w.sb.GitHub.CreateRelease(sandbox.DownstreamRepo, githubserver.ReleaseSeed{Tag: "v1.0.0", Draft: true, Prerelease: true, Body: "passed " + idx})
				return idx
			}},
		{name: "full downstream release when the gate wants a pre-release", gate: "smoke test", want: "the gate wants a prerelease",
			publish: func(w *world) string {
				w.prepare("1.0.0")
				idx := digestOf(w.publish("1.0.0"), "index")
				w.sb.GitHub.CreateRelease(sandbox.DownstreamRepo, githubserver.ReleaseSeed{Tag: "v1.0.0", Body: "passed " + idx})
				return idx
			}},
		{name: "PR not mergeable", gate: "pull request", want: "has conflicts with main",
			breakIt: func(w *world, _ string) { w.sb.GitHub.SetMergeConflict(sandbox.Repo, 1, true) }},
		{name: "PR head moved", gate: "pull request", want: "head moved",
			breakIt: func(w *world, _ string) {
				w.sb.EditChangelog("release/1.0.0", func(cl string) string { return cl + "\n" })
			}},
		{name: "unknown latest", gate: "tags", want: "no version annotation",
			breakIt: func(w *world, _ string) {
				// Someone pushed latest by hand: an image shipgate did not publish.
				img, err := random.Index(64, 1, 2)
				if err != nil {
					w.t.Fatal(err)
				}
				if err := remote.WriteIndex(w.ref("latest"), img, w.regOpts()...); err != nil {
					w.t.Fatal(err)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, sandbox.Options{})
			var idx string
			if tc.publish != nil {
				idx = tc.publish(w)
			} else {
				idx = w.ship("1.0.0")
			}
			if tc.breakIt != nil {
				tc.breakIt(w, idx)
			}
			latest := w.tag("latest")
			before := w.state("1.0.0")
			in := tc.in
			in.Version = "1.0.0"
			rep, err := release.Promote(w.ctx, w.env, in)
			refused(t, err, rep, tc.gate, tc.want)
			assertUnpromoted(t, w, before, rep)
			if w.tag("latest") != latest {
				t.Fatalf("latest moved from %q to %q", latest, w.tag("latest"))
			}
			if rep.Status(tc.gate) != step.Refused || rep.Status("move latest") != step.NotRun {
				t.Fatalf("statuses:\n%s", render(rep))
			}
		})
	}
}

// TestUnknownLatestNeedsAllowance: latest pushed by someone else blocks promote, and the
// allowance overwrites it with the verified digest.
func TestUnknownLatestNeedsAllowance(t *testing.T) {
	t.Parallel()
	w := newWorld(t, sandbox.Options{})
	idx := w.ship("1.0.0")
	w.retag("1.0.0-amd64", "latest") // a single platform image, no version annotation
	rep, err := w.promote("1.0.0")
	refused(t, err, rep, "tags", "--allow-unknown-latest")
	w.mustPromoteWith(release.PromoteInput{Version: "1.0.0", AllowUnknownLatest: true})
	if w.tag("latest") != idx {
		t.Fatalf("latest %s, want %s", w.tag("latest"), idx)
	}
}
