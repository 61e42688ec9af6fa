package testkit

import (
	"bytes"
	"encoding/base64"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Logs captures log output (an io.Writer for log/slog handlers, loggers, progress writers) and
// keeps it for inspection.
type Logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends to the capture.
func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String is everything written.
func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Lines is everything written, one entry per line.
func (l *Logs) Lines() []string {
	return strings.Split(strings.TrimRight(l.String(), "\n"), "\n")
}

// SecretForms are the shapes in which a secret tends to leak: as is, base64 (as in a Basic
// authorization header, alone or after "user:"), and URL-escaped.
func SecretForms(secret string) []string {
	forms := []string{secret, base64.StdEncoding.EncodeToString([]byte(secret)), base64.RawURLEncoding.EncodeToString([]byte(secret)), url.QueryEscape(secret)}
	// Basic auth encodes "user:secret"; its base64 contains an encoding of the secret only when
	// aligned, so also look for the encoding of ":"+secret at each of the three alignments.
	for pad := 0; pad < 3; pad++ {
		enc := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("x", pad) + ":" + secret))
		// drop the characters influenced by the prefix and the padding at the end
		skip := (pad + 1 + 2) / 3 * 4
		if len(enc) > skip+4 {
			forms = append(forms, strings.TrimRight(enc[skip:len(enc)-4], "="))
		}
	}
	var out []string
	seen := map[string]bool{}
	for _, f := range forms {
		if len(f) >= 6 && !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	return out
}

// Leaks returns, for each text that contains the secret in any of its forms, a description of
// where; empty means no leak.
func Leaks(secret string, texts ...string) []string {
	if len(secret) < 6 {
		panic("testkit.Leaks: use a secret of at least 6 characters so that a match means a leak")
	}
	var found []string
	for i, text := range texts {
		for _, f := range SecretForms(secret) {
			if idx := strings.Index(text, f); idx >= 0 {
				line := 1 + strings.Count(text[:idx], "\n")
				found = append(found, "text "+strconv.Itoa(i)+" line "+strconv.Itoa(line)+" holds the secret (form "+mask(f)+")")
				break
			}
		}
	}
	return found
}

// AssertNoSecret fails the test if the secret, in any of its forms, appears in a log capture, an
// error's message, or a string.
func AssertNoSecret(t testing.TB, secret string, where ...any) {
	t.Helper()
	var texts []string
	for _, w := range where {
		switch v := w.(type) {
		case nil:
		case *Logs:
			texts = append(texts, v.String())
		case error:
			if v != nil {
				texts = append(texts, v.Error())
			}
		case string:
			texts = append(texts, v)
		case []byte:
			texts = append(texts, string(v))
		case []string:
			texts = append(texts, strings.Join(v, "\n"))
		default:
			t.Fatalf("AssertNoSecret: cannot inspect a %T", w)
		}
	}
	for _, l := range Leaks(secret, texts...) {
		t.Errorf("secret leaked: %s", l)
	}
}

func mask(s string) string {
	if len(s) <= 4 {
		return "****"
	}
	return s[:2] + strings.Repeat("*", len(s)-4) + s[len(s)-2:]
}

// FlagValue is the value after flag in a recorded argv (a fake CLI's arguments), and whether
// flag was there.
func FlagValue(args []string, flag string) (string, bool) {
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			return args[i+1], true
		}
	}
	return "", false
}
