package identity_test

import (
	"context"
	"encoding/base64"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"golang.org/x/crypto/bcrypt"

	"automationhub/internal/hub"
	"automationhub/internal/hubtest"
	"automationhub/internal/identity"
	"automationhub/internal/sqlstore"
)

const secret = "0123456789abcdef0123456789abcdef-test"

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type bundle struct {
	db    *sqlstore.DB
	svc   *identity.Service
	clock *clock
	admin *hub.Principal
}

func setup(t testing.TB, dialect string, mod func(*identity.Config)) bundle {
	t.Helper()
	db := hubtest.Store(t, dialect)
	c := &clock{now: time.Now().UTC().Truncate(time.Second)}
	cfg := identity.Config{SecretKey: secret, TokenTTL: time.Hour, AuthMode: identity.ModeHybrid, AllowLocal: true,
		BcryptCost: bcrypt.MinCost, Clock: c}
	if mod != nil {
		mod(&cfg)
	}
	svc := identity.New(db, cfg)
	ctx := context.Background()
	res, err := svc.Bootstrap(ctx, "admin", "admin-password-1", "")
	if err != nil || !res.Created {
		t.Fatalf("bootstrap: %+v %v", res, err)
	}
	tok, err := svc.Login(ctx, "admin", "admin-password-1", "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	admin, err := svc.Authenticate(ctx, tok, "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return bundle{db: db, svc: svc, clock: c, admin: admin}
}

func (b bundle) newUser(t *testing.T, name string, role hub.Role) *hub.User {
	t.Helper()
	u, err := b.svc.CreateUser(context.Background(), b.admin, identity.NewUser{Username: name, Password: "password-" + name, Role: role})
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	return u
}

func (b bundle) login(t *testing.T, name string) string {
	t.Helper()
	tok, err := b.svc.Login(context.Background(), name, "password-"+name, "10.0.0.2")
	if err != nil {
		t.Fatalf("login %s: %v", name, err)
	}
	return tok
}

func wantKind(t *testing.T, err error, kind, msg string) {
	t.Helper()
	if got := hub.ErrorKind(err); got != kind {
		t.Fatalf("error kind = %q (%v), want %q", got, err, kind)
	}
	if msg != "" && hub.ErrorMessage(err) != msg {
		t.Errorf("message = %q, want %q", hub.ErrorMessage(err), msg)
	}
}

func TestLoginAndAuthenticate(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			b := setup(t, dialect, nil)
			ctx := context.Background()
			email := "Op@Example.com"
			if _, err := b.svc.CreateUser(ctx, b.admin, identity.NewUser{Username: "Operator1", Password: "password-op", Email: &email, Role: hub.RoleOperator}); err != nil {
				t.Fatal(err)
			}
			for _, login := range []string{"Operator1", "operator1", "op@example.com"} {
				tok, err := b.svc.Login(ctx, login, "password-op", "10.0.0.9")
				if err != nil {
					t.Fatalf("login as %q: %v", login, err)
				}
				p, err := b.svc.Authenticate(ctx, tok, "10.0.0.9")
				if err != nil {
					t.Fatalf("authenticate: %v", err)
				}
				if p.User.Username != "Operator1" || p.Role != hub.RoleOperator || p.AuthSource != hub.AuthSourceLocal || p.ClientIP != "10.0.0.9" {
					t.Errorf("principal = %+v", p)
				}
			}
			_, err := b.svc.Login(ctx, "operator1", "wrong-password", "10.0.0.9")
			wantKind(t, err, hub.EInvalid, "Invalid username or password.")
			_, err = b.svc.Login(ctx, "nobody", "whatever-pass", "10.0.0.9")
			wantKind(t, err, hub.EInvalid, "Invalid username or password.")

			// The login is audited, with the client IP, without the password.
			events, _, err := b.svc.AuditEvents(ctx, b.admin, hub.AuditFilter{Action: "auth.local_login", Page: hub.Page{Limit: 50}})
			if err != nil {
				t.Fatal(err)
			}
			if len(events) != 4 { // admin once in setup, operator three times
				t.Fatalf("auth.local_login events = %d, want 4", len(events))
			}
			if events[0].IP == nil || *events[0].IP != "10.0.0.9" || events[0].Metadata["username"] != "Operator1" {
				t.Errorf("newest login event = %+v", events[0])
			}
		})
	}
}

