package identity_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"automationhub/internal/hub"
	"automationhub/internal/hubtest"
	"automationhub/internal/identity"
)

func TestChangePassword(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			b := setup(t, dialect, nil)
			ctx := context.Background()
			u := b.newUser(t, "carol", hub.RoleViewer)
			other := b.login(t, "carol") // another session of the same user
			p, err := b.svc.Authenticate(ctx, b.login(t, "carol"), "10.0.0.5")
			if err != nil {
				t.Fatal(err)
			}

			// Refusals change nothing: both sessions and the old password still work.
			for _, tc := range []struct {
				name, current, next, kind, msg string
			}{
				{"wrong current password", "not-my-password", "carol-new-password", hub.EInvalid, "Current password is incorrect."},
				{"new password too short", "password-carol", "short", hub.EUnprocessable, "password must be 8 to 128 characters."},
				{"new password too long", "password-carol", strings.Repeat("x", 129), hub.EUnprocessable, ""},
			} {
				_, err := b.svc.ChangePassword(ctx, p, tc.current, tc.next)
				wantKind(t, err, tc.kind, tc.msg)
			}
			if _, err := b.svc.Authenticate(ctx, other, ""); err != nil {
				t.Fatalf("a refused change signed the other session out: %v", err)
			}
			if _, err := b.svc.Login(ctx, "carol", "password-carol", ""); err != nil {
				t.Fatalf("a refused change changed the password: %v", err)
			}

			tok, err := b.svc.ChangePassword(ctx, p, "password-carol", "carol-new-password")
			if err != nil {
				t.Fatal(err)
			}
			// The caller's fresh token works; every older token is revoked.
			if np, err := b.svc.Authenticate(ctx, tok, ""); err != nil || np.User.ID != u.ID {
				t.Fatalf("fresh token: %v", err)
			}
			_, err = b.svc.Authenticate(ctx, other, "")
			wantKind(t, err, hub.EUnauthorized, "")
			_, err = b.svc.Login(ctx, "carol", "password-carol", "")
			wantKind(t, err, hub.EInvalid, "")
			if _, err := b.svc.Login(ctx, "carol", "carol-new-password", ""); err != nil {
				t.Fatalf("login with the new password: %v", err)
			}
			// The old principal still holds the old hash: a second change
			// from it is refused instead of overwriting the new password.
			_, err = b.svc.ChangePassword(ctx, p, "password-carol", "carol-third-password")
			wantKind(t, err, hub.EConflict, "")

			events, _, err := b.svc.AuditEvents(ctx, b.admin, hub.AuditFilter{Action: "auth.password_changed", Page: hub.Page{Limit: 10}})
			if err != nil {
				t.Fatal(err)
			}
			if len(events) != 1 || events[0].TargetID != u.ID || events[0].ActorUserID == nil || *events[0].ActorUserID != u.ID ||
				events[0].IP == nil || *events[0].IP != "10.0.0.5" {
				t.Fatalf("auth.password_changed events = %+v, want one by and about carol from 10.0.0.5", events)
			}
			if b, _ := json.Marshal(events[0].Metadata); strings.Contains(string(b), "carol-new-password") {
				t.Errorf("audit metadata holds the password: %s", b)
			}
		})
	}
}

func TestChangePasswordIsRateLimited(t *testing.T) {
	b := setup(t, hubtest.Dialects()[0], nil)
	ctx := context.Background()
	b.newUser(t, "guess", hub.RoleViewer)
	p, err := b.svc.Authenticate(ctx, b.login(t, "guess"), "192.0.2.30")
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		_, err := b.svc.ChangePassword(ctx, p, "wrong-guess", "guess-new-password")
		wantKind(t, err, hub.EInvalid, "")
	}
	// Even the right current password waits now, and so does the login.
	_, err = b.svc.ChangePassword(ctx, p, "password-guess", "guess-new-password")
	wantKind(t, err, hub.ETooManyRequests, "")
	_, err = b.svc.Login(ctx, "guess", "password-guess", "192.0.2.31")
	wantKind(t, err, hub.ETooManyRequests, "")
}

func TestChangePasswordNeedsALocalAccount(t *testing.T) {
	b := setup(t, hubtest.Dialects()[0], nil)
	ctx := context.Background()
	now := time.Now().UTC()
	oid := uuid.NewString()
	azure := &hub.User{ID: uuid.NewString(), Username: "ana@contoso.example", HashedPassword: "x", IsActive: true, Role: hub.RoleViewer,
		AuthSource: hub.AuthSourceAzure, AzureObjectID: &oid, CreatedAt: now, UpdatedAt: now}
	if err := b.db.CreateUser(ctx, azure, nil, nil); err != nil {
		t.Fatal(err)
	}
	tok, err := b.svc.IssueToken(azure)
	if err != nil {
		t.Fatal(err)
	}
	p, err := b.svc.Authenticate(ctx, tok, "")
	if err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string]*hub.Principal{
		"Azure AD account":         p,
		"Azure caller without one": {Subject: oid, Role: hub.RoleViewer, AuthSource: hub.AuthSourceAzure},
	} {
		_, err := b.svc.ChangePassword(ctx, p, "x", "a-new-password")
		if hub.ErrorKind(err) != hub.EConflict {
			t.Errorf("%s: %v, want EConflict", name, err)
		}
	}
}

