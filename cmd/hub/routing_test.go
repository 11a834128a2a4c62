package main

import (
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"automationhub/internal/config"
	"automationhub/internal/hubtest"
)

// workerView is a worker as GET /workers shows it.
type workerView struct {
	ID            string   `json:"id"`
	Hostname      string   `json:"hostname"`
	Status        string   `json:"status"`
	LastHeartbeat string   `json:"last_heartbeat"`
	Version       *string  `json:"version"`
	CreatedAt     string   `json:"created_at"`
	Labels        []string `json:"labels"`
}

// TestLabelsPauseAndResumeOverHTTP starts the real binary as users do
// (hub all --labels …) on each database and drives routing and pause over
// the API, with the calls of the original frontend: the worker shows its
// labels; a robot's required labels are validated and routed on; pausing
// and resuming answer as API.md §B6 says, with their audit events; a run
// queued while the only worker is paused waits, saying why, and starts on
// resume; a run needing labels no worker has waits until the robot's
// requirement changes.
func TestLabelsPauseAndResumeOverHTTP(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("shell robots")
	}
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			env := []string{"ENVIRONMENT=test", "PASSWORD_HASH_COST=4", "HUB_ADDR=127.0.0.1:0", "DEFAULT_ADMIN_PASSWORD=first-admin-password",
				"HUB_WORKER_LABELS=ignored-when-the-flag-is-given"}
			if dialect == config.Postgres {
				env = append(env, "DATABASE_URL="+hubtest.DatabaseConfig(t, config.Postgres).DSN, "ENCRYPTION_KEY="+testEncryptionKey,
					"ARTIFACTS_ROOT="+filepath.Join(t.TempDir(), "artifacts"))
			}
			h := runHubProcess(t, dir, []string{"all", "--labels", "sap, os=linux"}, env...)
			h.URL = h.waitFor(t, "running at ")
			c := login(t, h.URL+"/api/v1", "admin", "first-admin-password")

			var workers []workerView
			if code := c.call("GET", "/workers", "", nil, &workers); code != 200 || len(workers) != 1 ||
				!cmp.Equal(workers[0].Labels, []string{"os=linux", "sap"}) || workers[0].Status != "RUNNING" {
				t.Fatalf("workers = %d %+v", code, workers)
			}
			wid := workers[0].ID

			// Required labels: validated (422, nothing changed), normalized, routed on.
			robot := c.shellRobot("sap-bot", "#!/bin/sh\necho hello\n")
			type robotView struct {
				RequiredLabels []string `json:"required_labels"`
			}
			var rv robotView
			if code := c.call("GET", "/robots/"+robot, "", nil, &rv); code != 200 || rv.RequiredLabels == nil || len(rv.RequiredLabels) != 0 {
				t.Fatalf("new robot = %d %#v", code, rv)
			}
			for _, bad := range []string{`{"required_labels":["sap labs"]}`, `{"required_labels":["sap",""]}`, `{"required_labels":null}`,
				`{"required_labels":["` + strings.Repeat("x", 65) + `"]}`, `{"required_labels":"sap"}`} {
				var e map[string]any
				if code := c.call("PATCH", "/robots/"+robot, "application/json", strings.NewReader(bad), &e); code != 422 || fmt.Sprint(e["detail"]) == "" || e["detail"] == nil {
					t.Errorf("PATCH %s = %d %v, want 422", bad, code, e)
				}
			}
			if code := c.call("PATCH", "/robots/"+robot, "application/json", strings.NewReader(`{"required_labels":[" sap ","os=linux","sap"]}`), &rv); code != 200 ||
				!cmp.Equal(rv.RequiredLabels, []string{"os=linux", "sap"}) {
				t.Fatalf("PATCH required_labels = %d %v", code, rv.RequiredLabels)
			}
			var run runView
			if code := c.call("POST", "/runs/"+robot+"/execute", "application/json", strings.NewReader(`{}`), &run); code != 202 {
				t.Fatalf("execute: %d", code)
			}
			if r := c.waitRun(run.RunID, 30*time.Second); r.Status != "SUCCESS" {
				t.Fatalf("run on the labelled worker ended %s", r.Status)
			}

			// The original frontend's pause: POST without a body.
			var w map[string]any
			if code := c.call("POST", "/workers/"+wid+"/pause", "", nil, &w); code != 200 || w["status"] != "PAUSED" || w["id"] != wid {
				t.Fatalf("pause = %d %v", code, w)
			}
			for _, k := range []string{"id", "hostname", "status", "last_heartbeat", "version", "created_at"} {
				if _, ok := w[k]; !ok {
					t.Errorf("WorkerRead lacks %q: %v", k, w)
				}
			}
			var ops struct {
				TotalWorkers   int64 `json:"total_workers"`
				WorkersRunning int64 `json:"workers_running"`
				WorkersPaused  int64 `json:"workers_paused"`
			}
			if code := c.call("GET", "/ops/status", "", nil, &ops); code != 200 || ops.WorkersPaused != 1 || ops.WorkersRunning != 0 || ops.TotalWorkers != 1 {
				t.Errorf("ops status while paused = %d %+v", code, ops)
			}
			if code := c.call("POST", "/runs/"+robot+"/execute", "application/json", strings.NewReader(`{}`), &run); code != 202 {
				t.Fatalf("execute: %d", code)
			}
			waitReason(t, c, run.RunID, "no online worker with labels [os=linux sap]")
			if code := c.call("POST", "/workers/"+wid+"/resume", "", nil, &w); code != 200 || w["status"] != "RUNNING" {
				t.Fatalf("resume = %d %v", code, w)
			}
			if r := c.waitRun(run.RunID, 30*time.Second); r.Status != "SUCCESS" {
				t.Fatalf("run after resume ended %s", r.Status)
			}
			var e struct{ Detail string }
			for _, verb := range []string{"pause", "resume"} {
				if code := c.call("POST", "/workers/no-such-worker/"+verb, "", nil, &e); code != 404 || e.Detail != "Worker not found." {
					t.Errorf("%s an unknown worker = %d %q", verb, code, e.Detail)
				}
			}
			var audit struct {
				Items []struct {
					Action   string         `json:"action"`
					Metadata map[string]any `json:"metadata_json"`
				} `json:"items"`
			}
			c.call("GET", "/audit-events?limit=100", "", nil, &audit)
			seen := map[string]map[string]any{}
			for _, ev := range audit.Items {
				if strings.HasPrefix(ev.Action, "worker.") {
					seen[ev.Action] = ev.Metadata
				}
			}
			host := workers[0].Hostname
			if want := map[string]map[string]any{
				"worker.paused":  {"worker_id": wid, "hostname": host, "status": "PAUSED"},
				"worker.resumed": {"worker_id": wid, "hostname": host, "status": "RUNNING"},
			}; !cmp.Equal(seen, want) {
				t.Errorf("audit events = %v, want %v", seen, want)
			}

			// Labels no worker has: the run waits, saying why, until the
			// robot no longer needs them.
			if code := c.call("PATCH", "/robots/"+robot, "application/json", strings.NewReader(`{"required_labels":["desktop"]}`), nil); code != 200 {
				t.Fatalf("PATCH: %d", code)
			}
			if code := c.call("POST", "/runs/"+robot+"/execute", "application/json", strings.NewReader(`{}`), &run); code != 202 {
				t.Fatalf("execute: %d", code)
			}
			waitReason(t, c, run.RunID, "no online worker with labels [desktop]")
			if code := c.call("PATCH", "/robots/"+robot, "application/json", strings.NewReader(`{"required_labels":[]}`), nil); code != 200 {
				t.Fatalf("PATCH: %d", code)
			}
			if r := c.waitRun(run.RunID, 30*time.Second); r.Status != "SUCCESS" {
				t.Fatalf("run after the requirement was lifted ended %s", r.Status)
			}
			h.stop(t)
		})
	}
}

