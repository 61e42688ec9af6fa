package github

import (
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/pipeline/config"
	"github.com/shipgate/shipgate/pipeline/fault"

	"github.com/shipgate/shipgate/pipeline/githubserver"
	"github.com/shipgate/shipgate/pipeline/testkit"
	"github.com/shipgate/shipgate/pipeline/version"
)

const digest = "sha256:" + "d1" + "0000000000000000000000000000000000000000000000000000000000ab"

func payload(commit string) DispatchPayload {
	return DispatchPayload{Version: "1.2.3", Tag: "v1.2.3", Image: "ghcr.io/acme/app", Digest: digest, Repository: "acme/app",
		Commit: commit, RunID: "4242", CorrelationID: CorrelationID(v123, digest)}
}

func TestCorrelationID(t *testing.T) {
	a, b := CorrelationID(v123, digest), CorrelationID(v123, digest)
	if a != b || !strings.HasPrefix(a, "shipgate-1.2.3-") {
		t.Fatalf("not stable: %s %s", a, b)
	}
	if CorrelationID(v123, digest+"x") == a || CorrelationID(version.MustParse("1.2.4"), digest) == a {
		t.Fatal("another build or version gives the same id")
	}
}

func TestDispatchPayload(t *testing.T) {
	p := payload("c")
	p.RunURL = "https://github.com/acme/app/actions/runs/4242/attempts/2"
	b, err := p.ClientPayload()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	if len(m) != MaxPayloadKeys {
		t.Fatalf("client_payload has %d top-level properties; want all %d used", len(m), MaxPayloadKeys)
	}
	// The names the original flow's receiver reads, where they mean the same thing.
	for k, v := range map[string]string{"version": "1.2.3", "tag": "v1.2.3", "release_kind": ReleaseFinal, "image": "ghcr.io/acme/app",
		"digest": digest, "source_repo": "acme/app", "source_sha": "c", "source_run_id": "4242", "source_run_url": p.RunURL,
		"correlation_id": CorrelationID(v123, digest)} {
		if m[k] != v {
			t.Errorf("payload[%s] = %v, want %q", k, m[k], v)
		}
	}
}

func TestDispatchPayloadLimitAndKinds(t *testing.T) {
	e := newEnv(t, githubserver.Options{}, githubserver.RepoOptions{})
	// Candidate tags in the receiver's spelling pass its validation unchanged.
	receiver := regexp.MustCompile(`^\d+\.\d+\.\d+(-rc\d+)?$`)
	for _, tag := range []string{"1.2.3", "1.2.3-rc4"} {
		p := payload("c")
		p.Tag, p.ReleaseKind = tag, ReleaseCandidate
		if err := e.down.Dispatch(e.ctx, down, "", p); err != nil {
			t.Fatal(err)
		}
		got := e.srv.Dispatches("acme/smoke")
		if last := got[len(got)-1].ClientPayload; last["tag"] != tag || !receiver.MatchString(last["tag"].(string)) || last["release_kind"] != "candidate" {
			t.Fatalf("dispatched %v", last)
		}
	}
	// An eleventh key is refused before anything is sent.
	p := payload("c")
	p.RunURL = "https://ci/run"
	p.Extra = map[string]any{"attempt": 2}
	before := len(e.srv.Requests())
	err := e.down.Dispatch(e.ctx, down, "", p)
	mustContain(t, err, "11 top-level keys", "at most 10")
	if !errors.Is(err, fault.ErrBadInput) || len(e.srv.Requests()) != before {
		t.Fatalf("not BadInput before any request: %v", err)
	}
	// With room (no run URL), an extra key goes through; one that would replace a field does not.
	p.RunURL = ""
	if err := e.down.Dispatch(e.ctx, down, "", p); err != nil {
		t.Fatal(err)
	}
	p.Extra = map[string]any{"tag": "x"}
	mustContain(t, e.down.Dispatch(e.ctx, down, "", p), `extra key "tag"`)
	p.Extra, p.ReleaseKind = nil, "nightly"
	mustContain(t, e.down.Dispatch(e.ctx, down, "", p), `release_kind "nightly"`)
}

