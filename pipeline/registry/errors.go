package registry

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/shipgate/shipgate/pipeline/fault"
)

// Error is a failed registry operation: what was being done to which reference, the HTTP status
// when the registry answered, and what to do about it. Its text never holds a secret.
type Error struct {
	// Op is what was being done: "pushing", "tagging", "reading".
	Op string
	// Ref is the image reference acted on (ghcr.io/acme/app:1.2.3).
	Ref string
	// Host is the registry host.
	Host string
	// Status is the HTTP status of the registry's final answer, 0 when there was none.
	Status int
	// Hint says what to do.
	Hint string

	cause string // the underlying error's text, secrets removed
	err   error  // the underlying error; nil when its text held a secret
}

// Error reads like "401 from ghcr.io pushing ghcr.io/acme/app:1.2.3: check ...; registry said: ...".
func (e *Error) Error() string {
	var b strings.Builder
	if e.Status != 0 {
		fmt.Fprintf(&b, "%d from %s %s %s", e.Status, e.Host, e.Op, e.Ref)
	} else {
		fmt.Fprintf(&b, "%s %s", e.Op, e.Ref)
	}
	if e.Hint != "" {
		b.WriteString(": ")
		b.WriteString(e.Hint)
	}
	if e.cause != "" {
		if e.Hint != "" {
			b.WriteString("; cause: ")
		} else {
			b.WriteString(": ")
		}
		b.WriteString(e.cause)
	}
	return b.String()
}

// Unwrap returns the underlying error (nil if its text held a secret and was dropped).
func (e *Error) Unwrap() error { return e.err }

// writeOps are the operations that need push rights.
var writeOps = map[string]bool{"pushing": true, "tagging": true, "uploading": true}

// Fail turns an error of a go-containerregistry call made with RemoteOptions into a classified
// *Error (see package fault) naming the operation ("reading", "pushing", ...), the reference and
// the fix; its text holds no secret of the client's. Packages that use RemoteOptions return their
// registry errors through it.
func (c *Client) Fail(op, ref string, err error) error {
	host, _, _ := strings.Cut(ref, "/")
	return c.fail(op, ref, host, err)
}

// fail turns any error of a registry call into a classified *Error naming the operation and the fix.
func (c *Client) fail(op, ref, host string, err error) error {
	if err == nil {
		return nil
	}
	var already *Error
	if errors.As(err, &already) {
		return err
	}
	e := &Error{Op: op, Ref: ref, Host: host}
	text := err.Error()
	e.cause = c.scrub(text)
	if e.cause == text {
		e.err = err
	}
	var terr *transport.Error
	if errors.As(err, &terr) {
		e.Status = terr.StatusCode
	}
	var class fault.Class
	e.Hint, class = c.explain(op, ref, host, err)
	return fault.Wrap(class, e)
}

// explain is the advice for a failed registry call and the class of the failure.
func (c *Client) explain(op, ref, host string, err error) (string, fault.Class) {
	var terr *transport.Error
	var plain *plainHTTPError
	var nerr net.Error
	text := err.Error()
	switch {
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return "interrupted before the registry answered; re-run to finish", fault.Unreachable
	case errors.As(err, &terr):
		return c.hint(op, terr.StatusCode), statusClass(terr.StatusCode)
	case errors.As(err, &plain):
		return fmt.Sprintf("refused to use plain HTTP: if %s has no TLS, list it in --plain-http", host), fault.BadInput
	case strings.Contains(text, "server gave HTTP response to HTTPS client"):
		return fmt.Sprintf("%s speaks plain HTTP: if that is intended, list it in --plain-http", host), fault.BadInput
	case isDropped(err) || errors.As(err, &nerr) || strings.Contains(text, "connection refused") || strings.Contains(text, "no such host"):
		return fmt.Sprintf("could not talk to %s (tried %d times): check the registry in --image and the network, then re-run; work already done is kept", host, c.attempts()), fault.Unreachable
	}
	return fmt.Sprintf("the registry's answer for %s could not be read", ref), fault.Unreadable
}

