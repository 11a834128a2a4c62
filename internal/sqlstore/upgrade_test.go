package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"automationhub/internal/hub"
	"automationhub/internal/hubtest"
	"automationhub/internal/sqlstore"
)

// upgradeFixture writes representative rows with the SQL of the schema as
// a migration left it, and checks them through the store once the database
// is migrated to the latest version: the rows are all there and the columns
// added later hold their defaults.
type upgradeFixture struct {
	insert func(t *testing.T, ctx context.Context, db *sqlstore.DB, ids map[string]string)
	check  func(t *testing.T, ctx context.Context, db *sqlstore.DB, ids map[string]string)
}

// upgradeFixtures has one entry per embedded migration, by version: the
// rows that migration's schema makes possible, or nil when it adds nothing
// rows live in (an index, a lock table). A new migration needs an entry
// here (TestEveryMigrationHasAnUpgradeFixture); when it adds columns, the
// checks of the earlier fixtures say which default old rows get.
var upgradeFixtures = map[int64]*upgradeFixture{
	1: {insert: insertInitialRows, check: checkInitialRows},
	2: {
		insert: func(t *testing.T, ctx context.Context, db *sqlstore.DB, ids map[string]string) {
			mustExec(t, ctx, db, `INSERT INTO file_deletions (path, queued_at) VALUES (?, ?)`, "runs/old/outputs/gone.txt", fixtureTime)
		},
		check: func(t *testing.T, ctx context.Context, db *sqlstore.DB, ids map[string]string) {
			paths, err := db.PendingFileDeletions(ctx, 10)
			if err != nil || !cmp.Equal(paths, []string{"runs/old/outputs/gone.txt"}) {
				t.Errorf("file deletions after the upgrade = %v, %v", paths, err)
			}
		},
	},
	3: {
		insert: func(t *testing.T, ctx context.Context, db *sqlstore.DB, ids map[string]string) {
			ids["robot3"], ids["version3"] = uuid.NewString(), uuid.NewString()
			mustExec(t, ctx, db, `INSERT INTO robots (id, name, created_at, updated_at) VALUES (?, ?, ?, ?)`, ids["robot3"], "runtime-env-bot", fixtureTime, fixtureTime)
			mustExec(t, ctx, db, `INSERT INTO robot_versions (id, robot_id, version, created_at, is_active, runtime_env_keys_json)
				VALUES (?, ?, ?, ?, ?, ?)`, ids["version3"], ids["robot3"], "2.0.0", fixtureTime, true, `["TOKEN"]`)
		},
		check: func(t *testing.T, ctx context.Context, db *sqlstore.DB, ids map[string]string) {
			v, err := db.VersionByID(ctx, ids["robot3"], ids["version3"])
			if err != nil {
				t.Fatalf("version written at level 3: %v", err)
			}
			if !cmp.Equal(v.RuntimeEnvKeys, []string{"TOKEN"}) || v.EntrypointPath != "main.py" {
				t.Errorf("version written at level 3: runtime env %v, entry point %q", v.RuntimeEnvKeys, v.EntrypointPath)
			}
		},
	},
	4: {
		// Runs from before this level are counted by its backfill, runs
		// written at it by the triggers: the counters match the table.
		insert: func(t *testing.T, ctx context.Context, db *sqlstore.DB, ids map[string]string) {
			mustExec(t, ctx, db, `INSERT INTO runs (run_id, robot_id, robot_version_id, status, timeout_seconds, queued_at)
				VALUES (?, ?, ?, ?, ?, ?)`, uuid.NewString(), ids["robot"], ids["version"], "PENDING", 60, fixtureTime)
		},
		check: checkRunCounters,
	},
	5: {
		// Schedules, pools and the queue columns of runs.
		insert: func(t *testing.T, ctx context.Context, db *sqlstore.DB, ids map[string]string) {
			ids["pool5"], ids["schedule5"], ids["run5"] = uuid.NewString(), uuid.NewString(), uuid.NewString()
			mustExec(t, ctx, db, `INSERT INTO pools (id, name, capacity, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`,
				ids["pool5"], "sap-licences", 2, fixtureTime, fixtureTime)
			mustExec(t, ctx, db, `INSERT INTO robot_pools (robot_id, pool_id) VALUES (?, ?)`, ids["robot"], ids["pool5"])
			mustExec(t, ctx, db, `INSERT INTO schedules (id, robot_id, cron_expr, timezone, next_fire_at, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?)`, ids["schedule5"], ids["robot"], "30 8 * * 1-5", "Europe/Lisbon", fixtureTime, fixtureTime, fixtureTime)
			mustExec(t, ctx, db, `INSERT INTO runs (run_id, robot_id, robot_version_id, status, trigger_type, timeout_seconds, queued_at,
				schedule_id, scheduled_for, priority, waiting_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				ids["run5"], ids["robot"], ids["version"], "PENDING", "SCHEDULED", 60, fixtureTime, ids["schedule5"], fixtureTime, 5,
				"pool sap-licences is full (2/2)")
		},
		check: func(t *testing.T, ctx context.Context, db *sqlstore.DB, ids map[string]string) {
			sc, err := db.ScheduleByRobot(ctx, ids["robot"])
			if err != nil || sc.ID != ids["schedule5"] || !sc.Enabled || sc.MaxConcurrency != 1 || sc.TimeoutSeconds != 3600 ||
				sc.RetryBackoffSeconds != 60 || sc.OverlapPolicy != hub.OverlapSkip || sc.Catchup != hub.CatchupLatest || sc.CatchupWindowSecs != 3600 {
				t.Errorf("schedule written at level 5 = %+v, %v", sc, err)
			}
			p, err := db.PoolByID(ctx, ids["pool5"])
			if err != nil || p.Capacity != 2 || len(p.Robots) != 1 {
				t.Errorf("pool written at level 5 = %+v, %v", p, err)
			}
			r, err := db.RunByID(ctx, ids["run5"])
			if err != nil || r.ScheduleID == nil || r.Priority != 5 || r.WaitingReason == nil || r.RetryBackoffSeconds != 60 {
				t.Errorf("run written at level 5 = %+v, %v", r, err)
			}
			// Runs and robots from before it: no schedule, default priority,
			// no retries, no limit.
			old, err := db.RunByID(ctx, ids["run"])
			if err != nil || old.ScheduleID != nil || old.Priority != 0 || old.RetryCount != 0 || old.RetryBackoffSeconds != 60 ||
				old.WaitingReason != nil || old.NotBefore != nil || old.RetryOf != nil {
				t.Errorf("run from before level 5 = %+v, %v", old, err)
			}
			robot, err := db.RobotByID(ctx, ids["robot"])
			if err != nil || robot.Settings.MaxConcurrentRuns != nil || robot.Settings.RetryCount != 0 || robot.Settings.RetryBackoffSeconds != 60 ||
				len(robot.Settings.Pools) != 1 {
				t.Errorf("robot from before level 5 = %+v, %v", robot.Settings, err)
			}
		},
	},
	6: {
		// Robot configuration and API tokens; users from before are people.
		insert: func(t *testing.T, ctx context.Context, db *sqlstore.DB, ids map[string]string) {
			mustExec(t, ctx, db, `INSERT INTO robot_env_vars (robot_id, env_name, env_key, value_encrypted, is_secret, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?)`, ids["robot"], "PROD", "API_KEY", "gAAAAA-legacy", true, fixtureTime, fixtureTime)
			ids["token6"] = uuid.NewString()
			mustExec(t, ctx, db, `INSERT INTO api_tokens (id, user_id, name, token_hash, hint, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
				ids["token6"], ids["user"], "ci", "hash6", "hub_x", fixtureTime)
		},
		check: func(t *testing.T, ctx context.Context, db *sqlstore.DB, ids map[string]string) {
			vars, err := db.EnvVars(ctx, ids["robot"], "PROD")
			if err != nil || len(vars) != 1 || vars[0].KeyID != "" || !vars[0].IsSecret {
				t.Errorf("robot configuration after the upgrade = %+v, %v", vars, err)
			}
			tok, u, _, err := db.TokenWithUser(ctx, "hash6")
			if err != nil || tok.ID != ids["token6"] || len(tok.Permissions) != 0 || u.ServiceAccount {
				t.Errorf("token after the upgrade = %+v (user %+v), %v", tok, u, err)
			}
		},
	},
	10: {
		// Remote agents and their enrolment tokens.
		insert: func(t *testing.T, ctx context.Context, db *sqlstore.DB, ids map[string]string) {
			ids["enroll10"], ids["agent10"] = uuid.NewString(), uuid.NewString()
			mustExec(t, ctx, db, `INSERT INTO agent_enrollment_tokens (id, name, token_hash, hint, max_uses, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?)`,
				ids["enroll10"], "desktops", "enrollhash10", "hubenroll_x", 5, fixtureTime, ids["user"])
			mustExec(t, ctx, db, `INSERT INTO agents (id, name, token_hash, hostname, os, version, labels_json, enrollment_token_id, created_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, ids["agent10"], "desk-1", "agenthash10", "desk-1", "windows", "1.2.0", `["os=windows","sap"]`, ids["enroll10"], fixtureTime)
		},
		check: func(t *testing.T, ctx context.Context, db *sqlstore.DB, ids map[string]string) {
			a, err := db.AgentByCredential(ctx, "agenthash10")
			if err != nil || a.ID != ids["agent10"] || !cmp.Equal(a.Labels, []string{"os=windows", "sap"}) || a.RevokedAt != nil {
				t.Errorf("agent after the upgrade = %+v, %v", a, err)
			}
			toks, err := db.EnrollmentTokens(ctx, 10)
			if err != nil || len(toks) != 1 || *toks[0].MaxUses != 5 || toks[0].Uses != 0 {
				t.Errorf("enrolment tokens after the upgrade = %+v, %v", toks, err)
			}
		},
	},
	8: {
		// Python environments: a prepare request and a worker's report.
		insert: func(t *testing.T, ctx context.Context, db *sqlstore.DB, ids map[string]string) {
			ids["prepare8"] = uuid.NewString()
			mustExec(t, ctx, db, `INSERT INTO python_env_prepares (id, robot_id, version_id, requested_by, requested_at) VALUES (?, ?, ?, ?, ?)`,
				ids["prepare8"], ids["robot"], ids["version"], ids["user"], fixtureTime)
			mustExec(t, ctx, db, `INSERT INTO worker_python_envs (worker_id, version_id, env_key, status, updated_at) VALUES (?, ?, ?, ?, ?)`,
				"w-fixture", ids["version"], "k8", "READY", fixtureTime.Add(-time.Hour))
		},
		check: func(t *testing.T, ctx context.Context, db *sqlstore.DB, ids map[string]string) {
			got, err := db.PendingPrepares(ctx, "w-fixture", fixtureTime.Add(-24*time.Hour), 10)
			if err != nil || len(got) != 1 || got[0].ID != ids["prepare8"] {
				t.Errorf("prepare requests after the upgrade = %+v, %v", got, err)
			}
			envs, err := db.VersionEnvironments(ctx, ids["version"])
			if err != nil || len(envs) != 1 || envs[0].Key != "k8" || envs[0].Status != "READY" {
				t.Errorf("environment reports after the upgrade = %+v, %v", envs, err)
			}
		},
	},
	7: {
		// SLA rules, alerts and their outbox.
		insert: func(t *testing.T, ctx context.Context, db *sqlstore.DB, ids map[string]string) {
			ids["sla7"], ids["alert7"] = uuid.NewString(), uuid.NewString()
			mustExec(t, ctx, db, `INSERT INTO sla_rules (id, robot_id, expected_run_every_minutes, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`,
				ids["sla7"], ids["robot"], 60, fixtureTime, fixtureTime)
			mustExec(t, ctx, db, `INSERT INTO alert_events (id, robot_id, type, severity, subject, message, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
				ids["alert7"], ids["robot"], "LATE", "WARN", ids["robot"], "Robot is late based on configured SLA.", fixtureTime)
		},
		check: func(t *testing.T, ctx context.Context, db *sqlstore.DB, ids map[string]string) {
			r, err := db.SLARuleByRobot(ctx, ids["robot"])
			if err != nil || r.ID != ids["sla7"] || r.LateAfterMinutes != 15 || !r.AlertOnFailure || !r.AlertOnLate || r.MaxRunMinutes != nil {
				t.Errorf("SLA rule after the upgrade = %+v, %v", r, err)
			}
			a, err := db.AlertByID(ctx, ids["alert7"])
			if err != nil || a.ResolvedAt != nil || len(a.Metadata) != 0 {
				t.Errorf("alert after the upgrade = %+v, %v", a, err)
			}
		},
	},
	9: {
		// Worker labels and required labels; rows from before have none.
		insert: func(t *testing.T, ctx context.Context, db *sqlstore.DB, ids map[string]string) {
			ids["robot9"] = uuid.NewString()
			mustExec(t, ctx, db, `INSERT INTO robots (id, name, created_at, updated_at, required_labels) VALUES (?, ?, ?, ?, ?)`,
				ids["robot9"], "sap-bot", fixtureTime, fixtureTime, `["os=windows","sap"]`)
			mustExec(t, ctx, db, `INSERT INTO workers (id, hostname, started_at, last_heartbeat, created_at, labels) VALUES (?, ?, ?, ?, ?, ?)`,
				"host-b-9", "host-b", fixtureTime, fixtureTime, fixtureTime, `["sap"]`)
		},
		check: func(t *testing.T, ctx context.Context, db *sqlstore.DB, ids map[string]string) {
			old, err := db.RobotByID(ctx, ids["robot"])
			if err != nil || old.Settings.RequiredLabels == nil || len(old.Settings.RequiredLabels) != 0 {
				t.Errorf("robot from before level 9 requires %#v, %v; want []", old.Settings.RequiredLabels, err)
			}
			r, err := db.RobotByID(ctx, ids["robot9"])
			if err != nil || !cmp.Equal(r.Settings.RequiredLabels, []string{"os=windows", "sap"}) {
				t.Errorf("robot written at level 9 requires %v, %v", r.Settings.RequiredLabels, err)
			}
			ws, err := db.Workers(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range ws {
				if want := map[string][]string{"host-a-1": {}, "host-b-9": {"sap"}}[w.ID]; !cmp.Equal(w.Labels, want) {
					t.Errorf("worker %s labels = %#v, want %#v", w.ID, w.Labels, want)
				}
			}
		},
	},
}

// checkRunCounters compares the maintained run counters with the table.
// It runs after every upgrade: runs written before the counters existed
// are counted by the migration that added them.
func checkRunCounters(t *testing.T, ctx context.Context, db *sqlstore.DB, _ map[string]string) {
	t.Helper()
	byStatus, err := db.RunCountsByStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := db.SQL().QueryContext(ctx, `SELECT status, COUNT(*) FROM runs GROUP BY status`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	want := map[string]int64{}
	for rows.Next() {
		var st string
		var n int64
		if err := rows.Scan(&st, &n); err != nil {
			t.Fatal(err)
		}
		want[st] = n
	}
	if len(want) == 0 || !cmp.Equal(byStatus, want) {
		t.Errorf("run counters after the upgrade = %v, want %v", byStatus, want)
	}
}

var fixtureTime = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func mustExec(t *testing.T, ctx context.Context, db *sqlstore.DB, query string, args ...any) {
	t.Helper()
	if _, err := db.Conn().Exec(ctx, query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// insertInitialRows fills every table of the first schema, with its columns
// only.
func insertInitialRows(t *testing.T, ctx context.Context, db *sqlstore.DB, ids map[string]string) {
	for _, k := range []string{"user", "robot", "version", "domain", "service", "run", "artifact"} {
		ids[k] = uuid.NewString()
	}
	now := fixtureTime
	mustExec(t, ctx, db, `INSERT INTO users (id, username, email, hashed_password, role, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		ids["user"], "ana", "ana@example.com", "$2a$04$hash", "Maintainer", now, now)
	mustExec(t, ctx, db, `INSERT INTO permissions (user_id, resource_type, scope_tag, action, created_at) VALUES (?, ?, ?, ?, ?)`,
		ids["user"], "robot", "finance", "robot.run", now)
	mustExec(t, ctx, db, `INSERT INTO robots (id, name, description, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
		ids["robot"], "invoice-bot", "Reads invoices", ids["user"], now, now)
	mustExec(t, ctx, db, `INSERT INTO robot_tags (robot_id, tag) VALUES (?, ?)`, ids["robot"], "finance")
	mustExec(t, ctx, db, `INSERT INTO robot_versions (id, robot_id, version, entrypoint_type, entrypoint_path, created_by, created_at, is_active,
		artifact_path, artifact_sha256, artifact_size_bytes, required_env_keys_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		ids["version"], ids["robot"], "1.0.0", "PYTHON", "bot.py", ids["user"], now, true, "robots/r/1.0.0/artifact.zip", "ab", int64(1234), `["API_KEY"]`)
	mustExec(t, ctx, db, `INSERT INTO robot_release_tags (robot_id, tag, version_id) VALUES (?, ?, ?)`, ids["robot"], "latest", ids["version"])
	mustExec(t, ctx, db, `INSERT INTO domains (id, name, slug, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`, ids["domain"], "Finance", "finance", now, now)
	mustExec(t, ctx, db, `INSERT INTO services (id, domain_id, robot_id, title, form_schema_json, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		ids["service"], ids["domain"], ids["robot"], "Invoices", `{"fields":[]}`, now, now)
	mustExec(t, ctx, db, `INSERT INTO workers (id, hostname, started_at, last_heartbeat, created_at) VALUES (?, ?, ?, ?, ?)`, "host-a-1", "host-a", now, now, now)
	mustExec(t, ctx, db, `INSERT INTO runs (run_id, robot_id, robot_version_id, service_id, status, timeout_seconds, queued_at, started_at, finished_at,
		triggered_by, exit_code, runtime_arguments) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		ids["run"], ids["robot"], ids["version"], ids["service"], "SUCCESS", 600, now, now, now.Add(time.Minute), ids["user"], 0, `["--month","6"]`)
	for seq := 1; seq <= 3; seq++ {
		mustExec(t, ctx, db, `INSERT INTO run_logs (run_id, seq, "timestamp", level, message) VALUES (?, ?, ?, ?, ?)`,
			ids["run"], seq, now.Add(time.Duration(seq)*time.Second), "INFO", fmt.Sprintf("line %d", seq))
	}
	mustExec(t, ctx, db, `INSERT INTO artifacts (id, run_id, artifact_name, file_path, file_size_bytes, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		ids["artifact"], ids["run"], "out.csv", "runs/"+ids["run"]+"/outputs/out.csv", int64(42), now)
	mustExec(t, ctx, db, `INSERT INTO audit_events (actor_user_id, action, target_type, target_id, metadata_json, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		ids["user"], "robot.created", "robot", ids["robot"], `{"name":"invoice-bot"}`, now)
}

// checkInitialRows reads the rows of insertInitialRows through the store.
func checkInitialRows(t *testing.T, ctx context.Context, db *sqlstore.DB, ids map[string]string) {
	u, err := db.UserByLogin(ctx, "ana")
	if err != nil {
		t.Fatalf("user: %v", err)
	}
	if u.Role != hub.RoleMaintainer || !u.IsActive || u.IsSuperuser || u.AuthSource != hub.AuthSourceLocal || u.TokenGeneration != 0 {
		t.Errorf("user after the upgrade = %+v", u)
	}
	grants, err := db.GrantsOfUser(ctx, ids["user"])
	if err != nil || len(grants) != 1 || grants[0].Action != hub.PermRobotRun || *grants[0].ScopeTag != "finance" {
		t.Errorf("grants after the upgrade = %+v, %v", grants, err)
	}
	r, err := db.RobotByID(ctx, ids["robot"])
	if err != nil || r.Name != "invoice-bot" || !cmp.Equal(r.Tags, []string{"finance"}) {
		t.Errorf("robot after the upgrade = %+v, %v", r, err)
	}
	v, err := db.VersionByID(ctx, ids["robot"], ids["version"])
	if err != nil {
		t.Fatalf("version: %v", err)
	}
	// Columns added by later migrations have their defaults.
	want := struct {
		Entry, Channel, Type string
		Required, Runtime    []string
		Active               bool
	}{"bot.py", "stable", "ZIP", []string{"API_KEY"}, []string{}, true}
	got := want
	got.Entry, got.Channel, got.Type, got.Required, got.Runtime, got.Active = v.EntrypointPath, v.Channel, v.ArtifactType, v.RequiredEnvKeys, v.RuntimeEnvKeys, v.IsActive
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("version after the upgrade (-want +got):\n%s", diff)
	}
	tags, err := db.ReleaseTags(ctx, ids["robot"])
	if err != nil || tags["latest"] != ids["version"] {
		t.Errorf("release tags = %v, %v", tags, err)
	}
	s, err := db.ServiceByID(ctx, ids["service"])
	if err != nil || s.Title != "Invoices" || !s.Enabled || string(s.RunTemplate) != "{}" {
		t.Errorf("service after the upgrade = %+v, %v", s, err)
	}
	run, err := db.RunByID(ctx, ids["run"])
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if run.Status != "SUCCESS" || run.TriggerType != "MANUAL" || run.Attempt != 1 || run.EnvName != "PROD" ||
		!cmp.Equal(run.RuntimeArguments, []string{"--month", "6"}) || len(run.RuntimeEnv) != 0 || run.CancelRequested {
		t.Errorf("run after the upgrade = %+v", run)
	}
	lines, err := db.RunLogs(ctx, ids["run"], 0, 100)
	if err != nil || len(lines) != 3 || lines[2].Seq != 3 || lines[2].Message != "line 3" {
		t.Errorf("log after the upgrade = %+v, %v", lines, err)
	}
	a, err := db.ArtifactByID(ctx, ids["run"], ids["artifact"])
	if err != nil || a.Name != "out.csv" || a.Size != 42 {
		t.Errorf("artifact after the upgrade = %+v, %v", a, err)
	}
	events, _, err := db.ListAudit(ctx, hub.AuditFilter{Action: "robot.created", Page: hub.Page{Limit: 10}})
	if err != nil || len(events) != 1 || events[0].Metadata["name"] != "invoice-bot" {
		t.Errorf("audit after the upgrade = %+v, %v", events, err)
	}
	workers, err := db.Workers(ctx)
	i := slices.IndexFunc(workers, func(w hub.Worker) bool { return w.ID == "host-a-1" })
	if err != nil || i < 0 || workers[i].Status != "RUNNING" || workers[i].Concurrency != 1 {
		t.Errorf("workers after the upgrade = %+v, %v", workers, err)
	}
	var refs []sqlstore.FileRef
	if err := db.EachFileRef(ctx, func(r sqlstore.FileRef) error { refs = append(refs, r); return nil }); err != nil || len(refs) < 2 {
		t.Errorf("file references after the upgrade = %+v, %v", refs, err)
	}
}

// TestEveryMigrationHasAnUpgradeFixture keeps upgradeFixtures in step with
// the embedded migrations.
func TestEveryMigrationHasAnUpgradeFixture(t *testing.T) {
	all, err := sqlstore.Migrations("sqlite")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range all {
		if _, ok := upgradeFixtures[m.Version]; !ok {
			t.Errorf("migration %s has no entry in upgradeFixtures: add the rows its schema allows (or nil when it adds none)", m.Name)
		}
	}
}

// TestUpgradeFromEveryEarlierLevel builds a database at each earlier
// migration level, with the rows of every migration up to that level
// written as that level's schema allows, migrates it to the latest version
// and checks every row through the store; on every dialect.
func TestUpgradeFromEveryEarlierLevel(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		all, err := sqlstore.Migrations(dialect)
		if err != nil {
			t.Fatal(err)
		}
		latest := all[len(all)-1].Version
		for _, level := range all[:len(all)-1] {
			t.Run(dialect+"/from-"+level.Name, func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				db, err := sqlstore.Open(ctx, hubtest.DatabaseConfig(t, dialect), sqlstore.Options{})
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				res, err := db.MigrateTo(ctx, level.Version, nil)
				if err != nil || res.To != level.Version {
					t.Fatalf("migrate to %d: %+v, %v", level.Version, res, err)
				}
				ids := map[string]string{}
				var written []*upgradeFixture
				for _, m := range all {
					if f := upgradeFixtures[m.Version]; m.Version <= level.Version && f != nil {
						f.insert(t, ctx, db, ids)
						written = append(written, f)
					}
				}
				st, err := db.MigrationStatus(ctx)
				if err != nil || st.Current != level.Version || len(st.Pending) != len(all)-indexOf(all, level.Version)-1 {
					t.Fatalf("status at level %d = %+v, %v", level.Version, st, err)
				}
				res, err = db.Migrate(ctx, nil)
				if err != nil || res.From != level.Version || res.To != latest {
					t.Fatalf("upgrade from %d: %+v, %v; want it to reach %d", level.Version, res, err, latest)
				}
				for _, f := range written {
					f.check(t, ctx, db, ids)
				}
				checkRunCounters(t, ctx, db, ids)
			})
		}
	}
}

func indexOf(all []sqlstore.Migration, version int64) int {
	for i, m := range all {
		if m.Version == version {
			return i
		}
	}
	return -1
}

// TestMigrateRefusesANewerDatabase records a version this binary does not
// have, as a newer binary would: Migrate refuses with a *SchemaTooNewError
// and the status says so.
func TestMigrateRefusesANewerDatabase(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db := hubtest.Store(t, dialect)
			st, err := db.CheckSchema(ctx)
			if err != nil || st.TooNew() || len(st.Pending) != 0 {
				t.Fatalf("fresh store: %+v, %v", st, err)
			}
			mustExec(t, ctx, db, `INSERT INTO hub_schema_migrations (version_id, is_applied) VALUES (?, ?)`, st.Latest+1, true)
			_, err = db.Migrate(ctx, nil)
			var tooNew *sqlstore.SchemaTooNewError
			if !errors.As(err, &tooNew) || tooNew.Current != st.Latest+1 || tooNew.Latest != st.Latest {
				t.Errorf("Migrate on a newer database: %v, want a SchemaTooNewError", err)
			}
			if _, err := db.CheckSchema(ctx); !errors.As(err, &tooNew) {
				t.Errorf("CheckSchema on a newer database: %v", err)
			}
			st, _ = db.MigrationStatus(ctx)
			if !cmp.Equal(st.Unknown, []int64{st.Latest + 1}) {
				t.Errorf("unknown versions = %v", st.Unknown)
			}
		})
	}
}
