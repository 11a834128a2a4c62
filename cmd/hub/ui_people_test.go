package main

import (
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"automationhub/internal/webui"
	"automationhub/web"
)

// runCount is how many runs a robot has, through the API.
func runCount(t *testing.T, api *hubClient, robotID string) int {
	t.Helper()
	var runs struct {
		Total int `json:"total"`
	}
	if code := api.call("GET", "/runs?limit=1&robot_id="+robotID, "", nil, &runs); code != 200 {
		t.Fatalf("GET /runs: %d", code)
	}
	return runs.Total
}

// hiddenValue is the value of a hidden field of a page, as a browser would
// send it back.
func hiddenValue(t *testing.T, page, name string) string {
	t.Helper()
	m := regexp.MustCompile(`<input type="hidden" name="` + name + `" value="([^"]*)">`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no hidden field %s in\n%s", name, page)
	}
	return html.UnescapeString(m[1])
}

func TestUIRunWithInput(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			_, base := startUIHub(t, db, nil)
			api := login(t, base+"/api/v1", "admin", "admin-password-1")
			robotID := api.shellRobotDeclaring("input-robot", "#!/bin/sh\necho \"$@\"\n", "PERIOD", "DB_PASSWORD")
			adminCreateUser(t, api, map[string]any{"username": "olga", "password": "olga-password-1", "role": "Operator", "full_name": "Olga Operadora"})
			olga := uiLogin(t, base, "olga", "olga-password-1")
			page := "/robots/" + robotID
			run := "/robots/" + robotID + "/run"

			code, body := olga.get(page)
			for _, want := range []string{`id="run-input-form"`, `name="arguments"`, `name="env"`, `name="timeout"`, `max="604800"`, `value="review"`} {
				if code != 200 || !strings.Contains(body, want) {
					t.Errorf("robot page (%d) lacks %s", code, want)
				}
			}
			if code, body := newUIClientAs(t, base, "admin").get(page); code != 200 || !strings.Contains(body, `id="run-input-form"`) {
				t.Errorf("admin robot page: %d, no run form", code)
			}

			t.Run("invalid input runs nothing", func(t *testing.T) {
				before := runCount(t, api, robotID)
				for _, tc := range []struct {
					name        string
					form        url.Values
					status      int
					field, want string
				}{
					{"line without =", url.Values{"step": {"review"}, "env": {"PERIOD=1\r\nNOEQUALS"}}, 422, "ri-env-error", "Line 2: write NAME=value."},
					{"empty name", url.Values{"step": {"review"}, "env": {" =x"}}, 422, "ri-env-error", "Line 1: write NAME=value."},
					{"name twice", url.Values{"step": {"review"}, "env": {"A=1\nA=2"}}, 422, "ri-env-error", "Line 2: A is set twice."},
					{"timeout zero", url.Values{"step": {"review"}, "timeout": {"0"}}, 422, "ri-timeout-error", "from 1 to 604800"},
					{"timeout too long", url.Values{"step": {"review"}, "timeout": {"604801"}}, 422, "ri-timeout-error", "from 1 to 604800"},
					{"timeout not a number", url.Values{"step": {"review"}, "timeout": {"1h"}}, 422, "ri-timeout-error", "whole number"},
					{"confirm checks again", url.Values{"step": {"confirm"}, "env": {"NOEQUALS"}}, 422, "ri-env-error", "Line 1"},
					// The API's refusal, in English, next to its field.
					{"name the API refuses", url.Values{"step": {"confirm"}, "env": {"1BAD=x"}}, 422, "ri-env-error", `&#34;1BAD&#34; is not a valid variable name`},
				} {
					code, body := olga.post(run, tc.form)
					if code != tc.status || !strings.Contains(body, `id="`+tc.field+`"`) || !strings.Contains(body, tc.want) {
						t.Errorf("%s: %d, want %d with %s %q", tc.name, code, tc.status, tc.field, tc.want)
					}
					if !strings.Contains(body, "<details open>") {
						t.Errorf("%s: the form is folded", tc.name)
					}
					if strings.Contains(body, "runtime_env") {
						t.Errorf("%s: the API's raw message is shown", tc.name)
					}
					if env := tc.form.Get("env"); env != "" && !strings.Contains(body, html.EscapeString(env)) {
						t.Errorf("%s: the typed environment is lost", tc.name)
					}
				}
				if code, _ := olga.post(run, url.Values{"step": {"review"}, "env": {"1BAD=x"}}); code != 200 {
					t.Errorf("review of a name only the API checks: %d, want 200", code)
				}
				if after := runCount(t, api, robotID); after != before {
					t.Errorf("runs: %d → %d; refused input started a run", before, after)
				}
			})

			var runID string
			t.Run("review, edit, confirm", func(t *testing.T) {
				before := runCount(t, api, robotID)
				form := url.Values{"step": {"review"}, "arguments": {"--period\r\n  2024 01  \r\n\r\n--flag"},
					"env": {"PERIOD=2024-01\r\nDB_PASSWORD = hunter2\r\n"}, "timeout": {"120"}}
				code, review := olga.post(run, form)
				if code != 200 || !strings.Contains(review, `id="run-confirm"`) {
					t.Fatalf("review: %d\n%s", code, review)
				}
				for _, want := range []string{`<li class="mono">--period</li>`, `<li class="mono">  2024 01  </li>`, `<li class="mono">--flag</li>`,
					`<dt class="mono">DB_PASSWORD</dt><dd class="mono">***</dd>`, `<dt class="mono">PERIOD</dt><dd class="mono">2024-01</dd>`, "<dd>120</dd>"} {
					if !strings.Contains(review, want) {
						t.Errorf("review lacks %s", want)
					}
				}
				if runCount(t, api, robotID) != before {
					t.Fatal("the review started a run")
				}
				back := url.Values{}
				for _, k := range []string{"arguments", "env", "timeout"} {
					back.Set(k, hiddenValue(t, review, k))
				}
				back.Set("step", "edit")
				if code, body := olga.post(run, back); code != 200 || !strings.Contains(body, "<details open>") || !strings.Contains(body, "DB_PASSWORD = hunter2") {
					t.Errorf("edit: %d, form not refilled", code)
				}
				back.Set("step", "confirm")
				code, loc := regNoFollow(olga).post(run, back)
				if code != http.StatusSeeOther || !strings.HasPrefix(loc, "/runs/") {
					t.Fatalf("confirm: %d %q", code, loc)
				}
				runID = strings.TrimPrefix(loc, "/runs/")
				var r struct {
					Args    []string          `json:"runtime_arguments"`
					Env     map[string]string `json:"runtime_env"`
					Timeout int               `json:"timeout_seconds"`
				}
				if code := api.call("GET", "/runs/"+runID, "", nil, &r); code != 200 {
					t.Fatalf("GET run: %d", code)
				}
				want := []string{"--period", "  2024 01  ", "--flag"}
				if diff := cmp.Diff(want, r.Args); diff != "" {
					t.Errorf("runtime_arguments (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(map[string]string{"PERIOD": "2024-01", "DB_PASSWORD": "***"}, r.Env); diff != "" {
					t.Errorf("runtime_env (-want +got):\n%s", diff)
				}
				if r.Timeout != 120 {
					t.Errorf("timeout_seconds = %d, want 120", r.Timeout)
				}
				api.waitRun(runID, 30*time.Second)
				// The robot got the value, not the mask.
				if msgs := strings.Join(api.logMessages(runID), "\n"); !strings.Contains(msgs, "--period   2024 01   --flag") {
					t.Errorf("robot output:\n%s", msgs)
				}
			})
			if runID == "" {
				t.Fatal("no run")
			}

			t.Run("run page shows the input and who started it", func(t *testing.T) {
				admin := newUIClientAs(t, base, "admin")
				code, body := admin.get("/runs/" + runID)
				if code != 200 {
					t.Fatalf("run page: %d", code)
				}
				for _, want := range []string{`id="run-input"`, `<li class="mono">  2024 01  </li>`, `<dt class="mono">DB_PASSWORD</dt><dd class="mono">***</dd>`,
					`<dd class="mono">2024-01</dd>`, `id="run-started-by">Olga Operadora<`} {
					if !strings.Contains(body, want) {
						t.Errorf("run page lacks %s", want)
					}
				}
				if strings.Contains(body, "hunter2") {
					t.Error("the run page shows a secret value")
				}
				// The status block that refreshes itself names people too.
				if _, block := admin.get("/runs/" + runID + "?block=status"); !strings.Contains(block, `id="run-started-by">Olga Operadora<`) {
					t.Errorf("status block:\n%s", block)
				}
			})
		})
	}
}

