package schedule

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // time zones work on hosts without a zoneinfo database

	"github.com/adhocore/gronx"

	"automationhub/internal/hub"
)

// macros are the @-names accepted for common timetables.
var macros = map[string]string{
	"@yearly":   "0 0 1 1 *",
	"@annually": "0 0 1 1 *",
	"@monthly":  "0 0 1 * *",
	"@weekly":   "0 0 * * 0",
	"@daily":    "0 0 * * *",
	"@midnight": "0 0 * * *",
	"@hourly":   "0 * * * *",
}

// Messages of the previous backend for a bad cron expression.
const (
	msgCronFields = "cron_expr must have exactly 5 fields."
	msgCronSyntax = "cron_expr contains invalid field syntax."
)

// NormalizeCron checks a cron expression — five fields (minute, hour, day
// of month, month, day of week; names like MON and JAN allowed) or one of
// the macros @yearly, @annually, @monthly, @weekly, @daily, @midnight,
// @hourly — and returns its five fields separated by single spaces. A bad
// expression is an hub.EInvalid error with the previous backend's message.
func NormalizeCron(expr string) (string, error) {
	e := strings.TrimSpace(expr)
	if strings.HasPrefix(e, "@") {
		m, ok := macros[strings.ToLower(e)]
		if !ok {
			return "", hub.Errorf(hub.EInvalid, msgCronSyntax)
		}
		return m, nil
	}
	fields := strings.Fields(e)
	if len(fields) != 5 {
		return "", hub.Errorf(hub.EInvalid, msgCronFields)
	}
	norm := strings.Join(fields, " ")
	if !gronx.IsValid(norm) || !boundedSteps(fields) {
		return "", hub.Errorf(hub.EInvalid, msgCronSyntax)
	}
	return norm, nil
}

// boundedSteps refuses steps of zero and values outside each field's range,
// which the matcher would otherwise accept and never match (or loop on).
func boundedSteps(fields []string) bool {
	bounds := [5][2]int{{0, 59}, {0, 23}, {1, 31}, {1, 12}, {0, 7}}
	for i, f := range fields {
		for _, part := range strings.Split(dayNames.Replace(strings.ToUpper(f)), ",") {
			base, step, hasStep := strings.Cut(part, "/")
			if hasStep {
				n, err := strconv.Atoi(step)
				if err != nil || n < 1 || n > bounds[i][1]+1 {
					return false
				}
			}
			if base == "*" || base == "?" || strings.ContainsAny(base, "LW#") {
				continue
			}
			lo, hi, isRange := strings.Cut(base, "-")
			for _, v := range []string{lo, hi} {
				if v == "" && !isRange {
					continue
				}
				n, err := strconv.Atoi(v)
				if err != nil || n < bounds[i][0] || n > bounds[i][1] {
					return false
				}
			}
		}
	}
	return true
}

// LoadZone returns the IANA time zone name; an unknown name (or "Local",
// which means a different zone on every host) is an hub.EInvalid error.
func LoadZone(name string) (*time.Location, error) {
	n := strings.TrimSpace(name)
	if n == "" || n == "Local" || strings.EqualFold(n, "local") {
		return nil, hub.Errorf(hub.EInvalid, "Unknown timezone: %q. Use an IANA name such as America/Sao_Paulo or UTC.", name)
	}
	loc, err := time.LoadLocation(n)
	if err != nil {
		return nil, hub.Errorf(hub.EInvalid, "Unknown timezone: %q. Use an IANA name such as America/Sao_Paulo or UTC.", name)
	}
	return loc, nil
}

// parseHHMM returns the minutes since midnight of "HH:MM".
func parseHHMM(s string) (int, bool) {
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	h, err1 := strconv.Atoi(s[:2])
	m, err2 := strconv.Atoi(s[3:])
	if err1 != nil || err2 != nil || h < 0 || h > 23 || m < 0 || m > 59 {
		return 0, false
	}
	return h*60 + m, true
}

// Spec is a checked timetable: a cron expression read in a time zone,
// optionally limited to a daily window of local time.
type Spec struct {
	expr     string
	loc      *time.Location
	window   bool
	from, to int // minutes since local midnight, inclusive

	// memo remembers recent answers of Next: a scheduler asks the same
	// question for every schedule of one timetable in a pass.
	mu   sync.Mutex
	memo map[time.Time]nextAnswer
}

type nextAnswer struct {
	at time.Time
	ok bool
}

const maxMemo = 16

// specCache keeps the specs of the timetables a scheduler meets, so that a
// pass over thousands of schedules parses each timetable once. It is
// emptied when it grows past maxCachedSpecs.
var specCache = struct {
	sync.Mutex
	m map[string]*Spec
}{m: map[string]*Spec{}}

const maxCachedSpecs = 4096

// cachedSpec is NewSpec through specCache (for valid timetables only).
func cachedSpec(cronExpr, timezone string, windowStart, windowEnd *string) (*Spec, error) {
	key := cronExpr + "\x00" + timezone
	if windowStart != nil && windowEnd != nil {
		key += "\x00" + *windowStart + "\x00" + *windowEnd
	}
	specCache.Lock()
	s, ok := specCache.m[key]
	specCache.Unlock()
	if ok {
		return s, nil
	}
	s, err := NewSpec(cronExpr, timezone, windowStart, windowEnd)
	if err != nil {
		return nil, err
	}
	specCache.Lock()
	if len(specCache.m) >= maxCachedSpecs {
		specCache.m = map[string]*Spec{}
	}
	specCache.m[key] = s
	specCache.Unlock()
	return s, nil
}

