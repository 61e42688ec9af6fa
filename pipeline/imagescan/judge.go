package imagescan

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/shipgate/shipgate/pipeline/changelog"
	"github.com/shipgate/shipgate/pipeline/version"
)

// judge decides about file contents, comparing them with the finalized CHANGELOG.
type judge struct {
	v          version.Version
	final      []byte
	finalDate  string
	finalNotes string
	mu         sync.Mutex         // layers are judged concurrently: guards notesOf
	notesOf    map[string]*string // the finalized notes of earlier versions, read on demand
	copies     []copyPattern
	maxSize    int64
}

// verdict is what the content of a file says, wherever it lies; judge.at adds what its path says.
type verdict struct {
	equal  bool // byte-equal to the finalized CHANGELOG
	v      Verdict
	reason string
}

// kinChecks bounds how many releases in common are compared to tell a copy of ours.
const kinChecks = 3

func newJudgeFrom(in Input, copies []copyPattern) (*judge, error) {
	r, err := changelog.Finalize(in.Changelog, in.Version, changelog.Options{})
	if err != nil || r.Changed {
		return nil, badInputf("the finalized CHANGELOG given to the image scan is not finalized for [%s]: pass the CHANGELOG of the finalize commit", in.Version)
	}
	j := &judge{v: in.Version, final: in.Changelog, finalDate: r.Date, finalNotes: r.Notes,
		notesOf: map[string]*string{}, copies: copies, maxSize: DefaultMaxFileSize}
	if in.MaxFileSize > 0 {
		j.maxSize = in.MaxFileSize
	}
	return j, nil
}

// candidate reports whether the file at image path p is read: named like a CHANGELOG, or declared.
func (j *judge) candidate(p string) bool {
	return IsChangelogName(p) || j.declared(p) != ""
}

// declared returns the --changelog-copy path that p is, "" when none.
func (j *judge) declared(p string) string {
	for _, c := range j.copies {
		if c.matches(p) {
			return c.given
		}
	}
	return ""
}

// at is the verdict on the file at p with content verdict c: a declared copy must be the
// finalized CHANGELOG byte for byte.
func (j *judge) at(p string, c verdict) (Verdict, string, bool) {
	given := j.declared(p)
	if given == "" {
		return c.v, c.reason, false
	}
	if c.equal {
		return Passed, c.reason, true
	}
	return Refused, fmt.Sprintf("it is a --changelog-copy (%s) but not the finalized CHANGELOG byte for byte: %s", given, c.reason), true
}

// content judges a file's content (see the package documentation for the rules).
func (j *judge) content(b []byte) verdict {
	if bytes.Equal(b, j.final) {
		return verdict{equal: true, v: Passed, reason: "the finalized CHANGELOG"}
	}
	if bytes.IndexByte(b[:min(len(b), 8000)], 0) >= 0 {
		return verdict{v: Skipped, reason: "binary file, not a CHANGELOG"}
	}
	vs, err := changelog.Versions(b)
	if err != nil {
		return j.unparsed(b, err)
	}
	if !hasVersion(vs, j.v) {
		if k := j.kin(b, vs); k != "" {
			return refusedf("an older copy of this CHANGELOG: no [%s] section, yet its [%s] section is the finalized one's (built from a tree before the finalize commit)", j.v, k)
		}
		return verdict{v: Skipped, reason: fmt.Sprintf("no heading for [%s] and no release in common with the finalized CHANGELOG: another project's CHANGELOG", j.v)}
	}
	if err := changelog.Check(b, j.v); err != nil {
		return j.failedCheck(b, vs, err)
	}
	return j.dated(b, vs)
}

// failedCheck judges a file whose X.Y.Z section fails the TBD rule.
func (j *judge) failedCheck(b []byte, vs []version.Version, err error) verdict {
	if readsTBD(b, err) {
		return refusedf("its [%s] section still reads TBD: %v", j.v, err)
	}
	if k := j.kin(b, vs); k != "" {
		return refusedf("an older copy of this CHANGELOG (its [%s] section is the finalized one's), not finalized for [%s]: %v", k, j.v, err)
	}
	return verdict{v: Skipped, reason: fmt.Sprintf("a [%s] section of another project (no TBD, no release in common): %v", j.v, err)}
}

