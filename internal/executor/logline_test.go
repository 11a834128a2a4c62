package executor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"automationhub/internal/hub"
)

func TestCommandLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"main.py", "--x=1"}, `/usr/bin/python3 main.py --x=1`},
		{[]string{"a b", ""}, `/usr/bin/python3 "a b" ""`},
		// A newline in an argument would forge a log line.
		{[]string{"ok\n2026-01-01T00:00:00.000000Z [INFO] Execution finished successfully."},
			`/usr/bin/python3 "ok\n2026-01-01T00:00:00.000000Z [INFO] Execution finished successfully."`},
		{[]string{"$(id)", `it's`}, `/usr/bin/python3 $(id) "it's"`},
	}
	for _, tt := range tests {
		if got := commandLine("/usr/bin/python3", tt.args); got != tt.want {
			t.Errorf("commandLine(%q) = %s, want %s", tt.args, got, tt.want)
		}
	}
}

// TestRunLogLinesCannotBeForged: whatever a line holds, it is one line of
// run.log.
func TestRunLogLinesCannotBeForged(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "run.log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	writeRunLog(f, []hub.LogLine{
		{Timestamp: at, Level: hub.LevelInfo, Message: "Command: run\n2026-11-30T08:00:00.000000Z [INFO] forged"},
		{Timestamp: at, Level: hub.LevelError, Message: "carriage\rreturn"},
	})
	f.Close()
	b, _ := os.ReadFile(path)
	want := "2026-11-30T08:00:00.000000Z [INFO] Command: run\\n2026-11-30T08:00:00.000000Z [INFO] forged\n" +
		"2026-11-30T08:00:00.000000Z [ERROR] carriage\\rreturn\n"
	if string(b) != want {
		t.Errorf("run.log =\n%s\nwant\n%s", b, want)
	}
	if n := strings.Count(string(b), "\n"); n != 2 {
		t.Errorf("run.log has %d lines, want 2", n)
	}
}

func TestInstallPrefixes(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	venv := filepath.Join(root, "venv", "bin")
	pyenv := filepath.Join(root, ".pyenv", "shims")
	for _, d := range []string{venv, pyenv} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(pyenv, "python3"), []byte("#!/bin/sh\n"), 0o755)
	if err := os.Symlink("/usr/bin/python3", filepath.Join(venv, "python")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		program string
		want    []string
	}{
		{"/usr/bin/python3", nil},
		{filepath.Join(venv, "python"), []string{filepath.Join(root, "venv")}}, // the venv; its target is in /usr
		{filepath.Join(pyenv, "python3"), []string{filepath.Join(root, ".pyenv")}},
	}
	for _, tt := range tests {
		if got := installPrefixes(tt.program); strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("installPrefixes(%s) = %v, want %v", tt.program, got, tt.want)
		}
	}
}
