package schedule_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"automationhub/internal/config"
	"automationhub/internal/hubtest"
	"automationhub/internal/schedule"
	"automationhub/internal/sqlstore"
)

// lagRecorder keeps the fire lags the scheduler reports.
type lagRecorder struct {
	mu   sync.Mutex
	lags []time.Duration
}

func (l *lagRecorder) Fired(d time.Duration) {
	l.mu.Lock()
	l.lags = append(l.lags, d)
	l.mu.Unlock()
}

func (l *lagRecorder) Skipped(string) {}

// BenchmarkTenThousandDueSchedules makes 10 000 enabled schedules due at
// the same instant on PostgreSQL and lets the scheduler fire them: fire lag
// from the due instant to the committed run row (p50, p99, max), and the
// CPU time the scheduler's process used meanwhile.
func BenchmarkTenThousandDueSchedules(b *testing.B) {
	const n = 10000
	ctx := context.Background()
	db := hubtest.Store(b, config.Postgres)
	pg := db.SQL()
	setup := []string{
		`INSERT INTO robots (id, name, created_at, updated_at) SELECT gen_random_uuid(), 'bench-' || g, now(), now() FROM generate_series(1, 10000) g`,
		`INSERT INTO robot_versions (id, robot_id, version, created_at, is_active, artifact_path) SELECT gen_random_uuid(), id, '1.0.0', now(), true, 'robots/bench/artifact.zip' FROM robots`,
		`INSERT INTO schedules (id, robot_id, cron_expr, timezone, created_at, updated_at) SELECT gen_random_uuid(), id, '* * * * *', 'UTC', now(), now() FROM robots`,
		// History: finished runs of every schedule, as a hub that has
		// been running for a while holds.
		`INSERT INTO runs (run_id, robot_id, robot_version_id, status, trigger_type, timeout_seconds, queued_at, schedule_id, scheduled_for)
			SELECT gen_random_uuid(), s.robot_id, v.id, 'SUCCESS', 'SCHEDULED', 3600, now() - g * interval '1 minute', s.id, now() - g * interval '1 minute'
			FROM schedules s JOIN robot_versions v ON v.robot_id = s.robot_id CROSS JOIN generate_series(1, 3) g`,
		`ANALYZE`,
	}
	for _, q := range setup {
		if _, err := pg.ExecContext(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	// Ready signals are counted, not carried: no worker takes them here.
	bus := &signalCount{}
	// parallel=4 is what hub serve uses on PostgreSQL.
	for _, c := range []struct{ parallel, batch int }{{1, 500}, {4, 500}} {
		b.Run(fmt.Sprintf("parallel=%d/batch=%d", c.parallel, c.batch), func(b *testing.B) { benchFire(b, db, bus, c.parallel, c.batch) })
	}
}

// signalCount counts the signals the scheduler sends.
type signalCount struct {
	mu sync.Mutex
	n  int
}

func (s *signalCount) Enqueue(context.Context, string) error {
	s.mu.Lock()
	s.n++
	s.mu.Unlock()
	return nil
}

func (s *signalCount) Publish(context.Context, string, []byte) error { return nil }

func benchFire(b *testing.B, db *sqlstore.DB, bus *signalCount, parallel, batch int) {
	const n = 10000
	ctx := context.Background()
	pg := db.SQL()
	rec := &lagRecorder{}
	s := schedule.NewScheduler(db, bus, schedule.SchedulerConfig{Logger: slog.New(slog.DiscardHandler), Observer: rec, Parallel: parallel, Batch: batch})
	var cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		if _, err := pg.ExecContext(ctx, `DELETE FROM runs WHERE status = 'PENDING'`); err != nil {
			b.Fatal(err)
		}
		due := time.Now().UTC().Add(200 * time.Millisecond).Truncate(time.Millisecond)
		if _, err := pg.ExecContext(ctx, `UPDATE schedules SET next_fire_at = $1, last_fire_at = NULL`, due); err != nil {
			b.Fatal(err)
		}
		if _, err := pg.ExecContext(ctx, `VACUUM ANALYZE schedules`); err != nil {
			b.Fatal(err)
		}
		time.Sleep(time.Until(due))
		b.StartTimer()
		before := cpuTime()
		created, err := s.Pass(ctx)
		cpu += cpuTime() - before
		if err != nil {
			b.Fatal(err)
		}
		if created != n {
			b.Fatalf("created %d runs, want %d", created, n)
		}
	}
	b.StopTimer()
	lags := rec.lags
	slices.Sort(lags)
	if len(lags) == 0 {
		return
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(lags[len(lags)/2]), "p50-lag-ms")
	b.ReportMetric(ms(lags[len(lags)*99/100]), "p99-lag-ms")
	b.ReportMetric(ms(lags[len(lags)-1]), "max-lag-ms")
	b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/pass")
	b.ReportMetric(0, "ns/op")
}
