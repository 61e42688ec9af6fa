package release_test

// Tests of what promote trusts and what a refusal may do: a label is a claim, a verified digest a
// fact; a refused phase writes nothing anywhere; inputs are checked before the first step.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/shipgate/shipgate/pipeline/config"
	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/github"
	"github.com/shipgate/shipgate/pipeline/registry"
	"github.com/shipgate/shipgate/pipeline/release"
	"github.com/shipgate/shipgate/pipeline/sandbox"
	"github.com/shipgate/shipgate/pipeline/step"
)

// writes records every request of a phase that is not a read, to the registry and to GitHub.
type writes struct {
	base http.RoundTripper
	mu   sync.Mutex
	seen []string
}

func (w *writes) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.mu.Lock()
		w.seen = append(w.seen, r.Method+" "+r.URL.Path)
		w.mu.Unlock()
	}
	base := w.base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(r)
}

func (w *writes) list() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.seen...)
}

func (w *world) recordWrites() *writes {
	rec := &writes{base: w.env.Transport}
	w.env.Transport = rec
	return rec
}

// pushUnsigned plays an attacker with push access: an index nobody signed, annotated with label,
// pushed to tag. It returns its digest.
func (w *world) pushUnsigned(tag, label string) string {
	w.t.Helper()
	src, err := remote.Index(w.ref("1.0.0"), w.regOpts()...)
	if err != nil {
		w.t.Fatal(err)
	}
	im, _ := src.IndexManifest()
	img, err := src.Image(im.Manifests[0].Digest)
	if err != nil {
		w.t.Fatal(err)
	}
	// A different layer set makes a different image: a different digest from anything signed.
	img, err = mutate.Config(img, v1.Config{Labels: map[string]string{"evil": "yes"}})
	if err != nil {
		w.t.Fatal(err)
	}
	out := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	out = mutate.AppendManifests(out, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: im.Manifests[0].Platform}})
	out = mutate.Annotations(out, map[string]string{registry.AnnotationVersion: label}).(v1.ImageIndex)
	if err := remote.WriteIndex(w.ref(tag), out, w.regOpts()...); err != nil {
		w.t.Fatal(err)
	}
	d, _ := out.Digest()
	return d.String()
}

// TestUnverifiedLatestIsNeverDeferredTo: an unsigned index on latest labelled with a higher
// version, or with a pre-release, does not make promote leave latest alone: the tags gate refuses
// and names the digest, --allow-unknown-latest overwrites it, and GitHub's Latest label follows.
func TestUnverifiedLatestIsNeverDeferredTo(t *testing.T) {
	for _, label := range []string{"9.9.9", "2.0.0-rc.1"} {
		t.Run(label, func(t *testing.T) {
			t.Parallel()
			w, _ := promotedWorld(t, "1.0.0")
			idx := w.ship("1.1.0")
			evil := w.pushUnsigned("latest", label)

			rep, err := w.promote("1.1.0")
			refused(t, err, rep, "tags", evil)
			if w.tag("latest") != evil || rep.Count(step.Acted) != 0 {
				t.Fatalf("refused promote changed latest or acted:\n%s", render(rep))
			}
			w.mustPromoteWith(release.PromoteInput{Version: "1.1.0", AllowUnknownLatest: true})
			w.wantLatest(t, "promoted with --allow-unknown-latest", "1.1.0", idx)
		})
	}
}

// TestVerifiedNewerLatestIsLeftAlone: a hotfix of an older line still leaves a verified, newer
// latest alone (the rule the distrust must not break).
func TestVerifiedNewerLatestIsLeftAlone(t *testing.T) {
	t.Parallel()
	w, idx := promotedWorld(t, "1.1.0")
	w.ship("1.0.1")
	rep := w.mustPromote("1.0.1")
	if w.tag("latest") != idx["1.1.0"] || !strings.Contains(strings.Join(rep.Notes, "\n"), "recorded by the published release") {
		t.Fatalf("latest %s, want %s left alone as a verified release:\n%s", w.tag("latest"), idx["1.1.0"], render(rep))
	}
}

// TestStatusFlagsTampering: latest holding an unsigned index labelled with the promoted version is
// named by status, even though the label claims the promoted version.
func TestStatusFlagsTampering(t *testing.T) {
	t.Parallel()
	w, _ := promotedWorld(t, "1.0.0")
	evil := w.pushUnsigned("latest", "1.0.0")
	st, err := release.Status(w.ctx, w.env, "1.0.0")
	if err != nil {
		t.Fatalf("status: %v\n%s", err, render(st))
	}
	if got := st.Get("tampering"); !strings.Contains(got, "latest holds "+evil) || !strings.Contains(st.Verdict, "WARNING") {
		t.Fatalf("status does not flag latest at %s:\n%s", evil, render(st))
	}
}

