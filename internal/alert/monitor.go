package alert

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"automationhub/internal/hub"
)

// MonitorStore is what the monitor reads and writes.
type MonitorStore interface {
	SettingReader
	// TryLock takes a fleet-wide lock without waiting.
	TryLock(ctx context.Context, name string, lease time.Duration) (unlock func(), ok bool, err error)
	// SLAStates reads every rule (or those of robots) with its robot's runs.
	SLAStates(ctx context.Context, robots []string, streak int, now time.Time) ([]hub.SLAState, error)
	// RobotsFinishedSince lists robots with runs finished after since.
	RobotsFinishedSince(ctx context.Context, since time.Time) ([]string, time.Time, error)
	// EnabledSchedules lists the enabled schedules.
	EnabledSchedules(ctx context.Context) ([]hub.ScheduleState, error)
	// OldestWaitingRun returns the PENDING run waiting longest.
	OldestWaitingRun(ctx context.Context, now time.Time) (string, *time.Time, error)
	// WorkerStates lists the workers that are not STOPPED.
	WorkerStates(ctx context.Context) ([]hub.WorkerState, error)
	// OngoingBreaches returns the alerts whose breach lasts, by key.
	OngoingBreaches(ctx context.Context, types []string) (map[hub.AlertKey]hub.Alert, error)
	// ApplyBreaches raises new breaches and resolves cleared ones.
	ApplyBreaches(ctx context.Context, now time.Time, breaches []hub.Breach, cleared []hub.AlertKey) (hub.BreachChanges, error)
}

// MonitorConfig tunes a Monitor.
type MonitorConfig struct {
	// Interval is the time between full passes (every alert type; default 60 s).
	Interval time.Duration
	// FailureInterval is the time between looks at runs that finished
	// (FAILED and FAILURE_STREAK; default 5 s).
	FailureInterval time.Duration
	// FailureStreak is how many finished runs in a row must fail (default 3).
	FailureStreak int
	// QueueBacklogAfter is how long the oldest waiting run may wait (default 15 min).
	QueueBacklogAfter time.Duration
	// WorkerStaleAfter is how old a worker's heartbeat may get (default 60 s).
	WorkerStaleAfter time.Duration
	// ScheduleGrace is how late a fire may be before it counts as missed (default 2 min).
	ScheduleGrace time.Duration
	// Location is the time zone of daily SLA times of robots without a schedule.
	Location *time.Location
	// NextFireFunc returns a schedule's first fire time after after (ok
	// false: never); SCHEDULE_MISSED is not checked without it.
	NextFireFunc func(s hub.ScheduleState, after time.Time) (time.Time, bool)
	// AfterPassFunc, when set, runs after each full pass under the same
	// lock (the dashboard stores the figures of finished days).
	AfterPassFunc func(ctx context.Context) error
	Clock         hub.Clock
	Logger        *slog.Logger
	// Sleep waits until the given time or ctx ends (default: a timer).
	Sleep func(ctx context.Context, until time.Time)
}

// Monitor raises and resolves alerts. Several hub serve processes may run
// one each: a pass runs under a fleet-wide lock, and the store's unique
// index on ongoing breaches keeps raises exactly-once even without it.
//
// Start launches one goroutine, which exits when Stop is called or the
// context of Start ends.
type Monitor struct {
	store MonitorStore
	cfg   MonitorConfig

	since    time.Time // runs finished after this were not looked at yet
	nextFull time.Time

	loop loop
}

