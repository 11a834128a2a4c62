//go:build unix && !linux

package executor

import "syscall"

// setParentDeathSignal does nothing: only Linux has a parent-death signal.
func setParentDeathSignal(*syscall.SysProcAttr) {}

// groupHasLiveMembers is called once kill(-pgid, 0) has found the group
// non-empty. Without a portable way to tell zombies apart, it trusts that:
// an orphaned zombie that init has not reaped yet makes Stop wait for the
// grace period and send a harmless SIGKILL.
func groupHasLiveMembers(int) bool { return true }
