package vulnscan

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/shipgate/shipgate/pipeline/fault"
)

// FuzzParseIgnore: whatever ParseIgnore accepts is a list of complete entries (an id, a UTC expiry
// date, a reason, no control characters) in line order, each of which reads back from its own
// canonical line; whatever it refuses is bad input naming a line of the file, in a short message.
func FuzzParseIgnore(f *testing.F) {
	for _, s := range []string{ignoreFile, "", "# c\n", "CVE-1 expires=2026-12-01 reason=r", "CVE-1 expires=2026-12-01 reason=\"a \\\" b\" package=@s/p@1",
		"CVE-1 expires=2026-12-01 reason=r\nCVE-1 expires=2026-12-02 reason=s", "CVE-1 reason=\"x\"y", "= =", "CVE-1 expires=2026-12-01 reason=\"\\x00\""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ig, err := ParseIgnore(b)
		lines := strings.Count(string(b), "\n") + 1
		if err != nil {
			if fault.Of(err) != fault.BadInput || !strings.Contains(err.Error(), "--scan-ignore file: line ") || len(err.Error()) > 1500 {
				t.Fatalf("error %v (%d bytes, class %v)", err, len(err.Error()), fault.Of(err))
			}
			return
		}
		last := 0
		for _, e := range ig {
			if e.Line <= last || e.Line > lines {
				t.Fatalf("entry %+v out of line order (after %d, of %d)", e, last, lines)
			}
			last = e.Line
			checkEntry(t, e)
		}
	})
}

// checkEntry checks one accepted entry and that its canonical line reads back as itself.
func checkEntry(t *testing.T, e Ignore) {
	t.Helper()
	if _, err := parseID(e.ID); err != nil || e.Reason == "" || e.Expires.Location() != time.UTC || e.Expires.Truncate(24*time.Hour) != e.Expires {
		t.Fatalf("incomplete entry %+v", e)
	}
	if strings.ContainsFunc(e.Reason+e.Package+e.Version, unicode.IsControl) || strings.ContainsFunc(e.Package+e.Version, unicode.IsSpace) {
		t.Fatalf("entry with control characters or spaces %+v", e)
	}
	again, err := ParseIgnore([]byte(e.String()))
	if err != nil || len(again) != 1 {
		t.Fatalf("%q does not read back: %v", e.String(), err)
	}
	again[0].Line = e.Line
	if again[0] != e {
		t.Fatalf("%q reads back as %+v, want %+v", e.String(), again[0], e)
	}
}

// FuzzParseReport: whatever ParseReport accepts has an id and a package name in every match,
// judges and prints without trouble, and reads back from grype's JSON written from it; whatever
// it refuses is could-not-read, in a short message.
func FuzzParseReport(f *testing.F) {
	for _, name := range []string{"grype-amd64.json", "grype-arm64.json", "grype-empty.json"} {
		f.Add(fixture(f, name))
	}
	for _, s := range []string{`{"matches":[]}`, `{"matches":[{"vulnerability":{"id":"CVE-1","severity":"High","fix":{"versions":["2"]}},"relatedVulnerabilities":[{"id":"GHSA-1"}],"artifact":{"name":"a","version":"1","locations":[{"path":"/x"}]}}]}`,
		`{"matches":null}`, `[]`, `{"matches":[{}]}`, `{"descriptor":{"db":{"status":{"built":"2026-01-01T00:00:00Z"}}},"matches":[]}`} {
		f.Add([]byte(s))
	}
	ig := Ignores{{ID: "CVE-1", Expires: date(2026, 12, 1), Reason: "r", Line: 1}, {ID: "GHSA-1", Package: "a", Expires: date(2027, 1, 1), Reason: "r", Line: 2}}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseReport(b)
		if err != nil {
			if fault.Of(err) != fault.Unreadable || len(err.Error()) > 600 {
				t.Fatalf("error %v (%d bytes, class %v)", err, len(err.Error()), fault.Of(err))
			}
			return
		}
		for _, m := range r.Matches {
			if strings.TrimSpace(m.ID) != m.ID || m.ID == "" || strings.TrimSpace(m.Package.Name) == "" {
				t.Fatalf("match without an id or package: %+v", m)
			}
		}
		v := Merge(Judge(r, Medium, ig, now, amd64), Judge(r, Medium, ig, now, arm64))
		if len(v.Findings) > len(r.Matches) || v.Count(Refuses)+v.Count(Ignored)+v.Count(Below) != len(v.Findings) || v.String() == "" || v.Summary() == "" {
			t.Fatalf("verdict %+v of %d matches", v, len(r.Matches))
		}
		again, err := ParseReport(grypeJSON(t, r))
		if err != nil || !reflect.DeepEqual(again, r) {
			t.Fatalf("written back and read again: %+v, %v\nwant %+v", again, err, r)
		}
	})
}

// grypeJSON writes r in grype's JSON format: the fields ParseReport reads.
func grypeJSON(t *testing.T, r Report) []byte {
	t.Helper()
	type obj = map[string]any
	ms := []obj{}
	for _, m := range r.Matches {
		related, locs := []obj{}, []obj{}
		for _, a := range m.Aliases {
			related = append(related, obj{"id": a})
		}
		for _, l := range m.Package.Locations {
			locs = append(locs, obj{"path": l})
		}
		ms = append(ms, obj{
			"vulnerability":          obj{"id": m.ID, "severity": m.SeverityText, "fix": obj{"versions": m.FixedIn, "state": m.FixState}},
			"relatedVulnerabilities": related,
			"artifact":               obj{"name": m.Package.Name, "version": m.Package.Version, "type": m.Package.Type, "locations": locs},
		})
	}
	b, err := json.Marshal(obj{"matches": ms, "descriptor": obj{"name": r.Tool, "db": obj{"status": obj{"built": r.DBBuilt}}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
