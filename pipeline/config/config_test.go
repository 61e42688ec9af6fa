package config

import (
	"maps"
	"strings"
	"testing"
)

func good() Settings {
	s := Settings{Image: "ghcr.io/acme/app", Repo: "acme/app", HasGitHubToken: true}
	s.Defaults()
	return s
}

// refusal is Validate's error for good settings changed by mut; settings it accepts fail the test
// case name, and give nil.
func refusal(t *testing.T, name string, mut func(*Settings)) error {
	t.Helper()
	s := good()
	mut(&s)
	err := s.Validate()
	if err == nil {
		t.Errorf("%s: accepted", name)
	}
	return err
}

func TestDefaultsAreValid(t *testing.T) {
	s := good()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if s.Sign != SignKeyless || s.BaseBranch != "main" || strings.Join(s.Platforms, ",") != "linux/amd64,linux/arm64" || s.DownstreamGate != GatePrerelease || s.Format != "text" {
		t.Fatalf("defaults: %+v", s)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	s := good()
	s.Image = "ghcr.io/acme/app:1.2.3"
	s.Repo = "acme"
	s.GitHubAPI = "http://github.example.com/api/v3/"
	s.Sign = "gpg"
	s.Downstream = "acme/smoke"
	s.DownstreamGate = "sometimes"
	s.Platforms = []string{"linux/sparc"}
	s.BuildArgs = []string{"A=1", "A=2"}
	s.Format = "yaml"
	s.Dockerfile = "../Dockerfile"
	s.CertIdentity, s.CertIdentityRegexp = "x", "y"
	err := s.Validate()
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"--image: \"ghcr.io/acme/app:1.2.3\" has a tag", "--repo: \"acme\" is not owner/name", "plain http to a non-local host", "--sign \"gpg\"", "--downstream acme/smoke needs --downstream-token", "--downstream-gate \"sometimes\"", "architecture \"sparc\"", "\"A\" is given twice", "--format", "--dockerfile", "not both"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestValidateGivenSkipsRequired(t *testing.T) {
	var s Settings
	s.Defaults()
	if err := s.ValidateGiven(); err != nil {
		t.Fatalf("empty settings with defaults: %v", err)
	}
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "--image is required") || !strings.Contains(err.Error(), "--repo is required") {
		t.Fatalf("Validate must require image and repo: %v", err)
	}
	s.Image = "ghcr.io/acme/app:latest"
	if err := s.ValidateGiven(); err == nil {
		t.Fatalf("ValidateGiven accepted a tagged image")
	}
}

func TestSpecificRules(t *testing.T) {
	for name, mut := range map[string]func(*Settings){
		"digest image":       func(s *Settings) { s.Image = "ghcr.io/acme/app@sha256:" + strings.Repeat("a", 64) },
		"bad image":          func(s *Settings) { s.Image = "GHCR.io/Acme/App!" },
		"key without pub":    func(s *Settings) { s.Sign = SignKey; s.HasSigningKey = true },
		"password only":      func(s *Settings) { s.HasRegistryPassword = true },
		"creds in url":       func(s *Settings) { s.GitHubAPI = "https://user:pw@ghe.example.com/api/v3/" },
		"bad regexp":         func(s *Settings) { s.CertIdentityRegexp = "(" },
		"base branch option": func(s *Settings) { s.BaseBranch = "-rf" },
	} {
		if err := refusal(t, name, mut); err != nil && strings.Contains(err.Error(), "pw@") {
			t.Errorf("%s: error repeats the URL password: %v", name, err)
		}
	}
	s := good()
	s.GitHubAPI = "http://172.17.0.1:8080/"
	s.PlainHTTP = []string{"172.17.0.1:8080"}
	if err := s.Validate(); err != nil {
		t.Errorf("plain http allowed by --plain-http: %v", err)
	}
	if !s.AllowsPlainHTTP("127.0.0.1:5000") || !s.AllowsPlainHTTP("localhost:5000") || !s.AllowsPlainHTTP("172.17.0.1:8080") || s.AllowsPlainHTTP("ghcr.io") {
		t.Errorf("AllowsPlainHTTP wrong")
	}
	args, err := ParseBuildArgs([]string{"B=2", "A=x=y"})
	if err != nil || args["A"] != "x=y" || !maps.Equal(args, map[string]string{"A": "x=y", "B": "2"}) {
		t.Errorf("ParseBuildArgs: %v %v", args, err)
	}
	if _, err := ParseBuildArgs([]string{"=x"}); err == nil {
		t.Errorf("empty key accepted")
	}
}
