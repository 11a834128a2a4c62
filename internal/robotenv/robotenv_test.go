package robotenv_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"automationhub/internal/hub"
	"automationhub/internal/hubtest"
	"automationhub/internal/keyring"
	"automationhub/internal/robotenv"
	"automationhub/internal/sqlstore"
)

func TestMain(m *testing.M) { hubtest.Main(m) }

type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

type fixture struct {
	db     *sqlstore.DB
	svc    *robotenv.Service
	key    string
	admin  *hub.Principal
	robot  string
	vers   string
	clock  *clock
	reader *hub.Principal
}

func setup(t *testing.T, dialect string) *fixture {
	t.Helper()
	db := hubtest.Store(t, dialect)
	c := &clock{now: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
	key := keyring.GenerateKey()
	ring, err := keyring.New(key)
	if err != nil {
		t.Fatal(err)
	}
	key2 := "robots/r/1.0.0/artifact.zip"
	r := &hub.Robot{ID: uuid.NewString(), Name: "robot", Tags: []string{"finance"}, CreatedAt: c.now, UpdatedAt: c.now}
	v := &hub.Version{ID: uuid.NewString(), RobotID: r.ID, Version: "1.0.0", Channel: "stable", EntrypointType: "PYTHON", EntrypointPath: "main.py",
		Arguments: []string{}, EnvVars: map[string]string{}, ArtifactType: "ZIP", ArtifactPath: &key2, CreatedSource: "user",
		RequiredEnvKeys: []string{}, RuntimeEnvKeys: []string{}, CreatedAt: c.now, IsActive: true}
	if err := db.CreateRobot(context.Background(), r, v, nil); err != nil {
		t.Fatal(err)
	}
	return &fixture{db: db, svc: robotenv.New(db, ring, c), key: key, clock: c, robot: r.ID, vers: v.ID,
		admin: &hub.Principal{Subject: "admin", Role: hub.RoleAdmin}, reader: &hub.Principal{Subject: "viewer", Role: hub.RoleViewer}}
}

func str(s string) *string { return &s }

func TestPutListDelete(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			f := setup(t, dialect)
			ctx := context.Background()
			got, err := f.svc.Put(ctx, f.admin, f.robot, " prod ", []robotenv.Item{
				{Key: "API_TOKEN", Value: str("super-secret-token"), IsSecret: true},
				{Key: "REGION", Value: str("br")},
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 || got[0].Key != "API_TOKEN" || got[0].Value != nil || !got[0].IsSecret || got[1].Value == nil || *got[1].Value != "br" {
				t.Fatalf("Put = %+v", got)
			}
			for _, v := range got {
				if v.Ciphertext != "" {
					t.Errorf("%s: the ciphertext is returned", v.Key)
				}
			}
			list, err := f.svc.List(ctx, f.reader, f.robot, "")
			if err != nil || len(list) != 2 || list[0].Value != nil {
				t.Errorf("viewer's list = %+v, %v", list, err)
			}
			// Stored sealed, not in clear.
			var raw string
			if err := f.db.Read().QueryRow(ctx, `SELECT value_encrypted FROM robot_env_vars WHERE env_key = ?`, "API_TOKEN").Scan(&raw); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(raw, "super-secret") {
				t.Error("the secret is stored in clear")
			}
			// The audit trail names keys, never values.
			events, _, err := f.db.ListAudit(ctx, hub.AuditFilter{Page: hub.Page{Limit: 50}})
			if err != nil {
				t.Fatal(err)
			}
			seen := 0
			for _, ev := range events {
				b, _ := json.Marshal(ev)
				if strings.Contains(string(b), "super-secret") || strings.Contains(string(b), `"br"`) {
					t.Errorf("audit event holds a value: %s", b)
				}
				if ev.Action == "robot_env_var.created" {
					seen++
					if ev.TargetID != f.robot+":PROD:"+ev.Metadata["key"].(string) || ev.Metadata["is_secret"] == nil || ev.Metadata["action"] != "created" {
						t.Errorf("event = %+v", ev)
					}
				}
			}
			if seen != 2 {
				t.Errorf("%d created events, want 2", seen)
			}
			// Replacing a secret by a plain value shows the new value only.
			got, err = f.svc.Put(ctx, f.admin, f.robot, "PROD", []robotenv.Item{{Key: "API_TOKEN", Value: str("plain now")}})
			if err != nil || got[0].Value == nil || *got[0].Value != "plain now" {
				t.Errorf("update = %+v, %v", got, err)
			}
			if err := f.svc.Delete(ctx, f.admin, f.robot, "PROD", "REGION"); err != nil {
				t.Fatal(err)
			}
			if err := f.svc.Delete(ctx, f.admin, f.robot, "PROD", "REGION"); hub.ErrorMessage(err) != "Env key not found." {
				t.Errorf("second delete: %v", err)
			}
			if hml, err := f.svc.List(ctx, f.admin, f.robot, "HML"); err != nil || len(hml) != 0 {
				t.Errorf("HML = %+v, %v", hml, err)
			}
		})
	}
}

