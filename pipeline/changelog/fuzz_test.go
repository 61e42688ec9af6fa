package changelog

import (
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate/pipeline/fault"
)

// FuzzFinalize checks that Finalize never panics and that whatever it accepts is final: it passes
// Check, re-finalizing a day later gives the same bytes (finalize(finalize(x)) == finalize(x)), and
// Extract returns the same notes.
func FuzzFinalize(f *testing.F) {
	for _, s := range []string{
		five,
		"## [Unreleased]\n\n- x\n",
		"## [1.2.3] - TBD\r\n\r\n- crlf\r\n",
		"## [1.2.3] - TBD\n\n- no eol",
		"## [1.2.3] - TBD\n\n```\n## [1.2.3] - TBD\n```\n- x\n",
		"## [1.2.3] - 2026-02-30\n\n- bad date\n",
		"## [1.2.3]\n- x\n[1.2.3]: https://github.com/a/b/releases/tag/v1.2.3",
		"## Unreleased\n\n- x\n\n## v1.2.2 - 2026-01-01\n- y\n",
		"## Unreleased\n- x\n### [1.2.2](https://github.com/a/b/compare/v1.2.1...v1.2.2) (2026-01-01)\n### Bug Fixes\n- y\n## [1.2.1](https://github.com/a/b/compare/v1.2.0...v1.2.1) (2025-01-01)\n- z\n",
		"## [1.2.3] - TBD TBD\n\n- x\n",
		"## [1.2.3] - TBD\n\n- T\u200bBD\n",
		"",
	} {
		f.Add(s)
	}
	for _, c := range styleCases {
		f.Add(c.file)
	}
	ver := v("1.2.3")
	f.Fuzz(func(t *testing.T, in string) {
		r, err := Finalize([]byte(in), ver, Options{Now: day1, RepoURL: "https://github.com/acme/app"})
		if err != nil {
			if err.Error() == "" || fault.Of(err) == fault.Unknown {
				t.Fatalf("unclassified or empty error %q", err)
			}
			return
		}
		if err := Check(r.Content, ver); err != nil {
			t.Fatalf("finalized file fails Check: %v\n%q", err, r.Content)
		}
		r2, err := Finalize(r.Content, ver, Options{Now: day1.Add(48 * time.Hour), RepoURL: "https://github.com/other/repo"})
		if err != nil || r2.Changed || string(r2.Content) != string(r.Content) {
			t.Fatalf("re-finalize not idempotent: %v changed=%v\n%q\n%q", err, r2.Changed, r.Content, r2.Content)
		}
		notes, err := Extract(r.Content, ver)
		if err != nil || notes != r.Notes {
			t.Fatalf("Extract %q != Notes %q (%v)", notes, r.Notes, err)
		}
		if strings.Contains(in, "\r\n") && strings.Count(string(r.Content), "\n") != strings.Count(string(r.Content), "\r\n") && !strings.Contains(strings.ReplaceAll(in, "\r\n", ""), "\n") {
			t.Fatalf("CRLF file came back with bare LF")
		}
	})
}

// FuzzHeadingStyle puts one heading line under an Unreleased section and checks the heading
// parser with the style inference: parsing never panics and errors are classified; a released
// heading is never changed by finalizing it; a new release finalized from Unreleased in the style
// learned from that heading parses back, passes the check, and is final; the line itself is kept.
func FuzzHeadingStyle(f *testing.F) {
	for _, c := range styleCases {
		for _, l := range strings.Split(c.file, "\n") {
			if strings.HasPrefix(l, "#") && !strings.Contains(strings.ToLower(l), "unreleased") {
				f.Add(l)
			}
		}
	}
	for _, s := range []string{"## [1.2] - 2026-01-01", "### v1.0.0 — 2026-01-01 [YANKED]", "# 3.0.0 (TBD)", "## [1.0.0]()", "## v1.0.0-rc.1 -\t2026-01-01", "```"} {
		f.Add(s)
	}
	for heading := range undatedHeadings {
		f.Add(heading)
	}
	f.Fuzz(func(t *testing.T, line string) {
		if strings.ContainsAny(line, "\r\n") {
			return
		}
		in := "# Changelog\n\n## [Unreleased]\n\n- New thing.\n\n" + line + "\n\n- Old thing.\n"
		vs, err := Versions([]byte(in))
		if err != nil {
			if fault.Of(err) != fault.BadInput {
				t.Fatalf("unclassified parse error %v", err)
			}
			return
		}
		for _, o := range vs {
			if r, err := Finalize([]byte(in), o, Options{Now: day1}); Check([]byte(in), o) == nil && (err != nil || r.Changed) {
				t.Fatalf("finalizing released %s changed the file (%v):\n%s", o, err, r.Content)
			}
		}
		next := v("99.0.0")
		r, err := Finalize([]byte(in), next, Options{Now: day1, RepoURL: "https://github.com/acme/app"})
		if err != nil {
			if fault.Of(err) == fault.Unknown {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if err := Check(r.Content, next); err != nil {
			t.Fatalf("finalized file fails Check: %v\n%s", err, r.Content)
		}
		if r2, err := Finalize(r.Content, next, Options{Now: day2}); err != nil || r2.Changed {
			t.Fatalf("re-finalize changed the file: %v", err)
		}
		if !linkDefRE.MatchString(line) && !strings.Contains(string(r.Content), "\n"+line+"\n") {
			t.Fatalf("the heading line was changed:\n%s", r.Content)
		}
	})
}

// FuzzFindTBD checks the TBD rule never panics, reports lines that exist, and reports nothing for
// text that does not read TBD even after folding; folding is idempotent.
func FuzzFindTBD(f *testing.F) {
	for _, s := range []string{"TBD", "`TBD`", "```\nTBD\n```", "    TBD", "- a\n\n    TBD", "``a`TBD``", "x TBD y\nTBDx", "~~~\n```\nTBD\n~~~", "```\nTBD"} {
		f.Add(s)
	}
	for _, s := range tbdBypasses {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		hits := FindTBD(in)
		n := len(strings.Split(strings.ReplaceAll(in, "\r\n", "\n"), "\n"))
		for i, h := range hits {
			if h < 1 || h > n || i > 0 && hits[i-1] >= h {
				t.Fatalf("lines %v out of range 1..%d or order", hits, n)
			}
		}
		lines := strings.Split(strings.ReplaceAll(in, "\r\n", "\n"), "\n")
		for _, h := range hits {
			if l := lines[h-1]; !readsTBD(l) {
				t.Fatalf("line %d %q flagged but does not read TBD", h, l)
			}
		}
		if ff := Fold(in); !strings.Contains(ff, "&") && Fold(ff) != ff {
			t.Fatalf("Fold not idempotent: %q -> %q", ff, Fold(ff))
		}
	})
}
