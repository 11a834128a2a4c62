package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
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
// advisory lock, SQLite with a lock row (see sqliteLocker).
func (db *DB) Migrate(ctx context.Context, log *slog.Logger) (MigrationResult, error) {
	fsys, err := MigrationsFS(db.dialect.name())
	if err != nil {
		return MigrationResult{}, fmt.Errorf("sqlstore.Migrate: %w", err)
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
			return MigrationResult{}, fmt.Errorf("sqlstore.Migrate: %w", err)
		}
		lockOpt = goose.WithSessionLocker(locker)
	default:
		store, err := database.NewStoreFromQuerier(migrationTable, sqliteQuerier{})
		if err != nil {
			return MigrationResult{}, fmt.Errorf("sqlstore.Migrate: %w", err)
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
	pool := db.sql
	if db.path != "" {
		// goose reads its bookkeeping beside its migration transaction: on
		// SQLite it gets a pool of its own instead of the one writer.
		pool, err = sql.Open("sqlite3", sqliteDSN(db.path))
		if err != nil {
			return MigrationResult{}, fmt.Errorf("sqlstore.Migrate: %w", err)
		}
		pool.SetMaxOpenConns(4)
		defer pool.Close()
	}
	p, err := goose.NewProvider(gooseDialect, pool, fsys, opts...)
	if err != nil {
		return MigrationResult{}, fmt.Errorf("sqlstore.Migrate: %w", err)
	}
	from, err := p.GetDBVersion(ctx)
	if err != nil {
		return MigrationResult{}, fmt.Errorf("sqlstore.Migrate: read schema version: %w", err)
	}
	results, err := p.Up(ctx)
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