// NewMonitor returns a monitor.
func NewMonitor(store MonitorStore, cfg MonitorConfig) *Monitor {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Minute
	}
	if cfg.FailureInterval <= 0 {
		cfg.FailureInterval = 5 * time.Second
	}
	if cfg.FailureStreak <= 0 {
		cfg.FailureStreak = 3
	}
	if cfg.QueueBacklogAfter <= 0 {
		cfg.QueueBacklogAfter = 15 * time.Minute
	}
	if cfg.WorkerStaleAfter <= 0 {
		cfg.WorkerStaleAfter = time.Minute
	}
	if cfg.ScheduleGrace <= 0 {
		cfg.ScheduleGrace = 2 * time.Minute
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.Clock == nil {
		cfg.Clock = hub.SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Sleep == nil {
		cfg.Sleep = func(ctx context.Context, until time.Time) {
			t := time.NewTimer(time.Until(until))
			defer t.Stop()
			select {
			case <-ctx.Done():
			case <-t.C:
			}
		}
	}
	return &Monitor{store: store, cfg: cfg}
}

// Start launches the loop; calling it twice is a no-op.
func (m *Monitor) Start(ctx context.Context) error {
	m.loop.start(ctx, m.cfg.Logger, "alert monitor pass", m.Tick, func(ctx context.Context) {
		m.cfg.Sleep(ctx, m.cfg.Clock.Now().Add(m.cfg.FailureInterval))
	})
	return nil
}

// Stop ends the loop and waits for it; safe before Start and more than once.
func (m *Monitor) Stop(context.Context) error {
	m.loop.stop()
	return nil
}

// Tick does what is due: a full pass every Interval, else a look at the
// runs that finished since the last one; under the fleet-wide lock (a
// process that does not get it skips the tick).
func (m *Monitor) Tick(ctx context.Context) error {
	unlock, ok, err := m.store.TryLock(ctx, "alerts", 2*m.cfg.Interval+time.Minute)
	if err != nil || !ok {
		return err
	}
	defer unlock()
	now := m.cfg.Clock.Now()
	if m.nextFull.IsZero() || !now.Before(m.nextFull) {
		m.nextFull = now.Add(m.cfg.Interval)
		if err := m.Pass(ctx); err != nil {
			return err
		}
		if m.cfg.AfterPassFunc != nil {
			return m.cfg.AfterPassFunc(ctx)
		}
		return nil
	}
	return m.FailurePass(ctx)
}

// failureTypes are raised when runs end.
var failureTypes = []string{hub.AlertFailed, hub.AlertFailureStreak}

// FailurePass looks at the robots whose runs finished since the last pass
// and raises or resolves their FAILED and FAILURE_STREAK alerts.
func (m *Monitor) FailurePass(ctx context.Context) error {
	now := m.cfg.Clock.Now()
	since := m.since
	if since.IsZero() {
		since = now.Add(-m.cfg.Interval)
	}
	robots, latest, err := m.store.RobotsFinishedSince(ctx, since)
	if err != nil {
		return err
	}
	// Look again a minute back: a run finished by a worker whose clock
	// is behind, or committed late, is still seen (looking twice is harmless).
	m.since = minTime(latest, now).Add(-time.Minute)
	if len(robots) == 0 {
		return nil
	}
	states, err := m.store.SLAStates(ctx, robots, m.cfg.FailureStreak, now)
	if err != nil {
		return err
	}
	defaults, err := LoadDefaultChannels(ctx, m.store)
	if err != nil {
		return err
	}
	var breaches []hub.Breach
	subjects := map[string]bool{}
	for i := range states {
		subjects[states[i].Rule.RobotID] = true
		breaches = append(breaches, m.failureBreaches(&states[i], defaults)...)
	}
	return m.apply(ctx, now, failureTypes, breaches, func(k hub.AlertKey) bool { return subjects[k.Subject] })
}

// Pass evaluates every alert type: it raises what is breached and not yet
// alerted, and resolves ongoing alerts whose condition cleared.
func (m *Monitor) Pass(ctx context.Context) error {
	now := m.cfg.Clock.Now()
	if m.since.IsZero() {
		m.since = now.Add(-time.Minute)
	}
	defaults, err := LoadDefaultChannels(ctx, m.store)
	if err != nil {
		return err
	}
	states, err := m.store.SLAStates(ctx, nil, m.cfg.FailureStreak, now)
	if err != nil {
		return err
	}
	var breaches []hub.Breach
	rules := map[string]*hub.SLARule{}
	for i := range states {
		st := &states[i]
		rules[st.Rule.RobotID] = &st.Rule
		breaches = append(breaches, m.failureBreaches(st, defaults)...)
		breaches = append(breaches, m.timeBreaches(st, now, defaults)...)
	}
	if m.cfg.NextFireFunc != nil {
		scheds, err := m.store.EnabledSchedules(ctx)
		if err != nil {
			return err
		}
		for _, sc := range scheds {
			if b := m.scheduleBreach(sc, rules[sc.RobotID], now, defaults); b != nil {
				breaches = append(breaches, *b)
			}
		}
	}
	runID, since, err := m.store.OldestWaitingRun(ctx, now)
	if err != nil {
		return err
	}
	if since != nil && now.Sub(*since) > m.cfg.QueueBacklogAfter {
		waited := now.Sub(*since).Truncate(time.Second)
		breaches = append(breaches, hub.Breach{Type: hub.AlertQueueBacklog, Subject: "", Severity: hub.SeverityWarn,
			Message: fmt.Sprintf("Queue backlog: the oldest waiting run has waited %s (since %s).", waited, since.Format(time.RFC3339)),
			Metadata: map[string]any{"oldest_run_id": runID, "waiting_since": since.Format(time.RFC3339), "waiting_seconds": int(waited.Seconds()),
				"threshold_seconds": int(m.cfg.QueueBacklogAfter.Seconds())},
			Targets: defaults.Targets()})
	}
	workers, err := m.store.WorkerStates(ctx)
	if err != nil {
		return err
	}
	for _, w := range workers {
		if now.Sub(w.LastHeartbeat) <= m.cfg.WorkerStaleAfter {
			continue
		}
		breaches = append(breaches, hub.Breach{Type: hub.AlertWorkerDown, Subject: w.ID, Severity: hub.SeverityCritical,
			Message: "Worker heartbeat is stale.",
			Metadata: map[string]any{"stale_workers": []string{w.Hostname}, "worker_id": w.ID, "hostname": w.Hostname,
				"last_heartbeat": w.LastHeartbeat.Format(time.RFC3339), "running_runs": w.RunningRuns,
				"stale_after_seconds": int(m.cfg.WorkerStaleAfter.Seconds())},
			Targets: defaults.Targets()})
	}
	return m.apply(ctx, now, hub.AlertTypes, breaches, func(hub.AlertKey) bool { return true })
}

// apply resolves the ongoing alerts of types that evaluated says were
// looked at and are no longer breached, and raises the new breaches.
func (m *Monitor) apply(ctx context.Context, now time.Time, types []string, breaches []hub.Breach, evaluated func(hub.AlertKey) bool) error {
	ongoing, err := m.store.OngoingBreaches(ctx, types)
	if err != nil {
		return err
	}
	seen := map[hub.AlertKey]bool{}
	var fresh []hub.Breach
	for _, b := range breaches {
		k := hub.AlertKey{Type: b.Type, Subject: b.Subject}
		seen[k] = true
		if _, ok := ongoing[k]; !ok {
			fresh = append(fresh, b)
		}
	}
	var cleared []hub.AlertKey
	for k := range ongoing {
		if !seen[k] && evaluated(k) {
			cleared = append(cleared, k)
		}
	}
	ch, err := m.store.ApplyBreaches(ctx, now, fresh, cleared)
	if err != nil {
		return err
	}
	for _, a := range ch.Raised {
		m.cfg.Logger.WarnContext(ctx, "alert raised", "alert_id", a.ID, "type", a.Type, "subject", a.Subject, "message", a.Message)
	}
	for _, a := range ch.Resolved {
		m.cfg.Logger.InfoContext(ctx, "alert resolved: its condition cleared", "alert_id", a.ID, "type", a.Type, "subject", a.Subject)
	}
	return nil
}

func robotTargets(r *hub.SLARule, defaults hub.NotifyChannels) [][2]string {
	c := defaults
	if r != nil {
		c.Webhook = append(append([]string{}, r.Channels.Webhook...), c.Webhook...)
		c.Teams = append(append([]string{}, r.Channels.Teams...), c.Teams...)
		c.Slack = append(append([]string{}, r.Channels.Slack...), c.Slack...)
		c.Email = append(append([]string{}, r.Channels.Email...), c.Email...)
	}
	return c.Targets()
}

func robotName(st *hub.SLAState) string {
	if st.RobotName != "" {
		return st.RobotName
	}
	return st.Rule.RobotID
}

// failureBreaches: FAILED when the newest finished run failed, and
// FAILURE_STREAK when the newest FailureStreak finished runs all failed
// (the rule's alert_on_failure on).
func (m *Monitor) failureBreaches(st *hub.SLAState, defaults hub.NotifyChannels) []hub.Breach {
	r := &st.Rule
	if !r.AlertOnFailure || len(st.Recent) == 0 || st.Recent[0].Status != hub.RunFailed {
		return nil
	}
	robot := r.RobotID
	targets := robotTargets(r, defaults)
	last := st.Recent[0]
	errMsg := ""
	if last.ErrorMessage != nil {
		errMsg = *last.ErrorMessage
	}
	since := last.QueuedAt
	if last.FinishedAt != nil {
		since = *last.FinishedAt
	}
	runID := last.RunID
	out := []hub.Breach{{Type: hub.AlertFailed, Subject: robot, RobotID: &robot, RunID: &runID, Severity: hub.SeverityWarn,
		Message:  fmt.Sprintf("Run %s of robot %s failed: %s", runID, robotName(st), firstLine(errMsg)),
		Metadata: map[string]any{"run_id": runID, "error_message": errMsg, "failed_at": since.Format(time.RFC3339)},
		Targets:  targets}}
	n := m.cfg.FailureStreak
	if len(st.Recent) >= n {
		all := true
		for _, o := range st.Recent[:n] {
			all = all && o.Status == hub.RunFailed
		}
		if all {
			out = append(out, hub.Breach{Type: hub.AlertFailureStreak, Subject: robot, RobotID: &robot, RunID: &runID,
				Severity: hub.SeverityCritical, Message: fmt.Sprintf("Robot %s reached failure streak >= %d.", robot, n),
				Metadata: map[string]any{"failure_streak_threshold": n}, Targets: targets})
		}
	}
	return out
}

func firstLine(s string) string {
	for i, c := range s {
		if c == '\n' {
			s = s[:i]
			break
		}
	}
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// timeBreaches: LATE (alert_on_late) and RUNNING_TOO_LONG (max_run_minutes).
func (m *Monitor) timeBreaches(st *hub.SLAState, now time.Time, defaults hub.NotifyChannels) []hub.Breach {
	r := &st.Rule
	robot := r.RobotID
	var out []hub.Breach
	if r.AlertOnLate && m.late(st, now) {
		out = append(out, hub.Breach{Type: hub.AlertLate, Subject: robot, RobotID: &robot, Severity: hub.SeverityWarn,
			Message: fmt.Sprintf("Robot %s is late based on configured SLA.", robot),
			Metadata: map[string]any{"expected_run_every_minutes": r.ExpectedRunEveryMinutes, "expected_daily_time": r.ExpectedDailyTime,
				"late_after_minutes": r.LateAfterMinutes},
			Targets: robotTargets(r, defaults)})
	}
	if lr := st.LongRunning; lr != nil && r.MaxRunMinutes != nil {
		runID := lr.RunID
		out = append(out, hub.Breach{Type: hub.AlertRunningTooLong, Subject: robot, RobotID: &robot, RunID: &runID, Severity: hub.SeverityWarn,
			Message:  fmt.Sprintf("Run %s of robot %s has been running for more than %d minutes.", runID, robotName(st), *r.MaxRunMinutes),
			Metadata: map[string]any{"run_id": runID, "started_at": lr.StartedAt, "max_run_minutes": *r.MaxRunMinutes},
			Targets:  robotTargets(r, defaults)})
	}
	return out
}

// late applies the previous backend's rule: with an interval, late when the
// robot never ran or its newest run was queued more than interval +
// late_after ago; with a daily time, late once today's time + late_after
// has passed without a run queued since today's time (in the robot's
// schedule's time zone, else the hub's).
func (m *Monitor) late(st *hub.SLAState, now time.Time) bool {
	r := &st.Rule
	if r.ExpectedRunEveryMinutes != nil {
		if st.LastQueuedAt == nil {
			return true
		}
		return now.Sub(*st.LastQueuedAt) > time.Duration(*r.ExpectedRunEveryMinutes+r.LateAfterMinutes)*time.Minute
	}
	if r.ExpectedDailyTime == nil {
		return false
	}
	loc := m.cfg.Location
	if st.Timezone != "" {
		if l, err := time.LoadLocation(st.Timezone); err == nil {
			loc = l
		}
	}
	var hh, mm int
	if _, err := fmt.Sscanf(*r.ExpectedDailyTime, "%d:%d", &hh, &mm); err != nil {
		return false
	}
	local := now.In(loc)
	expected := time.Date(local.Year(), local.Month(), local.Day(), hh, mm, 0, 0, loc)
	if !now.After(expected.Add(time.Duration(r.LateAfterMinutes) * time.Minute)) {
		return false
	}
	return st.LastQueuedAt == nil || st.LastQueuedAt.Before(expected)
}

// scheduleBreach: SCHEDULE_MISSED when a due fire of an enabled schedule
// started no run: the scheduler is more than ScheduleGrace behind its next
// fire time, or a fire between its last run and its next fire passed
// without a run (skipped because earlier runs were still going, no active
// version, …). It clears once a later fire starts a run.
func (m *Monitor) scheduleBreach(sc hub.ScheduleState, rule *hub.SLARule, now time.Time, defaults hub.NotifyChannels) *hub.Breach {
	if sc.NextFireAt == nil {
		return nil
	}
	cutoff := now.Add(-m.cfg.ScheduleGrace)
	var missed time.Time
	switch {
	case sc.NextFireAt.Before(cutoff):
		missed = *sc.NextFireAt
	default:
		from := sc.UpdatedAt
		if sc.LastFireAt != nil && sc.LastFireAt.After(from) {
			from = *sc.LastFireAt
		}
		f, ok := m.cfg.NextFireFunc(sc, from)
		if !ok || !f.Before(*sc.NextFireAt) || f.After(cutoff) {
			return nil
		}
		missed = f
	}
	robot := sc.RobotID
	return &hub.Breach{Type: hub.AlertScheduleMissed, Subject: sc.ScheduleID, RobotID: &robot, Severity: hub.SeverityWarn,
		Message: fmt.Sprintf("Schedule of robot %s missed its fire at %s: no run started.", sc.RobotName, missed.UTC().Format(time.RFC3339)),
		Metadata: map[string]any{"schedule_id": sc.ScheduleID, "missed_fire_at": missed.UTC().Format(time.RFC3339), "cron_expr": sc.CronExpr,
			"timezone": sc.Timezone},
		Targets: robotTargets(rule, defaults)}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
