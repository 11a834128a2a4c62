package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"automationhub/internal/agent"
	"automationhub/internal/agents"
	"automationhub/internal/archive"
	"automationhub/internal/executor"
	"automationhub/internal/sandbox"
)

// agentFlags are the settings of `hub agent`; each also comes from a HUB_*
// variable (the flag wins). The agent reads no database or Redis settings.
type agentFlags struct {
	server, token, labels, dataDir, python, logLevel string
	concurrency                                      int
	spoolMaxBytes, maxArtifactBytes                  int64
	shutdownSeconds                                  int
	service                                          bool
}

func envOr(environ []string, name, def string) string {
	for i := len(environ) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(environ[i], "="); ok && k == name {
			return v
		}
	}
	return def
}

func envInt(environ []string, name string, def int64) int64 {
	if v := envOr(environ, name, ""); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return n
		}
	}
	return def
}

func defaultAgentDir() string {
	if runtime.GOOS == "windows" {
		if pd := os.Getenv("ProgramData"); pd != "" {
			return filepath.Join(pd, "AutomationHub", "agent")
		}
	}
	if dir, err := os.UserConfigDir(); err == nil && os.Geteuid() != 0 {
		return filepath.Join(dir, "automationhub-agent")
	}
	return "/var/lib/automationhub-agent"
}

func parseAgentFlags(name string, args, environ []string, stderr io.Writer) (*agentFlags, bool, int) {
	f := &agentFlags{}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.server, "server", envOr(environ, "HUB_SERVER", ""), "the hub's URL, https://hub.example ($HUB_SERVER)")
	fs.StringVar(&f.token, "token", envOr(environ, "HUB_AGENT_TOKEN", ""), "an enrolment token, needed once ($HUB_AGENT_TOKEN)")
	fs.StringVar(&f.labels, "labels", envOr(environ, "HUB_AGENT_LABELS", ""), "labels, comma-separated: desktop,sap,region=eu ($HUB_AGENT_LABELS)")
	fs.StringVar(&f.dataDir, "data-dir", envOr(environ, "HUB_AGENT_DATA_DIR", defaultAgentDir()), "the agent's folder: credential, spool, cache, runs ($HUB_AGENT_DATA_DIR)")
	fs.IntVar(&f.concurrency, "concurrency", int(envInt(environ, "HUB_AGENT_CONCURRENCY", 1)), "runs at once ($HUB_AGENT_CONCURRENCY)")
	fs.Int64Var(&f.spoolMaxBytes, "spool-max-bytes", envInt(environ, "HUB_AGENT_SPOOL_MAX_BYTES", 256<<20), "log bytes one run may keep on disk while the hub is unreachable ($HUB_AGENT_SPOOL_MAX_BYTES)")
	fs.Int64Var(&f.maxArtifactBytes, "max-artifact-bytes", envInt(environ, "MAX_ARTIFACT_BYTES", 1<<30), "largest output file a run keeps ($MAX_ARTIFACT_BYTES)")
	fs.StringVar(&f.python, "python", envOr(environ, "PYTHON_EXECUTABLE", map[bool]string{true: "python", false: "python3"}[runtime.GOOS == "windows"]), "interpreter for PYTHON robots ($PYTHON_EXECUTABLE)")
	fs.IntVar(&f.shutdownSeconds, "shutdown-timeout", int(envInt(environ, "HUB_SHUTDOWN_TIMEOUT_SECONDS", 30)), "seconds running robots may finish when the agent stops")
	fs.StringVar(&f.logLevel, "log-level", envOr(environ, "HUB_LOG_LEVEL", "info"), "debug, info, warn or error")
	fs.BoolVar(&f.service, "service", false, "run under the Windows service control manager (set by hub agent install)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: hub agent --server URL --token TOKEN [--labels a,b=c] [--data-dir DIR] [--concurrency N]\n"+
			"       hub agent install --server URL --token TOKEN [flags]   (Windows: register and start a service)\n"+
			"       hub agent uninstall                                   (Windows: remove the service)\n\n"+
			"Runs robots for a hub it reaches over HTTPS only. The enrolment token (from an administrator,\n"+
			"POST /api/v1/agents/enrollment-tokens) is traded once for the agent's own credential, kept in\n"+
			"the data folder.\n\nFlags:")
		fs.PrintDefaults()
	}
	pos, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return nil, false, exitOK
	}
	if err != nil {
		return nil, false, exitUsage
	}
	if len(pos) > 0 {
		fmt.Fprintf(stderr, "%s: unexpected argument %q\n", name, pos[0])
		return nil, false, exitUsage
	}
	if f.server == "" {
		fmt.Fprintf(stderr, "%s: --server is required (the hub's URL)\n", name)
		return nil, false, exitUsage
	}
	if f.concurrency < 1 || f.concurrency > 256 {
		fmt.Fprintf(stderr, "%s: --concurrency must be from 1 to 256\n", name)
		return nil, false, exitUsage
	}
	for _, l := range splitLabels(f.labels) {
		if err := agents.CheckLabel(l); err != nil {
			fmt.Fprintf(stderr, "%s: --labels: %v\n", name, err)
			return nil, false, exitUsage
		}
	}
	if abs, err := filepath.Abs(f.dataDir); err == nil {
		f.dataDir = abs
	}
	return f, true, exitOK
}

func splitLabels(s string) []string {
	var out []string
	for _, l := range strings.Split(s, ",") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// runAgent is `hub agent`.
func runAgent(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && (args[0] == "install" || args[0] == "uninstall") {
		return agentService(ctx, args[0], args[1:], environ, stdout, stderr)
	}
	f, ok, code := parseAgentFlags("hub agent", args, environ, stderr)
	if !ok {
		return code
	}
	if f.service {
		return runAgentService(f, stderr)
	}
	if err := runAgentWith(ctx, f, stderr, nil); err != nil {
		fmt.Fprintf(stderr, "hub agent: %v\n", err)
		return exitFailed
	}
	return exitOK
}

// runAgentWith runs the agent of f until ctx ends.
func runAgentWith(ctx context.Context, f *agentFlags, logOut io.Writer, ready chan struct{}) error {
	var level slog.Level
	_ = level.UnmarshalText([]byte(f.logLevel))
	log := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: level}))
	o := agent.Options{
		Server: f.server, Token: f.token, DataDir: f.dataDir, Labels: splitLabels(f.labels), Concurrency: f.concurrency,
		Version: version, SpoolMaxBytes: f.spoolMaxBytes, MaxArtifactBytes: f.maxArtifactBytes,
		Limits:           archive.Limits{MaxFiles: 10000, MaxUnpackedBytes: 4 << 30},
		PythonExecutable: f.python, ShutdownTimeout: time.Duration(f.shutdownSeconds) * time.Second, Logger: log, Ready: ready,
	}
	if ok, why := sandbox.Available(); ok {
		launcher, err := executor.LauncherPath()
		if err != nil {
			return fmt.Errorf("find the hub binary to confine robots: %w", err)
		}
		// Robots never read the agent's credential, spool or cache.
		o.Sandbox = executor.Sandbox{Launcher: launcher, Hidden: []string{f.dataDir}}
		log.Info("robots are confined (Landlock): they may write only their own run folder", "sandbox", "landlock")
	} else if runtime.GOOS != "windows" {
		log.Warn("robots run unconfined: "+why, "sandbox", "none")
	}
	return agent.Run(ctx, o)
}
