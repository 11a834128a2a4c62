package schedule

import (
	"time"

	"automationhub/internal/hub"
)

// Catch-up bounds.
const (
	// LateGrace is how late a fire may start and still count as on time:
	// a fire no later than this runs whatever the catch-up policy.
	LateGrace = time.Minute
	// MaxCatchupFires bounds the missed fires "all" starts in one go (the
	// most recent ones).
	MaxCatchupFires = 100
	// MaxCatchupWindow bounds catchup_window_seconds (7 days).
	MaxCatchupWindow = 7 * 24 * time.Hour
)

// Plan decides what a due schedule does at now: the fire times to start
// runs for (oldest first; empty when the fires it missed are dropped) and
// its next fire time (nil when it never fires again). due is the stored
// next fire time, at or before now.
//
// Fires no later than LateGrace always run. Older fires — missed while no
// scheduler ran — follow the catch-up policy: "latest" runs the most
// recent one if it is within the catch-up window, "none" runs none, "all"
// runs every one within the window (at most MaxCatchupFires, the latest).
func Plan(spec *Spec, catchup string, window time.Duration, due, now time.Time) (fires []time.Time, next *time.Time) {
	reach := max(window, LateGrace)
	if catchup == hub.CatchupNone {
		reach = LateGrace
	}
	from := due
	if earliest := now.Add(-reach); from.Before(earliest) {
		from = earliest
	}
	// Fire times in [from, now]; due itself is one when it is in reach.
	var times []time.Time
	if !due.Before(from) {
		times = append(times, due)
	}
	t := from
	if len(times) > 0 {
		t = due
	}
	for {
		n, ok := spec.Next(t)
		if !ok || n.After(now) {
			break
		}
		times = append(times, n)
		t = n
		if catchup == hub.CatchupAll && len(times) > MaxCatchupFires {
			times = times[1:]
		}
	}
	if len(times) > 0 {
		switch catchup {
		case hub.CatchupAll:
			fires = times
		default: // latest, none (none's reach is only the grace period)
			fires = times[len(times)-1:]
		}
	}
	if n, ok := spec.Next(now); ok {
		next = &n
	}
	return fires, next
}
