package main

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"automationhub/internal/config"
	"automationhub/internal/hubtest"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

// hubBinary builds the hub once per test binary and returns its path.
func hubBinary(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "hub-bin-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "hub")
		if out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); err != nil {
			binErr = &buildError{err: err, out: string(out)}
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return "go build: " + e.err.Error() + "\n" + e.out }

// hubProcess is the hub binary running in a folder of its own.
type hubProcess struct {
	cmd    *exec.Cmd
	URL    string // http://host:port
	stdout *lockedBuffer
	stderr *lockedBuffer
	done   chan error
}

// startHubProcess starts `hub` (the default role) in dir and waits for its
// "running at" line; see runHubProcess.
func startHubProcess(t testing.TB, dir string, extra ...string) *hubProcess {
	t.Helper()
	p := runHubProcess(t, dir, nil, extra...)
	p.URL = p.waitFor(t, "running at ")
	return p
}

// runHubProcess starts the binary with args in dir, with only PATH and HOME
// from the test's environment plus extra, as a newcomer's shell would.
func runHubProcess(t testing.TB, dir string, args []string, extra ...string) *hubProcess {
	t.Helper()
	cmd := exec.Command(hubBinary(t), args...)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}, extra...)
	p := &hubProcess{cmd: cmd, stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return p
}