func TestInactiveUserAndRevokedTokens(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			b := setup(t, dialect, nil)
			ctx := context.Background()
			u := b.newUser(t, "viewer1", hub.RoleViewer)
			tok := b.login(t, "viewer1")

			// A password reset revokes existing tokens.
			pw := "a-new-password"
			if _, err := b.svc.UpdateUser(ctx, b.admin, u.ID, identity.UserChanges{Password: &pw}); err != nil {
				t.Fatal(err)
			}
			_, err := b.svc.Authenticate(ctx, tok, "")
			wantKind(t, err, hub.EUnauthorized, "Invalid local user token.")
			tok, err = b.svc.Login(ctx, "viewer1", pw, "")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := b.svc.Authenticate(ctx, tok, ""); err != nil {
				t.Fatalf("token after reset: %v", err)
			}

			// Deactivation makes the token fail at once, and login says so.
			off := false
			if _, err := b.svc.UpdateUser(ctx, b.admin, u.ID, identity.UserChanges{IsActive: &off}); err != nil {
				t.Fatal(err)
			}
			_, err = b.svc.Authenticate(ctx, tok, "")
			wantKind(t, err, hub.EUnauthorized, "Invalid local user token.")
			_, err = b.svc.Login(ctx, "viewer1", pw, "")
			wantKind(t, err, hub.EForbidden, "Inactive user.")
			_, err = b.svc.Login(ctx, "viewer1", "not-the-password", "")
			wantKind(t, err, hub.EInvalid, "Invalid username or password.")
		})
	}
}

// forge signs arbitrary claims with a key and method, for attack tests.
func forge(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLocalTokenAttacks(t *testing.T) {
	b := setup(t, hubtest.Dialects()[0], nil)
	ctx := context.Background()
	u := b.newUser(t, "victim", hub.RoleMaintainer)
	now := b.clock.Now()
	good := jwt.MapClaims{
		"sub": u.ID, "iss": identity.TokenIssuer, "aud": identity.TokenAudience, "iat": now.Unix(), "nbf": now.Unix(),
		"exp": now.Add(time.Hour).Unix(), "token_type": "local_access", "gen": 0,
	}
	with := func(k string, v any) jwt.MapClaims {
		c := jwt.MapClaims{}
		for kk, vv := range good {
			c[kk] = vv
		}
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	valid := forge(t, jwt.SigningMethodHS256, []byte(secret), good)
	if _, err := b.svc.Authenticate(ctx, valid, ""); err != nil {
		t.Fatalf("control token rejected: %v", err)
	}
	parts := strings.Split(valid, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), `"gen":0`, `"gen":1`, 1))) + "." + parts[2]
	unsigned := forge(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, good)

	tests := []struct {
		name  string
		token string
	}{
		{"alg none", unsigned},
		{"wrong secret", forge(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-xx"), good)},
		{"HS512 with the right secret", forge(t, jwt.SigningMethodHS512, []byte(secret), good)},
		{"expired", forge(t, jwt.SigningMethodHS256, []byte(secret), with("exp", now.Add(-time.Minute).Unix()))},
		{"no exp", forge(t, jwt.SigningMethodHS256, []byte(secret), with("exp", nil))},
		{"not yet valid", forge(t, jwt.SigningMethodHS256, []byte(secret), with("nbf", now.Add(time.Hour).Unix()))},
		{"issued in the future", forge(t, jwt.SigningMethodHS256, []byte(secret), with("iat", now.Add(time.Hour).Unix()))},
		{"wrong issuer", forge(t, jwt.SigningMethodHS256, []byte(secret), with("iss", "enesa-local"))},
		{"wrong audience", forge(t, jwt.SigningMethodHS256, []byte(secret), with("aud", "someone-else"))},
		{"wrong token type", forge(t, jwt.SigningMethodHS256, []byte(secret), with("token_type", "refresh"))},
		{"subject not a uuid", forge(t, jwt.SigningMethodHS256, []byte(secret), with("sub", "admin"))},
		{"unknown user", forge(t, jwt.SigningMethodHS256, []byte(secret), with("sub", uuid.NewString()))},
		{"stale generation", forge(t, jwt.SigningMethodHS256, []byte(secret), with("gen", 7))},
		{"tampered payload", tampered},
		{"garbage", "not.a.jwt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := b.svc.Authenticate(ctx, tt.token, "")
			wantKind(t, err, hub.EUnauthorized, "")
		})
	}
	_, err := b.svc.Authenticate(ctx, "", "")
	wantKind(t, err, hub.EUnauthorized, "Not authenticated")
}

