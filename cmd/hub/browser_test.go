package main

import (
	"archive/zip"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"automationhub/internal/executor"
	"automationhub/internal/hub"
	"automationhub/internal/hubtest"
)

// chromium returns the browser for UI tests: HUB_CHROMIUM, else Debian's
// chromium. Without one the tests skip, unless HUB_TEST_REQUIRE_BROWSER=1
// (CI), where they fail.
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("HUB_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("HUB_TEST_REQUIRE_BROWSER") == "1" {
		t.Fatal("HUB_TEST_REQUIRE_BROWSER=1 but no Chromium was found (apt-get install chromium)")
	}
	t.Skip("no Chromium: browser tests skipped (set HUB_CHROMIUM or install chromium)")
	return ""
}

// newBrowser starts a headless Chromium with a fresh profile and returns a
// tab context; everything stops at the end of the test.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		// A user in Brazil: times on the pages are shown in this zone.
		chromedp.Env("TZ=America/Sao_Paulo"),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// screenshotDir is docs/screenshots when HUB_UPDATE_SCREENSHOTS=1, else a
// temporary folder (the shots are still taken, so the code path is tested).
func screenshotDir(t *testing.T) string {
	if os.Getenv("HUB_UPDATE_SCREENSHOTS") == "1" {
		return filepath.Join("..", "..", "docs", "screenshots")
	}
	return t.TempDir()
}

func shot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644); err != nil {
		t.Fatal(err)
	}
}

// step runs browser steps with a time limit, failing the test on error.
func step(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 45*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitJS waits until a JavaScript expression is truthy.
func waitJS(t *testing.T, ctx context.Context, expr string, d time.Duration) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(d))); err != nil {
		t.Fatalf("waiting for %s: %v", expr, err)
	}
}

// text is the visible text of the first element matching a CSS selector.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	s, err := chromedp.Run(sctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// uiLoginBrowser signs in through the login page.
func uiLoginBrowser(t *testing.T, ctx context.Context, base, user, password string) {
	t.Helper()
	if _, err := chromedp.Call(ctx, network.ClearBrowserCookies, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	step(t, ctx, "log in as "+user,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#username`)),
		chromedp.SendKeys(chromedp.CSS(`#username`), user),
		chromedp.SendKeys(chromedp.CSS(`#password`), password),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`nav.nav .nav-user`)),
	)
}

