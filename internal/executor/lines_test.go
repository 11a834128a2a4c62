package executor_test

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"automationhub/internal/executor"
)

// collect writes chunks to a new LineWriter, flushes it if asked and returns
// the texts it emitted.
func collect(t testing.TB, stderr, flush bool, chunks ...[]byte) []string {
	t.Helper()
	var got []string
	w := executor.NewLineWriter(stderr, func(l executor.Line) {
		if l.Stderr != stderr {
			t.Errorf("got Stderr %v, want %v", l.Stderr, stderr)
		}
		got = append(got, l.Text)
	})
	for _, c := range chunks {
		n, err := w.Write(c)
		if n != len(c) || err != nil {
			t.Fatalf("Write: got %d, %v; want %d, nil", n, err, len(c))
		}
	}
	if flush {
		w.Flush()
	}
	return got
}

// bytewise splits s into one-byte chunks.
func bytewise(s string) [][]byte {
	chunks := make([][]byte, len(s))
	for i := range len(s) {
		chunks[i] = []byte{s[i]}
	}
	return chunks
}

// chunks turns strings into byte slices.
func chunks(ss ...string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

func TestLineWriter(t *testing.T) {
	t.Parallel()
	const fffd = "\uFFFD"
	tests := []struct {
		name    string
		chunks  [][]byte
		noFlush bool
		want    []string
	}{
		{"LF, CRLF and a final unterminated line", chunks("a\nb\r\nc"), false, []string{"a", "b", "c"}},
		{"unterminated line needs Flush", chunks("a\nb"), true, []string{"a"}},
		{"nothing written", nil, false, nil},
		{"empty lines are kept", chunks("\n\n\r\nx\n\n"), false, []string{"", "", "", "x", ""}},
		{"lone CR is text", chunks("a\rb\n\r\n"), false, []string{"a\rb", ""}},
		{"CR before CRLF is text", chunks("a\r\r\n"), false, []string{"a\r"}},
		{"final CR kept by Flush", chunks("x\r"), false, []string{"x\r"}},
		{"lone CR alone", chunks("\r"), false, []string{"\r"}},
		{"CRLF split across writes", chunks("a\r", "\nb\r", "c\n"), false, []string{"a", "b\rc"}},
		{"line split across one-byte writes", bytewise("héllo wörld €𝄞\r\nnext\n"), false, []string{"héllo wörld €𝄞", "next"}},
		{"invalid byte replaced", chunks("a\xffb\n"), false, []string{"a" + fffd + "b"}},
		{"each invalid byte replaced", chunks("\xc0\xaf\n"), false, []string{fffd + fffd}},
		{"truncated rune before LF", chunks("\xe2\x82\n"), false, []string{fffd + fffd}},
		{"truncated rune before CRLF", chunks("x\xe2\r\n"), false, []string{"x" + fffd}},
		{"surrogate half", chunks("\xed\xa0\x80\n"), false, []string{fffd + fffd + fffd}},
		{"rune split across writes", chunks("\xe2", "\x82", "\xac\n"), false, []string{"€"}},
		{"four-byte rune split across writes", chunks("a\xf0\x9d", "\x84\x9e", "b\n"), false, []string{"a𝄞b"}},
		{"held rune broken by next write", chunks("\xf0\x9d", "\x84A\n"), false, []string{fffd + fffd + fffd + "A"}},
		{"held rune broken by LF", chunks("\xe2\x82", "\nz\n"), false, []string{fffd + fffd, "z"}},
		{"held rune broken by CR", chunks("\xe2", "\rz\n"), false, []string{fffd + "\rz"}},
		{"unfinished rune at Flush", chunks("x\xe2\x82"), false, []string{"x" + fffd + fffd}},
		{"genuine U+FFFD kept", chunks(fffd + "\n"), false, []string{fffd}},
		{"NUL and control bytes kept", chunks("a\x00\tb\x1b[0m\n"), false, []string{"a\x00\tb\x1b[0m"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, stderr := range []bool{false, true} {
				got := collect(t, stderr, !tt.noFlush, tt.chunks...)
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("lines (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestLineWriterLongLines(t *testing.T) {
	t.Parallel()
	const max = executor.MaxLineBytes
	a := func(n int) string { return strings.Repeat("a", n) }
	mib := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB
	invalid := strings.Repeat("\xff", max)
	tests := []struct {
		name       string
		input      string
		chunkSize  int // 0: one Write
		wantPieces []string
		wantJoined string // when wantPieces is nil: the concatenation
		wantCount  int
	}{
		{name: "exactly MaxLineBytes", input: a(max) + "\n", wantPieces: []string{a(max)}},
		{name: "exactly MaxLineBytes with CRLF", input: a(max) + "\r\n", chunkSize: 1000, wantPieces: []string{a(max)}},
		{name: "CR after a full piece is text", input: a(max) + "\rb\n", wantPieces: []string{a(max), "\rb"}},
		{name: "one byte more", input: a(max+1) + "\n", wantPieces: []string{a(max), "a"}},
		{name: "rune straddling the limit", input: a(max-1) + "€b\n", wantPieces: []string{a(max - 1), "€b"}},
		{name: "rune straddling the limit, bytewise", input: a(max-2) + "𝄞\n", chunkSize: 1, wantPieces: []string{a(max - 2), "𝄞"}},
		{name: "rune ending at the limit", input: a(max-3) + "€\n", wantPieces: []string{a(max-3) + "€"}},
		{name: "1 MiB without newline", input: mib, wantJoined: mib, wantCount: 16},
		{name: "1 MiB in 4 KiB writes", input: mib, chunkSize: 4096, wantJoined: mib, wantCount: 16},
		{name: "1 MiB in odd writes", input: mib, chunkSize: 7777, wantJoined: mib, wantCount: 16},
		{
			name:       "replacement counts toward the limit",
			input:      invalid,
			wantJoined: strings.Repeat("\uFFFD", max),
			wantCount:  4, // 21845 replacements (65535 bytes) fit in a piece
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var in [][]byte
			if tt.chunkSize == 0 {
				in = [][]byte{[]byte(tt.input)}
			} else {
				for s := tt.input; len(s) > 0; {
					n := min(tt.chunkSize, len(s))
					in = append(in, []byte(s[:n]))
					s = s[n:]
				}
			}
			got := collect(t, false, true, in...)
			for i, piece := range got {
				if len(piece) > max {
					t.Errorf("piece %d: got %d bytes, want at most %d", i, len(piece), max)
				}
				if !utf8.ValidString(piece) {
					t.Errorf("piece %d: got invalid UTF-8", i)
				}
			}
			if tt.wantPieces != nil {
				if len(got) != len(tt.wantPieces) {
					t.Fatalf("got %d pieces of sizes %v, want %d", len(got), sizes(got), len(tt.wantPieces))
				}
				for i := range got {
					if got[i] != tt.wantPieces[i] {
						t.Errorf("piece %d: got %d bytes %.20q…, want %d bytes %.20q…",
							i, len(got[i]), got[i], len(tt.wantPieces[i]), tt.wantPieces[i])
					}
				}
				return
			}
			if len(got) != tt.wantCount {
				t.Errorf("got %d pieces of sizes %v, want %d", len(got), sizes(got), tt.wantCount)
			}
			if joined := strings.Join(got, ""); joined != tt.wantJoined {
				t.Errorf("got concatenation of %d bytes, want the %d bytes expected", len(joined), len(tt.wantJoined))
			}
		})
	}
}

func sizes(pieces []string) []int {
	out := make([]int, len(pieces))
	for i, p := range pieces {
		out[i] = len(p)
	}
	return out
}

// referenceLines is a simple model of LineWriter for lines shorter than
// MaxLineBytes: split at LF, drop one CR before it, replace each invalid byte.
func referenceLines(input []byte) []string {
	var out []string
	parts := bytes.Split(input, []byte("\n"))
	for i, p := range parts {
		last := i == len(parts)-1
		if last && len(p) == 0 {
			break
		}
		if !last {
			p = bytes.TrimSuffix(p, []byte("\r"))
		}
		out = append(out, string([]rune(string(p))))
	}
	return out
}

// TestLineWriterChunking checks that random input gives the same lines as a
// simple model however it is cut into writes.
func TestLineWriterChunking(t *testing.T) {
	t.Parallel()
	alphabet := [][]byte{
		[]byte("a"), []byte("Z"), []byte(" "), []byte("\n"), []byte("\r"), []byte("\r\n"),
		[]byte("é"), []byte("€"), []byte("𝄞"), []byte("\uFFFD"),
		{0xff}, {0xe2}, {0xe2, 0x82}, {0xf0, 0x9d, 0x84}, {0x80}, {0xed, 0xa0, 0x80},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 300 {
		var input []byte
		for range rng.IntN(200) {
			input = append(input, alphabet[rng.IntN(len(alphabet))]...)
		}
		want := referenceLines(input)
		var in [][]byte
		for s := input; len(s) > 0; {
			n := min(1+rng.IntN(8), len(s))
			in = append(in, s[:n])
			s = s[n:]
		}
		if got := collect(t, false, true, in...); !cmp.Equal(want, got) {
			t.Fatalf("round %d, input %q in writes %q:\n%s", round, input, in, cmp.Diff(want, got))
		}
	}
}

// BenchmarkLineWriter measures a stream of typical 80-byte lines written in
// the 32 KiB chunks os/exec copies.
func BenchmarkLineWriter(b *testing.B) {
	line := "2024-05-01 12:00:00,123 INFO  invoice 4711 processed, 12 items, total 345.67 EUR\n"[:79] + "\n"
	data := []byte(strings.Repeat(line, (1<<20)/len(line)))
	lines := 0
	w := executor.NewLineWriter(false, func(executor.Line) { lines++ })
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		for s := data; len(s) > 0; {
			n := min(32<<10, len(s))
			_, _ = w.Write(s[:n])
			s = s[n:]
		}
	}
	w.Flush()
	if lines == 0 {
		b.Fatal("no lines emitted")
	}
}
