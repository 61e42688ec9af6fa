// Package changelog reads and finalizes a Keep a Changelog file (https://keepachangelog.com):
// it turns `## [X.Y.Z] - TBD` (or `## [Unreleased]`) into `## [X.Y.Z] - YYYY-MM-DD`, keeps the
// compare links at the bottom current, extracts one version's notes exactly, and holds the one
// definition of the TBD rule that both publish and promote apply.
//
// Line numbers in errors are 1-based lines of the file. CRLF files stay CRLF, a file without a
// trailing newline keeps none, and text is handled as UTF-8 bytes (non-ASCII passes through).
package changelog

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/shipgate/shipgate/pipeline/version"
)

// doc is a CHANGELOG split into lines, remembering how to write it back.
type doc struct {
	lines       []string
	crlf        bool
	noFinalEOL  bool
	sections    []section
	linkDefs    []linkDef
	trailingDef int // index of the first line of the trailing link-definition block (len(lines) if none)
}

// section is one `## [...]` heading and its body (lines start+1 .. end-1).
type section struct {
	start, end int    // heading line index, index after the last body line
	label      string // "Unreleased" or the version text inside the brackets
	rest       string // what follows the closing bracket, e.g. " - 2024-05-01" or " - TBD"
	unreleased bool
	version    version.Version // zero when the label is not a valid version
}

type linkDef struct {
	line  int
	label string // lower-cased
	url   string
}

var (
	headingRE = regexp.MustCompile(`^##[ \t]+\[([^\]]+)\](.*)$`)
	linkDefRE = regexp.MustCompile(`^ {0,3}\[([^\]]+)\]:[ \t]*(\S+)`)
	fenceRE   = regexp.MustCompile("^ {0,3}(```+|~~~+)")
	dateRE    = regexp.MustCompile(`^[ \t]*[-–—][ \t]*(\S+)`)
)

func parse(content []byte) (*doc, error) {
	s := string(content)
	d := &doc{}
	if strings.Contains(s, "\r\n") {
		d.crlf = true
		s = strings.ReplaceAll(s, "\r\n", "\n")
	}
	if s != "" && !strings.HasSuffix(s, "\n") {
		d.noFinalEOL = true
	} else {
		s = strings.TrimSuffix(s, "\n")
	}
	if s == "" {
		d.lines = nil
	} else {
		d.lines = strings.Split(s, "\n")
	}
	d.index()
	return d, d.checkDuplicates()
}

// index finds sections and link definitions, ignoring headings inside fenced code blocks. A
// section ends at the next level-1 or level-2 heading, at the trailing block of link definitions,
// or at the end of the file.
func (d *doc) index() {
	d.sections, d.linkDefs = nil, nil
	var boundaries []int
	var fence string
	for i, l := range d.lines {
		if m := fenceRE.FindStringSubmatch(l); m != nil {
			if fence == "" {
				fence = m[1]
			} else if m[1][0] == fence[0] && len(m[1]) >= len(fence) && strings.Trim(strings.TrimSpace(l), string(fence[0])) == "" {
				fence = ""
			}
			continue
		}
		if fence != "" {
			continue
		}
		if m := headingRE.FindStringSubmatch(l); m != nil {
			boundaries = append(boundaries, i)
			sec := section{start: i, label: strings.TrimSpace(m[1]), rest: m[2]}
			if strings.EqualFold(sec.label, "unreleased") {
				sec.unreleased = true
			} else if v, err := version.Parse(sec.label); err == nil {
				sec.version = v
			}
			d.sections = append(d.sections, sec)
			continue
		}
		if strings.HasPrefix(l, "## ") || strings.HasPrefix(l, "# ") || l == "#" || l == "##" {
			boundaries = append(boundaries, i)
			continue
		}
		if m := linkDefRE.FindStringSubmatch(l); m != nil {
			d.linkDefs = append(d.linkDefs, linkDef{line: i, label: strings.ToLower(strings.TrimSpace(m[1])), url: m[2]})
		}
	}
	// The trailing block of link definitions (and blank lines between them) belongs to no section.
	d.trailingDef = len(d.lines)
	for j := len(d.lines) - 1; j >= 0; j-- {
		l := d.lines[j]
		if linkDefRE.MatchString(l) {
			d.trailingDef = j
			continue
		}
		if strings.TrimSpace(l) == "" {
			continue
		}
		break
	}
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
}

func (d *doc) checkDuplicates() error {
	seen := map[string]int{}
	for _, s := range d.sections {
		key := strings.ToLower(s.label)
		if !s.version.IsZero() {
			key = s.version.String()
		}
		if first, ok := seen[key]; ok {
			return fmt.Errorf("CHANGELOG has two sections for [%s], at lines %d and %d: merge them into one", s.label, first+1, s.start+1)
		}
		seen[key] = s.start
	}
	return nil
}

func (d *doc) find(v version.Version) *section {
	for i := range d.sections {
		if !d.sections[i].version.IsZero() && d.sections[i].version.Equal(v) {
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

func (d *doc) bytes() []byte {
	eol := "\n"
	if d.crlf {
		eol = "\r\n"
	}
	s := strings.Join(d.lines, eol)
	if !d.noFinalEOL && len(d.lines) > 0 {
		s += eol
	}
	return []byte(s)
}

// body returns a section's body with surrounding blank lines removed, and the line index of its
// first kept line.
func (d *doc) body(s *section) ([]string, int) {
	from, to := s.start+1, s.end
	for from < to && strings.TrimSpace(d.lines[from]) == "" {
		from++
	}
	for to > from && strings.TrimSpace(d.lines[to-1]) == "" {
		to--
	}
	return d.lines[from:to], from
}

// headingDate returns the date text after the brackets ("2024-05-01", "TBD", "" when none).
func headingDate(rest string) string {
	if m := dateRE.FindStringSubmatch(rest); m != nil {
		return m[1]
	}
	return ""
}
