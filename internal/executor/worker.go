// Package executor is the worker: it takes ready signals from the bus,
// claims runs in the database, prepares a fresh workspace from a cached,
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
	"automationhub/internal/blob"
	"automationhub/internal/bus"
	"automationhub/internal/hub"
)

// RunState is how the worker reads and changes run state. Today it is the
// database; the same interface can be served over HTTP to remote agents.
type RunState interface {
	// ClaimRun starts a PENDING run for this worker when every limit it is
	// subject to has room; it may start another run ahead of it in the
	// queue instead (the returned run), and ok is false when it starts
	// none.
	ClaimRun(ctx context.Context, runID, workerID, host string, now, leaseUntil time.Time) (*hub.Run, bool, error)
	// WaitingBehind lists the PENDING runs a limit holds back that the end
	// of run runID may have made room for.
	WaitingBehind(ctx context.Context, runID string, now time.Time, limit int) ([]string, error)
	VersionOnly(ctx context.Context, versionID string) (*hub.Version, error)
	RenewLeases(ctx context.Context, workerID string, runIDs []string, until time.Time) ([]string, error)
	SetProcessID(ctx context.Context, runID, workerID string, pid int) error
	CancelRequested(ctx context.Context, runID string) (bool, error)
	// AppendRunLogs stores log lines idempotently by (run_id, seq) while
	// workerID holds the run; held is false once it does not. Errors of a
	// client kind mean the lines cannot be stored for this run: hub.EInvalid
	// for their content, hub.EUnavailable for a full disk (the run ends with
	// the cause instead of retrying until its lease runs out).
	AppendRunLogs(ctx context.Context, runID, workerID string, lines []hub.LogLine) (held bool, err error)
	LastLogSeq(ctx context.Context, runID string) (int64, error)
	// FinishRun records how a run ended, with its last log lines and its
	// artifacts, in one step; hub.EUnavailable when the disk is full.
	FinishRun(ctx context.Context, runID, workerID string, res hub.RunResult, lines []hub.LogLine, arts []hub.Artifact) (bool, error)
	FailRun(ctx context.Context, runID, errMsg, logMsg string, now time.Time) error
	Heartbeat(ctx context.Context, w hub.Worker) error
	WorkerStopped(ctx context.Context, id string, now time.Time) error
	// PendingPrepares lists the requests, made since `since`, to build a
	// version's Python environment ahead of its runs that workerID has
	// not answered yet (at most limit, oldest first).
	PendingPrepares(ctx context.Context, workerID string, since time.Time, limit int) ([]hub.PrepareRequest, error)
	// EnvironmentReady records what a worker has of a version's Python
	// environment (ready, not needed, or why its build failed); it
	// answers the version's pending prepare request.
	EnvironmentReady(ctx context.Context, e hub.WorkerEnv) error
	// EnvironmentsGone forgets what workerID reported about the
	// environments of keys: its cache removed them.
	EnvironmentsGone(ctx context.Context, workerID string, keys []string) error
}

// Bus is the part of the bus the worker uses.
type Bus interface {
	Enqueue(ctx context.Context, runID string) error
	Dequeue(ctx context.Context, consumer string) (bus.Delivery, error)
	Ack(ctx context.Context, d bus.Delivery) error
	Publish(ctx context.Context, topic string, payload []byte) error
	Subscribe(ctx context.Context, topic string) (bus.Subscription, error)
}

// Blobs is the artifact store.
type Blobs interface {
	Path(key string) (string, error)
	Create(limit int64) (*blob.Upload, error)
	Delete(key string) error
}

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
	bus   Bus
	blobs Blobs
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
}

// Causes of stopping a robot early.
var (
	errCanceled  = errors.New("canceled by user")
	errLeaseLost = errors.New("lease lost")
	errShutdown  = errors.New("worker shutting down")
)

