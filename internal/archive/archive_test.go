package archive

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"errors"
	"hash/crc32"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"automationhub/internal/config"
	"automationhub/internal/hub"
)

// testLimits are small limits so hostile cases stay cheap.
var testLimits = Limits{MaxFiles: 10, MaxUnpackedBytes: 4 << 20}

// zf is one entry of a test archive built with zip.Writer.
type zf struct {
	name string
	body string
	mode fs.FileMode // 0: whatever zip.Writer does by default
	// store selects zip.Store instead of zip.Deflate.
	store bool
}

func makeZip(tb testing.TB, files ...zf) []byte {
	tb.Helper()
	return rawZip(tb, func(w *zip.Writer) {
		for _, f := range files {
			h := &zip.FileHeader{Name: f.name, Method: zip.Deflate}
			if f.store {
				h.Method = zip.Store
			}
			if f.mode != 0 {
				h.SetMode(f.mode)
			}
			fw, err := w.CreateHeader(h)
			if err != nil {
				tb.Fatal(err)
			}
			if f.body != "" {
				if _, err := io.WriteString(fw, f.body); err != nil {
					tb.Fatal(err)
				}
			}
		}
	})
}

// rawZip builds an archive with full control over the writer (CreateRaw lets
// headers say anything).
func rawZip(tb testing.TB, build func(w *zip.Writer)) []byte {
	tb.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	build(w)
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// writeRaw adds an entry whose header fields are taken as given; data is
// written as is (already compressed when h.Method is Deflate).
func writeRaw(tb testing.TB, w *zip.Writer, h *zip.FileHeader, data []byte) {
	tb.Helper()
	fw, err := w.CreateRaw(h)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := fw.Write(data); err != nil {
		tb.Fatal(err)
	}
}

func deflate(tb testing.TB, data []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	fw, err := flate.NewWriter(&buf, flate.BestCompression)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := fw.Write(data); err != nil {
		tb.Fatal(err)
	}
	if err := fw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func inspect(data []byte, lim Limits) (*Manifest, error) {
	return Inspect(bytes.NewReader(data), int64(len(data)), lim)
}

// wantInvalid checks that err is a client error whose message contains every
// fragment.
func wantInvalid(t *testing.T, err error, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("error = nil, want an %s error containing %q", hub.EInvalid, fragments)
	}
	if k := hub.ErrorKind(err); k != hub.EInvalid {
		t.Fatalf("kind = %q (%v), want %q", k, err, hub.EInvalid)
	}
	msg := hub.ErrorMessage(err)
	t.Logf("message: %s", msg)
	for _, f := range fragments {
		if !strings.Contains(msg, f) {
			t.Errorf("message %q does not contain %q", msg, f)
		}
	}
}

func TestInspectGoodArchive(t *testing.T) {
	data := makeZip(t,
		zf{name: "robot.yaml", body: "required_env: [API_KEY]\n"},
		zf{name: "src/", mode: fs.ModeDir | 0o755},
		zf{name: "src/main.py", body: "print('hi')\n"},
		zf{name: `src\util\helper.py`, body: "x = 1\n"}, // Windows-style separators
		zf{name: "./bin/run.sh", body: "#!/bin/sh\n", mode: 0o755},
		zf{name: "empty.txt"},
		zf{name: "stored.bin", body: "raw", store: true},
	)
	m, err := inspect(data, testLimits)
	if err != nil {
		t.Fatal(err)
	}
	want := &Manifest{
		Files:         6,
		UnpackedBytes: int64(len("required_env: [API_KEY]\n") + len("print('hi')\n") + len("x = 1\n") + len("#!/bin/sh\n") + len("raw")),
		Names: map[string]bool{"robot.yaml": true, "src/main.py": true, "src/util/helper.py": true,
			"bin/run.sh": true, "empty.txt": true, "stored.bin": true},
		Dirs:  map[string]bool{"src": true, "src/util": true, "bin": true},
		Robot: RobotFile{Name: "robot.yaml", RequiredEnv: []string{"API_KEY"}, RuntimeEnv: []string{}},
	}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("manifest (-want +got):\n%s", diff)
	}
}

func TestInspectEmptyArchives(t *testing.T) {
	// A valid ZIP without entries is accepted (the publish layer decides
	// whether that is useful); Robot.RequiredEnv is never nil.
	m, err := inspect(makeZip(t), testLimits)
	if err != nil {
		t.Fatal(err)
	}
	if m.Files != 0 || m.Robot.RequiredEnv == nil || len(m.Robot.RequiredEnv) != 0 || m.Names == nil || m.Dirs == nil {
		t.Errorf("manifest = %+v", m)
	}
	// An entry of zero bytes is fine.
	m, err = inspect(makeZip(t, zf{name: "empty.py"}), testLimits)
	if err != nil || m.Files != 1 || m.UnpackedBytes != 0 {
		t.Errorf("empty entry: %+v, %v", m, err)
	}
}

