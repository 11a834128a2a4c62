package pyenv

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"automationhub/internal/hub"
)

// BuildEnvKeys are the variables of the worker's environment that reach an
// environment's build, and nothing else: package indexes (which may carry
// credentials), proxies and certificates. They reach a build only; a robot
// gets none of the index settings (its own allow-list is the executor's).
var BuildEnvKeys = []string{
	"PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ",
	"SYSTEMROOT", "SYSTEMDRIVE", "WINDIR", "COMSPEC", "PATHEXT", "PROGRAMDATA", "PROGRAMFILES", "PROGRAMFILES(X86)",
	"NUMBER_OF_PROCESSORS", "PROCESSOR_ARCHITECTURE", "LOCALAPPDATA", "APPDATA", "USERPROFILE",
	"PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_TRUSTED_HOST", "PIP_CERT", "PIP_CLIENT_CERT",
	"PIP_DEFAULT_TIMEOUT", "PIP_RETRIES", "PIP_NO_INDEX", "PIP_ONLY_BINARY", "PIP_PREFER_BINARY",
	"UV_INDEX_URL", "UV_EXTRA_INDEX_URL", "UV_DEFAULT_INDEX", "UV_INDEX", "UV_FIND_LINKS", "UV_NATIVE_TLS",
	"UV_HTTP_TIMEOUT", "UV_INSECURE_HOST",
	"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "no_proxy", "all_proxy",
	"SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE",
}

// BuildProxyPrefix names proxy settings meant for builds alone:
// PYTHON_BUILD_HTTPS_PROXY reaches a build as HTTPS_PROXY (and wins over
// the worker's own), and never a robot.
const BuildProxyPrefix = "PYTHON_BUILD_"

// minimalEnv keeps the variables of base named in BuildEnvKeys, then sets
// the PYTHON_BUILD_ proxies under their plain names.
func minimalEnv(base []string) []string {
	fold := runtime.GOOS == "windows"
	norm := func(k string) string {
		if fold {
			return strings.ToUpper(k)
		}
		return k
	}
	allowed := map[string]bool{}
	for _, k := range BuildEnvKeys {
		allowed[norm(k)] = true
	}
	vars := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := vars[norm(k)]; !ok {
			order = append(order, norm(k))
		}
		vars[norm(k)] = k + "=" + v
	}
	for _, kv := range base {
		k, v, ok := strings.Cut(kv, "=")
		if ok && allowed[norm(k)] {
			set(k, v)
		}
	}
	for _, kv := range base {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(strings.ToUpper(k), BuildProxyPrefix) {
			continue
		}
		switch plain := strings.ToUpper(strings.TrimPrefix(strings.ToUpper(k), BuildProxyPrefix)); plain {
		case "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY":
			set(plain, v)
			if !fold {
				set(strings.ToLower(plain), v)
			}
		}
	}
	out := make([]string, 0, len(order))
	for _, k := range order {
		out = append(out, vars[k])
	}
	return out
}

// Config tunes a Cache.
type Config struct {
	// Root is the cache folder (the worker's pyenv folder).
	Root string
	// BuildTimeout bounds one build (default 15 minutes).
	BuildTimeout time.Duration
	// BaseEnv is the worker's environment; only BuildEnvKeys and the
	// PYTHON_BUILD_ proxies reach builds.
	BaseEnv []string
	// UV is the uv program to build with; "" looks for uv on PATH, "off"
	// always uses venv and pip.
	UV string
	// Wrap, when set, confines a build step: it returns the command that
	// runs program with args such that it may write only the folders in
	// write (and read the system, the interpreter and the folders in read).
	Wrap func(program string, args []string, read, write []string) (string, []string, error)
	// Budget and Unused, when set, make each build sweep the cache
	// afterwards (Sweep): environments unused for Unused go, then the least
	// recently used past Budget bytes.
	Budget int64
	Unused time.Duration
	// Removed, when set, hears the keys of the environments such a sweep
	// removed.
	Removed func(keys []string)
	// Clock stamps last use; nil is the system clock.
	Clock hub.Clock
}

// Cache is a worker's folder of Python environments.
type Cache struct {
	cfg Config
	uv  string // resolved uv program; "" for pip
}

