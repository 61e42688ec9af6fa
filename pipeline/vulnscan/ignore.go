package vulnscan

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/shipgate/shipgate/pipeline/fault"
)

// Ignore is one entry of the --scan-ignore file. The file holds one entry a line; blank lines and
// lines whose first non-blank character is # are comments, and so is the rest of a line from a
// field that starts with #:
//
//	# vulnerability id  expires=YYYY-MM-DD  reason="why"  [package=NAME or NAME@VERSION]
//	CVE-2024-5535  expires=2027-01-31  package=openssl@3.0.13-1~deb12u1  reason="NPN is not used"
//	GHSA-qxp5-gwg8-xv66  expires=2026-12-15  reason="the HTTP/2 server is off"  # tracked in #412
//
// The first field is the vulnerability id as grype reports it, or one of its related ids (a GHSA
// entry may name the CVE), in any case. expires= and reason= are mandatory: an entry ignores from
// when it is written until 00:00 UTC on its expiry date; from that day on it ignores nothing, and
// the verdict names it. package= limits the entry to one package (its name as grype reports it,
// optionally @version; a scoped npm name keeps its leading @). A value with spaces is written in
// double quotes, with Go's escapes (\" and \\).
type Ignore struct {
	ID      string
	Package string    // "" matches any package
	Version string    // "" matches any version of Package
	Expires time.Time // 00:00 UTC on the expiry date: ignored strictly before it
	Reason  string
	Line    int // line in the file, from 1
}

// Ignores are the entries of one --scan-ignore file, in file order.
type Ignores []Ignore

// maxIgnoreErrors is how many line errors ParseIgnore reports at once.
const maxIgnoreErrors = 5

// ParseIgnore reads a --scan-ignore file (format: see Ignore). Every problem is reported with its
// line, the first few at once; any problem makes the whole file fault.BadInput, so that a typo
// can never silently ignore less (or more) than meant.
func ParseIgnore(b []byte) (Ignores, error) {
	var out Ignores
	var problems []string
	seen := map[string]int{}
	// A byte-order mark (editors on Windows write one) is not part of the first entry.
	text := strings.TrimPrefix(string(b), "\ufeff")
	for i, line := range strings.Split(text, "\n") {
		n := i + 1
		ig, ok, err := parseIgnoreLine(strings.TrimSuffix(line, "\r"), n)
		if err == nil && ok {
			key := strings.ToUpper(ig.ID) + "\x00" + ig.Package + "\x00" + ig.Version
			if first, dup := seen[key]; dup {
				err = fmt.Errorf("repeats the entry of line %d for %s%s: keep one (one expiry date per finding)", first, ig.ID, ig.scope())
			}
			seen[key] = n
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("line %d: %v", n, err))
			continue
		}
		if ok {
			out = append(out, ig)
		}
	}
	if len(problems) > 0 {
		more := ""
		if len(problems) > maxIgnoreErrors {
			more = fmt.Sprintf("\n  (and %d more)", len(problems)-maxIgnoreErrors)
			problems = problems[:maxIgnoreErrors]
		}
		return nil, fault.BadInputf("--scan-ignore file: %s%s\nan entry reads: CVE-2024-1234  expires=2026-12-31  reason=\"why it does not apply\"  [package=NAME[@VERSION]]", strings.Join(problems, "\n  "), more)
	}
	return out, nil
}

// parseIgnoreLine reads line n; ok is false for a blank or comment line.
func parseIgnoreLine(line string, n int) (ig Ignore, ok bool, err error) {
	if !utf8.ValidString(line) {
		return Ignore{}, false, fmt.Errorf("not UTF-8 text")
	}
	fs, err := splitFields(line)
	if err != nil || len(fs) == 0 {
		return Ignore{}, false, err
	}
	ig = Ignore{Line: n}
	if fs[0].key != "" {
		return Ignore{}, false, fmt.Errorf("starts with %s=: start the entry with the vulnerability id (CVE-2024-1234)", clip(fs[0].key, 40))
	}
	if ig.ID, err = parseID(fs[0].value); err != nil {
		return Ignore{}, false, err
	}
	set := map[string]bool{}
	for _, f := range fs[1:] {
		if set[f.key] {
			return Ignore{}, false, fmt.Errorf("%s: %s= is given twice", ig.ID, clip(f.key, 40))
		}
		set[f.key] = true
		if err := ig.set(f); err != nil {
			return Ignore{}, false, fmt.Errorf("%s: %w", ig.ID, err)
		}
	}
	if !set["expires"] {
		return Ignore{}, false, fmt.Errorf("%s has no expires=YYYY-MM-DD: every entry must expire, so that it is looked at again", ig.ID)
	}
	if !set["reason"] {
		return Ignore{}, false, fmt.Errorf(`%s has no reason="…": say why the finding does not apply`, ig.ID)
	}
	return ig, true, nil
}

// set applies one key=value field.
func (ig *Ignore) set(f field) error {
	if f.key == "" {
		return fmt.Errorf("%q is not a key=value field: the fields are expires=, reason= and package=", clip(f.value, 40))
	}
	if f.value == "" {
		return fmt.Errorf("%s= is empty", clip(f.key, 40))
	}
	switch f.key {
	case "expires":
		t, err := time.Parse(time.DateOnly, f.value)
		if err != nil {
			return fmt.Errorf("expires=%s is not a date: write YYYY-MM-DD (2026-12-31)", clip(f.value, 40))
		}
		ig.Expires = t
	case "reason":
		ig.Reason = f.value
	case "package":
		ig.Package, ig.Version = splitPackage(f.value)
		if ig.Package == "" || strings.HasSuffix(f.value, "@") || strings.ContainsFunc(f.value, unicode.IsSpace) {
			return fmt.Errorf("package=%s is not a package name (NAME or NAME@VERSION)", clip(f.value, 60))
		}
	default:
		return fmt.Errorf("unknown field %s=: the fields are expires=, reason= and package=", clip(f.key, 40))
	}
	return nil
}

