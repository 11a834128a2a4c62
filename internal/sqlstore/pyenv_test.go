package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"automationhub/internal/hub"
	"automationhub/internal/hubtest"
)

// TestPythonEnvStore: a prepare request is pending for every worker until
// that worker reports on the version after it was made; a new request
// replaces the last and is pending again; reports list with the worker's
// host; the version must be the robot's.
func TestPythonEnvStore(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			f := newConfigFixture(t, dialect)
			db, ctx, now := f.db, context.Background(), f.now
			for _, w := range []string{"w1", "w2"} {
				if err := db.Heartbeat(ctx, hub.Worker{ID: w, Hostname: "host-" + w, Status: hub.WorkerRunning, Concurrency: 1, StartedAt: now, LastHeartbeat: now}); err != nil {
					t.Fatal(err)
				}
			}
			ev := &hub.AuditEvent{Action: "robot_version_prepare_requested", TargetType: "robot_version", TargetID: f.vr, Metadata: map[string]any{}, CreatedAt: now}
			if err := db.RequestPrepare(ctx, &hub.PrepareRequest{ID: uuid.NewString(), RobotID: uuid.NewString(), VersionID: f.vr, RequestedAt: now}, ev); hub.ErrorKind(err) != hub.ENotFound {
				t.Fatalf("a version of another robot: got %v, want not found", err)
			}
			req := &hub.PrepareRequest{ID: uuid.NewString(), RobotID: f.robot, VersionID: f.vr, RequestedBy: &f.user, RequestedAt: now}
			if err := db.RequestPrepare(ctx, req, ev); err != nil {
				t.Fatal(err)
			}
			pending := func(worker string) int {
				t.Helper()
				got, err := db.PendingPrepares(ctx, worker, now.Add(-time.Hour), 10)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range got {
					if r.VersionID != f.vr || r.RobotID != f.robot || r.RequestedBy == nil || *r.RequestedBy != f.user || !r.RequestedAt.Equal(now) {
						t.Fatalf("got %+v", r)
					}
				}
				return len(got)
			}
			if pending("w1") != 1 || pending("w2") != 1 {
				t.Fatal("the request is not pending for both workers")
			}
			if got, _ := db.PendingPrepares(ctx, "w1", now.Add(time.Minute), 10); len(got) != 0 {
				t.Fatal("a request older than since is pending")
			}
			py := "3.11.7"
			if err := db.EnvironmentReady(ctx, hub.WorkerEnv{WorkerID: "w1", VersionID: f.vr, Key: "abc", Status: hub.EnvReady, PythonVersion: &py, UpdatedAt: now.Add(time.Second)}); err != nil {
				t.Fatal(err)
			}
			msg := "ERROR: No matching distribution found for nosuchpkg"
			if err := db.EnvironmentReady(ctx, hub.WorkerEnv{WorkerID: "w2", VersionID: f.vr, Status: hub.EnvFailed, Error: &msg, UpdatedAt: now.Add(time.Second)}); err != nil {
				t.Fatal(err)
			}
			if pending("w1") != 0 || pending("w2") != 0 {
				t.Fatal("answered requests are still pending")
			}
			// Asked again: pending again until answered.
			again := &hub.PrepareRequest{ID: uuid.NewString(), RobotID: f.robot, VersionID: f.vr, RequestedAt: now.Add(time.Minute)}
			if err := db.RequestPrepare(ctx, again, ev); err != nil {
				t.Fatal(err)
			}
			if got, _ := db.PendingPrepares(ctx, "w1", now.Add(-time.Hour), 10); len(got) != 1 || got[0].ID != again.ID {
				t.Fatalf("got %+v, want the new request alone", got)
			}
			if err := db.EnvironmentReady(ctx, hub.WorkerEnv{WorkerID: "w2", VersionID: f.vr, Key: "abc", Status: hub.EnvReady, UpdatedAt: now.Add(2 * time.Minute)}); err != nil {
				t.Fatal(err)
			}
			envs, err := db.VersionEnvironments(ctx, f.vr)
			if err != nil || len(envs) != 2 {
				t.Fatalf("got %+v, %v", envs, err)
			}
			if e := envs[0]; e.WorkerID != "w1" || e.Hostname != "host-w1" || e.Status != hub.EnvReady || e.Key != "abc" || e.PythonVersion == nil || *e.PythonVersion != py ||
				e.LastHeartbeat == nil || !e.LastHeartbeat.Equal(now) {
				t.Errorf("w1: got %+v", e)
			}
			if e := envs[1]; e.WorkerID != "w2" || e.Status != hub.EnvReady || e.Error != nil || !e.UpdatedAt.Equal(now.Add(2*time.Minute)) {
				t.Errorf("w2: got %+v", e)
			}
			// w1's cache removed the environment: w1 no longer has it.
			if err := db.EnvironmentsGone(ctx, "w1", []string{"other", "abc"}); err != nil {
				t.Fatal(err)
			}
			if envs, err := db.VersionEnvironments(ctx, f.vr); err != nil || len(envs) != 1 || envs[0].WorkerID != "w2" {
				t.Errorf("after w1 removed it: got %+v, %v", envs, err)
			}
		})
	}
}
