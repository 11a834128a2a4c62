package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"automationhub/internal/hub"
	"automationhub/internal/hubtest"
	"automationhub/internal/sqlstore"
)

// configFixture is a store with a user, a robot (tag finance) and a version.
type configFixture struct {
	db              *sqlstore.DB
	user, robot, vr string
	now             time.Time
}

func newConfigFixture(t *testing.T, dialect string) configFixture {
	t.Helper()
	db := hubtest.Store(t, dialect)
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	u := &hub.User{ID: uuid.NewString(), Username: "ana", HashedPassword: "x", IsActive: true, Role: hub.RoleMaintainer,
		AuthSource: hub.AuthSourceLocal, CreatedAt: now, UpdatedAt: now}
	if err := db.CreateUser(ctx, u, []hub.Grant{{ResourceType: "robot", Action: hub.PermRobotRun, CreatedAt: now}}, nil); err != nil {
		t.Fatal(err)
	}
	key := "robots/r/1.0.0/artifact.zip"
	r := &hub.Robot{ID: uuid.NewString(), Name: "robot", Tags: []string{"finance", "eu"}, CreatedAt: now, UpdatedAt: now}
	v := &hub.Version{ID: uuid.NewString(), RobotID: r.ID, Version: "1.0.0", Channel: "stable", EntrypointType: "PYTHON", EntrypointPath: "main.py",
		Arguments: []string{}, EnvVars: map[string]string{}, ArtifactType: "ZIP", ArtifactPath: &key, CreatedSource: "user",
		RequiredEnvKeys: []string{}, RuntimeEnvKeys: []string{}, CreatedAt: now, IsActive: true}
	if err := db.CreateRobot(ctx, r, v, nil); err != nil {
		t.Fatal(err)
	}
	return configFixture{db: db, user: u.ID, robot: r.ID, vr: v.ID, now: now}
}

