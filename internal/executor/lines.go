package executor

import (
	"bytes"
	"unicode/utf8"
)

// Line is one line of robot output.
type Line struct {
	// Text is the line without its line break, as valid UTF-8.
	Text string
	// Stderr tells whether the line came from standard error.
	Stderr bool
}

// MaxLineBytes is the longest line kept whole; longer lines are split into
// pieces of at most this many bytes.
const MaxLineBytes = 64 << 10

// replacement is U+FFFD encoded as UTF-8.
const replacement = "\uFFFD"

// LineWriter is an io.Writer that cuts what a robot writes into lines (\n,
// and \r\n as one break; a lone \r is kept as text), decodes them as UTF-8
// replacing each invalid byte with U+FFFD (never splitting a valid
// multi-byte rune across pieces when splitting long lines), and hands each
// line to emit. Flush emits a final unterminated line. It never retains more
// than MaxLineBytes+4 bytes. Write is called from one goroutine per stream;
// emit may be called concurrently by stdout and stderr writers, so each
// LineWriter is independent. A LineWriter is not safe for concurrent use.
//
// The length limit applies to the decoded text: a piece of a long line holds
// at most MaxLineBytes bytes after replacement, and a piece is only cut off
// once more text of the same line has arrived, so a line of exactly
// MaxLineBytes bytes is emitted whole.
type LineWriter struct {
	stderr bool
	emit   func(Line)

	text  []byte            // decoded text of the current line; at most MaxLineBytes
	cr    bool              // the input so far ends in '\r', which may start "\r\n"
	part  [utf8.UTFMax]byte // the input so far ends in this unfinished rune
	npart int               // number of bytes in part
}

// NewLineWriter returns a LineWriter that passes each line to emit with
// Line.Stderr set to stderr. emit is called synchronously from Write and
// Flush and must not retain anything but the Line.
func NewLineWriter(stderr bool, emit func(Line)) *LineWriter {
	return &LineWriter{stderr: stderr, emit: emit}
}

// Write cuts p into lines. It always consumes all of p and never fails.
func (w *LineWriter) Write(p []byte) (int, error) {
	n := len(p)
	if w.npart > 0 {
		p = w.finishRune(p)
	}
	for len(p) > 0 {
		if w.cr {
			w.cr = false
			if p[0] == '\n' {
				w.endLine()
				p = p[1:]
				continue
			}
			w.appendValid([]byte{'\r'})
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			// The line goes on in a later Write: keep back a final '\r' or
			// an unfinished rune until the next byte is known.
			if p[len(p)-1] == '\r' {
				w.appendText(p[:len(p)-1], false)
				w.cr = true
			} else {
				w.appendText(p, true)
			}
			break
		}
		line := p[:i]
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		w.appendText(line, false)
		w.endLine()
		p = p[i+1:]
	}
	return n, nil
}

// Flush emits the current unterminated line, if any: a held-back '\r' is
// kept as text and an unfinished rune is replaced with U+FFFD per byte.
func (w *LineWriter) Flush() {
	for range w.npart {
		w.appendValid([]byte(replacement))
	}
	w.npart = 0
	if w.cr {
		w.cr = false
		w.appendValid([]byte{'\r'})
	}
	if len(w.text) > 0 {
		w.endLine()
	}
	w.text = nil // release the buffer; a later Write allocates a new one
}

// finishRune completes the unfinished rune held in w.part with the first
// bytes of p and returns the rest of p.
func (w *LineWriter) finishRune(p []byte) []byte {
	held := w.npart
	n := copy(w.part[held:], p)
	buf := w.part[:held+n]
	if !utf8.FullRune(buf) {
		w.npart += n // all of p was needed and it is still unfinished
		return nil
	}
	w.npart = 0
	r, size := utf8.DecodeRune(buf)
	if r == utf8.RuneError && size == 1 {
		// The held lead byte and its continuation bytes are each invalid;
		// p is looked at afresh, as decoding it in one piece would.
		for range held {
			w.appendValid([]byte(replacement))
		}
		return p
	}
	w.appendValid(buf[:size])
	return p[size-held:]
}

// appendText adds b, which holds no '\n', to the current line. When atEnd
// is set b ends the input so far, and an unfinished rune at its end is held
// back in w.part; otherwise an unfinished rune is invalid.
func (w *LineWriter) appendText(b []byte, atEnd bool) {
	if utf8.Valid(b) {
		w.appendValid(b)
		return
	}
	for len(b) > 0 {
		i := 0
		for i < len(b) && b[i] < utf8.RuneSelf {
			i++
		}
		if i > 0 {
			w.appendValid(b[:i])
			b = b[i:]
			continue
		}
		if atEnd && !utf8.FullRune(b) {
			w.npart = copy(w.part[:], b)
			return
		}
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size == 1 {
			w.appendValid([]byte(replacement))
		} else {
			w.appendValid(b[:size])
		}
		b = b[size:]
	}
}

// appendValid adds b, valid UTF-8, to the current line, first emitting the
// line so far as a piece whenever b does not fit; pieces end on rune
// boundaries.
func (w *LineWriter) appendValid(b []byte) {
	for len(b) > 0 {
		room := MaxLineBytes - len(w.text)
		if len(b) <= room {
			w.grow(len(b))
			w.text = append(w.text, b...)
			return
		}
		cut := room
		for cut > 0 && !utf8.RuneStart(b[cut]) {
			cut--
		}
		w.grow(cut)
		w.text = append(w.text, b[:cut]...)
		b = b[cut:]
		w.endLine()
	}
}

// grow makes room for n more bytes in w.text without letting its capacity
// exceed MaxLineBytes.
func (w *LineWriter) grow(n int) {
	if cap(w.text)-len(w.text) >= n {
		return
	}
	c := max(2*cap(w.text), len(w.text)+n, 256)
	c = min(c, MaxLineBytes)
	text := make([]byte, len(w.text), c)
	copy(text, w.text)
	w.text = text
}

// endLine emits the current line and starts a new one.
func (w *LineWriter) endLine() {
	w.emit(Line{Text: string(w.text), Stderr: w.stderr})
	w.text = w.text[:0]
}
