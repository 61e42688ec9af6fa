package changelog

import (
	"html"
	"regexp"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

var listItemRE = regexp.MustCompile(`^ {0,3}([-*+]|\d{1,9}[.)])([ \t]|$)`)

// FindTBD is the TBD rule's one definition: it returns the 1-based line numbers of text where the
// word TBD (uppercase, whole word: not inside a longer word or number) appears outside code: inline
// code spans, fenced code blocks (``` or ~~~) and indented code blocks do not count. The structure
// (code) is read from the text as Markdown reads it; the letters are matched after Fold, so
// invisible characters, full-width or styled letters and Cyrillic or Greek lookalikes do not hide a
// TBD. A fence that is never closed hides nothing: its TBDs count.
func FindTBD(text string) []int {
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	var hits, hidden []int
	var fence fenceTracker
	prevBlank, inList, prevCode := true, false, false
	for i, l := range lines {
		blank := strings.TrimSpace(l) == ""
		wasOpen := fence.open != ""
		if fence.step(l, i) {
			if !wasOpen && !strings.HasPrefix(l, " ") {
				inList = false // an unindented fence ends a list
			}
			if fence.open == "" {
				hidden = nil
			} else if wasOpen && readsTBD(l) {
				hidden = append(hidden, i+1)
			}
			prevBlank, prevCode = false, false
			continue
		}
		indented := strings.HasPrefix(l, "    ") || strings.HasPrefix(l, "\t")
		if indented && !blank && !inList && (prevBlank || prevCode) {
			prevCode, prevBlank = true, false
			continue
		}
		if !blank {
			prevCode = false
			switch {
			case listItemRE.MatchString(l):
				inList = true
			case !indented && !strings.HasPrefix(l, " "):
				inList = false
			}
		}
		prevBlank = blank
		if readsTBD(stripCodeSpans(l)) {
			hits = append(hits, i+1)
		}
	}
	return mergeLines(hits, hidden)
}

var markupRE = regexp.MustCompile(`<!--.*?-->|</?[A-Za-z][^<>]*>|[*_~]`)

// readsTBD reports whether a line (code spans blanked) reads TBD: as written after Fold, or as
// rendered, once inline markup that splits a word (T**BD**, T<b></b>BD, T<!-- -->BD) is dropped.
func readsTBD(l string) bool {
	l = Fold(l)
	return hasTBD(l) || strings.ContainsAny(l, "*_~<") && hasTBD(markupRE.ReplaceAllString(l, ""))
}

// unclosedFence returns the 1-based line of a fence that text opens and never closes, 0 if none.
func unclosedFence(text string) int {
	var fence fenceTracker
	for i, l := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		fence.step(l, i)
	}
	if fence.open == "" {
		return 0
	}
	return fence.line + 1
}

// mergeLines merges two ascending lists of line numbers.
func mergeLines(a, b []int) []int {
	out := make([]int, 0, len(a)+len(b))
	for len(a) > 0 || len(b) > 0 {
		if len(b) == 0 || len(a) > 0 && a[0] < b[0] {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// lookalikes folds capital letters that look like T, B or D and that NFKC leaves alone.
var lookalikes = map[rune]rune{
	'Т': 'T', 'Τ': 'T', 'Ꭲ': 'T', 'ꓔ': 'T', 'Ƭ': 'T', 'Ʈ': 'T', 'Ŧ': 'T', 'ᴛ': 'T',
	'В': 'B', 'Β': 'B', 'Ᏼ': 'B', 'ꓐ': 'B', 'Ɓ': 'B', 'Ƀ': 'B', 'ʙ': 'B',
	'Ꭰ': 'D', 'ꓓ': 'D', 'ᗪ': 'D', 'ᗞ': 'D', 'Ð': 'D', 'Đ': 'D', 'Ɖ': 'D', 'Ɗ': 'D', 'ᴅ': 'D',
}

// Fold is the text the TBD rule matches: HTML character references decoded (&#84;, &ZeroWidthSpace;),
// format characters (zero-width spaces and joiners, soft
// hyphens, BOM) and other default-ignorable characters dropped, compatibility characters folded
// by NFKC (full-width and mathematical letters), combining marks dropped, and Cyrillic, Greek and
// other lookalikes of T, B and D folded to ASCII.
func Fold(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii && !strings.Contains(s, "&") {
		return s
	}
	if strings.Contains(s, "&") {
		s = html.UnescapeString(s)
	}
	// Invalid bytes first become U+FFFD: normalization stops at them, so a letter after one would
	// fold only on a second pass.
	s = norm.NFKD.String(strings.ToValidUTF8(s, "\uFFFD"))
	return strings.Map(func(r rune) rune {
		if unicode.In(r, unicode.Cf, unicode.Mn, unicode.Me, unicode.Other_Default_Ignorable_Code_Point) {
			return -1
		}
		if f, ok := lookalikes[r]; ok {
			return f
		}
		return r
	}, s)
}

// stripCodeSpans blanks out `code spans`: a run of N backticks up to the next run of exactly N.
// An unmatched run is literal text.
func stripCodeSpans(l string) string {
	var b strings.Builder
	i := 0
	for i < len(l) {
		if l[i] != '`' {
			b.WriteByte(l[i])
			i++
			continue
		}
		n := run(l, i)
		closeAt := -1
		for j := i + n; j < len(l); {
			if l[j] == '`' {
				m := run(l, j)
				if m == n {
					closeAt = j
					break
				}
				j += m
				continue
			}
			j++
		}
		if closeAt < 0 {
			b.WriteString(l[i : i+n])
			i += n
			continue
		}
		b.WriteString(strings.Repeat(" ", closeAt+n-i))
		i = closeAt + n
	}
	return b.String()
}

func run(s string, i int) int {
	n := 0
	for i+n < len(s) && s[i+n] == '`' {
		n++
	}
	return n
}

func hasTBD(s string) bool {
	for off := 0; ; {
		k := strings.Index(s[off:], "TBD")
		if k < 0 {
			return false
		}
		k += off
		if (k == 0 || !alnum(s[k-1])) && (k+3 == len(s) || !alnum(s[k+3])) {
			return true
		}
		off = k + 1
	}
}

func alnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