// newUIClientAs signs in through the UI as a user whose password is
// "<name>-password-1", or the admin.
func newUIClientAs(t *testing.T, base, name string) *uiClient {
	t.Helper()
	if name == "admin" {
		return uiLogin(t, base, "admin", "admin-password-1")
	}
	return uiLogin(t, base, name, name+"-password-1")
}

// TestUIRunsNameWhoStarted checks the runs list and the run page name the
// users who started runs with one directory read per page, counted on a
// UI served over the hub's own API.
func TestUIRunsNameWhoStarted(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			m, base := startUIHub(t, db, nil)
			api := login(t, base+"/api/v1", "admin", "admin-password-1")
			robotID := api.shellRobot("names-robot", "#!/bin/sh\necho hi\n")
			adminCreateUser(t, api, map[string]any{"username": "paulo", "password": "paulo-password-1", "role": "Operator", "full_name": "Paulo Pereira"})
			adminCreateUser(t, api, map[string]any{"username": "rita", "password": "rita-password-1", "role": "Operator"})
			var ids []string
			for _, who := range []string{"paulo", "rita", "paulo"} {
				c := login(t, base+"/api/v1", who, who+"-password-1")
				var r struct {
					RunID string `json:"run_id"`
				}
				if code := c.call("POST", "/runs/"+robotID+"/execute", "application/json", strings.NewReader(`{}`), &r); code != 202 {
					t.Fatalf("execute as %s: %d", who, code)
				}
				ids = append(ids, r.RunID)
			}

			var directoryReads atomic.Int64
			counting := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/api/v1/users/directory" {
					directoryReads.Add(1)
				}
				m.server.APIHandler().ServeHTTP(w, r)
			})
			ui, err := webui.New(counting, web.FS, webui.Config{SecretKey: strings.Repeat("k", 40), LocalLogin: true})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(ui)
			t.Cleanup(srv.Close)
			c := uiLogin(t, srv.URL, "rita", "rita-password-1")

			for _, tc := range []struct {
				path string
				want []string
			}{
				{"/runs", []string{`<td class="started-by">Paulo Pereira</td>`, `<td class="started-by">rita</td>`}},
				{"/runs/" + ids[0], []string{`id="run-started-by">Paulo Pereira<`}},
			} {
				directoryReads.Store(0)
				code, body := c.get(tc.path)
				if code != 200 {
					t.Fatalf("GET %s: %d", tc.path, code)
				}
				for _, w := range tc.want {
					if !strings.Contains(body, w) {
						t.Errorf("GET %s lacks %s", tc.path, w)
					}
				}
				if n := directoryReads.Load(); n != 1 {
					t.Errorf("GET %s read the directory %d times, want once", tc.path, n)
				}
			}
		})
	}
}

