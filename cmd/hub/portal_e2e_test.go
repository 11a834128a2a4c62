package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"automationhub/internal/config"
	"automationhub/internal/hubtest"
)

const seedService = `{
  "domain_id": "%DOMAIN%", "robot_id": "%ROBOT%", "title": "Gerar relatorio ASO", "description": "Relatorio", "icon": "file-text",
  "enabled": true, "default_version_id": null,
  "form_schema_json": {"fields": [
    {"key": "periodo", "label": "Periodo", "type": "text", "required": true, "helpText": "YYYY-MM", "validation": {"regex": "^\\d{4}-\\d{2}$"}},
    {"key": "incluir_inativos", "label": "Incluir Inativos", "type": "checkbox", "default": false},
    {"key": "observacao", "label": "Observacao", "type": "text"}
  ]},
  "run_template_json": {"defaults": {"incluir_inativos": false},
    "mapping": {"runtime_arguments": ["--periodo={periodo}", "--inativos={incluir_inativos}", "--obs={observacao}"],
                "runtime_env": {"SERVICE_DOMAIN": "dp-rh"}}}
}`

// TestPortalSeedExample runs the previous backend's README example end to
// end through a real robot that prints its argv and environment.
func TestPortalSeedExample(t *testing.T) {
	for _, dbName := range []string{"sqlite", "postgres"} {
		t.Run(dbName, func(t *testing.T) { portalSeedExample(t, dbName) })
	}
}

