package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"path"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations
var migrationsFS embed.FS

// MigrationsFS returns the embedded migration files of one dialect
// ("sqlite" or "postgres").
func MigrationsFS(dialect string) (fs.FS, error) {
	return fs.Sub(migrationsFS, "migrations/"+dialect)
}

// migrationTable is goose's bookkeeping table.
const migrationTable = "hub_schema_migrations"

// MigrationResult summarises a Migrate call.
type MigrationResult struct {
	From, To int64 // schema version before and after
	Applied  []string
}

// Migrate applies every pending embedded migration. It is safe to run twice
// and from several processes at once: PostgreSQL serialises migrators with an
// advisory lock, SQLite with a lock row (see sqliteLocker). A database that a
// newer binary migrated beyond the embedded migrations is refused with a
// *SchemaTooNewError, and nothing is applied.
func (db *DB) Migrate(ctx context.Context, log *slog.Logger) (MigrationResult, error) {
	return db.MigrateTo(ctx, math.MaxInt64, log)
}

// MigrateTo applies the pending embedded migrations up to and including
// version (upgrade tests build a database at each earlier level with it);
// otherwise as Migrate.
func (db *DB) MigrateTo(ctx context.Context, version int64, log *slog.Logger) (MigrationResult, error) {
	p, done, err := db.provider()
	if err != nil {
		return MigrationResult{}, fmt.Errorf("sqlstore.Migrate: %w", err)
	}
	defer done()
	from, err := p.GetDBVersion(ctx)
	if err != nil {
		return MigrationResult{}, fmt.Errorf("sqlstore.Migrate: read schema version: %w", err)
	}
	if latest := latestVersion(p.ListSources()); from > latest {
		return MigrationResult{}, &SchemaTooNewError{Current: from, Latest: latest}
	}
	results, err := p.UpTo(ctx, version)
	if err != nil {
		return MigrationResult{}, fmt.Errorf("sqlstore.Migrate: %w", err)
	}
	res := MigrationResult{From: from, To: from}
	for _, r := range results {
		res.Applied = append(res.Applied, r.Source.Path)
		res.To = r.Source.Version
		if log != nil {
			log.Info("migration applied", "file", r.Source.Path, "duration", r.Duration)
		}
	}
	return res, nil
}

// provider returns a goose provider over the embedded migrations of the
// database's dialect, with the dialect's lock, and a function that releases
// what it opened. goose reads its bookkeeping beside its migration
// transaction, so on SQLite it gets a small pool of its own instead of the
// store's one writer connection.
func (db *DB) provider() (*goose.Provider, func(), error) {
	fsys, err := MigrationsFS(db.dialect.name())
	if err != nil {
		return nil, nil, err
	}
	var (
		gooseDialect goose.Dialect
		lockOpt      goose.ProviderOption
		storeOpt     goose.ProviderOption
	)
	switch db.dialect.name() {
	case "postgres":
		gooseDialect = goose.DialectPostgres
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 600))
		if err != nil {
			return nil, nil, err
		}
		lockOpt = goose.WithSessionLocker(locker)
	default:
		store, err := database.NewStoreFromQuerier(migrationTable, sqliteQuerier{})
		if err != nil {
			return nil, nil, err
		}
		lockOpt = goose.WithLocker(&sqliteLocker{name: "migrate", owner: uuid.NewString(), lease: 10 * time.Minute})
		storeOpt = goose.WithStore(store)
	}
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true), lockOpt}
	if storeOpt != nil {
		opts = append(opts, storeOpt)
	} else {
		opts = append(opts, goose.WithTableName(migrationTable))
	}
	pool, done := db.sql, func() {}
	if db.path != "" {
		pool, err = sql.Open("sqlite3", sqliteDSN(db.path))
		if err != nil {
			return nil, nil, err
		}
		pool.SetMaxOpenConns(4)
		done = func() { pool.Close() }
	}
	p, err := goose.NewProvider(gooseDialect, pool, fsys, opts...)
	if err != nil {
		done()
		return nil, nil, err
	}
	return p, done, nil
}

// Migration is one embedded migration.
type Migration struct {
	Version int64
	// Name is the file name, e.g. "0002_cleanup.sql".
	Name string
}