func TestUIChangeOwnPassword(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			_, base := startUIHub(t, db, nil)
			api := login(t, base+"/api/v1", "admin", "admin-password-1")
			adminCreateUser(t, api, map[string]any{"username": "sara", "password": "sara-password-1", "role": "Viewer",
				"full_name": "Sara Silva", "email": "sara@example.com"})
			sara := newUIClientAs(t, base, "sara")
			other := newUIClientAs(t, base, "sara") // another browser
			token := login(t, base+"/api/v1", "sara", "sara-password-1")

			code, body := sara.get("/runs")
			if code != 200 || !strings.Contains(body, `<a class="nav-user" href="/account"`) {
				t.Fatalf("the user menu has no account link: %d", code)
			}
			code, body = sara.get("/account")
			for _, want := range []string{"Sara Silva", "sara@example.com", "Viewer", `id="password-form"`, `name="current_password"`, `autocomplete="new-password"`} {
				if code != 200 || !strings.Contains(body, want) {
					t.Errorf("account page (%d) lacks %s", code, want)
				}
			}

			for _, tc := range []struct {
				name        string
				form        url.Values
				status      int
				field, want string
			}{
				{"new passwords differ", url.Values{"current_password": {"sara-password-1"}, "new_password": {"sara-password-2"}, "confirm_password": {"sara-password-3"}},
					422, "confirm-error", "not the same"},
				{"wrong current password", url.Values{"current_password": {"nope-nope-1"}, "new_password": {"sara-password-2"}, "confirm_password": {"sara-password-2"}},
					400, "current-error", "The current password is not correct."},
				{"new password too short", url.Values{"current_password": {"sara-password-1"}, "new_password": {"short"}, "confirm_password": {"short"}},
					422, "new-error", "Enter at least 8 characters."},
			} {
				code, body := sara.post("/account/password", tc.form)
				if code != tc.status || !strings.Contains(body, `id="`+tc.field+`"`) || !strings.Contains(body, tc.want) {
					t.Errorf("%s: %d, want %d with %s %q\n%s", tc.name, code, tc.status, tc.field, tc.want, body)
				}
				for _, pw := range []string{tc.form.Get("current_password"), tc.form.Get("new_password")} {
					if len(pw) >= 8 && strings.Contains(body, pw) {
						t.Errorf("%s: the page shows a typed password", tc.name)
					}
				}
			}
			if code := token.call("GET", "/auth/me", "", nil, nil); code != 200 {
				t.Fatalf("a refused change signed the API token out: %d", code)
			}

			code, body = sara.post("/account/password", url.Values{"current_password": {"sara-password-1"},
				"new_password": {"sara-password-2"}, "confirm_password": {"sara-password-2"}})
			if code != 200 || !strings.Contains(body, `id="password-changed"`) {
				t.Fatalf("change: %d\n%s", code, body)
			}
			// This browser stays signed in; other sessions and tokens are out.
			if code, body := sara.get("/runs"); code != 200 || strings.Contains(body, `action="/login"`) {
				t.Errorf("this browser was signed out: %d", code)
			}
			if code, body := other.get("/runs"); code != 200 || !strings.Contains(body, `action="/login"`) {
				t.Errorf("the other browser is still signed in: %d", code)
			}
			if code := token.call("GET", "/auth/me", "", nil, nil); code != 401 {
				t.Errorf("old API token: %d, want 401", code)
			}
			login(t, base+"/api/v1", "sara", "sara-password-2")

			// The Portuguese page shows the API's message in Portuguese.
			req, _ := http.NewRequest("POST", base+"/account/password", strings.NewReader(url.Values{"csrf": {sara.csrf()},
				"current_password": {"wrong-wrong-1"}, "new_password": {"sara-password-3"}, "confirm_password": {"sara-password-3"}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.AddCookie(&http.Cookie{Name: "hub_lang", Value: "pt-BR"})
			if code, body := sara.do(req); code != 400 || !strings.Contains(body, "A senha atual não está correta.") {
				t.Errorf("pt-BR wrong password: %d", code)
			}
		})
	}
}