// dated judges a file whose X.Y.Z section passes the TBD rule: it must be the finalized section.
func (j *judge) dated(b []byte, vs []version.Version) verdict {
	r, err := changelog.Finalize(b, j.v, changelog.Options{})
	if err != nil {
		return j.unparsed(b, err)
	}
	sameDate, sameNotes := r.Date == j.finalDate, r.Notes == j.finalNotes
	if sameDate && sameNotes {
		return verdict{v: Passed, reason: fmt.Sprintf("carries the finalized [%s] section", j.v)}
	}
	what := fmt.Sprintf("its [%s] section is dated %s, the finalized one %s", j.v, r.Date, j.finalDate)
	if sameDate {
		what = fmt.Sprintf("its [%s] notes differ from the finalized ones", j.v)
	}
	if k := j.kin(b, vs); sameDate || sameNotes || k != "" {
		return refusedf("an older copy of this CHANGELOG: %s", what)
	}
	return verdict{v: Skipped, reason: fmt.Sprintf("a [%s] section of another project (other date and notes, no release in common)", j.v)}
}

// unparsed judges a file the changelog package cannot read: only a line naming X.Y.Z that reads
// TBD refuses it.
func (j *judge) unparsed(b []byte, err error) verdict {
	for i, l := range strings.Split(string(b), "\n") {
		if namesVersion(l, j.v.String()) && len(changelog.FindTBD(strings.TrimLeft(l, " \t"))) > 0 {
			return refusedf("line %d names [%s] and still reads TBD (the file is not a CHANGELOG the changelog package reads: %v)", i+1, j.v, err)
		}
	}
	return verdict{v: Skipped, reason: fmt.Sprintf("not a CHANGELOG the changelog package reads, and no line names [%s] with TBD: %v", j.v, err)}
}

// kin returns an earlier release that b shares with the finalized CHANGELOG (same version, same
// non-empty notes), "" when none: such a file is a copy of this project's CHANGELOG.
func (j *judge) kin(b []byte, vs []version.Version) string {
	tried := 0
	for _, v := range vs {
		if tried == kinChecks {
			break
		}
		if v.Equal(j.v) {
			continue
		}
		want := j.finalNotesOf(v)
		if want == "" {
			continue
		}
		tried++
		if got, err := changelog.Extract(b, v); err == nil && got == want {
			return v.String()
		}
	}
	return ""
}

// finalNotesOf returns the finalized CHANGELOG's notes of v, "" when it has none.
func (j *judge) finalNotesOf(v version.Version) string {
	j.mu.Lock()
	defer j.mu.Unlock()
	if n, ok := j.notesOf[v.String()]; ok {
		return *n
	}
	n, _ := changelog.Extract(j.final, v)
	j.notesOf[v.String()] = &n
	return n
}

// readsTBD reports whether a TBD-rule refusal is about the word TBD on one of its lines, rather
// than a missing date or empty notes.
func readsTBD(b []byte, err error) bool {
	var te *changelog.TBDError
	if !errors.As(err, &te) {
		return false
	}
	lines := strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n")
	for _, n := range te.Lines {
		if n >= 1 && n <= len(lines) && len(changelog.FindTBD(strings.TrimLeft(lines[n-1], " \t"))) > 0 {
			return true
		}
	}
	return false
}

// namesVersion reports whether line l holds version s as a whole token (1.2.3, not 11.2.3,
// 1.2.30 or 1.2.3-rc.1).
func namesVersion(l, s string) bool {
	for off := 0; ; {
		k := strings.Index(l[off:], s)
		if k < 0 {
			return false
		}
		k += off
		before, after := byte(' '), l[k+len(s):]
		if k > 0 {
			before = l[k-1]
		}
		if before != '.' && (before < '0' || before > '9') && (after == "" || !isVersionByte(after[0]) && !suffixed(after)) {
			return true
		}
		off = k + 1
	}
}

func isVersionByte(c byte) bool {
	return c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// suffixed reports whether after starts a pre-release or build suffix (-rc.1, +build).
func suffixed(after string) bool {
	return len(after) > 1 && (after[0] == '-' || after[0] == '+') && isVersionByte(after[1]) && after[1] != '.'
}

func hasVersion(vs []version.Version, v version.Version) bool {
	for _, x := range vs {
		if x.Equal(v) {
			return true
		}
	}
	return false
}

func refusedf(format string, args ...any) verdict {
	return verdict{v: Refused, reason: fmt.Sprintf(format, args...)}
}
