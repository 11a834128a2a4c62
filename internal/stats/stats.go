// Package stats computes the operations dashboard's figures: runs today,
// success rates and duration percentiles per robot and service over 7 and
// 30 days, failures grouped by message. Finished days are read from stored
// daily figures (computed once per day, with a duration histogram for the
// percentiles), so a request never scans every run; today is read from
// the runs themselves through the (status, finished_at) index.
package stats

import (
	"context"
	"sort"
	"time"

	"automationhub/internal/hub"
	"automationhub/internal/identity"
	"automationhub/internal/rbac"
)

// Store is what the figures are read from.
type Store interface {
	LiveDayStats(ctx context.Context, day string, start, end time.Time) ([]hub.DayStat, error)
	StoredStatsDays(ctx context.Context, from, to string) (map[string]bool, error)
	StoreStatsDay(ctx context.Context, day string, start, end, now time.Time) error
	StoredDayStats(ctx context.Context, from, to string) ([]hub.DayStat, error)
	QueuedSince(ctx context.Context, since time.Time) (map[string]int64, error)
	ActiveByRobot(ctx context.Context, status string) (map[string]int64, error)
	FailureGroups(ctx context.Context, since time.Time, limit int) ([]hub.FailureGroup, error)
	NamesOf(ctx context.Context) (robots, services map[string]string, err error)
	OldestWaitingRun(ctx context.Context, now time.Time) (string, *time.Time, error)
	OpenAlertsByType(ctx context.Context) (map[string]int64, error)
	ListAlerts(ctx context.Context, f hub.AlertFilter) ([]hub.Alert, error)
	RobotsInScope(ctx context.Context, s hub.RobotScope) ([]string, error)
}

// Service answers the dashboard's questions for a principal with run.read,
// limited to the robots it may read runs of.
type Service struct {
	store Store
	clock hub.Clock
	loc   *time.Location
}

// New returns the stats service; days are counted in loc.
func New(store Store, clock hub.Clock, loc *time.Location) *Service {
	if clock == nil {
		clock = hub.SystemClock{}
	}
	if loc == nil {
		loc = time.UTC
	}
	return &Service{store: store, clock: clock, loc: loc}
}

// Location is the time zone days are counted in.
func (s *Service) Location() *time.Location { return s.loc }

// Overview is the dashboard's head figures.
type Overview struct {
	RunsToday       int64
	SuccessToday    int64
	FailedToday     int64
	SuccessRate     *float64 // today, of finished SUCCESS+FAILED; nil without any
	OpenAlerts      int64
	OpenByType      map[string]int64
	RunningNow      int64
	PendingNow      int64
	OldestWaiting   *time.Time
	OldestWaitingID string
	Day             string
}

// Figures are one robot's or service's runs over a window.
type Figures struct {
	ID, Name                  string
	RobotID                   string // for services
	Success, Failed, Canceled int64
	SuccessRate               *float64
	P50, P90                  *float64 // seconds
	// Daily are the finished runs per day, oldest first (one per day of the window).
	Daily []Day
}

// Day is one day's finished runs.
type Day struct {
	Day                       string
	Success, Failed, Canceled int64
}

// Failure is failed runs with one message over a window.
type Failure struct {
	Message  string
	Count    int64
	Robots   []string
	LastSeen string
}

func forbidden() error { return hub.Errorf(hub.EForbidden, identity.MsgForbidden) }

func (s *Service) scope(ctx context.Context, p *hub.Principal) (hub.RobotScope, func(robotID string) bool, error) {
	if !rbac.Has(p, hub.PermRunRead) {
		return hub.RobotScope{}, nil, forbidden()
	}
	sc := rbac.Scope(p, hub.PermRunRead)
	if sc.All {
		return sc, func(string) bool { return true }, nil
	}
	ids, err := s.store.RobotsInScope(ctx, sc)
	if err != nil {
		return sc, nil, err
	}
	set := make(map[string]bool, len(ids))
	for _, id := range ids {
		set[id] = true
	}
	return sc, func(id string) bool { return set[id] }, nil
}

// today returns today's key and bounds.
func (s *Service) today(now time.Time) (string, time.Time, time.Time) {
	l := now.In(s.loc)
	start := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, s.loc)
	return start.Format(time.DateOnly), start.UTC(), start.AddDate(0, 0, 1).UTC()
}

