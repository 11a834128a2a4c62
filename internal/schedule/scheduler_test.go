package schedule_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"automationhub/internal/bus/membus"
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

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

var admin = &hub.Principal{Subject: "admin", Role: hub.RoleAdmin}

// robot creates a robot with an active, runnable version.
func robot(t *testing.T, db *sqlstore.DB, name string, now time.Time) string {
	t.Helper()
	key := "robots/" + name + "/1.0.0/artifact.zip"
	r := &hub.Robot{ID: uuid.NewString(), Name: name, Tags: []string{}, CreatedAt: now, UpdatedAt: now}
	v := &hub.Version{ID: uuid.NewString(), RobotID: r.ID, Version: "1.0.0", Channel: "stable", EntrypointType: "PYTHON", EntrypointPath: "main.py",
		Arguments: []string{}, EnvVars: map[string]string{}, ArtifactType: "ZIP", ArtifactPath: &key, CreatedSource: "user",
		RequiredEnvKeys: []string{}, RuntimeEnvKeys: []string{}, CreatedAt: now, IsActive: true}
	if err := db.CreateRobot(context.Background(), r, v, nil); err != nil {
		t.Fatal(err)
	}
	return r.ID
}

type scheduledRun struct {
	id, status, trigger string
	scheduledFor        time.Time
}

func scheduledRuns(t *testing.T, db *sqlstore.DB, robotID string) []scheduledRun {
	t.Helper()
	rows, err := db.SQL().QueryContext(context.Background(), rebind(db, `SELECT run_id, status, trigger_type, scheduled_for FROM runs
		WHERE robot_id = ? AND trigger_type = 'SCHEDULED' ORDER BY scheduled_for`), robotID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []scheduledRun
	for rows.Next() {
		var r scheduledRun
		var at sql.NullTime
		if err := rows.Scan(&r.id, &r.status, &r.trigger, &at); err != nil {
			t.Fatal(err)
		}
		r.scheduledFor = at.Time.UTC()
		out = append(out, r)
	}
	return out
}

func rebind(db *sqlstore.DB, q string) string {
	if db.Dialect() != "postgres" {
		return q
	}
	n := 0
	out := []byte{}
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			out = append(out, fmt.Sprintf("$%d", n)...)
			continue
		}
		out = append(out, q[i])
	}
	return string(out)
}

func ptr[T any](v T) *T { return &v }

func TestSchedulerFiresOnTheMinute(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db := hubtest.Store(t, dialect)
			c := &clock{now: utc("2026-05-04T09:59:30Z")}
			b := membus.New(membus.Options{})
			defer b.Close()
			rid := robot(t, db, "fires", c.now)
			svc := schedule.New(db, c, nil)
			sc, err := svc.Create(ctx, admin, rid, schedule.Input{CronExpr: ptr("*/10 * * * *"), Timezone: ptr("UTC")})
			if err != nil {
				t.Fatal(err)
			}
			if sc.NextFireAt == nil || !sc.NextFireAt.Equal(utc("2026-05-04T10:00:00Z")) {
				t.Fatalf("next fire = %v, want 10:00", sc.NextFireAt)
			}
			s := schedule.NewScheduler(db, b, schedule.SchedulerConfig{Clock: c, Logger: slog.New(slog.DiscardHandler)})
			if n, err := s.Pass(ctx); err != nil || n != 0 {
				t.Fatalf("pass before due: %d, %v", n, err)
			}
			c.set(utc("2026-05-04T10:00:00Z"))
			if n, err := s.Pass(ctx); err != nil || n != 1 {
				t.Fatalf("pass at due: %d, %v", n, err)
			}
			if n, err := s.Pass(ctx); err != nil || n != 0 {
				t.Fatalf("second pass at due: %d, %v", n, err)
			}
			got := scheduledRuns(t, db, rid)
			if len(got) != 1 || !got[0].scheduledFor.Equal(utc("2026-05-04T10:00:00Z")) || got[0].status != hub.RunPending {
				t.Fatalf("runs = %+v", got)
			}
			r, err := db.RunByID(ctx, got[0].id)
			if err != nil {
				t.Fatal(err)
			}
			if r.ScheduleID == nil || *r.ScheduleID != sc.ID || r.Attempt != 1 || r.TriggerType != hub.TriggerScheduled || r.TimeoutSeconds != 3600 {
				t.Errorf("run = %+v", r)
			}
			// The ready signal was sent.
			dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			d, err := b.Dequeue(dctx, "w")
			if err != nil || d.RunID != r.ID {
				t.Errorf("dequeue = %+v, %v; want %s", d, err, r.ID)
			}
			after, err := db.ScheduleByRobot(ctx, rid)
			if err != nil {
				t.Fatal(err)
			}
			if !after.NextFireAt.Equal(utc("2026-05-04T10:10:00Z")) || !after.LastFireAt.Equal(utc("2026-05-04T10:00:00Z")) {
				t.Errorf("next %v last %v", after.NextFireAt, after.LastFireAt)
			}
			// The previous run is still PENDING: the next fire is skipped (overlap skip).
			c.set(utc("2026-05-04T10:10:00Z"))
			if n, err := s.Pass(ctx); err != nil || n != 0 {
				t.Fatalf("pass with the previous run active: %d, %v", n, err)
			}
			// Hub down for 35 minutes, previous run done: catch-up latest fires once.
			if _, err := db.SQL().ExecContext(ctx, rebind(db, `UPDATE runs SET status = 'SUCCESS' WHERE robot_id = ?`), rid); err != nil {
				t.Fatal(err)
			}
			c.set(utc("2026-05-04T10:55:00Z"))
			if n, err := s.Pass(ctx); err != nil || n != 1 {
				t.Fatalf("pass after downtime: %d, %v", n, err)
			}
			got = scheduledRuns(t, db, rid)
			if last := got[len(got)-1]; !last.scheduledFor.Equal(utc("2026-05-04T10:50:00Z")) {
				t.Errorf("caught-up fire = %s, want 10:50", last.scheduledFor)
			}
			// A fire time that already has its run is never started twice,
			// and does not hold up the other schedules of its batch.
			other := robot(t, db, "other", c.now)
			if _, err := svc.Create(ctx, admin, other, schedule.Input{CronExpr: ptr("*/10 * * * *"), Timezone: ptr("UTC")}); err != nil {
				t.Fatal(err)
			}
			if _, err := db.SQL().ExecContext(ctx, `UPDATE runs SET status = 'SUCCESS'`); err != nil {
				t.Fatal(err)
			}
			if _, err := db.SQL().ExecContext(ctx, rebind(db, `UPDATE schedules SET next_fire_at = ?`), utc("2026-05-04T10:50:00Z")); err != nil {
				t.Fatal(err)
			}
			if n, err := s.Pass(ctx); err != nil || n != 1 {
				t.Errorf("pass with a fire already run: %d, %v; want 1 (the other schedule's)", n, err)
			}
			if got := scheduledRuns(t, db, rid); len(got) != 2 {
				t.Errorf("runs of the first schedule = %d, want 2", len(got))
			}
			// A change of timetable right after a fire does not set it up again.
			if _, err := svc.Update(ctx, admin, rid, schedule.Input{CronExpr: ptr("*/5 * * * *"), Present: map[string]bool{"cron_expr": true}}); err != nil {
				t.Fatal(err)
			}
			if after, _ := db.ScheduleByRobot(ctx, rid); !after.NextFireAt.Equal(utc("2026-05-04T11:00:00Z")) {
				t.Errorf("next after a change = %v, want 11:00", after.NextFireAt)
			}
		})
	}
}