// TestRefusedPhaseWritesNothing: a refused promote or rollback sends no write request to the
// registry or to GitHub — not even the promote lock — in both registry lanes.
func TestRefusedPhaseWritesNothing(t *testing.T) {
	eachLane(t, func(t *testing.T, w *world) {
		w.prepare("1.0.0")
		w.publish("1.0.0") // no smoke test: promote is refused
		rec := w.recordWrites()
		rep, err := w.promote("1.0.0")
		refused(t, err, rep, "smoke test", "")
		rep, err = release.Rollback(w.ctx, w.env, release.RollbackInput{Version: "1.0.0"})
		refused(t, err, rep, "release", "never promoted")
		if got := rec.list(); len(got) != 0 {
			t.Fatalf("refused phases wrote: %q", got)
		}
	})
}

// TestBadInputRefusedBeforeAnyStep: a typo in --merge-method (or a bad version) is refused before
// the first step, so nothing — latest above all — moves and then fails.
func TestBadInputRefusedBeforeAnyStep(t *testing.T) {
	t.Parallel()
	w := newWorld(t, sandbox.Options{})
	w.ship("1.0.0")
	rec := w.recordWrites()
	rep, err := release.Promote(w.ctx, w.env, release.PromoteInput{Version: "1.0.0", MergeMethod: "squish"})
	if !errors.Is(err, fault.ErrBadInput) || !strings.Contains(err.Error(), "--merge-method") || len(rep.Records) != 0 {
		t.Fatalf("bad merge method: %v\n%s", err, render(rep))
	}
	if w.tag("latest") != "" || len(rec.list()) != 0 {
		t.Fatalf("a bad --merge-method still wrote %q", rec.list())
	}
	if _, err := release.Publish(w.ctx, w.env, release.PublishInput{Version: "1.0"}); !errors.Is(err, fault.ErrBadInput) {
		t.Fatalf("bad version: %v", err)
	}
}

// TestPhasesDoNotWriteTheCallersEnv: a phase applies defaults to its own copy of the settings and
// never writes the Env it is given, so runs may share one. Two goroutines run prepare, publish and
// promote (dry runs: they use the caller's *Env itself, not a copy) and status at once on one Env
// whose defaultable settings are empty; afterwards the Env reads as before, to the last setting
// and secret. Under -race a write while the other run reads fails it too.
func TestPhasesDoNotWriteTheCallersEnv(t *testing.T) {
	t.Parallel()
	w := newWorld(t, sandbox.Options{})
	w.ship("1.0.0")
	in := w.publishInput("1.0.0")
	env := w.env
	env.DryRun = true
	env.Settings.BaseBranch, env.Settings.Changelog = "", ""
	before, secrets := envState(t, env), cloneSecrets(env.Secrets)
	phases := []struct {
		name string
		run  func() (*step.Report, error)
	}{
		{"prepare 1.1.0", func() (*step.Report, error) { return release.Prepare(w.ctx, env, "1.1.0") }},
		{"publish 1.0.0", func() (*step.Report, error) { return release.Publish(w.ctx, env, in) }},
		{"promote 1.0.0", func() (*step.Report, error) {
			return release.Promote(w.ctx, env, release.PromoteInput{Version: "1.0.0"})
		}},
		{"status 1.0.0", func() (*step.Report, error) { return release.Status(w.ctx, env, "1.0.0") }},
	}
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for _, ph := range phases {
				if rep, err := ph.run(); err != nil {
					t.Errorf("%s (dry run): %v\n%s", ph.name, err, render(rep))
				}
			}
		})
	}
	wg.Wait()
	if after := envState(t, env); after != before {
		t.Fatalf("a phase wrote into the caller's Env: %s", diff(after, before))
	}
	if !reflect.DeepEqual(env.Secrets, secrets) {
		t.Fatal("a phase wrote into the caller's secrets") // values not shown: they are secrets
	}
}

