package vulnscan

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/version"
)

// Status is what the verdict made of a finding.
type Status int

const (
	// Refuses: at or above the threshold, and no live ignore entry matches it.
	Refuses Status = iota
	// Ignored: at or above the threshold, and a live ignore entry matches it.
	Ignored
	// Below: under the threshold, or of unknown severity; it does not refuse.
	Below
)

// Finding is one vulnerability in one package, found in one or more platform images.
type Finding struct {
	Match
	Platforms []version.Platform
	Status    Status
	// IgnoredBy is the line of the live ignore entry that matches it, 0 when none does.
	IgnoredBy int
}

// Verdict is the judgement of one or more platform images' scans.
type Verdict struct {
	// FailOn is the threshold the findings were judged against.
	FailOn Severity
	// At is when the ignore entries' expiry was judged.
	At time.Time
	// Tool is what made the reports ("grype 0.116.1, database built 2026-11-28").
	Tool string
	// Platforms are the images judged, in order.
	Platforms []version.Platform
	// Findings are every finding, refusing ones first, then by severity (highest first) and id.
	Findings []Finding
	// Expired are the ignore entries that matched a finding after their expiry date: they
	// ignored nothing.
	Expired []Ignore
	// Unused are the ignore entries that matched no finding in any image.
	Unused []Ignore
}

// Judge decides one platform's report: every match at or above threshold refuses unless a live
// entry of ig matches it; entries are live strictly before their expiry date (see Ignore) at now.
// A threshold below Negligible (the zero value) judges as Negligible. Matches of the same
// vulnerability in the same package (grype reports one per location) are one finding.
func Judge(r Report, threshold Severity, ig Ignores, now time.Time, p version.Platform) Verdict {
	if threshold < Negligible {
		threshold = Negligible
	}
	v := Verdict{FailOn: threshold, At: now, Tool: toolOf(r), Platforms: []version.Platform{p}, Findings: findingsOf(r, p)}
	used := make([]bool, len(ig))
	expired := make([]bool, len(ig))
	for k := range v.Findings {
		f := &v.Findings[k]
		for i, e := range ig {
			if !e.matches(f.Match) {
				continue
			}
			used[i] = true
			if e.Expired(now) {
				expired[i] = true
			} else if f.IgnoredBy == 0 {
				f.IgnoredBy = e.Line
			}
		}
		f.Status = statusOf(f.Severity, threshold, f.IgnoredBy)
	}
	for i, e := range ig {
		if expired[i] {
			v.Expired = append(v.Expired, e)
		}
		if !used[i] {
			v.Unused = append(v.Unused, e)
		}
	}
	sortFindings(v.Findings)
	return v
}

// findingsOf turns the matches of a report into findings of platform p, one per vulnerability
// and package.
func findingsOf(r Report, p version.Platform) []Finding {
	var fs []Finding
	byKey := map[string]int{}
	for _, m := range r.Matches {
		if i, ok := byKey[findingKey(m)]; ok {
			fs[i].absorb(m)
			continue
		}
		byKey[findingKey(m)] = len(fs)
		fs = append(fs, Finding{Match: m, Platforms: []version.Platform{p}})
	}
	return fs
}

// statusOf judges a finding of severity s against threshold.
func statusOf(s, threshold Severity, ignoredBy int) Status {
	switch {
	case s == Unknown || s < threshold:
		return Below
	case ignoredBy != 0:
		return Ignored
	}
	return Refuses
}

// findingKey identifies a finding across locations and platforms: the vulnerability and the
// package (type, name, version).
func findingKey(m Match) string {
	return strings.ToUpper(m.ID) + "\x00" + m.Package.Type + "\x00" + m.Package.Name + "\x00" + m.Package.Version
}

// absorb adds what another match of the same finding knows: its locations, related ids and fixes.
func (f *Finding) absorb(m Match) {
	for _, l := range m.Package.Locations {
		f.Package.Locations = appendNew(f.Package.Locations, l)
	}
	for _, a := range m.Aliases {
		f.Aliases = appendNew(f.Aliases, a)
	}
	for _, x := range m.FixedIn {
		f.FixedIn = appendNew(f.FixedIn, x)
	}
}

