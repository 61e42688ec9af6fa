package changelog

import (
	"strings"
	"testing"
	"time"
)

// FuzzFinalize checks that Finalize never panics and that whatever it accepts is final: it passes
// Check, re-finalizing a day later changes nothing, and Extract returns the same notes.
func FuzzFinalize(f *testing.F) {
	for _, s := range []string{
		five,
		"## [Unreleased]\n\n- x\n",
		"## [1.2.3] - TBD\r\n\r\n- crlf\r\n",
		"## [1.2.3] - TBD\n\n- no eol",
		"## [1.2.3] - TBD\n\n```\n## [1.2.3] - TBD\n```\n- x\n",
		"## [1.2.3] - 2026-02-30\n\n- bad date\n",
		"## [1.2.3]\n- x\n[1.2.3]: https://github.com/a/b/releases/tag/v1.2.3",
		"",
	} {
		f.Add(s)
	}
	ver := v("1.2.3")
	f.Fuzz(func(t *testing.T, in string) {
		r, err := Finalize([]byte(in), ver, Options{Now: day1})
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("empty error")
			}
			return
		}
		if err := Check(r.Content, ver); err != nil {
			t.Fatalf("finalized file fails Check: %v\n%q", err, r.Content)
		}
		r2, err := Finalize(r.Content, ver, Options{Now: day1.Add(48 * time.Hour)})
		if err != nil || r2.Changed {
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

// FuzzFindTBD checks the TBD rule never panics, reports lines that exist, and reports nothing for
// text without the letters TBD.
func FuzzFindTBD(f *testing.F) {
	for _, s := range []string{"TBD", "`TBD`", "```\nTBD\n```", "    TBD", "- a\n\n    TBD", "``a`TBD``", "x TBD y\nTBDx", "~~~\n```\nTBD\n~~~"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		hits := FindTBD(in)
		n := len(strings.Split(strings.ReplaceAll(in, "\r\n", "\n"), "\n"))
		for _, h := range hits {
			if h < 1 || h > n {
				t.Fatalf("line %d out of range 1..%d", h, n)
			}
		}
		if !strings.Contains(in, "TBD") && len(hits) > 0 {
			t.Fatalf("TBD found in text without TBD: %v", hits)
		}
	})
}