func TestRequiredEnv(t *testing.T) {
	tests := []struct {
		name  string
		files []zf
		want  []string
	}{
		{"top-level list, trimmed, deduplicated, sorted",
			[]zf{{name: "robot.yaml", body: "required_env:\n  - B\n  - ' A '\n  - A\n  - ''\n  - '   '\n"}}, []string{"A", "B"}},
		{"env.required", []zf{{name: "robot.yaml", body: "env:\n  required: [DB_URL, TOKEN]\n  optional: [X]\n"}}, []string{"DB_URL", "TOKEN"}},
		{"requirements.env", []zf{{name: "robot.yaml", body: "requirements:\n  env:\n    - REGION\n"}}, []string{"REGION"}},
		{"all three shapes merged", []zf{{name: "robot.yaml",
			body: "required_env: [C, A]\nenv: {required: [B, A]}\nrequirements: {env: [D]}\n"}}, []string{"A", "B", "C", "D"}},
		{"robot.yml", []zf{{name: "robot.yml", body: "required_env: [YML]\n"}}, []string{"YML"}},
		{"ROBOT.YAML in a subfolder", []zf{{name: "pkg/", mode: fs.ModeDir | 0o755}, {name: "pkg/ROBOT.YAML", body: "required_env: [SUB]\n"}}, []string{"SUB"}},
		{"root file wins over an earlier nested one", []zf{
			{name: "a/robot.yaml", body: "required_env: [NESTED]\n"},
			{name: "Robot.Yml", body: "required_env: [ROOT]\n"},
		}, []string{"ROOT"}},
		{"first nested in archive order", []zf{
			{name: "b/robot.yaml", body: "required_env: [FIRST]\n"},
			{name: "a/robot.yaml", body: "required_env: [SECOND]\n"},
		}, []string{"FIRST"}},
		{"first root match in archive order", []zf{
			{name: "robot.yml", body: "required_env: [YML]\n"},
			{name: "robot.yaml", body: "required_env: [YAML]\n"},
		}, []string{"YML"}},
		{"alias", []zf{{name: "robot.yaml", body: "common: &c [X1]\nrequired_env: *c\n"}}, []string{"X1"}},
		{"document is a list", []zf{{name: "robot.yaml", body: "- required_env\n- A\n"}}, []string{}},
		{"document is a scalar", []zf{{name: "robot.yaml", body: "hello\n"}}, []string{}},
		{"invalid YAML", []zf{{name: "robot.yaml", body: "required_env: [A\n  : : {\n"}}, []string{}},
		{"empty robot.yaml", []zf{{name: "robot.yaml"}}, []string{}},
		{"list of numbers", []zf{{name: "robot.yaml", body: "required_env: [1, 2]\n"}}, []string{}},
		{"mixed list is ignored, other lists count", []zf{{name: "robot.yaml",
			body: "required_env: [A, {b: c}]\nenv: {required: [OK]}\n"}}, []string{"OK"}},
		{"scalar instead of list", []zf{{name: "robot.yaml", body: "required_env: A\n"}}, []string{}},
		{"env is a list", []zf{{name: "robot.yaml", body: "env: [A]\n"}}, []string{}},
		{"quoted number is a string", []zf{{name: "robot.yaml", body: "required_env: ['123']\n"}}, []string{"123"}},
		{"larger than 64 KiB", []zf{{name: "robot.yaml",
			body: "required_env: [BIG]\n#" + strings.Repeat("x", 64<<10) + "\n"}}, []string{}},
		{"no robot.yaml", []zf{{name: "main.py", body: "x"}}, []string{}},
		{"robot.yaml folder is not a manifest", []zf{{name: "robot.yaml/", mode: fs.ModeDir | 0o755},
			{name: "robot.yaml/x", body: "required_env: [NO]\n"}}, []string{}},
		{"similar names do not count", []zf{{name: "myrobot.yaml", body: "required_env: [NO]\n"},
			{name: "robot.yaml.bak", body: "required_env: [NO]\n"}}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := inspect(makeZip(t, tt.files...), testLimits)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, m.Robot.RequiredEnv); diff != "" || m.Robot.RequiredEnv == nil {
				t.Errorf("Robot.RequiredEnv (-want +got):\n%s (nil: %v)", diff, m.Robot.RequiredEnv == nil)
			}
		})
	}
}

