package version

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/shipgate/shipgate/pipeline/fault"
)

// TestParse: an accepted version comes back in its canonical form; a rejected one gets an error
// that says why.
func TestParse(t *testing.T) {
	for in, want := range map[string]struct{ canonical, reason string }{
		"1.2.3":                             {canonical: "1.2.3"},
		"v1.2.3":                            {canonical: "1.2.3"},
		"0.0.1":                             {canonical: "0.0.1"},
		"10.20.30":                          {canonical: "10.20.30"},
		"1.2.3-rc.1":                        {canonical: "1.2.3-rc.1"},
		"v2.0.0-beta.11":                    {canonical: "2.0.0-beta.11"},
		"1.0.0-0":                           {canonical: "1.0.0-0"},
		"1.0.0-x-y":                         {canonical: "1.0.0-x-y"},
		"":                                  {reason: "empty"},
		"1.2":                               {reason: "exactly three numbers"},
		"1":                                 {reason: "exactly three numbers"},
		"1.2.3.4":                           {reason: "exactly three numbers"},
		"01.2.3":                            {reason: "leading zero"},
		"1.02.3":                            {reason: "leading zero"},
		"1.2.3;rm -rf":                      {reason: "whitespace"},
		"1.2.3;rm":                          {reason: "contains ';'"},
		"1.2.3$(id)":                        {reason: "contains '$'"},
		" 1.2.3":                            {reason: "whitespace"},
		"1.2.3\n":                           {reason: "whitespace"},
		"1.2.3\t":                           {reason: "whitespace"},
		"1.2.3+build.5":                     {reason: "build metadata"},
		"1.2.3+":                            {reason: "build metadata"},
		"1.2.3-amd64":                       {reason: "collides with the per-arch tag suffix -amd64"},
		"1.2.3-arm64":                       {reason: "collides with the per-arch tag suffix -arm64"},
		"1.2.3-arm-v7":                      {reason: "collides with the per-arch tag suffix -arm-v7"},
		"1.2.3-rc.1-arm64":                  {reason: "collides"},
		"1.2.3-":                            {reason: "ends in '-'"},
		"1.2.3-rc..1":                       {reason: "empty pre-release identifier"},
		"1.2.3-rc.01":                       {reason: "leading zero"},
		"a.b.c":                             {reason: "not a number"},
		"1..3":                              {reason: "empty number"},
		"vv1.2.3":                           {reason: "not a number"},
		"1.2.3-" + strings.Repeat("a", 130): {reason: "too long"},
	} {
		v, err := Parse(in)
		switch {
		case want.reason == "" && err != nil:
			t.Errorf("Parse(%q): %v", in, err)
		case want.reason == "" && v.String() != want.canonical:
			t.Errorf("Parse(%q) = %q, want %q", in, v, want.canonical)
		case want.reason != "" && err == nil:
			t.Errorf("Parse(%q) accepted, want rejection mentioning %q", in, want.reason)
		case want.reason != "" && !strings.Contains(err.Error(), want.reason):
			t.Errorf("Parse(%q) = %v, want it to mention %q", in, err, want.reason)
		}
	}
}

func TestDerivedNames(t *testing.T) {
	v := MustParse("v1.4.2")
	arm7, _ := ParsePlatform("linux/arm/v7")
	got := []string{v.GitTag(), v.ImageTag(), v.ArchTag(DefaultPlatforms[0]), v.ArchTag(DefaultPlatforms[1]), v.ArchTag(arm7), v.Branch(), strings.Join(v.LineTags(), ",")}
	want := []string{"v1.4.2", "1.4.2", "1.4.2-amd64", "1.4.2-arm64", "1.4.2-arm-v7", "release/1.4.2", "1.4,1"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("derived name %d = %q, want %q", i, got[i], want[i])
		}
	}
	if !v.InLine("1.4") || !v.InLine("1") || v.InLine("1.5") {
		t.Errorf("InLine wrong for %s", v)
	}
	pre := MustParse("2.0.0-rc.1")
	if pre.LineTags() != nil || !pre.IsPrerelease() {
		t.Errorf("pre-release %s must have no floating tags", pre)
	}
}

