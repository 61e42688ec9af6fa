package config

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// maxShown is how much of a user's input an error message repeats, quoted: enough to recognise
// it, never a megabyte pasted by accident.
const maxShown = 80

// show quotes user input for an error message, cut to at most maxShown bytes of quoted text and
// with any credentials before an '@' in its host part replaced by ***.
func show(s string) string {
	s = redactUserinfo(s)
	q := strconv.Quote(s)
	if len(q) <= maxShown {
		return q
	}
	r := []rune(s)
	n := min(len(r), maxShown)
	for n > 0 && len(strconv.Quote(string(r[:n]))) > maxShown {
		n--
	}
	return fmt.Sprintf("%s… (%d characters)", strconv.Quote(string(r[:n])), len(r))
}

// userinfo finds credentials embedded as user:pass@ in the authority of a URL or an image
// reference ("https://user:pass@host/x", "user:pass@ghcr.io/acme/app"): the byte range of
// "user:pass" and whether there is one.
func userinfo(s string) (start, end int, ok bool) {
	if m := schemeRE.FindString(s); m != "" {
		start = len(m)
	}
	authority := s[start:]
	if j := strings.IndexAny(authority, "/?#"); j >= 0 {
		authority = authority[:j]
	}
	at := strings.LastIndex(authority, "@")
	if at < 0 || bareNameRE.MatchString(authority[:at]) && digestRE.MatchString(authority[at+1:]) {
		// No '@', or a bare image name and a digest (app@sha256:…): no credentials.
		return 0, 0, false
	}
	return start, start + at, true
}

// schemeRE is a URL scheme and its "://" at the start of a string.
var schemeRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*://`)

// bareNameRE is an image name without host or path (app), which no password looks like.
var bareNameRE = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*$`)

// digestRE is an OCI digest: algorithm:hex.
var digestRE = regexp.MustCompile(`^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-fA-F0-9]{32,}$`)

// redactUserinfo replaces embedded credentials with ***.
func redactUserinfo(s string) string {
	start, end, ok := userinfo(s)
	if !ok {
		return s
	}
	return s[:start] + "***" + s[end:]
}

// hasUserinfo reports whether s embeds credentials (see userinfo).
func hasUserinfo(s string) bool {
	_, _, ok := userinfo(s)
	return ok
}
