package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
)

// runsPerPageForTest is the runs list's page size.
const runsPerPageForTest = 25

// portalFixture is a hub with the seed example service, an admin and a
// Viewer.
type portalFixture struct {
	base, robot, domain, service string
	api                          *hubClient
}

func newPortalFixture(t *testing.T, dbName string) portalFixture {
	t.Helper()
	_, base := startUIHub(t, dbName, nil)
	c := login(t, base+"/api/v1", "admin", "admin-password-1")
	robot := c.shellRobotDeclaring("portal-robot", "#!/bin/sh\nfor a in \"$@\"; do echo \"arg=[$a]\"; done\necho done > \"$HUB_OUTPUT_DIR/out.txt\"\n", "SERVICE_DOMAIN")
	var domain, svc struct{ ID string }
	if code := c.call("POST", "/domains", "application/json", strings.NewReader(`{"name":"DP/RH","slug":"dp-rh","description":"Servicos para pessoal e RH"}`), &domain); code != 201 {
		t.Fatalf("create domain: %d", code)
	}
	body := strings.NewReplacer("%DOMAIN%", domain.ID, "%ROBOT%", robot).Replace(seedService)
	if code := c.call("POST", "/services", "application/json", strings.NewReader(body), &svc); code != 201 {
		t.Fatalf("create service: %d", code)
	}
	if code := c.call("POST", "/users", "application/json", strings.NewReader(`{"username":"viewer","password":"password-viewer","role":"Viewer"}`), nil); code != 201 {
		t.Fatalf("create viewer: %d", code)
	}
	return portalFixture{base: base, robot: robot, domain: domain.ID, service: svc.ID, api: c}
}

// runCount is how many runs the hub has.
func (f portalFixture) runCount(t *testing.T) int {
	var page struct{ Total int }
	if code := f.api.call("GET", "/runs", "", nil, &page); code != 200 {
		t.Fatalf("list runs: %d", code)
	}
	return page.Total
}

func TestUIPortalAndRuns(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the robot is a shell script")
	}
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) { uiPortalAndRuns(t, db) })
	}
}

