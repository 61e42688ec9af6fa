package changelog

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/shipgate/shipgate/pipeline/fault"
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
	// one) used for reference links when the file has none to copy the pattern from. Empty:
	// derived from the existing links, or links are left alone.
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

// Prepare opens a release section: the Unreleased heading becomes v's heading with the date TBD,
// written in the file's style (`## [X.Y.Z] - TBD` in a Keep a Changelog file), under a new, empty
// Unreleased heading spelled as the file spells it. A file that already has a section for v is
// returned unchanged.
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
		return nil, false, fault.BadInputf("CHANGELOG has no Unreleased section and no [%s] section: add `## [Unreleased]` with the changes of this release", v)
	}
	d.openFromUnreleased(u, v, Placeholder)
	return d.bytes(), true, nil
}

// openFromUnreleased turns the Unreleased heading into v's, in the file's style, and puts a
// copy of the Unreleased heading line above it.
func (d *doc) openFromUnreleased(u *section, v version.Version, date string) {
	at := u.start
	st := d.style()
	h := st.heading(v, 0, date)
	if date != Placeholder {
		h.url = d.inlineURL(st, v)
	}
	keep := d.lines[at]
	d.lines[at] = h.String()
	d.lines = insert(d.lines, at, keep, "")
	d.reindex()
}

// inlineURL is v's link in a file whose headings carry inline links, "" otherwise.
func (d *doc) inlineURL(st style, v version.Version) string {
	if st.link == nil {
		return ""
	}
	url, _ := d.build(*st.link, v)
	return url
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
		return "", noSection(v)
	}
	lines, _ := d.body(sec)
	return strings.Join(lines, "\n"), nil
}

func noSection(v version.Version) error {
	return fault.BadInputf("CHANGELOG has no section [%s]: add `## [%s] - TBD` or run prepare", v, v)
}

// Versions lists the versions that have a section, in file order.
func Versions(content []byte) ([]version.Version, error) {
	d, err := parse(content)
	if err != nil {
		return nil, err
	}
	return d.versions(), nil
}

// Check applies the TBD rule to v's section of a CHANGELOG: the heading carries a valid ISO date
// and no TBD anywhere, and the notes are not empty and hold no TBD outside code.
func Check(content []byte, v version.Version) error {
	d, err := parse(content)
	if err != nil {
		return err
	}
	sec := d.find(v)
	if sec == nil {
		return noSection(v)
	}
	return d.check(sec)
}

func (d *doc) check(sec *section) error {
	at := []int{sec.start + 1}
	if date := sec.h.date; !validDate(date) {
		if date == "" {
			date = "no date"
		}
		return refuse(&TBDError{Where: "CHANGELOG", Lines: at, Reason: fmt.Sprintf("heading of [%s] carries %s instead of a release date YYYY-MM-DD: run finalize (publish does it)", sec.version, date)})
	}
	if len(FindTBD(d.lines[sec.start])) > 0 {
		return refuse(&TBDError{Where: "CHANGELOG", Lines: at, Reason: fmt.Sprintf("heading of [%s] still says TBD: remove it from the heading", sec.version)})
	}
	lines, from := d.body(sec)
	if len(lines) == 0 {
		return refuse(&EmptyNotesError{Version: sec.version.String(), Line: sec.start + 1})
	}
	if hits := FindTBD(strings.Join(lines, "\n")); len(hits) > 0 {
		for i := range hits {
			hits[i] += from
		}
		return refuse(&TBDError{Where: "CHANGELOG", Lines: hits, Reason: fmt.Sprintf("notes of [%s] still say TBD: replace it with the real text", sec.version)})
	}
	return nil
}

// CheckNotes applies the TBD rule to release notes as they stand elsewhere (a GitHub release body):
// not empty, no TBD outside code, no code fence left open. Line numbers count within the notes.
func CheckNotes(notes string) error {
	if strings.TrimSpace(notes) == "" {
		return refuse(&EmptyNotesError{})
	}
	if hits := FindTBD(notes); len(hits) > 0 {
		return refuse(&TBDError{Where: "release notes", Lines: hits, Reason: "notes still say TBD: edit the draft release (or the CHANGELOG and re-run publish)"})
	}
	if l := unclosedFence(notes); l > 0 {
		return refuse(&TBDError{Where: "release notes", Lines: []int{l}, Reason: "a code fence is never closed, which hides the text after it: close it (in the CHANGELOG, then re-run publish)"})
	}
	return nil
}

func refuse(err error) error { return fault.AsRefused(err) }

// TBDError is a refusal by the TBD rule, with the 1-based line numbers where it applies. Errors
// returned by this package wrap it in a fault.Refused error: find it with errors.As.
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
		return FinalizedFile{}, fault.BadInputf("changelog path %q must be relative to the source directory", path)
	}
	b, err := os.ReadFile(filepath.Join(dir, path))
	if err != nil {
		if os.IsNotExist(err) {
			return FinalizedFile{}, fault.BadInputf("%s not found in the source directory: create it (Keep a Changelog format) or pass the right --changelog path", path)
		}
		return FinalizedFile{}, fault.AsUnreadable(fmt.Errorf("read %s: %w", path, err))
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