// waitFor waits until stdout or stderr holds a line containing marker and
// returns the first word after it.
func (p *hubProcess) waitFor(t testing.TB, marker string) string {
	t.Helper()
	deadline := readyDeadline(t)
	for {
		for _, out := range []string{p.stdout.String(), p.stderr.String()} {
			for _, line := range strings.Split(out, "\n") {
				if _, rest, ok := strings.Cut(line, marker); ok {
					if f := strings.Fields(rest); len(f) > 0 {
						return f[0]
					}
					return ""
				}
			}
		}
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("%v exited (%v) before printing %q; stderr:\n%s", p.cmd.Args, err, marker, p.stderr.String())
		case <-deadline:
			t.Fatalf("%v did not print %q; stderr:\n%s", p.cmd.Args, marker, p.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (p *hubProcess) stop(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v; stderr:\n%s", err, p.stderr.String())
		}
		if !strings.Contains(p.stderr.String(), `"msg":"stopped"`) {
			t.Errorf("no JSON 'stopped' log line; stderr:\n%s", p.stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("hub did not exit within 60s of SIGTERM; stderr:\n%s", p.stderr.String())
	}
}

var adminPasswordLine = regexp.MustCompile(`First administrator created: user "admin", password (\S+)`)

// TestQuickStartRunsAPythonRobot starts the hub exactly as the README's
// quick start does — in an empty folder, no HUB_DATA_DIR, no
// PYTHON_EXECUTABLE, so the data folder is the relative ./data — signs in
// with the printed password and runs a Python robot to SUCCESS. Then it
// stops the hub with SIGTERM and starts it again on the same folder: the
// worker must be RUNNING again everywhere the hub reports it, and robots
// must still run.
func TestQuickStartRunsAPythonRobot(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("signals differ on Windows")
	}
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not installed")
	}
	t.Parallel()
	dir := t.TempDir()
	// HUB_ADDR only so parallel tests don't fight over :8000.
	hub := startHubProcess(t, dir, "HUB_ADDR=127.0.0.1:0")
	m := adminPasswordLine.FindStringSubmatch(hub.stdout.String())
	if m == nil {
		t.Fatalf("no generated admin password on stdout:\n%s", hub.stdout.String())
	}
	password := m[1]
	c := login(t, hub.URL+"/api/v1", "admin", password)
	robot := c.publishRobot("hello-python", "PYTHON", "main.py", map[string]string{
		"main.py":   "import helper\nprint('hi from ' + helper.NAME)\n",
		"helper.py": "NAME = 'python'\n",
	})
	runOnce := func(label string) {
		t.Helper()
		var run runView
		if code := c.call("POST", "/runs/"+robot+"/execute", "application/json", strings.NewReader(`{}`), &run); code != 202 {
			t.Fatalf("%s: execute = %d, want 202", label, code)
		}
		run = c.waitRun(run.RunID, 60*time.Second)
		msgs := c.logMessages(run.RunID)
		if run.Status != "SUCCESS" {
			t.Fatalf("%s: run = %s (%v), want SUCCESS; log:\n%s", label, run.Status, deref(run.ErrorMessage), strings.Join(msgs, "\n"))
		}
		if !containsLine(msgs, "hi from python") {
			t.Errorf("%s: log lacks the robot's line:\n%s", label, strings.Join(msgs, "\n"))
		}
	}
	runOnce("first start")
	if _, err := os.Stat(filepath.Join(dir, "data", "hub.db")); err != nil {
		t.Errorf("./data/hub.db not created: %v", err)
	}
	hub.stop(t)

	hub = startHubProcess(t, dir, "HUB_ADDR=127.0.0.1:0")
	c = login(t, hub.URL+"/api/v1", "admin", password)
	checkWorkerRunning(t, c, hub.URL)
	runOnce("after restart")
	hub.stop(t)
}

// checkWorkerRunning asserts that the workers list, the ops status and the
// metrics all count exactly one live worker.
func checkWorkerRunning(t *testing.T, c *hubClient, base string) {
	t.Helper()
	var workers []struct {
		Status string `json:"status"`
	}
	c.call("GET", "/workers", "", nil, &workers)
	if len(workers) != 1 || workers[0].Status != "RUNNING" {
		t.Errorf("GET /workers = %+v, want one RUNNING", workers)
	}
	var ops struct {
		WorkersRunning int `json:"workers_running"`
	}
	c.call("GET", "/ops/status", "", nil, &ops)
	if ops.WorkersRunning != 1 {
		t.Errorf("ops/status workers_running = %d, want 1", ops.WorkersRunning)
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if !regexp.MustCompile(`(?m)^hub_workers\{state="alive"\} 1$`).Match(body) {
		t.Errorf("metrics lack hub_workers{state=\"alive\"} 1:\n%s", grepLines(string(body), "hub_workers"))
	}
}

func containsLine(lines []string, want string) bool {
	for _, l := range lines {
		if strings.Contains(l, want) {
			return true
		}
	}
	return false
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// TestDistributedSetupAsDocumented runs the README's production setup with
// the real binary: `hub migrate`, then `hub serve`, `hub worker` and
// `hub cleanup`, each in a folder of its own with the default relative data
// folder, sharing PostgreSQL, Redis and the artifact folder; a Python robot
// runs on the worker to SUCCESS, and every process stops cleanly on SIGTERM.
func TestDistributedSetupAsDocumented(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("signals differ on Windows")
	}
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not installed")
	}
	t.Parallel()
	db := hubtest.DatabaseConfig(t, config.Postgres)
	client, prefix := hubtest.Redis(t)
	env := []string{
		"DATABASE_URL=" + db.DSN, "ENCRYPTION_KEY=" + testEncryptionKey,
		"REDIS_URL=redis://" + client.Options().Addr + "/0",
		"REDIS_QUEUE_NAME=" + prefix + "queue", "REDIS_PUBSUB_PREFIX=" + prefix + "runs",
		"ARTIFACTS_ROOT=" + filepath.Join(t.TempDir(), "hub-artifacts"),
		"SECRET_KEY=" + strings.Repeat("k", 48),
		"ENVIRONMENT=prod",
		"DEFAULT_ADMIN_PASSWORD=a-strong-first-password",
	}
	migrate := runHubProcess(t, t.TempDir(), []string{"migrate"}, env...)
	if err := <-migrate.done; err != nil {
		t.Fatalf("hub migrate: %v\n%s", err, migrate.stderr.String())
	}
	if !strings.Contains(migrate.stdout.String(), "database schema at version") {
		t.Errorf("hub migrate printed %q", migrate.stdout.String())
	}
	serveDir, workerDir := t.TempDir(), t.TempDir()
	serve := runHubProcess(t, serveDir, []string{"serve"}, append(env, "HUB_ADDR=127.0.0.1:0")...)
	base := serve.waitFor(t, "running at ")
	worker := runHubProcess(t, workerDir, []string{"worker"}, env...)
	worker.waitFor(t, `"msg":"worker started"`)
	cleaner := runHubProcess(t, t.TempDir(), []string{"cleanup"}, env...)

	c := login(t, base+"/api/v1", "admin", "a-strong-first-password")
	robot := c.publishRobot("distributed-python", "PYTHON", "main.py", map[string]string{"main.py": "import os\nprint('hi from ' + os.getcwd())\n"})
	var run runView
	if code := c.call("POST", "/runs/"+robot+"/execute", "application/json", strings.NewReader(`{}`), &run); code != 202 {
		t.Fatalf("execute = %d, want 202", code)
	}
	run = c.waitRun(run.RunID, 60*time.Second)
	msgs := c.logMessages(run.RunID)
	if run.Status != "SUCCESS" || !containsLine(msgs, "hi from "+filepath.Join(workerDir, "data", "worker", "runs")) {
		t.Errorf("run = %s (%s); want SUCCESS in the worker's ./data; log:\n%s", run.Status, deref(run.ErrorMessage), strings.Join(msgs, "\n"))
	}
	checkWorkerRunning(t, c, base)
	for _, p := range []*hubProcess{worker, cleaner, serve} {
		p.stop(t)
	}
}
