package runs_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"automationhub/internal/bus/membus"
	"automationhub/internal/hub"
	"automationhub/internal/hubtest"
	"automationhub/internal/runs"
	"automationhub/internal/schedule"
	"automationhub/internal/sqlstore"
)

func TestMain(m *testing.M) { hubtest.Main(m) }

type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

type fixture struct {
	db    *sqlstore.DB
	bus   *membus.Bus
	svc   *runs.Service
	clock *clock
	admin *hub.Principal
	robot string
	ver   string
}

func setup(t *testing.T, dialect string) *fixture {
	t.Helper()
	db := hubtest.Store(t, dialect)
	b := membus.New(membus.Options{})
	t.Cleanup(func() { b.Close() })
	c := &clock{now: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
	f := &fixture{db: db, bus: b, clock: c,
		svc:   runs.New(db, b, nil, runs.Config{DefaultTimeout: time.Hour, StaleAfter: time.Minute, Clock: c, Logger: slog.New(slog.DiscardHandler)}),
		admin: &hub.Principal{Subject: "admin", Role: hub.RoleAdmin}}
	key := "robots/r/1.0.0/artifact.zip"
	r := &hub.Robot{ID: uuid.NewString(), Name: "robot", Tags: []string{"finance"}, CreatedAt: c.now, UpdatedAt: c.now}
	v := &hub.Version{ID: uuid.NewString(), RobotID: r.ID, Version: "1.0.0", Channel: "stable", EntrypointType: "PYTHON", EntrypointPath: "main.py",
		Arguments: []string{}, EnvVars: map[string]string{}, ArtifactType: "ZIP", ArtifactPath: &key, CreatedSource: "user", RequiredEnvKeys: []string{}, RuntimeEnvKeys: []string{"A", "REGION"}, CreatedAt: c.now, IsActive: true}
	if err := db.CreateRobot(context.Background(), r, v, nil); err != nil {
		t.Fatal(err)
	}
	f.robot, f.ver = r.ID, v.ID
	return f
}

func TestExecuteValidation(t *testing.T) {
	f := setup(t, hubtest.Dialects()[0])
	ctx := context.Background()
	neg, huge := 0, 10*86400
	tests := []struct {
		name  string
		robot string
		in    runs.ExecuteInput
		kind  string
	}{
		{"malformed robot id", "nope", runs.ExecuteInput{}, hub.EInvalid},
		{"unknown robot", uuid.NewString(), runs.ExecuteInput{}, hub.ENotFound},
		{"unknown version", f.robot, runs.ExecuteInput{VersionID: ptr(uuid.NewString())}, hub.ENotFound},
		{"bad env name", f.robot, runs.ExecuteInput{EnvName: "prod"}, hub.EUnprocessable},
		{"zero timeout", f.robot, runs.ExecuteInput{TimeoutSeconds: &neg}, hub.EUnprocessable},
		{"huge timeout", f.robot, runs.ExecuteInput{TimeoutSeconds: &huge}, hub.EUnprocessable},
		{"NUL in argument", f.robot, runs.ExecuteInput{RuntimeArguments: []string{"a\x00b"}}, hub.EUnprocessable},
		{"bad env key", f.robot, runs.ExecuteInput{RuntimeEnv: map[string]string{"A-B": "x"}}, hub.EUnprocessable},
		// The attack of the review: an Operator's interpreter hooks.
		{"interpreter hook", f.robot, runs.ExecuteInput{RuntimeEnv: map[string]string{"PYTHONWARNINGS": "all:0:antigravity.x:0:0", "BROWSER": "sh -c id #%s"}}, hub.EInvalid},
		{"loader hook", f.robot, runs.ExecuteInput{RuntimeEnv: map[string]string{"LD_PRELOAD": "/tmp/x.so"}}, hub.EInvalid},
		{"PATH", f.robot, runs.ExecuteInput{RuntimeEnv: map[string]string{"PATH": "/tmp"}}, hub.EInvalid},
		{"undeclared key", f.robot, runs.ExecuteInput{RuntimeEnv: map[string]string{"OTHER": "1"}}, hub.EInvalid},
	}
	for _, tt := range tests {
		_, err := f.svc.Execute(ctx, f.admin, tt.robot, tt.in)
		if got := hub.ErrorKind(err); got != tt.kind {
			t.Errorf("%s: %v (kind %q), want %q", tt.name, err, got, tt.kind)
		}
	}
	// A scoped runner may run only its tagged robots.
	scoped := &hub.Principal{Subject: "s", Role: hub.RoleNone, Grants: []hub.Grant{{Action: hub.PermRobotRun, ScopeTag: ptr("hr")}}}
	if _, err := f.svc.Execute(ctx, scoped, f.robot, runs.ExecuteInput{}); hub.ErrorKind(err) != hub.EForbidden {
		t.Errorf("scoped runner: %v, want forbidden", err)
	}
	r, err := f.svc.Execute(ctx, f.admin, f.robot, runs.ExecuteInput{RuntimeArguments: []string{"--x"}, RuntimeEnv: map[string]string{"A": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != hub.RunPending || r.TimeoutSeconds != 3600 || r.EnvName != "PROD" || r.TriggerType != hub.TriggerManual {
		t.Errorf("queued run = %+v", r)
	}
	if d, err := f.bus.Dequeue(ctx, "w"); err != nil || d.RunID != r.ID {
		t.Errorf("ready signal = %+v, %v", d, err)
	}
}

func TestListScopeAndCancel(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			f := setup(t, dialect)
			ctx := context.Background()
			r, err := f.svc.Execute(ctx, f.admin, f.robot, runs.ExecuteInput{})
			if err != nil {
				t.Fatal(err)
			}
			reader := &hub.Principal{Subject: "r", Role: hub.RoleNone, Grants: []hub.Grant{{Action: hub.PermRunRead, ScopeTag: ptr("hr")}}}
			list, total, err := f.svc.List(ctx, reader, runs.ListInput{Page: hub.Page{Limit: 10}})
			if err != nil || total.Total != 0 || len(list) != 0 {
				t.Errorf("reader of other robots sees %d runs (%v)", total.Total, err)
			}
			if _, _, err := f.svc.List(ctx, reader, runs.ListInput{RobotID: f.robot, Page: hub.Page{Limit: 10}}); hub.ErrorKind(err) != hub.EForbidden {
				t.Errorf("filtering on a robot out of scope: %v", err)
			}
			if _, total, _ := f.svc.List(ctx, f.admin, runs.ListInput{Status: hub.RunPending, Page: hub.Page{Limit: 10}}); total.Total != 1 {
				t.Errorf("admin sees %d pending runs, want 1", total.Total)
			}
			if _, err := f.svc.Get(ctx, reader, r.ID); hub.ErrorKind(err) != hub.EForbidden {
				t.Errorf("get out of scope: %v", err)
			}
			if _, err := f.svc.Get(ctx, f.admin, "bad"); hub.ErrorKind(err) != hub.EInvalid || !strings.Contains(hub.ErrorMessage(err), "run_id") {
				t.Errorf("malformed run id: %v", err)
			}
			got, err := f.svc.Cancel(ctx, f.admin, r.ID)
			if err != nil || got.Status != hub.RunCanceled {
				t.Fatalf("cancel pending: %+v %v", got, err)
			}
			if _, err := f.svc.Cancel(ctx, f.admin, r.ID); err != nil {
				t.Errorf("cancel again: %v", err)
			}
		})
	}
}

func TestReconciler(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			f := setup(t, dialect)
			ctx := context.Background()
			lost, _ := f.svc.Execute(ctx, f.admin, f.robot, runs.ExecuteInput{})
			orphan, _ := f.svc.Execute(ctx, f.admin, f.robot, runs.ExecuteInput{})
			for range 2 { // drop the original signals
				d, _ := f.bus.Dequeue(ctx, "w")
				f.bus.Ack(ctx, d)
			}
			if _, ok, err := f.db.ClaimRun(ctx, orphan.ID, "dead", "h", f.clock.now, f.clock.now.Add(time.Minute)); !ok || err != nil {
				t.Fatal(ok, err)
			}
			rec := runs.NewReconciler(f.svc)
			f.clock.now = f.clock.now.Add(2 * time.Minute) // lease expired; pending run is stale
			if err := rec.Pass(ctx); err != nil {
				t.Fatal(err)
			}
			d, err := f.bus.Dequeue(ctx, "w")
			if err != nil || d.RunID != lost.ID {
				t.Errorf("re-signalled = %+v, %v; want the lost run", d, err)
			}
			f.bus.Ack(ctx, d)
			got, _ := f.db.RunByID(ctx, orphan.ID)
			if got.Status != hub.RunFailed || got.ErrorMessage == nil || !strings.Contains(*got.ErrorMessage, "worker lost") {
				t.Errorf("orphaned run = %s %v", got.Status, got.ErrorMessage)
			}
			lines, _ := f.db.RunLogs(ctx, orphan.ID, 0, 10)
			if len(lines) != 1 || !strings.HasPrefix(lines[0].Message, "Unexpected failure: worker lost") {
				t.Errorf("orphan log = %+v", lines)
			}
			// A second pass right away does not signal the same run again.
			if err := rec.Pass(ctx); err != nil {
				t.Fatal(err)
			}
			short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
			defer cancel()
			if d, err := f.bus.Dequeue(short, "w"); err == nil {
				t.Errorf("signalled again within ResendAfter: %+v", d)
			}
		})
	}
}

