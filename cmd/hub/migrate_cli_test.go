package main

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"automationhub/internal/config"
	"automationhub/internal/hubtest"
	"automationhub/internal/sqlstore"
)

// TestMigrateStatus prints the schema level of an empty, a partly migrated
// and an up-to-date database, naming every pending migration from the
// embedded list.
func TestMigrateStatus(t *testing.T) {
	t.Parallel()
	all, err := sqlstore.Migrations(config.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	latest := all[len(all)-1]
	dir := t.TempDir()
	env := []string{"ENVIRONMENT=test"}
	r := runHubCommand(t, dir, "", []string{"migrate", "--status"}, env...)
	r.want(t, "status of an empty database", 0)
	for _, m := range all {
		if !strings.Contains(r.stdout, "pending        "+m.Name) {
			t.Errorf("empty database: %s not listed as pending:\n%s", m.Name, r.stdout)
		}
	}
	runHubCommand(t, dir, "", []string{"migrate"}, env...).want(t, "migrate", 0)
	r = runHubCommand(t, dir, "", []string{"migrate", "--status"}, env...)
	r.want(t, "status when up to date", 0)
	if !strings.Contains(r.stdout, "status:          up to date") || !strings.Contains(r.stdout, "latest known:    "+strconv.FormatInt(latest.Version, 10)) {
		t.Errorf("up to date:\n%s", r.stdout)
	}
	editSchemaVersions(t, config.Database{Dialect: config.SQLite, DSN: dir + "/data/hub.db"}, unapplyLatest)
	r = runHubCommand(t, dir, "", []string{"migrate", "--status"}, env...)
	if !strings.Contains(r.stdout, "1 pending") || !strings.Contains(r.stdout, "pending        "+latest.Name) {
		t.Errorf("one pending:\n%s", r.stdout)
	}
	runHubCommand(t, dir, "", []string{"migrate", "--status", "--verbose"}, env...).want(t, "unknown flag", 2)
}

// TestRolesRefuseADatabaseFromANewerHub gives every role a database whose
// version table names a migration this binary does not have, as an older
// binary meets a database a newer one migrated: each refuses to start with a
// message saying so, and changes nothing.
func TestRolesRefuseADatabaseFromANewerHub(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			env := []string{"ENVIRONMENT=test", "HUB_ADDR=127.0.0.1:0", "SECRET_KEY=" + strings.Repeat("k", 40)}
			db := config.Database{Dialect: config.SQLite, DSN: dir + "/data/hub.db"}
			if dialect == config.Postgres {
				db = hubtest.DatabaseConfig(t, config.Postgres)
				env = append(env, "DATABASE_URL="+db.DSN)
			}
			runHubCommand(t, dir, "", []string{"migrate"}, env...).want(t, "migrate", 0)
			editSchemaVersions(t, db, fakeNewerVersion)
			redisURL := "REDIS_URL=redis://127.0.0.1:1/0"
			if u := os.Getenv(hubtest.EnvRedisURL); u != "" {
				redisURL = "REDIS_URL=" + u
			}
			for _, args := range [][]string{{"migrate"}, {}, {"all"}, {"serve"}, {"worker"}, {"cleanup"}, {"cleanup", "--once"},
				{"migrate", "--status"}, {"user", "list"}, {"backup", "--out", t.TempDir() + "/b.tar.gz"}} {
				e := env
				if len(args) > 0 && args[0] == "worker" {
					e = append(e, redisURL)
				}
				r := runHubCommand(t, dir, "", args, e...)
				r.want(t, "hub "+strings.Join(args, " "), 1, "a newer hub has migrated it")
				if strings.Contains(r.stdout, "running at") {
					t.Errorf("hub %v started serving", args)
				}
			}
			store, err := sqlstore.Open(t.Context(), db, sqlstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			st, err := store.MigrationStatus(t.Context())
			if err != nil || !st.TooNew() || len(st.Unknown) != 1 {
				t.Errorf("status afterwards = %+v, %v: want the one unknown version, nothing else changed", st, err)
			}
		})
	}
}
