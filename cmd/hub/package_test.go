package main

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// writeTree creates files (name → content) under dir; names ending in "/"
// are empty folders.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// runHub runs the hub's command line in the test process.
func runHub(environ []string, args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(context.Background(), args, environ, &out, &errb)
	return code, out.String(), errb.String()
}

// zipEntries lists the entries of a ZIP file as "name mode".
func zipEntries(t *testing.T, path string) []string {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var got []string
	for _, f := range zr.File {
		got = append(got, f.Name+" "+f.Mode().String())
		if !f.Modified.Equal(packageEpoch) {
			t.Errorf("%s: got time %v, want %v", f.Name, f.Modified, packageEpoch)
		}
	}
	return got
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

const helloYAML = "entrypoint_path: main.py\n"

func TestPackageBuildsWhatPublishAccepts(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symbolic links and executable bits")
	}
	t.Parallel()
	tests := []struct {
		name      string
		files     map[string]string
		setup     func(t *testing.T, dir string)
		want      []string // entries as "name mode"
		wantEntry string
		wantOut   []string // lines stdout must contain
	}{
		{
			name: "python robot without the litter",
			files: map[string]string{"robot.yaml": helloYAML, "main.py": "print(1)\n", "lib/util.py": "X = 1\n", "data/": "",
				"__pycache__/main.cpython-312.pyc": "x", "lib/__pycache__/util.pyc": "x", "old.pyc": "x", ".git/HEAD": "ref",
				".venv/bin/python": "x", ".DS_Store": "x", ".env": "SECRET=1", "notes.txt~": "x"},
			want: []string{"data/ drwxr-xr-x", "lib/ drwxr-xr-x", "lib/util.py -rw-r--r--", "main.py -rw-r--r--",
				"robot.yaml -rw-r--r--"},
			wantEntry: "main.py (PYTHON)",
		},
		{
			name:      "entry point and required env from robot.yaml",
			files:     map[string]string{"robot.yaml": "entrypoint_path: src/app.py\nrequired_env: [TOKEN, REGION]\n", "src/app.py": "x"},
			want:      []string{"robot.yaml -rw-r--r--", "src/ drwxr-xr-x", "src/app.py -rw-r--r--"},
			wantEntry: "src/app.py (PYTHON)",
			wantOut:   []string{"needs env:   REGION, TOKEN"},
		},
		{
			name:  "default entry point main.py",
			files: map[string]string{"robot.yml": "required_env: []\n", "main.py": "x"},
			want:  []string{"main.py -rw-r--r--", "robot.yml -rw-r--r--"}, wantEntry: "main.py (PYTHON)",
		},
		{
			name:  "executable keeps its bit",
			files: map[string]string{"robot.yaml": "entrypoint_path: run.sh\nentrypoint_type: exe\n", "run.sh": "#!/bin/sh\n"},
			setup: func(t *testing.T, dir string) {
				if err := os.Chmod(filepath.Join(dir, "run.sh"), 0o700); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"robot.yaml -rw-r--r--", "run.sh -rwxr-xr-x"}, wantEntry: "run.sh (EXE)",
		},
		{
			name:  "link to a file inside is packed as a file",
			files: map[string]string{"robot.yaml": helloYAML, "real/main.py": "x"},
			setup: func(t *testing.T, dir string) {
				if err := os.Symlink("real/main.py", filepath.Join(dir, "main.py")); err != nil {
					t.Fatal(err)
				}
			},
			want:      []string{"main.py -rw-r--r--", "real/ drwxr-xr-x", "real/main.py -rw-r--r--", "robot.yaml -rw-r--r--"},
			wantEntry: "main.py (PYTHON)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "robot")
			writeTree(t, dir, tt.files)
			if tt.setup != nil {
				tt.setup(t, dir)
			}
			out := filepath.Join(t.TempDir(), "robot.zip")
			code, stdout, stderr := runHub(nil, "package", dir, "-o", out)
			if code != exitOK {
				t.Fatalf("got exit %d (%s), want 0", code, stderr)
			}
			if diff := cmp.Diff(tt.want, zipEntries(t, out)); diff != "" {
				t.Errorf("entries (-want +got):\n%s", diff)
			}
			fi, err := os.Stat(out)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range append([]string{"package:     " + out, "sha256:      " + fileSHA256(t, out),
				"entry point: " + tt.wantEntry, "size:        " + strconv.FormatInt(fi.Size(), 10) + " bytes"}, tt.wantOut...) {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout)
				}
			}
		})
	}
}

