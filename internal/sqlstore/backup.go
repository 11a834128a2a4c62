package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"automationhub/internal/hub"
)

// Snapshot writes a consistent copy of the SQLite database to path, which
// must not exist, and returns the copy opened on its own. It uses VACUUM
// INTO: one read transaction, so the copy is the database as of one moment
// while the hub goes on writing (WAL readers do not block writers); the copy
// is compact, in one file without a write-ahead log, and holds no remnants
// of deleted rows. The copy is checked with PRAGMA quick_check and switched
// to rollback-journal mode, so that the file alone is the whole database.
// PostgreSQL databases are backed up with pg_dump instead.
func (db *DB) Snapshot(ctx context.Context, path string) (*DB, error) {
	if db.dialect.name() != "sqlite" {
		return nil, errors.New("sqlstore.Snapshot: only SQLite databases are copied by the hub; use pg_dump for PostgreSQL")
	}
	if _, err := os.Lstat(path); err == nil {
		return nil, fmt.Errorf("sqlstore.Snapshot: %s already exists", path)
	}
	if _, err := db.sql.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		return nil, fmt.Errorf("sqlstore.Snapshot: VACUUM INTO %s: %w", path, err)
	}
	snap, err := OpenSQLiteFile(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("sqlstore.Snapshot: %w", err)
	}
	if err := snap.QuickCheck(ctx); err != nil {
		snap.Close()
		return nil, fmt.Errorf("sqlstore.Snapshot: %w", err)
	}
	return snap, nil
}

// OpenSQLiteFile opens an existing SQLite database file by itself, in
// rollback-journal mode (no -wal or -shm files beside it once closed): a
// snapshot being written into a backup, or a restored file being checked
// before it is put in place. Use Open for the hub's live database.
func OpenSQLiteFile(ctx context.Context, path string) (*DB, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("sqlstore.OpenSQLiteFile: %w", err)
	}
	q := url.Values{}
	q.Set("_timefmt", sqliteTimeLayout)
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(delete)")
	q.Add("_pragma", "foreign_keys(on)")
	sqldb, err := sql.Open("sqlite3", "file:"+filepath.ToSlash(path)+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlstore.OpenSQLiteFile: %w", err)
	}
	sqldb.SetMaxOpenConns(1)
	if err := sqldb.PingContext(ctx); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("sqlstore.OpenSQLiteFile(%s): %w", path, err)
	}
	return &DB{sql: sqldb, read: sqldb, dialect: sqliteDialect{}, clock: hub.SystemClock{}, staleAfter: time.Minute}, nil
}

// QuickCheck runs SQLite's PRAGMA quick_check and returns its first
// complaint as an error; nil on PostgreSQL.
func (db *DB) QuickCheck(ctx context.Context) error {
	if db.dialect.name() != "sqlite" {
		return nil
	}
	var res string
	if err := db.sql.QueryRowContext(ctx, `PRAGMA quick_check`).Scan(&res); err != nil {
		return fmt.Errorf("quick_check: %w", err)
	}
	if res != "ok" {
		return fmt.Errorf("quick_check: the database file is damaged: %s", res)
	}
	return nil
}

// FileRef is a row that names a file in the artifact store: a robot
// version's package or a run's output file.
type FileRef struct {
	// Kind is "package" (robot_versions) or "artifact" (artifacts).
	Kind string
	// ID is the row's id: the version id or the artifact id.
	ID string
	// Owner is the robot id of a package, the run id of an artifact.
	Owner string
	// Path is the store key, relative to the artifact folder.
	Path string
}

// EachFileRef calls fn for every row that names a file in the artifact
// store, packages first; it stops at fn's first error and returns it.
func (db *DB) EachFileRef(ctx context.Context, fn func(FileRef) error) error {
	queries := []struct{ kind, query string }{
		{"package", `SELECT id, robot_id, artifact_path FROM robot_versions WHERE artifact_path IS NOT NULL AND artifact_path <> '' ORDER BY id`},
		{"artifact", `SELECT id, run_id, file_path FROM artifacts ORDER BY id`},
	}
	for _, q := range queries {
		if err := db.eachRef(ctx, q.kind, q.query, fn); err != nil {
			return err
		}
	}
	return nil
}

func (db *DB) eachRef(ctx context.Context, kind, query string, fn func(FileRef) error) error {
	rows, err := db.sql.QueryContext(ctx, query)
	if err != nil {
		return fmt.Errorf("sqlstore.EachFileRef(%s): %w", kind, err)
	}
	defer rows.Close()
	for rows.Next() {
		r := FileRef{Kind: kind}
		if err := rows.Scan(&r.ID, &r.Owner, &r.Path); err != nil {
			return fmt.Errorf("sqlstore.EachFileRef(%s): %w", kind, err)
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlstore.EachFileRef(%s): %w", kind, err)
	}
	return nil
}

// LiveWorkers counts the workers whose heartbeat is newer than staleSeconds
// and that have not stopped: a restore refuses to replace a database a hub
// is running on.
func (db *DB) LiveWorkers(ctx context.Context, staleSeconds int) (int, error) {
	var n int
	since := db.clock.Now().UTC().Add(-time.Duration(staleSeconds) * time.Second)
	err := db.Conn().QueryRow(ctx, `SELECT COUNT(*) FROM workers WHERE status <> 'STOPPED' AND last_heartbeat > ?`, since).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("sqlstore.LiveWorkers: %w", err)
	}
	return n, nil
}
