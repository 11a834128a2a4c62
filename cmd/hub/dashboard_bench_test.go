package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"automationhub/internal/blob"
	"automationhub/internal/hubtest"
	"automationhub/internal/seed"
	"automationhub/internal/sqlstore"
)

// BenchmarkDashboardAtScale seeds finished runs (HUB_BENCH_DASH_RUNS, a
// comma-separated list of sizes; default 2000, over a year as hub dev seed
// writes them) and times the dashboard: the first 30-day request, which
// stores the finished days' figures, then each stats endpoint and the
// dashboard page, median of HUB_BENCH_DASH_REPS requests (default 5).
// Goal: under 1 s each at 1 000 000 runs.
func BenchmarkDashboardAtScale(b *testing.B) {
	sizes := []int{2000}
	if v := os.Getenv("HUB_BENCH_DASH_RUNS"); v != "" {
		sizes = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				b.Fatalf("HUB_BENCH_DASH_RUNS=%q: want a comma-separated list of sizes", v)
			}
			sizes = append(sizes, n)
		}
	}
	reps := 5
	if v := os.Getenv("HUB_BENCH_DASH_REPS"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			reps = n
		}
	}
	for _, dialect := range hubtest.Dialects() {
		for _, n := range sizes {
			b.Run(fmt.Sprintf("%s/%d-runs", dialect, n), func(b *testing.B) {
				benchDashboard(b, dialect, n, reps)
			})
		}
	}
}

func benchDashboard(b *testing.B, dialect string, runs, reps int) {
	// The monitor's own pass (which would store the days) waits a day.
	m, base := startUIHub(b, dialect, map[string]string{"LOG_LEVEL": "ERROR", "SLA_MONITOR_INTERVAL_SECONDS": "86400"})
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, m.Config.Database(), sqlstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	blobs, err := blob.NewLocal(m.Config.ArtifactsRoot)
	if err != nil {
		b.Fatal(err)
	}
	res, err := seed.Run(ctx, db, blobs, seed.Options{Runs: runs, Seed: 42, LogLines: 1, ArtifactEvery: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("%s: seeded %d runs in %s", dialect, res.Runs, res.Elapsed.Round(time.Millisecond))
	c := login(b, base+"/api/v1", "admin", "admin-password-1")
	ui := uiLogin(b, base, "admin", "admin-password-1")
	api := base + "/api/v1"
	get := func(url string, cookies bool) time.Duration {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		client := http.DefaultClient
		if cookies {
			client = ui.client
		} else {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("GET %s: %d", url, resp.StatusCode)
		}
		return time.Since(start)
	}
	var out strings.Builder
	fmt.Fprintf(&out, "\n%s, %d finished runs over 365 days (median of %d requests)\n", dialect, runs, reps)
	cold := get(api+"/stats/robots?days=30", false)
	fmt.Fprintf(&out, "%-40s %10s\n", "first 30-day request (stores the days)", cold.Round(time.Millisecond))
	b.ReportMetric(float64(cold.Microseconds())/1000, "first-30d-ms")
	for _, tg := range []struct {
		name, url string
		cookies   bool
	}{
		{"stats/overview", api + "/stats/overview", false},
		{"stats/robots?days=7", api + "/stats/robots?days=7", false},
		{"stats/robots?days=30", api + "/stats/robots?days=30", false},
		{"stats/services?days=30", api + "/stats/services?days=30", false},
		{"stats/daily?days=30", api + "/stats/daily?days=30", false},
		{"stats/failures?days=7", api + "/stats/failures?days=7", false},
		{"stats/failures?days=30", api + "/stats/failures?days=30", false},
		{"alerts?status=open&limit=100", api + "/alerts?status=open&limit=100", false},
		{"UI /dashboard (7 days)", base + "/dashboard", true},
		{"UI /dashboard?days=30", base + "/dashboard?days=30", true},
	} {
		var lats []time.Duration
		for range reps {
			lats = append(lats, get(tg.url, tg.cookies))
		}
		slices.Sort(lats)
		med := lats[len(lats)/2]
		goal := "ok"
		if med >= time.Second {
			goal = "MISSED"
		}
		fmt.Fprintf(&out, "%-40s %10s  %s\n", tg.name, med.Round(100*time.Microsecond), goal)
		b.ReportMetric(float64(med.Microseconds())/1000, strings.NewReplacer(" ", "_", "/", "_", "?", "_", "=", "_", "&", "_", "(", "", ")", "").Replace(tg.name)+"-ms")
	}
	fmt.Print(out.String())
}