// TestUIShowsAPIMessagesInTheReadersLanguage checks real API errors, some
// in the previous backend's Portuguese, reach the English page in English
// and the Portuguese page in Portuguese.
func TestUIShowsAPIMessagesInTheReadersLanguage(t *testing.T) {
	_, base := startUIHub(t, "sqlite", nil)
	api := login(t, base+"/api/v1", "admin", "admin-password-1")
	adminCreateUser(t, api, map[string]any{"username": "vito", "password": "vito-password-1", "role": "Viewer"})
	admin := newUIClientAs(t, base, "admin")
	vito := newUIClientAs(t, base, "vito")
	for _, tc := range []struct {
		c            *uiClient
		path         string
		status       int
		en, pt, wire string
	}{
		{admin, "/runs/" + uuid.NewString(), 404, "Run not found.", "Execução não encontrada.", "Run nao encontrada."},
		{admin, "/runs/not-a-run", 400, "This is not a valid run id.", "Este não é um identificador de execução válido.", "run_id invalido."},
		{vito, "/admin/users", 403, "You do not have permission to do this.", "Você não tem permissão para fazer isso.", "Permissao insuficiente."},
		{admin, "/robots/" + uuid.NewString(), 404, "Robot not found.", "Robô não encontrado.", ""},
	} {
		for lang, want := range map[string]string{"en": tc.en, "pt-BR": tc.pt} {
			req, _ := http.NewRequest("GET", base+tc.path, nil)
			req.AddCookie(&http.Cookie{Name: "hub_lang", Value: lang})
			code, body := tc.c.do(req)
			if code != tc.status || !strings.Contains(body, want) {
				t.Errorf("%s GET %s: %d, want %d with %q", lang, tc.path, code, tc.status, want)
			}
			if tc.wire != "" && strings.Contains(body, tc.wire) {
				t.Errorf("%s GET %s shows the API's text %q", lang, tc.path, tc.wire)
			}
		}
	}
}

func TestUIAuditTrailIsCompact(t *testing.T) {
	_, base := startUIHub(t, "sqlite", nil)
	anon := newUIClient(t, base, true)
	anon.get("/login")
	if code, _ := anon.post("/login", url.Values{"username": {"admin"}, "password": {"not-the-password"}}); code != 401 {
		t.Fatalf("failed login: %d", code)
	}
	admin := newUIClientAs(t, base, "admin")
	code, body := admin.get("/admin/audit?action=auth.login_failed")
	if code != 200 {
		t.Fatalf("audit: %d", code)
	}
	for _, want := range []string{
		`data-action="auth.login_failed"`,
		`<details class="meta"><summary>Details</summary><pre class="meta">`,
		`&#34;username&#34;: &#34;admin&#34;`,
		`<td class="a-ip mono">127.0.0.1</td>`,
		`<td class="a-target">user <span class="mono">`, // the target user, named
		`<span class="muted">Not signed in</span>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("audit page lacks %s", want)
		}
	}
	if strings.Contains(body, "not-the-password") {
		t.Error("the audit trail shows the password tried")
	}
	if strings.Contains(body, `<code class="meta">`) {
		t.Error("metadata is not folded")
	}
}
