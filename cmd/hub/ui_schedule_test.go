package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestUISchedule drives the robot's Schedule tab, the pools page and the
// queue details of the run pages as a browser without JavaScript would.
func TestUISchedule(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			_, base := startUIHub(t, db, nil)
			api := login(t, base+"/api/v1", "admin", "admin-password-1")
			ui := uiLogin(t, base, "admin", "admin-password-1")
			robot := api.shellRobot("ui-scheduled", "#!/bin/sh\necho working\nsleep 30\n")

			code, body := ui.get("/robots/" + robot)
			if code != 200 || !strings.Contains(body, `href="/robots/`+robot+`/schedule"`) {
				t.Fatalf("robot page has no Schedule tab: %d", code)
			}
			code, body = ui.get("/robots/" + robot + "/schedule")
			if code != 200 || !strings.Contains(body, `id="no-schedule"`) || !strings.Contains(body, `name="cron_expr"`) {
				t.Fatalf("schedule tab without a schedule: %d\n%s", code, body)
			}

			// A bad time zone: the form comes back with the message and what was typed.
			form := url.Values{"enabled": {"on"}, "cron_expr": {"30 1 * * *"}, "timezone": {"Europe/Lisboa"}, "overlap_policy": {"queue"},
				"catchup": {"all"}, "catchup_window_seconds": {"600"}, "max_concurrency": {"2"}, "timeout_seconds": {"120"},
				"retry_count": {"2"}, "retry_backoff_seconds": {"30"}}
			code, body = ui.post("/robots/"+robot+"/schedule", form)
			if code != 400 || !strings.Contains(body, "Unknown time zone") || !strings.Contains(body, `value="Europe/Lisboa"`) {
				t.Errorf("bad time zone: %d\n%s", code, body)
			}
			form.Set("timezone", "Europe/Lisbon")
			code, body = ui.post("/robots/"+robot+"/schedule", form)
			if code != 200 || !strings.Contains(body, `id="schedule-saved"`) {
				t.Fatalf("save schedule: %d\n%s", code, body)
			}
			for _, want := range []string{"At 01:30 every day", "Next five times (Europe/Lisbon)", "Queue the run until a slot frees",
				"Run all of them", "2, first after 30 s", `name="exists" value="1"`} {
				if !strings.Contains(body, want) {
					t.Errorf("schedule tab lacks %q", want)
				}
			}
			if n := strings.Count(between(body, `id="next-fires"`, "</ol>"), "<li>"); n != 5 {
				t.Errorf("next fires listed: %d, want 5", n)
			}
			if !strings.Contains(between(body, `id="next-fires"`, "</ol>"), "01:30 (&#43;0") {
				t.Errorf("next fires not in the schedule's time zone:\n%s", between(body, `id="next-fires"`, "</ol>"))
			}
			var sc struct {
				CronExpr, Timezone, OverlapPolicy, Catchup string
				RetryCount                                 int `json:"retry_count"`
			}
			if code := api.call("GET", "/robots/"+robot+"/schedule", "", nil, &sc); code != 200 || sc.Timezone != "Europe/Lisbon" {
				t.Errorf("API schedule: %d %+v", code, sc)
			}
			// In Portuguese.
			req, _ := http.NewRequest("GET", base+"/robots/"+robot+"/schedule", nil)
			req.Header.Set("Accept-Language", "pt-BR")
			if code, body := ui.do(req); code != 200 || !strings.Contains(body, "Às 01:30 todos os dias") || !strings.Contains(body, "Próximos cinco horários") {
				t.Errorf("pt-BR schedule tab: %d", code)
			}

			// Pools page and the robot's limits.
			code, body = ui.get("/admin/pools")
			if code != 200 || !strings.Contains(body, `id="pool-form"`) || !strings.Contains(body, `href="/admin/pools"`) {
				t.Fatalf("pools page: %d", code)
			}
			code, body = ui.post("/admin/pools", url.Values{"name": {"sap-licences"}, "capacity": {"2"}, "description": {"SAP GUI"}})
			if code != 200 || !strings.Contains(body, `data-pool="sap-licences"`) || !strings.Contains(body, "0 of 2 in use") {
				t.Fatalf("create pool: %d\n%s", code, body)
			}
			if code, body := ui.post("/admin/pools", url.Values{"name": {"Bad Name"}, "capacity": {"1"}}); code != 400 || !strings.Contains(body, "A pool name is lower-case") {
				t.Errorf("bad pool name: %d", code)
			}
			ui.get("/robots/" + robot + "/schedule")
			code, body = ui.post("/robots/"+robot+"/limits", url.Values{"max_concurrent_runs": {"1"}, "resource_pools": {"sap-licences"},
				"retry_count": {"1"}, "retry_backoff_seconds": {"15"}})
			if code != 200 || !strings.Contains(body, `value="sap-licences" checked`) {
				t.Fatalf("save limits: %d", code)
			}
			var r struct {
				MaxConcurrentRuns *int     `json:"max_concurrent_runs"`
				ResourcePools     []string `json:"resource_pools"`
				RetryCount        int      `json:"retry_count"`
			}
			api.call("GET", "/robots/"+robot, "", nil, &r)
			if r.MaxConcurrentRuns == nil || *r.MaxConcurrentRuns != 1 || len(r.ResourcePools) != 1 || r.RetryCount != 1 {
				t.Errorf("robot settings = %+v", r)
			}

			// Two runs: the second waits for the first, and says so.
			var first, second queueRun
			api.call("POST", "/runs/"+robot+"/execute", "application/json", strings.NewReader(`{}`), &first)
			deadline := time.Now().Add(30 * time.Second)
			for api.queueRun(first.RunID).Status != "RUNNING" {
				if time.Now().After(deadline) {
					t.Fatal("first run never started")
				}
				time.Sleep(100 * time.Millisecond)
			}
			api.call("POST", "/runs/"+robot+"/execute", "application/json", strings.NewReader(`{}`), &second)
			want := "robot limit reached (1/1 running)"
			for {
				w := api.queueRun(second.RunID).WaitingReason
				if w != nil && *w == want {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("second run: reason %v", w)
				}
				time.Sleep(100 * time.Millisecond)
			}
			if _, body := ui.get("/runs/" + second.RunID); !strings.Contains(body, "Waiting: "+want) {
				t.Errorf("run page lacks the waiting reason")
			}
			if _, body := ui.get("/runs?robot_id=" + robot); !strings.Contains(body, `class="muted waiting-reason">`+want) {
				t.Errorf("runs list lacks the waiting reason")
			}
			code, body = ui.get("/runs?trigger_type=SCHEDULED")
			if code != 200 || !strings.Contains(body, `<option value="SCHEDULED" selected>`) || !strings.Contains(body, "No runs") && strings.Contains(body, second.RunID) {
				t.Errorf("trigger filter: %d", code)
			}
			for _, id := range []string{second.RunID, first.RunID} {
				api.call("POST", "/runs/"+id+"/cancel", "", nil, nil)
			}
			api.waitRun(first.RunID, 30*time.Second)
			// The pool is in use no more and can be deleted once no robot needs it.
			ui.get("/robots/" + robot + "/schedule")
			ui.post("/robots/"+robot+"/limits", url.Values{"retry_count": {"0"}})
			code, body = ui.get("/admin/pools")
			if code != 200 || !strings.Contains(body, "/delete") {
				t.Errorf("pool without robots has no delete button")
			}
			// Remove the schedule.
			ui.get("/robots/" + robot + "/schedule")
			code, body = ui.post("/robots/"+robot+"/schedule/delete", nil)
			if code != 200 || !strings.Contains(body, `id="no-schedule"`) {
				t.Errorf("delete schedule: %d", code)
			}
		})
	}
}

// between returns the text of s after the first from up to the next to.
func between(s, from, to string) string {
	_, rest, ok := strings.Cut(s, from)
	if !ok {
		return ""
	}
	in, _, _ := strings.Cut(rest, to)
	return in
}
