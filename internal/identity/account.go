package identity

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"automationhub/internal/audit"
	"automationhub/internal/hub"
)

// Messages of the self-service account operations.
const (
	msgWrongPassword = "Current password is incorrect."
	msgNotLocal      = "Only local accounts have a password in the hub; Microsoft (Azure AD) accounts change it with Microsoft."
	msgTooManyIDs    = "ids must list at most %d user ids."
	msgBadID         = "ids must be user ids (UUIDs)."
)

// ChangePassword sets the caller's own password after checking the current
// one, under the same rules as an administrator's reset (8 to 128
// characters). Like a reset it revokes every token issued before, the
// caller's included, and returns a fresh token for the caller, so that only
// the session that made the change stays signed in.
//
// A wrong current password is EInvalid and counts as a failed login of the
// caller's name and address (the login limiter applies, and reserves the
// attempt before the check as Login does: ETooManyRequests); no free
// password-hashing slot in time is EUnavailable;
// an account without a local password (Azure AD) is EConflict, as is a
// concurrent change of the same password. Nothing changes on any error.
func (s *Service) ChangePassword(ctx context.Context, p *hub.Principal, current, next string) (string, error) {
	if p != nil && p.Token != nil {
		return "", hub.Errorf(hub.EForbidden, "API tokens cannot change passwords: sign in as the user.")
	}
	if p == nil || p.User == nil || p.AuthSource != hub.AuthSourceLocal || p.User.AuthSource != hub.AuthSourceLocal || p.User.ServiceAccount {
		return "", hub.Errorf(hub.EConflict, msgNotLocal)
	}
	u, now := p.User, s.clock.Now()
	att, err := s.reserveAttempt(p.ClientIP, strings.ToLower(u.Username), now)
	if err != nil {
		return "", err
	}
	defer att.finish()
	ok, err := s.checkPassword(ctx, u.HashedPassword, current)
	if err != nil {
		return "", err
	}
	if !ok {
		att.failed()
		return "", hub.Errorf(hub.EInvalid, msgWrongPassword)
	}
	if err := validPassword(next); err != nil {
		return "", err
	}
	hash, err := s.hashPassword(ctx, next)
	if err != nil {
		return "", err
	}
	ev := audit.Event(p, "auth.password_changed", "user", u.ID, map[string]any{"user_id": u.ID, "username": u.Username}, now)
	updated, err := s.store.UpdateUser(ctx, u.ID, hub.UserUpdate{HashedPassword: &hash, RevokeTokens: true, ExpectedHash: &u.HashedPassword}, ev)
	if err != nil {
		return "", err
	}
	att.succeeded()
	return issueToken(s.secret, updated.ID, updated.TokenGeneration, now, s.cfg.TokenTTL)
}

// MaxDirectoryIDs is how many user ids one Directory call may name.
const MaxDirectoryIDs = 100

// Directory names users for any signed-in caller: it returns the users with
// the given ids, of which callers should show only the user name and full
// name (never e-mail, role or status). It resolves ids and never lists:
// user ids are random and reach a caller only on objects the caller may
// read (who started a run, created a service, acted in the audit trail), so
// naming them shows nothing beyond those objects. Unknown ids are left
// out; malformed ids or more than MaxDirectoryIDs are EUnprocessable.
func (s *Service) Directory(ctx context.Context, p *hub.Principal, ids []string) ([]hub.User, error) {
	if p == nil {
		return nil, hub.Errorf(hub.EUnauthorized, msgNotAuthenticated)
	}
	var canon []string
	for _, id := range ids {
		if id = strings.TrimSpace(id); id == "" {
			continue
		}
		u, err := uuid.Parse(id)
		if err != nil {
			return nil, hub.Errorf(hub.EUnprocessable, msgBadID)
		}
		if !slices.Contains(canon, u.String()) {
			canon = append(canon, u.String())
		}
	}
	if len(canon) > MaxDirectoryIDs {
		return nil, hub.Errorf(hub.EUnprocessable, msgTooManyIDs, MaxDirectoryIDs)
	}
	return s.store.UsersByIDs(ctx, canon)
}

// auditFailedLogin records a refused login — the name tried, the reason and
// the client address, never the password — within the failed-login audit
// budget; beyond it the attempt is only counted, and the count is written
// with the next recorded failure.
func (s *Service) auditFailedLogin(ctx context.Context, u *hub.User, login, clientIP, reason string, now time.Time) {
	ok, unrecorded := s.failedLogins.take(now)
	if !ok {
		return
	}
	meta := map[string]any{"username": cut(strings.TrimSpace(login), 128), "reason": reason}
	if unrecorded > 0 {
		meta["unrecorded_attempts"] = unrecorded
	}
	targetType, target := "", "" // a name that is nobody's targets no one
	if u != nil {
		targetType, target = "user", u.ID
	}
	ev := audit.Event(&hub.Principal{ClientIP: clientIP}, "auth.login_failed", targetType, target, meta, now)
	if err := s.store.RecordAudit(ctx, ev); err != nil {
		// The login is refused either way; the trail is best effort here.
		s.log.WarnContext(ctx, "failed login not audited", "error", err)
	}
}
