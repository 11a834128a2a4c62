package executor_test

import (
	"bytes"
	"encoding/base64"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"

	"automationhub/internal/executor"
)

func TestMaskerForms(t *testing.T) {
	t.Parallel()
	secret := "p@ss w/rd+ä"
	m := executor.NewMasker([]string{secret, ""})
	forms := []string{secret, url.QueryEscape(secret), url.PathEscape(secret), base64.StdEncoding.EncodeToString([]byte(secret)),
		base64.URLEncoding.EncodeToString([]byte(secret)), base64.RawStdEncoding.EncodeToString([]byte(secret)),
		base64.RawURLEncoding.EncodeToString([]byte(secret)), "p%40ss%20w%2Frd%2B%C3%A4", "p%40ss%20w%2frd%2b%c3%a4"}
	for _, f := range forms {
		got := m.Mask("before " + f + " after")
		if got != "before *** after" {
			t.Errorf("Mask(%q) = %q", f, got)
		}
	}
	if got := m.Mask(`{"pw":"a\"b"}`); got != `{"pw":"a\"b"}` {
		t.Errorf("unrelated text changed: %q", got)
	}
	js := executor.NewMasker([]string{`quo"te\`})
	if got := js.Mask(`{"pw":"quo\"te\\"}`); got != `{"pw":"***"}` {
		t.Errorf("JSON-escaped form: %q", got)
	}
	if got := m.Mask(secret + secret + "x" + secret); got != "******x***" {
		t.Errorf("repeated: %q", got)
	}
	var none *executor.Masker
	if none.Mask("abc") != "abc" || executor.NewMasker(nil) != nil || executor.NewMasker([]string{""}) != nil {
		t.Error("a nil masker must pass text through")
	}
	// Overlapping secrets: the longest wins.
	o := executor.NewMasker([]string{"abc", "abcdef"})
	if got := o.Mask("xabcdefx abcx"); got != "x***x ***x" {
		t.Errorf("overlap: %q", got)
	}
	// Lines of a multi-line secret are masked by themselves too.
	pem := "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END KEY-----"
	pm := executor.NewMasker([]string{pem})
	if got := pm.Mask("key line MIIEvQIBADANBgkqhkiG9w0BAQEFAASC here"); got != "key line *** here" {
		t.Errorf("line of a multi-line secret: %q", got)
	}
}

// TestMaskWriterAcrossWrites feeds text holding secrets in every form to a
// MaskWriter in random pieces: whatever the cuts, the output is the text
// masked at once.
func TestMaskWriterAcrossWrites(t *testing.T) {
	t.Parallel()
	secrets := []string{"hunter2-xyz", "abc", "abcdefgh", "ümlaut✓"}
	m := executor.NewMasker(secrets)
	var b strings.Builder
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 400 {
		s := secrets[rng.IntN(len(secrets))]
		switch i % 4 {
		case 0:
			b.WriteString(s)
		case 1:
			b.WriteString(url.QueryEscape(s))
		case 2:
			b.WriteString(base64.StdEncoding.EncodeToString([]byte(s)))
		case 3:
			b.WriteString(s[:len(s)/2]) // a prefix only: not a secret
		}
		b.WriteString([]string{" ", "\n", "ab", "x", "hunter"}[rng.IntN(5)])
	}
	text := b.String()
	want := m.Mask(text)
	if strings.Contains(want, "hunter2-xyz") || strings.Contains(want, "abcdefgh") {
		t.Fatal("Mask left a secret")
	}
	for trial := range 200 {
		var out bytes.Buffer
		w := executor.NewMaskWriter(m, &out)
		rest := []byte(text)
		for len(rest) > 0 {
			n := 1 + rng.IntN(min(len(rest), 1+trial%23))
			if _, err := w.Write(rest[:n]); err != nil {
				t.Fatal(err)
			}
			rest = rest[n:]
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if out.String() != want {
			t.Fatalf("trial %d: streamed masking differs from masking at once", trial)
		}
	}
}

// TestMaskWriterHoldsOnlyPossibleSecrets: output that cannot start a secret
// is written at once (live logs are not delayed).
func TestMaskWriterHoldsOnlyPossibleSecrets(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	w := executor.NewMaskWriter(executor.NewMasker([]string{"s3cret"}), &out)
	w.Write([]byte("line one\nline two s3"))
	if out.String() != "line one\nline two " {
		t.Errorf("written so far: %q", out.String())
	}
	w.Write([]byte("x\n"))
	if out.String() != "line one\nline two s3x\n" {
		t.Errorf("after a non-secret: %q", out.String())
	}
	w.Write([]byte("s3cr"))
	w.Flush()
	if out.String() != "line one\nline two s3x\ns3cr" {
		t.Errorf("flushed: %q", out.String())
	}
	var plain bytes.Buffer
	executor.NewMaskWriter(nil, &plain).Write([]byte("as is"))
	if plain.String() != "as is" {
		t.Errorf("nil masker: %q", plain.String())
	}
}

// TestMaskedLinesAcrossLongLinePieces: a secret straddling the cut of a
// line longer than MaxLineBytes is masked when the masker sits before the
// line writer.
func TestMaskedLinesAcrossLongLinePieces(t *testing.T) {
	t.Parallel()
	secret := "straddling-secret-value"
	line := strings.Repeat("x", executor.MaxLineBytes-5) + secret + "\n"
	var got []string
	lw := executor.NewLineWriter(false, func(l executor.Line) { got = append(got, l.Text) })
	mw := executor.NewMaskWriter(executor.NewMasker([]string{secret}), lw)
	for i := 0; i < len(line); i += 4096 {
		mw.Write([]byte(line[i:min(len(line), i+4096)]))
	}
	mw.Flush()
	lw.Flush()
	joined := strings.Join(got, "")
	if strings.Contains(joined, "straddling") || !strings.HasSuffix(joined, "***") {
		t.Errorf("pieces %d, end %q", len(got), joined[max(0, len(joined)-40):])
	}
}

func BenchmarkMaskWriter(b *testing.B) {
	m := executor.NewMasker([]string{"hunter2-secret", "another-one"})
	chunk := bytes.Repeat([]byte("2026-03-01 INFO processing invoice 12345 for customer ACME hunter\n"), 500)
	w := executor.NewMaskWriter(m, discard{})
	b.SetBytes(int64(len(chunk)))
	for b.Loop() {
		w.Write(chunk)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func TestMaskedLogger(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := executor.MaskLoggerForTest(slog.New(slog.NewJSONHandler(&buf, nil)), executor.NewMasker([]string{"s3cret"}))
	log.With("file", "out-s3cret.txt").Warn("could not store s3cret", "error", errString("open s3cret: denied"), slog.Group("g", "v", "s3cret"))
	if strings.Contains(buf.String(), "s3cret") || strings.Count(buf.String(), "***") != 4 {
		t.Errorf("log line: %s", buf.String())
	}
}

type errString string

func (e errString) Error() string { return string(e) }
