package identity_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"
	"golang.org/x/crypto/bcrypt"

	"automationhub/internal/hub"
	"automationhub/internal/hubtest"
	"automationhub/internal/identity"
	"automationhub/internal/identity/oidctest"
)

const (
	audience   = "api://automation-hub"
	adminGroup = "11111111-1111-1111-1111-111111111111"
	opGroup    = "22222222-2222-2222-2222-222222222222"
	maintGroup = "33333333-3333-3333-3333-333333333333"
)

// azureSetup wires the service to a local test issuer the way cmd/hub wires
// it to a tenant (issuer and JWKS overrides).
func azureSetup(t *testing.T, dialect string, mod func(*identity.Config)) (bundle, *oidctest.Issuer) {
	t.Helper()
	iss := oidctest.New(t)
	b := setup(t, dialect, func(c *identity.Config) {
		c.Azure = identity.NewAzureVerifier(identity.AzureConfig{
			TenantID: "tenant", ClientID: "client", Audience: audience, Issuer: iss.URL, JWKSURL: iss.JWKSURL(),
		})
		c.AzureGroups = map[hub.Role][]string{hub.RoleAdmin: {adminGroup}, hub.RoleOperator: {opGroup}, hub.RoleMaintainer: {maintGroup}}
		c.AzureDefaultRole = hub.RoleViewer
		c.AutoProvision = true
		if mod != nil {
			mod(c)
		}
	})
	return b, iss
}

func azureToken(t *testing.T, iss *oidctest.Issuer, oid string, extra map[string]any) string {
	claims := map[string]any{"aud": audience, "oid": oid, "sub": "sub-" + oid, "tid": "tenant",
		"preferred_username": "ana@contoso.com", "name": "Ana Souza"}
	for k, v := range extra {
		claims[k] = v
	}
	return iss.Token(t, claims)
}

func TestAzureFlow(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			b, iss := azureSetup(t, dialect, nil)
			ctx := context.Background()
			oid := uuid.NewString()

			// First use provisions the user; no group or app role → default role.
			p, err := b.svc.Authenticate(ctx, azureToken(t, iss, oid, nil), "10.1.1.1")
			if err != nil {
				t.Fatalf("authenticate: %v", err)
			}
			if p.User == nil || p.User.Username != "ana@contoso.com" || p.User.AuthSource != hub.AuthSourceAzure ||
				*p.User.AzureObjectID != oid || p.Role != hub.RoleViewer || p.Subject != oid || p.AuthSource != hub.AuthSourceAzure {
				t.Fatalf("provisioned principal = %+v user %+v", p, p.User)
			}
			if p.User.Email == nil || *p.User.Email != "ana@contoso.com" || p.User.Role != hub.RoleNone {
				t.Errorf("provisioned user email %v role %s, want ana@contoso.com and stored role None", p.User.Email, p.User.Role)
			}
			// Second use finds the same user.
			p2, err := b.svc.Authenticate(ctx, azureToken(t, iss, oid, nil), "")
			if err != nil || p2.User.ID != p.User.ID {
				t.Fatalf("second use: %v, user %v vs %v", err, p2.User, p.User.ID)
			}
			events, _, _ := b.db.ListAudit(ctx, hub.AuditFilter{Action: "user.provisioned", Page: hub.Page{Limit: 10}})
			if len(events) != 1 || events[0].ActorSubject == nil || *events[0].ActorSubject != oid {
				t.Errorf("provisioning audit = %+v", events)
			}

			roles := []struct {
				name  string
				extra map[string]any
				want  hub.Role
			}{
				{"admin group", map[string]any{"groups": []string{"x", adminGroup}}, hub.RoleAdmin},
				{"operator group", map[string]any{"groups": []string{opGroup}}, hub.RoleOperator},
				{"maintainer group", map[string]any{"groups": []string{maintGroup}}, hub.RoleMaintainer},
				{"highest group wins", map[string]any{"groups": []string{opGroup, maintGroup}}, hub.RoleMaintainer},
				{"app role", map[string]any{"roles": []string{"Operator"}}, hub.RoleOperator},
				{"app role beats lower group", map[string]any{"groups": []string{opGroup}, "roles": []string{"Admin"}}, hub.RoleAdmin},
				{"unknown app role ignored", map[string]any{"roles": []string{"Superhero"}}, hub.RoleViewer},
			}
			for _, tt := range roles {
				p, err := b.svc.Authenticate(ctx, azureToken(t, iss, oid, tt.extra), "")
				if err != nil {
					t.Fatalf("%s: %v", tt.name, err)
				}
				if p.Role != tt.want {
					t.Errorf("%s: role = %s, want %s", tt.name, p.Role, tt.want)
				}
			}

			// An admin raising the stored role lifts a group-less user; grants apply.
			op := hub.RoleOperator
			if _, err := b.svc.UpdateUser(ctx, b.admin, p.User.ID, identity.UserChanges{Role: &op}); err != nil {
				t.Fatal(err)
			}
			if p, _ := b.svc.Authenticate(ctx, azureToken(t, iss, oid, nil), ""); p.Role != hub.RoleOperator {
				t.Errorf("after raising the stored role: %s, want Operator", p.Role)
			}
			// Deactivated in the hub → 403 with the old message.
			off := false
			if _, err := b.svc.UpdateUser(ctx, b.admin, p.User.ID, identity.UserChanges{IsActive: &off}); err != nil {
				t.Fatal(err)
			}
			_, err = b.svc.Authenticate(ctx, azureToken(t, iss, oid, nil), "")
			wantKind(t, err, hub.EForbidden, "Azure AD user is inactive in Automation Hub.")

			// A bad tenant token is 401 "Invalid Azure AD token.".
			_, err = b.svc.Authenticate(ctx, azureToken(t, iss, uuid.NewString(), map[string]any{"aud": "someone-else"}), "")
			wantKind(t, err, hub.EUnauthorized, "Invalid Azure AD token.")
		})
	}
}

