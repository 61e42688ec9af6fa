package sandbox

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

func TestDemoText(t *testing.T) {
	var out strings.Builder
	if err := Demo(context.Background(), &out, "text"); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	s := out.String()
	for _, want := range []string{
		"shipgate prepare 0.4.0: OK",
		"shipgate publish 0.4.0-rc.1: OK",
		"shipgate publish 0.4.0: OK",
		"passed   candidate: 0.4.0-rc.1 of this commit passed its smoke test",
		"acted    cleanup candidates:",
		"refused  smoke test:",
		"promote refused by 1 gate(s), nothing changed",
		"acted    move latest: latest, 0.4, 0 → sha256:",
		"shipgate status 0.4.0: promoted",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	for _, secret := range []string{Token, DownstreamToken, RegistryPass} {
		if strings.Contains(s, secret) {
			t.Errorf("demo output shows a secret")
		}
	}
}

func TestDemoFormats(t *testing.T) {
	var md strings.Builder
	if err := Demo(context.Background(), &md, "markdown"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "### shipgate promote 0.4.0: OK") || !strings.Contains(md.String(), "| step | status | detail | time |") {
		t.Errorf("markdown demo:\n%s", md.String())
	}
	var js strings.Builder
	if err := Demo(context.Background(), &js, "json"); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(js.String()))
	n := 0
	for dec.More() {
		var rep map[string]any
		if err := dec.Decode(&rep); err != nil {
			t.Fatalf("json demo output %d is not JSON: %v", n, err)
		}
		n++
	}
	if n != 6 {
		t.Errorf("json demo printed %d reports, want 6 (prepare, candidate, publish, refused promote, promote, status)", n)
	}
	if err := Demo(context.Background(), &js, "yaml"); err == nil {
		t.Errorf("unknown format accepted")
	}
}