// NewSpec checks and combines the parts of a timetable. Errors are
// hub.EInvalid with a message for the caller.
func NewSpec(cronExpr, timezone string, windowStart, windowEnd *string) (*Spec, error) {
	expr, err := NormalizeCron(cronExpr)
	if err != nil {
		return nil, err
	}
	loc, err := LoadZone(timezone)
	if err != nil {
		return nil, err
	}
	s := &Spec{expr: expr, loc: loc}
	if (windowStart == nil) != (windowEnd == nil) {
		return nil, hub.Errorf(hub.EUnprocessable, MsgWindowPair)
	}
	if windowStart != nil {
		var ok1, ok2 bool
		s.from, ok1 = parseHHMM(*windowStart)
		s.to, ok2 = parseHHMM(*windowEnd)
		if !ok1 || !ok2 {
			return nil, hub.Errorf(hub.EUnprocessable, "window_start and window_end must be HH:MM (00:00 to 23:59).")
		}
		s.window = true
	}
	return s, nil
}

// MsgWindowPair is the previous backend's message for a window given by
// one end only.
const MsgWindowPair = "window_start and window_end must be informed together."

// Expr returns the normalised five-field expression.
func (s *Spec) Expr() string { return s.expr }

// Location returns the time zone the expression is read in.
func (s *Spec) Location() *time.Location { return s.loc }

// naive is t's wall clock as a UTC time, truncated to the minute: the
// cron expression is matched against wall-clock fields, not instants.
func naive(t time.Time) time.Time {
	y, mo, d := t.Date()
	return time.Date(y, mo, d, t.Hour(), t.Minute(), 0, 0, time.UTC)
}

// horizon bounds how far ahead Next looks (a 29 February fire is at most
// eight years away).
const horizon = 9 * 366 * 24 * time.Hour

// Next returns the first fire instant strictly after t, and false when the
// timetable never fires again within about nine years.
//
// Fires follow the local wall clock of the zone. A local time that does
// not exist (the hour skipped when daylight-saving time starts) fires once,
// at the first valid instant after the gap; a local time that happens twice
// (the hour repeated when it ends) fires once, at its first occurrence.
func (s *Spec) Next(t time.Time) (time.Time, bool) {
	s.mu.Lock()
	a, ok := s.memo[t]
	s.mu.Unlock()
	if ok {
		return a.at, a.ok
	}
	at, found := s.next(t)
	s.mu.Lock()
	if s.memo == nil || len(s.memo) >= maxMemo {
		s.memo = map[time.Time]nextAnswer{}
	}
	s.memo[t] = nextAnswer{at, found}
	s.mu.Unlock()
	return at, found
}

func (s *Spec) next(t time.Time) (time.Time, bool) {
	start := naive(t.In(s.loc))
	cand, incl := start, true
	for range 100000 {
		n, err := gronx.NextTickAfter(s.expr, cand, incl)
		if err != nil || n.Sub(start) > horizon || !n.After(cand) && !incl {
			return time.Time{}, false
		}
		cand, incl = n, false
		if open, ok := s.nextOpen(n); !ok {
			cand, incl = open, true
			continue
		}
		if at := s.instant(n); at.After(t) {
			return at, true
		}
	}
	return time.Time{}, false
}

// nextOpen reports whether the wall time w is inside the window; when it
// is not, it returns the wall time at which the window opens next.
func (s *Spec) nextOpen(w time.Time) (time.Time, bool) {
	if !s.window {
		return w, true
	}
	m := w.Hour()*60 + w.Minute()
	day := time.Date(w.Year(), w.Month(), w.Day(), 0, 0, 0, 0, time.UTC)
	openAt := day.Add(time.Duration(s.from) * time.Minute)
	if s.from <= s.to {
		switch {
		case m < s.from:
			return openAt, false
		case m > s.to:
			return openAt.AddDate(0, 0, 1), false
		}
		return w, true
	}
	// Overnight: from start to midnight, and from midnight to end.
	if m >= s.from || m <= s.to {
		return w, true
	}
	return openAt, false
}

// InWindow reports whether the local wall time of t is inside the window
// (always true without one).
func (s *Spec) InWindow(t time.Time) bool {
	_, ok := s.nextOpen(naive(t.In(s.loc)))
	return ok
}

// instant is the instant a fire at wall time w happens: its only or first
// occurrence, or — when w falls in a gap — the instant the gap ends.
func (s *Spec) instant(w time.Time) time.Time {
	guess := time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), 0, 0, s.loc)
	zStart, zEnd := guess.ZoneBounds()
	cands := []time.Time{guess}
	if !zStart.IsZero() {
		cands = append(cands, zStart.Add(-time.Nanosecond))
	}
	if !zEnd.IsZero() {
		cands = append(cands, zEnd)
	}
	var best time.Time
	for _, c := range cands {
		_, off := c.Zone()
		u := w.Add(-time.Duration(off) * time.Second).In(s.loc)
		if naive(u).Equal(w) && (best.IsZero() || u.Before(best)) {
			best = u
		}
	}
	if !best.IsZero() {
		return best.UTC()
	}
	for _, tr := range []time.Time{zStart, zEnd} {
		if tr.IsZero() {
			continue
		}
		before, after := tr.Add(-time.Nanosecond).In(s.loc), tr.In(s.loc)
		if naive(before).Before(w) && naive(after).After(w) {
			return tr.UTC()
		}
	}
	return guess.UTC()
}

// NextN returns up to n fire instants after t.
func (s *Spec) NextN(t time.Time, n int) []time.Time {
	out := make([]time.Time, 0, n)
	for len(out) < n {
		next, ok := s.Next(t)
		if !ok {
			break
		}
		out = append(out, next)
		t = next
	}
	return out
}

// String describes the spec for logs.
func (s *Spec) String() string { return fmt.Sprintf("%q in %s", s.expr, s.loc) }
