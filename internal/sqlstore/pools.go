package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"automationhub/internal/hub"
)

// poolsOf returns the names of the pools each robot needs, sorted.
func poolsOf(ctx context.Context, q *Tx, robotIDs []string) (map[string][]string, error) {
	out := map[string][]string{}
	for chunk := range slices.Chunk(robotIDs, 1000) {
		rows, err := q.Query(ctx, `SELECT rp.robot_id, p.name FROM robot_pools rp JOIN pools p ON p.id = rp.pool_id
			WHERE rp.robot_id IN `+inClause(len(chunk))+` ORDER BY p.name`, anySlice(chunk)...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id, name string
			if err := rows.Scan(&id, &name); err != nil {
				rows.Close()
				return nil, err
			}
			out[id] = append(out[id], name)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

const poolColumns = `p.id, p.name, p.capacity, p.description, p.created_by, p.created_at, p.updated_at,
	(SELECT COUNT(*) FROM runs r WHERE r.status = 'RUNNING' AND r.held_pools LIKE '%,' || p.id || ',%')`

func scanPool(row interface{ Scan(...any) error }) (*hub.Pool, error) {
	var (
		p             hub.Pool
		desc, creator sql.NullString
	)
	if err := row.Scan(&p.ID, &p.Name, &p.Capacity, &desc, &creator, &p.CreatedAt, &p.UpdatedAt, &p.InUse); err != nil {
		return nil, err
	}
	p.Description, p.CreatedBy = nullStr(desc), nullStr(creator)
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	p.Robots = []string{}
	return &p, nil
}

// poolRobots fills in the names of the robots that need each pool.
func poolRobots(ctx context.Context, q *Tx, pools []*hub.Pool) error {
	if len(pools) == 0 {
		return nil
	}
	ids := make([]string, len(pools))
	byID := map[string]*hub.Pool{}
	for i, p := range pools {
		ids[i], byID[p.ID] = p.ID, p
	}
	rows, err := q.Query(ctx, `SELECT rp.pool_id, r.name FROM robot_pools rp JOIN robots r ON r.id = rp.robot_id
		WHERE rp.pool_id IN `+inClause(len(ids))+` ORDER BY r.name`, anySlice(ids)...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id, name string
		if err := rows.Scan(&id, &name); err != nil {
			return err
		}
		byID[id].Robots = append(byID[id].Robots, name)
	}
	return rows.Err()
}

func poolConflict(err error) error {
	if IsUniqueViolation(err) {
		return hub.Errorf(hub.EConflict, "A pool with this name already exists.")
	}
	return err
}

// CreatePool stores a pool with its audit event; a taken name is
// EConflict.
func (db *DB) CreatePool(ctx context.Context, p *hub.Pool, ev *hub.AuditEvent) error {
	err := db.InTx(ctx, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO pools (id, name, capacity, description, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			p.ID, p.Name, p.Capacity, p.Description, p.CreatedBy, p.CreatedAt, p.UpdatedAt)
		if err != nil {
			return poolConflict(err)
		}
		return insertAudit(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("sqlstore.CreatePool: %w", err)
	}
	return nil
}

// PoolByID returns a pool with its usage; ENotFound "Pool not found.".
func (db *DB) PoolByID(ctx context.Context, id string) (*hub.Pool, error) {
	q := db.Read()
	p, err := scanPool(q.QueryRow(ctx, `SELECT `+poolColumns+` FROM pools p WHERE p.id = ?`, id))
	if p, err = found(p, err, "Pool not found.", "PoolByID(%q)", id); err != nil {
		return nil, err
	}
	if err := poolRobots(ctx, q, []*hub.Pool{p}); err != nil {
		return nil, fmt.Errorf("sqlstore.PoolByID: %w", err)
	}
	return p, nil
}

// ListPools returns every pool by name, with its usage and robots.
func (db *DB) ListPools(ctx context.Context) ([]hub.Pool, error) {
	q := db.Read()
	rows, err := q.Query(ctx, `SELECT `+poolColumns+` FROM pools p ORDER BY p.name`)
	if err != nil {
		return nil, fmt.Errorf("sqlstore.ListPools: %w", err)
	}
	var ptrs []*hub.Pool
	for rows.Next() {
		p, err := scanPool(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("sqlstore.ListPools: %w", err)
		}
		ptrs = append(ptrs, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore.ListPools: %w", err)
	}
	if err := poolRobots(ctx, q, ptrs); err != nil {
		return nil, fmt.Errorf("sqlstore.ListPools: %w", err)
	}
	out := make([]hub.Pool, len(ptrs))
	for i, p := range ptrs {
		out[i] = *p
	}
	return out, nil
}

// UpdatePool stores a pool's name, capacity and description with its audit
// event; ENotFound when it is gone, EConflict for a taken name.
func (db *DB) UpdatePool(ctx context.Context, p *hub.Pool, ev *hub.AuditEvent) error {
	err := db.InTx(ctx, func(tx *Tx) error {
		res, err := tx.Exec(ctx, `UPDATE pools SET name = ?, capacity = ?, description = ?, updated_at = ? WHERE id = ?`,
			p.Name, p.Capacity, p.Description, p.UpdatedAt, p.ID)
		if err != nil {
			return poolConflict(err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return hub.Errorf(hub.ENotFound, "Pool not found.")
		}
		return insertAudit(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("sqlstore.UpdatePool: %w", err)
	}
	return nil
}

// DeletePool removes a pool no robot needs, with its audit event;
// ENotFound when it is gone, EConflict while robots need it.
func (db *DB) DeletePool(ctx context.Context, id string, ev *hub.AuditEvent) error {
	err := db.InTx(ctx, func(tx *Tx) error {
		var name string
		err := tx.QueryRow(ctx, `SELECT name FROM pools WHERE id = ?`+db.dialect.forUpdate(), id).Scan(&name)
		if errors.Is(err, sql.ErrNoRows) {
			return hub.Errorf(hub.ENotFound, "Pool not found.")
		}
		if err != nil {
			return err
		}
		var users int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM robot_pools WHERE pool_id = ?`, id).Scan(&users); err != nil {
			return err
		}
		if users > 0 {
			return hub.Errorf(hub.EConflict, "Pool %s is needed by %d robot(s); remove it from their resource_pools first.", name, users)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM pools WHERE id = ?`, id); err != nil {
			return err
		}
		return insertAudit(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("sqlstore.DeletePool: %w", err)
	}
	return nil
}

// SetRunSettings replaces a robot's run settings (limit, retry defaults,
// required labels and, when pools is not nil, the pools it needs, by name) with its audit
// event, and returns the robot. An unknown pool name is EInvalid.
func (db *DB) SetRunSettings(ctx context.Context, robotID string, set hub.RunSettings, pools []string, now time.Time, ev *hub.AuditEvent) (*hub.Robot, error) {
	var out *hub.Robot
	err := db.InTx(ctx, func(tx *Tx) error {
		res, err := tx.Exec(ctx, `UPDATE robots SET max_concurrent_runs = ?, retry_count = ?, retry_backoff_seconds = ?, required_labels = ?,
			updated_at = ? WHERE id = ?`,
			set.MaxConcurrentRuns, set.RetryCount, set.RetryBackoffSeconds, encodeLabels(set.RequiredLabels), now, robotID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return hub.Errorf(hub.ENotFound, "Robot not found.")
		}
		if pools != nil {
			ids := make([]string, 0, len(pools))
			for _, name := range pools {
				var id string
				err := tx.QueryRow(ctx, `SELECT id FROM pools WHERE name = ?`, name).Scan(&id)
				if errors.Is(err, sql.ErrNoRows) {
					return hub.Errorf(hub.EInvalid, "Unknown pool: %s.", name)
				}
				if err != nil {
					return err
				}
				ids = append(ids, id)
			}
			if _, err := tx.Exec(ctx, `DELETE FROM robot_pools WHERE robot_id = ?`, robotID); err != nil {
				return err
			}
			for _, id := range ids {
				if _, err := tx.Exec(ctx, `INSERT INTO robot_pools (robot_id, pool_id) VALUES (?, ?)`, robotID, id); err != nil {
					return err
				}
			}
		}
		if err := insertAudit(ctx, tx, ev); err != nil {
			return err
		}
		out, err = robotByID(ctx, tx, robotID, "")
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlstore.SetRunSettings(%q): %w", robotID, err)
	}
	return out, nil
}