func TestPackageRefuses(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symbolic links")
	}
	t.Parallel()
	link := func(target, name string) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		name    string
		files   map[string]string
		setup   func(t *testing.T, dir string)
		environ []string
		want    string // in the one line on stderr
	}{
		{"no robot.yaml", map[string]string{"main.py": "x"}, nil, nil, "There is no robot.yaml at the top of the folder."},
		{"robot.yaml only in a subfolder", map[string]string{"main.py": "x", "sub/robot.yaml": helloYAML}, nil, nil,
			"robot.yaml must be at the top of the folder, not at sub/robot.yaml."},
		{"robot.yaml is not YAML", map[string]string{"main.py": "x", "robot.yaml": "entrypoint_path: [main.py\n"}, nil, nil,
			"robot.yaml: The file is not valid YAML"},
		{"robot.yaml is a list", map[string]string{"main.py": "x", "robot.yaml": "- main.py\n"}, nil, nil,
			"robot.yaml: The file must be a mapping of keys to values."},
		{"required_env is not a list", map[string]string{"main.py": "x", "robot.yaml": "required_env: TOKEN\n"}, nil, nil,
			"robot.yaml: required_env must be a list of strings."},
		{"python version is not one", map[string]string{"main.py": "x", "robot.yaml": "python: three\n"}, nil, nil,
			`robot.yaml: python must be a Python version such as "3.11".`},
		{"requirements do not parse", map[string]string{"main.py": "x", "robot.yaml": helloYAML, "requirements.txt": "-e .\n"}, nil, nil,
			"requirements.txt line 1: editable requirements (-e) are not supported"},
		{"default entry point missing", map[string]string{"app.py": "x", "robot.yaml": "required_env: []\n"}, nil, nil,
			`The package has no entry point "main.py" (the default of entrypoint_path).`},
		{"named entry point missing", map[string]string{"main.py": "x", "robot.yaml": "entrypoint_path: app.py\n"}, nil, nil,
			`The package has no entry point "app.py" (entrypoint_path in robot.yaml).`},
		{"entry point is a folder", map[string]string{"app/x.py": "x", "robot.yaml": "entrypoint_path: app\n"}, nil, nil,
			`The package has no entry point "app" (entrypoint_path in robot.yaml).`},
		{"entry point escapes", map[string]string{"main.py": "x", "robot.yaml": "entrypoint_path: ../main.py\n"}, nil, nil,
			"entrypoint_path in robot.yaml must be a relative path inside the package"},
		{"entry point is skipped litter", map[string]string{"robot.yaml": "entrypoint_path: main.pyc\n", "main.pyc": "x"}, nil, nil,
			`The package has no entry point "main.pyc"`},
		{"bad entry point type", map[string]string{"main.py": "x", "robot.yaml": "entrypoint_type: BASH\n"}, nil, nil,
			"entrypoint_type in robot.yaml must be PYTHON or EXE."},
		{"link out of the folder", map[string]string{"robot.yaml": helloYAML, "main.py": "x"}, link("/etc/passwd", "passwd"), nil,
			"passwd is a symbolic link that leads out of the folder."},
		{"relative link out of the folder", map[string]string{"robot.yaml": helloYAML, "main.py": "x"}, func(t *testing.T, dir string) {
			writeTree(t, filepath.Dir(dir), map[string]string{"outside.py": "x"})
			link("../../outside.py", "lib/up.py")(t, dir)
		}, nil, "lib/up.py is a symbolic link that leads out of the folder."},
		{"dangling link", map[string]string{"robot.yaml": helloYAML, "main.py": "x"}, link("nowhere.py", "gone.py"), nil,
			"gone.py is a symbolic link to nothing."},
		{"link to a folder", map[string]string{"robot.yaml": helloYAML, "main.py": "x", "lib/a.py": "x"}, link("lib", "lib2"), nil,
			"lib2 is a symbolic link to a folder"},
		{"too many entries", map[string]string{"robot.yaml": helloYAML, "main.py": "x", "a.py": "x", "b.py": "x"}, nil,
			[]string{"MAX_ARTIFACT_FILES=3"}, "The package contains more than 3 entries"},
		{"unpacks too large", map[string]string{"robot.yaml": helloYAML, "main.py": strings.Repeat("x", 4096)}, nil,
			[]string{"MAX_ARTIFACT_UNPACKED_BYTES=1000"}, "The package unpacks to more than"},
		{"package too large", map[string]string{"robot.yaml": helloYAML, "main.py": "x"}, nil,
			[]string{"MAX_ARTIFACT_BYTES=100"}, "more than MAX_ARTIFACT_BYTES (100)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "robot")
			writeTree(t, dir, tt.files)
			if tt.setup != nil {
				if err := os.MkdirAll(filepath.Join(dir, "lib"), 0o755); err != nil {
					t.Fatal(err)
				}
				tt.setup(t, dir)
			}
			outDir := t.TempDir()
			code, stdout, stderr := runHub(tt.environ, "package", dir, "-o", filepath.Join(outDir, "robot.zip"))
			if code != exitFailed {
				t.Errorf("got exit %d, want %d; stdout:\n%s", code, exitFailed, stdout)
			}
			if lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n"); len(lines) != 1 ||
				!strings.HasPrefix(stderr, "hub package: "+dir+": ") || !strings.Contains(stderr, tt.want) {
				t.Errorf("got stderr %q, want one line with %q", stderr, tt.want)
			}
			if left, _ := os.ReadDir(outDir); len(left) != 0 {
				t.Errorf("got %d files left in the output folder, want none", len(left))
			}
		})
	}
}

