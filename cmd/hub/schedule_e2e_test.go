package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"automationhub/internal/config"
	"automationhub/internal/hubtest"
)

// queueRun is the part of RunRead the queue tests look at.
type queueRun struct {
	RunID         string     `json:"run_id"`
	RobotID       string     `json:"robot_id"`
	Status        string     `json:"status"`
	TriggerType   string     `json:"trigger_type"`
	Attempt       int        `json:"attempt"`
	RetryOf       *string    `json:"retry_of"`
	ScheduleID    *string    `json:"schedule_id"`
	ScheduledFor  *time.Time `json:"scheduled_for"`
	NotBefore     *time.Time `json:"not_before"`
	WaitingReason *string    `json:"waiting_reason"`
	ErrorMessage  *string    `json:"error_message"`
	QueuedAt      time.Time  `json:"queued_at"`
	StartedAt     *time.Time `json:"started_at"`
	FinishedAt    *time.Time `json:"finished_at"`
}

func (c *hubClient) queueRuns(query string) []queueRun {
	c.t.Helper()
	var page struct {
		Items []queueRun `json:"items"`
	}
	if code := c.call("GET", "/runs?limit=200&"+query, "", nil, &page); code != 200 {
		c.t.Fatalf("list runs: %d", code)
	}
	return page.Items
}

func (c *hubClient) queueRun(id string) queueRun {
	var r queueRun
	c.call("GET", "/runs/"+id, "", nil, &r)
	return r
}

// apiFleet is a hub of two API servers sharing one database: on SQLite two
// `hub all` (each with its own worker), on PostgreSQL two `hub serve` with
// Redis and workers of their own.
type apiFleet struct {
	apis []*hubClient
	vars map[string]string
}

func startAPIFleet(t *testing.T, dialect string, workerConcurrency, workers int, extra map[string]string) *apiFleet {
	t.Helper()
	vars := map[string]string{"ARTIFACTS_ROOT": filepath.Join(t.TempDir(), "artifacts"), "DEFAULT_ADMIN_PASSWORD": "admin-password-1",
		"SECRET_KEY": strings.Repeat("s", 40), "WORKER_CONCURRENCY": fmt.Sprint(workerConcurrency), "WORKER_STALE_SECONDS": "10"}
	for k, v := range extra {
		vars[k] = v
	}
	role := "all"
	if dialect == config.Postgres {
		client, prefix := hubtest.Redis(t)
		vars["DATABASE_URL"] = hubtest.DatabaseConfig(t, dialect).DSN
		vars["REDIS_URL"] = "redis://" + client.Options().Addr + "/0"
		vars["REDIS_QUEUE_NAME"], vars["REDIS_PUBSUB_PREFIX"] = prefix+"q", prefix+"c"
		role = "serve"
	} else {
		vars["DATABASE_URL"] = "sqlite:" + filepath.Join(t.TempDir(), "hub.db")
	}
	f := &apiFleet{vars: vars}
	for range 2 {
		m, _ := startMain(t, role, vars)
		f.apis = append(f.apis, login(t, "http://"+m.Addr.String()+"/api/v1", "admin", "admin-password-1"))
	}
	if role == "serve" {
		for range workers {
			startMain(t, "worker", vars)
		}
	}
	return f
}

