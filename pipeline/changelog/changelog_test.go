package changelog

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/version"
)

var (
	day1 = time.Date(2026, 11, 25, 23, 59, 0, 0, time.UTC)
	day2 = time.Date(2026, 11, 26, 0, 1, 0, 0, time.UTC)
)

const five = `# Changelog

All notable changes to this project are documented here.

## [Unreleased]

### Added
- Something not yet released.

## [1.4.0] - TBD

### Added
- Multi-arch images (amd64, arm64).
- Ünïcödé names in labels — and emoji 🚀.

### Fixed
- Crash on empty config (see ` + "`TBD` in code is fine" + `).

## [1.3.1] - 2026-10-02

### Fixed
- Hotfix for the parser.

## [1.3.0] - 2026-09-15

- Big feature.

## [1.2.0] - 2026-08-01

- Older feature.

## [1.0.0] - 2026-01-01

- First release.

[Unreleased]: https://github.com/acme/app/compare/v1.3.1...HEAD
[1.3.1]: https://github.com/acme/app/compare/v1.3.0...v1.3.1
[1.3.0]: https://github.com/acme/app/compare/v1.2.0...v1.3.0
[1.2.0]: https://github.com/acme/app/compare/v1.0.0...v1.2.0
[1.0.0]: https://github.com/acme/app/releases/tag/v1.0.0
`

func v(s string) version.Version { return version.MustParse(s) }

// finalized is Finalize of ver in the CHANGELOG in, on day1; an error fails the test.
func finalized(t *testing.T, in, ver string) Result {
	t.Helper()
	r, err := Finalize([]byte(in), v(ver), Options{Now: day1})
	if err != nil {
		t.Fatalf("Finalize %s: %v", ver, err)
	}
	return r
}

func TestExtractExactOnFiveVersions(t *testing.T) {
	// five's sections, newest first, as Versions lists them, with the notes Extract returns.
	sections := []struct{ ver, notes string }{
		{"1.4.0", "### Added\n- Multi-arch images (amd64, arm64).\n- Ünïcödé names in labels — and emoji 🚀.\n\n### Fixed\n- Crash on empty config (see `TBD` in code is fine)."},
		{"1.3.1", "### Fixed\n- Hotfix for the parser."},
		{"1.3.0", "- Big feature."},
		{"1.2.0", "- Older feature."},
		{"1.0.0", "- First release."},
	}
	vs, err := Versions([]byte(five))
	if err != nil || len(vs) != len(sections) {
		t.Fatalf("Versions = %v, %v", vs, err)
	}
	for i, sec := range sections {
		if vs[i].String() != sec.ver {
			t.Errorf("Versions[%d] = %s, want %s", i, vs[i], sec.ver)
		}
		got, err := Extract([]byte(five), v(sec.ver))
		if err != nil {
			t.Fatalf("%s: %v", sec.ver, err)
		}
		if got != sec.notes {
			t.Errorf("Extract %s =\n%q\nwant\n%q", sec.ver, got, sec.notes)
		}
	}
	if _, err := Extract([]byte(five), v("9.9.9")); err == nil || !strings.Contains(err.Error(), "no section [9.9.9]") {
		t.Errorf("missing section: %v", err)
	}
}

func TestFinalizeTBDSection(t *testing.T) {
	r := finalized(t, five, "1.4.0")
	out := string(r.Content)
	if !strings.Contains(out, "\n## [1.4.0] - 2026-11-25\n") || strings.Contains(out, "1.4.0] - TBD") {
		t.Fatalf("heading not finalized:\n%s", out)
	}
	if !r.Changed || r.Date != "2026-11-25" || r.Line != 10 {
		t.Fatalf("result %+v", r)
	}
	if !strings.Contains(out, "[Unreleased]: https://github.com/acme/app/compare/v1.4.0...HEAD\n[1.4.0]: https://github.com/acme/app/compare/v1.3.1...v1.4.0\n[1.3.1]:") {
		t.Fatalf("links not updated:\n%s", out[strings.Index(out, "[Unreleased]:"):])
	}
	if !strings.Contains(out, "## [Unreleased]\n\n### Added\n- Something not yet released.") {
		t.Fatalf("Unreleased section disturbed")
	}
	notes, _ := Extract(r.Content, v("1.4.0"))
	if notes != r.Notes {
		t.Fatalf("Finalize notes differ from Extract")
	}
}

