package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"automationhub/internal/config"
	"automationhub/internal/sandbox"
	"automationhub/internal/sqlstore"
)

const doctorUsage = `Usage: hub doctor [--role all|serve|worker|cleanup] [--strict]

Checks what the hub needs on this host, reading the settings as the other
commands do: the settings themselves, the database (reachable, migration
level), Redis, the data and artifact folders (exist, writable, not readable by
other users), Python, free disk, the clock against the database's, and the
robot sandbox. Each check prints OK, WARN or FAIL, and each problem its fix.
--role limits the checks to what that role needs (default all: everything
hub all needs). It changes nothing.

Exit codes: 0 healthy (no FAIL; warnings are allowed, unless --strict), 1 a
check failed (or warned, with --strict), 2 bad usage.
`

// Doctor thresholds.
const (
	doctorTimeout   = 5 * time.Second
	diskFailBytes   = 256 << 20 // below this much free disk, FAIL
	diskWarnBytes   = 2 << 30   // below this much, WARN
	diskWarnPercent = 5         // or below this share of the disk, WARN
	clockWarn       = 2 * time.Second
)

// Check outcomes.
const (
	checkOK   = "OK"
	checkWarn = "WARN"
	checkFail = "FAIL"
)

// checkResult is one line of the doctor's report.
type checkResult struct {
	status, name, detail, fix string
}

// doctor collects the results of one run.
type doctor struct {
	ctx     context.Context
	role    string
	results []checkResult
}

func (d *doctor) add(status, name, detail, fix string) {
	d.results = append(d.results, checkResult{status: status, name: name, detail: detail, fix: fix})
}

// needs reports whether the chosen role includes any of roles.
func (d *doctor) needs(roles ...string) bool {
	for _, r := range roles {
		if d.role == r || d.role == "all" {
			return true
		}
	}
	return false
}

// runDoctor is `hub doctor`.
func runDoctor(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("hub doctor", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	role := fs.String("role", "all", "")
	strict := fs.Bool("strict", false, "")
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, doctorUsage)
		return exitOK
	}
	if err != nil || len(pos) > 0 {
		fmt.Fprintf(stderr, "hub doctor: bad usage (%v)\n\n%s", err, doctorUsage)
		return exitUsage
	}
	switch *role {
	case "all", "serve", "worker", "cleanup":
	default:
		fmt.Fprintf(stderr, "hub doctor: unknown role %q: use all, serve, worker or cleanup\n", *role)
		return exitUsage
	}
	d := &doctor{ctx: ctx, role: *role}
	d.run(environ)

	fmt.Fprintf(stdout, "hub doctor (hub %s, role %s)\n", version, *role)
	counts := map[string]int{}
	for _, r := range d.results {
		counts[r.status]++
		fmt.Fprintf(stdout, "%-4s  %-15s %s\n", r.status, r.name, r.detail)
		if r.fix != "" && r.status != checkOK {
			fmt.Fprintf(stdout, "      %-15s fix: %s\n", "", r.fix)
		}
	}
	healthy := counts[checkFail] == 0 && (!*strict || counts[checkWarn] == 0)
	verdict := "healthy"
	if !healthy {
		verdict = "NOT healthy"
	}
	note := " (warnings do not fail; --strict makes them)"
	if *strict {
		note = " (--strict: warnings fail)"
	}
	fmt.Fprintf(stdout, "%d OK, %d WARN, %d FAIL: %s%s\n", counts[checkOK], counts[checkWarn], counts[checkFail], verdict, note)
	if !healthy {
		return exitFailed
	}
	return exitOK
}