// TestRetriesWithBackoff runs a robot that fails twice then succeeds, with
// two retries: three runs, attempts 1 to 3, each retry started no sooner
// than its backoff, while another robot's runs go through at once on the
// same single worker slot.
func TestRetriesWithBackoff(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the robots are shell scripts")
	}
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			f := startAPIFleet(t, dialect, 1, 1, nil)
			c := f.apis[0]
			flaky := c.shellRobot("flaky", "#!/bin/sh\necho \"attempt $HUB_ATTEMPT\"\n[ \"$HUB_ATTEMPT\" -ge 3 ] && exit 0\nexit 1\n")
			quick := c.shellRobot("quick", "#!/bin/sh\necho quick\n")
			var first queueRun
			if code := c.call("POST", "/runs/"+flaky+"/execute", "application/json",
				strings.NewReader(`{"retry_count":2,"retry_backoff_seconds":2}`), &first); code != 202 {
				t.Fatalf("execute: %d", code)
			}
			// While the failed attempts wait for their backoff, other runs
			// start at once on the one worker slot.
			var quickRuns []string
			for range 3 {
				time.Sleep(700 * time.Millisecond)
				var q queueRun
				c.call("POST", "/runs/"+quick+"/execute", "application/json", strings.NewReader(`{}`), &q)
				quickRuns = append(quickRuns, q.RunID)
			}
			deadline := time.Now().Add(60 * time.Second)
			var chain []queueRun
			for {
				chain = c.queueRuns("robot_id=" + flaky)
				if len(chain) == 3 && chain[0].Status == "SUCCESS" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("flaky runs: %+v", chain)
				}
				time.Sleep(200 * time.Millisecond)
			}
			slices.Reverse(chain) // oldest first
			for i, r := range chain {
				wantStatus, wantTrigger := "FAILED", "RETRY"
				if i == 2 {
					wantStatus = "SUCCESS"
				}
				if i == 0 {
					wantTrigger = "MANUAL"
				}
				if r.Attempt != i+1 || r.Status != wantStatus || r.TriggerType != wantTrigger {
					t.Errorf("run %d: attempt %d %s %s, want %d %s %s", i, r.Attempt, r.Status, r.TriggerType, i+1, wantStatus, wantTrigger)
				}
				if i == 0 {
					continue
				}
				prev := chain[i-1]
				if r.RetryOf == nil || *r.RetryOf != prev.RunID {
					t.Errorf("run %d retries %v, want %s", i, r.RetryOf, prev.RunID)
				}
				backoff := time.Duration(2<<(i-1)) * time.Second // 2 s, then 4 s
				if waited := r.StartedAt.Sub(*prev.FinishedAt); waited < backoff {
					t.Errorf("attempt %d started %v after attempt %d failed, want at least %v", i+1, waited, i, backoff)
				}
				want := fmt.Sprintf("Retry scheduled: attempt=%d backoff=%ds run_id=%s", i+1, int(backoff/time.Second), r.RunID)
				if msgs := c.logMessages(prev.RunID); !slices.Contains(msgs, want) {
					t.Errorf("log of attempt %d lacks %q: %q", i, want, msgs)
				}
			}
			for _, id := range quickRuns {
				q := c.waitRun(id, 30*time.Second)
				r := c.queueRun(id)
				if q.Status != "SUCCESS" || r.StartedAt.Sub(r.QueuedAt) > 3*time.Second {
					t.Errorf("quick run %s: %s %v, waited %v to start; log: %q", id, q.Status, deref(r.ErrorMessage), r.StartedAt.Sub(r.QueuedAt), c.logMessages(id))
				}
			}
			if last := c.queueRun(quickRuns[len(quickRuns)-1]); !last.FinishedAt.Before(*chain[2].StartedAt) {
				t.Errorf("the quick runs waited for the retries: last finished %s, third attempt started %s", last.FinishedAt, chain[2].StartedAt)
			}
		})
	}
}

// TestPoolCapacityAcrossTwoAPIs asks for 20 runs of robots that need a pool
// of capacity 2, through two API servers at once, with eight worker slots:
// the runs' start and finish times never show more than 2 running, runs
// waiting say why, and all 20 finish.
func TestPoolCapacityAcrossTwoAPIs(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the robots are shell scripts")
	}
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			f := startAPIFleet(t, dialect, 4, 2, nil)
			admin := f.apis[0]
			var pool struct{ ID, Name string }
			if code := admin.call("POST", "/pools", "application/json", strings.NewReader(`{"name":"sap-licences","capacity":2}`), &pool); code != 201 {
				t.Fatalf("create pool: %d", code)
			}
			var robots []string
			for i := range 2 {
				id := admin.shellRobot(fmt.Sprintf("sap-robot-%d", i), "#!/bin/sh\necho start\nsleep 0.4\necho done\n")
				if code := admin.call("PATCH", "/robots/"+id, "application/json", strings.NewReader(`{"resource_pools":["sap-licences"]}`), nil); code != 200 {
					t.Fatalf("robot pools: %d", code)
				}
				robots = append(robots, id)
			}
			var (
				mu  sync.Mutex
				ids []string
				wg  sync.WaitGroup
			)
			for i := range 20 {
				wg.Go(func() {
					var r queueRun
					c := f.apis[i%2]
					if code := c.call("POST", "/runs/"+robots[i%2]+"/execute", "application/json", strings.NewReader(`{}`), &r); code != 202 {
						t.Errorf("execute: %d", code)
						return
					}
					mu.Lock()
					ids = append(ids, r.RunID)
					mu.Unlock()
				})
			}
			wg.Wait()
			sawReason := ""
			deadline := time.Now().Add(90 * time.Second)
			for {
				pending := admin.queueRuns("status=PENDING")
				for _, r := range pending {
					if r.WaitingReason != nil {
						sawReason = *r.WaitingReason
					}
				}
				if len(pending) == 0 && len(admin.queueRuns("status=RUNNING")) == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("runs still pending or running: %d", len(pending))
				}
				time.Sleep(50 * time.Millisecond)
			}
			if sawReason != "pool sap-licences is full (2/2)" {
				t.Errorf("waiting reason seen = %q", sawReason)
			}
			_, metrics := get(t, strings.TrimSuffix(admin.base, "/api/v1")+"/metrics")
			for _, want := range []string{`hub_pool_capacity{pool="sap-licences"} 2`, `hub_pool_slots_in_use{pool="sap-licences"} 0`,
				`hub_runs_waiting{reason="pool"} 0`, `hub_runs_waiting{reason="backoff"} 0`} {
				if !strings.Contains(metrics, want) {
					t.Errorf("/metrics lacks %q", want)
				}
			}
			type edge struct {
				at    time.Time
				delta int
			}
			var edges []edge
			for _, id := range ids {
				r := admin.queueRun(id)
				if r.Status != "SUCCESS" || r.StartedAt == nil || r.FinishedAt == nil {
					t.Errorf("run %s: %s %v; log: %q", id, r.Status, deref(r.ErrorMessage), admin.logMessages(id))
					continue
				}
				edges = append(edges, edge{*r.StartedAt, 1}, edge{*r.FinishedAt, -1})
			}
			sort.Slice(edges, func(i, j int) bool {
				if !edges[i].at.Equal(edges[j].at) {
					return edges[i].at.Before(edges[j].at)
				}
				return edges[i].delta < edges[j].delta // a finish before a start at the same instant
			})
			running, peak := 0, 0
			for _, e := range edges {
				running += e.delta
				peak = max(peak, running)
			}
			if len(ids) != 20 || peak > 2 {
				t.Errorf("%d runs, at most %d running at once; want 20 and at most 2", len(ids), peak)
			}
			if peak < 2 {
				t.Errorf("never 2 running at once: the pool was not used to capacity")
			}
		})
	}
}

