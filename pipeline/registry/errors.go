package registry

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
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

// fail turns any error of a registry call into an *Error naming the operation and the fix.
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
	var plain *plainHTTPError
	switch {
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		e.Hint = "interrupted before the registry answered; re-run to finish"
	case errors.As(err, &terr):
		e.Status = terr.StatusCode
		e.Hint = c.hint(op, ref, host, terr.StatusCode)
	case errors.As(err, &plain):
		e.Hint = fmt.Sprintf("refused to use plain HTTP: if %s has no TLS, allow it with WithInsecureHosts(%q)", host, host)
	case strings.Contains(text, "server gave HTTP response to HTTPS client"):
		e.Hint = fmt.Sprintf("%s speaks plain HTTP: if that is intended, allow it with WithInsecureHosts(%q)", host, host)
	case isDropped(err) || strings.Contains(text, "connection refused") || strings.Contains(text, "no such host"):
		e.Hint = fmt.Sprintf("could not talk to %s (tried %d times): check the registry address and the network, then re-run; work already done is kept", host, c.attempts())
	}
	return e
}

// hint is the advice for an HTTP status.
func (c *Client) hint(op, ref, host string, status int) string {
	write := writeOps[op]
	switch {
	case status == http.StatusUnauthorized && write:
		return "check the registry username/token has write:packages (GHCR) or push rights on this repository; nothing was retried"
	case status == http.StatusUnauthorized:
		return "check the registry username/token: on GHCR it needs read:packages (write:packages to publish or promote), or the package must be visible to it; nothing was retried"
	case status == http.StatusForbidden && write:
		return "the credentials were accepted but may not push here: give the token write:packages and, on GHCR, give this repository's workflow write access to the package (package settings, Manage Actions access)"
	case status == http.StatusForbidden:
		return "the credentials were accepted but may not read this package: grant read access to it"
	case status == http.StatusNotFound:
		return "not found: check the repository name (lower case, registry included) and that it was pushed"
	case status == http.StatusTooManyRequests:
		return fmt.Sprintf("the registry is rate-limiting (tried %d times, waiting as it asked): wait and re-run; work already done is kept", c.attempts())
	case status >= 500 || status == http.StatusRequestTimeout:
		return fmt.Sprintf("the registry kept failing (tried %d times): re-run later; work already done is kept", c.attempts())
	case status == http.StatusBadRequest:
		return "the registry rejected the request as malformed: check the reference and that the registry supports OCI image indexes"
	}
	return ""
}

// isNotFound reports a 404 answer (manifest, blob or repository unknown).
func isNotFound(err error) bool {
	var terr *transport.Error
	if errors.As(err, &terr) {
		if terr.StatusCode == http.StatusNotFound {
			return true
		}
		for _, d := range terr.Errors {
			switch d.Code {
			case transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode, transport.BlobUnknownErrorCode:
				return true
			}
		}
	}
	return false
}

// scrub removes the client's password, in the forms it could take in a request, from s.
func (c *Client) scrub(s string) string {
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
