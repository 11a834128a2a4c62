package executor

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"automationhub/internal/bus"
	"automationhub/internal/hub"
)

// Passing on runs this worker may not take. A claim refused with
// hub.ErrOtherWorker means another online worker that may take the run (it
// has the labels the robot requires; this one lacks one or is paused) has
// a free slot: the ready signal goes back on the queue at once, so that
// worker gets it without waiting for the reconciler. If this worker keeps
// getting the same signal back (the other worker is busy between runs, or
// died within its heartbeat window), each further pass waits twice as long
// (up to passMaxDelay), and after passLimit passes in passWindow the run
// is left to the reconciler, which signals it again every few seconds: the
// loop always ends and never spins.
const (
	passFirstDelay = 20 * time.Millisecond
	passMaxDelay   = time.Second
	passLimit      = 24
	passWindow     = time.Minute
)

// pausePoll is how often a paused worker checks whether it was resumed.
const pausePoll = time.Second

// routing is the worker's state for runs it may not take.
type routing struct {
	passes passes
	// paused is set when a claim says an operator paused this worker: its
	// slots stop taking ready signals until its status is RUNNING again.
	paused atomic.Bool
}

// statusReader is implemented by run states that can tell whether an
// operator paused this worker (the database); with others a paused worker
// learns it from every claim.
type statusReader interface {
	WorkerStatus(ctx context.Context, id string) (string, error)
}

// refused handles a claim this worker may not make (err wraps
// hub.ErrOtherWorker or hub.ErrWorkerPaused): the signal is acked and, when
// another worker may take the run, sent again. It reports whether err was
// such a refusal.
func (w *Worker) refused(ctx context.Context, d bus.Delivery, err error) bool {
	paused, other := errors.Is(err, hub.ErrWorkerPaused), errors.Is(err, hub.ErrOtherWorker)
	if !paused && !other {
		return false
	}
	_ = w.bus.Ack(ctx, d)
	if paused && !w.routing.paused.Swap(true) {
		w.log.Info("worker paused: running robots finish, no new runs are claimed until it is resumed")
	}
	if other {
		w.passOn(ctx, d.RunID)
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

// passes counts, per run, the signals this worker passed on recently.
type passes struct {
	mu   sync.Mutex
	runs map[string]*passCount
}

type passCount struct {
	n     int
	first time.Time
}

// next records one more pass of runID at now and returns how long to wait
// before signalling it again; ok is false when the run is left to the
// reconciler.
func (p *passes) next(runID string, now time.Time) (wait time.Duration, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.runs == nil {
		p.runs = map[string]*passCount{}
	}
	for id, c := range p.runs {
		if now.Sub(c.first) > passWindow {
			delete(p.runs, id)
		}
	}
	c := p.runs[runID]
	if c == nil {
		c = &passCount{first: now}
		p.runs[runID] = c
	}
	c.n++
	switch {
	case c.n > passLimit:
		return 0, false
	case c.n == 1:
		return 0, true
	}
	return min(passFirstDelay<<min(c.n-2, 10), passMaxDelay), true
}

// passOn sends the ready signal of a run this worker may not take again,
// at once or after the delay of its pass (a goroutine that ends with ctx,
// the worker's background context).
func (w *Worker) passOn(ctx context.Context, runID string) {
	wait, ok := w.routing.passes.next(runID, time.Now())
	if !ok {
		w.log.Debug("run needs another worker; leaving its signal to the reconciler", "run_id", runID)
		return
	}
	if wait == 0 {
		if err := w.bus.Enqueue(ctx, runID); err != nil {
			w.log.Warn("signalling a run for another worker failed; the reconciler will", "run_id", runID, "error", err.Error())
		}
		return
	}
	w.bg.Go(func() {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-t.C:
			_ = w.bus.Enqueue(ctx, runID)
		}
	})
}
