package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"automationhub/internal/hubtest"
)

// TestScheduleWireCompatibility makes the previous frontend's schedule
// calls (API.md §B3 and its usage map) and checks the answers: statuses,
// fields, defaults and messages.
func TestScheduleWireCompatibility(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			b := setupAPI(t, dialect)
			id := b.newRobot(t, "scheduled-robot")
			path := "/api/v1/robots/" + id + "/schedule"
			js := "application/json"

			// GET before any schedule: 404 (the frontend shows "no schedule").
			if rec := b.call(t, "viewer", http.MethodGet, path, "", ""); rec.Code != http.StatusNotFound || bodyDetail(t, rec.Body.Bytes()) != "Schedule not found." {
				t.Errorf("GET without schedule: %d %s", rec.Code, rec.Body)
			}
			// Validation order and messages.
			for _, tt := range []struct {
				who, body string
				status    int
				msg       string
			}{
				{"maintainer", `{"cron_expr":"* * * *"}`, 400, "cron_expr must have exactly 5 fields."},
				{"maintainer", `{"cron_expr":"*/0 * * * *"}`, 400, "cron_expr contains invalid field syntax."},
				{"maintainer", `{"cron_expr":"* * * * *","timezone":"Mars/Olympus"}`, 400, `Unknown timezone: "Mars/Olympus". Use an IANA name such as America/Sao_Paulo or UTC.`},
				{"maintainer", `{"cron_expr":"* * * * *","window_start":"08:00"}`, 422, "window_start and window_end must be informed together."},
				{"maintainer", `{"cron_expr":"* * * * *","window_start":"8:00","window_end":"18:00"}`, 422, ""},
				{"maintainer", `{"cron_expr":"* * * * *","max_concurrency":0}`, 422, ""},
				{"maintainer", `{"cron_expr":"* * * * *","retry_count":11}`, 422, ""},
				{"viewer", `{"cron_expr":"* * * * *"}`, 403, "Permissao insuficiente."},
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
			if rec := b.call(t, "maintainer", http.MethodPost, "/api/v1/robots/00000000-0000-0000-0000-000000000000/schedule", js, `{"cron_expr":"* * * * *"}`); rec.Code != 404 || bodyDetail(t, rec.Body.Bytes()) != "Robot not found." {
				t.Errorf("POST for an unknown robot: %d %s", rec.Code, rec.Body)
			}
			if rec := b.call(t, "maintainer", http.MethodPost, "/api/v1/robots/not-a-uuid/schedule", js, `{"cron_expr":"* * * * *"}`); rec.Code != 400 || bodyDetail(t, rec.Body.Bytes()) != "robot_id invalido." {
				t.Errorf("POST with a bad robot id: %d %s", rec.Code, rec.Body)
			}

			// The frontend's create call (TESTCASES T5).
			rec := b.call(t, "maintainer", http.MethodPost, path, js, `{"enabled":true,"cron_expr":"* * * * *","timezone":"America/Sao_Paulo",
				"window_start":null,"window_end":null,"max_concurrency":1,"timeout_seconds":120,"retry_count":1,"retry_backoff_seconds":10}`)
			if rec.Code != http.StatusCreated {
				t.Fatalf("create: %d %s", rec.Code, rec.Body)
			}
			var sc map[string]any
			jsonBody(t, rec.Body.Bytes(), &sc)
			for _, k := range []string{"id", "robot_id", "enabled", "cron_expr", "timezone", "window_start", "window_end", "max_concurrency",
				"timeout_seconds", "retry_count", "retry_backoff_seconds", "created_by", "created_at"} {
				if _, ok := sc[k]; !ok {
					t.Errorf("ScheduleRead lacks %s", k)
				}
			}
			if sc["robot_id"] != id || sc["enabled"] != true || sc["timeout_seconds"] != 120.0 || sc["window_start"] != nil ||
				sc["created_by"] != b.users["maintainer"].ID || sc["overlap_policy"] != "skip" || sc["catchup"] != "latest" {
				t.Errorf("created = %v", sc)
			}
			next, err := time.Parse(time.RFC3339, sc["next_fire_at"].(string))
			if err != nil || next.Second() != 0 || time.Until(next) > time.Minute || !strings.HasSuffix(sc["next_fire_at"].(string), "Z") {
				t.Errorf("next_fire_at = %v", sc["next_fire_at"])
			}
			if rec := b.call(t, "maintainer", http.MethodPost, path, js, `{"cron_expr":"* * * * *"}`); rec.Code != 400 || bodyDetail(t, rec.Body.Bytes()) != "Robot already has a schedule." {
				t.Errorf("second schedule: %d %s", rec.Code, rec.Body)
			}
			// Defaults of a minimal create.
			other := b.newRobot(t, "defaults-robot")
			rec = b.call(t, "maintainer", http.MethodPost, "/api/v1/robots/"+other+"/schedule", js, `{"cron_expr":"@daily"}`)
			var def map[string]any
			jsonBody(t, rec.Body.Bytes(), &def)
			if rec.Code != 201 || def["timezone"] != "America/Sao_Paulo" || def["max_concurrency"] != 1.0 || def["timeout_seconds"] != 3600.0 ||
				def["retry_count"] != 0.0 || def["retry_backoff_seconds"] != 60.0 || def["enabled"] != true || def["cron_expr"] != "@daily" {
				t.Errorf("defaults: %d %v", rec.Code, def)
			}

			// GET as a viewer.
			if rec := b.call(t, "viewer", http.MethodGet, path, js, ""); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"cron_expr":"* * * * *"`) {
				t.Errorf("GET: %d %s", rec.Code, rec.Body)
			}
			// The frontend's PATCH: every field, window_* null when blank.
			rec = b.call(t, "maintainer", http.MethodPatch, path, js, `{"enabled":false,"cron_expr":"30 8 * * 1-5","timezone":"Europe/Lisbon",
				"window_start":null,"window_end":null,"max_concurrency":2,"timeout_seconds":60,"retry_count":2,"retry_backoff_seconds":5}`)
			var up map[string]any
			jsonBody(t, rec.Body.Bytes(), &up)
			if rec.Code != 200 || up["enabled"] != false || up["cron_expr"] != "30 8 * * 1-5" || up["timezone"] != "Europe/Lisbon" ||
				up["max_concurrency"] != 2.0 || up["next_fire_at"] != nil || up["id"] != sc["id"] {
				t.Errorf("PATCH: %d %v", rec.Code, up)
			}
			rec = b.call(t, "maintainer", http.MethodPatch, path, js, `{"enabled":true,"window_start":"08:00","window_end":"09:00"}`)
			jsonBody(t, rec.Body.Bytes(), &up)
			if rec.Code != 200 || up["window_start"] != "08:00" || up["next_fire_at"] == nil {
				t.Errorf("PATCH window: %d %v", rec.Code, up)
			}
			for _, tt := range []struct{ body, msg string }{
				{`{"window_end":null}`, "window_start and window_end must be informed together."},
				{`{"cron_expr":"1 2 3"}`, "cron_expr must have exactly 5 fields."},
				{`{"timezone":"Nowhere/City"}`, `Unknown timezone: "Nowhere/City". Use an IANA name such as America/Sao_Paulo or UTC.`},
			} {
				if rec := b.call(t, "maintainer", http.MethodPatch, path, js, tt.body); rec.Code != 400 || bodyDetail(t, rec.Body.Bytes()) != tt.msg {
					t.Errorf("PATCH %s: %d %s, want 400 %q", tt.body, rec.Code, rec.Body, tt.msg)
				}
			}
			if rec := b.call(t, "maintainer", http.MethodPatch, path, js, `{"enabled":null}`); rec.Code/100 != 4 {
				t.Errorf("PATCH enabled null: %d, want a 4xx", rec.Code)
			}
			// The list and the preview.
			rec = b.call(t, "viewer", http.MethodGet, "/api/v1/schedules", "", "")
			var list []map[string]any
			jsonBody(t, rec.Body.Bytes(), &list)
			if rec.Code != 200 || len(list) != 2 || list[0]["robot_name"] == "" {
				t.Errorf("list: %d %s", rec.Code, rec.Body)
			}
			rec = b.call(t, "viewer", http.MethodGet, "/api/v1/schedules/preview?cron=30+1+*+*+*&timezone=Europe/Lisbon&count=3&lang=pt-BR", "", "")
			var pv struct {
				Description string   `json:"description"`
				Next        []string `json:"next_fire_times"`
				Local       []string `json:"next_fire_times_local"`
			}
			jsonBody(t, rec.Body.Bytes(), &pv)
			if rec.Code != 200 || len(pv.Next) != 3 || len(pv.Local) != 3 || pv.Description != "Às 01:30 todos os dias" {
				t.Errorf("preview: %d %s", rec.Code, rec.Body)
			}
			if rec := b.call(t, "viewer", http.MethodGet, "/api/v1/schedules/preview?cron=*&timezone=UTC", "", ""); rec.Code != 400 {
				t.Errorf("preview of a bad cron: %d %s", rec.Code, rec.Body)
			}
			// DELETE, then 404.
			if rec := b.call(t, "viewer", http.MethodDelete, path, "", ""); rec.Code != 403 {
				t.Errorf("DELETE as viewer: %d", rec.Code)
			}
			rec = b.call(t, "maintainer", http.MethodDelete, path, js, "")
			if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != `{"message":"Schedule removed successfully."}` {
				t.Errorf("DELETE: %d %s", rec.Code, rec.Body)
			}
			if rec := b.call(t, "maintainer", http.MethodDelete, path, js, ""); rec.Code != 404 || bodyDetail(t, rec.Body.Bytes()) != "Schedule not found." {
				t.Errorf("DELETE again: %d %s", rec.Code, rec.Body)
			}
			if rec := b.call(t, "maintainer", http.MethodPatch, path, js, `{"enabled":true}`); rec.Code != 404 {
				t.Errorf("PATCH without schedule: %d", rec.Code)
			}
			// Audit events as the previous backend wrote them.
			var created, updated, deleted int
			for action, n := range map[string]*int{"schedule.created": &created, "schedule.updated": &updated, "schedule.deleted": &deleted} {
				if err := b.db.SQL().QueryRow(rebind(b, `SELECT COUNT(*) FROM audit_events WHERE action = ?`), action).Scan(n); err != nil {
					t.Fatal(err)
				}
			}
			if created != 2 || updated != 2 || deleted != 1 {
				t.Errorf("audit: created %d updated %d deleted %d", created, updated, deleted)
			}
		})
	}
}

func bodyDetail(t testing.TB, body []byte) string {
	t.Helper()
	var d struct {
		Detail any `json:"detail"`
	}
	if err := json.Unmarshal(body, &d); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	s, _ := d.Detail.(string)
	return s
}

func rebind(b apiBundle, q string) string {
	if b.db.Dialect() != "postgres" {
		return q
	}
	return strings.Replace(q, "?", "$1", 1)
}
