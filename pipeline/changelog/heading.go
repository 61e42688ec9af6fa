package changelog

import (
	"regexp"
	"strings"

	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/version"
)

// heading is one release heading taken apart, so that a heading can be written again in the same
// style. The styles it reads (DATE is YYYY-MM-DD or TBD, or absent):
//
//	## [1.2.3] - DATE                       Keep a Changelog, reference links at the bottom
//	## [1.2.3](URL) - DATE                  Keep a Changelog with an inline link
//	## [1.2.3](URL) (DATE)                  release-please / conventional-changelog (also ### and #)
//	## v1.2.3 - DATE, ## 1.2.3 (DATE)       unbracketed, with or without "v" (changie, ...)
//	## [Unreleased], ## Unreleased          the section of changes not yet released
//
// The separator may be '-', '–' or '—' with any spacing; anything after the date (" [YANKED]") is
// kept as the suffix.
type heading struct {
	level   int    // number of '#'
	bracket bool   // label written as [label]
	label   string // the version as written ("v1.2.3", "1.2.3") or the Unreleased word
	url     string // inline link target, "" when none
	sep     string // between the label (and link) and the date: " - ", " (", "" when no date
	date    string // "2024-05-01", "TBD", "" when none
	close   string // ")" after a date in parentheses
	suffix  string // what follows the date
}

// String writes the heading. It is used only for a heading being opened or dated: every other
// heading keeps its line of the file, byte for byte.
func (h heading) String() string {
	var b strings.Builder
	b.WriteString(strings.Repeat("#", h.level))
	b.WriteByte(' ')
	if h.bracket {
		b.WriteString("[" + h.label + "]")
	} else {
		b.WriteString(h.label)
	}
	if h.url != "" {
		b.WriteString("(" + h.url + ")")
	}
	if h.date != "" {
		b.WriteString(h.sep + h.date + h.close)
		b.WriteString(h.suffix)
	}
	return b.String()
}

// headingKind says what a line is for the section structure.
type headingKind int

const (
	notHeading   headingKind = iota
	otherHeading             // a heading that is neither a release nor Unreleased
	releaseHeading
	unreleasedHeading
)

var (
	atxRE        = regexp.MustCompile(`^ {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t]*$`)
	unreleasedRE = regexp.MustCompile(`(?i)^(\[)?unreleased(\])?(?:\(([^()\s]*)\))?(?:[ \t].*)?$`)
	// A heading looks like a version when it starts with a bracketed or v-prefixed X.Y, or a bare
	// X.Y.Z: "### 2.0 migration" in a section body is prose, not a release.
	versionLikeRE = regexp.MustCompile(`^(?:\[[vV]?[0-9]+\.[0-9]|[vV][0-9]+\.[0-9]|[0-9]+\.[0-9]+\.[0-9])`)
	labelRE       = regexp.MustCompile(`^(\[)?([vV]?[0-9][^\]\s()\[]*)(\])?(?:\(([^()\s]+)\))?(.*)$`)
	sepDateRE     = regexp.MustCompile(`^([ \t]*[-–—][ \t]*)([^\s\[\]()]+)(.*)$`)
	parenDateRE   = regexp.MustCompile(`^([ \t]*\()([^()]*)(\))(.*)$`)
)

// maxReleaseLevel is the deepest heading that can open a release section (### for patch releases
// of release-please files); deeper version-like headings are body text.
const maxReleaseLevel = 3

// classify reads line lineNo (1-based) as a heading. A heading that looks like a release (its text
// starts with a version number) but fits no style is an error naming the line.
func classify(line string, lineNo int) (headingKind, heading, version.Version, error) {
	m := atxRE.FindStringSubmatch(line)
	if m == nil {
		return notHeading, heading{}, version.Version{}, nil
	}
	h := heading{level: len(m[1])}
	text := m[2]
	if h.level > maxReleaseLevel {
		return otherHeading, h, version.Version{}, nil
	}
	if u := unreleasedRE.FindStringSubmatch(text); u != nil && (u[1] == "") == (u[2] == "") && (u[3] == "" || u[1] != "") {
		h.bracket, h.label, h.url = u[1] != "", text[len(u[1]):len(u[1])+len("unreleased")], u[3]
		return unreleasedHeading, h, version.Version{}, nil
	}
	if !versionLikeRE.MatchString(text) {
		return otherHeading, h, version.Version{}, nil
	}
	v, err := h.parseRelease(text)
	if err != nil {
		return notHeading, h, v, fault.BadInputf("CHANGELOG line %d: heading %q looks like a release but fits no supported style (%v): write `## [X.Y.Z] - YYYY-MM-DD`, `## [X.Y.Z](URL) (YYYY-MM-DD)` or `## vX.Y.Z - YYYY-MM-DD` (TBD for the date of an unreleased version)", lineNo, strings.TrimSpace(line), err)
	}
	return releaseHeading, h, v, nil
}

type styleError string

func (e styleError) Error() string { return string(e) }

// parseRelease fills h from the text of a version-like heading.
func (h *heading) parseRelease(text string) (version.Version, error) {
	m := labelRE.FindStringSubmatch(text)
	if m == nil {
		return version.Version{}, styleError("no version label")
	}
	if (m[1] == "") != (m[3] == "") {
		return version.Version{}, styleError("unbalanced brackets")
	}
	if m[4] != "" && m[1] == "" {
		return version.Version{}, styleError("a link needs the version in brackets")
	}
	h.bracket, h.label, h.url = m[1] != "", m[2], m[4]
	v, err := version.Parse(h.label)
	if err != nil {
		return v, err
	}
	rest := m[5]
	switch {
	case rest == "":
	case sepDateRE.MatchString(rest):
		d := sepDateRE.FindStringSubmatch(rest)
		h.sep, h.date, h.suffix = d[1], d[2], d[3]
	case parenDateRE.MatchString(rest):
		d := parenDateRE.FindStringSubmatch(rest)
		h.sep, h.date, h.close, h.suffix = d[1], d[2], d[3], d[4]
	default:
		return v, styleError("no date after the version: expected ` - DATE` or ` (DATE)`")
	}
	if h.date == "" && h.sep != "" {
		return v, styleError("empty date")
	}
	if h.suffix != "" && !strings.HasPrefix(h.suffix, " ") && !strings.HasPrefix(h.suffix, "\t") {
		return v, styleError("text glued to the date")
	}
	return v, nil
}
