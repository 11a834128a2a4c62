package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"automationhub/internal/hub"
)

// Routing: a run is claimed only by a worker that is not paused and has
// every label its robot requires. The claim reads the claiming worker's row
// in its own transaction (see ClaimRun), so a worker in this process, a
// worker on another host and a remote agent served over HTTP follow the
// same rule.

// encodeLabels stores a label list as a JSON array ("[]" when empty).
func encodeLabels(labels []string) string {
	if len(labels) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(labels) // []string always encodes
	return string(b)
}

// decodeLabels reads a stored label list; never nil.
func decodeLabels(s string) []string {
	out := []string{}
	if s == "" {
		return out
	}
	if err := json.Unmarshal([]byte(s), &out); err != nil || out == nil {
		return []string{}
	}
	return out
}

// claimer is the claiming worker as its row describes it.
type claimer struct {
	status string
	labels []string
}

// mayTake reports whether the worker may claim a run that needs labels.
func (c claimer) mayTake(need []string) bool {
	return c.status != hub.WorkerPaused && hub.HasLabels(c.labels, need)
}

// claimingWorker reads the claiming worker's status and labels; on
// PostgreSQL the row is share-locked, so a pause committed while claims
// are in flight waits for them, and a claim after it sees PAUSED. A worker
// without a row yet (no heartbeat so far) counts as running, unlabelled.
func (db *DB) claimingWorker(ctx context.Context, tx *Tx, id string) (claimer, error) {
	lock := ""
	if db.dialect.lockRow() != "" {
		lock = " FOR SHARE"
	}
	var status, labels string
	err := tx.QueryRow(ctx, `SELECT status, labels FROM workers WHERE id = ?`+lock, id).Scan(&status, &labels)
	if errors.Is(err, sql.ErrNoRows) {
		return claimer{status: hub.WorkerRunning, labels: []string{}}, nil
	}
	if err != nil {
		return claimer{}, fmt.Errorf("read claiming worker: %w", err)
	}
	return claimer{status: status, labels: decodeLabels(labels)}, nil
}

// errPausedOther refuses a paused worker's claim of a run another worker
// may take.
var errPausedOther = fmt.Errorf("%w; %w", hub.ErrWorkerPaused, hub.ErrOtherWorker)

// routeAway handles a run that the claiming worker wk may not take. When
// another online worker that may take it has a free slot, refused wraps
// hub.ErrOtherWorker (the caller sends the ready signal again); otherwise
// the run records why it waits ("no online worker with labels [sap]", or
// "waiting for a free worker with labels [sap]" when such workers are all
// busy) and the signal can be dropped: the reconciler signals the run again
// once a worker that may take it has room (RoutableRuns). For a paused
// worker refused always wraps hub.ErrWorkerPaused.
func (db *DB) routeAway(ctx context.Context, tx *Tx, x *queued, need []string, wk claimer, workerID string, now time.Time) (refused, err error) {
	ws, err := db.ableWorkers(ctx, tx, now, workerID)
	if err != nil {
		return nil, err
	}
	online := false
	for _, w := range ws {
		if hub.HasLabels(w.labels, need) {
			if w.free {
				if wk.status == hub.WorkerPaused {
					return errPausedOther, nil
				}
				return hub.ErrOtherWorker, nil
			}
			online = true
		}
	}
	if wk.status == hub.WorkerPaused {
		refused = hub.ErrWorkerPaused
	}
	reason := hub.NoWorkerReason(need, online)
	if x.reason.Valid && x.reason.String == reason {
		return refused, nil
	}
	_, err = tx.Exec(ctx, `UPDATE runs SET waiting_reason = ? WHERE run_id = ? AND status = ?`, reason, x.id, hub.RunPending)
	return refused, err
}

