// Package schedule runs robots on a timetable. A schedule (one per robot)
// is a five-field cron expression read in an IANA time zone, optionally
// limited to a daily window; the Scheduler component fires due schedules,
// exactly once across every hub serve process on one database, by moving
// each schedule's next fire time forward with a conditional update in the
// transaction that creates its run. Daylight-saving gaps and repeats, an
// overlap policy (skip, queue, cancel_previous) and a catch-up policy for
// fires missed while no scheduler ran are handled here; retries and limits
// are the queue's (the store's claim).
package schedule

import (
	"context"
	"slices"
	"time"

	"github.com/google/uuid"

	"automationhub/internal/audit"
	"automationhub/internal/hub"
	"automationhub/internal/identity"
	"automationhub/internal/rbac"
)

// Store is the persistence the schedule service and the scheduler need.
type Store interface {
	// RobotByID returns a robot; ENotFound "Robot not found.".
	RobotByID(ctx context.Context, id string) (*hub.Robot, error)
	// CreateSchedule stores a schedule; EInvalid "Robot already has a
	// schedule.", ENotFound "Robot not found.".
	CreateSchedule(ctx context.Context, s *hub.Schedule, ev *hub.AuditEvent) error
	// ScheduleByRobot returns a robot's schedule; ENotFound "Schedule not found.".
	ScheduleByRobot(ctx context.Context, robotID string) (*hub.Schedule, error)
	// UpdateSchedule stores a changed schedule; when next is not nil its
	// next fire time becomes next(the later of now and its last fire),
	// under the row's lock. ENotFound when it is gone.
	UpdateSchedule(ctx context.Context, s *hub.Schedule, now time.Time, next func(after time.Time) *time.Time, ev *hub.AuditEvent) error
	// DeleteSchedule removes a robot's schedule; ENotFound when it has none.
	DeleteSchedule(ctx context.Context, robotID string, ev *hub.AuditEvent) error
	// ListSchedules returns the schedules of the robots in scope.
	ListSchedules(ctx context.Context, scope hub.RobotScope, enabled *bool, p hub.Page) ([]hub.Schedule, error)
	// NextScheduleDue returns the earliest next fire time of the enabled
	// schedules (nil: none).
	NextScheduleDue(ctx context.Context) (*time.Time, error)
	// DueSchedules lists up to limit schedules due at now, earliest first.
	DueSchedules(ctx context.Context, now time.Time, limit int) ([]string, error)
	// FireSchedules claims the schedules among ids that are due at now and
	// starts their runs as decide says, in one transaction (see sqlstore).
	FireSchedules(ctx context.Context, ids []string, now time.Time, decide func(*hub.Schedule, hub.ScheduleLoad) hub.FireDecision) ([]hub.FireOutcome, error)
}

// Defaults of a new schedule, as in the previous backend, plus the
// policies it did not have.
const (
	DefaultTimezone       = "America/Sao_Paulo"
	DefaultMaxConcurrency = 1
	DefaultTimeout        = 3600
	DefaultRetryBackoff   = 60
	DefaultCatchupWindow  = 3600
)

// Service creates, reads, changes and deletes schedules, with the
// permission checks of the robot endpoints: robot.read to read, and
// robot.publish to change, on the schedule's robot.
type Service struct {
	store Store
	clock hub.Clock
	// changed is told when a schedule changes, so a scheduler in this
	// process looks again at once.
	changed func()
	// CheckRunsFunc, when set, says whether the robot's scheduled runs
	// could start (its required configuration for PROD is there); an
	// enabled schedule is refused with its error (EConflict).
	CheckRunsFunc func(ctx context.Context, robotID string) error
}

// New returns the schedule service. changed, when not nil, is called after
// every change (Scheduler.Wake).
func New(store Store, clock hub.Clock, changed func()) *Service {
	if clock == nil {
		clock = hub.SystemClock{}
	}
	if changed == nil {
		changed = func() {}
	}
	return &Service{store: store, clock: clock, changed: changed}
}

// checkRuns applies CheckRunsFunc.
func (s *Service) checkRuns(ctx context.Context, robotID string) error {
	if s.CheckRunsFunc == nil {
		return nil
	}
	return s.CheckRunsFunc(ctx, robotID)
}

func forbidden() error { return hub.Errorf(hub.EForbidden, identity.MsgForbidden) }

