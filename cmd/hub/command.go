package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"automationhub/internal/config"
	"automationhub/internal/sqlstore"
)

// commandEnv is what an administration command (hub user, backup, restore,
// migrate --status) works with: the settings, read as every other command
// reads them, and its error output.
type commandEnv struct {
	name   string // "hub user create", for messages
	cfg    config.Config
	stderr io.Writer
}

// loadCommandEnv reads the settings for an administration command and
// prints their warnings; ok is false (and the message printed) when they do
// not validate.
func loadCommandEnv(name string, environ []string, stderr io.Writer) (commandEnv, bool) {
	cfg, warnings, err := loadConfig(environ, ".env")
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return commandEnv{}, false
	}
	for _, w := range warnings {
		fmt.Fprintf(stderr, "%s: warning: %s\n", name, w)
	}
	return commandEnv{name: name, cfg: cfg, stderr: stderr}, true
}

// failf prints a one-line error and returns exitFailed.
func (e commandEnv) failf(format string, args ...any) int {
	fmt.Fprintf(e.stderr, "%s: %s\n", e.name, fmt.Sprintf(format, args...))
	return exitFailed
}

// openDatabase opens the configured database for a command that reads or
// changes it directly. It refuses a database a newer binary migrated, and
// one with pending migrations (the command would meet tables it does not
// expect): `hub migrate` first.
func (e commandEnv) openDatabase(ctx context.Context) (*sqlstore.DB, error) {
	db, err := sqlstore.Open(ctx, e.cfg.Database(), sqlstore.Options{})
	if err != nil {
		return nil, err
	}
	st, err := db.CheckSchema(ctx)
	if err != nil {
		db.Close()
		return nil, err
	}
	if len(st.Pending) > 0 {
		db.Close()
		if st.Current == 0 {
			return nil, errors.New("the database is empty: start the hub once or run `hub migrate` first")
		}
		return nil, fmt.Errorf("the database has %d pending migrations (at version %d of %d): run `hub migrate` first", len(st.Pending), st.Current, st.Latest)
	}
	return db, nil
}

// checkSchema refuses a database a newer binary migrated, for the roles
// that do not migrate (worker, cleanup), and warns when migrations are
// pending: those roles expect the schema `hub migrate` or `hub serve`
// brings.
func checkSchema(ctx context.Context, db *sqlstore.DB, log *slog.Logger) error {
	st, err := db.CheckSchema(ctx)
	if err != nil {
		return err
	}
	if len(st.Pending) > 0 {
		log.Warn("the database has pending migrations: run `hub migrate` (or start `hub serve`) before this role", "schema_version", st.Current, "latest", st.Latest)
	}
	return nil
}

// parseInterspersed parses flags that may come before, between or after
// positional arguments (`hub user set-role alice --role Admin`), and
// returns the positional ones. "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// databaseLabel names the configured database for messages, without a
// password.
func databaseLabel(db config.Database) string {
	if db.Dialect == config.SQLite {
		return "SQLite " + db.DSN
	}
	return "PostgreSQL " + redactedURL(db.DSN)
}

// redactedURL hides the password of a connection URL.
func redactedURL(raw string) string {
	if i := strings.Index(raw, "://"); i >= 0 {
		rest := raw[i+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if colon := strings.Index(rest[:at], ":"); colon >= 0 {
				return raw[:i+3] + rest[:colon] + ":xxxxx" + rest[at:]
			}
		}
	}
	return raw
}
