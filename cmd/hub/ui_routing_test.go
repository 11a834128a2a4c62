package main

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestUIRoutingAndPause edits a robot's required labels on its Schedule
// tab and pauses and resumes the worker from the Operations page.
func TestUIRoutingAndPause(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			_, base := startUIHub(t, db, nil)
			api := login(t, base+"/api/v1", "admin", "admin-password-1")
			ui := uiLogin(t, base, "admin", "admin-password-1")
			robot := api.shellRobot("ui-routed", "#!/bin/sh\necho hi\n")

			code, body := ui.get("/robots/" + robot + "/schedule")
			if code != 200 || !strings.Contains(body, `name="required_labels"`) {
				t.Fatalf("schedule tab has no labels field: %d", code)
			}
			code, body = ui.post("/robots/"+robot+"/limits", url.Values{"required_labels": {"sap labs"}, "retry_count": {"0"}, "retry_backoff_seconds": {"60"}})
			if code != 400 || !strings.Contains(body, "may hold only letters") {
				t.Errorf("bad label: %d", code)
			}
			code, body = ui.post("/robots/"+robot+"/limits", url.Values{"required_labels": {" sap, os=windows ,"}, "retry_count": {"0"}, "retry_backoff_seconds": {"60"}})
			if code != 200 || !strings.Contains(body, `value="os=windows, sap"`) {
				t.Errorf("save labels: %d", code)
			}
			if code, body := ui.get("/robots/" + robot); code != 200 || !strings.Contains(between(body, `id="robot-required-labels"`, "</dd>"), ">os=windows<") {
				t.Errorf("robot page does not show the required labels: %d", code)
			}
			var rv struct {
				RequiredLabels []string `json:"required_labels"`
			}
			if api.call("GET", "/robots/"+robot, "", nil, &rv); !cmp.Equal(rv.RequiredLabels, []string{"os=windows", "sap"}) {
				t.Errorf("required labels after the form = %v", rv.RequiredLabels)
			}

			var workers []workerView
			deadline := time.Now().Add(20 * time.Second)
			for len(workers) == 0 && time.Now().Before(deadline) {
				api.call("GET", "/workers", "", nil, &workers)
				time.Sleep(100 * time.Millisecond)
			}
			if len(workers) != 1 {
				t.Fatalf("workers: %+v", workers)
			}
			wid := workers[0].ID
			code, body = ui.get("/ops")
			if code != 200 || !strings.Contains(body, `action="/ops/workers/`+wid+`/pause"`) {
				t.Fatalf("ops page has no pause button: %d", code)
			}
			code, body = ui.post("/ops/workers/"+wid+"/pause", nil)
			if code != 200 || !strings.Contains(body, `action="/ops/workers/`+wid+`/resume"`) || !strings.Contains(body, ">PAUSED<") {
				t.Errorf("after pause: %d", code)
			}
			code, body = ui.post("/ops/workers/"+wid+"/resume", nil)
			if code != 200 || !strings.Contains(body, `action="/ops/workers/`+wid+`/pause"`) {
				t.Errorf("after resume: %d", code)
			}
			if api.call("GET", "/workers", "", nil, &workers); workers[0].Status != "RUNNING" {
				t.Errorf("worker after resume: %+v", workers[0])
			}
		})
	}
}