// robotFor checks perm on a robot given by id.
func (s *Service) robotFor(ctx context.Context, p *hub.Principal, robotID string, perm hub.Permission) (*hub.Robot, error) {
	id, err := uuid.Parse(robotID)
	if err != nil {
		return nil, hub.Errorf(hub.EInvalid, "robot_id invalido.")
	}
	return rbac.LoadRobot(ctx, p, id.String(), perm, s.store.RobotByID, forbidden())
}

// Input is a schedule's settings as a caller gives them. In a change, nil
// means "keep"; ClearWindow sets both window ends to null.
type Input struct {
	Enabled             *bool
	CronExpr            *string
	Timezone            *string
	WindowStart         *string
	WindowEnd           *string
	MaxConcurrency      *int
	TimeoutSeconds      *int
	RetryCount          *int
	RetryBackoffSeconds *int
	OverlapPolicy       *string
	Catchup             *string
	CatchupWindowSecs   *int
	// Present names the fields a change sends, null ones included.
	Present map[string]bool
}

// checkRanges validates the numeric fields and policies of a schedule.
func checkRanges(sc *hub.Schedule) error {
	switch {
	case sc.MaxConcurrency < 1 || sc.MaxConcurrency > 100:
		return hub.Errorf(hub.EUnprocessable, "max_concurrency must be between 1 and 100.")
	case sc.TimeoutSeconds < 1 || sc.TimeoutSeconds > 86400:
		return hub.Errorf(hub.EUnprocessable, "timeout_seconds must be between 1 and 86400.")
	case sc.RetryCount < 0 || sc.RetryCount > hub.MaxRetryCount:
		return hub.Errorf(hub.EUnprocessable, "retry_count must be between 0 and %d.", hub.MaxRetryCount)
	case sc.RetryBackoffSeconds < 1 || sc.RetryBackoffSeconds > hub.MaxRetryBackoffSeconds:
		return hub.Errorf(hub.EUnprocessable, "retry_backoff_seconds must be between 1 and %d.", hub.MaxRetryBackoffSeconds)
	case !slices.Contains([]string{hub.OverlapSkip, hub.OverlapQueue, hub.OverlapCancelPrevious}, sc.OverlapPolicy):
		return hub.Errorf(hub.EUnprocessable, "overlap_policy must be one of: skip, queue, cancel_previous.")
	case !slices.Contains([]string{hub.CatchupLatest, hub.CatchupNone, hub.CatchupAll}, sc.Catchup):
		return hub.Errorf(hub.EUnprocessable, "catchup must be one of: latest, none, all.")
	case sc.CatchupWindowSecs < 0 || time.Duration(sc.CatchupWindowSecs)*time.Second > MaxCatchupWindow:
		return hub.Errorf(hub.EUnprocessable, "catchup_window_seconds must be between 0 and %d.", int(MaxCatchupWindow/time.Second))
	}
	return nil
}

// timetable checks the cron expression, time zone and window of sc, in the
// previous backend's order (cron first), and stores the normalised zone
// name; it returns the spec.
func timetable(sc *hub.Schedule) (*Spec, error) {
	if _, err := NormalizeCron(sc.CronExpr); err != nil {
		return nil, err
	}
	if (sc.WindowStart == nil) != (sc.WindowEnd == nil) {
		return nil, hub.Errorf(hub.EUnprocessable, MsgWindowPair)
	}
	return NewSpec(sc.CronExpr, sc.Timezone, sc.WindowStart, sc.WindowEnd)
}

// nextFire is the schedule's first fire time after now (nil when it never
// fires).
func nextFire(spec *Spec, now time.Time) *time.Time {
	if n, ok := spec.Next(now); ok {
		return &n
	}
	return nil
}