// run performs every check the role needs, in order; a check that cannot
// run because an earlier one failed is left out.
func (d *doctor) run(environ []string) {
	cfg, warnings, err := loadConfig(environ, ".env")
	if err != nil {
		d.add(checkFail, "settings", err.Error(), "correct that setting in the environment or .env (`hub --help` lists every setting with its default)")
		return
	}
	d.add(checkOK, "settings", fmt.Sprintf("valid (ENVIRONMENT=%s)", cfg.Environment), "")
	for _, w := range warnings {
		d.add(checkWarn, "settings", w, "remove the unknown names, or correct their spelling")
	}
	if cfg.SecretKey == "" && cfg.Database().Dialect == config.Postgres && d.needs("serve") {
		d.add(checkWarn, "settings", "SECRET_KEY is empty: each API server generates its own key, so tokens signed by one are refused by the others",
			"set the same strong SECRET_KEY on every API server (e.g. openssl rand -base64 48)")
	}
	db := d.checkDatabase(cfg)
	if db != nil {
		defer db.Close()
		d.checkMigrations(db)
		d.checkClock(cfg, db)
	}
	if d.needs("serve", "worker") {
		d.checkRedis(cfg)
	}
	d.checkFolder("data folder", cfg.DataDir, true)
	d.checkFolder("artifact folder", cfg.ArtifactsRoot, false)
	d.checkDisk(cfg)
	if d.needs("worker") {
		d.checkPython(cfg)
		d.checkSandbox(cfg)
	}
}

// checkDatabase opens the database without creating it; nil when it cannot
// be used.
func (d *doctor) checkDatabase(cfg config.Config) *sqlstore.DB {
	dbc := cfg.Database()
	label := databaseLabel(dbc)
	if dbc.Dialect == config.SQLite {
		if _, err := os.Stat(dbc.DSN); errors.Is(err, fs.ErrNotExist) {
			d.add(checkWarn, "database", label+" does not exist yet", "start the hub (`hub`, `hub serve`) or run `hub migrate` to create it")
			return nil
		}
	}
	ctx, cancel := context.WithTimeout(d.ctx, doctorTimeout)
	defer cancel()
	start := time.Now()
	db, err := sqlstore.Open(ctx, dbc, sqlstore.Options{MaxOpenConns: 2})
	if err != nil {
		fix := "check DATABASE_URL, that the server runs, and that it accepts this host and these credentials"
		if dbc.Dialect == config.SQLite {
			fix = "check that the file is a hub database and that this user may read and write it and its folder"
		}
		d.add(checkFail, "database", fmt.Sprintf("%s: %v", label, err), fix)
		return nil
	}
	d.add(checkOK, "database", fmt.Sprintf("%s answers (%s)", label, time.Since(start).Round(time.Millisecond)), "")
	return db
}

func (d *doctor) checkMigrations(db *sqlstore.DB) {
	st, err := db.MigrationStatus(d.ctx)
	switch {
	case err != nil:
		d.add(checkFail, "migrations", err.Error(), "check that DATABASE_URL names the hub's database")
	case st.TooNew():
		d.add(checkFail, "migrations", fmt.Sprintf("schema version %d is newer than this binary knows (%d): a newer hub migrated it", st.Current, st.Latest),
			"run the newer hub version here too (every process of a fleet runs the same version), or restore a backup taken before the upgrade")
	case len(st.Pending) > 0:
		names := make([]string, len(st.Pending))
		for i, m := range st.Pending {
			names[i] = m.Name
		}
		d.add(checkWarn, "migrations", fmt.Sprintf("schema version %d of %d: %d pending (%s)", st.Current, st.Latest, len(st.Pending), strings.Join(names, ", ")),
			"run `hub migrate` (hub serve and hub all apply them at start; hub worker and hub cleanup need them applied)")
	default:
		d.add(checkOK, "migrations", fmt.Sprintf("schema version %d, the latest this binary knows", st.Current), "")
	}
}

