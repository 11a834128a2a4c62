package identity_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"automationhub/internal/hub"
	"automationhub/internal/hubtest"
	"automationhub/internal/identity"
	"automationhub/internal/rbac"
)

func TestAPITokens(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			b := setup(t, dialect, nil)
			ctx := context.Background()
			b.newUser(t, "maria", hub.RoleMaintainer)
			maria, err := b.svc.Authenticate(ctx, b.login(t, "maria"), "")
			if err != nil {
				t.Fatal(err)
			}
			exp := b.clock.Now().Add(24 * time.Hour)
			rec, tok, err := b.svc.CreateToken(ctx, maria, identity.NewToken{Name: " ci ", Permissions: []hub.Permission{hub.PermRobotPublish, hub.PermRobotPublish, hub.PermRobotRead}, ExpiresAt: &exp})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(tok, "hub_") || len(tok) != 4+43 || rec.Name != "ci" || len(rec.Permissions) != 2 || !strings.HasPrefix(tok, rec.Hint) {
				t.Fatalf("token %q record %+v", tok, rec)
			}
			// Stored as a hash only.
			var stored string
			if err := b.db.Read().QueryRow(ctx, `SELECT token_hash FROM api_tokens WHERE id = ?`, rec.ID).Scan(&stored); err != nil {
				t.Fatal(err)
			}
			if stored == tok || stored != identity.HashToken(tok) {
				t.Errorf("stored %q", stored)
			}
			p, err := b.svc.Authenticate(ctx, "  "+tok+" ", "10.1.1.1")
			if err != nil {
				t.Fatal(err)
			}
			if p.Token == nil || p.Token.ID != rec.ID || p.User.Username != "maria" || p.ClientIP != "10.1.1.1" {
				t.Errorf("principal %+v", p)
			}
			if !rbac.Allowed(p, hub.PermRobotPublish, &hub.RobotRef{ID: "x"}) || rbac.Has(p, hub.PermRobotRun) {
				t.Errorf("token rights: publish %v, run %v", rbac.Has(p, hub.PermRobotPublish), rbac.Has(p, hub.PermRobotRun))
			}
			// last_used_at: written on first use, then at most once a minute.
			list, err := b.svc.Tokens(ctx, maria, "", false)
			if err != nil || len(list) != 1 || list[0].LastUsedAt == nil {
				t.Fatalf("tokens = %+v, %v", list, err)
			}
			first := *list[0].LastUsedAt
			b.clock.Add(30 * time.Second)
			b.svc.Authenticate(ctx, tok, "")
			if l, _ := b.svc.Tokens(ctx, maria, "", false); !l[0].LastUsedAt.Equal(first) {
				t.Errorf("last used moved within a minute: %v → %v", first, l[0].LastUsedAt)
			}
			b.clock.Add(31 * time.Second)
			b.svc.Authenticate(ctx, tok, "")
			if l, _ := b.svc.Tokens(ctx, maria, "", false); !l[0].LastUsedAt.After(first) {
				t.Errorf("last used not updated after a minute: %v", l[0].LastUsedAt)
			}
			// A token cannot make or revoke tokens.
			if _, _, err := b.svc.CreateToken(ctx, p, identity.NewToken{Name: "x", Permissions: []hub.Permission{hub.PermRobotRead}}); hub.ErrorKind(err) != hub.EForbidden {
				t.Errorf("token making a token: %v", err)
			}
			if err := b.svc.RevokeToken(ctx, p, rec.ID); hub.ErrorKind(err) != hub.EForbidden {
				t.Errorf("token revoking: %v", err)
			}
			// Others cannot see or revoke it; an admin can.
			b.newUser(t, "otto", hub.RoleOperator)
			otto, _ := b.svc.Authenticate(ctx, b.login(t, "otto"), "")
			if err := b.svc.RevokeToken(ctx, otto, rec.ID); hub.ErrorKind(err) != hub.ENotFound {
				t.Errorf("other user revoking: %v", err)
			}
			if _, err := b.svc.Tokens(ctx, otto, maria.User.ID, false); hub.ErrorKind(err) != hub.EForbidden {
				t.Errorf("other user listing: %v", err)
			}
			if all, err := b.svc.Tokens(ctx, b.admin, "", true); err != nil || len(all) != 1 {
				t.Errorf("admin list = %v, %v", all, err)
			}
			// Expiry.
			b.clock.Add(25 * time.Hour)
			if _, err := b.svc.Authenticate(ctx, tok, ""); hub.ErrorKind(err) != hub.EUnauthorized || hub.ErrorMessage(err) != "The API token has expired." {
				t.Errorf("expired: %v", err)
			}
			// Revocation is immediate.
			_, tok2, err := b.svc.CreateToken(ctx, maria, identity.NewToken{Name: "two", Permissions: []hub.Permission{hub.PermRobotRead}})
			if err != nil {
				t.Fatal(err)
			}
			l, _ := b.svc.Tokens(ctx, maria, "", false)
			if err := b.svc.RevokeToken(ctx, b.admin, l[0].ID); err != nil {
				t.Fatal(err)
			}
			if _, err := b.svc.Authenticate(ctx, tok2, ""); hub.ErrorKind(err) != hub.EUnauthorized {
				t.Errorf("revoked: %v", err)
			}
			if _, err := b.svc.Authenticate(ctx, "hub_"+strings.Repeat("A", 43), ""); hub.ErrorKind(err) != hub.EUnauthorized {
				t.Errorf("unknown token: %v", err)
			}
			// A deactivated user's tokens stop at once.
			_, tok3, _ := b.svc.CreateToken(ctx, maria, identity.NewToken{Name: "three", Permissions: []hub.Permission{hub.PermRobotRead}})
			off := false
			if _, err := b.svc.UpdateUser(ctx, b.admin, maria.User.ID, identity.UserChanges{IsActive: &off}); err != nil {
				t.Fatal(err)
			}
			if _, err := b.svc.Authenticate(ctx, tok3, ""); hub.ErrorKind(err) != hub.EUnauthorized {
				t.Errorf("deactivated user's token: %v", err)
			}
		})
	}
}

