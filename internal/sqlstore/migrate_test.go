package sqlstore_test

import (
	"context"
	"database/sql"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"automationhub/internal/config"
	"automationhub/internal/hubtest"
	"automationhub/internal/sqlstore"
)

func TestMigrationVersionsMatchAcrossDialects(t *testing.T) {
	names := map[string][]string{}
	for _, d := range []string{config.SQLite, config.Postgres} {
		fsys, err := sqlstore.MigrationsFS(d)
		if err != nil {
			t.Fatal(err)
		}
		entries, err := fs.ReadDir(fsys, ".")
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			names[d] = append(names[d], e.Name())
		}
	}
	if len(names[config.SQLite]) == 0 {
		t.Fatal("no migrations embedded")
	}
	if diff := cmp.Diff(names[config.SQLite], names[config.Postgres]); diff != "" {
		t.Errorf("migration files differ between sqlite and postgres (-sqlite +postgres):\n%s", diff)
	}
}

func TestMigrateIsIdempotent(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			db, err := sqlstore.Open(ctx, hubtest.DatabaseConfig(t, dialect), sqlstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			first, err := db.Migrate(ctx, nil)
			if err != nil {
				t.Fatalf("first migrate: %v", err)
			}
			if first.From != 0 || first.To < 1 || len(first.Applied) == 0 {
				t.Fatalf("first migrate = %+v, want from 0 to >=1 with files applied", first)
			}
			second, err := db.Migrate(ctx, nil)
			if err != nil {
				t.Fatalf("second migrate: %v", err)
			}
			if len(second.Applied) != 0 || second.From != first.To {
				t.Errorf("second migrate = %+v, want nothing applied at version %d", second, first.To)
			}
		})
	}
}

// TestMigrateConcurrently runs several migrators against one empty database at
// once, as several hub processes starting together would.
func TestMigrateConcurrently(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			cfg := hubtest.DatabaseConfig(t, dialect)
			const n = 4
			dbs := make([]*sqlstore.DB, n)
			for i := range dbs {
				db, err := sqlstore.Open(ctx, cfg, sqlstore.Options{})
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				dbs[i] = db
			}
			var wg sync.WaitGroup
			errs := make([]error, n)
			applied := make([]int, n)
			for i, db := range dbs {
				wg.Go(func() {
					res, err := db.Migrate(ctx, nil)
					errs[i], applied[i] = err, len(res.Applied)
				})
			}
			wg.Wait()
			total := 0
			for i, err := range errs {
				if err != nil {
					t.Errorf("migrator %d: %v", i, err)
				}
				total += applied[i]
			}
			files, _ := sqlstore.MigrationsFS(dialect)
			entries, _ := fs.ReadDir(files, ".")
			if total != len(entries) {
				t.Errorf("migrations applied in total = %d, want %d (each exactly once)", total, len(entries))
			}
		})
	}
}