func TestRobotFile(t *testing.T) {
	tests := []struct {
		name  string
		files []zf
		want  RobotFile
	}{
		{"no robot.yaml", []zf{{name: "main.py", body: "x"}}, RobotFile{}},
		{"empty robot.yaml", []zf{{name: "robot.yaml"}}, RobotFile{Name: "robot.yaml"}},
		{"entry point and type", []zf{{name: "robot.yaml", body: "entrypoint_path: ' src/app.py '\nentrypoint_type: EXE\n"}},
			RobotFile{Name: "robot.yaml", EntrypointPath: "src/app.py", EntrypointType: "EXE"}},
		{"runtime_env declared", []zf{{name: "robot.yaml", body: "runtime_env: [REGION, PERIODO, REGION]\n"}},
			RobotFile{Name: "robot.yaml", RuntimeEnv: []string{"PERIODO", "REGION"}}},
		{"runtime_env refuses hooks and bad names", []zf{{name: "robot.yaml", body: "runtime_env: [REGION, LD_PRELOAD, PYTHONSTARTUP, 1BAD]\n"}},
			RobotFile{Name: "robot.yaml", RuntimeEnv: []string{"REGION"},
				RuntimeEnvProblems: []string{"runtime_env: LD_PRELOAD is reserved and cannot be set by a run.",
					"runtime_env: PYTHONSTARTUP is reserved and cannot be set by a run.", `runtime_env: "1BAD" is not a valid variable name.`},
				Problems: []string{"runtime_env: LD_PRELOAD is reserved and cannot be set by a run.",
					"runtime_env: PYTHONSTARTUP is reserved and cannot be set by a run.", `runtime_env: "1BAD" is not a valid variable name.`}}},
		{"runtime_env not a list", []zf{{name: "robot.yaml", body: "runtime_env: REGION\n"}},
			RobotFile{Name: "robot.yaml", RuntimeEnvProblems: []string{"runtime_env must be a list of variable names."},
				Problems: []string{"runtime_env must be a list of variable names."}}},
		{"nested file keeps its path", []zf{{name: "pkg/Robot.yml", body: "entrypoint_path: app.py\n"}},
			RobotFile{Name: "pkg/Robot.yml", EntrypointPath: "app.py"}},
		{"unknown keys are allowed", []zf{{name: "robot.yaml", body: "name: hello\ndescription: says hello\n"}},
			RobotFile{Name: "robot.yaml"}},
		{"entry point is a list", []zf{{name: "robot.yaml", body: "entrypoint_path: [a.py]\nrequired_env: [A]\n"}},
			RobotFile{Name: "robot.yaml", RequiredEnv: []string{"A"}, Problems: []string{"entrypoint_path must be a string."}}},
		{"entry type is a number", []zf{{name: "robot.yaml", body: "entrypoint_type: 3\n"}},
			RobotFile{Name: "robot.yaml", Problems: []string{"entrypoint_type must be a string."}}},
		{"invalid YAML", []zf{{name: "robot.yaml", body: "required_env: [A\n  : : {\n"}},
			RobotFile{Name: "robot.yaml", Problems: []string{"The file is not valid YAML (line 1: did not find expected ',' or ']')."}}},
		{"document is a list", []zf{{name: "robot.yaml", body: "- A\n"}},
			RobotFile{Name: "robot.yaml", Problems: []string{"The file must be a mapping of keys to values."}}},
		{"mixed list and env as a list", []zf{{name: "robot.yaml", body: "required_env: [A, {b: c}]\nenv: [B]\nrequirements: {env: [OK]}\n"}},
			RobotFile{Name: "robot.yaml", RequiredEnv: []string{"OK"}, Problems: []string{
				"required_env must be a list of strings.", "env must be a mapping."}}},
		{"null list", []zf{{name: "robot.yaml", body: "requirements:\n  env:\n"}},
			RobotFile{Name: "robot.yaml", Problems: []string{"requirements.env must be a list of strings."}}},
		{"larger than 64 KiB", []zf{{name: "robot.yaml", body: "entrypoint_path: a.py\n#" + strings.Repeat("x", 64<<10) + "\n"}},
			RobotFile{Name: "robot.yaml", Problems: []string{"The file is larger than 64 KiB."}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := inspect(makeZip(t, tt.files...), testLimits)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want.RequiredEnv == nil {
				tt.want.RequiredEnv = []string{}
			}
			if tt.want.RuntimeEnv == nil {
				tt.want.RuntimeEnv = []string{}
			}
			if diff := cmp.Diff(tt.want, m.Robot); diff != "" {
				t.Errorf("Robot (-want +got):\n%s", diff)
			}
		})
	}
}

