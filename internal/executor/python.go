package executor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"automationhub/internal/hub"
	"automationhub/internal/pyenv"
	"automationhub/internal/sandbox"
)

// pythons gives Python runs their interpreter: the one robot.yaml's python
// asks for, in the package's own environment when it has requirements
// (package pyenv). Environments are held for as long as their run lasts.
type pythons struct {
	interps *pyenv.Interpreters
	cache   *pyenv.Cache // set by Start

	mu   sync.Mutex
	held map[string]*pyenv.Env // by run id
	// reported is the environment key last reported per version.
	reported map[string]string
	// preparing is set while prepare requests are being built.
	preparing atomic.Bool
}

func newPythons(cfg Config) *pythons {
	candidates := slices.Clone(cfg.PythonExecutables)
	if cfg.PythonExecutable != "" && !slices.Contains(candidates, cfg.PythonExecutable) {
		candidates = append(candidates, cfg.PythonExecutable)
	}
	// PYTHON_EXECUTABLE stays the default: it comes first.
	if cfg.PythonExecutable != "" {
		candidates = append([]string{cfg.PythonExecutable}, slices.DeleteFunc(candidates, func(c string) bool { return c == cfg.PythonExecutable })...)
	}
	return &pythons{interps: &pyenv.Interpreters{Candidates: candidates, Launcher: pyenv.DefaultLauncher()}, held: map[string]*pyenv.Env{}, reported: map[string]string{}}
}

// startPythons opens the worker's environment cache (WorkDir/pyenv).
func (w *Worker) startPythons() error {
	c, err := pyenv.New(pyenv.Config{Root: filepath.Join(w.cfg.WorkDir, "pyenv"), BuildTimeout: w.cfg.PythonEnvBuildTimeout,
		BaseEnv: w.cfg.BaseEnv, UV: w.cfg.PythonEnvUV, Wrap: w.confineBuild, Clock: w.clock,
		Budget: w.cfg.PythonEnvCacheBytes, Unused: w.cfg.PythonEnvUnused, Removed: w.environmentsGone})
	if err != nil {
		return fmt.Errorf("executor: %w", err)
	}
	w.py.cache = c
	return nil
}

// PythonEnvs is the worker's cache of Python environments (nil before
// Start).
func (w *Worker) PythonEnvs() *pyenv.Cache { return w.py.cache }

// python returns the interpreter run runID of the package in workspace
// runs with: robot.yaml's version, in the package's environment, built
// first when needed with its output in the run's log.
func (w *Worker) python(ctx context.Context, p *pump, runID, versionID, workspace string) (string, error) {
	spec, err := pyenv.Read(workspace)
	if err != nil {
		return "", errors.New(hub.ErrorMessage(err))
	}
	if spec.Python == "" && !spec.Needed() { // as before environments: PYTHON_EXECUTABLE as it is
		python, err := exec.LookPath(w.cfg.PythonExecutable)
		if err != nil {
			return "", fmt.Errorf("Python interpreter %q not found on this worker (PYTHON_EXECUTABLE)", w.cfg.PythonExecutable)
		}
		return python, nil
	}
	in, err := w.py.interps.Select(ctx, spec.Python)
	if err != nil {
		if hub.ErrorKind(err) != hub.EInternal {
			return "", errors.New(hub.ErrorMessage(err))
		}
		return "", fmt.Errorf("%v (PYTHON_EXECUTABLE)", err)
	}
	if !spec.Needed() || w.py.cache == nil {
		return in.Path, nil
	}
	key := spec.Key(in)
	building := !w.py.cache.Ready(key)
	if building {
		p.add(hub.LevelInfo, fmt.Sprintf("Preparing Python environment %s (%s, Python %s, %s)", key[:12], spec.Source, in.Version, w.py.cache.Installer()))
	}
	out := NewLineWriter(false, func(l Line) { p.add(hub.LevelInfo, "  "+l.Text) })
	e, err := w.py.cache.Acquire(ctx, in, spec, out)
	out.Flush()
	if err != nil {
		var be *pyenv.BuildError
		if errors.As(err, &be) {
			w.reportEnv(versionID, key, in, be)
			return "", be
		}
		return "", fmt.Errorf("the Python environment could not be prepared: %w", err)
	}
	// Reported once per version and environment while the worker runs (a
	// prepare request is answered by prepareVersion either way).
	w.py.mu.Lock()
	seen := w.py.reported[versionID] == key
	w.py.reported[versionID] = key
	w.py.mu.Unlock()
	if !seen {
		w.reportEnv(versionID, key, in, nil)
	}
	switch {
	case e.Built:
	case building:
		p.add(hub.LevelInfo, fmt.Sprintf("Python environment %s was built by another run; using it.", key[:12]))
	default:
		p.add(hub.LevelInfo, fmt.Sprintf("Python environment %s (%s, Python %s) is ready.", key[:12], spec.Source, in.Version))
	}
	w.py.mu.Lock()
	w.py.held[runID] = e
	w.py.mu.Unlock()
	return e.Python, nil
}