func ptr(s string) *string { return &s }

// TestRequiredConfigAndSecrets: a version's required keys must be in its
// robot's configuration for the run's environment (409 naming them, in
// order), and a run may not override a secret of it (400).
func TestRequiredConfigAndSecrets(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			f := setup(t, dialect)
			ctx := context.Background()
			key := "robots/r/2.0.0/artifact.zip"
			v := &hub.Version{ID: uuid.NewString(), RobotID: f.robot, Version: "2.0.0", Channel: "stable", EntrypointType: "PYTHON", EntrypointPath: "main.py",
				Arguments: []string{}, EnvVars: map[string]string{}, ArtifactType: "ZIP", ArtifactPath: &key, CreatedSource: "user",
				RequiredEnvKeys: []string{"SAP_USER", "API_TOKEN"}, RuntimeEnvKeys: []string{"REGION"}, CreatedAt: f.clock.now}
			if err := f.db.PublishVersion(ctx, v, nil, func() error { return nil }, func() {}); err != nil {
				t.Fatal(err)
			}
			exec := func(env string, renv map[string]string) error {
				_, err := f.svc.Execute(ctx, f.admin, f.robot, runs.ExecuteInput{VersionID: &v.ID, EnvName: env, RuntimeEnv: renv})
				return err
			}
			err := exec("", nil)
			if hub.ErrorKind(err) != hub.EConflict || !errors.Is(err, hub.ErrMissingRunEnv) ||
				hub.ErrorMessage(err) != "Missing required env vars for PROD: API_TOKEN, SAP_USER. Configure keys in Robot > Config/Secrets before executing." {
				t.Fatalf("nothing configured: %v", err)
			}
			put := func(env, key string, secret bool) {
				t.Helper()
				err := f.db.PutEnvVars(ctx, []hub.EnvVar{{RobotID: f.robot, EnvName: env, Key: key, IsSecret: secret, KeyID: "k", Ciphertext: "c",
					CreatedAt: f.clock.now, UpdatedAt: f.clock.now}}, func(hub.EnvVar, bool) *hub.AuditEvent { return nil })
				if err != nil {
					t.Fatal(err)
				}
			}
			put("PROD", "API_TOKEN", true)
			put("HML", "SAP_USER", false)
			if err := exec("PROD", nil); hub.ErrorMessage(err) != "Missing required env vars for PROD: SAP_USER. Configure keys in Robot > Config/Secrets before executing." {
				t.Errorf("one configured in PROD: %v", err)
			}
			if err := exec("HML", nil); hub.ErrorMessage(err) != "Missing required env vars for HML: API_TOKEN. Configure keys in Robot > Config/Secrets before executing." {
				t.Errorf("HML: %v", err)
			}
			put("PROD", "SAP_USER", false)
			put("PROD", "REGION", true)
			if err := exec("PROD", nil); err != nil {
				t.Errorf("all configured: %v", err)
			}
			if err := exec("PROD", map[string]string{"REGION": "eu"}); hub.ErrorKind(err) != hub.EInvalid || !strings.Contains(hub.ErrorMessage(err), "REGION is a secret") {
				t.Errorf("overriding a secret: %v, want 400", err)
			}
			if err := exec("PROD", map[string]string{"SAP_USER": "other"}); err != nil {
				t.Errorf("overriding a plain value: %v", err)
			}
		})
	}
}

