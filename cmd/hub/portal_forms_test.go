package main

import (
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

const manageSchema = `{"fields": [
  {"key": "qtd", "label": "Quantidade", "type": "integer", "required": true, "validation": {"min": 1, "max": 10}},
  {"key": "obs", "label": "Observacao", "type": "text"}
]}`

const manageTemplate = `{"mapping": {"runtime_arguments": ["--qtd={qtd}"]}}`

// TestPortalFieldErrorsAPI: a service run reports every wrong field in
// "errors" while "detail" keeps the first message, and the validate route
// checks documents as a save does without saving.
func TestPortalFieldErrorsAPI(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			_, base := startUIHub(t, db, nil)
			c := login(t, base+"/api/v1", "admin", "admin-password-1")
			robot := c.shellRobot("api-errors-robot", "#!/bin/sh\nexit 0\n")
			regCreateUser(t, c, "viewer", "Viewer")
			viewer := login(t, base+"/api/v1", "viewer", "password-viewer")
			var domain, svc struct{ ID string }
			c.call("POST", "/domains", "application/json", strings.NewReader(`{"name":"Financeiro","slug":"fin"}`), &domain)
			body := `{"domain_id":"` + domain.ID + `","robot_id":"` + robot + `","title":"Lotes","form_schema_json":` + manageSchema + `}`
			if code := c.call("POST", "/services", "application/json", strings.NewReader(body), &svc); code != 201 {
				t.Fatalf("create service: %d", code)
			}
			type errorBody struct {
				Detail string
				Errors []struct{ Field, Message string }
			}
			var e errorBody
			code := c.call("POST", "/services/"+svc.ID+"/run", "application/json", strings.NewReader(`{"parameters":{"qtd":"2.5","obs":5}}`), &e)
			want := errorBody{Detail: "Field 'qtd' must be a whole number.", Errors: []struct{ Field, Message string }{
				{"qtd", "Field 'qtd' must be a whole number."}, {"obs", "Field 'obs' must be text."}}}
			if code != 400 || !reflect.DeepEqual(e, want) {
				t.Errorf("run with two wrong fields: %d %+v, want %+v", code, e, want)
			}
			// One wrong field: the detail is unchanged from before.
			e = errorBody{}
			if code := c.call("POST", "/services/"+svc.ID+"/run", "application/json", strings.NewReader(`{"parameters":{}}`), &e); code != 400 ||
				e.Detail != "Field 'Quantidade' is required." || len(e.Errors) != 1 || e.Errors[0].Field != "qtd" {
				t.Errorf("run without qtd: %d %+v", code, e)
			}

			for _, tt := range []struct {
				name, body string
				status     int
				field, msg string
			}{
				{"valid objects", `{"form_schema_json":` + manageSchema + `,"run_template_json":` + manageTemplate + `}`, 200, "", ""},
				{"valid text", `{"form_schema_json":` + jsonString(manageSchema) + `}`, 200, "", ""},
				{"text that is not JSON", `{"form_schema_json":"{\"fields\": ["}`, 400, "form_schema_json", "Invalid form_schema_json: form_schema_json must be valid JSON."},
				{"null form", `{"form_schema_json":null}`, 400, "form_schema_json", "Invalid form_schema_json: form_schema_json must be a JSON object."},
				{"bad template", `{"form_schema_json":{},"run_template_json":{"mapping":{"runtime_env":{"A":1}}}}`, 400, "run_template_json",
					"Invalid run_template_json: mapping.runtime_env value of 'A' must be a string."},
				{"form missing", `{}`, 422, "", ""},
			} {
				var got errorBody
				code := c.call("POST", "/services/validate", "application/json", strings.NewReader(tt.body), &got)
				if code != tt.status {
					t.Errorf("validate %s: %d, want %d", tt.name, code, tt.status)
				}
				if tt.field != "" && (got.Detail != tt.msg || len(got.Errors) != 1 || got.Errors[0].Field != tt.field || got.Errors[0].Message != tt.msg) {
					t.Errorf("validate %s: %+v, want %s: %s", tt.name, got, tt.field, tt.msg)
				}
			}
			if code := viewer.call("POST", "/services/validate", "application/json", strings.NewReader(`{"form_schema_json":{}}`), nil); code != 403 {
				t.Errorf("viewer validates: %d, want 403", code)
			}
			// Saving names the document in error too.
			var e2 errorBody
			bad := strings.Replace(body, `"integer"`, `"int"`, 1)
			if code := c.call("POST", "/services", "application/json", strings.NewReader(bad), &e2); code != 400 || len(e2.Errors) != 1 || e2.Errors[0].Field != "form_schema_json" || e2.Errors[0].Message != e2.Detail {
				t.Errorf("create with a bad form: %d %+v", code, e2)
			}
			var services []json.RawMessage
			if c.call("GET", "/services", "", nil, &services); len(services) != 1 {
				t.Errorf("got %d services, want 1", len(services))
			}
		})
	}
}

