package sqlstore

import (
	"errors"
	"regexp"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/ncruces/go-sqlite3"

	"automationhub/internal/hub"
)

var sqliteIndexName = regexp.MustCompile(`UNIQUE constraint failed: (?:index '([^']+)'|([\w.]+(?:, [\w.]+)*))`)

// uniqueConstraint returns the name of the violated unique index (PostgreSQL:
// the constraint or index name; SQLite: the index name, or "table.column"
// list for inline UNIQUE constraints), or "" when err is something else.
func uniqueConstraint(err error) string {
	if !IsUniqueViolation(err) {
		return ""
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.ConstraintName
	}
	var sqErr *sqlite3.Error
	if errors.As(err, &sqErr) {
		if m := sqliteIndexName.FindStringSubmatch(sqErr.Error()); m != nil {
			if m[1] != "" {
				return m[1]
			}
			return m[2]
		}
	}
	return "unknown"
}

// isDiskFull reports whether the database refused a write for want of disk
// space: SQLite SQLITE_FULL (its file system answered ENOSPC, or the file
// reached max_page_count) or PostgreSQL 53100 disk_full. The other
// "insufficient resources" errors of PostgreSQL's class 53 (out of memory,
// too many connections) pass by themselves and stay retryable.
func isDiskFull(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "53100"
	}
	// The driver reports some errors as a bare code, not as *sqlite3.Error.
	return errors.Is(err, sqlite3.FULL)
}

// markDiskFull returns err marked with hub.DiskFull when the disk is full,
// so that callers answer 503 with a clear message and the worker's log pump
// stops retrying; any other error (or nil) is returned unchanged.
func markDiskFull(err error) error {
	if err == nil || hub.ErrorKind(err) != hub.EInternal || !isDiskFull(err) {
		return err
	}
	return hub.DiskFull(err)
}
