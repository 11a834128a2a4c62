package httpapi_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"automationhub/internal/httpapi"
	"automationhub/internal/hub"
	"automationhub/internal/hubtest"
	"automationhub/internal/identity"
)

// requiresZip is the package of TESTCASES T7: main.py and a robot.yaml
// requiring API_TOKEN.
func requiresZip(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("main.py")
	w.Write([]byte("print('hi')\n"))
	w, _ = zw.Create("robot.yaml")
	w.Write([]byte("env:\n  required:\n    - API_TOKEN\n"))
	zw.Close()
	return buf.Bytes()
}

// send makes a request with the given headers.
func (b apiBundle) send(t testing.TB, method, path string, header http.Header, ct string, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	for k, v := range header {
		req.Header[k] = v
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	rec := httptest.NewRecorder()
	b.h.ServeHTTP(rec, req)
	return rec
}

func detail(t testing.TB, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var body struct {
		Detail any `json:"detail"`
	}
	json.Unmarshal(rec.Body.Bytes(), &body)
	s, _ := body.Detail.(string)
	return s
}

const deployToken = "deploy-ci-token-0123456789"

func setupDeploy(t testing.TB, dialect, token string) apiBundle {
	t.Helper()
	return setupAPIWith(t, dialect, 1<<20, func(d *httpapi.Deps) { d.Config.DeployToken = token })
}

// TestPreviousFrontendEnvCalls replays TESTCASES T7 and the env calls of
// API.md §B2 as the previous frontend makes them.
func TestPreviousFrontendEnvCalls(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			b := setupDeploy(t, dialect, deployToken)
			robot := b.newRobot(t, "env-robot")
			fields := map[string]string{"version": "1.1.0", "changelog": "from github action", "commit_sha": "abc123def456", "branch": "main",
				"build_url": "https://github.com/enesa/repo/actions/runs/123", "activate": "false", "entrypoint_path": "main.py", "entrypoint_type": "PYTHON"}
			ct, body := multipartBody(t, fields, "artifact.zip", requiresZip(t))
			rec := b.send(t, http.MethodPost, "/api/v1/deploy/robots/"+robot+"/versions/publish", http.Header{"X-Deploy-Token": {deployToken}}, ct, body)
			if rec.Code != http.StatusCreated {
				t.Fatalf("deploy publish: %d %s", rec.Code, rec.Body)
			}
			var v struct {
				ID            string   `json:"id"`
				CreatedSource string   `json:"created_source"`
				IsActive      bool     `json:"is_active"`
				CommitSHA     string   `json:"commit_sha"`
				Channel       string   `json:"channel"`
				CreatedBy     *string  `json:"created_by"`
				Required      []string `json:"required_env_keys_json"`
			}
			jsonBody(t, rec.Body.Bytes(), &v)
			if v.CreatedSource != "github_actions" || v.IsActive || v.CommitSHA != "abc123def456" || v.Channel != "stable" || v.CreatedBy != nil ||
				len(v.Required) != 1 || v.Required[0] != "API_TOKEN" {
				t.Errorf("deployed version = %+v", v)
			}
			// Execute without the required key: 409 naming it.
			exec := func(who, env string) *httptest.ResponseRecorder {
				return b.call(t, who, http.MethodPost, "/api/v1/runs/"+robot+"/execute", "application/json",
					`{"version_id":"`+v.ID+`","robot_version_id":"`+v.ID+`","runtime_arguments":[],"runtime_env":{},"env_name":"`+env+`"}`)
			}
			if rec := exec("maintainer", "PROD"); rec.Code != http.StatusConflict ||
				detail(t, rec) != "Missing required env vars for PROD: API_TOKEN. Configure keys in Robot > Config/Secrets before executing." {
				t.Errorf("execute without config: %d %s", rec.Code, rec.Body)
			}
			rec = b.call(t, "maintainer", http.MethodPut, "/api/v1/robots/"+robot+"/env?env=PROD", "application/json",
				`{"items":[{"key":"API_TOKEN","value":"super-secret-token","is_secret":true}]}`)
			if rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), "super-secret") {
				t.Fatalf("PUT env: %d %s", rec.Code, rec.Body)
			}
			rec = b.call(t, "viewer", http.MethodGet, "/api/v1/robots/"+robot+"/env?env=PROD", "application/json", "")
			var items []map[string]any
			jsonBody(t, rec.Body.Bytes(), &items)
			if rec.Code != http.StatusOK || len(items) != 1 || items[0]["key"] != "API_TOKEN" || items[0]["is_secret"] != true ||
				items[0]["is_set"] != true || items[0]["value"] != nil || items[0]["env_name"] != "PROD" || items[0]["robot_id"] != robot {
				t.Fatalf("GET env: %d %s", rec.Code, rec.Body)
			}
			for _, k := range []string{"created_at", "updated_at"} {
				if _, ok := items[0][k]; !ok {
					t.Errorf("GET env item lacks %s", k)
				}
			}
			if rec := exec("maintainer", "PROD"); rec.Code != http.StatusAccepted {
				t.Errorf("execute with config: %d %s", rec.Code, rec.Body)
			}
			if rec := exec("maintainer", "HML"); rec.Code != http.StatusConflict {
				t.Errorf("execute in HML: %d, want 409", rec.Code)
			}
			// A portal service run is refused the same way.
			rec = b.call(t, "admin", http.MethodPost, "/api/v1/domains", "application/json", `{"name":"Finance","slug":"finance"}`)
			var dom struct{ ID string }
			jsonBody(t, rec.Body.Bytes(), &dom)
			rec = b.call(t, "admin", http.MethodPost, "/api/v1/services", "application/json",
				`{"domain_id":"`+dom.ID+`","robot_id":"`+robot+`","title":"Env","default_version_id":"`+v.ID+`","form_schema_json":{"fields":[]},"run_template_json":{"defaults":{"env_name":"TEST"}}}`)
			var svc struct{ ID string }
			jsonBody(t, rec.Body.Bytes(), &svc)
			if rec := b.call(t, "operator", http.MethodPost, "/api/v1/services/"+svc.ID+"/run", "application/json", `{"parameters":{}}`); rec.Code != http.StatusConflict ||
				!strings.HasPrefix(detail(t, rec), "Missing required env vars for TEST: API_TOKEN.") {
				t.Errorf("service run without config: %d %s", rec.Code, rec.Body)
			}
			// A plain value is shown; keys are upper-cased by the frontend and stored as sent.
			rec = b.call(t, "maintainer", http.MethodPut, "/api/v1/robots/"+robot+"/env?env=hml", "application/json",
				`{"items":[{"key":"REGION","value":"br"},{"key":"API_TOKEN","value":"x","is_secret":true}]}`)
			jsonBody(t, rec.Body.Bytes(), &items)
			if rec.Code != http.StatusOK || len(items) != 2 || items[1]["key"] != "REGION" || items[1]["value"] != "br" || items[1]["env_name"] != "HML" {
				t.Errorf("PUT HML: %d %s", rec.Code, rec.Body)
			}
			if rec := b.call(t, "maintainer", http.MethodDelete, "/api/v1/robots/"+robot+"/env/REGION?env=HML", "application/json", ""); rec.Code != http.StatusOK ||
				!strings.Contains(rec.Body.String(), `"message":"Env key removed successfully."`) {
				t.Errorf("DELETE: %d %s", rec.Code, rec.Body)
			}
			// Errors, with the previous backend's messages.
			for _, tc := range []struct {
				method, path, body string
				code               int
				detail             string
			}{
				{http.MethodGet, "/api/v1/robots/" + robot + "/env?env=QA", "", 400, "env must be one of: PROD, HML, TEST."},
				{http.MethodPut, "/api/v1/robots/" + robot + "/env?env=PROD", `{"items":[{"key":"A","value":null}]}`, 400, "value is required for key 'A'."},
				{http.MethodPut, "/api/v1/robots/" + robot + "/env?env=PROD", `{"items":[{"key":"A"}]}`, 400, "value is required for key 'A'."},
				{http.MethodPut, "/api/v1/robots/" + robot + "/env?env=PROD", `{"items":[{"key":"1A","value":"x"}]}`, 422, ""},
				{http.MethodPut, "/api/v1/robots/" + robot + "/env?env=PROD", `{"items":[{"key":"LD_PRELOAD","value":"/x.so"}]}`, 400, ""},
				{http.MethodDelete, "/api/v1/robots/" + robot + "/env/NOPE?env=PROD", "", 404, "Env key not found."},
				{http.MethodGet, "/api/v1/robots/0d4c3a63-8a2b-4c9e-9e5f-3f1f0c4b2a11/env", "", 404, "Robot not found."},
				{http.MethodPut, "/api/v1/robots/" + robot + "/env?env=PROD", `{"items":[{"key":"A","value":"x"}]}`, 403, "Permissao insuficiente."},
			} {
				who := "maintainer"
				if tc.code == 403 {
					who = "viewer"
				}
				rec := b.call(t, who, tc.method, tc.path, "application/json", tc.body)
				if rec.Code != tc.code || (tc.detail != "" && detail(t, rec) != tc.detail) {
					t.Errorf("%s %s %s: %d %s, want %d %q", tc.method, tc.path, tc.body, rec.Code, rec.Body, tc.code, tc.detail)
				}
			}
			// The audit trail names the keys, never the values.
			rec = b.call(t, "admin", http.MethodGet, "/api/v1/audit-events?limit=200", "", "")
			if strings.Contains(rec.Body.String(), "super-secret") || !strings.Contains(rec.Body.String(), "robot_env_var.created") ||
				!strings.Contains(rec.Body.String(), `"robot_env_var.deleted"`) {
				t.Errorf("audit: %s", rec.Body)
			}
		})
	}
}

