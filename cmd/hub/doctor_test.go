package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"automationhub/internal/config"
	"automationhub/internal/hubtest"
	"automationhub/internal/sqlstore"
)

// editSchemaVersions changes goose's version table of a migrated database
// directly: sql runs with the latest embedded version as its argument.
func editSchemaVersions(t *testing.T, db config.Database, sql string) {
	t.Helper()
	store, err := sqlstore.Open(context.Background(), db, sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	all, err := sqlstore.Migrations(db.Dialect)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Conn().Exec(context.Background(), sql, all[len(all)-1].Version); err != nil {
		t.Fatal(err)
	}
}

// Version-table edits the tests make.
const (
	fakeNewerVersion = `INSERT INTO hub_schema_migrations (version_id, is_applied) VALUES (? + 9000, true)`
	unapplyLatest    = `DELETE FROM hub_schema_migrations WHERE version_id = ?`
)

// doctorLine matches one check line of the report.
func doctorLine(status, name, detail string) *regexp.Regexp {
	return regexp.MustCompile(`(?m)^` + status + `\s+` + regexp.QuoteMeta(name) + `\s+.*` + regexp.QuoteMeta(detail))
}

// TestDoctorOnAQuickStartFolder runs `hub doctor` where the quick start
// ran: every check passes and the exit code is 0.
func TestDoctorOnAQuickStartFolder(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("signals differ on Windows")
	}
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not installed")
	}
	t.Parallel()
	dir := t.TempDir()
	env := []string{"ENVIRONMENT=test", "PASSWORD_HASH_COST=4"}
	h := runHubProcess(t, dir, nil, append(env, "HUB_ADDR=127.0.0.1:0")...)
	h.waitFor(t, "running at ")
	h.stop(t)
	r := runHubCommand(t, dir, "", []string{"doctor"}, env...)
	r.want(t, "doctor", 0)
	for _, l := range [][3]string{
		{"OK", "settings", "valid"}, {"OK", "database", "answers"}, {"OK", "migrations", "the latest"},
		{"OK", "clock", "SQLite"}, {"OK", "redis", "not configured"}, {"OK", "data folder", "writable"},
		{"OK", "artifact folder", "writable"}, {"OK", "disk", "free of"}, {"OK", "python", "Python 3."},
		{"(OK|WARN)", "sandbox", "robots"},
	} {
		if !doctorLine(l[0], l[1], l[2]).MatchString(r.stdout) {
			t.Errorf("no %s %s line with %q:\n%s", l[0], l[1], l[2], r.stdout)
		}
	}
	if !strings.Contains(r.stdout, " 0 FAIL: healthy") {
		t.Errorf("summary:\n%s", r.stdout)
	}
}

