package step

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/shipgate/shipgate/pipeline/clock"
	"github.com/shipgate/shipgate/pipeline/fault"
)

// world is a toy world: a set of things that exist. Each toy step creates one thing.
type world struct {
	have  map[string]bool
	acts  []string
	fail  map[string]error
	clock *clock.Fake
}

func newWorld() *world {
	return &world{have: map[string]bool{}, fail: map[string]error{}, clock: clock.NewFake(time.Unix(0, 0))}
}

func (w *world) create(name string) Step {
	return Step{
		Name:     "create " + name,
		Observes: name, Changes: name,
		Observe: func(ctx context.Context) (Observation, error) {
			w.clock.Advance(time.Millisecond)
			if w.have[name] {
				return Observation{Done: true, Detail: name + " exists"}, nil
			}
			return Observation{Plan: "would create " + name}, nil
		},
		Act: func(ctx context.Context) (string, error) {
			w.clock.Advance(10 * time.Millisecond)
			if err := w.fail[name]; err != nil {
				return "", err
			}
			w.have[name] = true
			w.acts = append(w.acts, name)
			return "created " + name, nil
		},
	}
}

func (w *world) gate(name string, ok func() error) Step {
	return Step{Name: name, Kind: Gate, Observe: func(ctx context.Context) (Observation, error) {
		if err := ok(); err != nil {
			return Observation{}, err
		}
		return Observation{Detail: name + " ok"}, nil
	}}
}

func statuses(r *Report) string {
	var s []string
	for _, rec := range r.Records {
		s = append(s, string(rec.Status))
	}
	return strings.Join(s, ",")
}

func TestRunActsInOrderAndRerunSkips(t *testing.T) {
	w := newWorld()
	steps := []Step{w.create("a"), w.create("b"), w.create("c")}
	rep := NewReport("publish", "1.2.3")
	if err := (Runner{Clock: w.clock}).Run(context.Background(), rep, steps); err != nil {
		t.Fatal(err)
	}
	if strings.Join(w.acts, "") != "abc" || statuses(rep) != "acted,acted,acted" {
		t.Fatalf("acts %v statuses %s", w.acts, statuses(rep))
	}
	if rep.Records[0].Duration != 11*time.Millisecond || rep.Duration != 33*time.Millisecond {
		t.Fatalf("timings: step %v phase %v", rep.Records[0].Duration, rep.Duration)
	}
	rep2 := NewReport("publish", "1.2.3")
	if err := (Runner{Clock: w.clock}).Run(context.Background(), rep2, steps); err != nil {
		t.Fatal(err)
	}
	if len(w.acts) != 3 || statuses(rep2) != "done,done,done" {
		t.Fatalf("re-run acted again: %v %s", w.acts, statuses(rep2))
	}
}

func TestDryRunObservesOnly(t *testing.T) {
	w := newWorld()
	w.have["a"] = true
	rep := NewReport("publish", "1.2.3")
	if err := (Runner{DryRun: true}).Run(context.Background(), rep, []Step{w.create("a"), w.create("b")}); err != nil {
		t.Fatal(err)
	}
	if len(w.acts) != 0 || statuses(rep) != "done,planned" || rep.Records[1].Detail != "would create b" {
		t.Fatalf("dry run: acts %v, %s, %q", w.acts, statuses(rep), rep.Records[1].Detail)
	}
	out, _ := rep.Render("text")
	if !strings.Contains(out, "dry run: nothing changed") || !strings.Contains(out, "PLANNED") {
		t.Fatalf("dry-run text output:\n%s", out)
	}
}

func TestStopsAtFirstErrorAndResumes(t *testing.T) {
	w := newWorld()
	w.fail["b"] = errors.New("registry said 503")
	steps := []Step{w.create("a"), w.create("b"), w.create("c")}
	rep := NewReport("publish", "1.2.3")
	err := (Runner{}).Run(context.Background(), rep, steps)
	var se *StepError
	if !errors.As(err, &se) || se.Step != "create b" || !strings.Contains(err.Error(), "503") {
		t.Fatalf("error %v", err)
	}
	if statuses(rep) != "acted,failed,not run" || w.have["c"] {
		t.Fatalf("after failure: %s, c=%v", statuses(rep), w.have["c"])
	}
	delete(w.fail, "b")
	rep = NewReport("publish", "1.2.3")
	if err := (Runner{}).Run(context.Background(), rep, steps); err != nil {
		t.Fatal(err)
	}
	if statuses(rep) != "done,acted,acted" || strings.Join(w.acts, "") != "abc" {
		t.Fatalf("resume: %s %v", statuses(rep), w.acts)
	}
}