func TestDeployPublish(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			b := setupDeploy(t, dialect, deployToken)
			robot, other := b.newRobot(t, "deploy-a"), b.newRobot(t, "deploy-b")
			n := 0
			publish := func(robotID string, header http.Header) *httptest.ResponseRecorder {
				n++
				ct, body := multipartBody(t, map[string]string{"version": "2.0." + jsonNumber(int64(n)), "commit_sha": "abc", "branch": "main",
					"build_url": "https://ci/1"}, "robot.zip", robotZip(t))
				return b.send(t, http.MethodPost, "/api/v1/deploy/robots/"+robotID+"/versions/publish", header, ct, body)
			}
			ctx := context.Background()
			maint, err := b.ids.Authenticate(ctx, b.tokens["maintainer"], "")
			if err != nil {
				t.Fatal(err)
			}
			_, scoped, err := b.ids.CreateToken(ctx, maint, identity.NewToken{Name: "ci", Permissions: []hub.Permission{hub.PermRobotPublish}, RobotID: &robot})
			if err != nil {
				t.Fatal(err)
			}
			_, readOnly, _ := b.ids.CreateToken(ctx, maint, identity.NewToken{Name: "ro", Permissions: []hub.Permission{hub.PermRobotRead}})
			_, revoked, _ := b.ids.CreateToken(ctx, maint, identity.NewToken{Name: "gone", Permissions: []hub.Permission{hub.PermRobotPublish}})
			list, _ := b.ids.Tokens(ctx, maint, "", false)
			for _, tk := range list {
				if tk.Name == "gone" {
					b.ids.RevokeToken(ctx, maint, tk.ID)
				}
			}
			tests := []struct {
				name   string
				robot  string
				header http.Header
				code   int
				detail string
			}{
				{"legacy token", robot, http.Header{"X-Deploy-Token": {"  " + deployToken + " "}}, 201, ""},
				{"legacy token as bearer", other, http.Header{"Authorization": {"Bearer " + deployToken}}, 201, ""},
				{"no token", robot, nil, 401, "Invalid deploy token."},
				{"wrong token", robot, http.Header{"X-Deploy-Token": {deployToken + "x"}}, 401, "Invalid deploy token."},
				{"a sign-in token is not a deploy token", robot, http.Header{"Authorization": {"Bearer " + b.tokens["admin"]}}, 401, "Invalid deploy token."},
				{"API token for the robot", robot, http.Header{"Authorization": {"Bearer " + scoped}}, 201, ""},
				{"API token in the deploy header", robot, http.Header{"X-Deploy-Token": {scoped}}, 201, ""},
				{"API token for another robot", other, http.Header{"X-Deploy-Token": {scoped}}, 403, ""},
				{"API token without publish", robot, http.Header{"X-Deploy-Token": {readOnly}}, 403, ""},
				{"revoked API token", robot, http.Header{"X-Deploy-Token": {revoked}}, 401, ""},
			}
			for _, tt := range tests {
				rec := publish(tt.robot, tt.header)
				if rec.Code != tt.code || (tt.detail != "" && detail(t, rec) != tt.detail) {
					t.Errorf("%s: %d %s, want %d %q", tt.name, rec.Code, rec.Body, tt.code, tt.detail)
				}
			}
			// Who published what: the shared token by name, an API token by its user and id.
			rec := b.call(t, "admin", http.MethodGet, "/api/v1/audit-events?action=robot_version_published&limit=50", "", "")
			var events struct {
				Items []struct {
					ActorUserID  *string        `json:"actor_user_id"`
					ActorSubject *string        `json:"actor_subject"`
					Metadata     map[string]any `json:"metadata_json"`
				} `json:"items"`
			}
			jsonBody(t, rec.Body.Bytes(), &events)
			var byDeploy, byToken int
			for _, ev := range events.Items {
				if ev.Metadata["source"] != "github_actions" {
					t.Errorf("event source %v", ev.Metadata["source"])
				}
				if ev.ActorSubject != nil && *ev.ActorSubject == "deploy-token" && ev.ActorUserID == nil {
					byDeploy++
				}
				if ev.ActorUserID != nil && *ev.ActorUserID == b.users["maintainer"].ID && strings.HasPrefix(ev.Metadata["authenticated_with"].(string), "api_token ") {
					byToken++
				}
			}
			if byDeploy != 2 || byToken != 2 {
				t.Errorf("audit: %d by the deploy token, %d by the API token; want 2 and 2: %s", byDeploy, byToken, rec.Body)
			}
			// Without DEPLOY_TOKEN the endpoint is off, API tokens still work.
			off := setupDeploy(t, dialect, "")
			r2 := off.newRobot(t, "deploy-c")
			ct, body := multipartBody(t, map[string]string{"version": "1.0.1", "commit_sha": "a", "branch": "b", "build_url": "c"}, "robot.zip", robotZip(t))
			if rec := off.send(t, http.MethodPost, "/api/v1/deploy/robots/"+r2+"/versions/publish", http.Header{"X-Deploy-Token": {"anything"}}, ct, body); rec.Code != 503 ||
				detail(t, rec) != "DEPLOY_TOKEN is not configured." {
				t.Errorf("no DEPLOY_TOKEN: %d %s", rec.Code, rec.Body)
			}
			// Missing CI fields are 422.
			ct, body = multipartBody(t, map[string]string{"version": "9.0.0"}, "robot.zip", robotZip(t))
			if rec := b.send(t, http.MethodPost, "/api/v1/deploy/robots/"+robot+"/versions/publish", http.Header{"X-Deploy-Token": {deployToken}}, ct, body); rec.Code != 422 {
				t.Errorf("without commit_sha: %d %s", rec.Code, rec.Body)
			}
		})
	}
}

