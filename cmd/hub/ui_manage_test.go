package main

import (
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// manageState is what the management pages may change, as the API shows it.
type manageState struct {
	Domains []struct {
		ID, Name, Slug string
		Description    *string
	}
	Services []struct {
		ID, Title        string
		DomainID         string `json:"domain_id"`
		RobotID          string `json:"robot_id"`
		Description      *string
		Enabled          bool
		DefaultVersionID *string         `json:"default_version_id"`
		FormSchemaJSON   json.RawMessage `json:"form_schema_json"`
		RunTemplateJSON  json.RawMessage `json:"run_template_json"`
	}
}

func readManageState(t *testing.T, api *hubClient) manageState {
	t.Helper()
	var s manageState
	if code := api.call("GET", "/domains", "", nil, &s.Domains); code != 200 {
		t.Fatalf("GET /domains: %d", code)
	}
	if code := api.call("GET", "/services?limit=200", "", nil, &s.Services); code != 200 {
		t.Fatalf("GET /services: %d", code)
	}
	return s
}

// unchanged fails the test when the portal's domains or services differ
// from before.
func unchanged(t *testing.T, api *hubClient, before manageState, what string) {
	t.Helper()
	if after := readManageState(t, api); !reflect.DeepEqual(after, before) {
		t.Errorf("%s changed the portal:\nbefore %+v\nafter  %+v", what, before, after)
	}
}

// fieldError finds the message shown next to an input of a management form
// (the first field-error paragraph after the input's label).
func fieldError(body, inputID string) string {
	m := regexp.MustCompile(`(?s)<label for="` + regexp.QuoteMeta(inputID) + `">.*?</label>\s*<p class="field-error"[^>]*>([^<]*)</p>`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

// docError is the message shown next to one of the editor's JSON documents.
func docError(body, name string) string {
	m := regexp.MustCompile(`<p class="field-error" id="err-` + name + `"[^>]*>([^<]*)</p>`).FindStringSubmatch(body)
	if m == nil {
		return "(no error box)"
	}
	return html.UnescapeString(m[1])
}

func TestUIManage(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the robot is a shell script")
	}
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) { uiManage(t, db) })
	}
}

