package executor_test

import (
	"archive/zip"
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"automationhub/internal/archive"
	"automationhub/internal/blob"
	"automationhub/internal/bus"
	"automationhub/internal/bus/membus"
	"automationhub/internal/bus/redisbus"
	"automationhub/internal/executor"
	"automationhub/internal/hub"
	"automationhub/internal/hubtest"
	"automationhub/internal/identity"
	"automationhub/internal/keyring"
	"automationhub/internal/registry"
	"automationhub/internal/robotenv"
	"automationhub/internal/runs"
	"automationhub/internal/runstate"
	"automationhub/internal/sandbox"
	"automationhub/internal/sqlstore"
)

func TestMain(m *testing.M) {
	sandbox.RunIfLauncher() // confined robots start through this binary
	hubtest.Main(m)
}

// env is one complete hub: database, bus, artifact store, registry, run
// service, reconciler and a worker, wired as cmd/hub wires them.
type env struct {
	db     *sqlstore.DB
	bus    bus.Bus
	blobs  *blob.Local
	reg    *registry.Service
	runs   *runs.Service
	rec    *runs.Reconciler
	worker *executor.Worker
	admin  *hub.Principal
	work   string
	// config is the robot configuration service the workers use.
	config *robotenv.Service
}

type busKind string

const (
	memBus   busKind = "membus"
	redisBus busKind = "redisbus"
)

// combos lists the database × bus pairs the tests run on.
func combos() []struct {
	dialect string
	bus     busKind
} {
	var out []struct {
		dialect string
		bus     busKind
	}
	for _, d := range hubtest.Dialects() {
		out = append(out, struct {
			dialect string
			bus     busKind
		}{d, memBus})
	}
	if os.Getenv(hubtest.EnvRedisURL) != "" || hubtest.RequireServices() {
		out = append(out, struct {
			dialect string
			bus     busKind
		}{hubtest.Dialects()[len(hubtest.Dialects())-1], redisBus})
	}
	return out
}

func newBus(t testing.TB, kind busKind) bus.Bus {
	t.Helper()
	if kind == memBus {
		b := membus.New(membus.Options{RedeliverAfter: 2 * time.Second})
		t.Cleanup(func() { b.Close() })
		return b
	}
	client, prefix := hubtest.Redis(t)
	b, err := redisbus.New(client, redisbus.Options{QueueKey: prefix + "queue", ChannelPrefix: prefix + "ch", RedeliverAfter: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

type opts struct {
	lease    time.Duration
	noWorker bool
	baseEnv  []string
	// maxArtifact and maxDisk are the worker's MAX_ARTIFACT_BYTES (default
	// 64 MiB) and RUN_MAX_DISK_BYTES (default the worker's own).
	maxArtifact, maxDisk int64
	// state wraps the worker's store (a slow or failing one); nil: the database.
	state func(executor.RunState) executor.RunState
	// sandbox confines the worker's robots; the zero value does not.
	sandbox executor.Sandbox
	// log receives the worker's own log; nil: discarded.
	log *slog.Logger
	// uv is the worker's PYTHON_ENV_UV ("" finds uv on PATH); envBudget
	// its PYTHON_ENV_CACHE_BYTES (0: none).
	uv        string
	envBudget int64
}

func (o opts) logger() *slog.Logger {
	if o.log != nil {
		return o.log
	}
	return slog.New(slog.DiscardHandler)
}

func setup(t testing.TB, dialect string, kind busKind, o opts) *env {
	t.Helper()
	return setupWithBus(t, dialect, newBus(t, kind), o)
}

// setupWithBus is setup on a given bus.
func setupWithBus(t testing.TB, dialect string, b bus.Bus, o opts) *env {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("robots in these tests are shell and Python scripts")
	}
	if o.lease == 0 {
		o.lease = 3 * time.Second
	}
	db := hubtest.Store(t, dialect)
	blobs, err := blob.NewLocal(filepath.Join(t.TempDir(), "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	limits := archive.Limits{MaxFiles: 100, MaxUnpackedBytes: 64 << 20}
	ring, err := keyring.New(keyring.GenerateKey())
	if err != nil {
		t.Fatal(err)
	}
	e := &env{db: db, bus: b, blobs: blobs, work: t.TempDir(), config: robotenv.New(db, ring, nil)}
	e.reg = registry.New(db, blobs, registry.Config{MaxArtifactBytes: 64 << 20, Limits: limits, Logger: log})
	e.runs = runs.New(db, b, blobs, runs.Config{DefaultTimeout: time.Minute, StaleAfter: o.lease, Logger: log})
	e.rec = runs.NewReconciler(e.runs)
	e.rec.Interval, e.rec.ResendAfter = 200*time.Millisecond, time.Second
	ids := identity.New(db, identity.Config{SecretKey: strings.Repeat("k", 40), AllowLocal: true, BcryptCost: bcrypt.MinCost})
	ctx := context.Background()
	if _, err := ids.Bootstrap(ctx, "admin", "admin-password", ""); err != nil {
		t.Fatal(err)
	}
	tok, _ := ids.Login(ctx, "admin", "admin-password", "")
	if e.admin, err = ids.Authenticate(ctx, tok, ""); err != nil {
		t.Fatal(err)
	}
	if err := e.rec.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.rec.Stop(ctx) })
	if !o.noWorker {
		e.startWorker(t, "w1", o)
	}
	return e
}

func (e *env) startWorker(t testing.TB, id string, o opts) *executor.Worker {
	t.Helper()
	base := o.baseEnv
	if base == nil {
		base = os.Environ()
	}
	if o.lease == 0 {
		o.lease = 3 * time.Second
	}
	if o.maxArtifact == 0 {
		o.maxArtifact = 64 << 20
	}
	python, _ := exec.LookPath("python3")
	var state executor.RunState = runstate.New(e.db, e.bus, e.blobs, runstate.Config{MaxArtifactBytes: o.maxArtifact, Logger: o.logger()})
	if o.state != nil {
		state = o.state(state)
	}
	w := executor.New(state, executor.Config{
		ID: id, Version: "test", Concurrency: 2, LeaseDuration: o.lease, PythonExecutable: python,
		WorkDir: filepath.Join(e.work, id), Limits: archive.Limits{MaxFiles: 100, MaxUnpackedBytes: 64 << 20},
		GracePeriod: 500 * time.Millisecond, MaxArtifactBytes: o.maxArtifact, MaxRunDiskBytes: o.maxDisk, BaseEnv: base, Logger: o.logger(),
		Env: e.config, Sandbox: o.sandbox, PythonEnvUV: o.uv, PythonEnvCacheBytes: o.envBudget,
	})
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		w.Stop(ctx)
	})
	e.worker = w
	return w
}

