//go:build windows

package executor

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"
)

// pathSeparators are the characters that make a program path explicit.
const pathSeparators = `/\:`

// stoppedExitCode is the exit code Stop gives the processes of the job, the
// code Python's Popen.terminate uses on Windows.
const stoppedExitCode = 1

// ownPipes: anonymous pipes on Windows have no read deadlines, so os/exec
// copies the output, with WaitDelay bounding a descendant that holds it.
const ownPipes = false

// sysProcess is the Windows part of a Process: its job object.
type sysProcess struct {
	job *jobObject
}

// jobObject owns the handle of a job object created with
// JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE: closing the last handle, including by
// the worker dying, kills every process in the job.
type jobObject struct {
	once   sync.Once
	handle windows.Handle
}

// newJobObject creates a job object that kills its processes when closed.
func newJobObject() (*jobObject, error) {
	h, err := windows.CreateJobObject(nil, nil)
	if err != nil {
		return nil, fmt.Errorf("CreateJobObject: %w", err)
	}
	var info windows.JOBOBJECT_EXTENDED_LIMIT_INFORMATION
	info.BasicLimitInformation.LimitFlags = windows.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
	if _, err := windows.SetInformationJobObject(h, windows.JobObjectExtendedLimitInformation,
		uintptr(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info))); err != nil {
		_ = windows.CloseHandle(h)
		return nil, fmt.Errorf("SetInformationJobObject: %w", err)
	}
	return &jobObject{handle: h}, nil
}

// assign puts the process with the given id into the job.
func (j *jobObject) assign(pid int) error {
	h, err := windows.OpenProcess(windows.PROCESS_SET_QUOTA|windows.PROCESS_TERMINATE, false, uint32(pid))
	if err != nil {
		return fmt.Errorf("OpenProcess: %w", err)
	}
	defer windows.CloseHandle(h)
	if err := windows.AssignProcessToJobObject(j.handle, h); err != nil {
		return fmt.Errorf("AssignProcessToJobObject: %w", err)
	}
	return nil
}

// terminate ends every process in the job and closes it.
func (j *jobObject) terminate() {
	j.once.Do(func() {
		_ = windows.TerminateJobObject(j.handle, stoppedExitCode)
		_ = windows.CloseHandle(j.handle)
	})
}

// start starts the command in a new process group and puts it into a new
// job object. os/exec cannot start a process suspended and resume it, so the
// process is assigned right after CreateProcess returns: a child it starts
// within that instant would stay outside the job. Descendants started after
// the assignment are in the job and cannot break away from it.
func (p *Process) start() error {
	job, err := newJobObject()
	if err != nil {
		return err
	}
	p.cmd.SysProcAttr = &syscall.SysProcAttr{CreationFlags: windows.CREATE_NEW_PROCESS_GROUP}
	if err := p.cmd.Start(); err != nil {
		job.terminate()
		return err
	}
	if err := job.assign(p.cmd.Process.Pid); err != nil {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
		job.terminate()
		return err
	}
	p.sys.job = job
	// A Process dropped without Stop still releases its job, killing what is
	// left of the tree, once the garbage collector finds it unreachable.
	runtime.AddCleanup(p, func(j *jobObject) { j.terminate() }, job)
	return nil
}

// stop implements Stop: Windows has no polite signal for processes without
// a console, so the job is terminated at once.
func (p *Process) stop() {
	p.sys.job.terminate()
}

// exitCode returns the process's exit code.
func exitCode(ps *os.ProcessState) int {
	return ps.ExitCode()
}

// executableCandidates lists the files that may run file from dir: file
// itself when it has an extension, then file with each extension of the
// PATHEXT variable of env.
func executableCandidates(dir, file string, env []string) []string {
	exts := []string{".com", ".exe", ".bat", ".cmd"}
	if v, ok := lookupEnv(env, "PATHEXT"); ok {
		exts = exts[:0]
		for _, e := range strings.Split(strings.ToLower(v), ";") {
			if e == "" {
				continue
			}
			if e[0] != '.' {
				e = "." + e
			}
			exts = append(exts, e)
		}
	}
	base := filepath.Join(dir, file)
	var out []string
	if filepath.Ext(file) != "" {
		out = append(out, base)
	}
	for _, e := range exts {
		out = append(out, base+e)
	}
	return out
}

// isExecutable reports whether path is a regular file.
func isExecutable(path string) bool {
	_, ok := isRegularFile(path)
	return ok
}
