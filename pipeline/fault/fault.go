// Package fault classifies failures where they happen. A capability package (registry, sign,
// github, changelog, config) wraps each error it returns in one of four classes, and the class
// survives every later fmt.Errorf("...: %w", err) up to the step runner, which turns it into what
// the operator sees:
//
//   - Unreachable: the system could not be reached (connection refused, DNS, timeout, 5xx after
//     retries, rate limit). A gate that hits it has "failed: could not look".
//   - Unreadable: the system answered, but not with something we can read (malformed JSON, a
//     manifest that does not parse, an unexpected status). Also "could not look".
//   - Refused: the world is not in the state the step needs (no draft release, an unsigned
//     digest, a PR that is not mergeable). A gate that returns it refused.
//   - BadInput: a flag, setting or file the user gave is wrong. Refused, and the message names the
//     flag.
//
// An error with no class is Unknown; the step runner treats it as a failure, never as a refusal,
// so a bug cannot pass itself off as a verdict.
package fault

import (
	"errors"
	"fmt"
)

// Class is what kind of failure an error is.
type Class int

const (
	// Unknown is an error nobody classified.
	Unknown Class = iota
	// Unreachable: could not reach the system.
	Unreachable
	// Unreadable: the system answered with something that could not be read.
	Unreadable
	// Refused: the world is not as the step requires.
	Refused
	// BadInput: an argument or setting is invalid.
	BadInput
)

// String names the class the way reports say it.
func (c Class) String() string {
	switch c {
	case Unreachable:
		return "could not reach"
	case Unreadable:
		return "could not read"
	case Refused:
		return "refused"
	case BadInput:
		return "bad input"
	}
	return "unknown"
}

// CouldNotLook reports the classes that mean "we do not know what the world is like".
func (c Class) CouldNotLook() bool { return c == Unreachable || c == Unreadable }

// Error carries a class; its text is the wrapped error's.
type Error struct {
	Class Class
	Err   error
}

func (e *Error) Error() string { return e.Err.Error() }

// Unwrap returns the classified error.
func (e *Error) Unwrap() error { return e.Err }

// Is matches a bare class sentinel: errors.Is(err, fault.ErrRefused).
func (e *Error) Is(target error) bool {
	s, ok := target.(sentinel)
	return ok && Class(s) == e.Class
}

type sentinel Class

func (s sentinel) Error() string { return Class(s).String() }

// Sentinels for errors.Is.
var (
	ErrUnreachable error = sentinel(Unreachable)
	ErrUnreadable  error = sentinel(Unreadable)
	ErrRefused     error = sentinel(Refused)
	ErrBadInput    error = sentinel(BadInput)
)

// Wrap gives err class c (nil stays nil). An error that already has a class keeps its own: the
// innermost classification, made where the failure happened, wins.
func Wrap(c Class, err error) error {
	if err == nil {
		return nil
	}
	if Of(err) != Unknown {
		return err
	}
	return &Error{Class: c, Err: err}
}

// Of returns the class of err: the first classified error in its chain, Unknown when none.
func Of(err error) Class {
	var e *Error
	if errors.As(err, &e) {
		return e.Class
	}
	return Unknown
}

// AsUnreachable, AsUnreadable, AsRefused and AsBadInput classify err (see Wrap).
func AsUnreachable(err error) error { return Wrap(Unreachable, err) }

// AsUnreadable classifies err as Unreadable unless it has a class.
func AsUnreadable(err error) error { return Wrap(Unreadable, err) }

// AsRefused classifies err as Refused unless it has a class.
func AsRefused(err error) error { return Wrap(Refused, err) }

// AsBadInput classifies err as BadInput unless it has a class.
func AsBadInput(err error) error { return Wrap(BadInput, err) }

// Refusedf is a new Refused error (fmt.Errorf semantics, %w allowed).
func Refusedf(format string, args ...any) error {
	return &Error{Class: Refused, Err: fmt.Errorf(format, args...)}
}

// BadInputf is a new BadInput error.
func BadInputf(format string, args ...any) error {
	return &Error{Class: BadInput, Err: fmt.Errorf(format, args...)}
}

// Unreadablef is a new Unreadable error.
func Unreadablef(format string, args ...any) error {
	return &Error{Class: Unreadable, Err: fmt.Errorf(format, args...)}
}

// Unreachablef is a new Unreachable error.
func Unreachablef(format string, args ...any) error {
	return &Error{Class: Unreachable, Err: fmt.Errorf(format, args...)}
}
