//go:build unix

package executor_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
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

	"automationhub/internal/executor"
)

// lookPath returns the absolute path of a standard tool or skips the test.
func lookPath(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not available: %v", name, err)
	}
	p, err = filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// shell returns a Command running script with sh -c; args become $1….
func shell(t testing.TB, script string, args ...string) executor.Command {
	return executor.Command{Path: lookPath(t, "sh"), Args: append([]string{"-c", script, "sh"}, args...)}
}

// lineCollector gathers the lines of a stream as they arrive.
type lineCollector struct {
	ch chan string
}

func newLineCollector() (*lineCollector, *executor.LineWriter) {
	c := &lineCollector{ch: make(chan string, 100)}
	return c, executor.NewLineWriter(false, func(l executor.Line) { c.ch <- l.Text })
}

// next returns the next line, failing the test after a timeout.
func (c *lineCollector) next(t *testing.T) string {
	t.Helper()
	select {
	case s := <-c.ch:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for a line of output")
		return ""
	}
}

// pid parses a process id printed by a script.
func (c *lineCollector) pid(t *testing.T) int {
	t.Helper()
	s := c.next(t)
	pid, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("got %q, want a process id", s)
	}
	return pid
}

// gone reports whether pid no longer runs: it does not exist, or it is a
// zombie waiting for init to reap it.
func gone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name: "pid (comm) S ...".
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'Z'
}

