//go:build !windows

package agent

import "os"

// InteractiveSession reports whether the agent runs inside a signed-in
// desktop session (a display it can drive).
func InteractiveSession() bool {
	return os.Getenv("DISPLAY") != "" || os.Getenv("WAYLAND_DISPLAY") != ""
}
