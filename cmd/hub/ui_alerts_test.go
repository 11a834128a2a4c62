package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"automationhub/internal/alert"
)

// TestAlertsEndToEnd runs a hub as users do: a robot with an SLA rule
// whose run fails gets a FAILED alert within seconds of the run's end;
// the rule's webhook receives the notice once, signed with the secret an
// administrator reads from the API; the dashboard and the alerts page show
// it, and resolving it from the page closes it.
func TestAlertsEndToEnd(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			var (
				mu     sync.Mutex
				bodies [][]byte
				sigs   []string
			)
			sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				mu.Lock()
				bodies, sigs = append(bodies, b), append(sigs, r.Header.Get(alert.SignatureHeader))
				mu.Unlock()
			}))
			defer sink.Close()
			_, base := startUIHub(t, db, nil)
			api := login(t, base+"/api/v1", "admin", "admin-password-1")
			robot := api.shellRobot("sla-failing", "#!/bin/sh\necho 'portal unreachable' >&2\nexit 3\n")
			hook := sink.URL + "/hooks/ops"
			if code := api.call("POST", "/robots/"+robot+"/sla", "application/json", strings.NewReader(
				`{"expected_run_every_minutes":600,"alert_on_late":false,"notify_channels_json":{"webhook":["`+hook+`"]}}`), nil); code != 201 {
				t.Fatalf("create SLA rule: %d", code)
			}
			var secret struct{ Secret string }
			if code := api.call("GET", "/alerts/webhook-secret?url="+url.QueryEscape(hook), "", nil, &secret); code != 200 || secret.Secret == "" {
				t.Fatalf("webhook secret: %d", code)
			}
			run := api.execute(robot)
			if r := api.waitRun(run, 60*time.Second); r.Status != "FAILED" {
				t.Fatalf("run ended %s, want FAILED", r.Status)
			}
			ended := time.Now()
			var alerts []struct {
				ID, Type string
				RunID    *string `json:"run_id"`
			}
			for {
				api.call("GET", "/alerts?status=open&limit=100", "", nil, &alerts)
				if len(alerts) > 0 || time.Since(ended) > 30*time.Second {
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
			if len(alerts) != 1 || alerts[0].Type != "FAILED" || alerts[0].RunID == nil || *alerts[0].RunID != run {
				t.Fatalf("open alerts after the failed run: %+v", alerts)
			}
			t.Logf("FAILED alert raised %s after the run ended", time.Since(ended).Round(10*time.Millisecond))
			for {
				mu.Lock()
				n := len(bodies)
				mu.Unlock()
				if n > 0 || time.Since(ended) > 30*time.Second {
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
			mu.Lock()
			if len(bodies) != 1 || sigs[0] != alert.Sign([]byte(secret.Secret), bodies[0]) || !strings.Contains(string(bodies[0]), run) {
				t.Errorf("webhook got %d notices (signature ok: %v)", len(bodies), len(bodies) == 1 && sigs[0] == alert.Sign([]byte(secret.Secret), bodies[0]))
			}
			mu.Unlock()

			ui := uiLogin(t, base, "admin", "admin-password-1")
			code, body := ui.get("/dashboard")
			if code != 200 || !strings.Contains(body, "<svg") || !strings.Contains(body, "sla-failing") || !strings.Contains(body, "Open alerts") {
				t.Errorf("dashboard: %d\n%s", code, body)
			}
			if code, body := ui.get("/dashboard?days=30"); code != 200 || !strings.Contains(body, "30 days") {
				t.Errorf("dashboard 30 days: %d", code)
			}
			code, body = ui.get("/alerts")
			if code != 200 || !strings.Contains(body, `data-type="FAILED"`) || !strings.Contains(body, "portal unreachable") && !strings.Contains(body, "failed") {
				t.Fatalf("alerts page: %d\n%s", code, body)
			}
			if !strings.Contains(body, `id="notices"`) || !strings.Contains(body, `data-status="SENT"`) {
				t.Errorf("alerts page does not show the delivered notice")
			}
			code, body = ui.post("/alerts/"+alerts[0].ID+"/resolve", url.Values{"next": {"/alerts"}})
			if code != 200 || strings.Contains(body, `data-alert="`+alerts[0].ID+`"`) {
				t.Errorf("after resolve the open list still shows the alert: %d", code)
			}
			if code, body := ui.get("/alerts?status=resolved&type=FAILED"); code != 200 || !strings.Contains(body, `data-alert="`+alerts[0].ID+`"`) {
				t.Errorf("resolved filter: %d", code)
			}
			var m string
			if resp, err := http.Get(base + "/metrics"); err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				m = string(b)
			}
			for _, want := range []string{`hub_alerts_open{type="FAILED"} 0`, `hub_notifications{channel="webhook",status="SENT"} 1`} {
				if !strings.Contains(m, want) {
					t.Errorf("metrics lack %s", want)
				}
			}
		})
	}
}

