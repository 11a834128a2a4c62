//go:build unix

package executor

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// ownPipes: Unix pipes support read deadlines, so the worker copies the
// robot's output itself (see output).
const ownPipes = true

// pathSeparators are the characters that make a program path explicit.
const pathSeparators = "/"

// Stop checks whether the tree has gone first after minPoll, then at
// doubling intervals up to maxPoll.
const (
	minPoll = 5 * time.Millisecond
	maxPoll = 100 * time.Millisecond
)

// sysProcess is the Unix part of a Process: the id of its process group.
type sysProcess struct {
	pgid int
}

// start starts the command as the leader of a new process group.
func (p *Process) start() error {
	attr := &syscall.SysProcAttr{Setpgid: true}
	setParentDeathSignal(attr)
	p.cmd.SysProcAttr = attr
	if err := p.cmd.Start(); err != nil {
		return err
	}
	p.sys.pgid = p.cmd.Process.Pid
	return nil
}

// stop implements Stop: SIGTERM to the group, then SIGKILL after the grace
// period unless the main process and the whole group are gone by then.
func (p *Process) stop() {
	if !p.signal(syscall.SIGTERM) {
		return // nothing left to stop
	}
	grace := time.NewTimer(p.grace)
	defer grace.Stop()
	poll := time.NewTimer(minPoll)
	defer poll.Stop()
	done := p.done // wakes the loop once, when the result of Wait is ready
	for interval := minPoll; ; {
		select {
		case <-grace.C:
			p.kill()
			return
		case <-poll.C:
			interval = min(2*interval, maxPoll)
			poll.Reset(interval)
		case <-done:
			done = nil
		}
		if !p.alive() {
			return
		}
	}
}

// signal sends sig to the process group, or to the main process alone when
// the group is empty (the main process may have moved to another group). It
// reports whether any process received it.
func (p *Process) signal(sig syscall.Signal) bool {
	switch err := syscall.Kill(-p.sys.pgid, sig); {
	case err == nil:
		return true
	case errors.Is(err, syscall.EPERM):
		return true // someone is there, though we may not signal it
	}
	return p.cmd.Process.Signal(sig) == nil
}

// kill sends SIGKILL to the group and to the main process.
func (p *Process) kill() {
	_ = syscall.Kill(-p.sys.pgid, syscall.SIGKILL)
	_ = p.cmd.Process.Kill() // a no-op error when it has already been reaped
}

// alive reports whether the main process or any member of its process group
// still runs. An exited main process counts as gone once it has been reaped,
// which the reaping goroutine does at once; other zombies count as gone
// where the OS lets us tell (see groupHasLiveMembers).
func (p *Process) alive() bool {
	if !p.exited() && p.cmd.Process.Signal(syscall.Signal(0)) == nil {
		return true
	}
	switch err := syscall.Kill(-p.sys.pgid, 0); {
	case err == nil:
		return groupHasLiveMembers(p.sys.pgid)
	case errors.Is(err, syscall.EPERM):
		return true
	}
	return false
}

// exitCode returns the exit status, or the negative signal number when a
// signal ended the process.
func exitCode(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return -int(ws.Signal())
	}
	return ps.ExitCode()
}

// executableCandidates lists the files that may run file from dir.
func executableCandidates(dir, file string, _ []string) []string {
	return []string{filepath.Join(dir, file)}
}

// isExecutable reports whether path is a regular file with an execute bit.
func isExecutable(path string) bool {
	mode, ok := isRegularFile(path)
	return ok && mode&0o111 != 0
}