// TestScheduleNeedsTheRequiredConfig: an enabled schedule of a robot whose
// active version requires configuration missing for PROD (the environment
// of scheduled runs) is refused with the execute answer; once configured it
// is accepted, and a disabled one always is.
func TestScheduleNeedsTheRequiredConfig(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			f := setup(t, dialect)
			ctx := context.Background()
			key := "robots/r/2.0.0/artifact.zip"
			v := &hub.Version{ID: uuid.NewString(), RobotID: f.robot, Version: "2.0.0", Channel: "stable", EntrypointType: "PYTHON", EntrypointPath: "main.py",
				Arguments: []string{}, EnvVars: map[string]string{}, ArtifactType: "ZIP", ArtifactPath: &key, CreatedSource: "user",
				RequiredEnvKeys: []string{"SAP_USER"}, CreatedAt: f.clock.now, IsActive: true}
			if err := f.db.PublishVersion(ctx, v, nil, func() error { return nil }, func() {}); err != nil {
				t.Fatal(err)
			}
			svc := schedule.New(f.db, nil, nil)
			svc.CheckRunsFunc = f.svc.CheckScheduledRuns
			cron, off := "0 8 * * *", false
			_, err := svc.Create(ctx, f.admin, f.robot, schedule.Input{CronExpr: &cron})
			if hub.ErrorKind(err) != hub.EConflict || hub.ErrorMessage(err) != "Missing required env vars for PROD: SAP_USER. Configure keys in Robot > Config/Secrets before executing." {
				t.Fatalf("enabled schedule without the configuration: %v, want 409", err)
			}
			if _, err := svc.Create(ctx, f.admin, f.robot, schedule.Input{CronExpr: &cron, Enabled: &off}); err != nil {
				t.Fatalf("disabled schedule: %v", err)
			}
			on := true
			if _, err := svc.Update(ctx, f.admin, f.robot, schedule.Input{Enabled: &on, Present: map[string]bool{"enabled": true}}); hub.ErrorKind(err) != hub.EConflict {
				t.Errorf("enabling it without the configuration: %v, want 409", err)
			}
			if err := f.db.PutEnvVars(ctx, []hub.EnvVar{{RobotID: f.robot, EnvName: "PROD", Key: "SAP_USER", KeyID: "k", Ciphertext: "c",
				CreatedAt: f.clock.now, UpdatedAt: f.clock.now}}, func(hub.EnvVar, bool) *hub.AuditEvent { return nil }); err != nil {
				t.Fatal(err)
			}
			if _, err := svc.Update(ctx, f.admin, f.robot, schedule.Input{Enabled: &on, Present: map[string]bool{"enabled": true}}); err != nil {
				t.Errorf("enabling it once configured: %v", err)
			}
		})
	}
}
