package release_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/sandbox"
	"github.com/shipgate/shipgate/pipeline/step"
	"github.com/shipgate/shipgate/pipeline/testkit"
)

// TestSignatureStoreOutage: a registry outage while verifying signatures fails the signature
// gate ("could not look") instead of refusing it; its retries wait on the run's (fake) clock, so
// the run takes a fraction of the real time those waits would; and
// an error body that echoes the Authorization header reaches no error, report format, progress
// line or span — the signature path goes through the one registry stack that scrubs.
func TestSignatureStoreOutage(t *testing.T) {
	t.Parallel()
	p := smokeTestedProxiedWorld(t, "1.0.0")

	basic := base64.StdEncoding.EncodeToString([]byte(sandbox.RegistryUser + ":" + sandbox.RegistryPass))
	echo := `{"errors":[{"code":"UNAVAILABLE","message":"upstream down","detail":"Authorization: Basic ` + basic + ` password=` + sandbox.RegistryPass + `"}]}`
	p.inject(p.reg, testkit.Fault{Method: "GET", Path: regexp.MustCompile(`/referrers/|/manifests/sha256-`), Status: 503, Body: echo})
	var progress bytes.Buffer
	p.env.Progress = &progress
	sr := tracetest.NewSpanRecorder()
	p.env.Tracer = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr)).Tracer("test")
	slept := p.clk.Slept()

	start := time.Now()
	rep, err := p.promote("1.0.0")
	elapsed := time.Since(start)
	if err == nil || errors.Is(err, step.ErrRefused) || rep.Status("signatures") != step.Failed {
		t.Fatalf("an outage of the signature store: %v\n%s", err, render(rep))
	}
	if c := fault.Of(err); !c.CouldNotLook() {
		t.Fatalf("the failure is classed %q, want could not reach or could not read: %v", c, err)
	}
	for _, r := range rep.Records {
		if r.Name == "signatures" && !strings.HasPrefix(r.Detail, "could not look: ") {
			t.Fatalf("the signatures gate does not say it could not look: %q", r.Detail)
		}
	}
	// The retries wait 1+2+4+8 s = 15 s on the fake clock (4 retries, doubling from 1 s). Waited
	// on the wall clock, the run would take at least that long; on the fake clock it takes
	// milliseconds (about 25 ms under -race). A 5 s bound therefore leaves a correct run a wide
	// margin on a loaded machine, and a run that waited on the wall clock cannot meet it, as long
	// as the waits add up to more than 5 s, which the checks after it make sure of.
	const realBound = 5 * time.Second
	waited := p.clk.Slept() - slept
	if elapsed > realBound {
		t.Fatalf("promote took %s of real time (the fake clock waited %s): its retries waited on the wall clock", elapsed, waited)
	}
	if waited == 0 {
		t.Fatal("the retries did not wait on the run's clock")
	}
	if waited <= realBound {
		t.Fatalf("the retries waited %s on the run's clock, not more than %s: the real-time bound proves nothing", waited, realBound)
	}
	if p.tag("latest") != "" {
		t.Fatal("latest moved")
	}
	var outputs []string
	for _, f := range []string{"text", "markdown", "json"} {
		out, _ := rep.Render(f)
		outputs = append(outputs, out)
	}
	outputs = append(outputs, err.Error(), progress.String())
	for _, s := range sr.Ended() {
		outputs = append(outputs, s.Status().Description)
		for _, e := range s.Events() {
			for _, a := range e.Attributes {
				outputs = append(outputs, a.Value.Emit())
			}
		}
	}
	for i, out := range outputs {
		if strings.Contains(out, sandbox.RegistryPass) || strings.Contains(out, basic) {
			t.Fatalf("output %d shows the registry credentials:\n%s", i, out)
		}
	}
}
