// Package source decides which commit a release is built from and refuses a source tree that is
// not exactly that commit: building a tree nobody committed is how a release once shipped with its
// CHANGELOG date still TBD.
//
// The caller (the Dagger module) observes the tree with git — `git rev-parse HEAD` and
// `git status --porcelain=v1 --untracked-files=all --ignored=matching` — and hands the output here.
package source

import (
	"fmt"
	"regexp"
	"strings"
)

// StatusArgs are the git arguments whose output Check expects as Observed.Status.
var StatusArgs = []string{"status", "--porcelain=v1", "--untracked-files=all", "--ignored=matching"}

// Observed is what git said about the source tree.
type Observed struct {
	// HasGit is false when the tree carries no .git directory.
	HasGit bool
	// Head is the output of `git rev-parse HEAD`.
	Head string
	// Status is the output of `git status` with StatusArgs.
	Status string
}

var shaRE = regexp.MustCompile(`^[0-9a-f]{40}([0-9a-f]{24})?$`)

// Dirty is a path git reports as differing from HEAD.
type Dirty struct {
	Code string // porcelain XY code: "??" untracked, "!!" ignored, " M" modified, ...
	Path string
}

// Problem returns what kind of difference a porcelain code means.
func (d Dirty) Problem() string {
	switch d.Code {
	case "??":
		return "untracked"
	case "!!":
		return "ignored but present"
	default:
		return "uncommitted change"
	}
}

// Commit resolves the commit to build: the --commit flag when given, the tree's HEAD otherwise.
// It refuses when the two disagree, when the tree has no git metadata, and when the tree differs
// from HEAD in any file the build would see (modified, staged, untracked or ignored).
func Commit(flag string, o Observed) (string, error) {
	flag = strings.ToLower(strings.TrimSpace(flag))
	if flag != "" && !shaRE.MatchString(flag) {
		return "", fmt.Errorf("--commit %q is not a full commit SHA (40 hex characters); in GitHub Actions pass ${{ github.sha }}", flag)
	}
	if !o.HasGit {
		return "", fmt.Errorf("the source directory has no .git, so shipgate cannot prove the tree it builds is a commit: pass a git checkout as --source (actions/checkout keeps .git)")
	}
	head := strings.ToLower(strings.TrimSpace(o.Head))
	if !shaRE.MatchString(head) {
		return "", fmt.Errorf("git rev-parse HEAD in the source directory gave %q, not a commit: is the checkout complete?", o.Head)
	}
	if flag != "" && flag != head {
		return "", fmt.Errorf("--commit %s is not the source directory's HEAD %s: check out %s, or drop --commit to release HEAD", short(flag), short(head), short(flag))
	}
	if dirty := ParseStatus(o.Status); len(dirty) > 0 {
		var lines []string
		for i, d := range dirty {
			if i == 10 {
				lines = append(lines, fmt.Sprintf("... and %d more", len(dirty)-10))
				break
			}
			lines = append(lines, fmt.Sprintf("%s (%s)", d.Path, d.Problem()))
		}
		return "", fmt.Errorf("the source tree differs from commit %s, and the build would see it:\n  %s\ncommit or remove these files (or release from a clean checkout, as CI does)", short(head), strings.Join(lines, "\n  "))
	}
	return head, nil
}

// ParseStatus reads `git status --porcelain=v1` output. Renames report their new path.
func ParseStatus(out string) []Dirty {
	var ds []Dirty
	for _, l := range strings.Split(strings.ReplaceAll(out, "\r\n", "\n"), "\n") {
		if len(l) < 4 || l[2] != ' ' {
			continue
		}
		p := l[3:]
		if i := strings.Index(p, " -> "); i >= 0 {
			p = p[i+4:]
		}
		ds = append(ds, Dirty{Code: l[:2], Path: strings.Trim(p, `"`)})
	}
	return ds
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
