// Package imagescan refuses a platform image that would ship a CHANGELOG other than the finalized
// one: the founding bug of shipgate was a release whose image carried `## [X.Y.Z] - TBD` because
// the Dockerfile copied the CHANGELOG from a tree built before the finalize commit.
//
// Scan reads the image's filesystem once, after the build and before the push: each layer is
// streamed once (several at a time, one per CPU, since inflating is nearly all the cost) into a
// delta that is applied bottom to top, as the layers stack. A compressed layer must be inflated
// whole to be walked; an uncompressed one whose blob is a file (an OCI archive exported without
// compression, opened with OpenOCIArchive) is walked without reading the bodies of the files the
// scan does not judge, which makes the scan of such an archive far cheaper than the push.
// Whiteouts (.wh.<name> files and .wh..wh..opq opaque directories) and replacements are honoured,
// so only files that exist in the final filesystem count. It reads every file named like a CHANGELOG (see IsChangelogName)
// in any directory, and every declared copy (--changelog-copy), and judges each one against the
// finalized CHANGELOG with the changelog package (Check, Finalize, Extract, FindTBD):
//
//   - byte-equal to the finalized CHANGELOG: passed;
//   - a declared copy that differs: refused (a copy must be the finalized file, byte for byte);
//   - a section for X.Y.Z that still reads TBD: refused, whatever the file;
//   - a file that is a copy of this project's CHANGELOG — it shares an earlier release with the
//     finalized one (same version, same notes), or its X.Y.Z section has the finalized date or
//     notes — but lacks the finalized X.Y.Z section (no such section, no date, another date,
//     other notes): refused as an older copy;
//   - the finalized X.Y.Z section (date and notes) in a file that otherwise differs: passed;
//   - anything else: skipped, and listed with the reason. That is a vendored dependency's
//     CHANGELOG (no X.Y.Z heading, or an X.Y.Z of its own with another date and notes, and no
//     release in common), a file the changelog package cannot read (unless a line names X.Y.Z
//     and reads TBD: refused), a binary file, or one over the size cap.
//
// Memory does not grow with layer bytes: layers are never buffered; of each layer being read, one
// matching file at a time is (up to Input.MaxFileSize), and only its verdict is kept, with an
// 8-byte hash per path the layer writes (to apply replacements in order). Symbolic links named
// like a CHANGELOG are resolved inside the image (an absolute target or a ".." that climbs past /
// stays at the image's root; nothing outside the image is ever read); hard links share their
// target's verdict. A link to a file that is not named like a CHANGELOG is not followed into
// content the scan did not read: it is skipped, or refused when it is a declared copy.
//
// Every refusal is a fault.Refused error naming the file, the platform and the digest of the layer
// that holds it, and says what to do: the Dockerfile copies a stale CHANGELOG, so rebuild the image
// from the finalize commit.
package imagescan

import (
	"context"
	"fmt"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/shipgate/shipgate/pipeline/changelog"
	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/version"
)

// DefaultMaxFileSize is the largest file the scan reads into memory to judge it (8 MiB). A larger
// file named like a CHANGELOG is skipped (and a larger declared copy refused).
const DefaultMaxFileSize = 8 << 20

// Input is what Scan checks: one platform image against the finalized CHANGELOG of the release.
type Input struct {
	// Image is the platform image as built, before it is pushed.
	Image v1.Image
	// Platform is the image's platform; it is named in every finding.
	Platform version.Platform
	// Version is the release X.Y.Z.
	Version version.Version
	// Changelog is the finalized CHANGELOG, as committed in the finalize commit.
	Changelog []byte
	// Copies are the --changelog-copy paths: each must be the finalized CHANGELOG byte for byte
	// wherever the image holds it (see the package documentation for how paths match).
	Copies []string
	// FinalizeCommit, when known, is named in the advice of a refusal.
	FinalizeCommit string
	// MaxFileSize overrides DefaultMaxFileSize when positive.
	MaxFileSize int64
}

// Verdict is what the scan decided about one file.
type Verdict int

const (
	// Passed: the file is the finalized CHANGELOG, or carries the finalized X.Y.Z section.
	Passed Verdict = iota
	// Skipped: the file is not a copy of this project's CHANGELOG (or could not be judged and is
	// not a declared copy); Reason says why.
	Skipped
	// Refused: the file would ship a TBD or an older CHANGELOG; Reason says what is wrong.
	Refused
)

// String names the verdict as reports print it.
func (v Verdict) String() string {
	switch v {
	case Passed:
		return "passed"
	case Skipped:
		return "skipped"
	}
	return "refused"
}

