package release_test

import (
	"os"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/pipeline/release"
	"github.com/shipgate/shipgate/pipeline/sandbox"
	"github.com/shipgate/shipgate/pipeline/version"
)

// grypeReport is the recorded grype report of a platform image (pipeline/vulnscan's fixtures:
// critical CVE-2024-5535 and CVE-2023-45853, high GHSA-w32m-9786-jp63, and on arm64 high
// CVE-2025-4802).
func grypeReport(t *testing.T, p version.Platform) []byte {
	t.Helper()
	b, err := os.ReadFile("../vulnscan/testdata/grype-" + p.Suffix() + ".json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestVulnerabilityScan: --scan runs over every platform image before anything is pushed. A
// finding at or above --scan-fail-on refuses with its id and platforms, nothing pushed; live
// ignore entries let it through (an unused one is a note); an expired entry ignores nothing and is
// named; a bad ignore file fails before any step. Both registry lanes.
func TestVulnerabilityScan(t *testing.T) {
	t.Parallel()
	live := "CVE-2024-5535 expires=2099-01-01 reason=\"NPN unused\"\nCVE-2023-45853 expires=2099-01-01 reason=\"zip not used\"\n" +
		"GHSA-w32m-9786-jp63 expires=2099-01-01 reason=\"no HTTP/2 server\"\nCVE-2025-4802 expires=2099-01-01 reason=\"static binary\"\n"
	for _, c := range []struct {
		name string
		scan release.Scan
		want string // a refusal of "image checks"; "" passes
	}{
		{"critical refuses", release.Scan{}, "CVE-2024-5535"},
		{"arm64 only finding", release.Scan{FailOn: "high", Ignore: []byte(strings.Replace(live, "CVE-2025-4802 expires=2099-01-01 reason=\"static binary\"\n", "", 1))}, "CVE-2025-4802"},
		{"expired entry", release.Scan{Ignore: []byte(strings.Replace(live, "CVE-2024-5535 expires=2099-01-01", "CVE-2024-5535 expires=2020-01-01", 1))}, "expired on 2020-01-01"},
		{"all ignored", release.Scan{Ignore: []byte(live + "CVE-1999-0001 expires=2099-01-01 reason=\"old\"\n")}, ""},
		{"critical only", release.Scan{FailOn: "critical", Ignore: []byte("CVE-2024-5535 expires=2099-01-01 reason=x\nCVE-2023-45853 expires=2099-01-01 reason=y\n")}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			eachLane(t, func(t *testing.T, w *world) {
				w.sb.Builder.Scan = func(p version.Platform) []byte { return grypeReport(t, p) }
				w.prepare("1.0.0")
				in := w.publishInput("1.0.0")
				scan := c.scan
				in.Scan = &scan
				rep, err := release.Publish(w.ctx, w.env, in)
				if c.want != "" {
					refused(t, err, rep, "image checks", c.want)
					if w.tag("1.0.0-amd64") != "" || w.tag("1.0.0") != "" {
						t.Fatal("a refused scan pushed an image")
					}
					return
				}
				if err != nil || !strings.Contains(rep.Get("index"), "@sha256:") {
					t.Fatalf("publish: %v\n%s", err, render(rep))
				}
				if c.name == "all ignored" && !strings.Contains(render(rep), "CVE-1999-0001") {
					t.Fatalf("the unused ignore entry is not noted:\n%s", render(rep))
				}
			})
		})
	}
	w := newWorld(t, sandbox.Options{})
	w.prepare("1.0.0")
	in := w.publishInput("1.0.0")
	in.Scan = &release.Scan{Ignore: []byte("CVE-2024-5535 reason=x\n")}
	if rep, err := release.Publish(w.ctx, w.env, in); err == nil || len(rep.Records) != 0 || !strings.Contains(err.Error(), "expires") {
		t.Fatalf("an ignore entry without expiry: %v", err)
	}
}
