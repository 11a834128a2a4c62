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
	Pause(ctx context.Context, p *hub.Principal, workerID string) (*runs.WorkerView, error)
	Resume(ctx context.Context, p *hub.Principal, workerID string) (*runs.WorkerView, error)
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
	Labels        []string  `json:"labels" doc:"The worker's labels: it claims only runs whose robot requires none it lacks."`
}

func workerRead(w runs.WorkerView) WorkerRead {
	labels := w.Labels
	if labels == nil {
		labels = []string{}
	}
	return WorkerRead{ID: w.ID, Hostname: w.Hostname, Status: w.Status, State: w.State, LastHeartbeat: w.LastHeartbeat,
		Version: w.Version, Concurrency: w.Concurrency, RunningRuns: w.RunningRuns, StartedAt: w.StartedAt, CreatedAt: w.CreatedAt,
		Labels: labels}
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
			out.Body = append(out.Body, workerRead(w))
		}
		return out, nil
	})

	type workerInput struct {
		WorkerID string `path:"worker_id"`
	}
	type workerOutput struct {
		Body WorkerRead
	}
	for _, op := range []struct {
		id, verb, summary string
		call              func(context.Context, *hub.Principal, string) (*runs.WorkerView, error)
	}{
		{"pause-worker", "pause", "Pause a worker: it finishes its runs and claims no new ones (status PAUSED)",
			func(ctx context.Context, p *hub.Principal, id string) (*runs.WorkerView, error) {
				return s.ops.Pause(ctx, p, id)
			}},
		{"resume-worker", "resume", "Resume a worker: it claims runs again (status RUNNING, also for a STOPPED worker)",
			func(ctx context.Context, p *hub.Principal, id string) (*runs.WorkerView, error) {
				return s.ops.Resume(ctx, p, id)
			}},
	} {
		register(s, protect(huma.Operation{
			OperationID: op.id, Method: http.MethodPost, Path: APIPrefix + "/workers/{worker_id}/" + op.verb, Tags: []string{tagOps},
			Summary: op.summary, Errors: []int{http.StatusNotFound},
		}, string(hub.PermWorkerManage)), false, func(ctx context.Context, in *workerInput) (*workerOutput, error) {
			w, err := op.call(ctx, principalFrom(ctx), in.WorkerID)
			if err != nil {
				return nil, err
			}
			return &workerOutput{Body: workerRead(*w)}, nil
		})
	}

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