func uiManage(t *testing.T, db string) {
	_, base := startUIHub(t, db, nil)
	api := login(t, base+"/api/v1", "admin", "admin-password-1")
	robot := api.shellRobot("manage-robot", "#!/bin/sh\necho \"$@\"\n")
	version := regVersionID(t, api, robot, "1.0.0")
	regCreateUser(t, api, "viewer", "Viewer")
	regCreateUser(t, api, "operator", "Operator")
	admin := uiLogin(t, base, "admin", "admin-password-1")
	adminNF := regNoFollow(admin)
	others := map[string]*uiClient{"viewer": uiLogin(t, base, "viewer", "password-viewer"), "operator": uiLogin(t, base, "operator", "password-operator")}

	// The portal home leads managers to the management pages.
	if code, body := admin.get("/"); code != 200 || !strings.Contains(body, `href="/manage"`) {
		t.Fatalf("portal home: %d, no link to /manage", code)
	}
	if code, body := admin.get("/manage"); code != 200 || !strings.Contains(body, `id="create-domain"`) {
		t.Fatalf("GET /manage: %d\n%s", code, body)
	}

	// Domains: bad input comes back next to its input, nothing is saved.
	before := readManageState(t, api)
	for _, bad := range []struct {
		form    url.Values
		status  int
		input   string // where the message shows ("" = on top)
		message string
	}{
		{url.Values{"name": {"DP/RH"}, "slug": {"Bad Slug"}}, 422, "d-slug", "expected string to match pattern"},
		{url.Values{"name": {"X"}, "slug": {"ok-slug"}}, 422, "d-name", "Enter at least 2 characters."},
	} {
		code, body := admin.post("/manage/domains", bad.form)
		if code != bad.status || !strings.Contains(fieldError(body, bad.input), bad.message) {
			t.Errorf("create domain %v: %d, message at %s = %q, want %q", bad.form, code, bad.input, fieldError(body, bad.input), bad.message)
		}
		if !strings.Contains(body, `value="`+html.EscapeString(bad.form.Get("slug"))+`"`) {
			t.Errorf("create domain %v: typed slug not kept", bad.form)
		}
	}
	unchanged(t, api, before, "invalid domain forms")

	admin.get("/manage")
	code, loc := adminNF.post("/manage/domains", url.Values{"name": {"DP/RH"}, "slug": {"dp-rh"}, "description": {"Pessoal"}})
	if code != http.StatusSeeOther || !strings.HasPrefix(loc, "/manage/domains/") {
		t.Fatalf("create domain: %d %q", code, loc)
	}
	state := readManageState(t, api)
	if len(state.Domains) != 1 || state.Domains[0].Slug != "dp-rh" || state.Domains[0].Description == nil || *state.Domains[0].Description != "Pessoal" {
		t.Fatalf("domains after create: %+v", state.Domains)
	}
	domainID := state.Domains[0].ID
	if loc != "/manage/domains/"+domainID+"?saved=1" {
		t.Errorf("create domain went to %q", loc)
	}
	code, body := admin.post("/manage/domains", url.Values{"name": {"DP/RH"}, "slug": {"other"}})
	if code != 400 || !strings.Contains(body, "Domain name already exists.") {
		t.Errorf("duplicate domain name: %d", code)
	}
	if code, body := admin.get("/portal/dp-rh"); code != 200 || !strings.Contains(body, `href="/manage/domains/`+domainID+`"`) {
		t.Errorf("domain page lacks the link to its management page: %d", code)
	}

	// Edit the domain; an empty description clears it.
	admin.get("/manage/domains/" + domainID)
	code, body = admin.post("/manage/domains/"+domainID, url.Values{"name": {"Pessoal e RH"}, "slug": {"dp-rh"}, "description": {""}})
	if code != 200 || !strings.Contains(body, `id="saved"`) {
		t.Fatalf("edit domain: %d", code)
	}
	if d := readManageState(t, api).Domains[0]; d.Name != "Pessoal e RH" || d.Description != nil {
		t.Errorf("domain after edit: %+v", d)
	}

	// Services: the editor starts in the domain, with the robot picker.
	code, body = admin.get("/manage/services/new?domain_id=" + domainID)
	for _, want := range []string{`<option value="` + domainID + `" selected>`, `<option value="` + robot + `">manage-robot</option>`, `id="preview"`} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("new service page: %d, lacks %s", code, want)
		}
	}
	serviceForm := func(edit func(url.Values)) url.Values {
		v := url.Values{"title": {"Conciliar"}, "description": {"Concilia"}, "domain_id": {domainID}, "robot_id": {robot},
			"default_version_id": {version}, "enabled": {"true"}, "form_schema_json": {manageSchema}, "run_template_json": {manageTemplate}}
		if edit != nil {
			edit(v)
		}
		return v
	}

	// An invalid form or template is shown next to its editor, the typed
	// text is kept and nothing is saved.
	before = readManageState(t, api)
	for _, bad := range []struct {
		name     string
		edit     func(url.Values)
		doc, msg string
	}{
		{"not JSON", func(v url.Values) { v.Set("form_schema_json", `{"fields": [`) }, "form_schema_json",
			"Invalid form_schema_json: form_schema_json must be valid JSON."},
		{"unknown type", func(v url.Values) { v.Set("form_schema_json", `{"fields":[{"key":"a","label":"A","type":"email"}]}`) }, "form_schema_json",
			"Invalid form_schema_json: Field 'a' has unknown type 'email'; type must be one of: text, number, integer, date, select, checkbox."},
		{"fractional integer default", func(v url.Values) {
			v.Set("form_schema_json", `{"fields":[{"key":"qtd","label":"Q","type":"integer","default":2.5}]}`)
		}, "form_schema_json", "Invalid form_schema_json: Field 'qtd' has an invalid default: Field 'qtd' must be a whole number."},
		{"template names an unknown field", func(v url.Values) { v.Set("run_template_json", `{"mapping":{"runtime_arguments":["{nope}"]}}`) }, "run_template_json",
			"Invalid run_template_json: run_template_json references unknown field 'nope'."},
	} {
		admin.get("/manage/services/new")
		form := serviceForm(bad.edit)
		code, body := admin.post("/manage/services", form)
		if code != http.StatusBadRequest || docError(body, bad.doc) != bad.msg {
			t.Errorf("%s: %d, error next to %s = %q, want %q", bad.name, code, bad.doc, docError(body, bad.doc), bad.msg)
		}
		if !strings.Contains(body, html.EscapeString(form.Get(bad.doc))+"</textarea>") {
			t.Errorf("%s: the typed %s is not kept", bad.name, bad.doc)
		}
		if strings.Contains(body, `id="form-error"`) {
			t.Errorf("%s: the error is also shown on top", bad.name)
		}
	}
	// The API's other refusals come back too, on top or next to their input.
	admin.get("/manage/services/new")
	code, body = admin.post("/manage/services", serviceForm(func(v url.Values) { v.Set("title", "X") }))
	if code != http.StatusUnprocessableEntity || !strings.Contains(fieldError(body, "svc-title"), "Enter at least 2 characters.") {
		t.Errorf("short title: %d %q", code, fieldError(body, "svc-title"))
	}
	unchanged(t, api, before, "invalid service forms")

	admin.get("/manage/services/new")
	code, loc = regNoFollow(admin).post("/manage/services", serviceForm(nil))
	if code != http.StatusSeeOther || !strings.HasPrefix(loc, "/manage/services/") {
		t.Fatalf("create service: %d %q", code, loc)
	}
	state = readManageState(t, api)
	if len(state.Services) != 1 {
		t.Fatalf("services after create: %d", len(state.Services))
	}
	svc := state.Services[0]
	if svc.Title != "Conciliar" || !svc.Enabled || svc.RobotID != robot || svc.DomainID != domainID || svc.DefaultVersionID == nil || *svc.DefaultVersionID != version {
		t.Errorf("created service: %+v", svc)
	}
	var fields struct{ Fields []struct{ Key, Type string } }
	if json.Unmarshal(svc.FormSchemaJSON, &fields) != nil || len(fields.Fields) != 2 || fields.Fields[0].Type != "integer" {
		t.Errorf("saved form: %s", svc.FormSchemaJSON)
	}
	if loc != "/manage/services/"+svc.ID+"?saved=1" {
		t.Errorf("create service went to %q", loc)
	}

	// The editor shows the saved service and the preview of its form.
	code, body = admin.get(loc)
	for _, want := range []string{`id="saved"`, `value="Conciliar"`, `id="f-qtd"`, `step="1"`, "Whole number, between 1 and 10",
		`<option value="` + version + `" selected>1.0.0 · stable · active</option>`} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("service editor: %d, lacks %s", code, want)
		}
	}
	if code, body := admin.get("/services/" + svc.ID); code != 200 || !strings.Contains(body, `href="/manage/services/`+svc.ID+`"`) {
		t.Errorf("service page lacks the link to its editor: %d", code)
	}

	// Edit: every input is applied; the active version is "no version".
	code, body = admin.post("/manage/services/"+svc.ID, serviceForm(func(v url.Values) {
		v.Set("title", "Conciliar contas")
		v.Set("default_version_id", "")
		v.Del("enabled")
	}))
	if code != 200 || !strings.Contains(body, `id="saved"`) {
		t.Fatalf("edit service: %d", code)
	}
	svc = readManageState(t, api).Services[0]
	if svc.Title != "Conciliar contas" || svc.Enabled || svc.DefaultVersionID != nil {
		t.Errorf("service after edit: %+v", svc)
	}

	// Enable and disable from the domain's page.
	for _, enable := range []string{"true", "false", "true"} {
		admin.get("/manage/domains/" + domainID)
		code, body := admin.post("/manage/services/"+svc.ID+"/enabled", url.Values{"enabled": {enable}})
		if code != 200 || !strings.Contains(body, `data-service="`+svc.ID+`"`) {
			t.Fatalf("enabled=%s: %d", enable, code)
		}
		if got := readManageState(t, api).Services[0].Enabled; got != (enable == "true") {
			t.Errorf("enabled=%s: service enabled = %v", enable, got)
		}
	}

	// Viewers and Operators see no management links, get 403 on every
	// management page and change nothing.
	before = readManageState(t, api)
	posts := []struct {
		path string
		form url.Values
	}{
		{"/manage/domains", url.Values{"name": {"Outra"}, "slug": {"outra"}}},
		{"/manage/domains/" + domainID, url.Values{"name": {"Hacked"}, "slug": {"hacked"}}},
		{"/manage/services", serviceForm(func(v url.Values) { v.Set("title", "Outro") })},
		{"/manage/services/" + svc.ID, serviceForm(func(v url.Values) { v.Set("title", "Hacked") })},
		{"/manage/services/" + svc.ID + "/enabled", url.Values{"enabled": {"false"}}},
		{"/manage/preview", serviceForm(nil)},
	}
	for who, c := range others {
		t.Run(who, func(t *testing.T) {
			for _, p := range []string{"/", "/portal/dp-rh", "/services/" + svc.ID} {
				code, body := c.get(p)
				if code != 200 || strings.Contains(body, `href="/manage`) {
					t.Errorf("GET %s: %d, shows a management link", p, code)
				}
			}
			for _, p := range []string{"/manage", "/manage/domains/" + domainID, "/manage/services/new", "/manage/services/" + svc.ID, "/manage/versions?robot_id=" + robot} {
				if code, _ := c.get(p); code != http.StatusForbidden {
					t.Errorf("GET %s: %d, want 403", p, code)
				}
			}
			c.get("/")
			for _, p := range posts {
				if code, _ := c.post(p.path, p.form); code != http.StatusForbidden {
					t.Errorf("POST %s: %d, want 403", p.path, code)
				}
			}
		})
	}
	unchanged(t, api, before, "refused users")

	// Forms without the CSRF token are refused before anything happens.
	admin.get("/manage")
	for _, p := range posts {
		form := url.Values{"csrf": {"forged"}}
		for k, v := range p.form {
			form[k] = v
		}
		if code, _ := admin.post(p.path, form); code != http.StatusForbidden {
			t.Errorf("POST %s with a forged token: %d, want 403", p.path, code)
		}
		form.Set("csrf", "")
		if code, _ := admin.post(p.path, form); code != http.StatusForbidden {
			t.Errorf("POST %s without a token: %d, want 403", p.path, code)
		}
	}
	unchanged(t, api, before, "forms without the CSRF token")
}

