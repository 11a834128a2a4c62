package config

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
)

// Database dialect names.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// Database is a parsed DATABASE_URL.
type Database struct {
	Dialect string // SQLite or Postgres
	// DSN is the SQLite file path, or the PostgreSQL connection URL unchanged.
	DSN string
}

// ParseDatabaseURL interprets DATABASE_URL: empty means the SQLite file
// dataDir/hub.db; "sqlite:PATH" or "file:PATH" a SQLite file; "postgres://" or
// "postgresql://" a PostgreSQL server.
func ParseDatabaseURL(raw, dataDir string) (Database, error) {
	raw = strings.TrimSpace(raw)
	switch {
	case raw == "":
		return Database{Dialect: SQLite, DSN: filepath.Join(dataDir, "hub.db")}, nil
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			return Database{}, fmt.Errorf("%q is not a valid PostgreSQL URL", redactURL(raw))
		}
		return Database{Dialect: Postgres, DSN: raw}, nil
	case strings.HasPrefix(raw, "sqlite:"), strings.HasPrefix(raw, "file:"):
		path := raw[strings.Index(raw, ":")+1:]
		path = strings.TrimPrefix(path, "//")
		if i := strings.IndexByte(path, '?'); i >= 0 {
			return Database{}, fmt.Errorf("SQLite options are set by the hub; remove %q", path[i:])
		}
		if path == "" {
			return Database{}, fmt.Errorf("sqlite: needs a file path")
		}
		return Database{Dialect: SQLite, DSN: path}, nil
	default:
		return Database{}, fmt.Errorf("unsupported scheme (want postgres://…, sqlite:PATH or empty)")
	}
}

// Database returns the parsed DATABASE_URL of a validated Config.
func (c Config) Database() Database {
	db, err := ParseDatabaseURL(c.DatabaseURL, c.DataDir)
	if err != nil {
		panic("config: Database called on an unvalidated Config: " + err.Error())
	}
	return db
}

// redactURL hides the password of a URL for messages and logs.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<unparseable URL>"
	}
	return u.Redacted()
}
