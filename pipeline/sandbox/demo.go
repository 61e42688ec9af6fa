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
// (text, markdown or json): prepare, a release candidate and its smoke test, the final publish
// (which requires that candidate), a promote refused because the final's smoke test has not
// passed (nothing changes), the smoke test passing, promote with the candidates' cleanup, status.
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
	d := &demo{ctx: ctx, sb: sb, env: sb.Env(), out: out, format: format}
	d.say("shipgate demo: releasing %s of %s with a registry at %s, a GitHub API at %s\nand a throwaway signing key, all on this machine.\n", DemoVersion, Repo, sb.Registry, sb.GitHub.URL())

	rep, err := release.Prepare(ctx, d.env, DemoVersion)
	if err := d.show("prepare "+DemoVersion+": release branch, CHANGELOG section, draft PR", rep, err); err != nil {
		return err
	}
	d.say("\n=== a maintainer reads the notes, marks PR #%d ready for review and approves it\n", sb.ReviewRelease(DemoVersion))
	dir, err := os.MkdirTemp("", "shipgate-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if _, err := sb.Checkout(ctx, "release/"+DemoVersion, dir); err != nil {
		return err
	}
	in := release.PublishInput{Version: DemoVersion, Dir: dir, Builder: sb.Builder, Tests: []string{"/app --version"}}
	if err := d.candidate(in); err != nil {
		return err
	}
	in.RequireCandidate = true
	rep, err = release.Publish(ctx, d.env, in)
	if err := d.show("publish "+DemoVersion+" --require-candidate (phase 1)", rep, err); err != nil {
		return err
	}
	digest := digestOf(rep)
	rep, err = release.Promote(ctx, d.env, release.PromoteInput{Version: DemoVersion})
	if d.show("promote "+DemoVersion+" before the downstream smoke test passed: refused, nothing changed", rep, nil); !errors.Is(err, step.ErrRefused) {
		return fmt.Errorf("the first promote should have been refused by the smoke-test gate, got %v", err)
	}
	sb.PassSmokeTest(DemoVersion, digest)
	d.say("\n=== the downstream smoke test passes: acme/smoke publishes pre-release v%s naming %s\n", DemoVersion, digest)
	rep, err = release.Promote(ctx, d.env, release.PromoteInput{Version: DemoVersion, Cleanup: true})
	if err := d.show("promote "+DemoVersion+" --cleanup (phase 2)", rep, err); err != nil {
		return err
	}
	rep, err = release.Status(ctx, d.env, DemoVersion)
	if err := d.show("status "+DemoVersion, rep, err); err != nil {
		return err
	}
	d.say("\nlatest and %s now resolve to the same digest %s; its candidate is cleaned up.\nVerify a real release with stock cosign: see the README, \"Verifying what shipgate ships\".\n", DemoVersion, digest)
	return nil
}

// demo is one demo run: where it prints, and how.
type demo struct {
	ctx    context.Context
	sb     *Sandbox
	env    *release.Env
	out    io.Writer
	format string
}

// say prints a narration line (text format only).
func (d *demo) say(format string, args ...any) {
	if d.format == "text" {
		fmt.Fprintf(d.out, format, args...)
	}
}

// show prints a phase's report under title and passes its error on.
func (d *demo) show(title string, rep *step.Report, err error) error {
	s, _ := rep.Render(d.format)
	d.say("\n=== %s\n\n", title)
	fmt.Fprint(d.out, s)
	return err
}

// candidate publishes the first release candidate and plays its smoke test passing.
func (d *demo) candidate(in release.PublishInput) error {
	in.Candidate = true
	rep, err := release.Publish(d.ctx, d.env, in)
	if err := d.show("publish "+DemoVersion+" --candidate: the release branch head as it is, as "+rep.Version, rep, err); err != nil {
		return err
	}
	d.sb.PassSmokeTest(rep.Version, digestOf(rep))
	d.say("\n=== the downstream smoke test of %s passes\n", rep.Version)
	return nil
}

// digestOf is the index digest a publish report names.
func digestOf(rep *step.Report) string {
	index := rep.Get("index")
	return index[strings.Index(index, "@")+1:]
}