// TestDoctorReportsProblems sets up one problem at a time on SQLite and
// checks the failing (or warning) line, its fix and the exit code.
func TestDoctorReportsProblems(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Unix permissions")
	}
	t.Parallel()
	migrated := func(t *testing.T) string {
		dir := t.TempDir()
		runHubCommand(t, dir, "", []string{"migrate"}, "ENVIRONMENT=test").want(t, "migrate", 0)
		return dir
	}
	sqliteDB := func(dir string) config.Database {
		return config.Database{Dialect: config.SQLite, DSN: filepath.Join(dir, "data", "hub.db")}
	}
	tests := []struct {
		name  string
		setup func(t *testing.T) (dir string, env []string)
		args  []string
		code  int
		line  *regexp.Regexp
		fix   string
	}{
		{"invalid setting", func(t *testing.T) (string, []string) { return t.TempDir(), []string{"LOG_LEVEL=LOUD"} },
			nil, 1, doctorLine("FAIL", "settings", "LOG_LEVEL"), "hub --help"},
		{"unreachable database", func(t *testing.T) (string, []string) {
			return t.TempDir(), []string{"DATABASE_URL=postgres://hub:pw@127.0.0.1:1/hub?sslmode=disable&connect_timeout=2"}
		}, nil, 1, doctorLine("FAIL", "database", "127.0.0.1:1"), "check DATABASE_URL"},
		{"data folder is a file", func(t *testing.T) (string, []string) {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "data"), []byte("x"), 0o600)
			return dir, nil
		}, nil, 1, doctorLine("FAIL", "data folder", "is not a folder"), "HUB_DATA_DIR"},
		{"unwritable data folder", func(t *testing.T) (string, []string) {
			dir := migrated(t)
			if err := os.Chmod(filepath.Join(dir, "data"), 0o555); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Chmod(filepath.Join(dir, "data"), 0o750) })
			return dir, nil
		}, nil, 1, doctorLine("FAIL", "data folder", "is not writable"), "write access"},
		{"data folder open to other users", func(t *testing.T) (string, []string) {
			dir := migrated(t)
			os.Chmod(filepath.Join(dir, "data"), 0o755)
			return dir, nil
		}, []string{"--strict"}, 1, doctorLine("WARN", "data folder", "other users of this host may read it"), "chmod o-rwx"},
		{"missing python", func(t *testing.T) (string, []string) {
			return migrated(t), []string{"PYTHON_EXECUTABLE=/nonexistent/python3"}
		}, nil, 1, doctorLine("FAIL", "python", "/nonexistent/python3"), "PYTHON_EXECUTABLE"},
		{"python is not needed by serve", func(t *testing.T) (string, []string) {
			return migrated(t), []string{"PYTHON_EXECUTABLE=/nonexistent/python3"}
		}, []string{"--role", "serve"}, 0, doctorLine("WARN", "redis", "REDIS_URL is empty"), "set REDIS_URL"},
		{"pending migrations", func(t *testing.T) (string, []string) {
			dir := migrated(t)
			editSchemaVersions(t, sqliteDB(dir), unapplyLatest)
			return dir, nil
		}, nil, 0, doctorLine("WARN", "migrations", "1 pending"), "hub migrate"},
		{"pending migrations, strict", func(t *testing.T) (string, []string) {
			dir := migrated(t)
			editSchemaVersions(t, sqliteDB(dir), unapplyLatest)
			return dir, nil
		}, []string{"--strict"}, 1, doctorLine("WARN", "migrations", "1 pending"), "hub migrate"},
		{"database from a newer hub", func(t *testing.T) (string, []string) {
			dir := migrated(t)
			editSchemaVersions(t, sqliteDB(dir), fakeNewerVersion)
			return dir, nil
		}, nil, 1, doctorLine("FAIL", "migrations", "newer than this binary knows"), "newer hub version"},
		{"unreachable redis", func(t *testing.T) (string, []string) {
			return migrated(t), []string{"REDIS_URL=redis://127.0.0.1:1/0"}
		}, nil, 1, doctorLine("FAIL", "redis", "127.0.0.1:1"), "check REDIS_URL"},
		{"worker without redis", func(t *testing.T) (string, []string) { return migrated(t), nil },
			[]string{"--role", "worker"}, 1, doctorLine("FAIL", "redis", "REDIS_URL is empty"), "set REDIS_URL"},
		{"sandbox off", func(t *testing.T) (string, []string) {
			return migrated(t), []string{"ROBOT_SANDBOX=off"}
		}, []string{"--strict"}, 1, doctorLine("WARN", "sandbox", "ROBOT_SANDBOX=off"), "ROBOT_SANDBOX=auto"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir, env := tt.setup(t)
			env = append([]string{"ENVIRONMENT=test"}, env...)
			var r cliResult
			if tt.name == "unwritable data folder" && os.Geteuid() == 0 {
				r = runHubCommandAs(t, dir, 65534, append([]string{"doctor"}, tt.args...), env...)
			} else {
				r = runHubCommand(t, dir, "", append([]string{"doctor"}, tt.args...), env...)
			}
			r.want(t, "doctor", tt.code)
			if !tt.line.MatchString(r.stdout) {
				t.Errorf("no line matching %s:\n%s", tt.line, r.stdout)
			}
			if !strings.Contains(r.stdout, "fix: ") || !strings.Contains(r.stdout, tt.fix) {
				t.Errorf("no fix naming %q:\n%s", tt.fix, r.stdout)
			}
		})
	}
	t.Run("bad usage", func(t *testing.T) {
		t.Parallel()
		runHubCommand(t, t.TempDir(), "", []string{"doctor", "--role", "janitor"}).want(t, "doctor", 2, "unknown role")
	})
}

// TestDoctorOnPostgresAndRedis runs `hub doctor` for a fleet's hosts on
// PostgreSQL and Redis: healthy once migrated (the clock compared with the
// server's), pending migrations before, a newer database refused.
func TestDoctorOnPostgresAndRedis(t *testing.T) {
	t.Parallel()
	db := hubtest.DatabaseConfig(t, config.Postgres)
	client, _ := hubtest.Redis(t)
	env := []string{"ENVIRONMENT=test", "DATABASE_URL=" + db.DSN, "REDIS_URL=redis://" + client.Options().Addr + "/0",
		"SECRET_KEY=" + strings.Repeat("k", 40), "ARTIFACTS_ROOT=" + t.TempDir()}
	dir := t.TempDir()
	r := runHubCommand(t, dir, "", []string{"doctor", "--role", "serve"}, env...)
	r.want(t, "doctor before migrate", 0)
	if !doctorLine("WARN", "migrations", "pending").MatchString(r.stdout) {
		t.Errorf("before migrate:\n%s", r.stdout)
	}
	runHubCommand(t, dir, "", []string{"migrate"}, env...).want(t, "migrate", 0)
	for _, role := range []string{"serve", "worker", "cleanup", "all"} {
		r = runHubCommand(t, dir, "", []string{"doctor", "--role", role}, env...)
		r.want(t, "doctor --role "+role, 0)
		for _, l := range [][3]string{{"OK", "database", "PostgreSQL"}, {"OK", "migrations", "the latest"}, {"OK", "clock", "the database (round trip"}} {
			if !doctorLine(l[0], l[1], l[2]).MatchString(r.stdout) {
				t.Errorf("role %s: no %s %s line with %q:\n%s", role, l[0], l[1], l[2], r.stdout)
			}
		}
		if hasRedis := doctorLine("OK", "redis", "answers").MatchString(r.stdout); hasRedis != (role != "cleanup") {
			t.Errorf("role %s: redis checked = %v:\n%s", role, hasRedis, r.stdout)
		}
		if strings.Contains(r.stdout, "python") != (role == "worker" || role == "all") {
			t.Errorf("role %s: python checked wrongly:\n%s", role, r.stdout)
		}
	}
	editSchemaVersions(t, db, fakeNewerVersion)
	runHubCommand(t, dir, "", []string{"doctor"}, env...).want(t, "doctor on a newer database", 1)
}