func uiPortalAndRuns(t *testing.T, db string) {
	f := newPortalFixture(t, db)
	anon := newUIClient(t, f.base, false)
	for path, want := range map[string]string{"/": "/login", "/runs": "/login?next=%2Fruns", "/services/" + f.service: "/login?next=%2Fservices%2F" + f.service} {
		if code, loc := anon.get(path); code != http.StatusSeeOther || loc != want {
			t.Errorf("anonymous GET %s = %d %q, want 303 to %s", path, code, loc, want)
		}
	}

	admin := uiLogin(t, f.base, "admin", "admin-password-1")
	pages := []struct {
		path   string
		status int
		want   []string
	}{
		{"/", 200, []string{`href="/portal/dp-rh"`, "DP/RH", "Servicos para pessoal e RH"}},
		{"/portal/dp-rh", 200, []string{"Gerar relatorio ASO", `href="/services/` + f.service + `"`}},
		{"/portal/no-such-area", 404, []string{"does not exist"}},
		{"/services/" + f.service, 200, []string{`id="f-periodo"`, `pattern="\d{4}-\d{2}"`, `class="req"`, "YYYY-MM", `type="checkbox"`, `id="run-button"`}},
		{"/services/00000000-0000-0000-0000-000000000000", 404, nil},
		{"/services/not-a-uuid", 404, nil},
		{"/runs", 200, []string{"0 runs"}},
		{"/no/such/page", 404, []string{"does not exist"}},
	}
	for _, p := range pages {
		code, body := admin.get(p.path)
		if code != p.status {
			t.Errorf("GET %s = %d, want %d", p.path, code, p.status)
		}
		for _, w := range p.want {
			if !strings.Contains(body, w) {
				t.Errorf("GET %s lacks %q", p.path, w)
			}
		}
	}

	// A state-changing form without its CSRF token is refused and changes nothing.
	if code, _ := admin.post("/services/"+f.service, url.Values{"csrf": {"forged"}, "periodo": {"2026-02"}}); code != http.StatusForbidden {
		t.Errorf("POST without the CSRF token = %d, want 403", code)
	}
	if code, _ := admin.post("/services/"+f.service, url.Values{"csrf": {""}, "periodo": {"2026-02"}}); code != http.StatusForbidden {
		t.Errorf("POST with an empty CSRF token = %d, want 403", code)
	}
	// A request from another site is refused before the handler (Sec-Fetch-Site).
	req, _ := http.NewRequest("POST", f.base+"/services/"+f.service, strings.NewReader(url.Values{"csrf": {admin.csrf()}, "periodo": {"2026-02"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if code, _ := admin.do(req); code != http.StatusForbidden {
		t.Errorf("cross-site POST = %d, want 403", code)
	}
	if n := f.runCount(t); n != 0 {
		t.Fatalf("refused forms created %d runs", n)
	}

	// The server's validation error is shown next to its field, values kept.
	admin.get("/services/" + f.service)
	code, body := admin.post("/services/"+f.service, url.Values{"periodo": {"2026/02"}, "observacao": {"keep me"}})
	if code != http.StatusBadRequest || !strings.Contains(body, `class="field has-error" data-field="periodo"`) ||
		!strings.Contains(body, "Periodo does not have the expected format.") || !strings.Contains(body, `value="keep me"`) {
		t.Errorf("invalid periodo: %d\n%s", code, body)
	}
	if n := f.runCount(t); n != 0 {
		t.Fatalf("an invalid form created %d runs", n)
	}

	// A valid form runs the service and lands on the run page.
	noFollow := newUIClient(t, f.base, false)
	noFollow.client.Jar = admin.client.Jar
	noFollow.token = admin.token
	code, loc := noFollow.post("/services/"+f.service, url.Values{"periodo": {"2026-02"}, "incluir_inativos": {"true"}, "observacao": {`"; rm -rf / $(id)`}})
	if code != http.StatusSeeOther || !strings.HasPrefix(loc, "/runs/") {
		t.Fatalf("run the service: %d %q", code, loc)
	}
	runID := strings.TrimPrefix(loc, "/runs/")
	if r := f.api.waitRun(runID, 30*time.Second); r.Status != "SUCCESS" {
		t.Fatalf("run ended %s", r.Status)
	}
	if out := strings.Join(f.api.logMessages(runID), "\n"); !strings.Contains(out, "arg=[--inativos=true]") || !strings.Contains(out, `arg=[--obs="; rm -rf / $(id)]`) {
		t.Errorf("robot got:\n%s", out)
	}
	code, body = admin.get(loc)
	if code != 200 || !strings.Contains(body, `data-status="SUCCESS"`) || !strings.Contains(body, `data-socket="/runs/`+runID+`/logs/ws"`) ||
		!strings.Contains(body, "2026-02") || !strings.Contains(body, `download="out.txt"`) || strings.Contains(body, `id="cancel-button"`) {
		t.Errorf("run page: %d\n%s", code, body)
	}
	// The status block alone, for the page's live refresh.
	code, body = admin.get(loc + "?block=status")
	if code != 200 || strings.Contains(body, "<html") || !strings.Contains(body, `id="run-status"`) || strings.Contains(body, "hx-trigger") {
		t.Errorf("status block of a finished run: %d\n%s", code, body)
	}

	// Runs list with filters and dates.
	today := time.Now().UTC().Format(time.DateOnly)
	tomorrow := time.Now().UTC().AddDate(0, 0, 1).Format(time.DateOnly)
	for _, c := range []struct {
		query string
		code  int
		want  string
	}{
		{"", 200, "1 runs"},
		{"?status=SUCCESS&service_id=" + f.service + "&robot_id=" + f.robot, 200, "1 runs"},
		{"?status=FAILED", 200, "0 runs"},
		{"?from=" + today + "&to=" + today, 200, "1 runs"},
		{"?from=" + tomorrow, 200, "0 runs"},
		{"?from=29/11/2026", 400, "YYYY-MM-DD"},
	} {
		code, body := admin.get("/runs" + c.query)
		if code != c.code || !strings.Contains(body, c.want) {
			t.Errorf("GET /runs%s = %d, want %d with %q", c.query, code, c.code, c.want)
		}
	}

	// Paging keeps the filters.
	for range runsPerPageForTest {
		if code := f.api.call("POST", "/runs/"+f.robot+"/execute", "application/json", strings.NewReader(`{}`), nil); code != 202 {
			t.Fatalf("execute: %d", code)
		}
	}
	if code, body := admin.get("/runs?robot_id=" + f.robot + "&from=" + today); code != 200 || !strings.Contains(body, `href="?from=`+today+`&amp;robot_id=`+f.robot+`&amp;page=2"`) {
		t.Errorf("page link of a filtered list: %d\n%s", code, body)
	}

	// The output file downloads with the session cookie.
	var run struct {
		Artifacts []struct{ ID, ArtifactName string } `json:"artifacts"`
	}
	f.api.call("GET", "/runs/"+runID, "", nil, &run)
	for _, a := range run.Artifacts {
		if a.ArtifactName != "out.txt" {
			continue
		}
		resp, err := admin.client.Get(f.base + "/runs/" + runID + "/artifacts/" + a.ID)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "done\n" || !strings.Contains(resp.Header.Get("Content-Disposition"), "out.txt") {
			t.Errorf("download through the UI: %d %q %v", resp.StatusCode, b, resp.Header)
		}
		if code, loc := anon.get("/runs/" + runID + "/artifacts/" + a.ID); code != http.StatusSeeOther || !strings.HasPrefix(loc, "/login") {
			t.Errorf("anonymous download = %d %q", code, loc)
		}
	}

	// The log socket works with the session cookie, and not without one.
	u, _ := url.Parse(f.base)
	hdr := http.Header{}
	for _, ck := range admin.client.Jar.Cookies(u) {
		hdr.Add("Cookie", ck.Name+"="+ck.Value)
	}
	ws := "ws://" + u.Host + "/runs/" + runID + "/logs/ws?after_seq=0"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, ws, &websocket.DialOptions{HTTPHeader: hdr})
	if err != nil {
		t.Fatalf("log socket with the session: %v", err)
	}
	var msgs []string
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			break
		}
		var fr struct{ Type, Message string }
		json.Unmarshal(data, &fr)
		if fr.Type == "status" {
			continue
		}
		msgs = append(msgs, fr.Message)
	}
	if len(msgs) == 0 || msgs[len(msgs)-1] != "Execution finished successfully." {
		t.Errorf("log over the UI socket: %q", msgs)
	}
	if _, resp, err := websocket.Dial(ctx, ws, nil); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("log socket without a session: %v %v", err, resp)
	}

	// A Viewer sees the form without a Run button, and the server refuses
	// the form anyway.
	viewer := uiLogin(t, f.base, "viewer", "password-viewer")
	code, body = viewer.get("/services/" + f.service)
	if code != 200 || strings.Contains(body, `id="run-button"`) || !strings.Contains(body, "not run it") {
		t.Errorf("viewer's form: %d", code)
	}
	if code, body := viewer.post("/services/"+f.service, url.Values{"periodo": {"2026-03"}}); code != http.StatusForbidden || !strings.Contains(body, "not allowed") {
		t.Errorf("viewer runs a service: %d", code)
	}
	if code, _ := viewer.post("/runs/"+runID+"/cancel", nil); code != http.StatusForbidden {
		t.Errorf("viewer cancels: %d", code)
	}
	if n := f.runCount(t); n != 1+runsPerPageForTest {
		t.Errorf("runs after the viewer's attempts: %d", n)
	}
	// The menu hides what the Viewer may not open.
	_, body = viewer.get("/runs")
	for _, hidden := range []string{`href="/admin/users"`, `href="/ops"`} {
		if strings.Contains(body, hidden) {
			t.Errorf("viewer's menu has %s", hidden)
		}
	}

	// Signing out ends the session.
	if code, body := admin.post("/logout", nil); code != 200 || !strings.Contains(body, `action="/login"`) {
		t.Errorf("logout: %d", code)
	}
	if code, body := admin.get("/runs"); code != 200 || !strings.Contains(body, `action="/login"`) {
		t.Errorf("after logout /runs = %d (want the login page)", code)
	}
}

