package identity

import (
	"context"
	"net/mail"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"automationhub/internal/audit"
	"automationhub/internal/hub"
	"automationhub/internal/rbac"
)

func newID() string { return uuid.NewString() }

// NewUser is the input of CreateUser.
type NewUser struct {
	Username    string
	Password    string
	Email       *string
	FullName    *string
	IsSuperuser bool
	// Role defaults to Viewer (Admin when IsSuperuser).
	Role hub.Role
}

func validPassword(pw string) error {
	if n := len([]rune(pw)); n < 8 || n > 128 {
		return hub.Errorf(hub.EUnprocessable, "password must be 8 to 128 characters.")
	}
	return nil
}

func normEmail(e *string) (*string, error) {
	if e == nil {
		return nil, nil
	}
	v := strings.TrimSpace(*e)
	if v == "" {
		return nil, nil
	}
	if a, err := mail.ParseAddress(v); err != nil || a.Address != v || len(v) > 255 {
		return nil, hub.Errorf(hub.EUnprocessable, "email is not a valid e-mail address.")
	}
	return &v, nil
}

// CreateUser creates a local user (admin only). Duplicate user name or
// e-mail is EConflict.
func (s *Service) CreateUser(ctx context.Context, p *hub.Principal, in NewUser) (*hub.User, error) {
	if err := requireAdmin(p); err != nil {
		return nil, err
	}
	in.Username = strings.TrimSpace(in.Username)
	if n := len([]rune(in.Username)); n < 3 || n > 128 {
		return nil, hub.Errorf(hub.EUnprocessable, "username must be 3 to 128 characters.")
	}
	if err := validPassword(in.Password); err != nil {
		return nil, err
	}
	email, err := normEmail(in.Email)
	if err != nil {
		return nil, err
	}
	if in.FullName != nil && len([]rune(*in.FullName)) > 255 {
		return nil, hub.Errorf(hub.EUnprocessable, "full_name must be at most 255 characters.")
	}
	role := in.Role
	switch {
	case in.IsSuperuser:
		role = hub.RoleAdmin
	case role == "":
		role = hub.RoleViewer
	case !role.Valid():
		return nil, hub.Errorf(hub.EUnprocessable, "role must be one of None, Viewer, Operator, Maintainer, Admin.")
	}
	hash, err := s.hashPassword(ctx, in.Password)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	u := &hub.User{
		ID: newID(), Username: in.Username, FullName: in.FullName, Email: email, HashedPassword: hash,
		IsActive: true, IsSuperuser: in.IsSuperuser, Role: role, AuthSource: hub.AuthSourceLocal,
		CreatedAt: now, UpdatedAt: now,
	}
	ev := audit.Event(p, "user.created", "user", u.ID, map[string]any{
		"user_id": u.ID, "username": u.Username, "role": string(role), "is_superuser": u.IsSuperuser,
	}, now)
	if err := s.store.CreateUser(ctx, u, nil, ev); err != nil {
		return nil, err
	}
	return u, nil
}

// ListUsers returns users newest first (admin only).
func (s *Service) ListUsers(ctx context.Context, p *hub.Principal, page hub.Page) ([]hub.User, int, error) {
	if err := requireAdmin(p); err != nil {
		return nil, 0, err
	}
	return s.store.ListUsers(ctx, page)
}

// UserChanges is the input of UpdateUser; nil fields stay unchanged.
type UserChanges struct {
	FullName    **string
	Email       **string
	Role        *hub.Role
	IsActive    *bool
	IsSuperuser *bool
	Password    *string
}

// UpdateUser edits a user (admin only). A new password or deactivation
// revokes the user's existing local tokens at once. The hub refuses to lose
// its last active local administrator (EConflict).
func (s *Service) UpdateUser(ctx context.Context, p *hub.Principal, id string, in UserChanges) (*hub.User, error) {
	if err := requireAdmin(p); err != nil {
		return nil, err
	}
	if _, err := uuid.Parse(id); err != nil {
		return nil, hub.Errorf(hub.ENotFound, "User not found.")
	}
	ch := hub.UserUpdate{FullName: in.FullName, Role: in.Role, IsActive: in.IsActive, IsSuperuser: in.IsSuperuser}
	changed := []string{}
	if in.FullName != nil {
		if *in.FullName != nil && len([]rune(**in.FullName)) > 255 {
			return nil, hub.Errorf(hub.EUnprocessable, "full_name must be at most 255 characters.")
		}
		changed = append(changed, "full_name")
	}
	if in.Email != nil {
		e, err := normEmail(*in.Email)
		if err != nil {
			return nil, err
		}
		ch.Email = &e
		changed = append(changed, "email")
	}
	if in.Role != nil {
		if !in.Role.Valid() {
			return nil, hub.Errorf(hub.EUnprocessable, "role must be one of None, Viewer, Operator, Maintainer, Admin.")
		}
		changed = append(changed, "role")
	}
	if in.IsSuperuser != nil {
		changed = append(changed, "is_superuser")
	}
	if in.IsActive != nil {
		changed = append(changed, "is_active")
		if !*in.IsActive {
			ch.RevokeTokens = true
		}
	}
	if in.Password != nil {
		if err := validPassword(*in.Password); err != nil {
			return nil, err
		}
		hash, err := s.hashPassword(ctx, *in.Password)
		if err != nil {
			return nil, err
		}
		ch.HashedPassword = &hash
		ch.RevokeTokens = true
		changed = append(changed, "password")
	}
	meta := map[string]any{"user_id": id, "changed": changed}
	if in.Role != nil {
		meta["role"] = string(*in.Role)
	}
	if in.IsActive != nil {
		meta["is_active"] = *in.IsActive
	}
	if in.IsSuperuser != nil {
		meta["is_superuser"] = *in.IsSuperuser
	}
	ev := audit.Event(p, "user.updated", "user", id, meta, s.clock.Now())
	return s.store.UpdateUser(ctx, id, ch, ev)
}

