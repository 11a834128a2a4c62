//go:build windows

package agent

import (
	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
)

// InteractiveSession reports whether the agent runs inside a signed-in
// desktop session: not as a service, and not in session 0 (where services
// live and no desktop can be driven).
func InteractiveSession() bool {
	if isSvc, err := svc.IsWindowsService(); err == nil && isSvc {
		return false
	}
	var session uint32
	if err := windows.ProcessIdToSessionId(windows.GetCurrentProcessId(), &session); err != nil {
		return false
	}
	return session != 0
}
