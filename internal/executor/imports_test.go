package executor_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestExecutorDependsOnlyOnRunState: the worker reaches the hub only
// through RunState, so that it runs the same in a hub and in a remote
// agent; it must not import the storage or the bus.
func TestExecutorDependsOnlyOnRunState(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", "automationhub/internal/executor").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	forbidden := []string{"automationhub/internal/bus", "automationhub/internal/blob", "automationhub/internal/runs", "automationhub/internal/sqlstore", "automationhub/internal/runstate"}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if dep == f || strings.HasPrefix(dep, f+"/") {
				t.Errorf("internal/executor depends on %s; it may reach the hub only through RunState", dep)
			}
		}
	}
}
