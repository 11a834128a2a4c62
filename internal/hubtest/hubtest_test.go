package hubtest_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"automationhub/internal/config"
	"automationhub/internal/hubtest"
)

// TestProbe is run in a child process by TestServiceGating; on its own it
// does nothing.
func TestProbe(t *testing.T) {
	switch os.Getenv("HUBTEST_PROBE") {
	case "postgres":
		hubtest.Store(t, config.Postgres)
	case "redis":
		hubtest.Redis(t)
	}
}

// TestServiceGating checks the promise every service test relies on: without
// a URL the test skips, unless HUB_TEST_REQUIRE_SERVICES=1 makes it fail; a
// URL that points nowhere fails.
func TestServiceGating(t *testing.T) {
	tests := []struct {
		name, probe, url, require string
		wantFail                  bool
		wantOutput                string
	}{
		{"postgres unset skips", "postgres", "", "", false, "SKIP"},
		{"postgres unset required fails", "postgres", "", "1", true, "HUB_TEST_POSTGRES_URL is not set"},
		{"postgres unreachable fails", "postgres", "postgres://nobody@127.0.0.1:1/x?sslmode=disable&connect_timeout=2", "", true, "unreachable"},
		{"redis unset skips", "redis", "", "", false, "SKIP"},
		{"redis unset required fails", "redis", "", "1", true, "HUB_TEST_REDIS_URL is not set"},
		{"redis unreachable fails", "redis", "redis://127.0.0.1:1/0", "1", true, "unreachable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestProbe$", "-test.v", "-test.count=1")
			env := []string{"HUBTEST_PROBE=" + tt.probe, hubtest.EnvRequireServices + "=" + tt.require}
			if tt.probe == "postgres" {
				env = append(env, hubtest.EnvPostgresURL+"="+tt.url)
			} else {
				env = append(env, hubtest.EnvRedisURL+"="+tt.url)
			}
			for _, kv := range os.Environ() {
				if !strings.HasPrefix(kv, "HUB_TEST_") {
					env = append(env, kv)
				}
			}
			cmd.Env = env
			out, err := cmd.CombinedOutput()
			if failed := err != nil; failed != tt.wantFail {
				t.Fatalf("child failed = %v, want %v; output:\n%s", failed, tt.wantFail, out)
			}
			if !strings.Contains(string(out), tt.wantOutput) {
				t.Errorf("child output lacks %q:\n%s", tt.wantOutput, out)
			}
		})
	}
}
