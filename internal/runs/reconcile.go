package runs

import (
	"context"
	"fmt"
	"sync"
	"time"

	"automationhub/internal/bus"
)

// Reconciler repairs what lost signals and dead workers leave behind. Every
// Interval it re-sends the ready signal of PENDING runs older than
// ResendAfter (at most once per ResendAfter per run) and of retries whose
// backoff has just ended, fails RUNNING runs whose lease expired with
// "worker lost" (queueing their retry when their policy allows, and
// signalling the runs their end made room for), and — a safety net for
// lost signals — signals again runs that a limit holds back, each at most
// once per WaitingResendAfter. Runs that wait for a worker with their
// labels (or for a worker that is not paused) are signalled as soon as such
// a worker is online with a free slot, at most once per ResendAfter. Several API processes may run one each:
// every action is idempotent.
type Reconciler struct {
	svc                *Service
	Interval           time.Duration
	ResendAfter        time.Duration
	WaitingResendAfter time.Duration

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
	resent map[string]time.Time
	waited map[string]time.Time
	routed map[string]time.Time
}

// waitingPerPass bounds the held-back runs one pass signals again.
const waitingPerPass = 50

// NewReconciler returns a reconciler for the service's store and bus.
func NewReconciler(svc *Service) *Reconciler {
	return &Reconciler{svc: svc, Interval: 2 * time.Second, ResendAfter: 5 * time.Second, WaitingResendAfter: 30 * time.Second,
		resent: map[string]time.Time{}, waited: map[string]time.Time{}, routed: map[string]time.Time{}}
}

// Start runs the loop in a goroutine that exits when Stop is called or ctx
// ends. Calling Start twice is a no-op.
func (r *Reconciler) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cancel != nil {
		return nil
	}
	ctx, r.cancel = context.WithCancel(ctx)
	r.done = make(chan struct{})
	go func() {
		defer close(r.done)
		t := time.NewTicker(r.Interval)
		defer t.Stop()
		for {
			if err := r.Pass(ctx); err != nil && ctx.Err() == nil {
				r.svc.log.WarnContext(ctx, "reconciler pass failed", "error", err.Error())
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return nil
}

// Stop ends the loop and waits for it; safe before Start.
func (r *Reconciler) Stop(context.Context) error {
	r.mu.Lock()
	cancel, done := r.cancel, r.done
	r.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	<-done
	return nil
}

// Pass does one round of repairs, then folds the run counters.
func (r *Reconciler) Pass(ctx context.Context) error {
	s := r.svc
	now := s.clock.Now()
	expired, err := s.store.ExpiredRuns(ctx, now, 500)
	if err != nil {
		return err
	}
	for _, id := range expired {
		msg := fmt.Sprintf("%s lost: no heartbeat for %s", s.lostKind(ctx, id), s.cfg.StaleAfter)
		if err := s.store.FailRun(ctx, id, msg, "Unexpected failure: "+msg, now); err != nil {
			return err
		}
		s.log.WarnContext(ctx, "run failed: its worker stopped renewing the lease", "run_id", id)
		_ = s.bus.Publish(ctx, bus.LogTopic(id), EncodeStatus(id, "FAILED"))
		s.SignalWaiting(ctx, id)
	}
	pending, err := s.store.StalePendingRuns(ctx, now.Add(-r.ResendAfter), now, 1000)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := make(map[string]time.Time, len(pending))
	for _, id := range pending {
		last, ok := r.resent[id]
		if ok && now.Sub(last) < r.ResendAfter {
			seen[id] = last
			continue
		}
		if err := s.bus.Enqueue(ctx, id); err != nil {
			return fmt.Errorf("resend ready signal: %w", err)
		}
		seen[id] = now
	}
	r.resent = seen // forget runs that are no longer pending
	routable, err := s.store.RoutableRuns(ctx, now, waitingPerPass)
	if err != nil {
		return err
	}
	routed := make(map[string]time.Time, len(routable))
	for _, id := range routable {
		if last, ok := r.routed[id]; ok && now.Sub(last) < r.ResendAfter {
			routed[id] = last
			continue
		}
		if err := s.bus.Enqueue(ctx, id); err != nil {
			return fmt.Errorf("resend ready signal: %w", err)
		}
		routed[id] = now
	}
	r.routed = routed
	waiting, err := s.store.WaitingRuns(ctx, now, waitingPerPass)
	if err != nil {
		return err
	}
	waited := make(map[string]time.Time, len(waiting))
	for _, id := range waiting {
		if last, ok := r.waited[id]; ok && now.Sub(last) < r.WaitingResendAfter {
			waited[id] = last
			continue
		}
		if err := s.bus.Enqueue(ctx, id); err != nil {
			return fmt.Errorf("resend ready signal: %w", err)
		}
		waited[id] = now
	}
	r.waited = waited
	if _, err := s.store.FoldRunCounts(ctx); err != nil {
		return err
	}
	return nil
}

// lostKind names what a run with an expired lease lost: its "agent" (a
// remote agent) or its "worker".
func (s *Service) lostKind(ctx context.Context, runID string) string {
	if s.cfg.Agents == nil {
		return "worker"
	}
	r, err := s.store.RunByID(ctx, runID)
	if err != nil || r.WorkerID == nil || !s.cfg.Agents.IsAgent(ctx, *r.WorkerID) {
		return "worker"
	}
	return "agent"
}