// TestTokenScopesOnRealRobots: a token narrowed to a robot or a tag acts on
// it only, whatever its user may do elsewhere.
func TestTokenScopesOnRealRobots(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			b := setupAPI(t, dialect)
			a, c := b.newRobot(t, "scope-a"), b.newRobot(t, "scope-b")
			if rec := b.call(t, "maintainer", http.MethodPatch, "/api/v1/robots/"+a+"/tags", "application/json", `{"tags":["finance"]}`); rec.Code != 200 {
				t.Fatal(rec.Body)
			}
			ctx := context.Background()
			maint, _ := b.ids.Authenticate(ctx, b.tokens["maintainer"], "")
			perms := []hub.Permission{hub.PermRobotRead, hub.PermRobotPublish, hub.PermRobotRun, hub.PermRunRead}
			_, byRobot, err := b.ids.CreateToken(ctx, maint, identity.NewToken{Name: "robot", Permissions: perms, RobotID: &a})
			if err != nil {
				t.Fatal(err)
			}
			tag := "finance"
			_, byTag, err := b.ids.CreateToken(ctx, maint, identity.NewToken{Name: "tag", Permissions: perms, ScopeTag: &tag})
			if err != nil {
				t.Fatal(err)
			}
			for name, tok := range map[string]string{"robot": byRobot, "tag": byTag} {
				b.tokens[name] = tok
				for _, tc := range []struct {
					method, path, body string
				}{
					{http.MethodGet, "/api/v1/robots/%s", ""},
					{http.MethodGet, "/api/v1/robots/%s/env", ""},
					{http.MethodPut, "/api/v1/robots/%s/env", `{"items":[{"key":"K","value":"v"}]}`},
					{http.MethodPatch, "/api/v1/robots/%s", `{"description":"d"}`},
					{http.MethodGet, "/api/v1/runs?robot_id=%s", ""},
				} {
					in := b.call(t, name, tc.method, strings.Replace(tc.path, "%s", a, 1), "application/json", tc.body)
					out := b.call(t, name, tc.method, strings.Replace(tc.path, "%s", c, 1), "application/json", tc.body)
					if in.Code != 200 || out.Code != 403 {
						t.Errorf("%s token, %s %s: in scope %d (%s), out of scope %d", name, tc.method, tc.path, in.Code, in.Body, out.Code)
					}
				}
				rec := b.call(t, name, http.MethodGet, "/api/v1/robots", "", "")
				var page struct {
					Items []struct{ ID string } `json:"items"`
					Total int                   `json:"total"`
				}
				jsonBody(t, rec.Body.Bytes(), &page)
				if page.Total != 1 || len(page.Items) != 1 || page.Items[0].ID != a {
					t.Errorf("%s token lists %s", name, rec.Body)
				}
				if rec := b.call(t, name, http.MethodPost, "/api/v1/users", "application/json", `{"username":"x","password":"12345678"}`); rec.Code != 403 {
					t.Errorf("%s token creates users: %d", name, rec.Code)
				}
			}
		})
	}
}

