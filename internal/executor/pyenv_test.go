package executor_test

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"automationhub/internal/executor"
	"automationhub/internal/hub"
	"automationhub/internal/hubtest"
	"automationhub/internal/pyenv/pyenvtest"
	"automationhub/internal/registry"
	"automationhub/internal/runs"
	"automationhub/internal/sandbox"
)

// wheelFiles is a package's wheels/ folder holding tinypkg 1.0.
func wheelFiles(t testing.TB) map[string]string {
	t.Helper()
	dir := t.TempDir()
	path := pyenvtest.Wheel(t, dir, "tinypkg", "1.0", "GREETING = 'hello from tinypkg'\n")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{"wheels/" + filepath.Base(path): string(b)}
}

// requirementsRobot is a package that imports tinypkg from its own
// environment and reports what it sees.
func requirementsRobot(t testing.TB, requirements, main string) map[string]string {
	files := wheelFiles(t)
	files["requirements.txt"] = requirements
	files["main.py"] = main
	return files
}

const tinyRobot = `import os, sys, tinypkg
print(tinypkg.GREETING)
print("in-env=" + str(sys.prefix == os.environ.get("VIRTUAL_ENV")))
print("index=" + os.environ.get("PIP_INDEX_URL", "<none>"))
print("proxy=" + os.environ.get("HTTPS_PROXY", "<none>"))
`

// offlineEnv is a worker environment whose package index is unreachable
// and whose build proxy carries credentials: neither may reach a robot.
func offlineEnv() []string {
	return append(pyenvtest.Offline(os.Environ()), "PYTHON_BUILD_HTTPS_PROXY=http://build:proxy-pass@127.0.0.1:9")
}

func runLog(t *testing.T, e *env, runID string) (*hub.Run, string) {
	t.Helper()
	done := e.wait(t, runID, 120*time.Second)
	return done, strings.Join(messages(e.logs(t, runID)), "\n")
}

// TestRobotWithRequirementsRunsInItsEnvironment: a robot importing a
// package of its wheels/ runs offline in its own environment, built in a
// "Preparing Python environment" step of its first run; the second run
// reuses it without that step. Index and build-proxy settings never reach
// the robot.
func TestRobotWithRequirementsRunsInItsEnvironment(t *testing.T) {
	t.Parallel()
	pyenvtest.Python(t)
	e := setup(t, hubtest.Dialects()[0], memBus, opts{baseEnv: offlineEnv(), uv: "off"})
	id := e.robot(t, "needs-tinypkg", requirementsRobot(t, "tinypkg==1.0\n", tinyRobot), registry.PublishInput{})
	for i, wantBuild := range []bool{true, false} {
		done, log := runLog(t, e, e.execute(t, id, runs.ExecuteInput{}).ID)
		if done.Status != hub.RunSuccess {
			t.Fatalf("run %d: %s %v\n%s", i+1, done.Status, done.ErrorMessage, log)
		}
		for _, want := range []string{"INFO hello from tinypkg", "INFO in-env=True", "INFO index=<none>", "INFO proxy=<none>"} {
			if !strings.Contains(log, want) {
				t.Errorf("run %d: log lacks %q:\n%s", i+1, want, log)
			}
		}
		if got := strings.Contains(log, "Preparing Python environment"); got != wantBuild {
			t.Errorf("run %d: preparing step shown %v, want %v:\n%s", i+1, got, wantBuild, log)
		}
		if !wantBuild && !strings.Contains(log, "(requirements.txt, Python 3.") {
			t.Errorf("run %d: the log does not say which environment it used:\n%s", i+1, log)
		}
		if strings.Contains(log, "proxy-pass") {
			t.Errorf("run %d: the build proxy's password is in the log", i+1)
		}
	}
	keys := e.worker.PythonEnvs().ReadyKeys()
	if len(keys) != 1 {
		t.Fatalf("got ready environments %v, want one", keys)
	}
	// The runs told the hub which environment this worker has.
	vs, err := e.reg.Versions(t.Context(), e.admin, id)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		if !v.IsActive {
			continue
		}
		envs, err := e.db.VersionEnvironments(t.Context(), v.ID)
		if err != nil || len(envs) != 1 || envs[0].WorkerID != "w1" || envs[0].Status != hub.EnvReady || envs[0].Key != keys[0] {
			t.Errorf("got reports %+v, %v; want w1 ready with %s", envs, err, keys[0])
		}
	}
}