// waitGone fails the test unless every pid is gone within a few seconds.
func waitGone(t *testing.T, pids ...int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range pids {
		for !gone(pid) {
			if time.Now().After(deadline) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
				t.Fatalf("process %d still runs, want it gone", pid)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// waitResult waits for p, failing the test if that takes longer than limit.
func waitResult(t *testing.T, p *executor.Process, limit time.Duration) (int, error) {
	t.Helper()
	type result struct {
		code int
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		code, err := p.Wait()
		ch <- result{code, err}
	}()
	select {
	case r := <-ch:
		return r.code, r.err
	case <-time.After(limit):
		p.Stop()
		r := <-ch
		t.Fatalf("Wait did not return within %v", limit)
		return r.code, r.err
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestStartWait(t *testing.T) {
	t.Parallel()
	canaryDir := t.TempDir()
	canary := filepath.Join(canaryDir, "canary")
	hostile := []string{
		"a b", "  leading and trailing  ", "", "'single'", `"double"`, `back\slash`,
		"$(rm -rf /)", "$(touch " + canary + ")", "`touch " + canary + "`", "$HOME", "*", "; echo injected |", "new\nline",
	}
	workDir := t.TempDir()
	realWorkDir, err := filepath.EvalSymlinks(workDir)
	if err != nil {
		t.Fatal(err)
	}
	shDir := filepath.Dir(lookPath(t, "sh"))

	tests := []struct {
		name       string
		cmd        executor.Command
		wantCode   int
		wantStdout string
		wantStderr string
		wantErr    string // substring of Wait's error; empty means nil
	}{
		{
			name:       "exit code and both streams",
			cmd:        shell(t, "echo out; echo err >&2; exit 3"),
			wantCode:   3,
			wantStdout: "out\n",
			wantStderr: "err\n",
		},
		{
			name:     "success",
			cmd:      shell(t, "exit 0"),
			wantCode: 0,
		},
		{
			name:       "arguments reach the child verbatim",
			cmd:        shell(t, `printf '%s\n' "$@"`, hostile...),
			wantStdout: strings.Join(hostile, "\n") + "\n",
		},
		{
			name: "working directory",
			cmd: func() executor.Command {
				c := shell(t, "pwd -P")
				c.Dir = workDir
				return c
			}(),
			wantStdout: realWorkDir + "\n",
		},
		{
			name: "environment exactly as given",
			cmd: executor.Command{
				Path: lookPath(t, "env"),
				Env:  []string{"A=1", "B=two words", "EMPTY=", "HUB_RUN_ID=r1"},
			},
			wantStdout: "A=1\nB=two words\nEMPTY=\nHUB_RUN_ID=r1\n",
		},
		{
			name:       "nil environment is empty",
			cmd:        executor.Command{Path: lookPath(t, "env")},
			wantStdout: "",
		},
		{
			name:       "program looked up in the PATH of Env",
			cmd:        executor.Command{Path: "sh", Args: []string{"-c", "echo found"}, Env: []string{"PATH=" + shDir}},
			wantStdout: "found\n",
		},
		{
			name:     "killed by its own SIGTERM",
			cmd:      shell(t, "kill -TERM $$"),
			wantCode: -int(syscall.SIGTERM),
		},
		{
			name:     "killed by its own SIGKILL",
			cmd:      shell(t, "kill -KILL $$"),
			wantCode: -int(syscall.SIGKILL),
		},
		{
			name: "failing writer is an error, not an exit code",
			cmd: func() executor.Command {
				c := shell(t, "echo x")
				c.Stdout = failingWriter{}
				return c
			}(),
			wantErr: "disk full",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			c := tt.cmd
			if c.Stdout == nil {
				c.Stdout = &stdout
			}
			c.Stderr = &stderr
			p, err := executor.Start(c)
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			if p.Pid() <= 0 {
				t.Errorf("got Pid %d, want a positive id", p.Pid())
			}
			code, err := waitResult(t, p, 10*time.Second)
			p.Stop()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Wait: got error %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Wait: got error %v, want one containing %q", err, tt.wantErr)
			}
			if tt.wantErr == "" && code != tt.wantCode {
				t.Errorf("got exit code %d, want %d", code, tt.wantCode)
			}
			if got := stdout.String(); got != tt.wantStdout {
				t.Errorf("got stdout %q, want %q", got, tt.wantStdout)
			}
			if got := stderr.String(); got != tt.wantStderr {
				t.Errorf("got stderr %q, want %q", got, tt.wantStderr)
			}
		})
	}
	t.Cleanup(func() {
		if _, err := os.Stat(canary); err == nil {
			t.Errorf("an argument was run by a shell: %s exists", canary)
		}
	})
}

func TestStartErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notExecutable := filepath.Join(dir, "robot.sh")
	if err := os.WriteFile(notExecutable, []byte("#!/bin/sh\necho hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	shDir := filepath.Dir(lookPath(t, "sh"))
	tests := []struct {
		name   string
		cmd    executor.Command
		wantIs error // nil: any error
	}{
		{"missing binary", executor.Command{Path: filepath.Join(dir, "no-such-robot")}, fs.ErrNotExist},
		{"empty path", executor.Command{}, nil},
		{"not executable", executor.Command{Path: notExecutable}, fs.ErrPermission},
		{"bare name without PATH in Env", executor.Command{Path: "sh"}, exec.ErrNotFound},
		{"bare name with only a relative PATH", executor.Command{Path: "sh", Env: []string{"PATH=."}}, exec.ErrNotFound},
		{"bare name not on PATH", executor.Command{Path: "no-such-robot", Env: []string{"PATH=" + shDir}}, exec.ErrNotFound},
		{"missing directory", executor.Command{Path: lookPath(t, "true"), Dir: filepath.Join(dir, "missing")}, fs.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := executor.Start(tt.cmd)
			if err == nil {
				p.Stop()
				_, _ = p.Wait()
				t.Fatal("Start: got no error, want one")
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("Start: got %v, want an error matching %v", err, tt.wantIs)
			}
		})
	}
}

func TestStopKillsTree(t *testing.T) {
	t.Parallel()
	lines, w := newLineCollector()
	c := shell(t, "sleep 100 & echo $!; sleep 100 & echo $!; wait")
	c.Stdout = w
	c.GracePeriod = 5 * time.Second
	p, err := executor.Start(c)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	pids := []int{lines.pid(t), lines.pid(t)}

	start := time.Now()
	p.Stop()
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Stop took %v, want it to return once the tree is gone, well before the grace period", d)
	}
	code, err := waitResult(t, p, 3*time.Second)
	if err != nil {
		t.Errorf("Wait: got error %v, want nil", err)
	}
	if code >= 0 {
		t.Errorf("got exit code %d, want a negative signal number", code)
	}
	waitGone(t, pids...)
}

func TestStopKillsAfterGracePeriod(t *testing.T) {
	t.Parallel()
	const grace = 300 * time.Millisecond
	lines, w := newLineCollector()
	c := shell(t, `trap "" TERM; sleep 100 & echo $!; echo ready; while :; do sleep 1; done`)
	c.Stdout = w
	c.GracePeriod = grace
	p, err := executor.Start(c)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	child := lines.pid(t)
	if got := lines.next(t); got != "ready" {
		t.Fatalf("got %q, want ready", got)
	}

	start := time.Now()
	p.Stop()
	if d := time.Since(start); d < grace || d > grace+3*time.Second {
		t.Errorf("Stop took %v, want about the grace period %v", d, grace)
	}
	code, err := waitResult(t, p, 3*time.Second)
	if err != nil {
		t.Errorf("Wait: got error %v, want nil", err)
	}
	if want := -int(syscall.SIGKILL); code != want {
		t.Errorf("got exit code %d, want %d", code, want)
	}
	waitGone(t, child, p.Pid())
}

func TestStopKillsDescendantIgnoringTerm(t *testing.T) {
	t.Parallel()
	const grace = 300 * time.Millisecond
	lines, w := newLineCollector()
	// The main process dies on SIGTERM; its child ignores it and must be
	// killed although the main process is gone.
	c := shell(t, `(trap "" TERM; echo ready; exec sleep 100) & echo $!; wait`)
	c.Stdout = w
	c.GracePeriod = grace
	p, err := executor.Start(c)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	var child int
	for range 2 {
		if s := lines.next(t); s != "ready" {
			if child, err = strconv.Atoi(s); err != nil {
				t.Fatalf("got %q, want a process id or ready", s)
			}
		}
	}
	time.Sleep(50 * time.Millisecond) // let the subshell exec sleep

	start := time.Now()
	p.Stop()
	if d := time.Since(start); d < grace || d > grace+3*time.Second {
		t.Errorf("Stop took %v, want about the grace period %v", d, grace)
	}
	code, err := waitResult(t, p, 3*time.Second)
	if err != nil {
		t.Errorf("Wait: got error %v, want nil", err)
	}
	if want := -int(syscall.SIGTERM); code != want {
		t.Errorf("got exit code %d, want %d", code, want)
	}
	waitGone(t, child)
}

func TestStopIsIdempotent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		script string
		early  bool // call Stop before the process ends by itself
	}{
		{"after exit", "exit 4", false},
		{"concurrently while running", "sleep 100", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := shell(t, tt.script)
			c.GracePeriod = time.Second
			p, err := executor.Start(c)
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			if !tt.early {
				if code, err := waitResult(t, p, 10*time.Second); code != 4 || err != nil {
					t.Fatalf("Wait: got %d, %v; want 4, nil", code, err)
				}
			}
			start := time.Now()
			var wg sync.WaitGroup
			for range 3 {
				wg.Go(p.Stop)
			}
			wg.Wait()
			p.Stop()
			if d := time.Since(start); d > 900*time.Millisecond {
				t.Errorf("Stop took %v, want it to return as soon as nothing is left", d)
			}
			code, err := waitResult(t, p, 3*time.Second)
			if err != nil {
				t.Errorf("Wait: got error %v, want nil", err)
			}
			want := 4
			if tt.early {
				want = -int(syscall.SIGTERM)
			}
			if code != want {
				t.Errorf("got exit code %d, want %d", code, want)
			}
		})
	}
}

