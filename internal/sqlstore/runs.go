package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"automationhub/internal/hub"
)

// runColumns lists a run's columns, its summaries and, as one JSON array,
// its artifacts: a page of runs is one query.
func (db *DB) runColumns() string { return runBaseColumns + ", " + db.dialect.artifactsJSON() }

const runBaseColumns = `r.run_id, r.robot_id, r.robot_version_id, r.service_id, r.status, r.trigger_type, r.attempt, r.env_name,
	r.parameters_json, r.runtime_arguments, r.runtime_env, r.timeout_seconds, r.queued_at, r.started_at, r.finished_at,
	r.duration_seconds, r.triggered_by, r.error_message, r.exit_code, r.host_name, r.process_id, r.worker_id,
	r.lease_until, r.cancel_requested, r.canceled_at, r.canceled_by,
	r.schedule_id, r.scheduled_for, r.retry_of, r.not_before, r.priority, r.waiting_reason, r.retry_count, r.retry_backoff_seconds,
	v.version, v.channel, v.artifact_type, v.artifact_sha256, s.title`

const runFrom = ` FROM runs r JOIN robot_versions v ON v.id = r.robot_version_id LEFT JOIN services s ON s.id = r.service_id`

// scannedTime reads a time that may come as text: SQLite gives an
// expression (a subquery, an aggregate) no declared type, so its driver
// returns the stored text instead of a time.
type scannedTime struct {
	Time  time.Time
	Valid bool
}

// Scan implements sql.Scanner.
func (t *scannedTime) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		t.Valid = false
		return nil
	case time.Time:
		t.Time, t.Valid = x, true
		return nil
	case string:
		return t.parse(x)
	case []byte:
		return t.parse(string(x))
	}
	return fmt.Errorf("scan %T into a time", v)
}

func (t *scannedTime) parse(s string) error {
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("scan %q into a time: %w", s, err)
	}
	t.Time, t.Valid = tm, true
	return nil
}

func nullTime(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	u := t.Time.UTC()
	return &u
}

func scanRun(row interface{ Scan(...any) error }) (*hub.Run, error) {
	var (
		r                                                  hub.Run
		service, params, triggeredBy, errMsg, host, worker sql.NullString
		canceledBy, sha, title, arts                       sql.NullString
		schedule, retryOf, waiting                         sql.NullString
		scheduledFor, notBefore                            sql.NullTime
		args, env                                          string
		started, finished, lease, canceledAt               sql.NullTime
		duration                                           sql.NullFloat64
		exitCode, pid                                      sql.NullInt64
		vs                                                 hub.VersionSummary
	)
	err := row.Scan(&r.ID, &r.RobotID, &r.VersionID, &service, &r.Status, &r.TriggerType, &r.Attempt, &r.EnvName,
		&params, &args, &env, &r.TimeoutSeconds, &r.QueuedAt, &started, &finished,
		&duration, &triggeredBy, &errMsg, &exitCode, &host, &pid, &worker,
		&lease, &r.CancelRequested, &canceledAt, &canceledBy,
		&schedule, &scheduledFor, &retryOf, &notBefore, &r.Priority, &waiting, &r.RetryCount, &r.RetryBackoffSeconds,
		&vs.Version, &vs.Channel, &vs.ArtifactType, &sha, &title, &arts)
	if err != nil {
		return nil, err
	}
	r.ServiceID, r.TriggeredBy, r.ErrorMessage, r.HostName, r.WorkerID, r.CanceledBy =
		nullStr(service), nullStr(triggeredBy), nullStr(errMsg), nullStr(host), nullStr(worker), nullStr(canceledBy)
	r.ScheduleID, r.RetryOf, r.WaitingReason = nullStr(schedule), nullStr(retryOf), nullStr(waiting)
	r.ScheduledFor, r.NotBefore = nullTime(scheduledFor), nullTime(notBefore)
	r.QueuedAt = r.QueuedAt.UTC()
	r.StartedAt, r.FinishedAt, r.LeaseUntil, r.CanceledAt = nullTime(started), nullTime(finished), nullTime(lease), nullTime(canceledAt)
	if duration.Valid {
		d := duration.Float64
		r.DurationSeconds = &d
	}
	if exitCode.Valid {
		c := int(exitCode.Int64)
		r.ExitCode = &c
	}
	if pid.Valid {
		p := int(pid.Int64)
		r.ProcessID = &p
	}
	if params.Valid {
		if err := json.Unmarshal([]byte(params.String), &r.Parameters); err != nil {
			return nil, fmt.Errorf("run %s parameters: %w", r.ID, err)
		}
	}
	if err := json.Unmarshal([]byte(args), &r.RuntimeArguments); err != nil {
		return nil, fmt.Errorf("run %s runtime_arguments: %w", r.ID, err)
	}
	if err := json.Unmarshal([]byte(env), &r.RuntimeEnv); err != nil {
		return nil, fmt.Errorf("run %s runtime_env: %w", r.ID, err)
	}
	vs.ID, vs.ArtifactSHA256 = r.VersionID, nullStr(sha)
	r.Version = &vs
	if r.ServiceID != nil {
		r.Service = &hub.ServiceSummary{ID: *r.ServiceID, Title: title.String}
	}
	r.Artifacts = []hub.Artifact{}
	if arts.Valid {
		if err := json.Unmarshal([]byte(arts.String), &r.Artifacts); err != nil {
			return nil, fmt.Errorf("run %s artifacts: %w", r.ID, err)
		}
		for i := range r.Artifacts {
			r.Artifacts[i].CreatedAt = r.Artifacts[i].CreatedAt.UTC()
		}
	}
	return &r, nil
}

