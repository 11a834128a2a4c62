package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"

	"automationhub/internal/hub"
	"automationhub/internal/hubtest"
)

func TestChangeOwnPasswordEndpoint(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			b := setupAPI(t, dialect)
			const path = "/api/v1/auth/password"
			loginAs := func(password string) int {
				return b.call(t, "anonymous", http.MethodPost, "/api/v1/auth/token", "application/x-www-form-urlencoded",
					url.Values{"username": {"operator"}, "password": {password}}.Encode()).Code
			}
			for _, tc := range []struct {
				name, body string
				status     int
				detail     string
			}{
				{"wrong current password", `{"current_password":"nope-nope","new_password":"operator-new-1"}`, 400, "Current password is incorrect."},
				{"short new password", `{"current_password":"password-operator","new_password":"short"}`, 422, ""},
				{"missing current password", `{"new_password":"operator-new-1"}`, 422, ""},
				{"not JSON", `current_password=x`, 400, ""},
			} {
				t.Run(tc.name, func(t *testing.T) {
					rec := b.call(t, "operator", http.MethodPost, path, "application/json", tc.body)
					if rec.Code != tc.status {
						t.Fatalf("status = %d (%s), want %d", rec.Code, rec.Body, tc.status)
					}
					if tc.detail != "" && !strings.Contains(rec.Body.String(), tc.detail) {
						t.Errorf("body = %s, want %q", rec.Body, tc.detail)
					}
				})
			}
			if rec := b.call(t, "operator", http.MethodGet, "/api/v1/auth/me", "", ""); rec.Code != 200 {
				t.Fatalf("a refused change signed the caller out: %d", rec.Code)
			}
			if code := loginAs("password-operator"); code != 200 {
				t.Fatalf("a refused change changed the password: login %d", code)
			}

			rec := b.call(t, "operator", http.MethodPost, path, "application/json", `{"current_password":"password-operator","new_password":"operator-new-1"}`)
			if rec.Code != 200 || rec.Header().Get("Cache-Control") != "no-store" {
				t.Fatalf("change: %d %s (Cache-Control %q)", rec.Code, rec.Body, rec.Header().Get("Cache-Control"))
			}
			var tok struct {
				AccessToken string `json:"access_token"`
				TokenType   string `json:"token_type"`
			}
			jsonBody(t, rec.Body.Bytes(), &tok)
			if rec := b.call(t, "operator", http.MethodGet, "/api/v1/auth/me", "", ""); rec.Code != 401 {
				t.Errorf("old token after the change: %d, want 401", rec.Code)
			}
			b.tokens["operator"] = tok.AccessToken
			if rec := b.call(t, "operator", http.MethodGet, "/api/v1/auth/me", "", ""); rec.Code != 200 || tok.TokenType != "bearer" {
				t.Errorf("fresh token: %d (%q)", rec.Code, tok.TokenType)
			}
			if loginAs("password-operator") != 400 || loginAs("operator-new-1") != 200 {
				t.Error("the login does not use the new password")
			}
		})
	}
}

func TestChangeOwnPasswordRateLimited(t *testing.T) {
	b := setupAPI(t, hubtest.Dialects()[0])
	for range 10 {
		b.call(t, "viewer", http.MethodPost, "/api/v1/auth/password", "application/json", `{"current_password":"guess-guess","new_password":"viewer-new-1"}`)
	}
	rec := b.call(t, "viewer", http.MethodPost, "/api/v1/auth/password", "application/json", `{"current_password":"password-viewer","new_password":"viewer-new-1"}`)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
		t.Errorf("after 10 wrong guesses: %d Retry-After=%q, want 429 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
}

func TestUserDirectoryEndpoint(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			b := setupAPI(t, dialect)
			admin, op := b.users["admin"], b.users["operator"]
			ids := strings.Join([]string{admin.ID, op.ID, uuid.NewString(), admin.ID}, ",")
			// The caller with no role at all may still name users.
			rec := b.call(t, "tagscoped", http.MethodGet, "/api/v1/users/directory?ids="+ids, "", "")
			if rec.Code != 200 {
				t.Fatalf("directory: %d %s", rec.Code, rec.Body)
			}
			var out struct {
				Items []map[string]any `json:"items"`
			}
			jsonBody(t, rec.Body.Bytes(), &out)
			names := map[string]any{}
			for _, it := range out.Items {
				names[it["id"].(string)] = it["username"]
				for k := range it {
					if k != "id" && k != "username" && k != "full_name" {
						t.Errorf("directory entry shows %q", k)
					}
				}
			}
			if len(out.Items) != 2 || names[admin.ID] != "admin" || names[op.ID] != "operator" {
				t.Errorf("directory = %s, want admin and operator", rec.Body)
			}
			many := make([]string, 101)
			for i := range many {
				many[i] = uuid.NewString()
			}
			for _, q := range []string{"ids=not-a-uuid", "ids=" + strings.Join(many, ",")} {
				if rec := b.call(t, "viewer", http.MethodGet, "/api/v1/users/directory?"+q, "", ""); rec.Code != 422 {
					t.Errorf("%.40s: %d, want 422", q, rec.Code)
				}
			}
			if rec := b.call(t, "viewer", http.MethodGet, "/api/v1/users/directory", "", ""); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"items":[]`) {
				t.Errorf("no ids: %d %s", rec.Code, rec.Body)
			}
		})
	}
}

// TestFailedLoginAuditUsesTheClientAddress checks the audited address is
// the one the trusted-proxy rules give: a forwarded-for header from a peer
// that is not a trusted proxy is ignored.
func TestFailedLoginAuditUsesTheClientAddress(t *testing.T) {
	b := setupAPI(t, hubtest.Dialects()[0])
	req := strings.NewReader(url.Values{"username": {"viewer"}, "password": {"wrong-password-9"}}.Encode())
	r, _ := http.NewRequest(http.MethodPost, "/api/v1/auth/token", req)
	r.RemoteAddr = "192.0.2.77:5555"
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("X-Forwarded-For", "203.0.113.9")
	if rec := serve(b, r); rec.Code != 400 {
		t.Fatalf("login: %d", rec.Code)
	}
	events, _, err := b.db.ListAudit(context.Background(), hub.AuditFilter{Action: "auth.login_failed", Page: hub.Page{Limit: 5}})
	if err != nil || len(events) != 1 {
		t.Fatalf("auth.login_failed = %d events, %v", len(events), err)
	}
	e := events[0]
	meta, _ := json.Marshal(e.Metadata)
	if e.IP == nil || *e.IP != "192.0.2.77" || e.Metadata["username"] != "viewer" || strings.Contains(string(meta), "wrong-password") {
		t.Errorf("event: ip %v, metadata %s; want 192.0.2.77, the name and no password", e.IP, meta)
	}
}