func zipOf(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, content := range files {
		h := &zip.FileHeader{Name: name, Method: zip.Deflate}
		h.SetMode(0o755)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(content))
	}
	zw.Close()
	return buf.Bytes()
}

// robot registers a robot and publishes one package; returns the robot id.
func (e *env) robot(t testing.TB, name string, files map[string]string, in registry.PublishInput) string {
	t.Helper()
	ctx := context.Background()
	v, err := e.reg.CreateRobot(ctx, e.admin, registry.NewRobot{Name: name, InitialVersion: registry.NewVersion{Version: "0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	up, err := e.reg.NewUpload()
	if err != nil {
		t.Fatal(err)
	}
	up.Write(zipOf(t, files))
	in.Version, in.Channel, in.FileName = "1.0.0", "stable", "pkg.zip"
	if _, err := e.reg.Publish(ctx, e.admin, v.Robot.ID, in, up); err != nil {
		t.Fatal(err)
	}
	return v.Robot.ID
}

func (e *env) execute(t testing.TB, robotID string, in runs.ExecuteInput) *hub.Run {
	t.Helper()
	r, err := e.runs.Execute(context.Background(), e.admin, robotID, in)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// wait polls a run until it is finished (or in want) or the deadline passes.
func (e *env) wait(t testing.TB, runID string, d time.Duration, want ...string) *hub.Run {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		r, err := e.db.RunByID(context.Background(), runID)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			if r.Status == w {
				return r
			}
		}
		if len(want) == 0 && hub.Finished(r.Status) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s still %s after %v", runID, r.Status, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *env) logs(t testing.TB, runID string) []hub.LogLine {
	t.Helper()
	var all []hub.LogLine
	var after int64
	for {
		lines, err := e.db.RunLogs(context.Background(), runID, after, 5000)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, lines...)
		if len(lines) < 5000 {
			return all
		}
		after = lines[len(lines)-1].Seq
	}
}

func messages(lines []hub.LogLine) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l.Level + " " + l.Message
	}
	return out
}

func checkSeq(t *testing.T, lines []hub.LogLine) {
	t.Helper()
	for i, l := range lines {
		if l.Seq != int64(i+1) {
			t.Fatalf("line %d has seq %d: gaps or duplicates", i, l.Seq)
		}
	}
}

