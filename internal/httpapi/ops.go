package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"automationhub/internal/hub"
	"automationhub/internal/runs"
)

// OpsViews is what the operations endpoints need.
type OpsViews interface {
	Workers(ctx context.Context, p *hub.Principal) ([]runs.WorkerView, error)
	Status(ctx context.Context, p *hub.Principal) (*runs.Status, error)
}

// WorkerRead is a worker as its heartbeats describe it.
type WorkerRead struct {
	ID            string    `json:"id"`
	Hostname      string    `json:"hostname"`
	Status        string    `json:"status" enum:"RUNNING,PAUSED,STOPPED"`
	State         string    `json:"state" enum:"alive,stale,stopped" doc:"stale: no heartbeat for WORKER_STALE_SECONDS."`
	LastHeartbeat time.Time `json:"last_heartbeat"`
	Version       *string   `json:"version"`
	Concurrency   int       `json:"concurrency"`
	RunningRuns   int       `json:"running_runs"`
	StartedAt     time.Time `json:"started_at"`
	CreatedAt     time.Time `json:"created_at"`
}

const tagOps = "Operations"

func (s *Server) registerOpsRoutes() {
	type workersOutput struct {
		Body []WorkerRead
	}
	register(s, protect(huma.Operation{
		OperationID: "list-workers", Method: http.MethodGet, Path: APIPrefix + "/workers", Tags: []string{tagOps},
		Summary: "Workers and their heartbeats",
	}, string(hub.PermWorkerManage)), false, func(ctx context.Context, _ *struct{}) (*workersOutput, error) {
		ws, err := s.ops.Workers(ctx, principalFrom(ctx))
		if err != nil {
			return nil, err
		}
		out := &workersOutput{Body: make([]WorkerRead, 0, len(ws))}
		for _, w := range ws {
			out.Body = append(out.Body, WorkerRead{ID: w.ID, Hostname: w.Hostname, Status: w.Status, State: w.State, LastHeartbeat: w.LastHeartbeat,
				Version: w.Version, Concurrency: w.Concurrency, RunningRuns: w.RunningRuns, StartedAt: w.StartedAt, CreatedAt: w.CreatedAt})
		}
		return out, nil
	})

	type statusOutput struct {
		Body struct {
			TotalWorkers         int64            `json:"total_workers"`
			WorkersRunning       int64            `json:"workers_running"`
			WorkersPaused        int64            `json:"workers_paused"`
			WorkersAlive         int64            `json:"workers_alive"`
			WorkersStale         int64            `json:"workers_stale"`
			QueueDepth           int64            `json:"queue_depth" doc:"PENDING runs."`
			RunsRunning          int64            `json:"runs_running"`
			RunsFailedLastHour   int64            `json:"runs_failed_last_hour"`
			OldestPendingSeconds int64            `json:"oldest_pending_seconds"`
			RunsByStatus         map[string]int64 `json:"runs_by_status"`
			UptimeSeconds        int64            `json:"uptime_seconds"`
		}
	}
	register(s, protect(huma.Operation{
		OperationID: "ops-status", Method: http.MethodGet, Path: APIPrefix + "/ops/status", Tags: []string{tagOps},
		Summary: "Queue, runs and workers at a glance",
	}, string(hub.PermWorkerManage)), false, func(ctx context.Context, _ *struct{}) (*statusOutput, error) {
		st, err := s.ops.Status(ctx, principalFrom(ctx))
		if err != nil {
			return nil, err
		}
		out := &statusOutput{}
		b := &out.Body
		b.TotalWorkers, b.WorkersRunning, b.WorkersPaused, b.WorkersAlive, b.WorkersStale = st.TotalWorkers, st.WorkersRunning, st.WorkersPaused, st.WorkersAlive, st.WorkersStale
		b.QueueDepth, b.RunsRunning, b.RunsFailedLastHour = st.QueueDepth, st.RunsRunning, st.RunsFailedLastHour
		b.OldestPendingSeconds, b.RunsByStatus, b.UptimeSeconds = int64(st.OldestPendingSeconds), st.RunsByStatus, st.UptimeSeconds
		return out, nil
	})
}