func TestTokenCreationRefuses(t *testing.T) {
	b := setup(t, hubtest.Dialects()[0], nil)
	ctx := context.Background()
	b.newUser(t, "otto", hub.RoleOperator)
	otto, _ := b.svc.Authenticate(ctx, b.login(t, "otto"), "")
	past := b.clock.Now().Add(-time.Minute)
	robot := uuid.NewString()
	tag := "finance"
	tests := []struct {
		name string
		in   identity.NewToken
		kind string
	}{
		{"no name", identity.NewToken{Permissions: []hub.Permission{hub.PermRobotRead}}, hub.EUnprocessable},
		{"no permissions", identity.NewToken{Name: "x"}, hub.EUnprocessable},
		{"unknown permission", identity.NewToken{Name: "x", Permissions: []hub.Permission{"robot.delete"}}, hub.EInvalid},
		{"more than the user", identity.NewToken{Name: "x", Permissions: []hub.Permission{hub.PermRobotPublish}}, hub.EForbidden},
		{"admin for a non-admin", identity.NewToken{Name: "x", Permissions: []hub.Permission{hub.PermAdminManage}}, hub.EForbidden},
		{"expired", identity.NewToken{Name: "x", Permissions: []hub.Permission{hub.PermRobotRead}, ExpiresAt: &past}, hub.EInvalid},
		{"robot and tag", identity.NewToken{Name: "x", Permissions: []hub.Permission{hub.PermRobotRead}, RobotID: &robot, ScopeTag: &tag}, hub.EInvalid},
		{"unknown robot", identity.NewToken{Name: "x", Permissions: []hub.Permission{hub.PermRobotRead}, RobotID: &robot}, hub.ENotFound},
	}
	for _, tt := range tests {
		if _, _, err := b.svc.CreateToken(ctx, otto, tt.in); hub.ErrorKind(err) != tt.kind {
			t.Errorf("%s: %v, want %s", tt.name, err, tt.kind)
		}
	}
	if _, _, err := b.svc.CreateToken(ctx, b.admin, identity.NewToken{Name: "x", Permissions: []hub.Permission{hub.PermAdminManage}, ScopeTag: &tag}); hub.ErrorKind(err) != hub.EForbidden {
		t.Errorf("tag-scoped admin token: %v", err)
	}
}