const pythonRobot = `import os, sys
print("argv=" + " ".join(sys.argv[1:]))
print("region=" + os.environ.get("REGION", ""))
print("secret=" + os.environ.get("SECRET_KEY", "<none>"))
print("db=" + os.environ.get("DATABASE_URL", "<none>"))
print("unbuffered=" + os.environ.get("PYTHONUNBUFFERED", ""))
print("oops", file=sys.stderr)
out = os.environ["HUB_OUTPUT_DIR"]
with open(os.path.join(out, "report.csv"), "w") as f:
    f.write("a,b\n1,2\n")
with open("made-here.txt", "w") as f:
    f.write("new file in the working copy")
`

func TestPythonRobotRunsEndToEnd(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not installed")
	}
	for _, c := range combos() {
		t.Run(c.dialect+"/"+string(c.bus), func(t *testing.T) {
			secretEnv := append(os.Environ(), "SECRET_KEY=hub-signing-secret", "DATABASE_URL=postgres://u:p@db/hub")
			e := setup(t, c.dialect, c.bus, opts{baseEnv: secretEnv})
			id := e.robot(t, "py-robot", map[string]string{"main.py": pythonRobot, "lib/helper.py": "x = 1\n"},
				registry.PublishInput{ArgumentsJSON: `["--base"]`, EnvVarsJSON: `{"REGION":"br"}`})
			r := e.execute(t, id, runs.ExecuteInput{RuntimeArguments: []string{"--periodo=2026-02", "$(touch /tmp/pwned)"}})
			done := e.wait(t, r.ID, 60*time.Second)
			lines := e.logs(t, r.ID)
			if done.Status != hub.RunSuccess {
				t.Fatalf("status %s (%v); log:\n%s", done.Status, done.ErrorMessage, strings.Join(messages(lines), "\n"))
			}
			checkSeq(t, lines)
			msgs := strings.Join(messages(lines), "\n")
			for _, want := range []string{
				"INFO Execution started.", "INFO Runtime environment: PROD", "INFO Timeout seconds: 60",
				"INFO argv=--base --periodo=2026-02 $(touch /tmp/pwned)", "INFO region=br",
				"INFO secret=<none>", "INFO db=<none>", "INFO unbuffered=1", "ERROR oops",
			} {
				if !strings.Contains(msgs, want) {
					t.Errorf("log lacks %q:\n%s", want, msgs)
				}
			}
			if last := lines[len(lines)-1]; last.Message != "Execution finished successfully." {
				t.Errorf("last line = %q", last.Message)
			}
			if done.ExitCode == nil || *done.ExitCode != 0 || done.DurationSeconds == nil || done.StartedAt == nil || done.ProcessID != nil {
				t.Errorf("finished run = %+v", done)
			}
			names := map[string]bool{}
			for _, a := range done.Artifacts {
				names[a.Name] = true
				if a.Size <= 0 || a.ContentType == nil || a.SHA256 == nil {
					t.Errorf("artifact %+v lacks size, type or hash", a)
				}
			}
			for _, want := range []string{"run.log", "report.csv", "made-here.txt"} {
				if !names[want] {
					t.Errorf("artifacts %v lack %s", names, want)
				}
			}
			if names["main.py"] || names["helper.py"] {
				t.Errorf("unchanged package files registered as artifacts: %v", names)
			}
			// The working copy is gone; the cached package stays.
			if entries, _ := os.ReadDir(filepath.Join(e.work, "w1", "runs")); len(entries) != 0 {
				t.Errorf("run folders left: %v", entries)
			}
		})
	}
}

