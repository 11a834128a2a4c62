// Package sandbox confines a robot before it starts. Go cannot run code
// between fork and exec, so the worker starts robots through a launcher mode
// of its own binary ("hub __robot-exec POLICY PROGRAM ARGS…"): the launcher
// restricts itself with Landlock (Linux), then execs the robot, which keeps
// the restriction along with every process it starts.
//
// A confined robot may read the system folders, its interpreter and the
// paths its policy names, and write only its own run folder (working copy,
// output and temp folders); it cannot read or write the data folder, the
// package cache, other runs, the database or the artifact store, and — being
// in its own Landlock domain — cannot read the memory or environment of the
// hub or of other runs (/proc/<pid>/environ), nor signal them.
package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
)

// LauncherCommand is the hidden subcommand of the hub binary that starts a
// confined robot.
const LauncherCommand = "__robot-exec"

// Policy is what a confined robot may use. It travels to the launcher as
// one JSON argument, so its field names are part of the worker's protocol
// with its own binary.
type Policy struct {
	// Read are folders and files the robot may read (and execute).
	Read []string `json:"read"`
	// Write are folders the robot may read, write and execute in.
	Write []string `json:"write"`
	// Devices are device files the robot may read and write (/dev/null…).
	Devices []string `json:"devices"`
	// Cgroup is the run's cgroup folder the launcher joins before it execs
	// the robot (see RunGroups); "" when runs have none.
	Cgroup string `json:"cgroup,omitempty"`
	// UID and GID, when UID is not 0, are the user the robot runs as (the
	// launcher must be root to switch).
	UID int `json:"uid,omitempty"`
	GID int `json:"gid,omitempty"`
	// Required makes the launcher refuse to start the robot when the
	// kernel cannot confine it, instead of starting it unconfined.
	Required bool `json:"required"`
}

// Exit status of the launcher when it could not start the robot (as a shell
// does for a command it cannot run).
const ExitCannotRun = 126

// Args returns the launcher's argument list for running program with args
// under p (to be run as: hubBinary Args…).
func (p Policy) Args(program string, args []string) ([]string, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	return append([]string{LauncherCommand, string(b), program}, args...), nil
}

// Main is the launcher: args are the arguments after LauncherCommand. It
// returns only when it could not start the robot; the error is meant for the
// run's log (stderr), and the process should exit with ExitCannotRun.
func Main(args []string, env []string) error {
	if len(args) < 2 {
		return errors.New("sandbox: usage: " + LauncherCommand + " POLICY PROGRAM [ARGS…]")
	}
	var p Policy
	if err := json.Unmarshal([]byte(args[0]), &p); err != nil {
		return fmt.Errorf("sandbox: policy: %w", err)
	}
	program, argv := args[1], args[1:]
	// Capabilities belong to a thread: drop them on the thread that execs.
	runtime.LockOSThread()
	if err := joinGroup(p.Cgroup); err != nil {
		return fmt.Errorf("sandbox: join the run's cgroup: %w", err)
	}
	if err := restrict(p); err != nil {
		return err
	}
	return execProgram(program, argv, env)
}

// RunIfLauncher turns the process into the launcher when it was started as
// one (os.Args[1] is LauncherCommand): it confines itself and execs the
// robot, or exits with ExitCannotRun saying why on stderr. Otherwise it
// returns at once. Call it first thing in main (and in TestMain of tests
// whose hubs confine robots through the test binary).
func RunIfLauncher() {
	if len(os.Args) < 2 || os.Args[1] != LauncherCommand {
		return
	}
	err := Main(os.Args[2:], os.Environ())
	fmt.Fprintln(os.Stderr, err)
	os.Exit(ExitCannotRun)
}

// Available reports whether this system can confine robots, and why not.
func Available() (bool, string) { return available() }

// ReadableSystem lists the system paths a robot may read: the usual
// program, library and configuration folders, /proc and /sys. Paths that
// do not exist are left out.
func ReadableSystem() []string {
	var out []string
	for _, p := range []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/opt", "/etc",
		"/proc", "/sys", "/var/lib/ca-certificates", "/run/systemd/resolve"} {
		if _, err := os.Stat(p); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// sensitiveSystem are files under readable system folders a robot never
// needs and must not read even when it runs as root (robots then run as root
// without capabilities, so owner-only files would otherwise be readable).
var sensitiveSystem = []string{"/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-", "/etc/sudoers",
	"/etc/sudoers.d", "/etc/ssh", "/etc/ssl/private", "/etc/security/opasswd",
	"/etc/automation-hub", // the hub's own settings and secret files (docs/operations.md)
	"/etc/credstore", "/etc/credstore.encrypted", "/run/credentials"}

// Carve returns roots with every hidden path (and everything below it) left
// out: a root that holds a hidden path is replaced by its entries, walked
// down as far as needed, so that Landlock — which grants whole subtrees —
// grants nothing under a hidden path. Hidden paths below no root change
// nothing. The system's sensitive files are always hidden. Symbolic links
// are not followed; the result is sorted.
func Carve(roots, hidden []string) []string {
	hidden = append(slices.Clone(hidden), sensitiveSystem...)
	clean := make([]string, 0, len(hidden))
	for _, h := range hidden {
		if h = strings.TrimSpace(h); h != "" {
			if abs, err := filepath.Abs(h); err == nil {
				clean = append(clean, abs)
			}
		}
	}
	var out []string
	var walk func(p string)
	walk = func(p string) {
		for _, h := range clean {
			if h == p || within(p, h) {
				return // hidden, or below a hidden path
			}
		}
		holds := slices.ContainsFunc(clean, func(h string) bool { return within(h, p) })
		if !holds {
			out = append(out, p)
			return
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return
		}
		for _, e := range entries {
			walk(filepath.Join(p, e.Name()))
		}
	}
	for _, r := range roots {
		if abs, err := filepath.Abs(r); err == nil {
			walk(abs)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// within reports whether path lies strictly below dir.
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != "." && filepath.IsLocal(rel)
}
