package executor_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"automationhub/internal/executor"
	"automationhub/internal/hub"
	"automationhub/internal/hubtest"
	"automationhub/internal/registry"
	"automationhub/internal/runs"
	"automationhub/internal/sandbox"
)

// benchCombos are the deployments benchmarked: embedded, and PostgreSQL +
// Redis when configured.
func benchCombos() []struct {
	name, dialect string
	bus           busKind
} {
	out := []struct {
		name, dialect string
		bus           busKind
	}{{"embedded", "sqlite", memBus}}
	if os.Getenv("HUB_TEST_POSTGRES_URL") != "" && os.Getenv("HUB_TEST_REDIS_URL") != "" {
		out = append(out, struct {
			name, dialect string
			bus           busKind
		}{"postgres+redis", "postgres", redisBus})
	}
	return out
}

func benchEnv(b *testing.B, dialect string, kind busKind) *env {
	return setup(b, dialect, kind, opts{lease: 10 * time.Second})
}

// BenchmarkDispatchLatency measures execute → first robot output line.
func BenchmarkDispatchLatency(b *testing.B) {
	for _, c := range benchCombos() {
		b.Run(c.name, func(b *testing.B) {
			e := benchEnv(b, c.dialect, c.bus)
			id := e.robot(b, "ping", map[string]string{"run.sh": "#!/bin/sh\necho started\n"}, registry.PublishInput{EntrypointType: "EXE", EntrypointPath: "run.sh"})
			var lat []time.Duration
			for b.Loop() {
				start := time.Now()
				r, err := e.runs.Execute(context.Background(), e.admin, id, runs.ExecuteInput{})
				if err != nil {
					b.Fatal(err)
				}
				e.wait(b, r.ID, 30*time.Second)
				lines, _ := e.db.RunLogs(context.Background(), r.ID, 0, 100)
				for _, l := range lines {
					if l.Message == "started" {
						lat = append(lat, l.Timestamp.Sub(start))
						break
					}
				}
			}
			slices.Sort(lat)
			if len(lat) > 0 {
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			}
		})
	}
}

// BenchmarkNoopThroughput runs no-op robots back to back with two slots and
// compares with a bare fork/exec loop of the same script.
func BenchmarkNoopThroughput(b *testing.B) {
	script := filepath.Join(b.TempDir(), "noop.sh")
	os.WriteFile(script, []byte("#!/bin/sh\nexit 0\n"), 0o755)
	const n = 100
	start := time.Now()
	for range n {
		if err := exec.Command(script).Run(); err != nil {
			b.Fatal(err)
		}
	}
	bare := float64(n) / time.Since(start).Seconds()
	for _, c := range benchCombos() {
		b.Run(c.name, func(b *testing.B) {
			rate := noopRate(b, benchEnv(b, c.dialect, c.bus), n)
			b.ReportMetric(rate, "runs/s")
			b.ReportMetric(bare, "bare-exec/s")
			b.ReportMetric(rate/bare, "ratio")
		})
	}
}

// logBenchLines is how many lines BenchmarkLogIngestion's robot prints:
// HUB_BENCH_LOG_LINES, default 20 000 (a short 1x run in CI); the figures
// in docs/operations.md are for 1 000 000.
func logBenchLines(b *testing.B) int {
	n := 20_000
	if v := os.Getenv("HUB_BENCH_LOG_LINES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("HUB_BENCH_LOG_LINES=%q: want a positive number", v)
		}
	}
	return n
}