// New returns the cache in cfg.Root, creating the folder: traversable by
// all (robots running as another user read environments through it),
// writable by the worker alone.
func New(cfg Config) (*Cache, error) {
	if cfg.BuildTimeout <= 0 {
		cfg.BuildTimeout = 15 * time.Minute
	}
	if cfg.Clock == nil {
		cfg.Clock = hub.SystemClock{}
	}
	if err := os.MkdirAll(cfg.Root, 0o755); err != nil {
		return nil, fmt.Errorf("pyenv: cache folder: %w", err)
	}
	if err := os.Chmod(cfg.Root, 0o711); err != nil {
		return nil, fmt.Errorf("pyenv: cache folder: %w", err)
	}
	c := &Cache{cfg: cfg}
	switch cfg.UV {
	case "off":
	case "":
		if p, err := exec.LookPath("uv"); err == nil {
			c.uv = p
		}
	default:
		p, err := exec.LookPath(cfg.UV)
		if err != nil {
			return nil, fmt.Errorf("pyenv: uv program %q: %w", cfg.UV, err)
		}
		c.uv = p
	}
	return c, nil
}

// Installer names what builds environments: "uv" or "pip".
func (c *Cache) Installer() string {
	if c.uv != "" {
		return "uv"
	}
	return "pip"
}

// Root is the cache folder.
func (c *Cache) Root() string { return c.cfg.Root }

// pointer is the published description of a ready environment; its file's
// modification time is the environment's last use.
type pointer struct {
	Key       string    `json:"key"`
	Dir       string    `json:"dir"` // folder name under Root
	Python    string    `json:"python_version"`
	Platform  string    `json:"platform"`
	Installer string    `json:"installer"`
	Source    string    `json:"source"`
	BuiltAt   time.Time `json:"built_at"`
	Bytes     int64     `json:"bytes"`
}

// Env is an environment in use: it stays in the cache until Release.
type Env struct {
	Key string
	// Dir is the environment's folder; Python its interpreter.
	Dir, Python string
	// Built is true when this call built it (false: it was ready).
	Built bool
	lock  *os.File
	once  sync.Once
}

// Release lets the sweep remove the environment again. Safe on nil and
// more than once.
func (e *Env) Release() {
	if e == nil {
		return
	}
	e.once.Do(func() {
		_ = unlock(e.lock)
		_ = e.lock.Close()
	})
}

// BuildError is a build that failed: Summary is the installer's error line
// (for a run's error message); the whole output went to the build's log.
type BuildError struct {
	Summary string
	Err     error
}

func (e *BuildError) Error() string { return "the Python environment could not be built: " + e.Summary }
func (e *BuildError) Unwrap() error { return e.Err }

func (c *Cache) lockPath(key string) string    { return filepath.Join(c.cfg.Root, key+".lock") }
func (c *Cache) pointerPath(key string) string { return filepath.Join(c.cfg.Root, key+".json") }

// readPointer returns the key's published environment, nil when there is
// none (or its folder is gone).
func (c *Cache) readPointer(key string) *pointer {
	b, err := os.ReadFile(c.pointerPath(key))
	if err != nil {
		return nil
	}
	var p pointer
	if json.Unmarshal(b, &p) != nil || p.Key != key || p.Dir == "" || filepath.Base(p.Dir) != p.Dir {
		return nil
	}
	if _, err := os.Stat(PythonPath(filepath.Join(c.cfg.Root, p.Dir), runtime.GOOS)); err != nil {
		return nil
	}
	return &p
}

// Ready reports whether the environment of key is built.
func (c *Cache) Ready(key string) bool { return c.readPointer(key) != nil }

// ReadyKeys lists the keys of every built environment.
func (c *Cache) ReadyKeys() []string {
	entries, _ := os.ReadDir(c.cfg.Root)
	var out []string
	for _, e := range entries {
		if key, ok := strings.CutSuffix(e.Name(), ".json"); ok && c.readPointer(key) != nil {
			out = append(out, key)
		}
	}
	return out
}

// lockPoll is how often a waiting run tries the lock again.
const lockPoll = 50 * time.Millisecond

// lock opens the key's lock file and takes the lock, waiting until ctx
// ends, or — when given — until enough returns true (then it returns nil
// and no error).
func (c *Cache) lock(ctx context.Context, key string, exclusive bool, enough func() bool) (*os.File, error) {
	f, err := os.OpenFile(c.lockPath(key), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("pyenv: lock: %w", err)
	}
	for {
		ok, err := tryLock(f, exclusive)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("pyenv: lock: %w", err)
		}
		if ok {
			return f, nil
		}
		if enough != nil && enough() {
			f.Close()
			return nil, nil
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("pyenv: waiting for another build of the environment: %w", context.Cause(ctx))
		case <-time.After(lockPoll):
		}
	}
}

