package release

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"unicode"
)

// A phase's Progress is written by the step runner (one line per step), the GitHub client (its
// retries and waits) and the registry client (its changes, and the retries of every registry
// request, the signature store's included). The registry client logs through log/slog, from
// several requests at once.

// progressTo is out with its writes made one at a time, nil (discard) when out is nil.
func progressTo(out io.Writer) io.Writer {
	if out == nil {
		return nil
	}
	return &lockedWriter{out: out}
}

// lockedWriter lets the writers of one phase share its Progress: each Write goes through whole.
type lockedWriter struct {
	mu  sync.Mutex
	out io.Writer
}

// Write writes p to the phase's Progress while no other line is being written.
func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.out.Write(p)
}

// progressLog is the slog.Handler of the registry client in a phase: each record (Info and above)
// one line on the phase's Progress — its message ("registry: retrying"), then its attributes as
// key=value, quoted where needed — in the shape the GitHub client's lines have there. What the
// registry client logs is scrubbed of its credentials before it gets here.
type progressLog struct {
	out    io.Writer // one Write per line
	prefix string    // the group of attributes still to come, "g." ("" outside any group)
	attrs  string    // " key=value" of the attributes given by WithAttrs
}

// newProgressLog logs to out, which must take each line whole (progressTo).
func newProgressLog(out io.Writer) *slog.Logger {
	return slog.New(&progressLog{out: out})
}

// Enabled is true from Info up: debug lines stay out of the progress.
func (h *progressLog) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

// Handle writes r as one line.
func (h *progressLog) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	b.WriteString(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		writeAttr(&b, h.prefix, a)
		return true
	})
	b.WriteByte('\n')
	_, err := io.WriteString(h.out, b.String())
	return err
}

// WithAttrs is h with attrs written on every line.
func (h *progressLog) WithAttrs(attrs []slog.Attr) slog.Handler {
	var b strings.Builder
	b.WriteString(h.attrs)
	for _, a := range attrs {
		writeAttr(&b, h.prefix, a)
	}
	c := *h
	c.attrs = b.String()
	return &c
}

// WithGroup is h with the attributes still to come named group.key.
func (h *progressLog) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.prefix += name + "."
	return &c
}

// writeAttr writes " key=value" (groups flattened to group.key); empty attributes are left out.
func writeAttr(b *strings.Builder, prefix string, a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	if a.Value.Kind() == slog.KindGroup {
		if a.Key != "" {
			prefix += a.Key + "."
		}
		for _, g := range a.Value.Group() {
			writeAttr(b, prefix, g)
		}
		return
	}
	b.WriteByte(' ')
	b.WriteString(prefix + a.Key)
	b.WriteByte('=')
	b.WriteString(quoteIfNeeded(a.Value.String()))
}

// quoteIfNeeded quotes s when it is empty or holds a space, a quote, '=' or a character that is
// not printable, so each line stays one line of key=value pairs.
func quoteIfNeeded(s string) string {
	if s == "" || strings.IndexFunc(s, func(r rune) bool {
		return r == ' ' || r == '"' || r == '=' || !unicode.IsPrint(r)
	}) >= 0 {
		return strconv.Quote(s)
	}
	return s
}