func TestInspectRejectsHostileNames(t *testing.T) {
	tests := []struct {
		name string
		want []string
	}{
		{"../evil.py", []string{`"../evil.py"`, "escapes the package", `".." segment`}},
		{"a/../../evil.py", []string{`"a/../../evil.py"`, "escapes the package"}},
		{"a/../b.py", []string{"escapes the package"}}, // any ".." is refused, even one that stays inside
		{"x/..", []string{"escapes the package"}},
		{"/etc/passwd", []string{`"/etc/passwd"`, "absolute path"}},
		{`\evil.py`, []string{"absolute path"}},
		{`C:\x.py`, []string{`"C:\\x.py"`, "drive letter"}},
		{"c:x.py", []string{"drive letter"}},
		{`\\server\share\x`, []string{"UNC path"}},
		{"//server/share/x", []string{"UNC path"}},
		{`..\x`, []string{`".." segment`}},
		{`a\..\..\x`, []string{`".." segment`}},
		{"a/.../x", []string{"only dots or spaces"}},
		{"a/. /x", []string{"only dots or spaces"}},
		{"a\x00b.py", []string{"NUL byte"}},
		{"./", []string{"empty name"}},
		{strings.Repeat("n", 256) + ".py", []string{"name longer than 255 bytes"}},
		{"src/" + strings.Repeat("é", 128) + "/main.py", []string{"name longer than 255 bytes"}},
		{strings.Repeat(strings.Repeat("d", 200)+"/", 6) + "main.py", []string{"path longer than 1024 bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := "evil"
			if strings.HasSuffix(tt.name, "/") {
				body = "" // zip.Writer refuses data for folders
			}
			data := makeZip(t, zf{name: "ok.py", body: "x"}, zf{name: tt.name, body: body})
			_, err := inspect(data, testLimits)
			wantInvalid(t, err, append([]string{"Archive entry"}, tt.want...)...)
		})
	}
}

func TestInspectRejectsSpecialEntries(t *testing.T) {
	tests := []struct {
		name string
		mode fs.FileMode
		body string
		want string
	}{
		{"link", fs.ModeSymlink | 0o777, "/etc/passwd", "symbolic link"},
		{"dirlink/", fs.ModeSymlink | 0o777, "", "symbolic link"},
		{"dev", fs.ModeDevice | 0o644, "", "device"},
		{"tty", fs.ModeDevice | fs.ModeCharDevice | 0o644, "", "device"},
		{"fifo", fs.ModeNamedPipe | 0o644, "", "named pipe"},
		{"sock", fs.ModeSocket | 0o644, "", "socket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := makeZip(t, zf{name: tt.name, mode: tt.mode, body: tt.body})
			_, err := inspect(data, testLimits)
			wantInvalid(t, err, strconv.Quote(tt.name), tt.want)
		})
	}
	t.Run("irregular mode bits from raw attributes", func(t *testing.T) {
		data := rawZip(t, func(w *zip.Writer) {
			h := &zip.FileHeader{Name: "odd", Method: zip.Store, CreatorVersion: 3 << 8}
			h.ExternalAttrs = 0o170644 << 16 // S_IFMT with every type bit set
			writeRaw(t, w, h, nil)
		})
		_, err := inspect(data, testLimits)
		wantInvalid(t, err, `"odd"`, "unknown file type")
	})
}

func TestInspectRejectsEncryptedEntries(t *testing.T) {
	data := rawZip(t, func(w *zip.Writer) {
		body := []byte("secret")
		writeRaw(t, w, &zip.FileHeader{Name: "locked.py", Method: zip.Store, Flags: 0x1,
			CRC32: crc32.ChecksumIEEE(body), CompressedSize64: 6, UncompressedSize64: 6}, body)
	})
	_, err := inspect(data, testLimits)
	wantInvalid(t, err, `"locked.py"`, "encrypted")
}

func TestInspectRejectsDuplicatesAndConflicts(t *testing.T) {
	dir := fs.ModeDir | 0o755
	tests := []struct {
		name  string
		files []zf
		want  string
	}{
		{"same name twice", []zf{{name: "a.py", body: "1"}, {name: "a.py", body: "2"}}, "more than once"},
		{"same after normalising", []zf{{name: "a/b.py", body: "1"}, {name: `a\b.py`, body: "2"}}, "more than once"},
		{"dot prefix", []zf{{name: "a.py"}, {name: "./a.py"}}, "more than once"},
		{"folder twice", []zf{{name: "d/", mode: dir}, {name: "d/", mode: dir}}, "more than once"},
		{"file then folder", []zf{{name: "x", body: "1"}, {name: "x/", mode: dir}}, "both a file and a folder"},
		{"folder then file", []zf{{name: "x/", mode: dir}, {name: "x", body: "1"}}, "both a file and a folder"},
		{"file then child", []zf{{name: "x", body: "1"}, {name: "x/y", body: "2"}}, "which is a file"},
		{"child then file", []zf{{name: "x/y/z", body: "1"}, {name: "x/y", body: "2"}}, "both a file and a folder"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := inspect(makeZip(t, tt.files...), testLimits)
			wantInvalid(t, err, "Archive entry", tt.want)
		})
	}
	t.Run("case differences are distinct names", func(t *testing.T) {
		m, err := inspect(makeZip(t, zf{name: "A.py", body: "1"}, zf{name: "a.py", body: "2"}), testLimits)
		if err != nil || m.Files != 2 {
			t.Errorf("got %+v, %v", m, err)
		}
	})
	t.Run("explicit folder after implied one", func(t *testing.T) {
		m, err := inspect(makeZip(t, zf{name: "d/x.py", body: "1"}, zf{name: "d/", mode: dir}), testLimits)
		if err != nil || !m.Dirs["d"] {
			t.Errorf("got %+v, %v", m, err)
		}
	})
}