// TestWorkerKilledFreesPoolSlot kills the process running the only holder
// of a pool slot: once the run is failed "worker lost", the run waiting for
// the slot starts.
func TestWorkerKilledFreesPoolSlot(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("uses SIGKILL and Linux's parent-death signal")
	}
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			dir := t.TempDir()
			env := []string{"DEFAULT_ADMIN_PASSWORD=admin-password-1", "SECRET_KEY=" + strings.Repeat("s", 40), "WORKER_STALE_SECONDS=10",
				"HUB_ADDR=127.0.0.1:0", "LOG_LEVEL=WARN", "ENVIRONMENT=test"}
			holderArgs, nextArgs := []string(nil), []string(nil)
			if dialect == config.Postgres {
				client, prefix := hubtest.Redis(t)
				env = append(env, "DATABASE_URL="+hubtest.DatabaseConfig(t, dialect).DSN, "ENCRYPTION_KEY="+testEncryptionKey, "REDIS_URL=redis://"+client.Options().Addr+"/0",
					"REDIS_QUEUE_NAME="+prefix+"q", "REDIS_PUBSUB_PREFIX="+prefix+"c", "ARTIFACTS_ROOT="+filepath.Join(dir, "artifacts"))
				holderArgs, nextArgs = []string{"serve"}, []string{"worker"}
			}
			// SQLite: `hub` (all-in-one) is killed and started again on its
			// data folder; PostgreSQL: a `hub worker` is killed beside `hub
			// serve`, and another worker takes over.
			api := runHubProcess(t, dir, holderArgs, env...)
			url := api.waitFor(t, "running at ")
			var worker *exec.Cmd
			if dialect == config.Postgres {
				worker = runHubProcess(t, filepath.Join(dir), []string{"worker"}, append(env, "HUB_DATA_DIR="+filepath.Join(dir, "w1"))...).cmd
			} else {
				worker = api.cmd
			}
			c := login(t, url+"/api/v1", "admin", "admin-password-1")
			if code := c.call("POST", "/pools", "application/json", strings.NewReader(`{"name":"one-desktop","capacity":1}`), nil); code != 201 {
				t.Fatalf("create pool: %d", code)
			}
			holder := c.shellRobot("holder", "#!/bin/sh\necho working\nexec sleep 120\n")
			waiter := c.shellRobot("waiter", "#!/bin/sh\necho my turn\n")
			for _, id := range []string{holder, waiter} {
				if code := c.call("PATCH", "/robots/"+id, "application/json", strings.NewReader(`{"resource_pools":["one-desktop"]}`), nil); code != 200 {
					t.Fatalf("robot pools: %d", code)
				}
			}
			var held, next queueRun
			c.call("POST", "/runs/"+holder+"/execute", "application/json", strings.NewReader(`{}`), &held)
			deadline := time.Now().Add(30 * time.Second)
			for c.queueRun(held.RunID).Status != "RUNNING" || !slices.Contains(c.logMessages(held.RunID), "working") {
				if time.Now().After(deadline) {
					t.Fatal("the holder never started")
				}
				time.Sleep(100 * time.Millisecond)
			}
			c.call("POST", "/runs/"+waiter+"/execute", "application/json", strings.NewReader(`{}`), &next)
			for {
				r := c.queueRun(next.RunID)
				if r.WaitingReason != nil && *r.WaitingReason == "pool one-desktop is full (1/1)" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the waiter is %s, reason %v", r.Status, r.WaitingReason)
				}
				time.Sleep(100 * time.Millisecond)
			}
			if err := worker.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed := time.Now()
			if dialect == config.Postgres {
				runHubProcess(t, dir, nextArgs, append(env, "HUB_DATA_DIR="+filepath.Join(dir, "w2"))...)
			} else {
				time.Sleep(200 * time.Millisecond)
				api = runHubProcess(t, dir, nil, env...)
				c.base = api.waitFor(t, "running at ") + "/api/v1"
			}
			w := c.waitRun(next.RunID, 60*time.Second)
			h := c.queueRun(held.RunID)
			n := c.queueRun(next.RunID)
			t.Logf("waiter finished %v after the kill", time.Since(killed).Round(100*time.Millisecond))
			if h.Status != "FAILED" || h.ErrorMessage == nil || !strings.Contains(*h.ErrorMessage, "worker lost") {
				t.Errorf("holder = %s %v, want FAILED worker lost", h.Status, h.ErrorMessage)
			}
			if w.Status != "SUCCESS" || n.StartedAt == nil || n.StartedAt.Before(*h.FinishedAt) {
				t.Errorf("waiter = %s started %v, holder failed at %v", w.Status, n.StartedAt, h.FinishedAt)
			}
		})
	}
}

