package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseAge(t *testing.T) {
	for in, want := range map[string]time.Duration{"7d": 7 * 24 * time.Hour, "36h": 36 * time.Hour, "90m": 90 * time.Minute, "1h30m": 90 * time.Minute, "3650d": MaxAge} {
		if got, err := ParseAge(in); err != nil || got != want {
			t.Errorf("%s: %v %v, want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0d", "-1h", "7", "d", "1.5d", "3651d", "99999999999999d", "7 d", "0s"} {
		if _, err := ParseAge(in); err == nil || !strings.Contains(err.Error(), "--older-than") {
			t.Errorf("%q: %v", in, err)
		}
	}
}

func FuzzParseAge(f *testing.F) {
	for _, s := range []string{"7d", "36h", "1h30m", "-1d", "99999999999d", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseAge(s)
		if err == nil && (d <= 0 || d > MaxAge) {
			t.Fatalf("%q → %v", s, d)
		}
		if err != nil && len(err.Error()) > 320 {
			t.Fatalf("error repeats the input: %d characters", len(err.Error()))
		}
	})
}
