package main

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"automationhub/internal/hubtest"
)

// TestUIRobotConfiguration: the robot page's Configuration tab shows each
// environment's variables, secrets write-only, and the active version's
// missing required keys highlighted; publishers set and remove variables,
// readers only look.
func TestUIRobotConfiguration(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			_, base := startUIHub(t, dialect, nil)
			api := login(t, base+"/api/v1", "admin", "admin-password-1")
			robot := api.publishRobot("configured", "EXE", "run.sh", map[string]string{"run.sh": "#!/bin/sh\necho hi\n",
				"robot.yaml": "required_env: [API_TOKEN, SAP_USER]\n"})
			ui := uiLogin(t, base, "admin", "admin-password-1")

			code, page := ui.get("/robots/" + robot)
			if code != 200 || !strings.Contains(page, `href="/robots/`+robot+`/config"`) {
				t.Fatalf("robot page has no Configuration tab: %d", code)
			}
			code, page = ui.get("/robots/" + robot + "/config")
			if code != 200 || !strings.Contains(page, `id="missing-keys"`) || strings.Count(page, `class="missing-key"`) != 2 ||
				!strings.Contains(page, `id="env-PROD" href="/robots/`+robot+`/config?env=PROD" aria-current="page"`) {
				t.Fatalf("config page: %d\n%s", code, page)
			}
			// Set a secret and a plain value.
			code, page = ui.post("/robots/"+robot+"/config", url.Values{"env": {"PROD"}, "key": {"API_TOKEN"}, "value": {"ui-s3cret-value"}, "is_secret": {"1"}})
			if code != 200 || !strings.Contains(page, `id="config-saved"`) {
				t.Fatalf("set secret: %d\n%s", code, page)
			}
			code, page = ui.post("/robots/"+robot+"/config", url.Values{"env": {"PROD"}, "key": {"SAP_USER"}, "value": {"robot-user"}})
			if code != 200 || strings.Contains(page, "ui-s3cret-value") || !strings.Contains(page, "robot-user") || strings.Contains(page, `id="missing-keys"`) {
				t.Errorf("after setting both: %d; secret shown %v", code, strings.Contains(page, "ui-s3cret-value"))
			}
			if !regexp.MustCompile(`data-key="API_TOKEN"[\s\S]*?badge secret[\s\S]*?secret-value`).MatchString(page) {
				t.Error("the secret is not marked and hidden")
			}
			// Another environment has its own variables; HML misses both.
			if _, page = ui.get("/robots/" + robot + "/config?env=HML"); strings.Count(page, `class="missing-key"`) != 2 || strings.Contains(page, "robot-user") {
				t.Error("HML shows PROD's variables or lacks its missing keys")
			}
			// An invalid key: the API's message, nothing stored.
			code, page = ui.post("/robots/"+robot+"/config", url.Values{"env": {"PROD"}, "key": {"LD_PRELOAD"}, "value": {"/x.so"}})
			if code != 400 || !strings.Contains(page, `id="config-error"`) {
				t.Errorf("reserved key: %d", code)
			}
			// Remove.
			code, page = ui.post("/robots/"+robot+"/config/delete", url.Values{"env": {"PROD"}, "key": {"SAP_USER"}})
			if code != 200 || strings.Contains(page, "robot-user") || strings.Count(page, `class="missing-key"`) != 1 {
				t.Errorf("remove: %d", code)
			}
			var vars []map[string]any
			api.call("GET", "/robots/"+robot+"/env?env=PROD", "", nil, &vars)
			if len(vars) != 1 || vars[0]["key"] != "API_TOKEN" {
				t.Errorf("API after the UI: %v", vars)
			}
			// A viewer sees the page without forms and never a value.
			if code := api.call("POST", "/users", "application/json", strings.NewReader(`{"username":"vera","password":"vera-password","role":"Viewer"}`), nil); code != 201 {
				t.Fatal(code)
			}
			viewer := uiLogin(t, base, "vera", "vera-password")
			code, page = viewer.get("/robots/" + robot + "/config")
			if code != 200 || strings.Contains(page, `id="config-form"`) || strings.Contains(page, "ui-s3cret-value") || !strings.Contains(page, "API_TOKEN") {
				t.Errorf("viewer's page: %d", code)
			}
			if code, _ := viewer.post("/robots/"+robot+"/config", url.Values{"env": {"PROD"}, "key": {"X"}, "value": {"1"}}); code != http.StatusForbidden {
				t.Errorf("viewer setting a variable: %d", code)
			}
			// Portuguese.
			if _, page = ui.get("/lang/pt-BR?next=/robots/" + robot + "/config"); !strings.Contains(page, "Configuração") || !strings.Contains(page, "segredo") {
				t.Error("the page is not in Portuguese")
			}
		})
	}
}

var tokenInPage = regexp.MustCompile(`id="token-value">(hub_[A-Za-z0-9_-]+)<`)

