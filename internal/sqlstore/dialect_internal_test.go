package sqlstore

import (
	"context"
	"testing"

	"github.com/ncruces/go-sqlite3"

	"automationhub/internal/config"
)

func TestPostgresRebind(t *testing.T) {
	tests := []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"SELECT * FROM t WHERE a = ? AND b = ?", "SELECT * FROM t WHERE a = $1 AND b = $2"},
		{"SELECT '?' , ? FROM t", "SELECT '?' , $1 FROM t"},
		{`SELECT "we?ird" FROM t WHERE x = ?`, `SELECT "we?ird" FROM t WHERE x = $1`},
		{"SELECT ? -- why?\n, ?", "SELECT $1 -- why?\n, $2"},
		{"INSERT INTO t VALUES (?, 'it''s ?', ?)", "INSERT INTO t VALUES ($1, 'it''s ?', $2)"},
	}
	for _, tt := range tests {
		if got := (postgresDialect{}).rebind(tt.in); got != tt.want {
			t.Errorf("rebind(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got := (sqliteDialect{}).rebind(tt.in); got != tt.in {
			t.Errorf("sqlite rebind changed %q to %q", tt.in, got)
		}
	}
}

// TestSQLiteLimitDoesNotReprepare shows why list queries write their LIMIT
// into the text (limitSQL): a statement whose plan used a bound LIMIT is
// prepared again each time the driver clears its bindings (after every
// use), so caching it would gain nothing; with the number in the text it is
// prepared once.
func TestSQLiteLimitDoesNotReprepare(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, config.Database{Dialect: config.SQLite, DSN: t.TempDir() + "/hub.db"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx, nil); err != nil {
		t.Fatal(err)
	}
	conn, err := db.read.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const query = `SELECT run_id FROM runs ORDER BY queued_at DESC, run_id DESC`
	reprepares := func(text string, bind bool) (n int) {
		err := conn.Raw(func(dc any) error {
			c := dc.(interface{ Raw() *sqlite3.Conn }).Raw()
			st, _, err := c.Prepare(text)
			if err != nil {
				return err
			}
			defer st.Close()
			for range 5 {
				if bind {
					if err := st.BindInt(1, 50); err != nil {
						return err
					}
				}
				for st.Step() {
				}
				if err := st.Err(); err != nil {
					return err
				}
				if err := st.Reset(); err != nil {
					return err
				}
				if err := st.ClearBindings(); err != nil {
					return err
				}
			}
			n = st.Status(sqlite3.STMTSTATUS_REPREPARE, false)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := reprepares(query+` LIMIT ?`, true); n < 4 {
		t.Logf("a bound LIMIT was prepared again %d times in 5 uses (SQLite no longer plans with it?)", n)
	}
	if n := reprepares(query+limitSQL(50), false); n != 0 {
		t.Errorf("a LIMIT written in the text was prepared again %d times in 5 uses, want 0", n)
	}
}