func TestObserveErrorFails(t *testing.T) {
	rep := NewReport("promote", "1.0.0")
	err := (Runner{}).Run(context.Background(), rep, []Step{{Name: "look", Observe: func(context.Context) (Observation, error) {
		return Observation{}, errors.New("401 from registry")
	}, Act: func(context.Context) (string, error) { t.Fatal("acted after failed observe"); return "", nil }}})
	if err == nil || !strings.Contains(err.Error(), "observe: 401") || rep.Status("look") != Failed {
		t.Fatalf("%v %s", err, statuses(rep))
	}
}

func TestGatesAllEvaluatedBeforeActs(t *testing.T) {
	w := newWorld()
	steps := []Step{
		w.gate("signature", func() error { return fault.Refusedf("no signature on sha256:aa") }),
		w.gate("images", func() error { return nil }),
		w.gate("smoke test", func() error { return fault.Refusedf("no downstream release") }),
		w.create("latest"),
	}
	rep := NewReport("promote", "1.2.3")
	err := (Runner{}).Run(context.Background(), rep, steps)
	var re *RefusedError
	if !errors.As(err, &re) || !errors.Is(err, ErrRefused) || len(re.Reasons) != 2 {
		t.Fatalf("want both refusals, got %v", err)
	}
	if !strings.Contains(err.Error(), "signature: no signature on sha256:aa") || !strings.Contains(err.Error(), "smoke test: no downstream release") {
		t.Fatalf("refusal text %q", err)
	}
	if statuses(rep) != "refused,passed,refused,not run" || len(w.acts) != 0 {
		t.Fatalf("%s acts=%v", statuses(rep), w.acts)
	}
	// Trailing gates refusing also report.
	rep = NewReport("status", "1.2.3")
	err = (Runner{}).Run(context.Background(), rep, []Step{w.gate("only", func() error { return fault.Refusedf("nope") })})
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("trailing gate: %v", err)
	}
}

func TestHookCrashesBetweenSteps(t *testing.T) {
	w := newWorld()
	crash := errors.New("crash injected")
	rep := NewReport("publish", "1.2.3")
	err := (Runner{Hook: func(ctx context.Context, s string) error {
		if s == "create a" {
			return crash
		}
		return nil
	}}).Run(context.Background(), rep, []Step{w.create("a"), w.create("b")})
	if !errors.Is(err, crash) || statuses(rep) != "acted,not run" {
		t.Fatalf("%v %s", err, statuses(rep))
	}
}

func TestSpans(t *testing.T) {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	w := newWorld()
	w.fail["b"] = errors.New("boom")
	rep := NewReport("publish", "1.2.3")
	_ = Runner{Tracer: tp.Tracer("test")}.Run(context.Background(), rep, []Step{w.create("a"), w.create("b")})
	spans := sr.Ended()
	if len(spans) != 3 {
		t.Fatalf("got %d spans, want 3", len(spans))
	}
	byName := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		byName[s.Name()] = s
	}
	phase, a, b := byName["publish"], byName["create a"], byName["create b"]
	if phase == nil || a == nil || b == nil {
		t.Fatalf("span names: %v", byName)
	}
	if a.Parent().SpanID() != phase.SpanContext().SpanID() || b.Parent().SpanID() != phase.SpanContext().SpanID() {
		t.Fatalf("step spans are not children of the phase span")
	}
	if b.Status().Code != codes.Error || a.Status().Code == codes.Error || phase.Status().Code != codes.Error {
		t.Fatalf("statuses: a=%v b=%v phase=%v", a.Status(), b.Status(), phase.Status())
	}
}

