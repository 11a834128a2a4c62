package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"automationhub/internal/hub"
)

const slaColumns = `id, robot_id, expected_run_every_minutes, expected_daily_time, late_after_minutes, alert_on_failure,
	alert_on_late, max_run_minutes, notify_channels_json, created_by, created_at, updated_at`

func scanSLARule(row interface{ Scan(...any) error }) (*hub.SLARule, error) {
	var (
		r                hub.SLARule
		every, maxRun    sql.NullInt64
		daily, createdBy sql.NullString
		channels         string
	)
	if err := row.Scan(&r.ID, &r.RobotID, &every, &daily, &r.LateAfterMinutes, &r.AlertOnFailure, &r.AlertOnLate, &maxRun,
		&channels, &createdBy, &r.CreatedAt, &r.UpdatedAt); err != nil {
		return nil, err
	}
	r.ExpectedRunEveryMinutes, r.MaxRunMinutes = nullInt(every), nullInt(maxRun)
	r.ExpectedDailyTime, r.CreatedBy = nullStr(daily), nullStr(createdBy)
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	if err := json.Unmarshal([]byte(channels), &r.Channels); err != nil {
		return nil, fmt.Errorf("notify_channels_json: %w", err)
	}
	return &r, nil
}

func nullInt(v sql.NullInt64) *int {
	if !v.Valid {
		return nil
	}
	n := int(v.Int64)
	return &n
}

func channelsJSON(c hub.NotifyChannels) string {
	b, _ := json.Marshal(c)
	return string(b)
}