// releasePython lets the sweep remove the run's environment again.
func (w *Worker) releasePython(runID string) {
	w.py.mu.Lock()
	e := w.py.held[runID]
	delete(w.py.held, runID)
	w.py.mu.Unlock()
	e.Release()
}

// heldPython is the environment run runID uses, nil for none.
func (w *Worker) heldPython(runID string) *pyenv.Env {
	w.py.mu.Lock()
	defer w.py.mu.Unlock()
	return w.py.held[runID]
}

// withPythonEnv activates the run's environment in its variables
// (VIRTUAL_ENV, its programs first on PATH), so that the robot's own
// subprocesses (python, console scripts) use it too.
func (w *Worker) withPythonEnv(runID string, env []string) []string {
	e := w.heldPython(runID)
	if e == nil {
		return env
	}
	bin := pyenv.BinDir(e.Dir, runtime.GOOS)
	path, _ := lookupEnv(env, "PATH")
	out := slices.DeleteFunc(env, func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return strings.EqualFold(k, "PATH") || strings.EqualFold(k, "VIRTUAL_ENV") || strings.EqualFold(k, "PYTHONHOME")
	})
	if path != "" {
		bin += string(os.PathListSeparator) + path
	}
	return append(out, "PATH="+bin, "VIRTUAL_ENV="+e.Dir)
}

// pythonReadable is what a confined robot of run runID may read besides
// its policy: its environment (which lies in the worker folder, hidden
// from robots otherwise). It is read-only to the robot: Landlock grants
// no write there, and the files are the worker's.
func (w *Worker) pythonReadable(runID string) []string {
	if e := w.heldPython(runID); e != nil {
		return []string{e.Dir}
	}
	return nil
}

// confineBuild confines an environment build as robots are confined (it
// runs code of the package's dependencies): it may read the system, the
// interpreter and read, and write only write.
func (w *Worker) confineBuild(program string, args, read, write []string) (string, []string, error) {
	sb := w.cfg.Sandbox
	if sb.Launcher == "" {
		return program, args, nil
	}
	prog, err := exec.LookPath(program)
	if err != nil {
		prog = program
	}
	r := append(sandbox.ReadableSystem(), sb.Read...)
	r = append(r, installPrefixes(prog)...)
	for _, d := range write {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", nil, err
		}
	}
	policy := sandbox.Policy{Read: append(sandbox.Carve(r, sb.Hidden), read...), Write: write, Devices: robotDevices, Required: sb.Required}
	a, err := policy.Args(prog, args)
	if err != nil {
		return "", nil, err
	}
	return sb.Launcher, a, nil
}

// prepareWindow is how old a prepare request may be for a worker to still
// answer it (one that starts later builds what it was asked to as well).
const prepareWindow = 7 * 24 * time.Hour

// pollPrepares starts building the environments workers were asked to
// prepare, unless a preparation is under way; called by the heartbeat.
// The builds stop with ctx (Stop), unanswered, so they are taken up again.
func (w *Worker) pollPrepares(ctx context.Context) {
	if w.py.cache == nil || !w.py.preparing.CompareAndSwap(false, true) {
		return
	}
	reqs, err := w.state.PendingPrepares(ctx, w.cfg.ID, w.clock.Now().Add(-prepareWindow), 4)
	if err != nil || len(reqs) == 0 {
		if err != nil {
			w.log.Warn("reading prepare requests failed", "error", err.Error())
		}
		w.py.preparing.Store(false)
		return
	}
	w.bg.Go(func() {
		defer w.py.preparing.Store(false)
		for _, r := range reqs {
			if ctx.Err() != nil {
				return
			}
			w.prepareVersion(ctx, r)
		}
	})
}