func TestRenderFormats(t *testing.T) {
	w := newWorld()
	rep := NewReport("publish", "1.2.3")
	_ = Runner{}.Run(context.Background(), rep, []Step{w.create("a|b")})
	rep.Set("index", "ghcr.io/acme/app@sha256:abc")
	rep.Set("index", "ghcr.io/acme/app@sha256:def")
	rep.Note("latest left alone: 1.3.0 is newer")
	txt, _ := rep.Render("text")
	for _, want := range []string{"shipgate publish 1.2.3: OK", "acted    create a|b", "index  ghcr.io/acme/app@sha256:def", "note: latest left alone", "1 acted"} {
		if !strings.Contains(txt, want) {
			t.Errorf("text lacks %q:\n%s", want, txt)
		}
	}
	md, _ := rep.Render("markdown")
	if !strings.Contains(md, `| create a\|b | acted |`) || !strings.Contains(md, "| index | `ghcr.io/acme/app@sha256:def` |") {
		t.Errorf("markdown:\n%s", md)
	}
	js, _ := rep.Render("json")
	var back map[string]any
	if err := json.Unmarshal([]byte(js), &back); err != nil || back["phase"] != "publish" {
		t.Fatalf("json: %v\n%s", err, js)
	}
	if steps := back["steps"].([]any); steps[0].(map[string]any)["kind"] != "action" {
		t.Errorf("json kind: %v", steps[0])
	}
	if _, err := rep.Render("yaml"); err == nil {
		t.Errorf("unknown format accepted")
	}
	for _, f := range Formats {
		if err := ValidFormat(f); err != nil {
			t.Errorf("ValidFormat(%q): %v", f, err)
		}
	}
	if err := ValidFormat("html"); err == nil || !strings.Contains(err.Error(), "use one of text, markdown, json") {
		t.Errorf("ValidFormat(html) = %v, want an error naming the formats to use", err)
	}
}

func TestGateThatCannotLookFails(t *testing.T) {
	w := newWorld()
	rep := NewReport("promote", "1.2.3")
	err := (Runner{}).Run(context.Background(), rep, []Step{
		w.gate("smoke test", func() error { return fault.Refusedf("no downstream release") }),
		w.gate("signatures", func() error { return CouldNotLook(errors.New("401 from ghcr.io")) }),
		w.gate("pull request", func() error { return nil }),
		w.create("latest"),
	})
	var se *StepError
	if !errors.As(err, &se) || se.Step != "signatures" || errors.Is(err, ErrRefused) {
		t.Fatalf("want a failure of the signatures gate, got %v", err)
	}
	if statuses(rep) != "refused,failed,not run,not run" || len(w.acts) != 0 {
		t.Fatalf("%s acts=%v", statuses(rep), w.acts)
	}
	if CouldNotLook(nil) != nil {
		t.Fatal("CouldNotLook(nil) must be nil")
	}
}

// An error nobody classified is a failure, not a refusal: a bug or an unreadable answer must never
// read as a verdict the operator would try to fix (a malformed JSON answer once did).
func TestUnclassifiedGateErrorFails(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{errors.New("unexpected end of JSON input"), "failed"},
		{fault.Unreadablef("200 with malformed JSON"), "failed"},
		{fault.AsUnreachable(errors.New("connection refused")), "failed"},
		{fault.BadInputf("--merge-method squish"), "refused"},
		{fmt.Errorf("gate: %w", fault.Refusedf("not signed")), "refused"},
	} {
		w := newWorld()
		rep := NewReport("promote", "1.2.3")
		err := (Runner{}).Run(context.Background(), rep, []Step{w.gate("g", func() error { return tc.err }), w.create("latest")})
		if got := string(rep.Status("g")); got != tc.want || err == nil || len(w.acts) != 0 {
			t.Errorf("%v: status %s, err %v, acts %v; want %s", tc.err, got, err, w.acts, tc.want)
		}
		if tc.want == "refused" && !errors.Is(err, ErrRefused) {
			t.Errorf("%v: a refusal must surface as ErrRefused, got %v", tc.err, err)
		}
		if tc.want == "failed" && errors.Is(err, ErrRefused) {
			t.Errorf("%v: a failure surfaced as a refusal", tc.err)
		}
	}
}