func TestUICancelRun(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the robot is a shell script")
	}
	_, base := startUIHub(t, "sqlite", nil)
	c := login(t, base+"/api/v1", "admin", "admin-password-1")
	robot := c.shellRobot("slow-robot", "#!/bin/sh\necho started\nsleep 60\n")
	var run runView
	if code := c.call("POST", "/runs/"+robot+"/execute", "application/json", strings.NewReader(`{}`), &run); code != 202 {
		t.Fatalf("execute: %d", code)
	}
	admin := uiLogin(t, base, "admin", "admin-password-1")
	code, body := admin.get("/runs/" + run.RunID)
	if code != 200 || !strings.Contains(body, `id="cancel-button"`) || !strings.Contains(body, `data-confirm=`) || !strings.Contains(body, `hx-trigger="every 3s`) {
		t.Fatalf("run page of a running run: %d\n%s", code, body)
	}
	if code, _ := admin.post("/runs/"+run.RunID+"/cancel", nil); code != 200 {
		t.Errorf("cancel: %d", code)
	}
	if r := c.waitRun(run.RunID, 30*time.Second); r.Status != "CANCELED" {
		t.Errorf("after cancel the run is %s", r.Status)
	}

	// A user without the portal starts where they can act, or is told why
	// there is nothing to see.
	var user struct{ ID string }
	if code := c.call("POST", "/users", "application/json", strings.NewReader(`{"username":"nobody","password":"password-nobody","role":"None"}`), &user); code != 201 {
		t.Fatalf("create user: %d", code)
	}
	nobody := uiLogin(t, base, "nobody", "password-nobody")
	if code, body := nobody.get("/"); code != 200 || !strings.Contains(body, "no access to the services") {
		t.Errorf("home of a user without grants: %d", code)
	}
	if code := c.call("POST", "/users/"+user.ID+"/permissions", "application/json", strings.NewReader(`{"resource_type":"run","action":"run.read","resource_id":"`+robot+`"}`), nil); code != 201 {
		t.Fatalf("grant: %d", code)
	}
	plain := newUIClient(t, base, false)
	plain.client.Jar = nobody.client.Jar
	if code, loc := plain.get("/"); code != http.StatusSeeOther || loc != "/dashboard" {
		t.Errorf("home of a user with only run.read: %d %q", code, loc)
	}
	if code, body := nobody.get("/runs"); code != 200 || !strings.Contains(body, "1 runs") {
		t.Errorf("runs of a robot-scoped reader: %d", code)
	}
}

