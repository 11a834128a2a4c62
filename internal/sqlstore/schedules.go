package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"automationhub/internal/hub"
)

const scheduleColumns = `sc.id, sc.robot_id, sc.enabled, sc.cron_expr, sc.timezone, sc.window_start, sc.window_end,
	sc.max_concurrency, sc.timeout_seconds, sc.retry_count, sc.retry_backoff_seconds, sc.overlap_policy, sc.catchup,
	sc.catchup_window_seconds, sc.next_fire_at, sc.last_fire_at, sc.created_by, sc.created_at, sc.updated_at, rb.name`

const scheduleFrom = ` FROM schedules sc JOIN robots rb ON rb.id = sc.robot_id`

func scanSchedule(row interface{ Scan(...any) error }) (*hub.Schedule, error) {
	var (
		s                  hub.Schedule
		ws, we, creator    sql.NullString
		next, last         sql.NullTime
		created, updatedAt time.Time
	)
	err := row.Scan(&s.ID, &s.RobotID, &s.Enabled, &s.CronExpr, &s.Timezone, &ws, &we, &s.MaxConcurrency, &s.TimeoutSeconds,
		&s.RetryCount, &s.RetryBackoffSeconds, &s.OverlapPolicy, &s.Catchup, &s.CatchupWindowSecs, &next, &last, &creator,
		&created, &updatedAt, &s.RobotName)
	if err != nil {
		return nil, err
	}
	s.WindowStart, s.WindowEnd, s.CreatedBy = nullStr(ws), nullStr(we), nullStr(creator)
	s.NextFireAt, s.LastFireAt = nullTime(next), nullTime(last)
	s.CreatedAt, s.UpdatedAt = created.UTC(), updatedAt.UTC()
	return &s, nil
}

