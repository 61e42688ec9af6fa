package changelog

import (
	"regexp"
	"strings"
)

var listItemRE = regexp.MustCompile(`^ {0,3}([-*+]|\d{1,9}[.)])([ \t]|$)`)

// FindTBD is the TBD rule's one definition: it returns the 1-based line numbers of text where the
// word TBD (uppercase, whole word: not inside a longer word or number) appears outside code: inline
// code spans, fenced code blocks (``` or ~~~) and indented code blocks do not count.
func FindTBD(text string) []int {
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	var hits []int
	var fence string
	prevBlank, inList, prevCode := true, false, false
	for i, l := range lines {
		blank := strings.TrimSpace(l) == ""
		if m := fenceRE.FindStringSubmatch(l); m != nil {
			if fence == "" {
				fence = m[1]
				if !strings.HasPrefix(l, " ") {
					inList = false // an unindented fence ends a list
				}
			} else if m[1][0] == fence[0] && len(m[1]) >= len(fence) && strings.Trim(strings.TrimSpace(l), string(fence[0])) == "" {
				fence = ""
			}
			prevBlank, prevCode = false, false
			continue
		}
		if fence != "" {
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
		if hasTBD(stripCodeSpans(l)) {
			hits = append(hits, i+1)
		}
	}
	return hits
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
