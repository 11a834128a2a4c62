package identity

import (
	"context"
	"strings"

	"automationhub/internal/audit"
	"automationhub/internal/hub"
)

// BootstrapResult tells what Bootstrap did.
type BootstrapResult struct {
	Created  bool
	Username string
	// Password is set only when it was generated (print it once).
	Password string
}

// Bootstrap creates the first administrator when the hub has no users:
// username and password from the arguments, or a strong random password when
// none is given. It does nothing when any user exists; when several processes
// start at once, one creates the account and the others see it exists.
func (s *Service) Bootstrap(ctx context.Context, username, password, email string) (BootstrapResult, error) {
	n, err := s.store.CountUsers(ctx)
	if err != nil || n > 0 {
		return BootstrapResult{}, err
	}
	res := BootstrapResult{Username: strings.TrimSpace(username)}
	if password == "" {
		password = randomSecret(18) // 24 characters, 144 bits
		res.Password = password
	}
	hash, err := HashPassword(password, s.cfg.BcryptCost)
	if err != nil {
		return BootstrapResult{}, err
	}
	e, err := normEmail(&email)
	if err != nil {
		return BootstrapResult{}, err
	}
	now := s.clock.Now()
	name := "Automation Hub administrator"
	u := &hub.User{
		ID: newID(), Username: res.Username, FullName: &name, Email: e, HashedPassword: hash,
		IsActive: true, IsSuperuser: true, Role: hub.RoleAdmin, AuthSource: hub.AuthSourceLocal,
		CreatedAt: now, UpdatedAt: now,
	}
	ev := audit.Event(nil, "user.bootstrapped", "user", u.ID, map[string]any{"user_id": u.ID, "username": u.Username}, now)
	err = s.store.CreateUser(ctx, u, nil, ev)
	if hub.ErrorKind(err) == hub.EConflict {
		return BootstrapResult{}, nil // another process created it
	}
	if err != nil {
		return BootstrapResult{}, err
	}
	res.Created = true
	return res, nil
}
