package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

// TestAgentSystemdUnit checks deploy/systemd/hub-agent.service: it runs
// `hub agent` with the agent's own settings (no hub.env: no database or
// Redis settings), keeps the data folder private, and systemd accepts it.
func TestAgentSystemdUnit(t *testing.T) {
	t.Parallel()
	path := filepath.Join(deployDir, "systemd", "hub-agent.service")
	s := unitSettings(t, path)
	want := map[string]string{"ExecStart": unitBinary + " agent", "EnvironmentFile": "/etc/automation-hub/agent.env", "KillMode": "mixed",
		"Restart": "on-failure", "StateDirectoryMode": "0700", "NoNewPrivileges": "yes", "RestartPreventExitStatus": "2"}
	for k, v := range want {
		if !slices.Contains(s[k], v) {
			t.Errorf("%s=%v, want %s", k, s[k], v)
		}
	}
	if slices.Contains(s["EnvironmentFile"], unitEnvFile) {
		t.Errorf("the agent must not read %s (the hub's database and Redis settings)", unitEnvFile)
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(t.TempDir(), "hub-agent.service")
	if err := os.WriteFile(unit, bytes.ReplaceAll(b, []byte(unitBinary), []byte(hubBinary(t))), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(analyze, "verify", "--man=no", unit).CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestWindowsBuild builds and vets the whole module for Windows: the agent's
// service (golang.org/x/sys/windows/svc) and session detection compile only
// there.
func TestWindowsBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the module for Windows")
	}
	t.Parallel()
	for _, args := range [][]string{{"build", "-o", os.DevNull, "./..."}, {"vet", "./cmd/hub", "./internal/agent", "./internal/executor"}} {
		cmd := exec.Command("go", args...)
		cmd.Dir = "../.."
		cmd.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("GOOS=windows go %v: %v\n%s", args, err, out)
		}
	}
}