// TestConcurrentFirstRunsBuildOnce: two runs that need the same new
// environment at the same time build it once.
func TestConcurrentFirstRunsBuildOnce(t *testing.T) {
	t.Parallel()
	pyenvtest.Python(t)
	e := setup(t, hubtest.Dialects()[0], memBus, opts{baseEnv: offlineEnv(), uv: "off"})
	id := e.robot(t, "twice", requirementsRobot(t, "tinypkg\n", tinyRobot), registry.PublishInput{})
	a, b := e.execute(t, id, runs.ExecuteInput{}), e.execute(t, id, runs.ExecuteInput{})
	var logs [2]string
	var wg sync.WaitGroup
	for i, r := range []*hub.Run{a, b} {
		wg.Go(func() {
			done := e.wait(t, r.ID, 120*time.Second)
			logs[i] = strings.Join(messages(e.logs(t, r.ID)), "\n")
			if done.Status != hub.RunSuccess {
				t.Errorf("run %d: %s %v\n%s", i+1, done.Status, done.ErrorMessage, logs[i])
			}
		})
	}
	wg.Wait()
	all := logs[0] + "\n" + logs[1]
	if n := strings.Count(all, " -m venv "); n != 1 {
		t.Fatalf("got %d builds, want 1:\n%s", n, all)
	}
	if !strings.Contains(all, "was built by another run") {
		t.Errorf("the run that waited does not say so:\n%s", all)
	}
}

// TestBrokenRequirementFailsTheRun: a requirement the installer cannot
// satisfy fails the run with pip's error in the log and in error_message;
// the robot never starts.
func TestBrokenRequirementFailsTheRun(t *testing.T) {
	t.Parallel()
	pyenvtest.Python(t)
	e := setup(t, hubtest.Dialects()[0], memBus, opts{baseEnv: offlineEnv(), uv: "off"})
	id := e.robot(t, "broken", requirementsRobot(t, "tinypkg\nnosuchpkg==9.9\n", tinyRobot), registry.PublishInput{})
	done, log := runLog(t, e, e.execute(t, id, runs.ExecuteInput{}).ID)
	if done.Status != hub.RunFailed || done.ErrorMessage == nil ||
		!strings.HasPrefix(*done.ErrorMessage, "the Python environment could not be built: ERROR:") || !strings.Contains(*done.ErrorMessage, "nosuchpkg==9.9") {
		t.Fatalf("got %s %v, want FAILED with pip's error\n%s", done.Status, done.ErrorMessage, log)
	}
	if !strings.Contains(log, "Preparing Python environment") || !strings.Contains(log, "nosuchpkg") || strings.Contains(log, "hello from tinypkg") {
		t.Errorf("log:\n%s", log)
	}
	if len(e.worker.PythonEnvs().ReadyKeys()) != 0 {
		t.Error("a failed build was kept")
	}
}

// TestPythonVersionRefused: robot.yaml asking for a Python the worker does
// not have fails the run with a clear message.
func TestPythonVersionRefused(t *testing.T) {
	t.Parallel()
	pyenvtest.Python(t)
	e := setup(t, hubtest.Dialects()[0], memBus, opts{uv: "off"})
	id := e.robot(t, "old-python", map[string]string{"main.py": "print('ran')\n", "robot.yaml": "python: \"2.1\"\n"}, registry.PublishInput{})
	done, log := runLog(t, e, e.execute(t, id, runs.ExecuteInput{}).ID)
	if done.Status != hub.RunFailed || done.ErrorMessage == nil || !strings.HasPrefix(*done.ErrorMessage, "robot.yaml asks for Python 2.1, but this worker has ") {
		t.Fatalf("got %s %v\n%s", done.Status, done.ErrorMessage, log)
	}
}

