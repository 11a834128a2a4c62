package sqlstore_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"automationhub/internal/hub"
	"automationhub/internal/hubtest"
	"automationhub/internal/sqlstore"
)

type queueFixture struct {
	db  *sqlstore.DB
	now time.Time
}

func (f *queueFixture) robot(t testing.TB, name string) (robotID, versionID string) {
	t.Helper()
	key := "robots/" + name + "/1.0.0/artifact.zip"
	r := &hub.Robot{ID: uuid.NewString(), Name: name, Tags: []string{}, CreatedAt: f.now, UpdatedAt: f.now}
	v := &hub.Version{ID: uuid.NewString(), RobotID: r.ID, Version: "1.0.0", Channel: "stable", EntrypointType: "PYTHON", EntrypointPath: "main.py",
		Arguments: []string{}, EnvVars: map[string]string{}, ArtifactType: "ZIP", ArtifactPath: &key, CreatedSource: "user",
		RequiredEnvKeys: []string{}, RuntimeEnvKeys: []string{}, CreatedAt: f.now, IsActive: true}
	if err := f.db.CreateRobot(context.Background(), r, v, nil); err != nil {
		t.Fatal(err)
	}
	return r.ID, v.ID
}

func (f *queueFixture) run(t testing.TB, robotID, versionID string, priority int, queued time.Time) string {
	t.Helper()
	r := &hub.Run{ID: uuid.NewString(), RobotID: robotID, VersionID: versionID, Status: hub.RunPending, TriggerType: hub.TriggerManual,
		Attempt: 1, EnvName: "PROD", TimeoutSeconds: 60, QueuedAt: queued, Priority: priority, RetryBackoffSeconds: 60}
	if err := f.db.CreateRun(context.Background(), r, nil); err != nil {
		t.Fatal(err)
	}
	return r.ID
}

func (f *queueFixture) claim(t *testing.T, runID string) (string, bool) {
	t.Helper()
	r, ok, err := f.db.ClaimRun(context.Background(), runID, "w1", "host", f.now, f.now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		return "", false
	}
	return r.ID, true
}

func (f *queueFixture) reason(t *testing.T, runID string) string {
	t.Helper()
	r, err := f.db.RunByID(context.Background(), runID)
	if err != nil {
		t.Fatal(err)
	}
	if r.WaitingReason == nil {
		return ""
	}
	return *r.WaitingReason
}

func TestClaimLimitsAndOrder(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			f := &queueFixture{db: hubtest.Store(t, dialect), now: time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)}
			a, av := f.robot(t, "robot-a")
			b, bv := f.robot(t, "robot-b")
			one := 1
			if _, err := f.db.SetRunSettings(ctx, a, hub.RunSettings{MaxConcurrentRuns: &one, RetryBackoffSeconds: 60}, nil, f.now, nil); err != nil {
				t.Fatal(err)
			}
			a1 := f.run(t, a, av, 0, f.now.Add(-3*time.Second))
			a2 := f.run(t, a, av, 0, f.now.Add(-2*time.Second))
			// The signal of the younger run starts the older one first.
			if got, ok := f.claim(t, a2); !ok || got != a1 {
				t.Fatalf("claim a2 = %s %v, want a1 started in its place", got, ok)
			}
			if _, ok := f.claim(t, a2); ok {
				t.Fatal("a2 started beside a1 with max_concurrent_runs 1")
			}
			if got := f.reason(t, a2); got != "robot limit reached (1/1 running)" {
				t.Errorf("waiting reason = %q", got)
			}
			if _, err := f.db.FinishRun(ctx, a1, "w1", hub.RunResult{Status: hub.RunSuccess, FinishedAt: f.now}, nil, nil); err != nil {
				t.Fatal(err)
			}
			if ids, err := f.db.WaitingBehind(ctx, a1, f.now, 4); err != nil || len(ids) != 1 || ids[0] != a2 {
				t.Errorf("waiting behind a1 = %v, %v; want [a2]", ids, err)
			}
			if got, ok := f.claim(t, a2); !ok || got != a2 || f.reason(t, a2) != "" {
				t.Errorf("claim a2 after a1 ended = %s %v", got, ok)
			}

			// A pool shared by two robots.
			pool := &hub.Pool{ID: uuid.NewString(), Name: "sap-licences", Capacity: 1, CreatedAt: f.now, UpdatedAt: f.now}
			if err := f.db.CreatePool(ctx, pool, nil); err != nil {
				t.Fatal(err)
			}
			for _, r := range []string{a, b} {
				if _, err := f.db.SetRunSettings(ctx, r, hub.RunSettings{RetryBackoffSeconds: 60}, []string{"sap-licences"}, f.now, nil); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := f.db.FinishRun(ctx, a2, "w1", hub.RunResult{Status: hub.RunSuccess, FinishedAt: f.now}, nil, nil); err != nil {
				t.Fatal(err)
			}
			a3 := f.run(t, a, av, 0, f.now)
			if got, ok := f.claim(t, a3); !ok || got != a3 {
				t.Fatalf("claim a3 = %s %v", got, ok)
			}
			b1 := f.run(t, b, bv, 0, f.now)
			if _, ok := f.claim(t, b1); ok {
				t.Fatal("b1 started while a3 holds the only slot of the pool")
			}
			if got := f.reason(t, b1); got != "pool sap-licences is full (1/1)" {
				t.Errorf("waiting reason = %q", got)
			}
			if err := f.db.FailRun(ctx, a3, "worker lost", "Unexpected failure: worker lost", f.now); err != nil {
				t.Fatal(err)
			}
			if ids, _ := f.db.WaitingBehind(ctx, a3, f.now, 4); len(ids) != 1 || ids[0] != b1 {
				t.Errorf("waiting behind a3 = %v, want [b1] (the pool it held)", ids)
			}
			if got, ok := f.claim(t, b1); !ok || got != b1 {
				t.Errorf("claim b1 after the slot was freed = %s %v", got, ok)
			}
			st, err := f.db.RunStats(ctx, f.now, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if len(st.Pools) != 1 || st.Pools[0].InUse != 1 || st.Pools[0].Capacity != 1 {
				t.Errorf("pool usage = %+v", st.Pools)
			}

			// Priority: a signal of an unlimited robot starts the highest run first.
			c, cv := f.robot(t, "robot-c")
			low := f.run(t, c, cv, 0, f.now.Add(-time.Minute))
			high := f.run(t, c, cv, 10, f.now)
			if got, ok := f.claim(t, low); !ok || got != high {
				t.Errorf("claim low = %s, want high (priority 10) first", got)
			}
		})
	}
}