func portalSeedExample(t *testing.T, dbName string) {
	vars := map[string]string{"DEFAULT_ADMIN_PASSWORD": "admin-password-1"}
	if dbName == "postgres" {
		vars["DATABASE_URL"] = hubtest.DatabaseConfig(t, config.Postgres).DSN
	}
	m, stop := startMain(t, "all", vars)
	defer stop()
	c := login(t, "http://"+m.Addr.String()+"/api/v1", "admin", "admin-password-1")
	robot := c.shellRobotDeclaring("portal-robot", "#!/bin/sh\nfor a in \"$@\"; do echo \"arg=[$a]\"; done\necho \"env=$SERVICE_DOMAIN\"\n", "SERVICE_DOMAIN")

	var domain struct{ ID string }
	if code := c.call("POST", "/domains", "application/json", strings.NewReader(`{"name":"DP/RH","slug":"dp-rh","description":"Servicos para pessoal e RH"}`), &domain); code != 201 || domain.ID == "" {
		t.Fatalf("create domain: %d", code)
	}
	for _, dup := range []struct{ body, detail string }{
		{`{"name":"DP/RH","slug":"other-slug"}`, "Domain name already exists."},
		{`{"name":"Other","slug":"dp-rh"}`, "Domain slug already exists."},
		{`{"name":"Bad","slug":"Bad Slug"}`, ""},
	} {
		var e struct{ Detail any }
		if code := c.call("POST", "/domains", "application/json", strings.NewReader(dup.body), &e); code/100 != 4 || (dup.detail != "" && e.Detail != dup.detail) {
			t.Errorf("domain %s: %d %v", dup.body, code, e.Detail)
		}
	}
	var svc struct{ ID string }
	body := strings.NewReplacer("%DOMAIN%", domain.ID, "%ROBOT%", robot).Replace(seedService)
	if code := c.call("POST", "/services", "application/json", strings.NewReader(body), &svc); code != 201 || svc.ID == "" {
		t.Fatalf("create service: %d", code)
	}
	var e struct{ Detail string }
	if code := c.call("POST", "/services", "application/json", strings.NewReader(body), &e); code != 400 || e.Detail != "Service title already exists in this domain." {
		t.Errorf("duplicate service title: %d %q", code, e.Detail)
	}
	badRegex := strings.Replace(body, `"^\\d{4}-\\d{2}$"`, `"(unclosed"`, 1)
	badRegex = strings.Replace(badRegex, "Gerar relatorio ASO", "Another title", 1)
	if code := c.call("POST", "/services", "application/json", strings.NewReader(badRegex), &e); code != 400 || !strings.HasPrefix(e.Detail, "Invalid form_schema_json:") {
		t.Errorf("invalid regex at save time: %d %q", code, e.Detail)
	}
	var listed []json.RawMessage
	if code := c.call("GET", "/domains/dp-rh/services", "", nil, &listed); code != 200 || len(listed) != 1 {
		t.Fatalf("domain services: %d %d", code, len(listed))
	}
	var errBody struct{ Detail string }
	if code := c.call("POST", "/services/"+svc.ID+"/run", "application/json", strings.NewReader(`{"parameters":{}}`), &errBody); code != 400 || errBody.Detail != "Field 'Periodo' is required." {
		t.Errorf("run without periodo: %d %q", code, errBody.Detail)
	}
	hostile := `"; rm -rf / # $(id) ` + "`id`" + `'`
	params, _ := json.Marshal(map[string]any{"parameters": map[string]any{"periodo": "2026-02", "observacao": hostile}})
	var run struct {
		RunID          string         `json:"run_id"`
		ServiceID      string         `json:"service_id"`
		ParametersJSON map[string]any `json:"parameters_json"`
		Service        struct{ Title string }
	}
	if code := c.call("POST", "/services/"+svc.ID+"/run", "application/json", strings.NewReader(string(params)), &run); code != 202 {
		t.Fatalf("run: %d", code)
	}
	if run.ServiceID != svc.ID || run.ParametersJSON["periodo"] != "2026-02" || run.ParametersJSON["incluir_inativos"] != false || run.Service.Title != "Gerar relatorio ASO" {
		t.Errorf("run = %+v", run)
	}
	if r := c.waitRun(run.RunID, 30*time.Second); r.Status != "SUCCESS" {
		msg := ""
		if r.ErrorMessage != nil {
			msg = *r.ErrorMessage
		}
		t.Fatalf("run ended %s (%s); log:\n%s", r.Status, msg, strings.Join(c.logMessages(run.RunID), "\n"))
	}
	out := strings.Join(c.logMessages(run.RunID), "\n")
	for _, want := range []string{"arg=[--periodo=2026-02]", "arg=[--inativos=false]", "arg=[--obs=" + hostile + "]", "env=dp-rh"} {
		if !strings.Contains(out, want) {
			t.Errorf("robot output lacks %q:\n%s", want, out)
		}
	}
	var runs []json.RawMessage
	if code := c.call("GET", "/services/"+svc.ID+"/runs", "", nil, &runs); code != 200 || len(runs) != 1 {
		t.Errorf("service runs: %d %d", code, len(runs))
	}
	// A service with history cannot be deleted; disabling it stops new runs.
	if code := c.call("DELETE", "/services/"+svc.ID, "", nil, &errBody); code != 400 {
		t.Errorf("delete a service with runs: %d", code)
	}
	if code := c.call("PATCH", "/services/"+svc.ID, "application/json", strings.NewReader(`{"enabled":false}`), nil); code != 200 {
		t.Errorf("disable: %d", code)
	}
	if code := c.call("POST", "/services/"+svc.ID+"/run", "application/json", strings.NewReader(`{"parameters":{"periodo":"2026-03"}}`), &errBody); code != 400 || errBody.Detail != "Service is currently disabled." {
		t.Errorf("run a disabled service: %d %q", code, errBody.Detail)
	}
	if code := c.call("DELETE", "/domains/"+domain.ID, "", nil, &errBody); code != 400 {
		t.Errorf("delete a domain with services: %d", code)
	}

	// The catalogue shows a user only the services of robots they may see.
	other := c.shellRobot("other-robot", "#!/bin/sh\nexit 0\n")
	var user struct{ ID string }
	if code := c.call("POST", "/users", "application/json", strings.NewReader(`{"username":"scoped","password":"password-scoped","role":"None"}`), &user); code != 201 {
		t.Fatalf("create user: %d", code)
	}
	grant := func(body string) {
		if code := c.call("POST", "/users/"+user.ID+"/permissions", "application/json", strings.NewReader(body), nil); code != 201 {
			t.Fatalf("grant %s: %d", body, code)
		}
	}
	grant(`{"resource_type":"service","action":"service.read"}`)
	grant(`{"resource_type":"robot","action":"robot.read","resource_id":"` + other + `"}`)
	u := login(t, c.base, "scoped", "password-scoped")
	var seen []json.RawMessage
	if code := u.call("GET", "/domains/dp-rh/services?include_disabled=true", "", nil, &seen); code != 200 || len(seen) != 0 {
		t.Errorf("scoped user sees %d services of another robot (%d)", len(seen), code)
	}
	if code := u.call("GET", "/services/"+svc.ID, "", nil, nil); code != 403 {
		t.Errorf("scoped user reads another robot's service: %d", code)
	}
	grant(`{"resource_type":"robot","action":"robot.read","resource_id":"` + robot + `"}`)
	if code := u.call("GET", "/services", "", nil, &seen); code != 200 || len(seen) != 1 {
		t.Errorf("after a grant on its robot: %d services (%d)", len(seen), code)
	}
}