func TestLoginRateLimit(t *testing.T) {
	b := setup(t, hubtest.Dialects()[0], nil)
	ctx := context.Background()
	b.newUser(t, "target", hub.RoleViewer)
	for i := range 10 {
		_, err := b.svc.Login(ctx, "target", "wrong-password", "192.0.2.7")
		wantKind(t, err, hub.EInvalid, "")
		_ = i
	}
	// Blocked now, even with the right password, from this address...
	_, err := b.svc.Login(ctx, "target", "password-target", "192.0.2.7")
	wantKind(t, err, hub.ETooManyRequests, "")
	// ...and for this user name from any address.
	_, err = b.svc.Login(ctx, "TARGET", "password-target", "192.0.2.8")
	wantKind(t, err, hub.ETooManyRequests, "")
	// Other users from other addresses are unaffected.
	b.newUser(t, "bystander", hub.RoleViewer)
	if _, err := b.svc.Login(ctx, "bystander", "password-bystander", "192.0.2.9"); err != nil {
		t.Fatalf("bystander: %v", err)
	}
	// After the window the budget is back.
	b.clock.Add(61 * time.Second)
	if _, err := b.svc.Login(ctx, "target", "password-target", "192.0.2.7"); err != nil {
		t.Fatalf("after the window: %v", err)
	}
	// An IP spraying many user names is blocked too.
	for i := range 10 {
		_, _ = b.svc.Login(ctx, uuid.NewString()[:8]+string(rune('a'+i)), "x-password", "198.51.100.1")
	}
	_, err = b.svc.Login(ctx, "bystander", "password-bystander", "198.51.100.1")
	wantKind(t, err, hub.ETooManyRequests, "")
}

// TestMissingUserCostsOneBcrypt checks the timing defence without timing:
// a failed login for an unknown name compares against a hash of the same
// cost as real ones. BenchmarkFailedLogin measures the two paths.
func TestMissingUserCostsOneBcrypt(t *testing.T) {
	b := setup(t, hubtest.Dialects()[0], nil)
	cost, err := bcrypt.Cost([]byte(identity.DummyHash(b.svc)))
	if err != nil || cost != bcrypt.MinCost {
		t.Errorf("dummy hash cost = %d, %v; want the configured %d", cost, err, bcrypt.MinCost)
	}
}

// BenchmarkFailedLogin compares failed logins for an existing and a missing
// user name at the production bcrypt cost; the two should take the same time.
func BenchmarkFailedLogin(bm *testing.B) {
	b := setup(bm, "sqlite", func(c *identity.Config) { c.BcryptCost = identity.DefaultBcryptCost; c.LoginFailures = 1 << 30 })
	ctx := context.Background()
	if _, err := b.svc.CreateUser(ctx, b.admin, identity.NewUser{Username: "realuser", Password: "password-realuser"}); err != nil {
		bm.Fatal(err)
	}
	for _, name := range []string{"realuser", "ghost-user"} {
		bm.Run(name, func(bm *testing.B) {
			for bm.Loop() {
				_, _ = b.svc.Login(ctx, name, "wrong-password", "203.0.113.1")
			}
		})
	}
}