func TestWaitDoesNotHangOnInheritedPipe(t *testing.T) {
	t.Parallel()
	const grace = 300 * time.Millisecond
	var stdout bytes.Buffer
	c := shell(t, "sleep 100 & echo $!; echo leader done")
	c.Stdout = &stdout
	c.GracePeriod = grace
	p, err := executor.Start(c)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	start := time.Now()
	code, err := waitResult(t, p, grace+5*time.Second)
	if d := time.Since(start); d < grace {
		t.Errorf("Wait returned after %v, want it to keep reading for the grace period %v", d, grace)
	}
	if code != 0 || err != nil {
		t.Errorf("Wait: got %d, %v; want 0, nil", code, err)
	}
	out := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(out) != 2 || out[1] != "leader done" {
		t.Fatalf("got stdout %q, want a pid and %q", stdout.String(), "leader done")
	}
	orphan, err := strconv.Atoi(out[0])
	if err != nil {
		t.Fatalf("got %q, want a process id", out[0])
	}
	if gone(orphan) {
		t.Fatalf("process %d is gone before Stop, want it still running", orphan)
	}
	// Stop after the leader has exited still signals its group.
	p.Stop()
	waitGone(t, orphan)
}

// TestParentDeathKillsRobot runs TestHelperOrphanRobot in a child test
// process that starts a robot and exits without stopping it.
func TestParentDeathKillsRobot(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the parent-death signal exists only on Linux")
	}
	t.Parallel()
	helper := exec.Command(os.Args[0], "-test.run=^TestHelperOrphanRobot$", "-test.count=1")
	helper.Env = append(os.Environ(), "EXECUTOR_TEST_HELPER=orphan")
	out, err := helper.Output()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	line, _, _ := strings.Cut(string(out), "\n")
	pid, err := strconv.Atoi(strings.TrimPrefix(line, "robot pid "))
	if err != nil {
		t.Fatalf("got helper output %q, want a robot pid", out)
	}
	waitGone(t, pid)
}

