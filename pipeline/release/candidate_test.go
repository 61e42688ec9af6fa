package release_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/pipeline/release"
	"github.com/shipgate/shipgate/pipeline/sandbox"
	"github.com/shipgate/shipgate/pipeline/step"
	"github.com/shipgate/shipgate/pipeline/version"
)

// candidate publishes the next candidate of ver from release/ver's head.
func (w *world) candidate(ver string) (*step.Report, error) {
	in := w.publishInput(ver)
	in.Candidate = true
	return release.Publish(w.ctx, w.env, in)
}

// candidateRelease publishes the next candidate of ver, with a draft pre-release.
func (w *world) candidateRelease(ver, want string) *step.Report {
	w.t.Helper()
	in := w.publishInput(ver)
	in.Candidate, in.CandidateRelease = true, true
	rep, err := release.Publish(w.ctx, w.env, in)
	if err != nil || rep.Version != want {
		w.t.Fatalf("publish --candidate --candidate-release %s: want %s, got %s: %v\n%s", ver, want, rep.Version, err, render(rep))
	}
	return rep
}

func (w *world) mustCandidate(ver, want string) *step.Report {
	w.t.Helper()
	rep, err := w.candidate(ver)
	if err != nil || rep.Version != want {
		w.t.Fatalf("publish --candidate %s: want %s, got %s: %v\n%s", ver, want, rep.Version, err, render(rep))
	}
	return rep
}

// TestCandidateTrain: candidates are numbered from the tags; a re-run of the same commit finishes
// the same candidate; a new commit on the release branch takes the next number; the CHANGELOG
// stays TBD and no GitHub release appears; the smoke test is dispatched marked as a candidate; a
// final under --require-candidate waits for a candidate of its commit that passed.
func TestCandidateTrain(t *testing.T) {
	t.Parallel()
	w := preparedWorld(t, "1.0.0")
	w.notes("1.0.0", "First cut.")
	before, _ := w.sb.GitHub.File(sandbox.Repo, "release/1.0.0", "CHANGELOG.md")

	rc1 := w.mustCandidate("1.0.0", "1.0.0-rc.1")
	if rep := w.mustCandidate("1.0.0", "1.0.0-rc.1"); rep.Status("index") != step.Done || rep.Status("smoke test") != step.Done {
		t.Fatalf("a re-run of the same commit did not converge on rc.1:\n%s", render(rep))
	}
	after, _ := w.sb.GitHub.File(sandbox.Repo, "release/1.0.0", "CHANGELOG.md")
	if after != before || !strings.Contains(after, "## [1.0.0] - TBD") {
		t.Fatalf("a candidate changed the CHANGELOG:\n%s", after)
	}
	if w.tag("1.0.0-rc.1") != digestOf(rc1, "index") || w.tag("latest") != "" || w.tag("1.0.0") != "" {
		t.Fatalf("tags after rc.1: rc.1=%s latest=%q 1.0.0=%q", w.tag("1.0.0-rc.1"), w.tag("latest"), w.tag("1.0.0"))
	}
	if sha, ok := w.sb.GitHub.Ref(sandbox.Repo, "refs/tags/v1.0.0-rc.1"); !ok || sha != rc1.Get("commit") {
		t.Fatalf("tag v1.0.0-rc.1 = %s %v, want the branch head %s", sha, ok, rc1.Get("commit"))
	}
	if _, found, _ := w.release("v1.0.0-rc.1"); found {
		t.Fatal("a candidate created a GitHub release without --candidate-release")
	}
	if st, _ := release.Status(w.ctx, w.env, "1.0.0-rc.1"); st.Status("signatures") != step.Passed || !strings.Contains(render(st), "published without --candidate-release") {
		t.Fatalf("status of a candidate without a release:\n%s", render(st))
	}
	ds := w.sb.GitHub.Dispatches(sandbox.DownstreamRepo)
	if len(ds) != 1 || ds[0].ClientPayload["release_kind"] != "candidate" || ds[0].ClientPayload["tag"] != "v1.0.0-rc.1" {
		t.Fatalf("dispatches: %+v", ds)
	}

	w.notes("1.0.0", "Second cut.")
	rc2 := w.mustCandidate("1.0.0", "1.0.0-rc.2")

	in := w.publishInput("1.0.0")
	in.RequireCandidate = true
	rep, err := release.Publish(w.ctx, w.env, in)
	refused(t, err, rep, "candidate", "no candidate of 1.0.0 from commit")
	w.sb.PassSmokeTest("1.0.0-rc.1", digestOf(rc1, "index")) // an older commit's candidate does not count
	rep, err = release.Publish(w.ctx, w.env, in)
	refused(t, err, rep, "candidate", "v1.0.0-rc.1 is of commit")
	w.sb.PassSmokeTest("1.0.0-rc.2", digestOf(rc2, "index"))
	rep, err = release.Publish(w.ctx, w.env, in)
	if err != nil || !strings.Contains(rep.Get("candidate"), "1.0.0-rc.2") {
		t.Fatalf("final with a passed candidate: %v\n%s", err, render(rep))
	}
	w.sb.PassSmokeTest("1.0.0", digestOf(rep, "index"))
	w.mustPromote("1.0.0")
	if rep, err := w.candidate("1.0.0"); err == nil {
		t.Fatalf("a candidate of a released version was published:\n%s", render(rep))
	}
	if _, err := release.Cleanup(w.ctx, w.env, "1.0.0"); err != nil {
		t.Fatal(err)
	}
	for _, tag := range []string{"1.0.0-rc.1", "1.0.0-rc.2", "1.0.0-rc.2-amd64"} {
		if w.tag(tag) != "" {
			t.Errorf("cleanup left %s", tag)
		}
	}
	if _, ok := w.sb.GitHub.Ref(sandbox.Repo, "refs/tags/v1.0.0-rc.2"); ok {
		t.Error("cleanup left the git tag v1.0.0-rc.2")
	}
	if w.tag("latest") == "" || w.tag("1.0.0") != w.tag("latest") {
		t.Errorf("cleanup touched the final: latest=%s 1.0.0=%s", w.tag("latest"), w.tag("1.0.0"))
	}
}