// CreateRun inserts a PENDING run with its audit event in one transaction.
func (db *DB) CreateRun(ctx context.Context, r *hub.Run, ev *hub.AuditEvent) error {
	err := db.InTx(ctx, func(tx *Tx) error {
		if err := insertRuns(ctx, tx, []*hub.Run{r}); err != nil {
			return err
		}
		return insertAudit(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("sqlstore.CreateRun: %w", err)
	}
	return nil
}

// RunByID returns a run with its version and service summaries and its
// artifacts, in one query; ENotFound "Run nao encontrada." when absent.
func (db *DB) RunByID(ctx context.Context, id string) (*hub.Run, error) {
	r, err := scanRun(db.Read().QueryRow(ctx, `SELECT `+db.runColumns()+runFrom+` WHERE r.run_id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, hub.Errorf(hub.ENotFound, "Run nao encontrada.")
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore.RunByID(%q): %w", id, err)
	}
	return r, nil
}

func artifactsOf(ctx context.Context, q *Tx, runIDs []string) (map[string][]hub.Artifact, error) {
	out := map[string][]hub.Artifact{}
	if len(runIDs) == 0 {
		return out, nil
	}
	rows, err := q.Query(ctx, `SELECT id, run_id, artifact_name, file_path, file_size_bytes, content_type, sha256, created_at
		FROM artifacts WHERE run_id IN `+inClause(len(runIDs))+` ORDER BY artifact_name, id`, anySlice(runIDs)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			a        hub.Artifact
			ct, hash sql.NullString
		)
		if err := rows.Scan(&a.ID, &a.RunID, &a.Name, &a.Path, &a.Size, &ct, &hash, &a.CreatedAt); err != nil {
			return nil, err
		}
		a.ContentType, a.SHA256, a.CreatedAt = nullStr(ct), nullStr(hash), a.CreatedAt.UTC()
		out[a.RunID] = append(out[a.RunID], a)
	}
	return out, rows.Err()
}

// RunLogs returns up to limit log lines of a run with seq > afterSeq, in order.
func (db *DB) RunLogs(ctx context.Context, runID string, afterSeq int64, limit int) ([]hub.LogLine, error) {
	rows, err := db.Read().Query(ctx, `SELECT seq, "timestamp", level, message FROM run_logs
		WHERE run_id = ? AND seq > ? ORDER BY seq`+limitSQL(limit), runID, afterSeq)
	if err != nil {
		return nil, fmt.Errorf("sqlstore.RunLogs: %w", err)
	}
	defer rows.Close()
	out := []hub.LogLine{}
	for rows.Next() {
		l := hub.LogLine{RunID: runID}
		if err := rows.Scan(&l.Seq, &l.Timestamp, &l.Level, &l.Message); err != nil {
			return nil, fmt.Errorf("sqlstore.RunLogs: %w", err)
		}
		l.Timestamp = l.Timestamp.UTC()
		out = append(out, l)
	}
	return out, rows.Err()
}

// LastLogSeq returns the highest log seq of a run (0 when it has none).
func (db *DB) LastLogSeq(ctx context.Context, runID string) (int64, error) {
	return lastSeq(ctx, db.Read(), runID)
}

func lastSeq(ctx context.Context, q *Tx, runID string) (int64, error) {
	var n sql.NullInt64
	if err := q.QueryRow(ctx, `SELECT MAX(seq) FROM run_logs WHERE run_id = ?`, runID).Scan(&n); err != nil {
		return 0, fmt.Errorf("last log seq: %w", err)
	}
	return n.Int64, nil
}

// AppendLogs stores a batch of log lines, one statement per thousand lines.
// It is idempotent by (run_id, seq): a line whose seq is already stored is
// skipped, so a batch may be sent again after an ambiguous failure.
func (db *DB) AppendLogs(ctx context.Context, lines []hub.LogLine) error {
	if len(lines) == 0 {
		return nil
	}
	return appendLogs(ctx, db.Conn(), lines)
}

// AppendRunLogs stores a batch of a run's log lines like AppendLogs, in one
// transaction, only while workerID still holds the run (RUNNING under its
// claim). held is false, and nothing is stored, once the run was taken away
// or has ended. A batch the database refuses for its content (not for its
// availability) is an hub.EInvalid error: sending it again cannot succeed.
func (db *DB) AppendRunLogs(ctx context.Context, runID, workerID string, lines []hub.LogLine) (held bool, err error) {
	if run, one := sameRun(lines); db.dialect.name() == "postgres" && len(lines) >= copyMinLines && one && run == runID {
		held, err = db.appendRunLogsCopy(ctx, runID, workerID, lines)
	} else {
		held, err = db.appendRunLogsTx(ctx, runID, workerID, lines)
	}
	if err != nil {
		if isDataError(err) {
			return false, fmt.Errorf("sqlstore.AppendRunLogs(%q): %w", runID, hub.Errorf(hub.EInvalid, "the database refused the log lines: %v", err))
		}
		return false, fmt.Errorf("sqlstore.AppendRunLogs(%q): %w", runID, err)
	}
	return held, nil
}

// appendRunLogsTx is AppendRunLogs through the store's own transaction.
func (db *DB) appendRunLogsTx(ctx context.Context, runID, workerID string, lines []hub.LogLine) (held bool, err error) {
	err = db.InTx(ctx, func(tx *Tx) error {
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM runs WHERE run_id = ? AND worker_id = ? AND status = ?`+db.dialect.forUpdate(),
			runID, workerID, hub.RunRunning).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		held = true
		return appendLogs(ctx, tx, lines)
	})
	return held, err
}

// maxLogRowsPerStatement keeps multi-row inserts under the drivers' bound
// parameter limits (5 per row).
const maxLogRowsPerStatement = 1000

// appendLogRows stores log lines with multi-row INSERTs.
func appendLogRows(ctx context.Context, q *Tx, lines []hub.LogLine) error {
	for len(lines) > 0 {
		n := min(len(lines), maxLogRowsPerStatement)
		var b strings.Builder
		b.WriteString(`INSERT INTO run_logs (run_id, seq, "timestamp", level, message) VALUES `)
		args := make([]any, 0, n*5)
		for i, l := range lines[:n] {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(?, ?, ?, ?, ?)")
			args = append(args, l.RunID, l.Seq, l.Timestamp, l.Level, storableText(l.Message))
		}
		b.WriteString(` ON CONFLICT (run_id, seq) DO NOTHING`)
		if _, err := q.Exec(ctx, b.String(), args...); err != nil {
			return fmt.Errorf("sqlstore.AppendLogs: %w", err)
		}
		lines = lines[n:]
	}
	return nil
}

// storableText replaces NUL characters and invalid UTF-8, which PostgreSQL
// text cannot hold, with U+FFFD on every dialect, so a log reads the same
// everywhere.
func storableText(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}

// RequestCancel cancels a PENDING run at once (CANCELED), or marks a RUNNING
// run for its worker to stop; a CANCELED run is returned unchanged. Other
// finished runs are EConflict. The audit event is written only when
// something changed.
func (db *DB) RequestCancel(ctx context.Context, runID string, by *string, now time.Time, ev *hub.AuditEvent) (changed bool, err error) {
	err = db.InTx(ctx, func(tx *Tx) error {
		var status string
		var requested bool
		err := tx.QueryRow(ctx, `SELECT status, cancel_requested FROM runs WHERE run_id = ?`+db.dialect.forUpdate(), runID).Scan(&status, &requested)
		if errors.Is(err, sql.ErrNoRows) {
			return hub.Errorf(hub.ENotFound, "Run nao encontrada.")
		}
		if err != nil {
			return err
		}
		switch {
		case status == hub.RunCanceled, status == hub.RunRunning && requested:
			return nil
		case status == hub.RunPending:
			_, err = tx.Exec(ctx, `UPDATE runs SET status = ?, cancel_requested = ?, canceled_by = ?, canceled_at = ?, finished_at = ?,
				waiting_reason = NULL WHERE run_id = ? AND status = ?`, hub.RunCanceled, true, by, now, now, runID, hub.RunPending)
		case status == hub.RunRunning:
			_, err = tx.Exec(ctx, `UPDATE runs SET cancel_requested = ?, canceled_by = ? WHERE run_id = ?`, true, by, runID)
		default:
			return hub.Errorf(hub.EConflict, "Only PENDING or RUNNING runs can be canceled.")
		}
		if err != nil {
			return err
		}
		changed = true
		if ev != nil {
			ev.Metadata["status"] = status
		}
		return insertAudit(ctx, tx, ev)
	})
	if err != nil {
		return false, fmt.Errorf("sqlstore.RequestCancel(%q): %w", runID, err)
	}
	return changed, nil
}

// RenewLeases extends the leases of a worker's running runs and returns the
// ids whose lease it still holds (a run missing from the answer was taken
// away: failed by the reconciler or finished).
func (db *DB) RenewLeases(ctx context.Context, workerID string, runIDs []string, until time.Time) ([]string, error) {
	if len(runIDs) == 0 {
		return nil, nil
	}
	args := append([]any{until, workerID, hub.RunRunning}, anySlice(runIDs)...)
	held, err := db.runIDs(ctx, `UPDATE runs SET lease_until = ? WHERE worker_id = ? AND status = ? AND run_id IN `+inClause(len(runIDs))+
		` RETURNING run_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore.RenewLeases: %w", err)
	}
	return held, nil
}

// SetProcessID records the robot's pid while it runs.
func (db *DB) SetProcessID(ctx context.Context, runID, workerID string, pid int) error {
	_, err := db.Conn().Exec(ctx, `UPDATE runs SET process_id = ? WHERE run_id = ? AND worker_id = ?`, pid, runID, workerID)
	if err != nil {
		return fmt.Errorf("sqlstore.SetProcessID: %w", err)
	}
	return nil
}

// CancelRequested reports whether a cancel was requested for the run.
func (db *DB) CancelRequested(ctx context.Context, runID string) (bool, error) {
	var b bool
	if err := db.Read().QueryRow(ctx, `SELECT cancel_requested FROM runs WHERE run_id = ?`, runID).Scan(&b); err != nil {
		return false, fmt.Errorf("sqlstore.CancelRequested: %w", err)
	}
	return b, nil
}

// FinishRun records how a run ended, with its final log lines and its
// artifacts, in one transaction — only if this worker still holds the run
// (a run the reconciler already failed is left alone; ok is false). A
// FAILED run whose retry policy allows another attempt gets its retry in
// the same transaction: a new PENDING run (RETRY, attempt+1) held back by
// its backoff, and a "Retry scheduled: …" line in the failed run's log.
func (db *DB) FinishRun(ctx context.Context, runID, workerID string, res hub.RunResult, lines []hub.LogLine, arts []hub.Artifact) (ok bool, err error) {
	err = db.InTx(ctx, func(tx *Tx) error {
		var started sql.NullTime
		err := tx.QueryRow(ctx, `SELECT started_at FROM runs WHERE run_id = ? AND worker_id = ? AND status = ?`+db.dialect.forUpdate(),
			runID, workerID, hub.RunRunning).Scan(&started)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		var duration *float64
		if started.Valid {
			d := res.FinishedAt.Sub(started.Time).Seconds()
			duration = &d
		}
		var canceledAt *time.Time
		if res.Status == hub.RunCanceled {
			canceledAt = &res.FinishedAt
		}
		if _, err := tx.Exec(ctx, `UPDATE runs SET status = ?, finished_at = ?, duration_seconds = ?, exit_code = ?, error_message = ?,
			process_id = NULL, lease_until = NULL, canceled_at = COALESCE(?, canceled_at) WHERE run_id = ?`,
			res.Status, res.FinishedAt, duration, res.ExitCode, res.ErrorMessage, canceledAt, runID); err != nil {
			return err
		}
		if err := appendLogs(ctx, tx, lines); err != nil {
			return err
		}
		if res.Status == hub.RunFailed {
			if err := scheduleRetry(ctx, tx, runID, res.FinishedAt); err != nil {
				return err
			}
		}
		for _, a := range arts {
			if _, err := tx.Exec(ctx, `INSERT INTO artifacts (id, run_id, artifact_name, file_path, file_size_bytes, content_type, sha256, created_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, a.ID, a.RunID, a.Name, a.Path, a.Size, a.ContentType, a.SHA256, a.CreatedAt); err != nil {
				return err
			}
		}
		ok = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("sqlstore.FinishRun(%q): %w", runID, err)
	}
	return ok, nil
}

