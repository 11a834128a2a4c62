package sqlstore

import (
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/ncruces/go-sqlite3"

	"automationhub/internal/hub"
)

// TestMarkDiskFull covers the errors of both dialects that mean a full disk
// (the SQLite ones are also met for real in TestFullDatabaseIsUnavailable).
func TestMarkDiskFull(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want string // kind
	}{
		{"postgres disk_full", &pgconn.PgError{Code: "53100"}, hub.EUnavailable},
		{"postgres disk_full wrapped", fmt.Errorf("sqlstore.X: %w", &pgconn.PgError{Code: "53100"}), hub.EUnavailable},
		{"postgres too_many_connections", &pgconn.PgError{Code: "53300"}, hub.EInternal},
		{"postgres out_of_memory", &pgconn.PgError{Code: "53200"}, hub.EInternal},
		{"postgres unique violation", &pgconn.PgError{Code: "23505"}, hub.EInternal},
		{"sqlite full", fmt.Errorf("insert: %w", errors.Join(sqlite3.FULL.ExtendedCode())), hub.EUnavailable},
		{"sqlite busy", errors.Join(sqlite3.BUSY.ExtendedCode()), hub.EInternal},
		{"already a client kind", hub.Errorf(hub.EInvalid, "bad"), hub.EInvalid},
		{"other", errors.New("boom"), hub.EInternal},
		{"nil", nil, ""},
	}
	for _, tt := range tests {
		got := markDiskFull(tt.err)
		if kind := hub.ErrorKind(got); kind != tt.want {
			t.Errorf("%s: kind %q, want %q", tt.name, kind, tt.want)
		}
		if tt.err != nil && !errors.Is(got, tt.err) {
			t.Errorf("%s: %v lost the original error", tt.name, got)
		}
	}
}
