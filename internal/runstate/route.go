package runstate

import (
	"context"
	"sync"
	"time"
)

// Passing on runs a worker may not take. A claim refused with
// hub.ErrOtherWorker means another online worker that may take the run (it
// has the labels the robot requires; this one lacks one or is paused) has
// a free slot: the ready signal goes back on the queue at once, so that
// worker gets it without waiting for the reconciler. If the same signal
// keeps coming back (the other worker is busy between runs, or died within
// its heartbeat window), each further pass waits twice as long (up to
// passMaxDelay), and after passLimit passes in passWindow the run is left
// to the reconciler, which signals it again every few seconds: the loop
// always ends and never spins.
const (
	passFirstDelay = 20 * time.Millisecond
	passMaxDelay   = time.Second
	passLimit      = 24
	passWindow     = time.Minute
)

// passes counts, per run, the signals passed on recently.
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

// PassOn sends the ready signal of a run the claiming worker may not take
// again, at once or after the delay of its pass (a goroutine that ends with
// ctx).
func (s *State) PassOn(ctx context.Context, runID string) {
	wait, ok := s.passes.next(runID, time.Now())
	if !ok {
		s.log.Debug("run needs another worker; leaving its signal to the reconciler", "run_id", runID)
		return
	}
	if wait == 0 {
		if err := s.bus.Enqueue(context.WithoutCancel(ctx), runID); err != nil {
			s.log.Warn("signalling a run for another worker failed; the reconciler will", "run_id", runID, "error", err.Error())
		}
		return
	}
	go func() {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-t.C:
			_ = s.bus.Enqueue(ctx, runID)
		}
	}()
}
