package changelog

import (
	"errors"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/pipeline/fault"
)

func TestOddFilesCRLFNoTrailingNewline(t *testing.T) {
	in := strings.TrimSuffix(strings.ReplaceAll(releasePlease, "\n", "\r\n"), "\r\n")
	r := finalized(t, in, "16.1.0")
	out := string(r.Content)
	if strings.Count(out, "\n") != strings.Count(out, "\r\n") || strings.HasSuffix(out, "\n") {
		t.Fatalf("line endings not kept: %q", out)
	}
	if !strings.Contains(out, "\r\n## [16.1.0](https://github.com/acme/lib/compare/v16.0.0...v16.1.0) (2026-11-25)\r\n") || r.Notes != newNotes {
		t.Fatalf("CRLF finalize:\n%q\nnotes %q", out, r.Notes)
	}
	r2, err := Finalize(r.Content, v("16.1.0"), Options{Now: day2})
	if err != nil || r2.Changed {
		t.Fatalf("re-run: %v changed=%v", err, r2.Changed)
	}
	if err := Check(r.Content, v("15.12.1")); err != nil {
		t.Fatal(err)
	}
}

func TestOddFilesByteOrderMark(t *testing.T) {
	in := "\ufeff## Unreleased\n\n- New.\n\n## v1.0.0 - 2026-01-01\n\n- Old.\n"
	r, err := Finalize([]byte(in), v("1.1.0"), Options{Now: day1})
	if err != nil || string(r.Content) != "\ufeff## Unreleased\n\n## v1.1.0 - 2026-11-25\n\n- New.\n\n## v1.0.0 - 2026-01-01\n\n- Old.\n" {
		t.Fatalf("%v\n%q", err, r.Content)
	}
}

func TestOddFilesHeadingsInsideFences(t *testing.T) {
	in := "# Changelog\n\n## Unreleased\n\n- Documented the format:\n\n  ```md\n  ## [9.9.9] - TBD\n  ### 1.0 oops\n  ```\n\n~~~\n## v1.0.0 - 2026-01-01\n~~~\n\n## v1.0.0 - 2026-01-01\n\n- First.\n"
	vs, err := Versions([]byte(in))
	if err != nil || len(vs) != 1 || vs[0].String() != "1.0.0" {
		t.Fatalf("Versions = %v, %v", vs, err)
	}
	r := finalized(t, in, "1.1.0")
	if !strings.Contains(string(r.Content), "## Unreleased\n\n## v1.1.0 - 2026-11-25\n\n- Documented") || !strings.HasSuffix(r.Notes, "~~~\n## v1.0.0 - 2026-01-01\n~~~") {
		t.Fatalf("finalize:\n%s\nnotes %q", r.Content, r.Notes)
	}
}

// A TBD section among released ones (a hotfix of an older line) is dated in the file's style; the
// released sections around it are untouched and keep passing the check.
func TestOddFilesTBDSectionAmongReleased(t *testing.T) {
	in := strings.Replace(inlineTagLinks, "## [1.4.0]", "## [1.3.9] - TBD\n\n- Backported fix.\n\n## [1.4.0]", 1)
	in = strings.Replace(in, "## [1.4.0](https://github.com/acme/devbox/releases/tag/1.4.0) - 2026-07-01\n\n### Added\n\n- Option `version`.\n", "", 1) + "\n## [1.4.0](https://github.com/acme/devbox/releases/tag/1.4.0) - 2026-07-01\n\n### Added\n\n- Option `version`.\n"
	if err := Check([]byte(in), v("1.3.9")); fault.Of(err) != fault.Refused || !strings.Contains(err.Error(), "carries TBD") {
		t.Fatalf("Check of the TBD section: %v", err)
	}
	r := finalized(t, in, "1.3.9")
	if !strings.Contains(string(r.Content), "\n## [1.3.9](https://github.com/acme/devbox/releases/tag/1.3.9) - 2026-11-25\n\n- Backported fix.\n") {
		t.Fatalf("hotfix heading:\n%s", r.Content)
	}
	onlyHeadingAndLinks(t, in, string(r.Content), "## [1.3.9] - TBD")
	for _, ver := range []string{"1.4.1", "1.4.0", "1.3.9"} {
		if err := Check(r.Content, v(ver)); err != nil {
			t.Errorf("Check %s: %v", ver, err)
		}
	}
}

