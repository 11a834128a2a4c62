package main

import (
	"context"
	"fmt"
	"io"

	"automationhub/internal/sqlstore"
)

// runMigrateStatus is `hub migrate --status`: the schema version of the
// configured database, the latest this binary knows, and the migrations
// still pending. It changes nothing. Exit 0 when it could read the status
// (pending migrations included), 1 when the database cannot be reached or a
// newer binary migrated it.
func runMigrateStatus(ctx context.Context, environ []string, stdout, stderr io.Writer) int {
	env, ok := loadCommandEnv("hub migrate --status", environ, stderr)
	if !ok {
		return exitUsage
	}
	dbc := env.cfg.Database()
	db, err := sqlstore.Open(ctx, dbc, sqlstore.Options{})
	if err != nil {
		return env.failf("%v", err)
	}
	defer db.Close()
	st, err := db.MigrationStatus(ctx)
	if err != nil {
		return env.failf("%v", err)
	}
	fmt.Fprintf(stdout, "database:        %s\n", databaseLabel(dbc))
	fmt.Fprintf(stdout, "schema version:  %d\n", st.Current)
	fmt.Fprintf(stdout, "latest known:    %d (hub %s)\n", st.Latest, version)
	switch {
	case st.TooNew():
		fmt.Fprintf(stdout, "status:          migrated by a newer hub (versions %v are unknown to this binary)\n", st.Unknown)
		return env.failf("%v", &sqlstore.SchemaTooNewError{Current: st.Current, Latest: st.Latest})
	case len(st.Pending) == 0:
		fmt.Fprintln(stdout, "status:          up to date")
	default:
		fmt.Fprintf(stdout, "status:          %d pending (`hub migrate` applies them; `hub serve` and `hub all` do at start)\n", len(st.Pending))
		for _, m := range st.Pending {
			fmt.Fprintf(stdout, "  pending        %s\n", m.Name)
		}
	}
	return exitOK
}
