package source

import (
	"strings"
	"testing"
)

const head = "0123456789abcdef0123456789abcdef01234567"

func TestCommitCleanTree(t *testing.T) {
	c, err := Commit("", Observed{HasGit: true, Head: head + "\n"})
	if err != nil || c != head {
		t.Fatalf("%q %v", c, err)
	}
	c, err = Commit(strings.ToUpper(head), Observed{HasGit: true, Head: head})
	if err != nil || c != head {
		t.Fatalf("flag equal to HEAD: %q %v", c, err)
	}
}

func TestCommitRefusals(t *testing.T) {
	other := strings.Repeat("f", 40)
	cases := []struct {
		flag string
		o    Observed
		want string
	}{
		{"", Observed{}, "no .git"},
		{"abc", Observed{HasGit: true, Head: head}, "not a full commit SHA"},
		{other, Observed{HasGit: true, Head: head}, "is not the source directory's HEAD 0123456789ab"},
		{"", Observed{HasGit: true, Head: "fatal: not a git repository"}, "not a commit"},
		{"", Observed{HasGit: true, Head: head, Status: " M CHANGELOG.md\n"}, "CHANGELOG.md (uncommitted change)"},
		{"", Observed{HasGit: true, Head: head, Status: "?? new.go\n!! .env\n"}, "new.go (untracked)\n  .env (ignored but present)"},
		{"", Observed{HasGit: true, Head: head, Status: "R  old.go -> new.go\n"}, "new.go (uncommitted change)"},
	}
	for _, c := range cases {
		_, err := Commit(c.flag, c.o)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Commit(%q, %+v) = %v, want %q", c.flag, c.o, err, c.want)
		}
	}
	var many strings.Builder
	for i := 0; i < 15; i++ {
		many.WriteString("?? f" + string(rune('a'+i)) + "\n")
	}
	_, err := Commit("", Observed{HasGit: true, Head: head, Status: many.String()})
	if err == nil || !strings.Contains(err.Error(), "... and 5 more") {
		t.Errorf("long list not cut: %v", err)
	}
}

func FuzzParseStatus(f *testing.F) {
	for _, s := range []string{"?? a\n", " M b\r\n", "R  x -> y\n", "!! \"sp ace\"\n", "", "XY"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, d := range ParseStatus(s) {
			if len(d.Code) != 2 {
				t.Fatalf("code %q", d.Code)
			}
		}
		if _, err := Commit("", Observed{HasGit: true, Head: head, Status: s}); err == nil && len(ParseStatus(s)) > 0 {
			t.Fatalf("dirty status accepted: %q", s)
		}
	})
}