func TestPackageCommandLine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"robot.yaml": helloYAML, "main.py": "x", "plain.txt": "x"})
	tests := []struct {
		name string
		args []string
		code int
		want string // on stderr
	}{
		{"no folder", []string{"package"}, exitUsage, "hub package: missing folder"},
		{"two folders", []string{"package", dir, dir}, exitUsage, "unexpected argument"},
		{"unknown option", []string{"package", "--fast", dir}, exitUsage, `unknown option "--fast"`},
		{"-o without a name", []string{"package", dir, "-o"}, exitUsage, "-o needs a file name"},
		{"missing folder", []string{"package", filepath.Join(dir, "nope")}, exitFailed, "The folder cannot be read"},
		{"a file, not a folder", []string{"package", filepath.Join(dir, "plain.txt")}, exitFailed, "Not a folder."},
		{"bad setting", []string{"package", dir}, exitUsage, "MAX_ARTIFACT_FILES"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var environ []string
			if tt.name == "bad setting" {
				environ = []string{"MAX_ARTIFACT_FILES=many"}
			}
			code, _, stderr := runHub(environ, tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.want) {
				t.Errorf("got exit %d, stderr %q; want %d and %q", code, stderr, tt.code, tt.want)
			}
		})
	}
}

// TestPackageIsDeterministic builds the same content twice, written in a
// different order with different times and the package itself inside the
// folder, and expects the same bytes.
func TestPackageIsDeterministic(t *testing.T) {
	t.Parallel()
	files := map[string]string{"robot.yaml": helloYAML, "main.py": "print('hi')\n", "lib/a.py": "A = 1\n", "lib/b.py": "B = 2\n"}
	build := func(order []string, mtime time.Time, inside bool) string {
		t.Helper()
		dir := filepath.Join(t.TempDir(), "robot")
		for _, name := range order {
			writeTree(t, dir, map[string]string{name: files[name]})
			if err := os.Chtimes(filepath.Join(dir, name), mtime, mtime); err != nil {
				t.Fatal(err)
			}
		}
		out := filepath.Join(t.TempDir(), "robot.zip")
		if inside {
			out = filepath.Join(dir, "robot.zip")
		}
		for range 2 { // the second build must not pack the first
			if code, _, stderr := runHub(nil, "package", dir, "-o", out); code != exitOK {
				t.Fatalf("got exit %d (%s), want 0", code, stderr)
			}
		}
		return fileSHA256(t, out)
	}
	a := build([]string{"robot.yaml", "main.py", "lib/a.py", "lib/b.py"}, time.Now(), false)
	b := build([]string{"lib/b.py", "main.py", "lib/a.py", "robot.yaml"}, time.Now().Add(-48*time.Hour), true)
	if a != b {
		t.Errorf("got SHA-256 %s and %s for the same content, want equal", a, b)
	}
}