// toolOf names what made the report, with the date its database was built.
func toolOf(r Report) string {
	s := r.Tool
	if s == "" {
		s = "grype"
	}
	if t, err := time.Parse(time.RFC3339, r.DBBuilt); err == nil {
		s += ", database built " + t.UTC().Format(time.DateOnly)
	}
	return s
}

func sortFindings(fs []Finding) {
	slices.SortStableFunc(fs, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(a.Status, b.Status), cmp.Compare(b.Severity, a.Severity),
			cmp.Compare(a.ID, b.ID), cmp.Compare(a.Package.Name, b.Package.Name), cmp.Compare(a.Package.Version, b.Package.Version))
	})
}

// Merge joins the verdicts of several platform images of one release, judged with the same
// policy: a finding present in several images is one finding that names them all; an entry is
// unused only when no image's findings used it.
func Merge(vs ...Verdict) Verdict {
	if len(vs) == 0 {
		return Verdict{FailOn: Negligible}
	}
	out := Verdict{FailOn: vs[0].FailOn, At: vs[0].At, Unused: vs[0].Unused}
	var tools []string
	byKey := map[string]int{}
	for _, v := range vs {
		tools = appendNew(tools, v.Tool)
		out.Platforms = append(out.Platforms, v.Platforms...)
		for _, f := range v.Findings {
			i, ok := byKey[findingKey(f.Match)]
			if !ok {
				byKey[findingKey(f.Match)] = len(out.Findings)
				f.Platforms = slices.Clone(f.Platforms)
				out.Findings = append(out.Findings, f)
				continue
			}
			g := &out.Findings[i]
			g.absorb(f.Match)
			for _, p := range f.Platforms {
				if !slices.Contains(g.Platforms, p) {
					g.Platforms = append(g.Platforms, p)
				}
			}
			if f.Status < g.Status {
				g.Status, g.IgnoredBy = f.Status, f.IgnoredBy
			}
		}
		out.Expired = unionByLine(out.Expired, v.Expired)
		out.Unused = slices.DeleteFunc(slices.Clone(out.Unused), func(e Ignore) bool { return !hasLine(v.Unused, e.Line) })
	}
	out.Tool = strings.Join(tools, "; ")
	sortFindings(out.Findings)
	return out
}

// unionByLine adds to a the entries of b it does not hold, kept in line order.
func unionByLine(a, b []Ignore) []Ignore {
	for _, e := range b {
		if !hasLine(a, e.Line) {
			a = append(a, e)
		}
	}
	slices.SortFunc(a, func(x, y Ignore) int { return cmp.Compare(x.Line, y.Line) })
	return a
}

func hasLine(list []Ignore, line int) bool {
	return slices.ContainsFunc(list, func(e Ignore) bool { return e.Line == line })
}

// Count returns how many findings have status s.
func (v Verdict) Count(s Status) int {
	by, _ := v.tally()
	if s < Refuses || s > Below {
		return 0
	}
	return by[s]
}

// tally counts the findings of each status, and those of unknown severity among them.
func (v Verdict) tally() (by [Below + 1]int, unknown int) {
	for _, f := range v.Findings {
		if f.Status >= Refuses && f.Status <= Below {
			by[f.Status]++
		}
		if f.Severity == Unknown {
			unknown++
		}
	}
	return by, unknown
}

// Err is nil when no finding refuses, and otherwise a fault.Refused error wrapping a
// *RefusedError (its text is Verdict.String).
func (v Verdict) Err() error {
	if v.Count(Refuses) == 0 {
		return nil
	}
	return fault.AsRefused(&RefusedError{Verdict: v})
}

// RefusedError is a verdict that refuses the release; find it with errors.As.
type RefusedError struct {
	Verdict Verdict
}

// Error is the verdict's text (Verdict.String).
func (e *RefusedError) Error() string { return e.Verdict.String() }
