package main

import "golang.org/x/sys/unix"

// hardenProcess makes the hub's process non-dumpable: /proc/<pid>/environ,
// mem, maps and the like become readable by root only, so a robot running as
// the same user cannot read the hub's settings (database URL, SECRET_KEY…)
// out of them, nor attach a debugger. Robots are not affected: the flag is
// reset when they exec.
func hardenProcess() error {
	return unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
}