// TestUITokens: a user makes an API token on the Tokens page (shown once),
// uses it, sees when it was last used and revokes it.
func TestUITokens(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			_, base := startUIHub(t, dialect, nil)
			api := login(t, base+"/api/v1", "admin", "admin-password-1")
			if code := api.call("POST", "/users", "application/json", strings.NewReader(`{"username":"otto","password":"otto-password","role":"Operator"}`), nil); code != 201 {
				t.Fatal(code)
			}
			ui := uiLogin(t, base, "otto", "otto-password")
			if _, page := ui.get("/account"); !strings.Contains(page, `href="/account/tokens"`) {
				t.Fatal("the account page does not link the tokens")
			}
			code, page := ui.get("/account/tokens")
			if code != 200 || !strings.Contains(page, `value="robot.run"`) || strings.Contains(page, `value="robot.publish"`) {
				t.Fatalf("tokens page offers other than the user's permissions: %d", code)
			}
			// More than the user holds: refused on the form.
			code, page = ui.post("/account/tokens", url.Values{"name": {"x"}, "permissions": {"robot.publish"}, "days": {"30"}})
			if code != 403 || !strings.Contains(page, `id="token-error"`) {
				t.Errorf("publish token for an operator: %d", code)
			}
			code, page = ui.post("/account/tokens", url.Values{"name": {"laptop"}, "permissions": {"robot.read", "run.read"}, "days": {"30"}})
			m := tokenInPage.FindStringSubmatch(page)
			if code != 201 || m == nil {
				t.Fatalf("create: %d\n%s", code, page)
			}
			token := m[1]
			c := &hubClient{t: t, base: base + "/api/v1", token: token}
			if code := c.call("GET", "/robots", "", nil, nil); code != 200 {
				t.Errorf("the new token: %d", code)
			}
			_, page = ui.get("/account/tokens")
			if strings.Contains(page, token) || !strings.Contains(page, token[:10]) || strings.Contains(page, `id="token-created"`) {
				t.Error("the token is shown again, or its start is not")
			}
			id := regexp.MustCompile(`data-token="([0-9a-f-]{36})"`).FindStringSubmatch(page)
			if id == nil {
				t.Fatal("no token row")
			}
			if code, _ := ui.post("/account/tokens/"+id[1]+"/revoke", nil); code != 200 {
				t.Errorf("revoke: %d", code)
			}
			if code := c.call("GET", "/robots", "", nil, nil); code != 401 {
				t.Errorf("revoked token: %d", code)
			}
		})
	}
}

// TestUIServiceAccounts: an administrator creates a service account, grants
// it robot.publish on one robot's tag, and makes it a token.
func TestUIServiceAccounts(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			_, base := startUIHub(t, dialect, nil)
			ui := uiLogin(t, base, "admin", "admin-password-1")
			code, page := ui.get("/admin/service-accounts")
			if code != 200 || !strings.Contains(page, `href="/admin/service-accounts" aria-current="page"`) {
				t.Fatalf("service accounts page: %d", code)
			}
			code, page = ui.post("/admin/service-accounts", url.Values{"username": {"ci-deploy"}, "role": {"Maintainer"}})
			if code != 200 || !strings.Contains(page, "ci-deploy") || !strings.Contains(page, `id="sa-grants"`) {
				t.Fatalf("create: %d\n%s", code, page)
			}
			id := regexp.MustCompile(`href="/admin/users/([0-9a-f-]{36})" id="sa-grants"`).FindStringSubmatch(page)
			if id == nil {
				t.Fatal("no link to the account's grants")
			}
			code, page = ui.post("/admin/service-accounts/"+id[1]+"/tokens", url.Values{"name": {"pipeline"}, "permissions": {"robot.publish", "robot.read"}, "days": {"365"}})
			m := tokenInPage.FindStringSubmatch(page)
			if code != 201 || m == nil {
				t.Fatalf("token: %d\n%s", code, page)
			}
			c := &hubClient{t: t, base: base + "/api/v1", token: m[1]}
			var me struct {
				User        struct{ Username string } `json:"user"`
				Permissions []string                  `json:"permissions"`
			}
			c.call("GET", "/auth/me", "", nil, &me)
			if me.User.Username != "ci-deploy" || strings.Join(me.Permissions, ",") != "robot.read,robot.publish" {
				t.Errorf("the token acts as %+v", me)
			}
			if _, page = ui.get("/admin/service-accounts"); !strings.Contains(page, "ci-deploy") {
				t.Error("the list lacks the account")
			}
			// Not for people who are not administrators.
			api := login(t, base+"/api/v1", "admin", "admin-password-1")
			api.call("POST", "/users", "application/json", strings.NewReader(`{"username":"mara","password":"mara-password","role":"Maintainer"}`), nil)
			if code, _ := uiLogin(t, base, "mara", "mara-password").get("/admin/service-accounts"); code != http.StatusForbidden {
				t.Errorf("maintainer on the service accounts page: %d", code)
			}
		})
	}
}
