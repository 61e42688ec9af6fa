package vulnscan

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate/pipeline/fault"
)

const ignoreFile = "# accepted risks of app 1.4\r\n" +
	"\n" +
	"CVE-2024-5535  expires=2027-01-31  package=libssl3@3.0.13-1~deb12u1  reason=\"NPN is not used\"\r\n" +
	"   # indented comment\n" +
	"cve-2024-45338\texpires=2026-12-15 reason=\"the HTTP/2 server is off\"  # tracked in #412\n" +
	"GHSA-aaaa-bbbb-cccc expires=2026-12-01 package=@scope/left-pad@1.0.0 reason=vendored\n" +
	"RHSA-2024:1234 expires=2026-12-01 package=\"odd\\\"name\" reason=\"a \\\"quoted\\\" word\"\n" +
	"CVE-2024-5535  expires=2026-12-31  package=openssl  reason=\"same id, another package\"\n"

func TestParseIgnore(t *testing.T) {
	ig, err := ParseIgnore([]byte(ignoreFile))
	if err != nil {
		t.Fatal(err)
	}
	want := Ignores{
		{ID: "CVE-2024-5535", Package: "libssl3", Version: "3.0.13-1~deb12u1", Expires: date(2027, 1, 31), Reason: "NPN is not used", Line: 3},
		{ID: "cve-2024-45338", Expires: date(2026, 12, 15), Reason: "the HTTP/2 server is off", Line: 5},
		{ID: "GHSA-aaaa-bbbb-cccc", Package: "@scope/left-pad", Version: "1.0.0", Expires: date(2026, 12, 1), Reason: "vendored", Line: 6},
		{ID: "RHSA-2024:1234", Package: `odd"name`, Expires: date(2026, 12, 1), Reason: `a "quoted" word`, Line: 7},
		{ID: "CVE-2024-5535", Package: "openssl", Expires: date(2026, 12, 31), Reason: "same id, another package", Line: 8},
	}
	if fmt.Sprint(ig) != fmt.Sprint(want) {
		t.Fatalf("got\n%v\nwant\n%v", ig, want)
	}
	for _, s := range []string{"", "\n\n", "# nothing ignored\n"} {
		if ig, err := ParseIgnore([]byte(s)); err != nil || len(ig) != 0 {
			t.Errorf("%q: %v %v", s, ig, err)
		}
	}
}