func TestFinalizeIdempotentAcrossDates(t *testing.T) {
	r1 := finalized(t, five, "1.4.0")
	r2, err := Finalize(r1.Content, v("1.4.0"), Options{Now: day2})
	if err != nil {
		t.Fatalf("re-run after midnight failed: %v", err)
	}
	if r2.Changed || string(r2.Content) != string(r1.Content) || r2.Date != "2026-11-25" {
		t.Fatalf("re-finalize changed the file or date: %v %s", r2.Changed, r2.Date)
	}
	// The same explicit date is fine; a different explicit date is an error naming both.
	if _, err := Finalize(r1.Content, v("1.4.0"), Options{Now: day2, Date: day1}); err != nil {
		t.Fatalf("same explicit date: %v", err)
	}
	_, err = Finalize(r1.Content, v("1.4.0"), Options{Now: day2, Date: day2})
	if err == nil || !strings.Contains(err.Error(), "already dated 2026-11-25, not 2026-11-26") || !strings.Contains(err.Error(), "line 10") {
		t.Fatalf("explicit different date: %v", err)
	}
}

func TestFinalizeFromUnreleased(t *testing.T) {
	in := "# Changelog\n\n## [Unreleased]\n\n- New thing.\n\n## [1.0.0] - 2026-01-01\n\n- First.\n\n[Unreleased]: https://ghe.example.com/acme/app/compare/v1.0.0...HEAD\n[1.0.0]: https://ghe.example.com/acme/app/releases/tag/v1.0.0\n"
	r := finalized(t, in, "1.1.0")
	want := "# Changelog\n\n## [Unreleased]\n\n## [1.1.0] - 2026-11-25\n\n- New thing.\n\n## [1.0.0] - 2026-01-01\n\n- First.\n\n[Unreleased]: https://ghe.example.com/acme/app/compare/v1.1.0...HEAD\n[1.1.0]: https://ghe.example.com/acme/app/compare/v1.0.0...v1.1.0\n[1.0.0]: https://ghe.example.com/acme/app/releases/tag/v1.0.0\n"
	if string(r.Content) != want {
		t.Fatalf("got\n%s\nwant\n%s", r.Content, want)
	}
	r2, err := Finalize(r.Content, v("1.1.0"), Options{Now: day2})
	if err != nil || r2.Changed {
		t.Fatalf("re-finalize: %v changed=%v", err, r2.Changed)
	}
}

func TestFinalizeAddsLinksWithGivenRepo(t *testing.T) {
	in := "## [1.0.0] - TBD\n\n- First.\n"
	r, err := Finalize([]byte(in), v("1.0.0"), Options{Now: day1, RepoURL: "https://github.com/acme/app/"})
	if err != nil {
		t.Fatal(err)
	}
	want := "## [1.0.0] - 2026-11-25\n\n- First.\n\n[Unreleased]: https://github.com/acme/app/compare/v1.0.0...HEAD\n[1.0.0]: https://github.com/acme/app/releases/tag/v1.0.0\n"
	if string(r.Content) != want {
		t.Fatalf("got\n%q\nwant\n%q", r.Content, want)
	}
	// Without a repo URL and without links, links are left alone.
	r, _ = Finalize([]byte(in), v("1.0.0"), Options{Now: day1})
	if strings.Contains(string(r.Content), "]: ") {
		t.Fatalf("links invented without a repo URL:\n%s", r.Content)
	}
}

