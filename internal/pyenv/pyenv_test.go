package pyenv_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"automationhub/internal/hub"
	"automationhub/internal/hubtest"
	"automationhub/internal/pyenv"
	"automationhub/internal/pyenv/pyenvtest"
)

func TestMain(m *testing.M) { hubtest.Main(m) }

func TestCheckRequirements(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, data string
		wantErr    string
	}{
		{"plain", "requests\n", ""},
		{"versions", "requests>=2.31,<3\npandas==2.2.*\nopenpyxl ~= 3.1 ; python_version >= '3.9'\n", ""},
		{"extras", "rpaframework[aws, pdf]==28.0\n", ""},
		{"url", "tinypkg @ https://example.com/tinypkg-1.0-py3-none-any.whl\n", ""},
		{"comments and continuation", "# pinned\nrequests==2.31 \\\n    --hash=sha256:abc  # why\n\n", ""},
		{"index options", "--index-url https://pypi.example/simple\n--extra-index-url=https://x\n--no-index\n-f wheels\n", ""},
		{"include", "-r other.txt\n", "line 1: including other files"},
		{"constraint", "requests\n-c constraints.txt\n", "line 2: including other files"},
		{"editable", "-e .\n", "editable requirements"},
		{"local path", "./libs/mylib\n", "is a local path"},
		{"unknown option", "--user\n", "option --user is not supported"},
		{"not a requirement", "import pandas\n", "is not a requirement"},
		{"bad version", "requests >= \n", "is not a version specifier"},
		{"bad name", "!!!\n", "is not a requirement"},
		{"unclosed extras", "requests[socks\n", "extras are not closed"},
		{"binary", "req\xff\xfe\n", "not UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := pyenv.CheckRequirements([]byte(tt.data))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
			}
			if hub.ErrorKind(err) != hub.EInvalid {
				t.Fatalf("got kind %v, want EInvalid", hub.ErrorKind(err))
			}
		})
	}
}

