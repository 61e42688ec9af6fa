// Package adopt writes the files a project needs to release itself with shipgate: one caller
// workflow per phase (prepare, publish, promote) pinned to a shipgate commit, a justfile that runs
// the phases from a laptop with only the Dagger CLI, and optionally a CHANGELOG.md skeleton. The
// Dagger module's `init` function turns these files into a directory the adopter exports into
// their checkout; everything that decides what the files say is here, engine-free and tested.
//
// Render validates every option first and refuses the lot, each problem naming its flag, before
// a single file is produced: a wrong repository, image or unpinned module never reaches a file.
package adopt

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/shipgate/shipgate/pipeline/config"
	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/version"
)

// Options are what an adopter tells `dagger call init`, as typed.
type Options struct {
	// Repo is the project's GitHub repository, owner/name (--repo). Required.
	Repo string
	// Image is the image repository without tag (--image); empty: ghcr.io/<owner>/<name>,
	// lower-cased, as the reusable workflows default it.
	Image string
	// ModuleRef is the shipgate module pinned to a commit (--module-ref):
	// github.com/OWNER/NAME@<40-hex commit>. Required: the workflows' `uses:` and `module:` and
	// the justfile's `dagger -m` all take it, so every phase runs the same reviewed code.
	ModuleRef string
	// ModuleVersion is the shipgate release that commit is (--module-version, e.g. v1.0.0): the
	// `# vX.Y.Z` comment next to each pin, so a reviewer sees what an update moves to. Required.
	ModuleVersion string
	// Sign is the signing mode the workflows and the justfile use (--sign): keyless (default),
	// key or none.
	Sign string
	// Changelog also writes a CHANGELOG.md skeleton (--with-changelog).
	Changelog bool
}

// File is one file to write, by its path relative to the repository root.
type File struct {
	Path    string
	Content string
}

// Paths of the files Render writes.
const (
	PublishWorkflow = ".github/workflows/release.yml"
	PromoteWorkflow = ".github/workflows/promote-release.yml"
	PrepareWorkflow = ".github/workflows/prepare-release.yml"
	Justfile        = "justfile"
	Changelog       = "CHANGELOG.md"
)

// Module is a validated, commit-pinned shipgate module reference.
type Module struct {
	// Host is the git host, github.com (the reusable workflows resolve only github.com modules).
	Host string
	// Repo is the module's repository, owner/name (shipgate/shipgate, or a fork).
	Repo config.Repo
	// Commit is the full, lower-case 40-hex commit.
	Commit string
}

// String is the reference as dagger -m and the workflows' `module:` input take it.
func (m Module) String() string { return m.Host + "/" + m.Repo.String() + "@" + m.Commit }

// Workflow is the `uses:` of one of the module's reusable workflows (shipgate-publish.yml ...).
func (m Module) Workflow(file string) string {
	return m.Repo.String() + "/.github/workflows/" + file + "@" + m.Commit
}

var commitRE = regexp.MustCompile(`^[0-9a-f]{40}$`)

// maxModuleRef bounds what an error repeats and what a file can hold: host, owner/name, @, commit.
const maxModuleRef = len("github.com/") + 39 + 1 + 100 + 1 + 40

// ParseModuleRef reads --module-ref: github.com/OWNER/NAME@<40-hex commit>. A branch or a tag
// (@main, @v1.0.0) is refused: it can move under the adopter, and GitHub runs a reusable workflow
// pinned that way at whatever it points to today. Errors are fault.BadInput and do not name the
// flag (the caller does).
func ParseModuleRef(s string) (Module, error) {
	const want = "write github.com/OWNER/NAME@<40-hex commit>, e.g. github.com/shipgate/shipgate@<sha> with <sha> from `git ls-remote https://github.com/shipgate/shipgate refs/tags/v1.0.0`"
	if len(s) > maxModuleRef {
		return Module{}, fault.BadInputf("%s is %d characters, longer than any module reference: %s", quote(s), len(s), want)
	}
	path, ref, ok := strings.Cut(s, "@")
	if !ok || ref == "" {
		return Module{}, fault.BadInputf("%s is not pinned: %s", quote(s), want)
	}
	host, repo, _ := strings.Cut(path, "/")
	if host != "github.com" {
		return Module{}, fault.BadInputf("%s is not a github.com module (the reusable workflows are fetched from GitHub): %s", quote(s), want)
	}
	if strings.Count(repo, "/") != 1 {
		return Module{}, fault.BadInputf("%s is not github.com/OWNER/NAME (the module is a whole repository, shipgate's layout): %s", quote(s), want)
	}
	r, err := config.ParseRepo(repo)
	if err != nil {
		return Module{}, fault.BadInputf("%s: %v", quote(s), err)
	}
	if r.String() != repo {
		return Module{}, fault.BadInputf("%s: write the repository as %s, without .git", quote(s), r)
	}
	commit := strings.ToLower(ref)
	if !commitRE.MatchString(commit) {
		return Module{}, fault.BadInputf("%s is pinned to %s, a branch, tag or short commit that can move or be ambiguous: %s", quote(s), quote(ref), want)
	}
	return Module{Host: host, Repo: r, Commit: commit}, nil
}

