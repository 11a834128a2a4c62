package sqlstore

import (
	"errors"
	"regexp"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/ncruces/go-sqlite3"
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
