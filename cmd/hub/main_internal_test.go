package main

import (
	"os"
	"testing"

	"automationhub/internal/hubtest"
	"automationhub/internal/sandbox"
)

func TestMain(m *testing.M) {
	// Hubs started in this process confine robots through this binary.
	sandbox.RunIfLauncher()
	hubtest.Main(m, func() {
		if binDir != "" {
			os.RemoveAll(binDir)
		}
	})
}
