package release_test

import (
	"strings"
	"testing"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// TestPublishSpans checks what `dagger call publish` shows as progress: one span for the phase and
// one nested span per step, in order, named as the report names them.
func TestPublishSpans(t *testing.T) {
	w := preparedWorld(t, "1.0.0")
	sr := tracetest.NewSpanRecorder()
	w.env.Tracer = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr)).Tracer("test")
	rep := w.publish("1.0.0")

	var phase sdktrace.ReadOnlySpan
	var steps []string
	for _, s := range sr.Ended() {
		if s.Name() == "publish" {
			phase = s
		}
	}
	if phase == nil {
		t.Fatal("no publish span")
	}
	for _, s := range sr.Ended() {
		if s.Parent().SpanID() == phase.SpanContext().SpanID() {
			steps = append(steps, s.Name())
		}
	}
	want := []string{"source tree", "candidate number", "CHANGELOG", "derived files", "pull request", "release", "existing git tag", "rebuild", "candidate", "finalize commit", "image checks", "platform images", "index", "signatures", "SBOMs", "provenance", "GitHub attestations", "git tag", "draft release", "release assets", "smoke test"}
	if strings.Join(steps, ",") != strings.Join(want, ",") {
		t.Fatalf("step spans %q, want %q", steps, want)
	}
	if len(steps) != len(rep.Records) {
		t.Fatalf("%d step spans %v, %d steps in the report", len(steps), steps, len(rep.Records))
	}
	for i, r := range rep.Records {
		if steps[i] != r.Name {
			t.Errorf("span %d is %q, step is %q", i, steps[i], r.Name)
		}
	}

	// A refused promote marks the phase span as an error.
	sr2 := tracetest.NewSpanRecorder()
	w.env.Tracer = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr2)).Tracer("test")
	if _, err := w.promote("1.0.0"); err == nil {
		t.Fatal("promote passed without a smoke test")
	}
	found := map[string]bool{}
	for _, s := range sr2.Ended() {
		if s.Name() == "promote" || s.Name() == "smoke test" {
			found[s.Name()] = true
			if s.Status().Code != codes.Error {
				t.Errorf("%s span status %v, want an error", s.Name(), s.Status())
			}
		}
	}
	if !found["promote"] || !found["smoke test"] {
		t.Fatalf("spans missing: found %v, want the promote phase and its smoke test gate", found)
	}
}
