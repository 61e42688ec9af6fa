package testkit

import (
	"os"
	"os/exec"
	"testing"
)

// Missing ends a test that cannot run because a tool it needs is missing; what says which tool
// and how to get it. The test skips, unless the environment variable require is "1" (CI sets the
// SHIPGATE_REQUIRE_* switches), which makes the missing tool a failure: a misconfigured runner
// cannot pass by skipping.
func Missing(t testing.TB, require, what string) {
	t.Helper()
	if os.Getenv(require) == "1" {
		t.Fatalf("%s, and %s=1 makes this a failure", what, require)
	}
	t.Skipf("%s (%s=1 makes this a failure)", what, require)
}

// Just returns the path of `just`; without it the test skips, or fails with
// SHIPGATE_REQUIRE_JUST=1 (see Missing).
func Just(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("just")
	if err != nil {
		Missing(t, "SHIPGATE_REQUIRE_JUST", "just not found: bash .ci/setup installs it")
	}
	return p
}