// WorkerStatus returns a worker's status (RUNNING, PAUSED, STOPPED; ""
// when it has no row): a paused worker polls it to learn it was resumed.
func (db *DB) WorkerStatus(ctx context.Context, id string) (string, error) {
	var status string
	err := db.Read().QueryRow(ctx, `SELECT status FROM workers WHERE id = ?`, id).Scan(&status)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("sqlstore.WorkerStatus(%q): %w", id, err)
	}
	return status, nil
}

// ableWorker is an online, unpaused worker with its labels and whether it
// has a free slot.
type ableWorker struct {
	id     string
	labels []string
	free   bool
}

// ableWorkers lists the workers that may claim runs now: status RUNNING
// (not paused or stopped), a heartbeat within the stale window, other than
// except; free compares the RUNNING runs they hold with their concurrency.
func (db *DB) ableWorkers(ctx context.Context, q *Tx, now time.Time, except string) ([]ableWorker, error) {
	rows, err := q.Query(ctx, `SELECT id, labels, concurrency FROM workers WHERE status = ? AND last_heartbeat >= ? AND id <> ?`,
		hub.WorkerRunning, now.Add(-db.staleAfter), except)
	if err != nil {
		return nil, fmt.Errorf("online workers: %w", err)
	}
	var (
		out   []ableWorker
		slots []int
	)
	for rows.Next() {
		var (
			w      ableWorker
			labels string
			n      int
		)
		if err := rows.Scan(&w.id, &labels, &n); err != nil {
			rows.Close()
			return nil, err
		}
		w.labels = decodeLabels(labels)
		out = append(out, w)
		slots = append(slots, max(n, 1))
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(out) == 0 {
		return nil, err
	}
	ids := make([]any, len(out))
	for i, w := range out {
		ids[i] = w.id
	}
	busy := map[string]int{}
	rows, err = q.Query(ctx, `SELECT worker_id, COUNT(*) FROM runs WHERE status = ? AND worker_id IN `+inClause(len(ids))+` GROUP BY worker_id`,
		append([]any{hub.RunRunning}, ids...)...)
	if err != nil {
		return nil, fmt.Errorf("busy workers: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, err
		}
		busy[id] = n
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		out[i].free = busy[out[i].id] < slots[i]
	}
	return out, nil
}

// workerWaitCond selects runs waiting for a worker (labels, pause).
const workerWaitCond = `(r.waiting_reason LIKE ? OR r.waiting_reason LIKE ?)`

// waitingForWorkers lists, in queue order, PENDING runs that wait for a
// worker and that one of the workers with the given label sets may take.
func (db *DB) waitingForWorkers(ctx context.Context, q *Tx, workers [][]string, now time.Time, limit int) ([]string, error) {
	if len(workers) == 0 {
		return nil, nil
	}
	rows, err := q.Query(ctx, `SELECT r.run_id, b.required_labels FROM runs r JOIN robots b ON b.id = r.robot_id
		WHERE r.status = ? AND `+workerWaitCond+` AND (r.not_before IS NULL OR r.not_before <= ?)
		ORDER BY r.priority DESC, r.queued_at, r.run_id`+limitSQL(500), hub.RunPending, hub.NoWorkerPrefix+"%", hub.BusyWorkersPrefix+"%", now)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() && len(out) < limit {
		var id, labels string
		if err := rows.Scan(&id, &labels); err != nil {
			return nil, err
		}
		need := decodeLabels(labels)
		if slices.ContainsFunc(workers, func(have []string) bool { return hub.HasLabels(have, need) }) {
			out = append(out, id)
		}
	}
	return out, rows.Err()
}

// RoutableRuns lists, in queue order, the PENDING runs waiting for a
// worker (no online worker had the labels, or all were busy or paused) that
// an online, unpaused worker with a free slot may take now: the reconciler
// signals them, so a run starts soon after a matching worker comes online,
// is resumed or frees a slot.
func (db *DB) RoutableRuns(ctx context.Context, now time.Time, limit int) ([]string, error) {
	q := db.Read()
	ws, err := db.ableWorkers(ctx, q, now, "")
	if err != nil {
		return nil, fmt.Errorf("sqlstore.RoutableRuns: %w", err)
	}
	var free [][]string
	for _, w := range ws {
		if w.free {
			free = append(free, w.labels)
		}
	}
	ids, err := db.waitingForWorkers(ctx, q, free, now, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlstore.RoutableRuns: %w", err)
	}
	return ids, nil
}

// SetWorkerStatus pauses (hub.WorkerPaused) or resumes (hub.WorkerRunning)
// a worker, with the audit event that event builds from the changed row, in
// one transaction; ENotFound "Worker not found.". A paused worker finishes
// its runs and claims no new ones (ClaimRun reads its row); its heartbeats
// keep it PAUSED.
func (db *DB) SetWorkerStatus(ctx context.Context, id, status string, event func(*hub.Worker) *hub.AuditEvent) (*hub.Worker, error) {
	var out *hub.Worker
	err := db.InTx(ctx, func(tx *Tx) error {
		// A stopped worker is not running: resuming it would show a dead
		// worker as RUNNING. Only a live (running or paused) worker resumes.
		query := `UPDATE workers SET status = ? WHERE id = ?`
		if status == hub.WorkerRunning {
			query += ` AND status <> '` + hub.WorkerStopped + `'`
		}
		res, err := tx.Exec(ctx, query, status, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var exists int
			err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM workers WHERE id = ?`, id).Scan(&exists)
			if err != nil {
				return err
			}
			if exists > 0 {
				return hub.Errorf(hub.EConflict, "Worker is stopped: only a running or paused worker can be resumed.")
			}
			return hub.Errorf(hub.ENotFound, "Worker not found.")
		}
		ws, err := scanWorkers(tx.Query(ctx, `SELECT `+workerColumns+` FROM workers WHERE id = ?`, id))
		if err != nil {
			return err
		}
		if len(ws) != 1 {
			return hub.Errorf(hub.ENotFound, "Worker not found.")
		}
		out = &ws[0]
		return insertAudit(ctx, tx, event(out))
	})
	if err != nil {
		return nil, fmt.Errorf("sqlstore.SetWorkerStatus(%q): %w", id, err)
	}
	return out, nil
}

// workerColumns are the columns scanWorkers reads.
const workerColumns = `id, hostname, status, version, concurrency, running_runs, started_at, last_heartbeat, created_at, labels`

// scanWorkers reads worker rows (workerColumns).
func scanWorkers(rows *sql.Rows, err error) ([]hub.Worker, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []hub.Worker{}
	for rows.Next() {
		var (
			w       hub.Worker
			version sql.NullString
			labels  string
		)
		if err := rows.Scan(&w.ID, &w.Hostname, &w.Status, &version, &w.Concurrency, &w.RunningRuns, &w.StartedAt, &w.LastHeartbeat,
			&w.CreatedAt, &labels); err != nil {
			return nil, err
		}
		w.Version = nullStr(version)
		w.Labels = decodeLabels(labels)
		w.StartedAt, w.LastHeartbeat, w.CreatedAt = w.StartedAt.UTC(), w.LastHeartbeat.UTC(), w.CreatedAt.UTC()
		out = append(out, w)
	}
	return out, rows.Err()
}

// waitingForWorker adds to ids, up to limit, the runs waiting for a worker
// that worker workerID may take (none when it is paused or unknown).
func (db *DB) waitingForWorker(ctx context.Context, workerID string, ids []string, now time.Time, limit int) ([]string, error) {
	var status, labels string
	err := db.Read().QueryRow(ctx, `SELECT status, labels FROM workers WHERE id = ?`, workerID).Scan(&status, &labels)
	if errors.Is(err, sql.ErrNoRows) || err == nil && status == hub.WorkerPaused {
		return ids, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore.WaitingBehind: %w", err)
	}
	more, err := db.waitingForWorkers(ctx, db.Read(), [][]string{decodeLabels(labels)}, now, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlstore.WaitingBehind: %w", err)
	}
	for _, id := range more {
		if len(ids) < limit && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}
