package release

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/shipgate/shipgate/pipeline/changelog"
	"github.com/shipgate/shipgate/pipeline/config"
	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/step"
)

// Finalizer runs --finalize-command; a Builder that can (the Dagger module's, the sandbox's)
// implements it.
type Finalizer interface {
	// RunFinalize runs spec.Argv in spec.Image (pinned by digest) with the working directory at the
	// source tree with spec.Files written in, and returns what the command added, changed and
	// removed. It runs in a container: nothing outside it changes.
	RunFinalize(ctx context.Context, spec FinalizeSpec) (FinalizeResult, error)
}

// FinalizeSpec is one run of --finalize-command.
type FinalizeSpec struct {
	Image string
	Argv  []string
	// Files are written into the source tree first (the finalized CHANGELOG and its copies).
	Files map[string][]byte
}

// FinalizeResult is what the command did to the tree.
type FinalizeResult struct {
	ExitCode int
	Output   string
	// Changed are the files it added or modified, path → content.
	Changed map[string][]byte
	// Removed are the paths it deleted.
	Removed []string
}

// parseFinalize reads --finalize-command before any step runs: the argv it runs, nil without one.
func parseFinalize(cmd string) ([]string, error) {
	if cmd == "" {
		return nil, nil
	}
	return config.ParseCommand("--finalize-command", cmd)
}

// derivedFiles runs --finalize-command on the tree about to be committed (the source with the
// finalized CHANGELOG written in) and plans every file it adds or changes into the finalize
// commit. A command that fails, deletes a file, rewrites a file publish writes itself, or leaves
// a TBD next to the version refuses before anything is committed.
func (p *publishRun) derivedFiles() step.Step {
	return step.Step{
		Name: "derived files", Kind: step.Gate,
		Observes: "with --finalize-command: what the command changes in the finalized tree (run in a container)",
		Observe: func(ctx context.Context) (step.Observation, error) {
			switch {
			case p.plan.finalize == nil:
				return step.Skip("no --finalize-command"), nil
			case p.candidate():
				return step.Skip("a candidate commits nothing: --finalize-command runs for the final"), nil
			case p.plan.fin.Content == nil:
				return step.Observation{}, step.NotChecked("CHANGELOG")
			}
			f, ok := p.in.Builder.(Finalizer)
			if !ok {
				return step.Observation{}, fault.BadInputf("--finalize-command needs a container engine to run in: run %s through dagger call", p.rep.Phase)
			}
			res, err := f.RunFinalize(ctx, FinalizeSpec{Image: p.w.s.FinalizeImage, Argv: p.plan.finalize, Files: p.w.finalized(p.plan.fin.Content)})
			if err != nil {
				return step.Observation{}, fmt.Errorf("--finalize-command %q: %w", p.w.s.FinalizeCommand, err)
			}
			for path := range res.Changed {
				if path == ".git" || strings.HasPrefix(path, ".git/") {
					delete(res.Changed, path) // repository metadata (a git command ran), not a tree file
				}
			}
			if err := p.judgeDerived(res); err != nil {
				return step.Observation{}, err
			}
			p.plan.derived = res.Changed
			if len(res.Changed) == 0 {
				return step.Observation{Detail: "--finalize-command changed nothing"}, nil
			}
			return step.Observation{Detail: "into the finalize commit: " + strings.Join(slices.Sorted(maps.Keys(res.Changed)), ", ")}, nil
		},
	}
}

// judgeDerived refuses what the finalize commit must not carry.
func (p *publishRun) judgeDerived(res FinalizeResult) error {
	cmd := p.w.s.FinalizeCommand
	if res.ExitCode != 0 {
		return refuse("--finalize-command %q failed (exit %d), nothing was committed; its last lines:\n%s", cmd, res.ExitCode, lastLines(res.Output, 15))
	}
	if len(res.Removed) > 0 {
		return refuse("--finalize-command %q deleted %s: the finalize commit only adds and changes files; delete them on %s before publishing", cmd, strings.Join(res.Removed, ", "), p.v.Branch())
	}
	own := p.w.finalized(nil)
	for _, path := range slices.Sorted(maps.Keys(res.Changed)) {
		if _, mine := own[path]; mine {
			return refuse("--finalize-command %q rewrote %s, which publish finalizes itself: leave it to publish (or drop it from --changelog-copy)", cmd, path)
		}
		if line := tbdNextTo(string(res.Changed[path]), p.v.String()); line > 0 {
			return refuse("%s, as --finalize-command %q wrote it, still says TBD next to %s (line %d): fix the command or the template it fills", path, cmd, p.v, line)
		}
	}
	return nil
}

// tbdNextTo is the first line (1-based) of text with the TBD rule's TBD and version on it, 0 when
// none: the bug this project exists for, a release date left TBD next to the version.
func tbdNextTo(text, version string) int {
	lines := strings.Split(text, "\n")
	for _, n := range changelog.FindTBD(text) {
		if n-1 < len(lines) && strings.Contains(lines[n-1], version) {
			return n
		}
	}
	return 0
}

// files are the finalize commit's files: the finalized CHANGELOG, its copies, and what
// --finalize-command added or changed.
func (p *publishRun) files() map[string][]byte {
	out := p.w.finalized(p.plan.fin.Content)
	maps.Copy(out, p.plan.derived)
	return out
}
