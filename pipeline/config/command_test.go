package config

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/pipeline/fault"
)

func TestParseCommand(t *testing.T) {
	for in, want := range map[string][]string{
		"/app --version":                  {"/app", "--version"},
		"  /app\t--check  ":               {"/app", "--check"},
		`sh -c 'test -f /app && echo ok'`: {"sh", "-c", "test -f /app && echo ok"},
		`echo "a \"b\" c"`:                {"echo", `a "b" c`},
		`echo a\ b ''`:                    {"echo", "a b", ""},
		`x"y"'z'`:                         {"xyz"},
	} {
		got, err := ParseCommand("--test", in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("ParseCommand(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "   ", `echo 'open`, `echo "open`, `trailing\`, "two\nlines", strings.Repeat("x", maxCommand+1)} {
		_, err := ParseCommand("--test", bad)
		if !errors.Is(err, fault.ErrBadInput) || !strings.Contains(err.Error(), "--test") || len(err.Error()) > 300 {
			t.Errorf("ParseCommand(%.40q) = %v; want a short bad-input error naming --test", bad, err)
		}
	}
}

func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"/app --version", `sh -c 'a b'`, `"x\"y"`, `a\ b`, `'`, "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		argv, err := ParseCommand("--test", s)
		if err != nil {
			if fault.Of(err) != fault.BadInput || len(err.Error()) > 300 {
				t.Fatalf("ParseCommand(%q): unclassified or long error %v", s, err)
			}
			return
		}
		if len(argv) == 0 {
			t.Fatalf("ParseCommand(%q) returned no words without an error", s)
		}
		// Words quoted back parse to the same argv.
		var q []string
		for _, w := range argv {
			q = append(q, "'"+strings.ReplaceAll(w, "'", `'\''`)+"'")
		}
		if len(strings.Join(q, " ")) > maxCommand {
			return // quoting can outgrow the limit; the round trip is checked on shorter commands
		}
		again, err := ParseCommand("--test", strings.Join(q, " "))
		if err != nil || !slices.Equal(again, argv) {
			t.Fatalf("ParseCommand(%q) = %q; quoted back %q → %q, %v", s, argv, strings.Join(q, " "), again, err)
		}
	})
}
