package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/pipeline/fault"
)

// Every word setting is parsed by one ParseX: "" is the default, the documented words are
// accepted, and anything else is bad input that names the flag and the accepted words — never a
// Go name.
func TestParseWords(t *testing.T) {
	type parser func(string) (string, error)
	wrap := func(f func(string) (string, error)) parser { return f }
	cases := []struct {
		flag  string
		parse parser
		def   string
		ok    []string
	}{
		{"--sign", wrap(func(s string) (string, error) { v, err := ParseSignMode(s); return string(v), err }), "keyless", []string{"keyless", "key", "none"}},
		{"--downstream-gate", wrap(func(s string) (string, error) { v, err := ParseGateMode(s); return string(v), err }), "prerelease", []string{"prerelease", "release", "any"}},
		{"--merge-method", wrap(func(s string) (string, error) { v, err := ParseMergeMethod(s); return string(v), err }), "merge", []string{"merge", "squash", "rebase"}},
		{"--format", wrap(func(s string) (string, error) { v, err := ParseFormat(s); return string(v), err }), "text", []string{"text", "markdown", "json"}},
	}
	for _, c := range cases {
		if got, err := c.parse(""); err != nil || got != c.def {
			t.Errorf("%s: empty = %q, %v; want the default %q", c.flag, got, err, c.def)
		}
		if d, ok := FlagDefault(c.flag); !ok || d != c.def {
			t.Errorf("%s: FlagDefault = %q, %v; want %q", c.flag, d, ok, c.def)
		}
		for _, w := range c.ok {
			if got, err := c.parse(w); err != nil || got != w {
				t.Errorf("%s %s: got %q, %v", c.flag, w, got, err)
			}
		}
		for _, bad := range []string{"Squash", " merge", "octopus", strings.Repeat("x", 1<<16)} {
			_, err := c.parse(bad)
			if err == nil {
				t.Errorf("%s accepted %.20q", c.flag, bad)
				continue
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, c.flag+" ") || !strings.Contains(msg, strings.Join(c.ok, ", ")) {
				t.Errorf("%s: error does not name the flag and its words: %.200s", c.flag, msg)
			}
			if fault.Of(err) != fault.BadInput {
				t.Errorf("%s: error class %v, want bad input", c.flag, fault.Of(err))
			}
			if len(msg) > 300 {
				t.Errorf("%s: error is %d bytes long", c.flag, len(msg))
			}
			if strings.Contains(msg, "MergeMethod") || strings.Contains(msg, "SignMode") || strings.Contains(msg, "config.") {
				t.Errorf("%s: error names Go API: %s", c.flag, msg)
			}
		}
	}
}

// Issue 10, bug 1: a typo in --merge-method is refused by config, as any other setting, so the
// module can refuse it before promote's first step (it used to surface only after latest moved).
func TestMergeMethodTypoIsBadInput(t *testing.T) {
	_, err := ParseMergeMethod("sqaush")
	if err == nil || !errors.Is(err, fault.ErrBadInput) || !strings.Contains(err.Error(), `--merge-method "sqaush" is not one of merge, squash, rebase`) {
		t.Fatalf("got %v", err)
	}
}

func TestValidateIsBadInput(t *testing.T) {
	s := good()
	s.Sign = "gpg"
	if err := s.Validate(); fault.Of(err) != fault.BadInput {
		t.Fatalf("class %v of %v, want bad input", fault.Of(err), err)
	}
}

// Issue 11, item 7: credentials written into an image reference or a URL setting are refused, and
// the message shows the setting with them redacted.
func TestCredentialsInSettingsNeverEcho(t *testing.T) {
	const pw = "s3cretPW"
	for name, mut := range map[string]func(*Settings){
		"image user:pass":        func(s *Settings) { s.Image = "bot:" + pw + "@ghcr.io/acme/app" },
		"image token only":       func(s *Settings) { s.Image = pw + "@ghcr.io/acme/app" },
		"image with scheme":      func(s *Settings) { s.Image = "https://bot:" + pw + "@ghcr.io/acme/app" },
		"image with a tag too":   func(s *Settings) { s.Image = "bot:" + pw + "@ghcr.io/acme/app:1.0.0" },
		"image host only":        func(s *Settings) { s.Image = "bot:" + pw + "@ghcr.io" },
		"github api":             func(s *Settings) { s.GitHubAPI = "https://bot:" + pw + "@ghe.example.com/api/v3/" },
		"github api unparsable":  func(s *Settings) { s.GitHubAPI = "https://bot:" + pw + " x@ghe.example.com/api/v3/" },
		"github api bad escape":  func(s *Settings) { s.GitHubAPI = "https://bot:" + pw + "%zz@ghe.example.com/" },
		"github api plain http":  func(s *Settings) { s.GitHubAPI = "http://bot:" + pw + "@ghe.example.com/" },
		"fulcio":                 func(s *Settings) { s.FulcioURL = "https://bot:" + pw + "@fulcio.example.com" },
		"rekor":                  func(s *Settings) { s.RekorURL = "https://:" + pw + "@rekor.example.com" },
		"plain-http host":        func(s *Settings) { s.PlainHTTP = []string{"bot:" + pw + "@reg.example.com:5000"} },
		"password with @ inside": func(s *Settings) { s.GitHubAPI = "https://bot:" + pw + "@x@ghe.example.com/" },
	} {
		err := refusal(t, name, mut)
		if err == nil {
			continue
		}
		if strings.Contains(err.Error(), pw) {
			t.Errorf("%s: the password appears in the error: %v", name, err)
		}
		if !strings.Contains(err.Error(), "***") {
			t.Errorf("%s: the error does not show the setting redacted: %v", name, err)
		}
	}
	// ParseImage on its own, as callers outside Validate use it.
	if _, err := ParseImage("bot:" + pw + "@ghcr.io/acme/app"); err == nil || strings.Contains(err.Error(), pw) || !strings.Contains(err.Error(), `"***@ghcr.io/acme/app" carries credentials`) {
		t.Errorf("ParseImage: %v", err)
	}
	// A digest is not a credential.
	if _, err := ParseImage("app@sha256:" + strings.Repeat("a", 64)); err == nil || !strings.Contains(err.Error(), "has a digest") {
		t.Errorf("bare image with digest: %v", err)
	}
}

