package identity_test

import (
	"context"
	"fmt"
	"testing"

	"automationhub/internal/hub"
	"automationhub/internal/hubtest"
	"automationhub/internal/identity"
)

// TestConcurrentDemotionsKeepAnAdministrator has two administrators, the
// only ones, demote (or deactivate) each other at the same moment, round
// after round: one change must win and the other be refused, so that an
// active local administrator always remains.
func TestConcurrentDemotionsKeepAnAdministrator(t *testing.T) {
	const rounds = 25
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			b := setup(t, dialect, nil)
			ctx := context.Background()
			viewer, no := hub.RoleViewer, false
			changes := []identity.UserChanges{{Role: &viewer}, {IsActive: &no}}
			survivor := b.admin.User
			for round := range rounds {
				pair := [2]*hub.User{
					b.newUser(t, fmt.Sprintf("admin-a%d", round), hub.RoleAdmin),
					b.newUser(t, fmt.Sprintf("admin-b%d", round), hub.RoleAdmin),
				}
				// The pair are the only administrators from here on.
				if _, err := b.svc.UpdateUser(ctx, b.admin, survivor.ID, identity.UserChanges{Role: &viewer, IsSuperuser: &no}); err != nil {
					t.Fatalf("round %d: demote the previous survivor: %v", round, err)
				}
				ch := changes[round%len(changes)]
				start := make(chan struct{})
				errs := make([]error, 2)
				done := make(chan struct{}, 2)
				for i := range 2 {
					go func() {
						defer func() { done <- struct{}{} }()
						actor := &hub.Principal{User: pair[i], Subject: pair[i].ID, Role: hub.RoleAdmin, AuthSource: hub.AuthSourceLocal}
						<-start
						_, errs[i] = b.svc.UpdateUser(ctx, actor, pair[1-i].ID, ch)
					}()
				}
				close(start)
				<-done
				<-done
				refused := 0
				for i, err := range errs {
					switch {
					case err == nil:
						survivor = pair[i]
					case hub.ErrorKind(err) == hub.EConflict:
						refused++
					default:
						t.Fatalf("round %d: %v", round, err)
					}
				}
				if n := activeAdmins(t, b); refused != 1 || n != 1 {
					t.Fatalf("round %d: %d changes refused, %d active administrators left; want 1 and 1", round, refused, n)
				}
			}
		})
	}
}

func activeAdmins(t *testing.T, b bundle) int {
	t.Helper()
	users, _, err := b.db.ListUsers(context.Background(), hub.Page{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, u := range users {
		if u.IsActive && u.AuthSource == hub.AuthSourceLocal && (u.IsSuperuser || u.Role == hub.RoleAdmin) {
			n++
		}
	}
	return n
}
