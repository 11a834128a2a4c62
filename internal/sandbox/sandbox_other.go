//go:build !linux

package sandbox

import (
	"errors"
	"os"
	"os/exec"
)

// restrict cannot confine robots outside Linux: it refuses when the policy
// requires confinement and does nothing otherwise (Windows agents run under
// a dedicated low-privilege account instead; see docs/operations.md).
func restrict(p Policy) error {
	if p.Required {
		return errors.New("sandbox: robots must run confined (ROBOT_SANDBOX=required) but only Linux can confine them")
	}
	return nil
}

// execProgram runs the robot as a child and exits with its status, since
// not every system can replace a process image.
func execProgram(program string, argv, env []string) error {
	cmd := exec.Command(program, argv[1:]...)
	cmd.Env, cmd.Stdin, cmd.Stdout, cmd.Stderr = env, os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		os.Exit(exitErr.ExitCode())
	}
	if err != nil {
		return err
	}
	os.Exit(0)
	return nil
}

func available() (bool, string) { return false, "only Linux can confine robots (Landlock)" }