func TestHotfixLeavesUnreleasedLink(t *testing.T) {
	in := "## [Unreleased]\n\n## [1.3.0] - 2026-09-15\n\n- New.\n\n## [1.2.1] - TBD\n\n- Fix.\n\n## [1.2.0] - 2026-08-01\n\n- Old.\n\n[Unreleased]: https://github.com/acme/app/compare/v1.3.0...HEAD\n[1.3.0]: https://github.com/acme/app/compare/v1.2.0...v1.3.0\n[1.2.0]: https://github.com/acme/app/releases/tag/v1.2.0\n"
	r := finalized(t, in, "1.2.1")
	out := string(r.Content)
	if !strings.Contains(out, "[Unreleased]: https://github.com/acme/app/compare/v1.3.0...HEAD\n[1.3.0]: https://github.com/acme/app/compare/v1.2.0...v1.3.0\n[1.2.1]: https://github.com/acme/app/compare/v1.2.0...v1.2.1\n[1.2.0]:") {
		t.Fatalf("hotfix links wrong:\n%s", out)
	}
}

func TestCRLFAndNoTrailingNewline(t *testing.T) {
	in := "## [Unreleased]\r\n\r\n## [2.0.0] - TBD\r\n\r\n- Ready.\r\n\r\n[Unreleased]: https://github.com/acme/app/compare/v1.0.0...HEAD"
	r := finalized(t, in, "2.0.0")
	out := string(r.Content)
	if strings.Count(out, "\n") != strings.Count(out, "\r\n") {
		t.Fatalf("mixed line endings in CRLF output: %q", out)
	}
	if strings.HasSuffix(out, "\n") {
		t.Fatalf("trailing newline added to a file that had none: %q", out)
	}
	if !strings.Contains(out, "## [2.0.0] - 2026-11-25\r\n") || !strings.Contains(out, "[2.0.0]: https://github.com/acme/app/releases/tag/v2.0.0") {
		t.Fatalf("CRLF finalize: %q", out)
	}
	if r.Notes != "- Ready." {
		t.Fatalf("notes %q", r.Notes)
	}
}

func TestRefusals(t *testing.T) {
	// Finalizing 1.1.0 fails with the reason, as bad input (the file cannot be read that way) or
	// refused (the release is not ready).
	cases := []struct {
		name, in, want string
		class          fault.Class
	}{
		{"nothing", "# nothing\n", "no [1.1.0] section and no [Unreleased]", fault.BadInput},
		{"no section, no unreleased", "# Changelog\n\n## [1.0.0] - 2026-01-01\n\n- x\n", "no [1.1.0] section and no [Unreleased]", fault.BadInput},
		{"duplicate", "## [1.1.0] - TBD\n\n- a\n\n## [1.1.0] - TBD\n\n- b\n", "two sections for [1.1.0], at lines 1 and 5", fault.BadInput},
		{"duplicate, no blank lines", "## [1.1.0] - TBD\n- a\n## [1.1.0] - TBD\n- b\n", "two sections for [1.1.0], at lines 1 and 3", fault.BadInput},
		{"duplicate unreleased", "## [Unreleased]\n\n## [unreleased]\n", "two sections for [unreleased]", fault.BadInput},
		{"bad date", "## [1.1.0] - 2026-13-45\n\n- a\n", "neither TBD nor YYYY-MM-DD", fault.BadInput},
		{"dotted date", "## [1.1.0] - 13.13.2026\n- a\n", "neither TBD nor YYYY-MM-DD", fault.BadInput},
		{"empty notes", "## [1.1.0] - TBD\n\n## [1.0.0] - 2026-01-01\n\n- x\n", "line 1: section [1.1.0] has no notes", fault.Refused},
		{"empty notes, no blank line", "## [1.1.0] - TBD\n\n## [1.0.0] - 2026-01-01\n- x\n", "line 1: section [1.1.0] has no notes", fault.Refused},
		{"TBD in notes", "## [1.1.0] - TBD\n\n- Fixed TBD\n- ok\n- **TBD**: later\n", "CHANGELOG lines 3, 5: notes of [1.1.0] still say TBD", fault.Refused},
		{"TBD right under the heading", "## [1.1.0] - TBD\n- TBD\n", "CHANGELOG line 2: notes of [1.1.0] still say TBD", fault.Refused},
	}
	for _, c := range cases {
		_, err := Finalize([]byte(c.in), v("1.1.0"), Options{Now: day1})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
		if fault.Of(err) != c.class {
			t.Errorf("%s: %v is %v, want %v", c.name, err, fault.Of(err), c.class)
		}
	}
	var tbd *TBDError
	_, err := Finalize([]byte("## [1.1.0] - TBD\n\n- TBD\n"), v("1.1.0"), Options{Now: day1})
	if !errors.As(err, &tbd) || tbd.Lines[0] != 3 {
		t.Errorf("TBDError with line 3 expected, got %v", err)
	}
}

