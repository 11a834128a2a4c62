package pools_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"automationhub/internal/bus/membus"
	"automationhub/internal/hub"
	"automationhub/internal/hubtest"
	"automationhub/internal/pools"
)

func TestMain(m *testing.M) { hubtest.Main(m) }

func ptr[T any](v T) *T { return &v }

func TestPoolsAndRunSettings(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			db := hubtest.Store(t, dialect)
			b := membus.New(membus.Options{})
			defer b.Close()
			svc := pools.New(db, b, nil)
			admin := &hub.Principal{Subject: "admin", Role: hub.RoleAdmin}
			maintainer := &hub.Principal{Subject: "m", Role: hub.RoleMaintainer}
			viewer := &hub.Principal{Subject: "v", Role: hub.RoleViewer}
			now := time.Now().UTC()
			robot := &hub.Robot{ID: uuid.NewString(), Name: "pooled", Tags: []string{}, CreatedAt: now, UpdatedAt: now}
			v := &hub.Version{ID: uuid.NewString(), RobotID: robot.ID, Version: "1.0.0", Channel: "stable", EntrypointType: "PYTHON",
				EntrypointPath: "main.py", Arguments: []string{}, EnvVars: map[string]string{}, ArtifactType: "ZIP", CreatedSource: "user",
				RequiredEnvKeys: []string{}, RuntimeEnvKeys: []string{}, CreatedAt: now, IsActive: true}
			if err := db.CreateRobot(ctx, robot, v, nil); err != nil {
				t.Fatal(err)
			}

			for _, tt := range []struct {
				name string
				who  *hub.Principal
				in   pools.Input
				kind string
			}{
				{"maintainer may not create", maintainer, pools.Input{Name: ptr("sap"), Capacity: ptr(2)}, hub.EForbidden},
				{"bad name", admin, pools.Input{Name: ptr("SAP Licences"), Capacity: ptr(2)}, hub.EUnprocessable},
				{"zero capacity", admin, pools.Input{Name: ptr("sap"), Capacity: ptr(0)}, hub.EUnprocessable},
				{"created", admin, pools.Input{Name: ptr("sap-licences"), Capacity: ptr(2)}, ""},
				{"taken name", admin, pools.Input{Name: ptr("sap-licences"), Capacity: ptr(1)}, hub.EConflict},
			} {
				_, err := svc.Create(ctx, tt.who, tt.in)
				if hub.ErrorKind(err) != tt.kind {
					t.Errorf("%s: error %v, want kind %q", tt.name, err, tt.kind)
				}
			}
			list, err := svc.List(ctx, viewer)
			if err != nil || len(list) != 1 || list[0].Capacity != 2 {
				t.Fatalf("list = %+v, %v", list, err)
			}
			pool := list[0]

			if _, err := svc.SetRunSettings(ctx, viewer, robot.ID, pools.SettingsInput{RetryCount: ptr(1)}); hub.ErrorKind(err) != hub.EForbidden {
				t.Errorf("viewer changes settings: %v", err)
			}
			if _, err := svc.SetRunSettings(ctx, maintainer, robot.ID, pools.SettingsInput{Pools: []string{"nope"}}); hub.ErrorKind(err) != hub.EInvalid {
				t.Errorf("unknown pool: %v", err)
			}
			if _, err := svc.SetRunSettings(ctx, maintainer, robot.ID, pools.SettingsInput{RetryCount: ptr(11)}); hub.ErrorKind(err) != hub.EUnprocessable {
				t.Errorf("11 retries: %v", err)
			}
			r, err := svc.SetRunSettings(ctx, maintainer, robot.ID, pools.SettingsInput{MaxConcurrentRuns: ptr(1), Pools: []string{" sap-licences ", "sap-licences"},
				RetryCount: ptr(2), RetryBackoffSeconds: ptr(30)})
			if err != nil || r.Settings.MaxConcurrentRuns == nil || *r.Settings.MaxConcurrentRuns != 1 || len(r.Settings.Pools) != 1 ||
				r.Settings.RetryCount != 2 || r.Settings.RetryBackoffSeconds != 30 {
				t.Fatalf("settings = %+v, %v", r, err)
			}
			// A pool in use by a robot cannot be deleted; after the robot lets go, it can.
			if err := svc.Delete(ctx, admin, pool.ID); hub.ErrorKind(err) != hub.EConflict {
				t.Errorf("delete a pool in use: %v", err)
			}
			r, err = svc.SetRunSettings(ctx, maintainer, robot.ID, pools.SettingsInput{ClearMaxConcurrent: true, Pools: []string{}})
			if err != nil || r.Settings.MaxConcurrentRuns != nil || len(r.Settings.Pools) != 0 || r.Settings.RetryCount != 2 {
				t.Fatalf("cleared settings = %+v, %v", r.Settings, err)
			}
			if p, err := svc.Update(ctx, admin, pool.ID, pools.Input{Capacity: ptr(5), ClearDescription: true}); err != nil || p.Capacity != 5 {
				t.Errorf("update = %+v, %v", p, err)
			}
			if err := svc.Delete(ctx, admin, pool.ID); err != nil {
				t.Errorf("delete: %v", err)
			}
			if _, err := svc.Get(ctx, viewer, pool.ID); hub.ErrorKind(err) != hub.ENotFound {
				t.Errorf("get deleted: %v", err)
			}
		})
	}
}
