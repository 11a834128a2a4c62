package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"automationhub/internal/hub"
)

const envVarColumns = `robot_id, env_name, env_key, value_encrypted, key_id, is_secret, created_at, created_by, updated_at, updated_by`

func scanEnvVar(row interface{ Scan(...any) error }) (hub.EnvVar, error) {
	var (
		v                    hub.EnvVar
		keyID                sql.NullString
		createdBy, updatedBy sql.NullString
	)
	if err := row.Scan(&v.RobotID, &v.EnvName, &v.Key, &v.Ciphertext, &keyID, &v.IsSecret, &v.CreatedAt, &createdBy, &v.UpdatedAt, &updatedBy); err != nil {
		return hub.EnvVar{}, err
	}
	v.KeyID = keyID.String
	v.CreatedBy, v.UpdatedBy = nullStr(createdBy), nullStr(updatedBy)
	v.CreatedAt, v.UpdatedAt = v.CreatedAt.UTC(), v.UpdatedAt.UTC()
	return v, nil
}

// nullKeyID stores the previous backend's key id ("") as NULL.
func nullKeyID(id string) *string {
	if id == "" {
		return nil
	}
	return &id
}

func collectEnvVars(rows *sql.Rows, err error) ([]hub.EnvVar, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []hub.EnvVar{}
	for rows.Next() {
		v, err := scanEnvVar(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// EnvVars returns a robot's configuration for one environment, sorted by
// key, values sealed as stored.
func (db *DB) EnvVars(ctx context.Context, robotID, envName string) ([]hub.EnvVar, error) {
	out, err := collectEnvVars(db.Read().Query(ctx, `SELECT `+envVarColumns+` FROM robot_env_vars
		WHERE robot_id = ? AND env_name = ? ORDER BY env_key`, robotID, envName))
	if err != nil {
		return nil, fmt.Errorf("sqlstore.EnvVars(%q, %s): %w", robotID, envName, err)
	}
	return out, nil
}

// EnvKeys returns the keys of a robot's configuration for one environment,
// each with whether it is a secret (no values: run creation checks them).
func (db *DB) EnvKeys(ctx context.Context, robotID, envName string) (map[string]bool, error) {
	rows, err := db.Read().Query(ctx, `SELECT env_key, is_secret FROM robot_env_vars WHERE robot_id = ? AND env_name = ?`, robotID, envName)
	if err != nil {
		return nil, fmt.Errorf("sqlstore.EnvKeys: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var k string
		var secret bool
		if err := rows.Scan(&k, &secret); err != nil {
			return nil, fmt.Errorf("sqlstore.EnvKeys: %w", err)
		}
		out[k] = secret
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore.EnvKeys: %w", err)
	}
	return out, nil
}

// PutEnvVars creates or replaces variables of a robot's configuration, each
// with the audit event event builds for it (created tells which), all in
// one transaction. ENotFound "Robot not found." when the robot is gone;
// EConflict when another request created one of the keys meanwhile.
func (db *DB) PutEnvVars(ctx context.Context, vars []hub.EnvVar, event func(v hub.EnvVar, created bool) *hub.AuditEvent) error {
	err := db.InTx(ctx, func(tx *Tx) error {
		for _, v := range vars {
			res, err := tx.Exec(ctx, `UPDATE robot_env_vars SET value_encrypted = ?, key_id = ?, is_secret = ?, updated_at = ?, updated_by = ?
				WHERE robot_id = ? AND env_name = ? AND env_key = ?`,
				v.Ciphertext, nullKeyID(v.KeyID), v.IsSecret, v.UpdatedAt, v.UpdatedBy, v.RobotID, v.EnvName, v.Key)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			created := n == 0
			if created {
				_, err := tx.Exec(ctx, `INSERT INTO robot_env_vars (`+envVarColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
					v.RobotID, v.EnvName, v.Key, v.Ciphertext, nullKeyID(v.KeyID), v.IsSecret, v.CreatedAt, v.CreatedBy, v.UpdatedAt, v.UpdatedBy)
				switch {
				case IsUniqueViolation(err):
					return hub.Errorf(hub.EConflict, "The key %s was created meanwhile; send the request again.", v.Key)
				case IsForeignKeyViolation(err):
					return hub.Errorf(hub.ENotFound, "Robot not found.")
				case err != nil:
					return err
				}
			}
			if err := insertAudit(ctx, tx, event(v, created)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlstore.PutEnvVars: %w", err)
	}
	return nil
}

// DeleteEnvVar removes one variable with its audit event; ENotFound "Env
// key not found." when there is none.
func (db *DB) DeleteEnvVar(ctx context.Context, robotID, envName, key string, ev *hub.AuditEvent) error {
	err := db.InTx(ctx, func(tx *Tx) error {
		res, err := tx.Exec(ctx, `DELETE FROM robot_env_vars WHERE robot_id = ? AND env_name = ? AND env_key = ?`, robotID, envName, key)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return hub.Errorf(hub.ENotFound, "Env key not found.")
		}
		return insertAudit(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("sqlstore.DeleteEnvVar: %w", err)
	}
	return nil
}

// RunEnvVars returns the configuration of a run's robot for the run's
// environment, values sealed, but only to the worker that holds the run
// (RUNNING and claimed by workerID): anyone else gets EConflict "The run is
// not held by this worker." and nothing.
func (db *DB) RunEnvVars(ctx context.Context, runID, workerID string) ([]hub.EnvVar, error) {
	rows, err := db.Read().Query(ctx, `SELECT r.robot_id, r.env_name, e.env_key, e.value_encrypted, e.key_id, e.is_secret
		FROM runs r LEFT JOIN robot_env_vars e ON e.robot_id = r.robot_id AND e.env_name = r.env_name
		WHERE r.run_id = ? AND r.worker_id = ? AND r.status = ? ORDER BY e.env_key`, runID, workerID, hub.RunRunning)
	if err != nil {
		return nil, fmt.Errorf("sqlstore.RunEnvVars: %w", err)
	}
	defer rows.Close()
	held := false
	out := []hub.EnvVar{}
	for rows.Next() {
		held = true
		var (
			v                 hub.EnvVar
			key, value, keyID sql.NullString
			secret            sql.NullBool
		)
		if err := rows.Scan(&v.RobotID, &v.EnvName, &key, &value, &keyID, &secret); err != nil {
			return nil, fmt.Errorf("sqlstore.RunEnvVars: %w", err)
		}
		if !key.Valid {
			continue // the robot has no configuration for this environment
		}
		v.Key, v.Ciphertext, v.KeyID, v.IsSecret = key.String, value.String, keyID.String, secret.Bool
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore.RunEnvVars: %w", err)
	}
	if !held {
		return nil, hub.Errorf(hub.EConflict, "The run is not held by this worker.")
	}
	return out, nil
}

// EnvKeyIDs counts the stored values by the id of the key that sealed them
// ("" for values of the previous backend).
func (db *DB) EnvKeyIDs(ctx context.Context) (map[string]int, error) {
	rows, err := db.Read().Query(ctx, `SELECT COALESCE(key_id, ''), COUNT(*) FROM robot_env_vars GROUP BY COALESCE(key_id, '')`)
	if err != nil {
		return nil, fmt.Errorf("sqlstore.EnvKeyIDs: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, fmt.Errorf("sqlstore.EnvKeyIDs: %w", err)
		}
		out[id] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore.EnvKeyIDs: %w", err)
	}
	return out, nil
}

// LegacyEnvVar returns one value of the previous backend (no key id), or
// ENotFound when there is none.
func (db *DB) LegacyEnvVar(ctx context.Context) (*hub.EnvVar, error) {
	v, err := scanEnvVar(db.Read().QueryRow(ctx, `SELECT `+envVarColumns+` FROM robot_env_vars WHERE key_id IS NULL LIMIT 1`))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, hub.Errorf(hub.ENotFound, "No value of the previous backend.")
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore.LegacyEnvVar: %w", err)
	}
	return &v, nil
}

// ResealEnvVars passes every stored value to reseal, in one transaction, and
// stores the values it changed (new key id and ciphertext). An error of
// reseal rolls everything back. It returns how many values changed and
// how many there are.
func (db *DB) ResealEnvVars(ctx context.Context, reseal func(v *hub.EnvVar) (bool, error), ev *hub.AuditEvent) (changed, total int, err error) {
	err = db.InTx(ctx, func(tx *Tx) error {
		all, err := collectEnvVars(tx.Query(ctx, `SELECT `+envVarColumns+` FROM robot_env_vars ORDER BY robot_id, env_name, env_key`+db.dialect.forUpdate()))
		if err != nil {
			return err
		}
		changed, total = 0, len(all)
		for i := range all {
			v := &all[i]
			ok, err := reseal(v)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			changed++
			if _, err := tx.Exec(ctx, `UPDATE robot_env_vars SET value_encrypted = ?, key_id = ? WHERE robot_id = ? AND env_name = ? AND env_key = ?`,
				v.Ciphertext, nullKeyID(v.KeyID), v.RobotID, v.EnvName, v.Key); err != nil {
				return err
			}
		}
		if changed == 0 {
			return nil
		}
		ev.Metadata["values"] = changed
		return insertAudit(ctx, tx, ev)
	})
	if err != nil {
		return 0, 0, fmt.Errorf("sqlstore.ResealEnvVars: %w", err)
	}
	return changed, total, nil
}
