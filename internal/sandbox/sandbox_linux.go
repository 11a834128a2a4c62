package sandbox

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"github.com/landlock-lsm/go-landlock/landlock"
	ll "github.com/landlock-lsm/go-landlock/landlock/syscall"
	"golang.org/x/sys/unix"
)

// writeAccess is what a robot may do in its own folders: everything but
// creating device files (which would let a robot running as root open a
// disk, and the database on it, directly).
const writeAccess landlock.AccessFSSet = ll.AccessFSExecute | ll.AccessFSWriteFile | ll.AccessFSReadFile |
	ll.AccessFSReadDir | ll.AccessFSRemoveDir | ll.AccessFSRemoveFile | ll.AccessFSMakeDir | ll.AccessFSMakeReg |
	ll.AccessFSMakeSock | ll.AccessFSMakeFifo | ll.AccessFSMakeSym | ll.AccessFSRefer | ll.AccessFSTruncate

// abi is the Landlock version the rules are written for; BestEffort uses
// what the kernel has of it.
var abi = landlock.V7

// restrict confines this process (and what it will exec) to p.
func restrict(p Policy) error {
	if ok, why := available(); !ok {
		if p.Required {
			return fmt.Errorf("sandbox: robots must run confined (ROBOT_SANDBOX=required) but %s", why)
		}
		return nil
	}
	rules := []landlock.Rule{
		landlock.RODirs(dirs(p.Read)...).IgnoreIfMissing(),
		landlock.ROFiles(files(p.Read)...).IgnoreIfMissing(),
		landlock.PathAccess(writeAccess, p.Write...),
		landlock.RWFiles(p.Devices...).IgnoreIfMissing().WithIoctlDev(),
	}
	cfg := abi.BestEffort()
	if err := cfg.RestrictPaths(rules...); err != nil {
		return fmt.Errorf("sandbox: restrict files: %w", err)
	}
	// Signals and abstract Unix sockets only within the robot's own domain.
	if err := cfg.RestrictScoped(); err != nil {
		return fmt.Errorf("sandbox: restrict IPC: %w", err)
	}
	if err := dropBoundingSet(); err != nil {
		return err
	}
	if err := switchUser(p.UID, p.GID); err != nil {
		return err
	}
	return dropCapabilities()
}

// switchUser makes the calling thread — the one that execs the robot — the
// robot's user, with no supplementary groups. Raw system calls on purpose:
// only this thread runs the robot.
func switchUser(uid, gid int) error {
	if uid == 0 {
		return nil
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, 0, 0, 0); e != 0 {
		return fmt.Errorf("sandbox: drop supplementary groups: %w", e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(gid), uintptr(gid), uintptr(gid)); e != 0 {
		return fmt.Errorf("sandbox: run as group %d: %w", gid, e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(uid), uintptr(uid), uintptr(uid)); e != 0 {
		return fmt.Errorf("sandbox: run as user %d: %w", uid, e)
	}
	return nil
}

// dropCapabilities leaves the robot no capability, also when it runs as
// root: with an empty bounding set and inheritable set, exec gives a root
// robot none either. Without CAP_SYS_PTRACE it cannot read the memory or
// environment of the (non-dumpable) hub; without CAP_DAC_OVERRIDE, other
// users' files; without CAP_MKNOD, CAP_SYS_ADMIN and the rest, no devices,
// mounts or raw sockets.
func dropCapabilities() error {
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil && err != unix.EINVAL {
		return fmt.Errorf("sandbox: clear ambient capabilities: %w", err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("sandbox: clear capabilities: %w", err)
	}
	return nil
}

// dropBoundingSet empties the capability bounding set, so that no exec can
// give a capability back (it needs CAP_SETPCAP, so it comes first).
func dropBoundingSet() error {
	for c := 0; c <= 63; c++ {
		err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0)
		if err == unix.EINVAL {
			break // past the last capability this kernel knows
		}
		if err != nil && err != unix.EPERM {
			return fmt.Errorf("sandbox: drop capability %d: %w", c, err)
		}
	}
	return nil
}

// dirs and files split paths by what they are (Landlock grants directory
// rights only on directories).
func dirs(paths []string) []string {
	var out []string
	for _, p := range paths {
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			out = append(out, p)
		}
	}
	return out
}

func files(paths []string) []string {
	var out []string
	for _, p := range paths {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			out = append(out, p)
		}
	}
	return out
}

// execProgram replaces the launcher by the robot.
func execProgram(program string, argv, env []string) error {
	path := program
	if !containsSlash(program) {
		found, err := exec.LookPath(program)
		if err != nil {
			return fmt.Errorf("sandbox: %w", err)
		}
		path = found
	}
	err := syscall.Exec(path, argv, env)
	return fmt.Errorf("sandbox: start %s: %w", program, err)
}

func containsSlash(s string) bool {
	for i := range len(s) {
		if s[i] == '/' {
			return true
		}
	}
	return false
}

// available reports whether the kernel has Landlock.
func available() (bool, string) {
	v, err := landlockABI()
	if err != nil || v < 1 {
		return false, "this kernel has no Landlock (Linux 5.13 or later, with landlock in the lsm= boot list)"
	}
	return true, ""
}
