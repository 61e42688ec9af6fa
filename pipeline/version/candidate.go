package version

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/shipgate/shipgate/pipeline/fault"
)

// CandidateForm is how a project spells the candidate part of a version: "rc.N" (semver,
// 1.2.3-rc.4, the default) or "rcN" (1.2.3-rc4, the form of flows that validate tags with
// ^\d+\.\d+\.\d+(-rc\d+)?$). Both are read everywhere; the form decides what shipgate writes.
type CandidateForm string

// The candidate forms.
const (
	CandidateDotted  CandidateForm = "rc.N"
	CandidateCompact CandidateForm = "rcN"
)

// ParseCandidateForm reads --candidate-form; "" is the default, rc.N.
func ParseCandidateForm(s string) (CandidateForm, error) {
	switch CandidateForm(s) {
	case "", CandidateDotted:
		return CandidateDotted, nil
	case CandidateCompact:
		return CandidateCompact, nil
	}
	return "", fault.BadInputf("--candidate-form %q: use rc.N (1.2.3-rc.4) or rcN (1.2.3-rc4)", s)
}

// MaxCandidate is the highest candidate number shipgate writes or reads.
const MaxCandidate = 999999999

// CandidateNumber is N when v is a release candidate X.Y.Z-rc.N or X.Y.Z-rcN, and false for a
// final version or any other pre-release (1.2.3-beta.1).
func (v Version) CandidateNumber() (int, bool) {
	if v.IsZero() {
		return 0, false
	}
	rest, ok := strings.CutPrefix(v.Prerelease(), "rc")
	if !ok {
		return 0, false
	}
	rest = strings.TrimPrefix(rest, ".")
	if rest == "" || len(rest) > 9 || (len(rest) > 1 && rest[0] == '0') {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 0 || strings.ContainsAny(rest, "+-") {
		return 0, false
	}
	return n, true
}

// IsCandidate reports whether v is a release candidate of its final version (X.Y.Z-rc.N or
// X.Y.Z-rcN).
func (v Version) IsCandidate() bool {
	_, ok := v.CandidateNumber()
	return ok
}

// Final is X.Y.Z of v, with v's tag prefix: 1.2.3 for 1.2.3-rc.4 and for 1.2.3.
func (v Version) Final() Version {
	if v.IsZero() || !v.IsPrerelease() {
		return v
	}
	f, err := parse(fmt.Sprintf("%d.%d.%d", v.Major(), v.Minor(), v.Patch()))
	if err != nil {
		return v // cannot happen: the numbers came from a valid version
	}
	return f.WithTagPrefix(v.prefix)
}

// Candidate is candidate n of v's final version, spelt in form, with v's tag prefix: 1.2.3-rc.4
// or 1.2.3-rc4.
func (v Version) Candidate(n int, form CandidateForm) (Version, error) {
	if v.IsZero() || n < 1 || n > MaxCandidate {
		return Version{}, fault.BadInputf("candidate number %d of %s: candidates are numbered from 1 to %d", n, v, MaxCandidate)
	}
	sep := "."
	if form == CandidateCompact {
		sep = ""
	}
	c, err := Parse(fmt.Sprintf("%s-rc%s%d", v.Final(), sep, n))
	if err != nil {
		return Version{}, err
	}
	return c.WithTagPrefix(v.prefix), nil
}

// ParseGitTag reads a git tag back into its version, keeping its prefix: "v1.2.3", "1.2.3-rc4",
// "app-v1.2.3" (the prefix is everything before the first digit). A tag that is not a prefix
// and a version is BadInput.
func ParseGitTag(tag string) (Version, error) {
	i := strings.IndexAny(tag, "0123456789")
	if i < 0 {
		return Version{}, fault.BadInputf("git tag %q holds no version X.Y.Z", cut(tag, 64))
	}
	v, err := Parse(tag[i:])
	if err != nil {
		return Version{}, err
	}
	return v.WithTagPrefix(tag[:i]), nil
}
