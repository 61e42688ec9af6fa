package release_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"regexp"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/shipgate/shipgate/pipeline/sandbox"
	"github.com/shipgate/shipgate/pipeline/step"
	"github.com/shipgate/shipgate/pipeline/testkit"
)

// TestSignatureStoreOutage: a registry outage while verifying signatures fails the signature
// gate ("could not look") instead of refusing it; its retries wait on the run's (fake) clock; and
// an error body that echoes the Authorization header reaches no error, report format, progress
// line or span — the signature path goes through the one registry stack that scrubs.
func TestSignatureStoreOutage(t *testing.T) {
	t.Parallel()
	p := newProxiedWorld(t)
	p.prepare("1.0.0")
	idx := digestOf(p.publish("1.0.0"), "index")
	p.sb.PassSmokeTest("1.0.0", idx)

	basic := base64.StdEncoding.EncodeToString([]byte(sandbox.RegistryUser + ":" + sandbox.RegistryPass))
	echo := `{"errors":[{"code":"UNAVAILABLE","message":"upstream down","detail":"Authorization: Basic ` + basic + ` password=` + sandbox.RegistryPass + `"}]}`
	p.inject(p.reg, testkit.Fault{Method: "GET", Path: regexp.MustCompile(`/referrers/|/manifests/sha256-`), Status: 503, Body: echo})
	var progress bytes.Buffer
	p.env.Progress = &progress
	sr := tracetest.NewSpanRecorder()
	p.env.Tracer = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr)).Tracer("test")
	slept := p.clk.Slept()

	rep, err := p.promote("1.0.0")
	if err == nil || errors.Is(err, step.ErrRefused) || rep.Status("signatures") != step.Failed {
		t.Fatalf("an outage of the signature store: %v\n%s", err, render(rep))
	}
	if !strings.Contains(err.Error(), "could not") && !strings.Contains(rep.Records[2].Detail, "could not look") {
		t.Fatalf("the failure does not say the registry could not be read: %v", err)
	}
	if p.clk.Slept() == slept {
		t.Fatal("the retries did not wait on the run's clock")
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