// TestSchedulersFireExactlyOnce races two schedulers, each with its own
// database connections, over three hours of simulated time with `* * * * *`
// schedules: every fire gets exactly one run.
func TestSchedulersFireExactlyOnce(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			cfg := hubtest.DatabaseConfig(t, dialect)
			db1, err := sqlstore.Open(ctx, cfg, sqlstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer db1.Close()
			if _, err := db1.Migrate(ctx, nil); err != nil {
				t.Fatal(err)
			}
			db2, err := sqlstore.Open(ctx, cfg, sqlstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer db2.Close()
			start := utc("2026-10-25T00:00:30Z")
			c := &clock{now: start}
			b := membus.New(membus.Options{})
			defer b.Close()
			svc := schedule.New(db1, c, nil)
			const robots = 5
			var ids []string
			for i := range robots {
				rid := robot(t, db1, fmt.Sprintf("every-minute-%d", i), start)
				ids = append(ids, rid)
				// Queue: every fire makes a run even while earlier ones wait.
				if _, err := svc.Create(ctx, admin, rid, schedule.Input{CronExpr: ptr("* * * * *"), Timezone: ptr("UTC"),
					OverlapPolicy: ptr(hub.OverlapQueue), MaxConcurrency: ptr(100)}); err != nil {
					t.Fatal(err)
				}
			}
			quiet := slog.New(slog.DiscardHandler)
			s1 := schedule.NewScheduler(db1, b, schedule.SchedulerConfig{Clock: c, Logger: quiet, Batch: 2})
			s2 := schedule.NewScheduler(db2, b, schedule.SchedulerConfig{Clock: c, Logger: quiet, Batch: 3})
			const minutes = 180
			for m := 1; m <= minutes; m++ {
				c.set(start.Add(time.Duration(m) * time.Minute))
				var wg sync.WaitGroup
				for _, s := range []*schedule.Scheduler{s1, s2} {
					wg.Go(func() {
						if _, err := s.Pass(ctx); err != nil {
							t.Errorf("pass: %v", err)
						}
					})
				}
				wg.Wait()
				// Keep the queue bounded: the previous runs end.
				if _, err := db1.SQL().ExecContext(ctx, `UPDATE runs SET status = 'SUCCESS' WHERE status = 'PENDING'`); err != nil {
					t.Fatal(err)
				}
			}
			for _, rid := range ids {
				got := scheduledRuns(t, db1, rid)
				if len(got) != minutes {
					t.Errorf("robot %s: %d runs, want %d", rid, len(got), minutes)
				}
				for i, r := range got {
					want := utc("2026-10-25T00:01:00Z").Add(time.Duration(i) * time.Minute)
					if !r.scheduledFor.Equal(want) {
						t.Errorf("run %d for %s, want %s", i, r.scheduledFor, want)
						break
					}
				}
			}
		})
	}
}