func TestPutRefuses(t *testing.T) {
	f := setup(t, hubtest.Dialects()[0])
	ctx := context.Background()
	maint := &hub.Principal{Subject: "m", Role: hub.RoleMaintainer}
	scoped := &hub.Principal{Subject: "s", Role: hub.RoleNone, Grants: []hub.Grant{{Action: hub.PermRobotPublish, ScopeTag: str("hr")}, {Action: hub.PermRobotRead}}}
	tests := []struct {
		name     string
		p        *hub.Principal
		robot    string
		env      string
		items    []robotenv.Item
		kind     string
		msg      string
		afterKey string
	}{
		{"bad env", f.admin, f.robot, "prd", nil, hub.EInvalid, "env must be one of: PROD, HML, TEST.", ""},
		{"missing value", f.admin, f.robot, "PROD", []robotenv.Item{{Key: "A", Value: str("1")}, {Key: "B"}}, hub.EInvalid, "value is required for key 'B'.", "A"},
		{"reserved key", f.admin, f.robot, "PROD", []robotenv.Item{{Key: "LD_PRELOAD", Value: str("/x.so")}}, hub.EInvalid, "", ""},
		{"bad key", f.admin, f.robot, "PROD", []robotenv.Item{{Key: "A-B", Value: str("1")}}, hub.EUnprocessable, "", ""},
		{"too long", f.admin, f.robot, "PROD", []robotenv.Item{{Key: "A", Value: str(strings.Repeat("x", 10001))}}, hub.EUnprocessable, "", ""},
		{"viewer", f.reader, f.robot, "PROD", []robotenv.Item{{Key: "A", Value: str("1")}}, hub.EForbidden, "Permissao insuficiente.", ""},
		{"scoped elsewhere", scoped, f.robot, "PROD", []robotenv.Item{{Key: "A", Value: str("1")}}, hub.EForbidden, "", ""},
		{"unknown robot", maint, uuid.NewString(), "PROD", nil, hub.ENotFound, "Robot not found.", ""},
		{"malformed robot", maint, "nope", "PROD", nil, hub.EInvalid, "robot_id invalido.", ""},
	}
	for _, tt := range tests {
		_, err := f.svc.Put(ctx, tt.p, tt.robot, tt.env, tt.items)
		if hub.ErrorKind(err) != tt.kind || (tt.msg != "" && hub.ErrorMessage(err) != tt.msg) {
			t.Errorf("%s: %v, want %s %q", tt.name, err, tt.kind, tt.msg)
		}
		if tt.afterKey != "" {
			if l, _ := f.svc.List(ctx, f.admin, f.robot, "PROD"); len(l) != 0 {
				t.Errorf("%s: a refused request stored %+v", tt.name, l)
			}
		}
	}
}

func TestRunConfigOnlyForTheHoldingWorker(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			f := setup(t, dialect)
			ctx := context.Background()
			if _, err := f.svc.Put(ctx, f.admin, f.robot, "HML", []robotenv.Item{{Key: "TOKEN", Value: str("s3cr3t"), IsSecret: true}, {Key: "MODE", Value: str("test")}}); err != nil {
				t.Fatal(err)
			}
			run := &hub.Run{ID: uuid.NewString(), RobotID: f.robot, VersionID: f.vers, Status: hub.RunPending, TriggerType: hub.TriggerManual,
				Attempt: 1, EnvName: "HML", RuntimeArguments: []string{}, RuntimeEnv: map[string]string{}, TimeoutSeconds: 60, QueuedAt: f.clock.now}
			if err := f.db.CreateRun(ctx, run, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := f.svc.RunConfig(ctx, run.ID, "w1"); hub.ErrorKind(err) != hub.EConflict {
				t.Errorf("before the claim: %v, want EConflict", err)
			}
			if _, ok, err := f.db.ClaimRun(ctx, run.ID, "w1", "h", f.clock.now, f.clock.now.Add(time.Minute)); !ok || err != nil {
				t.Fatal(ok, err)
			}
			if _, err := f.svc.RunConfig(ctx, run.ID, "w2"); hub.ErrorKind(err) != hub.EConflict {
				t.Errorf("another worker: %v, want EConflict", err)
			}
			cfg, err := f.svc.RunConfig(ctx, run.ID, "w1")
			if err != nil || cfg.Env["TOKEN"] != "s3cr3t" || cfg.Env["MODE"] != "test" || !cfg.Secrets["TOKEN"] || cfg.Secrets["MODE"] {
				t.Errorf("RunConfig = %+v, %v", cfg, err)
			}
			if vals := cfg.SecretValues(); len(vals) != 1 || vals[0] != "s3cr3t" {
				t.Errorf("secret values = %v", vals)
			}
			// A value moved to another row does not open there.
			if _, err := f.db.Conn().Exec(ctx, `UPDATE robot_env_vars SET value_encrypted = (SELECT value_encrypted FROM robot_env_vars WHERE env_key = ?) WHERE env_key = ?`, "TOKEN", "MODE"); err != nil {
				t.Fatal(err)
			}
			if _, err := f.svc.RunConfig(ctx, run.ID, "w1"); err == nil || strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("swapped ciphertext: %v, want a decryption error without the value", err)
			}
		})
	}
}

