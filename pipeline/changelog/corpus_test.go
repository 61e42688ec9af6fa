package changelog

import (
	"strings"
	"testing"
)

// The notes of the release to cut, the same in every style: Extract must return exactly this.
const newNotes = "### Added\n- Multi-arch images (amd64, arm64).\n\n### Fixed\n- Crash on empty config (see `TBD` in code, which is fine)."

// styleCase is a CHANGELOG written for the tests in one style, with an Unreleased section holding
// newNotes: preparing and finalizing ver must give the headings shown.
type styleCase struct {
	name      string
	file      string
	ver       string
	prepared  string   // v's heading line after Prepare
	finalized string   // v's heading line after Finalize on day1
	links     []string // lines the finalized file must contain (link references)
}

var keepAChangelog = "# Changelog\n\nAll notable changes to this project are documented in this file.\n\nThe format is based on [Keep a Changelog](https://keepachangelog.com/en/1.1.0/).\n\n## [Unreleased]\n\n" + newNotes + "\n\n## [1.3.1] - 2026-10-02\n\n### Fixed\n- Hotfix for the parser.\n\n## [1.3.0] - 2026-09-15\n\n### Added\n- Big feature.\n\n## [1.0.0] - 2026-01-01\n\n- First release.\n\n[Unreleased]: https://github.com/acme/app/compare/v1.3.1...HEAD\n[1.3.1]: https://github.com/acme/app/compare/v1.3.0...v1.3.1\n[1.3.0]: https://github.com/acme/app/compare/v1.0.0...v1.3.0\n[1.0.0]: https://github.com/acme/app/releases/tag/v1.0.0\n"

var inlineTagLinks = "# Changelog\n\n## Unreleased\n\n" + newNotes + "\n\n## [1.4.1](https://github.com/acme/devbox/releases/tag/1.4.1) - 2026-07-23\n\n### Fixed\n\n- The feature no longer fails on Alpine.\n\n## [1.4.0](https://github.com/acme/devbox/releases/tag/1.4.0) - 2026-07-01\n\n### Added\n\n- Option `version`.\n"

var releasePlease = "# Changelog\n\n## Unreleased\n\n" + newNotes + "\n\n## [16.0.0](https://github.com/acme/lib/compare/v15.13.0...v16.0.0) (2023-09-18)\n\n\n### ⚠ BREAKING CHANGES\n\n* drop support for Node 14\n\n### Features\n\n* add `retry` option ([#812](https://github.com/acme/lib/issues/812)) ([1a2b3c4](https://github.com/acme/lib/commit/1a2b3c4))\n\n## [15.13.0](https://github.com/acme/lib/compare/v15.12.1...v15.13.0) (2023-08-01)\n\n\n### Features\n\n* streaming API ([#800](https://github.com/acme/lib/issues/800)) ([5d6e7f8](https://github.com/acme/lib/commit/5d6e7f8))\n\n### [15.12.1](https://github.com/acme/lib/compare/v15.12.0...v15.12.1) (2023-07-20)\n\n\n### Bug Fixes\n\n* handle empty body ([#790](https://github.com/acme/lib/issues/790)) ([9a8b7c6](https://github.com/acme/lib/commit/9a8b7c6))\n\n## [15.12.0](https://github.com/acme/lib/compare/v15.11.0...v15.12.0) (2023-07-01)\n\n\n### Features\n\n* first streaming bits\n"

var conventional = "# Change Log\n\n## Unreleased\n\n" + newNotes + "\n\n<a name=\"2.1.0\"></a>\n# [2.1.0](https://github.com/acme/tool/compare/v2.0.1...v2.1.0) (2019-05-02)\n\n\n### Features\n\n* **cli:** add `--json` ([4d5e6f7](https://github.com/acme/tool/commit/4d5e6f7))\n\n\n\n<a name=\"2.0.1\"></a>\n## [2.0.1](https://github.com/acme/tool/compare/v2.0.0...v2.0.1) (2019-04-11)\n\n\n### Bug Fixes\n\n* **cli:** exit code on error ([1b2c3d4](https://github.com/acme/tool/commit/1b2c3d4))\n\n\n\n<a name=\"2.0.0\"></a>\n# [2.0.0](https://github.com/acme/tool/compare/v1.9.0...v2.0.0) (2019-03-30)\n\n### Features\n\n* new engine\n"