func TestPyprojectDependencies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, data string
		want       []string
		wantErr    string
	}{
		{"deps", "[project]\nname = \"r\"\ndependencies = [\"requests>=2\", \"openpyxl\"]\n", []string{"requests>=2", "openpyxl"}, ""},
		{"none", "[tool.black]\nline-length = 100\n", nil, ""},
		{"bad toml", "[project\n", nil, "not valid TOML"},
		{"not a list", "[project]\ndependencies = \"requests\"\n", nil, "not valid TOML"},
		{"bad dep", "[project]\ndependencies = [\"-e .\"]\n", nil, "is not a requirement"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := pyenv.PyprojectDependencies([]byte(tt.data))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

// TestWindowsLayout: a virtual environment's interpreter is
// Scripts\python.exe on Windows and bin/python elsewhere.
func TestWindowsLayout(t *testing.T) {
	t.Parallel()
	tests := []struct{ goos, env, bin, python string }{
		{"windows", `C:\hub\worker\pyenv\abc-1`, `C:\hub\worker\pyenv\abc-1\Scripts`, `C:\hub\worker\pyenv\abc-1\Scripts\python.exe`},
		{"linux", "/data/worker/pyenv/abc-1", "/data/worker/pyenv/abc-1/bin", "/data/worker/pyenv/abc-1/bin/python"},
		{"darwin", "/data/pyenv/k", "/data/pyenv/k/bin", "/data/pyenv/k/bin/python"},
	}
	for _, tt := range tests {
		if got := pyenv.BinDir(tt.env, tt.goos); got != tt.bin {
			t.Errorf("BinDir(%s): got %q, want %q", tt.goos, got, tt.bin)
		}
		if got := pyenv.PythonPath(tt.env, tt.goos); got != tt.python {
			t.Errorf("PythonPath(%s): got %q, want %q", tt.goos, got, tt.python)
		}
	}
}

func TestVersionMatches(t *testing.T) {
	t.Parallel()
	tests := []struct {
		version, want string
		ok            bool
	}{
		{"3.11.7", "", true}, {"3.11.7", "3", true}, {"3.11.7", "3.11", true}, {"3.11.7", "3.11.7", true},
		{"3.11.7", "3.1", false}, {"3.12.1", "3.11", false}, {"3.11.7", "3.11.8", false},
	}
	for _, tt := range tests {
		if got := pyenv.VersionMatches(tt.version, tt.want); got != tt.ok {
			t.Errorf("VersionMatches(%q, %q): got %v", tt.version, tt.want, got)
		}
	}
	for v, ok := range map[string]bool{"3": true, "3.11": true, "3.11.7": true, "": false, "3.": false, "3.x": false, "3.11.7.1": false, ">=3.9": false} {
		if pyenv.ValidVersion(v) != ok {
			t.Errorf("ValidVersion(%q): got %v", v, !ok)
		}
	}
}

// TestSelectInterpreter: the first PYTHON_EXECUTABLES entry of the asked
// version wins; a version the worker lacks is refused with what it has.
func TestSelectInterpreter(t *testing.T) {
	t.Parallel()
	py := pyenvtest.Python(t)
	is := &pyenv.Interpreters{Candidates: []string{filepath.Join(t.TempDir(), "missing-python"), py}}
	ctx := context.Background()
	def, err := is.Select(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	major, minor, _ := strings.Cut(def.Version, ".")
	minor, _, _ = strings.Cut(minor, ".")
	in, err := is.Select(ctx, major+"."+minor)
	if err != nil || in.Version != def.Version {
		t.Fatalf("got %+v, %v; want %s", in, err, def.Version)
	}
	_, err = is.Select(ctx, "2.1")
	if err == nil || hub.ErrorKind(err) != hub.EInvalid || !strings.Contains(err.Error(), "asks for Python 2.1") ||
		!strings.Contains(err.Error(), def.Version) || !strings.Contains(err.Error(), "PYTHON_EXECUTABLES") {
		t.Fatalf("got %v, want a refusal naming the versions the worker has", err)
	}
}

// writePackage lays out a robot package with a requirements file and a
// wheels/ folder holding tinypkg.
func writePackage(t *testing.T, requirements string) string {
	t.Helper()
	dir := t.TempDir()
	pyenvtest.Wheel(t, filepath.Join(dir, "wheels"), "tinypkg", "1.0", "GREETING = 'hello from tinypkg'\n")
	if err := os.WriteFile(filepath.Join(dir, "requirements.txt"), []byte(requirements), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestConcurrentFirstUsesBuildOnce: two caches on one folder (as two
// workers, or two processes) asked for the same environment at once build
// it once, offline from the package's wheels/ with the index unreachable;
// the environment imports the package; a later Acquire reuses it.
func TestConcurrentFirstUsesBuildOnce(t *testing.T) {
	t.Parallel()
	py := pyenvtest.Python(t)
	root := filepath.Join(t.TempDir(), "pyenv")
	pkg := writePackage(t, "tinypkg==1.0\n")
	spec, err := pyenv.Read(pkg)
	if err != nil || spec == nil || spec.Wheels == "" {
		t.Fatalf("got %+v, %v; want a spec with wheels", spec, err)
	}
	is := &pyenv.Interpreters{Candidates: []string{py}}
	in, err := is.Select(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	caches := make([]*pyenv.Cache, 2)
	for i := range caches {
		if caches[i], err = pyenv.New(pyenv.Config{Root: root, UV: "off", BaseEnv: pyenvtest.Offline(os.Environ())}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	envs := make([]*pyenv.Env, 2)
	errs := make([]error, 2)
	out := &syncBuffer{}
	for i := range caches {
		wg.Go(func() { envs[i], errs[i] = caches[i].Acquire(context.Background(), in, spec, out) })
	}
	wg.Wait()
	for i := range errs {
		if errs[i] != nil {
			t.Fatalf("acquire %d: %v\n%s", i, errs[i], out)
		}
		defer envs[i].Release()
	}
	if n := strings.Count(out.String(), "-m venv"); n != 1 {
		t.Fatalf("got %d builds, want 1:\n%s", n, out)
	}
	if envs[0].Dir != envs[1].Dir || envs[0].Built == envs[1].Built {
		t.Fatalf("got %+v and %+v, want one environment built by one of them", envs[0], envs[1])
	}
	got, err := exec.Command(envs[0].Python, "-c", "import tinypkg; print(tinypkg.GREETING)").CombinedOutput()
	if err != nil || strings.TrimSpace(string(got)) != "hello from tinypkg" {
		t.Fatalf("got %q, %v", got, err)
	}
	again := &syncBuffer{}
	e, err := caches[0].Acquire(context.Background(), in, spec, again)
	if err != nil || e.Built || again.String() != "" {
		t.Fatalf("second use: got %+v, %v, output %q; want the ready environment", e, err, again)
	}
	e.Release()
	if keys := caches[1].ReadyKeys(); !slices.Equal(keys, []string{spec.Key(in)}) {
		t.Fatalf("got ready keys %v, want %v", keys, spec.Key(in))
	}
	// A robot (another user, or any user under Landlock) must not change a
	// shared environment: the worker's folders are not writable by others.
	for _, p := range []string{root, envs[0].Dir, filepath.Dir(envs[0].Python)} {
		st, err := os.Stat(p)
		if err != nil || st.Mode().Perm()&0o022 != 0 {
			t.Fatalf("%s: mode %v, %v; want no write bit for group or others", p, st.Mode(), err)
		}
	}
}

// TestBrokenRequirementFails: a requirement the installer cannot satisfy
// fails the build with the installer's message, publishes nothing and
// leaves no folder behind.
func TestBrokenRequirementFails(t *testing.T) {
	t.Parallel()
	py := pyenvtest.Python(t)
	root := filepath.Join(t.TempDir(), "pyenv")
	pkg := writePackage(t, "tinypkg==1.0\nnosuchpkg==9.9\n")
	spec, err := pyenv.Read(pkg)
	if err != nil {
		t.Fatal(err)
	}
	in, err := (&pyenv.Interpreters{Candidates: []string{py}}).Select(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	c, err := pyenv.New(pyenv.Config{Root: root, UV: "off", BaseEnv: pyenvtest.Offline(os.Environ())})
	if err != nil {
		t.Fatal(err)
	}
	// An interpreter without a pip of its own to install with: each
	// environment gets its own pip (the slower path).
	noPip := *in
	noPip.Pip = ""
	in = &noPip
	out := &syncBuffer{}
	_, err = c.Acquire(context.Background(), in, spec, out)
	var be *pyenv.BuildError
	if !errors.As(err, &be) || !strings.Contains(be.Summary, "nosuchpkg") || !strings.HasPrefix(be.Summary, "ERROR:") {
		t.Fatalf("got %v, want a build error quoting pip's error about nosuchpkg\n%s", err, out)
	}
	if !strings.Contains(out.String(), "nosuchpkg") || !strings.Contains(out.String(), "/bin/python -m pip install") {
		t.Fatalf("the installer's output is not in the log:\n%s", out)
	}
	if c.Ready(spec.Key(in)) {
		t.Fatal("a failed build was published")
	}
	entries, _ := os.ReadDir(root)
	for _, e := range entries {
		if e.IsDir() {
			t.Fatalf("a failed build left %s", e.Name())
		}
	}
}

// TestBuildTimeout: a build that takes longer than its timeout is stopped
// and says so.
func TestBuildTimeout(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("the fake installer is a shell script")
	}
	root := filepath.Join(t.TempDir(), "pyenv")
	bin := t.TempDir()
	slow := filepath.Join(bin, "slow-uv")
	if err := os.WriteFile(slow, []byte("#!/bin/sh\necho resolving\nexec sleep 30\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	c, err := pyenv.New(pyenv.Config{Root: root, UV: slow, BuildTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	spec, err := pyenv.Read(writePackage(t, "tinypkg\n"))
	if err != nil {
		t.Fatal(err)
	}
	in := &pyenv.Interpreter{Path: "/usr/bin/python3", Executable: "/usr/bin/python3", Version: "3.11.7", Implementation: "cpython", Platform: "linux-x86_64"}
	start := time.Now()
	out := &syncBuffer{}
	_, err = c.Acquire(context.Background(), in, spec, out)
	var be *pyenv.BuildError
	if !errors.As(err, &be) || !strings.Contains(be.Summary, "longer than 300ms") {
		t.Fatalf("got %v, want a timeout\n%s", err, out)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("the build was stopped after %v", d)
	}
}

// TestUVBuild: with uv on the worker, the build runs uv venv and uv pip
// install (here a stand-in that does what uv would with venv and pip).
func TestUVBuild(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("the stand-in is a shell script")
	}
	py := pyenvtest.Python(t)
	bin := t.TempDir()
	calls := filepath.Join(bin, "calls")
	script := `#!/bin/sh
echo "$@" >> ` + calls + `
if [ "$1" = venv ]; then
  # uv venv --no-config --allow-existing --python PY DIR
  exec "$5" -m venv "$6"
fi
# uv pip install --no-config --python ENVPY [--no-index --find-links W] -r REQ
shift 3; envpy="$2"; shift 2
exec "$envpy" -m pip install --no-cache-dir "$@"
`
	if err := os.WriteFile(filepath.Join(bin, "uv"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	c, err := pyenv.New(pyenv.Config{Root: filepath.Join(t.TempDir(), "pyenv"), UV: filepath.Join(bin, "uv"), BaseEnv: pyenvtest.Offline(os.Environ())})
	if err != nil || c.Installer() != "uv" {
		t.Fatalf("got %v, %v; want uv", c.Installer(), err)
	}
	in, err := (&pyenv.Interpreters{Candidates: []string{py}}).Select(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	spec, err := pyenv.Read(writePackage(t, "tinypkg\n"))
	if err != nil {
		t.Fatal(err)
	}
	out := &syncBuffer{}
	e, err := c.Acquire(context.Background(), in, spec, out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	defer e.Release()
	b, _ := os.ReadFile(calls)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "venv --no-config --allow-existing --python "+in.Executable) ||
		!strings.HasPrefix(lines[1], "pip install --no-config --python "+e.Python+" --no-index --find-links "+spec.Wheels) {
		t.Fatalf("got uv calls %q", lines)
	}
	if got, err := exec.Command(e.Python, "-c", "import tinypkg").CombinedOutput(); err != nil {
		t.Fatalf("%s %v", got, err)
	}
}

// TestBuildEnvironment: package indexes, proxies and certificates reach a
// build; the worker's secrets do not; PYTHON_BUILD_ proxies win.
func TestBuildEnvironment(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("the fake installer is a shell script")
	}
	bin := t.TempDir()
	dump := filepath.Join(bin, "env")
	if err := os.WriteFile(filepath.Join(bin, "uv"), []byte("#!/bin/sh\nenv > "+dump+"\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	base := []string{"PATH=/usr/bin:/bin", "SECRET_KEY=hub-secret", "DATABASE_URL=postgres://u:p@db/hub",
		"PIP_INDEX_URL=https://user:token@pypi.corp/simple", "HTTPS_PROXY=http://worker-proxy:3128",
		"PYTHON_BUILD_HTTPS_PROXY=http://build:pw@build-proxy:3128", "PIP_FIND_LINKS=/srv/wheels"}
	c, err := pyenv.New(pyenv.Config{Root: filepath.Join(t.TempDir(), "pyenv"), UV: filepath.Join(bin, "uv"), BaseEnv: base})
	if err != nil {
		t.Fatal(err)
	}
	spec, err := pyenv.Read(writePackage(t, "tinypkg\n"))
	if err != nil {
		t.Fatal(err)
	}
	in := &pyenv.Interpreter{Path: "/usr/bin/python3", Executable: "/usr/bin/python3", Version: "3.11.7", Implementation: "cpython", Platform: "linux-x86_64"}
	if _, err := c.Acquire(context.Background(), in, spec, &syncBuffer{}); err == nil {
		t.Fatal("the failing stand-in did not fail the build")
	}
	b, err := os.ReadFile(dump)
	if err != nil {
		t.Fatal(err)
	}
	env := string(b)
	for _, want := range []string{"PIP_INDEX_URL=https://user:token@pypi.corp/simple", "PIP_FIND_LINKS=/srv/wheels",
		"HTTPS_PROXY=http://build:pw@build-proxy:3128", "https_proxy=http://build:pw@build-proxy:3128"} {
		if !strings.Contains(env, want+"\n") {
			t.Errorf("the build's environment lacks %s:\n%s", want, env)
		}
	}
	for _, bad := range []string{"SECRET_KEY", "DATABASE_URL", "PYTHON_BUILD_HTTPS_PROXY"} {
		if strings.Contains(env, bad+"=") {
			t.Errorf("the build's environment holds %s", bad)
		}
	}
}

// fakeEnv publishes a ready-looking environment without building one.
func fakeEnv(t *testing.T, c *pyenv.Cache, spec *pyenv.Spec, in *pyenv.Interpreter) string {
	t.Helper()
	bin := t.TempDir()
	script := "#!/bin/sh\nif [ \"$1\" = venv ]; then mkdir -p \"$6/bin\" && head -c 1000 /dev/zero > \"$6/bin/python\"; fi\n"
	if err := os.WriteFile(filepath.Join(bin, "uv"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	// Only the venv step creates anything; the install step is the same
	// stand-in and does nothing with its arguments.
	fc, err := pyenv.New(pyenv.Config{Root: c.Root(), UV: filepath.Join(bin, "uv")})
	if err != nil {
		t.Fatal(err)
	}
	key, err := fc.Prepare(context.Background(), in, spec, &syncBuffer{})
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// TestSweep: environments unused for the retention go, then the least
// recently used until the cache fits its budget; one in use stays.
func TestSweep(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("the fake installer is a shell script")
	}
	root := filepath.Join(t.TempDir(), "pyenv")
	c, err := pyenv.New(pyenv.Config{Root: root, UV: "off"})
	if err != nil {
		t.Fatal(err)
	}
	in := &pyenv.Interpreter{Path: "/usr/bin/python3", Executable: "/usr/bin/python3", Version: "3.11.7", Implementation: "cpython", Platform: "linux-x86_64"}
	now := time.Now()
	specs := map[string]*pyenv.Spec{}
	keys := map[string]string{}
	for i, name := range []string{"old", "older-but-held", "mid", "new"} {
		spec, err := pyenv.Read(writePackage(t, "tinypkg\n# "+name+"\n"))
		if err != nil {
			t.Fatal(err)
		}
		specs[name], keys[name] = spec, fakeEnv(t, c, spec, in)
		used := now.Add(-time.Duration(40-i*10) * 24 * time.Hour) // 40, 30, 20, 10 days ago
		if name == "mid" {
			used = now.Add(-3 * time.Hour)
		}
		if name == "new" {
			used = now.Add(-time.Hour)
		}
		if name == "older-but-held" {
			used = now.Add(-35 * 24 * time.Hour)
		}
		if err := os.Chtimes(filepath.Join(root, keys[name]+".json"), used, used); err != nil {
			t.Fatal(err)
		}
	}
	held, err := c.Acquire(context.Background(), in, specs["older-but-held"], &syncBuffer{})
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Chtimes(filepath.Join(root, keys["older-but-held"]+".json"), now.Add(-35*24*time.Hour), now.Add(-35*24*time.Hour))
	// Dry run: nothing goes.
	dry, err := pyenv.Sweep(root, now, 7*24*time.Hour, 0, true)
	if err != nil || len(dry) != 1 || !c.Ready(keys["old"]) {
		t.Fatalf("dry run: got %+v, %v; want one listed, nothing removed", dry, err)
	}
	// Budget of one environment: old (unused) and mid (least recent) go;
	// the held one stays although it is older.
	got, err := pyenv.Sweep(root, now, 7*24*time.Hour, 2000, false)
	if err != nil {
		t.Fatal(err)
	}
	var removed []string
	for _, r := range got {
		removed = append(removed, r.Key+":"+r.Why)
	}
	want := []string{keys["old"] + ":unused", keys["mid"] + ":over budget"}
	if !slices.Equal(removed, want) {
		t.Fatalf("got removed %v, want %v", removed, want)
	}
	for name, ready := range map[string]bool{"old": false, "older-but-held": true, "mid": false, "new": true} {
		if c.Ready(keys[name]) != ready {
			t.Errorf("%s: got ready %v, want %v", name, !ready, ready)
		}
	}
	held.Release()
	got, err = pyenv.Sweep(root, now, 7*24*time.Hour, 0, false)
	if err != nil || len(got) != 1 || got[0].Key != keys["older-but-held"] {
		t.Fatalf("after release: got %+v, %v", got, err)
	}
}

// BenchmarkBuild reports how long building an environment with one small
// dependency takes offline: the interpreter's own pip installing into an
// environment without pip (what the worker does with pip 22.3 or later),
// and venv with its own pip (older pips; about 15 s here, so only with
// HUB_TEST_LONG=1).
func BenchmarkBuild(b *testing.B) {
	py := pyenvtest.Python(b)
	in, err := (&pyenv.Interpreters{Candidates: []string{py}}).Select(context.Background(), "")
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		pip  string
	}{{"pip-into-env", in.Pip}, {"venv-with-own-pip", ""}} {
		b.Run(tc.name, func(b *testing.B) {
			if tc.pip == "" && !hubtest.Long() {
				b.Skip("set HUB_TEST_LONG=1 to measure the slow path")
			}
			it := *in
			it.Pip = tc.pip
			dir := b.TempDir()
			pyenvtest.Wheel(b, filepath.Join(dir, "wheels"), "tinypkg", "1.0", "X = 1\n")
			if err := os.WriteFile(filepath.Join(dir, "requirements.txt"), []byte("tinypkg\n"), 0o644); err != nil {
				b.Fatal(err)
			}
			spec, err := pyenv.Read(dir)
			if err != nil {
				b.Fatal(err)
			}
			var total time.Duration
			n := 0
			for b.Loop() {
				c, err := pyenv.New(pyenv.Config{Root: filepath.Join(b.TempDir(), "pyenv"), UV: "off", BaseEnv: pyenvtest.Offline(os.Environ())})
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				if _, err := c.Prepare(context.Background(), &it, spec, io.Discard); err != nil {
					b.Fatal(err)
				}
				total += time.Since(start)
				n++
			}
			b.ReportMetric(total.Seconds()/float64(n), "build-s")
		})
	}
}