func TestTokenEndpoints(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			b := setupAPI(t, dialect)
			rec := b.call(t, "operator", http.MethodPost, "/api/v1/tokens", "application/json", `{"name":"laptop","permissions":["robot.read","run.read"],"expires_in_days":30}`)
			if rec.Code != http.StatusCreated {
				t.Fatalf("create: %d %s", rec.Code, rec.Body)
			}
			var created struct {
				ID, Token, Hint string
				ExpiresAt       *string  `json:"expires_at"`
				Permissions     []string `json:"permissions"`
			}
			jsonBody(t, rec.Body.Bytes(), &created)
			if !strings.HasPrefix(created.Token, "hub_") || !strings.HasPrefix(created.Token, created.Hint) || created.ExpiresAt == nil || len(created.Permissions) != 2 {
				t.Fatalf("created %+v", created)
			}
			if rec := b.call(t, "operator", http.MethodPost, "/api/v1/tokens", "application/json", `{"name":"x","permissions":["robot.publish"]}`); rec.Code != 403 {
				t.Errorf("token beyond the user: %d %s", rec.Code, rec.Body)
			}
			b.tokens["laptop"] = created.Token
			if rec := b.call(t, "laptop", http.MethodGet, "/api/v1/robots", "", ""); rec.Code != 200 {
				t.Errorf("using the token: %d", rec.Code)
			}
			rec = b.call(t, "operator", http.MethodGet, "/api/v1/tokens", "", "")
			if rec.Code != 200 || strings.Contains(rec.Body.String(), created.Token) || !strings.Contains(rec.Body.String(), `"last_used_at":"`) {
				t.Errorf("list: %d %s", rec.Code, rec.Body)
			}
			if rec := b.call(t, "viewer", http.MethodDelete, "/api/v1/tokens/"+created.ID, "", ""); rec.Code != 404 {
				t.Errorf("another user's revoke: %d", rec.Code)
			}
			if rec := b.call(t, "laptop", http.MethodDelete, "/api/v1/tokens/"+created.ID, "", ""); rec.Code != 403 {
				t.Errorf("a token revoking: %d", rec.Code)
			}
			if rec := b.call(t, "operator", http.MethodDelete, "/api/v1/tokens/"+created.ID, "", ""); rec.Code != 200 {
				t.Errorf("revoke: %d %s", rec.Code, rec.Body)
			}
			rec = b.call(t, "laptop", http.MethodGet, "/api/v1/robots", "", "")
			if rec.Code != 401 || rec.Header().Get("WWW-Authenticate") != "Bearer" {
				t.Errorf("revoked token: %d %v", rec.Code, rec.Header())
			}
			// Service accounts, by administrators.
			rec = b.call(t, "admin", http.MethodPost, "/api/v1/service-accounts", "application/json", `{"username":"deployer","role":"Maintainer"}`)
			var sa struct {
				ID             string
				ServiceAccount bool `json:"service_account"`
			}
			jsonBody(t, rec.Body.Bytes(), &sa)
			if rec.Code != 201 || !sa.ServiceAccount {
				t.Fatalf("service account: %d %s", rec.Code, rec.Body)
			}
			rec = b.call(t, "admin", http.MethodPost, "/api/v1/service-accounts/"+sa.ID+"/tokens", "application/json", `{"name":"ci","permissions":["robot.publish","robot.read"]}`)
			if rec.Code != 201 || !strings.Contains(rec.Body.String(), `"token":"hub_`) {
				t.Errorf("service account token: %d %s", rec.Code, rec.Body)
			}
			rec = b.call(t, "admin", http.MethodGet, "/api/v1/tokens?all=true", "", "")
			if !strings.Contains(rec.Body.String(), `"user_id":"`+sa.ID+`"`) {
				t.Errorf("admin's list of every token: %s", rec.Body)
			}
			rec = b.call(t, "admin", http.MethodGet, "/api/v1/service-accounts", "", "")
			if !strings.Contains(rec.Body.String(), `"username":"deployer"`) {
				t.Errorf("service accounts: %s", rec.Body)
			}
			if rec := b.call(t, "admin", http.MethodPost, "/api/v1/auth/token", "application/x-www-form-urlencoded", "username=deployer&password=whatever-it-is"); rec.Code == 200 {
				t.Error("a service account signed in with a password")
			}
		})
	}
}