var changie = "# Changelog\n\n## Unreleased\n\n" + newNotes + "\n\n## v0.21.7 - 2026-06-17\n### Fixed\n* Retry pushes on 502\n\n## v0.21.6 - 2026-05-02\n### Added\n* `--platform` flag\n"

var unbracketedParen = "# History\n\n## Unreleased\n\n" + newNotes + "\n\n## 2.3.0 (2026-10-01)\n\n- Faster builds.\n\n## 2.2.0 (2026-08-12)\n\n- Smaller images.\n"

var preReleases = "# Changelog\n\n## [Unreleased]\n\n" + newNotes + "\n\n## [2.0.0-rc.1] – 2026-10-20\n\n- Release candidate.\n\n## [1.9.0] – 2026-09-01\n\n- Last 1.x.\n\n[unreleased]: https://git.example.com/acme/app/compare/2.0.0-rc.1...HEAD\n[2.0.0-rc.1]: https://git.example.com/acme/app/compare/1.9.0...2.0.0-rc.1\n[1.9.0]: https://git.example.com/acme/app/releases/tag/1.9.0\n"

var inlineCompare = "# Changelog\n\n## [Unreleased](https://github.com/acme/app/compare/v1.1.0...HEAD)\n\n" + newNotes + "\n\n## [1.1.0](https://github.com/acme/app/compare/v1.0.0...v1.1.0) - 2026-03-01\n\n- Second.\n\n## [1.0.0](https://github.com/acme/app/releases/tag/v1.0.0) - 2026-01-01\n\n- First.\n"

// mixed: the old sections use reference links, the newer ones inline links (the tool changed):
// the newest released heading decides.
var mixed = "# Changelog\n\n## [Unreleased]\n\n" + newNotes + "\n\n## [0.4.0](https://github.com/acme/mix/releases/tag/v0.4.0) - 2026-04-04\n\n- Inline now.\n\n## [0.3.0] - 2026-03-03\n\n- Old style.\n\n[0.3.0]: https://github.com/acme/mix/releases/tag/v0.3.0\n"

// releasedNotes are the notes of each style's released versions, by its file: every case on that
// file checks them before and after its release.
var releasedNotes = map[string]map[string]string{
	keepAChangelog:   {"1.3.1": "### Fixed\n- Hotfix for the parser.", "1.3.0": "### Added\n- Big feature.", "1.0.0": "- First release."},
	inlineTagLinks:   {"1.4.1": "### Fixed\n\n- The feature no longer fails on Alpine.", "1.4.0": "### Added\n\n- Option `version`."},
	releasePlease:    {"16.0.0": "### ⚠ BREAKING CHANGES\n\n* drop support for Node 14\n\n### Features\n\n* add `retry` option ([#812](https://github.com/acme/lib/issues/812)) ([1a2b3c4](https://github.com/acme/lib/commit/1a2b3c4))", "15.12.1": "### Bug Fixes\n\n* handle empty body ([#790](https://github.com/acme/lib/issues/790)) ([9a8b7c6](https://github.com/acme/lib/commit/9a8b7c6))", "15.12.0": "### Features\n\n* first streaming bits"},
	conventional:     {"2.1.0": "### Features\n\n* **cli:** add `--json` ([4d5e6f7](https://github.com/acme/tool/commit/4d5e6f7))", "2.0.1": "### Bug Fixes\n\n* **cli:** exit code on error ([1b2c3d4](https://github.com/acme/tool/commit/1b2c3d4))", "2.0.0": "### Features\n\n* new engine"},
	changie:          {"0.21.7": "### Fixed\n* Retry pushes on 502", "0.21.6": "### Added\n* `--platform` flag"},
	unbracketedParen: {"2.3.0": "- Faster builds.", "2.2.0": "- Smaller images."},
	preReleases:      {"2.0.0-rc.1": "- Release candidate.", "1.9.0": "- Last 1.x."},
	inlineCompare:    {"1.1.0": "- Second.", "1.0.0": "- First."},
	mixed:            {"0.4.0": "- Inline now.", "0.3.0": "- Old style."},
}

