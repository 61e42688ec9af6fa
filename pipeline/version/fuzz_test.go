package version

import (
	"regexp"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/pipeline/fault"
)

var tagRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// FuzzParse checks that whatever Parse accepts yields names that are valid OCI tags and git refs,
// round-trips, and never contains characters a shell or a registry would choke on.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"1.2.3", "v1.2.3", "1.2.3-rc.1", "01.2.3", "1.2", "1.2.3+meta", "1.2.3-amd64", "1.2.3;rm -rf", "", " 1.2.3", "v", "1.2.3-", "9999999999999999999.0.0", strings.Repeat("9", 300), "1.2.3-" + strings.Repeat("rc.", 60)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := Parse(s)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("empty error for %q", s)
			}
			// Short whatever the input: at most the input quoted twice (escapes: 4 bytes a byte).
			if n := len(err.Error()); n > 2*4*MaxLength+200 {
				t.Fatalf("error of %d bytes for %d bytes of input", n, len(s))
			}
			if fault.Of(err) != fault.BadInput {
				t.Fatalf("error for %q is %v, not bad input", s, fault.Of(err))
			}
			return
		}
		for _, tag := range append([]string{v.ImageTag(), v.GitTag()}, v.LineTags()...) {
			if !tagRE.MatchString(tag) {
				t.Fatalf("Parse(%q) derived invalid tag %q", s, tag)
			}
		}
		for _, p := range DefaultPlatforms {
			if tag := v.ArchTag(p); !tagRE.MatchString(tag) {
				t.Fatalf("Parse(%q) derived invalid arch tag %q", s, tag)
			}
		}
		if strings.ContainsAny(v.Branch(), " ~^:?*[\\") {
			t.Fatalf("bad branch name %q", v.Branch())
		}
		again, err := Parse(v.String())
		if err != nil || !again.Equal(v) || again.String() != v.String() {
			t.Fatalf("round trip of %q failed: %v", v, err)
		}
	})
}