func TestAzureProvisioningCollisions(t *testing.T) {
	b, iss := azureSetup(t, hubtest.Dialects()[0], nil)
	ctx := context.Background()
	email := "ana@contoso.com"
	if _, err := b.svc.CreateUser(ctx, b.admin, identity.NewUser{Username: "ana@contoso.com", Password: "password-local", Email: &email}); err != nil {
		t.Fatal(err)
	}
	oid := uuid.NewString()
	p, err := b.svc.Authenticate(ctx, azureToken(t, iss, oid, nil), "")
	if err != nil {
		t.Fatalf("provisioning next to a same-named local user: %v", err)
	}
	if p.User.Username == "ana@contoso.com" || !strings.HasPrefix(p.User.Username, "ana@contoso.com-") || p.User.Email != nil {
		t.Errorf("collision handling: username %q email %v", p.User.Username, p.User.Email)
	}
}

func TestAzureWithoutProvisioningAndDefaultRoleNone(t *testing.T) {
	b, iss := azureSetup(t, hubtest.Dialects()[0], func(c *identity.Config) {
		c.AutoProvision = false
		c.AzureDefaultRole = hub.RoleNone
	})
	ctx := context.Background()
	oid := uuid.NewString()
	p, err := b.svc.Authenticate(ctx, azureToken(t, iss, oid, nil), "")
	if err != nil {
		t.Fatal(err)
	}
	if p.User != nil || p.Subject != oid || p.Role != hub.RoleNone {
		t.Errorf("principal = %+v, want no user, subject oid, role None", p)
	}
	if n, _ := b.db.CountUsers(ctx); n != 1 {
		t.Errorf("users = %d, want only the admin (no provisioning)", n)
	}
	p, _ = b.svc.Authenticate(ctx, azureToken(t, iss, oid, map[string]any{"groups": []string{opGroup}}), "")
	if p.Role != hub.RoleOperator {
		t.Errorf("group role without a user = %s, want Operator", p.Role)
	}
}

func TestLocalTokensStillWorkBesideAzure(t *testing.T) {
	b, iss := azureSetup(t, hubtest.Dialects()[0], func(c *identity.Config) { c.BcryptCost = bcrypt.MinCost })
	ctx := context.Background()
	b.newUser(t, "localguy", hub.RoleOperator)
	if _, err := b.svc.Authenticate(ctx, b.login(t, "localguy"), ""); err != nil {
		t.Errorf("local token in hybrid mode: %v", err)
	}
	// An HS256 token signed with the issuer's public key is not accepted anywhere.
	forged := forge(t, jwtHS256(), iss.PublicKeyPEM(), iss.Claims(map[string]any{"aud": audience, "oid": uuid.NewString()}))
	_, err := b.svc.Authenticate(ctx, forged, "")
	wantKind(t, err, hub.EUnauthorized, "")
}
