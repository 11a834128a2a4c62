package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// adminAPIUser is a user as the API lists it.
type adminAPIUser struct {
	ID       string  `json:"id"`
	Username string  `json:"username"`
	FullName *string `json:"full_name"`
	Email    *string `json:"email"`
	Role     string  `json:"role"`
	IsActive bool    `json:"is_active"`
}

// adminAPIGrant is a grant as the API lists it.
type adminAPIGrant struct {
	ID         int64   `json:"id"`
	Action     string  `json:"action"`
	ResourceID *string `json:"resource_id"`
	ScopeTag   *string `json:"scope_tag"`
}

// adminFindUser finds a user by name through the API (nil when absent).
func adminFindUser(t *testing.T, api *hubClient, username string) *adminAPIUser {
	t.Helper()
	var users []adminAPIUser
	if code := api.call("GET", "/users?limit=500", "", nil, &users); code != 200 {
		t.Fatalf("GET /users: %d", code)
	}
	for i := range users {
		if users[i].Username == username {
			return &users[i]
		}
	}
	return nil
}

func adminUserGrants(t *testing.T, api *hubClient, userID string) []adminAPIGrant {
	t.Helper()
	var grants []adminAPIGrant
	if code := api.call("GET", "/users/"+userID+"/permissions", "", nil, &grants); code != 200 {
		t.Fatalf("GET permissions: %d", code)
	}
	return grants
}

// adminCreateUser creates a user through the API and returns its id.
func adminCreateUser(t *testing.T, api *hubClient, in map[string]any) string {
	t.Helper()
	body, _ := json.Marshal(in)
	var u adminAPIUser
	if code := api.call("POST", "/users", "application/json", strings.NewReader(string(body)), &u); code != 201 {
		t.Fatalf("create user %v: %d", in["username"], code)
	}
	return u.ID
}

