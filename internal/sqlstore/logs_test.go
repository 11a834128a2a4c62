package sqlstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"automationhub/internal/hub"
	"automationhub/internal/hubtest"
)

// TestAppendRunLogsBulk checks the bulk paths (COPY on PostgreSQL, one
// statement per batch on SQLite) on both databases: a batch stores every
// line once, in order; the same batch sent again and a batch overlapping
// stored lines add only the missing ones; another worker stores nothing;
// a batch the database refuses for its content is hub.EInvalid and stores
// nothing; text with NUL, quotes, control characters and invalid UTF-8
// round-trips as the slow path stores it.
func TestAppendRunLogsBulk(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			f := &queueFixture{db: hubtest.Store(t, dialect), now: time.Now().UTC().Truncate(time.Microsecond)}
			robot, version := f.robot(t, "chatty")
			runID := f.run(t, robot, version, 0, f.now)
			if _, ok, err := f.db.ClaimRun(ctx, runID, "w1", "host", f.now, f.now.Add(time.Hour)); err != nil || !ok {
				t.Fatal(ok, err)
			}
			batch := func(from, to int64) []hub.LogLine {
				var out []hub.LogLine
				for s := from; s <= to; s++ {
					out = append(out, hub.LogLine{RunID: runID, Seq: s, Timestamp: f.now.Add(time.Duration(s) * time.Microsecond),
						Level: hub.LevelInfo, Message: fmt.Sprintf("line %d", s)})
				}
				return out
			}
			odd := []string{"nul\x00byte", `quote " and \ backslash`, "tab\tnew\nline\r", "ctl\x01\x1f", "bad utf8 \xff\xfe", "ünïcødé ✓", ""}
			first := batch(1, 200)
			for i, m := range odd {
				first[i].Message = m
			}
			for _, step := range []struct {
				name   string
				worker string
				lines  []hub.LogLine
				held   bool
				kind   string
			}{
				{"first batch", "w1", first, true, ""},
				{"the same again", "w1", first, true, ""},
				{"overlapping", "w1", batch(150, 300), true, ""},
				{"another worker", "w2", batch(301, 400), false, ""},
				{"refused content", "w1", append(batch(301, 400), hub.LogLine{RunID: runID, Seq: 401, Timestamp: f.now, Level: "LOUD", Message: "x"}), false, hub.EInvalid},
			} {
				held, err := f.db.AppendRunLogs(ctx, runID, step.worker, step.lines)
				if step.kind != "" {
					if hub.ErrorKind(err) != step.kind {
						t.Errorf("%s: %v, want %s", step.name, err, step.kind)
					}
					continue
				}
				if err != nil || held != step.held {
					t.Fatalf("%s: held %v, %v; want %v", step.name, held, err, step.held)
				}
			}
			got, err := f.db.RunLogs(ctx, runID, 0, 1000)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 300 {
				t.Fatalf("stored %d lines, want 300", len(got))
			}
			want := []string{"nul\uFFFDbyte", `quote " and \ backslash`, "tab\tnew\nline\r", "ctl\x01\x1f", "bad utf8 \uFFFD", "ünïcødé ✓", ""}
			for i, l := range got {
				if l.Seq != int64(i+1) || !l.Timestamp.Equal(f.now.Add(time.Duration(i+1)*time.Microsecond)) || l.Level != hub.LevelInfo {
					t.Fatalf("line %d = %+v", i, l)
				}
				switch {
				case i < len(want):
					if l.Message != want[i] {
						t.Errorf("line %d = %q, want %q", i+1, l.Message, want[i])
					}
				case l.Message != fmt.Sprintf("line %d", i+1):
					t.Errorf("line %d = %q", i+1, l.Message)
				}
			}
		})
	}
}