func manyEntries(tb testing.TB, n int, dirs bool) []byte {
	tb.Helper()
	return rawZip(tb, func(w *zip.Writer) {
		for i := range n {
			name := "f" + strconv.Itoa(i) + ".txt"
			if dirs && i%2 == 0 {
				name = "d" + strconv.Itoa(i) + "/"
			}
			if _, err := w.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store}); err != nil {
				tb.Fatal(err)
			}
		}
	})
}

func TestInspectEntryLimit(t *testing.T) {
	if _, err := inspect(manyEntries(t, 10, true), testLimits); err != nil {
		t.Errorf("10 entries: %v", err)
	}
	// Folders count as entries too.
	_, err := inspect(manyEntries(t, 11, true), testLimits)
	wantInvalid(t, err, "more than 10 entries")

	// The real default.
	def := config.Default()
	lim := Limits{MaxFiles: def.MaxArtifactFiles, MaxUnpackedBytes: def.MaxArtifactUnpackedBytes}
	if DefaultMaxFiles != lim.MaxFiles || DefaultMaxUnpackedBytes != lim.MaxUnpackedBytes {
		t.Fatalf("config defaults %+v differ from the package defaults", lim)
	}
	if m, err := inspect(manyEntries(t, 10_000, false), lim); err != nil || m.Files != 10_000 {
		t.Errorf("10 000 entries: %v", err)
	}
	big := manyEntries(t, 10_001, false)
	_, err = inspect(big, lim)
	wantInvalid(t, err, "more than 10000 entries")
	// Zero limits mean the defaults, not "unlimited".
	_, err = inspect(big, Limits{})
	wantInvalid(t, err, "more than 10000 entries")
}

func TestInspectSizeBudget(t *testing.T) {
	zeros := strings.Repeat("\x00", 10<<20)
	t.Run("10 MB of zeros past a 4 MB cap", func(t *testing.T) {
		data := makeZip(t, zf{name: "bomb.bin", body: zeros})
		if len(data) > 100<<10 {
			t.Fatalf("test archive is %d bytes, expected a small bomb", len(data))
		}
		_, err := inspect(data, testLimits)
		wantInvalid(t, err, "unpacks to more than 4194304 bytes")
	})
	t.Run("several entries add up", func(t *testing.T) {
		part := zeros[:2<<20]
		_, err := inspect(makeZip(t, zf{name: "a", body: part}, zf{name: "b", body: part}, zf{name: "c", body: part}), testLimits)
		wantInvalid(t, err, "unpacks to more than")
	})
	t.Run("exactly at the cap", func(t *testing.T) {
		m, err := inspect(makeZip(t, zf{name: "a", body: zeros[:4<<20]}), testLimits)
		if err != nil || m.UnpackedBytes != 4<<20 {
			t.Errorf("got %+v, %v", m, err)
		}
	})
	t.Run("header understates the size", func(t *testing.T) {
		body := []byte(zeros)
		data := rawZip(t, func(w *zip.Writer) {
			comp := deflate(t, body)
			writeRaw(t, w, &zip.FileHeader{Name: "liar.bin", Method: zip.Deflate, CRC32: crc32.ChecksumIEEE(body),
				CompressedSize64: uint64(len(comp)), UncompressedSize64: 100}, comp)
		})
		_, err := inspect(data, testLimits)
		wantInvalid(t, err, `"liar.bin"`)
	})
	t.Run("header understates the size, stored", func(t *testing.T) {
		body := []byte(zeros[:5<<20])
		data := rawZip(t, func(w *zip.Writer) {
			writeRaw(t, w, &zip.FileHeader{Name: "liar.bin", Method: zip.Store, CRC32: crc32.ChecksumIEEE(body),
				CompressedSize64: uint64(len(body)), UncompressedSize64: 1}, body)
		})
		_, err := inspect(data, testLimits)
		wantInvalid(t, err, `"liar.bin"`)
	})
	t.Run("header overstates the size", func(t *testing.T) {
		body := []byte("tiny")
		data := rawZip(t, func(w *zip.Writer) {
			writeRaw(t, w, &zip.FileHeader{Name: "liar.bin", Method: zip.Store, CRC32: crc32.ChecksumIEEE(body),
				CompressedSize64: 4, UncompressedSize64: 1 << 40}, body)
		})
		_, err := inspect(data, testLimits)
		wantInvalid(t, err)
	})
}

