package release_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/pipeline/release"
	"github.com/shipgate/shipgate/pipeline/step"
)

// TestUnreadableSystemsFailRatherThanRefuse: a gate that cannot read the registry (wrong
// password) fails and stops the run — it is not a refusal the operator would try to fix by
// changing the release — and status surfaces it as an error instead of "would be refused".
func TestUnreadableSystemsFailRatherThanRefuse(t *testing.T) {
	w, _ := publishedWorld(t, "1.0.0")
	w.env.Secrets.RegistryPassword = "wrong-registry-password"

	rep, err := w.promote("1.0.0")
	if err == nil || errors.Is(err, step.ErrRefused) {
		t.Fatalf("promote with a wrong registry password: %v\n%s", err, render(rep))
	}
	if rep.Status("index") != step.Failed || !strings.Contains(err.Error(), "401") {
		t.Fatalf("index gate %s, error %v", rep.Status("index"), err)
	}
	if w.tag("latest") != "" {
		t.Fatalf("latest moved")
	}
	st, err := release.Status(w.ctx, w.env, "1.0.0")
	if err == nil || st.Verdict != "" {
		t.Fatalf("status hid an unreadable registry: %v, verdict %q", err, st.Verdict)
	}
}