// An action that found work but has no Act fails in a real run instead of being recorded as
// "planned" under an OK verdict; in a dry run it plans as usual.
func TestActionWithoutActFailsClosed(t *testing.T) {
	s := Step{Name: "move latest", Observe: func(context.Context) (Observation, error) {
		return Observation{Plan: "latest → sha256:aa"}, nil
	}}
	rep := NewReport("promote", "1.2.3")
	err := (Runner{}).Run(context.Background(), rep, []Step{s})
	if !errors.Is(err, ErrNoAct) || rep.Status("move latest") != Failed {
		t.Fatalf("real run: %v, %s", err, statuses(rep))
	}
	if out, _ := rep.Render("text"); !strings.Contains(out, "FAILED") {
		t.Fatalf("verdict is not FAILED:\n%s", out)
	}
	rep = NewReport("promote", "1.2.3")
	if err := (Runner{DryRun: true}).Run(context.Background(), rep, []Step{s}); err != nil || rep.Status("move latest") != Planned {
		t.Fatalf("dry run: %v, %s", err, statuses(rep))
	}
}

// "Does not apply" is its own outcome, in gates and actions, distinct from "already done".
func TestSkippedIsNotDone(t *testing.T) {
	skip := func(kind Kind) Step {
		return Step{Name: "smoke test " + kind.String(), Kind: kind, Observe: func(context.Context) (Observation, error) {
			return Skip("no downstream repository configured"), nil
		}, Act: func(context.Context) (string, error) { t.Fatal("a skipped step acted"); return "", nil }}
	}
	rep := NewReport("publish", "1.2.3")
	if err := (Runner{}).Run(context.Background(), rep, []Step{skip(Gate), skip(Action)}); err != nil {
		t.Fatal(err)
	}
	if statuses(rep) != "skipped,skipped" || rep.Count(Done) != 0 || rep.Count(Skipped) != 2 {
		t.Fatalf("statuses %s", statuses(rep))
	}
	js, _ := rep.Render("json")
	if !strings.Contains(js, `"status": "skipped"`) {
		t.Fatalf("json does not say skipped:\n%s", js)
	}
	if txt, _ := rep.Render("text"); !strings.Contains(txt, "2 skipped") {
		t.Fatalf("text summary does not count skipped:\n%s", txt)
	}
}

// Reading a report's counts while steps are still recorded (status readers, progress) is safe.
// TestReportLookups: Get finds an output by its key (the last value set), Status a step by its
// name; neither invents one that is not there.
func TestReportLookups(t *testing.T) {
	rep := NewReport("publish", "1.2.3")
	rep.Set("index", "a")
	rep.Set("digest", "b")
	rep.Set("index", "c")
	if got := [3]string{rep.Get("index"), rep.Get("digest"), rep.Get("none")}; got != [3]string{"c", "b", ""} {
		t.Errorf("Get index, digest, none = %q", got)
	}
	rep.add(Record{Name: "x", Status: Passed})
	rep.add(Record{Name: "y", Status: Failed})
	if got := [3]Status{rep.Status("x"), rep.Status("y"), rep.Status("z")}; got != [3]Status{Passed, Failed, ""} {
		t.Errorf("Status x, y, z = %q", got)
	}
}

func TestReportReadsAreLocked(t *testing.T) {
	rep := NewReport("promote", "1.2.3")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 200; i++ {
			rep.add(Record{Name: fmt.Sprint(i), Status: Passed})
		}
	}()
	for i := 0; i < 200; i++ {
		_ = rep.Count(Passed) + len(rep.Status("7"))
	}
	<-done
	if rep.Count(Passed) != 200 {
		t.Fatalf("count %d", rep.Count(Passed))
	}
}

// A reason that lists problems of its own is indented under its gate, not shown as more gates.
func TestRefusalNestedListsIndented(t *testing.T) {
	err := &RefusedError{Phase: "promote", Reasons: []string{"signatures: 2 requirement(s) not met:\n    - index: not signed\n    - sbom: missing", "tags: blocked"}}
	want := "promote refused by 2 gate(s), nothing changed:\n  - signatures: 2 requirement(s) not met:\n      - index: not signed\n      - sbom: missing\n  - tags: blocked"
	if err.Error() != want {
		t.Fatalf("got\n%s\nwant\n%s", err, want)
	}
}

