package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"automationhub/internal/pyenv/pyenvtest"
)

// TestUIPythonEnvironment: the robot page of a Python package shows which
// workers have its environment; a maintainer asks the workers to prepare
// it, the worker of the hub builds it offline from the package's wheels/
// with its next heartbeat and the page shows it ready; a viewer sees the
// list but cannot ask.
func TestUIPythonEnvironment(t *testing.T) {
	pyenvtest.Python(t)
	_, base := startUIHub(t, "sqlite", map[string]string{"WORKER_STALE_SECONDS": "10"})
	api := login(t, base+"/api/v1", "admin", "admin-password-1")
	wheel := pyenvtest.Wheel(t, t.TempDir(), "tinypkg", "1.0", "GREETING = 'hi'\n")
	whl, err := os.ReadFile(wheel)
	if err != nil {
		t.Fatal(err)
	}
	robotID := api.publishRobot("env-robot", "PYTHON", "main.py", map[string]string{"main.py": "import tinypkg\nprint(tinypkg.GREETING)\n",
		"requirements.txt": "tinypkg==1.0\n", "wheels/" + filepath.Base(wheel): string(whl)})
	versionID := regVersionID(t, api, robotID, "1.0.0")
	regCreateUser(t, api, "viewer", "Viewer")
	admin := uiLogin(t, base, "admin", "admin-password-1")
	viewer := uiLogin(t, base, "viewer", "password-viewer")

	code, body := viewer.get("/robots/" + robotID)
	if code != http.StatusOK || !strings.Contains(body, `id="python-env"`) || strings.Contains(body, `id="prepare-env"`) {
		t.Fatalf("viewer's robot page: %d, environment section or prepare button wrong:\n%s", code, body)
	}
	if code, _ := viewer.post("/robots/"+robotID+"/versions/"+versionID+"/prepare", nil); code != http.StatusForbidden {
		t.Errorf("viewer prepares: %d, want 403", code)
	}
	code, body = admin.post("/robots/"+robotID+"/versions/"+versionID+"/prepare", nil)
	if code != http.StatusOK || !strings.Contains(body, `id="prepare-requested"`) {
		t.Fatalf("prepare: %d\n%s", code, body)
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		var envs []struct {
			WorkerID string  `json:"worker_id"`
			Status   string  `json:"status"`
			Error    *string `json:"error"`
		}
		if code := api.call("GET", "/robots/"+robotID+"/versions/"+versionID+"/environments", "", nil, &envs); code != http.StatusOK {
			t.Fatalf("environments: %d", code)
		}
		if len(envs) == 1 && envs[0].Status == "READY" {
			break
		}
		if len(envs) == 1 && envs[0].Status == "FAILED" {
			t.Fatalf("the worker failed to prepare: %v", *envs[0].Error)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no worker reported the environment ready: %+v", envs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, body := admin.get("/robots/" + robotID); !strings.Contains(body, `data-status="READY"`) {
		t.Errorf("the robot page does not show the environment ready:\n%s", body)
	}
}
