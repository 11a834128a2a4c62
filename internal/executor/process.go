// Package executor runs robots (Python scripts or executables) as child
// processes of a worker: it starts each robot in its own process group (Unix)
// or job object (Windows) with an explicit environment, cuts its output into
// lines and stops its whole process tree on request.
package executor

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// DefaultGracePeriod is the time Stop waits between the polite stop and the
// kill when Command.GracePeriod is not positive.
const DefaultGracePeriod = 5 * time.Second

// Command describes one robot process.
type Command struct {
	// Path is the program to run. A Path without a path separator is looked
	// up in the PATH variable of Env (never the worker's own PATH); relative
	// entries of that PATH are ignored. A relative Path with a separator is
	// taken relative to Dir.
	Path string
	// Args are the arguments after the program name (argv[1:]). They are
	// passed to the program verbatim, never through a shell. On Windows the
	// program parses its own command line; .bat and .cmd files are run by
	// cmd.exe, which re-interprets metacharacters in arguments.
	Args []string
	// Dir is the working directory; empty means the worker's.
	Dir string
	// Env is the complete environment as "KEY=value" entries, usually built
	// by BuildEnv. Nothing is inherited implicitly: nil means an empty
	// environment (on Windows, os/exec still adds SYSTEMROOT when missing).
	Env []string
	// Stdout and Stderr receive the robot's output; nil discards it. The
	// same writer may be given for both. A slow writer slows the robot down
	// (its pipe fills up) but loses nothing.
	Stdout, Stderr io.Writer
	// GracePeriod is the time between the polite stop and the kill in Stop,
	// and how long Wait lets output pipes stay silent after the robot has
	// exited while a descendant still holds them open. Zero or negative
	// means DefaultGracePeriod.
	GracePeriod time.Duration
}

// Process is a started robot with its whole process tree. Its methods are
// safe for concurrent use.
type Process struct {
	cmd   *exec.Cmd
	grace time.Duration
	sys   sysProcess // OS-specific: process group or job object

	stopOnce sync.Once
	out      *output // nil where os/exec copies the output itself

	done chan struct{} // closed when cmd.Wait has returned
	code int           // valid after done
	err  error         // valid after done
}

// Start starts the command in its own process group (Unix) or job object
// (Windows), with the null device as stdin. It starts one goroutine, which
// reaps the process and exits once the process has exited and its output
// has been copied (see Wait). The caller should call Wait, and call Stop
// once the run is over even when the robot exited by itself: Stop removes
// descendants the robot left running and, on Windows, releases the job.
func Start(c Command) (*Process, error) {
	path, err := resolvePath(c.Path, c.Env)
	if err != nil {
		return nil, fmt.Errorf("executor.Start(%q): %w", c.Path, err)
	}
	grace := c.GracePeriod
	if grace <= 0 {
		grace = DefaultGracePeriod
	}
	env := c.Env
	if env == nil {
		env = []string{} // nil would make os/exec inherit the worker's environment
	}
	cmd := &exec.Cmd{
		Path: path,
		Args: append([]string{c.Path}, c.Args...),
		Dir:  c.Dir,
		Env:  env,
	}
	p := &Process{cmd: cmd, grace: grace, done: make(chan struct{})}
	if ownPipes {
		out, stdout, stderr, err := newOutput(c.Stdout, c.Stderr, grace)
		if err != nil {
			return nil, fmt.Errorf("executor.Start(%q): output pipes: %w", c.Path, err)
		}
		p.out = out
		if stdout != nil {
			cmd.Stdout = stdout
		}
		if stderr != nil {
			cmd.Stderr = stderr
		}
	} else {
		cmd.Stdout, cmd.Stderr, cmd.WaitDelay = c.Stdout, c.Stderr, grace
	}
	if err := p.start(); err != nil {
		if p.out != nil {
			p.out.close()
		}
		return nil, fmt.Errorf("executor.Start(%q): %w", c.Path, err)
	}
	if p.out != nil {
		p.out.started()
	}
	go p.reap()
	return p, nil
}

