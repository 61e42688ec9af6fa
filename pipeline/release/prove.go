package release

import (
	"context"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/shipgate/shipgate/pipeline/config"
	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/imagescan"
	"github.com/shipgate/shipgate/pipeline/version"
	"github.com/shipgate/shipgate/pipeline/vulnscan"
)

// Prover is implemented by a Builder that can look into a platform image after it is built and
// before anything is pushed: the engine runs the command in the built container; the sandbox in
// its in-memory image.
type Prover interface {
	// TestImage builds platform p as spec describes (without pushing it) and runs argv in it.
	TestImage(ctx context.Context, p version.Platform, spec BuildSpec, argv []string) (TestResult, error)
}

// ImageSource is implemented by a Builder that can hand over a platform image after it is built
// and before anything is pushed, so publish can read its filesystem (package imagescan).
type ImageSource interface {
	// PlatformImage builds platform p as spec describes (without pushing it) and returns it; done
	// releases what holding it takes (a temporary file).
	PlatformImage(ctx context.Context, p version.Platform, spec BuildSpec) (img v1.Image, done func(), err error)
}

// TestResult is how one --test command ended.
type TestResult struct {
	ExitCode int
	// Output is what it printed (stdout and stderr).
	Output string
}

// parseTests reads the --test values before any step runs.
func parseTests(raw []string) ([][]string, error) {
	return mapAll(raw, func(s string) ([]string, error) { return config.ParseCommand("--test", s) })
}

// checkImage looks into platform p's image built from commit before anything is pushed: every
// --test runs in it (the first that fails refuses, with its last output lines), and its files are
// scanned for a CHANGELOG or copy that still says TBD or is older than the finalized one. It
// returns what it checked, in one line.
func (w *world) checkImage(ctx context.Context, b Builder, v version.Version, pl version.Platform, spec BuildSpec, tests [][]string, scans *[]vulnscan.Verdict, pol *vulnscan.Policy) (string, error) {
	if pol != nil {
		verdict, err := w.scanImage(ctx, b, pl, spec, *pol)
		if err != nil {
			return "", err
		}
		*scans = append(*scans, verdict)
	}
	commit, cl := spec.Commit, spec.Changelog
	var did []string
	if len(tests) > 0 {
		if err := w.testImage(ctx, b, pl, spec, tests); err != nil {
			return "", err
		}
		did = append(did, fmt.Sprintf("%s: %d test(s) passed", pl, len(tests)))
	}
	src, ok := b.(ImageSource)
	if !ok || cl == nil { // nil: a candidate, whose CHANGELOG says TBD until the final
		return strings.Join(did, "; "), nil
	}
	img, done, err := src.PlatformImage(ctx, pl, spec)
	if err != nil {
		return "", fmt.Errorf("read the %s image to scan it: %w", pl, err)
	}
	defer done()
	res, err := imagescan.Scan(ctx, imagescan.Input{Image: img, Platform: pl, Version: v, Changelog: cl, Copies: w.s.ChangelogCopies, FinalizeCommit: commit})
	if err != nil {
		return "", err
	}
	return strings.Join(append(did, res.String()), "; "), nil
}

// testImage runs every test in the image spec describes, and refuses on the first that fails.
func (w *world) testImage(ctx context.Context, b Builder, pl version.Platform, spec BuildSpec, tests [][]string) error {
	pr, ok := b.(Prover)
	if !ok {
		return fault.BadInputf("--test needs a container engine to run in: run publish through dagger call")
	}
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
