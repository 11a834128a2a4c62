package sandbox_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"automationhub/internal/sandbox"
)

func TestCarve(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	for _, d := range []string{"opt/hub/data/worker/runs/r1", "opt/hub/bin", "opt/other", "usr/lib"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(root, "opt/hub/hub.env"), []byte("SECRET_KEY=x"), 0o600)
	os.WriteFile(filepath.Join(root, "opt/hub/README"), nil, 0o644)
	p := func(rel ...string) []string {
		out := make([]string, len(rel))
		for i, r := range rel {
			out[i] = filepath.Join(root, r)
		}
		return out
	}
	tests := []struct {
		name          string
		roots, hidden []string
		want          []string
	}{
		{"nothing hidden below the roots", p("opt", "usr"), p("elsewhere"), p("opt", "usr")},
		{"a hidden folder deep down", p("opt"), p("opt/hub/data"), p("opt/hub/README", "opt/hub/bin", "opt/hub/hub.env", "opt/other")},
		{"a hidden file", p("opt"), p("opt/hub/hub.env", "opt/hub/data"), p("opt/hub/README", "opt/hub/bin", "opt/other")},
		{"a hidden root", p("opt", "usr"), p("opt"), p("usr")},
		{"a root inside a hidden folder", p("opt/hub/data/worker"), p("opt/hub/data"), nil},
	}
	for _, tt := range tests {
		got := sandbox.Carve(tt.roots, tt.hidden)
		want := slices.Clone(tt.want)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, strings.Join(got, " "), strings.Join(want, " "))
		}
	}
}

func TestCarveHidesSensitiveSystemFiles(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/etc/shadow"); err != nil {
		t.Skip("no /etc/shadow here")
	}
	got := sandbox.Carve([]string{"/etc"}, nil)
	if slices.Contains(got, "/etc") || slices.Contains(got, "/etc/shadow") || !slices.Contains(got, "/etc/passwd") {
		t.Errorf("Carve(/etc) = %v…, want /etc/passwd without /etc/shadow", got[:min(5, len(got))])
	}
}

func TestPolicyArgs(t *testing.T) {
	t.Parallel()
	args, err := sandbox.Policy{Write: []string{"/run/x"}}.Args("/usr/bin/python3", []string{"main.py", "--a b"})
	if err != nil {
		t.Fatal(err)
	}
	if args[0] != sandbox.LauncherCommand || !strings.Contains(args[1], `"write":["/run/x"]`) || !slices.Equal(args[2:], []string{"/usr/bin/python3", "main.py", "--a b"}) {
		t.Errorf("Args = %q", args)
	}
	if err := sandbox.Main([]string{"{not json", "/bin/true"}, nil); err == nil || !strings.Contains(err.Error(), "policy") {
		t.Errorf("Main with a bad policy = %v, want a policy error", err)
	}
}

// TestRunGroupEndsDetachedProcesses puts a shell into a run's cgroup through
// the launcher; the shell starts a process in a new session and exits. The
// group still holds that process, and KillGroup ends it and removes the
// group.
func TestRunGroupEndsDetachedProcesses(t *testing.T) {
	groups, err := sandbox.NewRunGroups()
	if err != nil {
		t.Skip("no writable cgroup v2 here: " + err.Error())
	}
	defer groups.Close()
	dir, err := groups.Create("run-1")
	if err != nil {
		t.Fatal(err)
	}
	policy := sandbox.Policy{Read: sandbox.ReadableSystem(), Write: []string{t.TempDir()}, Devices: []string{"/dev/null"}, Cgroup: dir}
	args, err := policy.Args("/bin/sh", []string{"-c", "setsid sleep 300 </dev/null >/dev/null 2>&1 & echo $!"})
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(os.Args[0], args...).Output()
	if err != nil {
		t.Fatalf("launcher: %v", err)
	}
	pid := strings.TrimSpace(string(out))
	procs, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if !strings.Contains(string(procs), pid) {
		t.Fatalf("the detached process %s is not in the run's group (%q)", pid, procs)
	}
	n, err := sandbox.KillGroup(dir, 5*time.Second)
	if err != nil || n < 1 {
		t.Errorf("KillGroup = %d, %v; want at least 1 process killed", n, err)
	}
	if alive(pid) {
		t.Errorf("process %s survived its group", pid)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the group's folder is still there: %v", err)
	}
}

// TestStartingWorkerLeavesLiveGroupsAlone starts a second set of run groups
// (another worker starting in the same cgroup) while the first has a run
// group that no process has joined yet: the sweep must not remove it, or
// that run fails to start. A dead worker's empty groups do go.
func TestStartingWorkerLeavesLiveGroupsAlone(t *testing.T) {
	first, err := sandbox.NewRunGroups()
	if err != nil {
		t.Skip("no writable cgroup v2 here: " + err.Error())
	}
	defer first.Close()
	dir, err := first.Create("run-about-to-start")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(dir)
	// Groups left by a worker that no longer runs (an impossible pid).
	dead := filepath.Join(filepath.Dir(filepath.Dir(dir)), "hub-runs-2147483646-left")
	if err := os.MkdirAll(filepath.Join(dead, "old-run"), 0o755); err != nil {
		t.Fatal(err)
	}
	second, err := sandbox.NewRunGroups()
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("a starting worker removed a live worker's run group: %v", err)
	}
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		os.Remove(filepath.Join(dead, "old-run"))
		os.Remove(dead)
		t.Errorf("a dead worker's empty groups were left: %v", err)
	}
}

func TestMain(m *testing.M) {
	sandbox.RunIfLauncher() // the tests start robots through this binary
	os.Exit(m.Run())
}

// alive reports whether a process runs (a zombie waiting for its new parent
// to reap it does not).
func alive(pid string) bool {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z") && !strings.HasPrefix(rest, "X")
}
