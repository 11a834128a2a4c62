//go:build !linux

package sandbox

import (
	"errors"
	"time"
)

// RunGroups exist on Linux only (cgroup v2).
type RunGroups struct{}

// NewRunGroups says that runs cannot have groups here.
func NewRunGroups() (*RunGroups, error) {
	return nil, errors.New("process groups per run need Linux cgroup v2")
}

// Create is never reached: NewRunGroups fails.
func (g *RunGroups) Create(string) (string, error) { return "", errors.New("no run groups") }

// Close does nothing.
func (g *RunGroups) Close() error { return nil }

// KillGroup does nothing outside Linux.
func KillGroup(string, time.Duration) (int, error) { return 0, nil }

func joinGroup(dir string) error { return nil }