// The JSON report carries its verdict as fields a CI script reads: ok, and each refusal and
// failure with its step — also when the phase was refused or failed.
func TestJSONCarriesTheVerdict(t *testing.T) {
	w := newWorld()
	rep := NewReport("promote", "1.2.3")
	_ = (Runner{}).Run(context.Background(), rep, []Step{
		w.gate("smoke test", func() error { return fault.Refusedf("no downstream release") }),
		w.gate("signatures", func() error { return nil }),
		w.create("latest"),
	})
	js, err := rep.Render("json")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		OK      bool     `json:"ok"`
		Verdict string   `json:"verdict"`
		Refused []string `json:"refused"`
		Failed  []string `json:"failed"`
		Phase   string   `json:"phase"`
		Steps   []Record `json:"steps"`
	}
	if err := json.Unmarshal([]byte(js), &got); err != nil {
		t.Fatal(err)
	}
	if got.OK || got.Verdict != "FAILED" || len(got.Refused) != 1 || got.Refused[0] != "smoke test: no downstream release" || len(got.Failed) != 0 || got.Phase != "promote" || len(got.Steps) != 3 {
		t.Fatalf("json verdict: %+v\n%s", got, js)
	}
	ok := NewReport("status", "1.2.3")
	_ = (Runner{}).Run(context.Background(), ok, []Step{w.gate("g", func() error { return nil })})
	js, _ = ok.Render("json")
	if !strings.Contains(js, `"ok": true`) || !strings.Contains(js, `"refused": []`) {
		t.Fatalf("ok report:\n%s", js)
	}
}

// A gate that refuses after an act does not claim that nothing changed.
func TestRefusalAfterAnActSaysWhatChanged(t *testing.T) {
	w := newWorld()
	rep := NewReport("publish", "1.2.3")
	err := (Runner{}).Run(context.Background(), rep, []Step{w.create("commit"), w.gate("tests", func() error { return fault.Refusedf("test failed") }), w.create("push")})
	if err == nil || strings.Contains(err.Error(), "nothing changed") || !strings.Contains(err.Error(), "after create commit") {
		t.Fatalf("refusal after an act: %v", err)
	}
	err = &RefusedError{Phase: "publish", Reasons: []string{"tests: failed"}, NotChecked: []string{"tag: not checked: the tests gate must pass first"}, Acted: []string{"create commit"}}
	if want := "publish refused by 1 gate(s) after create commit; 1 not checked; nothing after them changed:"; !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("refusal after an act, with a gate not checked:\n%s\nwant it to start %q", err, want)
	}
}

// TestGateWithoutObserveFailsClosed: a gate with no Observe has nothing to check; it fails, in a
// real run and in a dry run, instead of passing, and nothing after it runs.
func TestGateWithoutObserveFailsClosed(t *testing.T) {
	for _, dry := range []bool{false, true} {
		w := newWorld()
		rep := NewReport("promote", "1.2.3")
		err := (Runner{DryRun: dry}).Run(context.Background(), rep, []Step{{Name: "signatures", Kind: Gate}, w.create("latest")})
		var se *StepError
		if !errors.As(err, &se) || se.Step != "signatures" || !errors.Is(err, ErrNoObserve) || errors.Is(err, ErrRefused) {
			t.Fatalf("dry run %v: want the signatures gate to fail with ErrNoObserve, got %v", dry, err)
		}
		if statuses(rep) != "failed,not run" || len(w.acts) != 0 {
			t.Fatalf("dry run %v: %s, acts %v", dry, statuses(rep), w.acts)
		}
		if out, _ := rep.Render("text"); !strings.Contains(out, "FAILED") || !strings.Contains(out, "report it") {
			t.Fatalf("dry run %v: the report does not fail or does not say what to do:\n%s", dry, out)
		}
	}
}

