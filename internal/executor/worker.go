// Package executor is the worker: it claims runs through its RunState (the
// database and bus in a hub, HTTPS in a remote agent), prepares a fresh workspace from a cached,
// safely unpacked package, starts the robot in its own process group (job
// object on Windows) with a clean environment, streams its output into the
// log pump, enforces timeout and cancel, collects output files as
// artifacts, and records how the run ended. A heartbeat goroutine renews
// the lease of every run it holds, however busy the robots are.
package executor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"automationhub/internal/archive"
	"automationhub/internal/hub"
)

// Config tunes a worker.
type Config struct {
	ID, Hostname, Version string
	Concurrency           int
	// Labels route runs: a run is claimed only by a worker that has every label its robot requires.
	Labels []string
	// LeaseDuration is how long a claim lasts without renewal
	// (WORKER_STALE_SECONDS); heartbeats renew it three times as often.
	LeaseDuration    time.Duration
	PythonExecutable string
	// PythonExecutables are more interpreters robot.yaml's python may pick
	// (PYTHON_EXECUTABLES); PythonExecutable stays the default.
	PythonExecutables []string
	// PythonEnvBuildTimeout bounds one build of a Python environment
	// (PYTHON_ENV_BUILD_TIMEOUT_SECONDS); PythonEnvUV is the uv program
	// builds use ("" finds it on PATH, "off" always uses venv and pip).
	PythonEnvBuildTimeout time.Duration
	PythonEnvUV           string
	// PythonEnvCacheBytes and PythonEnvUnused bound the worker's Python
	// environments (PYTHON_ENV_CACHE_BYTES, WORKSPACE_CACHE_DAYS): each
	// build sweeps the least recently used past them.
	PythonEnvCacheBytes int64
	PythonEnvUnused     time.Duration
	// WorkDir holds the package cache and the runs' working copies.
	WorkDir     string
	Limits      archive.Limits
	GracePeriod time.Duration
	// MaxArtifactBytes caps each collected output file.
	MaxArtifactBytes int64
	// MaxRunDiskBytes is the disk budget of one run's folder
	// (RUN_MAX_DISK_BYTES; default 10 GiB): a run that uses more is stopped
	// and fails.
	MaxRunDiskBytes int64
	// BaseEnv is the worker's own environment (os.Environ()); only its
	// allow-listed variables reach robots.
	BaseEnv []string
	// Sandbox confines robots; the zero value runs them unconfined.
	Sandbox Sandbox
	// Env hands the worker the robot configuration of a run it holds,
	// decrypted (robotenv.Service); nil: runs get none. Its secret values
	// are masked in everything the worker writes about the run.
	Env interface {
		RunConfig(ctx context.Context, runID, workerID string) (*hub.RunConfig, error)
	}
	// Observer records finished runs (metrics); may be nil.
	Observer interface {
		Finished(status string, d time.Duration)
	}
	Clock  hub.Clock
	Logger *slog.Logger
}

// maxArtifacts bounds how many files one run may register.
const maxArtifacts = 1000

// Worker runs robots. Start it, then Stop it.
type Worker struct {
	state RunState
	cfg   Config
	clock hub.Clock
	log   *slog.Logger
	py    *pythons

	mu         sync.Mutex
	held       map[string]*activeRun
	started    bool
	startedAt  time.Time
	cancelTake context.CancelFunc // stops the slots from taking work
	cancelBg   context.CancelFunc // stops heartbeat and cancel listener
	// hard carries every store call of a run; it ends only when Stop gives
	// up waiting, so a stuck database cannot hold Stop past its deadline.
	hard       context.Context
	cancelHard context.CancelFunc
	slots      sync.WaitGroup
	bg         sync.WaitGroup
	routing    routing // runs passed on to other workers; pause
}

type activeRun struct {
	stop     context.CancelCauseFunc
	canceled bool // by a user
	// renewed is when the lease was last renewed (or the run claimed).
	renewed time.Time
}

// Causes of stopping a robot early.
var (
	errCanceled  = errors.New("canceled by user")
	errLeaseLost = errors.New("lease lost")
	errShutdown  = errors.New("worker shutting down")
)

