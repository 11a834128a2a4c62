package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"automationhub/internal/hub"
)

// Dashboard queries (their SQLite plans are checked in plan_internal_test.go).
const (
	finishedStatsQuery = `SELECT robot_id, COALESCE(CAST(service_id AS TEXT), ''), status, duration_seconds FROM runs
		WHERE status IN (?, ?, ?) AND finished_at >= ? AND finished_at < ?`
	queuedSinceQuery   = `SELECT robot_id, COUNT(*) FROM runs WHERE queued_at >= ? GROUP BY robot_id`
	activeByRobotQuery = `SELECT robot_id, COUNT(*) FROM runs WHERE status = ? GROUP BY robot_id`
	failureGroupsQuery = `SELECT COALESCE(error_message, ''), robot_id, COUNT(*), MAX(finished_at) FROM runs
		WHERE status = ? AND finished_at >= ? GROUP BY error_message, robot_id ORDER BY COUNT(*) DESC`
)

// finishedStats aggregates the runs that finished in [start, end) by robot
// and service: three range reads of the (status, finished_at) index.
func finishedStats(ctx context.Context, q *Tx, day string, start, end time.Time) ([]hub.DayStat, error) {
	rows, err := q.Query(ctx, finishedStatsQuery, hub.RunSuccess, hub.RunFailed, hub.RunCanceled, start, end)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	type key struct{ robot, service string }
	by := map[key]*hub.DayStat{}
	var order []key
	for rows.Next() {
		var (
			k      key
			status string
			dur    sql.NullFloat64
		)
		if err := rows.Scan(&k.robot, &k.service, &status, &dur); err != nil {
			return nil, err
		}
		s := by[k]
		if s == nil {
			s = &hub.DayStat{Day: day, RobotID: k.robot, ServiceID: k.service, Hist: hub.NewHist()}
			by[k] = s
			order = append(order, k)
		}
		switch status {
		case hub.RunSuccess:
			s.Success++
		case hub.RunFailed:
			s.Failed++
		default:
			s.Canceled++
		}
		if dur.Valid && status != hub.RunCanceled {
			s.Hist.Add(dur.Float64)
		}
	}
	out := make([]hub.DayStat, 0, len(order))
	for _, k := range order {
		out = append(out, *by[k])
	}
	return out, rows.Err()
}

// LiveDayStats aggregates the runs finished in [start, end) (today, which
// is never stored) under the day key day.
func (db *DB) LiveDayStats(ctx context.Context, day string, start, end time.Time) ([]hub.DayStat, error) {
	out, err := finishedStats(ctx, db.Read(), day, start, end)
	if err != nil {
		return nil, fmt.Errorf("sqlstore.LiveDayStats: %w", err)
	}
	return out, nil
}

// StoredStatsDays reports which of days have their figures stored.
func (db *DB) StoredStatsDays(ctx context.Context, from, to string) (map[string]bool, error) {
	rows, err := db.Read().Query(ctx, `SELECT day FROM run_stats_days WHERE day >= ? AND day <= ?`, from, to)
	if err != nil {
		return nil, fmt.Errorf("sqlstore.StoredStatsDays: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			return nil, err
		}
		out[d] = true
	}
	return out, rows.Err()
}

// StoreStatsDay computes and stores the figures of one finished day
// (runs finished in [start, end)), replacing what was stored for it.
func (db *DB) StoreStatsDay(ctx context.Context, day string, start, end, now time.Time) error {
	stats, err := finishedStats(ctx, db.Read(), day, start, end)
	if err != nil {
		return fmt.Errorf("sqlstore.StoreStatsDay(%s): %w", day, err)
	}
	err = db.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM run_stats_daily WHERE day = ?`, day); err != nil {
			return err
		}
		for _, s := range stats {
			h, _ := json.Marshal(s.Hist)
			if _, err := tx.Exec(ctx, `INSERT INTO run_stats_daily (day, robot_id, service_id, success, failed, canceled, hist)
				VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (day, robot_id, service_id) DO UPDATE SET success = excluded.success,
				failed = excluded.failed, canceled = excluded.canceled, hist = excluded.hist`,
				day, s.RobotID, s.ServiceID, s.Success, s.Failed, s.Canceled, string(h)); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO run_stats_days (day, computed_at) VALUES (?, ?)
			ON CONFLICT (day) DO UPDATE SET computed_at = excluded.computed_at`, day, now)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlstore.StoreStatsDay(%s): %w", day, err)
	}
	return nil
}

