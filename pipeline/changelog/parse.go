// Package changelog reads and finalizes a CHANGELOG in any of the common styles (Keep a Changelog
// with reference or inline links, release-please / conventional-changelog, unbracketed and
// v-prefixed headings: see heading): it turns the version's TBD (or the Unreleased section) into
// today's date in the file's own style, keeps the links current, extracts one version's notes
// exactly, and holds the one definition of the TBD rule that both publish and promote apply. A
// section that already has a date is never rewritten.
//
// Line numbers in errors are 1-based lines of the file. CRLF files stay CRLF, a file without a
// trailing newline keeps none, and text is handled as UTF-8 bytes (non-ASCII passes through).
package changelog

import (
	"regexp"
	"strings"

	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/version"
)

// doc is a CHANGELOG split into lines, remembering how to write it back.
type doc struct {
	lines       []string
	bom         bool
	crlf        bool
	noFinalEOL  bool
	sections    []section
	linkDefs    []linkDef
	trailingDef int // index of the first line of the trailing link-definition block (len(lines) if none)
}

// section is one release or Unreleased heading and its body (lines start+1 .. end-1).
type section struct {
	start, end int // heading line index, index after the last body line
	h          heading
	unreleased bool
	version    version.Version // zero for Unreleased
}

type linkDef struct {
	line  int
	label string // lower-cased
	url   string
}

var (
	linkDefRE = regexp.MustCompile(`^ {0,3}\[([^\]]+)\]:[ \t]*(\S+)`)
	fenceRE   = regexp.MustCompile("^ {0,3}(```+|~~~+)")
	anchorRE  = regexp.MustCompile(`^\s*<a (?:name|id)="[^"]*">\s*</a>\s*$`)
)

func parse(content []byte) (*doc, error) {
	s := string(content)
	d := &doc{}
	if rest, ok := strings.CutPrefix(s, "\ufeff"); ok {
		d.bom, s = true, rest
	}
	// CRLF when most line endings are: a stray \r in an LF file stays as it is, so finalizing
	// twice gives the same bytes.
	if crlf := strings.Count(s, "\r\n"); crlf > 0 && 2*crlf > strings.Count(s, "\n") {
		d.crlf = true
		s = strings.ReplaceAll(s, "\r\n", "\n")
	}
	if s != "" && !strings.HasSuffix(s, "\n") {
		d.noFinalEOL = true
	} else {
		s = strings.TrimSuffix(s, "\n")
	}
	if s != "" {
		d.lines = strings.Split(s, "\n")
	}
	if err := d.index(); err != nil {
		return nil, err
	}
	return d, d.checkDuplicates()
}

// fenceTracker follows fenced code blocks line by line.
type fenceTracker struct {
	open string // the opening run (``` or ~~~~), "" outside a fence
	line int    // index of the opening line
}

// step reports whether line i is part of a fence (its opening, body or closing line).
func (f *fenceTracker) step(l string, i int) bool {
	m := fenceRE.FindStringSubmatch(l)
	switch {
	case m == nil:
		return f.open != ""
	case f.open == "":
		f.open, f.line = m[1], i
	case m[1][0] == f.open[0] && len(m[1]) >= len(f.open) && strings.Trim(strings.TrimSpace(l), string(f.open[0])) == "":
		f.open = ""
	}
	return true
}

// index finds sections and link definitions, ignoring headings inside fenced code blocks. A
// section ends at the next release or Unreleased heading, at the next other level-1 or level-2
// heading, at the trailing block of link definitions, or at the end of the file. A fence left open
// would hide every heading after it, so it is an error.
func (d *doc) index() error {
	d.sections, d.linkDefs = nil, nil
	var boundaries []int
	var fence fenceTracker
	for i, l := range d.lines {
		if fence.step(l, i) {
			continue
		}
		kind, h, v, err := classify(l, i+1)
		if err != nil {
			return err
		}
		switch {
		case kind == releaseHeading || kind == unreleasedHeading:
			boundaries = append(boundaries, i)
			d.sections = append(d.sections, section{start: i, h: h, unreleased: kind == unreleasedHeading, version: v})
		case kind == otherHeading && h.level <= 2:
			boundaries = append(boundaries, i)
		case kind == notHeading:
			if m := linkDefRE.FindStringSubmatch(l); m != nil {
				d.linkDefs = append(d.linkDefs, linkDef{line: i, label: strings.ToLower(strings.TrimSpace(m[1])), url: m[2]})
			}
		}
	}
	if fence.open != "" {
		return fault.BadInputf("CHANGELOG line %d: code fence %s is never closed, so it would hide every heading and TBD after it: close it with a line %s", fence.line+1, fence.open, fence.open)
	}
	d.trailingDef = d.trailingDefs()
	for k := range d.sections {
		end := len(d.lines)
		for _, b := range boundaries {
			if b > d.sections[k].start {
				end = b
				break
			}
		}
		if d.trailingDef > d.sections[k].start && d.trailingDef < end {
			end = d.trailingDef
		}
		d.sections[k].end = end
	}
	return nil
}

// trailingDefs finds the trailing block of link definitions (and blank lines between them), which
// belongs to no section.
func (d *doc) trailingDefs() int {
	at := len(d.lines)
	for j := len(d.lines) - 1; j >= 0; j-- {
		l := d.lines[j]
		if linkDefRE.MatchString(l) {
			at = j
			continue
		}
		if strings.TrimSpace(l) == "" {
			continue
		}
		break
	}
	return at
}

func (d *doc) checkDuplicates() error {
	seen := map[string]int{}
	for _, s := range d.sections {
		key := "unreleased"
		if !s.unreleased {
			key = s.version.String()
		}
		if first, ok := seen[key]; ok {
			return fault.BadInputf("CHANGELOG has two sections for [%s], at lines %d and %d: merge them into one", s.h.label, first+1, s.start+1)
		}
		seen[key] = s.start
	}
	return nil
}

func (d *doc) find(v version.Version) *section {
	for i := range d.sections {
		if !d.sections[i].unreleased && d.sections[i].version.Equal(v) {
			return &d.sections[i]
		}
	}
	return nil
}

func (d *doc) unreleased() *section {
	for i := range d.sections {
		if d.sections[i].unreleased {
			return &d.sections[i]
		}
	}
	return nil
}

// versions lists the versions that have a section, in file order.
func (d *doc) versions() []version.Version {
	var vs []version.Version
	for _, s := range d.sections {
		if !s.unreleased {
			vs = append(vs, s.version)
		}
	}
	return vs
}

func (d *doc) bytes() []byte {
	eol := "\n"
	if d.crlf {
		eol = "\r\n"
	}
	s := strings.Join(d.lines, eol)
	if !d.noFinalEOL && len(d.lines) > 0 {
		s += eol
	}
	if d.bom {
		s = "\ufeff" + s
	}
	return []byte(s)
}

// body returns a section's body without surrounding blank lines and without a trailing HTML anchor
// (conventional-changelog puts `<a name="X.Y.Z"></a>` above the next heading), and the line index
// of its first kept line.
func (d *doc) body(s *section) ([]string, int) {
	from, to := s.start+1, s.end
	for from < to && strings.TrimSpace(d.lines[from]) == "" {
		from++
	}
	for to > from && (strings.TrimSpace(d.lines[to-1]) == "" || anchorRE.MatchString(d.lines[to-1])) {
		to--
	}
	return d.lines[from:to], from
}