// Acquire returns the environment for s with interpreter in, building it
// first when it is not ready (the build's output goes to out, the steps
// it runs to step). The environment stays until Release. A failed build
// is a *BuildError.
func (c *Cache) Acquire(ctx context.Context, in *Interpreter, s *Spec, out io.Writer) (*Env, error) {
	key := s.Key(in)
	built := false
	for attempt := 0; attempt < 3; attempt++ {
		f, err := c.lock(ctx, key, false, nil)
		if err != nil {
			return nil, err
		}
		if p := c.readPointer(key); p != nil {
			now := c.cfg.Clock.Now()
			_ = os.Chtimes(c.pointerPath(key), now, now) // last use
			dir := filepath.Join(c.cfg.Root, p.Dir)
			return &Env{Key: key, Dir: dir, Python: PythonPath(dir, runtime.GOOS), Built: built, lock: f}, nil
		}
		_ = unlock(f)
		f.Close()
		did, err := c.buildOnce(ctx, key, in, s, out)
		if err != nil {
			return nil, err
		}
		built = built || did
	}
	return nil, fmt.Errorf("pyenv: environment %s vanished right after it was built (a sweep?)", key)
}

// Prepare builds the environment for s with interpreter in unless it is
// ready, and returns its key.
func (c *Cache) Prepare(ctx context.Context, in *Interpreter, s *Spec, out io.Writer) (string, error) {
	e, err := c.Acquire(ctx, in, s, out)
	if err != nil {
		return "", err
	}
	e.Release()
	return e.Key, nil
}

// buildOnce builds key under the exclusive lock, unless another build
// published it meanwhile (built is false then).
func (c *Cache) buildOnce(ctx context.Context, key string, in *Interpreter, s *Spec, out io.Writer) (built bool, _ error) {
	// Runs using the environment hold shared locks for as long as they
	// run: a build published meanwhile ends the wait.
	f, err := c.lock(ctx, key, true, func() bool { return c.readPointer(key) != nil })
	if err != nil || f == nil {
		return false, err
	}
	defer func() { _ = unlock(f); f.Close() }()
	if c.readPointer(key) != nil {
		return false, nil
	}
	return true, c.build(ctx, key, in, s, out)
}