// File is one file the scan judged, as it exists in the image's final filesystem.
type File struct {
	Path     string  // absolute path in the image (for a link, the link itself)
	Target   string  // for a symbolic or hard link: the path whose content was judged
	Layer    v1.Hash // digest of the layer that holds the judged content
	Size     int64   // size of the judged content in bytes
	Declared bool    // the path is a --changelog-copy
	Verdict  Verdict
	Reason   string
}

// Result is what Scan found in one platform image.
type Result struct {
	Platform version.Platform
	Files    []File   // every file judged, sorted by path
	Absent   []string // declared copies the image does not hold (not an error: it may not copy them)
	Layers   int      // layers read
	Bytes    int64    // uncompressed layer bytes walked (read, or skipped in a plain tar file)
}

// Count returns how many files got verdict v.
func (r Result) Count(v Verdict) int {
	n := 0
	for _, f := range r.Files {
		if f.Verdict == v {
			n++
		}
	}
	return n
}

// String sums the result up in one line, as a step's detail: "linux/amd64: 2 CHANGELOG file(s)
// passed, 1 skipped, 0 refused (8 layers, 1073 MB read)".
func (r Result) String() string {
	s := fmt.Sprintf("%s: %d CHANGELOG file(s) passed, %d skipped, %d refused (%d layers, %d MB read)",
		r.Platform, r.Count(Passed), r.Count(Skipped), r.Count(Refused), r.Layers, r.Bytes/1e6)
	if len(r.Absent) > 0 {
		s += fmt.Sprintf("; not in the image: %s", strings.Join(r.Absent, ", "))
	}
	return s
}

// Scan reads in.Image once and judges every CHANGELOG-like file and declared copy in its final
// filesystem. It returns the result and, when any file is refused, a fault.Refused error wrapping
// a *StaleError. A finalized CHANGELOG that itself fails the TBD rule, or a bad copy path, is
// fault.BadInput; a layer that cannot be read is fault.Unreadable.
func Scan(ctx context.Context, in Input) (Result, error) {
	res := Result{Platform: in.Platform}
	j, err := newJudge(in)
	if err != nil {
		return res, err
	}
	st := newFS(j)
	if err := st.readImage(ctx, in.Image, &res); err != nil {
		return res, err
	}
	res.Files, res.Absent = st.files(), st.absent()
	sort.Slice(res.Files, func(a, b int) bool { return res.Files[a].Path < res.Files[b].Path })
	var refused []File
	for _, f := range res.Files {
		if f.Verdict == Refused {
			refused = append(refused, f)
		}
	}
	if len(refused) > 0 {
		return res, fault.AsRefused(&StaleError{Platform: in.Platform.String(), Version: in.Version.String(), FinalizeCommit: in.FinalizeCommit, Files: refused})
	}
	return res, nil
}

// newJudge validates the input and prepares the finalized CHANGELOG for comparison.
func newJudge(in Input) (*judge, error) {
	if in.Image == nil {
		return nil, badInputf("no image to scan")
	}
	if in.Version.IsZero() {
		return nil, badInputf("no release version to scan for")
	}
	copies, err := newCopyPatterns(in.Copies)
	if err != nil {
		return nil, err
	}
	if err := changelog.Check(in.Changelog, in.Version); err != nil {
		return nil, fault.BadInputf("the finalized CHANGELOG given to the image scan fails the TBD rule (%v): pass the CHANGELOG of the finalize commit", err)
	}
	return newJudgeFrom(in, copies)
}

// StaleError lists the files of one platform image that would ship a TBD or an older CHANGELOG.
// Scan wraps it in a fault.Refused error: find it with errors.As.
type StaleError struct {
	Platform       string
	Version        string
	FinalizeCommit string
	Files          []File // the refused files
}

func (e *StaleError) Error() string {
	msg := fmt.Sprintf("image %s would ship %d CHANGELOG file(s) that are not the finalized [%s]:", e.Platform, len(e.Files), e.Version)
	for _, f := range e.Files {
		where := f.Path
		if f.Target != "" {
			where += " -> " + f.Target
		}
		msg += fmt.Sprintf("\n  %s (platform %s, layer %s): %s", where, e.Platform, f.Layer, f.Reason)
	}
	from := "the finalize commit"
	if e.FinalizeCommit != "" {
		from += " " + e.FinalizeCommit
	}
	return msg + fmt.Sprintf("\nthe Dockerfile copies a stale CHANGELOG: rebuild the image from %s (publish builds from it), and check that no COPY or build stage takes the CHANGELOG from another tree, cache or base image", from)
}

func badInputf(format string, args ...any) error { return fault.BadInputf(format, args...) }