// BenchmarkLogIngestion runs a robot printing N lines (logBenchLines)
// through the worker into each database and reports stored lines/s next to
// two references measured in the same run: the same process writing to
// /dev/null, and a bare fork/exec loop reading its output line by line
// from a pipe (what any worker must at least do); the ratios to both; the
// peak heap of the process meanwhile; and lines lost (must be 0).
func BenchmarkLogIngestion(b *testing.B) {
	lines := logBenchLines(b)
	gen := fmt.Sprintf("#!/bin/sh\nawk 'BEGIN { for (i = 1; i <= %d; i++) printf \"line %%d of the chatty robot, with some text\\n\", i }'\n", lines)
	script := filepath.Join(b.TempDir(), "gen.sh")
	os.WriteFile(script, []byte(gen), 0o755)
	start := time.Now()
	cmd := exec.Command(script)
	devnull, _ := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	cmd.Stdout = devnull
	if err := cmd.Run(); err != nil {
		b.Fatal(err)
	}
	devnull.Close()
	bare := float64(lines) / time.Since(start).Seconds()
	start = time.Now()
	cmd = exec.Command(script)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	var read int
	for sc.Scan() {
		read++
	}
	if err := cmd.Wait(); err != nil || read != lines {
		b.Fatalf("bare read %d lines: %v", read, err)
	}
	piped := float64(lines) / time.Since(start).Seconds()
	combos := []struct {
		name, dialect string
		bus           busKind
	}{{"embedded", "sqlite", memBus}}
	if os.Getenv(hubtest.EnvPostgresURL) != "" {
		combos = append(combos, struct {
			name, dialect string
			bus           busKind
		}{"postgres", "postgres", memBus})
	}
	for _, c := range combos {
		b.Run(c.name, func(b *testing.B) {
			e := benchEnv(b, c.dialect, c.bus)
			id := e.robot(b, "chatty", map[string]string{"run.sh": gen}, registry.PublishInput{EntrypointType: "EXE", EntrypointPath: "run.sh"})
			stopPeak := hubtest.PeakHeap()
			var stored int64
			var elapsed time.Duration
			for b.Loop() {
				t0 := time.Now()
				r, err := e.runs.Execute(context.Background(), e.admin, id, runs.ExecuteInput{})
				if err != nil {
					b.Fatal(err)
				}
				done := e.wait(b, r.ID, 10*time.Minute)
				elapsed += time.Since(t0)
				if done.Status != hub.RunSuccess {
					b.Fatalf("run %s", done.Status)
				}
				var n, distinct int64
				if err := e.db.Conn().QueryRow(context.Background(), `SELECT COUNT(*), COUNT(DISTINCT message) FROM run_logs WHERE run_id = ? AND message LIKE 'line %'`,
					r.ID).Scan(&n, &distinct); err != nil {
					b.Fatal(err)
				}
				stored += n
				if n != int64(lines) || distinct != n {
					b.Errorf("stored %d robot lines (%d distinct), want %d", n, distinct, lines)
				}
			}
			peak := stopPeak()
			rate := float64(stored) / elapsed.Seconds()
			b.ReportMetric(rate, "lines/s")
			b.ReportMetric(bare, "devnull-lines/s")
			b.ReportMetric(piped, "bare-exec-lines/s")
			b.ReportMetric(rate/bare, "ratio-devnull")
			b.ReportMetric(rate/piped, "ratio-bare-exec")
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
			b.ReportMetric(float64(b.N*lines)-float64(stored), "lost")
		})
	}
}

// BenchmarkConfinedNoop measures what confinement costs a run: the same 100
// no-op runs on the embedded hub, started directly and through the launcher
// (Landlock, no capabilities, a cgroup per run where the system has one).
func BenchmarkConfinedNoop(b *testing.B) {
	if ok, why := sandbox.Available(); !ok {
		b.Skip(why)
	}
	groups, err := sandbox.NewRunGroups()
	if err != nil {
		groups = nil
	} else {
		defer groups.Close()
	}
	rates := map[string]float64{}
	for _, tc := range []struct {
		name string
		sb   executor.Sandbox
	}{{"direct", executor.Sandbox{}}, {"confined", executor.Sandbox{Launcher: os.Args[0], Groups: groups}}} {
		b.Run(tc.name, func(b *testing.B) {
			e := setup(b, "sqlite", memBus, opts{lease: 10 * time.Second, noWorker: true})
			e.startWorker(b, "w1", opts{lease: 10 * time.Second, sandbox: tc.sb})
			rates[tc.name] = noopRate(b, e, 100)
			b.ReportMetric(rates[tc.name], "runs/s")
			if d := rates["direct"]; tc.name == "confined" && d > 0 {
				b.ReportMetric(rates[tc.name]/d, "ratio-to-direct")
			}
		})
	}
}

// noopRate publishes a robot that exits at once and returns how many of its
// runs per second the hub completes, n at a time.
func noopRate(b *testing.B, e *env, n int) float64 {
	id := e.robot(b, "noop", map[string]string{"run.sh": "#!/bin/sh\nexit 0\n"}, registry.PublishInput{EntrypointType: "EXE", EntrypointPath: "run.sh"})
	var total int
	var elapsed time.Duration
	for b.Loop() {
		t0 := time.Now()
		var ids []string
		for range n {
			r, err := e.runs.Execute(context.Background(), e.admin, id, runs.ExecuteInput{})
			if err != nil {
				b.Fatal(err)
			}
			ids = append(ids, r.ID)
		}
		for _, rid := range ids {
			if r := e.wait(b, rid, 120*time.Second); r.Status != hub.RunSuccess {
				b.Fatalf("run %s: %v", r.Status, r.ErrorMessage)
			}
		}
		elapsed += time.Since(t0)
		total += n
	}
	return float64(total) / elapsed.Seconds()
}
