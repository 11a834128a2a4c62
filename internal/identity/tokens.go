package identity

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"automationhub/internal/audit"
	"automationhub/internal/hub"
	"automationhub/internal/rbac"
)

// API tokens are 32 random bytes (256 bits) after hub.APITokenPrefix. Only
// their SHA-256 is stored: a fast hash is enough for a secret of that
// entropy (nothing to guess from the hash, unlike a password), and it lets
// a request find its token with one read of a unique index.
const tokenBytes = 32

// TokenUseInterval is how often a token's last_used_at is written at most:
// reads stay reads.
const TokenUseInterval = time.Minute

// maxTokensListed bounds a token list.
const maxTokensListed = 1000

// Messages about API tokens.
const (
	msgTokenExpired      = "The API token has expired."
	msgTokenUserInactive = "The API token's user is deactivated."
	msgTokensNeedSignIn  = "API tokens cannot create or revoke tokens: sign in as the user."
)

// HashToken returns the hex SHA-256 of a token, as it is stored.
func HashToken(raw string) string {
	sum := sha256.Sum256([]byte(raw))
	return hex.EncodeToString(sum[:])
}

// tokenPrincipal authenticates an API token: one read finds it with its
// user, the user's grants and its robot's tags. An unknown (or revoked)
// token, an expired one and one of a deactivated user are EUnauthorized.
// The principal holds what the user holds now, narrowed to the token
// (rbac.ForToken).
func (s *Service) tokenPrincipal(ctx context.Context, raw, clientIP string) (*hub.Principal, error) {
	t, u, grants, err := s.store.TokenWithUser(ctx, HashToken(raw))
	if hub.ErrorKind(err) == hub.ENotFound {
		return nil, hub.Errorf(hub.EUnauthorized, msgInvalidToken)
	}
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	switch {
	case t.Expired(now):
		return nil, hub.Errorf(hub.EUnauthorized, msgTokenExpired)
	case !u.IsActive:
		return nil, hub.Errorf(hub.EUnauthorized, msgTokenUserInactive)
	}
	role := u.Role
	if u.IsSuperuser {
		role = hub.RoleAdmin
	}
	user := &hub.Principal{User: u, Subject: u.ID, Role: role, AuthSource: u.AuthSource, Grants: grants, ClientIP: clientIP}
	s.touchToken(ctx, t, now)
	return rbac.ForToken(user, t), nil
}

// touchToken records the token's use, at most once per TokenUseInterval
// per token: the process remembers what it wrote, and the database keeps
// the newer time when several servers write.
func (s *Service) touchToken(ctx context.Context, t *hub.APIToken, now time.Time) {
	if t.LastUsedAt != nil && now.Sub(*t.LastUsedAt) < TokenUseInterval {
		return
	}
	if last, ok := s.tokenUses.Load(t.ID); ok && now.Sub(last.(time.Time)) < TokenUseInterval {
		return
	}
	s.tokenUses.Store(t.ID, now)
	if err := s.store.TouchToken(ctx, t.ID, now, now.Add(-TokenUseInterval)); err != nil {
		s.log.WarnContext(ctx, "recording a token's use failed", "token_id", t.ID, "error", err.Error())
	}
}

// NewToken is the input of CreateToken.
type NewToken struct {
	Name        string
	Permissions []hub.Permission
	// RobotID or ScopeTag (not both) narrow the token to one robot or to
	// the robots carrying a tag.
	RobotID  *string
	ScopeTag *string
	// ExpiresAt is when the token stops working; nil: never.
	ExpiresAt *time.Time
}

// CreateToken makes an API token for the caller's own user. Its
// permissions must be ones the caller holds (within the scope); the token
// is returned once, with its record. A request made with an API token
// cannot make tokens (EForbidden).
func (s *Service) CreateToken(ctx context.Context, p *hub.Principal, in NewToken) (*hub.APIToken, string, error) {
	if err := tokenManager(p); err != nil {
		return nil, "", err
	}
	return s.createToken(ctx, p, p, in)
}