// TestUIManagePreview: the editor's live check renders the form with the
// service page's field templates, or the API's error next to the right
// document, and saves nothing.
func TestUIManagePreview(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the robot is a shell script")
	}
	_, base := startUIHub(t, "sqlite", nil)
	api := login(t, base+"/api/v1", "admin", "admin-password-1")
	robot := api.shellRobot("preview-robot", "#!/bin/sh\nexit 0\n")
	admin := uiLogin(t, base, "admin", "admin-password-1")
	admin.get("/manage/services/new")
	preview := func(c *uiClient, form, template string) (int, string) {
		t.Helper()
		return c.post("/manage/preview", url.Values{"form_schema_json": {form}, "run_template_json": {template}})
	}
	tests := []struct {
		name, form, template string
		want                 []string
		formErr, tmplErr     string
	}{
		{name: "fields", form: `{"fields":[
			{"key":"n","label":"N","type":"integer","required":true,"validation":{"min":1,"max":10}},
			{"key":"p","label":"Price","type":"number","validation":{"min":0,"step":0.05}},
			{"key":"t","label":"T","type":"text","validation":{"min":3,"regex":"^[A-Z]*$"}},
			{"key":"s","label":"S","type":"select","options":[{"label":"Banco A","value":"a"}]}]}`, template: `{}`,
			want: []string{`id="preview"`, `id="f-n"`, `type="number" step="1" inputmode="numeric"`, `min="1"`, `max="10"`, "Whole number, between 1 and 10",
				`step="0.05"`, "At least 0, a multiple of 0.05", `minlength="3"`, "At least 3 characters, format: ^[A-Z]*$", `<option value="a">Banco A</option>`}},
		{name: "no fields", form: `{}`, want: []string{"The form has no fields yet."}},
		{name: "invalid JSON", form: `{"fields":`, want: []string{"Fix the form to see the preview."},
			formErr: "Invalid form_schema_json: form_schema_json must be valid JSON."},
		{name: "JSON that is not an object", form: `"text"`, formErr: "Invalid form_schema_json: form_schema_json must be a JSON object."},
		{name: "fractional step on an integer", form: `{"fields":[{"key":"n","label":"N","type":"integer","validation":{"step":0.5}}]}`,
			formErr: "Invalid form_schema_json: Field 'n': validation.step must be a whole number for integer fields."},
		{name: "bad template", form: `{"fields":[{"key":"n","label":"N","type":"integer"}]}`, template: `{"mapping":{"runtime_arguments":"x"}}`,
			tmplErr: "Invalid run_template_json: mapping.runtime_arguments must be an array of strings."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := preview(admin, tt.form, tt.template)
			if code != 200 {
				t.Fatalf("preview: %d\n%s", code, body)
			}
			if strings.Contains(body, "<html") {
				t.Errorf("preview answered a whole page")
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("preview lacks %s:\n%s", w, body)
				}
			}
			if got := docError(body, "form_schema_json"); got != tt.formErr {
				t.Errorf("form error = %q, want %q", got, tt.formErr)
			}
			if got := docError(body, "run_template_json"); got != tt.tmplErr {
				t.Errorf("template error = %q, want %q", got, tt.tmplErr)
			}
		})
	}
	// The robot picker loads the robot's versions.
	code, body := admin.get("/manage/versions?robot_id=" + robot)
	if code != 200 || !strings.Contains(body, ">1.0.0 · stable · active</option>") || !strings.Contains(body, ">0.1.0 · stable</option>") || strings.Contains(body, "<html") {
		t.Errorf("versions: %d\n%s", code, body)
	}
	// Hints speak the reader's language.
	admin.get("/lang/pt-BR")
	admin.get("/manage/services/new")
	if _, body := preview(admin, tests[0].form, "{}"); !strings.Contains(body, "Número inteiro, entre 1 e 10") || !strings.Contains(body, "No mínimo 3 caracteres, formato: ^[A-Z]*$") {
		t.Errorf("Portuguese hints missing:\n%s", body)
	}
	// Previewing saves nothing.
	var services []json.RawMessage
	if api.call("GET", "/services", "", nil, &services); len(services) != 0 {
		t.Errorf("previews created %d services", len(services))
	}
}
