package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"automationhub/internal/hub"
)

const grantColumns = `id, user_id, resource_type, resource_id, scope_tag, action, created_at`

func scanGrant(row interface{ Scan(...any) error }) (hub.Grant, error) {
	var (
		g          hub.Grant
		resID, tag sql.NullString
		action     string
	)
	if err := row.Scan(&g.ID, &g.UserID, &g.ResourceType, &resID, &tag, &action, &g.CreatedAt); err != nil {
		return hub.Grant{}, err
	}
	g.Action = hub.Permission(action)
	g.ResourceID, g.ScopeTag = nullStr(resID), nullStr(tag)
	g.CreatedAt = g.CreatedAt.UTC()
	return g, nil
}

func insertGrant(ctx context.Context, tx *Tx, g *hub.Grant) error {
	err := tx.QueryRow(ctx, `INSERT INTO permissions (user_id, resource_type, resource_id, scope_tag, action, created_at)
		VALUES (?, ?, ?, ?, ?, ?) RETURNING id`, g.UserID, g.ResourceType, g.ResourceID, g.ScopeTag, string(g.Action), g.CreatedAt).Scan(&g.ID)
	switch {
	case IsUniqueViolation(err):
		return hub.Errorf(hub.EConflict, "Permission already granted.")
	case IsForeignKeyViolation(err):
		return hub.Errorf(hub.ENotFound, "User not found.")
	case err != nil:
		return fmt.Errorf("insert grant: %w", err)
	}
	return nil
}