// TestExamplesRun packages every robot under examples/ with `hub package`,
// publishes it without naming an entry point (robot.yaml does) and runs it to
// SUCCESS with an argument and an environment variable, downloading the file
// it wrote to HUB_OUTPUT_DIR.
func TestExamplesRun(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the examples are a Python script and a shell script")
	}
	t.Parallel()
	ents, err := os.ReadDir("../../examples")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := startMain(t, "all", map[string]string{"DEFAULT_ADMIN_PASSWORD": "admin-password-1"})
	c := login(t, "http://"+m.Addr.String()+"/api/v1", "admin", "admin-password-1")
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		t.Run(e.Name(), func(t *testing.T) {
			c := *c
			c.t = t
			out := filepath.Join(t.TempDir(), e.Name()+".zip")
			code, stdout, stderr := runHub(nil, "package", filepath.Join("../../examples", e.Name()), "-o", out)
			if code != exitOK {
				t.Fatalf("hub package: got exit %d (%s), want 0", code, stderr)
			}
			if strings.Contains(stdout, "(PYTHON)") {
				if _, err := exec.LookPath("python3"); err != nil {
					t.Skip("python3 not installed")
				}
			}
			pkg, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			var robot struct{ ID string }
			if code := c.call("POST", "/robots", "application/json", strings.NewReader(`{"name":"`+e.Name()+`","initial_version":{"version":"0.1.0"}}`), &robot); code != 200 {
				t.Fatalf("create robot: got %d, want 200", code)
			}
			c.publishZip(robot.ID, e.Name()+".zip", pkg, nil)
			var run runView
			body := `{"runtime_arguments":["--name","Tester"],"runtime_env":{"GREETING":"Olá"}}`
			if code := c.call("POST", "/runs/"+robot.ID+"/execute", "application/json", strings.NewReader(body), &run); code != 202 {
				t.Fatalf("execute: got %d, want 202", code)
			}
			run = c.waitRun(run.RunID, 60*time.Second)
			msgs := c.logMessages(run.RunID)
			if run.Status != "SUCCESS" || !containsLine(msgs, "Olá, Tester!") {
				t.Fatalf("got run %s (%s), want SUCCESS with the greeting; log:\n%s", run.Status, deref(run.ErrorMessage), strings.Join(msgs, "\n"))
			}
			if got := c.artifact(run.RunID, "greeting.txt"); got != "Olá, Tester!\n" {
				t.Errorf("got greeting.txt %q, want %q", got, "Olá, Tester!\n")
			}
		})
	}
}