// TestBrowserPortalRun is the business user's path in a real browser: sign
// in, open the portal, get a hint for a wrong value, run the seed example
// service, watch the live log to the end, download the output file; and a
// Viewer who sees the service but no Run button.
func TestBrowserPortalRun(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the robot is a shell script")
	}
	ctx := newBrowser(t)
	_, base := startUIHub(t, "sqlite", nil)
	c := login(t, base+"/api/v1", "admin", "admin-password-1")
	robot := c.shellRobotDeclaring("portal-robot", "#!/bin/sh\n"+
		"for a in \"$@\"; do echo \"arg=[$a]\"; done\n"+
		"echo \"warning: sample stderr line\" >&2\n"+
		"printf 'periodo;total\\n%s;42\\n' \"$1\" > \"$HUB_OUTPUT_DIR/relatorio.csv\"\n", "SERVICE_DOMAIN")
	var domain struct{ ID string }
	if code := c.call("POST", "/domains", "application/json", strings.NewReader(`{"name":"DP/RH","slug":"dp-rh","description":"Servicos para pessoal e RH"}`), &domain); code != 201 {
		t.Fatalf("create domain: %d", code)
	}
	var svc struct{ ID string }
	body := strings.NewReplacer("%DOMAIN%", domain.ID, "%ROBOT%", robot).Replace(seedService)
	if code := c.call("POST", "/services", "application/json", strings.NewReader(body), &svc); code != 201 {
		t.Fatalf("create service: %d", code)
	}
	if code := c.call("POST", "/users", "application/json", strings.NewReader(`{"username":"viewer","password":"password-viewer","role":"Viewer"}`), nil); code != 201 {
		t.Fatalf("create viewer: %d", code)
	}
	shots := screenshotDir(t)
	downloads := t.TempDir()

	start := time.Now()
	uiLoginBrowser(t, ctx, base, "admin", "admin-password-1")
	t.Logf("signed in after %v", time.Since(start))

	// Portal → domain → service form.
	step(t, ctx, "portal", chromedp.WaitVisible(chromedp.CSS(`a.tile[href="/portal/dp-rh"]`)))
	shot(t, ctx, shots, "portal")
	step(t, ctx, "domain and service",
		chromedp.Click(chromedp.CSS(`a.tile[href="/portal/dp-rh"]`)),
		chromedp.WaitVisible(chromedp.CSS(`a.tile[href="/services/`+svc.ID+`"]`)),
		chromedp.Click(chromedp.CSS(`a.tile[href="/services/`+svc.ID+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#f-periodo`)),
	)

	// A wrong period is flagged next to the field, and nothing is submitted.
	step(t, ctx, "validation hint",
		chromedp.SendKeys(chromedp.CSS(`#f-periodo`), "2026/02"),
		chromedp.Click(chromedp.CSS(`#run-button`)),
		chromedp.WaitVisible(chromedp.CSS(`#e-periodo`)),
	)
	if hint := text(t, ctx, `#e-periodo`); !strings.Contains(hint, "expected format") {
		t.Errorf("hint next to periodo = %q", hint)
	}
	if path := eval[string](t, ctx, `location.pathname`); path != "/services/"+svc.ID {
		t.Errorf("a wrong value left the form: at %s", path)
	}
	shot(t, ctx, shots, "service-form-error")

	// The right value runs the service; the run page follows the log live
	// and shows the final status without a reload.
	runStart := time.Now()
	eval[string](t, ctx, `document.querySelector('#f-periodo').value = ''`)
	step(t, ctx, "run from the form",
		chromedp.SendKeys(chromedp.CSS(`#f-periodo`), "2026-02"),
		chromedp.Click(chromedp.CSS(`#run-button`)),
		chromedp.WaitVisible(chromedp.CSS(`#log`)),
	)
	waitJS(t, ctx, `document.querySelector('#log').innerText.includes('Execution finished successfully.')`, 30*time.Second)
	waitJS(t, ctx, `document.querySelector('#run-status').dataset.status === 'SUCCESS'`, 30*time.Second)
	t.Logf("form submit → SUCCESS shown with the full log in %v", time.Since(runStart))
	logText := text(t, ctx, `#log`)
	for _, want := range []string{"arg=[--periodo=2026-02]", "arg=[--inativos=false]", "warning: sample stderr line"} {
		if !strings.Contains(logText, want) {
			t.Errorf("live log lacks %q:\n%s", want, logText)
		}
	}
	if !eval[bool](t, ctx, `[...document.querySelectorAll('#log .line.stderr')].some(e => e.textContent.includes('sample stderr line'))`) {
		t.Error("the stderr line is not marked")
	}
	if status := text(t, ctx, `#run-status .badge`); status != "SUCCESS" {
		t.Errorf("status shown = %q", status)
	}
	shot(t, ctx, shots, "run")
	// Times are shown in the reader's zone (UTC−3 here), UTC in the tooltip.
	if !eval[bool](t, ctx, `(() => { const el = document.querySelector('#run-status time'); const d = new Date(el.dateTime);
		return d.getTimezoneOffset() === 180 && el.title.endsWith(' UTC') && el.textContent.includes(String(d.getHours()).padStart(2, '0') + ':') })()`) {
		t.Errorf("run times are not in local time: %q", text(t, ctx, `#run-status time`))
	}

	// The output file downloads with the browser session.
	progress := chromedp.Events(ctx, browser.DownloadProgress)
	if _, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: downloads, EventsEnabled: ptrTo(true),
	}); err != nil {
		t.Fatal(err)
	}
	step(t, ctx, "download", chromedp.Click(chromedp.CSS(`.artifacts a[download="relatorio.csv"]`)))
	dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for ev, err := range progress {
		if err != nil || dctx.Err() != nil {
			t.Fatalf("the download did not complete: %v", err)
		}
		if ev.State != browser.DownloadProgressStateCompleted {
			continue
		}
		got, err := os.ReadFile(filepath.Join(downloads, ev.GUID))
		if err != nil || string(got) != "periodo;total\n--periodo=2026-02;42\n" {
			t.Errorf("downloaded file = %q, %v", got, err)
		}
		break
	}

	// The runs list shows the run.
	step(t, ctx, "runs list", chromedp.Navigate(base+"/runs"), chromedp.WaitVisible(chromedp.CSS(`table.list`)))
	if !eval[bool](t, ctx, `document.querySelector('table.list').innerText.includes('Gerar relatorio ASO')`) {
		t.Error("the runs list lacks the run")
	}
	shot(t, ctx, shots, "runs")

	// The same run page on a 360 px wide phone.
	runURL := eval[string](t, ctx, `document.querySelector('table.list a').href`)
	step(t, ctx, "phone layout",
		chromedp.EmulateViewport(360, 740, chromedp.EmulateMobile),
		chromedp.Navigate(runURL),
		chromedp.WaitVisible(chromedp.CSS(`#run-status[data-status="SUCCESS"]`)),
	)
	waitJS(t, ctx, `document.querySelector('#log').dataset.lines > 0`, 20*time.Second)
	if eval[bool](t, ctx, `document.documentElement.scrollWidth > window.innerWidth + 1`) {
		t.Error("the run page scrolls sideways at 360 px")
	}
	shot(t, ctx, shots, "run-phone")
	step(t, ctx, "desktop again", chromedp.EmulateViewport(1280, 900))

	// A Viewer sees the service but has no Run button.
	uiLoginBrowser(t, ctx, base, "viewer", "password-viewer")
	step(t, ctx, "viewer opens the service", chromedp.Navigate(base+"/services/"+svc.ID), chromedp.WaitVisible(chromedp.CSS(`#f-periodo`)))
	if n := eval[int](t, ctx, `document.querySelectorAll('#run-button').length`); n != 0 {
		t.Errorf("viewer sees %d Run buttons", n)
	}
	if note := text(t, ctx, `form.service-form .muted`); !strings.Contains(note, "not run it") {
		t.Errorf("viewer note = %q", note)
	}
}

