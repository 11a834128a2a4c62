package sandbox

import (
	"os"
	"os/exec"
	"strconv"
	"testing"
)

// TestOwnerAlive: run groups of a worker still alive are never swept, those
// of a worker that is gone (or of unknown owner) are.
func TestOwnerAlive(t *testing.T) {
	t.Parallel()
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		want bool
	}{
		{"hub-runs-" + strconv.Itoa(os.Getpid()) + "-123", true},
		{"hub-runs-1-123", true}, // init
		{"hub-runs-" + strconv.Itoa(gone.Process.Pid) + "-123", false},
		{"hub-runs-123456789", false}, // an older worker's name: no owner
		{"hub-runs-x-1", false},
	}
	for _, tt := range tests {
		if got := ownerAlive(tt.name); got != tt.want {
			t.Errorf("ownerAlive(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}