// TestCandidateAfterAHalfFailedPush: a candidate whose run died after the platform images were
// pushed (no index, no git tag) is finished by the re-run under the same number.
func TestCandidateAfterAHalfFailedPush(t *testing.T) {
	t.Parallel()
	w := preparedWorld(t, "1.0.0")
	w.mustCandidate("1.0.0", "1.0.0-rc.1")
	w.notes("1.0.0", "Fix.")
	sw := &crashSwitch{base: http.DefaultTransport}
	w.env.Transport = sw
	w.crashAfter(sw, "platform images")
	if _, err := w.candidate("1.0.0"); err == nil {
		t.Fatal("no crash")
	}
	sw.dead.Store(false)
	w.env.Hook = nil
	if w.tag("1.0.0-rc.2-amd64") == "" || w.tag("1.0.0-rc.2") != "" {
		t.Fatalf("the crash left rc.2-amd64=%q rc.2=%q", w.tag("1.0.0-rc.2-amd64"), w.tag("1.0.0-rc.2"))
	}
	w.mustCandidate("1.0.0", "1.0.0-rc.2")
	if w.tag("1.0.0-rc.3") != "" || w.tag("1.0.0-rc.3-amd64") != "" {
		t.Fatal("the re-run took a new number")
	}
}

// TestBareTagsAndCompactCandidates: with --tag-prefix "" and --candidate-form rcN, candidates are
// 1.0.0-rc1, 1.0.0-rc2, as the receiver of the original flow validates them; the final's git tag
// is 1.0.0; promote and cleanup read them.
func TestBareTagsAndCompactCandidates(t *testing.T) {
	t.Parallel()
	w := newWorld(t, sandbox.Options{})
	bare := ""
	w.env.Settings.TagPrefix = &bare
	w.env.Settings.CandidateForm = version.CandidateCompact
	w.prepare("1.0.0")
	rc1 := w.mustCandidate("1.0.0", "1.0.0-rc1")
	w.notes("1.0.0", "Fix.")
	w.mustCandidate("1.0.0", "1.0.0-rc2")
	receiver := regexp.MustCompile(`^\d+\.\d+\.\d+(-rc\d+)?$`)
	for _, d := range w.sb.GitHub.Dispatches(sandbox.DownstreamRepo) {
		if tag, _ := d.ClientPayload["tag"].(string); !receiver.MatchString(tag) {
			t.Errorf("dispatched tag %q fails the receiver's validation", tag)
		}
	}
	if _, ok := w.sb.GitHub.Ref(sandbox.Repo, "refs/tags/1.0.0-rc1"); !ok || w.tag("1.0.0-rc1") != digestOf(rc1, "index") {
		t.Fatal("no bare tag 1.0.0-rc1")
	}
	rep := w.publish("1.0.0")
	w.sb.PassSmokeTestOf("1.0.0", digestOf(rep, "index"))
	prep, err := release.Promote(w.ctx, w.env, release.PromoteInput{Version: "1.0.0", Cleanup: true})
	if err != nil || prep.Status("cleanup candidates") != step.Acted {
		t.Fatalf("promote --cleanup: %v\n%s", err, render(prep))
	}
	if _, ok := w.sb.GitHub.Ref(sandbox.Repo, "refs/tags/1.0.0"); !ok {
		t.Fatal("no bare tag 1.0.0")
	}
	if rel, ok := w.ghRelease("1.0.0"); !ok || rel.Draft || w.latestLabel() != "1.0.0" {
		t.Fatalf("release 1.0.0: %+v, Latest %q", rel, w.latestLabel())
	}
	if w.tag("1.0.0-rc2") != "" {
		t.Error("cleanup left 1.0.0-rc2")
	}
	if _, ok := w.sb.GitHub.Ref(sandbox.Repo, "refs/tags/1.0.0-rc1"); ok {
		t.Error("cleanup left the git tag 1.0.0-rc1")
	}
}

