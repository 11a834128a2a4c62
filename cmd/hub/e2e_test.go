package main

import (
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"automationhub/internal/config"
	"automationhub/internal/hubtest"
)

// TestRobotRunsThroughTheWholeHub drives the all-in-one hub over HTTP only:
// log in, register a robot, publish a package, run it, read its log.
func TestRobotRunsThroughTheWholeHub(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the robot is a shell script")
	}
	for _, name := range []string{"embedded", "redis"} {
		t.Run(name, func(t *testing.T) {
			vars := map[string]string{"DEFAULT_ADMIN_PASSWORD": "admin-password-1"}
			if name == "redis" {
				client, prefix := hubtest.Redis(t)
				vars["REDIS_URL"] = "redis://" + client.Options().Addr + "/0"
				vars["REDIS_QUEUE_NAME"], vars["REDIS_PUBSUB_PREFIX"] = prefix+"q", prefix+"c"
			}
			m, stop := startMain(t, "all", vars)
			defer stop()
			c := login(t, "http://"+m.Addr.String()+"/api/v1", "admin", "admin-password-1")
			robot := c.shellRobot("hello-robot", "#!/bin/sh\necho \"hello $1\"\n")
			var run runView
			if code := c.call("POST", "/runs/"+robot+"/execute", "application/json", strings.NewReader(`{"runtime_arguments":["world"]}`), &run); code != 202 {
				t.Fatalf("execute: %d", code)
			}
			if r := c.waitRun(run.RunID, 30*time.Second); r.Status != "SUCCESS" {
				t.Fatalf("run ended %s", r.Status)
			}
			msgs := c.logMessages(run.RunID)
			if joined := strings.Join(msgs, "\n"); !strings.Contains(joined, "hello world") || msgs[len(msgs)-1] != "Execution finished successfully." {
				t.Errorf("log:\n%s", joined)
			}
			// The operations views see the worker and the run.
			var workers []struct {
				ID, State   string
				Concurrency int `json:"concurrency"`
			}
			if code := c.call("GET", "/workers", "", nil, &workers); code != 200 || len(workers) != 1 || workers[0].State != "alive" {
				t.Errorf("workers = %d %+v", code, workers)
			}
			var ops struct {
				QueueDepth   int64            `json:"queue_depth"`
				WorkersAlive int64            `json:"workers_alive"`
				RunsByStatus map[string]int64 `json:"runs_by_status"`
			}
			if code := c.call("GET", "/ops/status", "", nil, &ops); code != 200 || ops.RunsByStatus["SUCCESS"] != 1 || ops.WorkersAlive != 1 || ops.QueueDepth != 0 {
				t.Errorf("ops status = %d %+v", code, ops)
			}
			// The API's /metrics shows the run, computed from the database and from the worker.
			resp, err := http.Get("http://" + m.Addr.String() + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			text, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, want := range []string{`hub_runs{status="SUCCESS"} 1`, "hub_cleanup_last_success_timestamp_seconds", `hub_runs_finished_total{status="SUCCESS"} 1`, "hub_queue_depth 0",
				`hub_workers{state="alive"} 1`, "hub_run_duration_seconds_count 1"} {
				if !strings.Contains(string(text), want) {
					t.Errorf("/metrics lacks %q", want)
				}
			}
		})
	}
}

// TestAPIRestartMidLoad restarts the API while runs are being requested:
// every run the API accepted (202) is executed exactly once.
func TestAPIRestartMidLoad(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the robot is a shell script")
	}
	db := hubtest.DatabaseConfig(t, config.Postgres)
	client, prefix := hubtest.Redis(t)
	vars := map[string]string{"DATABASE_URL": db.DSN, "REDIS_URL": "redis://" + client.Options().Addr + "/0",
		"REDIS_QUEUE_NAME": prefix + "q", "REDIS_PUBSUB_PREFIX": prefix + "c", "ARTIFACTS_ROOT": t.TempDir(),
		"DEFAULT_ADMIN_PASSWORD": "admin-password-1", "SECRET_KEY": strings.Repeat("s", 40)}
	api, stopAPI := startMain(t, "serve", vars)
	_, stopWorker := startMain(t, "worker", vars)
	defer stopWorker()
	c := login(t, "http://"+api.Addr.String()+"/api/v1", "admin", "admin-password-1")
	robot := c.shellRobot("steady", "#!/bin/sh\necho tick\n")
	var accepted []string
	submit := func(c *hubClient, n int) {
		for range n {
			var r runView
			if code := c.call("POST", "/runs/"+robot+"/execute", "application/json", strings.NewReader(`{}`), &r); code == 202 {
				accepted = append(accepted, r.RunID)
			}
		}
	}
	submit(c, 10)
	if err := stopAPI(); err != nil { // the API goes away mid-load
		t.Fatal(err)
	}
	submit(c, 3) // refused: nobody listens
	api2, stopAPI2 := startMain(t, "serve", vars)
	defer stopAPI2()
	c.base = "http://" + api2.Addr.String() + "/api/v1"
	submit(c, 10)
	if len(accepted) != 20 {
		t.Fatalf("accepted %d runs, want 20", len(accepted))
	}
	for _, id := range accepted {
		if r := c.waitRun(id, 60*time.Second); r.Status != "SUCCESS" {
			t.Errorf("run %s ended %s", id, r.Status)
		}
		n := 0
		for _, m := range c.logMessages(id) {
			if m == "Execution started." {
				n++
			}
		}
		if n != 1 {
			t.Errorf("run %s started %d times", id, n)
		}
	}
}