// Migrations lists the embedded migrations of a dialect ("sqlite" or
// "postgres"), oldest first.
func Migrations(dialect string) ([]Migration, error) {
	fsys, err := MigrationsFS(dialect)
	if err != nil {
		return nil, fmt.Errorf("sqlstore.Migrations: %w", err)
	}
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("sqlstore.Migrations: %w", err)
	}
	var out []Migration
	for _, e := range entries {
		if e.IsDir() || path.Ext(e.Name()) != ".sql" {
			continue
		}
		v, err := goose.NumericComponent(e.Name())
		if err != nil {
			return nil, fmt.Errorf("sqlstore.Migrations: %s: %w", e.Name(), err)
		}
		out = append(out, Migration{Version: v, Name: e.Name()})
	}
	slices.SortFunc(out, func(a, b Migration) int { return cmp.Compare(a.Version, b.Version) })
	return out, nil
}

func latestVersion(sources []*goose.Source) int64 {
	var v int64
	for _, s := range sources {
		v = max(v, s.Version)
	}
	return v
}

// MigrationStatus tells how a database's schema stands against the
// migrations this binary embeds.
type MigrationStatus struct {
	// Current is the highest applied version (0: an empty database).
	Current int64
	// Latest is the highest version this binary embeds.
	Latest int64
	// Pending are the embedded migrations not applied yet, oldest first.
	Pending []Migration
	// Unknown are applied versions this binary does not embed: a newer
	// binary migrated the database.
	Unknown []int64
}

// TooNew reports whether a newer binary migrated the database beyond the
// migrations this one knows.
func (s MigrationStatus) TooNew() bool { return s.Current > s.Latest }

// SchemaTooNewError is returned when the database was migrated by a newer
// binary: this one would not know its tables and must not run on it.
type SchemaTooNewError struct {
	Current, Latest int64
}

func (e *SchemaTooNewError) Error() string {
	return fmt.Sprintf("the database schema is at version %d, but this hub binary knows migrations only up to %d: "+
		"a newer hub has migrated it. Run that newer hub (or a later one), or restore a backup taken before the upgrade", e.Current, e.Latest)
}

// MigrationStatus reads which embedded migrations the database has applied,
// without changing anything (an empty database is at version 0).
func (db *DB) MigrationStatus(ctx context.Context) (MigrationStatus, error) {
	all, err := Migrations(db.dialect.name())
	if err != nil {
		return MigrationStatus{}, err
	}
	applied, err := db.appliedVersions(ctx)
	if err != nil {
		return MigrationStatus{}, fmt.Errorf("sqlstore.MigrationStatus: %w", err)
	}
	var st MigrationStatus
	known := map[int64]bool{}
	for _, m := range all {
		known[m.Version] = true
		st.Latest = max(st.Latest, m.Version)
		if !applied[m.Version] {
			st.Pending = append(st.Pending, m)
		}
	}
	for v := range applied {
		st.Current = max(st.Current, v)
		if !known[v] && v != 0 {
			st.Unknown = append(st.Unknown, v)
		}
	}
	slices.Sort(st.Unknown)
	return st, nil
}

// CheckSchema returns the migration status, and a *SchemaTooNewError when a
// newer binary migrated the database. Roles that do not migrate (worker,
// cleanup, the admin commands) call it before touching anything.
func (db *DB) CheckSchema(ctx context.Context) (MigrationStatus, error) {
	st, err := db.MigrationStatus(ctx)
	if err != nil {
		return st, err
	}
	if st.TooNew() {
		return st, &SchemaTooNewError{Current: st.Current, Latest: st.Latest}
	}
	return st, nil
}

