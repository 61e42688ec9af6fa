package vulnscan

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/pipeline/fault"
)

// fixture reads a grype report from testdata (written in grype 0.116's JSON format: see
// grype/presenter/models).
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustReport(t testing.TB, name string) Report {
	t.Helper()
	r, err := ParseReport(fixture(t, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return r
}

// A real-format report reads into matches with their id, severity, fix, related ids and package.
func TestParseReportFixture(t *testing.T) {
	r := mustReport(t, "grype-amd64.json")
	if r.Tool != "grype 0.116.1" || r.DBBuilt != "2026-11-28T01:31:44Z" {
		t.Fatalf("scanner %q, db built %q", r.Tool, r.DBBuilt)
	}
	if len(r.Matches) != 8 {
		t.Fatalf("%d matches, want 8", len(r.Matches))
	}
	m := r.Matches[0]
	if m.ID != "CVE-2024-5535" || m.Severity != Critical || m.SeverityText != "Critical" || m.FixState != "fixed" ||
		!slices.Equal(m.FixedIn, []string{"3.0.14-1~deb12u1"}) {
		t.Errorf("first match %+v", m)
	}
	if p := m.Package; p.Name != "libssl3" || p.Version != "3.0.13-1~deb12u1" || p.Type != "deb" ||
		!slices.Equal(p.Locations, []string{"/usr/share/doc/libssl3/copyright", "/var/lib/dpkg/status"}) {
		t.Errorf("first package %+v", p)
	}
	var ghsa, login *Match
	for i := range r.Matches {
		switch r.Matches[i].ID {
		case "GHSA-w32m-9786-jp63":
			ghsa = &r.Matches[i]
		case "CVE-2024-56433":
			login = &r.Matches[i]
		}
	}
	if ghsa == nil || !slices.Equal(ghsa.Aliases, []string{"CVE-2024-45338"}) || ghsa.Package.Type != "go-module" || ghsa.FixedIn[0] != "0.33.0" {
		t.Errorf("GHSA match %+v", ghsa)
	}
	if login == nil || login.Severity != Unknown || login.SeverityText != "Unknown" || login.FixedIn != nil || login.FixState != "not-fixed" {
		t.Errorf("unknown-severity match %+v", login)
	}
	empty := mustReport(t, "grype-empty.json")
	if empty.Matches == nil || len(empty.Matches) != 0 || empty.Tool != "grype 0.116.1" {
		t.Errorf("empty report %+v", empty)
	}
}

// Fields grype may add later are ignored, severities read in any case, a severity grype does not
// rank is Unknown with its text kept, and the suggested fix comes first.
func TestParseReportTolerates(t *testing.T) {
	doc := `{"schema":{"version":"9"},"matches":[
	 {"vulnerability":{"id":"CVE-2026-0001","severity":"CRITICAL","fix":{"versions":["1.2.0","1.1.9"],"state":"fixed"},"new":1},
	  "matchDetails":[{"fix":{"suggestedVersion":"1.1.9"}},{"type":"x"}],
	  "artifact":{"name":"libfoo","version":"1.1.0","type":"apk","locations":[{"path":"/lib/apk/db/installed","layerID":"sha256:aa"}],"extra":[1,2]}},
	 {"vulnerability":{"id":"GHSA-aaaa-bbbb-cccc","severity":"moderate"},"artifact":{"name":"left-pad"}},
	 {"vulnerability":{"id":"CVE-2026-0002","severity":"low"},"relatedVulnerabilities":[{"id":"CVE-2026-0002"},{"id":""},{"id":"GO-2026-1"}],"artifact":{"name":"x"}}
	],"descriptor":{"name":"grype","version":"0.116.1","db":{"status":{"built":"not a time"}}},"future":{}}`
	r, err := ParseReport([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if m := r.Matches[0]; m.Severity != Critical || !slices.Equal(m.FixedIn, []string{"1.1.9", "1.2.0"}) {
		t.Errorf("match 0: %+v", m)
	}
	if m := r.Matches[1]; m.Severity != Unknown || m.SeverityText != "moderate" || m.Package.Version != "" {
		t.Errorf("match 1: %+v", m)
	}
	if m := r.Matches[2]; m.Severity != Low || !slices.Equal(m.Aliases, []string{"GO-2026-1"}) {
		t.Errorf("match 2: %+v", m)
	}
	if v := Judge(r, High, nil, now, amd64); strings.Contains(v.Tool, "database") {
		t.Errorf("an unreadable build time was printed: %q", v.Tool)
	}
}

// A report's strings reach the verdict, which a refusal prints: a package name that holds a
// newline cannot start a line of its own there ("no vulnerability at or above high"), and a
// megabyte of version is cut.
func TestReportStringsCannotForgeVerdictLines(t *testing.T) {
	doc := `{"matches":[{"vulnerability":{"id":"CVE-2026-0003","severity":"critical"},
	  "artifact":{"name":"x\nno vulnerability at or above high","version":"` + strings.Repeat("9", 1<<20) + `"}}],
	  "descriptor":{"name":"grype","version":"0.116.1"}}`
	r, err := ParseReport([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	text := Judge(r, High, nil, now, amd64).String()
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "no vulnerability") {
			t.Fatalf("the report forged a line of the verdict: %.200q", l)
		}
	}
	if len(text) > 4096 {
		t.Fatalf("the verdict is %d bytes: the report's version was not cut", len(text))
	}
}

// What is not a grype report is refused as could-not-read, naming what is wrong.
func TestParseReportRefusesMalformed(t *testing.T) {
	for _, c := range []struct{ doc, want string }{
		{"", "empty or cut short"},
		{"grype: error: failed to pull image", "invalid JSON at byte 1"},
		{`{"matches":[`, "empty or cut short"},
		{`[]`, "the document is a JSON array"},
		{`{}`, `no "matches" array`},
		{`{"matches":null}`, `no "matches" array`},
		{`{"matches":{}}`, `"matches" is a JSON object`},
		{`{"matches":[{}]}`, `matches[0]: no "vulnerability"`},
		{`{"matches":[{"vulnerability":{"id":" "},"artifact":{"name":"a"}}]}`, `matches[0]: no "vulnerability.id"`},
		{`{"matches":[{"vulnerability":{"id":"CVE-1"}}]}`, `matches[0]: CVE-1: no "artifact"`},
		{`{"matches":[{"vulnerability":{"id":"CVE-1"},"artifact":{"name":"a"}},{"vulnerability":{"id":"CVE-2"},"artifact":{"version":"1"}}]}`, `matches[1]: CVE-2: no "artifact.name"`},
		{`{"matches":[{"vulnerability":{"id":"CVE-1","severity":3},"artifact":{"name":"a"}}]}`, `"matches.vulnerability.severity" is a JSON number`},
		{`{"matches":[]} {"matches":[]}`, "text after the JSON document"},
	} {
		_, err := ParseReport([]byte(c.doc))
		if err == nil {
			t.Errorf("%s: accepted", c.doc)
			continue
		}
		if fault.Of(err) != fault.Unreadable || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "grype") {
			t.Errorf("%s: %v (%v), want could-not-read naming %q", c.doc, err, fault.Of(err), c.want)
		}
	}
}
