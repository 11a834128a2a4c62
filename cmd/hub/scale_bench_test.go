package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"automationhub/internal/blob"
	"automationhub/internal/hubtest"
	"automationhub/internal/seed"
	"automationhub/internal/sqlstore"
)

// BenchmarkReadsAtScale measures the read endpoints that pages and the
// original frontend poll, on a hub holding many finished runs (seeded as
// `hub dev seed` does), each next to GET /api/v1/health in the same run:
// 16 concurrent clients for a fixed time per endpoint, then requests per
// second, p50, p99 and the ratio to health's throughput. The goal is every
// endpoint at 25 % or more of health's throughput with p99 under 50 ms.
//
// HUB_BENCH_RUNS sets the sizes (default "1000,100000"; the figures for a
// million runs come from HUB_BENCH_RUNS=1000,1000000), HUB_BENCH_SECONDS
// the time per endpoint (default 1.5), HUB_BENCH_ONLY a part of the names
// of the endpoints to measure (health is always measured).
//
//	HUB_BENCH_RUNS=1000,1000000 go test -run XXX -bench ReadsAtScale -benchtime 1x -timeout 60m ./cmd/hub
func BenchmarkReadsAtScale(b *testing.B) {
	sizes := []int{1000, 100000}
	if v := os.Getenv("HUB_BENCH_RUNS"); v != "" {
		sizes = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				b.Fatalf("HUB_BENCH_RUNS=%q: want a comma-separated list of sizes", v)
			}
			sizes = append(sizes, n)
		}
	}
	per := 1500 * time.Millisecond
	if v := os.Getenv("HUB_BENCH_SECONDS"); v != "" {
		s, err := strconv.ParseFloat(v, 64)
		if err != nil || s <= 0 {
			b.Fatalf("HUB_BENCH_SECONDS=%q: want a positive number", v)
		}
		per = time.Duration(s * float64(time.Second))
	}
	for _, dialect := range hubtest.Dialects() {
		for _, n := range sizes {
			b.Run(fmt.Sprintf("%s/%d-runs", dialect, n), func(b *testing.B) {
				benchReads(b, dialect, n, per)
			})
		}
	}
}

type loadResult struct {
	name          string
	reqs          int
	perSec        float64
	p50, p99      time.Duration
	status, bytes int
}