// splitPackage splits NAME@VERSION at its last @; a leading @ (a scoped npm name) belongs to NAME.
func splitPackage(s string) (name, version string) {
	if i := strings.LastIndexByte(s, '@'); i > 0 {
		return s[:i], s[i+1:]
	}
	return s, ""
}

// parseID checks a vulnerability id: letters, digits and - _ . : (CVE-2024-1234, GHSA-…,
// RHSA-2024:1234).
func parseID(s string) (string, error) {
	ok := s != "" && len(s) <= 100
	for _, r := range s {
		if !(r < utf8.RuneSelf && (r == '-' || r == '_' || r == '.' || r == ':' || unicode.IsLetter(r) || unicode.IsDigit(r))) {
			ok = false
			break
		}
	}
	if !ok {
		return "", fmt.Errorf("%q is not a vulnerability id: start the entry with the id grype reports (CVE-2024-1234, GHSA-xxxx-xxxx-xxxx)", clip(s, 40))
	}
	return s, nil
}

// field is one whitespace-separated field of a line: key=value, or a bare value (key "").
type field struct{ key, value string }

// splitFields splits a line into fields; a value in double quotes may hold spaces. It stops at a
// field that starts with #.
func splitFields(line string) ([]field, error) {
	var fs []field
	rest := line
	for {
		rest = strings.TrimLeft(rest, " \t")
		if rest == "" || rest[0] == '#' {
			return fs, nil
		}
		end := strings.IndexAny(rest, " \t")
		if end < 0 {
			end = len(rest)
		}
		key, val, hasEq := strings.Cut(rest[:end], "=")
		if hasEq && key == "" {
			return nil, fmt.Errorf("a field starts with =: write key=value (expires=, reason=, package=)")
		}
		if !hasEq || strings.ContainsRune(key, '"') {
			if strings.ContainsRune(rest[:end], '"') {
				return nil, fmt.Errorf("a quote outside a key=\"value\" field: %s", clip(rest[:end], 40))
			}
			fs, rest = append(fs, field{value: rest[:end]}), rest[end:]
			continue
		}
		f, n, err := fieldValue(key, rest[len(key)+1:], val)
		if err != nil {
			return nil, err
		}
		fs, rest = append(fs, f), rest[len(key)+1+n:]
	}
}

// fieldValue reads the value of key that starts at s (bare: the text up to the next blank, given
// as bare) and returns the field and how many bytes of s it took.
func fieldValue(key, s, bare string) (field, int, error) {
	if !strings.HasPrefix(s, `"`) {
		if strings.ContainsRune(bare, '"') {
			return field{}, 0, fmt.Errorf("%s=: a quote inside an unquoted value: quote the whole value (%s=\"…\")", clip(key, 40), clip(key, 40))
		}
		return field{key: key, value: bare}, len(bare), validValue(key, bare)
	}
	q, err := strconv.QuotedPrefix(s)
	if err != nil || !strings.HasPrefix(q, `"`) {
		return field{}, 0, fmt.Errorf("%s=: the quoted value has no closing quote (write \\\" for a quote inside it)", clip(key, 40))
	}
	if len(q) < len(s) && s[len(q)] != ' ' && s[len(q)] != '\t' {
		return field{}, 0, fmt.Errorf("%s=: text right after the closing quote: leave a space before the next field", clip(key, 40))
	}
	v, _ := strconv.Unquote(q)
	return field{key: key, value: v}, len(q), validValue(key, v)
}

// validValue refuses control characters and invalid UTF-8 in a value: the verdict prints values
// on one line.
func validValue(key, v string) error {
	if !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl) {
		return fmt.Errorf("%s=: a control character in the value", clip(key, 40))
	}
	return nil
}

// String is the entry as a line of the file, in canonical form.
func (ig Ignore) String() string {
	s := ig.ID + "  expires=" + ig.Expires.Format(time.DateOnly)
	if ig.Package != "" {
		p := ig.Package
		if ig.Version != "" {
			p += "@" + ig.Version
		}
		s += "  package=" + quoteIfNeeded(p)
	}
	return s + "  reason=" + strconv.Quote(ig.Reason)
}

// quoteIfNeeded quotes a value that would not read back bare.
func quoteIfNeeded(v string) string {
	if strings.ContainsAny(v, " \t\"") {
		return strconv.Quote(v)
	}
	return v
}

// Expired reports whether the entry no longer ignores at now: from 00:00 UTC on its expiry date.
func (ig Ignore) Expired(now time.Time) bool {
	return !now.Before(ig.Expires)
}

// matches reports whether the entry is about m: its id (or one of m's related ids), and its
// package when the entry names one.
func (ig Ignore) matches(m Match) bool {
	if ig.Package != "" && ig.Package != m.Package.Name || ig.Version != "" && ig.Version != m.Package.Version {
		return false
	}
	if strings.EqualFold(ig.ID, m.ID) {
		return true
	}
	for _, a := range m.Aliases {
		if strings.EqualFold(ig.ID, a) {
			return true
		}
	}
	return false
}

// scope is " in NAME" or " in NAME@VERSION" for a package entry, "" otherwise.
func (ig Ignore) scope() string {
	switch {
	case ig.Package == "":
		return ""
	case ig.Version == "":
		return " in " + ig.Package
	}
	return " in " + ig.Package + "@" + ig.Version
}