// TestCandidateSettingsAndArguments: bad spellings fail before any step; --candidate wants X.Y.Z;
// prepare refuses a candidate.
func TestCandidateSettingsAndArguments(t *testing.T) {
	t.Parallel()
	w := newWorld(t, sandbox.Options{})
	bad := "-v"
	s := w.env.Settings
	s.TagPrefix = &bad
	s.CandidateForm = "rc-N"
	err := s.Validate()
	if err == nil || !strings.Contains(err.Error(), "--tag-prefix") || !strings.Contains(err.Error(), "--candidate-form") {
		t.Fatalf("bad spellings: %v", err)
	}
	w.prepare("1.0.0")
	in := w.publishInput("1.0.0")
	in.Version, in.Candidate = "1.0.0-rc.2", true
	if rep, err := release.Publish(w.ctx, w.env, in); err == nil || len(rep.Records) != 0 || !strings.Contains(err.Error(), "--version 1.0.0") {
		t.Fatalf("--candidate with a candidate version: %v", err)
	}
	if _, err := release.Prepare(w.ctx, w.env, "1.0.0-rc.1"); err == nil || !strings.Contains(err.Error(), "publish --candidate --version 1.0.0") {
		t.Fatalf("prepare of a candidate: %v", err)
	}
}

// TestRedispatchAfterAFlake: a failed smoke test refuses promote and names the re-dispatch; each
// dispatch run sends the same build again as the next attempt (correlation id -r2, -r3), for a
// final and for a candidate without a release; the downstream's success on the last attempt
// passes promote.
func TestRedispatchAfterAFlake(t *testing.T) {
	t.Parallel()
	w := preparedWorld(t, "1.0.0")
	rc := w.mustCandidate("1.0.0", "1.0.0-rc.1")
	rep := w.publish("1.0.0")
	fin, corr := rep.Get("finalize commit"), rep.Get("correlation id")
	run := "https://github.example/acme/smoke/actions/runs/9"
	w.setSmokeStatus(fin, "failure", run, "smoke "+corr)
	prep, err := w.promote("1.0.0")
	refused(t, err, prep, "smoke test", "dispatch --version 1.0.0")

	for i, want := range []string{corr + "-r2", corr + "-r3"} {
		drep, err := release.Dispatch(w.ctx, w.env, "1.0.0")
		if err != nil || drep.Get("correlation id") != want {
			t.Fatalf("re-dispatch %d: %v, id %q want %q\n%s", i+2, err, drep.Get("correlation id"), want, render(drep))
		}
	}
	ds := w.sb.GitHub.Dispatches(sandbox.DownstreamRepo)
	if last := ds[len(ds)-1]; last.ClientPayload["correlation_id"] != corr+"-r3" || last.ClientPayload["digest"] != digestOf(rep, "index") || last.ClientPayload["release_kind"] != "final" {
		t.Fatalf("last dispatch: %+v", last.ClientPayload)
	}
	w.setSmokeStatus(fin, "success", run, "smoke "+corr+"-r3")
	w.mustPromote("1.0.0")

	crep, err := release.Dispatch(w.ctx, w.env, "1.0.0-rc.1")
	if err != nil || crep.Get("correlation id") != "shipgate-1.0.0-rc.1-"+strings.TrimPrefix(crep.Get("correlation id"), "shipgate-1.0.0-rc.1-") || !strings.HasSuffix(crep.Get("correlation id"), "-r2") {
		t.Fatalf("re-dispatch of the candidate: %v\n%s", err, render(crep))
	}
	if digestOf(crep, "index") != digestOf(rc, "index") {
		t.Fatalf("re-dispatched another build: %s", crep.Get("index"))
	}
	if rep, err := release.Dispatch(w.ctx, w.env, "1.1.0"); err == nil {
		t.Fatalf("dispatch of an unpublished version:\n%s", render(rep))
	}
}

