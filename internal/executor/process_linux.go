package executor

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
)

// setParentDeathSignal makes Linux send SIGKILL to the robot's main process
// when the worker dies without stopping it. The kernel ties this to the
// worker thread that forked the robot, not to the worker process: Go rarely
// ends threads, but one that exits (a goroutine that ends while locked to
// its thread) would kill robots it happened to start. Only the main process
// is covered; its descendants are not.
func setParentDeathSignal(attr *syscall.SysProcAttr) {
	attr.Pdeathsig = syscall.SIGKILL
}

// groupHasLiveMembers reports whether a process of group pgid is still
// running, not counting zombies. kill(-pgid, 0) counts zombies too, and
// orphaned descendants stay zombies until init reaps them, which some
// container inits do only now and then (and a worker running as PID 1 never
// does). It scans /proc and assumes a live member when /proc is unreadable.
func groupHasLiveMembers(pgid int) bool {
	dir, err := os.Open("/proc")
	if err != nil {
		return true
	}
	defer dir.Close()
	names, err := dir.Readdirnames(-1)
	if err != nil {
		return true
	}
	want := []byte(strconv.Itoa(pgid))
	for _, name := range names {
		if name == "" || name[0] < '0' || name[0] > '9' {
			continue
		}
		stat, err := os.ReadFile("/proc/" + name + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		// "pid (comm) state ppid pgrp ...": comm may hold spaces and ')'.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		fields := bytes.Fields(stat[i+1:])
		if len(fields) < 3 || !bytes.Equal(fields[2], want) {
			continue
		}
		if state := fields[0]; len(state) > 0 && state[0] != 'Z' && state[0] != 'X' {
			return true
		}
	}
	return false
}
