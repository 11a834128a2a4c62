package executor_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"automationhub/internal/hub"
	"automationhub/internal/hubtest"
	"automationhub/internal/registry"
	"automationhub/internal/runs"
)

func artifactNames(r *hub.Run) []string {
	var names []string
	for _, a := range r.Artifacts {
		names = append(names, a.Name)
	}
	slices.Sort(names)
	return names
}

// TestRunOverDiskBudgetIsStopped writes more than RUN_MAX_DISK_BYTES into
// the run's folder: the robot and what it started are stopped at once (not
// at the timeout), the run fails saying why, and nothing but run.log is kept.
func TestRunOverDiskBudgetIsStopped(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, write string }{
		{"outputs", `head -c 4194304 /dev/zero > "$HUB_OUTPUT_DIR/big.bin"`},
		{"working copy", `mkdir -p junk/deep && head -c 4194304 /dev/zero > junk/deep/big.bin`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, hubtest.Dialects()[0], memBus, opts{maxDisk: 1 << 20})
			pidFile := filepath.Join(t.TempDir(), "pid")
			id := e.robot(t, "filler", map[string]string{"run.sh": "#!/bin/sh\n" + tt.write + "\nsleep 60 & echo $! > " + pidFile + "\nwait\n"},
				registry.PublishInput{EntrypointType: "EXE", EntrypointPath: "run.sh"})
			r := e.execute(t, id, runs.ExecuteInput{})
			done := e.wait(t, r.ID, 20*time.Second)
			want := "the run used more than RUN_MAX_DISK_BYTES (1048576 bytes) of disk: "
			if done.Status != hub.RunFailed || done.ErrorMessage == nil || !strings.HasPrefix(*done.ErrorMessage, want) {
				t.Fatalf("run: got %s %v, want FAILED %q…", done.Status, done.ErrorMessage, want)
			}
			lines := messages(e.logs(t, r.ID))
			if last := lines[len(lines)-1]; last != "ERROR Unexpected failure: "+*done.ErrorMessage {
				t.Errorf("last log line: got %q, want the error message as an ERROR", last)
			}
			if !slices.Contains(lines, "WARN Output files are not kept from a run that went over its disk budget.") {
				t.Errorf("log lacks the note that outputs are not kept:\n%s", strings.Join(lines, "\n"))
			}
			if got := artifactNames(done); !slices.Equal(got, []string{"run.log"}) {
				t.Errorf("artifacts: got %v, want [run.log]", got)
			}
			b, _ := os.ReadFile(pidFile)
			if pid := strings.TrimSpace(string(b)); pid != "" {
				waitFor(t, 5*time.Second, func() bool { return !alive(pid) })
			}
		})
	}
}

// TestOutputNotStoredIsReported makes a robot write an output over
// MAX_ARTIFACT_BYTES: the run names the file and the reason in its log, and
// a robot that succeeded does not end as a plain SUCCESS.
func TestOutputNotStoredIsReported(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, exit string
		wantMsg    string
	}{
		{"robot succeeded", "exit 0", "the robot succeeded but 1 output file could not be stored"},
		{"robot failed", "exit 3", "Process returned exit code 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, hubtest.Dialects()[0], memBus, opts{maxArtifact: 1 << 20})
			script := "#!/bin/sh\necho a,b > \"$HUB_OUTPUT_DIR/report.csv\"\nhead -c 2097152 /dev/zero > \"$HUB_OUTPUT_DIR/big.bin\"\n" + tt.exit + "\n"
			id := e.robot(t, "big-output", map[string]string{"run.sh": script}, registry.PublishInput{EntrypointType: "EXE", EntrypointPath: "run.sh"})
			done := e.wait(t, e.execute(t, id, runs.ExecuteInput{}).ID, 30*time.Second)
			if done.Status != hub.RunFailed || done.ErrorMessage == nil || *done.ErrorMessage != tt.wantMsg {
				t.Fatalf("run: got %s %v, want FAILED %q", done.Status, done.ErrorMessage, tt.wantMsg)
			}
			lines := messages(e.logs(t, done.ID))
			if want := "ERROR Output file not stored: outputs/big.bin: larger than MAX_ARTIFACT_BYTES (1048576 bytes)"; !slices.Contains(lines, want) {
				t.Errorf("log lacks %q:\n%s", want, strings.Join(lines, "\n"))
			}
			if got := artifactNames(done); !slices.Equal(got, []string{"report.csv", "run.log"}) {
				t.Errorf("artifacts: got %v, want [report.csv run.log]", got)
			}
		})
	}
}

// TestFullDatabaseEndsTheRunAndRecovers fills the database under a robot
// that prints without end: the run fails at once with the cause (not after
// retrying for the whole lease). Its many outputs do not fit either, so the
// worker records the outcome alone and removes their files. Once there is
// room again the next run succeeds on the same worker, without a restart.
func TestFullDatabaseEndsTheRunAndRecovers(t *testing.T) {
	t.Parallel()
	const lease = 30 * time.Second
	e := setup(t, "sqlite", memBus, opts{lease: lease})
	started := filepath.Join(t.TempDir(), "started")
	script := "#!/bin/sh\nfor i in $(seq 300); do echo $i > \"$HUB_OUTPUT_DIR/out-$i.txt\"; done\ntouch " + started +
		"\nyes 'a line of robot output that fills the database'\n"
	chatty := e.robot(t, "chatty", map[string]string{"run.sh": script}, registry.PublishInput{EntrypointType: "EXE", EntrypointPath: "run.sh"})
	r := e.execute(t, chatty, runs.ExecuteInput{})
	waitFor(t, 30*time.Second, func() bool { _, err := os.Stat(started); return err == nil })

	hubtest.LimitSQLitePages(t, e.db.SQL(), 0)
	full := time.Now()
	done := e.wait(t, r.ID, lease/2)
	if done.Status != hub.RunFailed || done.ErrorMessage == nil || !strings.Contains(*done.ErrorMessage, hub.MsgDiskFull) {
		t.Fatalf("run on a full database: got %s %v, want FAILED with %q", done.Status, done.ErrorMessage, hub.MsgDiskFull)
	}
	t.Logf("the run ended %v after the database filled", time.Since(full).Round(time.Millisecond))
	if len(done.Artifacts) != 0 {
		t.Errorf("artifacts of the run: got %d, want none (they did not fit)", len(done.Artifacts))
	}
	if _, err := os.Stat(filepath.Join(e.blobs.Root(), "runs", r.ID)); !os.IsNotExist(err) {
		t.Errorf("files of the run's artifacts: stat = %v, want them removed", err)
	}

	hubtest.LimitSQLitePages(t, e.db.SQL(), 1<<30)
	quick := e.robot(t, "quick", map[string]string{"run.sh": "#!/bin/sh\necho hi\n"}, registry.PublishInput{EntrypointType: "EXE", EntrypointPath: "run.sh"})
	if got := e.wait(t, e.execute(t, quick, runs.ExecuteInput{}).ID, 30*time.Second); got.Status != hub.RunSuccess {
		t.Fatalf("run once there is room: got %s %v, want SUCCESS", got.Status, got.ErrorMessage)
	}
}
