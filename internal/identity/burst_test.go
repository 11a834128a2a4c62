package identity_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"automationhub/internal/hub"
	"automationhub/internal/hubtest"
	"automationhub/internal/identity"
)

// gatedHashes is a hash hook that counts the password checks in progress,
// remembers the most at once, tells entered about each one and holds the
// first hold of them until open is closed.
type gatedHashes struct {
	hold             int64
	entered          chan struct{}
	open             chan struct{}
	calls, now, most atomic.Int64
}

func newGatedHashes(hold int64, buffer int) *gatedHashes {
	return &gatedHashes{hold: hold, entered: make(chan struct{}, buffer), open: make(chan struct{})}
}

func (g *gatedHashes) hook() {
	n := g.now.Add(1)
	defer g.now.Add(-1)
	for m := g.most.Load(); n > m && !g.most.CompareAndSwap(m, n); m = g.most.Load() {
	}
	if g.calls.Add(1) <= g.hold {
		g.entered <- struct{}{}
		<-g.open
	}
}

// TestConcurrentAttemptsAreCountedBeforeTheCheck sends a burst of wrong
// passwords for one name from one address, all at once: only the limit's
// worth are checked, the rest are refused without hashing. The checks are
// held until every attempt has either reached the check or been refused, so
// the burst is truly concurrent.
func TestConcurrentAttemptsAreCountedBeforeTheCheck(t *testing.T) {
	const burst, limit = 40, 10
	for _, dialect := range hubtest.Dialects() {
		for _, op := range []string{"login", "password change"} {
			t.Run(dialect+"/"+op, func(t *testing.T) {
				b := setup(t, dialect, func(c *identity.Config) { c.HashConcurrency = burst })
				ctx := context.Background()
				b.newUser(t, "target", hub.RoleViewer)
				p, err := b.svc.Authenticate(ctx, b.login(t, "target"), "192.0.2.50")
				if err != nil {
					t.Fatal(err)
				}
				g := newGatedHashes(burst, burst)
				identity.SetHashHook(b.svc, g.hook)
				results := make(chan error, burst)
				for range burst {
					go func() {
						var err error
						if op == "login" {
							_, err = b.svc.Login(ctx, "target", "wrong-password", "192.0.2.50")
						} else {
							_, err = b.svc.ChangePassword(ctx, p, "wrong-password", "target-new-password")
						}
						results <- err
					}()
				}
				kinds := map[string]int{}
				checking := 0
				for checking+kinds[hub.ETooManyRequests] < burst {
					select {
					case <-g.entered:
						checking++
					case err := <-results:
						kinds[hub.ErrorKind(err)]++
					}
				}
				close(g.open)
				for range checking {
					kinds[hub.ErrorKind(<-results)]++
				}
				if checking != limit || kinds[hub.EInvalid] != limit || kinds[hub.ETooManyRequests] != burst-limit {
					t.Errorf("%d checked, answers %v; want %d checked and refused as wrong, %d refused at once", checking, kinds, limit, burst-limit)
				}
				// The right password is refused too now: the budget is spent.
				_, err = b.svc.Login(ctx, "target", "password-target", "192.0.2.51")
				wantKind(t, err, hub.ETooManyRequests, "")
			})
		}
	}
}

// TestPasswordChecksWaitForAHashingSlot holds the only two hashing slots:
// every other login, password change and account creation waits, and is
// answered EUnavailable (without hashing, and without spending the
// attempt's place in the failure budget) when no slot frees up in time.
func TestPasswordChecksWaitForAHashingSlot(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			b := setup(t, dialect, func(c *identity.Config) { c.HashConcurrency, c.HashWait = 2, 20*time.Millisecond })
			ctx := context.Background()
			b.newUser(t, "bystander", hub.RoleViewer)
			p, err := b.svc.Authenticate(ctx, b.login(t, "bystander"), "192.0.2.60")
			if err != nil {
				t.Fatal(err)
			}
			g := newGatedHashes(2, 2)
			identity.SetHashHook(b.svc, g.hook)
			holders := make(chan error, 2)
			for i := range 2 {
				go func() {
					_, err := b.svc.Login(ctx, fmt.Sprintf("holder-%d", i), "wrong-password", fmt.Sprintf("203.0.113.%d", i))
					holders <- err
				}()
			}
			<-g.entered
			<-g.entered

			// More attempts than the failure limit, one after the other:
			// each is refused as busy, none as too many.
			for i := range 12 {
				_, err := b.svc.Login(ctx, "bystander", "password-bystander", fmt.Sprintf("198.51.100.%d", i))
				wantKind(t, err, hub.EUnavailable, "The server is busy checking passwords. Try again in a few seconds.")
			}
			_, err = b.svc.ChangePassword(ctx, p, "password-bystander", "bystander-new-password")
			wantKind(t, err, hub.EUnavailable, "")
			_, err = b.svc.CreateUser(ctx, b.admin, identity.NewUser{Username: "newcomer", Password: "password-newcomer"})
			wantKind(t, err, hub.EUnavailable, "")

			close(g.open)
			for range 2 {
				wantKind(t, <-holders, hub.EInvalid, "")
			}
			if most := g.most.Load(); most != 2 {
				t.Errorf("at most %d password checks at once, want 2", most)
			}
			if calls := g.calls.Load(); calls != 2 {
				t.Errorf("%d passwords hashed or compared while the slots were held, want only the 2 holders", calls)
			}
			if _, err := b.svc.Login(ctx, "bystander", "password-bystander", "198.51.100.1"); err != nil {
				t.Errorf("login after the slots freed up: %v", err)
			}
		})
	}
}

// TestLoginBurstHashesAtMostKAtOnce sends logins for many names from many
// addresses, which the failure limiter does not stop: all are checked, but
// never more than HashConcurrency at once. Each check is held until the
// test has seen it start, then released one at a time.
func TestLoginBurstHashesAtMostKAtOnce(t *testing.T) {
	const burst, slots = 30, 3
	b := setup(t, hubtest.Dialects()[0], func(c *identity.Config) { c.HashConcurrency, c.HashWait = slots, time.Minute })
	ctx := context.Background()
	entered, release := make(chan struct{}), make(chan struct{})
	var now, most atomic.Int64
	identity.SetHashHook(b.svc, func() {
		n := now.Add(1)
		defer now.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		entered <- struct{}{}
		<-release
	})
	var wg sync.WaitGroup
	errs := make(chan error, burst)
	for i := range burst {
		wg.Go(func() {
			_, err := b.svc.Login(ctx, fmt.Sprintf("name-%d", i), "wrong-password", fmt.Sprintf("10.1.0.%d", i))
			errs <- err
		})
	}
	for range burst {
		<-entered
		release <- struct{}{}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		wantKind(t, err, hub.EInvalid, "")
	}
	if m := most.Load(); m > slots {
		t.Errorf("%d password checks at once, want at most %d", m, slots)
	}
}
