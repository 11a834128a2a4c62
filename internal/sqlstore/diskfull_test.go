package sqlstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"

	"automationhub/internal/hub"
	"automationhub/internal/hubtest"
	"automationhub/internal/sqlstore"
)

// TestFullDatabaseIsUnavailable fills a SQLite database (max_page_count) and
// checks that writes, in a transaction or not, fail as hub.EUnavailable with
// the disk-full message while keeping the driver's error, and succeed again
// once there is room, on the same connections.
func TestFullDatabaseIsUnavailable(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", 1<<20) // needs hundreds of new pages
	writes := []struct {
		name  string
		write func(ctx context.Context, db *sqlstore.DB) error
	}{
		{"transaction", func(ctx context.Context, db *sqlstore.DB) error {
			return db.RecordAudit(ctx, &hub.AuditEvent{Action: "test.fill", TargetType: "test", TargetID: "1",
				Metadata: map[string]any{"big": big}, CreatedAt: time.Now().UTC()})
		}},
		{"single statement", func(ctx context.Context, db *sqlstore.DB) error {
			now := time.Now().UTC()
			return db.Heartbeat(ctx, hub.Worker{ID: "w1", Hostname: big, Status: hub.WorkerRunning, StartedAt: now, LastHeartbeat: now})
		}},
	}
	for _, w := range writes {
		t.Run(w.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db := hubtest.Store(t, "sqlite")
			hubtest.LimitSQLitePages(t, db.SQL(), 0)
			err := w.write(ctx, db)
			if kind := hub.ErrorKind(err); kind != hub.EUnavailable {
				t.Fatalf("write on a full database: kind %q (%v), want %q", kind, err, hub.EUnavailable)
			}
			if msg := hub.ErrorMessage(err); msg != hub.MsgDiskFull {
				t.Errorf("message = %q, want %q", msg, hub.MsgDiskFull)
			}
			if !errors.Is(err, sqlite3.FULL) {
				t.Errorf("error %v lost the driver's SQLITE_FULL", err)
			}
			hubtest.LimitSQLitePages(t, db.SQL(), 1<<30)
			if err := w.write(ctx, db); err != nil && hub.ErrorKind(err) == hub.EUnavailable {
				t.Errorf("write after space came back: %v, want no disk-full error", err)
			}
		})
	}
}
