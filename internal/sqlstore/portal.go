package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"automationhub/internal/hub"
)

const domainColumns = `id, name, slug, description, created_at, updated_at`

func scanDomain(row interface{ Scan(...any) error }) (*hub.Domain, error) {
	var d hub.Domain
	var desc sql.NullString
	if err := row.Scan(&d.ID, &d.Name, &d.Slug, &desc, &d.CreatedAt, &d.UpdatedAt); err != nil {
		return nil, err
	}
	d.Description = nullStr(desc)
	d.CreatedAt, d.UpdatedAt = d.CreatedAt.UTC(), d.UpdatedAt.UTC()
	return &d, nil
}

func domainConflict(err error) error {
	c := uniqueConstraint(err)
	switch {
	case c == "":
		return err
	case strings.Contains(c, "slug"):
		return hub.Errorf(hub.EInvalid, "Domain slug already exists.")
	default:
		return hub.Errorf(hub.EInvalid, "Domain name already exists.")
	}
}

// CreateDomain stores a domain with its audit event. Duplicate name or slug
// is EInvalid with the previous backend's messages.
func (db *DB) CreateDomain(ctx context.Context, d *hub.Domain, ev *hub.AuditEvent) error {
	err := db.InTx(ctx, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO domains (`+domainColumns+`) VALUES (?, ?, ?, ?, ?, ?)`, d.ID, d.Name, d.Slug, d.Description, d.CreatedAt, d.UpdatedAt)
		if err != nil {
			return domainConflict(err)
		}
		return insertAudit(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("sqlstore.CreateDomain: %w", err)
	}
	return nil
}

// UpdateDomain rewrites a domain with its audit event.
func (db *DB) UpdateDomain(ctx context.Context, d *hub.Domain, ev *hub.AuditEvent) error {
	err := db.InTx(ctx, func(tx *Tx) error {
		res, err := tx.Exec(ctx, `UPDATE domains SET name = ?, slug = ?, description = ?, updated_at = ? WHERE id = ?`, d.Name, d.Slug, d.Description, d.UpdatedAt, d.ID)
		if err != nil {
			return domainConflict(err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return hub.Errorf(hub.ENotFound, "Domain not found.")
		}
		return insertAudit(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("sqlstore.UpdateDomain: %w", err)
	}
	return nil
}

// DeleteDomain removes a domain that has no services.
func (db *DB) DeleteDomain(ctx context.Context, id string, ev *hub.AuditEvent) error {
	err := db.InTx(ctx, func(tx *Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM services WHERE domain_id = ?`, id).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return hub.Errorf(hub.EInvalid, "Domain has linked services. Remove or move services before deleting the domain.")
		}
		res, err := tx.Exec(ctx, `DELETE FROM domains WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return hub.Errorf(hub.ENotFound, "Domain not found.")
		}
		return insertAudit(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("sqlstore.DeleteDomain: %w", err)
	}
	return nil
}

// DomainByID returns a domain; ENotFound "Domain not found.".
func (db *DB) DomainByID(ctx context.Context, id string) (*hub.Domain, error) {
	return db.domainWhere(ctx, "id", id)
}

// DomainBySlug returns a domain; ENotFound "Domain not found.".
func (db *DB) DomainBySlug(ctx context.Context, slug string) (*hub.Domain, error) {
	return db.domainWhere(ctx, "slug", slug)
}

func (db *DB) domainWhere(ctx context.Context, col, v string) (*hub.Domain, error) {
	d, err := scanDomain(db.Read().QueryRow(ctx, `SELECT `+domainColumns+` FROM domains WHERE `+col+` = ?`, v))
	return found(d, err, "Domain not found.", "Domain")
}

// ListDomains returns domains by name.
func (db *DB) ListDomains(ctx context.Context, page hub.Page) ([]hub.Domain, error) {
	rows, err := db.Read().Query(ctx, `SELECT `+domainColumns+` FROM domains ORDER BY name, id`+limitSQL(page.Limit)+` OFFSET ?`, page.Skip)
	if err != nil {
		return nil, fmt.Errorf("sqlstore.ListDomains: %w", err)
	}
	defer rows.Close()
	out := []hub.Domain{}
	for rows.Next() {
		d, err := scanDomain(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *d)
	}
	return out, rows.Err()
}

const serviceColumns = `id, domain_id, robot_id, title, description, icon, enabled, default_version_id, form_schema_json,
	run_template_json, created_by, created_at, updated_at`

func scanService(row interface{ Scan(...any) error }) (*hub.Service, error) {
	var (
		s                            hub.Service
		desc, icon, version, creator sql.NullString
		form, tmpl                   string
	)
	if err := row.Scan(&s.ID, &s.DomainID, &s.RobotID, &s.Title, &desc, &icon, &s.Enabled, &version, &form, &tmpl, &creator, &s.CreatedAt, &s.UpdatedAt); err != nil {
		return nil, err
	}
	s.Description, s.Icon, s.DefaultVersionID, s.CreatedBy = nullStr(desc), nullStr(icon), nullStr(version), nullStr(creator)
	s.FormSchema, s.RunTemplate = []byte(form), []byte(tmpl)
	s.CreatedAt, s.UpdatedAt = s.CreatedAt.UTC(), s.UpdatedAt.UTC()
	return &s, nil
}

func serviceConflict(err error) error {
	switch {
	case IsUniqueViolation(err):
		return hub.Errorf(hub.EInvalid, "Service title already exists in this domain.")
	case IsForeignKeyViolation(err):
		return hub.Errorf(hub.ENotFound, "Domain or robot not found.")
	}
	return err
}

// CreateService stores a service with its audit event.
func (db *DB) CreateService(ctx context.Context, s *hub.Service, ev *hub.AuditEvent) error {
	err := db.InTx(ctx, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO services (`+serviceColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			s.ID, s.DomainID, s.RobotID, s.Title, s.Description, s.Icon, s.Enabled, s.DefaultVersionID, string(s.FormSchema),
			string(s.RunTemplate), s.CreatedBy, s.CreatedAt, s.UpdatedAt)
		if err != nil {
			return serviceConflict(err)
		}
		return insertAudit(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("sqlstore.CreateService: %w", err)
	}
	return nil
}

