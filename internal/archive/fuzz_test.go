package archive

import (
	"archive/zip"
	"bytes"
	"hash/crc32"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"automationhub/internal/hub"
)

// fuzzLimits keep a single fuzz input cheap.
var fuzzLimits = Limits{MaxFiles: 20, MaxUnpackedBytes: 1 << 20}

// fuzzSeeds are valid and hostile archives that give the fuzzer structure to
// mutate.
func fuzzSeeds(tb testing.TB) [][]byte {
	dir := fs.ModeDir | 0o755
	liar := rawZip(tb, func(w *zip.Writer) {
		body := bytes.Repeat([]byte{0}, 2<<20)
		comp := deflate(tb, body)
		writeRaw(tb, w, &zip.FileHeader{Name: "liar.bin", Method: zip.Deflate, CRC32: crc32.ChecksumIEEE(body),
			CompressedSize64: uint64(len(comp)), UncompressedSize64: 10}, comp)
	})
	encrypted := rawZip(tb, func(w *zip.Writer) {
		writeRaw(tb, w, &zip.FileHeader{Name: "e.py", Method: zip.Store, Flags: 1,
			CRC32: crc32.ChecksumIEEE([]byte("x")), CompressedSize64: 1, UncompressedSize64: 1}, []byte("x"))
	})
	return [][]byte{
		makeZip(tb,
			zf{name: "robot.yaml", body: "required_env: [A, B]\nenv: {required: [C]}\n"},
			zf{name: "src/", mode: dir},
			zf{name: "src/main.py", body: "print('hello')\n"},
			zf{name: `lib\x.py`, body: "x = 1\n", store: true},
			zf{name: "run.sh", body: "#!/bin/sh\n", mode: 0o755},
		),
		makeZip(tb, zf{name: "a/robot.yml", body: "requirements:\n  env: [X]\n"}, zf{name: "empty"}),
		makeZip(tb, zf{name: "../evil.py", body: "evil"}),
		makeZip(tb, zf{name: `C:\x.py`, body: "evil"}, zf{name: "/abs", body: "evil"}),
		makeZip(tb, zf{name: "link", body: "/etc", mode: fs.ModeSymlink | 0o777}),
		makeZip(tb, zf{name: "fifo", mode: fs.ModeNamedPipe | 0o644}),
		makeZip(tb, zf{name: "bomb", body: strings.Repeat("\x00", 2<<20)}),
		makeZip(tb, zf{name: "a.py", body: "1"}, zf{name: "a.py", body: "2"}, zf{name: "a/b", body: "3"}),
		liar,
		encrypted,
		nil,
		[]byte("PK\x05\x06" + strings.Repeat("\x00", 18)),
	}
}

func FuzzInspect(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Inspect(bytes.NewReader(data), int64(len(data)), fuzzLimits)
		if err != nil {
			if m != nil {
				t.Fatalf("manifest %+v alongside error %v", m, err)
			}
			// Every problem of an uploaded file is the client's.
			if k := hub.ErrorKind(err); k != hub.EInvalid {
				t.Fatalf("error kind %q: %v", k, err)
			}
			return
		}
		checkManifest(t, m)
	})
}

func checkManifest(t *testing.T, m *Manifest) {
	t.Helper()
	if m.Files > fuzzLimits.MaxFiles || m.Files != len(m.Names) {
		t.Fatalf("Files = %d, %d names, limit %d", m.Files, len(m.Names), fuzzLimits.MaxFiles)
	}
	if m.UnpackedBytes < 0 || m.UnpackedBytes > fuzzLimits.MaxUnpackedBytes {
		t.Fatalf("UnpackedBytes = %d, limit %d", m.UnpackedBytes, fuzzLimits.MaxUnpackedBytes)
	}
	if m.Robot.RequiredEnv == nil {
		t.Fatal("Robot.RequiredEnv is nil")
	}
	for _, set := range []map[string]bool{m.Names, m.Dirs} {
		for n := range set {
			if c, err := CleanRelPath(n); err != nil || c != n {
				t.Fatalf("name %q is not clean: %q, %v", n, c, err)
			}
			if m.Names[n] && m.Dirs[n] {
				t.Fatalf("%q is both a file and a folder", n)
			}
			for d := path.Dir(n); d != "."; d = path.Dir(d) {
				if !m.Dirs[d] {
					t.Fatalf("parent %q of %q missing from Dirs", d, n)
				}
			}
		}
	}
	for i, k := range m.Robot.RequiredEnv {
		if k == "" || k != strings.TrimSpace(k) || (i > 0 && m.Robot.RequiredEnv[i-1] >= k) {
			t.Fatalf("Robot.RequiredEnv not trimmed, unique and sorted: %q", m.Robot.RequiredEnv)
		}
	}
}

