package main

import (
	"bufio"
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

// startHubProcess starts the binary in dir with only PATH and HOME from the
// test's environment plus extra, as a newcomer's shell would, and waits for
// its "running at" line.
func startHubProcess(t testing.TB, dir string, extra ...string) *hubProcess {
	t.Helper()
	cmd := exec.Command(hubBinary(t))
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}, extra...)
	pr, pw := io.Pipe()
	p := &hubProcess{cmd: cmd, stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan error, 1)}
	cmd.Stdout = io.MultiWriter(p.stdout, pw)
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { err := cmd.Wait(); pw.Close(); p.done <- err }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if _, rest, ok := strings.Cut(sc.Text(), "running at "); ok {
				urlc <- strings.Fields(rest)[0]
			}
		}
		io.Copy(io.Discard, pr)
		close(urlc)
	}()
	select {
	case p.URL = <-urlc:
	case <-readyDeadline(t):
		t.Fatalf("no 'running at' line; stderr:\n%s", p.stderr.String())
	}
	if p.URL == "" {
		t.Fatalf("hub exited before it was ready; stderr:\n%s", p.stderr.String())
	}
	return p
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
