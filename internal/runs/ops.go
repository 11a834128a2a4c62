package runs

import (
	"context"
	"time"

	"automationhub/internal/audit"
	"automationhub/internal/hub"
	"automationhub/internal/rbac"
)

// OpsStore is what the operations views read.
type OpsStore interface {
	Workers(ctx context.Context) ([]hub.Worker, error)
	RunStats(ctx context.Context, now time.Time, staleAfter time.Duration) (hub.RunStats, error)
	// SetWorkerStatus sets a worker's status with the audit event built
	// from the changed row; ENotFound "Worker not found.".
	SetWorkerStatus(ctx context.Context, id, status string, event func(*hub.Worker) *hub.AuditEvent) (*hub.Worker, error)
}

// WorkerView is a worker with its liveness judged from its heartbeat.
type WorkerView struct {
	hub.Worker
	// State is "alive", "stale" (no heartbeat for WORKER_STALE_SECONDS) or "stopped".
	State string
}

// Ops serves the operations views (worker.manage).
type Ops struct {
	store      OpsStore
	staleAfter time.Duration
	clock      hub.Clock
	started    time.Time
}

// NewOps returns the operations views.
func NewOps(store OpsStore, staleAfter time.Duration, clock hub.Clock) *Ops {
	if clock == nil {
		clock = hub.SystemClock{}
	}
	return &Ops{store: store, staleAfter: staleAfter, clock: clock, started: clock.Now()}
}

// Workers lists the workers (worker.manage).
func (o *Ops) Workers(ctx context.Context, p *hub.Principal) ([]WorkerView, error) {
	if !rbac.Allowed(p, hub.PermWorkerManage, nil) {
		return nil, forbidden()
	}
	ws, err := o.store.Workers(ctx)
	if err != nil {
		return nil, err
	}
	now := o.clock.Now()
	out := make([]WorkerView, len(ws))
	for i, w := range ws {
		out[i] = o.view(w, now)
	}
	return out, nil
}

// Status is the fleet at a glance.
type Status struct {
	TotalWorkers, WorkersRunning, WorkersPaused, WorkersAlive, WorkersStale int64
	QueueDepth, RunsRunning, RunsFailedLastHour                             int64
	OldestPendingSeconds                                                    float64
	RunsByStatus                                                            map[string]int64
	UptimeSeconds                                                           int64
}

// Status summarises queue, runs and workers (worker.manage).
func (o *Ops) Status(ctx context.Context, p *hub.Principal) (*Status, error) {
	ws, err := o.Workers(ctx, p)
	if err != nil {
		return nil, err
	}
	now := o.clock.Now()
	st, err := o.store.RunStats(ctx, now, o.staleAfter)
	if err != nil {
		return nil, err
	}
	out := &Status{QueueDepth: st.ByStatus[hub.RunPending], RunsRunning: st.ByStatus[hub.RunRunning], RunsFailedLastHour: st.FailedLastHour,
		OldestPendingSeconds: st.OldestPending, RunsByStatus: st.ByStatus, UptimeSeconds: int64(now.Sub(o.started).Seconds()),
		WorkersAlive: st.WorkersAlive, WorkersStale: st.WorkersStale}
	for _, w := range ws {
		out.TotalWorkers++
		switch w.Status {
		case "RUNNING":
			out.WorkersRunning++
		case "PAUSED":
			out.WorkersPaused++
		}
	}
	return out, nil
}

// Pause stops a worker from claiming new runs (worker.manage); the runs it
// holds finish. Audited as worker.paused.
func (o *Ops) Pause(ctx context.Context, p *hub.Principal, workerID string) (*WorkerView, error) {
	return o.setStatus(ctx, p, workerID, hub.WorkerPaused, "worker.paused")
}

// Resume lets a paused (or stopped) worker claim runs again: its status is
// RUNNING (worker.manage). Audited as worker.resumed. Runs that waited for
// it are signalled by the reconciler.
func (o *Ops) Resume(ctx context.Context, p *hub.Principal, workerID string) (*WorkerView, error) {
	return o.setStatus(ctx, p, workerID, hub.WorkerRunning, "worker.resumed")
}

func (o *Ops) setStatus(ctx context.Context, p *hub.Principal, workerID, status, action string) (*WorkerView, error) {
	if !rbac.Allowed(p, hub.PermWorkerManage, nil) {
		return nil, forbidden()
	}
	now := o.clock.Now()
	w, err := o.store.SetWorkerStatus(ctx, workerID, status, func(w *hub.Worker) *hub.AuditEvent {
		return audit.Event(p, action, "worker", w.ID, map[string]any{"worker_id": w.ID, "hostname": w.Hostname, "status": w.Status}, now)
	})
	if err != nil {
		return nil, err
	}
	v := o.view(*w, now)
	return &v, nil
}

// view judges a worker's liveness from its heartbeat.
func (o *Ops) view(w hub.Worker, now time.Time) WorkerView {
	state := "alive"
	switch {
	case w.Status == hub.WorkerStopped:
		state = "stopped"
	case now.Sub(w.LastHeartbeat) > o.staleAfter:
		state = "stale"
	}
	return WorkerView{Worker: w, State: state}
}