// CreateGrant stores a grant and its audit event in one transaction (the
// event's target id is set to the new grant's id). EConflict when the same
// grant exists, ENotFound when the user does not.
func (db *DB) CreateGrant(ctx context.Context, g *hub.Grant, ev *hub.AuditEvent) error {
	err := db.InTx(ctx, func(tx *Tx) error {
		if err := insertGrant(ctx, tx, g); err != nil {
			return err
		}
		if ev != nil {
			ev.TargetID = fmt.Sprint(g.ID)
		}
		return insertAudit(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("sqlstore.CreateGrant: %w", err)
	}
	return nil
}

// DeleteGrant removes one grant of a user with its audit event; ENotFound
// "Permission not found." when the user has no such grant.
func (db *DB) DeleteGrant(ctx context.Context, userID string, grantID int64, ev *hub.AuditEvent) (*hub.Grant, error) {
	var out hub.Grant
	err := db.InTx(ctx, func(tx *Tx) error {
		g, err := scanGrant(tx.QueryRow(ctx, `SELECT `+grantColumns+` FROM permissions WHERE id = ? AND user_id = ?`, grantID, userID))
		if errors.Is(err, sql.ErrNoRows) {
			return hub.Errorf(hub.ENotFound, "Permission not found.")
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM permissions WHERE id = ?`, grantID); err != nil {
			return err
		}
		out = g
		if ev != nil {
			ev.Metadata["action"] = string(g.Action)
			ev.Metadata["resource_type"] = g.ResourceType
			ev.Metadata["resource_id"] = g.ResourceID
			ev.Metadata["scope_tag"] = g.ScopeTag
		}
		return insertAudit(ctx, tx, ev)
	})
	if err != nil {
		return nil, fmt.Errorf("sqlstore.DeleteGrant(%d): %w", grantID, err)
	}
	return &out, nil
}

// GrantsOfUser lists a user's grants ordered by resource type, then action.
func (db *DB) GrantsOfUser(ctx context.Context, userID string) ([]hub.Grant, error) {
	rows, err := db.Read().Query(ctx, `SELECT `+grantColumns+` FROM permissions WHERE user_id = ? ORDER BY resource_type, action, id`, userID)
	if err != nil {
		return nil, fmt.Errorf("sqlstore.GrantsOfUser: %w", err)
	}
	defer rows.Close()
	out := []hub.Grant{}
	for rows.Next() {
		g, err := scanGrant(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore.GrantsOfUser: %w", err)
		}
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore.GrantsOfUser: %w", err)
	}
	return out, nil
}

// RobotExists reports whether a robot with the id exists.
func (db *DB) RobotExists(ctx context.Context, id string) (bool, error) {
	var n int
	if err := db.Read().QueryRow(ctx, `SELECT COUNT(*) FROM robots WHERE id = ?`, id).Scan(&n); err != nil {
		return false, fmt.Errorf("sqlstore.RobotExists: %w", err)
	}
	return n > 0, nil
}

// ListAudit returns a page of audit events matching the filter, newest
// first (created_at, then id), and the page's ListInfo; the total is
// counted up to a cap.
func (db *DB) ListAudit(ctx context.Context, f hub.AuditFilter) ([]hub.AuditEvent, hub.ListInfo, error) {
	var (
		where []string
		args  []any
	)
	add := func(cond string, v any) { where = append(where, cond); args = append(args, v) }
	if f.Action != "" {
		add("action = ?", f.Action)
	}
	if f.ActorUserID != "" {
		add("actor_user_id = ?", f.ActorUserID)
	}
	if f.TargetType != "" {
		add("target_type = ?", f.TargetType)
	}
	if f.TargetID != "" {
		add("target_id = ?", f.TargetID)
	}
	if f.Since != nil {
		add("created_at >= ?", *f.Since)
	}
	if f.Until != nil {
		add("created_at < ?", *f.Until)
	}
	q := db.Read()
	total, exact, err := cappedCount(ctx, q, ` FROM audit_events`+whereClause(where), args, f.Page)
	if err != nil {
		return nil, hub.ListInfo{}, fmt.Errorf("sqlstore.ListAudit: count: %w", err)
	}
	kcond, kargs, order, ascending := keyset(f.Page, "created_at", "id")
	if kcond != "" {
		id, err := strconv.ParseInt(kargs[1].(string), 10, 64)
		if err != nil {
			return nil, hub.ListInfo{}, hub.Errorf(hub.EInvalid, "Invalid cursor.")
		}
		kargs[1] = id
		where, args = append(where, kcond), append(args, kargs...)
	}
	rows, err := q.Query(ctx, `SELECT id, actor_user_id, actor_subject, action, target_type, target_id, metadata_json, ip, created_at
		FROM audit_events`+whereClause(where)+` ORDER BY `+order+limitSQL(f.Limit+1)+` OFFSET ?`, append(args, f.Skip)...)
	if err != nil {
		return nil, hub.ListInfo{}, fmt.Errorf("sqlstore.ListAudit: %w", err)
	}
	defer rows.Close()
	out := []hub.AuditEvent{}
	for rows.Next() {
		var (
			ev                                   hub.AuditEvent
			actor, subject, ttype, tid, ip, meta sql.NullString
		)
		if err := rows.Scan(&ev.ID, &actor, &subject, &ev.Action, &ttype, &tid, &meta, &ip, &ev.CreatedAt); err != nil {
			return nil, hub.ListInfo{}, fmt.Errorf("sqlstore.ListAudit: %w", err)
		}
		ev.ActorUserID, ev.ActorSubject, ev.IP = nullStr(actor), nullStr(subject), nullStr(ip)
		ev.TargetType, ev.TargetID = ttype.String, tid.String
		ev.CreatedAt = ev.CreatedAt.UTC()
		ev.Metadata = map[string]any{}
		if meta.Valid {
			if err := json.Unmarshal([]byte(meta.String), &ev.Metadata); err != nil {
				return nil, hub.ListInfo{}, fmt.Errorf("sqlstore.ListAudit: event %d metadata: %w", ev.ID, err)
			}
		}
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, hub.ListInfo{}, fmt.Errorf("sqlstore.ListAudit: %w", err)
	}
	out, info := pageInfo(out, f.Page, ascending, func(ev *hub.AuditEvent) hub.Cursor {
		return hub.Cursor{At: ev.CreatedAt, ID: strconv.FormatInt(ev.ID, 10)}
	})
	info.Total, info.Exact = total, exact
	if !exact && info.Next == nil && f.Before == nil && f.After == nil {
		info.Total, info.Exact = f.Skip+len(out), true
	}
	return out, info, nil
}