func ptrTo[T any](v T) *T { return &v }

// TestBrowserMillionLineLog opens the run page of a robot that prints
// 1 000 000 lines (HUB_TEST_LONG=1) while it runs: the viewer receives every line once and in
// order, keeps only a window of them in the page, stays responsive, and
// scrolling to any line shows that line.
func TestBrowserMillionLineLog(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the robot is a shell script")
	}
	if testing.Short() {
		t.Skip("long test")
	}
	// A million lines with HUB_TEST_LONG=1 (CI, without the race
	// detector); the default suite checks the same path with fewer.
	lines := 20_000
	if hubtest.Long() && !raceEnabled {
		lines = 1_000_000
	}
	ctx := newBrowser(t)
	_, base := startUIHub(t, "sqlite", nil)
	c := login(t, base+"/api/v1", "admin", "admin-password-1")
	robot := c.shellRobot("chatty-robot", "#!/bin/sh\nseq 1 "+strconv.Itoa(lines)+"\n")
	uiLoginBrowser(t, ctx, base, "admin", "admin-password-1")

	var run runView
	if code := c.call("POST", "/runs/"+robot+"/execute", "application/json", strings.NewReader(`{}`), &run); code != 202 {
		t.Fatalf("execute: %d", code)
	}
	start := time.Now()
	finished := make(chan time.Duration, 1)
	go func() {
		r := c.waitRun(run.RunID, 5*time.Minute)
		if r.Status != "SUCCESS" {
			t.Errorf("run ended %s", r.Status)
		}
		finished <- time.Since(start)
	}()
	step(t, ctx, "open the run page", chromedp.Navigate(base+"/runs/"+run.RunID), chromedp.WaitVisible(chromedp.CSS(`#log`)))
	// The page answers while lines pour in: a timer callback is never late
	// by more than a fraction of a second.
	eval[bool](t, ctx, `(() => { window.maxLag = 0; let last = performance.now();
		window.lagTimer = setInterval(() => { const now = performance.now(); window.maxLag = Math.max(window.maxLag, now - last - 50); last = now; }, 50); return true })()`)
	waitJS(t, ctx, `document.querySelector('#log-state').dataset.state === 'ended'`, 3*time.Minute)
	elapsed := time.Since(start)
	runTime := <-finished
	maxLag := eval[float64](t, ctx, `(clearInterval(window.lagTimer), window.maxLag)`)
	// Every robot line plus the hub's own lines, each seq once and in order
	// (the viewer drops duplicates and reconnects on gaps).
	total := eval[int](t, ctx, `window.hubLog.msgs.length`)
	last := eval[int](t, ctx, `window.hubLog.lastSeq`)
	if total != last || total < lines+5 {
		t.Fatalf("viewer holds %d lines, last seq %d; want every one of the %d robot lines and the hub's lines", total, last, lines)
	}
	ordered := eval[bool](t, ctx, `(() => { const m = window.hubLog.msgs; const i = m.indexOf('1'); if (i < 0) return false;
		for (let k = 0; k < `+strconv.Itoa(lines)+`; k++) if (m[i + k] !== String(k + 1)) return false; return true })()`)
	if !ordered {
		t.Error("robot lines are not all present in order")
	}
	rows := eval[int](t, ctx, `document.querySelectorAll('#log .line').length`)
	if rows > 200 {
		t.Errorf("%d line elements in the page; the viewer should render only a window", rows)
	}
	// Jump to the middle: the window shows the lines there.
	eval[bool](t, ctx, `(() => { const el = document.querySelector('#log'); document.querySelector('#log-follow').checked = false;
		el.scrollTop = (el.scrollHeight - el.clientHeight) / 2; return true })()`)
	waitJS(t, ctx, `(() => { const f = document.querySelector('#log .line .seq'); return f && Math.abs(Number(f.textContent) - `+strconv.Itoa(lines/2)+`) < 1000 })()`, 10*time.Second)
	t.Logf("%d-line log: run stored and finished after %v; all %d lines in the viewer after %v (%.0f lines/s end to end), %d line elements in the DOM, longest main-thread stall %.0f ms",
		lines, runTime.Round(time.Millisecond), total, elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds(), rows, maxLag)
	if maxLag > 1000 {
		t.Errorf("the page froze for %.0f ms while the log streamed", maxLag)
	}
}

