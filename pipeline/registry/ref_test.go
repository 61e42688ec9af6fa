package registry

import (
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
)

func TestParseRepository(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{"ghcr.io/acme/app", "ghcr.io/acme/app", ""},
		{"127.0.0.1:5000/app", "127.0.0.1:5000/app", ""},
		{"localhost/acme/app", "localhost/acme/app", ""},
		{"registry.example.com:443/a/b/c", "registry.example.com:443/a/b/c", ""},
		{"", "", "repository is empty"},
		{"acme/app", "", "does not name its registry: write it in full, for example ghcr.io/acme/app"},
		{"app", "", "does not name its registry"},
		{"ghcr.io", "", "does not name its registry"},
		{"ghcr.io/", "", "does not name its registry"},
		{"ghcr.io/acme/app:1.2.3", "", "has a tag: give the repository alone (ghcr.io/acme/app)"},
		{"ghcr.io/acme/app@sha256:" + strings.Repeat("a", 64), "", "has a digest"},
		{"https://ghcr.io/acme/app", "", "has a URL scheme: drop it and write ghcr.io/acme/app"},
		{"ghcr.io/Acme/App", "", "write ghcr.io/acme/app"},
		{"ghcr.io/acme/app name", "", "whitespace"},
		{"ghcr.io/acme//app", "", "not a valid repository path"},
		{"ghcr.io/acme/app-", "", "not a valid repository path"},
		{"ghcr.io/acme/_app", "", "not a valid repository path"},
		{"ghcr.io/acme/my__app.v2", "ghcr.io/acme/my__app.v2", ""},
		{"ghcr.io/" + strings.Repeat("a", 256), "", "at most 255"},
	} {
		got, err := ParseRepository(tc.in)
		if tc.err == "" {
			if err != nil || got != tc.want {
				t.Errorf("ParseRepository(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("ParseRepository(%q) error %v; want it to say %q", tc.in, err, tc.err)
		}
	}
}

func TestValidateTag(t *testing.T) {
	long := strings.Repeat("a", 128)
	for _, tc := range []struct{ in, err string }{
		{"1.2.3", ""},
		{"1.2.3-arm-v7", ""},
		{"latest", ""},
		{"_x", ""},
		{long, ""},
		{long + "a", "129 characters long; registries accept at most 128"},
		{"", "empty"},
		{".hidden", "starts with"},
		{"-x", "starts with"},
		{"1.2.3+build", "contains '+'"},
		{"a/b", "contains '/'"},
		{"a:b", "contains ':'"},
	} {
		err := validateTag(tc.in)
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("validateTag(%.30q) = %v; want %q", tc.in, err, tc.err)
		}
	}
}

func TestParseDigest(t *testing.T) {
	hex := strings.Repeat("ab", 32)
	for _, tc := range []struct{ in, repo, err string }{
		{"sha256:" + hex, "", ""},
		{"ghcr.io/acme/app@sha256:" + hex, "ghcr.io/acme/app", ""},
		{"ghcr.io/acme/app:1.2.3-arm64@sha256:" + hex, "ghcr.io/acme/app", ""},
		{"127.0.0.1:5000/app@sha256:" + hex, "127.0.0.1:5000/app", ""},
		{"sha256:" + hex[:10], "", "not a manifest digest"},
		{"sha512:" + strings.Repeat("ab", 64), "", "uses sha512"},
		{hex, "", "not a manifest digest"},
		{"acme/app@sha256:" + hex, "", "does not name its registry"},
		{"", "", "not a manifest digest"},
	} {
		repo, h, err := parseDigest(tc.in)
		if tc.err == "" {
			if err != nil || repo != tc.repo || h.Hex != hex {
				t.Errorf("parseDigest(%q) = %q %v %v", tc.in, repo, h, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("parseDigest(%q) error %v; want %q", tc.in, err, tc.err)
		}
	}
}

var ociPath = regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$`)

var tagPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)

func FuzzValidateTag(f *testing.F) {
	for _, s := range []string{"1.2.3", "latest", "1.2.3-arm-v7", "", ".x", strings.Repeat("a", 129), "a b", "ü", "1.2.3+x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := validateTag(s)
		if (err == nil) != tagPattern.MatchString(s) {
			t.Fatalf("validateTag(%q) = %v, disagreeing with the OCI tag grammar", s, err)
		}
		if err == nil {
			if _, perr := name.NewTag("ghcr.io/acme/app:"+s, name.StrictValidation); perr != nil {
				t.Fatalf("accepted tag %q that go-containerregistry refuses: %v", s, perr)
			}
		}
	})
}

func FuzzParseRepository(f *testing.F) {
	for _, s := range []string{"ghcr.io/acme/app", "127.0.0.1:5000/app", "acme/app", "ghcr.io/Acme/App", "ghcr.io/acme/app:1", "https://x.io/a", "x.io/a@sha256:00", "localhost/a", "x.io//a", "a.b/" + strings.Repeat("c", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseRepository(s)
		if err != nil {
			if got != "" {
				t.Fatalf("error with a result %q", got)
			}
			return
		}
		again, err := ParseRepository(got)
		if err != nil || again != got {
			t.Fatalf("canonical form %q of %q does not parse to itself: %q %v", got, s, again, err)
		}
		if path := got[strings.Index(got, "/")+1:]; !ociPath.MatchString(path) || len(path) > 255 {
			t.Fatalf("accepted %q, whose path breaks the OCI name grammar", got)
		}
		// Every tag shipgate writes composes with it.
		if _, err := name.NewTag(got+":1.2.3-arm-v7", name.StrictValidation); err != nil {
			t.Fatalf("repository %q cannot take a tag: %v", got, err)
		}
	})
}

func FuzzParseDigest(f *testing.F) {
	hex := strings.Repeat("0f", 32)
	for _, s := range []string{"sha256:" + hex, "ghcr.io/a/b@sha256:" + hex, "ghcr.io/a/b:1@sha256:" + hex, "sha256:", "@", "a@b@c", "x.io/a@sha512:" + hex} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		repo, h, err := parseDigest(s)
		if err != nil {
			return
		}
		if h.Algorithm != "sha256" || len(h.Hex) != 64 {
			t.Fatalf("accepted digest %v from %q", h, s)
		}
		if repo != "" {
			if _, err := ParseRepository(repo); err != nil {
				t.Fatalf("returned repository %q does not parse: %v", repo, err)
			}
			if _, err := name.NewDigest(repo+"@"+h.String(), name.StrictValidation); err != nil {
				t.Fatalf("%q@%v is not a digest reference: %v", repo, h, err)
			}
		}
	})
}