// Overview returns the head figures.
func (s *Service) Overview(ctx context.Context, p *hub.Principal) (*Overview, error) {
	sc, allowed, err := s.scope(ctx, p)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	day, start, end := s.today(now)
	o := &Overview{Day: day, OpenByType: map[string]int64{}}
	queued, err := s.store.QueuedSince(ctx, start)
	if err != nil {
		return nil, err
	}
	for id, n := range queued {
		if allowed(id) {
			o.RunsToday += n
		}
	}
	live, err := s.store.LiveDayStats(ctx, day, start, end)
	if err != nil {
		return nil, err
	}
	for _, d := range live {
		if allowed(d.RobotID) {
			o.SuccessToday += d.Success
			o.FailedToday += d.Failed
		}
	}
	o.SuccessRate = rate(o.SuccessToday, o.FailedToday)
	for status, dst := range map[string]*int64{hub.RunRunning: &o.RunningNow, hub.RunPending: &o.PendingNow} {
		by, err := s.store.ActiveByRobot(ctx, status)
		if err != nil {
			return nil, err
		}
		for id, n := range by {
			if allowed(id) {
				*dst += n
			}
		}
	}
	if sc.All {
		if o.OldestWaitingID, o.OldestWaiting, err = s.store.OldestWaitingRun(ctx, now); err != nil {
			return nil, err
		}
		if o.OpenByType, err = s.store.OpenAlertsByType(ctx); err != nil {
			return nil, err
		}
	} else {
		list, err := s.store.ListAlerts(ctx, hub.AlertFilter{Status: "open", Scope: sc, Limit: 1000})
		if err != nil {
			return nil, err
		}
		for _, a := range list {
			o.OpenByType[a.Type]++
		}
	}
	for _, n := range o.OpenByType {
		o.OpenAlerts += n
	}
	return o, nil
}

func rate(ok, failed int64) *float64 {
	if ok+failed == 0 {
		return nil
	}
	r := float64(ok) / float64(ok+failed)
	return &r
}

// window returns the day keys of the last days days, oldest first (today last).
func (s *Service) window(now time.Time, days int) []string {
	l := now.In(s.loc)
	start := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, s.loc)
	out := make([]string, days)
	for i := range days {
		out[i] = start.AddDate(0, 0, i-days+1).Format(time.DateOnly)
	}
	return out
}

// settle is how long after a day ends its figures are still read from the
// runs (a run finishing at midnight may commit a moment later).
const settle = 10 * time.Minute

// EnsureDays stores the figures of the finished days among the last days
// days that are not stored yet (at most 400 days back); a day is stored
// once it ended more than settle ago.
func (s *Service) EnsureDays(ctx context.Context, days int) error {
	now := s.clock.Now()
	keys := s.window(now, min(days, 400))
	stored, err := s.store.StoredStatsDays(ctx, keys[0], keys[len(keys)-1])
	if err != nil {
		return err
	}
	for _, k := range keys {
		if stored[k] {
			continue
		}
		start, end := s.bounds(k)
		if end.After(now.Add(-settle)) {
			continue
		}
		if err := s.store.StoreStatsDay(ctx, k, start, end, now); err != nil {
			return err
		}
	}
	return nil
}

// bounds returns a day's start and end (UTC).
func (s *Service) bounds(day string) (time.Time, time.Time) {
	d, _ := time.ParseInLocation(time.DateOnly, day, s.loc)
	return d.UTC(), d.AddDate(0, 0, 1).UTC()
}

// dayStats returns the figures of the last days days: stored days, and
// the days not stored yet (today) read from the runs.
func (s *Service) dayStats(ctx context.Context, days int) ([]string, []hub.DayStat, error) {
	if err := s.EnsureDays(ctx, days); err != nil {
		return nil, nil, err
	}
	keys := s.window(s.clock.Now(), days)
	rows, err := s.store.StoredDayStats(ctx, keys[0], keys[len(keys)-1])
	if err != nil {
		return nil, nil, err
	}
	stored, err := s.store.StoredStatsDays(ctx, keys[0], keys[len(keys)-1])
	if err != nil {
		return nil, nil, err
	}
	for _, k := range keys {
		if stored[k] {
			continue
		}
		start, end := s.bounds(k)
		live, err := s.store.LiveDayStats(ctx, k, start, end)
		if err != nil {
			return nil, nil, err
		}
		rows = append(rows, live...)
	}
	return keys, rows, nil
}

// ValidDays checks a window length: 7 or 30 (1 to 90 allowed).
func ValidDays(days int) error {
	if days < 1 || days > 90 {
		return hub.Errorf(hub.EUnprocessable, "days must be between 1 and 90.")
	}
	return nil
}

// Robots returns each robot's figures over the last days days, the busiest
// first.
func (s *Service) Robots(ctx context.Context, p *hub.Principal, days int) ([]Figures, error) {
	return s.figures(ctx, p, days, false)
}

// Services returns each portal service's figures over the last days days.
func (s *Service) Services(ctx context.Context, p *hub.Principal, days int) ([]Figures, error) {
	return s.figures(ctx, p, days, true)
}