// envState is what a caller sees of env, apart from secrets and the hooks it passes in
// (transport, clock, tracer...): settings, run facts, dry run and lock options, as indented JSON,
// so that a write through a shared slice or pointer shows too.
func envState(t *testing.T, env *release.Env) string {
	t.Helper()
	b, err := json.MarshalIndent(struct {
		Settings config.Settings
		Run      release.Run
		DryRun   bool
		Lock     release.LockOptions
	}{env.Settings, env.Run, env.DryRun, env.Lock}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// cloneSecrets copies s, its byte slices included.
func cloneSecrets(s release.Secrets) release.Secrets {
	s.SigningKey, s.SigningPassword = bytes.Clone(s.SigningKey), bytes.Clone(s.SigningPassword)
	s.VerifyKey, s.TrustedRoot = bytes.Clone(s.VerifyKey), bytes.Clone(s.TrustedRoot)
	return s
}

// TestRebuildRefusedOncePromoteStarted: after a promote died right after moving latest,
// publish --rebuild refuses before any write, naming latest.
func TestRebuildRefusedOncePromoteStarted(t *testing.T) {
	t.Parallel()
	w := newWorld(t, sandbox.Options{})
	idx := w.ship("1.0.0")
	w.env.Hook = func(_ context.Context, s string) error {
		if s == "move latest" {
			return errors.New("crash")
		}
		return nil
	}
	if _, err := w.promote("1.0.0"); err == nil {
		t.Fatal("the crash did not happen")
	}
	w.env.Hook = nil
	in := w.publishInput("1.0.0")
	in.Rebuild = true
	rec := w.recordWrites()
	rep, err := release.Publish(w.ctx, w.env, in)
	refused(t, err, rep, "rebuild", "latest")
	if w.tag("1.0.0") != idx || len(rec.list()) != 0 {
		t.Fatalf("a refused rebuild wrote %q", rec.list())
	}
}

// TestRollbackIsDurable: after rolling back from 1.1.0 to 1.0.0, status of 1.1.0 names the
// rollback and promote of 1.1.0 is refused (it would silently undo it) until --reinstate; a
// hotfix of the line latest went back to moves latest and GitHub's Latest label together (one
// rule: the highest promoted, not rolled-back release). Both registry lanes.
func TestRollbackIsDurable(t *testing.T) {
	eachLane(t, func(t *testing.T, w *world) {
		idx100 := w.shipPromoted("1.0.0")
		idx110 := w.shipPromoted("1.1.0")
		if rep, err := release.Rollback(w.ctx, w.env, release.RollbackInput{Version: "1.0.0"}); err != nil {
			t.Fatalf("rollback: %v\n%s", err, render(rep))
		}
		w.wantLatest(t, "after rollback", "1.0.0", idx100)
		st, err := release.Status(w.ctx, w.env, "1.1.0")
		if err != nil || !strings.Contains(st.Verdict, "refused") || !strings.Contains(st.Get("rolled back"), "rolled back to 1.0.0") {
			t.Fatalf("status of the rolled-back version: %v\n%s", err, render(st))
		}
		rep, err := w.promote("1.1.0")
		refused(t, err, rep, "release", "--reinstate")
		if w.tag("latest") != idx100 {
			t.Fatalf("a refused promote moved latest back")
		}

		idx101 := w.shipPromoted("1.0.1")
		w.wantLatest(t, "hotfix after rollback", "1.0.1", idx101)

		rep, err = release.Promote(w.ctx, w.env, release.PromoteInput{Version: "1.1.0", Reinstate: true})
		if err != nil || rep.Status("reinstate") != step.Acted {
			t.Fatalf("promote --reinstate: %v\n%s", err, render(rep))
		}
		w.wantLatest(t, "reinstated", "1.1.0", idx110)
		if rep, err := w.promote("1.1.0"); err != nil || rep.Count(step.Acted) != 0 {
			t.Fatalf("promote after reinstating: %v\n%s", err, render(rep))
		}
	})
}

// TestRebuildNotRefusedByAnotherVersionsLock: the promote lock of 1.0.0-rc.1 does not name 1.0.0.
func TestRebuildNotRefusedByAnotherVersionsLock(t *testing.T) {
	t.Parallel()
	w := preparedWorld(t, "1.0.0")
	if _, err := w.gh().AcquirePromoteLock(w.ctx, appRepo, github.LockHolder{Name: "promote 1.0.0-rc.1"}, github.LockPolicy{}); err != nil {
		t.Fatal(err)
	}
	in := w.publishInput("1.0.0")
	in.Rebuild = true
	if rep, err := release.Publish(w.ctx, w.env, in); err != nil || rep.Status("rebuild") != step.Passed {
		t.Fatalf("rebuild of 1.0.0 under the lock of 1.0.0-rc.1: %v\n%s", err, render(rep))
	}
}