func TestUISignIn(t *testing.T) {
	_, base := startUIHub(t, "sqlite", nil)
	c := newUIClient(t, base, false)
	c.get("/login?next=/runs")
	// Missing or wrong CSRF token on the login form.
	if code, _ := c.post("/login", url.Values{"csrf": {"nope"}, "username": {"admin"}, "password": {"admin-password-1"}}); code != http.StatusForbidden {
		t.Errorf("login with a wrong CSRF token = %d", code)
	}
	if code, body := c.post("/login", url.Values{"username": {"admin"}, "password": {"wrong"}}); code != http.StatusUnauthorized || !strings.Contains(body, "Wrong username or password.") || !strings.Contains(body, `value="admin"`) {
		t.Errorf("wrong password = %d", code)
	}
	// next is kept, but only for paths on this site.
	for next, want := range map[string]string{"/runs?status=FAILED": "/runs?status=FAILED", "//evil.example/": "/", "https://evil.example/": "/", "/\\evil.example": "/"} {
		c := newUIClient(t, base, false)
		c.get("/login")
		code, loc := c.post("/login", url.Values{"username": {"admin"}, "password": {"admin-password-1"}, "next": {next}})
		if code != http.StatusSeeOther || loc != want {
			t.Errorf("login with next=%q → %d %q, want %q", next, code, loc, want)
		}
		u, _ := url.Parse(base)
		for _, ck := range c.client.Jar.Cookies(u) {
			if ck.Name == "hub_session" && ck.Value == "" {
				t.Error("empty session cookie")
			}
		}
	}
	// A tampered session cookie is no session.
	u, _ := url.Parse(base)
	bad := newUIClient(t, base, false)
	bad.client.Jar.SetCookies(u, []*http.Cookie{{Name: "hub_session", Value: strings.Repeat("A", 80)}})
	if code, loc := bad.get("/runs"); code != http.StatusSeeOther || !strings.HasPrefix(loc, "/login") {
		t.Errorf("tampered session: %d %q", code, loc)
	}
	// The session cookie's attributes.
	fresh := newUIClient(t, base, false)
	fresh.get("/login")
	req, _ := http.NewRequest("POST", base+"/login", strings.NewReader(url.Values{"csrf": {fresh.csrf()}, "username": {"admin"}, "password": {"admin-password-1"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := fresh.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var set string
	for _, v := range resp.Header.Values("Set-Cookie") {
		if strings.HasPrefix(v, "hub_session=") {
			set = v
		}
	}
	if !strings.Contains(set, "HttpOnly") || !strings.Contains(set, "SameSite=Lax") || strings.Contains(set, "Secure") || !strings.Contains(set, "Path=/") {
		t.Errorf("session cookie over plain HTTP: %s", set)
	}
}

func TestUILanguageAndAssets(t *testing.T) {
	_, base := startUIHub(t, "sqlite", nil)
	get := func(path string, hdr map[string]string) (*http.Response, string) {
		req, _ := http.NewRequest("GET", base+path, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	for _, c := range []struct{ accept, lang, want string }{
		{"pt-BR,pt;q=0.9,en;q=0.8", "pt-BR", "Entrar"},
		{"pt", "pt-BR", "Usuário"},
		{"en-US,en;q=0.9", "en", "Sign in"},
		{"de-DE", "en", "Sign in"},
		{"", "en", "Sign in"},
	} {
		resp, body := get("/login", map[string]string{"Accept-Language": c.accept})
		if !strings.Contains(body, `<html lang="`+c.lang+`">`) || !strings.Contains(body, c.want) || resp.Header.Get("Content-Language") != c.lang {
			t.Errorf("Accept-Language %q: want %s page with %q", c.accept, c.lang, c.want)
		}
	}
	// The switch stores the choice, which wins over the header.
	cl := newUIClient(t, base, true)
	cl.get("/lang/pt-BR?next=/login")
	req, _ := http.NewRequest("GET", base+"/login", nil)
	req.Header.Set("Accept-Language", "en")
	if _, body := cl.do(req); !strings.Contains(body, "Usuário") {
		t.Error("the language switch did not stick")
	}
	// Pages carry the security headers; assets are fingerprinted and cached.
	resp, body := get("/login", nil)
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("page headers: %v", resp.Header)
	}
	for _, name := range []string{"app.css", "app.js", "htmx.min.js"} {
		i := strings.Index(body, "/static/")
		if i < 0 {
			t.Fatal("no asset link on the login page")
		}
		j := strings.Index(body, name)
		if j < 0 {
			t.Fatalf("login page does not load %s", name)
		}
		path := body[strings.LastIndex(body[:j], "/static/"):j] + name
		resp, _ := get(path, nil)
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") {
			t.Errorf("GET %s = %d %q", path, resp.StatusCode, resp.Header.Get("Cache-Control"))
		}
	}
	if resp, _ := get("/static/000000000000/app.css", nil); resp.StatusCode != 404 {
		t.Errorf("asset with a stale fingerprint = %d", resp.StatusCode)
	}
	// The API keeps its JSON answers next to the UI.
	if resp, body := get("/api/v1/no-such-route", nil); resp.StatusCode != 404 || !strings.Contains(body, `"detail"`) {
		t.Errorf("unknown API route: %d %s", resp.StatusCode, body)
	}
}

func TestUIDisabled(t *testing.T) {
	_, base := startUIHub(t, "sqlite", map[string]string{"WEB_UI": "false"})
	resp, err := http.Get(base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Errorf("WEB_UI=false: GET /login = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

// TestUIFormFieldTypes renders and submits every field type: numbers,
// dates and selects reach the robot as the run template says, and a wrong
// value comes back next to its field.
func TestUIFormFieldTypes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the robot is a shell script")
	}
	_, base := startUIHub(t, "sqlite", nil)
	c := login(t, base+"/api/v1", "admin", "admin-password-1")
	robot := c.shellRobot("typed-robot", "#!/bin/sh\nfor a in \"$@\"; do echo \"arg=[$a]\"; done\n")
	var domain, svc struct{ ID string }
	c.call("POST", "/domains", "application/json", strings.NewReader(`{"name":"Financeiro","slug":"fin"}`), &domain)
	body := `{"domain_id":"` + domain.ID + `","robot_id":"` + robot + `","title":"Conciliar","enabled":true,
	  "form_schema_json":{"fields":[
	    {"key":"qtd","label":"Quantidade","type":"number","required":true,"validation":{"min":1,"max":10},"default":3},
	    {"key":"dia","label":"Dia","type":"date","required":true},
	    {"key":"banco","label":"Banco","type":"select","required":true,"options":[{"label":"Banco A","value":"a"},{"label":"Banco B","value":"b"}],"default":"b"},
	    {"key":"nota","label":"Nota","type":"text","validation":{"max":5}}]},
	  "run_template_json":{"mapping":{"runtime_arguments":["--qtd={qtd}","--dia={dia}","--banco={banco}"]}}}`
	if code := c.call("POST", "/services", "application/json", strings.NewReader(body), &svc); code != 201 {
		t.Fatalf("create service: %d", code)
	}
	ui := uiLogin(t, base, "admin", "admin-password-1")
	code, page := ui.get("/services/" + svc.ID)
	for _, want := range []string{`type="number"`, `min="1"`, `max="10"`, `value="3"`, `type="date"`, `<option value="b" selected>Banco B</option>`, `maxlength="5"`} {
		if !strings.Contains(page, want) {
			t.Errorf("form lacks %s", want)
		}
	}
	if code != 200 {
		t.Fatalf("form: %d", code)
	}
	for _, bad := range []struct {
		form  url.Values
		field string
	}{
		{url.Values{"qtd": {"11"}, "dia": {"2026-02-01"}, "banco": {"a"}}, "qtd"},
		{url.Values{"qtd": {"abc"}, "dia": {"2026-02-01"}, "banco": {"a"}}, "qtd"},
		{url.Values{"qtd": {"2"}, "dia": {"01/02/2026"}, "banco": {"a"}}, "dia"},
		{url.Values{"qtd": {"2"}, "dia": {"2026-02-01"}, "banco": {"z"}}, "banco"},
		{url.Values{"qtd": {"2"}, "dia": {"2026-02-01"}, "banco": {"a"}, "nota": {"too long"}}, "nota"},
	} {
		code, page := ui.post("/services/"+svc.ID, bad.form)
		if code != http.StatusBadRequest || !strings.Contains(page, `class="field has-error" data-field="`+bad.field+`"`) {
			t.Errorf("%v: %d, want the error at %s", bad.form, code, bad.field)
		}
	}
	plain := newUIClient(t, base, false)
	plain.client.Jar, plain.token = ui.client.Jar, ui.token
	code, loc := plain.post("/services/"+svc.ID, url.Values{"qtd": {"7"}, "dia": {"2026-02-01"}, "banco": {"a"}})
	if code != http.StatusSeeOther {
		t.Fatalf("submit: %d %s", code, loc)
	}
	runID := strings.TrimPrefix(loc, "/runs/")
	if r := c.waitRun(runID, 30*time.Second); r.Status != "SUCCESS" {
		t.Fatalf("run ended %s", r.Status)
	}
	out := strings.Join(c.logMessages(runID), "\n")
	for _, want := range []string{"arg=[--qtd=7]", "arg=[--dia=2026-02-01]", "arg=[--banco=a]"} {
		if !strings.Contains(out, want) {
			t.Errorf("robot output lacks %s:\n%s", want, out)
		}
	}
}

// TestUIFormBodyLimit: an oversized form body is refused without reaching
// the API.
func TestUIFormBodyLimit(t *testing.T) {
	_, base := startUIHub(t, "sqlite", nil)
	ui := uiLogin(t, base, "admin", "admin-password-1")
	code, _ := ui.post("/admin/users", url.Values{"username": {strings.Repeat("a", 2<<20)}, "password": {"password-long"}})
	if code != http.StatusRequestEntityTooLarge {
		t.Errorf("2 MiB form = %d", code)
	}
	c := login(t, base+"/api/v1", "admin", "admin-password-1")
	var users []struct{ Username string }
	c.call("GET", "/users", "", nil, &users)
	if len(users) != 1 {
		t.Errorf("users after an oversized form: %d", len(users))
	}
}

// TestUILogSocketIsSameOriginOnly: the UI's log socket authenticates with
// the session cookie, which browsers also send from pages of other origins
// (another port of the same host included), so it accepts only pages of
// its own origin; the CORS origins are for the API's token-authenticated
// socket.
func TestUILogSocketIsSameOriginOnly(t *testing.T) {
	_, base := startUIHub(t, "sqlite", map[string]string{"CORS_ORIGINS": "http://localhost:3000"})
	admin := uiLogin(t, base, "admin", "admin-password-1")
	u, _ := url.Parse(base)
	hdr := http.Header{}
	for _, ck := range admin.client.Jar.Cookies(u) {
		hdr.Add("Cookie", ck.Name+"="+ck.Value)
	}
	ws := "ws://" + u.Host + "/runs/" + uuid.NewString() + "/logs/ws"
	for _, tc := range []struct {
		origin string
		ok     bool
	}{
		{base, true},
		{"", true}, // not a browser
		{"http://localhost:3000", false},
		{"http://" + u.Hostname() + ":1", false},
		{"null", false},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		h := hdr.Clone()
		if tc.origin != "" {
			h.Set("Origin", tc.origin)
		}
		c, resp, err := websocket.Dial(ctx, ws, &websocket.DialOptions{HTTPHeader: h})
		switch {
		case tc.ok && err != nil:
			t.Errorf("origin %q: %v, want the handshake accepted", tc.origin, err)
		case tc.ok:
			// Accepted with the session, then closed: the run does not exist.
			if _, _, err := c.Read(ctx); websocket.CloseStatus(err) != 4404 {
				t.Errorf("origin %q: %v, want close 4404", tc.origin, err)
			}
		case err == nil || resp == nil || resp.StatusCode != http.StatusForbidden:
			t.Errorf("origin %q: %v, want the handshake refused with 403", tc.origin, err)
		}
		if c != nil {
			c.CloseNow()
		}
		cancel()
	}
}