func TestUserAdministration(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			b := setup(t, dialect, nil)
			ctx := context.Background()
			email := "dup@example.com"
			if _, err := b.svc.CreateUser(ctx, b.admin, identity.NewUser{Username: "first", Password: "password-1", Email: &email}); err != nil {
				t.Fatal(err)
			}
			_, err := b.svc.CreateUser(ctx, b.admin, identity.NewUser{Username: "FIRST", Password: "password-1"})
			wantKind(t, err, hub.EConflict, "Username already exists.")
			upper := "DUP@example.com"
			_, err = b.svc.CreateUser(ctx, b.admin, identity.NewUser{Username: "second", Password: "password-1", Email: &upper})
			wantKind(t, err, hub.EConflict, "Email already exists.")
			for _, bad := range []identity.NewUser{
				{Username: "ab", Password: "password-1"},
				{Username: "short-pass", Password: "1234567"},
				{Username: "bad-email", Password: "password-1", Email: ptr("not an email")},
				{Username: "bad-role", Password: "password-1", Role: "Root"},
			} {
				_, err := b.svc.CreateUser(ctx, b.admin, bad)
				wantKind(t, err, hub.EUnprocessable, "")
			}
			// Two users without e-mail are fine.
			b.newUser(t, "no-mail-1", hub.RoleViewer)
			b.newUser(t, "no-mail-2", hub.RoleViewer)

			users, total, err := b.svc.ListUsers(ctx, b.admin, hub.Page{Limit: 2})
			if err != nil || len(users) != 2 || total != 4 {
				t.Fatalf("ListUsers = %d users, total %d, %v; want 2 of 4", len(users), total, err)
			}

			// A non-admin can do none of this.
			viewer := b.newUser(t, "plain", hub.RoleViewer)
			vp, err := b.svc.Authenticate(ctx, b.login(t, "plain"), "")
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = b.svc.ListUsers(ctx, vp, hub.Page{Limit: 10})
			wantKind(t, err, hub.EForbidden, "Permissao insuficiente.")
			_, err = b.svc.Grant(ctx, vp, viewer.ID, identity.NewGrant{ResourceType: "admin", Action: "admin.manage"})
			wantKind(t, err, hub.EForbidden, "")

			// The last active local administrator cannot be demoted or deactivated.
			demote := hub.RoleViewer
			no := false
			_, err = b.svc.UpdateUser(ctx, b.admin, b.admin.User.ID, identity.UserChanges{Role: &demote, IsSuperuser: &no})
			wantKind(t, err, hub.EConflict, "")
			_, err = b.svc.UpdateUser(ctx, b.admin, b.admin.User.ID, identity.UserChanges{IsActive: &no})
			wantKind(t, err, hub.EConflict, "")
			// With a second admin it works.
			b.newUser(t, "admin2", hub.RoleAdmin)
			if _, err := b.svc.UpdateUser(ctx, b.admin, b.admin.User.ID, identity.UserChanges{Role: &demote, IsSuperuser: &no}); err != nil {
				t.Fatalf("demote with a second admin: %v", err)
			}
			_, err = b.svc.UpdateUser(ctx, b.admin, uuid.NewString(), identity.UserChanges{IsActive: &no})
			wantKind(t, err, hub.ENotFound, "User not found.")

			// Audit events were written, without secrets.
			events, _, err := b.db.ListAudit(ctx, hub.AuditFilter{Page: hub.Page{Limit: 500}})
			if err != nil {
				t.Fatal(err)
			}
			actions := map[string]int{}
			for _, e := range events {
				actions[e.Action]++
				for k, v := range e.Metadata {
					if s, ok := v.(string); ok && strings.Contains(s, "password-") {
						t.Errorf("audit %s metadata %s leaks a password", e.Action, k)
					}
				}
			}
			if actions["user.created"] != 5 || actions["user.updated"] != 1 || actions["user.bootstrapped"] != 1 {
				t.Errorf("audit actions = %v, want 5 user.created, 1 user.updated (failed edits leave none), 1 user.bootstrapped", actions)
			}
		})
	}
}

