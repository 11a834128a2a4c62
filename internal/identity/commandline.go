package identity

import (
	"context"
	"strings"

	"github.com/google/uuid"

	"automationhub/internal/hub"
)

// CommandLineSubject prefixes the audit subject of changes made with the
// hub's administration commands (hub user …): "cli:" followed by who ran
// them, e.g. "cli:root@host-a".
const CommandLineSubject = "cli:"

// CommandLine returns the principal of an administrator at the hub's
// command line, who works on the database directly (for when nobody can
// sign in). It has the Admin role and no user, so the service's rules
// (password policy, roles, the last administrator) apply as for any
// administrator, and audit events record no actor user but the subject
// CommandLineSubject+who.
func CommandLine(who string) *hub.Principal {
	return &hub.Principal{Subject: CommandLineSubject + who, Role: hub.RoleAdmin, AuthSource: "cli"}
}

// GeneratePassword returns a strong random password (24 characters, 144
// bits), as generated for the first administrator.
func GeneratePassword() string { return randomSecret(18) }

// CheckPasswordPolicy returns the EUnprocessable error CreateUser and
// UpdateUser give a password that breaks the policy, or nil.
func CheckPasswordPolicy(password string) error { return validPassword(password) }

// FindUser returns the user with the given id, or with the given user name
// or e-mail address (any case); admin only. ENotFound when there is none.
func (s *Service) FindUser(ctx context.Context, p *hub.Principal, login string) (*hub.User, error) {
	if err := requireAdmin(p); err != nil {
		return nil, err
	}
	login = strings.TrimSpace(login)
	if id, err := uuid.Parse(login); err == nil {
		return s.store.UserByID(ctx, id.String())
	}
	if login == "" {
		return nil, hub.Errorf(hub.ENotFound, "User not found.")
	}
	return s.store.UserByLogin(ctx, login)
}