func TestEnsureDispatchAtLeastOnce(t *testing.T) {
	e, commit := finalizedEnv(t, githubserver.Options{}, githubserver.RepoOptions{})
	rel, _, err := e.c.EnsureDraft(e.ctx, app, v123, commit, notes, State{IndexDigest: digest})
	if err != nil {
		t.Fatal(err)
	}
	// The source token cannot dispatch to the downstream repository: a clear refusal.
	_, err = e.c.EnsureDispatch(e.ctx, app, rel, e.c, down, "", payload(commit))
	mustContain(t, err, "dispatch shipgate-smoke-test to acme/smoke", "404")
	out, err := e.c.EnsureDispatch(e.ctx, app, rel, e.down, down, "", payload(commit))
	if err != nil || !out.Dispatched || out.Release.State.Dispatch == nil || out.Release.State.IndexDigest != digest {
		t.Fatalf("first dispatch: %+v %v", out, err)
	}
	ds := e.srv.Dispatches("acme/smoke")
	if len(ds) != 1 || ds[0].EventType != DefaultEventType || ds[0].ClientPayload["correlation_id"] != CorrelationID(v123, digest) || ds[0].Login != "smoke-bot" {
		t.Fatalf("dispatches %+v", ds)
	}
	if out.Release.Notes != strings.TrimRight(notes, "\n") {
		t.Fatalf("recording the dispatch changed the notes: %q", out.Release.Notes)
	}
	// Re-run (with the release as found again): recorded, so no second dispatch.
	found, _ := e.c.FindRelease(e.ctx, app, "v1.2.3")
	again, err := e.c.EnsureDispatch(e.ctx, app, found, e.down, down, "", payload(commit))
	if err != nil || again.Dispatched || len(e.srv.Dispatches("acme/smoke")) != 1 {
		t.Fatalf("re-run dispatched again: %+v %v", again, err)
	}
	// Another build (new digest): a new correlation id, so a new dispatch.
	p := payload(commit)
	p.Digest, p.CorrelationID = digest+"2", CorrelationID(v123, digest+"2")
	if out, err := e.c.EnsureDispatch(e.ctx, app, found, e.down, down, "", p); err != nil || !out.Dispatched {
		t.Fatalf("new build: %+v %v", out, err)
	}
}

func TestEnsureDispatchCrashBeforeRecord(t *testing.T) {
	e, commit := finalizedEnv(t, githubserver.Options{}, githubserver.RepoOptions{})
	rel, _, _ := e.c.EnsureDraft(e.ctx, app, v123, commit, notes, State{})
	// Dispatch's answer is lost (it arrived) and the record cannot be written: the run fails…
	e.proxy.Inject(testkit.Fault{Method: "POST", Path: re(`/dispatches$`), DropResponse: true, Times: 1})
	e.proxy.Inject(testkit.Fault{Method: "PATCH", Path: re(`/releases/`), Status: 500, Times: 10})
	_, err := e.c.EnsureDispatch(e.ctx, app, rel, e.down, down, "", payload(commit))
	mustContain(t, err, "dispatched to acme/smoke but not recorded", "a re-run will dispatch again")
	e.proxy.Clear()
	// …and the re-run dispatches again (at-least-once), then records.
	found, _ := e.c.FindRelease(e.ctx, app, "v1.2.3")
	out, err := e.c.EnsureDispatch(e.ctx, app, found, e.down, down, "", payload(commit))
	if err != nil || !out.Dispatched {
		t.Fatalf("re-run: %+v %v", out, err)
	}
	ds := e.srv.Dispatches("acme/smoke")
	if len(ds) < 2 || ds[0].ClientPayload["correlation_id"] != ds[len(ds)-1].ClientPayload["correlation_id"] {
		t.Fatalf("want the same correlation id dispatched again, got %+v", ds)
	}
	e.noLeak(err)
}

func TestDispatchValidation(t *testing.T) {
	e := newEnv(t, githubserver.Options{}, githubserver.RepoOptions{})
	err := e.down.Dispatch(e.ctx, down, strings.Repeat("e", 101), payload("c"))
	mustContain(t, err, "at most 100")
	err = e.down.Dispatch(e.ctx, down, "x", DispatchPayload{Version: "1.2.3"})
	mustContain(t, err, "needs version, digest and correlation_id")
}

