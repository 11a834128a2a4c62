package main

import (
	"context"
	"strings"
	"testing"
)

// TestCleanupOnceAndDryRun runs `hub cleanup --dry-run` and `--once` on a
// fresh, migrated data folder.
func TestCleanupOnceAndDryRun(t *testing.T) {
	t.Chdir(t.TempDir())
	env := []string{"HUB_DATA_DIR=./data"}
	var out, errOut strings.Builder
	if code := run(context.Background(), []string{"migrate"}, env, &out, &errOut); code != 0 {
		t.Fatalf("migrate: %d %s", code, errOut.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"cleanup", "--dry-run"}, env, &out, &errOut); code != 0 {
		t.Fatalf("cleanup --dry-run: %d %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "cleanup would remove") {
		t.Errorf("dry-run output:\n%s", out.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"cleanup", "--once"}, env, &out, &errOut); code != 0 {
		t.Fatalf("cleanup --once: %d %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "cleanup removed") {
		t.Errorf("once output:\n%s", out.String())
	}
	if code := run(context.Background(), []string{"serve", "--once"}, env, &out, &errOut); code != exitUsage {
		t.Errorf("serve --once: exit %d, want %d", code, exitUsage)
	}
}
