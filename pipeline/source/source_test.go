package source

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const head = "0123456789abcdef0123456789abcdef01234567"

func write(t *testing.T, dir, path, content string, mode os.FileMode) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(path))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

func TestBlobSHAIsGits(t *testing.T) {
	// `printf 'hello\n' | git hash-object --stdin`
	if got := BlobSHA([]byte("hello\n")); got != "ce013625030ba8dba906f756967f9e9ca394464a" {
		t.Fatalf("BlobSHA = %s", got)
	}
	if got := BlobSHA(nil); got != "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391" {
		t.Fatalf("empty blob = %s", got)
	}
}

func TestWalkAndDiff(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "CHANGELOG.md", "# Changelog\n", 0o644)
	write(t, dir, "bin/run.sh", "#!/bin/sh\n", 0o755)
	write(t, dir, ".git/HEAD", head+"\n", 0o644)
	if err := os.Symlink("CHANGELOG.md", filepath.Join(dir, "NEWS.md")); err != nil {
		t.Fatal(err)
	}
	local, err := Walk(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := Tree{
		"CHANGELOG.md": {Mode: "100644", SHA: BlobSHA([]byte("# Changelog\n"))},
		"bin/run.sh":   {Mode: "100755", SHA: BlobSHA([]byte("#!/bin/sh\n"))},
		"NEWS.md":      {Mode: "120000", SHA: BlobSHA([]byte("CHANGELOG.md"))},
	}
	if len(local) != len(want) {
		t.Fatalf("Walk = %v", local)
	}
	for p, e := range want {
		if local[p] != e {
			t.Errorf("%s: %+v, want %+v", p, local[p], e)
		}
	}
	if err := Check(head, local, want); err != nil {
		t.Fatalf("identical trees refused: %v", err)
	}

	committed := Tree{}
	for p, e := range want {
		committed[p] = e
	}
	committed["CHANGELOG.md"] = Entry{Mode: "100644", SHA: BlobSHA([]byte("# Changelog\n\n## [1.0.0] - TBD\n"))}
	committed["bin/run.sh"] = Entry{Mode: "100644", SHA: want["bin/run.sh"].SHA}
	committed["go.mod"] = Entry{Mode: "100644", SHA: BlobSHA([]byte("module x\n"))}
	delete(committed, "NEWS.md")
	err = Check(head, local, committed)
	for _, w := range []string{"CHANGELOG.md: differs from the commit", "NEWS.md: not in the commit", "bin/run.sh: mode 100755, committed as 100644", "go.mod: in the commit but missing", "not commit 0123456789ab"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("Check lacks %q: %v", w, err)
		}
	}
}

func TestHead(t *testing.T) {
	if _, found, err := Head(t.TempDir()); found || err != nil {
		t.Fatalf("no .git: found=%v err=%v", found, err)
	}
	detached := t.TempDir()
	write(t, detached, ".git/HEAD", head+"\n", 0o644)
	if sha, _, err := Head(detached); err != nil || sha != head {
		t.Fatalf("detached: %s %v", sha, err)
	}
	branch := t.TempDir()
	write(t, branch, ".git/HEAD", "ref: refs/heads/release/1.0.0\n", 0o644)
	write(t, branch, ".git/refs/heads/release/1.0.0", head+"\n", 0o644)
	if sha, _, err := Head(branch); err != nil || sha != head {
		t.Fatalf("branch: %s %v", sha, err)
	}
	packed := t.TempDir()
	write(t, packed, ".git/HEAD", "ref: refs/heads/main\n", 0o644)
	write(t, packed, ".git/packed-refs", "# pack-refs with: peeled fully-peeled sorted\n"+head+" refs/heads/main\n", 0o644)
	if sha, _, err := Head(packed); err != nil || sha != head {
		t.Fatalf("packed: %s %v", sha, err)
	}
	unborn := t.TempDir()
	write(t, unborn, ".git/HEAD", "ref: refs/heads/main\n", 0o644)
	if _, _, err := Head(unborn); err == nil || !strings.Contains(err.Error(), "no commit yet") {
		t.Fatalf("unborn branch: %v", err)
	}
}

func TestCommit(t *testing.T) {
	other := strings.Repeat("f", 40)
	if c, err := Commit("", head); err != nil || c != head {
		t.Fatalf("%s %v", c, err)
	}
	if c, err := Commit(strings.ToUpper(other), ""); err != nil || c != other {
		t.Fatalf("flag without .git: %s %v", c, err)
	}
	for _, c := range []struct{ flag, head, want string }{
		{"abc", head, "not a full commit SHA"},
		{other, head, "is not the source directory's HEAD 0123456789ab"},
		{"", "", "no commit to release"},
		{"", "0", "HEAD is \"0\", not a commit"},
	} {
		if _, err := Commit(c.flag, c.head); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Commit(%q,%q) = %v, want %q", c.flag, c.head, err, c.want)
		}
	}
}

func FuzzCommit(f *testing.F) {
	for _, s := range []string{head, "", "abc", strings.Repeat("F", 40), head + "x"} {
		f.Add(s, head)
	}
	f.Fuzz(func(t *testing.T, flag, h string) {
		c, err := Commit(flag, h)
		if err == nil && !IsCommit(c) {
			t.Fatalf("Commit(%q,%q) accepted %q", flag, h, c)
		}
	})
}