func ptr(s string) *string { return &s }

func TestGrants(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			b := setup(t, dialect, nil)
			ctx := context.Background()
			u := b.newUser(t, "granted", hub.RoleNone)
			robot := uuid.NewString()
			now := time.Now().UTC()
			if _, err := b.db.Conn().Exec(ctx, `INSERT INTO robots (id, name, created_at, updated_at) VALUES (?, ?, ?, ?)`, robot, "r", now, now); err != nil {
				t.Fatal(err)
			}
			tests := []struct {
				name string
				in   identity.NewGrant
				kind string
				msg  string
			}{
				{"global", identity.NewGrant{ResourceType: "run", Action: "run.read"}, "", ""},
				{"robot", identity.NewGrant{ResourceType: "robot", Action: "robot.run", ResourceID: &robot}, "", ""},
				{"tag", identity.NewGrant{ResourceType: "robot", Action: "robot.run", ScopeTag: ptr("finance")}, "", ""},
				{"duplicate", identity.NewGrant{ResourceType: "robot", Action: "robot.run", ScopeTag: ptr(" finance ")}, hub.EConflict, "Permission already granted."},
				{"unknown action", identity.NewGrant{ResourceType: "robot", Action: "robots:create"}, hub.EInvalid, "Invalid permission action."},
				{"wrong type", identity.NewGrant{ResourceType: "robots", Action: "robot.read"}, hub.EInvalid, "resource_type must be 'robot' for action 'robot.read'."},
				{"scoped admin", identity.NewGrant{ResourceType: "admin", Action: "admin.manage", ScopeTag: ptr("x")}, hub.EInvalid, ""},
				{"unknown robot", identity.NewGrant{ResourceType: "robot", Action: "robot.read", ResourceID: ptr(uuid.NewString())}, hub.ENotFound, "Robot not found."},
				{"malformed robot id", identity.NewGrant{ResourceType: "robot", Action: "robot.read", ResourceID: ptr("x")}, hub.EUnprocessable, ""},
			}
			for _, tt := range tests {
				_, err := b.svc.Grant(ctx, b.admin, u.ID, tt.in)
				if tt.kind == "" {
					if err != nil {
						t.Errorf("%s: %v", tt.name, err)
					}
					continue
				}
				if hub.ErrorKind(err) != tt.kind || (tt.msg != "" && hub.ErrorMessage(err) != tt.msg) {
					t.Errorf("%s: got %v, want %s %q", tt.name, err, tt.kind, tt.msg)
				}
			}
			_, err := b.svc.Grant(ctx, b.admin, uuid.NewString(), identity.NewGrant{ResourceType: "run", Action: "run.read"})
			wantKind(t, err, hub.ENotFound, "User not found.")

			grants, err := b.svc.Grants(ctx, b.admin, u.ID)
			if err != nil || len(grants) != 3 {
				t.Fatalf("grants = %d, %v; want 3", len(grants), err)
			}
			if grants[0].ResourceType != "robot" || grants[2].ResourceType != "run" {
				t.Errorf("grants not ordered by resource type: %+v", grants)
			}
			// The grants shape the principal.
			p, err := b.svc.Authenticate(ctx, b.login(t, "granted"), "")
			if err != nil || len(p.Grants) != 3 || p.Role != hub.RoleNone {
				t.Fatalf("principal grants = %d role %s, %v", len(p.Grants), p.Role, err)
			}
			if err := b.svc.Revoke(ctx, b.admin, u.ID, grants[0].ID); err != nil {
				t.Fatal(err)
			}
			err = b.svc.Revoke(ctx, b.admin, u.ID, grants[0].ID)
			wantKind(t, err, hub.ENotFound, "Permission not found.")
			if list, _ := b.svc.Grants(ctx, b.admin, uuid.NewString()); len(list) != 0 {
				t.Errorf("grants of an unknown user = %v, want none", list)
			}
			events, _, _ := b.db.ListAudit(ctx, hub.AuditFilter{Action: "permission.revoked", Page: hub.Page{Limit: 10}})
			if len(events) != 1 || events[0].Metadata["action"] != "robot.run" {
				t.Errorf("revoke audit = %+v", events)
			}
		})
	}
}

