package executor

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"slices"
	"strings"

	"automationhub/internal/hub"
)

// Masker replaces the secrets of a run — and the forms a robot is likely to
// print them in: URL-encoded (query and path), base64 (standard and URL
// alphabets, with and without padding) and JSON-escaped — with hub.MaskedValue
// wherever the worker writes about the run: log lines (stored, published,
// run.log), error and exit messages, output file names and its own log.
// A nil Masker masks nothing. Safe for concurrent use once built.
type Masker struct {
	patterns []string // longest first
	first    [256]bool
}

// minLinePart is the shortest line of a multi-line secret masked by itself
// (a robot printing a key file line by line).
const minLinePart = 8

// NewMasker returns a Masker of the values; nil when there is nothing to
// mask.
func NewMasker(secrets []string) *Masker {
	seen := map[string]bool{}
	var pats []string
	add := func(s string) {
		if s == "" || seen[s] {
			return
		}
		seen[s] = true
		pats = append(pats, s)
	}
	for _, s := range secrets {
		forms := []string{s}
		if strings.ContainsAny(s, "\r\n") {
			for _, l := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }) {
				if len(strings.TrimSpace(l)) >= minLinePart {
					forms = append(forms, l)
				}
			}
		}
		for _, f := range forms {
			add(f)
			add(url.QueryEscape(f))
			add(url.PathEscape(f))
			// Every byte but the unreserved ones encoded, as Python's
			// quote(s, safe="") and JavaScript's encodeURIComponent do.
			add(percentEncode(f, "-._~", "%02X"))
			add(percentEncode(f, "-._~", "%02x"))
			add(percentEncode(f, "-._~!'()*", "%02X"))
			for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
				add(enc.EncodeToString([]byte(f)))
			}
			if j, err := json.Marshal(f); err == nil {
				add(string(j[1 : len(j)-1]))
			}
		}
	}
	if len(pats) == 0 {
		return nil
	}
	slices.SortStableFunc(pats, func(a, b string) int { return len(b) - len(a) })
	m := &Masker{patterns: pats}
	for _, p := range pats {
		m.first[p[0]] = true
	}
	return m
}

// percentEncode encodes every byte of s but ASCII letters, digits and the
// bytes in keep as %XX (format gives the hex case).
func percentEncode(s, keep, format string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(keep, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteString(fmt.Sprintf(format, c))
	}
	return b.String()
}

// matchAt returns the length of the longest pattern at the start of b, or
// 0; partial is true when b (all of it) is the beginning of a longer
// pattern, so that more input could still make a longer match.
func (m *Masker) matchAt(b []byte) (n int, partial bool) {
	for _, p := range m.patterns {
		if len(p) > len(b) {
			partial = partial || p[:len(b)] == string(b)
			continue
		}
		if string(b[:len(p)]) == p {
			return len(p), partial
		}
	}
	return 0, partial
}

// matchString is matchAt for a string, without the partial answer.
func (m *Masker) matchString(s string) int {
	for _, p := range m.patterns {
		if strings.HasPrefix(s, p) {
			return len(p)
		}
	}
	return 0
}

// Mask returns s with every occurrence of a secret form replaced.
func (m *Masker) Mask(s string) string {
	if m == nil || s == "" {
		return s
	}
	var out []byte
	last := 0
	for i := 0; i < len(s); {
		if !m.first[s[i]] {
			i++
			continue
		}
		n := m.matchString(s[i:])
		if n == 0 {
			i++
			continue
		}
		out = append(append(out, s[last:i]...), hub.MaskedValue...)
		i += n
		last = i
	}
	if out == nil {
		return s
	}
	return string(append(out, s[last:]...))
}

// MaskWriter masks a stream of robot output before it reaches dst: a secret
// split across two writes (or across the pieces a long line is cut into
// later) is still masked, because the end of each write that could be the
// beginning of a secret is held back until the next write shows whether it
// is. Only such an end is held, so output is never delayed otherwise. Flush
// writes what is held. Not safe for concurrent use (one per stream).
type MaskWriter struct {
	m    *Masker
	dst  io.Writer
	held []byte
}

// NewMaskWriter returns a writer that masks with m (nil: passes through).
func NewMaskWriter(m *Masker, dst io.Writer) *MaskWriter { return &MaskWriter{m: m, dst: dst} }

// Write masks p and writes what is decided to dst; it reports all of p
// written unless dst fails.
func (w *MaskWriter) Write(p []byte) (int, error) {
	if w.m == nil {
		return w.dst.Write(p)
	}
	buf := p
	if len(w.held) > 0 {
		buf = append(w.held, p...)
		w.held = nil
	}
	out := make([]byte, 0, len(buf)+8)
	for i := 0; i < len(buf); {
		start := i
		for i < len(buf) && !w.m.first[buf[i]] {
			i++
		}
		out = append(out, buf[start:i]...)
		if i == len(buf) {
			break
		}
		n, partial := w.m.matchAt(buf[i:])
		switch {
		case partial: // wait: a longer secret may be coming
			w.held = append([]byte(nil), buf[i:]...)
			i = len(buf)
		case n > 0:
			out = append(out, hub.MaskedValue...)
			i += n
		default:
			out = append(out, buf[i])
			i++
		}
	}
	if _, err := w.dst.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush writes what is held back (masked where it holds a whole secret).
func (w *MaskWriter) Flush() error {
	if len(w.held) == 0 {
		return nil
	}
	rest := w.m.Mask(string(w.held))
	w.held = nil
	_, err := io.WriteString(w.dst, rest)
	return err
}

// maskHandler masks the message and string attributes of log records.
type maskHandler struct {
	m    *Masker
	next slog.Handler
}

// maskLogger returns log with every record masked by m.
func maskLogger(log *slog.Logger, m *Masker) *slog.Logger {
	if m == nil {
		return log
	}
	return slog.New(&maskHandler{m: m, next: log.Handler()})
}

func (h *maskHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *maskHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, h.m.Mask(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h *maskHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.m.Mask(v.String()))
	case slog.KindGroup:
		attrs := v.Group()
		out := make([]any, len(attrs))
		for i, g := range attrs {
			out[i] = h.attr(g)
		}
		return slog.Group(a.Key, out...)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, h.m.Mask(err.Error()))
		}
	}
	return a
}

func (h *maskHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	out := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		out[i] = h.attr(a)
	}
	return &maskHandler{m: h.m, next: h.next.WithAttrs(out)}
}

func (h *maskHandler) WithGroup(name string) slog.Handler {
	return &maskHandler{m: h.m, next: h.next.WithGroup(name)}
}