func benchReads(b *testing.B, dialect string, runs int, per time.Duration) {
	m, base := startUIHub(b, dialect, map[string]string{"LOG_LEVEL": "ERROR"})
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
	res, err := seed.Run(ctx, db, blobs, seed.Options{Runs: runs, Seed: 42})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("%s: seeded %d runs, %d log lines, %d artifacts, %d audit events in %s (%.0f runs/s)", dialect, res.Runs, res.LogLines,
		res.Artifacts, res.AuditEvents, res.Elapsed.Round(time.Millisecond), float64(res.Runs)/res.Elapsed.Seconds())

	c := login(b, base+"/api/v1", "admin", "admin-password-1")
	var page struct {
		Items []struct {
			RunID     string  `json:"run_id"`
			RobotID   string  `json:"robot_id"`
			ServiceID *string `json:"service_id"`
		} `json:"items"`
		NextCursor *string `json:"next_cursor"`
	}
	if code := c.call("GET", "/runs?limit=200", "", nil, &page); code != 200 || len(page.Items) == 0 {
		b.Fatalf("GET /runs: %d, %d items", code, len(page.Items))
	}
	robot, runID, service := page.Items[0].RobotID, page.Items[0].RunID, ""
	for _, it := range page.Items {
		if it.ServiceID != nil {
			service = *it.ServiceID
			break
		}
	}
	deep := min(49950, max(runs-50, 0))
	var far struct {
		NextCursor *string `json:"next_cursor"`
	}
	if code := c.call("GET", fmt.Sprintf("/runs?limit=50&skip=%d", max(deep-50, 0)), "", nil, &far); code != 200 {
		b.Fatalf("GET /runs deep: %d", code)
	}
	cursor := ""
	if far.NextCursor != nil {
		cursor = *far.NextCursor
	}
	ui := uiLogin(b, base, "admin", "admin-password-1")

	api := base + "/api/v1"
	targets := []struct {
		name, url string
		cookies   bool
	}{
		{"health", api + "/health", false},
		{"runs", api + "/runs?limit=50", false},
		{"runs?robot_id", api + "/runs?limit=50&robot_id=" + robot, false},
		{"runs?status=FAILED", api + "/runs?limit=50&status=FAILED", false},
		{"runs?service_id", api + "/runs?limit=50&service_id=" + service, false},
		{fmt.Sprintf("runs page %d (skip)", deep/50+1), fmt.Sprintf("%s/runs?limit=50&skip=%d", api, deep), false},
		{fmt.Sprintf("runs page %d (cursor)", deep/50+1), api + "/runs?limit=50&before=" + url.QueryEscape(cursor), false},
		{"runs/{id}", api + "/runs/" + runID, false},
		{"ops/status", api + "/ops/status", false},
		{"audit-events", api + "/audit-events?limit=50", false},
		{"UI /runs page", base + "/runs", true},
		{"health (again)", api + "/health", false},
	}
	var results []loadResult
	only := os.Getenv("HUB_BENCH_ONLY") // a substring of endpoint names, for profiling one
	for _, tg := range targets {
		if only != "" && !strings.Contains(tg.name, only) && !strings.HasPrefix(tg.name, "health") {
			continue
		}
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
		bearer := c.token
		if tg.cookies {
			client, bearer = ui.client, ""
		}
		r := load(b, client, tg.url, bearer, 16, per)
		r.name = tg.name
		results = append(results, r)
	}
	health := results[0].perSec
	var out strings.Builder
	fmt.Fprintf(&out, "\n%s, %d finished runs, 16 clients, %s per endpoint\n", dialect, runs, per)
	fmt.Fprintf(&out, "%-26s %9s %9s %9s %8s %8s  %s\n", "endpoint", "req/s", "p50", "p99", "x health", "KiB", "goal")
	for _, r := range results {
		ratio := r.perSec / health
		goal := "ok"
		if ratio < 0.25 || r.p99 >= 50*time.Millisecond {
			goal = "MISSED"
		}
		fmt.Fprintf(&out, "%-26s %9.0f %9s %9s %8.2f %8.1f  %s\n", r.name, r.perSec, r.p50.Round(10*time.Microsecond),
			r.p99.Round(10*time.Microsecond), ratio, float64(r.bytes)/1024, goal)
		b.ReportMetric(r.perSec, strings.NewReplacer(" ", "_", "/", "_", "?", "_", "=", "_").Replace(r.name)+"-req/s")
	}
	fmt.Print(out.String())
}

// load sends GET url from clients goroutines for d and returns the
// throughput and latency percentiles. Every answer must be 200.
func load(b *testing.B, client *http.Client, url, bearer string, clients int, d time.Duration) loadResult {
	b.Helper()
	var (
		mu    sync.Mutex
		lats  []time.Duration
		size  int
		wg    sync.WaitGroup
		fail  error
		start = time.Now()
		end   = start.Add(d)
	)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for time.Now().Before(end) {
				req, _ := http.NewRequest("GET", url, nil)
				if bearer != "" {
					req.Header.Set("Authorization", "Bearer "+bearer)
				}
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					mu.Lock()
					fail = err
					mu.Unlock()
					return
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mine = append(mine, time.Since(t0))
				if resp.StatusCode != 200 {
					mu.Lock()
					fail = fmt.Errorf("GET %s: %d", url, resp.StatusCode)
					mu.Unlock()
					return
				}
				mu.Lock()
				size = int(n)
				mu.Unlock()
			}
			mu.Lock()
			lats = append(lats, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if fail != nil {
		b.Fatal(fail)
	}
	elapsed := time.Since(start)
	slices.Sort(lats)
	pct := func(p float64) time.Duration { return lats[min(len(lats)-1, int(p*float64(len(lats))))] }
	return loadResult{reqs: len(lats), perSec: float64(len(lats)) / elapsed.Seconds(), p50: pct(0.50), p99: pct(0.99), bytes: size}
}