// Create gives a robot its schedule (robot.publish on it). The cron
// expression is checked first (400), then the robot (404), then that it
// has no schedule yet (400).
func (s *Service) Create(ctx context.Context, p *hub.Principal, robotID string, in Input) (*hub.Schedule, error) {
	id, err := uuid.Parse(robotID)
	if err != nil {
		return nil, hub.Errorf(hub.EInvalid, "robot_id invalido.")
	}
	if !rbac.Has(p, hub.PermRobotPublish) {
		return nil, forbidden()
	}
	now := s.clock.Now()
	sc := &hub.Schedule{
		ID: uuid.NewString(), RobotID: id.String(), Enabled: true, Timezone: DefaultTimezone, MaxConcurrency: DefaultMaxConcurrency,
		TimeoutSeconds: DefaultTimeout, RetryBackoffSeconds: DefaultRetryBackoff, OverlapPolicy: hub.OverlapSkip,
		Catchup: hub.CatchupLatest, CatchupWindowSecs: DefaultCatchupWindow, CreatedBy: p.UserID(), CreatedAt: now, UpdatedAt: now,
	}
	if in.CronExpr == nil {
		return nil, hub.Errorf(hub.EUnprocessable, "cron_expr is required.")
	}
	apply(sc, in, true)
	if _, err := NormalizeCron(sc.CronExpr); err != nil {
		return nil, err
	}
	r, err := s.robotFor(ctx, p, sc.RobotID, hub.PermRobotPublish)
	if err != nil {
		return nil, err
	}
	spec, err := timetable(sc)
	if err != nil {
		return nil, err
	}
	if err := checkRanges(sc); err != nil {
		return nil, err
	}
	sc.Timezone = spec.Location().String()
	if sc.Enabled {
		sc.NextFireAt = nextFire(spec, now)
		if err := s.checkRuns(ctx, r.ID); err != nil {
			return nil, err
		}
	}
	ev := audit.Event(p, "schedule.created", "schedule", sc.ID, map[string]any{"robot_id": r.ID, "schedule_id": sc.ID}, now)
	if err := s.store.CreateSchedule(ctx, sc, ev); err != nil {
		return nil, err
	}
	sc.RobotName = r.Name
	s.changed()
	return sc, nil
}

// apply copies the fields the input sets onto sc. On create every given
// field is applied; on change, fields sent as null are applied too (the
// window ends), the caller having refused nulls elsewhere.
func apply(sc *hub.Schedule, in Input, create bool) {
	set := func(name string) bool { return create || in.Present[name] }
	if in.Enabled != nil {
		sc.Enabled = *in.Enabled
	}
	if in.CronExpr != nil {
		sc.CronExpr = *in.CronExpr
	}
	if in.Timezone != nil {
		sc.Timezone = *in.Timezone
	}
	if set("window_start") {
		sc.WindowStart = in.WindowStart
	}
	if set("window_end") {
		sc.WindowEnd = in.WindowEnd
	}
	if in.MaxConcurrency != nil {
		sc.MaxConcurrency = *in.MaxConcurrency
	}
	if in.TimeoutSeconds != nil {
		sc.TimeoutSeconds = *in.TimeoutSeconds
	}
	if in.RetryCount != nil {
		sc.RetryCount = *in.RetryCount
	}
	if in.RetryBackoffSeconds != nil {
		sc.RetryBackoffSeconds = *in.RetryBackoffSeconds
	}
	if in.OverlapPolicy != nil {
		sc.OverlapPolicy = *in.OverlapPolicy
	}
	if in.Catchup != nil {
		sc.Catchup = *in.Catchup
	}
	if in.CatchupWindowSecs != nil {
		sc.CatchupWindowSecs = *in.CatchupWindowSecs
	}
}

// Get returns a robot's schedule (robot.read on it).
func (s *Service) Get(ctx context.Context, p *hub.Principal, robotID string) (*hub.Schedule, error) {
	r, err := s.robotFor(ctx, p, robotID, hub.PermRobotRead)
	if err != nil {
		return nil, err
	}
	return s.store.ScheduleByRobot(ctx, r.ID)
}

// nullable are the fields a change may set to null.
var nullable = []string{"window_start", "window_end"}