// TestConfinedRobotCannotChangeItsEnvironment: a confined robot reads and
// imports its environment (which lies in the worker folder, hidden from
// robots) but cannot change it for the other runs sharing it; the build
// itself ran confined.
func TestConfinedRobotCannotChangeItsEnvironment(t *testing.T) {
	t.Parallel()
	pyenvtest.Python(t)
	if ok, why := sandbox.Available(); !ok {
		t.Skip("robots cannot be confined here: " + why)
	}
	e := setup(t, hubtest.Dialects()[0], memBus, opts{noWorker: true})
	sb := executor.Sandbox{Launcher: os.Args[0], Required: true, Hidden: []string{e.work}}
	e.startWorker(t, "w1", opts{baseEnv: offlineEnv(), uv: "off", sandbox: sb})
	poison := tinyRobot + `
import pathlib
for target in [pathlib.Path(tinypkg.__file__), pathlib.Path(sys.prefix) / "bin" / "evil", pathlib.Path(sys.prefix) / "pyvenv.cfg"]:
    try:
        with open(target, "a") as f:
            f.write("# poisoned\n")
        print("poisoned " + target.name)
    except OSError:
        print("refused " + target.name)
# The other robots' environments sit next to this one: out of reach.
try:
    print("listed " + str(len(os.listdir(pathlib.Path(sys.prefix).parent))))
except OSError:
    print("refused listing")
`
	id := e.robot(t, "poisoner", requirementsRobot(t, "tinypkg\n", poison), registry.PublishInput{})
	done, log := runLog(t, e, e.execute(t, id, runs.ExecuteInput{}).ID)
	if done.Status != hub.RunSuccess {
		t.Fatalf("got %s %v\n%s", done.Status, done.ErrorMessage, log)
	}
	for _, want := range []string{"INFO hello from tinypkg", "INFO refused tinypkg.py", "INFO refused evil", "INFO refused pyvenv.cfg", "INFO refused listing"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, "poisoned") {
		t.Errorf("the robot changed its shared environment:\n%s", log)
	}
}

