package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"automationhub/internal/config"
	"automationhub/internal/hubtest"
)

// TestWorkerKilledMidRun kills a real `hub worker` process with SIGKILL while
// its robot runs: the run must end FAILED ("worker lost") within twice
// WORKER_STALE_SECONDS, the robot must not survive its worker, and the run must
// not be executed again.
func TestWorkerKilledMidRun(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("uses SIGKILL and Linux's parent-death signal")
	}
	if testing.Short() {
		t.Skip("builds the binary and waits for a lease to expire")
	}
	db := hubtest.DatabaseConfig(t, config.Postgres)
	client, prefix := hubtest.Redis(t)
	redisURL := "redis://" + client.Options().Addr + "/0"
	artifacts := filepath.Join(t.TempDir(), "artifacts")
	vars := map[string]string{"DATABASE_URL": db.DSN, "REDIS_URL": redisURL, "REDIS_QUEUE_NAME": prefix + "q", "REDIS_PUBSUB_PREFIX": prefix + "c",
		"ARTIFACTS_ROOT": artifacts, "WORKER_STALE_SECONDS": "10", "DEFAULT_ADMIN_PASSWORD": "admin-password-1", "SECRET_KEY": strings.Repeat("s", 40),
		"ENCRYPTION_KEY": testEncryptionKey}
	m, stop := startMain(t, "serve", vars)
	defer stop()

	worker := exec.Command(hubBinary(t), "worker")
	worker.Dir = t.TempDir()
	worker.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + worker.Dir, "HUB_DATA_DIR=" + filepath.Join(worker.Dir, "data"), "LOG_LEVEL=WARN"}
	for k, v := range vars {
		worker.Env = append(worker.Env, k+"="+v)
	}
	if err := worker.Start(); err != nil {
		t.Fatal(err)
	}
	defer worker.Process.Kill()

	c := login(t, "http://"+m.Addr.String()+"/api/v1", "admin", "admin-password-1")
	// The robot may write only its run folder: it prints its pid instead.
	robot := c.shellRobot("doomed", "#!/bin/sh\necho pid=$$\necho working\nexec sleep 120\n")
	var run runView
	c.call("POST", "/runs/"+robot+"/execute", "application/json", strings.NewReader(`{}`), &run)
	deadline := time.Now().Add(30 * time.Second)
	var pid string
	for {
		c.call("GET", "/runs/"+run.RunID, "", nil, &run)
		msgs := c.logMessages(run.RunID)
		if run.Status == "RUNNING" && len(msgs) > 1 && msgs[len(msgs)-1] == "working" {
			pid = strings.TrimPrefix(msgs[len(msgs)-2], "pid=")
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("run never started: %s", run.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := worker.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	worker.Wait()
	killed := time.Now()
	run = c.waitRun(run.RunID, 20*time.Second)
	t.Logf("run failed %v after the worker was killed", time.Since(killed).Round(100*time.Millisecond))
	if run.Status != "FAILED" || run.ErrorMessage == nil || !strings.Contains(*run.ErrorMessage, "worker lost") {
		t.Errorf("run = %s %v, want FAILED worker lost", run.Status, run.ErrorMessage)
	}
	if exec.Command("kill", "-0", pid).Run() == nil {
		t.Errorf("robot process %s survived its worker", pid)
	}
	started := 0
	for _, m := range c.logMessages(run.RunID) {
		if m == "Execution started." {
			started++
		}
	}
	if started != 1 {
		t.Errorf("run started %d times", started)
	}
}
