package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"automationhub/internal/hub"
)

const tokenColumns = `t.id, t.user_id, t.name, t.token_hash, t.hint, t.permissions_json, t.robot_id, t.scope_tag, t.expires_at,
	t.created_at, t.created_by, t.last_used_at`

// tokenScan holds the scanned tokenColumns of one row.
type tokenScan struct {
	t                       hub.APIToken
	perms                   string
	robotID, tag, createdBy sql.NullString
	expires, lastUsed       sql.NullTime
}

func (s *tokenScan) targets() []any {
	return []any{&s.t.ID, &s.t.UserID, &s.t.Name, &s.t.Hash, &s.t.Hint, &s.perms, &s.robotID, &s.tag, &s.expires,
		&s.t.CreatedAt, &s.createdBy, &s.lastUsed}
}

func (s *tokenScan) token() (*hub.APIToken, error) {
	t := s.t
	if err := json.Unmarshal([]byte(s.perms), &t.Permissions); err != nil {
		return nil, fmt.Errorf("permissions of token %s: %w", t.ID, err)
	}
	t.RobotID, t.ScopeTag, t.CreatedBy = nullStr(s.robotID), nullStr(s.tag), nullStr(s.createdBy)
	t.ExpiresAt, t.LastUsedAt = nullTime(s.expires), nullTime(s.lastUsed)
	t.CreatedAt = t.CreatedAt.UTC()
	return &t, nil
}

// scanToken reads tokenColumns.
func scanToken(row interface{ Scan(...any) error }) (*hub.APIToken, error) {
	var s tokenScan
	if err := row.Scan(s.targets()...); err != nil {
		return nil, err
	}
	return s.token()
}

// CreateToken stores an API token (its hash) with its audit event.
// ENotFound when the user or the robot of its scope does not exist.
func (db *DB) CreateToken(ctx context.Context, t *hub.APIToken, ev *hub.AuditEvent) error {
	perms, err := json.Marshal(t.Permissions)
	if err != nil {
		return fmt.Errorf("sqlstore.CreateToken: %w", err)
	}
	err = db.InTx(ctx, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO api_tokens (`+strings.ReplaceAll(tokenColumns, "t.", "")+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, t.ID, t.UserID, t.Name, t.Hash, t.Hint, string(perms), t.RobotID, t.ScopeTag,
			t.ExpiresAt, t.CreatedAt, t.CreatedBy, t.LastUsedAt)
		if IsForeignKeyViolation(err) {
			return hub.Errorf(hub.ENotFound, "User or robot not found.")
		}
		if err != nil {
			return err
		}
		return insertAudit(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("sqlstore.CreateToken: %w", err)
	}
	return nil
}

// Tokens lists API tokens newest first: a user's, or every user's when
// userID is empty; at most limit.
func (db *DB) Tokens(ctx context.Context, userID string, limit int) ([]hub.APIToken, error) {
	q := `SELECT ` + tokenColumns + ` FROM api_tokens t`
	args := []any{}
	if userID != "" {
		q += ` WHERE t.user_id = ?`
		args = append(args, userID)
	}
	rows, err := db.Read().Query(ctx, q+` ORDER BY t.created_at DESC, t.id LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore.Tokens: %w", err)
	}
	defer rows.Close()
	out := []hub.APIToken{}
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore.Tokens: %w", err)
		}
		out = append(out, *t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore.Tokens: %w", err)
	}
	return out, nil
}

// TokenByID returns one API token; ENotFound "Token not found.".
func (db *DB) TokenByID(ctx context.Context, id string) (*hub.APIToken, error) {
	t, err := scanToken(db.Read().QueryRow(ctx, `SELECT `+tokenColumns+` FROM api_tokens t WHERE t.id = ?`, id))
	return found(t, err, "Token not found.", "TokenByID(%q)", id)
}

// DeleteToken revokes an API token (the row goes) with its audit event;
// ENotFound "Token not found.".
func (db *DB) DeleteToken(ctx context.Context, id string, ev *hub.AuditEvent) error {
	err := db.InTx(ctx, func(tx *Tx) error {
		res, err := tx.Exec(ctx, `DELETE FROM api_tokens WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return hub.Errorf(hub.ENotFound, "Token not found.")
		}
		return insertAudit(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("sqlstore.DeleteToken: %w", err)
	}
	return nil
}

// TokenWithUser returns the API token with the given hash, its user, the
// user's grants and the tags of the token's robot, in one indexed read (the
// cost of authenticating a request with a token); ENotFound when no token
// has that hash.
func (db *DB) TokenWithUser(ctx context.Context, hash string) (*hub.APIToken, *hub.User, []hub.Grant, error) {
	var (
		grants, tags sql.NullString
		ts           tokenScan
	)
	row := db.Read().QueryRow(ctx, `SELECT `+qualify(userColumns, "users.")+`, `+tokenColumns+`, `+db.dialect.robotTagsJSON("t.robot_id")+`, `+
		db.dialect.grantsJSON()+` FROM api_tokens t JOIN users ON users.id = t.user_id WHERE t.token_hash = ?`, hash)
	u, err := scanUser(row, append(ts.targets(), &tags, &grants)...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, nil, hub.Errorf(hub.ENotFound, "Token not found.")
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("sqlstore.TokenWithUser: %w", err)
	}
	t, err := ts.token()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("sqlstore.TokenWithUser: %w", err)
	}
	out := []hub.Grant{}
	if grants.Valid {
		if err := json.Unmarshal([]byte(grants.String), &out); err != nil {
			return nil, nil, nil, fmt.Errorf("sqlstore.TokenWithUser: grants of %s: %w", u.ID, err)
		}
		for i := range out {
			out[i].CreatedAt = out[i].CreatedAt.UTC()
		}
	}
	if tags.Valid {
		if err := json.Unmarshal([]byte(tags.String), &t.RobotTags); err != nil {
			return nil, nil, nil, fmt.Errorf("sqlstore.TokenWithUser: robot tags: %w", err)
		}
	}
	return t, u, out, nil
}

// TouchToken records that a token was used at now, unless that was already
// recorded after since (so that a busy token costs one write a minute).
func (db *DB) TouchToken(ctx context.Context, id string, now, since time.Time) error {
	_, err := db.Conn().Exec(ctx, `UPDATE api_tokens SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)`, now, id, since)
	if err != nil {
		return fmt.Errorf("sqlstore.TouchToken: %w", err)
	}
	return nil
}

// ServiceAccounts lists the service accounts by user name.
func (db *DB) ServiceAccounts(ctx context.Context) ([]hub.User, error) {
	rows, err := db.Read().Query(ctx, `SELECT `+userColumns+` FROM users WHERE service_account = ? ORDER BY username`, true)
	if err != nil {
		return nil, fmt.Errorf("sqlstore.ServiceAccounts: %w", err)
	}
	defer rows.Close()
	out := []hub.User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore.ServiceAccounts: %w", err)
		}
		out = append(out, *u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore.ServiceAccounts: %w", err)
	}
	return out, nil
}

// qualify prefixes every column of a comma-separated list.
func qualify(cols, prefix string) string {
	parts := strings.Split(cols, ",")
	for i, p := range parts {
		parts[i] = prefix + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}
