//go:build unix

package executor_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"automationhub/internal/executor"
	"automationhub/internal/hub"
	"automationhub/internal/hubtest"
	"automationhub/internal/registry"
	"automationhub/internal/runs"
)

// faultyState wraps the worker's store; while a fault is set, AppendRunLogs
// and FinishRun go through it instead of the database.
type faultyState struct {
	executor.RunState
	mu    sync.Mutex
	fault func(ctx context.Context, lines []hub.LogLine) (handled bool, held bool, err error)
}

func (f *faultyState) setFault(fn func(ctx context.Context, lines []hub.LogLine) (bool, bool, error)) {
	f.mu.Lock()
	f.fault = fn
	f.mu.Unlock()
}

// strike sets fn as the fault and returns once the worker has met it.
func (f *faultyState) strike(fn func(ctx context.Context, lines []hub.LogLine) (bool, bool, error)) {
	struck := make(chan struct{})
	var once sync.Once
	f.setFault(func(ctx context.Context, lines []hub.LogLine) (bool, bool, error) {
		once.Do(func() { close(struck) })
		return fn(ctx, lines)
	})
	<-struck
}

func (f *faultyState) current() func(ctx context.Context, lines []hub.LogLine) (bool, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fault
}

func (f *faultyState) AppendRunLogs(ctx context.Context, runID, workerID string, lines []hub.LogLine) (bool, error) {
	if fn := f.current(); fn != nil {
		if handled, held, err := fn(ctx, lines); handled {
			return held, err
		}
	}
	return f.RunState.AppendRunLogs(ctx, runID, workerID, lines)
}

func (f *faultyState) FinishRun(ctx context.Context, runID, workerID string, res hub.RunResult, lines []hub.LogLine, arts []hub.Artifact) (bool, error) {
	if fn := f.current(); fn != nil {
		if handled, _, err := fn(ctx, lines); handled {
			return false, err
		}
	}
	return f.RunState.FinishRun(ctx, runID, workerID, res, lines, arts)
}

// chattyRobot prints a numbered line every 20 ms until it is stopped, after
// writing its pid to pidFile.
func chattyRobot(pidFile string) string {
	return "#!/bin/sh\necho $$ > " + pidFile + "\ni=0\nwhile true; do i=$((i+1)); echo line $i; sleep 0.02; done\n"
}

func pidAlive(t *testing.T, pidFile string) bool {
	t.Helper()
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return syscall.Kill(pid, 0) == nil
}