// appliedVersions returns the applied versions recorded in goose's table
// (none when the table does not exist yet; goose's own version 0 row is
// included when it does).
func (db *DB) appliedVersions(ctx context.Context) (map[int64]bool, error) {
	var exists bool
	var err error
	switch db.dialect.name() {
	case "postgres":
		err = db.sql.QueryRowContext(ctx, `SELECT to_regclass($1) IS NOT NULL`, migrationTable).Scan(&exists)
	default:
		err = db.sql.QueryRowContext(ctx, sqliteQuerier{}.TableExists(migrationTable)).Scan(&exists)
	}
	if err != nil {
		return nil, fmt.Errorf("look for %s: %w", migrationTable, err)
	}
	out := map[int64]bool{}
	if !exists {
		return out, nil
	}
	rows, err := db.sql.QueryContext(ctx, `SELECT version_id FROM `+migrationTable+` WHERE is_applied`)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", migrationTable, err)
	}
	defer rows.Close()
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("read %s: %w", migrationTable, err)
		}
		out[v] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", migrationTable, err)
	}
	return out, nil
}

// SchemaVersion returns the highest applied migration version (0 when none).
func (db *DB) SchemaVersion(ctx context.Context) (int64, error) {
	var v sql.NullInt64
	err := db.Read().QueryRow(ctx, "SELECT MAX(version_id) FROM "+migrationTable).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("sqlstore.SchemaVersion: %w", err)
	}
	return v.Int64, nil
}

// sqliteLocker is a goose Locker for SQLite: a row in hub_locks held by one
// owner until released or until its lease runs out (a crashed holder cannot
// block migrations forever).
type sqliteLocker struct {
	name, owner string
	lease       time.Duration
}

const createLocksTable = `CREATE TABLE IF NOT EXISTS hub_locks (
	name       TEXT PRIMARY KEY,
	owner      TEXT NOT NULL,
	expires_at TIMESTAMP NOT NULL
)`

// Lock waits until the lock row is free, then takes it.
func (l *sqliteLocker) Lock(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, createLocksTable); err != nil {
		return fmt.Errorf("create hub_locks: %w", err)
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := l.tryLock(ctx, db)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the %s lock: %w", l.name, ctx.Err())
		case <-tick.C:
		}
	}
}

func (l *sqliteLocker) tryLock(ctx context.Context, db *sql.DB) (bool, error) {
	now := time.Now().UTC()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback() //nolint:errcheck // rollback after commit is a no-op
	if _, err := tx.ExecContext(ctx, `DELETE FROM hub_locks WHERE name = ? AND expires_at < ?`, l.name, now); err != nil {
		return false, err
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO hub_locks (name, owner, expires_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING`,
		l.name, l.owner, now.Add(l.lease))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, err
	}
	return n == 1, tx.Commit()
}

// Unlock releases the lock row if this locker still owns it.
func (l *sqliteLocker) Unlock(ctx context.Context, db *sql.DB) error {
	_, err := db.ExecContext(context.WithoutCancel(ctx), `DELETE FROM hub_locks WHERE name = ? AND owner = ?`, l.name, l.owner)
	if err != nil && !errors.Is(err, sql.ErrConnDone) {
		return fmt.Errorf("release the %s lock: %w", l.name, err)
	}
	return nil
}

// sqliteQuerier is goose's version-table SQL for SQLite, with the timestamp
// written in the hub's fixed-width time format (so the driver decodes it) and
// a real existence check instead of goose's probe-by-error fallback.
type sqliteQuerier struct{}

func (sqliteQuerier) CreateTable(table string) string {
	return `CREATE TABLE ` + table + ` (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		version_id INTEGER NOT NULL,
		is_applied INTEGER NOT NULL,
		tstamp TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z')
	)`
}

func (sqliteQuerier) InsertVersion(table string) string {
	return `INSERT INTO ` + table + ` (version_id, is_applied) VALUES (?, ?)`
}

func (sqliteQuerier) DeleteVersion(table string) string {
	return `DELETE FROM ` + table + ` WHERE version_id = ?`
}

func (sqliteQuerier) GetMigrationByVersion(table string) string {
	return `SELECT tstamp, is_applied FROM ` + table + ` WHERE version_id = ? ORDER BY tstamp DESC LIMIT 1`
}

func (sqliteQuerier) ListMigrations(table string) string {
	return `SELECT version_id, is_applied FROM ` + table + ` ORDER BY id DESC`
}

func (sqliteQuerier) GetLatestVersion(table string) string {
	return `SELECT MAX(version_id) FROM ` + table
}

func (sqliteQuerier) TableExists(table string) string {
	return `SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '` + table + `')`
}