// CreateServiceAccountToken makes an API token for a service account
// (admin.manage). Its permissions must be ones the account holds.
func (s *Service) CreateServiceAccountToken(ctx context.Context, p *hub.Principal, accountID string, in NewToken) (*hub.APIToken, string, error) {
	if err := requireAdmin(p); err != nil {
		return nil, "", err
	}
	if err := tokenManager(p); err != nil {
		return nil, "", err
	}
	id, err := uuid.Parse(accountID)
	if err != nil {
		return nil, "", hub.Errorf(hub.ENotFound, "Service account not found.")
	}
	u, grants, err := s.store.UserWithGrants(ctx, id.String())
	if hub.ErrorKind(err) == hub.ENotFound || err == nil && !u.ServiceAccount {
		return nil, "", hub.Errorf(hub.ENotFound, "Service account not found.")
	}
	if err != nil {
		return nil, "", err
	}
	role := u.Role
	if u.IsSuperuser {
		role = hub.RoleAdmin
	}
	owner := &hub.Principal{User: u, Subject: u.ID, Role: role, AuthSource: u.AuthSource, Grants: grants}
	return s.createToken(ctx, p, owner, in)
}

// tokenManager refuses callers that cannot manage tokens: a request made
// with an API token (a leaked token must not make others), and callers
// without a hub user.
func tokenManager(p *hub.Principal) error {
	switch {
	case p == nil || p.User == nil:
		return hub.Errorf(hub.EForbidden, "Only hub users have API tokens.")
	case p.Token != nil:
		return hub.Errorf(hub.EForbidden, msgTokensNeedSignIn)
	}
	return nil
}

// createToken makes a token of owner's user, created by p: its
// permissions must be ones both hold within the scope.
func (s *Service) createToken(ctx context.Context, p, owner *hub.Principal, in NewToken) (*hub.APIToken, string, error) {
	name := strings.TrimSpace(in.Name)
	if n := len([]rune(name)); n < 1 || n > 200 {
		return nil, "", hub.Errorf(hub.EUnprocessable, "name must be 1 to 200 characters.")
	}
	if len(in.Permissions) == 0 {
		return nil, "", hub.Errorf(hub.EUnprocessable, "permissions must list at least one permission.")
	}
	if in.RobotID != nil && in.ScopeTag != nil {
		return nil, "", hub.Errorf(hub.EInvalid, "Give robot_id or scope_tag, not both.")
	}
	now := s.clock.Now()
	if in.ExpiresAt != nil && !in.ExpiresAt.After(now) {
		return nil, "", hub.Errorf(hub.EInvalid, "expires_at must be in the future.")
	}
	var robot *hub.RobotRef
	if in.RobotID != nil {
		id, err := uuid.Parse(*in.RobotID)
		if err != nil {
			return nil, "", hub.Errorf(hub.EInvalid, "robot_id invalido.")
		}
		r, err := s.store.RobotByID(ctx, id.String())
		if err != nil {
			return nil, "", err
		}
		robot, in.RobotID = r.Ref(), &r.ID
	}
	tag := ""
	if in.ScopeTag != nil {
		tag = strings.TrimSpace(*in.ScopeTag)
		if tag == "" || len([]rune(tag)) > 100 {
			return nil, "", hub.Errorf(hub.EUnprocessable, "scope_tag must be 1 to 100 characters.")
		}
		in.ScopeTag = &tag
	}
	var perms []hub.Permission
	for _, perm := range in.Permissions {
		if !rbac.Known(perm) {
			return nil, "", hub.Errorf(hub.EInvalid, "Invalid permission action.")
		}
		if slices.Contains(perms, perm) {
			continue
		}
		if !rbac.Delegable(p, perm, robot, tag) {
			return nil, "", hub.Errorf(hub.EForbidden, "You do not hold %s%s, so a token cannot have it.", perm, scopeWords(robot, tag))
		}
		if owner != p && !rbac.Delegable(owner, perm, robot, tag) {
			return nil, "", hub.Errorf(hub.EInvalid, "The service account does not hold %s%s: grant it first.", perm, scopeWords(robot, tag))
		}
		perms = append(perms, perm)
	}
	raw := make([]byte, tokenBytes)
	_, _ = rand.Read(raw)
	token := hub.APITokenPrefix + base64.RawURLEncoding.EncodeToString(raw)
	t := &hub.APIToken{ID: newID(), UserID: owner.User.ID, Name: name, Hash: HashToken(token), Hint: token[:len(hub.APITokenPrefix)+6],
		Permissions: perms, RobotID: in.RobotID, ScopeTag: in.ScopeTag, ExpiresAt: in.ExpiresAt, CreatedAt: now, CreatedBy: p.UserID()}
	meta := map[string]any{"name": name, "user_id": owner.User.ID, "permissions": perms, "robot_id": in.RobotID, "scope_tag": in.ScopeTag, "expires_at": in.ExpiresAt}
	if err := s.store.CreateToken(ctx, t, audit.Event(p, "api_token.created", "api_token", t.ID, meta, now)); err != nil {
		return nil, "", err
	}
	return t, token, nil
}

