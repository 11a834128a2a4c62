package main

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
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
		"ARTIFACTS_ROOT": artifacts, "WORKER_STALE_SECONDS": "10", "DEFAULT_ADMIN_PASSWORD": "admin-password-1", "SECRET_KEY": strings.Repeat("s", 40)}
	m, stop := startMain(t, "serve", vars)
	defer stop()

	bin := filepath.Join(t.TempDir(), "hub")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	worker := exec.Command(bin, "worker")
	worker.Dir = t.TempDir()
	worker.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + worker.Dir, "HUB_DATA_DIR=" + filepath.Join(worker.Dir, "data"), "LOG_LEVEL=WARN"}
	for k, v := range vars {
		worker.Env = append(worker.Env, k+"="+v)
	}
	if err := worker.Start(); err != nil {
		t.Fatal(err)
	}
	defer worker.Process.Kill()

	base := "http://" + m.Addr.String() + "/api/v1"
	resp, err := http.PostForm(base+"/auth/token", url.Values{"username": {"admin"}, "password": {"admin-password-1"}})
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	call := func(method, path, ct string, body io.Reader, out any) int {
		req, _ := http.NewRequest(method, base+path, body)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if out != nil {
			json.NewDecoder(resp.Body).Decode(out)
		}
		return resp.StatusCode
	}
	var robot struct{ ID string }
	call("POST", "/robots", "application/json", strings.NewReader(`{"name":"doomed","initial_version":{"version":"0.1.0"}}`), &robot)
	pidFile := filepath.Join(t.TempDir(), "robot.pid")
	var pkg bytes.Buffer
	zw := zip.NewWriter(&pkg)
	h := &zip.FileHeader{Name: "run.sh", Method: zip.Deflate}
	h.SetMode(0o755)
	w, _ := zw.CreateHeader(h)
	w.Write([]byte("#!/bin/sh\necho $$ > " + pidFile + "\necho working\nexec sleep 120\n"))
	zw.Close()
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	for k, v := range map[string]string{"version": "1.0.0", "channel": "stable", "entrypoint_type": "EXE", "entrypoint_path": "run.sh"} {
		mw.WriteField(k, v)
	}
	fw, _ := mw.CreateFormFile("artifact", "doomed.zip")
	fw.Write(pkg.Bytes())
	mw.Close()
	if code := call("POST", "/robots/"+robot.ID+"/versions/publish", mw.FormDataContentType(), &form, nil); code != 201 {
		t.Fatalf("publish: %d", code)
	}
	var run struct {
		RunID        string  `json:"run_id"`
		Status       string  `json:"status"`
		ErrorMessage *string `json:"error_message"`
	}
	call("POST", "/runs/"+robot.ID+"/execute", "application/json", strings.NewReader(`{}`), &run)
	deadline := time.Now().Add(30 * time.Second)
	var lines []struct{ Message string }
	for {
		call("GET", "/runs/"+run.RunID, "", nil, &run)
		call("GET", "/runs/"+run.RunID+"/logs", "", nil, &lines)
		b, _ := os.ReadFile(pidFile)
		if run.Status == "RUNNING" && len(b) > 0 && len(lines) > 0 && lines[len(lines)-1].Message == "working" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("run never started: %s", run.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
	pid, _ := os.ReadFile(pidFile)
	if err := worker.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	worker.Wait()
	killed := time.Now()
	for run.Status == "RUNNING" {
		if time.Since(killed) > 20*time.Second {
			t.Fatalf("run still RUNNING %v after its worker died", time.Since(killed))
		}
		time.Sleep(200 * time.Millisecond)
		call("GET", "/runs/"+run.RunID, "", nil, &run)
	}
	t.Logf("run failed %v after the worker was killed", time.Since(killed).Round(100*time.Millisecond))
	if run.Status != "FAILED" || run.ErrorMessage == nil || !strings.Contains(*run.ErrorMessage, "worker lost") {
		t.Errorf("run = %s %v, want FAILED worker lost", run.Status, run.ErrorMessage)
	}
	if exec.Command("kill", "-0", strings.TrimSpace(string(pid))).Run() == nil {
		t.Errorf("robot process %s survived its worker", strings.TrimSpace(string(pid)))
	}
	call("GET", "/runs/"+run.RunID+"/logs", "", nil, &lines)
	started := 0
	for _, l := range lines {
		if l.Message == "Execution started." {
			started++
		}
	}
	if started != 1 {
		t.Errorf("run started %d times", started)
	}
}
