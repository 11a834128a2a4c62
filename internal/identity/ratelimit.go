package identity

import (
	"sync"
	"time"
)

// failureLimiter counts failed attempts per key (client IP, user name) in a
// fixed window and blocks a key once it reaches the limit. It is per process:
// each API server enforces its own budget.
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

// blocked reports whether key has used up its failures in the current window.
func (l *failureLimiter) blocked(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.entries[key]
	return ok && now.Sub(w.start) < l.window && w.failures >= l.limit
}

// fail records a failure of key.
func (l *failureLimiter) fail(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.gc(now)
	w, ok := l.entries[key]
	if !ok || now.Sub(w.start) >= l.window {
		w = &window{start: now}
		l.entries[key] = w
	}
	w.failures++
}

// reset forgets key's failures (after a successful login).
func (l *failureLimiter) reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.entries, key)
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