func TestOddFilesUndatedHeadingKeepsItsOwnFormWithoutHistory(t *testing.T) {
	for heading, want := range undatedHeadings {
		// The notes right under the heading, and after a blank line.
		for _, in := range []string{heading + "\n- x\n", heading + "\n\n- x\n"} {
			r, err := Finalize([]byte(in), v("3.0.0"), Options{Now: day1})
			if err != nil || lineOf(string(r.Content), "3.0.0") != want {
				t.Errorf("%q: %v\n%s", in, err, r.Content)
			}
		}
	}
}

// undatedHeadings are headings of a release not yet dated, in forms no released section teaches,
// with the heading Finalize writes for them on day1: each keeps its own form. FuzzHeadingStyle
// starts from them too.
var undatedHeadings = map[string]string{
	"## v3.0.0":                "## v3.0.0 - 2026-11-25",
	"### 3.0.0 (TBD) [YANKED]": "### 3.0.0 (2026-11-25) [YANKED]",
	"## [3.0.0] — TBD":         "## [3.0.0] — 2026-11-25",
	"## [3.0.0] - ＴＢＤ":         "## [3.0.0] - 2026-11-25",
}

// A heading that looks like a release but fits no style is an error naming its line, never a
// heading silently skipped (whose notes would then be read as the previous version's).
func TestHeadingThatFitsNoStyleIsAnError(t *testing.T) {
	for _, bad := range []string{
		"## [1.2] - 2026-01-01",
		"### 1.0.0 2026-01-01",
		"## [1.0.0 - 2026-01-01",
		"## 1.0.0] - 2026-01-01",
		"### v1.0.0.1 - 2026-01-01",
		"## 1.0.0(https://example.com) - 2026-01-01",
		"## [1.0.0] - 2026-01-01[YANKED]",
		"## [1.0.0] ()",
		"## 01.2.3 - 2026-01-01",
	} {
		in := "# Changelog\n\n## [1.1.0] - TBD\n\n- New.\n\n" + bad + "\n\n- Old.\n"
		_, err := Finalize([]byte(in), v("1.1.0"), Options{Now: day1})
		if fault.Of(err) != fault.BadInput || !strings.Contains(err.Error(), "CHANGELOG line 7:") || !strings.Contains(err.Error(), "fits no supported style") {
			t.Errorf("%q: %v", bad, err)
		}
		if _, err := Extract([]byte(in), v("1.1.0")); err == nil {
			t.Errorf("%q: Extract accepted it", bad)
		}
	}
}

func TestUnclosedFenceIsRefused(t *testing.T) {
	in := "## [1.1.0] - TBD\n\n- New.\n\n```sh\nmake TBD\n\n## [1.0.0] - 2026-01-01\n\n- Old.\n"
	_, err := Finalize([]byte(in), v("1.1.0"), Options{Now: day1})
	if fault.Of(err) != fault.BadInput || !strings.Contains(err.Error(), "line 5: code fence ``` is never closed") {
		t.Fatalf("unclosed fence in the CHANGELOG: %v", err)
	}
	notes := "- New.\n\n```sh\nmake TBD\n"
	if got := FindTBD(notes); len(got) != 1 || got[0] != 4 {
		t.Fatalf("FindTBD counts TBD in an unclosed fence: %v", got)
	}
	err = CheckNotes("- New.\n\n~~~\nmake it\n")
	if fault.Of(err) != fault.Refused || !strings.Contains(err.Error(), "release notes line 3: a code fence is never closed") {
		t.Fatalf("unclosed fence in release notes: %v", err)
	}
}

// tbdBypasses are the ways of writing TBD that a reader sees as TBD, by name: TestTBDBypasses
// expects each to be found, and FuzzFindTBD starts from them.
var tbdBypasses = map[string]string{
	"zero-width space":         "T\u200bBD",
	"zero-width joiner":        "TB\u200dD",
	"soft hyphen":              "T\u00adBD",
	"word joiner":              "TBD\u2060",
	"byte order mark":          "\ufeffTBD",
	"full-width letters":       "ＴＢＤ",
	"Cyrillic Т and В":         "\u0422\u0412D",
	"Greek Τ and Β":            "\u03a4\u0392D",
	"Cherokee and Lisu":        "\u13a2\ua4d0\ua4d3",
	"mathematical bold":        "𝐓𝐁𝐃",
	"combining underline":      "T\u0332B\u0332D\u0332",
	"Hangul filler after":      "TBD\u3164",
	"small capitals":           "ᴛʙᴅ",
	"full-width backticks":     "｀TBD｀",
	"circled letters":          "ⓉⒷⒹ",
	"variation selector":       "T\ufe0fBD",
	"Mongolian vowel sep":      "T\u180eBD",
	"mixed with real letters":  "TB\u0414 and T\u200cBD",
	"numeric character refs":   "&#84;&#x42;D",
	"named character ref":      "T&ZeroWidthSpace;BD",
	"emphasis inside the word": "T**BD**",
	"HTML inside the word":     "T<b></b>BD",
	"comment inside the word":  "TB<!-- x -->D",
}

