package main

import (
	"os"
	"testing"

	"automationhub/internal/hubtest"
)

func TestMain(m *testing.M) {
	hubtest.Main(m, func() {
		if binDir != "" {
			os.RemoveAll(binDir)
		}
	})
}