// New returns a worker that reads and changes run state only through state.
func New(state RunState, cfg Config) *Worker {
	if cfg.Clock == nil {
		cfg.Clock = hub.SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Concurrency < 1 {
		cfg.Concurrency = 1
	}
	if cfg.LeaseDuration == 0 {
		cfg.LeaseDuration = time.Minute
	}
	if cfg.GracePeriod == 0 {
		cfg.GracePeriod = 5 * time.Second
	}
	if cfg.MaxRunDiskBytes <= 0 {
		cfg.MaxRunDiskBytes = 10 << 30
	}
	if cfg.Hostname == "" {
		cfg.Hostname, _ = os.Hostname()
	}
	// Robots run in their own working copy: every path the worker hands
	// them must be absolute.
	if abs, err := filepath.Abs(cfg.WorkDir); err == nil {
		cfg.WorkDir = abs
	}
	return &Worker{state: state, cfg: cfg, clock: cfg.Clock, log: cfg.Logger.With("worker_id", cfg.ID), held: map[string]*activeRun{}, py: newPythons(cfg)}
}

// Start launches the slots (Concurrency goroutines that take ready signals
// and run robots), the heartbeat and the cancel listener. Slots exit when
// Stop is called (after their current run); heartbeat and listener exit
// after the last run has ended.
func (w *Worker) Start(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started {
		return nil
	}
	if err := os.MkdirAll(filepath.Join(w.cfg.WorkDir, "runs"), 0o750); err != nil {
		return fmt.Errorf("executor: work folder: %w", err)
	}
	if w.cfg.Sandbox.UID != 0 {
		// A robot running as another user must be able to reach its run
		// folder: traverse, not list.
		for _, d := range []string{w.cfg.WorkDir, filepath.Join(w.cfg.WorkDir, "runs")} {
			if err := os.Chmod(d, 0o711); err != nil {
				return fmt.Errorf("executor: work folder: %w", err)
			}
		}
	}
	if err := os.MkdirAll(filepath.Join(w.cfg.WorkDir, "cache"), 0o750); err != nil {
		return fmt.Errorf("executor: cache folder: %w", err)
	}
	if err := w.startPythons(); err != nil {
		return err
	}
	hard, cancelHard := context.WithCancel(context.WithoutCancel(ctx))
	bgCtx, cancelBg := context.WithCancel(hard)
	takeCtx, cancelTake := context.WithCancel(hard)
	w.hard, w.cancelHard = hard, cancelHard
	w.cancelBg, w.cancelTake, w.started = cancelBg, cancelTake, true
	w.startedAt = w.clock.Now()
	if err := w.state.Heartbeat(ctx, w.beat(0, w.startedAt)); err != nil {
		w.log.Warn("first heartbeat failed", "error", err.Error())
	}
	cancels := w.state.Cancels(bgCtx)
	w.bg.Go(func() { w.listenCancels(bgCtx, cancels) })
	w.bg.Go(func() { w.heartbeat(bgCtx) })
	for range w.cfg.Concurrency {
		w.slots.Go(func() { w.slot(takeCtx, bgCtx) })
	}
	w.log.Info("worker started", "concurrency", w.cfg.Concurrency, "host", w.cfg.Hostname)
	return nil
}

// Stop stops taking work and lets running robots finish until ctx ends;
// robots still running then are stopped (their runs end FAILED) and get the
// grace period to exit and be recorded. A run whose store calls are still
// stuck after that (a database outage) is abandoned to the reconciler: Stop
// returns at most GracePeriod plus about two seconds after ctx ends, with
// an error naming what it abandoned. Then the heartbeat stops and the worker
// is marked STOPPED. Safe before Start.
func (w *Worker) Stop(ctx context.Context) error {
	w.mu.Lock()
	if !w.started {
		w.mu.Unlock()
		return nil
	}
	w.started = false
	w.mu.Unlock()
	w.cancelTake()
	drained := make(chan struct{})
	go func() { w.slots.Wait(); close(drained) }()
	var stopErr error
	select {
	case <-drained:
	case <-ctx.Done():
		w.mu.Lock()
		for _, a := range w.held {
			a.stop(errShutdown)
		}
		w.mu.Unlock()
		select {
		case <-drained:
		case <-time.After(w.cfg.GracePeriod + time.Second):
			w.mu.Lock()
			stuck := len(w.held)
			w.mu.Unlock()
			w.log.Error("runs still recording after the grace period; abandoning them to the reconciler", "runs", stuck)
			w.cancelHard()
			select {
			case <-drained:
			case <-time.After(time.Second):
			}
			stopErr = fmt.Errorf("executor: stop abandoned %d run(s) whose state could not be recorded", stuck)
		}
	}
	w.cancelBg()
	w.bg.Wait()
	markCtx, cancel := context.WithTimeout(w.hard, 2*time.Second)
	defer cancel()
	if err := w.state.WorkerStopped(markCtx, w.cfg.ID, w.clock.Now()); err != nil {
		w.log.Warn("marking the worker stopped failed", "error", err.Error())
	}
	w.cancelHard()
	if g := w.cfg.Sandbox.Groups; g != nil {
		_ = g.Close() // the runs' groups are gone with their runs
	}
	w.log.Info("worker stopped")
	return stopErr
}

// Busy returns how many runs the worker is executing now.
func (w *Worker) Busy() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.held)
}

