package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"automationhub/internal/hub"
)

const userColumns = `id, username, full_name, email, hashed_password, is_active, is_superuser, role, auth_source,
	azure_object_id, token_generation, created_at, updated_at`

// scanUser reads userColumns, then any extra columns into extra.
func scanUser(row interface{ Scan(...any) error }, extra ...any) (*hub.User, error) {
	var (
		u               hub.User
		fullName, email sql.NullString
		azure           sql.NullString
		role            string
	)
	err := row.Scan(append([]any{&u.ID, &u.Username, &fullName, &email, &u.HashedPassword, &u.IsActive, &u.IsSuperuser, &role,
		&u.AuthSource, &azure, &u.TokenGeneration, &u.CreatedAt, &u.UpdatedAt}, extra...)...)
	if err != nil {
		return nil, err
	}
	u.Role = hub.Role(role)
	u.FullName, u.Email, u.AzureObjectID = nullStr(fullName), nullStr(email), nullStr(azure)
	u.CreatedAt, u.UpdatedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC()
	return &u, nil
}

func nullStr(s sql.NullString) *string {
	if !s.Valid {
		return nil
	}
	v := s.String
	return &v
}

// userConflict turns a unique violation on users into the client message.
func userConflict(err error) error {
	switch uniqueConstraint(err) {
	case "":
		return err
	case "ux_users_email":
		return hub.Errorf(hub.EConflict, "Email already exists.")
	case "ux_users_azure_object_id":
		return hub.Errorf(hub.EConflict, "Azure AD user already exists.")
	default:
		return hub.Errorf(hub.EConflict, "Username already exists.")
	}
}

// CreateUser inserts the user, its initial grants and the audit event in one
// transaction. A duplicate username, e-mail or Azure object id is EConflict.
func (db *DB) CreateUser(ctx context.Context, u *hub.User, grants []hub.Grant, ev *hub.AuditEvent) error {
	err := db.InTx(ctx, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO users (`+userColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			u.ID, u.Username, u.FullName, u.Email, u.HashedPassword, u.IsActive, u.IsSuperuser, string(u.Role),
			u.AuthSource, u.AzureObjectID, u.TokenGeneration, u.CreatedAt, u.UpdatedAt)
		if err != nil {
			return userConflict(err)
		}
		for i := range grants {
			grants[i].UserID = u.ID
			if err := insertGrant(ctx, tx, &grants[i]); err != nil {
				return err
			}
		}
		return insertAudit(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("sqlstore.CreateUser(%q): %w", u.Username, err)
	}
	return nil
}

// UserByID returns the user; ENotFound "User not found." when absent.
func (db *DB) UserByID(ctx context.Context, id string) (*hub.User, error) {
	u, err := scanUser(db.Read().QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
	return found(u, err, "User not found.", "UserByID(%q)", id)
}

// UsersByIDs returns the users with the given ids (valid UUIDs), in no
// particular order; unknown ids are left out.
func (db *DB) UsersByIDs(ctx context.Context, ids []string) ([]hub.User, error) {
	out := []hub.User{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := db.Read().Query(ctx, `SELECT `+userColumns+` FROM users WHERE id IN `+inClause(len(ids)), anySlice(ids)...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore.UsersByIDs: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore.UsersByIDs: %w", err)
		}
		out = append(out, *u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore.UsersByIDs: %w", err)
	}
	return out, nil
}

// UserByLogin finds a user by user name or e-mail, case-insensitively;
// ENotFound when there is none.
func (db *DB) UserByLogin(ctx context.Context, login string) (*hub.User, error) {
	login = strings.ToLower(login)
	u, err := scanUser(db.Read().QueryRow(ctx, `SELECT `+userColumns+` FROM users
		WHERE lower(username) = ? OR lower(email) = ? ORDER BY CASE WHEN lower(username) = ? THEN 0 ELSE 1 END LIMIT 1`,
		login, login, login))
	return found(u, err, "User not found.", "UserByLogin")
}

// UserByAzureObjectID finds the user linked to an Azure AD object id;
// ENotFound when there is none.
func (db *DB) UserByAzureObjectID(ctx context.Context, oid string) (*hub.User, error) {
	u, err := scanUser(db.Read().QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE azure_object_id = ?`, oid))
	return found(u, err, "User not found.", "UserByAzureObjectID")
}