// FailRun ends a PENDING or RUNNING run as FAILED with errMsg, and appends
// logMsg as an ERROR line; when the run's retry policy allows, its retry is
// queued in the same transaction (see FinishRun). Nothing happens to a run
// that already finished.
func (db *DB) FailRun(ctx context.Context, runID, errMsg, logMsg string, now time.Time) error {
	err := db.InTx(ctx, func(tx *Tx) error {
		res, err := tx.Exec(ctx, `UPDATE runs SET status = ?, finished_at = ?, error_message = ?, process_id = NULL, lease_until = NULL
			WHERE run_id = ? AND status IN (?, ?)`, hub.RunFailed, now, errMsg, runID, hub.RunPending, hub.RunRunning)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		seq, err := lastSeq(ctx, tx, runID)
		if err != nil {
			return err
		}
		if err := appendLogs(ctx, tx, []hub.LogLine{{RunID: runID, Seq: seq + 1, Timestamp: now, Level: hub.LevelError, Message: logMsg}}); err != nil {
			return err
		}
		return scheduleRetry(ctx, tx, runID, now)
	})
	if err != nil {
		return fmt.Errorf("sqlstore.FailRun(%q): %w", runID, err)
	}
	return nil
}

// ExpiredRuns lists RUNNING runs whose lease ended before now.
func (db *DB) ExpiredRuns(ctx context.Context, now time.Time, limit int) ([]string, error) {
	return db.runIDs(ctx, `SELECT run_id FROM runs WHERE status = ? AND lease_until < ? ORDER BY lease_until LIMIT ?`, hub.RunRunning, now, limit)
}