func TestRetryQueued(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			f := &queueFixture{db: hubtest.Store(t, dialect), now: time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)}
			a, av := f.robot(t, "retried")
			r := &hub.Run{ID: uuid.NewString(), RobotID: a, VersionID: av, Status: hub.RunPending, TriggerType: hub.TriggerManual, Attempt: 1,
				EnvName: "PROD", TimeoutSeconds: 60, QueuedAt: f.now, RetryCount: 1, RetryBackoffSeconds: 10,
				RuntimeArguments: []string{"--x"}, RuntimeEnv: map[string]string{"A": "1"}}
			if err := f.db.CreateRun(ctx, r, nil); err != nil {
				t.Fatal(err)
			}
			if _, ok := f.claim(t, r.ID); !ok {
				t.Fatal("claim")
			}
			msg := "Process returned exit code 3"
			if ok, err := f.db.FinishRun(ctx, r.ID, "w1", hub.RunResult{Status: hub.RunFailed, ErrorMessage: &msg, FinishedAt: f.now},
				[]hub.LogLine{{RunID: r.ID, Seq: 1, Timestamp: f.now, Level: hub.LevelError, Message: msg}}, nil); !ok || err != nil {
				t.Fatalf("finish: %v %v", ok, err)
			}
			list, _, err := f.db.ListRuns(ctx, hub.RunFilter{RobotID: a, TriggerType: hub.TriggerRetry, Scope: hub.RobotScope{All: true}, Page: hub.Page{Limit: 10}})
			if err != nil || len(list) != 1 {
				t.Fatalf("retries = %v, %v", list, err)
			}
			retry := list[0]
			if retry.Attempt != 2 || retry.RetryOf == nil || *retry.RetryOf != r.ID || retry.NotBefore == nil ||
				retry.NotBefore.Sub(f.now) < 10*time.Second || retry.NotBefore.Sub(f.now) > 11*time.Second ||
				retry.RuntimeArguments[0] != "--x" || retry.RuntimeEnv["A"] != "1" || retry.Status != hub.RunPending {
				t.Errorf("retry = %+v", retry)
			}
			lines, err := f.db.RunLogs(ctx, r.ID, 0, 10)
			if err != nil || len(lines) != 2 || lines[1].Level != hub.LevelWarn ||
				!strings.HasPrefix(lines[1].Message, "Retry scheduled: attempt=2 backoff=10s run_id="+retry.ID) {
				t.Errorf("log = %+v", lines)
			}
			// Not before its backoff; the reconciler's query finds it once due.
			if _, ok := f.claim(t, retry.ID); ok {
				t.Error("retry claimed before its backoff ended")
			}
			if ids, _ := f.db.StalePendingRuns(ctx, f.now.Add(-5*time.Second), f.now, 10); len(ids) != 0 {
				t.Errorf("stale before due = %v", ids)
			}
			f.now = *retry.NotBefore
			if ids, _ := f.db.StalePendingRuns(ctx, f.now.Add(-5*time.Second), f.now, 10); len(ids) != 1 || ids[0] != retry.ID {
				t.Errorf("stale once due = %v", ids)
			}
			if got, ok := f.claim(t, retry.ID); !ok || got != retry.ID {
				t.Fatal("retry not claimed once due")
			}
			// The last attempt fails: no more retries.
			if err := f.db.FailRun(ctx, retry.ID, "worker lost", "Unexpected failure: worker lost", f.now); err != nil {
				t.Fatal(err)
			}
			list, _, _ = f.db.ListRuns(ctx, hub.RunFilter{RobotID: a, Scope: hub.RobotScope{All: true}, Page: hub.Page{Limit: 10}})
			if len(list) != 2 {
				t.Errorf("runs after the last attempt = %d, want 2", len(list))
			}
			// A cancelled run is never retried, running or pending.
			for _, claim := range []bool{true, false} {
				c := &hub.Run{ID: uuid.NewString(), RobotID: a, VersionID: av, Status: hub.RunPending, TriggerType: hub.TriggerManual, Attempt: 1,
					EnvName: "PROD", TimeoutSeconds: 60, QueuedAt: f.now, RetryCount: 3, RetryBackoffSeconds: 1}
				if err := f.db.CreateRun(ctx, c, nil); err != nil {
					t.Fatal(err)
				}
				if claim {
					f.claim(t, c.ID)
					if _, err := f.db.FinishRun(ctx, c.ID, "w1", hub.RunResult{Status: hub.RunCanceled, FinishedAt: f.now}, nil, nil); err != nil {
						t.Fatal(err)
					}
				} else if _, err := f.db.RequestCancel(ctx, c.ID, nil, f.now, nil); err != nil {
					t.Fatal(err)
				}
			}
			list, _, _ = f.db.ListRuns(ctx, hub.RunFilter{RobotID: a, TriggerType: hub.TriggerRetry, Scope: hub.RobotScope{All: true}, Page: hub.Page{Limit: 10}})
			if len(list) != 1 {
				t.Errorf("retries after cancelled runs = %d, want still 1", len(list))
			}
		})
	}
}

