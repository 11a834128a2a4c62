package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"automationhub/internal/hub"
)

// RequestPrepare records a request that workers build a version's Python
// environment, replacing the version's earlier one, with its audit event,
// in one step. hub.ENotFound when the version is not the robot's.
func (db *DB) RequestPrepare(ctx context.Context, req *hub.PrepareRequest, ev *hub.AuditEvent) error {
	err := db.InTx(ctx, func(tx *Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM robot_versions WHERE id = ? AND robot_id = ?`, req.VersionID, req.RobotID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return hub.Errorf(hub.ENotFound, "Version not found.")
		}
		if _, err := tx.Exec(ctx, `DELETE FROM python_env_prepares WHERE version_id = ?`, req.VersionID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO python_env_prepares (id, robot_id, version_id, requested_by, requested_at) VALUES (?, ?, ?, ?, ?)`,
			req.ID, req.RobotID, req.VersionID, req.RequestedBy, req.RequestedAt.UTC()); err != nil {
			return err
		}
		return insertAudit(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("sqlstore.RequestPrepare(%q): %w", req.VersionID, err)
	}
	return nil
}

// PendingPrepares lists the prepare requests made since `since` that
// workerID has not answered (reported on the version) since they were
// made, oldest first, at most limit.
func (db *DB) PendingPrepares(ctx context.Context, workerID string, since time.Time, limit int) ([]hub.PrepareRequest, error) {
	rows, err := db.Read().Query(ctx, `SELECT p.id, p.robot_id, p.version_id, p.requested_by, p.requested_at FROM python_env_prepares p
		WHERE p.requested_at >= ? AND NOT EXISTS (SELECT 1 FROM worker_python_envs w
			WHERE w.worker_id = ? AND w.version_id = p.version_id AND w.updated_at >= p.requested_at)
		ORDER BY p.requested_at`+limitSQL(limit), since.UTC(), workerID)
	if err != nil {
		return nil, fmt.Errorf("sqlstore.PendingPrepares: %w", err)
	}
	defer rows.Close()
	out := []hub.PrepareRequest{}
	for rows.Next() {
		var r hub.PrepareRequest
		var by sql.NullString
		if err := rows.Scan(&r.ID, &r.RobotID, &r.VersionID, &by, &r.RequestedAt); err != nil {
			return nil, fmt.Errorf("sqlstore.PendingPrepares: %w", err)
		}
		r.RequestedBy, r.RequestedAt = nullStr(by), r.RequestedAt.UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore.PendingPrepares: %w", err)
	}
	return out, nil
}

// EnvironmentReady records what a worker reports about a version's Python
// environment (ready, not needed, or failed), replacing its last report.
func (db *DB) EnvironmentReady(ctx context.Context, e hub.WorkerEnv) error {
	_, err := db.Conn().Exec(ctx, `INSERT INTO worker_python_envs (worker_id, version_id, env_key, status, error, python_version, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (worker_id, version_id) DO UPDATE SET env_key = excluded.env_key, status = excluded.status,
			error = excluded.error, python_version = excluded.python_version, updated_at = excluded.updated_at`,
		e.WorkerID, e.VersionID, e.Key, e.Status, e.Error, e.PythonVersion, e.UpdatedAt.UTC())
	if err != nil {
		return fmt.Errorf("sqlstore.EnvironmentReady(%q, %q): %w", e.WorkerID, e.VersionID, err)
	}
	return nil
}

// VersionEnvironments lists what workers reported about a version's Python
// environment, with the worker's host and last heartbeat, by worker id.
func (db *DB) VersionEnvironments(ctx context.Context, versionID string) ([]hub.WorkerEnv, error) {
	rows, err := db.Read().Query(ctx, `SELECT e.worker_id, e.version_id, e.env_key, e.status, e.error, e.python_version, e.updated_at,
			w.hostname, w.last_heartbeat
		FROM worker_python_envs e LEFT JOIN workers w ON w.id = e.worker_id
		WHERE e.version_id = ? ORDER BY e.worker_id`+limitSQL(1000), versionID)
	if err != nil {
		return nil, fmt.Errorf("sqlstore.VersionEnvironments: %w", err)
	}
	defer rows.Close()
	out := []hub.WorkerEnv{}
	for rows.Next() {
		var e hub.WorkerEnv
		var errMsg, py, host sql.NullString
		var beat sql.NullTime
		if err := rows.Scan(&e.WorkerID, &e.VersionID, &e.Key, &e.Status, &errMsg, &py, &e.UpdatedAt, &host, &beat); err != nil {
			return nil, fmt.Errorf("sqlstore.VersionEnvironments: %w", err)
		}
		e.Error, e.PythonVersion, e.Hostname, e.UpdatedAt = nullStr(errMsg), nullStr(py), host.String, e.UpdatedAt.UTC()
		if beat.Valid {
			t := beat.Time.UTC()
			e.LastHeartbeat = &t
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore.VersionEnvironments: %w", err)
	}
	return out, nil
}

// EnvironmentsGone forgets a worker's reports on the environments of keys
// (its cache removed them): the versions built with them are no longer
// ready there.
func (db *DB) EnvironmentsGone(ctx context.Context, workerID string, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	args := []any{workerID}
	for _, k := range keys {
		args = append(args, k)
	}
	_, err := db.Conn().Exec(ctx, `DELETE FROM worker_python_envs WHERE worker_id = ? AND env_key IN (?`+strings.Repeat(", ?", len(keys)-1)+`)`, args...)
	if err != nil {
		return fmt.Errorf("sqlstore.EnvironmentsGone(%q): %w", workerID, err)
	}
	return nil
}