func TestBootstrap(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			db := hubtest.Store(t, dialect)
			svc := identity.New(db, identity.Config{SecretKey: secret, AllowLocal: true, BcryptCost: bcrypt.MinCost})
			ctx := context.Background()
			var (
				wg      sync.WaitGroup
				mu      sync.Mutex
				created []identity.BootstrapResult
			)
			for range 4 {
				wg.Go(func() {
					res, err := svc.Bootstrap(ctx, "root", "", "")
					if err != nil {
						t.Errorf("bootstrap: %v", err)
					}
					mu.Lock()
					defer mu.Unlock()
					if res.Created {
						created = append(created, res)
					}
				})
			}
			wg.Wait()
			if len(created) != 1 {
				t.Fatalf("administrators created = %d, want exactly 1", len(created))
			}
			if len(created[0].Password) < 20 {
				t.Errorf("generated password %q is too short", created[0].Password)
			}
			tok, err := svc.Login(ctx, "root", created[0].Password, "")
			if err != nil {
				t.Fatalf("login with the generated password: %v", err)
			}
			p, err := svc.Authenticate(ctx, tok, "")
			if err != nil || p.Role != hub.RoleAdmin || !p.User.IsSuperuser {
				t.Fatalf("bootstrapped principal = %+v, %v", p, err)
			}
			again, err := svc.Bootstrap(ctx, "root", "", "")
			if err != nil || again.Created {
				t.Errorf("second bootstrap = %+v, %v; want nothing done", again, err)
			}
		})
	}
}

func TestAuthModes(t *testing.T) {
	dialect := hubtest.Dialects()[0]
	b := setup(t, dialect, nil)
	u := b.newUser(t, "moder", hub.RoleViewer)
	tok, err := b.svc.IssueToken(u)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tests := []struct {
		name  string
		mode  string
		local bool
		kind  string
		msg   string
		login string
	}{
		{"hybrid", identity.ModeHybrid, true, "", "", ""},
		{"local", identity.ModeLocal, true, "", "", ""},
		{"local disabled", identity.ModeLocal, false, hub.EUnauthorized, "Local authentication is disabled.", hub.EForbidden},
		{"azure only", identity.ModeAzure, true, hub.EUnauthorized, "Token is invalid or unsupported.", hub.EForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := identity.New(b.db, identity.Config{SecretKey: secret, AuthMode: tt.mode, AllowLocal: tt.local, BcryptCost: bcrypt.MinCost})
			_, err := svc.Authenticate(ctx, tok, "")
			if tt.kind == "" {
				if err != nil {
					t.Fatalf("Authenticate: %v", err)
				}
			} else {
				wantKind(t, err, tt.kind, tt.msg)
			}
			_, err = svc.Login(ctx, "moder", "password-moder", "")
			if tt.login == "" && err != nil {
				t.Errorf("Login: %v", err)
			}
			if tt.login != "" {
				wantKind(t, err, tt.login, "Local authentication is disabled.")
			}
		})
	}
}

func jwtHS256() jwt.SigningMethod { return jwt.SigningMethodHS256 }