// statusClass classifies a registry's HTTP answer: 429, 408 and 5xx mean the registry could not
// be reached; 401 and 403 mean the credentials could not read what the step looks at (a gate
// that meets them has not seen the world: it fails, and the hint names the flags); 404 and 400
// mean the registry refused what was asked; anything else is an answer that cannot be read.
func statusClass(status int) fault.Class {
	switch {
	case status == http.StatusTooManyRequests || status == http.StatusRequestTimeout || status >= 500:
		return fault.Unreachable
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return fault.Unreadable
	case status == http.StatusNotFound || status == http.StatusBadRequest:
		return fault.Refused
	}
	return fault.Unreadable
}

// hint is the advice for an HTTP status.
func (c *Client) hint(op string, status int) string {
	write := writeOps[op]
	switch {
	case status == http.StatusUnauthorized && write:
		return "check --registry-username and --registry-password: the token needs write:packages (GHCR) or push rights on this repository; nothing was retried"
	case status == http.StatusUnauthorized:
		return "check --registry-username and --registry-password: on GHCR the token needs read:packages (write:packages to publish or promote), or the package must be visible to it; nothing was retried"
	case status == http.StatusForbidden && write:
		return "the credentials (--registry-username) were accepted but may not push here: give the token write:packages and, on GHCR, give this repository's workflow write access to the package (package settings, Manage Actions access)"
	case status == http.StatusForbidden:
		return "the credentials (--registry-username) were accepted but may not read this package: grant read access to it"
	case status == http.StatusNotFound:
		return "not found: check --image (lower case, registry included) and that it was pushed"
	case status == http.StatusTooManyRequests:
		return fmt.Sprintf("the registry is rate-limiting (tried %d times, waiting as it asked): wait and re-run; work already done is kept", c.attempts())
	case status >= 500 || status == http.StatusRequestTimeout:
		return fmt.Sprintf("the registry kept failing (tried %d times): re-run later; work already done is kept", c.attempts())
	case status == http.StatusBadRequest:
		return "the registry rejected the request as malformed: check --image and that the registry supports OCI image indexes"
	}
	return ""
}

// isNotFound reports a 404 answer (manifest, blob or repository unknown).
func isNotFound(err error) bool {
	return registryAnswered(err, http.StatusNotFound, transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode, transport.BlobUnknownErrorCode)
}

// registryAnswered reports a registry error answer with this HTTP status or one of these error
// codes in its body.
func registryAnswered(err error, status int, codes ...transport.ErrorCode) bool {
	var terr *transport.Error
	if !errors.As(err, &terr) {
		return false
	}
	if terr.StatusCode == status {
		return true
	}
	for _, d := range terr.Errors {
		if slices.Contains(codes, d.Code) {
			return true
		}
	}
	return false
}

// tokenText matches where a registry token shows in text: a bearer Authorization value, or a
// token field of a token service's answer.
var tokenText = regexp.MustCompile(`(Bearer\s+)[A-Za-z0-9._~+/=-]+|("(?i:token|access_token|refresh_token|id_token|jwt)"\s*:\s*")[^"]*`)

// unreadTokenAnswer is how go-containerregistry quotes a token answer it could not read.
const unreadTokenAnswer = "no token in bearer response:"

// scrub removes from s the client's password, in the forms it could take in a request, and
// registry tokens: bearer values, token fields, and the whole of a token answer
// go-containerregistry quotes because it found no token in it (it may hold one in another field).
func (c *Client) scrub(s string) string {
	if i := strings.Index(s, unreadTokenAnswer); i >= 0 {
		s = s[:i+len(unreadTokenAnswer)] + " (the answer is not shown: it may hold a token)"
	}
	s = tokenText.ReplaceAllString(s, "${1}${2}***")
	p := c.o.password
	if len(p) < 4 {
		return s
	}
	forms := []string{
		p,
		base64.StdEncoding.EncodeToString([]byte(c.o.username + ":" + p)),
		base64.StdEncoding.EncodeToString([]byte(p)),
		base64.RawURLEncoding.EncodeToString([]byte(p)),
		url.QueryEscape(p),
		url.PathEscape(p),
	}
	for _, f := range forms {
		if f != "" {
			s = strings.ReplaceAll(s, f, "***")
		}
	}
	return s
}