// Issue 11, item 9: repository names refused up front.
func TestParseRepo(t *testing.T) {
	// Accepted names come back as written, without a .git suffix.
	for _, in := range []string{"acme/app", "acme/app.git", "acme/a.b", "Acme-1/_x", "acme/.github", "acme/..."} {
		r, err := ParseRepo(in)
		if want := strings.TrimSuffix(in, ".git"); err != nil || r.String() != want {
			t.Errorf("ParseRepo(%q) = %v, %v; want %s", in, r, err, want)
		}
	}
	for _, in := range []string{
		"acme/.", "acme/..", "acme/..git", "acme/...git", "acme/.git", "acme/..GIT",
		"./app", "../app", "./.", "acme", "acme/", "/app", "acme/app/x", "-acme/app",
		"acme/app name", "acme/" + strings.Repeat("a", 101), strings.Repeat("a", 40) + "/app", "acme/app\n", "",
	} {
		_, err := ParseRepo(in)
		if err == nil {
			t.Errorf("ParseRepo(%q) accepted", in)
			continue
		}
		if fault.Of(err) != fault.BadInput || len(err.Error()) > 300 {
			t.Errorf("ParseRepo(%q): %v (class %v)", in, err, fault.Of(err))
		}
	}
	for _, flag := range []string{"--repo", "--downstream"} {
		s := good()
		s.HasDownstreamToken = true
		if flag == "--repo" {
			s.Repo = "acme/..git"
		} else {
			s.Downstream = "../smoke"
		}
		if err := s.Validate(); err == nil || !strings.Contains(err.Error(), flag+": ") {
			t.Errorf("%s with a dot name: %v", flag, err)
		}
	}
}

// Issue 11, item 9: an event type over GitHub's limit fails Validate, not the dispatch after
// everything was pushed.
func TestEventTypeLimit(t *testing.T) {
	s := good()
	s.EventType = strings.Repeat("e", MaxEventTypeLength)
	if err := s.Validate(); err != nil {
		t.Fatalf("100 characters: %v", err)
	}
	s.EventType = strings.Repeat("e", MaxEventTypeLength+1)
	err := s.Validate()
	if err == nil || !strings.Contains(err.Error(), "--event-type") || !strings.Contains(err.Error(), "101 characters") {
		t.Fatalf("101 characters: %v", err)
	}
}

// A megabyte pasted into any setting gives a short message.
func TestErrorsStayShort(t *testing.T) {
	huge := strings.Repeat("x", 1<<16) // 64 KiB: a pasted file
	for name, mut := range map[string]func(*Settings){
		"image":       func(s *Settings) { s.Image = huge },
		"repo":        func(s *Settings) { s.Repo = "acme/" + huge },
		"github-api":  func(s *Settings) { s.GitHubAPI = "https://" + huge },
		"base-branch": func(s *Settings) { s.BaseBranch = huge + " " },
		"sign":        func(s *Settings) { s.Sign = SignMode(huge) },
		"event-type":  func(s *Settings) { s.EventType = huge },
		"dockerfile":  func(s *Settings) { s.Dockerfile = "/" + huge },
		"build-arg":   func(s *Settings) { s.BuildArgs = []string{huge} },
		"plain-http":  func(s *Settings) { s.PlainHTTP = []string{huge + "/"} },
		"format":      func(s *Settings) { s.Format = Format(huge) },
	} {
		if err := refusal(t, name, mut); err != nil && len(err.Error()) > 400 {
			t.Errorf("%s: error is %d bytes", name, len(err.Error()))
		}
	}
}