// TestUISLATab drives a robot's SLA tab as a browser without JavaScript:
// create a rule, see the API's message for an incomplete one, change it.
func TestUISLATab(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			_, base := startUIHub(t, db, nil)
			api := login(t, base+"/api/v1", "admin", "admin-password-1")
			ui := uiLogin(t, base, "admin", "admin-password-1")
			robot := api.shellRobot("ui-sla", "#!/bin/sh\necho ok\n")
			code, body := ui.get("/robots/" + robot)
			if code != 200 || !strings.Contains(body, `href="/robots/`+robot+`/sla"`) {
				t.Fatalf("robot page has no SLA tab: %d", code)
			}
			code, body = ui.get("/robots/" + robot + "/sla")
			if code != 200 || !strings.Contains(body, `id="no-sla"`) || !strings.Contains(body, `name="expected_daily_time"`) {
				t.Fatalf("SLA tab without a rule: %d\n%s", code, body)
			}
			form := url.Values{"expected_run_every_minutes": {""}, "expected_daily_time": {""}, "late_after_minutes": {"15"},
				"alert_on_failure": {"on"}, "email": {"ops@example.com\n\n"}}
			code, body = ui.post("/robots/"+robot+"/sla", form)
			if code != 400 || !strings.Contains(body, `id="sla-error"`) || !strings.Contains(body, "ops@example.com") {
				t.Errorf("incomplete rule: %d\n%s", code, body)
			}
			form.Set("expected_daily_time", "08:30")
			code, body = ui.post("/robots/"+robot+"/sla", form)
			if code != 200 || !strings.Contains(body, `id="sla-saved"`) || !strings.Contains(body, `name="exists" value="1"`) {
				t.Fatalf("save rule: %d\n%s", code, body)
			}
			form.Set("exists", "1")
			form.Set("max_run_minutes", "45")
			if code, body = ui.post("/robots/"+robot+"/sla", form); code != 200 || !strings.Contains(body, `value="45"`) {
				t.Errorf("change rule: %d", code)
			}
			// Default channels on the alerts page (administrators).
			if code, body := ui.post("/alerts/channels", url.Values{"email": {"not-an-address"}}); code != 400 || !strings.Contains(body, `id="channels-error"`) ||
				!strings.Contains(body, "not-an-address") {
				t.Errorf("bad default channel: %d", code)
			}
			if code, body := ui.post("/alerts/channels", url.Values{"email": {"oncall@example.com"}, "slack": {"https://hooks.slack.com/services/T/B/x"}}); code != 200 ||
				!strings.Contains(body, `id="channels-saved"`) || !strings.Contains(body, "oncall@example.com") {
				t.Errorf("save default channels: %d", code)
			}
			var rule struct {
				ExpectedDailyTime *string `json:"expected_daily_time"`
				AlertOnLate       bool    `json:"alert_on_late"`
				MaxRunMinutes     *int    `json:"max_run_minutes"`
				Channels          struct {
					Email []string `json:"email"`
				} `json:"notify_channels_json"`
			}
			if code := api.call("GET", "/robots/"+robot+"/sla", "", nil, &rule); code != 200 || rule.ExpectedDailyTime == nil ||
				*rule.ExpectedDailyTime != "08:30" || rule.AlertOnLate || rule.MaxRunMinutes == nil || *rule.MaxRunMinutes != 45 ||
				len(rule.Channels.Email) != 1 {
				t.Errorf("API rule after the form: %d %+v", code, rule)
			}
		})
	}
}