var styleCases = []styleCase{
	{name: "keep a changelog, reference links", file: keepAChangelog, ver: "1.4.0", prepared: "## [1.4.0] - TBD", finalized: "## [1.4.0] - 2026-11-25", links: []string{"[Unreleased]: https://github.com/acme/app/compare/v1.4.0...HEAD\n[1.4.0]: https://github.com/acme/app/compare/v1.3.1...v1.4.0\n[1.3.1]:"}},
	{name: "inline release-tag links", file: inlineTagLinks, ver: "1.5.0", prepared: "## [1.5.0] - TBD", finalized: "## [1.5.0](https://github.com/acme/devbox/releases/tag/1.5.0) - 2026-11-25"},
	{name: "release-please minor", file: releasePlease, ver: "16.1.0", prepared: "## [16.1.0] (TBD)", finalized: "## [16.1.0](https://github.com/acme/lib/compare/v16.0.0...v16.1.0) (2026-11-25)"},
	{name: "release-please patch", file: releasePlease, ver: "16.0.1", prepared: "### [16.0.1] (TBD)", finalized: "### [16.0.1](https://github.com/acme/lib/compare/v16.0.0...v16.0.1) (2026-11-25)"},
	{name: "conventional-changelog with anchors", file: conventional, ver: "2.2.0", prepared: "# [2.2.0] (TBD)", finalized: "# [2.2.0](https://github.com/acme/tool/compare/v2.1.0...v2.2.0) (2026-11-25)"},
	{name: "changie, v-prefixed", file: changie, ver: "0.21.8", prepared: "## v0.21.8 - TBD", finalized: "## v0.21.8 - 2026-11-25"},
	{name: "unbracketed, date in parentheses", file: unbracketedParen, ver: "2.4.0", prepared: "## 2.4.0 (TBD)", finalized: "## 2.4.0 (2026-11-25)"},
	{name: "pre-release, en dash, tags without v", file: preReleases, ver: "2.0.0-rc.2", prepared: "## [2.0.0-rc.2] – TBD", finalized: "## [2.0.0-rc.2] – 2026-11-25", links: []string{"[unreleased]: https://git.example.com/acme/app/compare/2.0.0-rc.2...HEAD\n[2.0.0-rc.2]: https://git.example.com/acme/app/compare/2.0.0-rc.1...2.0.0-rc.2\n[2.0.0-rc.1]:"}},
	{name: "release after pre-releases", file: preReleases, ver: "2.0.0", prepared: "## [2.0.0] – TBD", finalized: "## [2.0.0] – 2026-11-25", links: []string{"[unreleased]: https://git.example.com/acme/app/compare/2.0.0...HEAD\n[2.0.0]: https://git.example.com/acme/app/compare/1.9.0...2.0.0\n[2.0.0-rc.1]:"}},
	{name: "inline compare links, linked Unreleased", file: inlineCompare, ver: "1.2.0", prepared: "## [1.2.0] - TBD", finalized: "## [1.2.0](https://github.com/acme/app/compare/v1.1.0...v1.2.0) - 2026-11-25", links: []string{"## [Unreleased](https://github.com/acme/app/compare/v1.2.0...HEAD)\n"}},
	{name: "mixed: newest released heading decides", file: mixed, ver: "0.5.0", prepared: "## [0.5.0] - TBD", finalized: "## [0.5.0](https://github.com/acme/mix/releases/tag/v0.5.0) - 2026-11-25"},
}

