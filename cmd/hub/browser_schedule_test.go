package main

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserScheduleTab opens a robot's Schedule tab in a real browser:
// the schedule in words, its next five fire times in its own time zone, and
// the limits form with the pools to choose from.
func TestBrowserScheduleTab(t *testing.T) {
	ctx := newBrowser(t)
	_, base := startUIHub(t, "sqlite", nil)
	c := login(t, base+"/api/v1", "admin", "admin-password-1")
	robot := c.shellRobot("invoice-bot", "#!/bin/sh\necho ok\n")
	for _, body := range []string{`{"name":"sap-licences","capacity":2,"description":"SAP GUI seats"}`, `{"name":"bank-portal","capacity":1}`} {
		if code := c.call("POST", "/pools", "application/json", strings.NewReader(body), nil); code != 201 {
			t.Fatalf("create pool: %d", code)
		}
	}
	if code := c.call("PATCH", "/robots/"+robot, "application/json", strings.NewReader(`{"max_concurrent_runs":1,"resource_pools":["sap-licences"],"retry_count":2}`), nil); code != 200 {
		t.Fatalf("robot limits: %d", code)
	}
	if code := c.call("POST", "/robots/"+robot+"/schedule", "application/json", strings.NewReader(`{"cron_expr":"30 8 * * 1-5",
		"timezone":"Europe/Lisbon","window_start":"08:00","window_end":"18:00","retry_count":2,"retry_backoff_seconds":120,"overlap_policy":"queue"}`), nil); code != 201 {
		t.Fatalf("create schedule: %d", code)
	}
	uiLoginBrowser(t, ctx, base, "admin", "admin-password-1")
	step(t, ctx, "schedule tab",
		chromedp.Navigate(base+"/robots/"+robot),
		chromedp.WaitVisible(chromedp.CSS(`#schedule-tab`)),
		chromedp.Click(chromedp.CSS(`#schedule-tab`)),
		chromedp.WaitVisible(chromedp.CSS(`#next-fires`)),
	)
	if got := text(t, ctx, `#schedule-description`); !strings.Contains(got, "At 08:30 on Monday–Friday") || !strings.Contains(got, "only between 08:00 and 18:00") {
		t.Errorf("description = %q", got)
	}
	fires := eval[[]string](t, ctx, `[...document.querySelectorAll('#next-fires li .mono')].map(e => e.textContent)`)
	if len(fires) != 5 {
		t.Fatalf("next fires = %q", fires)
	}
	for _, f := range fires {
		if !strings.Contains(f, "08:30 (+0") || strings.HasPrefix(f, "Sat") || strings.HasPrefix(f, "Sun") {
			t.Errorf("fire %q is not 08:30 Lisbon time on a weekday", f)
		}
	}
	if n := eval[int](t, ctx, `document.querySelectorAll('#limits-form input[name=resource_pools]').length`); n != 2 {
		t.Errorf("pool choices = %d, want 2", n)
	}
	shot(t, ctx, screenshotDir(t), "schedule")
}
