package sqlstore_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"automationhub/internal/hub"
	"automationhub/internal/hubtest"
)

// BenchmarkAppendRunLogs stores a run's log in batches the size the worker's
// pump sends under load (HUB_BENCH_LOG_BATCH, default 10 000 lines) and
// reports stored lines/s per database.
func BenchmarkAppendRunLogs(b *testing.B) {
	batch := 10_000
	if v, err := strconv.Atoi(os.Getenv("HUB_BENCH_LOG_BATCH")); err == nil && v > 0 {
		batch = v
	}
	for _, dialect := range hubtest.Dialects() {
		b.Run(dialect, func(b *testing.B) {
			ctx := context.Background()
			f := &queueFixture{db: hubtest.Store(b, dialect), now: time.Now().UTC()}
			robot, version := f.robot(b, "chatty")
			runID := f.run(b, robot, version, 0, f.now)
			if _, ok, err := f.db.ClaimRun(ctx, runID, "w1", "host", f.now, f.now.Add(time.Hour)); err != nil || !ok {
				b.Fatal(ok, err)
			}
			lines := make([]hub.LogLine, batch)
			var seq int64
			start := time.Now()
			for b.Loop() {
				for i := range lines {
					seq++
					lines[i] = hub.LogLine{RunID: runID, Seq: seq, Timestamp: f.now, Level: hub.LevelInfo,
						Message: fmt.Sprintf("line %d of the chatty robot, with some text", seq)}
				}
				if held, err := f.db.AppendRunLogs(ctx, runID, "w1", lines); err != nil || !held {
					b.Fatal(held, err)
				}
			}
			b.ReportMetric(float64(seq)/time.Since(start).Seconds(), "lines/s")
		})
	}
}