// UpdateService rewrites a service with its audit event.
func (db *DB) UpdateService(ctx context.Context, s *hub.Service, ev *hub.AuditEvent) error {
	err := db.InTx(ctx, func(tx *Tx) error {
		res, err := tx.Exec(ctx, `UPDATE services SET domain_id = ?, robot_id = ?, title = ?, description = ?, icon = ?, enabled = ?,
			default_version_id = ?, form_schema_json = ?, run_template_json = ?, updated_at = ? WHERE id = ?`,
			s.DomainID, s.RobotID, s.Title, s.Description, s.Icon, s.Enabled, s.DefaultVersionID, string(s.FormSchema), string(s.RunTemplate), s.UpdatedAt, s.ID)
		if err != nil {
			return serviceConflict(err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return hub.Errorf(hub.ENotFound, "Service not found.")
		}
		return insertAudit(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("sqlstore.UpdateService: %w", err)
	}
	return nil
}

// DeleteService removes a service that no run references.
func (db *DB) DeleteService(ctx context.Context, id string, ev *hub.AuditEvent) error {
	err := db.InTx(ctx, func(tx *Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM runs WHERE service_id = ?`, id).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return hub.Errorf(hub.EInvalid, "Service has historical runs and cannot be deleted. Disable it instead.")
		}
		res, err := tx.Exec(ctx, `DELETE FROM services WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return hub.Errorf(hub.ENotFound, "Service not found.")
		}
		return insertAudit(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("sqlstore.DeleteService: %w", err)
	}
	return nil
}

// ServiceByID returns a service; ENotFound "Service not found.".
func (db *DB) ServiceByID(ctx context.Context, id string) (*hub.Service, error) {
	s, err := scanService(db.Read().QueryRow(ctx, `SELECT `+serviceColumns+` FROM services WHERE id = ?`, id))
	return found(s, err, "Service not found.", "ServiceByID")
}

// ListServices returns services newest first, limited to f.Scope.
func (db *DB) ListServices(ctx context.Context, f hub.ServiceFilter) ([]hub.Service, error) {
	cond, args, ok := scopeCondition(f.Scope, "services.robot_id")
	if !ok {
		return []hub.Service{}, nil
	}
	var where []string
	if cond != "" {
		where = append(where, cond)
	}
	if f.DomainID != "" {
		where = append(where, "domain_id = ?")
		args = append(args, f.DomainID)
	}
	if f.EnabledOnly {
		where = append(where, "enabled = ?")
		args = append(args, true)
	}
	clause := ""
	if len(where) > 0 {
		clause = " WHERE " + strings.Join(where, " AND ")
	}
	rows, err := db.Read().Query(ctx, `SELECT `+serviceColumns+` FROM services`+clause+` ORDER BY created_at DESC, id`+limitSQL(f.Limit)+` OFFSET ?`, append(args, f.Skip)...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore.ListServices: %w", err)
	}
	defer rows.Close()
	out := []hub.Service{}
	for rows.Next() {
		s, err := scanService(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *s)
	}
	return out, rows.Err()
}