// TestBrowserRegistryAndAdmin publishes a version through the robot page's
// upload form, rolls back with the confirmation dialog, and opens the
// administration and operations pages (in both languages).
func TestBrowserRegistryAndAdmin(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the robot is a shell script")
	}
	ctx := newBrowser(t)
	_, base := startUIHub(t, "sqlite", nil)
	c := login(t, base+"/api/v1", "admin", "admin-password-1")
	robot := c.shellRobot("invoice-robot", "#!/bin/sh\necho invoices\n")
	var viewer struct{ ID string }
	if code := c.call("POST", "/users", "application/json", strings.NewReader(`{"username":"viewer","full_name":"Vera Viewer","password":"password-viewer","role":"Viewer"}`), &viewer); code != 201 {
		t.Fatalf("create viewer: %d", code)
	}
	shots := screenshotDir(t)
	uiLoginBrowser(t, ctx, base, "admin", "admin-password-1")

	// Robots list and robot page.
	step(t, ctx, "robots", chromedp.Navigate(base+"/robots"), chromedp.WaitVisible(chromedp.CSS(`a[href="/robots/`+robot+`"]`)))
	shot(t, ctx, shots, "robots")

	// Publish 1.1.0 through the form; the page reloads with it active.
	pkg := filepath.Join(t.TempDir(), "invoice-robot-1.1.0.zip")
	if err := os.WriteFile(pkg, zipOf(t, map[string]string{"run.sh": "#!/bin/sh\necho invoices v1.1\n"}), 0o644); err != nil {
		t.Fatal(err)
	}
	step(t, ctx, "publish 1.1.0",
		chromedp.Navigate(base+"/robots/"+robot),
		chromedp.WaitVisible(chromedp.CSS(`#publish-form`)),
		chromedp.SendKeys(chromedp.CSS(`#p-version`), "1.1.0"),
		chromedp.SetUploadFiles(chromedp.CSS(`#p-artifact`), []string{pkg}),
		chromedp.SetValue(chromedp.CSS(`#p-entrypoint-type`), "EXE"),
		chromedp.SendKeys(chromedp.CSS(`#p-entrypoint-path`), "run.sh"),
		chromedp.SendKeys(chromedp.CSS(`#p-changelog`), "Faster invoices"),
		chromedp.Click(chromedp.CSS(`#publish-button`)),
		chromedp.WaitVisible(chromedp.CSS(`tr.active-version[data-version="1.1.0"]`)),
	)
	shot(t, ctx, shots, "robot")

	// Roll back to 1.0.0, accepting the confirmation.
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			if !strings.Contains(ev.Message, "1.0.0") {
				t.Errorf("confirmation text %q", ev.Message)
			}
			chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	step(t, ctx, "roll back",
		chromedp.Click(chromedp.CSS(`tr[data-version="1.0.0"] button.activate`)),
		chromedp.WaitVisible(chromedp.CSS(`tr.active-version[data-version="1.0.0"]`)),
	)
	var versions []struct {
		Version  string `json:"version"`
		IsActive bool   `json:"is_active"`
	}
	if code := c.call("GET", "/robots/"+robot+"/versions", "", nil, &versions); code != 200 || len(versions) != 3 {
		t.Fatalf("versions: %d %+v", code, versions)
	}
	for _, v := range versions {
		if v.IsActive != (v.Version == "1.0.0") {
			t.Errorf("after the roll back: %+v", versions)
		}
	}

	// Administration and operations.
	for _, p := range []struct{ path, wait, name string }{
		{"/admin/users", `a[href="/admin/users/` + viewer.ID + `"]`, "users"},
		{"/admin/users/" + viewer.ID, `form[action="/admin/users/` + viewer.ID + `/grants"]`, "user"},
		{"/admin/audit", `table.list`, "audit"},
		{"/ops", `table.list`, "ops"},
	} {
		step(t, ctx, p.path, chromedp.Navigate(base+p.path), chromedp.WaitVisible(chromedp.CSS(p.wait)))
		shot(t, ctx, shots, p.name)
	}

	// Every page fits a 360 px wide phone (wide tables scroll inside their box).
	step(t, ctx, "phone", chromedp.EmulateViewport(360, 740, chromedp.EmulateMobile))
	for _, path := range []string{"/", "/runs", "/robots", "/robots/" + robot, "/admin/users", "/admin/users/" + viewer.ID, "/admin/audit", "/ops", "/account", "/login"} {
		step(t, ctx, "phone "+path, chromedp.Navigate(base+path), chromedp.WaitVisible(chromedp.CSS(`main`)))
		if eval[bool](t, ctx, `document.documentElement.scrollWidth > window.innerWidth + 1`) {
			t.Errorf("%s scrolls sideways at 360 px (%d px wide)", path, eval[int](t, ctx, `document.documentElement.scrollWidth`))
		}
	}
	step(t, ctx, "desktop", chromedp.EmulateViewport(1280, 900))

	// The language switch turns the pages into Portuguese.
	step(t, ctx, "português", chromedp.Navigate(base+"/lang/pt-BR?next=/robots"), chromedp.WaitVisible(chromedp.CSS(`a[href="/robots/`+robot+`"]`)))
	if h := text(t, ctx, `main h1`); h != "Robôs" {
		t.Errorf("title in Portuguese = %q", h)
	}
	if lang := eval[string](t, ctx, `document.documentElement.lang`); lang != "pt-BR" {
		t.Errorf("html lang = %q", lang)
	}
	shot(t, ctx, shots, "robots-pt-BR")
}