// prepareVersion builds a version's environment ahead of its runs and
// reports the outcome.
func (w *Worker) prepareVersion(ctx context.Context, r hub.PrepareRequest) {
	log := w.log.With("version_id", r.VersionID)
	failed := func(err error) {
		if ctx.Err() != nil {
			return // stopped: answered by the next start
		}
		msg := err.Error()
		if hub.ErrorKind(err) != hub.EInternal {
			msg = hub.ErrorMessage(err)
		}
		log.Warn("preparing a Python environment failed", "error", msg)
		w.report(hub.WorkerEnv{WorkerID: w.cfg.ID, VersionID: r.VersionID, Status: hub.EnvFailed, Error: &msg, UpdatedAt: w.clock.Now()})
	}
	v, err := w.state.VersionOnly(ctx, r.VersionID)
	if err != nil {
		failed(err)
		return
	}
	dir, err := w.unpacked(ctx, v)
	if err != nil {
		failed(err)
		return
	}
	spec, err := pyenv.Read(dir)
	if err != nil {
		failed(err)
		return
	}
	in, err := w.py.interps.Select(ctx, spec.Python)
	if err != nil {
		failed(err)
		return
	}
	if !spec.Needed() {
		w.reportEnv(r.VersionID, "", in, nil)
		return
	}
	out := NewLineWriter(false, func(l Line) { log.Debug("python environment build", "line", l.Text) })
	key, err := w.py.cache.Prepare(ctx, in, spec, out)
	out.Flush()
	if err != nil {
		failed(err)
		return
	}
	log.Info("prepared a Python environment", "key", key)
	w.reportEnv(r.VersionID, key, in, nil)
}

// unpacked is the worker's unpacked copy of a version's package, fetched
// through the run state (no run holds it: a hub that serves packages only
// for held runs refuses, and the environment is built at the first run).
func (w *Worker) unpacked(ctx context.Context, v *hub.Version) (string, error) {
	if v.ArtifactPath == nil || v.ArtifactType != hub.ArtifactZip {
		return "", errors.New("the version has no ZIP package")
	}
	pkg, err := w.fetchPackage(ctx, "", v)
	if err != nil {
		return "", err
	}
	dir, _, err := w.packageCache(v, pkg)
	return dir, err
}

// reportEnv records what this worker has of a version's environment: key
// ready ("" when none is needed), or the build error.
func (w *Worker) reportEnv(versionID, key string, in *pyenv.Interpreter, buildErr *pyenv.BuildError) {
	e := hub.WorkerEnv{WorkerID: w.cfg.ID, VersionID: versionID, Key: key, Status: hub.EnvReady, PythonVersion: &in.Version, UpdatedAt: w.clock.Now()}
	switch {
	case buildErr != nil:
		msg := buildErr.Error()
		e.Status, e.Error = hub.EnvFailed, &msg
	case key == "":
		e.Status = hub.EnvNotNeeded
	}
	w.report(e)
}

func (w *Worker) report(e hub.WorkerEnv) {
	ctx, cancel := context.WithTimeout(w.hard, 10*time.Second)
	defer cancel()
	if err := w.state.EnvironmentReady(ctx, e); err != nil {
		w.log.Warn("reporting a Python environment failed", "version_id", e.VersionID, "error", err.Error())
	}
}

// environmentsGone tells the hub that the cache removed the environments of
// keys, so that no version shows them ready on this worker any more.
func (w *Worker) environmentsGone(keys []string) {
	w.py.mu.Lock()
	for v, k := range w.py.reported {
		if slices.Contains(keys, k) {
			delete(w.py.reported, v)
		}
	}
	w.py.mu.Unlock()
	ctx, cancel := context.WithTimeout(w.hard, 10*time.Second)
	defer cancel()
	if err := w.state.EnvironmentsGone(ctx, w.cfg.ID, keys); err != nil {
		w.log.Warn("reporting removed Python environments failed", "error", err.Error())
	}
}