// TestStyles round-trips each style: every released version passes Check and finalizing it
// changes nothing; Extract returns the notes without heading or link block; Prepare writes v's
// heading in the file's style under the file's own Unreleased line; Finalize dates it in the
// file's style, changing nothing but that line and the links, and gives the same file as
// finalizing straight from Unreleased.
func TestStyles(t *testing.T) {
	for _, c := range styleCases {
		t.Run(c.name, func(t *testing.T) {
			checkReleased(t, c.file, releasedNotes[c.file])
			prep, changed, err := Prepare([]byte(c.file), v(c.ver))
			if err != nil || !changed {
				t.Fatalf("Prepare: %v changed=%v", err, changed)
			}
			unrel := lineOf(c.file, "Unreleased")
			if got := lineAfter(string(prep), unrel); got != c.prepared {
				t.Fatalf("prepared heading %q, want %q under %q", got, c.prepared, unrel)
			}
			r, err := Finalize(prep, v(c.ver), Options{Now: day1})
			if err != nil {
				t.Fatalf("Finalize: %v", err)
			}
			if got := lineAfter(string(r.Content), unrel); got != c.finalized {
				t.Fatalf("finalized heading %q, want %q", got, c.finalized)
			}
			for _, l := range c.links {
				if !strings.Contains(string(r.Content), l) {
					t.Fatalf("finalized file lacks %q:\n%s", l, r.Content)
				}
			}
			if r.Notes != newNotes || r.Date != "2026-11-25" {
				t.Fatalf("notes %q date %q", r.Notes, r.Date)
			}
			onlyHeadingAndLinks(t, string(prep), string(r.Content), c.prepared)
			direct, err := Finalize([]byte(c.file), v(c.ver), Options{Now: day1})
			if err != nil || string(direct.Content) != string(r.Content) {
				t.Fatalf("finalize from Unreleased differs from prepare+finalize (%v):\n%s", err, direct.Content)
			}
			checkReleased(t, string(r.Content), releasedNotes[c.file])
		})
	}
}

// TestStylesRerunIsByteIdentical finalizes each style twice, the second time days later: the
// file does not change and the date stays.
func TestStylesRerunIsByteIdentical(t *testing.T) {
	for _, c := range styleCases {
		t.Run(c.name, func(t *testing.T) {
			r1 := finalized(t, c.file, c.ver)
			r2, err := Finalize(r1.Content, v(c.ver), Options{Now: day2.AddDate(0, 1, 0), RepoURL: "https://github.com/other/repo"})
			if err != nil || r2.Changed || string(r2.Content) != string(r1.Content) || r2.Date != r1.Date {
				t.Fatalf("re-run changed the file (%v):\n%s\n---\n%s", err, r1.Content, r2.Content)
			}
		})
	}
}

// checkReleased: each released version passes Check, Extract gives its notes, and finalizing it
// (with another date, another repository URL) gives the file back byte for byte.
func checkReleased(t *testing.T, file string, released map[string]string) {
	t.Helper()
	for ver, notes := range released {
		if err := Check([]byte(file), v(ver)); err != nil {
			t.Errorf("Check %s: %v", ver, err)
		}
		if got, err := Extract([]byte(file), v(ver)); err != nil || got != notes {
			t.Errorf("Extract %s = %q (%v), want %q", ver, got, err, notes)
		}
		r, err := Finalize([]byte(file), v(ver), Options{Now: day2, RepoURL: "https://github.com/other/repo"})
		if err != nil || r.Changed || string(r.Content) != file {
			t.Errorf("finalizing released %s changed the file (%v):\n%s", ver, err, r.Content)
		}
	}
}

// lineOf is the first line of s containing sub.
func lineOf(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}

// lineAfter is the first non-blank line after the first line that starts as l does (up to a link).
func lineAfter(s, l string) string {
	l, _, _ = strings.Cut(l, "(")
	lines := strings.Split(s, "\n")
	for i, x := range lines {
		if !strings.HasPrefix(x, l) {
			continue
		}
		for _, y := range lines[i+1:] {
			if y != "" {
				return y
			}
		}
	}
	return ""
}

// onlyHeadingAndLinks fails unless before and after differ only in the heading line and link
// lines (definitions, and an Unreleased heading's inline link).
func onlyHeadingAndLinks(t *testing.T, before, after, heading string) {
	t.Helper()
	strip := func(s string) []string {
		var out []string
		for _, l := range strings.Split(s, "\n") {
			if linkDefRE.MatchString(l) || strings.Contains(strings.ToLower(l), "unreleased](") {
				continue
			}
			out = append(out, l)
		}
		return out
	}
	b, a := strip(before), strip(after)
	for len(a) > 0 && a[len(a)-1] == "" {
		a = a[:len(a)-1]
	}
	for len(b) > 0 && b[len(b)-1] == "" {
		b = b[:len(b)-1]
	}
	if len(a) != len(b) {
		t.Fatalf("finalize added or removed lines other than links:\n%s\n---\n%s", before, after)
	}
	for i := range a {
		if a[i] != b[i] && b[i] != heading {
			t.Fatalf("finalize changed line %q to %q", b[i], a[i])
		}
	}
}
