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
// HUB_BENCH_RUNS sets the sizes (default "1000,50000"; the figures for a
// million runs come from HUB_BENCH_RUNS=1000,1000000), HUB_BENCH_SECONDS
// the time per endpoint (default 2; half of it measures /health in slices
// interleaved with the endpoint's), HUB_BENCH_ONLY a part of the names of
// the endpoints to measure.
//
//	HUB_BENCH_RUNS=1000,1000000 go test -run XXX -bench ReadsAtScale -benchtime 1x -timeout 60m ./cmd/hub
func BenchmarkReadsAtScale(b *testing.B) {
	sizes := []int{1000, 50000}
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
	per := 2 * time.Second
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
	}
	only := os.Getenv("HUB_BENCH_ONLY") // a part of the endpoint names, to profile some
	apiClient := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	var out strings.Builder
	fmt.Fprintf(&out, "\n%s, %d finished runs, 16 clients, %s per endpoint (half of it on /health, interleaved)\n", dialect, runs, per)
	fmt.Fprintf(&out, "%-26s %9s %9s %9s %8s %9s %8s  %s\n", "endpoint", "req/s", "p50", "p99", "KiB", "health/s", "x health", "goal")
	for _, tg := range targets {
		if only != "" && !strings.Contains(tg.name, only) {
			continue
		}
		client, bearer := apiClient, c.token
		if tg.cookies {
			client, bearer = ui.client, ""
		}
		// Slices of the endpoint alternate with slices of /health, so that
		// both meet the same background load on a shared machine.
		const rounds = 4
		var ep, health loadResult
		for range rounds {
			health.add(load(b, apiClient, api+"/health", c.token, 16, per/(2*rounds)))
			ep.add(load(b, client, tg.url, bearer, 16, per/(2*rounds)))
		}
		ratio := ep.perSec() / health.perSec()
		goal := "ok"
		if ratio < 0.25 || ep.pct(0.99) >= 50*time.Millisecond {
			goal = "MISSED"
		}
		fmt.Fprintf(&out, "%-26s %9.0f %9s %9s %8.1f %9.0f %8.2f  %s\n", tg.name, ep.perSec(), ep.pct(0.50).Round(10*time.Microsecond),
			ep.pct(0.99).Round(10*time.Microsecond), float64(ep.bytes)/1024, health.perSec(), ratio, goal)
		metric := strings.NewReplacer(" ", "_", "/", "_", "?", "_", "=", "_").Replace(tg.name)
		b.ReportMetric(ep.perSec(), metric+"-req/s")
		b.ReportMetric(ratio, metric+"-x-health")
	}
	fmt.Print(out.String())
}

// loadResult is what load measured: every request's latency, the time it
// took and the size of an answer.
type loadResult struct {
	lats    []time.Duration
	elapsed time.Duration
	bytes   int
}

func (r *loadResult) add(o loadResult) {
	r.lats = append(r.lats, o.lats...)
	r.elapsed += o.elapsed
	r.bytes = max(r.bytes, o.bytes)
}

func (r *loadResult) perSec() float64 { return float64(len(r.lats)) / r.elapsed.Seconds() }

func (r *loadResult) pct(p float64) time.Duration {
	slices.Sort(r.lats)
	return r.lats[min(len(r.lats)-1, int(p*float64(len(r.lats))))]
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
	return loadResult{lats: lats, elapsed: time.Since(start), bytes: size}
}
