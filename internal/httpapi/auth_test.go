package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"automationhub/internal/hubtest"
)

func jsonBody(t testing.TB, body []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
}

func TestLoginEndpoint(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			b := setupAPI(t, dialect)
			form := func(v url.Values) string { return v.Encode() }

			rec := b.call(t, "anonymous", http.MethodPost, "/api/v1/auth/token", "application/x-www-form-urlencoded",
				form(url.Values{"username": {"viewer"}, "password": {"password-viewer"}, "grant_type": {"password"}}))
			if rec.Code != http.StatusOK {
				t.Fatalf("login: %d %s", rec.Code, rec.Body)
			}
			var tok struct {
				AccessToken string `json:"access_token"`
				TokenType   string `json:"token_type"`
			}
			jsonBody(t, rec.Body.Bytes(), &tok)
			if tok.TokenType != "bearer" || strings.Count(tok.AccessToken, ".") != 2 {
				t.Errorf("token response = %+v", tok)
			}
			if rec.Header().Get("Cache-Control") != "no-store" {
				t.Error("token response is cacheable")
			}

			// Multipart works too.
			mp := "--XX\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nviewer\r\n--XX\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\npassword-viewer\r\n--XX--\r\n"
			if rec := b.call(t, "anonymous", http.MethodPost, "/api/v1/auth/token", "multipart/form-data; boundary=XX", mp); rec.Code != http.StatusOK {
				t.Errorf("multipart login: %d %s", rec.Code, rec.Body)
			}

			tests := []struct {
				name, ct, body string
				want           int
				detail         string
			}{
				{"wrong password", "application/x-www-form-urlencoded", form(url.Values{"username": {"viewer"}, "password": {"nope-nope"}}), 400, "Invalid username or password."},
				{"unknown user", "application/x-www-form-urlencoded", form(url.Values{"username": {"ghost"}, "password": {"nope-nope"}}), 400, "Invalid username or password."},
				{"missing password", "application/x-www-form-urlencoded", form(url.Values{"username": {"viewer"}}), 422, ""},
				{"empty username", "application/x-www-form-urlencoded", form(url.Values{"username": {""}, "password": {"x"}}), 422, ""},
				{"bad grant type", "application/x-www-form-urlencoded", form(url.Values{"username": {"viewer"}, "password": {"password-viewer"}, "grant_type": {"client_credentials"}}), 422, ""},
				{"JSON body", "application/json", `{"username":"viewer","password":"password-viewer"}`, 422, ""},
				{"oversized", "application/x-www-form-urlencoded", "username=" + strings.Repeat("a", 100_000), 400, ""},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					rec := b.call(t, "anonymous", http.MethodPost, "/api/v1/auth/token", tt.ct, tt.body)
					if rec.Code != tt.want {
						t.Fatalf("status = %d (%s), want %d", rec.Code, rec.Body, tt.want)
					}
					var body map[string]any
					jsonBody(t, rec.Body.Bytes(), &body)
					if tt.detail != "" && body["detail"] != tt.detail {
						t.Errorf("detail = %v, want %q", body["detail"], tt.detail)
					}
					if tt.want == 422 {
						if _, ok := body["detail"].([]any); !ok {
							t.Errorf("422 detail = %v, want a list", body["detail"])
						}
					}
				})
			}
		})
	}
}