func TestOrdering(t *testing.T) {
	ordered := []string{"0.9.9", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.10.0", "2.0.0"}
	for i := 0; i+1 < len(ordered); i++ {
		a, b := MustParse(ordered[i]), MustParse(ordered[i+1])
		if !a.Less(b) || b.Less(a) || a.Equal(b) {
			t.Errorf("want %s < %s", a, b)
		}
	}
	h, ok := Highest([]Version{MustParse("1.2.0"), MustParse("1.10.0"), MustParse("2.0.0-rc.1"), MustParse("1.9.9")})
	if !ok || h.String() != "1.10.0" {
		t.Errorf("Highest = %s, %v; want 1.10.0 (pre-releases do not count)", h, ok)
	}
	if _, ok := Highest([]Version{MustParse("1.0.0-rc.1")}); ok {
		t.Errorf("Highest of only pre-releases must report none")
	}
}

func TestPlatforms(t *testing.T) {
	ps, err := ParsePlatforms([]string{"linux/amd64,linux/arm64", "linux/arm/v7"})
	if err != nil {
		t.Fatal(err)
	}
	var sfx []string
	for _, p := range ps {
		sfx = append(sfx, p.Suffix())
	}
	if strings.Join(sfx, " ") != "amd64 arm64 arm-v7" {
		t.Errorf("suffixes = %v", sfx)
	}
	for in, want := range map[string]string{
		"linux":          "os/arch",
		"linux/sparc":    "unknown",
		"linux/arm":      "needs a variant",
		"darwin/arm64":   "not supported",
		"linux/amd64/v9": "does not fit",
		"linux/a/b/c":    "os/arch",
	} {
		if _, err := ParsePlatform(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParsePlatform(%q) = %v, want %q", in, err, want)
		}
	}
	if _, err := ParsePlatforms([]string{"linux/amd64", "linux/amd64"}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("duplicate platform accepted: %v", err)
	}
	if _, err := ParsePlatforms([]string{""}); err == nil {
		t.Errorf("empty platform list accepted")
	}
	a, _ := ParsePlatform("linux/arm64/v8")
	if !a.Equal(DefaultPlatforms[1]) || a.Suffix() != "arm64" {
		t.Errorf("arm64/v8 must equal arm64 and tag as arm64, got %s", a.Suffix())
	}
}

func TestTextRoundTrip(t *testing.T) {
	var v Version
	if err := v.UnmarshalText([]byte("v3.1.4")); err != nil || v.String() != "3.1.4" {
		t.Fatalf("UnmarshalText: %v %s", err, v)
	}
	if err := v.UnmarshalText([]byte("3.1")); err == nil {
		t.Fatalf("UnmarshalText accepted 3.1")
	}
}

// Issue 11, item 9: an overlong version (a file pasted by accident) gets a short error that does
// not echo it, and every version error is bad input.
func TestOverlongVersionErrorIsShort(t *testing.T) {
	for _, in := range []string{strings.Repeat("1", 1<<20), "1.2.3-" + strings.Repeat("a", 1<<20), strings.Repeat("é", MaxLength), "1.2.3-" + strings.Repeat("x", MaxLength)} {
		_, err := Parse(in)
		if err == nil {
			t.Fatalf("accepted %d bytes", len(in))
		}
		if len(err.Error()) > 200 {
			t.Errorf("error for %d bytes is %d bytes long: %.100s…", len(in), len(err.Error()), err)
		}
		if !utf8.ValidString(err.Error()) {
			t.Errorf("error cuts a character in half: %q", err)
		}
		if fault.Of(err) != fault.BadInput {
			t.Errorf("class %v, want bad input", fault.Of(err))
		}
	}
	if _, err := Parse("1.2"); fault.Of(err) != fault.BadInput {
		t.Errorf("1.2: class %v, want bad input", fault.Of(err))
	}
}

func TestOverlongPlatformErrorIsShort(t *testing.T) {
	for _, in := range [][]string{{"linux/" + strings.Repeat("a", 1<<20)}, {"linux/amd64", "linux/amd64"}, {"linux/sparc"}, {}} {
		_, err := ParsePlatforms(in)
		if err == nil {
			t.Fatalf("accepted %.40q", in)
		}
		if len(err.Error()) > 200 || fault.Of(err) != fault.BadInput {
			t.Errorf("%d bytes, class %v: %.100s", len(err.Error()), fault.Of(err), err)
		}
	}
}
