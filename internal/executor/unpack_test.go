package executor_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"automationhub/internal/hub"
	"automationhub/internal/hubtest"
	"automationhub/internal/registry"
	"automationhub/internal/runs"
)

// TestUnpackFailureNamesItsCause runs a version whose package cannot be
// unpacked on the worker: one stored before publish refused entry names
// longer than file systems accept. The run fails with the real cause in
// its error message and its log, not a generic one.
func TestUnpackFailureNamesItsCause(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			e := setup(t, dialect, memBus, opts{})
			ctx := context.Background()
			id := e.robot(t, "long-names", map[string]string{"run.sh": "#!/bin/sh\necho hi\n"},
				registry.PublishInput{EntrypointType: "EXE", EntrypointPath: "run.sh"})
			v, err := e.db.ActiveVersion(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			bad := zipOf(t, map[string]string{"run.sh": "#!/bin/sh\necho hi\n", strings.Repeat("n", 300) + ".txt": "x"})
			path, err := e.blobs.Path(*v.ArtifactPath)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, bad, 0o644); err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(bad)
			if _, err := e.db.Conn().Exec(ctx, `UPDATE robot_versions SET artifact_sha256 = ? WHERE id = ?`, hex.EncodeToString(sum[:]), v.ID); err != nil {
				t.Fatal(err)
			}

			r := e.execute(t, id, runs.ExecuteInput{})
			done := e.wait(t, r.ID, time.Minute)
			const cause = "a file or folder name longer than 255 bytes"
			if done.Status != hub.RunFailed || done.ErrorMessage == nil || !strings.Contains(*done.ErrorMessage, cause) {
				t.Fatalf("run %s, error message %v; want FAILED naming %q", done.Status, deref(done.ErrorMessage), cause)
			}
			if log := strings.Join(messages(e.logs(t, r.ID)), "\n"); !strings.Contains(log, cause) || strings.Contains(log, "Internal server error") {
				t.Errorf("log does not name the cause:\n%s", log)
			}
		})
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}
