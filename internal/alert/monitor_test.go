package alert_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"automationhub/internal/alert"
	"automationhub/internal/hub"
	"automationhub/internal/hubtest"
	"automationhub/internal/schedule"
	"automationhub/internal/sqlstore"
)

func TestMain(m *testing.M) { hubtest.Main(m) }

// clock is a fake clock tests move by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

var (
	t0    = time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	admin = &hub.Principal{Subject: "admin", Role: hub.RoleAdmin}
	quiet = slog.New(slog.NewTextHandler(io.Discard, nil))
)

func rebind(db *sqlstore.DB, q string) string {
	if db.Dialect() != "postgres" {
		return q
	}
	var b strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

func exec(t *testing.T, db *sqlstore.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.SQL().ExecContext(context.Background(), rebind(db, q), args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// robot creates a robot with an active version.
func robot(t *testing.T, db *sqlstore.DB, name string) string {
	t.Helper()
	key := "robots/" + name + "/1.0.0/artifact.zip"
	r := &hub.Robot{ID: uuid.NewString(), Name: name, Tags: []string{}, CreatedAt: t0, UpdatedAt: t0}
	v := &hub.Version{ID: uuid.NewString(), RobotID: r.ID, Version: "1.0.0", Channel: "stable", EntrypointType: "PYTHON", EntrypointPath: "main.py",
		Arguments: []string{}, EnvVars: map[string]string{}, ArtifactType: "ZIP", ArtifactPath: &key, CreatedSource: "user",
		RequiredEnvKeys: []string{}, RuntimeEnvKeys: []string{}, CreatedAt: t0, IsActive: true}
	if err := db.CreateRobot(context.Background(), r, v, nil); err != nil {
		t.Fatal(err)
	}
	return r.ID
}

// run adds a run of robot queued at queued with the given status; finished
// runs end a minute later, RUNNING ones started at queued.
func run(t *testing.T, db *sqlstore.DB, robotID, status string, queued time.Time) string {
	t.Helper()
	ctx := context.Background()
	v, err := db.ActiveVersion(ctx, robotID)
	if err != nil {
		t.Fatal(err)
	}
	r := &hub.Run{ID: uuid.NewString(), RobotID: robotID, VersionID: v.ID, Status: hub.RunPending, TriggerType: "MANUAL", Attempt: 1, EnvName: "PROD",
		RuntimeArguments: []string{}, RuntimeEnv: map[string]string{}, TimeoutSeconds: 3600, QueuedAt: queued}
	if err := db.CreateRun(ctx, r, nil); err != nil {
		t.Fatal(err)
	}
	switch status {
	case hub.RunRunning:
		exec(t, db, `UPDATE runs SET status = ?, started_at = ? WHERE run_id = ?`, status, queued, r.ID)
	case hub.RunSuccess, hub.RunFailed:
		msg := any(nil)
		if status == hub.RunFailed {
			msg = "boom: the portal was down"
		}
		exec(t, db, `UPDATE runs SET status = ?, started_at = ?, finished_at = ?, duration_seconds = 60, error_message = ? WHERE run_id = ?`,
			status, queued, queued.Add(time.Minute), msg, r.ID)
	}
	return r.ID
}

func intp(n int) *int       { return &n }
func strp(s string) *string { return &s }
func boolp(b bool) *bool    { return &b }
func raw(s string) []byte   { return []byte(s) }
func keys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

type bundle struct {
	db    *sqlstore.DB
	clock *clock
	svc   *alert.Service
}

func setup(t *testing.T, dialect string) *bundle {
	db := hubtest.Store(t, dialect)
	c := &clock{now: t0}
	return &bundle{db: db, clock: c, svc: alert.New(db, c)}
}

func (b *bundle) monitor() *alert.Monitor {
	return alert.NewMonitor(b.db, alert.MonitorConfig{
		Interval: time.Minute, FailureStreak: 3, QueueBacklogAfter: 10 * time.Minute, WorkerStaleAfter: time.Minute,
		ScheduleGrace: 2 * time.Minute, Clock: b.clock, Logger: quiet,
		NextFireFunc: func(s hub.ScheduleState, after time.Time) (time.Time, bool) {
			spec, err := schedule.NewSpec(s.CronExpr, s.Timezone, s.WindowStart, s.WindowEnd)
			if err != nil {
				return time.Time{}, false
			}
			return spec.Next(after)
		},
	})
}

// alerts returns every alert as "TYPE subject open|resolved", counted.
func (b *bundle) alerts(t *testing.T) map[string]int {
	t.Helper()
	list, err := b.db.ListAlerts(context.Background(), hub.AlertFilter{Scope: hub.RobotScope{All: true}, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, a := range list {
		state := "open"
		if a.ResolvedAt != nil {
			state = "resolved"
		}
		out[a.Type+" "+state]++
	}
	return out
}

func (b *bundle) count(t *testing.T, q string, args ...any) int {
	t.Helper()
	var n int
	if err := b.db.SQL().QueryRowContext(context.Background(), rebind(b.db, q), args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func check(t *testing.T, step string, got map[string]int, want map[string]int) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s: alerts %v, want %v", step, got, want)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestFailureAlertsOncePerBreachAndResolvedBySuccess(t *testing.T) {
	t.Parallel()
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			b := setup(t, dialect)
			rid := robot(t, b.db, "invoices")
			_, err := b.svc.CreateRule(ctx, admin, rid, alert.RuleInput{ExpectedRunEveryMinutes: intp(60), AlertOnLate: boolp(false),
				Channels: raw(`{"webhook":["https://hooks.example/a"],"email":["ops@example.com"]}`)})
			must(t, err)
			m := b.monitor()
			must(t, m.Pass(ctx))
			check(t, "no runs", b.alerts(t), map[string]int{})

			run(t, b.db, rid, hub.RunSuccess, t0.Add(-10*time.Minute))
			b.clock.add(time.Minute)
			run(t, b.db, rid, hub.RunFailed, b.clock.Now().Add(-2*time.Minute))
			must(t, m.FailurePass(ctx))
			check(t, "first failure", b.alerts(t), map[string]int{"FAILED open": 1})

			for i := range 2 {
				b.clock.add(time.Minute)
				run(t, b.db, rid, hub.RunFailed, b.clock.Now().Add(-90*time.Second+time.Duration(i)*time.Second))
				must(t, m.FailurePass(ctx))
			}
			check(t, "three failures", b.alerts(t), map[string]int{"FAILED open": 1, "FAILURE_STREAK open": 1})

			// Passes and a restarted monitor see the same breach: nothing new.
			must(t, m.Pass(ctx))
			must(t, m.FailurePass(ctx))
			restarted := b.monitor()
			must(t, restarted.Pass(ctx))
			must(t, restarted.FailurePass(ctx))
			check(t, "after restart", b.alerts(t), map[string]int{"FAILED open": 1, "FAILURE_STREAK open": 1})
			if n := b.count(t, `SELECT COUNT(*) FROM audit_events WHERE action = 'alert.created'`); n != 2 {
				t.Errorf("alert.created audit events = %d, want 2", n)
			}

			b.clock.add(time.Minute)
			run(t, b.db, rid, hub.RunSuccess, b.clock.Now().Add(-61*time.Second))
			must(t, restarted.FailurePass(ctx))
			check(t, "after a success", b.alerts(t), map[string]int{"FAILED resolved": 1, "FAILURE_STREAK resolved": 1})

			// Each alert: one raise and one recovery notice per target.
			if n := b.count(t, `SELECT COUNT(*) FROM notifications WHERE event = 'raised'`); n != 4 {
				t.Errorf("raise notices = %d, want 4 (2 alerts × 2 targets)", n)
			}
			if n := b.count(t, `SELECT COUNT(*) FROM notifications WHERE event = 'resolved'`); n != 4 {
				t.Errorf("recovery notices = %d, want 4", n)
			}
			must(t, restarted.Pass(ctx))
			if n := b.count(t, `SELECT COUNT(*) FROM notifications`); n != 8 {
				t.Errorf("notices after another pass = %d, want 8", n)
			}

			// A new failure is a new breach.
			b.clock.add(time.Minute)
			run(t, b.db, rid, hub.RunFailed, b.clock.Now().Add(-61*time.Second))
			must(t, restarted.FailurePass(ctx))
			check(t, "new breach", b.alerts(t), map[string]int{"FAILED open": 1, "FAILED resolved": 1, "FAILURE_STREAK resolved": 1})
		})
	}
}

func TestTimeAlertsOncePerBreachAndResolvedWhenCleared(t *testing.T) {
	t.Parallel()
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			b := setup(t, dialect)
			late := robot(t, b.db, "late-bot")
			long := robot(t, b.db, "long-bot")
			sched := robot(t, b.db, "scheduled-bot")
			_, err := b.svc.CreateRule(ctx, admin, late, alert.RuleInput{ExpectedRunEveryMinutes: intp(10), LateAfterMinutes: intp(5)})
			must(t, err)
			_, err = b.svc.CreateRule(ctx, admin, long, alert.RuleInput{ExpectedDailyTime: strp("23:59"), AlertOnLate: boolp(false), MaxRunMinutes: intp(30)})
			must(t, err)
			run(t, b.db, late, hub.RunSuccess, t0.Add(-5*time.Minute))
			longRun := run(t, b.db, long, hub.RunRunning, t0.Add(-5*time.Minute))
			// A schedule firing every 5 minutes whose last run was at 14:50.
			next := t0.Add(5 * time.Minute)
			last := t0.Add(-10 * time.Minute)
			sc := &hub.Schedule{ID: uuid.NewString(), RobotID: sched, Enabled: true, CronExpr: "*/5 * * * *", Timezone: "UTC", MaxConcurrency: 1,
				TimeoutSeconds: 60, RetryBackoffSeconds: 60, OverlapPolicy: hub.OverlapSkip, Catchup: hub.CatchupLatest, NextFireAt: &next,
				LastFireAt: &last, CreatedAt: t0.Add(-time.Hour), UpdatedAt: t0.Add(-time.Hour)}
			must(t, b.db.CreateSchedule(ctx, sc, nil))
			pending := run(t, b.db, sched, hub.RunPending, t0.Add(-time.Minute))
			must(t, b.db.Heartbeat(ctx, hub.Worker{ID: "w1", Hostname: "host-1", Concurrency: 1, RunningRuns: 1, StartedAt: t0, LastHeartbeat: t0}))

			m := b.monitor()
			must(t, m.Pass(ctx))
			// 14:55 was due and started no run (last fire 14:50, next 15:05).
			check(t, "start", b.alerts(t), map[string]int{"SCHEDULE_MISSED open": 1})

			// 15:13: late-bot is late (10 + 5 minutes since 14:55), long-bot's
			// run has run 18 minutes; the queue waited 14 minutes; w1 silent.
			b.clock.add(13 * time.Minute)
			exec(t, b.db, `UPDATE schedules SET next_fire_at = ? WHERE id = ?`, t0.Add(15*time.Minute), sc.ID)
			must(t, m.Pass(ctx))
			check(t, "15:13", b.alerts(t), map[string]int{"LATE open": 1, "QUEUE_BACKLOG open": 1, "SCHEDULE_MISSED open": 1, "WORKER_DOWN open": 1})

			b.clock.add(20 * time.Minute) // 15:33
			exec(t, b.db, `UPDATE schedules SET next_fire_at = ? WHERE id = ?`, t0.Add(35*time.Minute), sc.ID)
			must(t, m.Pass(ctx))
			restarted := b.monitor()
			must(t, restarted.Pass(ctx))
			check(t, "15:33 after restart", b.alerts(t), map[string]int{"LATE open": 1, "QUEUE_BACKLOG open": 1, "RUNNING_TOO_LONG open": 1,
				"SCHEDULE_MISSED open": 1, "WORKER_DOWN open": 1})

			// Everything recovers: late-bot ran, the long run ended, the
			// schedule fired at 15:35, the queue is empty, w1 beats again.
			b.clock.add(3 * time.Minute) // 15:36
			now := b.clock.Now()
			run(t, b.db, late, hub.RunSuccess, now.Add(-2*time.Minute))
			exec(t, b.db, `UPDATE runs SET status = 'SUCCESS', finished_at = ? WHERE run_id = ?`, now, longRun)
			exec(t, b.db, `UPDATE runs SET status = 'CANCELED', finished_at = ? WHERE run_id = ?`, now, pending)
			exec(t, b.db, `UPDATE schedules SET next_fire_at = ?, last_fire_at = ? WHERE id = ?`, t0.Add(40*time.Minute), t0.Add(35*time.Minute), sc.ID)
			must(t, b.db.Heartbeat(ctx, hub.Worker{ID: "w1", Hostname: "host-1", Concurrency: 1, StartedAt: t0, LastHeartbeat: now}))
			must(t, restarted.Pass(ctx))
			check(t, "recovered", b.alerts(t), map[string]int{"LATE resolved": 1, "QUEUE_BACKLOG resolved": 1, "RUNNING_TOO_LONG resolved": 1,
				"SCHEDULE_MISSED resolved": 1, "WORKER_DOWN resolved": 1})
			if n := b.count(t, `SELECT COUNT(*) FROM audit_events WHERE action = 'alert.auto_resolved'`); n != 5 {
				t.Errorf("alert.auto_resolved audit events = %d, want 5", n)
			}
			// A worker that stops cleanly is not expected up.
			must(t, b.db.WorkerStopped(ctx, "w1", now))
			b.clock.add(time.Hour)
			run(t, b.db, late, hub.RunSuccess, b.clock.Now().Add(-time.Minute))
			exec(t, b.db, `UPDATE schedules SET enabled = ? WHERE id = ?`, false, sc.ID)
			must(t, restarted.Pass(ctx))
			check(t, "stopped worker", b.alerts(t), map[string]int{"LATE resolved": 1, "QUEUE_BACKLOG resolved": 1, "RUNNING_TOO_LONG resolved": 1,
				"SCHEDULE_MISSED resolved": 1, "WORKER_DOWN resolved": 1})
		})
	}
}