// TestPrepareAheadOfFirstRun: a prepare request makes the worker build the
// environment with its heartbeat and report it ready; the first run then
// needs no preparing step. A package without requirements is reported as
// needing none.
func TestPrepareAheadOfFirstRun(t *testing.T) {
	t.Parallel()
	pyenvtest.Python(t)
	e := setup(t, hubtest.Dialects()[0], memBus, opts{baseEnv: offlineEnv(), uv: "off", lease: time.Second})
	ctx := t.Context()
	withReqs := e.robot(t, "prepared", requirementsRobot(t, "tinypkg\n", tinyRobot), registry.PublishInput{})
	plain := e.robot(t, "plain", map[string]string{"main.py": "print('plain')\n"}, registry.PublishInput{})
	versionOf := func(robotID string) string {
		vs, err := e.reg.Versions(ctx, e.admin, robotID)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vs {
			if v.IsActive {
				return v.ID
			}
		}
		t.Fatal("no active version")
		return ""
	}
	for robotID, want := range map[string]string{withReqs: hub.EnvReady, plain: hub.EnvNotNeeded} {
		vid := versionOf(robotID)
		if _, err := e.reg.Prepare(ctx, e.admin, robotID, vid); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(90 * time.Second)
		for {
			envs, err := e.reg.Environments(ctx, e.admin, robotID, vid)
			if err != nil {
				t.Fatal(err)
			}
			if len(envs) == 1 && envs[0].WorkerID == "w1" && envs[0].Status == want {
				break
			}
			if len(envs) == 1 && envs[0].Status == hub.EnvFailed {
				t.Fatalf("the prepare failed: %v", *envs[0].Error)
			}
			if time.Now().After(deadline) {
				t.Fatalf("got %+v, want w1 %s", envs, want)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	done, log := runLog(t, e, e.execute(t, withReqs, runs.ExecuteInput{}).ID)
	if done.Status != hub.RunSuccess || strings.Contains(log, "Preparing Python environment") || !strings.Contains(log, "is ready") {
		t.Fatalf("got %s %v, want a run that finds its environment ready:\n%s", done.Status, done.ErrorMessage, log)
	}
}

// BenchmarkPythonEnvStart reports how long a Python robot takes to start
// (queued → its first output line) on a fresh worker, on its first run and
// on its second, for a robot without requirements and for one with a small
// dependency (installed offline from its wheels/ folder, with the worker's
// installer: uv when on PATH, else venv and pip).
func BenchmarkPythonEnvStart(b *testing.B) {
	pyenvtest.Python(b)
	for _, tc := range []struct {
		name  string
		files func() map[string]string
	}{
		{"no-requirements", func() map[string]string { return map[string]string{"main.py": "print('hello from tinypkg')\n"} }},
		{"small-dependency", func() map[string]string { return requirementsRobot(b, "tinypkg==1.0\n", tinyRobot) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var first, second time.Duration
			n := 0
			for b.Loop() {
				e := setup(b, "sqlite", memBus, opts{baseEnv: offlineEnv(), lease: 10 * time.Second})
				id := e.robot(b, "bench-"+tc.name, tc.files(), registry.PublishInput{})
				first += startLatency(b, e, id)
				second += startLatency(b, e, id)
				n++
			}
			b.ReportMetric(first.Seconds()/float64(n), "first-start-s")
			b.ReportMetric(second.Seconds()/float64(n), "second-start-s")
		})
	}
}

// startLatency runs robot id once and returns the time from queueing to
// its first output line.
func startLatency(b *testing.B, e *env, id string) time.Duration {
	r := e.execute(b, id, runs.ExecuteInput{})
	done := e.wait(b, r.ID, 5*time.Minute)
	if done.Status != hub.RunSuccess {
		b.Fatalf("run %s: %v", done.Status, done.ErrorMessage)
	}
	for _, l := range e.logs(b, r.ID) {
		if l.Message == "hello from tinypkg" {
			return l.Timestamp.Sub(done.QueuedAt)
		}
	}
	b.Fatal("the robot's output is not in its log")
	return 0
}

// TestBudgetSweepForgetsReadiness: with a budget of one environment, the
// build of a second robot's environment removes the first (no run uses it)
// and the hub no longer lists the first as ready on this worker.
func TestBudgetSweepForgetsReadiness(t *testing.T) {
	t.Parallel()
	pyenvtest.Python(t)
	e := setup(t, hubtest.Dialects()[0], memBus, opts{baseEnv: offlineEnv(), uv: "off", envBudget: 1})
	activeVersion := func(robotID string) string {
		vs, err := e.reg.Versions(t.Context(), e.admin, robotID)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vs {
			if v.IsActive {
				return v.ID
			}
		}
		t.Fatal("no active version")
		return ""
	}
	reports := func(versionID string) int {
		envs, err := e.db.VersionEnvironments(t.Context(), versionID)
		if err != nil {
			t.Fatal(err)
		}
		return len(envs)
	}
	first := e.robot(t, "first", requirementsRobot(t, "tinypkg\n", tinyRobot), registry.PublishInput{})
	second := e.robot(t, "second", requirementsRobot(t, "tinypkg==1.0\n", tinyRobot), registry.PublishInput{})
	if done, log := runLog(t, e, e.execute(t, first, runs.ExecuteInput{}).ID); done.Status != hub.RunSuccess {
		t.Fatalf("first: %s\n%s", done.Status, log)
	}
	if reports(activeVersion(first)) != 1 {
		t.Fatal("the first run did not report its environment")
	}
	done, log := runLog(t, e, e.execute(t, second, runs.ExecuteInput{}).ID)
	if done.Status != hub.RunSuccess || !strings.Contains(log, "(over budget)") {
		t.Fatalf("second: %s, want a build that removes the first environment:\n%s", done.Status, log)
	}
	if n := reports(activeVersion(first)); n != 0 {
		t.Errorf("the removed environment is still listed (%d reports)", n)
	}
	if n := reports(activeVersion(second)); n != 1 {
		t.Errorf("the second environment has %d reports, want 1", n)
	}
	if keys := e.worker.PythonEnvs().ReadyKeys(); len(keys) != 1 {
		t.Errorf("got ready environments %v, want the second alone", keys)
	}
}