// jsonString is s as a JSON string.
func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestUIFormAllErrors: a service form shows every wrong field at once, each
// next to its label, keeps the typed values, and accepts integers as the
// robot expects them.
func TestUIFormAllErrors(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the robot is a shell script")
	}
	_, base := startUIHub(t, "sqlite", nil)
	c := login(t, base+"/api/v1", "admin", "admin-password-1")
	robot := c.shellRobot("errors-robot", "#!/bin/sh\nfor a in \"$@\"; do echo \"arg=[$a]\"; done\n")
	var domain, svc struct{ ID string }
	c.call("POST", "/domains", "application/json", strings.NewReader(`{"name":"Financeiro","slug":"fin"}`), &domain)
	body := `{"domain_id":"` + domain.ID + `","robot_id":"` + robot + `","title":"Lotes",
	  "form_schema_json":{"fields":[
	    {"key":"lotes","label":"Lotes","type":"integer","required":true,"validation":{"min":1,"max":50,"step":5}},
	    {"key":"codigo","label":"Codigo","type":"text","required":true,"validation":{"min":3,"regex":"^[A-Z]*$"}},
	    {"key":"taxa","label":"Taxa","type":"number","validation":{"step":0.25}},
	    {"key":"dia","label":"Dia","type":"date","required":true}]},
	  "run_template_json":{"mapping":{"runtime_arguments":["--lotes={lotes}","--taxa={taxa}"]}}}`
	if code := c.call("POST", "/services", "application/json", strings.NewReader(body), &svc); code != 201 {
		t.Fatalf("create service: %d", code)
	}
	ui := uiLogin(t, base, "admin", "admin-password-1")
	code, page := ui.get("/services/" + svc.ID)
	for _, want := range []string{`step="5"`, `step="0.25"`, `inputmode="numeric"`, "Whole number, between 1 and 50, in steps of 5 from 1",
		"At least 3 characters, format: ^[A-Z]*$", "A multiple of 0.25"} {
		if code != 200 || !strings.Contains(page, want) {
			t.Errorf("form: %d, lacks %s", code, want)
		}
	}
	code, page = ui.post("/services/"+svc.ID, url.Values{"lotes": {"2.5"}, "codigo": {"ab"}, "taxa": {"0.3"}, "dia": {""}})
	if code != http.StatusBadRequest {
		t.Fatalf("invalid form: %d", code)
	}
	// Messages the UI's catalogue knows are shown in the reader's words.
	for key, msg := range map[string]string{
		"lotes":  "Field 'lotes' must be a whole number.",
		"codigo": "Codigo must have at least 3 characters.",
		"taxa":   "Field 'Taxa' must be a multiple of 0.25.",
		"dia":    "Dia is required.",
	} {
		want := `<label for="f-` + key + `">`
		i := strings.Index(page, want)
		if i < 0 || !strings.Contains(page, `class="field has-error" data-field="`+key+`"`) {
			t.Errorf("%s: not marked as wrong", key)
			continue
		}
		rest := page[i:]
		if p := strings.Index(rest, `<p class="field-error" id="e-`+key+`"`); p < 0 || !strings.Contains(rest[p:p+600], html.EscapeString(msg)) || strings.Contains(rest[:p], "<input") {
			t.Errorf("%s: message %q not right after its label", key, msg)
		}
	}
	if strings.Contains(page, `id="form-error"`) {
		t.Errorf("field errors are repeated on top")
	}
	for _, want := range []string{`value="2.5"`, `value="ab"`, `value="0.3"`} {
		if !strings.Contains(page, want) {
			t.Errorf("typed value lost: %s", want)
		}
	}
	// "11" is on the step from 1 (1, 6, 11…); integers reach the robot without ".0".
	plain := regNoFollow(ui)
	code, loc := plain.post("/services/"+svc.ID, url.Values{"lotes": {"11"}, "codigo": {"ABC"}, "taxa": {"0.75"}, "dia": {"2026-02-01"}})
	if code != http.StatusSeeOther {
		t.Fatalf("valid form: %d %s", code, loc)
	}
	runID := strings.TrimPrefix(loc, "/runs/")
	if r := c.waitRun(runID, 30*time.Second); r.Status != "SUCCESS" {
		t.Fatalf("run ended %s", r.Status)
	}
	out := strings.Join(c.logMessages(runID), "\n")
	for _, want := range []string{"arg=[--lotes=11]", "arg=[--taxa=0.75]"} {
		if !strings.Contains(out, want) {
			t.Errorf("robot output lacks %s:\n%s", want, out)
		}
	}
}
