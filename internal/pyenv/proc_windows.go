//go:build windows

package pyenv

import "os/exec"

// ownGroup leaves cmd as it is: a cancellation kills the installer.
func ownGroup(cmd *exec.Cmd) {}
