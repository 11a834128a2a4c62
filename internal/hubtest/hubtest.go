// Package hubtest gives tests real databases and a real Redis: a fresh SQLite
// file, a fresh PostgreSQL schema, or a Redis key prefix per test. Tests that
// need PostgreSQL or Redis skip when HUB_TEST_POSTGRES_URL / HUB_TEST_REDIS_URL
// are unset, and fail instead when HUB_TEST_REQUIRE_SERVICES=1 (as in CI).
package hubtest

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib" // "pgx" driver for schema management
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"automationhub/internal/config"
	"automationhub/internal/sqlstore"
)

// Environment variables read by the helpers.
const (
	EnvPostgresURL     = "HUB_TEST_POSTGRES_URL"
	EnvRedisURL        = "HUB_TEST_REDIS_URL"
	EnvRequireServices = "HUB_TEST_REQUIRE_SERVICES"
	// EnvLong=1 runs the long tests at full size (a million log lines or
	// rows); the default suite runs them small. CI runs them once at full
	// size without the race detector.
	EnvLong = "HUB_TEST_LONG"
)

// RequireServices reports whether missing services must fail tests.
func RequireServices() bool { return os.Getenv(EnvRequireServices) == "1" }

// Long reports whether long tests run at full size (HUB_TEST_LONG=1).
func Long() bool { return os.Getenv(EnvLong) == "1" }

// serviceURL returns the URL in env, skipping (or failing, in CI) when unset.
func serviceURL(t testing.TB, env string) string {
	t.Helper()
	u := strings.TrimSpace(os.Getenv(env))
	if u == "" {
		if RequireServices() {
			t.Fatalf("%s is not set but %s=1", env, EnvRequireServices)
		}
		t.Skipf("%s not set; skipping test that needs a real service", env)
	}
	return u
}

// Dialects lists the databases store tests must run on: always SQLite, plus
// PostgreSQL when configured or required.
func Dialects() []string {
	if os.Getenv(EnvPostgresURL) != "" || RequireServices() {
		return []string{config.SQLite, config.Postgres}
	}
	return []string{config.SQLite}
}

// DatabaseConfig returns a database description for a fresh, empty database of
// the dialect: a new SQLite file in t.TempDir(), or a new PostgreSQL schema
// that is dropped when the test ends.
func DatabaseConfig(t testing.TB, dialect string) config.Database {
	t.Helper()
	switch dialect {
	case config.SQLite:
		return config.Database{Dialect: config.SQLite, DSN: filepath.Join(t.TempDir(), "hub.db")}
	case config.Postgres:
		return config.Database{Dialect: config.Postgres, DSN: postgresSchema(t)}
	default:
		t.Fatalf("unknown dialect %q", dialect)
		return config.Database{}
	}
}

// Store opens a migrated store on a fresh database of the dialect and closes
// it when the test ends.
func Store(t testing.TB, dialect string) *sqlstore.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := sqlstore.Open(ctx, DatabaseConfig(t, dialect), sqlstore.Options{})
	if err != nil {
		t.Fatalf("open %s store: %v", dialect, err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx, nil); err != nil {
		t.Fatalf("migrate %s store: %v", dialect, err)
	}
	return db
}

var (
	pgAdminOnce sync.Once
	pgAdmin     *sql.DB
	pgAdminErr  error
)

// postgresSchema creates a uniquely named schema and returns a connection URL
// whose search_path points at it.
func postgresSchema(t testing.TB) string {
	t.Helper()
	base := serviceURL(t, EnvPostgresURL)
	pgAdminOnce.Do(func() {
		pgAdmin, pgAdminErr = sql.Open("pgx", base)
		if pgAdminErr == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			pgAdminErr = pgAdmin.PingContext(ctx)
		}
	})
	if pgAdminErr != nil {
		t.Fatalf("PostgreSQL at %s is unreachable: %v", EnvPostgresURL, pgAdminErr)
	}
	schema := "hubtest_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:16]
	ctx := context.Background()
	if _, err := pgAdmin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := pgAdmin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", EnvPostgresURL, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Redis returns a client of the test Redis and a key prefix unique to the
// test; keys under the prefix are deleted when the test ends.
func Redis(t testing.TB) (*redis.Client, string) {
	t.Helper()
	raw := serviceURL(t, EnvRedisURL)
	opts, err := redis.ParseURL(raw)
	if err != nil {
		t.Fatalf("parse %s: %v", EnvRedisURL, err)
	}
	client := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		t.Fatalf("Redis at %s is unreachable: %v", EnvRedisURL, err)
	}
	prefix := fmt.Sprintf("hubtest:%s:", uuid.NewString()[:8])
	t.Cleanup(func() {
		ctx := context.Background()
		iter := client.Scan(ctx, 0, prefix+"*", 500).Iterator()
		for iter.Next(ctx) {
			client.Del(ctx, iter.Val())
		}
		client.Close()
	})
	return client, prefix
}

// Main runs a package's tests, closes the shared PostgreSQL admin pool, and
// fails the run if goroutines leaked; cleanups run after the tests (before
// the leak check). Use it from TestMain:
//
//	func TestMain(m *testing.M) { hubtest.Main(m) }
func Main(m *testing.M, cleanups ...func()) {
	code := m.Run()
	for _, f := range cleanups {
		f()
	}
	if pgAdmin != nil {
		pgAdmin.Close()
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: goroutines leaked after the tests passed: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}
