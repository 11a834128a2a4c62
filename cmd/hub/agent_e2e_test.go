package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"automationhub/internal/config"
	"automationhub/internal/hubtest"
	"automationhub/internal/sandbox"
)

// tcpProxy forwards connections to a target the test can change (a hub
// that restarts on another port) and can cut every connection, as a
// network outage would.
type tcpProxy struct {
	ln     net.Listener
	mu     sync.Mutex
	target string
	down   bool
	conns  map[net.Conn]bool
}

func startProxy(t testing.TB, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go p.serve()
	return p
}

func (p *tcpProxy) URL() string { return "http://" + p.ln.Addr().String() }

func (p *tcpProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down, target := p.down, p.target
		if !down {
			p.conns[c] = true
		}
		p.mu.Unlock()
		if down {
			c.Close() // the agent sees its connection refused or reset
			continue
		}
		go p.forward(c, target)
	}
}

func (p *tcpProxy) forward(c net.Conn, target string) {
	up, err := net.DialTimeout("tcp", target, 2*time.Second)
	if err != nil {
		p.drop(c)
		return
	}
	p.mu.Lock()
	if p.down {
		p.mu.Unlock()
		up.Close()
		p.drop(c)
		return
	}
	p.conns[up] = true
	p.mu.Unlock()
	go func() { io.Copy(up, c); p.drop(up); p.drop(c) }()
	io.Copy(c, up)
	p.drop(c)
	p.drop(up)
}

