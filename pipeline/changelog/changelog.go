package changelog

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/shipgate/shipgate/pipeline/version"
)

// DefaultPath is where the CHANGELOG lives in a source tree unless told otherwise.
const DefaultPath = "CHANGELOG.md"

// Placeholder is the date a release section carries until it is finalized.
const Placeholder = "TBD"

// Options shape Finalize.
type Options struct {
	// Now is today's date source; only its UTC date is used. Zero means time.Now().
	Now time.Time
	// Date, when set, is the release date the caller insists on; a section already finalized with a
	// different date is then an error. Zero means "today, unless the section already has a date".
	Date time.Time
	// RepoURL is the repository's web URL (https://github.com/acme/app, or a GitHub Enterprise
	// one) used for compare links. Empty: derived from the existing links, or links are left alone.
	RepoURL string
}

// Result is what Finalize produced.
type Result struct {
	Content []byte // the finalized file
	Notes   string // the version's notes, as Extract returns them
	Date    string // the release date on the heading, YYYY-MM-DD
	Changed bool   // whether Content differs from the input
	Line    int    // the heading's line number
}

// Prepare opens a release section: `## [Unreleased]` becomes `## [X.Y.Z] - TBD` under a new, empty
// `## [Unreleased]`. A file that already has a section for X.Y.Z is returned unchanged.
func Prepare(content []byte, v version.Version) ([]byte, bool, error) {
	d, err := parse(content)
	if err != nil {
		return nil, false, err
	}
	if d.find(v) != nil {
		return content, false, nil
	}
	u := d.unreleased()
	if u == nil {
		return nil, false, fmt.Errorf("CHANGELOG has no [Unreleased] section and no [%s] section: add `## [Unreleased]` with the changes of this release", v)
	}
	d.openFromUnreleased(u, v, Placeholder)
	return d.bytes(), true, nil
}

// openFromUnreleased renames the Unreleased heading to the version and puts a fresh, empty
// Unreleased heading above it.
func (d *doc) openFromUnreleased(u *section, v version.Version, date string) {
	at := u.start
	d.lines[at] = fmt.Sprintf("## [%s] - %s", v, date)
	d.lines = insert(d.lines, at, "## [Unreleased]", "")
	d.index()
}

// Finalize dates the section of v: `## [X.Y.Z] - TBD` (or a heading with no date) gets today's
// UTC date; with no section for v, `## [Unreleased]` becomes v's section under a new, empty
// `## [Unreleased]`. It updates or adds the compare links at the bottom. Re-finalizing keeps the
// date already there, so a re-run after midnight gives the same file; only an explicit, different
// Options.Date is an error. The notes are checked by the TBD rule.
func Finalize(content []byte, v version.Version, o Options) (Result, error) {
	d, err := parse(content)
	if err != nil {
		return Result{}, err
	}
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	today := now.UTC().Format(isoDate)
	want := ""
	if !o.Date.IsZero() {
		want = o.Date.UTC().Format(isoDate)
	}

	sec := d.find(v)
	if sec == nil {
		u := d.unreleased()
		if u == nil {
			return Result{}, fmt.Errorf("CHANGELOG has no [%s] section and no [Unreleased] section: add `## [%s] - TBD` with this release's notes", v, v)
		}
		date := today
		if want != "" {
			date = want
		}
		d.openFromUnreleased(u, v, date)
		sec = d.find(v)
	} else {
		cur := headingDate(sec.rest)
		switch {
		case cur == "" || cur == Placeholder:
			date := today
			if want != "" {
				date = want
			}
			d.lines[sec.start] = fmt.Sprintf("## [%s] - %s%s", sec.label, date, afterDate(sec.rest))
		case validDate(cur):
			if want != "" && cur != want {
				return Result{}, fmt.Errorf("CHANGELOG line %d: [%s] is already dated %s, not %s: fix the date by hand or drop the explicit date", sec.start+1, v, cur, want)
			}
		default:
			return Result{}, fmt.Errorf("CHANGELOG line %d: [%s] has date %q, which is neither TBD nor YYYY-MM-DD: write `## [%s] - TBD`", sec.start+1, v, cur, v)
		}
		d.index()
		sec = d.find(v)
	}
	d.updateLinks(v, o.RepoURL)
	sec = d.find(v)
	body, _ := d.body(sec)
	notes := strings.Join(body, "\n")
	out := d.bytes()
	res := Result{Content: out, Notes: notes, Date: headingDate(sec.rest), Changed: string(out) != string(content), Line: sec.start + 1}
	if err := d.check(sec); err != nil {
		return res, err
	}
	return res, nil
}

// afterDate keeps what followed a TBD placeholder on the heading (e.g. " [YANKED]").
func afterDate(rest string) string {
	loc := dateRE.FindStringSubmatchIndex(rest)
	if loc == nil {
		return ""
	}
	return rest[loc[1]:]
}