// Every problem is bad input naming its line and what to write instead; several are reported at
// once.
func TestParseIgnoreErrors(t *testing.T) {
	for _, c := range []struct{ line, want string }{
		{`CVE-2024-1 reason="r"`, "CVE-2024-1 has no expires=YYYY-MM-DD: every entry must expire"},
		{`CVE-2024-1 expires=2026-12-01`, `CVE-2024-1 has no reason="…"`},
		{`CVE-2024-1 expires=2026-13-01 reason=r`, "expires=2026-13-01 is not a date: write YYYY-MM-DD"},
		{`CVE-2024-1 expires=01/12/2026 reason=r`, "expires=01/12/2026 is not a date"},
		{`CVE-2024-1 expires=2026-12-01 reason=r until=2027-01-01`, "unknown field until=: the fields are expires=, reason= and package="},
		{`CVE-2024-1 expires=2026-12-01 expires=2026-12-02 reason=r`, "expires= is given twice"},
		{`CVE-2024-1 expires=2026-12-01 reason=`, "reason= is empty"},
		{`CVE-2024-1 expires=2026-12-01 reason=r openssl`, `"openssl" is not a key=value field`},
		{`CVE-2024-1 expires=2026-12-01 reason="unclosed`, "no closing quote"},
		{`CVE-2024-1 expires=2026-12-01 reason="a"b`, "text right after the closing quote"},
		{`CVE-2024-1 expires=2026-12-01 reason=a"b"`, "a quote inside an unquoted value"},
		{`CVE-2024-1 expires=2026-12-01 reason="tab\there"`, "a control character"},
		{`CVE-2024-1 expires=2026-12-01 reason=r package=openssl@`, "package=openssl@ is not a package name"},
		{`CVE-2024-1 expires=2026-12-01 reason=r package="a b@1"`, "is not a package name"},
		{`CVE-2024-1 expires=2026-12-01 reason=r =x`, "a field starts with ="},
		{`expires=2026-12-01 CVE-2024-1 reason=r`, "starts with expires=: start the entry with the vulnerability id"},
		{`CVE/2024/1 expires=2026-12-01 reason=r`, `"CVE/2024/1" is not a vulnerability id`},
		{`"CVE-1" expires=2026-12-01 reason=r`, "a quote outside"},
		{"CVE-2024-1 expires=2026-12-01 reason=\xff", "not UTF-8"},
	} {
		file := "# header\n" + c.line + "\n"
		_, err := ParseIgnore([]byte(file))
		if err == nil {
			t.Errorf("%s: accepted", c.line)
			continue
		}
		if fault.Of(err) != fault.BadInput || !strings.Contains(err.Error(), "--scan-ignore file: line 2: ") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s:\n%v\nwant bad input at line 2 saying %q", c.line, err, c.want)
		}
	}
	var many strings.Builder
	many.WriteString("CVE-1 expires=2026-12-01 reason=r package=a\nCVE-1 expires=2027-01-01 reason=s package=a\n")
	for range 7 {
		many.WriteString("CVE-2\n")
	}
	_, err := ParseIgnore([]byte(many.String()))
	for _, want := range []string{"line 2: repeats the entry of line 1 for CVE-1 in a", "line 3: CVE-2 has no expires", "line 6: CVE-2", "(and 3 more)"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want %q in\n%v", want, err)
		}
	}
	if err != nil && strings.Contains(err.Error(), "line 7:") {
		t.Errorf("more than %d problems listed:\n%v", maxIgnoreErrors, err)
	}
}

// An entry's canonical line reads back as the same entry.
func TestIgnoreStringRoundTrip(t *testing.T) {
	ig, err := ParseIgnore([]byte(ignoreFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ig {
		again, err := ParseIgnore([]byte(e.String()))
		if err != nil || len(again) != 1 {
			t.Fatalf("%s: %v", e, err)
		}
		again[0].Line = e.Line
		if again[0] != e {
			t.Errorf("%s read back as %+v", e, again[0])
		}
	}
}

// An entry ignores strictly before 00:00 UTC on its expiry date, whatever the zone of the clock.
func TestIgnoreExpiry(t *testing.T) {
	e := Ignore{ID: "CVE-1", Expires: date(2026, 10, 1), Reason: "r"}
	berlin := time.FixedZone("CEST", 2*3600)
	chicago := time.FixedZone("CDT", -5*3600)
	for _, c := range []struct {
		now     time.Time
		expired bool
	}{
		{time.Date(2026, 9, 30, 23, 59, 59, 999999999, time.UTC), false},
		{time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), true}, // expires today: expired
		{time.Date(2026, 10, 1, 12, 0, 0, 0, time.UTC), true},
		{time.Date(2026, 10, 1, 1, 30, 0, 0, berlin), false},    // 2026-09-30 23:30 UTC
		{time.Date(2026, 9, 30, 20, 0, 0, 0, chicago), true},    // 2026-10-01 01:00 UTC
		{time.Date(2026, 9, 30, 18, 59, 59, 0, chicago), false}, // 23:59:59 UTC
	} {
		if got := e.Expired(c.now); got != c.expired {
			t.Errorf("at %s: expired %v, want %v", c.now, got, c.expired)
		}
	}
}

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// An ignore file written on Windows — a byte-order mark, CRLF line ends — reads like any other.
func TestParseIgnoreWindowsFile(t *testing.T) {
	ig, err := ParseIgnore([]byte("\ufeffCVE-2024-5535  expires=2099-01-01  reason=\"x\"\r\n# note\r\n\r\nGHSA-aaaa-bbbb-cccc expires=2099-01-01 reason=y\r\n"))
	if err != nil || len(ig) != 2 || ig[0].ID != "CVE-2024-5535" || ig[0].Line != 1 || ig[1].Line != 4 {
		t.Fatalf("%v %v", ig, err)
	}
}