// Update changes a robot's schedule (robot.publish on it). Fields sent as
// null are refused, except the window ends, which must be cleared or set
// together. The cron expression and window are checked with the merged
// values. A change of timetable (cron, zone, window, enabled) computes the
// next fire time again from now.
func (s *Service) Update(ctx context.Context, p *hub.Principal, robotID string, in Input) (*hub.Schedule, error) {
	r, err := s.robotFor(ctx, p, robotID, hub.PermRobotPublish)
	if err != nil {
		return nil, err
	}
	sc, err := s.store.ScheduleByRobot(ctx, r.ID)
	if err != nil {
		return nil, err
	}
	for _, f := range []struct {
		name string
		null bool
	}{{"enabled", in.Enabled == nil}, {"cron_expr", in.CronExpr == nil}, {"timezone", in.Timezone == nil},
		{"max_concurrency", in.MaxConcurrency == nil}, {"timeout_seconds", in.TimeoutSeconds == nil},
		{"retry_count", in.RetryCount == nil}, {"retry_backoff_seconds", in.RetryBackoffSeconds == nil},
		{"overlap_policy", in.OverlapPolicy == nil}, {"catchup", in.Catchup == nil},
		{"catchup_window_seconds", in.CatchupWindowSecs == nil}} {
		if in.Present[f.name] && f.null && !slices.Contains(nullable, f.name) {
			return nil, hub.Errorf(hub.EInvalid, "%s cannot be null.", f.name)
		}
	}
	before := *sc
	apply(sc, in, false)
	if _, err := NormalizeCron(sc.CronExpr); err != nil {
		return nil, err
	}
	if (sc.WindowStart == nil) != (sc.WindowEnd == nil) {
		return nil, hub.Errorf(hub.EInvalid, MsgWindowPair)
	}
	spec, err := timetable(sc)
	if err != nil {
		return nil, err
	}
	if err := checkRanges(sc); err != nil {
		return nil, err
	}
	sc.Timezone = spec.Location().String()
	if sc.Enabled && !before.Enabled {
		if err := s.checkRuns(ctx, r.ID); err != nil {
			return nil, err
		}
	}
	now := s.clock.Now()
	sc.UpdatedAt = now
	var next func(time.Time) *time.Time
	if timingChanged(&before, sc) || sc.NextFireAt == nil && sc.Enabled {
		next = func(after time.Time) *time.Time {
			if !sc.Enabled {
				return nil
			}
			return nextFire(spec, after)
		}
	}
	ev := audit.Event(p, "schedule.updated", "schedule", sc.ID, map[string]any{"robot_id": r.ID, "schedule_id": sc.ID}, now)
	if err := s.store.UpdateSchedule(ctx, sc, now, next, ev); err != nil {
		return nil, err
	}
	s.changed()
	return sc, nil
}

func timingChanged(a, b *hub.Schedule) bool {
	eq := func(x, y *string) bool { return x == nil && y == nil || x != nil && y != nil && *x == *y }
	return a.Enabled != b.Enabled || a.CronExpr != b.CronExpr || a.Timezone != b.Timezone ||
		!eq(a.WindowStart, b.WindowStart) || !eq(a.WindowEnd, b.WindowEnd)
}

// Delete removes a robot's schedule (robot.publish on it); its past runs
// stay, without their schedule_id.
func (s *Service) Delete(ctx context.Context, p *hub.Principal, robotID string) error {
	r, err := s.robotFor(ctx, p, robotID, hub.PermRobotPublish)
	if err != nil {
		return err
	}
	ev := audit.Event(p, "schedule.deleted", "schedule", r.ID, map[string]any{"robot_id": r.ID}, s.clock.Now())
	if err := s.store.DeleteSchedule(ctx, r.ID, ev); err != nil {
		return err
	}
	s.changed()
	return nil
}

// List returns the schedules of the robots the caller may read, the next
// to fire first.
func (s *Service) List(ctx context.Context, p *hub.Principal, enabled *bool, page hub.Page) ([]hub.Schedule, error) {
	if !rbac.Has(p, hub.PermRobotRead) {
		return nil, forbidden()
	}
	return s.store.ListSchedules(ctx, rbac.Scope(p, hub.PermRobotRead), enabled, page)
}

// Preview is what a timetable would do: its normalised expression, a
// description in words, and its next fire times.
type Preview struct {
	CronExpr    string
	Timezone    string
	Description string
	Next        []time.Time
	Location    *time.Location
}

// Preview checks a timetable and returns its next count fire times after
// now (any signed-in caller with robot.read).
func (s *Service) Preview(p *hub.Principal, cronExpr, timezone string, windowStart, windowEnd *string, count int, lang string) (*Preview, error) {
	if !rbac.Has(p, hub.PermRobotRead) {
		return nil, forbidden()
	}
	if count < 1 || count > 50 {
		return nil, hub.Errorf(hub.EUnprocessable, "count must be between 1 and 50.")
	}
	if timezone == "" {
		timezone = DefaultTimezone
	}
	if (windowStart == nil) != (windowEnd == nil) {
		return nil, hub.Errorf(hub.EInvalid, MsgWindowPair)
	}
	spec, err := NewSpec(cronExpr, timezone, windowStart, windowEnd)
	if err != nil {
		return nil, err
	}
	return &Preview{CronExpr: spec.Expr(), Timezone: spec.Location().String(), Description: Describe(spec.Expr(), lang),
		Next: spec.NextN(s.clock.Now(), count), Location: spec.Location()}, nil
}