// UserWithGrants returns the user with the given id and its grants, in one
// indexed read (the cost of authenticating a request); ENotFound "User not
// found." when absent.
func (db *DB) UserWithGrants(ctx context.Context, id string) (*hub.User, []hub.Grant, error) {
	return db.userWithGrants(ctx, "id", id)
}

// AzureUserWithGrants is UserWithGrants by Azure AD object id.
func (db *DB) AzureUserWithGrants(ctx context.Context, oid string) (*hub.User, []hub.Grant, error) {
	return db.userWithGrants(ctx, "azure_object_id", oid)
}

func (db *DB) userWithGrants(ctx context.Context, col, v string) (*hub.User, []hub.Grant, error) {
	var grants sql.NullString
	u, err := scanUser(db.Read().QueryRow(ctx, `SELECT `+userColumns+`, `+db.dialect.grantsJSON()+` FROM users WHERE `+col+` = ?`, v), &grants)
	if u, err = found(u, err, "User not found.", "UserWithGrants"); err != nil {
		return nil, nil, err
	}
	out := []hub.Grant{}
	if grants.Valid {
		if err := json.Unmarshal([]byte(grants.String), &out); err != nil {
			return nil, nil, fmt.Errorf("sqlstore.UserWithGrants: grants of %s: %w", u.ID, err)
		}
		for i := range out {
			out[i].CreatedAt = out[i].CreatedAt.UTC()
		}
	}
	return u, out, nil
}

// UsernameTaken reports whether a user name (any case) is in use.
func (db *DB) UsernameTaken(ctx context.Context, username string) (bool, error) {
	var n int
	err := db.Read().QueryRow(ctx, `SELECT COUNT(*) FROM users WHERE lower(username) = ?`, strings.ToLower(username)).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("sqlstore.UsernameTaken: %w", err)
	}
	return n > 0, nil
}

// EmailTaken reports whether an e-mail address (any case) is in use.
func (db *DB) EmailTaken(ctx context.Context, email string) (bool, error) {
	var n int
	err := db.Read().QueryRow(ctx, `SELECT COUNT(*) FROM users WHERE lower(email) = ?`, strings.ToLower(email)).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("sqlstore.EmailTaken: %w", err)
	}
	return n > 0, nil
}

// ListUsers returns users newest first, and how many there are in total.
func (db *DB) ListUsers(ctx context.Context, page hub.Page) ([]hub.User, int, error) {
	q := db.Read()
	var total int
	if err := q.QueryRow(ctx, `SELECT COUNT(*) FROM users`).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("sqlstore.ListUsers: %w", err)
	}
	rows, err := q.Query(ctx, `SELECT `+userColumns+` FROM users ORDER BY created_at DESC, id`+limitSQL(page.Limit)+` OFFSET ?`, page.Skip)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlstore.ListUsers: %w", err)
	}
	defer rows.Close()
	var out []hub.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("sqlstore.ListUsers: %w", err)
		}
		out = append(out, *u)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("sqlstore.ListUsers: %w", err)
	}
	return out, total, nil
}

// CountUsers returns the number of users.
func (db *DB) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := db.Read().QueryRow(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlstore.CountUsers: %w", err)
	}
	return n, nil
}