func TestDownstreamGate(t *testing.T) {
	e := newEnv(t, githubserver.Options{}, githubserver.RepoOptions{})
	corr := CorrelationID(v123, digest)
	gate := func(mode config.GateMode, requireDigest bool) GateResult {
		t.Helper()
		r, err := e.client(readToken).DownstreamResult(e.ctx, down, v123, digest, corr, mode, requireDigest)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := gate(config.GatePrerelease, true); r.Passed || !strings.Contains(r.Reason, "has no prerelease v1.2.3 yet") {
		t.Fatalf("nothing downstream: %+v", r)
	}
	e.srv.CreateRelease("acme/smoke", githubserver.ReleaseSeed{Tag: "v1.2.3", Draft: true, Prerelease: true, Body: "tested " + digest})
	if r := gate(config.GateAny, true); r.Passed || !strings.Contains(r.Reason, "has no prerelease or release v1.2.3 yet") {
		t.Fatalf("a draft passed the gate: %+v", r)
	}
	e.srv.CreateRelease("acme/smoke", githubserver.ReleaseSeed{Tag: "v1.2.3", Body: "tested " + digest})
	if r := gate(config.GatePrerelease, true); r.Passed || !strings.Contains(r.Reason, "is a full release, the gate wants a prerelease") {
		t.Fatalf("full release for prerelease mode: %+v", r)
	}
	if r := gate(config.GateRelease, true); !r.Passed {
		t.Fatalf("full release mode: %+v", r)
	}
	if r := gate(config.GateAny, true); !r.Passed {
		t.Fatalf("full release, any mode: %+v", r)
	}
	e.srv.CreateRelease("acme/smoke", githubserver.ReleaseSeed{Tag: "v1.2.4", Prerelease: true, Body: "tested " + digest})
	e.srv.CreateRelease("acme/smoke", githubserver.ReleaseSeed{Tag: "v1.2.3-other", Prerelease: true, Body: corr})
	// A pre-release of another build of the same version does not count…
	e2 := newEnv(t, githubserver.Options{}, githubserver.RepoOptions{})
	e2.srv.CreateRelease("acme/smoke", githubserver.ReleaseSeed{Tag: "v1.2.3", Prerelease: true, Body: "tested sha256:other"})
	r, err := e2.client(readToken).DownstreamResult(e2.ctx, down, v123, digest, corr, config.GatePrerelease, true)
	if err != nil || r.Passed || !strings.Contains(r.Reason, "names neither digest") {
		t.Fatalf("another build: %+v %v", r, err)
	}
	// …unless the setting relaxes the gate to the tag alone.
	if r, _ := e2.client(readToken).DownstreamResult(e2.ctx, down, v123, digest, corr, config.GatePrerelease, false); !r.Passed {
		t.Fatalf("tag-only gate: %+v", r)
	}
	// The correlation id in the name suffices (GitHub publishes one release per tag: a new world).
	e3 := newEnv(t, githubserver.Options{}, githubserver.RepoOptions{})
	e3.srv.CreateRelease("acme/smoke", githubserver.ReleaseSeed{Tag: "v1.2.3", Prerelease: true, Name: "smoke " + corr})
	if r, _ := e3.client(readToken).DownstreamResult(e3.ctx, down, v123, digest, corr, config.GatePrerelease, true); !r.Passed || r.URL == "" {
		t.Fatalf("correlation id in the name: %+v", r)
	}
	gate3 := func(mode config.GateMode) GateResult {
		t.Helper()
		r, err := e3.client(readToken).DownstreamResult(e3.ctx, down, v123, digest, corr, mode, true)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for _, mode := range []config.GateMode{"", config.GateAny} {
		if r := gate3(mode); !r.Passed {
			t.Errorf("a pre-release, mode %q: %+v", mode, r)
		}
	}
	if r := gate3(config.GateRelease); r.Passed || !strings.Contains(r.Reason, "is a pre-release, the gate wants a release") {
		t.Errorf("a pre-release, mode release: %+v", r)
	}
}

// A build's record counts only for that build and its later attempts (id-rN): another build whose
// id merely starts the same, or a payload with no id at all, is not "already dispatched".
func TestRecordedDispatchMatchesItsOwnBuild(t *testing.T) {
	e, commit := finalizedEnv(t, githubserver.Options{}, githubserver.RepoOptions{})
	first := payload(commit)
	out, err := e.c.EnsureRecordedDispatch(e.ctx, app, "v1.2.3-rc.1", e.down, down, "", first)
	if err != nil || !out.Dispatched {
		t.Fatalf("first dispatch: %+v %v", out, err)
	}
	if again, err := e.c.EnsureRecordedDispatch(e.ctx, app, "v1.2.3-rc.1", e.down, down, "", first); err != nil || again.Dispatched {
		t.Fatalf("the same build again: %+v %v", again, err)
	}
	for _, id := range []string{"", first.CorrelationID[:len(first.CorrelationID)-4]} {
		p := first
		p.CorrelationID = id
		before := len(e.srv.Dispatches("acme/smoke"))
		got, _ := e.c.EnsureRecordedDispatch(e.ctx, app, "v1.2.3-rc.1", e.down, down, "", p)
		if got.Record.CorrelationID == first.CorrelationID && !got.Dispatched && len(e.srv.Dispatches("acme/smoke")) == before {
			t.Fatalf("id %q was taken for the recorded build %q", id, first.CorrelationID)
		}
	}
}