func (db *DB) runIDs(ctx context.Context, query string, args ...any) ([]string, error) {
	return queryIDs(ctx, db.Conn(), query, args...)
}

// queryIDs runs a query whose rows are one string each.
func queryIDs(ctx context.Context, q *Tx, query string, args ...any) ([]string, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// ArtifactByID returns one artifact of a run; ENotFound "Artifact not found.".
func (db *DB) ArtifactByID(ctx context.Context, runID, artifactID string) (*hub.Artifact, error) {
	arts, err := artifactsOf(ctx, db.Read(), []string{runID})
	if err != nil {
		return nil, fmt.Errorf("sqlstore.ArtifactByID: %w", err)
	}
	for _, a := range arts[runID] {
		if a.ID == artifactID {
			return &a, nil
		}
	}
	return nil, hub.Errorf(hub.ENotFound, "Artifact not found.")
}

// ActiveVersion returns the robot's active version (the newest active one);
// ENotFound when it has none.
func (db *DB) ActiveVersion(ctx context.Context, robotID string) (*hub.Version, error) {
	v, err := scanVersion(db.Read().QueryRow(ctx, `SELECT `+versionColumns+` FROM robot_versions
		WHERE robot_id = ? AND is_active = ? ORDER BY created_at DESC LIMIT 1`, robotID, true))
	return found(v, err, "Robot version not found for execution.", "ActiveVersion")
}

// VersionOnly returns a version by id alone (the worker's view).
func (db *DB) VersionOnly(ctx context.Context, versionID string) (*hub.Version, error) {
	v, err := scanVersion(db.Read().QueryRow(ctx, `SELECT `+versionColumns+` FROM robot_versions WHERE id = ?`, versionID))
	return found(v, err, "Robot version not found.", "VersionOnly")
}

// Heartbeat records that a worker is alive, creating its row on the first
// call. Every beat writes the whole row, start time and labels included, so
// a worker restarted under the same id is RUNNING again, not left STOPPED —
// except that a PAUSED worker stays paused until an operator resumes it.
func (db *DB) Heartbeat(ctx context.Context, w hub.Worker) error {
	_, err := db.Conn().Exec(ctx, `INSERT INTO workers (id, hostname, status, version, concurrency, running_runs, started_at, last_heartbeat, created_at, labels)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET hostname = excluded.hostname,
			status = CASE WHEN workers.status = '`+hub.WorkerPaused+`' THEN workers.status ELSE excluded.status END, version = excluded.version,
			concurrency = excluded.concurrency, running_runs = excluded.running_runs, started_at = excluded.started_at,
			last_heartbeat = excluded.last_heartbeat, labels = excluded.labels`,
		w.ID, w.Hostname, hub.WorkerRunning, w.Version, w.Concurrency, w.RunningRuns, w.StartedAt, w.LastHeartbeat, w.LastHeartbeat,
		encodeLabels(w.Labels))
	if err != nil {
		return fmt.Errorf("sqlstore.Heartbeat(%q): %w", w.ID, err)
	}
	return nil
}

// WorkerStopped marks a worker STOPPED at shutdown.
func (db *DB) WorkerStopped(ctx context.Context, id string, now time.Time) error {
	_, err := db.Conn().Exec(ctx, `UPDATE workers SET status = ?, running_runs = 0, last_heartbeat = ? WHERE id = ?`, hub.WorkerStopped, now, id)
	return err
}

// RunStats counts runs by status (from the maintained counters), the age
// of the oldest PENDING run, stored log lines, workers whose heartbeat is
// newer / older than staleAfter, runs failed in the hour before now, the
// PENDING runs held back by kind of reason, and the use of every pool: four
// queries, every figure an indexed read.
func (db *DB) RunStats(ctx context.Context, now time.Time, staleAfter time.Duration) (hub.RunStats, error) {
	st := hub.RunStats{ByStatus: map[string]int64{}}
	q := db.Read()
	byStatus, err := runCountsByStatus(ctx, q)
	if err != nil {
		return st, fmt.Errorf("sqlstore.RunStats: %w", err)
	}
	st.ByStatus = byStatus
	var (
		oldest scannedTime
		lines  sql.NullInt64
		cutoff = now.Add(-staleAfter)
	)
	// A retry waits from the end of its backoff, not from its creation.
	err = q.QueryRow(ctx, `SELECT
		(SELECT MIN(COALESCE(not_before, queued_at)) FROM runs WHERE status = ? AND (not_before IS NULL OR not_before <= ?)),
		(SELECT MAX(id) FROM run_logs),
		(SELECT COUNT(*) FROM workers WHERE status <> ? AND last_heartbeat >= ?),
		(SELECT COUNT(*) FROM workers WHERE status <> ? AND last_heartbeat < ?),
		(SELECT COUNT(*) FROM runs WHERE status = ? AND finished_at >= ?)`,
		hub.RunPending, now, hub.WorkerStopped, cutoff, hub.WorkerStopped, cutoff, hub.RunFailed, now.Add(-time.Hour)).Scan(
		&oldest, &lines, &st.WorkersAlive, &st.WorkersStale, &st.FailedLastHour)
	if err != nil {
		return st, fmt.Errorf("sqlstore.RunStats: %w", err)
	}
	if oldest.Valid {
		st.OldestPending = now.Sub(oldest.Time).Seconds()
	}
	st.LogLines = lines.Int64
	if st.Waiting, err = waitingStats(ctx, q, now); err != nil {
		return st, fmt.Errorf("sqlstore.RunStats: %w", err)
	}
	if st.Pools, err = poolUsage(ctx, q); err != nil {
		return st, fmt.Errorf("sqlstore.RunStats: %w", err)
	}
	return st, nil
}