func (s *Service) figures(ctx context.Context, p *hub.Principal, days int, services bool) ([]Figures, error) {
	if err := ValidDays(days); err != nil {
		return nil, err
	}
	_, allowed, err := s.scope(ctx, p)
	if err != nil {
		return nil, err
	}
	keys, rows, err := s.dayStats(ctx, days)
	if err != nil {
		return nil, err
	}
	robots, svcs, err := s.store.NamesOf(ctx)
	if err != nil {
		return nil, err
	}
	index := map[string]int{}
	for i, k := range keys {
		index[k] = i
	}
	type acc struct {
		f    Figures
		hist hub.Hist
	}
	by := map[string]*acc{}
	for _, r := range rows {
		if !allowed(r.RobotID) {
			continue
		}
		id := r.RobotID
		if services {
			if r.ServiceID == "" {
				continue
			}
			id = r.ServiceID
		}
		a := by[id]
		if a == nil {
			a = &acc{f: Figures{ID: id, RobotID: r.RobotID, Daily: make([]Day, len(keys))}, hist: hub.NewHist()}
			for i, k := range keys {
				a.f.Daily[i].Day = k
			}
			if services {
				a.f.Name = svcs[id]
			} else {
				a.f.Name = robots[id]
			}
			by[id] = a
		}
		a.f.Success += r.Success
		a.f.Failed += r.Failed
		a.f.Canceled += r.Canceled
		a.hist.Merge(r.Hist)
		if i, ok := index[r.Day]; ok {
			a.f.Daily[i].Success += r.Success
			a.f.Daily[i].Failed += r.Failed
			a.f.Daily[i].Canceled += r.Canceled
		}
	}
	out := make([]Figures, 0, len(by))
	for _, a := range by {
		a.f.SuccessRate = rate(a.f.Success, a.f.Failed)
		if v, ok := a.hist.Quantile(0.5); ok {
			a.f.P50 = &v
		}
		if v, ok := a.hist.Quantile(0.9); ok {
			a.f.P90 = &v
		}
		out = append(out, a.f)
	}
	sort.Slice(out, func(i, j int) bool {
		ni, nj := out[i].Success+out[i].Failed+out[i].Canceled, out[j].Success+out[j].Failed+out[j].Canceled
		if ni != nj {
			return ni > nj
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// Daily returns the finished runs per day over the last days days.
func (s *Service) Daily(ctx context.Context, p *hub.Principal, days int) ([]Day, error) {
	if err := ValidDays(days); err != nil {
		return nil, err
	}
	_, allowed, err := s.scope(ctx, p)
	if err != nil {
		return nil, err
	}
	keys, rows, err := s.dayStats(ctx, days)
	if err != nil {
		return nil, err
	}
	out := make([]Day, len(keys))
	index := map[string]int{}
	for i, k := range keys {
		out[i].Day = k
		index[k] = i
	}
	for _, r := range rows {
		if i, ok := index[r.Day]; ok && allowed(r.RobotID) {
			out[i].Success += r.Success
			out[i].Failed += r.Failed
			out[i].Canceled += r.Canceled
		}
	}
	return out, nil
}

// Failures groups the runs failed in the last days days by error message,
// the most frequent first (at most limit groups).
func (s *Service) Failures(ctx context.Context, p *hub.Principal, days, limit int) ([]Failure, error) {
	if err := ValidDays(days); err != nil {
		return nil, err
	}
	_, allowed, err := s.scope(ctx, p)
	if err != nil {
		return nil, err
	}
	if limit < 1 || limit > 100 {
		limit = 20
	}
	keys := s.window(s.clock.Now(), days)
	since, _ := time.ParseInLocation(time.DateOnly, keys[0], s.loc)
	groups, err := s.store.FailureGroups(ctx, since.UTC(), 5000)
	if err != nil {
		return nil, err
	}
	robots, _, err := s.store.NamesOf(ctx)
	if err != nil {
		return nil, err
	}
	by := map[string]*Failure{}
	for _, g := range groups {
		if !allowed(g.RobotID) {
			continue
		}
		f := by[g.Message]
		if f == nil {
			f = &Failure{Message: g.Message}
			by[g.Message] = f
		}
		f.Count += g.Count
		f.Robots = append(f.Robots, robots[g.RobotID])
		if g.LastSeen != nil && *g.LastSeen > f.LastSeen {
			f.LastSeen = *g.LastSeen
		}
	}
	out := make([]Failure, 0, len(by))
	for _, f := range by {
		sort.Strings(f.Robots)
		out = append(out, *f)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Message < out[j].Message
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}
