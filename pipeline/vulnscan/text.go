package vulnscan

import (
	"fmt"
	"strings"
	"time"

	"github.com/shipgate/shipgate/pipeline/version"
)

// DefaultListed is how many refusing findings Verdict.String lists; the rest are counted.
const DefaultListed = 20

// String is the verdict as the operator reads it; see Text.
func (v Verdict) String() string { return v.Text(DefaultListed) }

// Text is the verdict in plain text: what refuses (at most limit findings, each with its id,
// severity, package@version, fixed-in version and platforms, then a count of the rest), the
// expired ignore entries, what to do, the counts of what did not refuse, and notes on unused
// entries. A limit below 1 lists one.
func (v Verdict) Text(limit int) string {
	limit = max(limit, 1)
	var b strings.Builder
	n := v.Count(Refuses)
	if n > 0 {
		fmt.Fprintf(&b, "%s found %d vulnerabilit%s at or above %s in %s that no --scan-ignore entry covers:", v.tool(), n, plural(n, "y", "ies"), v.FailOn, platforms(v.Platforms))
		for i, f := range v.Findings[:n] {
			if i == limit {
				fmt.Fprintf(&b, "\n  and %d more", n-limit)
				break
			}
			b.WriteString("\n  " + f.line())
		}
		if rest := v.restCounts(); rest != "" {
			b.WriteString("\nalso found: " + rest)
		}
	} else {
		fmt.Fprintf(&b, "%s: no vulnerability at or above %s in %s", v.tool(), v.FailOn, platforms(v.Platforms))
		if rest := v.restCounts(); rest != "" {
			fmt.Fprintf(&b, " (%s)", rest)
		}
	}
	for _, e := range v.Expired {
		fmt.Fprintf(&b, "\nignore entry for %s%s expired on %s (--scan-ignore line %d): it no longer ignores; fix the finding, or renew the entry with a later expires= and a reason", e.ID, e.scope(), day(e.Expires), e.Line)
	}
	if n > 0 {
		fmt.Fprintf(&b, "\nto release: upgrade these packages (or rebuild on a patched base image), or, for a finding that does not apply, add a --scan-ignore entry with an expiry date and a reason")
	}
	for _, e := range v.Unused {
		also := ""
		if e.Expired(v.At) {
			also = " and expired on " + day(e.Expires)
		}
		fmt.Fprintf(&b, "\nnote: ignore entry for %s%s (--scan-ignore line %d) matched no finding in any image%s: delete it", e.ID, e.scope(), e.Line, also)
	}
	return b.String()
}

// Summary is the verdict in one line, as a step's detail: "linux/amd64, linux/arm64: grype
// 0.116.1: 0 vulnerabilities at or above high (2 ignored, 14 below high); 1 unused ignore entry".
func (v Verdict) Summary() string {
	n := v.Count(Refuses)
	s := fmt.Sprintf("%s: %s: %d vulnerabilit%s at or above %s", platforms(v.Platforms), v.tool(), n, plural(n, "y", "ies"), v.FailOn)
	if rest := v.restCounts(); rest != "" {
		s += " (" + rest + ")"
	}
	if k := len(v.Expired); k > 0 {
		s += fmt.Sprintf("; %d expired ignore entr%s", k, plural(k, "y", "ies"))
	}
	if k := len(v.Unused); k > 0 {
		s += fmt.Sprintf("; %d unused ignore entr%s", k, plural(k, "y", "ies"))
	}
	return s
}

// restCounts counts the findings that did not refuse: "2 ignored, 14 below high, 1 of unknown
// severity".
func (v Verdict) restCounts() string {
	by, unknown := v.tally()
	ignored, below := by[Ignored], by[Below]-unknown
	var parts []string
	if ignored > 0 {
		parts = append(parts, fmt.Sprintf("%d ignored until their expiry", ignored))
	}
	if below > 0 {
		parts = append(parts, fmt.Sprintf("%d below %s", below, v.FailOn))
	}
	if unknown > 0 {
		parts = append(parts, fmt.Sprintf("%d of unknown severity", unknown))
	}
	return strings.Join(parts, ", ")
}

// line is one finding: "CVE-2024-5535 critical openssl@3.0.13-1~deb12u1 (deb), fixed in
// 3.0.14-1~deb12u1, in linux/amd64, linux/arm64".
func (f Finding) line() string {
	pkg := f.Package.Name
	if f.Package.Version != "" {
		pkg += "@" + f.Package.Version
	}
	if f.Package.Type != "" {
		pkg += " (" + f.Package.Type + ")"
	}
	return fmt.Sprintf("%s %s %s, %s, in %s", f.ID, f.severityText(), pkg, f.fix(), platforms(f.Platforms))
}

// severityText is the severity as ranked, or grype's own word when it does not know it.
func (f Finding) severityText() string {
	if f.Severity == Unknown && f.SeverityText != "" {
		return clip(strings.ToLower(f.SeverityText), 20)
	}
	return f.Severity.String()
}

// fix says which version fixes the finding, or that none does.
func (f Finding) fix() string {
	if len(f.FixedIn) > 0 {
		return "fixed in " + f.FixedIn[0]
	}
	switch f.FixState {
	case "not-fixed":
		return "no fix yet"
	case "wont-fix":
		return "no fix coming (wont-fix)"
	}
	return "no fix known"
}

func (v Verdict) tool() string {
	if v.Tool == "" {
		return "grype"
	}
	return v.Tool
}

func platforms(ps []version.Platform) string {
	if len(ps) == 0 {
		return "no image"
	}
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func day(t time.Time) string { return t.UTC().Format(time.DateOnly) }
