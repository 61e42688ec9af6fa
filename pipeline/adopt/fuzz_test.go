package adopt

import (
	"regexp"
	"strings"
	"testing"
)

// safeRE is what the workflows' tool step accepts in `module:` and what may sit unquoted in YAML
// and inside a justfile's double-quoted string.
var safeRE = regexp.MustCompile(`^[A-Za-z0-9._/@-]+$`)

// FuzzParseModuleRef: whatever ParseModuleRef accepts is pinned to a full commit, holds only
// characters that are inert in YAML, a justfile string and a shell word, and reads back as given
// (with the commit lower-cased).
func FuzzParseModuleRef(f *testing.F) {
	for _, s := range []string{sampleModule, "github.com/shipgate/shipgate@main", "github.com/a/b.git@" + sampleCommit, "github.com/a/b@" + strings.ToUpper(sampleCommit), "github.com/a/b/c@x", "", "@", "github.com/a\"/b@" + sampleCommit} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseModuleRef(s)
		if err != nil {
			return
		}
		got := m.String()
		if !safeRE.MatchString(got) || !commitRE.MatchString(m.Commit) || m.Host != "github.com" {
			t.Fatalf("accepted %q as %q", s, got)
		}
		path, ref, _ := strings.Cut(s, "@")
		if got != path+"@"+strings.ToLower(ref) {
			t.Fatalf("%q reads back as %q", s, got)
		}
	})
}
