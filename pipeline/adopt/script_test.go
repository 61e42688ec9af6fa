package adopt

import (
	"os"
	"path/filepath"
	"testing"
)

// TestActionsScriptIsCurrent: .github/shipgate.sh is ActionsScript, byte for byte, so the
// workflows and an adopter's justfile turn settings into flags with the same shell.
// SHIPGATE_UPDATE=1 (just generate) writes it.
func TestActionsScriptIsCurrent(t *testing.T) {
	path := filepath.Join("..", "..", ".github", "shipgate.sh")
	if os.Getenv("SHIPGATE_UPDATE") == "1" {
		if err := os.WriteFile(path, []byte(ActionsScript), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != ActionsScript {
		t.Fatalf("%s is not what pipeline/adopt/script.go generates: run 'just generate' and commit the result", path)
	}
}