func scopeWords(robot *hub.RobotRef, tag string) string {
	switch {
	case robot != nil:
		return " on that robot"
	case tag != "":
		return " on the robots tagged " + tag
	}
	return ""
}

// Tokens lists API tokens newest first: the caller's own; an administrator
// may ask for a user's (userID) or everyone's (all). Not with an API token.
func (s *Service) Tokens(ctx context.Context, p *hub.Principal, userID string, all bool) ([]hub.APIToken, error) {
	if err := tokenManager(p); err != nil {
		return nil, err
	}
	if userID == "" && !all {
		userID = p.User.ID
	}
	if userID != p.User.ID {
		if err := requireAdmin(p); err != nil {
			return nil, err
		}
		if userID != "" {
			id, err := uuid.Parse(userID)
			if err != nil {
				return nil, hub.Errorf(hub.EUnprocessable, "user_id must be a UUID.")
			}
			userID = id.String()
		}
	}
	return s.store.Tokens(ctx, userID, maxTokensListed)
}

// RevokeToken deletes an API token at once: the caller's own, or any
// (admin.manage). A request made with an API token cannot revoke.
func (s *Service) RevokeToken(ctx context.Context, p *hub.Principal, id string) error {
	if err := tokenManager(p); err != nil {
		return err
	}
	tid, err := uuid.Parse(id)
	if err != nil {
		return hub.Errorf(hub.ENotFound, "Token not found.")
	}
	t, err := s.store.TokenByID(ctx, tid.String())
	if err != nil {
		return err
	}
	if t.UserID != p.User.ID && !rbac.IsAdmin(p) {
		return hub.Errorf(hub.ENotFound, "Token not found.") // others' tokens are not even named
	}
	ev := audit.Event(p, "api_token.revoked", "api_token", t.ID, map[string]any{"name": t.Name, "user_id": t.UserID}, s.clock.Now())
	return s.store.DeleteToken(ctx, t.ID, ev)
}

// NewServiceAccount is the input of CreateServiceAccount.
type NewServiceAccount struct {
	Username string
	FullName *string
	// Role defaults to None: the account holds only what it is granted.
	Role hub.Role
}

// CreateServiceAccount creates an account for programs (admin.manage): it
// has no password and authenticates only with API tokens.
func (s *Service) CreateServiceAccount(ctx context.Context, p *hub.Principal, in NewServiceAccount) (*hub.User, error) {
	if err := requireAdmin(p); err != nil {
		return nil, err
	}
	in.Username = strings.TrimSpace(in.Username)
	if n := len([]rune(in.Username)); n < 3 || n > 128 {
		return nil, hub.Errorf(hub.EUnprocessable, "username must be 3 to 128 characters.")
	}
	if in.FullName != nil && len([]rune(*in.FullName)) > 255 {
		return nil, hub.Errorf(hub.EUnprocessable, "full_name must be at most 255 characters.")
	}
	role := in.Role
	if role == "" {
		role = hub.RoleNone
	}
	if !role.Valid() {
		return nil, hub.Errorf(hub.EUnprocessable, "role must be one of None, Viewer, Operator, Maintainer, Admin.")
	}
	now := s.clock.Now()
	u := &hub.User{ID: newID(), Username: in.Username, FullName: in.FullName, HashedPassword: noPassword, IsActive: true,
		Role: role, AuthSource: hub.AuthSourceLocal, ServiceAccount: true, CreatedAt: now, UpdatedAt: now}
	ev := audit.Event(p, "service_account.created", "user", u.ID, map[string]any{"user_id": u.ID, "username": u.Username, "role": string(role)}, now)
	if err := s.store.CreateUser(ctx, u, nil, ev); err != nil {
		return nil, err
	}
	return u, nil
}

// noPassword is the password hash of a service account: no password
// matches it (it is not a bcrypt hash), and Login refuses such accounts.
const noPassword = "!service-account"

// ServiceAccounts lists the service accounts (admin.manage).
func (s *Service) ServiceAccounts(ctx context.Context, p *hub.Principal) ([]hub.User, error) {
	if err := requireAdmin(p); err != nil {
		return nil, err
	}
	return s.store.ServiceAccounts(ctx)
}