// waitReason waits until a PENDING run shows the waiting reason want.
func waitReason(t *testing.T, c *hubClient, runID, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var r struct {
			Status        string  `json:"status"`
			WaitingReason *string `json:"waiting_reason"`
		}
		c.call("GET", "/runs/"+runID, "", nil, &r)
		if r.Status == "PENDING" && r.WaitingReason != nil && *r.WaitingReason == want {
			return
		}
		if r.Status != "PENDING" || time.Now().After(deadline) {
			t.Fatalf("run %s is %s waiting for %v, want PENDING waiting for %q", runID, r.Status, r.WaitingReason, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestBadWorkerLabelsStopTheStart refuses invalid labels from the flag and
// from the environment before anything starts.
func TestBadWorkerLabelsStopTheStart(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		env  []string
		want string
	}{
		{[]string{"worker", "--labels", "sap labs"}, nil, "--labels: worker labels: label \"sap labs\" may hold only"},
		{[]string{"all", "--labels=a,,b"}, nil, "--labels: worker labels: a label is empty"},
		{[]string{"worker"}, []string{"HUB_WORKER_LABELS=a=b=c"}, "invalid HUB_WORKER_LABELS"},
		{[]string{"serve", "--labels", "sap"}, nil, "unexpected argument"},
	} {
		var stdout, stderr strings.Builder
		env := append([]string{"HUB_DATA_DIR=" + t.TempDir()}, tc.env...)
		if code := run(t.Context(), tc.args, env, &stdout, &stderr); code != exitUsage || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("hub %v = %d, stderr %q; want %d with %q", tc.args, code, stderr.String(), exitUsage, tc.want)
		}
	}
}
