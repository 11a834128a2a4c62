//go:build unix

package pyenv

import (
	"os/exec"
	"syscall"
)

// ownGroup makes cmd the leader of its own process group and has a
// cancellation kill the whole group (pip starts build backends).
func ownGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		if cmd.Process == nil {
			return nil
		}
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
