package pyenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"time"

	"automationhub/internal/hub"
)

// Interpreter is a Python interpreter of the worker.
type Interpreter struct {
	// Path is the interpreter's program as the worker starts it.
	Path string
	// Executable is sys.executable: the real program behind a shim or
	// launcher.
	Executable string
	// Version is the full version ("3.11.7").
	Version string
	// Implementation is sys.implementation.name ("cpython").
	Implementation string
	// Platform is sysconfig.get_platform() ("linux-x86_64", "win-amd64").
	Platform string
	// Pip is the version of the interpreter's own pip, "" for none.
	Pip string
}

// probeScript prints what Interpreter holds, one value a line.
const probeScript = `import sys, sysconfig
print("%d.%d.%d" % sys.version_info[:3])
print(sys.implementation.name)
print(sysconfig.get_platform())
print(sys.executable)
try:
    import importlib.metadata as m
    print(m.version("pip"))
except Exception:
    print("")`

// Interpreters finds and describes the worker's interpreters, remembering
// what it learnt about each program (until the program file changes).
type Interpreters struct {
	// Candidates are the interpreters robots may use (PYTHON_EXECUTABLES
	// then PYTHON_EXECUTABLE), in order of preference: the first is the
	// default.
	Candidates []string
	// Launcher is the Windows py launcher ("py"), tried when no candidate
	// matches a requested version; "" for none.
	Launcher string

	mu    sync.Mutex
	known map[string]probed
}

type probed struct {
	mod time.Time
	in  *Interpreter
}

// DefaultLauncher is the py launcher on Windows and none elsewhere.
func DefaultLauncher() string {
	if runtime.GOOS == "windows" {
		return "py"
	}
	return ""
}

// Probe describes the interpreter program (a name looked up on PATH, or a
// path).
func (is *Interpreters) Probe(ctx context.Context, program string, args ...string) (*Interpreter, error) {
	path, err := exec.LookPath(program)
	if err != nil {
		return nil, fmt.Errorf("Python interpreter %q not found on this worker", program)
	}
	st, statErr := os.Stat(path)
	cacheKey := path + "\x00" + strings.Join(args, "\x00")
	is.mu.Lock()
	if p, ok := is.known[cacheKey]; ok && statErr == nil && p.mod.Equal(st.ModTime()) {
		is.mu.Unlock()
		return p.in, nil
	}
	is.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, append(append([]string{}, args...), "-I", "-c", probeScript)...)
	cmd.Env = minimalEnv(os.Environ())
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("Python interpreter %s does not run: %v", path, err)
	}
	lines := strings.Split(strings.ReplaceAll(strings.TrimSpace(string(out)), "\r\n", "\n"), "\n")
	if len(lines) < 4 {
		return nil, fmt.Errorf("Python interpreter %s: unexpected answer %q", path, out)
	}
	in := &Interpreter{Path: path, Version: lines[0], Implementation: lines[1], Platform: lines[2], Executable: lines[3]}
	if len(lines) > 4 {
		in.Pip = strings.TrimSpace(lines[4])
	}
	if len(args) > 0 { // a launcher: run the interpreter it found
		in.Path = in.Executable
	}
	if statErr == nil {
		is.mu.Lock()
		if is.known == nil {
			is.known = map[string]probed{}
		}
		is.known[cacheKey] = probed{st.ModTime(), in}
		is.mu.Unlock()
	}
	return in, nil
}

// pipTargets reports whether the interpreter's pip can install into another
// environment (pip --python, pip 22.3 and later): environments then need no
// pip of their own, which saves most of a build's time.
func (in *Interpreter) pipTargets() bool {
	var major, minor int
	if _, err := fmt.Sscanf(in.Pip, "%d.%d", &major, &minor); err != nil {
		return false
	}
	return major > 22 || major == 22 && minor >= 3
}

// VersionMatches reports whether a full version ("3.11.7") is the one asked
// for ("3", "3.11" or "3.11.7").
func VersionMatches(version, want string) bool {
	want = strings.TrimSpace(want)
	return want == "" || version == want || strings.HasPrefix(version, want+".")
}

// ValidVersion reports whether a robot may ask for version v: a major,
// major.minor or major.minor.patch number.
func ValidVersion(v string) bool {
	parts := strings.Split(v, ".")
	if len(parts) > 3 {
		return false
	}
	for _, p := range parts {
		if p == "" || len(p) > 4 || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}

// Select returns the first candidate whose version matches want ("" takes
// the first that runs), else — with a launcher — the interpreter the
// launcher finds for it. When none matches the error is hub.EInvalid and
// lists what the worker has.
func (is *Interpreters) Select(ctx context.Context, want string) (*Interpreter, error) {
	var seen []string
	var firstErr error
	for _, c := range is.Candidates {
		in, err := is.Probe(ctx, c)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if VersionMatches(in.Version, want) {
			return in, nil
		}
		seen = append(seen, fmt.Sprintf("%s (%s)", in.Version, in.Path))
	}
	if is.Launcher != "" && want != "" {
		if in, err := is.Probe(ctx, is.Launcher, "-"+want); err == nil && VersionMatches(in.Version, want) {
			return in, nil
		}
	}
	if want == "" {
		if firstErr == nil {
			firstErr = fmt.Errorf("no Python interpreter configured on this worker")
		}
		return nil, firstErr
	}
	have := "none that runs"
	if len(seen) > 0 {
		have = strings.Join(seen, ", ")
	}
	where := "PYTHON_EXECUTABLES"
	if is.Launcher != "" {
		where += " or the py launcher"
	}
	return nil, hub.Errorf(hub.EInvalid, "robot.yaml asks for Python %s, but this worker has %s: install it and list it in %s", want, have, where)
}

// SplitList splits a PYTHON_EXECUTABLES value: entries separated by commas
// or the OS's path list separator, trimmed, empty ones left out.
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == os.PathListSeparator }) {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