// TestNotCheckedIsNotARefusal: a gate that could not check because an earlier gate refused is
// recorded as not run and counted apart, so the verdict counts only the refusals the operator has
// to fix; the not-checked gates are still listed, after them. Not-checked gates alone still stop
// the phase: nothing passes unchecked.
func TestNotCheckedIsNotARefusal(t *testing.T) {
	if err := NotChecked("source tree"); fault.Of(err) != fault.Refused || err.Error() != "not checked: the source tree gate must pass first" {
		t.Fatalf("NotChecked: class %v, text %q", fault.Of(err), err)
	}
	w := newWorld()
	rep := NewReport("publish", "1.2.3")
	err := (Runner{}).Run(context.Background(), rep, []Step{
		w.gate("source tree", func() error { return fault.Refusedf("README.md differs from the commit") }),
		w.gate("CHANGELOG", func() error { return fault.Refusedf("line 7 says TBD") }),
		w.gate("pull request", func() error { return NotChecked("source tree") }),
		w.gate("existing git tag", func() error { return fmt.Errorf("tag v1.2.3: %w", NotChecked("source tree and CHANGELOG")) }),
		w.create("finalize commit"),
	})
	var re *RefusedError
	if !errors.As(err, &re) || !errors.Is(err, ErrRefused) || len(re.Reasons) != 2 || len(re.NotChecked) != 2 {
		t.Fatalf("want 2 refusals and 2 not checked, got %v", err)
	}
	want := "publish refused by 2 gate(s); 2 not checked, nothing changed:" +
		"\n  - source tree: README.md differs from the commit" +
		"\n  - CHANGELOG: line 7 says TBD" +
		"\n  - pull request: not checked: the source tree gate must pass first" +
		"\n  - existing git tag: tag v1.2.3: not checked: the source tree and CHANGELOG gate must pass first"
	if err.Error() != want {
		t.Fatalf("got\n%s\nwant\n%s", err, want)
	}
	if statuses(rep) != "refused,refused,not run,not run,not run" || len(w.acts) != 0 {
		t.Fatalf("%s acts=%v", statuses(rep), w.acts)
	}
	if txt, _ := rep.Render("text"); !strings.Contains(txt, "2 refused") || !strings.Contains(txt, "3 not run") {
		t.Fatalf("text summary:\n%s", txt)
	}
	js, _ := rep.Render("json")
	var got struct{ Refused []string }
	if err := json.Unmarshal([]byte(js), &got); err != nil || len(got.Refused) != 2 {
		t.Fatalf("json refused %q (%v), want the 2 real refusals:\n%s", got.Refused, err, js)
	}

	rep = NewReport("publish", "1.2.3")
	err = (Runner{}).Run(context.Background(), rep, []Step{w.gate("pull request", func() error { return NotChecked("source tree") }), w.create("finalize commit")})
	if !errors.As(err, &re) || len(re.Reasons) != 0 || len(re.NotChecked) != 1 || statuses(rep) != "not run,not run" || len(w.acts) != 0 {
		t.Fatalf("only a not-checked gate: %v, %s, acts %v", err, statuses(rep), w.acts)
	}
	if !strings.HasPrefix(err.Error(), "publish refused; 1 not checked, nothing changed:") {
		t.Fatalf("only a not-checked gate reads %q: no count of zero refusals", err)
	}
}

// TestHookFailureMarksThePhaseSpan: a run stopped by its Hook (a crash between steps) is an error
// on the phase span, as a failed step or a refusal is; the step that acted is not.
func TestHookFailureMarksThePhaseSpan(t *testing.T) {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	w := newWorld()
	crash := errors.New("crash injected")
	rep := NewReport("publish", "1.2.3")
	err := Runner{Tracer: tp.Tracer("test"), Hook: func(_ context.Context, s string) error {
		if s == "create a" {
			return crash
		}
		return nil
	}}.Run(context.Background(), rep, []Step{w.create("a"), w.create("b")})
	if !errors.Is(err, crash) || rep.Err != crash.Error() {
		t.Fatalf("run: %v, report error %q", err, rep.Err)
	}
	byName := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range sr.Ended() {
		byName[s.Name()] = s
	}
	phase, a := byName["publish"], byName["create a"]
	if phase == nil || a == nil || byName["create b"] != nil {
		t.Fatalf("spans %v: want publish and create a, not create b", byName)
	}
	if phase.Status().Code != codes.Error || !strings.Contains(phase.Status().Description, "crash injected") {
		t.Fatalf("phase span status %+v, want an error saying crash injected", phase.Status())
	}
	if a.Status().Code == codes.Error {
		t.Fatalf("the step that acted is marked an error: %+v", a.Status())
	}
}