// Grants lists a user's grants (admin only); an unknown user has none.
func (s *Service) Grants(ctx context.Context, p *hub.Principal, userID string) ([]hub.Grant, error) {
	if err := requireAdmin(p); err != nil {
		return nil, err
	}
	if _, err := uuid.Parse(userID); err != nil {
		return []hub.Grant{}, nil
	}
	return s.store.GrantsOfUser(ctx, userID)
}

// NewGrant is the input of Grant.
type NewGrant struct {
	ResourceType string
	Action       string
	ResourceID   *string
	ScopeTag     *string
}

// Grant gives a user one permission, optionally narrowed to a robot or a
// robot tag (admin only). Unknown action or mismatched resource type is
// EInvalid; narrowing a permission that is never robot-scoped is EInvalid; a
// duplicate is EConflict; unknown user or robot is ENotFound.
func (s *Service) Grant(ctx context.Context, p *hub.Principal, userID string, in NewGrant) (*hub.Grant, error) {
	if err := requireAdmin(p); err != nil {
		return nil, err
	}
	if _, err := uuid.Parse(userID); err != nil {
		return nil, hub.Errorf(hub.ENotFound, "User not found.")
	}
	if _, err := s.store.UserByID(ctx, userID); err != nil {
		return nil, err
	}
	action := hub.Permission(strings.TrimSpace(in.Action))
	if !rbac.Known(action) {
		return nil, hub.Errorf(hub.EInvalid, "Invalid permission action.")
	}
	if want := rbac.ResourceType(action); strings.TrimSpace(in.ResourceType) != want {
		return nil, hub.Errorf(hub.EInvalid, "resource_type must be '%s' for action '%s'.", want, action)
	}
	if in.ScopeTag != nil {
		t := strings.TrimSpace(*in.ScopeTag)
		if t == "" {
			in.ScopeTag = nil
		} else {
			in.ScopeTag = &t
		}
	}
	if in.ResourceID != nil && *in.ResourceID == "" {
		in.ResourceID = nil
	}
	if (in.ResourceID != nil || in.ScopeTag != nil) && !rbac.RobotScoped(action) {
		return nil, hub.Errorf(hub.EInvalid, "Permission '%s' cannot be limited to a robot or tag.", action)
	}
	if in.ResourceID != nil {
		id, err := uuid.Parse(*in.ResourceID)
		if err != nil {
			return nil, hub.Errorf(hub.EUnprocessable, "resource_id must be a UUID.")
		}
		canon := id.String()
		in.ResourceID = &canon
		ok, err := s.store.RobotExists(ctx, canon)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, hub.Errorf(hub.ENotFound, "Robot not found.")
		}
	}
	now := s.clock.Now()
	g := &hub.Grant{UserID: userID, ResourceType: rbac.ResourceType(action), ResourceID: in.ResourceID, ScopeTag: in.ScopeTag, Action: action, CreatedAt: now}
	ev := audit.Event(p, "permission.granted", "permission", "", map[string]any{
		"target_user_id": userID, "action": string(action), "resource_type": g.ResourceType,
		"resource_id": g.ResourceID, "scope_tag": g.ScopeTag,
	}, now)
	if err := s.store.CreateGrant(ctx, g, ev); err != nil {
		return nil, err
	}
	return g, nil
}

// Revoke removes one grant of a user (admin only); ENotFound when the user
// has no such grant.
func (s *Service) Revoke(ctx context.Context, p *hub.Principal, userID string, grantID int64) error {
	if err := requireAdmin(p); err != nil {
		return err
	}
	if _, err := uuid.Parse(userID); err != nil {
		return hub.Errorf(hub.ENotFound, "Permission not found.")
	}
	ev := audit.Event(p, "permission.revoked", "permission", strconv.FormatInt(grantID, 10),
		map[string]any{"target_user_id": userID}, s.clock.Now())
	_, err := s.store.DeleteGrant(ctx, userID, grantID, ev)
	return err
}

// AuditEvents lists audit events (admin only).
func (s *Service) AuditEvents(ctx context.Context, p *hub.Principal, f hub.AuditFilter) ([]hub.AuditEvent, hub.ListInfo, error) {
	if err := requireAdmin(p); err != nil {
		return nil, hub.ListInfo{}, err
	}
	return s.store.ListAudit(ctx, f)
}