// Extract returns the notes of v: the section's body without its heading, without surrounding
// blank lines and without the link-reference definitions at the end of the file. Line endings are
// "\n".
func Extract(content []byte, v version.Version) (string, error) {
	d, err := parse(content)
	if err != nil {
		return "", err
	}
	sec := d.find(v)
	if sec == nil {
		return "", fmt.Errorf("CHANGELOG has no section [%s]: add `## [%s] - TBD` or run prepare", v, v)
	}
	lines, _ := d.body(sec)
	return strings.Join(lines, "\n"), nil
}

// Versions lists the versions that have a section, in file order.
func Versions(content []byte) ([]version.Version, error) {
	d, err := parse(content)
	if err != nil {
		return nil, err
	}
	var vs []version.Version
	for _, s := range d.sections {
		if !s.version.IsZero() {
			vs = append(vs, s.version)
		}
	}
	return vs, nil
}

// Check applies the TBD rule to v's section of a CHANGELOG: the heading carries a valid ISO date
// and the notes are not empty and hold no TBD outside code.
func Check(content []byte, v version.Version) error {
	d, err := parse(content)
	if err != nil {
		return err
	}
	sec := d.find(v)
	if sec == nil {
		return fmt.Errorf("CHANGELOG has no section [%s]: add `## [%s] - TBD` or run prepare", v, v)
	}
	return d.check(sec)
}

func (d *doc) check(sec *section) error {
	date := headingDate(sec.rest)
	if !validDate(date) {
		shown := date
		if shown == "" {
			shown = "no date"
		}
		return &TBDError{Where: "CHANGELOG", Lines: []int{sec.start + 1}, Reason: fmt.Sprintf("heading of [%s] carries %s instead of a release date YYYY-MM-DD: run finalize (publish does it)", sec.label, shown)}
	}
	lines, from := d.body(sec)
	if len(lines) == 0 {
		return &EmptyNotesError{Version: sec.label, Line: sec.start + 1}
	}
	if hits := FindTBD(strings.Join(lines, "\n")); len(hits) > 0 {
		for i := range hits {
			hits[i] += from
		}
		return &TBDError{Where: "CHANGELOG", Lines: hits, Reason: fmt.Sprintf("notes of [%s] still say TBD: replace it with the real text", sec.label)}
	}
	return nil
}

// CheckNotes applies the TBD rule to release notes as they stand elsewhere (a GitHub release body):
// not empty, no TBD outside code. Line numbers count within the notes.
func CheckNotes(notes string) error {
	if strings.TrimSpace(notes) == "" {
		return &EmptyNotesError{}
	}
	if hits := FindTBD(notes); len(hits) > 0 {
		return &TBDError{Where: "release notes", Lines: hits, Reason: "notes still say TBD: edit the draft release (or the CHANGELOG and re-run publish)"}
	}
	return nil
}

// TBDError is a refusal by the TBD rule, with the 1-based line numbers where it applies.
type TBDError struct {
	Where  string
	Lines  []int
	Reason string
}

func (e *TBDError) Error() string {
	var ls []string
	for _, l := range e.Lines {
		ls = append(ls, fmt.Sprint(l))
	}
	word := "line"
	if len(ls) > 1 {
		word = "lines"
	}
	return fmt.Sprintf("%s %s %s: %s", e.Where, word, strings.Join(ls, ", "), e.Reason)
}

// EmptyNotesError means a release has nothing to say.
type EmptyNotesError struct {
	Version string
	Line    int
}

func (e *EmptyNotesError) Error() string {
	if e.Line == 0 {
		return "release notes are empty: write what changed"
	}
	return fmt.Sprintf("CHANGELOG line %d: section [%s] has no notes: write what changed under the heading", e.Line, e.Version)
}

const isoDate = "2006-01-02"

var isoRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

func validDate(s string) bool {
	if !isoRE.MatchString(s) {
		return false
	}
	_, err := time.Parse(isoDate, s)
	return err == nil
}

// FinalizedFile is the CHANGELOG of a source directory after Finalize.
type FinalizedFile struct {
	Path string // relative to the source directory
	Result
}

// FinalizeDir reads path (DefaultPath when empty) under dir, finalizes v and returns the content
// and notes without writing anything: the caller decides where the finalized file goes (the
// commit and the tree that is built).
func FinalizeDir(dir, path string, v version.Version, o Options) (FinalizedFile, error) {
	if path == "" {
		path = DefaultPath
	}
	if filepath.IsAbs(path) || strings.HasPrefix(filepath.Clean(path), "..") {
		return FinalizedFile{}, fmt.Errorf("changelog path %q must be relative to the source directory", path)
	}
	b, err := os.ReadFile(filepath.Join(dir, path))
	if err != nil {
		if os.IsNotExist(err) {
			return FinalizedFile{}, fmt.Errorf("%s not found in the source directory: create it (Keep a Changelog format) or pass the right --changelog path", path)
		}
		return FinalizedFile{}, fmt.Errorf("read %s: %w", path, err)
	}
	r, err := Finalize(b, v, o)
	return FinalizedFile{Path: path, Result: r}, err
}

func insert(lines []string, at int, add ...string) []string {
	out := make([]string, 0, len(lines)+len(add))
	out = append(out, lines[:at]...)
	out = append(out, add...)
	return append(out, lines[at:]...)
}