func TestLoginRateLimitAnswers429(t *testing.T) {
	b := setupAPI(t, hubtest.Dialects()[0])
	body := url.Values{"username": {"operator"}, "password": {"wrong-password"}}.Encode()
	for range 10 {
		if rec := b.call(t, "anonymous", http.MethodPost, "/api/v1/auth/token", "application/x-www-form-urlencoded", body); rec.Code != 400 {
			t.Fatalf("failure answered %d, want 400", rec.Code)
		}
	}
	rec := b.call(t, "anonymous", http.MethodPost, "/api/v1/auth/token", "application/x-www-form-urlencoded",
		url.Values{"username": {"operator"}, "password": {"password-operator"}}.Encode())
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
		t.Errorf("after 10 failures: %d Retry-After=%q, want 429 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
}

func TestMe(t *testing.T) {
	b := setupAPI(t, hubtest.Dialects()[0])
	rec := b.call(t, "tagscoped", http.MethodGet, "/api/v1/auth/me", "", "")
	if rec.Code != 200 {
		t.Fatalf("me: %d %s", rec.Code, rec.Body)
	}
	var me struct {
		User        map[string]any `json:"user"`
		Subject     string         `json:"subject"`
		Role        string         `json:"role"`
		AuthSource  string         `json:"auth_source"`
		Permissions []string       `json:"permissions"`
	}
	jsonBody(t, rec.Body.Bytes(), &me)
	if me.User["username"] != "tagscoped" || me.Role != "None" || me.AuthSource != "local" || me.Subject != b.users["tagscoped"].ID {
		t.Errorf("me = %+v", me)
	}
	if strings.Join(me.Permissions, ",") != "robot.run,run.read" {
		t.Errorf("permissions = %v, want robot.run and run.read", me.Permissions)
	}
	if _, leaked := me.User["hashed_password"]; leaked {
		t.Error("me exposes the password hash")
	}
	for _, h := range []string{"", "Basic abc", "Bearer", "Bearer not-a-token"} {
		r := newReq(http.MethodGet, "/api/v1/auth/me", h)
		rec := serve(b, r)
		if rec.Code != 401 || rec.Header().Get("WWW-Authenticate") != "Bearer" {
			t.Errorf("Authorization %q: %d, want 401 with WWW-Authenticate", h, rec.Code)
		}
	}
}

func TestUsersEndpoints(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			b := setupAPI(t, dialect)
			rec := b.call(t, "admin", http.MethodPost, "/api/v1/users", "application/json",
				`{"username":"newbie","password":"password-newbie","email":"newbie@example.com","full_name":"New Bie"}`)
			if rec.Code != http.StatusCreated {
				t.Fatalf("create: %d %s", rec.Code, rec.Body)
			}
			var u map[string]any
			jsonBody(t, rec.Body.Bytes(), &u)
			for _, k := range []string{"id", "username", "full_name", "email", "is_active", "is_superuser", "auth_source", "created_at", "role"} {
				if _, ok := u[k]; !ok {
					t.Errorf("UserRead lacks %s", k)
				}
			}
			if u["role"] != "Viewer" || u["auth_source"] != "local" || u["is_active"] != true {
				t.Errorf("created user = %v", u)
			}
			id := u["id"].(string)

			for _, tt := range []struct {
				body string
				want int
			}{
				{`{"username":"NEWBIE","password":"password-x"}`, 409},
				{`{"username":"other","password":"password-x","email":"NEWBIE@example.com"}`, 409},
				{`{"username":"ab","password":"password-x"}`, 422},
				{`{"username":"valid-name","password":"short"}`, 422},
				{`{"username":"valid-name"}`, 422},
				{`{"username":`, 400},
			} {
				if rec := b.call(t, "admin", http.MethodPost, "/api/v1/users", "application/json", tt.body); rec.Code != tt.want {
					t.Errorf("create %s: %d (%s), want %d", tt.body, rec.Code, rec.Body, tt.want)
				}
			}

			rec = b.call(t, "admin", http.MethodGet, "/api/v1/users?limit=2", "", "")
			var list []map[string]any
			jsonBody(t, rec.Body.Bytes(), &list)
			if rec.Code != 200 || len(list) != 2 || rec.Header().Get("X-Total-Count") != "7" { // six people and the ci-bot service account
				t.Errorf("list: %d, %d users, total %q; want 2 of 7", rec.Code, len(list), rec.Header().Get("X-Total-Count"))
			}
			if rec := b.call(t, "admin", http.MethodGet, "/api/v1/users?limit=501", "", ""); rec.Code != 422 {
				t.Errorf("limit 501: %d, want 422", rec.Code)
			}

			// PATCH: explicit null clears the e-mail; absent fields stay.
			rec = b.call(t, "admin", http.MethodPatch, "/api/v1/users/"+id, "application/json", `{"email":null,"role":"Operator"}`)
			if rec.Code != 200 {
				t.Fatalf("patch: %d %s", rec.Code, rec.Body)
			}
			jsonBody(t, rec.Body.Bytes(), &u)
			if u["email"] != nil || u["role"] != "Operator" || u["full_name"] != "New Bie" {
				t.Errorf("patched user = %v", u)
			}
			if rec := b.call(t, "admin", http.MethodPatch, "/api/v1/users/not-a-uuid", "application/json", `{}`); rec.Code != 422 {
				t.Errorf("patch malformed id: %d, want 422", rec.Code)
			}
			if rec := b.call(t, "admin", http.MethodPatch, "/api/v1/users/"+id, "application/json", `{"role":"Root"}`); rec.Code != 422 {
				t.Errorf("patch bad role: %d, want 422", rec.Code)
			}

			// Grant, list, revoke over HTTP.
			rec = b.call(t, "admin", http.MethodPost, "/api/v1/users/"+id+"/permissions", "application/json",
				`{"resource_type":"robot","action":"robot.publish","scope_tag":"finance"}`)
			if rec.Code != http.StatusCreated {
				t.Fatalf("grant: %d %s", rec.Code, rec.Body)
			}
			var g map[string]any
			jsonBody(t, rec.Body.Bytes(), &g)
			if g["action"] != "robot.publish" || g["scope_tag"] != "finance" || g["resource_id"] != nil || g["user_id"] != id {
				t.Errorf("grant = %v", g)
			}
			if rec := b.call(t, "admin", http.MethodPost, "/api/v1/users/"+id+"/permissions", "application/json",
				`{"resource_type":"robot","action":"robot.publish","scope_tag":"finance"}`); rec.Code != 409 {
				t.Errorf("duplicate grant: %d, want 409", rec.Code)
			}
			if rec := b.call(t, "admin", http.MethodPost, "/api/v1/users/"+id+"/permissions", "application/json",
				`{"resource_type":"robots","action":"robot.publish"}`); rec.Code != 400 {
				t.Errorf("wrong resource type: %d, want 400", rec.Code)
			}
			rec = b.call(t, "admin", http.MethodGet, "/api/v1/users/"+id+"/permissions", "", "")
			var grants []map[string]any
			jsonBody(t, rec.Body.Bytes(), &grants)
			if len(grants) != 1 {
				t.Fatalf("grants = %v", grants)
			}
			gid := int64(grants[0]["id"].(float64))
			path := "/api/v1/users/" + id + "/permissions/" + jsonNumber(gid)
			if rec := b.call(t, "admin", http.MethodDelete, path, "", ""); rec.Code != 200 {
				t.Errorf("revoke: %d %s", rec.Code, rec.Body)
			}
			if rec := b.call(t, "admin", http.MethodDelete, path, "", ""); rec.Code != 404 {
				t.Errorf("second revoke: %d, want 404", rec.Code)
			}

			// Deactivating the user makes their token fail at once.
			newbieTok := loginToken(t, b, "newbie", "password-newbie")
			b.tokens["newbie"] = newbieTok
			if rec := b.call(t, "newbie", http.MethodGet, "/api/v1/auth/me", "", ""); rec.Code != 200 {
				t.Fatalf("newbie me: %d", rec.Code)
			}
			b.call(t, "admin", http.MethodPatch, "/api/v1/users/"+id, "application/json", `{"is_active":false}`)
			if rec := b.call(t, "newbie", http.MethodGet, "/api/v1/auth/me", "", ""); rec.Code != 401 {
				t.Errorf("deactivated user's token: %d, want 401", rec.Code)
			}

			// The audit trail shows all of it, filtered and paged.
			rec = b.call(t, "admin", http.MethodGet, "/api/v1/audit-events?target_type=user&limit=50", "", "")
			var page struct {
				Items []map[string]any `json:"items"`
				Total int              `json:"total"`
			}
			jsonBody(t, rec.Body.Bytes(), &page)
			if rec.Code != 200 || page.Total < 8 || len(page.Items) != page.Total {
				t.Errorf("audit: %d total=%d items=%d", rec.Code, page.Total, len(page.Items))
			}
			rec = b.call(t, "admin", http.MethodGet, "/api/v1/audit-events?action=permission.granted&since=2000-01-01T00:00:00Z", "", "")
			jsonBody(t, rec.Body.Bytes(), &page)
			if page.Total != 3 { // two tag grants in setup + one here
				t.Errorf("permission.granted events = %d, want 3", page.Total)
			}
			if rec := b.call(t, "admin", http.MethodGet, "/api/v1/audit-events?since=yesterday", "", ""); rec.Code != 422 {
				t.Errorf("bad since: %d, want 422", rec.Code)
			}
		})
	}
}

func jsonNumber(n int64) string { b, _ := json.Marshal(n); return string(b) }

func loginToken(t *testing.T, b apiBundle, user, pw string) string {
	t.Helper()
	rec := b.call(t, "anonymous", http.MethodPost, "/api/v1/auth/token", "application/x-www-form-urlencoded",
		url.Values{"username": {user}, "password": {pw}}.Encode())
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	jsonBody(t, rec.Body.Bytes(), &tok)
	if tok.AccessToken == "" {
		t.Fatalf("login %s: %d %s", user, rec.Code, rec.Body)
	}
	return tok.AccessToken
}

func newReq(method, path, authorization string) *http.Request {
	r, _ := http.NewRequest(method, path, nil)
	r.RemoteAddr = "192.0.2.1:1234"
	if authorization != "" {
		r.Header.Set("Authorization", authorization)
	}
	return r
}
