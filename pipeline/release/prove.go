package release

import (
	"context"
	"fmt"
	"strings"

	"github.com/shipgate/shipgate/pipeline/config"
	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/version"
)

// Prover is implemented by a Builder that can look into a platform image after it is built and
// before anything is pushed: the engine runs the command in the built container; the sandbox in
// its in-memory image.
type Prover interface {
	// TestImage builds platform p as spec describes (without pushing it) and runs argv in it.
	TestImage(ctx context.Context, p version.Platform, spec BuildSpec, argv []string) (TestResult, error)
}

// TestResult is how one --test command ended.
type TestResult struct {
	ExitCode int
	// Output is what it printed (stdout and stderr).
	Output string
}

// parseTests reads the --test values before any step runs.
func parseTests(raw []string) ([][]string, error) {
	var out [][]string
	for _, r := range raw {
		argv, err := config.ParseCommand(r)
		if err != nil {
			return nil, err
		}
		out = append(out, argv)
	}
	return out, nil
}

// testImage runs every test in platform p's image built from commit, and refuses on the first
// that fails, with its last output lines.
func (w *world) testImage(ctx context.Context, b Builder, v version.Version, pl version.Platform, commit string, cl []byte, tests [][]string) error {
	pr, ok := b.(Prover)
	if !ok {
		return fault.BadInputf("--test needs a container engine to run in: run publish through dagger call")
	}
	spec := w.buildSpec(v, pl, commit, cl)
	for _, argv := range tests {
		res, err := pr.TestImage(ctx, pl, spec, argv)
		if err != nil {
			return fmt.Errorf("--test %q on %s: %w", strings.Join(argv, " "), pl, err)
		}
		if res.ExitCode != 0 {
			return refuse("--test %q failed on %s (exit %d), nothing was pushed; its last lines:\n%s", strings.Join(argv, " "), pl, res.ExitCode, lastLines(res.Output, 15))
		}
	}
	return nil
}

// lastLines is the last n lines of s, indented.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    " + strings.Join(lines, "\n    ")
}