// TestBrowserLogResumes drops the viewer's socket twice while a robot is
// printing: the viewer reconnects from its last line and ends with every
// line exactly once, in order.
func TestBrowserLogResumes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the robot is a shell script")
	}
	ctx := newBrowser(t)
	_, base := startUIHub(t, "sqlite", nil)
	c := login(t, base+"/api/v1", "admin", "admin-password-1")
	robot := c.shellRobot("steady-robot", "#!/bin/sh\ni=1\nwhile [ $i -le 300 ]; do echo \"line $i\"; i=$((i+1)); sleep 0.01; done\n")
	uiLoginBrowser(t, ctx, base, "admin", "admin-password-1")
	var run runView
	if code := c.call("POST", "/runs/"+robot+"/execute", "application/json", strings.NewReader(`{}`), &run); code != 202 {
		t.Fatalf("execute: %d", code)
	}
	step(t, ctx, "run page", chromedp.Navigate(base+"/runs/"+run.RunID), chromedp.WaitVisible(chromedp.CSS(`#log`)))
	for _, after := range []int{50, 150} {
		waitJS(t, ctx, `window.hubLog && window.hubLog.msgs.includes('line `+strconv.Itoa(after)+`') && window.hubLog.ws && window.hubLog.ws.readyState === 1`, 30*time.Second)
		eval[bool](t, ctx, `(window.hubLog.ws.close(), true)`)
	}
	waitJS(t, ctx, `document.querySelector('#log-state').dataset.state === 'ended'`, 60*time.Second)
	if n := eval[int](t, ctx, `window.hubLog.connects`); n < 3 {
		t.Errorf("the viewer connected %d times; the test meant to drop it twice", n)
	}
	ok := eval[bool](t, ctx, `(() => { const m = window.hubLog.msgs; const i = m.indexOf('line 1'); if (i < 0) return false;
		for (let k = 0; k < 300; k++) if (m[i + k] !== 'line ' + (k + 1)) return false;
		return m.filter(x => x.startsWith('line ')).length === 300 && window.hubLog.lastSeq === m.length })()`)
	if !ok {
		t.Errorf("after reconnects the viewer holds:\n%s", strings.Join(eval[[]string](t, ctx, `window.hubLog.msgs`), "\n"))
	}
	want := c.logMessages(run.RunID)
	if got := eval[[]string](t, ctx, `window.hubLog.msgs`); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("viewer and stored log differ: %d vs %d lines", len(got), len(want))
	}
}

