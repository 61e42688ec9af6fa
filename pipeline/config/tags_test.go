package config

import (
	"strings"
	"testing"

	"github.com/shipgate/shipgate/pipeline/version"
)

// TestTagSpelling: --tag-prefix takes what reads back unambiguously as prefix + X.Y.Z; the
// candidate form is rc.N or rcN; the branch settings are branch names.
func TestTagSpelling(t *testing.T) {
	for prefix, ok := range map[string]bool{"v": true, "": true, "release-": true, "app/v": true, "V": true,
		"-v": false, "v2-": false, "1": false, "a..b": false, "a//b": false, "v ": false, "rel/.v": false, ".v": false, "a.lock/v": false, "app.v/": true, strings.Repeat("v", 41): false} {
		s := good()
		s.TagPrefix = &prefix
		err := s.Validate()
		if (err == nil) != ok || (err != nil && !strings.Contains(err.Error(), "--tag-prefix")) {
			t.Errorf("--tag-prefix %q: %v", prefix, err)
		}
	}
	s := good()
	s.CandidateForm, s.DevBranch, s.SyncBranch = "rc-N", "-dev", s.BaseBranch
	s.Defaults()
	err := s.Validate()
	for _, want := range []string{"--candidate-form", "--prepare-from", "--sync-branch"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s not refused: %v", want, err)
		}
	}
	s = good()
	s.Defaults()
	if s.GitTagPrefix() != "v" || s.CandidateForm != version.CandidateDotted {
		t.Errorf("defaults: prefix %q, form %q", s.GitTagPrefix(), s.CandidateForm)
	}
}