// endless is a reader of zeros that never ends, like a decompressor fed a
// lying header would be if nothing else stopped it.
type endless struct{ read int64 }

func (e *endless) Read(b []byte) (int, error) {
	clear(b)
	e.read += int64(len(b))
	return len(b), nil
}

func TestCopyBudgetStopsOnRealBytes(t *testing.T) {
	src := &endless{}
	n, err := copyBudget(io.Discard, src, 4<<20, nil)
	wantInvalid(t, err, "unpacks to more than 4194304 bytes")
	if n != 4<<20+1 {
		t.Errorf("copied %d bytes, want budget+1", n)
	}
	if src.read > 4<<20+64<<10 {
		t.Errorf("read %d bytes from the source, want about the budget", src.read)
	}
	if n, err := copyBudget(io.Discard, strings.NewReader("12345"), 5, nil); n != 5 || err != nil {
		t.Errorf("exactly the budget: %d, %v", n, err)
	}
	if _, err := copyBudget(io.Discard, strings.NewReader("x"), 0, nil); err == nil {
		t.Error("zero budget accepted a byte")
	}
	var re *readError
	if _, err := copyBudget(io.Discard, io.MultiReader(strings.NewReader("ab"), iotestErr{}), 10, nil); !errors.As(err, &re) {
		t.Errorf("read failure = %v, want *readError", err)
	}
}

type iotestErr struct{}

func (iotestErr) Read([]byte) (int, error) { return 0, errors.New("boom") }

func TestInspectRejectsCorruptArchives(t *testing.T) {
	good := makeZip(t, zf{name: "a.py", body: strings.Repeat("print('hello')\n", 100)})
	stored := makeZip(t, zf{name: "a.txt", body: "hello, stored world", store: true})
	flipStored := bytes.Clone(stored)
	i := bytes.Index(flipStored, []byte("stored world"))
	flipStored[i] ^= 0xff
	flipDeflated := bytes.Clone(good)
	flipDeflated[30+len("a.py")+5] ^= 0xff // inside the compressed data, after the local header

	rng := rand.New(rand.NewPCG(1, 2))
	garbage := make([]byte, 4096)
	for i := range garbage {
		garbage[i] = byte(rng.Uint32())
	}

	zeroCRC := rawZip(t, func(w *zip.Writer) {
		writeRaw(t, w, &zip.FileHeader{Name: "nocrc.txt", Method: zip.Store, CRC32: 0,
			CompressedSize64: 5, UncompressedSize64: 5}, []byte("hello"))
	})
	// zip.Writer refuses data for a folder: write a file and rename it in
	// the local and the central header.
	folderWithData := bytes.ReplaceAll(rawZip(t, func(w *zip.Writer) {
		writeRaw(t, w, &zip.FileHeader{Name: "dirQ", Method: zip.Store, CRC32: crc32.ChecksumIEEE([]byte("data")),
			CompressedSize64: 4, UncompressedSize64: 4}, []byte("data"))
	}), []byte("dirQ"), []byte("dir/"))
	badMethod := rawZip(t, func(w *zip.Writer) {
		writeRaw(t, w, &zip.FileHeader{Name: "x.bz2", Method: 12, CompressedSize64: 1, UncompressedSize64: 1}, []byte("x"))
	})

	tests := []struct {
		name string
		data []byte
		want []string
	}{
		{"empty file", nil, []string{"not a valid ZIP archive"}},
		{"garbage", garbage, []string{"not a valid ZIP archive"}},
		{"truncated", good[:len(good)/2], []string{"not a valid ZIP archive"}},
		{"only the end record", good[len(good)-22:], []string{"not a valid ZIP archive"}},
		{"flipped byte in stored data", flipStored, []string{"not a valid ZIP archive", `"a.txt"`, "checksum mismatch"}},
		{"flipped byte in deflated data", flipDeflated, []string{"not a valid ZIP archive", `"a.py"`}},
		{"zero CRC in the header", zeroCRC, []string{"not a valid ZIP archive", `"nocrc.txt"`, "checksum mismatch"}},
		{"folder with data", folderWithData, []string{"not a valid ZIP archive", `"dir/"`}},
		{"unknown compression method", badMethod, []string{`"x.bz2"`, "unsupported compression method"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := inspect(tt.data, testLimits)
			wantInvalid(t, err, tt.want...)
		})
	}
	if _, err := inspect(good, testLimits); err != nil {
		t.Fatalf("unmodified archive: %v", err)
	}
	_, err := Inspect(bytes.NewReader(good), -1, testLimits)
	wantInvalid(t, err, "not a valid ZIP archive")
}

