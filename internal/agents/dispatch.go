package agents

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"automationhub/internal/bus"
	"automationhub/internal/executor"
	"automationhub/internal/hub"
)

// claimer claims a run for a worker (runstate.State).
type claimer interface {
	ClaimRun(ctx context.Context, runID string, c executor.Claim) (*hub.Run, bool, error)
	// PassOn signals a run again for another worker that may take it,
	// with a growing delay when it keeps coming back.
	PassOn(ctx context.Context, runID string)
}

// queue is the bus's work queue.
type queue interface {
	Enqueue(ctx context.Context, runID string) error
	Dequeue(ctx context.Context, consumer string) (bus.Delivery, error)
	Ack(ctx context.Context, d bus.Delivery) error
}

// dispatcher hands ready runs to agents waiting in a long poll. One
// goroutine per hub takes ready signals from the bus, and only while some
// agent waits; a waiting agent costs a parked request and a channel, never
// a database connection or a loop of its own. A signal goes to the agent
// that has waited longest, trying one agent per distinct set of labels
// until one may claim the run.
type dispatcher struct {
	q        queue
	state    claimer
	consumer string
	log      *slog.Logger

	mu      sync.Mutex
	waiters []*waiter
	wake    chan struct{}
	// stopDequeue ends the dispatcher's Dequeue when the last agent left.
	stopDequeue context.CancelFunc
	// stopping is closed when the hub shuts down.
	stopping <-chan struct{}
}

type waiter struct {
	claim  executor.Claim
	labels string
	got    chan *hub.Run // the dispatcher's one answer, once it took the waiter
	// gone: the waiter stopped waiting while the dispatcher held it.
	gone bool
}

func newDispatcher(q queue, state claimer, consumer string, log *slog.Logger) *dispatcher {
	return &dispatcher{q: q, state: state, consumer: consumer, log: log, wake: make(chan struct{}, 1)}
}

// Waiting returns how many agents wait for a run.
func (d *dispatcher) Waiting() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.waiters)
}

// wait parks until the dispatcher claimed a run for c, up to max or until
// ctx ends (nil, nil: none).
func (d *dispatcher) wait(ctx context.Context, c executor.Claim, labels []string, max time.Duration) *hub.Run {
	d.mu.Lock()
	stopping := d.stopping
	d.mu.Unlock()
	l := slices.Clone(labels)
	slices.Sort(l)
	w := &waiter{claim: c, labels: strings.Join(l, "\x00"), got: make(chan *hub.Run, 1)}
	d.mu.Lock()
	d.waiters = append(d.waiters, w)
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
	t := time.NewTimer(max)
	defer t.Stop()
	select {
	case r := <-w.got:
		return r
	case <-t.C:
	case <-ctx.Done():
	case <-stopping: // the hub shuts down: answer at once
	}
	d.mu.Lock()
	if i := slices.Index(d.waiters, w); i >= 0 {
		d.waiters = slices.Delete(d.waiters, i, i+1)
		if len(d.waiters) == 0 && d.stopDequeue != nil {
			d.stopDequeue()
		}
		d.mu.Unlock()
		return nil
	}
	w.gone = true
	d.mu.Unlock()
	return <-w.got // the dispatcher is claiming for it: a run claimed is handed over
}

// run takes signals while agents wait; it returns when ctx ends.
func (d *dispatcher) run(ctx context.Context) {
	d.mu.Lock()
	d.stopping = ctx.Done()
	d.mu.Unlock()
	for {
		d.mu.Lock()
		n := len(d.waiters)
		var dctx context.Context
		var cancel context.CancelFunc
		if n > 0 {
			dctx, cancel = context.WithCancel(ctx)
			d.stopDequeue = cancel
		}
		d.mu.Unlock()
		if n == 0 {
			select {
			case <-ctx.Done():
				return
			case <-d.wake:
				continue
			}
		}
		del, err := d.q.Dequeue(dctx, d.consumer)
		d.mu.Lock()
		d.stopDequeue = nil
		d.mu.Unlock()
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if dctx.Err() != nil {
				continue // every agent left
			}
			d.log.Warn("taking work for agents failed", "error", err.Error())
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		d.hand(ctx, del)
	}
}

// hand claims the run of one signal for the first waiting agent that may
// take it.
func (d *dispatcher) hand(ctx context.Context, del bus.Delivery) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	tried := map[string]bool{}
	anyone, passOn := false, false
	for {
		d.mu.Lock()
		var w *waiter
		for i, x := range d.waiters {
			if !tried[x.labels] {
				w = x
				d.waiters = slices.Delete(d.waiters, i, i+1)
				break
			}
		}
		d.mu.Unlock()
		if w == nil {
			break
		}
		anyone = true
		tried[w.labels] = true
		r, ok, err := d.state.ClaimRun(cctx, del.RunID, w.claim)
		if err == nil && ok {
			_ = d.q.Ack(cctx, del)
			if r.ID != del.RunID {
				// A run ahead in the queue took this signal's turn.
				_ = d.q.Enqueue(cctx, del.RunID)
			}
			w.got <- r
			return
		}
		d.giveBack(w)
		if errors.Is(err, hub.ErrOtherWorker) || errors.Is(err, hub.ErrWorkerPaused) {
			// This agent may not take the run (it lacks a label or was
			// paused); another waiting agent may, else the worker the
			// store says can.
			passOn = passOn || errors.Is(err, hub.ErrOtherWorker)
			continue
		}
		if err != nil {
			d.log.Warn("claiming a run for an agent failed; its signal will come again", "run_id", del.RunID, "error", err.Error())
			return // not acked: redelivered
		}
	}
	_ = d.q.Ack(cctx, del)
	switch {
	case !anyone:
		// Every agent left while the signal came: pass it on at once.
		_ = d.q.Enqueue(cctx, del.RunID)
	case passOn:
		d.state.PassOn(ctx, del.RunID)
	}
}

// giveBack returns a waiter the dispatcher took without a run to the head
// of the line, or answers it when it stopped waiting meanwhile.
func (d *dispatcher) giveBack(w *waiter) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if w.gone {
		w.got <- nil
		return
	}
	d.waiters = slices.Insert(d.waiters, 0, w)
}
