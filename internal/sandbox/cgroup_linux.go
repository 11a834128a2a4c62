package sandbox

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// RunGroups is a cgroup (v2) below the worker's own, under which each run
// gets a group of its own: every process a robot starts stays in its run's
// group, even one that calls setsid or daemonizes, so ending the run can
// end them all.
type RunGroups struct{ root string }

// NewRunGroups prepares the parent group of this process's runs, or says
// why runs cannot have groups here (no writable cgroup v2).
func NewRunGroups() (*RunGroups, error) {
	mount, err := cgroup2Mount()
	if err != nil {
		return nil, err
	}
	own, err := ownCgroup()
	if err != nil {
		return nil, err
	}
	parent := filepath.Join(mount, own)
	sweepEmptyGroups(parent)
	root, err := os.MkdirTemp(parent, "hub-runs-"+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return nil, fmt.Errorf("create the runs' cgroup: %w", err)
	}
	return &RunGroups{root: root}, nil
}

// sweepEmptyGroups removes run groups that hold no process, left by workers
// that ended before their runs did; groups with processes stay, and so do
// the groups of workers still alive (a group is empty for a moment between
// its creation and its launcher joining it; processes sharing a parent
// group, several workers on one host, must not take it away).
func sweepEmptyGroups(parent string) {
	roots, _ := filepath.Glob(filepath.Join(parent, "hub-runs-*"))
	for _, root := range roots {
		if ownerAlive(filepath.Base(root)) {
			continue
		}
		runs, _ := os.ReadDir(root)
		for _, r := range runs {
			if dir := filepath.Join(root, r.Name()); r.IsDir() && len(groupPIDs(dir)) == 0 {
				_ = os.Remove(dir)
			}
		}
		_ = os.Remove(root) // fails while it still has groups
	}
}

// ownerAlive reports whether the worker that made the runs' group named
// name ("hub-runs-<pid>-<random>") is still running. Names without a pid
// (older workers) have no known owner.
func ownerAlive(name string) bool {
	pid, rest, ok := strings.Cut(strings.TrimPrefix(name, "hub-runs-"), "-")
	if !ok || rest == "" {
		return false
	}
	n, err := strconv.Atoi(pid)
	if err != nil || n <= 0 {
		return false
	}
	if n == os.Getpid() {
		return true
	}
	err = syscall.Kill(n, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// Create makes the group of one run and returns its folder, which the
// launcher joins (Policy.Cgroup).
func (g *RunGroups) Create(run string) (string, error) {
	dir := filepath.Join(g.root, run)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create the run's cgroup: %w", err)
	}
	return dir, nil
}

// Close removes the parent group (once its runs' groups are gone).
func (g *RunGroups) Close() error { return os.Remove(g.root) }

// KillGroup kills every process left in a run's group and removes the group,
// waiting at most timeout for the processes to go. It returns how many
// processes it killed.
func KillGroup(dir string, timeout time.Duration) (int, error) {
	pids := groupPIDs(dir)
	if len(pids) > 0 {
		if err := os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0); err != nil {
			for _, pid := range pids { // kernels before 5.14 have no cgroup.kill
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	deadline := time.Now().Add(timeout)
	for {
		err := os.Remove(dir)
		if err == nil || errors.Is(err, os.ErrNotExist) {
			return len(pids), nil
		}
		if time.Now().After(deadline) {
			return len(pids), fmt.Errorf("remove the run's cgroup: %w", err)
		}
		for _, pid := range groupPIDs(dir) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// joinGroup moves the calling process into the group at dir.
func joinGroup(dir string) error {
	if dir == "" {
		return nil
	}
	return os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte("0"), 0)
}

func groupPIDs(dir string) []int {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil
	}
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// cgroup2Mount finds where the cgroup v2 hierarchy is mounted.
func cgroup2Mount() (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// "… mountpoint … - fstype source options"
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok || !strings.HasPrefix(post, "cgroup2 ") {
			continue
		}
		if fields := strings.Fields(pre); len(fields) >= 5 {
			return fields[4], nil
		}
	}
	return "", errors.New("no cgroup v2 hierarchy is mounted")
}

// ownCgroup is this process's path in the cgroup v2 hierarchy.
func ownCgroup() (string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			return p, nil
		}
	}
	return "", errors.New("this process has no cgroup v2 path")
}
