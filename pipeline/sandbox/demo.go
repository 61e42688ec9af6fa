package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/shipgate/shipgate/pipeline/release"
	"github.com/shipgate/shipgate/pipeline/step"
)

// DemoVersion is the version the demo releases.
const DemoVersion = "0.4.0"

// Demo runs a whole release against a fresh sandbox and writes what each phase prints, in format
// (text, markdown or json): prepare, publish, a promote refused because the smoke test has not
// passed (nothing changes), the smoke test passing, promote, status.
func Demo(ctx context.Context, out io.Writer, format string) error {
	if format == "" {
		format = "text"
	}
	if err := step.ValidFormat(format); err != nil {
		return err
	}
	sb, err := Start(Options{})
	if err != nil {
		return err
	}
	defer sb.Close()
	env := sb.Env()
	show := func(title string, rep *step.Report) {
		s, _ := rep.Render(format)
		if format == "text" {
			fmt.Fprintf(out, "\n=== %s\n\n", title)
		}
		fmt.Fprint(out, s)
	}
	if format == "text" {
		fmt.Fprintf(out, "shipgate demo: releasing %s of %s with a registry at %s, a GitHub API at %s\nand a throwaway signing key, all on this machine.\n", DemoVersion, Repo, sb.Registry, sb.GitHub.URL())
	}

	rep, err := release.Prepare(ctx, env, DemoVersion)
	show("prepare "+DemoVersion+": release branch, CHANGELOG section, draft PR", rep)
	if err != nil {
		return err
	}

	n := sb.ReviewRelease(DemoVersion)
	if format == "text" {
		fmt.Fprintf(out, "\n=== a maintainer reads the notes, marks PR #%d ready for review and approves it\n", n)
	}

	dir, err := os.MkdirTemp("", "shipgate-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if _, err := sb.Checkout(ctx, "release/"+DemoVersion, dir); err != nil {
		return err
	}
	rep, err = release.Publish(ctx, env, release.PublishInput{Version: DemoVersion, Dir: dir, Builder: sb.Builder, Tests: []string{"/app --version"}})
	show("publish "+DemoVersion+" (phase 1)", rep)
	if err != nil {
		return err
	}
	index := rep.Get("index")
	digest := index[strings.Index(index, "@")+1:]

	rep, err = release.Promote(ctx, env, release.PromoteInput{Version: DemoVersion})
	show("promote "+DemoVersion+" before the downstream smoke test passed: refused, nothing changed", rep)
	if !errors.Is(err, step.ErrRefused) {
		return fmt.Errorf("the first promote should have been refused by the smoke-test gate, got %v", err)
	}

	sb.PassSmokeTest(DemoVersion, digest)
	if format == "text" {
		fmt.Fprintf(out, "\n=== the downstream smoke test passes: acme/smoke publishes pre-release v%s naming %s\n", DemoVersion, digest)
	}

	rep, err = release.Promote(ctx, env, release.PromoteInput{Version: DemoVersion})
	show("promote "+DemoVersion+" (phase 2)", rep)
	if err != nil {
		return err
	}
	rep, err = release.Status(ctx, env, DemoVersion)
	show("status "+DemoVersion, rep)
	if err != nil {
		return err
	}
	if format == "text" {
		fmt.Fprintf(out, "\nlatest and %s now resolve to the same digest %s.\nVerify a real release with stock cosign: see the README, \"Verifying what shipgate ships\".\n", DemoVersion, digest)
	}
	return nil
}
