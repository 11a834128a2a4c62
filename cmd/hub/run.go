package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, " ") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

// cliRun is the part of a run the command reads.
type cliRun struct {
	RunID        string  `json:"run_id"`
	Status       string  `json:"status"`
	ExitCode     *int    `json:"exit_code"`
	ErrorMessage *string `json:"error_message"`
}

func (r *cliRun) finished() bool {
	return r.Status == "SUCCESS" || r.Status == "FAILED" || r.Status == "CANCELED"
}

// exitCode is the command's exit code for a finished run: the robot's own
// (0 for SUCCESS), or 1 when it ended without one (timeout, lost worker,
// canceled, or it could not start).
func (r *cliRun) exitCode() int {
	switch {
	case r.Status == "SUCCESS":
		return exitOK
	case r.ExitCode != nil && *r.ExitCode != 0:
		return *r.ExitCode
	}
	return exitFailed
}

// runRun is `hub run`: queue a run of a robot, and with --wait or --follow
// stay until it ends and exit with its exit code.
func runRun(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("hub run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", "", "the hub's URL (default $HUB_SERVER)")
	token := fs.String("token", "", "an API token with robot.run (and run.read to wait or follow) (default $HUB_TOKEN)")
	var runArgs, envs stringList
	fs.Var(&runArgs, "arg", "an argument for the robot (repeat for more, in order)")
	fs.Var(&envs, "env", "KEY=VALUE for the run's environment, a variable the robot declares (repeat for more)")
	envName := fs.String("env-name", "PROD", "the environment: PROD, HML or TEST (selects the robot's configuration)")
	version := fs.String("version", "", "a version id to run (default: the active version)")
	timeout := fs.Int("timeout", 0, "timeout in seconds (default: the hub's)")
	wait := fs.Bool("wait", false, "wait until the run ends and exit with its exit code")
	follow := fs.Bool("follow", false, "print the run's log as it happens (the robot's stderr lines to stderr) and exit with its exit code")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: hub run --server URL --token T ROBOT [--arg A]... [--env K=V]... [--wait|--follow]\n\n"+
			"Runs a robot (its name or id) on the hub. Without --wait or --follow it prints the run's id once queued.\n"+
			"With them it exits with the robot's exit code (1 when the run ended without one: timeout, canceled, lost).\n"+
			"Ctrl-C stops waiting; the run goes on.\n\nFlags:")
		fs.PrintDefaults()
	}
	pos, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "hub run: "+format+"\n", a...)
		return exitUsage
	}
	if len(pos) != 1 {
		return usageErr("give exactly one robot, by name or id (see hub run --help)")
	}
	runtimeEnv := map[string]string{}
	for _, kv := range envs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return usageErr("--env %q is not KEY=VALUE", kv)
		}
		runtimeEnv[k] = v
	}
	c, err := newAPIClient(*server, *token, environ)
	if err != nil {
		return usageErr("%v", err)
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "hub run: %v\n", err)
		return exitFailed
	}
	robot, err := c.findRobot(ctx, pos[0])
	if err != nil {
		return fail(err)
	}
	body := map[string]any{"runtime_arguments": append([]string{}, runArgs...), "runtime_env": runtimeEnv, "env_name": *envName}
	if *version != "" {
		body["version_id"] = *version
	}
	if *timeout > 0 {
		body["timeout_seconds"] = *timeout
	}
	var run cliRun
	if err := c.postJSON(ctx, "/runs/"+robot.ID+"/execute", body, &run); err != nil {
		return fail(fmt.Errorf("run %s: %w", robot.Name, err))
	}
	fmt.Fprintf(stderr, "run %s of %s queued\n", run.RunID, robot.Name)
	if !*wait && !*follow {
		fmt.Fprintln(stdout, run.RunID)
		return exitOK
	}
	var final *cliRun
	if *follow {
		final, err = c.follow(ctx, run.RunID, stdout, stderr)
	} else {
		final, err = c.waitRun(ctx, run.RunID)
	}
	if ctx.Err() != nil {
		fmt.Fprintf(stderr, "stopped waiting for run %s; it goes on\n", run.RunID)
		return exitFailed
	}
	if err != nil {
		return fail(err)
	}
	msg := ""
	if final.ErrorMessage != nil {
		msg = ": " + *final.ErrorMessage
	}
	fmt.Fprintf(stderr, "run %s %s%s\n", final.RunID, final.Status, msg)
	return final.exitCode()
}