// TestRotation: a new key with the old one in ENCRYPTION_KEYS_OLD reads
// everything; rotate re-encrypts it all; then the old key can go. A wrong
// key is refused by CheckKeys.
func TestRotation(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			f := setup(t, dialect)
			ctx := context.Background()
			for _, env := range hub.EnvNames {
				if _, err := f.svc.Put(ctx, f.admin, f.robot, env, []robotenv.Item{{Key: "TOKEN", Value: str("secret-" + env), IsSecret: true}, {Key: "MODE", Value: str(env)}}); err != nil {
					t.Fatal(err)
				}
			}
			// A value of the previous backend (a Fernet token) under the old key.
			oldKey, _ := keyring.ParseKey(f.key)
			legacyRobot := f.robot
			if _, err := f.db.Conn().Exec(ctx, `INSERT INTO robot_env_vars (robot_id, env_name, env_key, value_encrypted, is_secret, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
				legacyRobot, "PROD", "LEGACY", oldKey.SealFernet([]byte("from-python"), 1_700_000_000), true, f.clock.now, f.clock.now); err != nil {
				t.Fatal(err)
			}
			newKey := keyring.GenerateKey()
			wrong, _ := keyring.New(newKey)
			if err := robotenv.New(f.db, wrong, f.clock).CheckKeys(ctx); err == nil || !strings.Contains(err.Error(), "ENCRYPTION_KEYS_OLD") {
				t.Errorf("CheckKeys with a wrong key: %v, want an error naming the settings", err)
			}
			ring, _ := keyring.New(newKey, f.key)
			svc := robotenv.New(f.db, ring, f.clock)
			if err := svc.CheckKeys(ctx); err != nil {
				t.Fatalf("CheckKeys with the old key kept: %v", err)
			}
			changed, total, err := svc.Rotate(ctx)
			if err != nil || changed != 7 || total != 7 {
				t.Fatalf("Rotate = %d of %d, %v; want 7 of 7", changed, total, err)
			}
			if changed, _, err := svc.Rotate(ctx); err != nil || changed != 0 {
				t.Errorf("second rotate = %d, %v; want nothing to do", changed, err)
			}
			only, _ := keyring.New(newKey)
			after := robotenv.New(f.db, only, f.clock)
			if err := after.CheckKeys(ctx); err != nil {
				t.Errorf("CheckKeys after rotation without the old key: %v", err)
			}
			for _, env := range hub.EnvNames {
				l, err := after.List(ctx, f.admin, f.robot, env)
				if err != nil {
					t.Fatal(err)
				}
				for _, v := range l {
					if v.Key == "MODE" && (v.Value == nil || *v.Value != env) {
						t.Errorf("%s MODE = %v after rotation", env, v.Value)
					}
				}
			}
			ids, _ := f.db.EnvKeyIDs(ctx)
			if len(ids) != 1 || ids[only.CurrentID()] != 7 {
				t.Errorf("key ids after rotation = %v", ids)
			}
			// Rotation without the old key fails and changes nothing.
			if _, err := after.Put(ctx, f.admin, f.robot, "PROD", []robotenv.Item{{Key: "NEW", Value: str("x")}}); err != nil {
				t.Fatal(err)
			}
			third, _ := keyring.New(keyring.GenerateKey())
			if _, _, err := robotenv.New(f.db, third, f.clock).Rotate(ctx); err == nil {
				t.Error("rotation without the old key succeeded")
			}
			if ids, _ := f.db.EnvKeyIDs(ctx); ids[only.CurrentID()] != 8 {
				t.Errorf("a failed rotation changed values: %v", ids)
			}
		})
	}
}