func TestEnvVarStore(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			f := newConfigFixture(t, dialect)
			db, ctx := f.db, context.Background()
			v := func(env, key, ct, kid string, secret bool) hub.EnvVar {
				return hub.EnvVar{RobotID: f.robot, EnvName: env, Key: key, Ciphertext: ct, KeyID: kid, IsSecret: secret,
					CreatedAt: f.now, UpdatedAt: f.now, CreatedBy: &f.user, UpdatedBy: &f.user}
			}
			var created []string
			event := func(x hub.EnvVar, c bool) *hub.AuditEvent {
				if c {
					created = append(created, x.Key)
				}
				return &hub.AuditEvent{Action: "robot_env_var.x", TargetType: "robot_env_var", TargetID: x.Key, CreatedAt: f.now}
			}
			if err := db.PutEnvVars(ctx, []hub.EnvVar{v("PROD", "B", "ct-b", "k1", true), v("PROD", "A", "ct-a", "k1", false), v("HML", "A", "ct-ha", "", false)}, event); err != nil {
				t.Fatal(err)
			}
			later := v("PROD", "B", "ct-b2", "k2", false)
			later.UpdatedAt = f.now.Add(time.Hour)
			if err := db.PutEnvVars(ctx, []hub.EnvVar{later}, event); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{"B", "A", "A"}, created); diff != "" {
				t.Errorf("created (-want +got):\n%s", diff)
			}
			got, err := db.EnvVars(ctx, f.robot, "PROD")
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 || got[0].Key != "A" || got[1].Key != "B" || got[1].Ciphertext != "ct-b2" || got[1].KeyID != "k2" ||
				got[1].IsSecret || !got[1].UpdatedAt.Equal(f.now.Add(time.Hour)) || !got[1].CreatedAt.Equal(f.now) {
				t.Errorf("PROD vars = %+v", got)
			}
			keys, err := db.EnvKeys(ctx, f.robot, "PROD")
			if err != nil || len(keys) != 2 || keys["B"] || keys["A"] {
				t.Errorf("EnvKeys = %v, %v", keys, err)
			}
			ids, err := db.EnvKeyIDs(ctx)
			if err != nil || !cmp.Equal(ids, map[string]int{"k1": 1, "k2": 1, "": 1}) {
				t.Errorf("EnvKeyIDs = %v, %v", ids, err)
			}
			legacy, err := db.LegacyEnvVar(ctx)
			if err != nil || legacy.EnvName != "HML" || legacy.KeyID != "" {
				t.Errorf("LegacyEnvVar = %+v, %v", legacy, err)
			}

			// A run's configuration goes only to the worker holding it.
			run := &hub.Run{ID: uuid.NewString(), RobotID: f.robot, VersionID: f.vr, Status: hub.RunPending, TriggerType: hub.TriggerManual,
				Attempt: 1, EnvName: "PROD", RuntimeArguments: []string{}, RuntimeEnv: map[string]string{}, TimeoutSeconds: 60, QueuedAt: f.now}
			if err := db.CreateRun(ctx, run, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := db.RunEnvVars(ctx, run.ID, "w1"); hub.ErrorKind(err) != hub.EConflict {
				t.Errorf("pending run: %v, want EConflict", err)
			}
			if _, ok, err := db.ClaimRun(ctx, run.ID, "w1", "host", f.now, f.now.Add(time.Minute)); err != nil || !ok {
				t.Fatalf("claim: %v %v", ok, err)
			}
			if _, err := db.RunEnvVars(ctx, run.ID, "w2"); hub.ErrorKind(err) != hub.EConflict {
				t.Errorf("another worker: %v, want EConflict", err)
			}
			held, err := db.RunEnvVars(ctx, run.ID, "w1")
			if err != nil || len(held) != 2 || held[0].Key != "A" || held[1].Ciphertext != "ct-b2" {
				t.Errorf("held run's vars = %+v, %v", held, err)
			}

			// Resealing is all or nothing.
			n, total, err := db.ResealEnvVars(ctx, func(x *hub.EnvVar) (bool, error) {
				if x.KeyID == "k2" {
					return false, nil
				}
				x.KeyID, x.Ciphertext = "k2", "re-"+x.Ciphertext
				return true, nil
			}, &hub.AuditEvent{Action: "robot_env.rotated", Metadata: map[string]any{}, CreatedAt: f.now})
			if err != nil || n != 2 || total != 3 {
				t.Errorf("reseal = %d of %d, %v; want 2 of 3", n, total, err)
			}
			if ids, _ := db.EnvKeyIDs(ctx); !cmp.Equal(ids, map[string]int{"k2": 3}) {
				t.Errorf("after reseal key ids = %v", ids)
			}
			_, _, err = db.ResealEnvVars(ctx, func(x *hub.EnvVar) (bool, error) {
				if x.EnvName == "PROD" {
					x.KeyID = "k3"
					return true, nil
				}
				return false, hub.Errorf(hub.EInvalid, "cannot")
			}, &hub.AuditEvent{Action: "robot_env.rotated", Metadata: map[string]any{}, CreatedAt: f.now})
			if err == nil {
				t.Error("a failing reseal succeeded")
			}
			if ids, _ := db.EnvKeyIDs(ctx); !cmp.Equal(ids, map[string]int{"k2": 3}) {
				t.Errorf("a failed reseal changed key ids: %v", ids)
			}

			if err := db.DeleteEnvVar(ctx, f.robot, "PROD", "A", nil); err != nil {
				t.Fatal(err)
			}
			if err := db.DeleteEnvVar(ctx, f.robot, "PROD", "A", nil); hub.ErrorKind(err) != hub.ENotFound {
				t.Errorf("second delete: %v, want ENotFound", err)
			}
			bad := v("PROD", "X", "c", "k", false)
			bad.RobotID = uuid.NewString()
			if err := db.PutEnvVars(ctx, []hub.EnvVar{v("PROD", "Y", "c", "k", false), bad}, event); hub.ErrorKind(err) != hub.ENotFound {
				t.Errorf("unknown robot: %v, want ENotFound", err)
			}
			if keys, _ := db.EnvKeys(ctx, f.robot, "PROD"); keys["Y"] {
				t.Error("a failed put kept its first variable")
			}
		})
	}
}

