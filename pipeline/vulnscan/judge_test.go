package vulnscan

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/version"
)

var (
	now   = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	amd64 = version.Platform{OS: "linux", Architecture: "amd64"}
	arm64 = version.Platform{OS: "linux", Architecture: "arm64"}
)

// ids lists the findings of status s as "ID package".
func ids(v Verdict, s Status) []string {
	var out []string
	for _, f := range v.Findings {
		if f.Status == s {
			out = append(out, f.ID+" "+f.Package.Name)
		}
	}
	return out
}

func mustIgnore(t testing.TB, s string) Ignores {
	t.Helper()
	ig, err := ParseIgnore([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return ig
}

// Without ignores, what is at or above the threshold refuses, highest first; a finding grype
// reports once per location is one finding; unknown severity never refuses.
func TestJudgeThreshold(t *testing.T) {
	r := mustReport(t, "grype-amd64.json")
	for _, c := range []struct {
		on      Severity
		refuses []string
	}{
		{Critical, []string{"CVE-2023-45853 zlib1g", "CVE-2024-5535 libssl3", "CVE-2024-5535 openssl"}},
		{High, []string{"CVE-2023-45853 zlib1g", "CVE-2024-5535 libssl3", "CVE-2024-5535 openssl", "GHSA-w32m-9786-jp63 golang.org/x/net"}},
		{Medium, []string{"CVE-2023-45853 zlib1g", "CVE-2024-5535 libssl3", "CVE-2024-5535 openssl", "GHSA-w32m-9786-jp63 golang.org/x/net", "CVE-2024-2511 libssl3"}},
		{Negligible, []string{"CVE-2023-45853 zlib1g", "CVE-2024-5535 libssl3", "CVE-2024-5535 openssl", "GHSA-w32m-9786-jp63 golang.org/x/net", "CVE-2024-2511 libssl3", "CVE-2011-3374 apt"}},
		{Unknown, []string{"CVE-2023-45853 zlib1g", "CVE-2024-5535 libssl3", "CVE-2024-5535 openssl", "GHSA-w32m-9786-jp63 golang.org/x/net", "CVE-2024-2511 libssl3", "CVE-2011-3374 apt"}},
	} {
		v := Judge(r, c.on, nil, now, amd64)
		if got := ids(v, Refuses); !slices.Equal(got, c.refuses) {
			t.Errorf("fail on %s: refuses %q, want %q", c.on, got, c.refuses)
		}
		if len(v.Findings) != 7 || v.Err() == nil || fault.Of(v.Err()) != fault.Refused {
			t.Errorf("fail on %s: %d findings, err %v", c.on, len(v.Findings), v.Err())
		}
	}
	v := Judge(r, High, nil, now, amd64)
	for _, f := range v.Findings {
		if f.ID == "GHSA-w32m-9786-jp63" && !slices.Equal(f.Package.Locations, []string{"/usr/local/bin/app", "/usr/local/bin/healthcheck"}) {
			t.Errorf("locations of the merged finding: %q", f.Package.Locations)
		}
	}
	want := "grype 0.116.1, database built 2026-11-28 found 4 vulnerabilities at or above high in linux/amd64 that no --scan-ignore entry covers:\n" +
		"  CVE-2023-45853 critical zlib1g@1:1.2.13.dfsg-1 (deb), no fix coming (wont-fix), in linux/amd64\n" +
		"  CVE-2024-5535 critical libssl3@3.0.13-1~deb12u1 (deb), fixed in 3.0.14-1~deb12u1, in linux/amd64\n" +
		"  CVE-2024-5535 critical openssl@3.0.13-1~deb12u1 (deb), fixed in 3.0.14-1~deb12u1, in linux/amd64\n" +
		"  GHSA-w32m-9786-jp63 high golang.org/x/net@v0.30.0 (go-module), fixed in 0.33.0, in linux/amd64\n" +
		"also found: 2 below high, 1 of unknown severity\n" +
		"to release: upgrade these packages (or rebuild on a patched base image), or, for a finding that does not apply, add a --scan-ignore entry with an expiry date and a reason"
	if got := v.String(); got != want {
		t.Errorf("text:\n%s\nwant:\n%s", got, want)
	}
}

// Live entries ignore (by id, related id or package); an expired entry ignores nothing and is
// named with its date and line; an entry that matched nothing is a note; entries for findings
// below the threshold count as used.
func TestJudgeIgnores(t *testing.T) {
	ig := mustIgnore(t, `# app 1.4
CVE-2024-5535  expires=2027-01-31  package=libssl3  reason="NPN is not used"
CVE-2024-5535  expires=2027-01-31  package=openssl@3.0.13-1~deb12u1  reason="the CLI is not shipped"
cve-2024-45338 expires=2026-12-15  reason="HTML parsing is not used"
CVE-2023-45853 expires=2026-10-01  package=zlib1g  reason="minizip is not built"
CVE-2011-3374  expires=2027-06-01  reason="apt-key is not used"
CVE-2022-0001  expires=2027-01-01  reason="left over"
CVE-2021-0002  expires=2026-01-01  reason="left over and expired"
CVE-2024-5535  expires=2027-01-31  package=libssl3@3.0.11  reason="an older version"
`)
	v := Judge(mustReport(t, "grype-amd64.json"), High, ig, now, amd64)
	if got := ids(v, Refuses); !slices.Equal(got, []string{"CVE-2023-45853 zlib1g"}) {
		t.Fatalf("refuses %q", got)
	}
	if got := ids(v, Ignored); !slices.Equal(got, []string{"CVE-2024-5535 libssl3", "CVE-2024-5535 openssl", "GHSA-w32m-9786-jp63 golang.org/x/net"}) {
		t.Errorf("ignored %q", got)
	}
	if lines := lineNos(v.Expired); !slices.Equal(lines, []int{5}) {
		t.Errorf("expired entries at lines %v", lines)
	}
	if lines := lineNos(v.Unused); !slices.Equal(lines, []int{7, 8, 9}) {
		t.Errorf("unused entries at lines %v", lines)
	}
	text := v.String()
	for _, want := range []string{
		"found 1 vulnerability at or above high in linux/amd64",
		"  CVE-2023-45853 critical zlib1g@1:1.2.13.dfsg-1 (deb), no fix coming (wont-fix), in linux/amd64\nalso found: 3 ignored until their expiry, 2 below high, 1 of unknown severity\n",
		"ignore entry for CVE-2023-45853 in zlib1g expired on 2026-10-01 (--scan-ignore line 5): it no longer ignores; fix the finding, or renew the entry",
		"note: ignore entry for CVE-2022-0001 (--scan-ignore line 7) matched no finding in any image: delete it",
		"note: ignore entry for CVE-2021-0002 (--scan-ignore line 8) matched no finding in any image and expired on 2026-01-01: delete it",
		"note: ignore entry for CVE-2024-5535 in libssl3@3.0.11 (--scan-ignore line 9) matched no finding",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	var re *RefusedError
	if err := v.Err(); !errors.As(err, &re) || fault.Of(err) != fault.Refused || err.Error() != text {
		t.Errorf("err %v", err)
	}

	// Renewed, the entry ignores again and nothing refuses.
	ig[3].Expires = date(2027, 3, 1)
	v = Judge(mustReport(t, "grype-amd64.json"), High, ig, now, amd64)
	if v.Err() != nil || len(v.Expired) != 0 || v.Count(Ignored) != 4 {
		t.Errorf("renewed: %v", v)
	}
	if got := v.Summary(); got != "linux/amd64: grype 0.116.1, database built 2026-11-28: 0 vulnerabilities at or above high (4 ignored until their expiry, 2 below high, 1 of unknown severity); 3 unused ignore entries" {
		t.Errorf("summary %q", got)
	}
}

// An entry that expires today no longer ignores; judged the evening before, in a zone east of
// UTC where it is already the expiry date, it still does.
func TestJudgeExpiresToday(t *testing.T) {
	ig := mustIgnore(t, "CVE-2023-45853 expires=2026-11-29 reason=r\n")
	r := mustReport(t, "grype-amd64.json")
	if v := Judge(r, Critical, ig, now, amd64); !slices.Contains(ids(v, Refuses), "CVE-2023-45853 zlib1g") || len(v.Expired) != 1 {
		t.Errorf("expires today: %v", v)
	}
	tokyo := time.Date(2026, 11, 29, 8, 59, 59, 0, time.FixedZone("JST", 9*3600))
	if v := Judge(r, Critical, ig, tokyo, amd64); slices.Contains(ids(v, Refuses), "CVE-2023-45853 zlib1g") || len(v.Expired) != 0 {
		t.Errorf("23:59:59 UTC the day before: %v", v)
	}
}

// A report without findings passes and says so; so does one with only ignored findings.
func TestJudgeClean(t *testing.T) {
	v := Judge(mustReport(t, "grype-empty.json"), Negligible, nil, now, amd64)
	if v.Err() != nil || v.String() != "grype 0.116.1, database built 2026-11-28: no vulnerability at or above negligible in linux/amd64" {
		t.Errorf("%q %v", v, v.Err())
	}
	if v := Merge(); v.Err() != nil || v.Summary() != "no image: grype: 0 vulnerabilities at or above negligible" {
		t.Errorf("no verdicts: %q", v.Summary())
	}
}

// A finding in both images is listed once with both platforms; one only arm64 has names arm64;
// an entry used by one image is not unused.
func TestMergeAcrossPlatforms(t *testing.T) {
	ig := mustIgnore(t, "CVE-2025-4802 expires=2027-01-01 package=libc6 reason=\"no setuid binaries\"\nCVE-2020-1 expires=2027-01-01 reason=gone\nCVE-2023-45853 expires=2026-01-01 reason=old\n")
	a := Judge(mustReport(t, "grype-amd64.json"), High, ig, now, amd64)
	b := Judge(mustReport(t, "grype-arm64.json"), High, ig, now, arm64)
	if lines := lineNos(a.Unused); !slices.Equal(lines, []int{1, 2}) {
		t.Fatalf("amd64 alone: unused %v", lines)
	}
	v := Merge(a, b)
	if lines := lineNos(v.Unused); !slices.Equal(lines, []int{2}) {
		t.Errorf("merged: unused %v", lines)
	}
	if lines := lineNos(v.Expired); !slices.Equal(lines, []int{3}) {
		t.Errorf("merged: expired %v (once, though both images matched it)", lines)
	}
	if len(v.Findings) != 8 || v.Count(Refuses) != 4 || v.Count(Ignored) != 1 {
		t.Errorf("merged: %d findings, %d refuse, %d ignored", len(v.Findings), v.Count(Refuses), v.Count(Ignored))
	}
	for _, f := range v.Findings {
		want := []version.Platform{amd64, arm64}
		if f.ID == "CVE-2025-4802" {
			want = want[1:]
		}
		if !slices.Equal(f.Platforms, want) {
			t.Errorf("%s %s: platforms %v, want %v", f.ID, f.Package.Name, f.Platforms, want)
		}
	}
	if strings.Count(v.String(), "CVE-2024-5535 critical libssl3") != 1 || !strings.Contains(v.String(), "fixed in 3.0.14-1~deb12u1, in linux/amd64, linux/arm64") {
		t.Errorf("merged text:\n%s", v)
	}
	if len(a.Findings[0].Platforms) != 1 {
		t.Errorf("Merge changed its input: %v", a.Findings[0].Platforms)
	}
	if again := Merge(v, b); len(again.Findings) != 8 || !slices.Equal(again.Findings[0].Platforms, v.Findings[0].Platforms) {
		t.Errorf("merging a platform again added it twice: %v", again.Findings[0].Platforms)
	}
}

// The text lists at most limit findings and counts the rest.
func TestVerdictTextLimit(t *testing.T) {
	v := Judge(mustReport(t, "grype-amd64.json"), Negligible, nil, now, amd64)
	text := v.Text(2)
	if strings.Count(text, "\n  ") != 3 || !strings.Contains(text, "\n  and 4 more") || strings.Contains(text, "GHSA") {
		t.Errorf("limit 2:\n%s", text)
	}
	if got := v.Text(0); !strings.Contains(got, "\n  and 5 more") {
		t.Errorf("limit 0 lists one:\n%s", got)
	}
	if got := v.Text(6); strings.Contains(got, "more") {
		t.Errorf("limit 6 of 6:\n%s", got)
	}
}

func TestParseSeverity(t *testing.T) {
	for in, want := range map[string]Severity{"negligible": Negligible, "LOW": Low, "Medium": Medium, " high ": High, "critical": Critical} {
		if got, err := ParseSeverity(in); err != nil || got != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	for _, in := range []string{"", "unknown", "moderate", "severe", "5"} {
		_, err := ParseSeverity(in)
		if fault.Of(err) != fault.BadInput || !strings.Contains(err.Error(), "--scan-fail-on") || !strings.Contains(err.Error(), "negligible, low, medium, high, critical") {
			t.Errorf("%q: %v", in, err)
		}
	}
	if Severity(9).String() != "unknown" || Critical.String() != "critical" {
		t.Error("String")
	}
}

func TestNewPolicy(t *testing.T) {
	if p, err := NewPolicy("", nil); err != nil || p.FailOn != DefaultFailOn || len(p.Ignores) != 0 {
		t.Errorf("defaults: %+v %v", p, err)
	}
	if p, err := NewPolicy("Critical", []byte("CVE-1 expires=2027-01-01 reason=r\n")); err != nil || p.FailOn != Critical || len(p.Ignores) != 1 {
		t.Errorf("given: %+v %v", p, err)
	}
	if _, err := NewPolicy("urgent", nil); fault.Of(err) != fault.BadInput {
		t.Errorf("bad threshold: %v", err)
	}
	if _, err := NewPolicy("high", []byte("CVE-1\n")); fault.Of(err) != fault.BadInput || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("bad ignore file: %v", err)
	}
}

// Check scans each image with the Scanner, merges, and refuses; a scan that fails or a report
// that does not read stops it, naming the platform, with the class the scanner gave.
func TestCheck(t *testing.T) {
	reports := map[string]string{"linux/amd64": "grype-amd64.json", "linux/arm64": "grype-arm64.json"}
	var asked []string
	s := ScannerFunc(func(_ context.Context, p version.Platform, ref string) ([]byte, error) {
		asked = append(asked, p.String()+"="+ref)
		return fixture(t, reports[p.String()]), nil
	})
	imgs := []Image{{amd64, "oci-archive:/tmp/amd64.tar"}, {arm64, "oci-archive:/tmp/arm64.tar"}}
	v, err := Check(t.Context(), s, imgs, Policy{FailOn: Critical}, now)
	if fault.Of(err) != fault.Refused || v.Count(Refuses) != 3 || !slices.Equal(v.Platforms, []version.Platform{amd64, arm64}) {
		t.Errorf("%v: %v", err, v.Summary())
	}
	if !slices.Equal(asked, []string{"linux/amd64=oci-archive:/tmp/amd64.tar", "linux/arm64=oci-archive:/tmp/arm64.tar"}) {
		t.Errorf("scanned %q", asked)
	}
	ig := mustIgnore(t, "CVE-2024-5535 expires=2027-01-01 reason=r\nCVE-2023-45853 expires=2027-01-01 reason=r\n")
	if v, err := Check(t.Context(), s, imgs, Policy{FailOn: Critical, Ignores: ig}, now); err != nil || v.Count(Ignored) != 3 {
		t.Errorf("all ignored: %v %v", err, v.Summary())
	}

	down := fault.AsUnreachable(errors.New("pull anchore/grype: connection refused"))
	failing := ScannerFunc(func(_ context.Context, p version.Platform, _ string) ([]byte, error) {
		if p == arm64 {
			return nil, down
		}
		return fixture(t, "grype-empty.json"), nil
	})
	_, err = Check(t.Context(), failing, imgs, Policy{FailOn: High}, now)
	if !errors.Is(err, down) || fault.Of(err) != fault.Unreachable || !strings.HasPrefix(err.Error(), "scan the linux/arm64 image with grype: ") {
		t.Errorf("scanner failure: %v", err)
	}
	garbled := ScannerFunc(func(context.Context, version.Platform, string) ([]byte, error) {
		return []byte("1 error occurred"), nil
	})
	_, err = Check(t.Context(), garbled, imgs, Policy{FailOn: High}, now)
	if fault.Of(err) != fault.Unreadable || !strings.HasPrefix(err.Error(), "the grype report of the linux/amd64 image: not grype's JSON report") {
		t.Errorf("garbled report: %v", err)
	}
}

func lineNos(ig []Ignore) []int {
	out := []int{}
	for _, e := range ig {
		out = append(out, e.Line)
	}
	return out
}

// Example of a refusing verdict as the operator sees it.
func ExampleVerdict_Text() {
	r := Report{Tool: "grype 0.116.1", Matches: []Match{
		{ID: "CVE-2024-5535", Severity: Critical, FixedIn: []string{"3.0.14-1~deb12u1"}, Package: Package{Name: "libssl3", Version: "3.0.13-1~deb12u1", Type: "deb"}},
		{ID: "CVE-2025-0001", Severity: High, FixState: "not-fixed", Package: Package{Name: "busybox", Version: "1.36.1-r29", Type: "apk"}},
		{ID: "CVE-2025-0002", Severity: High, FixedIn: []string{"1.2.3"}, Package: Package{Name: "zlib", Version: "1.2.2", Type: "apk"}},
	}}
	ig := Ignores{{ID: "CVE-2025-0002", Expires: date(2026, 10, 1), Reason: "minizip unused", Line: 4}}
	fmt.Println(Judge(r, High, ig, now, amd64).Text(2))
	// Output:
	// grype 0.116.1 found 3 vulnerabilities at or above high in linux/amd64 that no --scan-ignore entry covers:
	//   CVE-2024-5535 critical libssl3@3.0.13-1~deb12u1 (deb), fixed in 3.0.14-1~deb12u1, in linux/amd64
	//   CVE-2025-0001 high busybox@1.36.1-r29 (apk), no fix yet, in linux/amd64
	//   and 1 more
	// ignore entry for CVE-2025-0002 expired on 2026-10-01 (--scan-ignore line 4): it no longer ignores; fix the finding, or renew the entry with a later expires= and a reason
	// to release: upgrade these packages (or rebuild on a patched base image), or, for a finding that does not apply, add a --scan-ignore entry with an expiry date and a reason
}
