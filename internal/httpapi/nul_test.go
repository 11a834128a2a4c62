package httpapi_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/google/uuid"

	"automationhub/internal/hub"
	"automationhub/internal/hubtest"
)

// TestNULInInputIsRefused sends a NUL character (which PostgreSQL text
// cannot hold) in each kind of input that reaches the database: every
// request is a 400 naming the field, and nothing changes.
func TestNULInInputIsRefused(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			b := setupAPI(t, dialect)
			robot := b.newRobot(t, "nul-robot")
			viewer := b.users["viewer"].ID
			form := func(kv ...string) string {
				v := url.Values{}
				for i := 0; i < len(kv); i += 2 {
					v.Set(kv[i], kv[i+1])
				}
				return v.Encode()
			}
			publishCT, publishBody := multipartBody(t, map[string]string{"version": "1.1.0", "channel": "stable", "changelog": "a\x00b"}, "pkg.zip", robotZip(t))
			const jsonCT, formCT = "application/json", "application/x-www-form-urlencoded"
			for _, tc := range []struct {
				name, who, method, path, ct, body, field string
			}{
				{"login name", "", "POST", "/api/v1/auth/token", formCT, form("username", "ad\x00min", "password", "admin-password"), "username"},
				{"login password", "", "POST", "/api/v1/auth/token", formCT, form("username", "admin", "password", "admin\x00password"), "password"},
				{"own password", "viewer", "POST", "/api/v1/auth/password", jsonCT, `{"current_password":"password-viewer","new_password":"new-pass\u0000word"}`, "new_password"},
				{"new user name", "admin", "POST", "/api/v1/users", jsonCT, `{"username":"nul\u0000user","password":"password-1"}`, "username"},
				{"user full name", "admin", "PATCH", "/api/v1/users/" + viewer, jsonCT, `{"full_name":"Vi\u0000ewer"}`, "full_name"},
				{"grant scope tag", "admin", "POST", "/api/v1/users/" + viewer + "/permissions", jsonCT, `{"resource_type":"robot","action":"robot.run","scope_tag":"fin\u0000ance"}`, "scope_tag"},
				{"audit filter", "admin", "GET", "/api/v1/audit-events?action=auth%00login", "", "", "action"},
				{"robot name", "maintainer", "POST", "/api/v1/robots", jsonCT, `{"name":"nul\u0000robot","initial_version":{"version":"1.0.0"}}`, "name"},
				{"initial version argument", "maintainer", "POST", "/api/v1/robots", jsonCT, `{"name":"nul-robot-2","initial_version":{"version":"1.0.0","arguments":["a\u0000"]}}`, "initial_version.arguments"},
				{"robot description", "maintainer", "PATCH", "/api/v1/robots/" + robot, jsonCT, `{"description":"a\u0000b"}`, "description"},
				{"robot tags", "maintainer", "PATCH", "/api/v1/robots/" + robot + "/tags", jsonCT, `{"tags":["q\u0000a"]}`, "tags"},
				{"publish field", "maintainer", "POST", "/api/v1/robots/" + robot + "/versions/publish", publishCT, string(publishBody), "changelog"},
				{"run environment", "operator", "POST", "/api/v1/runs/" + robot + "/execute", jsonCT, `{"runtime_env":{"A":"b\u0000"}}`, "runtime_env"},
				{"runs filter", "viewer", "GET", "/api/v1/runs?service_id=a%00b", "", "", "service_id"},
				{"domain name", "admin", "POST", "/api/v1/domains", jsonCT, `{"name":"D\u0000P","slug":"dp"}`, "name"},
				{"domain path", "admin", "PATCH", "/api/v1/domains/a%00b", jsonCT, `{"name":"DP"}`, "domain_id"},
				{"service title", "admin", "POST", "/api/v1/services", jsonCT, `{"domain_id":"` + uuid.NewString() + `","robot_id":"` + robot + `","title":"T\u0000"}`, "title"},
				{"service form", "admin", "POST", "/api/v1/services/validate", jsonCT, `{"form_schema_json":{"fields":[{"key":"k\u0000","label":"K","type":"text"}]}}`, "form_schema_json"},
				{"service run value", "admin", "POST", "/api/v1/services/" + uuid.NewString() + "/run", jsonCT, `{"parameters":{"x":"a\u0000"}}`, "parameters"},
				{"artifact download path", "maintainer", "GET", "/api/v1/robots/" + robot + "/versions/a%00b/artifact", "", "", "path"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					before := changes(t, b)
					rec := b.call(t, tc.who, tc.method, tc.path, tc.ct, tc.body)
					var body struct{ Detail string }
					jsonBody(t, rec.Body.Bytes(), &body)
					if want := tc.field + " must not contain NUL characters."; rec.Code != http.StatusBadRequest || body.Detail != want {
						t.Errorf("got %d %q, want 400 %q", rec.Code, body.Detail, want)
					}
					if after := changes(t, b); after != before {
						t.Errorf("audit events and runs went from %v to %v; want no change", before, after)
					}
				})
			}
		})
	}
}

// changes counts what a write leaves behind: audit events and runs.
func changes(t *testing.T, b apiBundle) [2]int {
	t.Helper()
	ctx := context.Background()
	_, events, err := b.db.ListAudit(ctx, hub.AuditFilter{Page: hub.Page{Limit: 1}})
	if err != nil {
		t.Fatal(err)
	}
	var runs int
	if err := b.db.SQL().QueryRowContext(ctx, "SELECT COUNT(*) FROM runs").Scan(&runs); err != nil {
		t.Fatal(err)
	}
	return [2]int{events.Total, runs}
}