// TestRenderWhileRunning renders a report, in every format, while its run still records steps,
// then while it records the final refusal; each render shows the steps recorded so far. The
// steps and the renders take turns through a channel, never a sleep, and the run goes on
// while the test renders. Under -race it fails if Render reads the report without its lock.
func TestRenderWhileRunning(t *testing.T) {
	const n = 20
	observing := make(chan int)
	var steps []Step
	for i := range n {
		steps = append(steps, Step{Name: fmt.Sprintf("gate %02d", i), Kind: Gate, Observe: func(context.Context) (Observation, error) {
			observing <- i
			if i == n-1 {
				return Observation{}, fault.Refusedf("the last gate refuses")
			}
			return Observation{Detail: "ok"}, nil
		}})
	}
	w := newWorld()
	steps = append(steps, w.create("latest"))
	rep := NewReport("promote", "1.2.3")
	done := make(chan error, 1)
	go func() { done <- (Runner{}).Run(context.Background(), rep, steps) }()

	renderAll := func() []string {
		var outs []string
		for _, f := range Formats {
			out, err := rep.Render(f)
			if err != nil {
				t.Fatalf("render %s: %v", f, err)
			}
			outs = append(outs, out)
		}
		return outs
	}
	for i := range n {
		if got := <-observing; got != i {
			t.Fatalf("gate %d observed out of order (want %d)", got, i)
		}
		// Gate i was observed: gates before it are recorded; gate i+1 cannot be yet.
		for _, out := range renderAll() {
			if (i > 0 && !strings.Contains(out, fmt.Sprintf("gate %02d", i-1))) || strings.Contains(out, fmt.Sprintf("gate %02d", i+1)) {
				t.Fatalf("render while gate %d runs does not show exactly the gates before it:\n%s", i, out)
			}
		}
	}
	renderAll() // while the run records the refusal and the step it did not run
	err := <-done
	if !errors.Is(err, ErrRefused) || len(w.acts) != 0 {
		t.Fatalf("run: %v, acts %v", err, w.acts)
	}
	txt := renderAll()[0]
	for _, want := range []string{"promote refused by 1 gate(s)", "19 passed, 1 refused, 0 failed, 1 not run"} {
		if !strings.Contains(txt, want) {
			t.Errorf("final report lacks %q:\n%s", want, txt)
		}
	}
}

// TestSnapshotCopiesEveryField: Render reads a snapshot, so a field the snapshot forgot would be
// missing from every report. Every exported field of a filled report survives it, and the
// snapshot's lists are its own.
func TestSnapshotCopiesEveryField(t *testing.T) {
	rep := &Report{Phase: "publish", Version: "1.2.3", DryRun: true, Started: time.Unix(1, 0), Duration: time.Second,
		Records: []Record{{Name: "a"}}, Outputs: []Output{{Key: "k", Value: "v"}}, Notes: []string{"n"}, Err: "e", Verdict: "v"}
	snap := rep.snapshot()
	got, want := reflect.ValueOf(snap).Elem(), reflect.ValueOf(rep).Elem()
	for i := range want.NumField() {
		f := want.Type().Field(i)
		if !f.IsExported() {
			continue
		}
		if want.Field(i).IsZero() {
			t.Fatalf("Report.%s is empty in this test: fill it, and copy it in snapshot", f.Name)
		}
		if !reflect.DeepEqual(got.Field(i).Interface(), want.Field(i).Interface()) {
			t.Errorf("snapshot lost Report.%s: %v, want %v", f.Name, got.Field(i), want.Field(i))
		}
	}
	snap.Records[0].Name, snap.Outputs[0].Value, snap.Notes[0] = "x", "x", "x"
	if rep.Records[0].Name != "a" || rep.Outputs[0].Value != "v" || rep.Notes[0] != "n" {
		t.Fatalf("the snapshot shares its lists with the report: %+v", rep)
	}
}