// CreateSchedule stores a robot's schedule with its audit event. A robot
// that already has one is EInvalid "Robot already has a schedule."; an
// unknown robot is ENotFound "Robot not found.".
func (db *DB) CreateSchedule(ctx context.Context, s *hub.Schedule, ev *hub.AuditEvent) error {
	err := db.InTx(ctx, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO schedules (id, robot_id, enabled, cron_expr, timezone, window_start, window_end,
			max_concurrency, timeout_seconds, retry_count, retry_backoff_seconds, overlap_policy, catchup, catchup_window_seconds,
			next_fire_at, last_fire_at, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			s.ID, s.RobotID, s.Enabled, s.CronExpr, s.Timezone, s.WindowStart, s.WindowEnd, s.MaxConcurrency, s.TimeoutSeconds,
			s.RetryCount, s.RetryBackoffSeconds, s.OverlapPolicy, s.Catchup, s.CatchupWindowSecs, s.NextFireAt, s.LastFireAt,
			s.CreatedBy, s.CreatedAt, s.UpdatedAt)
		switch {
		case IsUniqueViolation(err):
			return hub.Errorf(hub.EInvalid, "Robot already has a schedule.")
		case IsForeignKeyViolation(err):
			return hub.Errorf(hub.ENotFound, "Robot not found.")
		case err != nil:
			return err
		}
		return insertAudit(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("sqlstore.CreateSchedule: %w", err)
	}
	return nil
}

// ScheduleByRobot returns a robot's schedule; ENotFound "Schedule not found.".
func (db *DB) ScheduleByRobot(ctx context.Context, robotID string) (*hub.Schedule, error) {
	s, err := scanSchedule(db.Read().QueryRow(ctx, `SELECT `+scheduleColumns+scheduleFrom+` WHERE sc.robot_id = ?`, robotID))
	return found(s, err, "Schedule not found.", "ScheduleByRobot(%q)", robotID)
}

// UpdateSchedule stores every field of a schedule that may change, with its
// audit event; ENotFound "Schedule not found." when it is gone. When next is
// not nil (the timetable changed) the next fire time becomes next(t) for t
// the later of now and the last fire time, read under the row's lock, so a
// fire a scheduler claimed meanwhile is never set up again; otherwise the
// stored next fire time is left as the schedulers keep it. s.NextFireAt and
// s.LastFireAt are updated to what is stored.
func (db *DB) UpdateSchedule(ctx context.Context, s *hub.Schedule, now time.Time, next func(after time.Time) *time.Time, ev *hub.AuditEvent) error {
	err := db.InTx(ctx, func(tx *Tx) error {
		var stored, last sql.NullTime
		err := tx.QueryRow(ctx, `SELECT next_fire_at, last_fire_at FROM schedules WHERE id = ?`+db.dialect.forUpdate(), s.ID).Scan(&stored, &last)
		if errors.Is(err, sql.ErrNoRows) {
			return hub.Errorf(hub.ENotFound, "Schedule not found.")
		}
		if err != nil {
			return err
		}
		s.NextFireAt, s.LastFireAt = nullTime(stored), nullTime(last)
		if next != nil {
			after := now
			if last.Valid && last.Time.After(after) {
				after = last.Time
			}
			s.NextFireAt = next(after)
		}
		_, err = tx.Exec(ctx, `UPDATE schedules SET enabled = ?, cron_expr = ?, timezone = ?, window_start = ?, window_end = ?,
			max_concurrency = ?, timeout_seconds = ?, retry_count = ?, retry_backoff_seconds = ?, overlap_policy = ?, catchup = ?,
			catchup_window_seconds = ?, next_fire_at = ?, updated_at = ? WHERE id = ?`,
			s.Enabled, s.CronExpr, s.Timezone, s.WindowStart, s.WindowEnd, s.MaxConcurrency, s.TimeoutSeconds, s.RetryCount,
			s.RetryBackoffSeconds, s.OverlapPolicy, s.Catchup, s.CatchupWindowSecs, s.NextFireAt, s.UpdatedAt, s.ID)
		if err != nil {
			return err
		}
		return insertAudit(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("sqlstore.UpdateSchedule: %w", err)
	}
	return nil
}

// DeleteSchedule removes a robot's schedule with its audit event; its runs
// stay (their schedule_id becomes null). ENotFound "Schedule not found.".
func (db *DB) DeleteSchedule(ctx context.Context, robotID string, ev *hub.AuditEvent) error {
	err := db.InTx(ctx, func(tx *Tx) error {
		res, err := tx.Exec(ctx, `DELETE FROM schedules WHERE robot_id = ?`, robotID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return hub.Errorf(hub.ENotFound, "Schedule not found.")
		}
		return insertAudit(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("sqlstore.DeleteSchedule: %w", err)
	}
	return nil
}

// ListSchedules returns the schedules of the robots in scope, the next to
// fire first (disabled ones last), then by robot name.
func (db *DB) ListSchedules(ctx context.Context, scope hub.RobotScope, enabled *bool, p hub.Page) ([]hub.Schedule, error) {
	cond, args, ok := scopeCondition(scope, "sc.robot_id")
	if !ok {
		return []hub.Schedule{}, nil
	}
	var where []string
	if cond != "" {
		where = append(where, cond)
	}
	if enabled != nil {
		where, args = append(where, "sc.enabled = ?"), append(args, *enabled)
	}
	rows, err := db.Read().Query(ctx, `SELECT `+scheduleColumns+scheduleFrom+whereClause(where)+`
		ORDER BY CASE WHEN sc.enabled AND sc.next_fire_at IS NOT NULL THEN 0 ELSE 1 END, sc.next_fire_at, rb.name`+limitSQL(p.Limit)+` OFFSET ?`,
		append(args, p.Skip)...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore.ListSchedules: %w", err)
	}
	defer rows.Close()
	out := []hub.Schedule{}
	for rows.Next() {
		s, err := scanSchedule(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore.ListSchedules: %w", err)
		}
		out = append(out, *s)
	}
	return out, rows.Err()
}

// NextScheduleDue returns the earliest next fire time of the enabled
// schedules (nil when none will fire).
func (db *DB) NextScheduleDue(ctx context.Context) (*time.Time, error) {
	var t sql.NullTime
	if err := db.Read().QueryRow(ctx, `SELECT MIN(next_fire_at) FROM schedules WHERE enabled`).Scan(&t); err != nil {
		return nil, fmt.Errorf("sqlstore.NextScheduleDue: %w", err)
	}
	return nullTime(t), nil
}

// DueSchedules lists up to limit enabled schedules due at now, the
// earliest first.
func (db *DB) DueSchedules(ctx context.Context, now time.Time, limit int) ([]string, error) {
	ids, err := queryIDs(ctx, db.Read(), `SELECT id FROM schedules WHERE enabled AND next_fire_at <= ? ORDER BY next_fire_at`+limitSQL(limit), now)
	if err != nil {
		return nil, fmt.Errorf("sqlstore.DueSchedules: %w", err)
	}
	return ids, nil
}

// FireSchedules claims the schedules among ids that are due at now and
// starts their runs, in one transaction: it reads them (on PostgreSQL
// locking them and skipping those another scheduler holds), counts each
// one's active runs, asks decide what to do, then moves each schedule's
// next fire time forward with a conditional update (WHERE next_fire_at =
// the value read) and, for the schedules that update claimed, inserts
// their runs (PENDING, SCHEDULED, the robot's active version) with a
// schedule.dispatched audit event each. A fire whose update matched no row
// was taken by another scheduler and is not started here. Runs of a
// cancel_previous schedule still active are cancelled (PENDING) or asked to
// stop (RUNNING: returned in Canceled for the stop signal).
func (db *DB) FireSchedules(ctx context.Context, ids []string, now time.Time, decide func(*hub.Schedule, hub.ScheduleLoad) hub.FireDecision) ([]hub.FireOutcome, error) {
	var out []hub.FireOutcome
	if len(ids) == 0 {
		return nil, nil
	}
	err := db.InTx(ctx, func(tx *Tx) error {
		out = out[:0]
		rows, err := tx.Query(ctx, `SELECT `+strings.ReplaceAll(scheduleColumns, ", rb.name", ", ''")+` FROM schedules sc
			WHERE sc.id IN `+inClause(len(ids))+` AND sc.enabled AND sc.next_fire_at <= ?`+db.dialect.skipLocked(), append(anySlice(ids), now)...)
		if err != nil {
			return err
		}
		var due []*hub.Schedule
		for rows.Next() {
			s, err := scanSchedule(rows)
			if err != nil {
				rows.Close()
				return err
			}
			due = append(due, s)
		}
		rows.Close()
		if err := rows.Err(); err != nil || len(due) == 0 {
			return err
		}
		ids := make([]string, len(due))
		robots := make([]string, len(due))
		for i, s := range due {
			ids[i], robots[i] = s.ID, s.RobotID
		}
		load, err := scheduleLoads(ctx, tx, ids)
		if err != nil {
			return err
		}
		versions, err := activeVersions(ctx, tx, robots)
		if err != nil {
			return err
		}
		// Decide, then claim: one conditional update per group of
		// schedules that move from the same due time to the same next one.
		type group struct {
			due        time.Time
			next, last *time.Time
			ids        []string
		}
		groups := map[string]*group{}
		var order []string
		decisions := make(map[string]hub.FireDecision, len(due))
		for _, s := range due {
			d := decide(s, load[s.ID])
			decisions[s.ID] = d
			key := s.NextFireAt.UTC().Format(time.RFC3339Nano) + "|" + timeKey(d.Next) + "|" + timeKey(d.LastFire)
			g, ok := groups[key]
			if !ok {
				g = &group{due: *s.NextFireAt, next: d.Next, last: d.LastFire}
				groups[key] = g
				order = append(order, key)
			}
			g.ids = append(g.ids, s.ID)
		}
		claimed := map[string]bool{}
		for _, key := range order {
			g := groups[key]
			for chunk := range slices.Chunk(g.ids, 1000) {
				got, err := queryIDs(ctx, tx, `UPDATE schedules SET next_fire_at = ?, last_fire_at = COALESCE(?, last_fire_at)
					WHERE next_fire_at = ? AND enabled AND id IN `+inClause(len(chunk))+` RETURNING id`,
					append([]any{g.next, g.last, g.due}, anySlice(chunk)...)...)
				if err != nil {
					return err
				}
				for _, id := range got {
					claimed[id] = true
				}
			}
		}
		var (
			newRuns   []*hub.Run
			events    []*hub.AuditEvent
			cancelIDs []string
		)
		for _, s := range due {
			if !claimed[s.ID] {
				continue
			}
			d := decisions[s.ID]
			o := hub.FireOutcome{ScheduleID: s.ID, RobotID: s.RobotID, Due: *s.NextFireAt, Skipped: d.Skipped}
			v, hasVersion := versions[s.RobotID]
			if len(d.Fires) > 0 && !hasVersion {
				o.Skipped = "no_version"
			} else if len(d.Fires) > 0 {
				if d.CancelActive {
					cancelIDs = append(cancelIDs, s.ID)
				}
				for _, at := range d.Fires {
					r := scheduledRun(s, v, at, now)
					newRuns = append(newRuns, r)
					o.RunIDs = append(o.RunIDs, r.ID)
					o.FireTimes = append(o.FireTimes, at)
					events = append(events, &hub.AuditEvent{Action: "schedule.dispatched", TargetType: "run", TargetID: r.ID, CreatedAt: now,
						Metadata: map[string]any{"run_id": r.ID, "robot_id": s.RobotID, "schedule_id": s.ID, "trigger_type": hub.TriggerScheduled,
							"scheduled_for": at.UTC().Format(time.RFC3339)}})
				}
			}
			out = append(out, o)
		}
		canceled, err := cancelScheduleRuns(ctx, db, tx, cancelIDs, now)
		if err != nil {
			return err
		}
		for i := range out {
			out[i].Canceled = canceled[out[i].ScheduleID]
		}
		inserted, err := insertScheduledRuns(ctx, tx, newRuns)
		if err != nil {
			return err
		}
		if len(inserted) < len(newRuns) {
			// A fire time that already has its run (the unique index on
			// schedule_id, scheduled_for): never a second one.
			events = slices.DeleteFunc(events, func(ev *hub.AuditEvent) bool { return !inserted[ev.TargetID] })
			for i := range out {
				o := &out[i]
				var ids []string
				var times []time.Time
				for j, id := range o.RunIDs {
					if inserted[id] {
						ids, times = append(ids, id), append(times, o.FireTimes[j])
					}
				}
				if len(ids) == 0 && len(o.RunIDs) > 0 {
					o.Skipped = "duplicate"
				}
				o.RunIDs, o.FireTimes = ids, times
			}
		}
		return insertAudits(ctx, tx, events)
	})
	if err != nil {
		return nil, fmt.Errorf("sqlstore.FireSchedules: %w", err)
	}
	return out, nil
}

// insertScheduledRuns writes the runs of fires, skipping a fire time that
// already has its run, and returns the ids written.
func insertScheduledRuns(ctx context.Context, tx *Tx, runs []*hub.Run) (map[string]bool, error) {
	out := make(map[string]bool, len(runs))
	for chunk := range slices.Chunk(runs, 500) {
		var b strings.Builder
		b.WriteString(`INSERT INTO runs (` + runInsertColumns + `) VALUES `)
		args := make([]any, 0, len(chunk)*runInsertWidth)
		row := inClause(runInsertWidth)
		for i, r := range chunk {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(row)
			args = append(args, runInsertArgs(r)...)
		}
		b.WriteString(` ON CONFLICT (schedule_id, scheduled_for) WHERE trigger_type = 'SCHEDULED' DO NOTHING RETURNING run_id`)
		ids, err := queryIDs(ctx, tx, b.String(), args...)
		if err != nil {
			return nil, fmt.Errorf("insert scheduled runs: %w", err)
		}
		for _, id := range ids {
			out[id] = true
		}
	}
	return out, nil
}

func timeKey(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// scheduledRun is the run a schedule starts for fire time at.
func scheduledRun(s *hub.Schedule, v activeVersion, at, now time.Time) *hub.Run {
	sid, fire := s.ID, at
	return &hub.Run{
		ID: uuid.NewString(), RobotID: s.RobotID, VersionID: v.id, Status: hub.RunPending, TriggerType: hub.TriggerScheduled,
		Attempt: 1, EnvName: "PROD", RuntimeArguments: []string{}, RuntimeEnv: map[string]string{}, TimeoutSeconds: s.TimeoutSeconds,
		QueuedAt: now, TriggeredBy: s.CreatedBy, ScheduleID: &sid, ScheduledFor: &fire,
		RetryCount: s.RetryCount, RetryBackoffSeconds: s.RetryBackoffSeconds,
	}
}

// scheduleLoads counts the PENDING and RUNNING runs of each schedule.
func scheduleLoads(ctx context.Context, tx *Tx, ids []string) (map[string]hub.ScheduleLoad, error) {
	out := map[string]hub.ScheduleLoad{}
	for chunk := range slices.Chunk(ids, 1000) {
		rows, err := tx.Query(ctx, `SELECT schedule_id, status, COUNT(*) FROM runs WHERE schedule_id IN `+inClause(len(chunk))+
			` AND status IN (?, ?) GROUP BY schedule_id, status`, append(anySlice(chunk), hub.RunPending, hub.RunRunning)...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id, status string
			var n int
			if err := rows.Scan(&id, &status, &n); err != nil {
				rows.Close()
				return nil, err
			}
			l := out[id]
			if status == hub.RunPending {
				l.Pending = n
			} else {
				l.Running = n
			}
			out[id] = l
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

type activeVersion struct{ id string }

// activeVersions returns the active version with a package of each robot
// that has one.
func activeVersions(ctx context.Context, tx *Tx, robots []string) (map[string]activeVersion, error) {
	out := map[string]activeVersion{}
	slices.Sort(robots)
	robots = slices.Compact(robots)
	for chunk := range slices.Chunk(robots, 1000) {
		rows, err := tx.Query(ctx, `SELECT robot_id, id FROM robot_versions WHERE is_active AND artifact_path IS NOT NULL
			AND robot_id IN `+inClause(len(chunk)), anySlice(chunk)...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var robot, id string
			if err := rows.Scan(&robot, &id); err != nil {
				rows.Close()
				return nil, err
			}
			out[robot] = activeVersion{id: id}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// cancelScheduleRuns cancels the PENDING runs of the schedules and asks
// their RUNNING runs to stop; it returns the RUNNING ones by schedule.
func cancelScheduleRuns(ctx context.Context, db *DB, tx *Tx, ids []string, now time.Time) (map[string][]string, error) {
	out := map[string][]string{}
	if len(ids) == 0 {
		return out, nil
	}
	for chunk := range slices.Chunk(ids, 1000) {
		if _, err := tx.Exec(ctx, `UPDATE runs SET status = ?, cancel_requested = ?, canceled_at = ?, finished_at = ?, waiting_reason = NULL
			WHERE status = ? AND schedule_id IN `+inClause(len(chunk)), append([]any{hub.RunCanceled, true, now, now, hub.RunPending}, anySlice(chunk)...)...); err != nil {
			return nil, err
		}
		rows, err := tx.Query(ctx, `UPDATE runs SET cancel_requested = ? WHERE status = ? AND schedule_id IN `+inClause(len(chunk))+
			` RETURNING schedule_id, run_id`, append([]any{true, hub.RunRunning}, anySlice(chunk)...)...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var sid, rid string
			if err := rows.Scan(&sid, &rid); err != nil {
				rows.Close()
				return nil, err
			}
			out[sid] = append(out[sid], rid)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// runInsertColumns are the columns a new run is written with.
const runInsertColumns = `run_id, robot_id, robot_version_id, service_id, status, trigger_type, attempt, env_name,
	parameters_json, runtime_arguments, runtime_env, timeout_seconds, queued_at, triggered_by, cancel_requested,
	schedule_id, scheduled_for, retry_of, not_before, priority, waiting_reason, retry_count, retry_backoff_seconds`

const runInsertWidth = 23

func runInsertArgs(r *hub.Run) []any {
	var params *string
	if r.Parameters != nil {
		s := mustJSON(r.Parameters)
		params = &s
	}
	args := r.RuntimeArguments
	if args == nil {
		args = []string{}
	}
	env := r.RuntimeEnv
	if env == nil {
		env = map[string]string{}
	}
	return []any{r.ID, r.RobotID, r.VersionID, r.ServiceID, r.Status, r.TriggerType, r.Attempt, r.EnvName,
		params, mustJSON(args), mustJSON(env), r.TimeoutSeconds, r.QueuedAt, r.TriggeredBy, false,
		r.ScheduleID, r.ScheduledFor, r.RetryOf, r.NotBefore, r.Priority, r.WaitingReason, r.RetryCount, r.RetryBackoffSeconds}
}

// insertRuns writes new runs, several hundred per statement.
func insertRuns(ctx context.Context, tx *Tx, runs []*hub.Run) error {
	for chunk := range slices.Chunk(runs, 500) {
		var b strings.Builder
		b.WriteString(`INSERT INTO runs (` + runInsertColumns + `) VALUES `)
		args := make([]any, 0, len(chunk)*runInsertWidth)
		row := inClause(runInsertWidth)
		for i, r := range chunk {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(row)
			args = append(args, runInsertArgs(r)...)
		}
		if _, err := tx.Exec(ctx, b.String(), args...); err != nil {
			return fmt.Errorf("insert runs: %w", err)
		}
	}
	return nil
}

// insertAudits writes audit events, several hundred per statement.
func insertAudits(ctx context.Context, tx *Tx, events []*hub.AuditEvent) error {
	for chunk := range slices.Chunk(events, 1000) {
		var b strings.Builder
		b.WriteString(`INSERT INTO audit_events (actor_user_id, actor_subject, action, target_type, target_id, metadata_json, ip, created_at) VALUES `)
		args := make([]any, 0, len(chunk)*8)
		for i, ev := range chunk {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?)")
			meta := ev.Metadata
			if meta == nil {
				meta = map[string]any{}
			}
			var targetType, targetID *string
			if ev.TargetType != "" {
				targetType = &ev.TargetType
			}
			if ev.TargetID != "" {
				targetID = &ev.TargetID
			}
			args = append(args, ev.ActorUserID, ev.ActorSubject, ev.Action, targetType, targetID, mustJSON(meta), ev.IP, ev.CreatedAt)
		}
		if _, err := tx.Exec(ctx, b.String(), args...); err != nil {
			return fmt.Errorf("insert audit events: %w", err)
		}
	}
	return nil
}