// build creates the environment in a folder of its own and publishes it.
func (c *Cache) build(ctx context.Context, key string, in *Interpreter, s *Spec, out io.Writer) (err error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.BuildTimeout)
	defer cancel()
	started := time.Now()
	nonce := make([]byte, 4)
	_, _ = rand.Read(nonce)
	name := key + "-" + hex.EncodeToString(nonce)
	dir := filepath.Join(c.cfg.Root, name)
	tmp := dir + ".tmp"
	defer os.RemoveAll(tmp)
	defer func() {
		if err != nil {
			_ = os.RemoveAll(dir)
		}
	}()
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return fmt.Errorf("pyenv: build folder: %w", err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return fmt.Errorf("pyenv: build folder: %w", err)
	}
	reqs := filepath.Join(tmp, "requirements.txt")
	if err := os.WriteFile(reqs, s.Requirements, 0o600); err != nil {
		return fmt.Errorf("pyenv: build folder: %w", err)
	}
	env := append(minimalEnv(c.cfg.BaseEnv), "HOME="+tmp, "TMPDIR="+tmp, "TEMP="+tmp, "TMP="+tmp,
		"PIP_DISABLE_PIP_VERSION_CHECK=1", "PIP_NO_INPUT=1", "PIP_NO_CACHE_DIR=1", "PYTHONNOUSERSITE=1",
		"UV_CACHE_DIR="+filepath.Join(tmp, "uv-cache"), "UV_NO_CONFIG=1", "UV_PYTHON_DOWNLOADS=never")
	read := []string{tmp}
	if s.Wheels != "" {
		read = append(read, s.Wheels)
	}
	write := []string{dir, tmp}
	python := PythonPath(dir, runtime.GOOS)
	var steps [][]string
	offline := []string{}
	if s.Wheels != "" {
		offline = []string{"--no-index", "--find-links", s.Wheels}
	}
	if c.uv != "" {
		steps = [][]string{
			{c.uv, "venv", "--no-config", "--allow-existing", "--python", in.Executable, dir},
			append(append([]string{c.uv, "pip", "install", "--no-config", "--python", python}, offline...), "-r", reqs),
		}
	} else if in.pipTargets() {
		// The interpreter's own pip installs into an environment without
		// one (creating pip in every environment takes most of a build).
		steps = [][]string{
			{in.Executable, "-m", "venv", "--without-pip", dir},
			append(append([]string{in.Executable, "-m", "pip", "--python", python, "install", "--no-input", "--disable-pip-version-check", "--no-cache-dir"}, offline...), "-r", reqs),
		}
	} else {
		steps = [][]string{
			{in.Executable, "-m", "venv", dir},
			append(append([]string{python, "-m", "pip", "install", "--no-input", "--disable-pip-version-check", "--no-cache-dir"}, offline...), "-r", reqs),
		}
	}
	tail := &tailWriter{}
	w := io.MultiWriter(out, tail)
	for _, st := range steps {
		fmt.Fprintf(out, "$ %s\n", strings.Join(st, " "))
		program, args := st[0], st[1:]
		if c.cfg.Wrap != nil {
			if program, args, err = c.cfg.Wrap(program, args, read, write); err != nil {
				return fmt.Errorf("pyenv: confine the build: %w", err)
			}
		}
		cmd := exec.CommandContext(ctx, program, args...)
		cmd.Env, cmd.Dir, cmd.Stdout, cmd.Stderr = env, tmp, w, w
		cmd.WaitDelay = 5 * time.Second
		ownGroup(cmd)
		if err := cmd.Run(); err != nil {
			if ctx.Err() != nil {
				why := "the build took longer than " + c.cfg.BuildTimeout.String()
				if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
					why = "the build was stopped"
				}
				return &BuildError{Summary: why, Err: ctx.Err()}
			}
			return &BuildError{Summary: tail.summary(filepath.Base(st[0]), err), Err: err}
		}
	}
	// Robots (maybe another user) read it; nobody but the worker writes.
	if err := readableByAll(dir); err != nil {
		return fmt.Errorf("pyenv: %w", err)
	}
	p := pointer{Key: key, Dir: name, Python: in.Version, Platform: in.Platform, Installer: c.Installer(),
		Source: s.Source, BuiltAt: c.cfg.Clock.Now(), Bytes: treeSize(dir)}
	b, _ := json.MarshalIndent(p, "", "  ")
	if err := writeAtomic(c.pointerPath(key), b); err != nil {
		return fmt.Errorf("pyenv: publish the environment: %w", err)
	}
	fmt.Fprintf(out, "Python environment %s built with %s in %.1f s.\n", key[:12], c.Installer(), time.Since(started).Seconds())
	if c.cfg.Budget > 0 || c.cfg.Unused > 0 {
		unused := c.cfg.Unused
		if unused <= 0 {
			unused = 100 * 365 * 24 * time.Hour
		}
		// The new environment is the most recently used: it stays unless
		// it alone is over the budget.
		if gone, err := Sweep(c.cfg.Root, c.cfg.Clock.Now(), unused, c.cfg.Budget, false); err == nil {
			var keys []string
			for _, r := range gone {
				if r.Key != key && r.Why != "leftover" {
					fmt.Fprintf(out, "Removed Python environment %s (%s).\n", r.Key[:min(12, len(r.Key))], r.Why)
					keys = append(keys, r.Key)
				}
			}
			if len(keys) > 0 && c.cfg.Removed != nil {
				c.cfg.Removed(keys)
			}
		}
	}
	return nil
}

// writeAtomic writes a file through a temporary file and a rename.
func writeAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}

// readableByAll lets every user read (and traverse) dir, and nobody but its
// owner write there.
func readableByAll(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink != 0 {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		mode := info.Mode().Perm()&^0o022 | 0o444
		if d.IsDir() || mode&0o100 != 0 {
			mode |= 0o111
		}
		if mode != info.Mode().Perm() {
			return os.Chmod(p, mode)
		}
		return nil
	})
}

// treeSize is the size of the regular files under dir.
func treeSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// tailWriter keeps the last lines of a build's output.
type tailWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if t.buf.Len() > 64<<10 {
		b := slices.Clone(t.buf.Bytes()[t.buf.Len()-32<<10:])
		t.buf.Reset()
		t.buf.Write(b)
	}
	return len(p), nil
}

// summary picks the installer's error line: the last line starting with
// "ERROR:" or "error:", else the last line, else the exit status.
func (t *tailWriter) summary(step string, err error) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var last, errLine string
	sc := bufio.NewScanner(bytes.NewReader(t.buf.Bytes()))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" {
			continue
		}
		last = l
		if strings.HasPrefix(l, "ERROR:") || strings.HasPrefix(l, "error:") || strings.HasPrefix(l, "× ") {
			errLine = l
		}
	}
	msg := errLine
	if msg == "" {
		msg = last
	}
	if msg == "" {
		return fmt.Sprintf("%s: %v", step, err)
	}
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	return msg
}
