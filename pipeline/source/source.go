// Package source decides which commit a release is built from and refuses a source tree that is
// not exactly that commit's tree: building a tree nobody committed is how a release once shipped
// with its CHANGELOG date still TBD.
//
// It needs no git binary: the commit is --commit or read from .git/HEAD, and the tree is compared
// file by file (git blob ids and modes) with the commit's tree as the forge reports it.
package source

import (
	"bufio"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/shipgate/shipgate/pipeline/fault"
)

// Entry is a file of a tree: its git mode (100644, 100755, 120000) and blob id.
type Entry struct {
	Mode string
	SHA  string
}

// Tree maps slash-separated paths to their entries. Only files and symlinks are listed;
// directories are implied, submodules are left out.
type Tree map[string]Entry

var shaRE = regexp.MustCompile(`^[0-9a-f]{40}([0-9a-f]{24})?$`)

// IsCommit reports whether s is a full commit id.
func IsCommit(s string) bool { return shaRE.MatchString(s) }

// BlobSHA is git's blob id of content.
func BlobSHA(content []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(content))
	h.Write(content)
	return hex.EncodeToString(h.Sum(nil))
}

// Walk lists the files of dir as git would store them, skipping .git.
func Walk(dir string) (Tree, error) {
	t := Tree{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if d.Name() == ".git" && rel != "." {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Name() == ".git" { // a .git file: worktree or submodule pointer
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			t[rel] = Entry{Mode: "120000", SHA: BlobSHA([]byte(filepath.ToSlash(target)))}
		case info.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			mode := "100644"
			if info.Mode()&0o111 != 0 {
				mode = "100755"
			}
			t[rel] = Entry{Mode: mode, SHA: BlobSHA(b)}
		}
		return nil
	})
	return t, err
}

// Head reads the commit .git/HEAD of dir points at (a detached HEAD, a branch in refs/ or in
// packed-refs). found is false when dir has no .git directory.
func Head(dir string) (sha string, found bool, err error) {
	gitDir := filepath.Join(dir, ".git")
	st, err := os.Stat(gitDir)
	if err != nil || !st.IsDir() {
		return "", false, nil
	}
	b, err := os.ReadFile(filepath.Join(gitDir, "HEAD"))
	if err != nil {
		return "", true, fmt.Errorf("read .git/HEAD: %w", err)
	}
	head := strings.TrimSpace(string(b))
	if IsCommit(head) {
		return head, true, nil
	}
	ref, ok := strings.CutPrefix(head, "ref: ")
	if !ok {
		return "", true, fmt.Errorf(".git/HEAD holds %q, neither a commit nor a ref", head)
	}
	if b, err := os.ReadFile(filepath.Join(gitDir, filepath.FromSlash(ref))); err == nil {
		if s := strings.TrimSpace(string(b)); IsCommit(s) {
			return s, true, nil
		}
	}
	f, err := os.Open(filepath.Join(gitDir, "packed-refs"))
	if err != nil {
		return "", true, fmt.Errorf("HEAD is %s, which has no commit yet (no .git/%s, no packed-refs)", ref, ref)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sha, name, ok := strings.Cut(sc.Text(), " ")
		if ok && name == ref && IsCommit(sha) {
			return sha, true, nil
		}
	}
	return "", true, fmt.Errorf("HEAD is %s, which is in neither .git/%s nor packed-refs", ref, ref)
}

// Commit resolves the commit to build: the --commit flag when given, else the tree's HEAD; when
// both are known they must agree.
func Commit(flag, head string) (string, error) {
	flag = strings.ToLower(strings.TrimSpace(flag))
	if flag != "" && !IsCommit(flag) {
		return "", fault.BadInputf("--commit %q is not a full commit SHA (40 hex characters); in GitHub Actions pass ${{ github.sha }}", flag)
	}
	if head != "" && !IsCommit(head) {
		return "", fault.BadInputf("the source directory's HEAD is %q, not a commit: is the checkout complete?", head)
	}
	switch {
	case flag != "" && head != "" && flag != head:
		return "", fault.BadInputf("--commit %s is not the source directory's HEAD %s: check out %s, or drop --commit to release HEAD", short(flag), short(head), short(flag))
	case flag != "":
		return flag, nil
	case head != "":
		return head, nil
	}
	return "", errors.New("no commit to release: the source directory has no .git (pass a git checkout as --source) and no --commit was given")
}

// Dirty is a path where the source tree and the commit differ.
type Dirty struct {
	Path    string
	Problem string
}

// Diff lists where local (the source directory) differs from committed (the commit's tree), by
// path.
func Diff(local, committed Tree) []Dirty {
	var out []Dirty
	for p, e := range local {
		c, ok := committed[p]
		switch {
		case !ok:
			out = append(out, Dirty{p, "not in the commit (untracked or ignored)"})
		case c.SHA != e.SHA:
			out = append(out, Dirty{p, "differs from the commit"})
		case c.Mode != e.Mode:
			out = append(out, Dirty{p, fmt.Sprintf("mode %s, committed as %s", e.Mode, c.Mode)})
		}
	}
	for p := range committed {
		if _, ok := local[p]; !ok {
			out = append(out, Dirty{p, "in the commit but missing from the source directory"})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// Check refuses when the source tree is not exactly the commit's tree, listing the differences.
func Check(commit string, local, committed Tree) error {
	d := Diff(local, committed)
	if len(d) == 0 {
		return nil
	}
	var lines []string
	for i, x := range d {
		if i == 10 {
			lines = append(lines, fmt.Sprintf("... and %d more", len(d)-10))
			break
		}
		lines = append(lines, x.Path+": "+x.Problem)
	}
	return fault.Refusedf("the source tree is not commit %s, and the build would see the difference:\n  %s\ncommit or remove these files, or release from a clean checkout (as CI does)", short(commit), strings.Join(lines, "\n  "))
}

// ReadFile reads a file of the source directory; found is false when it does not exist.
func ReadFile(dir, path string) ([]byte, bool, error) {
	f, err := os.Open(filepath.Join(dir, filepath.FromSlash(path)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	return b, true, err
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
