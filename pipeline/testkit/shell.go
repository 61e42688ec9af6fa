package testkit

// InjectionPayloads are versions that would run `touch pwned` if they were pasted into a shell
// line: a command separator, a conditional, both forms of command substitution, a broken-out
// single or double quote, and a newline. The first is the shortest probe. A test passes them
// where a version goes and checks that pwned never appears.
func InjectionPayloads(pwned string) []string {
	return []string{
		"1.0.0; touch " + pwned + " #",
		"1.0.0 && touch " + pwned,
		"1.0.0$(touch " + pwned + ")",
		"1.0.0`touch " + pwned + "`",
		"1.0.0'; touch " + pwned + "; echo '",
		`1.0.0"; touch ` + pwned + `; echo "`,
		"1.0.0\ntouch " + pwned,
	}
}
