package sqlstore

import (
	"context"
	"strings"
	"testing"
	"time"

	"automationhub/internal/config"
	"automationhub/internal/hub"
)

// TestListQueriesUseTheirIndexes checks SQLite's plan of every runs-list
// and audit-list query shape: each is a range over an index in the list's
// order, never a scan of the table or a sort of all matching rows, so a
// page costs the same at a million rows as at a thousand.
func TestListQueriesUseTheirIndexes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := Open(ctx, config.Database{Dialect: config.SQLite, DSN: t.TempDir() + "/hub.db"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx, nil); err != nil {
		t.Fatal(err)
	}
	// Planner statistics of a large hub: 20 000 runs of one robot, then
	// ANALYZE. Without statistics SQLite assumes small tables and the
	// plans below would hide what a real database does.
	for _, q := range []string{
		`INSERT INTO robots (id, name, created_at, updated_at) VALUES ('r1', 'r1', '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z')`,
		`INSERT INTO robot_versions (id, robot_id, version, created_at) VALUES ('v1', 'r1', '1.0.0', '2026-01-01T00:00:00.000000Z')`,
		`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
			INSERT INTO runs (run_id, robot_id, robot_version_id, status, timeout_seconds, queued_at)
			SELECT printf('run-%05d', i), 'r1', 'v1', CASE WHEN i % 10 = 0 THEN 'FAILED' ELSE 'SUCCESS' END, 60,
				strftime('%Y-%m-%dT%H:%M:%S.000000Z', '2026-01-01', '+' || i || ' minutes') FROM n`,
		`ANALYZE`,
	} {
		if _, err := db.sql.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	at := time.Now().UTC()
	cursor := &hub.Cursor{At: at, ID: "00000000-0000-0000-0000-000000000000"}
	robot, service := "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"
	filters := map[string]hub.RunFilter{
		"all":              {},
		"robot":            {RobotID: robot},
		"status":           {Status: hub.RunFailed},
		"robot and status": {RobotID: robot, Status: hub.RunFailed},
		"service":          {ServiceID: service},
		"trigger":          {TriggerType: "SCHEDULED"},
		"since":            {Since: &at},
		"tag scope":        {Scope: hub.RobotScope{Tags: []string{"finance"}}},
		"robot scope":      {Scope: hub.RobotScope{IDs: []string{robot, service}}},
	}
	pages := map[string]hub.Page{
		"first": {Limit: 50}, "skip": {Limit: 50, Skip: 5000}, "before": {Limit: 50, Before: cursor}, "after": {Limit: 50, After: cursor},
	}
	for fname, f := range filters {
		if !f.Scope.All && len(f.Scope.IDs) == 0 && len(f.Scope.Tags) == 0 {
			f.Scope = hub.RobotScope{All: true}
		}
		for pname, p := range pages {
			scope, scopeArgs, where, args, _ := runConditions(f)
			var query string
			var qargs []any
			if len(f.Scope.IDs) > 0 {
				query, qargs, _ = db.runPageQuery(f.Scope.IDs, where, args, p)
			} else {
				if scope != "" {
					where, args = append([]string{scope}, where...), append(scopeArgs, args...)
				}
				query, qargs, _ = db.runPageQuery(nil, where, args, p)
			}
			if strings.Contains(query, "LIMIT ?") {
				t.Errorf("runs %s, %s page: a bound LIMIT (planned again on every use):\n%s", fname, pname, query)
			}
			plan := explain(t, db, query, qargs)
			if strings.Contains(query, ") p JOIN runs r") &&
				(strings.Contains(plan, "BLOOM FILTER ON p") || !strings.Contains(plan, "SEARCH r USING INDEX sqlite_autoindex_runs_1 (run_id=?)")) {
				t.Errorf("runs %s, %s page: the page's rows are found by scanning runs, not by their ids:\n%s", fname, pname, plan)
			}
			if len(f.Scope.IDs) > 0 {
				// One index range per robot of the scope, merged: the sort
				// is of at most skip+limit+1 rows per robot.
				if strings.Count(plan, "SEARCH r USING COVERING INDEX ix_runs_robot_queued") != len(f.Scope.IDs) {
					t.Errorf("runs %s, %s page: not one index range per robot:\n%s", fname, pname, plan)
				}
				plan = strings.ReplaceAll(plan, "USE TEMP B-TREE FOR ORDER BY\n", "")
			}
			if p.Skip > 0 && len(f.Scope.IDs) == 0 {
				// A skipped page takes its ids from the index, then sorts
				// only its own rows after the join.
				if !strings.HasPrefix(plan, "CO-ROUTINE p\n") {
					t.Errorf("runs %s, skip page: ids not taken first:\n%s", fname, plan)
				}
				plan = strings.Replace(plan, "USE TEMP B-TREE FOR ORDER BY\n", "", 1)
			}
			if strings.Contains(plan, "TEMP B-TREE") || strings.Contains(plan, "SCAN r\n") || strings.Contains(plan, "SCAN runs\n") {
				t.Errorf("runs %s, %s page: the plan sorts or scans the table:\n%s", fname, pname, plan)
			}
			if fname == "tag scope" && !strings.Contains(plan, "ix_runs_queued") {
				t.Errorf("runs %s, %s page: not read in index order:\n%s", fname, pname, plan)
			}
		}
	}
	for name, cond := range map[string]string{"all": "", "action": " WHERE action = ?", "target": " WHERE target_type = ? AND target_id = ?"} {
		args := []any{}
		for range strings.Count(cond, "?") {
			args = append(args, "x")
		}
		plan := explain(t, db, `SELECT id FROM audit_events`+cond+` ORDER BY created_at DESC, id DESC LIMIT 51`, args)
		if strings.Contains(plan, "TEMP B-TREE") || !strings.Contains(plan, "INDEX") {
			t.Errorf("audit %s: the plan sorts or scans:\n%s", name, plan)
		}
	}
}

func explain(t *testing.T, db *DB, query string, args []any) string {
	t.Helper()
	rows, err := db.sql.Query(`EXPLAIN QUERY PLAN `+query, args...)
	if err != nil {
		t.Fatalf("explain %s: %v", query, err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		b.WriteString(detail + "\n")
	}
	return b.String()
}

// TestDashboardQueriesUseIndexes checks SQLite's plan of the dashboard's
// and the alert monitor's run queries: index ranges, never a scan of runs.
func TestDashboardQueriesUseIndexes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := Open(ctx, config.Database{Dialect: config.SQLite, DSN: t.TempDir() + "/hub.db"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx, nil); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO robots (id, name, created_at, updated_at) VALUES ('r1', 'r1', '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z')`,
		`INSERT INTO robot_versions (id, robot_id, version, created_at) VALUES ('v1', 'r1', '1.0.0', '2026-01-01T00:00:00.000000Z')`,
		`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
			INSERT INTO runs (run_id, robot_id, robot_version_id, status, timeout_seconds, queued_at, finished_at, error_message)
			SELECT printf('run-%05d', i), 'r1', 'v1', CASE WHEN i % 10 = 0 THEN 'FAILED' ELSE 'SUCCESS' END, 60,
				strftime('%Y-%m-%dT%H:%M:%S.000000Z', '2026-01-01', '+' || i || ' minutes'),
				strftime('%Y-%m-%dT%H:%M:%S.000000Z', '2026-01-01', '+' || (i + 1) || ' minutes'),
				CASE WHEN i % 10 = 0 THEN 'boom ' || (i % 7) END FROM n`,
		`ANALYZE`,
	} {
		if _, err := db.sql.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	at := time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)
	for name, tc := range map[string]struct {
		query string
		args  []any
		index string
	}{
		"finished in a day":     {finishedStatsQuery, []any{hub.RunSuccess, hub.RunFailed, hub.RunCanceled, at, at.Add(24 * time.Hour)}, "ix_runs_status_finished"},
		"queued today":          {queuedSinceQuery, []any{at}, "SEARCH runs USING COVERING INDEX"},
		"active by robot":       {activeByRobotQuery, []any{hub.RunRunning}, "SEARCH runs USING INDEX"},
		"failures by message":   {failureGroupsQuery + limitSQL(100), []any{hub.RunFailed, at}, "ix_runs_status_finished"},
		"robots finished since": {finishedSinceQuery, []any{hub.RunSuccess, hub.RunFailed, at}, "ix_runs_status_finished"},
		"open alerts by type":   {`SELECT type, COUNT(*) FROM alert_events WHERE resolved_at IS NULL GROUP BY type`, nil, "alert_events"},
	} {
		plan := explain(t, db, tc.query, tc.args)
		if !strings.Contains(plan, tc.index) || strings.Contains(plan, "SCAN runs") {
			t.Errorf("%s: plan does not use %s:\n%s", name, tc.index, plan)
		}
	}
}