// checkClock compares the database server's clock with this host's: hosts
// of a fleet compare run leases written by one another. On SQLite the
// database is this host, so there is nothing to compare.
func (d *doctor) checkClock(cfg config.Config, db *sqlstore.DB) {
	if db.Dialect() != config.Postgres {
		d.add(checkOK, "clock", "SQLite: the database uses this host's clock", "")
		return
	}
	ctx, cancel := context.WithTimeout(d.ctx, doctorTimeout)
	defer cancel()
	before := time.Now()
	var server time.Time
	if err := db.SQL().QueryRowContext(ctx, `SELECT clock_timestamp()`).Scan(&server); err != nil {
		d.add(checkFail, "clock", fmt.Sprintf("read the database's clock: %v", err), "check the database connection")
		return
	}
	after := time.Now()
	rtt := after.Sub(before)
	skew := server.Sub(before.Add(rtt / 2))
	abs := max(skew, -skew)
	failAt := time.Duration(cfg.WorkerStaleSeconds) * time.Second / 2
	detail := fmt.Sprintf("this host is %s %s the database (round trip %s)", abs.Round(time.Microsecond),
		map[bool]string{true: "behind", false: "ahead of"}[skew > 0], rtt.Round(time.Microsecond))
	fix := "synchronise the clocks (NTP: chrony or systemd-timesyncd) of this host and the database server"
	switch {
	case abs >= failAt:
		d.add(checkFail, "clock", detail+fmt.Sprintf("; at half of WORKER_STALE_SECONDS (%s) or more, runs are failed as 'worker lost' or kept too long", failAt), fix)
	case abs >= clockWarn:
		d.add(checkWarn, "clock", detail, fix)
	default:
		d.add(checkOK, "clock", detail, "")
	}
}

func (d *doctor) checkRedis(cfg config.Config) {
	if cfg.RedisURL == "" {
		switch {
		case d.role == "worker":
			d.add(checkFail, "redis", "REDIS_URL is empty: hub worker receives runs only through Redis", "set REDIS_URL to the Redis the API servers use")
		case d.role == "serve":
			d.add(checkWarn, "redis", "REDIS_URL is empty: runs queued by this API run only on a worker in the same process", "set REDIS_URL, or run `hub all`")
		default:
			d.add(checkOK, "redis", "not configured: queue and live logs stay in this process (single node)", "")
		}
		return
	}
	opts, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		d.add(checkFail, "redis", fmt.Sprintf("REDIS_URL: %v", err), "correct REDIS_URL (redis://host:6379/0)")
		return
	}
	opts.MaxRetries = -1
	client := redis.NewClient(opts)
	defer client.Close()
	ctx, cancel := context.WithTimeout(d.ctx, doctorTimeout)
	defer cancel()
	start := time.Now()
	if err := client.Ping(ctx).Err(); err != nil {
		d.add(checkFail, "redis", fmt.Sprintf("%s: %v", opts.Addr, err), "check REDIS_URL, that Redis runs and accepts this host (and its password)")
		return
	}
	d.add(checkOK, "redis", fmt.Sprintf("%s answers (%s)", opts.Addr, time.Since(start).Round(time.Millisecond)), "")
}

// checkFolder checks that a folder exists (or can be created), is a folder,
// is writable, and (on Unix) is not readable by other users; for the data
// folder also the database and key files in it.
func (d *doctor) checkFolder(name, dir string, data bool) {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		d.add(checkWarn, name, dir+" does not exist yet", "start the hub once (it creates it), or create it for the user the hub runs as (mode 750)")
		return
	case err != nil:
		d.add(checkFail, name, err.Error(), "make it reachable by the user the hub runs as")
		return
	case !fi.IsDir():
		d.add(checkFail, name, dir+" is not a folder", "point "+map[bool]string{true: "HUB_DATA_DIR", false: "ARTIFACTS_ROOT"}[data]+" at a folder")
		return
	}
	f, err := os.CreateTemp(dir, ".hub-doctor-*")
	if err != nil {
		d.add(checkFail, name, fmt.Sprintf("%s is not writable: %v", dir, err), "give the user the hub runs as write access to it (and a file system mounted read-write)")
		return
	}
	f.Close()
	os.Remove(f.Name())
	if runtime.GOOS != "windows" {
		// Other users may list the folder (r) or reach files in it by
		// name (x); files matter only when the folder lets them through.
		var open []string
		if fi.Mode().Perm()&0o005 != 0 {
			open = append(open, fmt.Sprintf("%s (%s)", dir, fi.Mode().Perm()))
		}
		if data && fi.Mode().Perm()&0o001 != 0 {
			for _, f := range []string{"hub.db", "secret_key"} {
				if fi, err := os.Stat(filepath.Join(dir, f)); err == nil && fi.Mode().Perm()&0o004 != 0 {
					open = append(open, fmt.Sprintf("%s (%s)", filepath.Join(dir, f), fi.Mode().Perm()))
				}
			}
		}
		if len(open) > 0 {
			d.add(checkWarn, name, "other users of this host may read it: "+strings.Join(open, ", "),
				fmt.Sprintf("chmod o-rwx %s", dir))
			return
		}
	}
	d.add(checkOK, name, dir+" is writable", "")
}

