package main

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"automationhub/internal/hubtest"
)

// TestRobotRunsThroughTheWholeHub drives the all-in-one hub over HTTP only:
// log in, register a robot, publish a package, run it, read its log.
func TestRobotRunsThroughTheWholeHub(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the robot is a shell script")
	}
	for _, vars := range []map[string]string{
		{"DEFAULT_ADMIN_PASSWORD": "admin-password-1"},
		{"DEFAULT_ADMIN_PASSWORD": "admin-password-1", "REDIS_URL": "redis"}, // Redis bus when available
	} {
		name := "embedded"
		if vars["REDIS_URL"] != "" {
			name = "redis"
			client, prefix := hubtest.Redis(t)
			vars["REDIS_URL"] = "redis://" + client.Options().Addr + "/0"
			vars["REDIS_QUEUE_NAME"], vars["REDIS_PUBSUB_PREFIX"] = prefix+"q", prefix+"c"
		}
		t.Run(name, func(t *testing.T) {
			m, stop := startMain(t, "all", vars)
			defer stop()
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
			if code := call("POST", "/robots", "application/json", strings.NewReader(`{"name":"hello-robot","initial_version":{"version":"0.1.0"}}`), &robot); code != 200 {
				t.Fatalf("create robot: %d", code)
			}
			var pkg bytes.Buffer
			zw := zip.NewWriter(&pkg)
			h := &zip.FileHeader{Name: "run.sh", Method: zip.Deflate}
			h.SetMode(0o755)
			w, _ := zw.CreateHeader(h)
			w.Write([]byte("#!/bin/sh\necho \"hello $1\"\n"))
			zw.Close()
			var form bytes.Buffer
			mw := multipart.NewWriter(&form)
			mw.WriteField("version", "1.0.0")
			mw.WriteField("channel", "stable")
			mw.WriteField("entrypoint_type", "EXE")
			mw.WriteField("entrypoint_path", "run.sh")
			fw, _ := mw.CreateFormFile("artifact", "hello.zip")
			fw.Write(pkg.Bytes())
			mw.Close()
			if code := call("POST", "/robots/"+robot.ID+"/versions/publish", mw.FormDataContentType(), &form, nil); code != 201 {
				t.Fatalf("publish: %d", code)
			}
			var run struct {
				RunID  string `json:"run_id"`
				Status string `json:"status"`
			}
			if code := call("POST", "/runs/"+robot.ID+"/execute", "application/json", strings.NewReader(`{"runtime_arguments":["world"]}`), &run); code != 202 {
				t.Fatalf("execute: %d", code)
			}
			deadline := time.Now().Add(30 * time.Second)
			for run.Status != "SUCCESS" {
				if time.Now().After(deadline) {
					t.Fatalf("run still %s", run.Status)
				}
				time.Sleep(100 * time.Millisecond)
				call("GET", "/runs/"+run.RunID, "", nil, &run)
				if run.Status == "FAILED" || run.Status == "CANCELED" {
					t.Fatalf("run ended %s", run.Status)
				}
			}
			var lines []struct {
				Seq     int64  `json:"seq"`
				Message string `json:"message"`
			}
			call("GET", "/runs/"+run.RunID+"/logs?limit=100", "", nil, &lines)
			var msgs []string
			for _, l := range lines {
				msgs = append(msgs, l.Message)
			}
			joined := strings.Join(msgs, "\n")
			if !strings.Contains(joined, "hello world") || msgs[len(msgs)-1] != "Execution finished successfully." {
				t.Errorf("log:\n%s", joined)
			}
			// The API's /metrics shows the run, computed from the database and from the worker.
			resp, err = http.Get("http://" + m.Addr.String() + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			text, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, want := range []string{`hub_runs{status="SUCCESS"} 1`, `hub_runs_finished_total{status="SUCCESS"} 1`, "hub_queue_depth 0",
				`hub_workers{state="alive"} 1`, "hub_run_duration_seconds_count 1"} {
				if !strings.Contains(string(text), want) {
					t.Errorf("/metrics lacks %q", want)
				}
			}
		})
	}
}
