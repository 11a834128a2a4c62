// Command hub is Automation Hub: a registry of automation robots, a queue and
// workers that run them with live logs, and a self-service portal. One binary
// plays every role; `hub` alone runs them all in one process on an embedded
// SQLite database.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/redis/go-redis/v9"

	"automationhub/internal/buildinfo"
	"automationhub/internal/hub"
	"automationhub/internal/sandbox"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	// The worker starting a confined robot through this binary.
	sandbox.RunIfLauncher()
	if err := hardenProcess(); err != nil {
		fmt.Fprintf(os.Stderr, "hub: could not make the process non-dumpable (robots running as this user could read its settings): %v\n", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2 // bad command line or configuration
)

var commands = []struct{ name, help string }{
	{"all", "API + worker + cleanup in one process (the default; --labels a,b=c: the worker's labels)"},
	{"serve", "the HTTP API (applies migrations first)"},
	{"agent", "a remote agent: runs robots for a hub it reaches over HTTPS only (hub agent --server URL --token T; install|uninstall a Windows service)"},
	{"worker", "a worker that runs robots (--labels a,b=c: its labels, see HUB_WORKER_LABELS)"},
	{"cleanup", "the retention worker (--once: one pass and exit; --dry-run: only report what would go)"},
	{"migrate", "apply database migrations and exit (--status: show the schema version and pending migrations)"},
	{"user", "manage users on the database directly: create, list, set-password, set-role, activate, deactivate"},
	{"backup", "copy the database (SQLite) and the artifact folder into one archive while the hub runs (--out FILE)"},
	{"restore", "restore a backup archive into an empty data folder (hub restore FILE [--force])"},
	{"secrets", "robot configuration keys: keygen (a new ENCRYPTION_KEY), status, rotate (re-encrypt under ENCRYPTION_KEY)"},
	{"publish", "publish a robot package to a hub from CI or a terminal (hub publish --robot NAME --version V robot.zip)"},
	{"run", "run a robot on a hub and follow its log to its exit code (hub run ROBOT [--follow])"},
	{"doctor", "check settings, database, Redis, data folder, Python, disk, clock and sandbox; print fixes"},
	{"package", "build a robot package from a folder and check it as publish does (hub package DIR [-o FILE])"},
	{"dev", "development tools: hub dev seed fills the database with demo runs (see hub dev seed --help)"},
	{"version", "print the version and exit"},
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "Automation Hub %s\n\nUsage: hub [command]\n\nCommands:\n", version)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.help)
	}
	fmt.Fprintf(w, "\nSettings are read from environment variables and from a .env file in the\n"+
		"working directory (the environment wins). Name, default, meaning:\n")
	writeSettingsHelp(w)
}

// redisLog adapts the Redis client's logger to slog.
type redisLog struct{ log *slog.Logger }

// Printf implements the Redis client's logging interface.
func (r redisLog) Printf(ctx context.Context, format string, v ...any) {
	r.log.DebugContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	cmd := "all"
	if len(args) > 0 {
		cmd = args[0]
		args = args[1:]
	}
	switch cmd {
	case "-h", "--help", "help":
		usage(stdout)
		return exitOK
	case "version", "--version":
		fmt.Fprintf(stdout, "hub %s\n", buildinfo.Read(version))
		return exitOK
	case "package":
		return runPackage(args, environ, stdout, stderr)
	case "dev":
		return runDev(ctx, args, environ, stdout, stderr)
	case "user":
		return runUser(ctx, args, environ, os.Stdin, stdout, stderr)
	case "backup":
		return runBackup(ctx, args, environ, stdout, stderr)
	case "restore":
		return runRestore(ctx, args, environ, stdout, stderr)
	case "doctor":
		return runDoctor(ctx, args, environ, stdout, stderr)
	case "secrets":
		return runSecrets(ctx, args, environ, stdout, stderr)
	case "publish":
		return runPublish(ctx, args, environ, stdout, stderr)
	case "run":
		return runRun(ctx, args, environ, stdout, stderr)
	case "agent":
		return runAgent(ctx, args, environ, stdout, stderr)
	case "all", "serve", "worker", "cleanup", "migrate":
	default:
		fmt.Fprintf(stderr, "hub: unknown command %q (see hub --help)\n", cmd)
		return exitUsage
	}
	var once, dryRun, status bool
	var labels *string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case (cmd == "worker" || cmd == "all") && a == "--labels" && i+1 < len(args):
			i++
			labels = &args[i]
		case (cmd == "worker" || cmd == "all") && strings.HasPrefix(a, "--labels="):
			v := strings.TrimPrefix(a, "--labels=")
			labels = &v
		case a == "-h" || a == "--help":
			usage(stdout)
			return exitOK
		case cmd == "cleanup" && a == "--once":
			once = true
		case cmd == "cleanup" && a == "--dry-run":
			once, dryRun = true, true
		case cmd == "migrate" && a == "--status":
			status = true
		default:
			fmt.Fprintf(stderr, "hub %s: unexpected argument %q (see hub --help)\n", cmd, a)
			return exitUsage
		}
	}
	if status {
		return runMigrateStatus(ctx, environ, stdout, stderr)
	}

	cfg, warnings, err := loadConfig(environ, ".env")
	if err != nil {
		fmt.Fprintf(stderr, "hub: %v\n", err)
		return exitUsage
	}
	if labels != nil {
		// --labels wins over HUB_WORKER_LABELS.
		if _, err := hub.ParseLabels(*labels); err != nil {
			fmt.Fprintf(stderr, "hub %s: --labels: %s\n", cmd, hub.ErrorMessage(err))
			return exitUsage
		}
		cfg.WorkerLabels = *labels
	}
	log := newLogger(cfg, stderr)
	// The Redis client's own messages (every failed dial) go to DEBUG: the hub
	// reports Redis trouble itself (/readyz, bus back-off warnings).
	redis.SetLogger(redisLog{log})
	for _, w := range warnings {
		log.Warn(w)
	}

	m := &Main{Config: cfg, Logger: log, Version: version, Stdout: stdout, CleanupOnce: once, DryRun: dryRun}
	err = m.Run(ctx, cmd)
	if cerr := m.Close(); cerr != nil && err == nil {
		err = cerr
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		log.Error("hub stopped with an error", "error", err.Error())
		return exitFailed
	}
	return exitOK
}
