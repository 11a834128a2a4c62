// Package runstate serves executor.RunState from a hub's own database, bus
// and artifact store: the worker of `hub all` and `hub worker` uses it
// directly, and the agent API uses it on behalf of remote agents. It is
// where ready signals are taken and acknowledged, where stored log batches
// and run endings are published to live viewers, and where packages and
// artifacts turn from files into streams.
package runstate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"automationhub/internal/blob"
	"automationhub/internal/bus"
	"automationhub/internal/executor"
	"automationhub/internal/hub"
	"automationhub/internal/runs"
)

// Store is the part of the database run state lives in.
type Store interface {
	ClaimRun(ctx context.Context, runID, workerID, host string, now, leaseUntil time.Time) (*hub.Run, bool, error)
	WaitingBehind(ctx context.Context, runID string, now time.Time, limit int) ([]string, error)
	VersionOnly(ctx context.Context, versionID string) (*hub.Version, error)
	RenewLeases(ctx context.Context, workerID string, runIDs []string, until time.Time) ([]string, error)
	SetProcessID(ctx context.Context, runID, workerID string, pid int) error
	CancelRequested(ctx context.Context, runID string) (bool, error)
	AppendRunLogs(ctx context.Context, runID, workerID string, lines []hub.LogLine) (held bool, err error)
	LastLogSeq(ctx context.Context, runID string) (int64, error)
	FinishRun(ctx context.Context, runID, workerID string, res hub.RunResult, lines []hub.LogLine, arts []hub.Artifact) (bool, error)
	FailRun(ctx context.Context, runID, errMsg, logMsg string, now time.Time) error
	Heartbeat(ctx context.Context, w hub.Worker) error
	WorkerStopped(ctx context.Context, id string, now time.Time) error
	WorkerStatus(ctx context.Context, id string) (string, error)
	PendingPrepares(ctx context.Context, workerID string, since time.Time, limit int) ([]hub.PrepareRequest, error)
	EnvironmentReady(ctx context.Context, e hub.WorkerEnv) error
	EnvironmentsGone(ctx context.Context, workerID string, keys []string) error
}

// Bus is the part of the bus run state uses.
type Bus interface {
	Enqueue(ctx context.Context, runID string) error
	Dequeue(ctx context.Context, consumer string) (bus.Delivery, error)
	Ack(ctx context.Context, d bus.Delivery) error
	Publish(ctx context.Context, topic string, payload []byte) error
	Subscribe(ctx context.Context, topic string) (bus.Subscription, error)
}

// Blobs is the artifact store.
type Blobs interface {
	Open(key string) (*os.File, error)
	Create(limit int64) (*blob.Upload, error)
	Delete(key string) error
}

// Config tunes a State.
type Config struct {
	// MaxArtifactBytes caps each stored artifact (0: no cap).
	MaxArtifactBytes int64
	Clock            hub.Clock
	Logger           *slog.Logger
}

// State is executor.RunState over a hub's database, bus and artifact store.
type State struct {
	// passes counts the ready signals passed on to other workers.
	passes passes
	store  Store
	bus    Bus
	blobs  Blobs
	cfg    Config
	clock  hub.Clock
	log    *slog.Logger
}

var _ executor.RunState = (*State)(nil)