func TestShellRobotFailureAndOutput(t *testing.T) {
	for _, c := range combos() {
		t.Run(c.dialect+"/"+string(c.bus), func(t *testing.T) {
			e := setup(t, c.dialect, c.bus, opts{})
			id := e.robot(t, "sh-robot", map[string]string{"run.sh": "#!/bin/sh\necho from shell \"$1\"\nprintf 'bad \\377\\376 bytes\\n'\nhead -c 1048576 /dev/zero | tr '\\0' 'x'\necho\nexit 7\n"},
				registry.PublishInput{EntrypointType: "EXE", EntrypointPath: "run.sh"})
			r := e.execute(t, id, runs.ExecuteInput{RuntimeArguments: []string{"arg one"}})
			done := e.wait(t, r.ID, 60*time.Second)
			lines := e.logs(t, r.ID)
			checkSeq(t, lines)
			if done.Status != hub.RunFailed || done.ErrorMessage == nil || *done.ErrorMessage != "Process returned exit code 7" || *done.ExitCode != 7 {
				t.Fatalf("run = %s %v", done.Status, done.ErrorMessage)
			}
			msgs := messages(lines)
			joined := strings.Join(msgs, "\n")
			if !strings.Contains(joined, "INFO from shell arg one") || !strings.Contains(joined, "bad \uFFFD\uFFFD bytes") {
				t.Errorf("log:\n%.2000s", joined)
			}
			long := 0
			for _, l := range lines {
				if strings.Trim(l.Message, "x") == "" && len(l.Message) > 0 {
					long += len(l.Message)
					if len(l.Message) > executor.MaxLineBytes {
						t.Errorf("line of %d bytes kept whole", len(l.Message))
					}
				}
			}
			if long != 1<<20 {
				t.Errorf("the 1 MiB line came out as %d bytes", long)
			}
			if last := lines[len(lines)-1]; last.Level != hub.LevelError || last.Message != "Process returned exit code 7" {
				t.Errorf("last line = %+v", last)
			}
		})
	}
}

func TestCancelPendingAndRunning(t *testing.T) {
	for _, c := range combos() {
		t.Run(c.dialect+"/"+string(c.bus), func(t *testing.T) {
			e := setup(t, c.dialect, c.bus, opts{noWorker: true})
			ctx := context.Background()
			pidFile := filepath.Join(t.TempDir(), "pids")
			id := e.robot(t, "sleeper", map[string]string{"run.sh": "#!/bin/sh\nsleep 300 & echo $! >> " + pidFile + "\nsleep 300 & echo $! >> " + pidFile + "\necho started\nwait\n"},
				registry.PublishInput{EntrypointType: "EXE", EntrypointPath: "run.sh"})

			// PENDING: cancelled at once, never runs.
			pending := e.execute(t, id, runs.ExecuteInput{})
			got, err := e.runs.Cancel(ctx, e.admin, pending.ID)
			if err != nil || got.Status != hub.RunCanceled || !got.CancelRequested || got.CanceledAt == nil {
				t.Fatalf("cancel pending = %+v, %v", got, err)
			}
			e.startWorker(t, "w1", opts{})
			// RUNNING: the whole process tree is stopped.
			r := e.execute(t, id, runs.ExecuteInput{})
			e.wait(t, r.ID, 30*time.Second, hub.RunRunning)
			waitFor(t, 10*time.Second, func() bool { b, _ := os.ReadFile(pidFile); return strings.Count(string(b), "\n") == 2 })
			if _, err := e.runs.Cancel(ctx, e.admin, r.ID); err != nil {
				t.Fatal(err)
			}
			done := e.wait(t, r.ID, 20*time.Second)
			if done.Status != hub.RunCanceled || done.CanceledAt == nil {
				t.Fatalf("cancelled run = %s", done.Status)
			}
			lines := messages(e.logs(t, r.ID))
			if n := len(lines); n < 2 || lines[n-2] != "INFO Execution canceled by user" || lines[n-1] != "INFO Execution marked as CANCELED." {
				t.Errorf("last lines = %v", lines[max(0, len(lines)-3):])
			}
			b, _ := os.ReadFile(pidFile)
			for _, pid := range strings.Fields(string(b)) {
				waitFor(t, 5*time.Second, func() bool { return !alive(pid) })
			}
			// The pending run never started.
			if p, _ := e.db.RunByID(ctx, pending.ID); p.StartedAt != nil || p.Status != hub.RunCanceled {
				t.Errorf("cancelled pending run = %+v", p)
			}
			// Cancelling a finished run again is harmless; a finished non-cancelled one is 409.
			if _, err := e.runs.Cancel(ctx, e.admin, r.ID); err != nil {
				t.Errorf("second cancel: %v", err)
			}
		})
	}
}

func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func alive(pid string) bool {
	return exec.Command("kill", "-0", pid).Run() == nil
}