// TestClaimRaceKeepsPoolCapacity claims 20 runs needing a pool of 2 from 8
// goroutines at once, finishing each claimed run after a moment: never more
// than 2 are RUNNING.
func TestClaimRaceKeepsPoolCapacity(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			f := &queueFixture{db: hubtest.Store(t, dialect), now: time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)}
			pool := &hub.Pool{ID: uuid.NewString(), Name: "bank-portal", Capacity: 2, CreatedAt: f.now, UpdatedAt: f.now}
			if err := f.db.CreatePool(ctx, pool, nil); err != nil {
				t.Fatal(err)
			}
			var runs []string
			for i := range 4 {
				r, v := f.robot(t, "pooled-"+string(rune('a'+i)))
				if _, err := f.db.SetRunSettings(ctx, r, hub.RunSettings{RetryBackoffSeconds: 60}, []string{"bank-portal"}, f.now, nil); err != nil {
					t.Fatal(err)
				}
				for j := range 5 {
					runs = append(runs, f.run(t, r, v, 0, f.now.Add(time.Duration(j)*time.Millisecond)))
				}
			}
			var (
				mu      sync.Mutex
				running int
				peak    int
				done    int
			)
			work := make(chan string, len(runs)*10)
			for _, id := range runs {
				work <- id
			}
			var wg sync.WaitGroup
			for w := range 8 {
				wg.Go(func() {
					worker := "w" + string(rune('0'+w))
					for {
						mu.Lock()
						if done == len(runs) {
							mu.Unlock()
							return
						}
						mu.Unlock()
						var id string
						select {
						case id = <-work:
						case <-time.After(50 * time.Millisecond):
							// Signals lost to the limit: look at the waiting runs.
							ids, err := f.db.WaitingRuns(ctx, f.now, 1)
							if err != nil || len(ids) == 0 {
								continue
							}
							id = ids[0]
						}
						r, ok, err := f.db.ClaimRun(ctx, id, worker, "host", f.now, f.now.Add(time.Minute))
						if err != nil {
							t.Error(err)
							return
						}
						if !ok {
							continue
						}
						if r.ID != id {
							work <- id
						}
						mu.Lock()
						running++
						peak = max(peak, running)
						mu.Unlock()
						time.Sleep(5 * time.Millisecond)
						mu.Lock()
						running--
						mu.Unlock()
						if _, err := f.db.FinishRun(ctx, r.ID, worker, hub.RunResult{Status: hub.RunSuccess, FinishedAt: f.now}, nil, nil); err != nil {
							t.Error(err)
							return
						}
						mu.Lock()
						done++
						mu.Unlock()
						ids, _ := f.db.WaitingBehind(ctx, r.ID, f.now, 4)
						for _, w := range ids {
							work <- w
						}
					}
				})
			}
			wg.Wait()
			if peak > 2 || done != len(runs) {
				t.Errorf("peak RUNNING %d (want ≤ 2), done %d of %d", peak, done, len(runs))
			}
		})
	}
}