// slowLogWrites delays every log batch the worker stores, like a database
// under heavy load.
type slowLogWrites struct {
	executor.RunState
	delay time.Duration
}

func (s slowLogWrites) AppendRunLogs(ctx context.Context, runID, workerID string, lines []hub.LogLine) (bool, error) {
	select {
	case <-ctx.Done():
		return false, ctx.Err()
	case <-time.After(s.delay):
	}
	return s.RunState.AppendRunLogs(ctx, runID, workerID, lines)
}

// TestBrowserLogEndsWithItsTail: the viewer must hold every line up to the
// run's last before it shows "ended", whatever it missed on the way. Log
// writes are slowed down, and the page drops every live frame after a cut
// (as a viewer that fell behind would miss them); the status frame's
// last_seq must make the viewer fetch the rest.
func TestBrowserLogEndsWithItsTail(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the robot is a shell script")
	}
	ctx := newBrowser(t)
	m, _ := startMainWith(t, "all", map[string]string{"DEFAULT_ADMIN_PASSWORD": "admin-password-1"}, func(m *Main) {
		m.wrapRunState = func(s executor.RunState) executor.RunState {
			return slowLogWrites{RunState: s, delay: 30 * time.Millisecond}
		}
	})
	base := "http://" + m.Addr.String()
	c := login(t, base+"/api/v1", "admin", "admin-password-1")
	signal := filepath.Join(t.TempDir(), "go-on")
	robot := c.shellRobot("two-part-robot", "#!/bin/sh\nseq 1 1000\nwhile [ ! -f "+signal+" ]; do sleep 0.05; done\nseq 1001 2500\n")
	uiLoginBrowser(t, ctx, base, "admin", "admin-password-1")
	// Live frames past window.dropAfter never reach the viewer.
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: `(() => {
		const Real = window.WebSocket; window.dropAfter = Infinity; window.dropped = 0;
		window.WebSocket = function (url, protocols) {
			const ws = new Real(url, protocols);
			Object.defineProperty(ws, "onmessage", { set(fn) { ws.addEventListener("message", (ev) => {
				let f = {}; try { f = JSON.parse(ev.data); } catch (e) {}
				if (typeof f.seq === "number" && f.seq > window.dropAfter) { window.dropped++; return; }
				fn.call(ws, ev);
			}); } });
			return ws;
		};
	})()`}); err != nil {
		t.Fatal(err)
	}
	var run runView
	if code := c.call("POST", "/runs/"+robot+"/execute", "application/json", strings.NewReader(`{}`), &run); code != 202 {
		t.Fatalf("execute: %d", code)
	}
	step(t, ctx, "run page", chromedp.Navigate(base+"/runs/"+run.RunID), chromedp.WaitVisible(chromedp.CSS(`#log`)))
	waitJS(t, ctx, `window.hubLog && window.hubLog.msgs.includes('1000') && window.hubLog.ws && window.hubLog.ws.readyState === 1`, 60*time.Second)
	eval[bool](t, ctx, `(window.dropAfter = window.hubLog.lastSeq, true)`)
	if err := os.WriteFile(signal, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, `document.querySelector('#log-state').dataset.state === 'ended'`, 2*time.Minute)
	if n := eval[int](t, ctx, `window.dropped`); n == 0 {
		t.Error("no live frame was dropped; the test did not exercise the tail")
	}
	want := c.logMessages(run.RunID)
	got := eval[[]string](t, ctx, `window.hubLog.msgs`)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("at \"ended\" the viewer holds %d lines (last seq %d), the run stored %d", len(got), eval[int](t, ctx, `window.hubLog.lastSeq`), len(want))
	}
}

// zipOf builds a ZIP with executable files.
func zipOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range files {
		h := &zip.FileHeader{Name: name, Method: zip.Deflate}
		h.SetMode(0o755)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
