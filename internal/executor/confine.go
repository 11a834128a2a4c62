package executor

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"automationhub/internal/sandbox"
)

// Sandbox says how robots are confined (see package sandbox).
type Sandbox struct {
	// Launcher is the hub binary that confines a robot and execs it
	// (os.Executable()); empty leaves robots unconfined.
	Launcher string
	// Required refuses to run robots where they cannot be confined.
	Required bool
	// Hidden are paths robots must not read even where they lie below a
	// readable system folder: the data folder, the artifact store, the
	// worker folder, secret files, the .env file.
	Hidden []string
	// Read are extra paths robots may read (an interpreter's prefix is added
	// on its own).
	Read []string
	// UID and GID, when UID is not 0, are the user robots run as (the worker
	// runs as root): the robot's folders are handed to that user, the run
	// folder itself and run.log stay the worker's.
	UID, GID int
	// Groups gives each run a cgroup, so that the processes a robot leaves
	// behind — even after setsid — die with the run; nil when the system
	// has no writable cgroup v2.
	Groups *sandbox.RunGroups
}

// robotDevices are the device files a confined robot may use.
var robotDevices = []string{"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"}

// confine wraps cmd so that it starts through the launcher with the run's
// policy: read the system and the interpreter, write only runDir, and join
// the run's cgroup (group, "" when there is none; the caller ends it with
// endGroup). A nil error with confined false means robots run unconfined by
// configuration.
func (w *Worker) confine(cmd Command, runID, runDir string) (_ Command, confined bool, group string, _ error) {
	sb := w.cfg.Sandbox
	if sb.Launcher == "" {
		return cmd, false, "", nil
	}
	program, err := resolvePath(cmd.Path, cmd.Env)
	if err != nil {
		program = cmd.Path // the launcher reports it
	}
	read := append(sandbox.ReadableSystem(), sb.Read...)
	read = append(read, installPrefixes(program)...)
	policy := sandbox.Policy{
		Read:     append(sandbox.Carve(read, sb.Hidden), w.pythonReadable(runID)...),
		Write:    []string{runDir},
		Devices:  robotDevices,
		Required: sb.Required,
	}
	if sb.UID != 0 {
		if err := handOver(runDir, sb.UID, sb.GID); err != nil {
			return cmd, false, "", fmt.Errorf("hand the run's folders to the robot user: %w", err)
		}
		policy.UID, policy.GID = sb.UID, sb.GID
	}
	if sb.Groups != nil {
		if policy.Cgroup, err = sb.Groups.Create(runID); err != nil {
			w.log.Warn("the run gets no cgroup; processes it leaves after setsid may outlive it", "run_id", runID, "error", err.Error())
		}
	}
	args, err := policy.Args(program, cmd.Args)
	if err != nil {
		return cmd, false, "", fmt.Errorf("confine the robot: %w", err)
	}
	cmd.Path, cmd.Args = sb.Launcher, args
	return cmd, true, policy.Cgroup, nil
}

// handOver gives the robot user its working copy, output and temp folders;
// the run folder stays the worker's (traversable, so the robot reaches its
// folders, but the robot cannot replace run.log in it).
func handOver(runDir string, uid, gid int) error {
	if err := os.Chmod(runDir, 0o711); err != nil {
		return err
	}
	for _, sub := range []string{"workspace", "outputs", "tmp"} {
		err := filepath.WalkDir(filepath.Join(runDir, sub), func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(path, uid, gid)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// endGroup kills what is left of a run: the processes in its cgroup, which
// it then removes, or without a cgroup the processes that still carry the
// run's id in their environment. It returns how many the robot had left.
func endGroup(runID, group string) (int, error) {
	if group == "" {
		return killLeftovers(runID), nil
	}
	return sandbox.KillGroup(group, 5*time.Second)
}

// installPrefixes are the folders a program is installed under
// (…/bin/python3 → …), for the path as given and for the file it links to,
// so that a confined robot can load its libraries — a virtualenv's
// site-packages as well as the interpreter it links to. Programs in system
// folders need none.
func installPrefixes(program string) []string {
	var out []string
	paths := []string{program}
	if real, err := filepath.EvalSymlinks(program); err == nil && real != program {
		paths = append(paths, real)
	}
	for _, p := range paths {
		prefix := filepath.Dir(filepath.Dir(p))
		if prefix == "/" || prefix == "." || inSystem(prefix) && filepath.Base(filepath.Dir(p)) != "shims" {
			continue
		}
		out = append(out, prefix)
	}
	return out
}

// inSystem reports whether p lies in a folder robots may read anyway.
func inSystem(p string) bool {
	for _, sys := range sandbox.ReadableSystem() {
		if p == sys || strings.HasPrefix(p, sys+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

// withTemp points the robot's temp variables at its own temp folder.
func withTemp(env []string, dir string) []string {
	out := slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		k = strings.ToUpper(k)
		return k == "TMPDIR" || k == "TEMP" || k == "TMP"
	})
	return append(out, "TMPDIR="+dir, "TEMP="+dir, "TMP="+dir)
}

// LauncherPath is the hub binary to use as the robot launcher.
func LauncherPath() (string, error) {
	p, err := os.Executable()
	if err != nil {
		return "", err
	}
	return exec.LookPath(p)
}
