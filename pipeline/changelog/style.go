package changelog

import (
	"regexp"
	"sort"
	"strings"

	"github.com/shipgate/shipgate/pipeline/version"
)

// style is how a file writes its release headings, inferred from the released (dated) ones: the
// newest released heading decides the bracket, the "v", the separator and the date form; the
// newest released patch and non-patch headings decide the level (release-please used ### for
// patch releases); the newest released heading with a usable inline link decides the link.
type style struct {
	level, patchLevel int
	bracket, vprefix  bool
	sep, close        string
	inline            bool         // the newest released heading has an inline link
	link              *urlTemplate // how to build it; nil when it cannot be built
}

// defaultStyle is Keep a Changelog: `## [X.Y.Z] - YYYY-MM-DD`, reference links.
func defaultStyle() style {
	return style{level: 2, patchLevel: 2, bracket: true, sep: " - "}
}

// released returns the sections with a valid date, highest version first.
func (d *doc) released() []*section {
	var out []*section
	for i := range d.sections {
		s := &d.sections[i]
		if !s.unreleased && validDate(s.h.date) {
			out = append(out, s)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[j].version.Less(out[i].version) })
	return out
}

func (d *doc) style() style {
	rel := d.released()
	if len(rel) == 0 {
		return defaultStyle()
	}
	st := styleOf(rel[0].h)
	st.level = levelOf(rel, false, rel[0].h.level)
	st.patchLevel = levelOf(rel, true, rel[0].h.level)
	if st.inline {
		for _, s := range rel {
			if s.h.url == "" {
				continue
			}
			if t, ok := d.templateOf(s.h.url, s.version); ok {
				st.link = &t
				break
			}
		}
	}
	return st
}

// styleOf is the style of one heading (its link aside).
func styleOf(h heading) style {
	st := defaultStyle()
	st.level, st.patchLevel, st.bracket = h.level, h.level, h.bracket
	st.vprefix = strings.HasPrefix(h.label, "v") || strings.HasPrefix(h.label, "V")
	if h.sep != "" {
		st.sep, st.close = h.sep, h.close
	}
	st.inline = h.url != ""
	return st
}

// levelOf is the level of the newest released heading of a patch (or non-patch) release.
func levelOf(rel []*section, patch bool, def int) int {
	for _, s := range rel {
		if (s.version.Patch() != 0) == patch {
			return s.h.level
		}
	}
	return def
}

// label writes v the way the style does.
func (st style) label(v version.Version) string {
	if st.vprefix {
		return "v" + v.String()
	}
	return v.String()
}

// heading builds the heading of v in this style; level 0 picks the style's level for v.
func (st style) heading(v version.Version, level int, date string) heading {
	if level == 0 {
		level = st.level
		if v.Patch() != 0 {
			level = st.patchLevel
		}
	}
	return heading{level: level, bracket: st.bracket, label: st.label(v), sep: st.sep, date: date, close: st.close}
}

// urlTemplate is a link with the version (and the previous version) taken out: the URL pattern
// of a file, a release tag (…/releases/tag/v{V}) or a compare range (…/compare/v{P}...v{V}).
type urlTemplate struct {
	text    string // with vMark and pMark
	anyPrev bool   // {P} is the version right below, pre-releases included
}

const (
	vMark = "\x00V\x00"
	pMark = "\x00P\x00"
)

var (
	semverRE  = regexp.MustCompile(`[0-9]+\.[0-9]+\.[0-9]+(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?`)
	compareRE = regexp.MustCompile(`^(.*)/compare/(.*)` + pMark + `(.*?)\.\.\.?(.*)` + vMark + `(.*)$`)
)

// templateOf takes v (and the previous version of the file) out of url. It fails when v is not in
// it or another version is left.
func (d *doc) templateOf(url string, v version.Version) (urlTemplate, bool) {
	t := replaceVersion(url, v.String(), vMark)
	if t == url {
		return urlTemplate{}, false
	}
	left := semverRE.FindAllString(t, -1)
	if len(left) == 0 {
		return urlTemplate{text: t}, true
	}
	if len(left) > 1 {
		return urlTemplate{}, false
	}
	for _, anyPrev := range []bool{false, true} {
		if p := d.prevOf(v, anyPrev); !p.IsZero() && left[0] == p.String() {
			return urlTemplate{text: replaceVersion(t, p.String(), pMark), anyPrev: anyPrev}, true
		}
	}
	return urlTemplate{}, false
}

// build writes the link of v. With no previous version a compare range becomes the release tag.
func (d *doc) build(t urlTemplate, v version.Version) (string, bool) {
	s := t.text
	if strings.Contains(s, pMark) {
		p := d.prevOf(v, t.anyPrev)
		if p.IsZero() {
			m := compareRE.FindStringSubmatch(s)
			if m == nil {
				return "", false
			}
			s = m[1] + "/releases/tag/" + m[4] + vMark + m[5]
		} else {
			s = strings.ReplaceAll(s, pMark, p.String())
		}
	}
	return strings.ReplaceAll(s, vMark, v.String()), true
}

// prevOf is the highest version of the file below v; with anyPrev false a release skips
// pre-releases (1.1.0 compares with 1.0.0, not 1.1.0-rc.1).
func (d *doc) prevOf(v version.Version, anyPrev bool) version.Version {
	var prev version.Version
	for _, o := range d.versions() {
		if !o.Less(v) || (!anyPrev && o.IsPrerelease() && !v.IsPrerelease()) {
			continue
		}
		if prev.IsZero() || prev.Less(o) {
			prev = o
		}
	}
	return prev
}

// replaceVersion replaces each occurrence of the version s in url that stands alone (not part of
// a longer number or pre-release) with mark.
func replaceVersion(url, s, mark string) string {
	var b strings.Builder
	for i := 0; i < len(url); {
		if strings.HasPrefix(url[i:], s) && standsAlone(url, i, i+len(s)) {
			b.WriteString(mark)
			i += len(s)
			continue
		}
		b.WriteByte(url[i])
		i++
	}
	return b.String()
}

func standsAlone(s string, from, to int) bool {
	if from > 0 && (isDigit(s[from-1]) || s[from-1] == '.') {
		return false
	}
	if to < len(s) {
		c := s[to]
		if alnum(c) {
			return false
		}
		if (c == '.' || c == '-') && to+1 < len(s) && alnum(s[to+1]) {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