func (d *doctor) checkDisk(cfg config.Config) {
	seen := map[string]bool{}
	for _, dir := range []string{cfg.DataDir, cfg.ArtifactsRoot} {
		probe := dir
		for { // the nearest existing folder
			if _, err := os.Stat(probe); err == nil || filepath.Dir(probe) == probe {
				break
			}
			probe = filepath.Dir(probe)
		}
		free, total, err := diskSpace(probe)
		if err != nil {
			d.add(checkWarn, "disk", fmt.Sprintf("free space of %s unknown: %v", dir, err), "")
			continue
		}
		key := fmt.Sprint(free, total)
		if seen[key] {
			continue // the same file system
		}
		seen[key] = true
		detail := fmt.Sprintf("%s free of %s on %s", humanBytes(free), humanBytes(total), dir)
		fix := "free space (`hub cleanup --dry-run` shows what retention would remove; lower LOG_RETENTION_DAYS / ARTIFACT_RETENTION_DAYS) or grow the disk"
		switch {
		case free < diskFailBytes:
			d.add(checkFail, "disk", detail, fix)
		case free < diskWarnBytes || total > 0 && free*100/total < diskWarnPercent:
			d.add(checkWarn, "disk", detail, fix)
		default:
			d.add(checkOK, "disk", detail, "")
		}
	}
}

var pythonVersion = regexp.MustCompile(`Python (\d+)\.(\d+)(\.\d+)?`)

func (d *doctor) checkPython(cfg config.Config) {
	fix := "install Python 3, or set PYTHON_EXECUTABLE to its path (only PYTHON robots need it)"
	path, err := exec.LookPath(cfg.PythonExecutable)
	if err != nil {
		d.add(checkFail, "python", fmt.Sprintf("%q not found: %v", cfg.PythonExecutable, err), fix)
		return
	}
	ctx, cancel := context.WithTimeout(d.ctx, doctorTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "--version").CombinedOutput()
	m := pythonVersion.FindStringSubmatch(string(out))
	switch {
	case err != nil:
		d.add(checkFail, "python", fmt.Sprintf("%s --version: %v %s", path, err, strings.TrimSpace(string(out))), fix)
	case m == nil:
		d.add(checkFail, "python", fmt.Sprintf("%s --version answered %q", path, strings.TrimSpace(string(out))), fix)
	case m[1] != "3":
		d.add(checkFail, "python", fmt.Sprintf("%s is Python %s.%s; robots need Python 3", path, m[1], m[2]), fix)
	default:
		d.add(checkOK, "python", fmt.Sprintf("%s (%s)", path, m[0]), "")
	}
}

func (d *doctor) checkSandbox(cfg config.Config) {
	ok, why := sandbox.Available()
	switch {
	case cfg.RobotSandbox == "off":
		d.add(checkWarn, "sandbox", "ROBOT_SANDBOX=off: robots run unconfined and can read what the worker's user can", "set ROBOT_SANDBOX=auto or required")
	case ok:
		d.add(checkOK, "sandbox", fmt.Sprintf("robots are confined (Landlock; ROBOT_SANDBOX=%s)", cfg.RobotSandbox), "")
	case cfg.RobotSandbox == "required":
		d.add(checkFail, "sandbox", "ROBOT_SANDBOX=required but "+why+": every run will fail", "run workers on Linux 5.13 or newer with Landlock enabled (lsm=landlock), or set ROBOT_SANDBOX=auto")
	default:
		d.add(checkWarn, "sandbox", "robots run unconfined: "+why, "run workers on Linux 5.13 or newer with Landlock enabled (lsm=landlock); ROBOT_SANDBOX=required then refuses to run robots unconfined")
	}
}

// humanBytes formats a byte count with a binary unit.
func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