// TestTwoServeProcessesFireOnce runs two `hub serve` processes on one
// PostgreSQL database for three minutes with `* * * * *` schedules: every
// fire gets exactly one run. It takes more than three real minutes, so it
// runs with HUB_TEST_LONG=1 (CI's long step); TestSchedulersFireExactlyOnce
// (internal/schedule) races two schedulers over three simulated hours on
// every run of the suite.
func TestTwoServeProcessesFireOnce(t *testing.T) {
	if !hubtest.Long() {
		t.Skip("takes three minutes of wall-clock time; set HUB_TEST_LONG=1")
	}
	dir := t.TempDir()
	client, prefix := hubtest.Redis(t)
	env := []string{"DATABASE_URL=" + hubtest.DatabaseConfig(t, config.Postgres).DSN, "ENCRYPTION_KEY=" + testEncryptionKey, "REDIS_URL=redis://" + client.Options().Addr + "/0",
		"REDIS_QUEUE_NAME=" + prefix + "q", "REDIS_PUBSUB_PREFIX=" + prefix + "c", "ARTIFACTS_ROOT=" + filepath.Join(dir, "artifacts"),
		"DEFAULT_ADMIN_PASSWORD=admin-password-1", "SECRET_KEY=" + strings.Repeat("s", 40), "HUB_ADDR=127.0.0.1:0", "LOG_LEVEL=WARN"}
	var urls []string
	for i := range 2 {
		p := runHubProcess(t, dir, []string{"serve"}, append(env, fmt.Sprintf("HUB_DATA_DIR=%s/serve%d", dir, i))...)
		urls = append(urls, p.waitFor(t, "running at "))
	}
	c := login(t, urls[0]+"/api/v1", "admin", "admin-password-1")
	const robots = 5
	var ids []string
	for i := range robots {
		id := c.shellRobot(fmt.Sprintf("every-minute-%d", i), "#!/bin/sh\necho tick\n")
		// No worker runs them: queue keeps every fire's run.
		if code := c.call("POST", "/robots/"+id+"/schedule", "application/json",
			strings.NewReader(`{"cron_expr":"* * * * *","timezone":"UTC","overlap_policy":"queue","max_concurrency":100}`), nil); code != 201 {
			t.Fatalf("create schedule: %d", code)
		}
		ids = append(ids, id)
	}
	created := time.Now().UTC()
	first := created.Truncate(time.Minute).Add(time.Minute)
	last := first.Add(2 * time.Minute)
	time.Sleep(time.Until(last.Add(5 * time.Second)))
	c2 := login(t, urls[1]+"/api/v1", "admin", "admin-password-1")
	for _, id := range ids {
		runs := c2.queueRuns("trigger_type=SCHEDULED&robot_id=" + id)
		var fires []time.Time
		for _, r := range runs {
			fires = append(fires, r.ScheduledFor.UTC())
		}
		slices.SortFunc(fires, func(a, b time.Time) int { return a.Compare(b) })
		var want []time.Time
		for at := first; !at.After(last); at = at.Add(time.Minute) {
			want = append(want, at)
		}
		if !slices.EqualFunc(fires, want, time.Time.Equal) {
			t.Errorf("robot %s: fires %v, want one run for each of %v", id, fires, want)
		}
	}
}
