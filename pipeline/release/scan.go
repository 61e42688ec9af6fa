package release

import (
	"context"

	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/version"
	"github.com/shipgate/shipgate/pipeline/vulnscan"
)

// Scan is --scan: a vulnerability scan (grype, package vulnscan) of each platform image before
// anything is pushed.
type Scan struct {
	// FailOn is --scan-fail-on: the lowest severity that refuses; "" is high.
	FailOn string
	// Ignore is the content of the --scan-ignore file: entries with an expiry date each.
	Ignore []byte
}

// VulnScanner is implemented by a Builder that can run the scanner over a platform image built as
// Build builds it, before anything is pushed: the engine runs the pinned grype image
// (vulnscan.GrypeImage); tests play one.
type VulnScanner interface {
	// ScanImage builds platform p as spec describes (without pushing it), scans it and returns
	// grype's JSON report.
	ScanImage(ctx context.Context, p version.Platform, spec BuildSpec) ([]byte, error)
}

// parseScan reads --scan's settings before any step runs; nil when there is no --scan.
func parseScan(s *Scan) (*vulnscan.Policy, error) {
	if s == nil {
		return nil, nil
	}
	pol, err := vulnscan.NewPolicy(s.FailOn, s.Ignore)
	if err != nil {
		return nil, err
	}
	return &pol, nil
}

// scanImage scans platform pl's image built as spec describes and judges it under pol.
func (w *world) scanImage(ctx context.Context, b Builder, pl version.Platform, spec BuildSpec, pol vulnscan.Policy) (vulnscan.Verdict, error) {
	s, ok := b.(VulnScanner)
	if !ok {
		return vulnscan.Verdict{}, fault.BadInputf("--scan needs a container engine to run grype in: run publish through dagger call")
	}
	scan := vulnscan.ScannerFunc(func(ctx context.Context, p version.Platform, _ string) ([]byte, error) {
		return s.ScanImage(ctx, p, spec)
	})
	return vulnscan.ScanOne(ctx, scan, vulnscan.Image{Platform: pl, Ref: spec.Image + ":" + spec.Tag}, pol, w.clk.Now())
}

// judgeScans merges the verdicts of every platform scanned: a refusal is the error; otherwise
// the one-line summary, and notes for the ignore entries that ignored nothing.
func (w *world) judgeScans(note func(string, ...any), vs []vulnscan.Verdict) (string, error) {
	if len(vs) == 0 {
		return "", nil
	}
	v := vulnscan.Merge(vs...)
	if err := v.Err(); err != nil {
		return "", err
	}
	for _, ig := range v.Unused {
		note("--scan-ignore entry %s matched nothing in any image: remove it", ig)
	}
	return v.Summary(), nil
}