func TestTokenStore(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			f := newConfigFixture(t, dialect)
			db, ctx := f.db, context.Background()
			exp := f.now.Add(24 * time.Hour)
			tok := &hub.APIToken{ID: uuid.NewString(), UserID: f.user, Name: "ci", Hash: "ab12", Hint: "hub_abcd",
				Permissions: []hub.Permission{hub.PermRobotPublish, hub.PermRobotRead}, RobotID: &f.robot, ExpiresAt: &exp,
				CreatedAt: f.now, CreatedBy: &f.user}
			if err := db.CreateToken(ctx, tok, &hub.AuditEvent{Action: "api_token.created", CreatedAt: f.now}); err != nil {
				t.Fatal(err)
			}
			other := &hub.APIToken{ID: uuid.NewString(), UserID: f.user, Name: "tag", Hash: "cd34", Hint: "hub_efgh",
				Permissions: []hub.Permission{hub.PermRunRead}, ScopeTag: ptrS("finance"), CreatedAt: f.now.Add(time.Second)}
			if err := db.CreateToken(ctx, other, nil); err != nil {
				t.Fatal(err)
			}
			if err := db.CreateToken(ctx, &hub.APIToken{ID: uuid.NewString(), UserID: uuid.NewString(), Name: "x", Hash: "ef", Hint: "h",
				Permissions: []hub.Permission{}, CreatedAt: f.now}, nil); hub.ErrorKind(err) != hub.ENotFound {
				t.Errorf("token of an unknown user: %v, want ENotFound", err)
			}
			gt, u, grants, err := db.TokenWithUser(ctx, "ab12")
			if err != nil {
				t.Fatal(err)
			}
			if u.ID != f.user || u.Username != "ana" || len(grants) != 1 || grants[0].Action != hub.PermRobotRun {
				t.Errorf("user %+v grants %+v", u, grants)
			}
			want := *tok
			want.RobotTags = []string{"eu", "finance"}
			if diff := cmp.Diff(&want, gt); diff != "" {
				t.Errorf("token (-want +got):\n%s", diff)
			}
			if gt2, _, _, err := db.TokenWithUser(ctx, "cd34"); err != nil || len(gt2.RobotTags) != 0 || *gt2.ScopeTag != "finance" {
				t.Errorf("tag token = %+v, %v", gt2, err)
			}
			if _, _, _, err := db.TokenWithUser(ctx, "nope"); hub.ErrorKind(err) != hub.ENotFound {
				t.Errorf("unknown hash: %v", err)
			}
			// last_used_at is written at most once per interval.
			t1 := f.now.Add(time.Hour)
			if err := db.TouchToken(ctx, tok.ID, t1, t1.Add(-time.Minute)); err != nil {
				t.Fatal(err)
			}
			if err := db.TouchToken(ctx, tok.ID, t1.Add(30*time.Second), t1.Add(-30*time.Second)); err != nil {
				t.Fatal(err)
			}
			got, err := db.TokenByID(ctx, tok.ID)
			if err != nil || got.LastUsedAt == nil || !got.LastUsedAt.Equal(t1) {
				t.Errorf("last used = %v, %v; want %v", got.LastUsedAt, err, t1)
			}
			list, err := db.Tokens(ctx, f.user, 10)
			if err != nil || len(list) != 2 || list[0].ID != other.ID {
				t.Errorf("Tokens = %+v, %v", list, err)
			}
			if all, _ := db.Tokens(ctx, "", 10); len(all) != 2 {
				t.Errorf("all tokens: %d", len(all))
			}
			if err := db.DeleteToken(ctx, tok.ID, nil); err != nil {
				t.Fatal(err)
			}
			if _, _, _, err := db.TokenWithUser(ctx, "ab12"); hub.ErrorKind(err) != hub.ENotFound {
				t.Errorf("revoked token still found: %v", err)
			}
			if err := db.DeleteToken(ctx, tok.ID, nil); hub.ErrorKind(err) != hub.ENotFound {
				t.Errorf("second revoke: %v", err)
			}

			// Service accounts are users; they never count as the last administrator.
			sa := &hub.User{ID: uuid.NewString(), Username: "ci-bot", HashedPassword: "!", IsActive: true, Role: hub.RoleAdmin,
				AuthSource: hub.AuthSourceLocal, ServiceAccount: true, CreatedAt: f.now, UpdatedAt: f.now}
			if err := db.CreateUser(ctx, sa, nil, nil); err != nil {
				t.Fatal(err)
			}
			accounts, err := db.ServiceAccounts(ctx)
			if err != nil || len(accounts) != 1 || !accounts[0].ServiceAccount || accounts[0].Username != "ci-bot" {
				t.Errorf("ServiceAccounts = %+v, %v", accounts, err)
			}
			if u, _ := db.UserByID(ctx, f.user); u.ServiceAccount {
				t.Error("a person is listed as a service account")
			}
		})
	}
}

func ptrS(s string) *string { return &s }
