// Package sqlstore is the one SQL implementation of the stores that the
// capability packages declare. It speaks SQLite (embedded default, pure Go)
// and PostgreSQL through database/sql; queries are written once with `?`
// placeholders and the dialect type rewrites the few things that differ.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"github.com/ncruces/go-sqlite3"
	_ "github.com/ncruces/go-sqlite3/driver" // registers the "sqlite3" driver

	"automationhub/internal/config"
	"automationhub/internal/hub"
)

// sqliteTimeLayout stores times as fixed-width UTC text, so that text order is
// time order and comparisons in SQL work without conversion functions.
const sqliteTimeLayout = "2006-01-02T15:04:05.000000Z07:00"

// DB is an open database of either dialect.
//
// On SQLite it holds two pools: one writer connection, through which every
// write and transaction goes in turn (SQLite allows one writer at a time;
// waiting in the pool is cheaper and fairer than SQLite's busy retries),
// and a pool of read-only connections that read concurrently under WAL, each
// statement seeing the latest commit. On PostgreSQL both are the same pool.
type DB struct {
	sql     *sql.DB // writes and transactions
	read    *sql.DB // single-statement reads
	path    string  // the SQLite file; empty on PostgreSQL
	stmts   *stmtCache
	dialect dialect
	clock   hub.Clock
	// staleAfter is how long a worker counts as online after its last
	// heartbeat (routing of runs to workers).
	staleAfter time.Duration
}

// Options tune Open.
type Options struct {
	// Clock supplies "now" for rows the store stamps; default hub.SystemClock.
	Clock hub.Clock
	// MaxOpenConns caps the pool (default 20 for PostgreSQL; for SQLite it
	// is the number of reader connections, default 8, beside one writer).
	MaxOpenConns int
	// WorkerStaleAfter is how long a worker counts as online after its
	// last heartbeat when runs are routed (WORKER_STALE_SECONDS; default 60 s).
	WorkerStaleAfter time.Duration
}

// Open connects to the database described by db and checks that it answers.
// A SQLite file's folder is created when missing. Migrations are not applied;
// call Migrate.
func Open(ctx context.Context, db config.Database, opts Options) (*DB, error) {
	if opts.Clock == nil {
		opts.Clock = hub.SystemClock{}
	}
	if opts.WorkerStaleAfter <= 0 {
		opts.WorkerStaleAfter = time.Minute
	}
	var (
		sqldb *sql.DB
		err   error
		d     dialect
	)
	switch db.Dialect {
	case config.SQLite:
		d = sqliteDialect{}
		if dir := filepath.Dir(db.DSN); dir != "" {
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return nil, fmt.Errorf("sqlstore.Open: create folder of %s: %w", db.DSN, err)
			}
		}
		sqldb, err = sql.Open("sqlite3", sqliteDSN(db.DSN))
		if opts.MaxOpenConns == 0 {
			opts.MaxOpenConns = 8
		}
		if err == nil {
			return openSQLite(ctx, sqldb, db.DSN, d, opts)
		}
	case config.Postgres:
		d = postgresDialect{}
		sqldb, err = sql.Open("pgx", db.DSN)
		if opts.MaxOpenConns == 0 {
			opts.MaxOpenConns = 20
		}
	default:
		return nil, fmt.Errorf("sqlstore.Open: unknown dialect %q", db.Dialect)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore.Open: %w", err)
	}
	sqldb.SetMaxOpenConns(opts.MaxOpenConns)
	sqldb.SetMaxIdleConns(opts.MaxOpenConns)
	sqldb.SetConnMaxIdleTime(5 * time.Minute)
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := sqldb.PingContext(pingCtx); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("sqlstore.Open: connect to %s database: %w", db.Dialect, err)
	}
	return &DB{sql: sqldb, read: sqldb, dialect: d, clock: opts.Clock, staleAfter: opts.WorkerStaleAfter}, nil
}

// openSQLite finishes Open for SQLite: one writer connection (opened first,
// so the file is in WAL mode before any reader connects) and a pool of
// query-only readers.
func openSQLite(ctx context.Context, writer *sql.DB, path string, d dialect, opts Options) (*DB, error) {
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxIdleTime(0)
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := writer.PingContext(pingCtx); err != nil {
		writer.Close()
		return nil, fmt.Errorf("sqlstore.Open: connect to sqlite database: %w", err)
	}
	reader, err := sql.Open("sqlite3", sqliteReaderDSN(path))
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("sqlstore.Open: %w", err)
	}
	reader.SetMaxOpenConns(opts.MaxOpenConns)
	reader.SetMaxIdleConns(opts.MaxOpenConns)
	reader.SetConnMaxIdleTime(5 * time.Minute)
	if err := reader.PingContext(pingCtx); err != nil {
		writer.Close()
		reader.Close()
		return nil, fmt.Errorf("sqlstore.Open: connect to sqlite database: %w", err)
	}
	return &DB{sql: writer, read: reader, path: path, stmts: newStmtCache(reader, d), dialect: d, clock: opts.Clock, staleAfter: opts.WorkerStaleAfter}, nil
}

// sqliteDSN builds the connection string with the settings every connection
// needs: WAL, foreign keys, a busy timeout, immediate write transactions and
// fixed-width UTC time text.
func sqliteDSN(path string) string {
	q := url.Values{}
	q.Set("_txlock", "immediate")
	q.Set("_timefmt", sqliteTimeLayout)
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(wal)")
	q.Add("_pragma", "synchronous(normal)")
	q.Add("_pragma", "foreign_keys(on)")
	return "file:" + filepath.ToSlash(path) + "?" + q.Encode()
}