// New returns the run state of a hub.
func New(store Store, b Bus, blobs Blobs, cfg Config) *State {
	if cfg.Clock == nil {
		cfg.Clock = hub.SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &State{store: store, bus: b, blobs: blobs, cfg: cfg, clock: cfg.Clock, log: cfg.Logger}
}

// claimTimeout bounds one claim once a signal was taken.
const claimTimeout = 30 * time.Second

// NextRun takes ready signals from the bus until this worker claims one
// (see Claim).
func (s *State) NextRun(ctx context.Context, c executor.Claim) (*hub.Run, error) {
	for {
		d, err := s.bus.Dequeue(ctx, c.WorkerID)
		if err != nil {
			return nil, err
		}
		r, err := s.Claim(ctx, d, c)
		if errors.Is(err, hub.ErrWorkerPaused) {
			return nil, err
		}
		if err != nil {
			s.log.Warn("claiming a run failed; its signal will come again", "run_id", d.RunID, "error", err.Error())
			continue
		}
		if r != nil {
			return r, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
}

// Claim tries to claim the run of ready signal d for c: the run (or one
// ahead of it in the queue, then d's run is signalled again), or nil when
// c gets none (another worker has it, it was cancelled, it must wait, or
// c may not take it); the signal is acknowledged either way. After an
// error the signal is not acknowledged (it comes again). The claim itself
// outlives ctx, so that a run claimed is never lost to a caller that left.
func (s *State) Claim(ctx context.Context, d bus.Delivery, c executor.Claim) (*hub.Run, error) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), claimTimeout)
	defer cancel()
	now := s.clock.Now()
	r, ok, err := s.store.ClaimRun(cctx, d.RunID, c.WorkerID, c.Host, now, now.Add(c.Lease))
	if paused, other := errors.Is(err, hub.ErrWorkerPaused), errors.Is(err, hub.ErrOtherWorker); paused || other {
		// This worker may not take the run (paused, or lacking a label
		// the robot requires): the signal is acked, and passed on when
		// another online worker may take it.
		_ = s.bus.Ack(cctx, d)
		if other {
			s.PassOn(ctx, d.RunID)
		}
		if paused {
			return nil, err
		}
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	_ = s.bus.Ack(cctx, d)
	if !ok {
		return nil, nil
	}
	if r.ID != d.RunID {
		// A run ahead in the queue took this signal's turn; the signalled
		// run keeps its place and gets a new signal.
		if err := s.bus.Enqueue(cctx, d.RunID); err != nil {
			s.log.Warn("signalling a run again failed; the reconciler will", "run_id", d.RunID, "error", err.Error())
		}
	}
	return r, nil
}

// VersionOnly returns a version.
func (s *State) VersionOnly(ctx context.Context, versionID string) (*hub.Version, error) {
	return s.store.VersionOnly(ctx, versionID)
}

// OpenPackage opens the stored package of v.
func (s *State) OpenPackage(_ context.Context, _, _ string, v *hub.Version) (io.ReadCloser, error) {
	if v.ArtifactPath == nil {
		return nil, hub.Errorf(hub.ENotFound, "the version has no package")
	}
	f, err := s.blobs.Open(*v.ArtifactPath)
	if errors.Is(err, blob.ErrNotFound) {
		return nil, hub.Errorf(hub.ENotFound, "Version artifact not found: %s", *v.ArtifactPath)
	}
	if err != nil {
		return nil, fmt.Errorf("open package: %w", err)
	}
	return f, nil
}

// RenewLeases renews the leases of held runs and says which of those a
// user asked to cancel.
func (s *State) RenewLeases(ctx context.Context, workerID string, runIDs []string, until time.Time) (executor.Leases, error) {
	held, err := s.store.RenewLeases(ctx, workerID, runIDs, until)
	if err != nil {
		return executor.Leases{}, err
	}
	out := executor.Leases{Held: held}
	for _, id := range held {
		if yes, err := s.store.CancelRequested(ctx, id); err == nil && yes {
			out.Canceled = append(out.Canceled, id)
		}
	}
	return out, nil
}

// Cancels relays the bus's cancel topic, subscribing again after a loss,
// until ctx ends.
func (s *State) Cancels(ctx context.Context) <-chan string {
	out := make(chan string, 16)
	go func() {
		defer close(out)
		for ctx.Err() == nil {
			sub, err := s.bus.Subscribe(ctx, bus.CancelTopic)
			if err != nil {
				s.log.Warn("cancel signals unavailable; the database is polled instead", "error", err.Error())
			} else {
				s.relay(ctx, sub, out)
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}()
	return out
}

func (s *State) relay(ctx context.Context, sub bus.Subscription, out chan<- string) {
	defer sub.Close()
	for {
		select {
		case <-ctx.Done():
			return
		case msg, ok := <-sub.C():
			if !ok {
				return
			}
			select {
			case out <- string(msg):
			case <-ctx.Done():
				return
			}
		}
	}
}

// SetProcessID records the robot's process id.
func (s *State) SetProcessID(ctx context.Context, runID, workerID string, pid int) error {
	return s.store.SetProcessID(ctx, runID, workerID, pid)
}

// CancelRequested says whether a user asked to cancel the run.
func (s *State) CancelRequested(ctx context.Context, runID, _ string) (bool, error) {
	return s.store.CancelRequested(ctx, runID)
}

// AppendRunLogs stores lines (idempotent by seq) and publishes them.
func (s *State) AppendRunLogs(ctx context.Context, runID, workerID string, lines []hub.LogLine) (bool, error) {
	held, err := s.store.AppendRunLogs(ctx, runID, workerID, lines)
	if err != nil || !held {
		return held, err
	}
	if err := s.bus.Publish(ctx, bus.LogTopic(runID), runs.EncodeLogBatch(lines)); err != nil {
		s.log.Debug("publishing log lines failed (viewers catch up from the database)", "run_id", runID, "error", err.Error())
	}
	return true, nil
}

// LastLogSeq returns the last stored seq of a run's log.
func (s *State) LastLogSeq(ctx context.Context, runID, _ string) (int64, error) {
	return s.store.LastLogSeq(ctx, runID)
}

// StoreArtifact stores one output file of a run.
func (s *State) StoreArtifact(_ context.Context, runID, _, name string, size int64, sum string, body io.Reader) (*hub.Artifact, error) {
	if !ValidArtifactName(name) {
		return nil, hub.Errorf(hub.EInvalid, "invalid artifact name %q", name)
	}
	if s.cfg.MaxArtifactBytes > 0 && size > s.cfg.MaxArtifactBytes {
		return nil, hub.Errorf(hub.ETooLarge, "larger than MAX_ARTIFACT_BYTES (%d bytes)", s.cfg.MaxArtifactBytes)
	}
	up, err := s.blobs.Create(s.cfg.MaxArtifactBytes)
	if err != nil {
		return nil, err
	}
	defer up.Abort()
	head := make([]byte, 512)
	n, _ := io.ReadFull(body, head)
	if _, err := up.Write(head[:n]); err != nil {
		return nil, tooLarge(err, s.cfg.MaxArtifactBytes)
	}
	if _, err := io.Copy(up, body); err != nil {
		return nil, fmt.Errorf("store artifact %s: %w", name, tooLarge(err, s.cfg.MaxArtifactBytes))
	}
	if up.Size() != size {
		return nil, hub.Errorf(hub.EInvalid, "artifact %s: %d bytes received, %d announced", name, up.Size(), size)
	}
	got := up.SHA256()
	if sum != "" && got != sum {
		return nil, hub.Errorf(hub.EInvalid, "artifact %s: SHA-256 does not match its content", name)
	}
	key := path.Join("runs", runID, name)
	if err := up.Commit(key, true); err != nil {
		return nil, err
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = http.DetectContentType(head[:n])
	}
	return &hub.Artifact{ID: uuid.NewString(), RunID: runID, Name: path.Base(name), Path: key, Size: up.Size(), ContentType: &ct, SHA256: &got, CreatedAt: s.clock.Now()}, nil
}

func tooLarge(err error, limit int64) error {
	if errors.Is(err, blob.ErrTooLarge) {
		return hub.Errorf(hub.ETooLarge, "larger than MAX_ARTIFACT_BYTES (%d bytes)", limit)
	}
	return err
}

// ValidArtifactName says whether name is a clean relative path inside a
// run ("run.log", "outputs/a.csv", "workspace/x/y.txt").
func ValidArtifactName(name string) bool {
	if name == "" || len(name) > 4096 || path.IsAbs(name) || path.Clean(name) != name {
		return false
	}
	return !slices.Contains(strings.Split(name, "/"), "..") && !strings.ContainsRune(name, 0)
}

// DiscardArtifacts deletes stored artifacts that will not be recorded.
func (s *State) DiscardArtifacts(_ context.Context, _, _ string, arts []hub.Artifact) {
	for _, a := range arts {
		_ = s.blobs.Delete(a.Path)
	}
}

// FinishRun records a run's end, then publishes its last lines and status
// and signals the runs its end made room for.
func (s *State) FinishRun(ctx context.Context, runID, workerID string, res hub.RunResult, lines []hub.LogLine, arts []hub.Artifact) (bool, error) {
	ok, err := s.store.FinishRun(ctx, runID, workerID, res, lines, arts)
	if err != nil || !ok {
		return ok, err
	}
	if len(lines) > 0 {
		_ = s.bus.Publish(ctx, bus.LogTopic(runID), runs.EncodeLogBatch(lines))
	}
	_ = s.bus.Publish(ctx, bus.LogTopic(runID), runs.EncodeStatus(runID, res.Status))
	s.signalWaiting(ctx, runID)
	return true, nil
}

// FailRun ends a run FAILED, publishes it and signals the runs its end
// made room for.
func (s *State) FailRun(ctx context.Context, runID, _, errMsg, logMsg string) error {
	if err := s.store.FailRun(ctx, runID, errMsg, logMsg, s.clock.Now()); err != nil {
		return err
	}
	_ = s.bus.Publish(ctx, bus.LogTopic(runID), runs.EncodeStatus(runID, hub.RunFailed))
	s.signalWaiting(ctx, runID)
	return nil
}

// signalWaiting signals the runs a limit held back that the end of run
// runID may have made room for (best effort: the reconciler signals them
// again now and then).
func (s *State) signalWaiting(ctx context.Context, runID string) {
	ids, err := s.store.WaitingBehind(ctx, runID, s.clock.Now(), runs.WaitingSignals)
	if err != nil {
		s.log.Warn("finding runs waiting for a slot failed", "run_id", runID, "error", err.Error())
		return
	}
	for _, id := range ids {
		_ = s.bus.Enqueue(ctx, id)
	}
}

// Heartbeat records that a worker is alive.
func (s *State) Heartbeat(ctx context.Context, w hub.Worker) error { return s.store.Heartbeat(ctx, w) }

// WorkerStatus returns a worker's status (PAUSED while an operator paused
// it), so that a paused worker notices when it is resumed.
func (s *State) WorkerStatus(ctx context.Context, id string) (string, error) {
	return s.store.WorkerStatus(ctx, id)
}

// PendingPrepares lists the Python environment prepare requests workerID
// has not answered yet.
func (s *State) PendingPrepares(ctx context.Context, workerID string, since time.Time, limit int) ([]hub.PrepareRequest, error) {
	return s.store.PendingPrepares(ctx, workerID, since, limit)
}

// EnvironmentReady records what a worker has of a version's Python
// environment.
func (s *State) EnvironmentReady(ctx context.Context, e hub.WorkerEnv) error {
	return s.store.EnvironmentReady(ctx, e)
}

// EnvironmentsGone forgets a worker's reports of removed environments.
func (s *State) EnvironmentsGone(ctx context.Context, workerID string, keys []string) error {
	return s.store.EnvironmentsGone(ctx, workerID, keys)
}

// WorkerStopped marks a worker stopped.
func (s *State) WorkerStopped(ctx context.Context, id string, now time.Time) error {
	return s.store.WorkerStopped(ctx, id, now)
}

// ClaimRun claims run runID (or one ahead of it in the queue) for c,
// without touching the bus: for a caller that takes signals itself.
func (s *State) ClaimRun(ctx context.Context, runID string, c executor.Claim) (*hub.Run, bool, error) {
	now := s.clock.Now()
	return s.store.ClaimRun(ctx, runID, c.WorkerID, c.Host, now, now.Add(c.Lease))
}