// StoredDayStats returns the stored figures of the days from..to.
func (db *DB) StoredDayStats(ctx context.Context, from, to string) ([]hub.DayStat, error) {
	rows, err := db.Read().Query(ctx, `SELECT day, robot_id, service_id, success, failed, canceled, hist FROM run_stats_daily
		WHERE day >= ? AND day <= ?`, from, to)
	if err != nil {
		return nil, fmt.Errorf("sqlstore.StoredDayStats: %w", err)
	}
	defer rows.Close()
	var out []hub.DayStat
	for rows.Next() {
		var (
			s hub.DayStat
			h string
		)
		if err := rows.Scan(&s.Day, &s.RobotID, &s.ServiceID, &s.Success, &s.Failed, &s.Canceled, &h); err != nil {
			return nil, err
		}
		s.Hist = hub.NewHist()
		var stored hub.Hist
		if err := json.Unmarshal([]byte(h), &stored); err == nil {
			s.Hist.Merge(stored)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// QueuedSince counts the runs queued at or after since, per robot.
func (db *DB) QueuedSince(ctx context.Context, since time.Time) (map[string]int64, error) {
	return db.countByRobot(ctx, queuedSinceQuery, since)
}

// ActiveByRobot counts the PENDING and RUNNING runs per robot.
func (db *DB) ActiveByRobot(ctx context.Context, status string) (map[string]int64, error) {
	return db.countByRobot(ctx, activeByRobotQuery, status)
}

func (db *DB) countByRobot(ctx context.Context, query string, args ...any) (map[string]int64, error) {
	rows, err := db.Read().Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore.countByRobot: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var id string
		var n int64
		if err := rows.Scan(&id, &n); err != nil {
			return nil, err
		}
		out[id] = n
	}
	return out, rows.Err()
}

// FailureGroups groups the runs that failed at or after since by error
// message and robot, largest groups first (at most limit rows).
func (db *DB) FailureGroups(ctx context.Context, since time.Time, limit int) ([]hub.FailureGroup, error) {
	rows, err := db.Read().Query(ctx, failureGroupsQuery+limitSQL(limit), hub.RunFailed, since)
	if err != nil {
		return nil, fmt.Errorf("sqlstore.FailureGroups: %w", err)
	}
	defer rows.Close()
	var out []hub.FailureGroup
	for rows.Next() {
		var (
			g    hub.FailureGroup
			last scannedTime
		)
		if err := rows.Scan(&g.Message, &g.RobotID, &g.Count, &last); err != nil {
			return nil, err
		}
		if last.Valid {
			s := last.Time.UTC().Format(time.RFC3339)
			g.LastSeen = &s
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// NamesOf returns the names of robots and services by id.
func (db *DB) NamesOf(ctx context.Context) (robots, services map[string]string, err error) {
	robots, services = map[string]string{}, map[string]string{}
	for _, x := range []struct {
		q   string
		out map[string]string
	}{{`SELECT id, name FROM robots`, robots}, {`SELECT id, title FROM services`, services}} {
		rows, err := db.Read().Query(ctx, x.q)
		if err != nil {
			return nil, nil, fmt.Errorf("sqlstore.NamesOf: %w", err)
		}
		for rows.Next() {
			var id, name string
			if err := rows.Scan(&id, &name); err != nil {
				rows.Close()
				return nil, nil, err
			}
			x.out[id] = name
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, nil, err
		}
	}
	return robots, services, nil
}

// RobotsInScope lists the ids of the robots a restricted scope allows.
func (db *DB) RobotsInScope(ctx context.Context, s hub.RobotScope) ([]string, error) {
	if s.Empty() {
		return nil, nil
	}
	cond, args, _ := scopeCondition(s, "robots.id")
	ids, err := queryIDs(ctx, db.Read(), `SELECT id FROM robots WHERE `+cond, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore.RobotsInScope: %w", err)
	}
	return ids, nil
}

// ForgetStoredStats drops the stored daily figures, so they are computed
// again from the runs (after runs were written into past days, as
// hub dev seed does).
func (db *DB) ForgetStoredStats(ctx context.Context) error {
	err := db.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM run_stats_days`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM run_stats_daily`)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlstore.ForgetStoredStats: %w", err)
	}
	return nil
}