// CreateSLARule stores a robot's SLA rule with its audit event. EInvalid
// "Robot already has an SLA rule." when it has one; ENotFound "Robot not
// found." for an unknown robot.
func (db *DB) CreateSLARule(ctx context.Context, r *hub.SLARule, ev *hub.AuditEvent) error {
	err := db.InTx(ctx, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO sla_rules (`+slaColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, r.RobotID, r.ExpectedRunEveryMinutes, r.ExpectedDailyTime, r.LateAfterMinutes, r.AlertOnFailure, r.AlertOnLate,
			r.MaxRunMinutes, channelsJSON(r.Channels), r.CreatedBy, r.CreatedAt, r.UpdatedAt)
		switch {
		case IsUniqueViolation(err):
			return hub.Errorf(hub.EInvalid, "Robot already has an SLA rule.")
		case IsForeignKeyViolation(err):
			return hub.Errorf(hub.ENotFound, "Robot not found.")
		case err != nil:
			return err
		}
		return insertAudit(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("sqlstore.CreateSLARule: %w", err)
	}
	return nil
}

// SLARuleByRobot returns a robot's SLA rule; ENotFound "SLA rule not found.".
func (db *DB) SLARuleByRobot(ctx context.Context, robotID string) (*hub.SLARule, error) {
	r, err := scanSLARule(db.Read().QueryRow(ctx, `SELECT `+slaColumns+` FROM sla_rules WHERE robot_id = ?`, robotID))
	return found(r, err, "SLA rule not found.", "SLARuleByRobot(%q)", robotID)
}

// UpdateSLARule stores every field of a rule with its audit event;
// ENotFound "SLA rule not found." when it is gone.
func (db *DB) UpdateSLARule(ctx context.Context, r *hub.SLARule, ev *hub.AuditEvent) error {
	err := db.InTx(ctx, func(tx *Tx) error {
		res, err := tx.Exec(ctx, `UPDATE sla_rules SET expected_run_every_minutes = ?, expected_daily_time = ?, late_after_minutes = ?,
			alert_on_failure = ?, alert_on_late = ?, max_run_minutes = ?, notify_channels_json = ?, updated_at = ? WHERE id = ?`,
			r.ExpectedRunEveryMinutes, r.ExpectedDailyTime, r.LateAfterMinutes, r.AlertOnFailure, r.AlertOnLate, r.MaxRunMinutes,
			channelsJSON(r.Channels), r.UpdatedAt, r.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return hub.Errorf(hub.ENotFound, "SLA rule not found.")
		}
		return insertAudit(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("sqlstore.UpdateSLARule: %w", err)
	}
	return nil
}

const alertColumns = `a.id, a.robot_id, a.run_id, a.type, a.severity, a.subject, a.message, a.metadata_json, a.created_at,
	a.resolved_at, a.resolved_by, a.breach_ended_at, COALESCE(rb.name, '')`

const alertFrom = ` FROM alert_events a LEFT JOIN robots rb ON rb.id = a.robot_id`

func scanAlert(row interface{ Scan(...any) error }) (*hub.Alert, error) {
	var (
		a               hub.Alert
		robot, run, by  sql.NullString
		meta            string
		resolved, ended sql.NullTime
	)
	if err := row.Scan(&a.ID, &robot, &run, &a.Type, &a.Severity, &a.Subject, &a.Message, &meta, &a.CreatedAt, &resolved, &by,
		&ended, &a.RobotName); err != nil {
		return nil, err
	}
	a.RobotID, a.RunID, a.ResolvedBy = nullStr(robot), nullStr(run), nullStr(by)
	a.ResolvedAt, a.BreachEndedAt = nullTime(resolved), nullTime(ended)
	a.CreatedAt = a.CreatedAt.UTC()
	a.Metadata = map[string]any{}
	if err := json.Unmarshal([]byte(meta), &a.Metadata); err != nil {
		return nil, fmt.Errorf("alert metadata: %w", err)
	}
	return &a, nil
}

func queryAlerts(ctx context.Context, q *Tx, query string, args ...any) ([]hub.Alert, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []hub.Alert{}
	for rows.Next() {
		a, err := scanAlert(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *a)
	}
	return out, rows.Err()
}

// ListAlerts returns alerts newest first: those of robots in the filter's
// scope, and system alerts (no robot) when the scope is every robot.
func (db *DB) ListAlerts(ctx context.Context, f hub.AlertFilter) ([]hub.Alert, error) {
	var (
		where []string
		args  []any
	)
	if !f.Scope.All {
		cond, cargs, ok := scopeCondition(f.Scope, "a.robot_id")
		if !ok {
			return []hub.Alert{}, nil
		}
		where = append(where, "a.robot_id IS NOT NULL AND "+cond)
		args = append(args, cargs...)
	}
	switch f.Status {
	case "open":
		where = append(where, "a.resolved_at IS NULL")
	case "resolved":
		where = append(where, "a.resolved_at IS NOT NULL")
	}
	if f.Type != "" {
		where = append(where, "a.type = ?")
		args = append(args, f.Type)
	}
	if f.RobotID != "" {
		where = append(where, "a.robot_id = ?")
		args = append(args, f.RobotID)
	}
	q := `SELECT ` + alertColumns + alertFrom
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 200
	}
	out, err := queryAlerts(ctx, db.Read(), q+` ORDER BY a.created_at DESC, a.id DESC`+limitSQL(limit), args...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore.ListAlerts: %w", err)
	}
	return out, nil
}

// AlertByID returns one alert; ENotFound "Alert not found.".
func (db *DB) AlertByID(ctx context.Context, id string) (*hub.Alert, error) {
	a, err := scanAlert(db.Read().QueryRow(ctx, `SELECT `+alertColumns+alertFrom+` WHERE a.id = ?`, id))
	return found(a, err, "Alert not found.", "AlertByID(%q)", id)
}

// ResolveAlert closes an open alert by hand (resolved_by) with the audit
// event ev makes of it; an alert already resolved is returned unchanged
// (changed false). ENotFound "Alert not found.".
func (db *DB) ResolveAlert(ctx context.Context, id string, by *string, now time.Time, ev func(*hub.Alert) *hub.AuditEvent) (a *hub.Alert, changed bool, err error) {
	err = db.InTx(ctx, func(tx *Tx) error {
		res, err := tx.Exec(ctx, `UPDATE alert_events SET resolved_at = ?, resolved_by = ? WHERE id = ? AND resolved_at IS NULL`, now, by, id)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		changed = n == 1
		a, err = scanAlert(tx.QueryRow(ctx, `SELECT `+alertColumns+alertFrom+` WHERE a.id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return hub.Errorf(hub.ENotFound, "Alert not found.")
		}
		if err != nil || !changed {
			return err
		}
		return insertAudit(ctx, tx, ev(a))
	})
	if err != nil {
		return nil, false, fmt.Errorf("sqlstore.ResolveAlert(%q): %w", id, err)
	}
	return a, changed, nil
}