// noDeletes is a registry transport that refuses every DELETE, as a registry without deletes
// does.
type noDeletes struct{ base http.RoundTripper }

func (n noDeletes) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodDelete && strings.Contains(req.URL.Path, "/v2/") {
		return &http.Response{StatusCode: http.StatusMethodNotAllowed, Status: "405 Method Not Allowed", Header: http.Header{}, Body: http.NoBody, Request: req}, nil
	}
	return n.base.RoundTrip(req)
}

// TestPromoteCleanupNeverFailsPromote: when the candidates cannot be deleted, promote --cleanup
// still promotes and says, in a note, to run cleanup; cleanup finishes once deletes work.
func TestPromoteCleanupNeverFailsPromote(t *testing.T) {
	t.Parallel()
	w := preparedWorld(t, "1.0.0")
	w.mustCandidate("1.0.0", "1.0.0-rc.1")
	idx := digestOf(w.publish("1.0.0"), "index")
	w.sb.PassSmokeTest("1.0.0", idx)
	w.env.Transport = noDeletes{http.DefaultTransport}
	rep, err := release.Promote(w.ctx, w.env, release.PromoteInput{Version: "1.0.0", Cleanup: true})
	if err != nil || w.tag("latest") != idx || !strings.Contains(render(rep), "run cleanup --version 1.0.0 to finish") {
		t.Fatalf("promote with a failing cleanup: %v\n%s", err, render(rep))
	}
	if w.tag("1.0.0-rc.1") == "" {
		t.Fatal("the candidate is gone although deletes were refused")
	}
	w.env.Transport = nil
	if _, err := release.Cleanup(w.ctx, w.env, "1.0.0"); err != nil || w.tag("1.0.0-rc.1") != "" {
		t.Fatalf("cleanup after: %v, rc.1 %q", err, w.tag("1.0.0-rc.1"))
	}
}

// TestCandidateIsTheBranchHead: a candidate is release/X.Y.Z as it is. A checkout of an older
// commit of the branch (the branch moved on since) is refused before anything is written,
// naming both commits and what to do; nothing is tagged or pushed.
func TestCandidateIsTheBranchHead(t *testing.T) {
	t.Parallel()
	w := preparedWorld(t, "1.0.0")
	in := w.publishInput("1.0.0")
	in.Candidate = true
	w.sb.GitHub.CommitFiles(sandbox.Repo, "release/1.0.0", map[string]string{"later.txt": "pushed after the checkout\n"}, "fix: later")
	rep, err := release.Publish(w.ctx, w.env, in)
	refused(t, err, rep, "candidate number", "is not the head of release/1.0.0")
	// The gates that check vX.Y.Z-rc.N cannot know N: not checked, not checked as the final's.
	if rep.Status("existing git tag") != step.NotRun || rep.Status("release") != step.NotRun || !strings.HasPrefix(err.Error(), "publish refused by 1 gate(s)") {
		t.Fatalf("gates after the refused candidate number: %v\n%s", err, render(rep))
	}
	if !strings.Contains(err.Error(), "check out release/1.0.0 and publish again") || rep.Count(step.Acted) != 0 {
		t.Fatalf("a candidate of an older commit: %v\n%s", err, render(rep))
	}
	if _, ok := w.sb.GitHub.Ref(sandbox.Repo, "refs/tags/v1.0.0-rc.1"); ok || w.tag("1.0.0-rc.1") != "" {
		t.Fatal("a refused candidate was tagged or pushed")
	}
}
