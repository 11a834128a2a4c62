package executor

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"automationhub/internal/hub"
)

// pausePoll is how often a paused worker checks whether it was resumed.
const pausePoll = time.Second

// routing is the worker's state for runs it may not take. Passing a ready
// signal on to a worker that may take a run is the run state's job
// (runstate); the worker only stops asking for runs while an operator has
// paused it.
type routing struct {
	// paused is set when a claim says an operator paused this worker: its
	// slots stop asking for runs until its status is RUNNING again.
	paused atomic.Bool
}

// statusReader is implemented by run states that can tell whether an
// operator paused this worker (the database); with others a paused worker
// learns it from every claim.
type statusReader interface {
	WorkerStatus(ctx context.Context, id string) (string, error)
}

// noticePaused reports whether err (from NextRun) says an operator paused
// this worker, and then marks it paused.
func (w *Worker) noticePaused(err error) bool {
	if !errors.Is(err, hub.ErrWorkerPaused) {
		return false
	}
	if !w.routing.paused.Swap(true) {
		w.log.Info("worker paused: running robots finish, no new runs are claimed until it is resumed")
	}
	return true
}

// whilePaused blocks a slot while the worker is paused, checking its status
// every pausePoll; it returns false when ctx ends.
func (w *Worker) whilePaused(ctx context.Context) bool {
	for w.routing.paused.Load() {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(pausePoll):
		}
		sr, ok := w.state.(statusReader)
		if !ok {
			w.routing.paused.Store(false) // the next claim tells again
			break
		}
		if st, err := sr.WorkerStatus(ctx, w.cfg.ID); err == nil && st != hub.WorkerPaused && w.routing.paused.Swap(false) {
			w.log.Info("worker resumed: claiming runs again")
		}
	}
	return ctx.Err() == nil
}
