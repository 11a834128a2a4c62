package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"automationhub/internal/sandbox"
)

// TestRobotCannotEscape starts the hub as the quick start does (default
// settings, so robots are confined where the kernel can) and runs a hostile
// robot while another robot's run is in progress. The robot tries to read
// the hub's environment and every other process's, the database, the
// secret key, the data folder, another run's working copy, the package
// cache and the artifact store, to poison the cache, to read /etc/shadow
// and to write the shared /tmp: every attempt must be refused. It still
// imports a module of its package, writes an output file and a temp file.
func TestRobotCannotEscape(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("robots are confined on Linux")
	}
	if ok, why := sandbox.Available(); !ok {
		t.Skip("robots cannot be confined here: " + why)
	}
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not installed")
	}
	t.Parallel()
	dir := t.TempDir()
	hub := startHubProcess(t, dir, "HUB_ADDR=127.0.0.1:0", "ENVIRONMENT=test", "PASSWORD_HASH_COST=4",
		"DEFAULT_ADMIN_PASSWORD=admin-password-1", "SECRET_KEY="+strings.Repeat("s", 40))
	c := login(t, hub.URL+"/api/v1", "admin", "admin-password-1")

	// Another run, in progress, with a file in its working copy.
	victim := c.shellRobot("victim", "#!/bin/sh\necho private > secret.txt\necho ready\nexec sleep 120\n")
	var vrun runView
	if code := c.call("POST", "/runs/"+victim+"/execute", "application/json", strings.NewReader(`{}`), &vrun); code != 202 {
		t.Fatalf("execute victim: %d", code)
	}
	victimFile := filepath.Join(dir, "data", "worker", "runs", vrun.RunID, "workspace", "secret.txt")
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(victimFile); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the victim run never wrote its file")
		}
		time.Sleep(50 * time.Millisecond)
	}
	defer c.call("POST", "/runs/"+vrun.RunID+"/cancel", "", nil, nil)

	script, err := os.ReadFile("testdata/escape.py")
	if err != nil {
		t.Fatal(err)
	}
	robot := c.publishRobot("escape-artist", "PYTHON", "main.py", map[string]string{"main.py": string(script), "helper.py": "NAME = 'imported'\n"})
	var run runView
	body := `{"runtime_arguments":[` + jsonString(victimFile) + `]}`
	if code := c.call("POST", "/runs/"+robot+"/execute", "application/json", strings.NewReader(body), &run); code != 202 {
		t.Fatalf("execute: %d", code)
	}
	run = c.waitRun(run.RunID, 60*time.Second)
	log := c.logMessages(run.RunID)
	text := strings.Join(log, "\n")
	if run.Status != "SUCCESS" {
		t.Fatalf("run = %s (%s); log:\n%s", run.Status, deref(run.ErrorMessage), text)
	}
	for _, l := range log {
		if strings.HasPrefix(l, "ESCAPE ") {
			t.Errorf("the robot got through: %s", l)
		}
	}
	for _, want := range []string{"DENIED hub environ", "DENIED database", "DENIED secret key", "DENIED list data folder",
		"DENIED list runs", "DENIED other run", "DENIED list cache", "DENIED write cache", "DENIED list artifacts",
		"DENIED shadow", "DENIED shared tmp", "OK helper imported", "OK output",
		"OK temp " + filepath.Join(dir, "data", "worker", "runs", run.RunID, "tmp")} {
		if !containsLine(log, want) {
			t.Errorf("log lacks %q:\n%s", want, text)
		}
	}
	// The daemon it left, in a session of its own, died with the run.
	for _, l := range log {
		if pid, ok := strings.CutPrefix(l, "DAEMON "); ok {
			deadline := time.Now().Add(10 * time.Second)
			for processRuns(pid) {
				if time.Now().After(deadline) {
					t.Errorf("the robot's setsid daemon %s outlived its run", pid)
					exec.Command("kill", "-9", pid).Run()
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
	if !containsLine(log, "DAEMON ") || !containsLine(log, "Stopped 1 process(es) the robot left running.") {
		t.Errorf("log lacks the daemon or its end:\n%s", text)
	}
	if b, err := os.ReadFile(victimFile); err != nil || string(b) != "private\n" {
		t.Errorf("the victim's file changed: %q, %v", b, err)
	}
	hub.stop(t)
}

// processRuns reports whether a process runs (a zombie waiting to be reaped
// does not).
func processRuns(pid string) bool {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z") && !strings.HasPrefix(rest, "X")
}

// TestRobotRunsAsRobotUser: a worker running as root with ROBOT_USER starts
// robots as that user. The robot works in its own folders (working copy,
// outputs, temp) but cannot touch run.log, which stays the worker's.
func TestRobotRunsAsRobotUser(t *testing.T) {
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		t.Skip("needs a Linux worker running as root")
	}
	if ok, why := sandbox.Available(); !ok {
		t.Skip("robots cannot be confined here: " + why)
	}
	t.Parallel()
	// A folder the robot user may traverse (test temp folders are 0700).
	dir, err := os.MkdirTemp("", "hub-robot-user-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	hub := startHubProcess(t, dir, "HUB_ADDR=127.0.0.1:0", "ENVIRONMENT=test", "PASSWORD_HASH_COST=4",
		"DEFAULT_ADMIN_PASSWORD=admin-password-1", "ROBOT_USER=nobody")
	c := login(t, hub.URL+"/api/v1", "admin", "admin-password-1")
	robot := c.shellRobot("as-nobody", "#!/bin/sh\necho uid=$(id -u)\n"+
		"echo out > \"$HUB_OUTPUT_DIR/o.txt\" && echo output-ok\n"+
		"echo tmp > \"$TMPDIR/t.txt\" && echo tmp-ok\n"+
		"echo changed > note.txt && echo workspace-ok\n"+
		"if echo forged >> ../run.log 2>/dev/null; then echo ESCAPE run.log; else echo DENIED run.log; fi\n")
	var run runView
	if code := c.call("POST", "/runs/"+robot+"/execute", "application/json", strings.NewReader(`{}`), &run); code != 202 {
		t.Fatalf("execute: %d", code)
	}
	run = c.waitRun(run.RunID, 60*time.Second)
	log := c.logMessages(run.RunID)
	if run.Status != "SUCCESS" {
		t.Fatalf("run = %s (%s); log:\n%s", run.Status, deref(run.ErrorMessage), strings.Join(log, "\n"))
	}
	for _, want := range []string{"uid=65534", "output-ok", "tmp-ok", "workspace-ok", "DENIED run.log"} {
		if !containsLine(log, want) {
			t.Errorf("log lacks %q:\n%s", want, strings.Join(log, "\n"))
		}
	}
	var full struct {
		Artifacts []struct {
			ArtifactName string `json:"artifact_name"`
		} `json:"artifacts"`
	}
	c.call("GET", "/runs/"+run.RunID, "", nil, &full)
	names := make([]string, 0, len(full.Artifacts))
	for _, a := range full.Artifacts {
		names = append(names, a.ArtifactName)
	}
	if !strings.Contains(strings.Join(names, " "), "o.txt") {
		t.Errorf("artifacts = %v, want the robot's o.txt", names)
	}
	hub.stop(t)
}