func TestTimeout(t *testing.T) {
	e := setup(t, hubtest.Dialects()[0], memBus, opts{})
	id := e.robot(t, "slowpoke", map[string]string{"run.sh": "#!/bin/sh\necho going\nsleep 30\n"}, registry.PublishInput{EntrypointType: "EXE", EntrypointPath: "run.sh"})
	one := 1
	r := e.execute(t, id, runs.ExecuteInput{TimeoutSeconds: &one})
	done := e.wait(t, r.ID, 20*time.Second)
	if done.Status != hub.RunFailed || done.ErrorMessage == nil || *done.ErrorMessage != "TIMEOUT" {
		t.Fatalf("timed-out run = %s %v", done.Status, done.ErrorMessage)
	}
	lines := messages(e.logs(t, r.ID))
	if lines[len(lines)-2] != "ERROR TIMEOUT: exceeded 1 seconds." || lines[len(lines)-1] != "ERROR TIMEOUT" {
		t.Errorf("last lines = %v", lines[len(lines)-2:])
	}
}

// TestLostSignalAndDeadWorker covers the reconciler: a run whose ready signal
// was lost still runs; a run whose worker died ends FAILED "worker lost".
func TestLostSignalAndDeadWorker(t *testing.T) {
	for _, c := range combos() {
		t.Run(c.dialect+"/"+string(c.bus), func(t *testing.T) {
			e := setup(t, c.dialect, c.bus, opts{noWorker: true, lease: time.Second})
			ctx := context.Background()
			id := e.robot(t, "quick", map[string]string{"run.sh": "#!/bin/sh\necho hi\n"}, registry.PublishInput{EntrypointType: "EXE", EntrypointPath: "run.sh"})
			// A worker that claims a run and dies (never renews the lease).
			r := e.execute(t, id, runs.ExecuteInput{})
			now := time.Now().UTC()
			if _, ok, err := e.db.ClaimRun(ctx, r.ID, "ghost", "ghost-host", now, now.Add(time.Second)); err != nil || !ok {
				t.Fatalf("ghost claim: %v %v", ok, err)
			}
			done := e.wait(t, r.ID, 10*time.Second)
			if done.Status != hub.RunFailed || done.ErrorMessage == nil || !strings.Contains(*done.ErrorMessage, "worker lost") {
				t.Fatalf("orphaned run = %s %v", done.Status, done.ErrorMessage)
			}
			// Runs queued while no worker listens, plus one whose signal is
			// lost, all run once a worker starts.
			var ids []string
			for range 3 {
				ids = append(ids, e.execute(t, id, runs.ExecuteInput{}).ID)
			}
			e.startWorker(t, "w2", opts{lease: time.Second})
			for _, rid := range ids {
				if got := e.wait(t, rid, 30*time.Second); got.Status != hub.RunSuccess {
					t.Errorf("run %s = %s", rid, got.Status)
				}
			}
			out := e.logs(t, ids[0])
			if n := strings.Count(strings.Join(messages(out), "\n"), "Execution started."); n != 1 {
				t.Errorf("run executed %d times", n)
			}
		})
	}
}

// TestRestartedWorkerIsRunningAgain stops a worker and starts it again under
// the same id (a restart on the same data folder): the workers list must say
// RUNNING with the new start time, and the run statistics must count it alive.
func TestRestartedWorkerIsRunningAgain(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			e := setup(t, dialect, memBus, opts{noWorker: true})
			ctx := context.Background()
			first := e.startWorker(t, "w1", opts{})
			stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := first.Stop(stopCtx); err != nil {
				t.Fatal(err)
			}
			ws, err := e.db.Workers(ctx)
			if err != nil || len(ws) != 1 || ws[0].Status != hub.WorkerStopped {
				t.Fatalf("after stop: workers = %+v, %v; want one STOPPED", ws, err)
			}
			stoppedStart := ws[0].StartedAt

			e.startWorker(t, "w1", opts{})
			ws, err = e.db.Workers(ctx)
			if err != nil || len(ws) != 1 {
				t.Fatalf("after restart: workers = %+v, %v; want one", ws, err)
			}
			if ws[0].Status != hub.WorkerRunning {
				t.Errorf("after restart: status = %s, want %s", ws[0].Status, hub.WorkerRunning)
			}
			if !ws[0].StartedAt.After(stoppedStart) {
				t.Errorf("after restart: started_at = %v, want after the first start %v", ws[0].StartedAt, stoppedStart)
			}
			st, err := e.db.RunStats(ctx, time.Now().UTC(), time.Minute)
			if err != nil || st.WorkersAlive != 1 {
				t.Errorf("after restart: workers alive = %d, %v; want 1", st.WorkersAlive, err)
			}
			id := e.robot(t, "after-restart", map[string]string{"main.sh": "#!/bin/sh\necho hi\n"},
				registry.PublishInput{EntrypointPath: "main.sh", EntrypointType: "EXE"})
			if r := e.wait(t, e.execute(t, id, runs.ExecuteInput{}).ID, 30*time.Second); r.Status != hub.RunSuccess {
				t.Errorf("run after restart: %s, want SUCCESS", r.Status)
			}
		})
	}
}

