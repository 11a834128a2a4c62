package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"automationhub/internal/agent"
	"automationhub/internal/archive"
)

// benchSize reads a benchmark's size from an environment variable: the CI's
// one-iteration run stays short, AGENT_BENCH_…=N gives the full figure.
func benchSize(name string, short int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return short
}

// benchAgentHub is an embedded hub (serve: no worker of its own) and one
// agent, in this process, speaking the protocol over loopback HTTP.
func benchAgentHub(b *testing.B, concurrency int) (*Main, *hubClient) {
	b.Helper()
	if runtime.GOOS == "windows" {
		b.Skip("robots are shell scripts")
	}
	m, _ := startMain(b, "serve", map[string]string{"DEFAULT_ADMIN_PASSWORD": "admin-password-1"})
	base := "http://" + m.Addr.String()
	c := login(b, base+"/api/v1", "admin", "admin-password-1")
	token := enrollmentToken(b, c, 0)
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan struct{}), make(chan error, 1)
	go func() {
		done <- agent.Run(ctx, agent.Options{Server: base, Token: token, DataDir: filepath.Join(b.TempDir(), "agent"), Concurrency: concurrency,
			Version: "test", Limits: archive.Limits{MaxFiles: 100, MaxUnpackedBytes: 64 << 20}, PythonExecutable: "python3",
			Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), Ready: ready, ShutdownTimeout: 5 * time.Second})
	}()
	select {
	case <-ready:
	case err := <-done:
		b.Fatalf("agent: %v", err)
	}
	b.Cleanup(func() { cancel(); <-done })
	return m, c
}

func (c *hubClient) executeRun(robot string) string {
	var run runView
	c.call("POST", "/runs/"+robot+"/execute", "application/json", strings.NewReader(`{}`), &run)
	if run.RunID == "" {
		c.t.Fatal("execute failed")
	}
	return run.RunID
}

// BenchmarkAgentDispatchLatency: execute → the robot's first line, through
// an agent's long poll, next to starting the same script directly.
func BenchmarkAgentDispatchLatency(b *testing.B) {
	n := benchSize("AGENT_BENCH_RUNS", 5)
	script := filepath.Join(b.TempDir(), "ping.sh")
	os.WriteFile(script, []byte("#!/bin/sh\necho started\n"), 0o755)
	var bare []time.Duration
	for range n {
		t0 := time.Now()
		if err := exec.Command(script).Run(); err != nil {
			b.Fatal(err)
		}
		bare = append(bare, time.Since(t0))
	}
	m, c := benchAgentHub(b, 1)
	robot := c.shellRobot("ping", "#!/bin/sh\necho started\n")
	c.waitRun(c.executeRun(robot), time.Minute) // the package is fetched and cached once
	var lat []time.Duration
	for b.Loop() {
		for range n {
			start := time.Now()
			id := c.executeRun(robot)
			c.waitRun(id, time.Minute)
			lines, err := m.db.RunLogs(context.Background(), id, 0, 100)
			if err != nil {
				b.Fatal(err)
			}
			for _, l := range lines {
				if l.Message == "started" {
					lat = append(lat, l.Timestamp.Sub(start))
				}
			}
		}
	}
	slices.Sort(lat)
	slices.Sort(bare)
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
	b.ReportMetric(ms(bare[len(bare)/2]), "bare-exec-p50-ms")
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// BenchmarkAgentThroughput: no-op runs queued at once, completed by one
// agent with two slots, next to a bare fork/exec loop of the same script.
func BenchmarkAgentThroughput(b *testing.B) {
	n := benchSize("AGENT_BENCH_RUNS", 10)
	script := filepath.Join(b.TempDir(), "noop.sh")
	os.WriteFile(script, []byte("#!/bin/sh\nexit 0\n"), 0o755)
	t0 := time.Now()
	for range n {
		if err := exec.Command(script).Run(); err != nil {
			b.Fatal(err)
		}
	}
	bare := float64(n) / time.Since(t0).Seconds()
	_, c := benchAgentHub(b, 2)
	robot := c.shellRobot("noop", "#!/bin/sh\nexit 0\n")
	c.waitRun(c.executeRun(robot), time.Minute)
	var total int
	var elapsed time.Duration
	for b.Loop() {
		start := time.Now()
		ids := make([]string, n)
		for i := range ids {
			ids[i] = c.executeRun(robot)
		}
		for _, id := range ids {
			if r := c.waitRun(id, 5*time.Minute); r.Status != "SUCCESS" {
				b.Fatalf("run %s", r.Status)
			}
		}
		elapsed += time.Since(start)
		total += n
	}
	rate := float64(total) / elapsed.Seconds()
	b.ReportMetric(rate, "runs/s")
	b.ReportMetric(bare, "bare-exec/s")
	b.ReportMetric(rate/bare, "ratio")
}

// BenchmarkAgentLogIngestion: a robot printing many lines through an
// agent (spool, HTTP batches, the store), stored lines/s next to the same
// robot writing to /dev/null; every line must be stored once.
func BenchmarkAgentLogIngestion(b *testing.B) {
	lines := benchSize("AGENT_BENCH_LINES", 20000)
	gen := fmt.Sprintf("#!/bin/sh\nawk 'BEGIN { for (i = 1; i <= %d; i++) printf \"line %%d of the chatty robot, with some text\\n\", i }'\n", lines)
	script := filepath.Join(b.TempDir(), "gen.sh")
	os.WriteFile(script, []byte(gen), 0o755)
	devnull, _ := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	t0 := time.Now()
	cmd := exec.Command(script)
	cmd.Stdout = devnull
	if err := cmd.Run(); err != nil {
		b.Fatal(err)
	}
	devnull.Close()
	bare := float64(lines) / time.Since(t0).Seconds()
	m, c := benchAgentHub(b, 1)
	robot := c.shellRobot("chatty", gen)
	var stored int64
	var elapsed time.Duration
	for b.Loop() {
		start := time.Now()
		id := c.executeRun(robot)
		if r := c.waitRun(id, 30*time.Minute); r.Status != "SUCCESS" {
			b.Fatalf("run %s: %s", r.Status, deref(r.ErrorMessage))
		}
		elapsed += time.Since(start)
		var n int64
		if err := m.db.Conn().QueryRow(context.Background(), `SELECT COUNT(DISTINCT seq) FROM run_logs WHERE run_id = ? AND message LIKE 'line %'`, id).Scan(&n); err != nil {
			b.Fatal(err)
		}
		if n != int64(lines) {
			b.Errorf("stored %d lines, want %d", n, lines)
		}
		stored += n
	}
	b.ReportMetric(float64(stored)/elapsed.Seconds(), "lines/s")
	b.ReportMetric(bare, "devnull-lines/s")
}
