package config

import (
	"strings"
	"unicode/utf8"

	"github.com/shipgate/shipgate/pipeline/fault"
)

// maxCommand bounds a command (--test, --finalize-command), so an error never quotes a megabyte.
const maxCommand = 4096

// ParseCommand splits the value of flag (--test, --finalize-command) into the argv it runs (no shell is involved): words are
// separated by spaces or tabs; single quotes keep everything literally, double quotes keep spaces
// and honour \" and \\; a backslash outside quotes escapes the next character. Write `sh -c '…'`
// to run a shell, where the image has one. Its errors name flag.
func ParseCommand(flag, s string) ([]string, error) {
	if len(s) > maxCommand {
		return nil, fault.BadInputf("%s is %d characters: at most %d", flag, len(s), maxCommand)
	}
	if !utf8.ValidString(s) {
		return nil, fault.BadInputf("%s %s: not valid UTF-8", flag, show(s))
	}
	if strings.ContainsAny(s, "\n\r\x00") {
		return nil, fault.BadInputf("%s %s: a command is one line without NUL characters", flag, show(s))
	}
	var argv []string
	var cur strings.Builder
	inWord := false
	var quote rune
	escaped := false
	for _, r := range s {
		switch {
		case escaped:
			cur.WriteRune(r)
			escaped = false
		case quote == '\'':
			if r == '\'' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case quote == '"':
			switch r {
			case '"':
				quote = 0
			case '\\':
				escaped = true
			default:
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == '\\':
			escaped, inWord = true, true
		case r == ' ' || r == '\t':
			if inWord {
				argv = append(argv, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 || escaped {
		return nil, fault.BadInputf("%s %s: an unclosed quote or a trailing backslash", flag, show(s))
	}
	if inWord {
		argv = append(argv, cur.String())
	}
	if len(argv) == 0 {
		return nil, fault.BadInputf("%s is empty: give the command to run in the image, e.g. %s '/app --version'", flag, flag)
	}
	return argv, nil
}