func TestServiceAccounts(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			b := setup(t, dialect, nil)
			ctx := context.Background()
			b.newUser(t, "maria", hub.RoleMaintainer)
			maria, _ := b.svc.Authenticate(ctx, b.login(t, "maria"), "")
			if _, err := b.svc.CreateServiceAccount(ctx, maria, identity.NewServiceAccount{Username: "ci-bot"}); hub.ErrorKind(err) != hub.EForbidden {
				t.Errorf("non-admin: %v", err)
			}
			sa, err := b.svc.CreateServiceAccount(ctx, b.admin, identity.NewServiceAccount{Username: "ci-bot"})
			if err != nil || !sa.ServiceAccount || sa.Role != hub.RoleNone {
				t.Fatalf("service account %+v, %v", sa, err)
			}
			if _, err := b.svc.Login(ctx, "ci-bot", "!service-account", ""); err == nil {
				t.Error("a service account signed in with a password")
			}
			// It holds nothing yet: a token with robot.publish is refused.
			if _, _, err := b.svc.CreateServiceAccountToken(ctx, b.admin, sa.ID, identity.NewToken{Name: "ci", Permissions: []hub.Permission{hub.PermRobotPublish}}); hub.ErrorKind(err) != hub.EInvalid {
				t.Errorf("token beyond the account: %v", err)
			}
			if _, err := b.svc.Grant(ctx, b.admin, sa.ID, identity.NewGrant{ResourceType: "robot", Action: "robot.publish", ScopeTag: ptr("finance")}); err != nil {
				t.Fatal(err)
			}
			tag := "finance"
			_, tok, err := b.svc.CreateServiceAccountToken(ctx, b.admin, sa.ID, identity.NewToken{Name: "ci", Permissions: []hub.Permission{hub.PermRobotPublish}, ScopeTag: &tag})
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := b.svc.CreateServiceAccountToken(ctx, b.admin, maria.User.ID, identity.NewToken{Name: "ci", Permissions: []hub.Permission{hub.PermRobotRead}}); hub.ErrorKind(err) != hub.ENotFound {
				t.Errorf("token for a person through the service-account path: %v", err)
			}
			p, err := b.svc.Authenticate(ctx, tok, "")
			if err != nil {
				t.Fatal(err)
			}
			if !rbac.Allowed(p, hub.PermRobotPublish, &hub.RobotRef{ID: "r", Tags: []string{"finance"}}) || rbac.Allowed(p, hub.PermRobotPublish, &hub.RobotRef{ID: "r2"}) {
				t.Error("service account token rights are not its tag grant")
			}
			list, err := b.svc.ServiceAccounts(ctx, b.admin)
			if err != nil || len(list) != 1 || list[0].ID != sa.ID {
				t.Errorf("service accounts = %+v, %v", list, err)
			}
		})
	}
}

// BenchmarkAuthenticateAPIToken measures a request's authentication with
// an API token: one indexed read (token, user, grants, robot tags).
func BenchmarkAuthenticateAPIToken(b *testing.B) {
	for _, dialect := range hubtest.Dialects() {
		b.Run(dialect, func(b *testing.B) {
			bd := setup(b, dialect, nil)
			ctx := context.Background()
			_, tok, err := bd.svc.CreateToken(ctx, bd.admin, identity.NewToken{Name: "bench", Permissions: []hub.Permission{hub.PermRobotRead, hub.PermRunRead}})
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := bd.svc.Authenticate(ctx, tok, ""); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
