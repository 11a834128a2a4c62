package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"automationhub/internal/hub"
	"automationhub/internal/hubtest"
)

// TestSLAAndAlertsWireCompatibility makes the previous frontend's SLA and
// alert calls (API.md §B4–§B5 and its usage map: the dashboard loads
// GET /alerts?status=open&limit=100) and checks statuses, fields and
// messages.
func TestSLAAndAlertsWireCompatibility(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			b := setupAPI(t, dialect)
			id := b.newRobot(t, "sla-robot")
			path := "/api/v1/robots/" + id + "/sla"
			js := "application/json"

			if rec := b.call(t, "viewer", http.MethodGet, path, "", ""); rec.Code != 404 || bodyDetail(t, rec.Body.Bytes()) != "SLA rule not found." {
				t.Errorf("GET without rule: %d %s", rec.Code, rec.Body)
			}
			for _, tt := range []struct {
				who, body string
				status    int
				msg       string
			}{
				{"maintainer", `{"expected_run_every_minutes":null,"expected_daily_time":null}`, 422, "Provide expected_run_every_minutes or expected_daily_time."},
				{"maintainer", `{"expected_run_every_minutes":0}`, 422, ""},
				{"maintainer", `{"expected_daily_time":"8:00"}`, 422, ""},
				{"maintainer", `{"expected_run_every_minutes":5,"late_after_minutes":721}`, 422, ""},
				{"maintainer", `{"expected_run_every_minutes":5,"notify_channels_json":{"webhook":["ftp://x"]}}`, 400, `notify_channels_json.webhook: "ftp://x" is not an http(s) URL.`},
				{"maintainer", `{"expected_run_every_minutes":5,"notify_channels_json":{"pager":["x"]}}`, 400, `notify_channels_json: unknown channel "pager" (webhook, teams, slack, email).`},
				{"viewer", `{"expected_run_every_minutes":5}`, 403, "Permissao insuficiente."},
			} {
				rec := b.call(t, tt.who, http.MethodPost, path, js, tt.body)
				if rec.Code != tt.status {
					t.Errorf("POST %s: %d %s, want %d", tt.body, rec.Code, rec.Body, tt.status)
					continue
				}
				if tt.msg == "" {
					continue
				}
				if tt.status == 422 {
					if !strings.Contains(rec.Body.String(), tt.msg) || !strings.HasPrefix(rec.Body.String(), `{"detail":[`) {
						t.Errorf("POST %s: %s, want a 422 list with %q", tt.body, rec.Body, tt.msg)
					}
				} else if got := bodyDetail(t, rec.Body.Bytes()); got != tt.msg {
					t.Errorf("POST %s: detail %q, want %q", tt.body, got, tt.msg)
				}
			}
			if rec := b.call(t, "maintainer", http.MethodPost, "/api/v1/robots/00000000-0000-0000-0000-000000000000/sla", js, `{"expected_run_every_minutes":5}`); rec.Code != 404 || bodyDetail(t, rec.Body.Bytes()) != "Robot not found." {
				t.Errorf("POST for an unknown robot: %d %s", rec.Code, rec.Body)
			}

			// The frontend's create call: 0 minutes sent as null, blank time as null.
			rec := b.call(t, "maintainer", http.MethodPost, path, js, `{"expected_run_every_minutes":60,"expected_daily_time":null,
				"late_after_minutes":15,"alert_on_failure":true,"alert_on_late":true,"notify_channels_json":{}}`)
			if rec.Code != http.StatusCreated {
				t.Fatalf("create: %d %s", rec.Code, rec.Body)
			}
			var rule map[string]any
			jsonBody(t, rec.Body.Bytes(), &rule)
			for _, k := range []string{"id", "robot_id", "expected_run_every_minutes", "expected_daily_time", "late_after_minutes", "alert_on_failure",
				"alert_on_late", "notify_channels_json", "created_by", "created_at", "updated_at"} {
				if _, ok := rule[k]; !ok {
					t.Errorf("SlaRuleRead lacks %s", k)
				}
			}
			if rule["robot_id"] != id || rule["expected_run_every_minutes"] != 60.0 || rule["expected_daily_time"] != nil || rule["late_after_minutes"] != 15.0 {
				t.Errorf("created rule = %v", rule)
			}
			if ch, ok := rule["notify_channels_json"].(map[string]any); !ok || len(ch) != 0 {
				t.Errorf("notify_channels_json = %v, want {}", rule["notify_channels_json"])
			}
			if rec := b.call(t, "maintainer", http.MethodPost, path, js, `{"expected_run_every_minutes":60}`); rec.Code != 400 || bodyDetail(t, rec.Body.Bytes()) != "Robot already has an SLA rule." {
				t.Errorf("second create: %d %s", rec.Code, rec.Body)
			}
			if n := countAudit(t, b, "sla.created"); n != 1 {
				t.Errorf("sla.created events = %d", n)
			}

			// PATCH: merged check (400), explicit nulls, channels.
			if rec := b.call(t, "maintainer", http.MethodPatch, path, js, `{"expected_run_every_minutes":null}`); rec.Code != 400 || bodyDetail(t, rec.Body.Bytes()) != "Provide expected_run_every_minutes or expected_daily_time." {
				t.Errorf("PATCH clearing both: %d %s", rec.Code, rec.Body)
			}
			if rec := b.call(t, "maintainer", http.MethodPatch, path, js, `{"late_after_minutes":null}`); rec.Code != 422 {
				t.Errorf("PATCH null late_after_minutes: %d %s", rec.Code, rec.Body)
			}
			rec = b.call(t, "maintainer", http.MethodPatch, path, js, `{"expected_run_every_minutes":null,"expected_daily_time":"08:30",
				"notify_channels_json":{"teams":["https://example.webhook.office.com/x"],"email":["ops@example.com"]},"max_run_minutes":90}`)
			if rec.Code != 200 {
				t.Fatalf("PATCH: %d %s", rec.Code, rec.Body)
			}
			jsonBody(t, rec.Body.Bytes(), &rule)
			if rule["expected_run_every_minutes"] != nil || rule["expected_daily_time"] != "08:30" || rule["max_run_minutes"] != 90.0 ||
				!strings.Contains(rec.Body.String(), `"email":["ops@example.com"]`) {
				t.Errorf("patched rule = %s", rec.Body)
			}
			if rec := b.call(t, "viewer", http.MethodGet, path, "", ""); rec.Code != 200 {
				t.Errorf("GET: %d %s", rec.Code, rec.Body)
			}
			if n := countAudit(t, b, "sla.updated"); n != 1 {
				t.Errorf("sla.updated events = %d", n)
			}

			// Alerts: the dashboard's call, filters, resolve.
			robot := id
			ctx := context.Background()
			now := time.Now().UTC().Truncate(time.Microsecond)
			if _, err := b.db.ApplyBreaches(ctx, now, []hub.Breach{
				{Type: hub.AlertLate, Subject: robot, RobotID: &robot, Severity: hub.SeverityWarn, Message: "Robot " + robot + " is late based on configured SLA.",
					Metadata: map[string]any{"late_after_minutes": 15}},
				{Type: hub.AlertWorkerDown, Subject: "w1", Severity: hub.SeverityCritical, Message: "Worker heartbeat is stale."},
			}, nil); err != nil {
				t.Fatal(err)
			}
			// The old dashboard loads these three together (sending a JSON
			// content type even on GET); one failing broke the whole page.
			for _, p := range []string{"/api/v1/robots", "/api/v1/runs", "/api/v1/alerts?status=open&limit=100"} {
				if rec := b.call(t, "viewer", http.MethodGet, p, js, ""); rec.Code != 200 {
					t.Errorf("dashboard call GET %s: %d %s", p, rec.Code, rec.Body)
				}
			}
			rec = b.call(t, "viewer", http.MethodGet, "/api/v1/alerts?status=open&limit=100", "", "")
			var alerts []map[string]any
			jsonBody(t, rec.Body.Bytes(), &alerts)
			if rec.Code != 200 || len(alerts) != 2 {
				t.Fatalf("GET /alerts?status=open&limit=100: %d %s", rec.Code, rec.Body)
			}
			for _, k := range []string{"id", "robot_id", "run_id", "type", "severity", "message", "metadata_json", "created_at", "resolved_at"} {
				if _, ok := alerts[0][k]; !ok {
					t.Errorf("AlertEventRead lacks %s", k)
				}
			}
			var late string
			for _, a := range alerts {
				if a["type"] == hub.AlertLate {
					late = a["id"].(string)
				}
			}
			for q, want := range map[string]int{"?type=LATE": 1, "?robot_id=" + robot: 1, "?status=resolved": 0, "": 2} {
				rec := b.call(t, "viewer", http.MethodGet, "/api/v1/alerts"+q, "", "")
				var got []map[string]any
				jsonBody(t, rec.Body.Bytes(), &got)
				if rec.Code != 200 || len(got) != want {
					t.Errorf("GET /alerts%s: %d, %d alerts, want %d", q, rec.Code, len(got), want)
				}
			}
			if rec := b.call(t, "viewer", http.MethodGet, "/api/v1/alerts?status=closed", "", ""); rec.Code != 422 {
				t.Errorf("status=closed: %d", rec.Code)
			}
			// A caller scoped to some robots sees neither other robots' nor system alerts.
			rec = b.call(t, "tagscoped", http.MethodGet, "/api/v1/alerts", "", "")
			jsonBody(t, rec.Body.Bytes(), &alerts)
			if rec.Code != 200 || len(alerts) != 0 {
				t.Errorf("tag-scoped caller sees %d alerts: %s", len(alerts), rec.Body)
			}
			if rec := b.call(t, "operator", http.MethodPost, "/api/v1/alerts/"+late+"/resolve", "", ""); rec.Code != 403 {
				t.Errorf("operator resolve: %d", rec.Code)
			}
			if rec := b.call(t, "admin", http.MethodPost, "/api/v1/alerts/00000000-0000-0000-0000-000000000000/resolve", "", ""); rec.Code != 404 || bodyDetail(t, rec.Body.Bytes()) != "Alert not found." {
				t.Errorf("resolve unknown: %d %s", rec.Code, rec.Body)
			}
			for range 2 { // idempotent
				rec = b.call(t, "admin", http.MethodPost, "/api/v1/alerts/"+late+"/resolve", "", "")
				var a map[string]any
				jsonBody(t, rec.Body.Bytes(), &a)
				if rec.Code != 200 || a["resolved_at"] == nil || a["id"] != late {
					t.Errorf("resolve: %d %s", rec.Code, rec.Body)
				}
			}
			if n := countAudit(t, b, "alert.resolved"); n != 1 {
				t.Errorf("alert.resolved events = %d, want 1", n)
			}
			rec = b.call(t, "viewer", http.MethodGet, "/api/v1/alerts?status=open&limit=100", "", "")
			jsonBody(t, rec.Body.Bytes(), &alerts)
			if len(alerts) != 1 || alerts[0]["type"] != hub.AlertWorkerDown || alerts[0]["robot_id"] != nil {
				t.Errorf("open after resolve: %s", rec.Body)
			}

			// Default channels and webhook secrets (admin).
			if rec := b.call(t, "admin", http.MethodPut, "/api/v1/alerts/channels", js, `{"slack":["https://hooks.slack.com/services/x"]}`); rec.Code != 200 {
				t.Errorf("PUT channels: %d %s", rec.Code, rec.Body)
			}
			if rec := b.call(t, "admin", http.MethodPut, "/api/v1/alerts/channels", js, `{"email":["not an address"]}`); rec.Code != 400 {
				t.Errorf("PUT bad channels: %d %s", rec.Code, rec.Body)
			}
			rec = b.call(t, "admin", http.MethodGet, "/api/v1/alerts/channels", "", "")
			if rec.Code != 200 || !strings.Contains(rec.Body.String(), "hooks.slack.com") {
				t.Errorf("GET channels: %d %s", rec.Code, rec.Body)
			}
			a := b.call(t, "admin", http.MethodGet, "/api/v1/alerts/webhook-secret?url=https://a.example/hook", "", "")
			c := b.call(t, "admin", http.MethodGet, "/api/v1/alerts/webhook-secret?url=https://b.example/hook", "", "")
			if a.Code != 200 || c.Code != 200 || a.Body.String() == c.Body.String() {
				t.Errorf("webhook secrets: %d %s / %d %s", a.Code, a.Body, c.Code, c.Body)
			}
		})
	}
}

func countAudit(t *testing.T, b apiBundle, action string) int {
	t.Helper()
	q := `SELECT COUNT(*) FROM audit_events WHERE action = ?`
	if b.db.Dialect() == "postgres" {
		q = `SELECT COUNT(*) FROM audit_events WHERE action = $1`
	}
	var n int
	if err := b.db.SQL().QueryRow(q, action).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