func TestDirectory(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			b := setup(t, dialect, nil)
			ctx := context.Background()
			dora := b.newUser(t, "dora", hub.RoleNone)
			p, err := b.svc.Authenticate(ctx, b.login(t, "dora"), "")
			if err != nil {
				t.Fatal(err)
			}
			admin := b.admin.User.ID
			ghost := uuid.NewString()
			users, err := b.svc.Directory(ctx, p, []string{admin, strings.ToUpper(dora.ID), ghost, admin, " "})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, u := range users {
				got[u.ID] = u.Username
			}
			if len(users) != 2 || got[admin] != "admin" || got[dora.ID] != "dora" {
				t.Errorf("directory = %v, want admin and dora once each", got)
			}
			for _, tc := range []struct {
				name string
				ids  []string
				kind string
			}{
				{"malformed id", []string{"not-a-uuid"}, hub.EUnprocessable},
				{"too many ids", manyIDs(identity.MaxDirectoryIDs + 1), hub.EUnprocessable},
			} {
				_, err := b.svc.Directory(ctx, p, tc.ids)
				wantKind(t, err, tc.kind, "")
			}
			if users, err := b.svc.Directory(ctx, p, manyIDs(identity.MaxDirectoryIDs)); err != nil || len(users) != 0 {
				t.Errorf("%d unknown ids: %d users, %v", identity.MaxDirectoryIDs, len(users), err)
			}
			_, err = b.svc.Directory(ctx, nil, []string{admin})
			wantKind(t, err, hub.EUnauthorized, "")
		})
	}
}

func manyIDs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = uuid.NewString()
	}
	return out
}

func TestFailedLoginsAreAudited(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			b := setup(t, dialect, nil)
			ctx := context.Background()
			u := b.newUser(t, "erin", hub.RoleViewer)
			_, _ = b.svc.Login(ctx, "Erin", "wrong-password-1", "192.0.2.40")
			_, _ = b.svc.Login(ctx, "nobody-here", "wrong-password-2", "192.0.2.41")
			off := false
			if _, err := b.svc.UpdateUser(ctx, b.admin, u.ID, identity.UserChanges{IsActive: &off}); err != nil {
				t.Fatal(err)
			}
			_, _ = b.svc.Login(ctx, "erin", "password-erin", "192.0.2.42")

			events, _, err := b.svc.AuditEvents(ctx, b.admin, hub.AuditFilter{Action: "auth.login_failed", Page: hub.Page{Limit: 10}})
			if err != nil {
				t.Fatal(err)
			}
			type row struct{ username, reason, ip, targetType, target string }
			var got []row
			for _, e := range events {
				got = append(got, row{e.Metadata["username"].(string), e.Metadata["reason"].(string), deref(e.IP), e.TargetType, e.TargetID})
				if e.ActorUserID != nil {
					t.Errorf("failed login has an actor: %v", *e.ActorUserID)
				}
				if b, _ := json.Marshal(e.Metadata); strings.Contains(string(b), "password-") {
					t.Errorf("audit metadata holds the password: %s", b)
				}
			}
			want := []row{ // newest first
				{"erin", "inactive_user", "192.0.2.42", "user", u.ID},
				{"nobody-here", "invalid_credentials", "192.0.2.41", "", ""},
				{"Erin", "invalid_credentials", "192.0.2.40", "user", u.ID},
			}
			if len(got) != len(want) {
				t.Fatalf("auth.login_failed = %+v, want %+v", got, want)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("event %d = %+v, want %+v", i, got[i], want[i])
				}
			}
		})
	}
}

// TestFailedLoginAuditIsBounded floods the login from many addresses: the
// trail gets at most FailedLoginAudits rows per window, throttled attempts
// are counted, and the count is written with the next recorded failure.
func TestFailedLoginAuditIsBounded(t *testing.T) {
	b := setup(t, hubtest.Dialects()[0], func(c *identity.Config) { c.LoginFailures = 3; c.FailedLoginAudits = 5 })
	ctx := context.Background()
	count := func() int {
		t.Helper()
		_, n, err := b.svc.AuditEvents(ctx, b.admin, hub.AuditFilter{Action: "auth.login_failed", Page: hub.Page{Limit: 1}})
		if err != nil {
			t.Fatal(err)
		}
		return n.Total
	}
	try := func(name, ip string) error {
		_, err := b.svc.Login(ctx, name, "wrong-password", ip)
		return err
	}
	for range 3 {
		wantKind(t, try("mallory", "198.51.100.1"), hub.EInvalid, "")
	}
	for range 4 { // throttled: counted, not written
		wantKind(t, try("mallory", "198.51.100.1"), hub.ETooManyRequests, "")
	}
	if n := count(); n != 3 {
		t.Fatalf("rows after throttling = %d, want 3", n)
	}
	for i := range 10 { // many addresses and names: the ceiling holds
		wantKind(t, try("user"+string(rune('a'+i)), "198.51.100."+string(rune('2'+i%8))), hub.EInvalid, "")
	}
	if n := count(); n != 5 {
		t.Fatalf("rows after the flood = %d, want the ceiling of 5", n)
	}
	b.clock.Add(61 * time.Second)
	wantKind(t, try("trent", "203.0.113.7"), hub.EInvalid, "")
	events, _, err := b.svc.AuditEvents(ctx, b.admin, hub.AuditFilter{Action: "auth.login_failed", Page: hub.Page{Limit: 10}})
	if err != nil {
		t.Fatal(err)
	}
	// Every one of the 4 throttled attempts and the 8 failures over the
	// ceiling is accounted for on a later row: 4 on the first row written
	// after the throttling, 8 on the first row of the next window.
	var counts []any
	for _, e := range events {
		if n, ok := e.Metadata["unrecorded_attempts"]; ok {
			counts = append(counts, n)
		}
	}
	if len(events) != 6 || len(counts) != 2 || counts[0] != float64(8) || counts[1] != float64(4) {
		t.Errorf("%d rows, unrecorded_attempts %v; want 6 rows, [8 4]", len(events), counts)
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