// FuzzExtract checks that Extract agrees with Inspect, writes only inside
// its destination and leaves it empty on failure.
func FuzzExtract(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		want, werr := Inspect(bytes.NewReader(data), int64(len(data)), fuzzLimits)
		parent := t.TempDir()
		dest := filepath.Join(parent, "d")
		if err := os.Mkdir(dest, 0o755); err != nil {
			t.Fatal(err)
		}
		got, err := Extract(bytes.NewReader(data), int64(len(data)), dest, fuzzLimits)
		if (err == nil) != (werr == nil) {
			t.Fatalf("Inspect: %v; Extract: %v", werr, err)
		}
		if outside, _ := os.ReadDir(parent); len(outside) != 1 {
			t.Fatalf("Extract wrote next to its destination: %v", outside)
		}
		ents, _ := os.ReadDir(dest)
		if err != nil {
			if hub.ErrorKind(err) != hub.EInvalid || hub.ErrorMessage(err) != hub.ErrorMessage(werr) {
				t.Fatalf("Inspect: %v; Extract: %v", werr, err)
			}
			if len(ents) != 0 {
				t.Fatalf("destination not empty after an error: %v", ents)
			}
			return
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("manifests differ (-inspect +extract):\n%s", diff)
		}
		files := 0
		werr = filepath.WalkDir(dest, func(p string, d fs.DirEntry, err error) error {
			if err != nil || p == dest {
				return err
			}
			rel, _ := filepath.Rel(dest, p)
			rel = filepath.ToSlash(rel)
			switch {
			case d.Type().IsRegular():
				files++
				if !got.Names[rel] {
					t.Errorf("unexpected file %q", rel)
				}
			case d.IsDir():
				if !got.Dirs[rel] {
					t.Errorf("unexpected folder %q", rel)
				}
			default:
				t.Errorf("%q has type %v", rel, d.Type())
			}
			return nil
		})
		if werr != nil || files != got.Files {
			t.Fatalf("walk: %v; %d files on disk, manifest %d", werr, files, got.Files)
		}
	})
}

func FuzzCleanRelPath(f *testing.F) {
	for _, s := range []string{"main.py", "./src\\main.py", "../x", "a/../../b", "/etc/passwd", `C:\x`, `\\srv\s\x`,
		"a//b/./c/", "a\x00b", "", ".", "...", "a/. /b", "ü/файл", "a:b", `\\?\C:\x`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		c, err := CleanRelPath(p)
		if err != nil {
			if c != "" || hub.ErrorKind(err) != hub.EInvalid {
				t.Fatalf("CleanRelPath(%q) = %q, %v", p, c, err)
			}
			return
		}
		switch {
		case c == "":
			t.Fatalf("CleanRelPath(%q) is empty", p)
		case strings.HasPrefix(c, "/") || filepath.IsAbs(c) || path.IsAbs(c):
			t.Fatalf("CleanRelPath(%q) = %q is absolute", p, c)
		case len(c) >= 2 && c[1] == ':' && isASCIILetter(c[0]):
			t.Fatalf("CleanRelPath(%q) = %q starts with a drive", p, c)
		case strings.Contains(c, `\`) || strings.ContainsRune(c, 0):
			t.Fatalf("CleanRelPath(%q) = %q contains a backslash or NUL", p, c)
		case path.Clean(c) != c:
			t.Fatalf("CleanRelPath(%q) = %q is not clean", p, c)
		}
		for seg := range strings.SplitSeq(c, "/") {
			if seg == "" || seg == "." || seg == ".." || strings.Trim(seg, ". ") == "" {
				t.Fatalf("CleanRelPath(%q) = %q has segment %q", p, c, seg)
			}
		}
		if again, err := CleanRelPath(c); err != nil || again != c {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", p, c, again, err)
		}
		// Joined to a folder it stays inside it.
		if !filepath.IsLocal(filepath.FromSlash(c)) && filepath.Separator == '/' {
			t.Fatalf("CleanRelPath(%q) = %q is not local", p, c)
		}
	})
}
