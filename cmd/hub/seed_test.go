package main

import (
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestDevSeedAsDocumented runs `hub dev seed` as docs/development.md shows
// it, in the quick start's folder (relative ./data), then starts the hub
// there: the seeded runs list with exact totals where counters answer and
// a lower bound where they do not, their artifacts download, and the web
// UI's runs page pages past the counted total. It also checks that seeding
// is refused in production.
func TestDevSeedAsDocumented(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("signals differ on Windows")
	}
	t.Parallel()
	dir := t.TempDir()
	seed := runHubProcess(t, dir, []string{"dev", "seed", "--runs", "6000", "--robots", "3", "--services", "1", "--seed", "5"})
	select {
	case err := <-seed.done:
		if err != nil {
			t.Fatalf("hub dev seed: %v\n%s\n%s", err, seed.stdout.String(), seed.stderr.String())
		}
	case <-time.After(3 * time.Minute):
		t.Fatal("hub dev seed did not finish in 3 minutes")
	}
	if !regexp.MustCompile(`seeded 3 robots, 1 services, 6000 runs, 18000 log lines, \d+ artifacts, 6000 audit events`).MatchString(seed.stdout.String()) {
		t.Fatalf("seed summary:\n%s", seed.stdout.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "hub.db")); err != nil {
		t.Fatalf("not seeded into ./data: %v", err)
	}

	hub := startHubProcess(t, dir, "HUB_ADDR=127.0.0.1:0", "DEFAULT_ADMIN_PASSWORD=a-strong-first-password")
	c := login(t, hub.URL+"/api/v1", "admin", "a-strong-first-password")
	type page struct {
		Items []struct {
			RunID     string  `json:"run_id"`
			ServiceID *string `json:"service_id"`
			Artifacts []struct {
				ID string `json:"id"`
			} `json:"artifacts"`
		} `json:"items"`
		Total      int     `json:"total"`
		TotalExact bool    `json:"total_exact"`
		NextCursor *string `json:"next_cursor"`
	}
	var all page
	if code := c.call("GET", "/runs?limit=200", "", nil, &all); code != 200 || all.Total != 6000 || !all.TotalExact || all.NextCursor == nil {
		t.Fatalf("GET /runs: %d, total %d exact %v", code, all.Total, all.TotalExact)
	}
	service, artifactRun := "", ""
	for _, it := range all.Items {
		if it.ServiceID != nil && service == "" {
			service = *it.ServiceID
		}
		if len(it.Artifacts) > 0 && artifactRun == "" {
			artifactRun = it.RunID
		}
	}
	if service == "" || artifactRun == "" {
		t.Fatal("no service run or no artifact among the newest 200 runs")
	}
	if body := c.artifact(artifactRun, "outputs/report.csv"); !strings.HasPrefix(body, "invoice,amount\n") {
		t.Errorf("seeded artifact: %q", body)
	}
	var byService page
	if code := c.call("GET", "/runs?limit=25&service_id="+service, "", nil, &byService); code != 200 || byService.TotalExact || byService.Total != 25+1000 {
		t.Fatalf("GET /runs?service_id: %d, total %d exact %v, want the lower bound 1025", code, byService.Total, byService.TotalExact)
	}

	ui := uiLogin(t, hub.URL, "admin", "a-strong-first-password")
	code, body := ui.get("/runs?service_id=" + url.QueryEscape(service))
	if code != 200 || !strings.Contains(body, "more than 1025 runs") || !strings.Contains(body, `rel="next"`) || !strings.Contains(body, "1 / 41+") {
		t.Errorf("UI runs page of the service: %d, want 'more than 1025 runs', page 1 / 41+ and a next link", code)
	}
	code, body = ui.get("/runs?page=3")
	if code != 200 || !strings.Contains(body, "6000 runs") || !strings.Contains(body, "3 / 240") {
		t.Errorf("UI runs page 3: %d, want the exact total and 3 / 240", code)
	}

	prod := runHubProcess(t, dir, []string{"dev", "seed", "--runs", "1"}, "ENVIRONMENT=prod",
		"SECRET_KEY="+strings.Repeat("k", 40), "DEFAULT_ADMIN_PASSWORD=a-strong-first-password")
	select {
	case err := <-prod.done:
		if err == nil || !strings.Contains(prod.stderr.String(), "refused: ENVIRONMENT is prod") {
			t.Errorf("seeding in prod: %v\n%s", err, prod.stderr.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("hub dev seed in prod did not exit")
	}
}
