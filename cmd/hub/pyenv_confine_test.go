package main

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"automationhub/internal/pyenv/pyenvtest"
	"automationhub/internal/sandbox"
)

// TestRobotUserCannotChangeItsEnvironment: a worker running as root with
// ROBOT_USER builds a robot's Python environment offline (the package
// index unreachable) and runs the robot as that user in it; the robot
// imports its package but cannot change any file of the environment other
// runs share, and the index setting does not reach it.
func TestRobotUserCannotChangeItsEnvironment(t *testing.T) {
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		t.Skip("needs a Linux worker running as root")
	}
	if ok, why := sandbox.Available(); !ok {
		t.Skip("robots cannot be confined here: " + why)
	}
	// An interpreter the robot user can run (the test's may live in /root).
	const python = "/usr/bin/python3"
	if _, err := os.Stat(python); err != nil {
		t.Skip("needs " + python)
	}
	t.Parallel()
	dir, err := os.MkdirTemp("", "hub-robot-env-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	hub := startHubProcess(t, dir, "HUB_ADDR=127.0.0.1:0", "ENVIRONMENT=test", "PASSWORD_HASH_COST=4",
		"DEFAULT_ADMIN_PASSWORD=admin-password-1", "ROBOT_USER=nobody", "PYTHON_EXECUTABLE="+python,
		"PIP_INDEX_URL=http://user:index-pass@127.0.0.1:9/simple", "PYTHON_ENV_UV=off")
	c := login(t, hub.URL+"/api/v1", "admin", "admin-password-1")
	wheel := pyenvtest.Wheel(t, t.TempDir(), "tinypkg", "1.0", "GREETING = 'hello from tinypkg'\n")
	whl, err := os.ReadFile(wheel)
	if err != nil {
		t.Fatal(err)
	}
	main := `import os, sys, pathlib, tinypkg
print(tinypkg.GREETING)
print("uid=%d" % os.getuid())
print("index=" + os.environ.get("PIP_INDEX_URL", "<none>"))
for target in [pathlib.Path(tinypkg.__file__), pathlib.Path(sys.prefix) / "bin" / "evil", pathlib.Path(sys.prefix) / "pyvenv.cfg"]:
    try:
        with open(target, "a") as f:
            f.write("# poisoned\n")
        print("poisoned " + target.name)
    except OSError:
        print("refused " + target.name)
`
	robot := c.publishRobot("env-as-nobody", "PYTHON", "main.py", map[string]string{"main.py": main,
		"requirements.txt": "tinypkg==1.0\n", "wheels/" + filepath.Base(wheel): string(whl)})
	var run runView
	if code := c.call("POST", "/runs/"+robot+"/execute", "application/json", strings.NewReader(`{}`), &run); code != 202 {
		t.Fatalf("execute: %d", code)
	}
	run = c.waitRun(run.RunID, 120*time.Second)
	log := c.logMessages(run.RunID)
	if run.Status != "SUCCESS" {
		t.Fatalf("run = %s (%s); log:\n%s", run.Status, deref(run.ErrorMessage), strings.Join(log, "\n"))
	}
	for _, want := range []string{"hello from tinypkg", "uid=65534", "index=<none>", "refused tinypkg.py", "refused evil", "refused pyvenv.cfg"} {
		if !containsLine(log, want) {
			t.Errorf("log lacks %q:\n%s", want, strings.Join(log, "\n"))
		}
	}
	if all := strings.Join(log, "\n"); strings.Contains(all, "poisoned") || strings.Contains(all, "index-pass") {
		t.Errorf("the robot changed its environment, or the index password is in the log:\n%s", all)
	}
	hub.stop(t)
}