// Pid returns the operating system's id of the robot's main process, which
// on Unix is also the id of its process group.
func (p *Process) Pid() int {
	return p.cmd.Process.Pid
}

// Stop asks the whole tree to stop and kills it if it does not.
//
// On Unix Stop sends SIGTERM to the process group, waits until the main
// process has exited and the group is empty, and sends SIGKILL to the group
// (and to the main process, should it have left the group) if anything is
// still alive after the grace period. The group is signalled even when the
// main process has already exited, so Stop after Wait removes descendants
// the robot left running; a descendant that moved to another process group
// or session (setsid, daemonizing) escapes. Once the group is empty its id
// could in theory be reused by an unrelated new group before Stop signals it.
//
// On Windows there is no polite signal for a process without a console, so
// Stop terminates the job object at once (exit code 1 for its processes) and
// closes it; the grace period is not used. Stdin is the null device, opened
// and closed by os/exec at Start, so there is no stdin left to close.
//
// Stop blocks until the tree is gone or has been sent the kill (at most
// about the grace period). It is safe to call more than once, concurrently,
// and after the process has exited; later calls return when the first does.
func (p *Process) Stop() {
	p.stopOnce.Do(p.stop)
}

// Wait waits for the process to exit and for its output to be copied, and
// returns its exit code: on Unix the negative signal number when a signal
// ended it (like Python's returncode), on Windows the code given to
// TerminateJobObject when it was stopped. The error is nil for any exit
// code; it reports only other failures, such as a Stdout or Stderr writer
// failing. When a descendant keeps the output open after the main process
// has exited, Wait closes the pipes after the grace period and does not
// report an error; output written after that is lost. Wait may be called
// more than once and from several goroutines.
func (p *Process) Wait() (exitCode int, err error) {
	<-p.done
	return p.code, p.err
}

// reap waits for the process and for its output, and records the result.
// After the main process has exited, a pipe silent for the grace period is
// closed (a descendant holds it open); once the grace period has passed,
// only what the pipes can still hold is read, so a descendant that keeps
// writing cannot hold Wait. A slow reader loses nothing: what the robot
// wrote before it exited is all in the pipes.
func (p *Process) reap() {
	err := p.cmd.Wait()
	if p.out != nil {
		p.out.mainExited()
		select {
		case <-p.out.done:
		case <-time.After(p.grace):
			p.out.drainOnly()
			<-p.out.done
		}
		if err == nil {
			err = p.out.err()
		}
	}
	code := -1
	if ps := p.cmd.ProcessState; ps != nil {
		code = exitCode(ps)
	}
	var exitErr *exec.ExitError
	switch {
	case err == nil, errors.As(err, &exitErr), errors.Is(err, exec.ErrWaitDelay):
		err = nil
	default:
		err = fmt.Errorf("executor.Wait(%d): %w", p.cmd.Process.Pid, err)
	}
	p.code, p.err = code, err
	close(p.done)
}

// exited reports whether cmd.Wait has returned.
func (p *Process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// resolvePath finds the program to run: a path with a separator is used as
// is, anything else is looked up in the PATH of env.
func resolvePath(path string, env []string) (string, error) {
	if path == "" {
		return "", errors.New("empty program path")
	}
	if strings.ContainsAny(path, pathSeparators) {
		return path, nil
	}
	pathVar, _ := lookupEnv(env, "PATH")
	for _, dir := range filepath.SplitList(pathVar) {
		if !filepath.IsAbs(dir) {
			continue // "" and relative entries would depend on Dir: never used
		}
		for _, candidate := range executableCandidates(dir, path, env) {
			if isExecutable(candidate) {
				return candidate, nil
			}
		}
	}
	return "", fmt.Errorf("not found in the robot's PATH: %w", exec.ErrNotFound)
}

// isRegularFile reports whether path names a regular file (following links)
// and returns its mode.
func isRegularFile(path string) (os.FileMode, bool) {
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return 0, false
	}
	return fi.Mode(), true
}