func TestUIAdmin(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			_, base := startUIHub(t, db, nil)
			api := login(t, base+"/api/v1", "admin", "admin-password-1")
			ui := uiLogin(t, base, "admin", "admin-password-1")
			admin := adminFindUser(t, api, "admin")
			if admin == nil {
				t.Fatal("no admin user")
			}

			t.Run("pages", func(t *testing.T) {
				for _, tc := range []struct {
					path string
					want []string
				}{
					{"/admin/users", []string{"<h1>Users</h1>", `href="/admin/users/` + admin.ID + `"`, `action="/admin/users"`, `name="password"`, `value="Maintainer"`}},
					{"/admin/users/" + admin.ID, []string{`action="/admin/users/` + admin.ID + `"`, `action="/admin/users/` + admin.ID + `/password"`, `action="/admin/users/` + admin.ID + `/grants"`, `value="robot.read"`, "Permissions"}},
					{"/admin/audit", []string{"Audit trail", `name="actor_user_id"`, `type="date"`}},
					{"/ops", []string{"Operations", `hx-get="/ops?block=live"`, `hx-trigger="every 5s"`, "Runs waiting", "Workers"}},
				} {
					code, body := ui.get(tc.path)
					if code != 200 {
						t.Errorf("GET %s: %d", tc.path, code)
						continue
					}
					for _, w := range tc.want {
						if !strings.Contains(body, w) {
							t.Errorf("GET %s: no %q", tc.path, w)
						}
					}
				}
				if code, _ := ui.get("/admin/users/00000000-0000-0000-0000-000000000000"); code != 404 {
					t.Errorf("unknown user: %d, want 404", code)
				}
				// The other language comes from the catalogue too.
				req, _ := http.NewRequest("GET", base+"/admin/users", nil)
				req.Header.Set("Accept-Language", "pt-BR")
				code, body := ui.do(req)
				if code != 200 || !strings.Contains(body, "Novo usuário") || !strings.Contains(body, "Administrador") {
					t.Errorf("pt-BR users page: %d", code)
				}
			})

			var userID string
			t.Run("create user", func(t *testing.T) {
				ui.get("/admin/users")
				code, body := ui.post("/admin/users", url.Values{"username": {"carla"}, "full_name": {"Carla Souza"},
					"email": {"carla@example.com"}, "role": {"Operator"}, "password": {"carla-password-1"}})
				if code != 200 || !strings.Contains(body, "Carla Souza") || !strings.Contains(body, `/grants"`) {
					t.Fatalf("create: %d\n%s", code, body)
				}
				u := adminFindUser(t, api, "carla")
				if u == nil || u.Role != "Operator" || !u.IsActive || u.FullName == nil || *u.FullName != "Carla Souza" ||
					u.Email == nil || *u.Email != "carla@example.com" {
					t.Fatalf("created user: %+v", u)
				}
				userID = u.ID

				for _, tc := range []struct {
					name   string
					form   url.Values
					status int
					want   []string
				}{
					{"duplicate", url.Values{"username": {"carla"}, "full_name": {"Other Carla"}, "role": {"Viewer"}, "password": {"secret-typed-1"}},
						409, []string{`role="alert"`, `value="Other Carla"`, `value="carla"`}},
					{"short password", url.Values{"username": {"dora"}, "email": {"dora@example.com"}, "role": {"Viewer"}, "password": {"shrt5x7"}},
						422, []string{`class="field has-error"`, `value="dora@example.com"`, `<option value="Viewer" selected>`}},
				} {
					code, body := ui.post("/admin/users", tc.form)
					if code != tc.status {
						t.Errorf("%s: %d, want %d", tc.name, code, tc.status)
					}
					for _, w := range tc.want {
						if !strings.Contains(body, w) {
							t.Errorf("%s: no %q in\n%s", tc.name, w, body)
						}
					}
					if pw := tc.form.Get("password"); strings.Contains(body, pw) {
						t.Errorf("%s: the page shows the typed password", tc.name)
					}
				}
				if adminFindUser(t, api, "dora") != nil {
					t.Error("a user was created with a short password")
				}
			})
			if userID == "" {
				t.Fatal("no user to edit")
			}
			userPage := "/admin/users/" + userID

			t.Run("reset password", func(t *testing.T) {
				ui.get(userPage)
				code, body := ui.post(userPage+"/password", url.Values{"password": {"short"}})
				if code != 422 || !strings.Contains(body, `id="password-error"`) {
					t.Errorf("short password: %d", code)
				}
				if code, _ := ui.post(userPage+"/password", url.Values{"password": {"carla-password-2"}}); code != 200 {
					t.Fatalf("reset: %d", code)
				}
			})

			t.Run("role and active", func(t *testing.T) {
				ui.get(userPage)
				code, body := ui.post(userPage, url.Values{"full_name": {"Carla S."}, "email": {"carla@example.com"}, "role": {"Maintainer"}})
				if code != 200 || !strings.Contains(body, "Carla S.") {
					t.Fatalf("update: %d", code)
				}
				u := adminFindUser(t, api, "carla")
				if u.Role != "Maintainer" || u.IsActive || *u.FullName != "Carla S." {
					t.Errorf("after update: %+v", u)
				}
				// E-mail taken by another user: the API's 409 next to the form.
				adminCreateUser(t, api, map[string]any{"username": "emil", "password": "emil-password-1", "email": "emil@example.com"})
				code, body = ui.post(userPage, url.Values{"full_name": {"Carla S."}, "email": {"emil@example.com"}, "role": {"Maintainer"}, "is_active": {"true"}})
				if code != 409 || !strings.Contains(body, `id="details-error"`) || !strings.Contains(body, `value="emil@example.com"`) {
					t.Errorf("conflicting e-mail: %d", code)
				}
				if u := adminFindUser(t, api, "carla"); u.IsActive || *u.Email != "carla@example.com" {
					t.Errorf("a refused update changed the user: %+v", u)
				}
				if code, _ := ui.post(userPage, url.Values{"full_name": {"Carla S."}, "email": {"carla@example.com"}, "role": {"Maintainer"}, "is_active": {"true"}}); code != 200 {
					t.Errorf("reactivate: %d", code)
				}
				if u := adminFindUser(t, api, "carla"); !u.IsActive {
					t.Error("not reactivated")
				}
			})

			t.Run("grants", func(t *testing.T) {
				var robot struct{ ID string }
				if code := api.call("POST", "/robots", "application/json",
					strings.NewReader(`{"name":"ledger-bot","tags":["finance"],"initial_version":{"version":"0.1.0"}}`), &robot); code/100 != 2 {
					t.Fatalf("create robot: %d", code)
				}
				code, body := ui.get(userPage)
				if code != 200 || !strings.Contains(body, `<option value="`+robot.ID+`">ledger-bot</option>`) {
					t.Fatalf("user page has no robot choice: %d", code)
				}
				for _, tc := range []struct {
					name   string
					form   url.Values
					status int
				}{
					{"robot", url.Values{"action": {"robot.run"}, "scope": {"robot"}, "robot_id": {robot.ID}}, 200},
					{"tag", url.Values{"action": {"run.read"}, "scope": {"tag"}, "tag": {"finance"}}, 200},
					{"robot missing", url.Values{"action": {"robot.run"}, "scope": {"robot"}}, 400},
					{"admin on a tag", url.Values{"action": {"admin.manage"}, "scope": {"tag"}, "tag": {"finance"}}, 400},
				} {
					code, body := ui.post(userPage+"/grants", tc.form)
					if code != tc.status {
						t.Errorf("%s: %d, want %d", tc.name, code, tc.status)
					}
					if tc.status != 200 && !strings.Contains(body, `id="grant-error"`) {
						t.Errorf("%s: no error next to the form", tc.name)
					}
				}
				grants := adminUserGrants(t, api, userID)
				if len(grants) != 2 {
					t.Fatalf("grants: %+v", grants)
				}
				var robotGrant, tagGrant adminAPIGrant
				for _, g := range grants {
					switch {
					case g.ResourceID != nil && *g.ResourceID == robot.ID && g.Action == "robot.run":
						robotGrant = g
					case g.ScopeTag != nil && *g.ScopeTag == "finance" && g.Action == "run.read":
						tagGrant = g
					}
				}
				if robotGrant.ID == 0 || tagGrant.ID == 0 {
					t.Fatalf("grants: %+v", grants)
				}
				_, body = ui.get(userPage)
				for _, w := range []string{"ledger-bot", "Tag: finance", fmt.Sprintf(`action="%s/grants/%d/revoke"`, userPage, tagGrant.ID), `data-confirm="Revoke this permission?`} {
					if !strings.Contains(body, w) {
						t.Errorf("user page: no %q", w)
					}
				}
				if code, _ := ui.post(fmt.Sprintf("%s/grants/%d/revoke", userPage, tagGrant.ID), nil); code != 200 {
					t.Errorf("revoke: %d", code)
				}
				grants = adminUserGrants(t, api, userID)
				if len(grants) != 1 || grants[0].ID != robotGrant.ID {
					t.Errorf("after revoke: %+v", grants)
				}
				if code, _ := ui.post(fmt.Sprintf("%s/grants/%d/revoke", userPage, tagGrant.ID), nil); code != 404 {
					t.Errorf("revoke twice: %d, want 404", code)
				}
			})

			t.Run("audit", func(t *testing.T) {
				code, body := ui.get("/admin/audit")
				if code != 200 || !strings.Contains(body, `data-action="user.created"`) || !strings.Contains(body, "carla") {
					t.Fatalf("audit: %d", code)
				}
				today := time.Now().UTC().Format(time.DateOnly)
				for _, tc := range []struct {
					query         string
					status        int
					want, wantNot []string
				}{
					{"action=permission.granted", 200, []string{`data-action="permission.granted"`, `value="permission.granted"`}, []string{`data-action="user.created"`}},
					{"action=user.created&actor_user_id=" + admin.ID + "&from=" + today + "&to=" + today, 200, []string{`data-action="user.created"`}, []string{`data-action="permission.granted"`}},
					{"target_type=permission", 200, []string{`data-action="permission.revoked"`}, []string{`data-action="user.created"`}},
					{"from=2000-01-01&to=2000-01-02", 200, []string{"No events match."}, []string{`data-action=`}},
					{"from=yesterday", 400, nil, nil},
				} {
					code, body := ui.get("/admin/audit?" + tc.query)
					if code != tc.status {
						t.Errorf("%s: %d, want %d", tc.query, code, tc.status)
					}
					for _, w := range tc.want {
						if !strings.Contains(body, w) {
							t.Errorf("%s: no %q", tc.query, w)
						}
					}
					for _, w := range tc.wantNot {
						if strings.Contains(body, w) {
							t.Errorf("%s: has %q", tc.query, w)
						}
					}
				}
			})

			t.Run("ops", func(t *testing.T) {
				var workers []struct{ ID, Hostname string }
				deadline := time.Now().Add(20 * time.Second)
				for len(workers) == 0 && time.Now().Before(deadline) {
					api.call("GET", "/workers", "", nil, &workers)
					if len(workers) == 0 {
						time.Sleep(200 * time.Millisecond)
					}
				}
				if len(workers) == 0 {
					t.Fatal("no worker registered")
				}
				code, body := ui.get("/ops")
				if code != 200 || !strings.Contains(body, workers[0].Hostname) || !strings.Contains(body, `data-worker="`+workers[0].ID+`"`) {
					t.Errorf("ops page: %d, no worker %s", code, workers[0].Hostname)
				}
				code, body = ui.get("/ops?block=live")
				if code != 200 || strings.Contains(body, "<html") || !strings.HasPrefix(strings.TrimSpace(body), `<div id="ops-live"`) ||
					!strings.Contains(body, workers[0].ID) {
					t.Errorf("live block: %d\n%s", code, body)
				}
			})

			t.Run("viewer", func(t *testing.T) {
				adminCreateUser(t, api, map[string]any{"username": "vera", "password": "vera-password-1", "role": "Viewer"})
				viewer := uiLogin(t, base, "vera", "vera-password-1")
				code, body := viewer.get("/runs")
				if code != 200 {
					t.Fatalf("viewer /runs: %d", code)
				}
				for _, link := range []string{`href="/admin/users"`, `href="/admin/audit"`, `href="/ops"`} {
					if strings.Contains(body, link) {
						t.Errorf("viewer sees %s", link)
					}
				}
				for _, p := range []string{"/admin/users", userPage, "/admin/audit", "/ops", "/ops?block=live"} {
					if code, _ := viewer.get(p); code != 403 {
						t.Errorf("viewer GET %s: %d, want 403", p, code)
					}
				}
				before := adminUserGrants(t, api, userID)
				for _, tc := range []struct {
					path string
					form url.Values
				}{
					{"/admin/users", url.Values{"username": {"viewer-made"}, "role": {"Admin"}, "password": {"viewer-password-1"}}},
					{userPage, url.Values{"role": {"Admin"}, "is_active": {"true"}}},
					{userPage + "/password", url.Values{"password": {"viewer-password-1"}}},
					{userPage + "/grants", url.Values{"action": {"admin.manage"}, "scope": {"all"}}},
					{fmt.Sprintf("%s/grants/%d/revoke", userPage, before[0].ID), nil},
				} {
					viewer.get("/runs")
					if code, _ := viewer.post(tc.path, tc.form); code != 403 {
						t.Errorf("viewer POST %s: %d, want 403", tc.path, code)
					}
				}
				if adminFindUser(t, api, "viewer-made") != nil || adminFindUser(t, api, "carla").Role != "Maintainer" || len(adminUserGrants(t, api, userID)) != len(before) {
					t.Error("a viewer changed something")
				}
			})

			t.Run("csrf", func(t *testing.T) {
				ui.get("/admin/users")
				for _, tc := range []struct {
					path string
					form url.Values
				}{
					{"/admin/users", url.Values{"username": {"no-token"}, "role": {"Viewer"}, "password": {"no-token-pass-1"}}},
					{userPage, url.Values{"full_name": {"Hacked"}, "role": {"Admin"}, "is_active": {"true"}}},
					{userPage + "/grants", url.Values{"action": {"admin.manage"}, "scope": {"all"}}},
				} {
					req, _ := http.NewRequest("POST", base+tc.path, strings.NewReader(tc.form.Encode()))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					if code, _ := ui.do(req); code != 403 {
						t.Errorf("POST %s without a token: %d, want 403", tc.path, code)
					}
				}
				u := adminFindUser(t, api, "carla")
				if adminFindUser(t, api, "no-token") != nil || u.Role != "Maintainer" || *u.FullName != "Carla S." || len(adminUserGrants(t, api, userID)) != 1 {
					t.Errorf("a request without a token changed something: %+v", u)
				}
			})

			t.Run("anonymous", func(t *testing.T) {
				anon := newUIClient(t, base, false)
				for _, p := range []string{"/admin/users", userPage, "/admin/audit", "/ops"} {
					code, loc := anon.get(p)
					if code != 303 || !strings.HasPrefix(loc, "/login") {
						t.Errorf("anonymous GET %s: %d %s", p, code, loc)
					}
				}
			})
		})
	}
}
