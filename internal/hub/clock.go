package hub

import "time"

// Clock tells the time. Production code uses SystemClock; tests inject a fixed
// or stepping clock so that time-based rules are deterministic.
type Clock interface {
	Now() time.Time
}

// SystemClock is the wall clock, in UTC, truncated to microseconds so that a
// time survives a round trip through every supported database unchanged.
type SystemClock struct{}

// Now returns the current UTC time truncated to microseconds.
func (SystemClock) Now() time.Time { return Timestamp(time.Now()) }

// Timestamp normalises t the way the hub stores times: UTC, microsecond precision.
func Timestamp(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }
