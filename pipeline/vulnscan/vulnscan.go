// Package vulnscan judges a vulnerability scan of each platform image before publish pushes
// anything (the optional --scan of publish). The scanning itself is grype, run from a pinned
// image (GrypeImage) by whoever can run containers — the Dagger module, or a test — behind the
// Scanner interface; this package reads grype's JSON report (`grype -o json`) and decides.
//
// The decision has three inputs, all checked before any step acts:
//
//   - the threshold, --scan-fail-on (ParseSeverity): a finding whose severity is at or above it
//     refuses the release, unless it is ignored. Severities rank as grype ranks them: negligible,
//     low, medium, high, critical; a finding of unknown severity ("Unknown" in grype's report, or
//     a severity grype does not know) ranks below negligible, as in grype's own --fail-on, so it
//     never refuses; the verdict counts it.
//   - the ignore file, --scan-ignore (ParseIgnore): one entry a line, each with a mandatory expiry
//     date and reason. A live entry ignores the findings it matches; an expired one ignores
//     nothing and the verdict names it; an entry that matches nothing is a note, so the file does
//     not collect dead entries.
//   - the clock: expiry is judged against the time given (UTC days).
//
// Judge decides one platform's report; Merge joins the verdicts of every platform (a finding in
// several images is listed once, with its platforms); Check does both with a Scanner. A verdict
// that refuses is a fault.Refused error (Verdict.Err); a report that is not grype's JSON is
// fault.Unreadable; a bad --scan-fail-on or ignore file is fault.BadInput.
package vulnscan

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/shipgate/shipgate/pipeline/config"
	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/version"
)

// GrypeImage is the scanner image publish runs: grype v0.116.1, pinned by digest. The engine runs
// it with `-o json` and without --fail-on (this package decides), over the platform image as built
// (an OCI archive: `grype oci-archive:/path/image.tar -o json`), and hands the JSON to ParseReport.
const GrypeImage = config.DefaultGrypeImage

// Severity is how grype rates a vulnerability. The zero value is Unknown.
type Severity int

const (
	// Unknown is a severity grype reports as "Unknown", or one it does not know; it ranks below
	// Negligible and never refuses.
	Unknown Severity = iota
	// Negligible is grype's lowest known severity.
	Negligible
	// Low severity.
	Low
	// Medium severity.
	Medium
	// High severity.
	High
	// Critical is grype's highest severity.
	Critical
)

// DefaultFailOn is the threshold when --scan is given without --scan-fail-on.
const DefaultFailOn = High

var severityNames = [...]string{"unknown", "negligible", "low", "medium", "high", "critical"}

// String names the severity in lower case, as --scan-fail-on takes it.
func (s Severity) String() string {
	if s < Unknown || s > Critical {
		return severityNames[Unknown]
	}
	return severityNames[s]
}

// ParseSeverity reads a --scan-fail-on value: negligible, low, medium, high or critical, in any
// case. "unknown" is not a threshold: findings of unknown severity never refuse.
func ParseSeverity(s string) (Severity, error) {
	if sev := severityOf(s); sev != Unknown {
		return sev, nil
	}
	return Unknown, fault.BadInputf("--scan-fail-on %q is not a severity: give one of negligible, low, medium, high, critical (findings at or above it refuse the release)", clip(s, 40))
}

// severityOf reads a severity as grype writes it ("High", "CRITICAL"); anything else is Unknown.
func severityOf(s string) Severity {
	s = strings.ToLower(strings.TrimSpace(s))
	for i, n := range severityNames {
		if s == n {
			return Severity(i)
		}
	}
	return Unknown
}

// Scanner runs the pinned scanner (GrypeImage) over one platform image, built and not yet pushed,
// and returns what `grype -o json` printed. The release layer implements it (the Dagger module
// runs the grype container over the built image; tests return fixtures). An error means the scan
// could not be made; implementations classify it (fault.Unreachable when grype or its database
// could not be fetched, fault.Unreadable when grype failed on the image).
type Scanner interface {
	// Scan scans platform p's image; ref is what the caller's builder calls that image (an OCI
	// archive path, a build handle): this package passes it through and only names it.
	Scan(ctx context.Context, p version.Platform, ref string) ([]byte, error)
}

// ScannerFunc adapts a function to Scanner.
type ScannerFunc func(ctx context.Context, p version.Platform, ref string) ([]byte, error)

// Scan calls f.
func (f ScannerFunc) Scan(ctx context.Context, p version.Platform, ref string) ([]byte, error) {
	return f(ctx, p, ref)
}

// Policy is what publish checks a scan against: --scan-fail-on and the --scan-ignore entries.
type Policy struct {
	FailOn  Severity
	Ignores Ignores
}

// NewPolicy reads --scan-fail-on (empty: DefaultFailOn) and the content of the --scan-ignore file
// (nil or empty: no entries). Call it before any step acts: both are fault.BadInput when wrong.
func NewPolicy(failOn string, ignore []byte) (Policy, error) {
	p := Policy{FailOn: DefaultFailOn}
	if strings.TrimSpace(failOn) != "" {
		sev, err := ParseSeverity(failOn)
		if err != nil {
			return Policy{}, err
		}
		p.FailOn = sev
	}
	ig, err := ParseIgnore(ignore)
	if err != nil {
		return Policy{}, err
	}
	p.Ignores = ig
	return p, nil
}

// Image is one platform image to scan: its platform and the builder's reference to it.
type Image struct {
	Platform version.Platform
	Ref      string
}

// ScanOne scans one platform image with s and judges the report against pol at now. The error is
// only that the scan could not be made or read; a verdict that refuses is returned as a value
// (see Verdict.Err), so that every platform can be scanned before the verdicts are merged.
func ScanOne(ctx context.Context, s Scanner, img Image, pol Policy, now time.Time) (Verdict, error) {
	out, err := s.Scan(ctx, img.Platform, img.Ref)
	if err != nil {
		return Verdict{}, fmt.Errorf("scan the %s image with grype: %w", img.Platform, err)
	}
	r, err := ParseReport(out)
	if err != nil {
		return Verdict{}, fmt.Errorf("the grype report of the %s image: %w", img.Platform, err)
	}
	return Judge(r, pol.FailOn, pol.Ignores, now, img.Platform), nil
}

// Check scans every platform image, in order, and judges them together: it returns the merged
// verdict and, when it refuses, its fault.Refused error (Verdict.Err). Call it before anything is
// pushed.
func Check(ctx context.Context, s Scanner, imgs []Image, pol Policy, now time.Time) (Verdict, error) {
	vs := make([]Verdict, 0, len(imgs))
	for _, img := range imgs {
		v, err := ScanOne(ctx, s, img, pol, now)
		if err != nil {
			return Verdict{}, err
		}
		vs = append(vs, v)
	}
	v := Merge(vs...)
	return v, v.Err()
}

// clip shortens s to about n bytes for a message, so that a message never echoes a large input;
// it cuts between runes.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
