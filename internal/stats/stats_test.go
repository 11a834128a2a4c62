package stats_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"automationhub/internal/hub"
	"automationhub/internal/hubtest"
	"automationhub/internal/sqlstore"
	"automationhub/internal/stats"
)

func TestMain(m *testing.M) { hubtest.Main(m) }

type fixed time.Time

func (f fixed) Now() time.Time { return time.Time(f) }

var admin = &hub.Principal{Subject: "admin", Role: hub.RoleAdmin}

func robot(t *testing.T, db *sqlstore.DB, name string, now time.Time) (string, string) {
	t.Helper()
	key := "robots/" + name + "/1.0.0/artifact.zip"
	r := &hub.Robot{ID: uuid.NewString(), Name: name, Tags: []string{}, CreatedAt: now, UpdatedAt: now}
	v := &hub.Version{ID: uuid.NewString(), RobotID: r.ID, Version: "1.0.0", Channel: "stable", EntrypointType: "PYTHON", EntrypointPath: "main.py",
		Arguments: []string{}, EnvVars: map[string]string{}, ArtifactType: "ZIP", ArtifactPath: &key, CreatedSource: "user",
		RequiredEnvKeys: []string{}, RuntimeEnvKeys: []string{}, CreatedAt: now, IsActive: true}
	if err := db.CreateRobot(context.Background(), r, v, nil); err != nil {
		t.Fatal(err)
	}
	return r.ID, v.ID
}

// finished stores a run of robot that finished at end after d seconds.
func finished(t *testing.T, db *sqlstore.DB, robotID, versionID, status string, end time.Time, d float64, msg *string) {
	t.Helper()
	start := end.Add(-time.Duration(d * float64(time.Second)))
	r := &hub.Run{ID: uuid.NewString(), RobotID: robotID, VersionID: versionID, Status: hub.RunPending, TriggerType: "MANUAL", Attempt: 1,
		EnvName: "PROD", RuntimeArguments: []string{}, RuntimeEnv: map[string]string{}, TimeoutSeconds: 3600, QueuedAt: start}
	if err := db.CreateRun(context.Background(), r, nil); err != nil {
		t.Fatal(err)
	}
	q := `UPDATE runs SET status = ?, started_at = ?, finished_at = ?, duration_seconds = ?, error_message = ? WHERE run_id = ?`
	if db.Dialect() == "postgres" {
		q = `UPDATE runs SET status = $1, started_at = $2, finished_at = $3, duration_seconds = $4, error_message = $5 WHERE run_id = $6`
	}
	if _, err := db.SQL().Exec(q, status, start, end, d, msg, r.ID); err != nil {
		t.Fatal(err)
	}
}

func TestFiguresFromStoredDaysAndToday(t *testing.T) {
	t.Parallel()
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db := hubtest.Store(t, dialect)
			now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
			a, av := robot(t, db, "alpha", now)
			b, bv := robot(t, db, "beta", now)
			boom := "boom"
			for day := range 10 { // days 0 (today) .. 9 days ago
				end := now.Add(-time.Duration(day) * 24 * time.Hour)
				finished(t, db, a, av, hub.RunSuccess, end, 45, nil)
				finished(t, db, a, av, hub.RunSuccess, end.Add(-time.Minute), 500, nil)
				if day%2 == 0 {
					finished(t, db, b, bv, hub.RunFailed, end, 10, &boom)
				}
			}
			svc := stats.New(db, fixed(now), time.UTC)
			// Concurrent first requests store the missing days once.
			var wg sync.WaitGroup
			for range 3 {
				wg.Go(func() {
					if _, err := svc.Robots(ctx, admin, 7); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			figs, err := svc.Robots(ctx, admin, 7)
			if err != nil {
				t.Fatal(err)
			}
			if len(figs) != 2 || figs[0].Name != "alpha" || figs[0].Success != 14 || figs[1].Failed != 4 {
				t.Fatalf("7-day figures = %+v", figs)
			}
			if *figs[0].SuccessRate != 1 || *figs[1].SuccessRate != 0 || *figs[0].P50 != 60 || *figs[0].P90 != 540 {
				t.Errorf("alpha rate/p50/p90 = %v %v %v", *figs[0].SuccessRate, *figs[0].P50, *figs[0].P90)
			}
			if len(figs[0].Daily) != 7 || figs[0].Daily[6].Day != "2026-03-10" || figs[0].Daily[6].Success != 2 {
				t.Errorf("alpha daily = %+v", figs[0].Daily)
			}
			month, err := svc.Robots(ctx, admin, 30)
			if err != nil || month[0].Success != 20 {
				t.Fatalf("30-day figures = %+v, %v", month, err)
			}
			o, err := svc.Overview(ctx, admin)
			if err != nil {
				t.Fatal(err)
			}
			if o.SuccessToday != 2 || o.FailedToday != 1 || o.RunsToday != 3 || o.Day != "2026-03-10" {
				t.Errorf("overview = %+v", o)
			}
			fails, err := svc.Failures(ctx, admin, 7, 10)
			if err != nil || len(fails) != 1 || fails[0].Message != "boom" || fails[0].Count != 4 || fails[0].Robots[0] != "beta" {
				t.Errorf("failures = %+v, %v", fails, err)
			}
			// A viewer limited to alpha sees only alpha.
			scoped := &hub.Principal{Subject: "v", Role: hub.RoleNone, Grants: []hub.Grant{{Action: hub.PermRunRead, ResourceID: &a}}}
			figs, err = svc.Robots(ctx, scoped, 7)
			if err != nil || len(figs) != 1 || figs[0].ID != a {
				t.Errorf("scoped figures = %+v, %v", figs, err)
			}
		})
	}
}