// TestRoundTripEveryTable writes one row into every table with portable SQL
// and reads it back unchanged, on every dialect.
func TestRoundTripEveryTable(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			db := hubtest.Store(t, dialect)
			ctx := context.Background()
			now := time.Date(2026, 2, 23, 14, 21, 54, 123456000, time.UTC)
			ids := map[string]string{}
			for _, k := range []string{"user", "robot", "version", "domain", "service", "run", "artifact", "pool", "schedule", "enroll", "agent", "alert"} {
				ids[k] = uuid.NewString()
			}
			inserts := []struct {
				table string
				query string
				args  []any
			}{
				{"users", `INSERT INTO users (id, username, full_name, email, hashed_password, is_active, is_superuser, role, auth_source, azure_object_id, created_at, updated_at)
					VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
					[]any{ids["user"], "ana", "Ana Lima", "ana@example.com", "$2b$12$hash", true, false, "Maintainer", "local", nil, now, now}},
				{"permissions", `INSERT INTO permissions (user_id, resource_type, resource_id, scope_tag, action, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
					[]any{ids["user"], "robot", nil, "finance", "robot.run", now}},
				{"robots", `INSERT INTO robots (id, name, description, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
					[]any{ids["robot"], "invoice-bot", "Reads invoices", ids["user"], now, now}},
				{"robot_tags", `INSERT INTO robot_tags (robot_id, tag) VALUES (?, ?)`, []any{ids["robot"], "finance"}},
				{"robot_versions", `INSERT INTO robot_versions (id, robot_id, version, entrypoint_type, entrypoint_path, arguments, env_vars,
					working_directory, checksum, created_by, created_at, is_active, channel, artifact_type, artifact_path, artifact_sha256,
					artifact_size_bytes, changelog, commit_sha, branch, build_url, created_source, required_env_keys_json)
					VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
					[]any{ids["version"], ids["robot"], "1.2.3", "PYTHON", "main.py", `["--x"]`, `{"A":"1"}`, nil, "abc", ids["user"], now, true,
						"stable", "ZIP", "robots/r/1.2.3/artifact.zip", "abc", int64(5_000_000_000), "first", "deadbeef", "main", "https://ci/1", "user", `["TOKEN"]`}},
				{"robot_release_tags", `INSERT INTO robot_release_tags (robot_id, tag, version_id) VALUES (?, ?, ?)`, []any{ids["robot"], "latest", ids["version"]}},
				{"domains", `INSERT INTO domains (id, name, slug, description, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
					[]any{ids["domain"], "DP RH", "dp-rh", nil, now, now}},
				{"services", `INSERT INTO services (id, domain_id, robot_id, title, description, icon, enabled, default_version_id, form_schema_json,
					run_template_json, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
					[]any{ids["service"], ids["domain"], ids["robot"], "Folha", nil, "file", true, ids["version"], `{"fields":[]}`, `{}`, ids["user"], now, now}},
				{"pools", `INSERT INTO pools (id, name, capacity, description, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
					[]any{ids["pool"], "sap-licences", 2, "Two SAP GUI licences", ids["user"], now, now}},
				{"robot_pools", `INSERT INTO robot_pools (robot_id, pool_id) VALUES (?, ?)`, []any{ids["robot"], ids["pool"]}},
				{"schedules", `INSERT INTO schedules (id, robot_id, enabled, cron_expr, timezone, window_start, window_end, max_concurrency,
					timeout_seconds, retry_count, retry_backoff_seconds, overlap_policy, catchup, catchup_window_seconds, next_fire_at, last_fire_at,
					created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
					[]any{ids["schedule"], ids["robot"], true, "30 8 * * 1-5", "Europe/Lisbon", "08:00", "18:00", 2, 120, 3, 10, "queue", "all", 600,
						now.Add(time.Hour), now, ids["user"], now, now}},
				{"workers", `INSERT INTO workers (id, hostname, status, version, concurrency, running_runs, started_at, last_heartbeat, created_at)
					VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, []any{"host-a:1", "host-a", "RUNNING", "0.1.0", 4, 1, now, now, now}},
				{"runs", `INSERT INTO runs (run_id, robot_id, robot_version_id, service_id, status, trigger_type, attempt, env_name, parameters_json,
					runtime_arguments, runtime_env, timeout_seconds, queued_at, started_at, triggered_by, worker_id, lease_until, cancel_requested,
					schedule_id, scheduled_for, not_before, priority, waiting_reason, retry_count, retry_backoff_seconds, held_pools)
					VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
					[]any{ids["run"], ids["robot"], ids["version"], ids["service"], "RUNNING", "SCHEDULED", 1, "PROD", `{"periodo":"2026-02"}`,
						`["--periodo=2026-02"]`, `{"SERVICE_DOMAIN":"dp-rh"}`, 3600, now, now, ids["user"], "host-a:1", now.Add(time.Minute), false,
						ids["schedule"], now, now, 5, "pool sap-licences is full (2/2)", 3, 10, "," + ids["pool"] + ","}},
				{"run_logs", `INSERT INTO run_logs (run_id, seq, "timestamp", level, message) VALUES (?, ?, ?, ?, ?)`,
					[]any{ids["run"], int64(1), now, "INFO", "olá — line with ? and 'quotes'"}},
				{"artifacts", `INSERT INTO artifacts (id, run_id, artifact_name, file_path, file_size_bytes, content_type, sha256, created_at)
					VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, []any{ids["artifact"], ids["run"], "out.csv", "runs/x/outputs/out.csv", int64(3_000_000_000), "text/csv", "ff", now}},
				{"file_deletions", `INSERT INTO file_deletions (path, queued_at) VALUES (?, ?)`, []any{"runs/x/outputs/out.csv", now}},
				{"python_env_prepares", `INSERT INTO python_env_prepares (id, robot_id, version_id, requested_by, requested_at) VALUES (?, ?, ?, ?, ?)`,
					[]any{uuid.NewString(), ids["robot"], ids["version"], ids["user"], now}},
				{"worker_python_envs", `INSERT INTO worker_python_envs (worker_id, version_id, env_key, status, error, python_version, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
					[]any{"host-a:1", ids["version"], "7b27cd4fb916cea2e3a480e0cdb6b30f", "FAILED", "ERROR: No matching distribution found for nosuchpkg", "3.11.7", now}},
				{"robot_env_vars", `INSERT INTO robot_env_vars (robot_id, env_name, env_key, value_encrypted, key_id, is_secret, created_at, created_by, updated_at, updated_by)
					VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, []any{ids["robot"], "HML", "API_TOKEN", "c2VhbGVk", "0123456789abcdef", true, now, ids["user"], now, nil}},
				{"api_tokens", `INSERT INTO api_tokens (id, user_id, name, token_hash, hint, permissions_json, robot_id, scope_tag, expires_at, created_at, created_by, last_used_at)
					VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, []any{uuid.NewString(), ids["user"], "ci", strings.Repeat("a", 64), "hub_abcd", `["robot.publish"]`,
					ids["robot"], nil, now.Add(time.Hour), now, ids["user"], nil}},
				{"agent_enrollment_tokens", `INSERT INTO agent_enrollment_tokens (id, name, token_hash, hint, max_uses, uses, expires_at, revoked_at, created_at, created_by)
					VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, []any{ids["enroll"], "desks", strings.Repeat("e", 64), "hubenroll_ab", 3, 1, now.Add(time.Hour), nil, now, ids["user"]}},
				{"agents", `INSERT INTO agents (id, name, token_hash, hostname, os, version, labels_json, enrollment_token_id, created_at, revoked_at, last_seen_at)
					VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, []any{ids["agent"], "desk-1", strings.Repeat("f", 64), "desk-1", "windows", "1.2.0", `["sap"]`, ids["enroll"], now, nil, now}},
				{"audit_events", `INSERT INTO audit_events (actor_user_id, actor_subject, action, target_type, target_id, metadata_json, ip, created_at)
					VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, []any{ids["user"], nil, "robot.created", "robot", ids["robot"], `{"name":"invoice-bot"}`, "10.0.0.1", now}},
				{"sla_rules", `INSERT INTO sla_rules (id, robot_id, expected_run_every_minutes, expected_daily_time, late_after_minutes, alert_on_failure,
					alert_on_late, max_run_minutes, notify_channels_json, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
					[]any{uuid.NewString(), ids["robot"], 10080, "23:59", 720, false, true, 600, `{"email":["ops@example.com"]}`, ids["user"], now, now}},
				{"alert_events", `INSERT INTO alert_events (id, robot_id, run_id, type, severity, subject, message, metadata_json, created_at, resolved_at,
					resolved_by, breach_ended_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
					[]any{ids["alert"], ids["robot"], ids["run"], "RUNNING_TOO_LONG", "WARN", ids["robot"], strings.Repeat("é", 2000), `{"run_id":"x"}`, now, now, ids["user"], now}},
				{"notifications", `INSERT INTO notifications (id, alert_id, event, channel, target, status, attempts, next_attempt_at, last_error, created_at,
					updated_at, sent_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
					[]any{uuid.NewString(), ids["alert"], "resolved", "teams", "https://x.example/" + strings.Repeat("a", 1900), "FAILED", 6, now, "HTTP 500", now, now, nil}},
				{"run_stats_daily", `INSERT INTO run_stats_daily (day, robot_id, service_id, success, failed, canceled, hist) VALUES (?, ?, ?, ?, ?, ?, ?)`,
					[]any{"2026-03-01", ids["robot"], "", 2_000_000_000, 1, 0, `[1,2,3]`}},
				{"run_stats_days", `INSERT INTO run_stats_days (day, computed_at) VALUES (?, ?)`, []any{"2026-03-01", now}},
			}
			err := db.InTx(ctx, func(tx *sqlstore.Tx) error {
				for _, in := range inserts {
					if _, err := tx.Exec(ctx, in.query, in.args...); err != nil {
						t.Errorf("insert into %s: %v", in.table, err)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			q := db.Conn()

			var (
				username, role string
				email          sql.NullString
				active, super  bool
				createdAt      time.Time
				azure          sql.NullString
			)
			mustScan(t, "users", q.QueryRow(ctx, `SELECT username, role, email, is_active, is_superuser, created_at, azure_object_id FROM users WHERE id = ?`, ids["user"]),
				&username, &role, &email, &active, &super, &createdAt, &azure)
			check(t, "users", []any{username, role, email.String, active, super, createdAt, azure.Valid},
				[]any{"ana", "Maintainer", "ana@example.com", true, false, now, false})

			var action, scope string
			var resID sql.NullString
			mustScan(t, "permissions", q.QueryRow(ctx, `SELECT action, scope_tag, resource_id FROM permissions WHERE user_id = ?`, ids["user"]), &action, &scope, &resID)
			check(t, "permissions", []any{action, scope, resID.Valid}, []any{"robot.run", "finance", false})

			var rname, createdBy string
			mustScan(t, "robots", q.QueryRow(ctx, `SELECT name, created_by FROM robots WHERE id = ?`, ids["robot"]), &rname, &createdBy)
			check(t, "robots", []any{rname, createdBy}, []any{"invoice-bot", ids["user"]})

			var tag string
			mustScan(t, "robot_tags", q.QueryRow(ctx, `SELECT tag FROM robot_tags WHERE robot_id = ?`, ids["robot"]), &tag)
			check(t, "robot_tags", []any{tag}, []any{"finance"})

			var ver, args, env, reqKeys string
			var size int64
			var isActive bool
			mustScan(t, "robot_versions", q.QueryRow(ctx, `SELECT version, arguments, env_vars, artifact_size_bytes, is_active, required_env_keys_json FROM robot_versions WHERE id = ?`, ids["version"]),
				&ver, &args, &env, &size, &isActive, &reqKeys)
			check(t, "robot_versions", []any{ver, args, env, size, isActive, reqKeys}, []any{"1.2.3", `["--x"]`, `{"A":"1"}`, int64(5_000_000_000), true, `["TOKEN"]`})

			var relVersion string
			mustScan(t, "robot_release_tags", q.QueryRow(ctx, `SELECT version_id FROM robot_release_tags WHERE robot_id = ? AND tag = ?`, ids["robot"], "latest"), &relVersion)
			check(t, "robot_release_tags", []any{relVersion}, []any{ids["version"]})

			var slug string
			var desc sql.NullString
			mustScan(t, "domains", q.QueryRow(ctx, `SELECT slug, description FROM domains WHERE id = ?`, ids["domain"]), &slug, &desc)
			check(t, "domains", []any{slug, desc.Valid}, []any{"dp-rh", false})

			var title, form string
			var enabled bool
			mustScan(t, "services", q.QueryRow(ctx, `SELECT title, form_schema_json, enabled FROM services WHERE id = ?`, ids["service"]), &title, &form, &enabled)
			check(t, "services", []any{title, form, enabled}, []any{"Folha", `{"fields":[]}`, true})

			var hostname string
			var hb time.Time
			var conc int
			mustScan(t, "workers", q.QueryRow(ctx, `SELECT hostname, last_heartbeat, concurrency FROM workers WHERE id = ?`, "host-a:1"), &hostname, &hb, &conc)
			check(t, "workers", []any{hostname, hb, conc}, []any{"host-a", now, 4})

			var status, params, rtEnv string
			var lease time.Time
			var cancelReq bool
			var finished sql.NullTime
			mustScan(t, "runs", q.QueryRow(ctx, `SELECT status, parameters_json, runtime_env, lease_until, cancel_requested, finished_at FROM runs WHERE run_id = ?`, ids["run"]),
				&status, &params, &rtEnv, &lease, &cancelReq, &finished)
			check(t, "runs", []any{status, params, rtEnv, lease, cancelReq, finished.Valid},
				[]any{"RUNNING", `{"periodo":"2026-02"}`, `{"SERVICE_DOMAIN":"dp-rh"}`, now.Add(time.Minute), false, false})

			var poolName string
			var capacity int
			mustScan(t, "pools", q.QueryRow(ctx, `SELECT name, capacity FROM pools WHERE id = ?`, ids["pool"]), &poolName, &capacity)
			check(t, "pools", []any{poolName, capacity}, []any{"sap-licences", 2})
			var rpRobot string
			mustScan(t, "robot_pools", q.QueryRow(ctx, `SELECT robot_id FROM robot_pools WHERE pool_id = ?`, ids["pool"]), &rpRobot)
			check(t, "robot_pools", []any{rpRobot}, []any{ids["robot"]})
			var cron, tz, overlap string
			var next time.Time
			mustScan(t, "schedules", q.QueryRow(ctx, `SELECT cron_expr, timezone, overlap_policy, next_fire_at FROM schedules WHERE id = ?`, ids["schedule"]),
				&cron, &tz, &overlap, &next)
			check(t, "schedules", []any{cron, tz, overlap, next}, []any{"30 8 * * 1-5", "Europe/Lisbon", "queue", now.Add(time.Hour)})
			var runSchedule, reason string
			var prio int
			mustScan(t, "runs", q.QueryRow(ctx, `SELECT schedule_id, priority, waiting_reason FROM runs WHERE run_id = ?`, ids["run"]), &runSchedule, &prio, &reason)
			check(t, "runs", []any{runSchedule, prio, reason}, []any{ids["schedule"], 5, "pool sap-licences is full (2/2)"})

			var msg string
			var seq int64
			var ts time.Time
			mustScan(t, "run_logs", q.QueryRow(ctx, `SELECT seq, "timestamp", message FROM run_logs WHERE run_id = ? AND "timestamp" <= ?`, ids["run"], now), &seq, &ts, &msg)
			check(t, "run_logs", []any{seq, ts, msg}, []any{int64(1), now, "olá — line with ? and 'quotes'"})

			var aname string
			var asize int64
			mustScan(t, "artifacts", q.QueryRow(ctx, `SELECT artifact_name, file_size_bytes FROM artifacts WHERE id = ?`, ids["artifact"]), &aname, &asize)
			check(t, "artifacts", []any{aname, asize}, []any{"out.csv", int64(3_000_000_000)})

			var auditAction, meta, ip string
			mustScan(t, "audit_events", q.QueryRow(ctx, `SELECT action, metadata_json, ip FROM audit_events WHERE target_id = ?`, ids["robot"]), &auditAction, &meta, &ip)
			check(t, "audit_events", []any{auditAction, meta, ip}, []any{"robot.created", `{"name":"invoice-bot"}`, "10.0.0.1"})

			var envKey, sealed, keyID string
			var isSecret bool
			mustScan(t, "robot_env_vars", q.QueryRow(ctx, `SELECT env_key, value_encrypted, key_id, is_secret FROM robot_env_vars WHERE robot_id = ? AND env_name = ?`, ids["robot"], "HML"),
				&envKey, &sealed, &keyID, &isSecret)
			check(t, "robot_env_vars", []any{envKey, sealed, keyID, isSecret}, []any{"API_TOKEN", "c2VhbGVk", "0123456789abcdef", true})

			var tokName, tokPerms string
			var tokExpires time.Time
			var tokUsed sql.NullTime
			mustScan(t, "api_tokens", q.QueryRow(ctx, `SELECT name, permissions_json, expires_at, last_used_at FROM api_tokens WHERE token_hash = ?`, strings.Repeat("a", 64)),
				&tokName, &tokPerms, &tokExpires, &tokUsed)
			check(t, "api_tokens", []any{tokName, tokPerms, tokExpires, tokUsed.Valid}, []any{"ci", `["robot.publish"]`, now.Add(time.Hour), false})

			var enrollName string
			var enrollUses int
			var enrollExpires time.Time
			mustScan(t, "agent_enrollment_tokens", q.QueryRow(ctx, `SELECT name, uses, expires_at FROM agent_enrollment_tokens WHERE id = ?`, ids["enroll"]), &enrollName, &enrollUses, &enrollExpires)
			check(t, "agent_enrollment_tokens", []any{enrollName, enrollUses, enrollExpires}, []any{"desks", 1, now.Add(time.Hour)})
			var agentHost, agentLabels string
			var agentSeen time.Time
			mustScan(t, "agents", q.QueryRow(ctx, `SELECT hostname, labels_json, last_seen_at FROM agents WHERE id = ?`, ids["agent"]), &agentHost, &agentLabels, &agentSeen)
			check(t, "agents", []any{agentHost, agentLabels, agentSeen}, []any{"desk-1", `["sap"]`, now})

			var fpath string
			var fqueued time.Time
			mustScan(t, "file_deletions", q.QueryRow(ctx, `SELECT path, queued_at FROM file_deletions`), &fpath, &fqueued)
			check(t, "file_deletions", []any{fpath, fqueued}, []any{"runs/x/outputs/out.csv", now})

			var envStatus, envErr, envPy string
			var envAt, prepAt time.Time
			mustScan(t, "worker_python_envs", q.QueryRow(ctx, `SELECT status, error, python_version, updated_at FROM worker_python_envs WHERE worker_id = ? AND version_id = ?`, "host-a:1", ids["version"]),
				&envStatus, &envErr, &envPy, &envAt)
			check(t, "worker_python_envs", []any{envStatus, envErr, envPy, envAt}, []any{"FAILED", "ERROR: No matching distribution found for nosuchpkg", "3.11.7", now})
			mustScan(t, "python_env_prepares", q.QueryRow(ctx, `SELECT requested_at FROM python_env_prepares WHERE version_id = ?`, ids["version"]), &prepAt)
			check(t, "python_env_prepares", []any{prepAt}, []any{now})
			var target, nstatus string
			var attempts int
			mustScan(t, "notifications", q.QueryRow(ctx, `SELECT target, status, attempts FROM notifications WHERE alert_id = ?`, ids["alert"]), &target, &nstatus, &attempts)
			check(t, "notifications", []any{len(target), nstatus, attempts}, []any{1918, "FAILED", 6})
			var alertMsg string
			mustScan(t, "alert_events", q.QueryRow(ctx, `SELECT message FROM alert_events WHERE id = ?`, ids["alert"]), &alertMsg)
			check(t, "alert_events", []any{len([]rune(alertMsg))}, []any{2000})
			var success int64
			mustScan(t, "run_stats_daily", q.QueryRow(ctx, `SELECT success FROM run_stats_daily WHERE day = ?`, "2026-03-01"), &success)
			check(t, "run_stats_daily", []any{success}, []any{int64(2_000_000_000)})

			// The run counters are kept by triggers, not inserted.
			var counted int64
			mustScan(t, "run_counts", q.QueryRow(ctx, `SELECT SUM(n) FROM (SELECT robot_id, status, n FROM run_counts
				UNION ALL SELECT robot_id, status, delta FROM run_count_deltas) c WHERE robot_id = ? AND status = ?`, ids["robot"], "RUNNING"), &counted)
			check(t, "run_counts", []any{counted}, []any{int64(1)})

			// Every table of the schema was exercised.
			tables := listTables(t, db)
			covered := []string{"run_counts", "run_count_deltas"}
			for _, in := range inserts {
				covered = append(covered, in.table)
			}
			for _, tbl := range tables {
				if !slices.Contains(covered, tbl) {
					t.Errorf("table %s has no round-trip row in this test", tbl)
				}
			}
		})
	}
}

func TestSchemaConstraints(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			db := hubtest.Store(t, dialect)
			ctx := context.Background()
			now := time.Now().UTC()
			q := db.Conn()
			exec := func(query string, args ...any) error {
				_, err := q.Exec(ctx, query, args...)
				return err
			}
			user := uuid.NewString()
			if err := exec(`INSERT INTO users (id, username, hashed_password, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`, user, "Bob", "x", now, now); err != nil {
				t.Fatal(err)
			}
			err := exec(`INSERT INTO users (id, username, hashed_password, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`, uuid.NewString(), "bob", "x", now, now)
			if !sqlstore.IsUniqueViolation(err) {
				t.Errorf("case-insensitive duplicate username: got %v, want unique violation", err)
			}
			// Two users without e-mail are fine.
			if err := exec(`INSERT INTO users (id, username, hashed_password, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`, uuid.NewString(), "carol", "x", now, now); err != nil {
				t.Errorf("second user without e-mail: %v", err)
			}
			robot := uuid.NewString()
			if err := exec(`INSERT INTO robots (id, name, created_at, updated_at) VALUES (?, ?, ?, ?)`, robot, "r1", now, now); err != nil {
				t.Fatal(err)
			}
			insertVersion := func(v string, active bool) error {
				return exec(`INSERT INTO robot_versions (id, robot_id, version, created_at, is_active) VALUES (?, ?, ?, ?, ?)`, uuid.NewString(), robot, v, now, active)
			}
			if err := insertVersion("1.0.0", true); err != nil {
				t.Fatal(err)
			}
			if err := insertVersion("1.0.1", true); !sqlstore.IsUniqueViolation(err) {
				t.Errorf("second active version: got %v, want unique violation", err)
			}
			if err := insertVersion("1.0.0", false); !sqlstore.IsUniqueViolation(err) {
				t.Errorf("duplicate version number: got %v, want unique violation", err)
			}
			grant := `INSERT INTO permissions (user_id, resource_type, resource_id, scope_tag, action, created_at) VALUES (?, ?, ?, ?, ?, ?)`
			if err := exec(grant, user, "robot", nil, nil, "robot.read", now); err != nil {
				t.Fatal(err)
			}
			if err := exec(grant, user, "robot", nil, nil, "robot.read", now); !sqlstore.IsUniqueViolation(err) {
				t.Errorf("duplicate global grant: got %v, want unique violation", err)
			}
			if err := exec(`INSERT INTO robot_tags (robot_id, tag) VALUES (?, ?)`, uuid.NewString(), "x"); !sqlstore.IsForeignKeyViolation(err) {
				t.Errorf("tag of a missing robot: got %v, want foreign-key violation", err)
			}
			if err := exec(`INSERT INTO runs (run_id, robot_id, robot_version_id, status, timeout_seconds, queued_at) VALUES (?, ?, ?, ?, ?, ?)`,
				uuid.NewString(), robot, uuid.NewString(), "PENDING", 10, now); !sqlstore.IsForeignKeyViolation(err) {
				t.Errorf("run of a missing version: got %v, want foreign-key violation", err)
			}
		})
	}
}

func listTables(t *testing.T, db *sqlstore.DB) []string {
	t.Helper()
	query := `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`
	if db.Dialect() == config.Postgres {
		query = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`
	}
	rows, err := db.Conn().Query(context.Background(), query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(n, "hub_") {
			continue // bookkeeping: migrations and locks
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func mustScan(t *testing.T, table string, row *sql.Row, dest ...any) {
	t.Helper()
	if err := row.Scan(dest...); err != nil {
		t.Fatalf("read back %s: %v", table, err)
	}
}

func check(t *testing.T, table string, got, want []any) {
	t.Helper()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("%s round trip mismatch (-want +got):\n%s", table, diff)
	}
}