// settings is Options, validated and with the defaults filled in.
type settings struct {
	repo          config.Repo
	image         string
	module        Module
	moduleVersion string
	sign          config.SignMode
	changelog     bool
}

// validate checks every option and returns all problems together, each naming its flag, as one
// fault.BadInput error.
func (o Options) validate() (settings, error) {
	var s settings
	var errs []string
	add := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }

	if o.Repo == "" {
		add("--repo is required: the project's GitHub repository owner/name, e.g. acme/app")
	} else if r, err := config.ParseRepo(o.Repo); err != nil {
		add("--repo: %v", err)
	} else {
		s.repo = r
	}
	switch {
	case o.Image != "":
		if _, err := config.ParseImage(o.Image); err != nil {
			add("--image: %v", err)
		} else {
			s.image = o.Image
		}
	case s.repo != config.Repo{}:
		def := "ghcr.io/" + strings.ToLower(s.repo.String())
		if _, err := config.ParseImage(def); err != nil {
			add("--image is needed: the default %s is not an image repository (%v); give one, e.g. ghcr.io/acme/app", def, err)
		} else {
			s.image = def
		}
	}
	if o.ModuleRef == "" {
		add("--module-ref is required: the shipgate module pinned to a commit, github.com/shipgate/shipgate@<40-hex commit> (the one you call init from)")
	} else if m, err := ParseModuleRef(o.ModuleRef); err != nil {
		add("--module-ref: %v", err)
	} else {
		s.module = m
	}
	if o.ModuleVersion == "" {
		add("--module-version is required: the shipgate release the --module-ref commit is, e.g. v1.0.0 (written next to each pin)")
	} else if v, err := version.Parse(o.ModuleVersion); err != nil {
		add("--module-version: %v", err)
	} else {
		s.moduleVersion = v.GitTag()
	}
	if sign, err := config.ParseSignMode(o.Sign); err != nil {
		errs = append(errs, err.Error())
	} else {
		s.sign = sign
	}
	s.changelog = o.Changelog
	if len(errs) > 0 {
		return settings{}, fault.BadInputf("invalid init arguments:\n  - %s", strings.Join(errs, "\n  - "))
	}
	return s, nil
}

// Render validates o and returns the files to write, in a fixed order: the three caller
// workflows, the justfile and, with o.Changelog, CHANGELOG.md.
func Render(o Options) ([]File, error) {
	s, err := o.validate()
	if err != nil {
		return nil, err
	}
	r := strings.NewReplacer(
		"@@REPO@@", s.repo.String(),
		"@@IMAGE@@", s.image,
		"@@MODULE@@", s.module.String(),
		"@@MODULE_VERSION@@", s.moduleVersion,
		"@@PUBLISH_USES@@", s.module.Workflow("shipgate-publish.yml"),
		"@@PROMOTE_USES@@", s.module.Workflow("shipgate-promote.yml"),
		"@@PREPARE_USES@@", s.module.Workflow("shipgate-prepare.yml"),
		"@@PUBLISH_WORKFLOW@@", s.module.Repo.String()+"/.github/workflows/shipgate-publish.yml",
		"@@SIGN@@", string(s.sign),
	)
	files := []File{
		{PublishWorkflow, publishTemplate},
		{PromoteWorkflow, promoteTemplate},
		{PrepareWorkflow, prepareTemplate},
		{Justfile, justfileTemplate},
	}
	if s.changelog {
		files = append(files, File{Changelog, changelogTemplate})
	}
	for i := range files {
		files[i].Content = r.Replace(files[i].Content)
		if strings.Contains(files[i].Content, "@@") {
			// A placeholder without a value is a bug here, never the adopter's input.
			return nil, fmt.Errorf("adopt: %s still holds a placeholder", files[i].Path)
		}
	}
	return files, nil
}

// quote repeats user input in a message: quoted, and cut to what identifies it.
func quote(s string) string {
	if len(s) > 80 {
		return fmt.Sprintf("%q… (%d characters)", s[:80], len(s))
	}
	return fmt.Sprintf("%q", s)
}