// New returns a worker.
func New(state RunState, b Bus, blobs Blobs, cfg Config) *Worker {
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
	return &Worker{state: state, bus: b, blobs: blobs, cfg: cfg, clock: cfg.Clock, log: cfg.Logger.With("worker_id", cfg.ID), held: map[string]*activeRun{}, py: newPythons(cfg)}
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
	if sub, err := w.bus.Subscribe(ctx, bus.CancelTopic); err != nil {
		w.log.Warn("cancel signals unavailable; the database is polled instead", "error", err.Error())
	} else {
		w.bg.Go(func() { w.listenCancels(bgCtx, sub) })
	}
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

// slot takes one ready signal at a time and runs it.
func (w *Worker) slot(takeCtx, bgCtx context.Context) {
	for w.whilePaused(takeCtx) {
		d, err := w.bus.Dequeue(takeCtx, w.cfg.ID)
		if err != nil {
			if takeCtx.Err() != nil {
				return
			}
			w.log.Warn("taking work failed", "error", err.Error())
			select {
			case <-takeCtx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		w.handle(bgCtx, d)
	}
}

// handle claims the run of a ready signal and, if this worker got it, runs it.
func (w *Worker) handle(ctx context.Context, d bus.Delivery) {
	now := w.clock.Now()
	r, ok, err := w.state.ClaimRun(ctx, d.RunID, w.cfg.ID, w.cfg.Hostname, now, now.Add(w.cfg.LeaseDuration))
	if w.refused(ctx, d, err) {
		return
	}
	if err != nil {
		w.log.Warn("claiming a run failed; its signal will come again", "run_id", d.RunID, "error", err.Error())
		return // not acked: redelivered later
	}
	_ = w.bus.Ack(ctx, d)
	if !ok {
		return // someone else has it, it was cancelled, or it must wait: drop the signal
	}
	if r.ID != d.RunID {
		// A run ahead in the queue took this signal's turn; the signalled
		// run keeps its place and gets a new signal.
		if err := w.bus.Enqueue(ctx, d.RunID); err != nil {
			w.log.Warn("signalling a run again failed; the reconciler will", "run_id", d.RunID, "error", err.Error())
		}
	}
	runCtx, stop := context.WithCancelCause(ctx)
	a := &activeRun{stop: stop}
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
	w.signalWaiting(r.ID)
}

// waitingSignals is how many held-back runs the end of a run signals.
const waitingSignals = 4

// signalWaiting signals the runs a limit held back that the end of run
// runID may have made room for (best effort: the reconciler signals them
// again now and then).
func (w *Worker) signalWaiting(runID string) {
	ids, err := w.state.WaitingBehind(w.hard, runID, w.clock.Now(), waitingSignals)
	if err != nil {
		w.log.Warn("finding runs waiting for a slot failed", "run_id", runID, "error", err.Error())
		return
	}
	for _, id := range ids {
		_ = w.bus.Enqueue(w.hard, id)
	}
}

// requestStop stops a held run's robot with a cause.
func (w *Worker) requestStop(runID string, cause error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if a, ok := w.held[runID]; ok {
		a.stop(cause)
	}
}

// listenCancels stops robots whose run a user cancelled; exits with ctx.
func (w *Worker) listenCancels(ctx context.Context, sub bus.Subscription) {
	defer sub.Close()
	for {
		select {
		case <-ctx.Done():
			return
		case msg, ok := <-sub.C():
			if !ok {
				// Resubscribe; meanwhile the per-run database poll covers cancels.
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Second):
				}
				s, err := w.bus.Subscribe(ctx, bus.CancelTopic)
				if err != nil {
					continue
				}
				sub = s
				continue
			}
			w.requestStop(string(msg), errCanceled)
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
			held, err := w.state.RenewLeases(ctx, w.cfg.ID, ids, now.Add(w.cfg.LeaseDuration))
			if err != nil {
				w.log.Warn("renewing leases failed", "error", err.Error())
			} else {
				for _, id := range ids {
					if !slices.Contains(held, id) {
						w.log.Warn("lease lost; stopping the robot", "run_id", id)
						w.requestStop(id, errLeaseLost)
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