// slot claims one run at a time and runs it.
func (w *Worker) slot(takeCtx, bgCtx context.Context) {
	for w.whilePaused(takeCtx) {
		r, err := w.state.NextRun(takeCtx, Claim{WorkerID: w.cfg.ID, Host: w.cfg.Hostname, Lease: w.cfg.LeaseDuration})
		if err != nil {
			if takeCtx.Err() != nil {
				return
			}
			if w.noticePaused(err) {
				continue
			}
			w.log.Warn("taking work failed", "error", err.Error())
			select {
			case <-takeCtx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		w.handle(bgCtx, r)
	}
}

// handle runs a claimed run.
func (w *Worker) handle(ctx context.Context, r *hub.Run) {
	runCtx, stop := context.WithCancelCause(ctx)
	a := &activeRun{stop: stop, renewed: w.clock.Now()}
	w.mu.Lock()
	w.held[r.ID] = a
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		delete(w.held, r.ID)
		w.mu.Unlock()
		stop(nil)
	}()
	w.execute(runCtx, stop, r)
}

// requestStop stops a held run's robot with a cause.
func (w *Worker) requestStop(runID string, cause error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if a, ok := w.held[runID]; ok {
		a.stop(cause)
	}
}

// listenCancels stops robots whose run a user cancelled; exits with ctx
// or when the channel closes.
func (w *Worker) listenCancels(ctx context.Context, cancels <-chan string) {
	for {
		select {
		case <-ctx.Done():
			return
		case id, ok := <-cancels:
			if !ok {
				return // the per-run poll covers cancels
			}
			w.requestStop(id, errCanceled)
		}
	}
}

// beat describes this worker for its heartbeat row.
func (w *Worker) beat(running int, now time.Time) hub.Worker {
	version := w.cfg.Version
	return hub.Worker{ID: w.cfg.ID, Hostname: w.cfg.Hostname, Status: hub.WorkerRunning, Version: &version,
		Concurrency: w.cfg.Concurrency, RunningRuns: running, StartedAt: w.startedAt, LastHeartbeat: now, Labels: w.cfg.Labels}
}

// heartbeat renews the leases of held runs and the worker row every third
// of the lease; a run whose lease was taken away is stopped. Exits with ctx.
func (w *Worker) heartbeat(ctx context.Context) {
	t := time.NewTicker(max(w.cfg.LeaseDuration/3, 100*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		w.mu.Lock()
		ids := make([]string, 0, len(w.held))
		for id := range w.held {
			ids = append(ids, id)
		}
		w.mu.Unlock()
		now := w.clock.Now()
		if len(ids) > 0 {
			leases, err := w.state.RenewLeases(ctx, w.cfg.ID, ids, now.Add(w.cfg.LeaseDuration))
			if err != nil {
				w.log.Warn("renewing leases failed", "error", err.Error())
				w.stopUnrenewed(ids, now)
			} else {
				w.mu.Lock()
				for _, id := range leases.Held {
					if a, ok := w.held[id]; ok {
						a.renewed = now
					}
				}
				w.mu.Unlock()
				for _, id := range ids {
					if !slices.Contains(leases.Held, id) {
						w.log.Warn("lease lost; stopping the robot", "run_id", id)
						w.requestStop(id, errLeaseLost)
					} else if slices.Contains(leases.Canceled, id) {
						w.requestStop(id, errCanceled)
					}
				}
			}
		}
		if err := w.state.Heartbeat(ctx, w.beat(len(ids), now)); err != nil {
			w.log.Warn("heartbeat failed", "error", err.Error())
		}
		w.pollPrepares(ctx)
	}
}

// stopUnrenewed stops the robots of runs whose lease could not be renewed
// for a whole lease: the hub has given them up (or will at once), and
// another worker may take them; never two copies running.
func (w *Worker) stopUnrenewed(ids []string, now time.Time) {
	w.mu.Lock()
	var lost []string
	for _, id := range ids {
		if a, ok := w.held[id]; ok && now.Sub(a.renewed) >= w.cfg.LeaseDuration {
			lost = append(lost, id)
		}
	}
	w.mu.Unlock()
	for _, id := range lost {
		w.log.Warn("lease not renewed for a whole lease; stopping the robot", "run_id", id)
		w.requestStop(id, errLeaseLost)
	}
}
