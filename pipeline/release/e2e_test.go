package release_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/shipgate/shipgate/pipeline/release"
	"github.com/shipgate/shipgate/pipeline/sandbox"
	"github.com/shipgate/shipgate/pipeline/step"
)

// world is one sandbox and the environment pointing at it.
type world struct {
	t   testing.TB
	sb  *sandbox.Sandbox
	env *release.Env
	ctx context.Context
}

func newWorld(t testing.TB, o sandbox.Options) *world {
	t.Helper()
	sb, err := sandbox.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sb.Close)
	return &world{t: t, sb: sb, env: sb.Env(), ctx: context.Background()}
}

func (w *world) prepare(ver string) *step.Report {
	w.t.Helper()
	rep, err := release.Prepare(w.ctx, w.env, ver)
	if err != nil {
		w.t.Fatalf("prepare %s: %v\n%s", ver, err, render(rep))
	}
	w.sb.ReviewRelease(ver) // a maintainer marks the PR ready and approves it
	return rep
}

func (w *world) publishInput(ver string) release.PublishInput {
	w.t.Helper()
	dir := w.t.TempDir()
	if _, err := w.sb.Checkout(w.ctx, "release/"+ver, dir); err != nil {
		w.t.Fatal(err)
	}
	return release.PublishInput{Version: ver, Dir: dir, Builder: w.sb.Builder}
}

func (w *world) publish(ver string) *step.Report {
	w.t.Helper()
	rep, err := release.Publish(w.ctx, w.env, w.publishInput(ver))
	if err != nil {
		w.t.Fatalf("publish %s: %v\n%s", ver, err, render(rep))
	}
	return rep
}

func (w *world) promote(ver string) (*step.Report, error) {
	return release.Promote(w.ctx, w.env, release.PromoteInput{Version: ver})
}

// digest is the sha256:… of an output like repo@sha256:….
func digestOf(rep *step.Report, key string) string {
	v := rep.Get(key)
	if i := strings.Index(v, "@"); i >= 0 {
		return v[i+1:]
	}
	return v
}

// tag resolves image:tag in the sandbox registry, "" when absent.
func (w *world) tag(tag string) string {
	w.t.Helper()
	d, err := remote.Head(w.ref(tag), w.regOpts()...)
	if err != nil {
		return ""
	}
	return d.Digest.String()
}

func render(rep *step.Report) string {
	if rep == nil {
		return "(no report)"
	}
	s, _ := rep.Render("text")
	return s
}

// release returns the GitHub release for tag, draft or not.
func (w *world) release(tag string) (draft, found bool, body string) {
	for _, r := range w.sb.GitHub.Releases(sandbox.Repo) {
		if r.Tag == tag {
			return r.Draft, true, r.Body
		}
	}
	return false, false, ""
}

func TestHappyPath(t *testing.T) {
	w := preparedWorld(t, "1.0.0")
	cl, _ := w.sb.GitHub.File(sandbox.Repo, "release/1.0.0", "CHANGELOG.md")
	if !strings.Contains(cl, "## [1.0.0] - TBD") {
		t.Fatalf("prepare did not open the section:\n%s", cl)
	}

	rep := w.publish("1.0.0")
	index := digestOf(rep, "index")
	if index == "" || w.tag("1.0.0") != index {
		t.Fatalf("index output %q, registry 1.0.0 = %q\n%s", index, w.tag("1.0.0"), render(rep))
	}
	if w.tag("latest") != "" {
		t.Fatalf("publish wrote latest")
	}
	fin := rep.Get("finalize commit")
	fcl, _ := w.sb.GitHub.File(sandbox.Repo, fin, "CHANGELOG.md")
	if strings.Contains(fcl, "TBD") || !strings.Contains(fcl, "## [1.0.0] - 20") {
		t.Fatalf("finalize commit's CHANGELOG not finalized:\n%s", fcl)
	}
	draft, found, body := w.release("v1.0.0")
	if !found || !draft || !strings.Contains(body, "A health endpoint") || strings.Contains(body, "TBD") {
		t.Fatalf("draft release: found=%v draft=%v body=%q", found, draft, body)
	}
	if n := len(w.sb.GitHub.Dispatches(sandbox.DownstreamRepo)); n != 1 {
		t.Fatalf("%d dispatches, want 1", n)
	}

	// Promote before the smoke test passed: refused, nothing changed.
	rep, err := w.promote("1.0.0")
	if !errors.Is(err, step.ErrRefused) || !strings.Contains(err.Error(), "smoke test") {
		t.Fatalf("promote before smoke test: %v\n%s", err, render(rep))
	}
	if w.tag("latest") != "" {
		t.Fatalf("refused promote moved latest")
	}
	if draft, _, _ := w.release("v1.0.0"); !draft {
		t.Fatalf("refused promote published the release")
	}

	w.sb.PassSmokeTest("1.0.0", index)
	rep, err = w.promote("1.0.0")
	if err != nil {
		t.Fatalf("promote: %v\n%s", err, render(rep))
	}
	if w.tag("latest") != index || w.tag("1.0") != index || w.tag("1") != index {
		t.Fatalf("latest %s, 1.0 %s, 1 %s; want %s", w.tag("latest"), w.tag("1.0"), w.tag("1"), index)
	}
	if draft, _, _ := w.release("v1.0.0"); draft {
		t.Fatalf("release still a draft after promote")
	}
	pulls := w.sb.GitHub.Pulls(sandbox.Repo)
	if len(pulls) != 1 || !pulls[0].Merged {
		t.Fatalf("release PR: %+v", pulls)
	}

	// A re-run of promote changes nothing and passes.
	rep, err = w.promote("1.0.0")
	if err != nil || rep.Count(step.Acted) != 0 {
		t.Fatalf("promote re-run: %v acted=%d\n%s", err, rep.Count(step.Acted), render(rep))
	}
	st, err := release.Status(w.ctx, w.env, "1.0.0")
	if err != nil || st.Verdict != "promoted" {
		t.Fatalf("status after promote: %v, verdict %q\n%s", err, st.Verdict, render(st))
	}
}