// OngoingBreaches returns the alerts whose breach has not ended, of the
// given types, by type and subject.
func (db *DB) OngoingBreaches(ctx context.Context, types []string) (map[hub.AlertKey]hub.Alert, error) {
	out := map[hub.AlertKey]hub.Alert{}
	if len(types) == 0 {
		return out, nil
	}
	list, err := queryAlerts(ctx, db.Read(), `SELECT `+alertColumns+alertFrom+` WHERE a.breach_ended_at IS NULL AND a.type IN `+inClause(len(types)), anySlice(types)...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore.OngoingBreaches: %w", err)
	}
	for _, a := range list {
		out[hub.AlertKey{Type: a.Type, Subject: a.Subject}] = a
	}
	return out, nil
}

// ApplyBreaches records one monitor pass in one transaction: every breach
// with no ongoing alert of its type and subject becomes an alert (with its
// audit event "alert.created" and one outbox notice per target); every key
// in cleared ends its breach, and an alert still open is resolved with it
// ("alert.auto_resolved" and a recovery notice to each target its raise
// notice went to). A breach already ongoing is left alone: the unique index
// on ongoing breaches makes each raise happen once however many monitors
// and restarts there are.
func (db *DB) ApplyBreaches(ctx context.Context, now time.Time, breaches []hub.Breach, cleared []hub.AlertKey) (hub.BreachChanges, error) {
	var ch hub.BreachChanges
	if len(breaches) == 0 && len(cleared) == 0 {
		return ch, nil
	}
	// One order for every writer, so two monitors never wait on each other
	// in a cycle.
	breaches = slices.Clone(breaches)
	slices.SortFunc(breaches, func(a, b hub.Breach) int {
		return cmp.Or(strings.Compare(a.Type, b.Type), strings.Compare(a.Subject, b.Subject))
	})
	cleared = slices.Clone(cleared)
	slices.SortFunc(cleared, func(a, b hub.AlertKey) int {
		return cmp.Or(strings.Compare(a.Type, b.Type), strings.Compare(a.Subject, b.Subject))
	})
	lockOf := ""
	if db.dialect.forUpdate() != "" {
		lockOf = " FOR UPDATE OF a"
	}
	err := db.InTx(ctx, func(tx *Tx) error {
		ch = hub.BreachChanges{}
		for _, b := range breaches {
			meta := b.Metadata
			if meta == nil {
				meta = map[string]any{}
			}
			mb, err := json.Marshal(meta)
			if err != nil {
				return fmt.Errorf("alert metadata: %w", err)
			}
			a := hub.Alert{ID: uuid.NewString(), RobotID: b.RobotID, RunID: b.RunID, Type: b.Type, Severity: b.Severity,
				Subject: b.Subject, Message: b.Message, Metadata: meta, CreatedAt: now}
			res, err := tx.Exec(ctx, `INSERT INTO alert_events (id, robot_id, run_id, type, severity, subject, message, metadata_json, created_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (type, subject) WHERE breach_ended_at IS NULL DO NOTHING`,
				a.ID, a.RobotID, a.RunID, a.Type, a.Severity, a.Subject, a.Message, string(mb), now)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				continue
			}
			var robotID, runID any
			if a.RobotID != nil {
				robotID = *a.RobotID
			}
			if a.RunID != nil {
				runID = *a.RunID
			}
			if err := insertAudit(ctx, tx, &hub.AuditEvent{Action: "alert.created", TargetType: "alert", TargetID: a.ID, CreatedAt: now,
				Metadata: map[string]any{"robot_id": robotID, "run_id": runID, "type": a.Type, "severity": a.Severity}}); err != nil {
				return err
			}
			for _, t := range b.Targets {
				if err := insertNotice(ctx, tx, a.ID, hub.NoticeRaised, t[0], t[1], now); err != nil {
					return err
				}
			}
			ch.Raised = append(ch.Raised, a)
		}
		for _, k := range cleared {
			a, err := scanAlert(tx.QueryRow(ctx, `SELECT `+alertColumns+alertFrom+` WHERE a.type = ? AND a.subject = ? AND a.breach_ended_at IS NULL`+
				lockOf, k.Type, k.Subject))
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE alert_events SET breach_ended_at = ?, resolved_at = COALESCE(resolved_at, ?) WHERE id = ?`,
				now, now, a.ID); err != nil {
				return err
			}
			if a.ResolvedAt != nil {
				continue // closed by hand earlier: the breach just ends
			}
			a.ResolvedAt, a.BreachEndedAt = &now, &now
			if err := insertAudit(ctx, tx, &hub.AuditEvent{Action: "alert.auto_resolved", TargetType: "alert", TargetID: a.ID, CreatedAt: now,
				Metadata: map[string]any{"alert_id": a.ID, "robot_id": a.RobotID, "type": a.Type}}); err != nil {
				return err
			}
			targets, err := noticeTargets(ctx, tx, a.ID)
			if err != nil {
				return err
			}
			for _, t := range targets {
				if err := insertNotice(ctx, tx, a.ID, hub.NoticeResolved, t[0], t[1], now); err != nil {
					return err
				}
			}
			ch.Resolved = append(ch.Resolved, *a)
		}
		return nil
	})
	if err != nil {
		return hub.BreachChanges{}, fmt.Errorf("sqlstore.ApplyBreaches: %w", err)
	}
	return ch, nil
}

func insertNotice(ctx context.Context, tx *Tx, alertID, event, channel, target string, now time.Time) error {
	_, err := tx.Exec(ctx, `INSERT INTO notifications (id, alert_id, event, channel, target, status, attempts, next_attempt_at, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?) ON CONFLICT (alert_id, event, channel, target) DO NOTHING`,
		uuid.NewString(), alertID, event, channel, target, hub.NotifyPending, now, now, now)
	return err
}

func noticeTargets(ctx context.Context, tx *Tx, alertID string) ([][2]string, error) {
	rows, err := tx.Query(ctx, `SELECT channel, target FROM notifications WHERE alert_id = ? AND event = ? ORDER BY channel, target`, alertID, hub.NoticeRaised)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][2]string
	for rows.Next() {
		var c, t string
		if err := rows.Scan(&c, &t); err != nil {
			return nil, err
		}
		out = append(out, [2]string{c, t})
	}
	return out, rows.Err()
}

// OpenAlertsByType counts open alerts per type.
func (db *DB) OpenAlertsByType(ctx context.Context) (map[string]int64, error) {
	rows, err := db.Read().Query(ctx, `SELECT type, COUNT(*) FROM alert_events WHERE resolved_at IS NULL GROUP BY type`)
	if err != nil {
		return nil, fmt.Errorf("sqlstore.OpenAlertsByType: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var t string
		var n int64
		if err := rows.Scan(&t, &n); err != nil {
			return nil, err
		}
		out[t] = n
	}
	return out, rows.Err()
}

// SLAStates reads, for every SLA rule (or those of robots when it is not
// nil), what the monitor needs: the newest run, the streak newest finished
// runs, and the oldest run RUNNING since before the rule's maximum.
func (db *DB) SLAStates(ctx context.Context, robots []string, streak int, now time.Time) ([]hub.SLAState, error) {
	q := db.Read()
	query := `SELECT ` + slaColumns + ` FROM sla_rules`
	var args []any
	if robots != nil {
		if len(robots) == 0 {
			return nil, nil
		}
		query += ` WHERE robot_id IN ` + inClause(len(robots))
		args = anySlice(robots)
	}
	rows, err := q.Query(ctx, query+` ORDER BY robot_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore.SLAStates: %w", err)
	}
	var rules []hub.SLARule
	for rows.Next() {
		r, err := scanSLARule(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("sqlstore.SLAStates: %w", err)
		}
		rules = append(rules, *r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore.SLAStates: %w", err)
	}
	out := make([]hub.SLAState, 0, len(rules))
	for _, r := range rules {
		st := hub.SLAState{Rule: r}
		var last scannedTime
		var tz sql.NullString
		if err := q.QueryRow(ctx, `SELECT rb.name, (SELECT MAX(queued_at) FROM runs WHERE robot_id = rb.id),
			(SELECT timezone FROM schedules WHERE robot_id = rb.id) FROM robots rb WHERE rb.id = ?`, r.RobotID).Scan(&st.RobotName, &last, &tz); err != nil {
			return nil, fmt.Errorf("sqlstore.SLAStates: %w", err)
		}
		if last.Valid {
			t := last.Time.UTC()
			st.LastQueuedAt = &t
		}
		st.Timezone = tz.String
		if st.Recent, err = runOutcomes(ctx, q, `SELECT run_id, status, queued_at, started_at, finished_at, error_message FROM runs
			WHERE robot_id = ? AND status IN (?, ?) ORDER BY queued_at DESC, run_id DESC`+limitSQL(max(streak, 1)),
			r.RobotID, hub.RunSuccess, hub.RunFailed); err != nil {
			return nil, fmt.Errorf("sqlstore.SLAStates: %w", err)
		}
		if r.MaxRunMinutes != nil {
			long, err := runOutcomes(ctx, q, `SELECT run_id, status, queued_at, started_at, finished_at, error_message FROM runs
				WHERE robot_id = ? AND status = ? AND started_at < ? ORDER BY started_at`+limitSQL(1),
				r.RobotID, hub.RunRunning, now.Add(-time.Duration(*r.MaxRunMinutes)*time.Minute))
			if err != nil {
				return nil, fmt.Errorf("sqlstore.SLAStates: %w", err)
			}
			if len(long) > 0 {
				st.LongRunning = &long[0]
			}
		}
		out = append(out, st)
	}
	return out, nil
}

func runOutcomes(ctx context.Context, q *Tx, query string, args ...any) ([]hub.RunOutcome, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []hub.RunOutcome
	for rows.Next() {
		var (
			o                 hub.RunOutcome
			started, finished sql.NullTime
			msg               sql.NullString
		)
		if err := rows.Scan(&o.RunID, &o.Status, &o.QueuedAt, &started, &finished, &msg); err != nil {
			return nil, err
		}
		o.QueuedAt = o.QueuedAt.UTC()
		o.StartedAt, o.FinishedAt, o.ErrorMessage = nullTime(started), nullTime(finished), nullStr(msg)
		out = append(out, o)
	}
	return out, rows.Err()
}

const finishedSinceQuery = `SELECT robot_id, MAX(finished_at) FROM runs WHERE status IN (?, ?) AND finished_at > ? GROUP BY robot_id`

// RobotsFinishedSince lists the robots with a run that finished (SUCCESS or
// FAILED) after since, with the latest such finish time.
func (db *DB) RobotsFinishedSince(ctx context.Context, since time.Time) ([]string, time.Time, error) {
	rows, err := db.Read().Query(ctx, finishedSinceQuery, hub.RunSuccess, hub.RunFailed, since)
	if err != nil {
		return nil, since, fmt.Errorf("sqlstore.RobotsFinishedSince: %w", err)
	}
	defer rows.Close()
	out := []string{}
	latest := since
	for rows.Next() {
		var id string
		var t scannedTime
		if err := rows.Scan(&id, &t); err != nil {
			return nil, since, err
		}
		out = append(out, id)
		if t.Valid && t.Time.After(latest) {
			latest = t.Time.UTC()
		}
	}
	return out, latest, rows.Err()
}

// EnabledSchedules lists the enabled schedules with their fire times.
func (db *DB) EnabledSchedules(ctx context.Context) ([]hub.ScheduleState, error) {
	rows, err := db.Read().Query(ctx, `SELECT sc.id, sc.robot_id, rb.name, sc.cron_expr, sc.timezone, sc.window_start, sc.window_end,
		sc.next_fire_at, sc.last_fire_at, sc.updated_at`+scheduleFrom+` WHERE sc.enabled = ? ORDER BY sc.id`, true)
	if err != nil {
		return nil, fmt.Errorf("sqlstore.EnabledSchedules: %w", err)
	}
	defer rows.Close()
	var out []hub.ScheduleState
	for rows.Next() {
		var (
			s          hub.ScheduleState
			ws, we     sql.NullString
			next, last sql.NullTime
		)
		if err := rows.Scan(&s.ScheduleID, &s.RobotID, &s.RobotName, &s.CronExpr, &s.Timezone, &ws, &we, &next, &last, &s.UpdatedAt); err != nil {
			return nil, err
		}
		s.WindowStart, s.WindowEnd, s.NextFireAt, s.LastFireAt = nullStr(ws), nullStr(we), nullTime(next), nullTime(last)
		s.UpdatedAt = s.UpdatedAt.UTC()
		out = append(out, s)
	}
	return out, rows.Err()
}

// OldestWaitingRun returns the PENDING run that has waited longest (its
// wait counted from the end of its backoff), eligible at now; nil when none.
func (db *DB) OldestWaitingRun(ctx context.Context, now time.Time) (runID string, since *time.Time, err error) {
	var (
		id sql.NullString
		t  scannedTime
	)
	err = db.Read().QueryRow(ctx, `SELECT run_id, COALESCE(not_before, queued_at) FROM runs WHERE status = ? AND (not_before IS NULL OR not_before <= ?)
		ORDER BY queued_at, run_id`+limitSQL(1), hub.RunPending, now).Scan(&id, &t)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil, nil
	}
	if err != nil {
		return "", nil, fmt.Errorf("sqlstore.OldestWaitingRun: %w", err)
	}
	s := t.Time.UTC()
	return id.String, &s, nil
}

// WorkerStates lists every worker that is not STOPPED.
func (db *DB) WorkerStates(ctx context.Context) ([]hub.WorkerState, error) {
	rows, err := db.Read().Query(ctx, `SELECT id, hostname, status, running_runs, last_heartbeat FROM workers WHERE status <> ? ORDER BY id`, hub.WorkerStopped)
	if err != nil {
		return nil, fmt.Errorf("sqlstore.WorkerStates: %w", err)
	}
	defer rows.Close()
	var out []hub.WorkerState
	for rows.Next() {
		var w hub.WorkerState
		if err := rows.Scan(&w.ID, &w.Hostname, &w.Status, &w.RunningRuns, &w.LastHeartbeat); err != nil {
			return nil, err
		}
		w.LastHeartbeat = w.LastHeartbeat.UTC()
		out = append(out, w)
	}
	return out, rows.Err()
}

// DueNotifications returns up to limit PENDING notices due at now, oldest
// first, with their alert.
func (db *DB) DueNotifications(ctx context.Context, now time.Time, limit int) ([]hub.Notification, error) {
	return db.notifications(ctx, ` WHERE n.status = ? AND n.next_attempt_at <= ? ORDER BY n.next_attempt_at, n.id`+limitSQL(limit), hub.NotifyPending, now)
}

// ListNotifications returns the newest notices, of one status or all.
func (db *DB) ListNotifications(ctx context.Context, status string, limit int) ([]hub.Notification, error) {
	if status != "" {
		return db.notifications(ctx, ` WHERE n.status = ? ORDER BY n.created_at DESC, n.id DESC`+limitSQL(limit), status)
	}
	return db.notifications(ctx, ` ORDER BY n.created_at DESC, n.id DESC`+limitSQL(limit))
}

func (db *DB) notifications(ctx context.Context, tail string, args ...any) ([]hub.Notification, error) {
	rows, err := db.Read().Query(ctx, `SELECT n.id, n.alert_id, n.event, n.channel, n.target, n.status, n.attempts, n.next_attempt_at,
		n.last_error, n.created_at, n.updated_at, n.sent_at, `+alertColumns+` FROM notifications n JOIN alert_events a ON a.id = n.alert_id
		LEFT JOIN robots rb ON rb.id = a.robot_id`+tail, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore.notifications: %w", err)
	}
	defer rows.Close()
	out := []hub.Notification{}
	for rows.Next() {
		var (
			n        hub.Notification
			lastErr  sql.NullString
			sent     sql.NullTime
			a        hub.Alert
			robot    sql.NullString
			run, by  sql.NullString
			meta     string
			res, end sql.NullTime
		)
		if err := rows.Scan(&n.ID, &n.AlertID, &n.Event, &n.Channel, &n.Target, &n.Status, &n.Attempts, &n.NextAttemptAt, &lastErr,
			&n.CreatedAt, &n.UpdatedAt, &sent, &a.ID, &robot, &run, &a.Type, &a.Severity, &a.Subject, &a.Message, &meta, &a.CreatedAt,
			&res, &by, &end, &a.RobotName); err != nil {
			return nil, err
		}
		n.LastError, n.SentAt = nullStr(lastErr), nullTime(sent)
		n.NextAttemptAt, n.CreatedAt, n.UpdatedAt = n.NextAttemptAt.UTC(), n.CreatedAt.UTC(), n.UpdatedAt.UTC()
		a.RobotID, a.RunID, a.ResolvedBy, a.ResolvedAt, a.BreachEndedAt = nullStr(robot), nullStr(run), nullStr(by), nullTime(res), nullTime(end)
		a.CreatedAt = a.CreatedAt.UTC()
		a.Metadata = map[string]any{}
		_ = json.Unmarshal([]byte(meta), &a.Metadata)
		n.Alert = &a
		out = append(out, n)
	}
	return out, rows.Err()
}

// RecordDelivery stores the outcome of one delivery attempt of a PENDING
// notice: SENT, FAILED (given up) or PENDING again at next.
func (db *DB) RecordDelivery(ctx context.Context, id, status string, attempts int, next time.Time, lastErr *string, now time.Time) error {
	var sent *time.Time
	if status == hub.NotifySent {
		sent = &now
	}
	_, err := db.Conn().Exec(ctx, `UPDATE notifications SET status = ?, attempts = ?, next_attempt_at = ?, last_error = ?, sent_at = ?, updated_at = ?
		WHERE id = ? AND status = ?`, status, attempts, next, lastErr, sent, now, id, hub.NotifyPending)
	if err != nil {
		return fmt.Errorf("sqlstore.RecordDelivery(%q): %w", id, err)
	}
	return nil
}

// NotificationCounts counts notices by channel and status.
func (db *DB) NotificationCounts(ctx context.Context) (map[[2]string]int64, error) {
	rows, err := db.Read().Query(ctx, `SELECT channel, status, COUNT(*) FROM notifications GROUP BY channel, status`)
	if err != nil {
		return nil, fmt.Errorf("sqlstore.NotificationCounts: %w", err)
	}
	defer rows.Close()
	out := map[[2]string]int64{}
	for rows.Next() {
		var c, s string
		var n int64
		if err := rows.Scan(&c, &s, &n); err != nil {
			return nil, err
		}
		out[[2]string{c, s}] = n
	}
	return out, rows.Err()
}

// Setting returns an administrator's setting; ok is false when unset.
func (db *DB) Setting(ctx context.Context, key string) (value string, ok bool, err error) {
	err = db.Read().QueryRow(ctx, `SELECT value FROM hub_settings WHERE key = ?`, key).Scan(&value)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("sqlstore.Setting(%q): %w", key, err)
	}
	return value, true, nil
}

// PutSetting stores a setting with its audit event.
func (db *DB) PutSetting(ctx context.Context, key, value string, by *string, now time.Time, ev *hub.AuditEvent) error {
	err := db.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO hub_settings (key, value, updated_at, updated_by) VALUES (?, ?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
			key, value, now, by); err != nil {
			return err
		}
		return insertAudit(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("sqlstore.PutSetting(%q): %w", key, err)
	}
	return nil
}