// TestTBDBypasses: each way of writing TBD that a reader sees as TBD is found, in the notes of a
// CHANGELOG (Finalize and Check refuse), in release notes (CheckNotes refuses) and in the heading.
func TestTBDBypasses(t *testing.T) {
	for name, tbd := range tbdBypasses {
		t.Run(name, func(t *testing.T) {
			notes := "- Fixed the parser.\n- Docs: " + tbd + "\n"
			if got := FindTBD(notes); len(got) != 1 || got[0] != 2 {
				t.Errorf("FindTBD = %v, want [2]", got)
			}
			if err := CheckNotes(notes); fault.Of(err) != fault.Refused {
				t.Errorf("CheckNotes: %v", err)
			}
			in := "## [1.2.0] - TBD\n\n" + notes
			_, err := Finalize([]byte(in), v("1.2.0"), Options{Now: day1})
			var te *TBDError
			if fault.Of(err) != fault.Refused || !errors.As(err, &te) || te.Lines[0] != 4 {
				t.Errorf("Finalize: %v", err)
			}
			head := "## [1.2.0] - 2026-11-25 " + tbd + "\n\n- Fixed.\n"
			if err := Check([]byte(head), v("1.2.0")); fault.Of(err) != fault.Refused || !strings.Contains(err.Error(), "heading of [1.2.0] still says TBD") {
				t.Errorf("Check of the heading: %v", err)
			}
		})
	}
}

func TestTBDRuleStillIgnoresCodeAndOtherWords(t *testing.T) {
	for _, ok := range []string{"tbd", "TBDs", "xＴＢＤ", "T B D", "`T\u200bBD`", "`ＴＢＤ`", "TBD2", "MY_TBDS", "&amp;#84;BD", "`T**BD**`"} {
		if got := FindTBD("- " + ok); len(got) != 0 {
			t.Errorf("%q flagged: %v", ok, got)
		}
	}
}

// The whole heading is checked: `## [1.2.0] - TBD TBD` does not finalize to a dated heading that
// still says TBD.
func TestWholeHeadingIsChecked(t *testing.T) {
	for _, h := range []string{"## [1.2.0] - TBD TBD", "## [1.2.0] - TBD (TBD)", "## [1.2.0](https://github.com/a/b/releases/tag/v1.2.0) (TBD) TBD", "## v1.2.0 - TBD [T\u200bBD]"} {
		r, err := Finalize([]byte(h+"\n\n- Fixed.\n"), v("1.2.0"), Options{Now: day1})
		if fault.Of(err) != fault.Refused || !strings.Contains(err.Error(), "CHANGELOG line 1: heading of [1.2.0] still says TBD") {
			t.Errorf("%q: %v\n%s", h, err, r.Content)
		}
	}
}

// TestErrorClasses: Prepare and FinalizeDir classify their errors too (TestRefusals covers
// Finalize's).
func TestErrorClasses(t *testing.T) {
	if _, _, err := Prepare([]byte("# nothing\n"), v("1.1.0")); fault.Of(err) != fault.BadInput {
		t.Errorf("Prepare: %v", err)
	}
	if _, err := FinalizeDir(t.TempDir(), "", v("1.1.0"), Options{}); fault.Of(err) != fault.BadInput {
		t.Errorf("FinalizeDir missing file: %v", err)
	}
}

// A body heading that only mentions a two-part version is prose, not a malformed release.
func TestProseHeadingWithTwoPartVersionIsNotARelease(t *testing.T) {
	cl := "# Changelog\n\n## [Unreleased]\n\n## [1.1.0] - TBD\n\n### 2.0 migration\n- Read the guide.\n\n## [1.0.0] - 2026-01-01\n- First.\n"
	if _, err := Finalize([]byte(cl), v("1.1.0"), Options{Now: day1}); err != nil {
		t.Fatalf("a prose heading stopped finalize: %v", err)
	}
}