// UpdateUser applies the changes (RevokeTokens raises the token generation), refuses to leave the hub without an active
// local administrator (EConflict), and records the audit event, all in one
// transaction. A change of role, activity or superuser status first locks
// the administrators' rows, so that the check holds under concurrent
// changes. ENotFound when the user does not exist; EConflict when
// ExpectedHash is set and the stored password hash is another.
func (db *DB) UpdateUser(ctx context.Context, id string, ch hub.UserUpdate, ev *hub.AuditEvent) (*hub.User, error) {
	var out *hub.User
	err := db.InTx(ctx, func(tx *Tx) error {
		if ch.Role != nil || ch.IsActive != nil || ch.IsSuperuser != nil {
			if err := db.lockAdmins(ctx, tx); err != nil {
				return err
			}
		}
		u, err := scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`+db.dialect.forUpdate(), id))
		if errors.Is(err, sql.ErrNoRows) {
			return hub.Errorf(hub.ENotFound, "User not found.")
		}
		if err != nil {
			return err
		}
		if ch.ExpectedHash != nil && *ch.ExpectedHash != u.HashedPassword {
			return hub.Errorf(hub.EConflict, "The password was changed meanwhile; sign in again.")
		}
		wasAdmin := u.IsActive && (u.IsSuperuser || u.Role == hub.RoleAdmin)
		if ch.FullName != nil {
			u.FullName = *ch.FullName
		}
		if ch.Email != nil {
			u.Email = *ch.Email
		}
		if ch.Role != nil {
			u.Role = *ch.Role
		}
		if ch.IsActive != nil {
			u.IsActive = *ch.IsActive
		}
		if ch.IsSuperuser != nil {
			u.IsSuperuser = *ch.IsSuperuser
		}
		if ch.HashedPassword != nil {
			u.HashedPassword = *ch.HashedPassword
		}
		if ch.RevokeTokens {
			u.TokenGeneration++
		}
		u.UpdatedAt = ev.CreatedAt
		_, err = tx.Exec(ctx, `UPDATE users SET full_name = ?, email = ?, role = ?, is_active = ?, is_superuser = ?,
			hashed_password = ?, token_generation = ?, updated_at = ? WHERE id = ?`,
			u.FullName, u.Email, string(u.Role), u.IsActive, u.IsSuperuser, u.HashedPassword, u.TokenGeneration, u.UpdatedAt, u.ID)
		if err != nil {
			return userConflict(err)
		}
		isAdmin := u.IsActive && (u.IsSuperuser || u.Role == hub.RoleAdmin)
		if wasAdmin && !isAdmin {
			var admins int
			err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM users WHERE `+activeLocalAdmin, adminArgs...).Scan(&admins)
			if err != nil {
				return err
			}
			if admins == 0 {
				return hub.Errorf(hub.EConflict, "The last active local administrator cannot be demoted or deactivated.")
			}
		}
		out = u
		return insertAudit(ctx, tx, ev)
	})
	if err != nil {
		return nil, fmt.Errorf("sqlstore.UpdateUser(%q): %w", id, err)
	}
	return out, nil
}

// activeLocalAdmin selects the active local administrators (with adminArgs).
const activeLocalAdmin = `is_active = ? AND auth_source = ? AND (is_superuser = ? OR role = ?)`

var adminArgs = []any{true, hub.AuthSourceLocal, true, string(hub.RoleAdmin)}

// lockAdmins locks the rows of the active local administrators, in id
// order, for the rest of tx. Two concurrent changes that could each remove
// an administrator then run one after the other, and the second counts the
// administrators the first left: without it, on PostgreSQL, two
// administrators demoting each other at once both saw the other as the one
// remaining. SQLite needs no row locks: its write transactions hold the
// database from BEGIN.
func (db *DB) lockAdmins(ctx context.Context, tx *Tx) error {
	lock := db.dialect.forUpdate()
	if lock == "" {
		return nil
	}
	rows, err := tx.Query(ctx, `SELECT id FROM users WHERE `+activeLocalAdmin+` ORDER BY id`+lock, adminArgs...)
	if err != nil {
		return fmt.Errorf("lock administrators: %w", err)
	}
	defer rows.Close()
	var id string
	for rows.Next() { // each row is locked as it is read
		if err := rows.Scan(&id); err != nil {
			return fmt.Errorf("lock administrators: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("lock administrators: %w", err)
	}
	return nil
}

// insertAudit writes one audit event inside the caller's transaction.
func insertAudit(ctx context.Context, tx *Tx, ev *hub.AuditEvent) error {
	if ev == nil {
		return nil
	}
	meta := ev.Metadata
	if meta == nil {
		meta = map[string]any{}
	}
	b, err := json.Marshal(meta)
	if err != nil {
		return fmt.Errorf("audit metadata: %w", err)
	}
	var targetType, targetID *string
	if ev.TargetType != "" {
		targetType = &ev.TargetType
	}
	if ev.TargetID != "" {
		targetID = &ev.TargetID
	}
	_, err = tx.Exec(ctx, `INSERT INTO audit_events (actor_user_id, actor_subject, action, target_type, target_id, metadata_json, ip, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, ev.ActorUserID, ev.ActorSubject, ev.Action, targetType, targetID, string(b), ev.IP, ev.CreatedAt)
	if err != nil {
		return fmt.Errorf("insert audit event %s: %w", ev.Action, err)
	}
	return nil
}

// RecordAudit writes an audit event that accompanies no other change (a login).
func (db *DB) RecordAudit(ctx context.Context, ev *hub.AuditEvent) error {
	return db.InTx(ctx, func(tx *Tx) error { return insertAudit(ctx, tx, ev) })
}
