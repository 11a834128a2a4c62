package httpapi_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"automationhub/internal/hubtest"
)

// TestRunShowsItsInput checks a manual run's arguments and environment are
// part of RunRead — in the execute answer, the run and the list — with the
// values of secret-looking names masked for everyone, admins included.
func TestRunShowsItsInput(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			b := setupAPI(t, dialect)
			id := b.newRobot(t, "input-robot")
			// The version declares the variables a run may set (env_vars keys).
			ct, body := multipartBody(t, map[string]string{"version": "1.1.0", "channel": "stable",
				"env_vars_json": `{"PERIOD":"","DB_PASSWORD":"","api_token":""}`}, "artifact.zip", robotZip(t))
			if rec := b.call(t, "maintainer", http.MethodPost, "/api/v1/robots/"+id+"/versions/publish", ct, string(body)); rec.Code != 201 {
				t.Fatalf("publish: %d %s", rec.Code, rec.Body)
			}
			rec := b.call(t, "operator", http.MethodPost, "/api/v1/runs/"+id+"/execute", "application/json",
				`{"runtime_arguments":["--period","2024 01",""],"runtime_env":{"PERIOD":"2024-01","DB_PASSWORD":"hunter2","api_token":"t0k3n"}}`)
			if rec.Code != http.StatusAccepted {
				t.Fatalf("execute: %d %s", rec.Code, rec.Body)
			}
			type input struct {
				RunID string            `json:"run_id"`
				Args  []string          `json:"runtime_arguments"`
				Env   map[string]string `json:"runtime_env"`
			}
			want := input{Args: []string{"--period", "2024 01", ""}, Env: map[string]string{"PERIOD": "2024-01", "DB_PASSWORD": "***", "api_token": "***"}}
			var created input
			jsonBody(t, rec.Body.Bytes(), &created)
			want.RunID = created.RunID
			var list struct {
				Items []input `json:"items"`
			}
			jsonBody(t, b.call(t, "admin", http.MethodGet, "/api/v1/runs?robot_id="+id, "", "").Body.Bytes(), &list)
			var got input
			jsonBody(t, b.call(t, "admin", http.MethodGet, "/api/v1/runs/"+created.RunID, "", "").Body.Bytes(), &got)
			for name, g := range map[string]input{"execute": created, "get (admin)": got} {
				if diff := cmp.Diff(want, g); diff != "" {
					t.Errorf("%s (-want +got):\n%s", name, diff)
				}
			}
			// Masking is for display: the stored run, which the worker reads,
			// keeps the values.
			stored, err := b.db.RunByID(context.Background(), created.RunID)
			if err != nil {
				t.Fatal(err)
			}
			if stored.RuntimeEnv["DB_PASSWORD"] != "hunter2" {
				t.Errorf("stored runtime_env = %v, want the real values", stored.RuntimeEnv)
			}
			if len(list.Items) != 1 {
				t.Fatalf("list: %d runs, want 1", len(list.Items))
			}
			if diff := cmp.Diff(want, list.Items[0]); diff != "" {
				t.Errorf("list (-want +got):\n%s", diff)
			}

			// A run without input shows empty ones, not null.
			rec = b.call(t, "operator", http.MethodPost, "/api/v1/runs/"+id+"/execute", "application/json", `{}`)
			var bare map[string]any
			jsonBody(t, rec.Body.Bytes(), &bare)
			if args, ok := bare["runtime_arguments"].([]any); !ok || len(args) != 0 {
				t.Errorf("runtime_arguments without input = %v, want []", bare["runtime_arguments"])
			}
			if env, ok := bare["runtime_env"].(map[string]any); !ok || len(env) != 0 {
				t.Errorf("runtime_env without input = %v, want {}", bare["runtime_env"])
			}
		})
	}
}