// TestPoisonedCacheNeverRuns changes a cached package between two runs (what
// a robot with write access to the cache did to other robots): the next run
// finds the change, unpacks the published package again and runs the
// original code.
func TestPoisonedCacheNeverRuns(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			e := setup(t, dialect, memBus, opts{})
			id := e.robot(t, "cached", map[string]string{"run.sh": "#!/bin/sh\necho original\n", "lib/data.txt": "x\n"},
				registry.PublishInput{EntrypointType: "EXE", EntrypointPath: "run.sh"})
			first := e.wait(t, e.execute(t, id, runs.ExecuteInput{}).ID, 30*time.Second)
			if first.Status != hub.RunSuccess {
				t.Fatalf("first run: %s", first.Status)
			}
			cached, err := filepath.Glob(filepath.Join(e.work, "w1", "cache", first.VersionID, "files", "run.sh"))
			if err != nil || len(cached) != 1 {
				t.Fatalf("cached run.sh: %v %v", cached, err)
			}
			for name, change := range map[string]func() error{
				"modified": func() error {
					f, err := os.OpenFile(cached[0], os.O_APPEND|os.O_WRONLY, 0)
					if err != nil {
						return err
					}
					defer f.Close()
					_, err = f.WriteString("echo poisoned\n")
					return err
				},
				"added": func() error {
					return os.WriteFile(filepath.Join(filepath.Dir(cached[0]), "sitecustomize.py"), []byte("print('poisoned')\n"), 0o644)
				},
			} {
				if err := change(); err != nil {
					t.Fatal(err)
				}
				r := e.wait(t, e.execute(t, id, runs.ExecuteInput{}).ID, 30*time.Second)
				msgs := strings.Join(messages(e.logs(t, r.ID)), "\n")
				if r.Status != hub.RunSuccess || strings.Contains(msgs, "poisoned") || !strings.Contains(msgs, "INFO original") {
					t.Errorf("%s cache: run %s, log:\n%s", name, r.Status, msgs)
				}
				cached, _ = filepath.Glob(filepath.Join(e.work, "w1", "cache", first.VersionID, "files", "run.sh"))
			}
		})
	}
}

// detachingRobot starts a process in a session of its own and reports it
// once it has left the robot's session (before that, the robot's own group
// kill would end it and the test would prove nothing).
const detachingRobot = `#!/bin/sh
setsid sleep 300 </dev/null >/dev/null 2>&1 &
pid=$!
i=0
while [ "$(awk '{print $6}' /proc/$pid/stat)" != "$pid" ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i+1)); done
echo daemon=$pid
`

// TestDetachedProcessesDieWithTheRun: without a cgroup, a process the robot
// detached into a session of its own (setsid) still dies when the run ends,
// found by the run id in its environment.
func TestDetachedProcessesDieWithTheRun(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Linux finds a run's processes through /proc")
	}
	t.Parallel()
	e := setup(t, hubtest.Dialects()[0], memBus, opts{})
	id := e.robot(t, "daemonizer", map[string]string{"run.sh": detachingRobot},
		registry.PublishInput{EntrypointType: "EXE", EntrypointPath: "run.sh"})
	r := e.wait(t, e.execute(t, id, runs.ExecuteInput{}).ID, 30*time.Second)
	var pid string
	for _, m := range messages(e.logs(t, r.ID)) {
		if p, ok := strings.CutPrefix(m, "INFO daemon="); ok {
			pid = p
		}
	}
	if r.Status != hub.RunSuccess || pid == "" {
		t.Fatalf("run %s, daemon pid %q", r.Status, pid)
	}
	if b, err := os.ReadFile("/proc/" + pid + "/stat"); err == nil && !strings.Contains(string(b), ") Z") {
		exec.Command("kill", "-9", pid).Run()
		t.Errorf("the detached process %s outlived its run", pid)
	}
	if !strings.Contains(strings.Join(messages(e.logs(t, r.ID)), "\n"), "Stopped 1 process(es) the robot left running.") {
		t.Errorf("the log does not say a process was stopped:\n%s", strings.Join(messages(e.logs(t, r.ID)), "\n"))
	}
}
