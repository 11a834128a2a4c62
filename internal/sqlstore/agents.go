package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"automationhub/internal/hub"
)

const enrollColumns = `id, name, token_hash, hint, max_uses, uses, expires_at, revoked_at, created_at, created_by`

func scanEnrollmentToken(row interface{ Scan(...any) error }) (*hub.EnrollmentToken, error) {
	var (
		t                hub.EnrollmentToken
		maxUses          sql.NullInt64
		expires, revoked sql.NullTime
		createdBy        sql.NullString
	)
	if err := row.Scan(&t.ID, &t.Name, &t.Hash, &t.Hint, &maxUses, &t.Uses, &expires, &revoked, &t.CreatedAt, &createdBy); err != nil {
		return nil, err
	}
	if maxUses.Valid {
		n := int(maxUses.Int64)
		t.MaxUses = &n
	}
	t.ExpiresAt, t.RevokedAt, t.CreatedBy = nullTime(expires), nullTime(revoked), nullStr(createdBy)
	t.CreatedAt = t.CreatedAt.UTC()
	return &t, nil
}

// CreateEnrollmentToken stores an enrolment token (its hash) with its
// audit event.
func (db *DB) CreateEnrollmentToken(ctx context.Context, t *hub.EnrollmentToken, ev *hub.AuditEvent) error {
	err := db.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO agent_enrollment_tokens (`+enrollColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			t.ID, t.Name, t.Hash, t.Hint, t.MaxUses, t.Uses, t.ExpiresAt, t.RevokedAt, t.CreatedAt, t.CreatedBy); err != nil {
			return err
		}
		return insertAudit(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("sqlstore.CreateEnrollmentToken: %w", err)
	}
	return nil
}

// EnrollmentTokens lists enrolment tokens newest first, at most limit.
func (db *DB) EnrollmentTokens(ctx context.Context, limit int) ([]hub.EnrollmentToken, error) {
	rows, err := db.Read().Query(ctx, `SELECT `+enrollColumns+` FROM agent_enrollment_tokens ORDER BY created_at DESC, id`+limitSQL(limit))
	if err != nil {
		return nil, fmt.Errorf("sqlstore.EnrollmentTokens: %w", err)
	}
	defer rows.Close()
	out := []hub.EnrollmentToken{}
	for rows.Next() {
		t, err := scanEnrollmentToken(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore.EnrollmentTokens: %w", err)
		}
		out = append(out, *t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore.EnrollmentTokens: %w", err)
	}
	return out, nil
}

// RevokeEnrollmentToken stops an enrolment token from enrolling more
// agents (agents it enrolled keep working); ENotFound "Enrolment token not
// found.".
func (db *DB) RevokeEnrollmentToken(ctx context.Context, id string, now time.Time, ev *hub.AuditEvent) error {
	err := db.InTx(ctx, func(tx *Tx) error {
		res, err := tx.Exec(ctx, `UPDATE agent_enrollment_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`, now, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return hub.Errorf(hub.ENotFound, "Enrolment token not found.")
		}
		return insertAudit(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("sqlstore.RevokeEnrollmentToken: %w", err)
	}
	return nil
}

// Enroll trades a usable enrolment token (by hash) for a new agent, in one
// step: the token's use is counted and the agent stored with its audit
// event. EUnauthorized when no usable token has that hash.
func (db *DB) Enroll(ctx context.Context, tokenHash string, now time.Time, a *hub.Agent, ev *hub.AuditEvent) error {
	labels, err := json.Marshal(nonNil(a.Labels))
	if err != nil {
		return fmt.Errorf("sqlstore.Enroll: %w", err)
	}
	err = db.InTx(ctx, func(tx *Tx) error {
		t, err := scanEnrollmentToken(tx.QueryRow(ctx, `SELECT `+enrollColumns+` FROM agent_enrollment_tokens WHERE token_hash = ?`, tokenHash))
		if errors.Is(err, sql.ErrNoRows) {
			return hub.Errorf(hub.EUnauthorized, "Invalid enrolment token.")
		}
		if err != nil {
			return err
		}
		if !t.Usable(now) {
			return hub.Errorf(hub.EUnauthorized, "The enrolment token has expired, was revoked or was used up: ask an administrator for a new one.")
		}
		// The use is counted only while the token still has one left (two
		// agents enrolling at once cannot both take the last).
		res, err := tx.Exec(ctx, `UPDATE agent_enrollment_tokens SET uses = uses + 1 WHERE id = ? AND (max_uses IS NULL OR uses < max_uses)`, t.ID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return hub.Errorf(hub.EUnauthorized, "The enrolment token was used up: ask an administrator for a new one.")
		}
		a.EnrollmentTokenID = &t.ID
		if _, err := tx.Exec(ctx, `INSERT INTO agents (id, name, token_hash, hostname, os, version, labels_json, enrollment_token_id, created_at, last_seen_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, a.ID, a.Name, a.Hash, a.Hostname, a.OS, a.Version, string(labels), a.EnrollmentTokenID, a.CreatedAt, a.CreatedAt); err != nil {
			return err
		}
		return insertAudit(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("sqlstore.Enroll: %w", err)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

const agentColumns = `id, name, token_hash, hostname, os, version, labels_json, enrollment_token_id, created_at, revoked_at, last_seen_at`

func scanAgent(row interface{ Scan(...any) error }) (*hub.Agent, error) {
	var (
		a                 hub.Agent
		labels            string
		tokenID           sql.NullString
		revoked, lastSeen sql.NullTime
	)
	if err := row.Scan(&a.ID, &a.Name, &a.Hash, &a.Hostname, &a.OS, &a.Version, &labels, &tokenID, &a.CreatedAt, &revoked, &lastSeen); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(labels), &a.Labels); err != nil {
		return nil, fmt.Errorf("labels of agent %s: %w", a.ID, err)
	}
	a.EnrollmentTokenID, a.RevokedAt, a.LastSeenAt = nullStr(tokenID), nullTime(revoked), nullTime(lastSeen)
	a.CreatedAt = a.CreatedAt.UTC()
	return &a, nil
}

// AgentByCredential returns the agent whose credential has the given hash
// (one indexed read); ENotFound when there is none.
func (db *DB) AgentByCredential(ctx context.Context, hash string) (*hub.Agent, error) {
	a, err := scanAgent(db.Read().QueryRow(ctx, `SELECT `+agentColumns+` FROM agents WHERE token_hash = ?`, hash))
	return found(a, err, "Agent not found.", "AgentByCredential")
}

// AgentByID returns one agent; ENotFound "Agent not found.".
func (db *DB) AgentByID(ctx context.Context, id string) (*hub.Agent, error) {
	a, err := scanAgent(db.Read().QueryRow(ctx, `SELECT `+agentColumns+` FROM agents WHERE id = ?`, id))
	return found(a, err, "Agent not found.", "AgentByID(%q)", id)
}

// Agents lists agents newest first, at most limit.
func (db *DB) Agents(ctx context.Context, limit int) ([]hub.Agent, error) {
	rows, err := db.Read().Query(ctx, `SELECT `+agentColumns+` FROM agents ORDER BY created_at DESC, id`+limitSQL(limit))
	if err != nil {
		return nil, fmt.Errorf("sqlstore.Agents: %w", err)
	}
	defer rows.Close()
	out := []hub.Agent{}
	for rows.Next() {
		a, err := scanAgent(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore.Agents: %w", err)
		}
		out = append(out, *a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore.Agents: %w", err)
	}
	return out, nil
}

// UpdateAgent records what an agent says of itself when it starts.
func (db *DB) UpdateAgent(ctx context.Context, a *hub.Agent, now time.Time) error {
	labels, err := json.Marshal(nonNil(a.Labels))
	if err != nil {
		return fmt.Errorf("sqlstore.UpdateAgent: %w", err)
	}
	if _, err := db.Conn().Exec(ctx, `UPDATE agents SET hostname = ?, os = ?, version = ?, labels_json = ?, last_seen_at = ? WHERE id = ?`,
		a.Hostname, a.OS, a.Version, string(labels), now, a.ID); err != nil {
		return fmt.Errorf("sqlstore.UpdateAgent: %w", err)
	}
	return nil
}

// RevokeAgent cuts an agent off: its credential stops working at once;
// ENotFound "Agent not found.".
func (db *DB) RevokeAgent(ctx context.Context, id string, now time.Time, ev *hub.AuditEvent) error {
	err := db.InTx(ctx, func(tx *Tx) error {
		res, err := tx.Exec(ctx, `UPDATE agents SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`, now, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return hub.Errorf(hub.ENotFound, "Agent not found.")
		}
		return insertAudit(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("sqlstore.RevokeAgent: %w", err)
	}
	return nil
}