func TestCheckRequiresDate(t *testing.T) {
	if err := Check([]byte(five), v("1.4.0")); err == nil || !strings.Contains(err.Error(), "CHANGELOG line 10: heading of [1.4.0] carries TBD") {
		t.Fatalf("Check on TBD heading: %v", err)
	}
	if err := Check([]byte(five), v("1.3.0")); err != nil {
		t.Fatalf("Check on dated section: %v", err)
	}
	if err := Check([]byte("## [1.0.0]\n\n- x\n"), v("1.0.0")); err == nil || !strings.Contains(err.Error(), "no date") {
		t.Fatalf("Check on undated heading: %v", err)
	}
}

func TestTBDRuleIgnoresCode(t *testing.T) {
	notes := strings.Join([]string{
		"- Uses `TBD` as a literal",              // 1 code span: ok
		"- Double ``a ` TBD`` span",              // 2 code span with a backtick inside: ok
		"```",                                    // 3
		"TBD inside a fence",                     // 4 ok
		"```",                                    // 5
		"~~~~",                                   // 6
		"TBD",                                    // 7 ok
		"```",                                    // 8 not a closing fence for ~~~~
		"~~~~",                                   // 9
		"",                                       // 10
		"    TBD in an indented code block",      // 11 ok
		"",                                       // 12
		"- list item",                            // 13
		"",                                       // 14
		"    TBD continuation of a list item",    // 15 counts
		"TBDs and TBD2 and xTBD are other words", // 16 ok
		"_TBD_ and (TBD) count",                  // 17 counts
		"an unmatched ` TBD",                     // 18 counts
		"tbd lowercase is fine",                  // 19 ok
	}, "\n")
	got := FindTBD(notes)
	if len(got) != 3 || got[0] != 15 || got[1] != 17 || got[2] != 18 {
		t.Fatalf("FindTBD = %v, want [15 17 18]", got)
	}
	if err := CheckNotes(notes); err == nil || !strings.Contains(err.Error(), "release notes lines 15, 17, 18") {
		t.Fatalf("CheckNotes: %v", err)
	}
	if err := CheckNotes("  \n"); err == nil {
		t.Fatalf("empty notes accepted")
	}
	if err := CheckNotes("- all good"); err != nil {
		t.Fatal(err)
	}
}

func TestHeadingsInsideFencesAreNotSections(t *testing.T) {
	in := "## [1.1.0] - TBD\n\n```md\n## [1.0.0] - 2020-01-01\n```\n\n- real\n"
	r := finalized(t, in, "1.1.0")
	if r.Notes != "```md\n## [1.0.0] - 2020-01-01\n```\n\n- real" {
		t.Fatalf("notes %q", r.Notes)
	}
}

func TestPrepare(t *testing.T) {
	in := "# Changelog\n\n## [Unreleased]\n\n- Coming.\n"
	out, changed, err := Prepare([]byte(in), v("0.3.1"))
	if err != nil || !changed {
		t.Fatal(err, changed)
	}
	if string(out) != "# Changelog\n\n## [Unreleased]\n\n## [0.3.1] - TBD\n\n- Coming.\n" {
		t.Fatalf("prepare:\n%s", out)
	}
	again, changed, err := Prepare(out, v("0.3.1"))
	if err != nil || changed || string(again) != string(out) {
		t.Fatalf("prepare not idempotent")
	}
	if _, _, err := Prepare([]byte("# nothing\n"), v("0.3.1")); err == nil {
		t.Fatal("prepare without Unreleased accepted")
	}
	// A prepared file finalizes.
	r, err := Finalize(out, v("0.3.1"), Options{Now: day1})
	if err != nil || !strings.Contains(string(r.Content), "## [0.3.1] - 2026-11-25") {
		t.Fatalf("finalize after prepare: %v", err)
	}
}