// waitLines waits until the run has stored at least n log lines.
func (e *env) waitLines(t *testing.T, runID string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for len(e.logs(t, runID)) < n {
		if time.Now().After(deadline) {
			t.Fatalf("run %s stored fewer than %d lines in 30s", runID, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPumpStopsWhenTheRunWasTakenAway replays a database stall longer than
// the lease: the worker's log writes fail, the reconciler fails the run as
// "worker lost" (writing the next seq itself), then the database returns.
// The pump must learn that the run is no longer held, stop the robot and
// drop its later lines — no retry for ever on a duplicate seq — and Stop
// must return promptly.
func TestPumpStopsWhenTheRunWasTakenAway(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			fs := &faultyState{}
			e := setup(t, dialect, memBus, opts{noWorker: true})
			w := e.startWorker(t, "w1", opts{state: func(s executor.RunState) executor.RunState { fs.RunState = s; return fs }})
			pidFile := filepath.Join(t.TempDir(), "pid")
			id := e.robot(t, "chatty", map[string]string{"run.sh": chattyRobot(pidFile)}, registry.PublishInput{EntrypointType: "EXE", EntrypointPath: "run.sh"})
			run := e.execute(t, id, runs.ExecuteInput{})
			e.waitLines(t, run.ID, 20)

			fs.strike(func(ctx context.Context, _ []hub.LogLine) (bool, bool, error) {
				return true, false, errors.New("database stalled")
			})
			if err := e.db.FailRun(context.Background(), run.ID, "worker lost", "Unexpected failure: worker lost", time.Now().UTC()); err != nil {
				t.Fatal(err)
			}
			stored := e.logs(t, run.ID)
			fs.setFault(nil) // the database is back

			deadline := time.Now().Add(20 * time.Second)
			for pidAlive(t, pidFile) {
				if time.Now().After(deadline) {
					t.Fatal("the robot of a run taken away is still running after 20s")
				}
				time.Sleep(50 * time.Millisecond)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			start := time.Now()
			if err := w.Stop(ctx); err != nil {
				t.Errorf("Stop: %v", err)
			}
			t.Logf("Stop returned in %v", time.Since(start).Round(time.Millisecond))

			final := e.wait(t, run.ID, time.Second)
			if final.Status != hub.RunFailed || final.ErrorMessage == nil || *final.ErrorMessage != "worker lost" {
				t.Errorf("run = %s %v, want FAILED worker lost", final.Status, final.ErrorMessage)
			}
			after := e.logs(t, run.ID)
			checkSeq(t, after)
			if len(after) != len(stored) || after[len(after)-1].Message != "Unexpected failure: worker lost" {
				t.Errorf("log grew from %d to %d lines after the run was failed; last line %q", len(stored), len(after), after[len(after)-1].Message)
			}
		})
	}
}

// TestStopReturnsDuringADatabaseOutage stalls every log write and the final
// record until their context ends, then stops the worker with a short
// deadline: Stop must return within the deadline plus the grace period and
// a bounded margin, say what it abandoned, and leave no goroutine behind.
func TestStopReturnsDuringADatabaseOutage(t *testing.T) {
	t.Parallel()
	dialect := hubtest.Dialects()[0]
	fs := &faultyState{}
	e := setup(t, dialect, memBus, opts{noWorker: true})
	w := e.startWorker(t, "w1", opts{lease: time.Minute, state: func(s executor.RunState) executor.RunState { fs.RunState = s; return fs }})
	pidFile := filepath.Join(t.TempDir(), "pid")
	id := e.robot(t, "chatty", map[string]string{"run.sh": chattyRobot(pidFile)}, registry.PublishInput{EntrypointType: "EXE", EntrypointPath: "run.sh"})
	run := e.execute(t, id, runs.ExecuteInput{})
	e.waitLines(t, run.ID, 20)

	fs.strike(func(ctx context.Context, _ []hub.LogLine) (bool, bool, error) {
		<-ctx.Done() // a database that never answers
		return true, false, ctx.Err()
	})
	const deadline = 300 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	start := time.Now()
	err := w.Stop(ctx)
	took := time.Since(start)
	t.Logf("Stop returned in %v: %v", took.Round(time.Millisecond), err)
	// grace period 500 ms (see startWorker) + 1 s to be recorded + 1 s after giving up, + slack for a loaded machine
	if limit := deadline + 500*time.Millisecond + 2*time.Second + 3*time.Second; took > limit {
		t.Errorf("Stop took %v, want at most %v", took, limit)
	}
	if err == nil || !strings.Contains(err.Error(), "abandoned 1 run") {
		t.Errorf("Stop error = %v, want one abandoned run", err)
	}
	if pidAlive(t, pidFile) {
		t.Error("the robot outlived a worker stopped during an outage")
	}
}

// TestRefusedLogLinesFailTheRun: a batch the database refuses for its
// content is not retried; the run ends FAILED with the cause and the robot
// is stopped.
func TestRefusedLogLinesFailTheRun(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			fs := &faultyState{}
			fs.fault = func(ctx context.Context, lines []hub.LogLine) (bool, bool, error) {
				for _, l := range lines {
					if strings.Contains(l.Message, "poison") {
						return true, false, hub.Errorf(hub.EInvalid, "value too long")
					}
				}
				return false, false, nil
			}
			e := setup(t, dialect, memBus, opts{noWorker: true})
			e.startWorker(t, "w1", opts{state: func(s executor.RunState) executor.RunState { fs.RunState = s; return fs }})
			pidFile := filepath.Join(t.TempDir(), "pid")
			id := e.robot(t, "poisoned", map[string]string{"run.sh": "#!/bin/sh\necho $$ > " + pidFile + "\necho fine\nsleep 0.3\necho poison\nexec sleep 60\n"},
				registry.PublishInput{EntrypointType: "EXE", EntrypointPath: "run.sh"})
			run := e.wait(t, e.execute(t, id, runs.ExecuteInput{}).ID, 30*time.Second)
			if run.Status != hub.RunFailed || run.ErrorMessage == nil || !strings.Contains(*run.ErrorMessage, "could not be stored: value too long") {
				t.Errorf("run = %s %v, want FAILED because the log could not be stored", run.Status, run.ErrorMessage)
			}
			if pidAlive(t, pidFile) {
				t.Error("the robot is still running")
			}
			lines := e.logs(t, run.ID)
			checkSeq(t, lines)
			if last := lines[len(lines)-1]; !strings.Contains(last.Message, "could not be stored") {
				t.Errorf("last log line = %q, want the cause", last.Message)
			}
		})
	}
}

