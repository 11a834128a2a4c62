package hubtest

import (
	"context"
	"database/sql"
	"strconv"
	"testing"
	"time"
)

// LimitSQLitePages makes a SQLite database behave like one on a full disk:
// every connection of db's pool refuses to grow the file past pages pages
// (PRAGMA max_page_count), so a write that needs a new page fails with
// SQLITE_FULL. pages 0 means the file's current size; a large value "frees
// space" again. The pool must have a maximum size (sqlstore sets one); the
// limit holds for the connections open now, which the pool keeps for
// minutes, long enough for a test.
func LimitSQLitePages(t testing.TB, db *sql.DB, pages int64) {
	t.Helper()
	n := db.Stats().MaxOpenConnections
	if n == 0 {
		t.Fatal("LimitSQLitePages: the pool has no maximum size")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Hold every connection at once, so that each one gets the limit.
	conns := make([]*sql.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		c, err := db.Conn(ctx)
		if err != nil {
			t.Fatalf("LimitSQLitePages: take a connection: %v", err)
		}
		conns = append(conns, c)
	}
	if pages == 0 {
		if err := conns[0].QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
			t.Fatalf("LimitSQLitePages: page count: %v", err)
		}
	}
	for _, c := range conns {
		var got int64
		if err := c.QueryRowContext(ctx, "PRAGMA max_page_count = "+strconv.FormatInt(pages, 10)).Scan(&got); err != nil {
			t.Fatalf("LimitSQLitePages: %v", err)
		}
	}
}