func TestLateDailyTimeAndManualResolve(t *testing.T) {
	t.Parallel()
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			b := setup(t, dialect)
			rid := robot(t, b.db, "daily")
			// Expected at 15:30 UTC (no schedule; hub zone UTC), 10 minutes' grace.
			_, err := b.svc.CreateRule(ctx, admin, rid, alert.RuleInput{ExpectedDailyTime: strp("15:30"), LateAfterMinutes: intp(10)})
			must(t, err)
			m := b.monitor()
			b.clock.add(39 * time.Minute) // 15:39
			must(t, m.Pass(ctx))
			check(t, "within grace", b.alerts(t), map[string]int{})
			b.clock.add(2 * time.Minute) // 15:41
			must(t, m.Pass(ctx))
			check(t, "late", b.alerts(t), map[string]int{"LATE open": 1})

			list, err := b.svc.ListAlerts(ctx, admin, hub.AlertFilter{Status: "open"})
			must(t, err)
			if len(list) != 1 || list[0].Message != "Robot "+rid+" is late based on configured SLA." {
				t.Fatalf("open alerts = %+v", list)
			}
			a, err := b.svc.Resolve(ctx, admin, list[0].ID)
			must(t, err)
			if a.ResolvedAt == nil {
				t.Fatal("resolve left the alert open")
			}
			// Resolved by hand while still late: not raised again.
			b.clock.add(time.Minute)
			must(t, m.Pass(ctx))
			check(t, "resolved by hand", b.alerts(t), map[string]int{"LATE resolved": 1})
			// The robot runs (breach over), then tomorrow it is late again.
			run(t, b.db, rid, hub.RunSuccess, b.clock.Now())
			must(t, m.Pass(ctx))
			b.clock.add(24 * time.Hour)
			must(t, m.Pass(ctx))
			check(t, "late again tomorrow", b.alerts(t), map[string]int{"LATE open": 1, "LATE resolved": 1})
		})
	}
}