// waitRun polls a run until it has ended.
func (c *apiClient) waitRun(ctx context.Context, runID string) (*cliRun, error) {
	delay := 200 * time.Millisecond
	for {
		var r cliRun
		if err := c.getJSON(ctx, "/runs/"+runID, &r); err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.Status < 500 {
				return nil, err
			}
			// The hub is restarting: keep asking.
		} else if r.finished() {
			return &r, nil
		}
		if !sleepCtx(ctx, delay) {
			return nil, ctx.Err()
		}
		delay = min(2*delay, 2*time.Second)
	}
}

// logFrame is one frame of the live log WebSocket: a line (seq > 0) or the
// final status frame.
type logFrame struct {
	Type    string `json:"type"`
	Seq     int64  `json:"seq"`
	Level   string `json:"level"`
	Message string `json:"message"`
	Status  string `json:"status"`
	LastSeq int64  `json:"last_seq"`
}

// follow prints a run's log from its first line over the live log
// WebSocket (the token travels as a subprotocol, not in the URL), resuming
// after the last line seen when the connection drops, until the run ends.
func (c *apiClient) follow(ctx context.Context, runID string, stdout, stderr io.Writer) (*cliRun, error) {
	last := int64(0)
	failures := 0
	for {
		ended, err := c.followOnce(ctx, runID, &last, stdout, stderr)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err == nil && ended {
			// Lines the stream may not have carried (a slow start) are in
			// the stored log.
			if err := c.printStoredLog(ctx, runID, &last, stdout, stderr); err != nil {
				return nil, err
			}
			return c.waitRun(ctx, runID)
		}
		var ce websocket.CloseError
		if errors.As(err, &ce) && ce.Code >= 4400 && ce.Code < 4500 {
			return nil, fmt.Errorf("the hub refused the live log (%d): %s", ce.Code, ce.Reason)
		}
		failures++
		if failures > 30 {
			return nil, fmt.Errorf("following the log kept failing: %w", err)
		}
		// A dropped connection (the hub restarting, a proxy timeout):
		// the run may have ended meanwhile.
		var r cliRun
		if c.getJSON(ctx, "/runs/"+runID, &r) == nil && r.finished() {
			if err := c.printStoredLog(ctx, runID, &last, stdout, stderr); err != nil {
				return nil, err
			}
			return &r, nil
		}
		if !sleepCtx(ctx, time.Duration(min(failures, 5))*time.Second) {
			return nil, ctx.Err()
		}
	}
}

// followOnce reads one WebSocket connection; ended is true after the status
// frame.
func (c *apiClient) followOnce(ctx context.Context, runID string, last *int64, stdout, stderr io.Writer) (ended bool, err error) {
	u := *c.base
	u.Scheme = map[string]string{"http": "ws", "https": "wss"}[u.Scheme]
	u.Path += "/ws/runs/" + url.PathEscape(runID) + "/logs"
	u.RawQuery = "after_seq=" + strconv.FormatInt(*last, 10)
	conn, _, err := websocket.Dial(ctx, u.String(), &websocket.DialOptions{Subprotocols: []string{"bearer", c.token}, HTTPClient: c.http})
	if err != nil {
		return false, err
	}
	defer conn.CloseNow()
	conn.SetReadLimit(1 << 20)
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			if websocket.CloseStatus(err) == websocket.StatusNormalClosure {
				return true, nil
			}
			return false, err
		}
		var f logFrame
		if err := json.Unmarshal(data, &f); err != nil {
			continue
		}
		if f.Type == "status" {
			return true, nil
		}
		if f.Seq > *last {
			*last = f.Seq
			printLine(f.Level, f.Message, stdout, stderr)
		}
	}
}

// printStoredLog prints the stored lines after *last.
func (c *apiClient) printStoredLog(ctx context.Context, runID string, last *int64, stdout, stderr io.Writer) error {
	for {
		var lines []logFrame
		if err := c.getJSON(ctx, "/runs/"+runID+"/logs?limit=5000&after_seq="+strconv.FormatInt(*last, 10), &lines); err != nil {
			return err
		}
		for _, l := range lines {
			if l.Seq > *last {
				*last = l.Seq
				printLine(l.Level, l.Message, stdout, stderr)
			}
		}
		if len(lines) < 5000 {
			return nil
		}
	}
}

// printLine writes one log line: ERROR lines (the robot's stderr, failures)
// to stderr, the others to stdout.
func printLine(level, msg string, stdout, stderr io.Writer) {
	if level == "ERROR" {
		fmt.Fprintln(stderr, msg)
		return
	}
	fmt.Fprintln(stdout, msg)
}