// TestAppendRunLogs checks the store's side of the contract on every
// dialect: appends are idempotent by seq, refused once the run is not held
// by the caller, and NUL characters are stored as U+FFFD.
func TestAppendRunLogs(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			e := setup(t, dialect, memBus, opts{noWorker: true})
			ctx := context.Background()
			id := e.robot(t, "quiet", map[string]string{"run.sh": "#!/bin/sh\n"}, registry.PublishInput{EntrypointType: "EXE", EntrypointPath: "run.sh"})
			run := e.execute(t, id, runs.ExecuteInput{})
			now := time.Now().UTC()
			if _, ok, err := e.db.ClaimRun(ctx, run.ID, "w1", "host", now, now.Add(time.Minute)); err != nil || !ok {
				t.Fatalf("claim: %v %v", ok, err)
			}
			batch := []hub.LogLine{
				{RunID: run.ID, Seq: 1, Timestamp: now, Level: hub.LevelInfo, Message: "one"},
				{RunID: run.ID, Seq: 2, Timestamp: now, Level: hub.LevelInfo, Message: "nul\x00byte"},
			}
			tests := []struct {
				name     string
				worker   string
				lines    []hub.LogLine
				wantHeld bool
				wantLogs []string
			}{
				{"first write", "w1", batch, true, []string{"INFO one", "INFO nul\uFFFDbyte"}},
				{"same batch again", "w1", batch, true, []string{"INFO one", "INFO nul\uFFFDbyte"}},
				{"another worker", "w2", []hub.LogLine{{RunID: run.ID, Seq: 3, Timestamp: now, Level: hub.LevelInfo, Message: "intruder"}}, false,
					[]string{"INFO one", "INFO nul\uFFFDbyte"}},
			}
			for _, tt := range tests {
				held, err := e.db.AppendRunLogs(ctx, run.ID, tt.worker, tt.lines)
				if err != nil || held != tt.wantHeld {
					t.Errorf("%s: held = %v, %v; want %v", tt.name, held, err, tt.wantHeld)
				}
				if got := messages(e.logs(t, run.ID)); strings.Join(got, "|") != strings.Join(tt.wantLogs, "|") {
					t.Errorf("%s: log = %q, want %q", tt.name, got, tt.wantLogs)
				}
			}
			if err := e.db.FailRun(ctx, run.ID, "worker lost", "Unexpected failure: worker lost", now); err != nil {
				t.Fatal(err)
			}
			held, err := e.db.AppendRunLogs(ctx, run.ID, "w1", []hub.LogLine{{RunID: run.ID, Seq: 3, Timestamp: now, Level: hub.LevelInfo, Message: "late"}})
			if err != nil || held {
				t.Errorf("after the run failed: held = %v, %v; want false", held, err)
			}
			if got := e.logs(t, run.ID); len(got) != 3 || got[2].Message != "Unexpected failure: worker lost" {
				t.Errorf("after the run failed: log = %q, want the failure as line 3", messages(got))
			}
		})
	}
}