func (p *tcpProxy) drop(c net.Conn) {
	c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// cut closes every connection and refuses new ones until restore.
func (p *tcpProxy) cut() {
	p.mu.Lock()
	p.down = true
	conns := p.conns
	p.conns = map[net.Conn]bool{}
	p.mu.Unlock()
	for c := range conns {
		c.Close()
	}
}

func (p *tcpProxy) restore(target string) {
	p.mu.Lock()
	p.down = false
	if target != "" {
		p.target = target
	}
	p.mu.Unlock()
}

// agentHub is a hub (role serve: no worker of its own) on a database of the
// dialect, reached by agents through a proxy.
type agentHub struct {
	t     *testing.T
	vars  map[string]string
	stop  func() error
	m     *Main
	proxy *tcpProxy
	c     *hubClient
	token string
	// dataDir is the data folder of the last agent started.
	dataDir string
}

func startAgentHub(t *testing.T, dialect string, lease int) *agentHub {
	t.Helper()
	vars := map[string]string{"DEFAULT_ADMIN_PASSWORD": "admin-password-1", "WORKER_STALE_SECONDS": strconv.Itoa(lease),
		"HUB_DATA_DIR": t.TempDir(), "SECRET_KEY": strings.Repeat("s", 40)}
	if dialect == config.Postgres {
		vars["DATABASE_URL"] = hubtest.DatabaseConfig(t, dialect).DSN
		// The distributed hub: ready signals through Redis.
		if os.Getenv(hubtest.EnvRedisURL) != "" || hubtest.RequireServices() {
			client, prefix := hubtest.Redis(t)
			vars["REDIS_URL"] = "redis://" + client.Options().Addr + "/0"
			vars["REDIS_QUEUE_NAME"], vars["REDIS_PUBSUB_PREFIX"] = prefix+"q", prefix+"c"
		}
	}
	h := &agentHub{t: t, vars: vars}
	h.m, h.stop = startMain(t, "serve", vars)
	h.proxy = startProxy(t, h.m.Addr.String())
	h.c = login(t, "http://"+h.m.Addr.String()+"/api/v1", "admin", "admin-password-1")
	h.token = enrollmentToken(t, h.c, 0)
	return h
}

// restart stops the hub and starts it again on the same database; the
// proxy then leads to the new one.
func (h *agentHub) restart(down time.Duration) {
	h.t.Helper()
	h.proxy.cut()
	if err := h.stop(); err != nil {
		h.t.Logf("hub stopped: %v", err)
	}
	time.Sleep(down)
	h.m, h.stop = startMain(h.t, "serve", h.vars)
	h.proxy.restore(h.m.Addr.String())
	h.c = login(h.t, "http://"+h.m.Addr.String()+"/api/v1", "admin", "admin-password-1")
}

// startAgent runs `hub agent` as a process of its own, with no database
// or Redis settings, reaching the hub through the proxy.
func (h *agentHub) startAgent(labels string) *hubProcess {
	h.t.Helper()
	dir := h.t.TempDir()
	h.dataDir = filepath.Join(dir, "agent")
	args := []string{"agent", "--server", h.proxy.URL(), "--token", h.token, "--data-dir", h.dataDir, "--shutdown-timeout", "5"}
	if labels != "" {
		args = append(args, "--labels", labels)
	}
	p := runHubProcess(h.t, dir, args)
	p.waitFor(h.t, "agent started")
	return p
}

// countingRobot prints its pid, then n numbered lines, pausing between them.
func countingRobot(n int, pause string) string {
	return fmt.Sprintf("#!/bin/sh\necho pid=$$\ni=0\nwhile [ $i -lt %d ]; do i=$((i+1)); echo line $i; sleep %s; done\n", n, pause)
}

// waitLines waits until the run's log holds a line with want.
func waitLine(t *testing.T, c *hubClient, runID, want string, d time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		msgs := c.logMessages(runID)
		for _, m := range msgs {
			if m == want {
				return msgs
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s: no line %q after %v; log:\n%s", runID, want, d, strings.Join(msgs, "\n"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkEveryLineOnce: lines 1..n each once, in order, and one start.
func checkEveryLineOnce(t *testing.T, msgs []string, n int) {
	t.Helper()
	next, started := 1, 0
	for _, m := range msgs {
		if m == "Execution started." {
			started++
		}
		if !strings.HasPrefix(m, "line ") {
			continue
		}
		if m != "line "+strconv.Itoa(next) {
			t.Fatalf("line %d expected, got %q (lines must arrive once, in order)", next, m)
		}
		next++
	}
	if next != n+1 || started != 1 {
		t.Errorf("got lines up to %d of %d, %d starts", next-1, n, started)
	}
}

func pidOf(msgs []string) string {
	for _, m := range msgs {
		if p, ok := strings.CutPrefix(m, "pid="); ok {
			return p
		}
	}
	return ""
}

func agentDialects(t *testing.T) []string {
	if runtime.GOOS != "linux" {
		t.Skip("robots are shell scripts; uses SIGKILL and Linux's parent-death signal")
	}
	if testing.Short() {
		t.Skip("builds the binary and cuts connections for seconds")
	}
	return hubtest.Dialects()
}

// TestAgentShortCutIsInvisible cuts an agent's connection for 10 s (less
// than the lease) while its robot prints: the robot keeps running and ends
// during the cut, its lines and its end wait on the agent and arrive after
// the cut, every line once and in order, and the run ends SUCCESS.
func TestAgentShortCutIsInvisible(t *testing.T) {
	t.Parallel()
	for _, dialect := range agentDialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			h := startAgentHub(t, dialect, 30)
			h.startAgent("")
			robot := h.c.shellRobot("chatty", countingRobot(150, "0.05"))
			var run runView
			h.c.call("POST", "/runs/"+robot+"/execute", "application/json", strings.NewReader(`{}`), &run)
			waitLine(t, h.c, run.RunID, "line 20", 30*time.Second)
			h.proxy.cut()
			time.Sleep(10 * time.Second)
			h.proxy.restore("")
			r := h.c.waitRun(run.RunID, 60*time.Second)
			if r.Status != "SUCCESS" {
				t.Errorf("run = %s %v, want SUCCESS", r.Status, r.ErrorMessage)
			}
			checkEveryLineOnce(t, h.c.logMessages(run.RunID), 150)
			// run.log went up as a stream, checked against its SHA-256.
			if log := h.c.artifact(run.RunID, "run.log"); !strings.Contains(log, "line 150") {
				t.Errorf("run.log artifact holds no line 150:\n%.300s", log)
			}
		})
	}
}

// TestAgentLongCutEndsTheRun cuts an agent's connection for longer than
// the lease: the hub ends the run FAILED "agent lost", and the agent, no
// longer able to renew, stops the robot: it never runs twice.
func TestAgentLongCutEndsTheRun(t *testing.T) {
	t.Parallel()
	for _, dialect := range agentDialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			h := startAgentHub(t, dialect, 10)
			h.startAgent("")
			robot := h.c.shellRobot("endless", countingRobot(100000, "0.1"))
			var run runView
			h.c.call("POST", "/runs/"+robot+"/execute", "application/json", strings.NewReader(`{}`), &run)
			pid := pidOf(waitLine(t, h.c, run.RunID, "line 5", 30*time.Second))
			h.proxy.cut()
			r := h.c.waitRun(run.RunID, 40*time.Second)
			if r.Status != "FAILED" || r.ErrorMessage == nil || !strings.Contains(*r.ErrorMessage, "agent lost") {
				t.Errorf("run = %s %v, want FAILED agent lost", r.Status, r.ErrorMessage)
			}
			// The agent stops the robot once it has not renewed for a lease.
			deadline := time.Now().Add(20 * time.Second)
			for exec.Command("kill", "-0", pid).Run() == nil {
				if time.Now().After(deadline) {
					t.Fatalf("robot %s still runs on the agent after the lease", pid)
				}
				time.Sleep(200 * time.Millisecond)
			}
			h.proxy.restore("")
			time.Sleep(3 * time.Second) // the agent reconnects
			msgs := h.c.logMessages(run.RunID)
			started := 0
			for _, m := range msgs {
				if m == "Execution started." {
					started++
				}
			}
			if started != 1 {
				t.Errorf("run started %d times", started)
			}
			if r := h.c.waitRun(run.RunID, time.Second); r.Status != "FAILED" {
				t.Errorf("after the agent came back the run is %s", r.Status)
			}
		})
	}
}