func TestLongNamesAreShortenedInMessages(t *testing.T) {
	name := "../" + strings.Repeat("a", 5000)
	_, err := inspect(makeZip(t, zf{name: name, body: "x"}), testLimits)
	wantInvalid(t, err, "escapes the package")
	if len(hub.ErrorMessage(err)) > 400 {
		t.Errorf("message is %d bytes long", len(hub.ErrorMessage(err)))
	}
}

func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		switch {
		case d.IsDir():
			got[key+"/"] = info.Mode().String()
		case info.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			got[key] = info.Mode().String() + " " + string(b)
		default:
			got[key] = "unexpected " + info.Mode().String()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestExtractGoodArchive(t *testing.T) {
	data := makeZip(t,
		zf{name: "robot.yaml", body: "env:\n  required: [TOKEN]\n"},
		zf{name: "src/", mode: fs.ModeDir | 0o700},
		zf{name: `src\main.py`, body: "print('hi')\n", mode: 0o600},
		zf{name: "bin/run.sh", body: "#!/bin/sh\necho hi\n", mode: 0o700},
		zf{name: "deep/er/empty.txt"},
		zf{name: "setuid", body: "s", mode: fs.ModeSetuid | 0o4755},
	)
	dest := t.TempDir()
	m, err := Extract(bytes.NewReader(data), int64(len(data)), dest, testLimits)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"robot.yaml":        "-rw-r--r-- env:\n  required: [TOKEN]\n",
		"src/":              "drwxr-xr-x",
		"src/main.py":       "-rw-r--r-- print('hi')\n",
		"bin/":              "drwxr-xr-x",
		"bin/run.sh":        "-rwxr-xr-x #!/bin/sh\necho hi\n",
		"deep/":             "drwxr-xr-x",
		"deep/er/":          "drwxr-xr-x",
		"deep/er/empty.txt": "-rw-r--r-- ",
		"setuid":            "-rwxr-xr-x s",
	}
	got := readTree(t, dest)
	if runtime.GOOS == "windows" {
		// Windows has no permission bits worth comparing.
		for k, v := range got {
			got[k] = v[strings.IndexByte(v, ' ')+1:]
		}
		for k, v := range want {
			want[k] = v[strings.IndexByte(v, ' ')+1:]
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("extracted tree (-want +got):\n%s", diff)
	}
	inspected, err := inspect(data, testLimits)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(inspected, m); diff != "" {
		t.Errorf("Extract and Inspect disagree (-inspect +extract):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"TOKEN"}, m.Robot.RequiredEnv); diff != "" {
		t.Errorf("Robot.RequiredEnv: %s", diff)
	}
}

func TestExtractHostileArchivesLeaveNothing(t *testing.T) {
	okFiles := []zf{{name: "a/ok.py", body: "fine"}, {name: "b.py", body: "fine"}}
	zeros := strings.Repeat("\x00", 10<<20)
	lateCorrupt := makeZip(t, append(okFiles, zf{name: "c.txt", body: "hello, stored world", store: true})...)
	lateCorrupt[bytes.Index(lateCorrupt, []byte("stored world"))] ^= 0xff
	liar := rawZip(t, func(w *zip.Writer) {
		for _, f := range okFiles {
			fw, _ := w.Create(f.name)
			io.WriteString(fw, f.body)
		}
		body := []byte(zeros)
		comp := deflate(t, body)
		writeRaw(t, w, &zip.FileHeader{Name: "z/liar.bin", Method: zip.Deflate, CRC32: crc32.ChecksumIEEE(body),
			CompressedSize64: uint64(len(comp)), UncompressedSize64: 10}, comp)
	})

	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"zip-slip", makeZip(t, append(okFiles, zf{name: "../evil.py", body: "evil"})...), "escapes the package"},
		{"zip-slip nested", makeZip(t, append(okFiles, zf{name: "a/../../evil.py", body: "evil"})...), "escapes the package"},
		{"absolute", makeZip(t, append(okFiles, zf{name: "/tmp/evil.py", body: "evil"})...), "absolute path"},
		{"symlink then write through it", makeZip(t, append(okFiles,
			zf{name: "link", body: "..", mode: fs.ModeSymlink | 0o777}, zf{name: "link/evil.py", body: "evil"})...), "symbolic link"},
		{"corrupt last entry", lateCorrupt, "checksum mismatch"},
		{"bomb", makeZip(t, append(okFiles, zf{name: "bomb", body: zeros})...), "unpacks to more than"},
		{"lying header after good files", liar, `"z/liar.bin"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := t.TempDir()
			dest := filepath.Join(parent, "pkg")
			if err := os.Mkdir(dest, 0o755); err != nil {
				t.Fatal(err)
			}
			_, err := Extract(bytes.NewReader(tt.data), int64(len(tt.data)), dest, testLimits)
			wantInvalid(t, err, tt.want)
			if got := readTree(t, parent); !cmp.Equal(got, map[string]string{"pkg/": "drwxr-xr-x"}) && runtime.GOOS != "windows" {
				t.Errorf("after a failed Extract the tree is %v, want only the empty destination", got)
			}
			if ents, _ := os.ReadDir(dest); len(ents) != 0 {
				t.Errorf("destination not empty: %v", ents)
			}
		})
	}
}

func TestExtractDestinationMustBeEmptyFolder(t *testing.T) {
	data := makeZip(t, zf{name: "a.py", body: "x"})
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "existing"), []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Extract(bytes.NewReader(data), int64(len(data)), dir, testLimits); err == nil || hub.ErrorKind(err) != hub.EInternal {
		t.Errorf("non-empty destination: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "existing")); string(b) != "keep" {
		t.Error("existing file was touched")
	}
	if _, err := Extract(bytes.NewReader(data), int64(len(data)), filepath.Join(dir, "existing"), testLimits); err == nil {
		t.Error("a file as destination was accepted")
	}
	if _, err := Extract(bytes.NewReader(data), int64(len(data)), filepath.Join(dir, "missing"), testLimits); err == nil {
		t.Error("a missing destination was accepted")
	}
}

func TestCleanRelPath(t *testing.T) {
	tests := []struct {
		in, want string
		bad      string // fragment of the error message; empty: valid
	}{
		{"main.py", "main.py", ""},
		{"./src\\main.py", "src/main.py", ""},
		{"src/", "src", ""},
		{"a//b///c", "a/b/c", ""},
		{"a/./b", "a/b", ""},
		{".hidden/.env", ".hidden/.env", ""},
		{"a..b/c..", "a..b/c..", ""},
		{"dir with space/x y.py", "dir with space/x y.py", ""},
		{"ünïcode/файл.py", "ünïcode/файл.py", ""},
		{"a/b:c", "a/b:c", ""}, // a colon later in the path is not a drive
		{"1:x", "1:x", ""},     // nor is a digit before a colon
		{"", "", "empty name"},
		{".", "", "empty name"},
		{"./", "", "empty name"},
		{"//", "", "UNC path"},
		{"/", "", "absolute path"},
		{"/etc/passwd", "", "absolute path"},
		{`\windows\system32`, "", "absolute path"},
		{`C:\x.py`, "", "drive letter"},
		{"C:/x.py", "", "drive letter"},
		{"z:", "", "drive letter"},
		{`\\server\share\x`, "", "UNC path"},
		{`\\?\C:\x`, "", "UNC path"},
		{"../x", "", `".." segment`},
		{"..", "", `".." segment`},
		{`..\x`, "", `".." segment`},
		{"a/../b", "", `".." segment`},
		{"a/..", "", `".." segment`},
		{"a/...", "", "only dots or spaces"},
		{"a/ /b", "", "only dots or spaces"},
		{"a/.. /b", "", "only dots or spaces"},
		{"a\x00b", "", "NUL byte"},
		{strings.Repeat("n", 256), "", "name longer than 255 bytes"},
		{strings.Repeat(strings.Repeat("d", 255)+"/", 4) + "x", "", "path longer than 1024 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := CleanRelPath(tt.in)
			if tt.bad == "" {
				if err != nil || got != tt.want {
					t.Fatalf("CleanRelPath(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
				}
				if again, err := CleanRelPath(got); err != nil || again != got {
					t.Errorf("not idempotent: %q -> %q, %v", got, again, err)
				}
				return
			}
			if got != "" {
				t.Errorf("result %q alongside an error", got)
			}
			wantInvalid(t, err, tt.bad)
		})
	}
}

func TestIsWindowsExecutable(t *testing.T) {
	tests := []struct {
		data string
		want bool
	}{
		{"MZ\x90\x00\x03\x00\x00\x00", true},
		{"MZ", true},
		{"PK\x03\x04", false},
		{"M", false},
		{"", false},
		{"mz\x90\x00", false},
		{"ZM", false},
	}
	for _, tt := range tests {
		if got := IsWindowsExecutable(strings.NewReader(tt.data)); got != tt.want {
			t.Errorf("IsWindowsExecutable(%q) = %v, want %v", tt.data, got, tt.want)
		}
	}
	if IsWindowsExecutable(bytes.NewReader(makeZip(t, zf{name: "a", body: "b"}))) {
		t.Error("a ZIP is not an executable")
	}
}