// TestConcurrentMonitorsRaiseOnce runs several monitors at once on one
// database: each breach becomes one alert.
func TestConcurrentMonitorsRaiseOnce(t *testing.T) {
	t.Parallel()
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			b := setup(t, dialect)
			for i := range 5 {
				rid := robot(t, b.db, fmt.Sprintf("bot-%d", i))
				_, err := b.svc.CreateRule(ctx, admin, rid, alert.RuleInput{ExpectedRunEveryMinutes: intp(5)})
				must(t, err)
				run(t, b.db, rid, hub.RunFailed, t0.Add(-time.Hour))
			}
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() {
					if err := b.monitor().Pass(ctx); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			check(t, "four monitors", b.alerts(t), map[string]int{"FAILED open": 5, "LATE open": 5})
		})
	}
}

var _ = keys

// TestTickRunsUnderTheFleetLock: while another process holds the alerts
// lock, a monitor's tick does nothing; once it is free, the tick runs a
// full pass, then looks only at finished runs until the interval is over.
func TestTickRunsUnderTheFleetLock(t *testing.T) {
	t.Parallel()
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			b := setup(t, dialect)
			rid := robot(t, b.db, "locked")
			_, err := b.svc.CreateRule(ctx, admin, rid, alert.RuleInput{ExpectedRunEveryMinutes: intp(5)})
			must(t, err)
			m := b.monitor()
			unlock, ok, err := b.db.TryLock(ctx, "alerts", time.Hour)
			if err != nil || !ok {
				t.Fatalf("take the lock: %v %v", ok, err)
			}
			must(t, m.Tick(ctx))
			check(t, "lock held elsewhere", b.alerts(t), map[string]int{})
			unlock()
			must(t, m.Tick(ctx)) // full pass: LATE (no run at all)
			check(t, "first tick", b.alerts(t), map[string]int{"LATE open": 1})
			// Within the interval a tick only looks at finished runs: a run
			// queued now does not clear LATE yet, a failure is seen at once.
			b.clock.add(10 * time.Second)
			run(t, b.db, rid, hub.RunFailed, b.clock.Now().Add(-5*time.Second))
			must(t, m.Tick(ctx))
			check(t, "failure tick", b.alerts(t), map[string]int{"LATE open": 1, "FAILED open": 1})
			b.clock.add(time.Minute)
			must(t, m.Tick(ctx))
			check(t, "next full pass", b.alerts(t), map[string]int{"LATE resolved": 1, "FAILED open": 1})
		})
	}
}
