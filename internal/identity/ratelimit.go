package identity

import (
	"sync"
	"time"

	"automationhub/internal/hub"
)

// failureLimiter counts attempts per key (client IP, user name) in a fixed
// window — those that failed and those still being checked — and refuses a
// key once it reaches the limit. It is per process: each API server
// enforces its own budget.
type failureLimiter struct {
	limit  int
	window time.Duration

	mu      sync.Mutex
	entries map[string]*window
	sweep   time.Time
}

type window struct {
	start    time.Time
	failures int
}

func newFailureLimiter(limit int, win time.Duration) *failureLimiter {
	return &failureLimiter{limit: limit, window: win, entries: map[string]*window{}}
}

// reserve takes one attempt from key's budget in the current window and
// reports whether one was left; the window it was taken from is returned
// for release. The attempt is counted before the password is checked, so
// that a burst of concurrent attempts cannot all pass the check before any
// of them is counted: at most limit attempts per window are ever checked.
func (l *failureLimiter) reserve(key string, now time.Time) (*window, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.gc(now)
	w, ok := l.entries[key]
	if !ok || now.Sub(w.start) >= l.window {
		w = &window{start: now}
		l.entries[key] = w
	}
	if w.failures >= l.limit {
		return nil, false
	}
	w.failures++
	return w, true
}

// release gives back an attempt reserved from w that did not fail (the
// password was right, or it was never checked). A window that has ended
// since is left alone.
func (l *failureLimiter) release(key string, w *window) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.entries[key] == w && w.failures > 0 {
		w.failures--
	}
}

// reset forgets key's failures (after a successful login).
func (l *failureLimiter) reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.entries, key)
}

// attempt is one password check under the failure limiter: it holds a
// slot of the client address's budget and one of the user name's, reserved
// before the check. A failed check keeps both; succeeded gives the
// address's back and forgets the name's failures; finish gives back
// whatever an undecided attempt (refused for another reason, never
// checked, or failed by an error) still holds.
type attempt struct {
	s        *Service
	ip, name string
	ipw, nw  *window
	decided  bool
}

// reserveAttempt takes a slot from clientIP's and from name's budgets, or
// answers ETooManyRequests when either is used up. Call finish when done.
func (s *Service) reserveAttempt(clientIP, name string, now time.Time) (*attempt, error) {
	a := &attempt{s: s, ip: clientIP, name: name}
	var ok bool
	if a.ipw, ok = s.ipLimit.reserve(clientIP, now); !ok {
		return nil, hub.Errorf(hub.ETooManyRequests, msgTooManyAttempts)
	}
	if a.nw, ok = s.userLimit.reserve(name, now); !ok {
		s.ipLimit.release(clientIP, a.ipw)
		return nil, hub.Errorf(hub.ETooManyRequests, msgTooManyAttempts)
	}
	return a, nil
}

// failed keeps the attempt counted as a failure.
func (a *attempt) failed() { a.decided = true }

// succeeded returns the address's slot and resets the name's failures.
func (a *attempt) succeeded() {
	a.decided = true
	a.s.ipLimit.release(a.ip, a.ipw)
	a.s.userLimit.reset(a.name)
}

// finish returns both slots unless the attempt failed or succeeded.
func (a *attempt) finish() {
	if !a.decided {
		a.s.ipLimit.release(a.ip, a.ipw)
		a.s.userLimit.release(a.name, a.nw)
	}
}

// gc drops expired windows at most once per window, so the map stays bounded
// by the number of keys seen in one window.
func (l *failureLimiter) gc(now time.Time) {
	if now.Sub(l.sweep) < l.window {
		return
	}
	l.sweep = now
	for k, w := range l.entries {
		if now.Sub(w.start) >= l.window {
			delete(l.entries, k)
		}
	}
}

// auditBudget lets at most limit events of one kind be written per window
// and counts the others, so that a flood of failed logins from many
// addresses cannot grow the audit trail without bound. It is per process.
type auditBudget struct {
	limit  int
	window time.Duration

	mu      sync.Mutex
	start   time.Time
	used    int
	skipped int
}

// take reports whether one more event may be written now and, when it may,
// how many were skipped since the last one written.
func (b *auditBudget) take(now time.Time) (bool, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if now.Sub(b.start) >= b.window {
		b.start, b.used = now, 0
	}
	if b.used >= b.limit {
		b.skipped++
		return false, 0
	}
	b.used++
	n := b.skipped
	b.skipped = 0
	return true, n
}

// skip counts an event that is not written at all (a throttled attempt).
func (b *auditBudget) skip() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.skipped++
}