// TestHelperOrphanRobot is not a test: TestParentDeathKillsRobot runs it in
// a separate process.
func TestHelperOrphanRobot(t *testing.T) {
	if os.Getenv("EXECUTOR_TEST_HELPER") != "orphan" {
		t.Skip("helper process for TestParentDeathKillsRobot")
	}
	p, err := executor.Start(executor.Command{Path: lookPath(t, "sleep"), Args: []string{"100"}})
	if err != nil {
		fmt.Println("start:", err)
		os.Exit(2)
	}
	fmt.Printf("robot pid %d\n", p.Pid())
	os.Exit(0) // without Stop or Wait
}

func BenchmarkStartWait(b *testing.B) {
	c := executor.Command{Path: lookPath(b, "true")}
	for b.Loop() {
		p, err := executor.Start(c)
		if err != nil {
			b.Fatal(err)
		}
		if code, err := p.Wait(); code != 0 || err != nil {
			b.Fatalf("Wait: got %d, %v; want 0, nil", code, err)
		}
		p.Stop()
	}
}

// slowWriter counts what it receives, pausing on every write like a log
// pump waiting on a slow database.
type slowWriter struct {
	mu    sync.Mutex
	pause time.Duration
	n     int
	lines int
}

func (w *slowWriter) Write(b []byte) (int, error) {
	time.Sleep(w.pause)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.n += len(b)
	w.lines += bytes.Count(b, []byte("\n"))
	return len(b), nil
}

// TestSlowReaderLosesNoOutput: a robot prints a lot and exits at once while
// its reader is slow, far beyond the grace period; every byte still
// arrives (the pipe holds what was not read yet, and nothing closes it).
func TestSlowReaderLosesNoOutput(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("os/exec copies the output on Windows")
	}
	t.Parallel()
	// 109 kB: the robot exits with a full pipe (64 kB) still to read,
	// which takes the reader several times the grace period.
	const lines = 20000
	w := &slowWriter{pause: 200 * time.Millisecond}
	c := shell(t, "seq 1 "+strconv.Itoa(lines))
	c.Stdout = w
	c.GracePeriod = 50 * time.Millisecond
	p, err := executor.Start(c)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	start := time.Now()
	if code, err := waitResult(t, p, time.Minute); code != 0 || err != nil {
		t.Fatalf("Wait: %d, %v", code, err)
	}
	if w.lines != lines {
		t.Errorf("reader got %d lines in %v, want all %d", w.lines, time.Since(start).Round(time.Millisecond), lines)
	}
	p.Stop()
}

// TestWaitEndsWhenADescendantKeepsWriting: a descendant outlives the robot
// and writes without end; Wait still returns, about a grace period after
// the exit plus what a pipe can hold, and Stop ends the descendant.
func TestWaitEndsWhenADescendantKeepsWriting(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("os/exec copies the output on Windows")
	}
	t.Parallel()
	const grace = 200 * time.Millisecond
	w := &slowWriter{}
	c := shell(t, "(while :; do echo still here; done) & echo leader done")
	c.Stdout = w
	c.GracePeriod = grace
	p, err := executor.Start(c)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	start := time.Now()
	if code, err := waitResult(t, p, 30*time.Second); code != 0 || err != nil {
		t.Errorf("Wait: %d, %v", code, err)
	}
	t.Logf("Wait returned after %v with %d bytes", time.Since(start).Round(time.Millisecond), w.n)
	p.Stop()
}