// sqliteReaderDSN is the connection string of the read-only pool: it cannot
// write (query_only), and reads the WAL the writer keeps.
func sqliteReaderDSN(path string) string {
	q := url.Values{}
	q.Set("_timefmt", sqliteTimeLayout)
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "query_only(1)")
	// 16 MiB of page cache per reader (SQLite's default is 2 MiB): the
	// hot index and table pages of the lists stay in memory.
	q.Add("_pragma", "cache_size(-16384)")
	return "file:" + filepath.ToSlash(path) + "?" + q.Encode()
}

// Close closes the connection pools.
func (db *DB) Close() error {
	err := db.stmts.close()
	err = errors.Join(err, db.sql.Close())
	if db.read != nil && db.read != db.sql {
		err = errors.Join(err, db.read.Close())
	}
	return err
}

// Dialect returns "sqlite" or "postgres".
func (db *DB) Dialect() string { return db.dialect.name() }

// Ping checks that the database answers; used by the readiness probe.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	if err := db.read.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	return nil
}

// SQL exposes the underlying pool for tools and tests (migrations, fixtures).
func (db *DB) SQL() *sql.DB { return db.sql }

// querier is what both *sql.DB and *sql.Tx offer.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Tx is a transaction whose methods take portable `?` queries.
type Tx struct {
	q querier
	d dialect
	// stmts, on SQLite's reader handle, keeps each query prepared: SQLite
	// would otherwise parse and plan the text again on every call
	// (PostgreSQL's driver caches prepared statements itself).
	stmts *stmtCache
}

// Exec runs a statement. A full disk is a hub.EUnavailable error.
func (t *Tx) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	res, err := t.q.ExecContext(ctx, t.d.rebind(query), args...)
	return res, markDiskFull(err)
}

// Query runs a query returning rows. A full disk is a hub.EUnavailable
// error.
func (t *Tx) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := t.stmts.get(ctx, query); st != nil {
		rows, err := st.QueryContext(ctx, args...)
		return rows, markDiskFull(err)
	}
	rows, err := t.q.QueryContext(ctx, t.d.rebind(query), args...)
	return rows, markDiskFull(err)
}

// QueryRow runs a query returning at most one row.
func (t *Tx) QueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if st := t.stmts.get(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.q.QueryRowContext(ctx, t.d.rebind(query), args...)
}

// Conn returns a Tx-like handle that runs each statement outside any
// transaction on the writer pool, for single-statement writes.
func (db *DB) Conn() *Tx { return &Tx{q: db.sql, d: db.dialect} }

// Read returns a Tx-like handle on the reader pool, for single-statement
// reads. Each statement sees every transaction committed before it began.
func (db *DB) Read() *Tx { return &Tx{q: db.read, d: db.dialect, stmts: db.stmts} }

// InTx runs fn in one transaction: committed when fn returns nil, rolled back
// otherwise (also on panic). On SQLite the transaction takes the write lock at
// BEGIN, so read-then-write sequences cannot deadlock. A full disk, wherever
// in the transaction it is met, is a hub.EUnavailable error.
func (db *DB) InTx(ctx context.Context, fn func(tx *Tx) error) (err error) {
	sqltx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return markDiskFull(fmt.Errorf("begin transaction: %w", err))
	}
	defer func() {
		if p := recover(); p != nil {
			_ = sqltx.Rollback()
			panic(p)
		}
		if err != nil {
			_ = sqltx.Rollback()
			err = markDiskFull(err)
		}
	}()
	if err = fn(&Tx{q: sqltx, d: db.dialect}); err != nil {
		return err
	}
	if err = sqltx.Commit(); err != nil {
		return fmt.Errorf("commit transaction: %w", err)
	}
	return nil
}

// Now returns the store clock's current time.
func (db *DB) Now() time.Time { return db.clock.Now() }

// IsUniqueViolation reports whether err is a unique-constraint violation of
// either dialect (PostgreSQL 23505, SQLite SQLITE_CONSTRAINT_UNIQUE or
// SQLITE_CONSTRAINT_PRIMARYKEY).
func IsUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505"
	}
	var sqErr *sqlite3.Error
	if errors.As(err, &sqErr) {
		return sqErr.ExtendedCode() == sqlite3.CONSTRAINT_UNIQUE || sqErr.ExtendedCode() == sqlite3.CONSTRAINT_PRIMARYKEY
	}
	return false
}

// isDataError reports whether the database refused a statement for the data
// it carries (PostgreSQL classes 22 "data exception" and 23 "integrity
// constraint violation"; SQLite constraint, mismatch, range and too-big
// errors) rather than for being unavailable.
func isDataError(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return strings.HasPrefix(pgErr.Code, "22") || strings.HasPrefix(pgErr.Code, "23")
	}
	var sqErr *sqlite3.Error
	if errors.As(err, &sqErr) {
		switch sqErr.Code() {
		case sqlite3.CONSTRAINT, sqlite3.MISMATCH, sqlite3.RANGE, sqlite3.TOOBIG:
			return true
		}
	}
	return false
}

// IsForeignKeyViolation reports whether err is a foreign-key violation of
// either dialect (PostgreSQL 23503, SQLite SQLITE_CONSTRAINT_FOREIGNKEY).
func IsForeignKeyViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23503"
	}
	var sqErr *sqlite3.Error
	if errors.As(err, &sqErr) {
		return sqErr.ExtendedCode() == sqlite3.CONSTRAINT_FOREIGNKEY
	}
	return false
}

// found finishes a single-row read: no row becomes ENotFound with notFound
// as its message; any other error is wrapped with the operation name
// (formatted from op and args only when there is an error).
func found[T any](v *T, err error, notFound, op string, args ...any) (*T, error) {
	if errors.Is(err, sql.ErrNoRows) {
		return nil, hub.Errorf(hub.ENotFound, "%s", notFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore."+op+": %w", append(args, err)...)
	}
	return v, nil
}