// TestAgentKilledMidRun SIGKILLs an agent while its robot runs: the run
// ends FAILED "agent lost", the robot does not outlive its agent, and the
// run is not executed again.
func TestAgentKilledMidRun(t *testing.T) {
	t.Parallel()
	for _, dialect := range agentDialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			h := startAgentHub(t, dialect, 10)
			agent := h.startAgent("")
			robot := h.c.shellRobot("orphan", countingRobot(100000, "0.1"))
			var run runView
			h.c.call("POST", "/runs/"+robot+"/execute", "application/json", strings.NewReader(`{}`), &run)
			pid := pidOf(waitLine(t, h.c, run.RunID, "line 3", 30*time.Second))
			if err := agent.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			r := h.c.waitRun(run.RunID, 40*time.Second)
			if r.Status != "FAILED" || r.ErrorMessage == nil || !strings.Contains(*r.ErrorMessage, "agent lost") {
				t.Errorf("run = %s %v, want FAILED agent lost", r.Status, r.ErrorMessage)
			}
			if exec.Command("kill", "-0", pid).Run() == nil {
				t.Errorf("robot %s survived its agent", pid)
			}
			started := 0
			for _, m := range h.c.logMessages(run.RunID) {
				if m == "Execution started." {
					started++
				}
			}
			if started != 1 {
				t.Errorf("run started %d times", started)
			}
		})
	}
}

// TestAgentHubRestart restarts the hub while an agent's robot runs: the
// agent spools, reconnects to the new hub process and the run ends
// SUCCESS with every line once, in order; a new run then goes to the same
// agent.
func TestAgentHubRestart(t *testing.T) {
	t.Parallel()
	for _, dialect := range agentDialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			h := startAgentHub(t, dialect, 30)
			h.startAgent("")
			robot := h.c.shellRobot("steady", countingRobot(120, "0.05"))
			var run runView
			h.c.call("POST", "/runs/"+robot+"/execute", "application/json", strings.NewReader(`{}`), &run)
			waitLine(t, h.c, run.RunID, "line 10", 30*time.Second)
			h.restart(2 * time.Second)
			r := h.c.waitRun(run.RunID, 60*time.Second)
			if r.Status != "SUCCESS" {
				t.Errorf("run = %s %v, want SUCCESS", r.Status, r.ErrorMessage)
			}
			checkEveryLineOnce(t, h.c.logMessages(run.RunID), 120)
			h.c.call("POST", "/runs/"+robot+"/execute", "application/json", strings.NewReader(`{}`), &run)
			if r := h.c.waitRun(run.RunID, 60*time.Second); r.Status != "SUCCESS" {
				t.Errorf("run after the restart = %s %v", r.Status, r.ErrorMessage)
			}
		})
	}
}

// TestAgentRobotCannotReadCredential: robots run by an agent are confined
// (Landlock) and cannot read the agent's credential, while the agent keeps
// it with mode 0600.
func TestAgentRobotCannotReadCredential(t *testing.T) {
	t.Parallel()
	agentDialects(t)
	if ok, why := sandbox.Available(); !ok {
		t.Skip(why)
	}
	h := startAgentHub(t, config.SQLite, 30)
	h.startAgent("")
	cred := filepath.Join(h.dataDir, "credential.json")
	info, err := os.Stat(cred)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("credential file: %v, %v", info, err)
	}
	robot := h.c.shellRobot("snoop", "#!/bin/sh\nif cat "+cred+" >/dev/null 2>&1; then echo READ; else echo DENIED; fi\n")
	var run runView
	h.c.call("POST", "/runs/"+robot+"/execute", "application/json", strings.NewReader(`{}`), &run)
	h.c.waitRun(run.RunID, time.Minute)
	msgs := strings.Join(h.c.logMessages(run.RunID), "\n")
	if !strings.Contains(msgs, "DENIED") || strings.Contains(msgs, "READ") {
		t.Errorf("the robot could read the agent's credential:\n%s", msgs)
	}
}
