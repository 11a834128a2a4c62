package sqlstore

import (
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

// maxClaimCandidates bounds how many runs ahead of the signalled one a
// claim considers.
const maxClaimCandidates = 8

// queueOrder is the order PENDING runs start in: higher priority first,
// then oldest first.
const queueOrder = `priority DESC, queued_at, run_id`

// backoffPrefix starts the waiting reason of a retry held back by its
// backoff.
const backoffPrefix = "retry backoff until "

// queued is a PENDING run as the claim sees it.
type queued struct {
	id, robotID string
	scheduleID  sql.NullString
	priority    int
	queuedAt    time.Time
	reason      sql.NullString
}

// limits are what a run needs to start: a robot slot, a schedule slot and
// pool slots, each with its capacity.
type limits struct {
	robotMax    int // 0: no limit
	scheduleMax int // 0: not a scheduled run (or no limit)
	pools       []poolNeed
	labels      []string // a worker needs all of them (not a limit: none() ignores them)
}

type poolNeed struct {
	id, name string
	capacity int
}

func (l limits) none() bool { return l.robotMax == 0 && l.scheduleMax == 0 && len(l.pools) == 0 }

// ClaimRun starts a PENDING run for one worker: it moves the run to
// RUNNING with the worker's lease, in one transaction that also checks and
// takes every limit the run is subject to — the robot's
// max_concurrent_runs, its schedule's max_concurrency and the capacity of
// each pool the robot needs — counted fleet-wide from the RUNNING runs. On
// PostgreSQL the robot and pool rows involved are locked (in one order) for
// the check, so two claims never both take the last slot.
//
// The signal for one run is a turn in the queue: when runs that compete
// with it (a higher priority, or older runs held by the same limits) are
// ready to start, the first of them that has room is claimed instead, and
// returned; the caller then signals runID again. A run that cannot start
// stays PENDING with a waiting reason ("pool sap-licences is full (2/2)")
// and ok is false, as it is for a run that is not PENDING any more or whose
// retry backoff has not ended.
//
// Only a worker that is not paused and has every label the run's robot
// requires takes it (the worker's row is read in the same transaction).
// For another worker, the claim returns an error wrapping hub.ErrOtherWorker
// when an online worker that may take the run has a free slot (send the
// signal again), or records why the run waits ("no online worker with
// labels [sap]") and returns ok false; a paused worker's claim always
// returns an error wrapping hub.ErrWorkerPaused.
func (db *DB) ClaimRun(ctx context.Context, runID, workerID, host string, now, leaseUntil time.Time) (*hub.Run, bool, error) {
	// started is when the run got its slots: now plus the time this claim
	// waited (for the writer, for the locks of the limits), so that a run's
	// recorded start is never before the end of the run whose slot it took.
	began := time.Now()
	started := func() time.Time { return hub.Timestamp(now.Add(time.Since(began))) }
	var claimed string
	var refused error // why this worker may not take the run (after commit)
	err := db.InTx(ctx, func(tx *Tx) error {
		claimed, refused = "", nil
		x, err := pendingRun(ctx, tx, runID, now)
		if err != nil || x == nil {
			return err
		}
		need, err := limitsOf(ctx, tx, x)
		if err != nil {
			return err
		}
		wk, err := db.claimingWorker(ctx, tx, workerID)
		if err != nil {
			return err
		}
		if !wk.mayTake(need.labels) {
			refused, err = db.routeAway(ctx, tx, x, need.labels, wk, workerID, now)
			return err
		}
		cands, err := db.claimCandidates(ctx, tx, x, need, now)
		if err != nil {
			return err
		}
		if len(cands) == 0 && need.none() {
			ok, err := takeRun(ctx, tx, x.id, workerID, host, started(), leaseUntil, nil)
			if ok {
				claimed = x.id
			}
			return err
		}
		cands = append(cands, x)
		needs := make([]limits, len(cands))
		for i, c := range cands {
			if c.id == x.id {
				needs[i] = need
			} else if needs[i], err = limitsOf(ctx, tx, c); err != nil {
				return err
			}
		}
		if err := db.lockLimits(ctx, tx, cands, needs); err != nil {
			return err
		}
		counts := newSlotCounts(tx)
		for i, c := range cands {
			if !wk.mayTake(needs[i].labels) {
				continue // another worker's run
			}
			reason, err := counts.blocked(ctx, c, needs[i])
			if err != nil {
				return err
			}
			if reason != "" {
				if !c.reason.Valid || c.reason.String != reason {
					if _, err := tx.Exec(ctx, `UPDATE runs SET waiting_reason = ? WHERE run_id = ? AND status = ?`, reason, c.id, hub.RunPending); err != nil {
						return err
					}
				}
				continue
			}
			var held []string
			for _, p := range needs[i].pools {
				held = append(held, p.id)
			}
			ok, err := takeRun(ctx, tx, c.id, workerID, host, started(), leaseUntil, held)
			if err != nil {
				return err
			}
			if ok {
				claimed = c.id
				return nil
			}
		}
		return nil
	})
	if err == nil {
		err = refused
	}
	if err != nil {
		return nil, false, fmt.Errorf("sqlstore.ClaimRun(%q): %w", runID, err)
	}
	if claimed == "" {
		return nil, false, nil
	}
	r, err := db.RunByID(ctx, claimed)
	if err != nil {
		return nil, false, err
	}
	return r, true, nil
}

// pendingRun reads a run that may start now: PENDING and past its backoff
// (nil otherwise).
func pendingRun(ctx context.Context, tx *Tx, runID string, now time.Time) (*queued, error) {
	var (
		q         queued
		status    string
		notBefore sql.NullTime
	)
	err := tx.QueryRow(ctx, `SELECT run_id, robot_id, schedule_id, priority, queued_at, waiting_reason, status, not_before
		FROM runs WHERE run_id = ?`, runID).Scan(&q.id, &q.robotID, &q.scheduleID, &q.priority, &q.queuedAt, &q.reason, &status, &notBefore)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if status != hub.RunPending || notBefore.Valid && notBefore.Time.After(now) {
		return nil, nil
	}
	return &q, nil
}

// limitsOf reads the limits a run is subject to.
func limitsOf(ctx context.Context, tx *Tx, q *queued) (limits, error) {
	var l limits
	var robotMax sql.NullInt64
	var labels sql.NullString
	err := tx.QueryRow(ctx, `SELECT max_concurrent_runs, required_labels FROM robots WHERE id = ?`, q.robotID).Scan(&robotMax, &labels)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return l, err
	}
	l.robotMax = int(robotMax.Int64)
	l.labels = decodeLabels(labels.String)
	if q.scheduleID.Valid {
		var n sql.NullInt64
		err := tx.QueryRow(ctx, `SELECT max_concurrency FROM schedules WHERE id = ?`, q.scheduleID.String).Scan(&n)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return l, err
		}
		l.scheduleMax = int(n.Int64)
	}
	rows, err := tx.Query(ctx, `SELECT p.id, p.name, p.capacity FROM robot_pools rp JOIN pools p ON p.id = rp.pool_id
		WHERE rp.robot_id = ? ORDER BY p.id`, q.robotID)
	if err != nil {
		return l, err
	}
	defer rows.Close()
	for rows.Next() {
		var p poolNeed
		if err := rows.Scan(&p.id, &p.name, &p.capacity); err != nil {
			return l, err
		}
		l.pools = append(l.pools, p)
	}
	return l, rows.Err()
}

// claimCandidates lists, in queue order, the startable PENDING runs ahead
// of x that its signal may start instead: any run of a higher priority,
// and — when x is limited — older runs held by one of its limits.
func (db *DB) claimCandidates(ctx context.Context, tx *Tx, x *queued, need limits, now time.Time) ([]*queued, error) {
	const cols = `SELECT run_id, robot_id, schedule_id, priority, queued_at, waiting_reason FROM runs`
	due := `status = ? AND (not_before IS NULL OR not_before <= ?)`
	var out []*queued
	read := func(query string, args ...any) error {
		rows, err := tx.Query(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var q queued
			if err := rows.Scan(&q.id, &q.robotID, &q.scheduleID, &q.priority, &q.queuedAt, &q.reason); err != nil {
				return err
			}
			if q.id != x.id && !slices.ContainsFunc(out, func(o *queued) bool { return o.id == q.id }) {
				out = append(out, &q)
			}
		}
		return rows.Err()
	}
	if err := read(cols+` WHERE `+due+` AND priority > ? ORDER BY `+queueOrder+` LIMIT ?`,
		hub.RunPending, now, x.priority, maxClaimCandidates); err != nil {
		return nil, err
	}
	if !need.none() {
		robots := `robot_id = ?`
		args := []any{hub.RunPending, now, x.robotID}
		if len(need.pools) > 0 {
			robots += ` OR robot_id IN (SELECT robot_id FROM robot_pools WHERE pool_id IN ` + inClause(len(need.pools)) + `)`
			for _, p := range need.pools {
				args = append(args, p.id)
			}
		}
		args = append(args, x.priority, x.priority, x.queuedAt, x.queuedAt, x.id, maxClaimCandidates)
		if err := read(cols+` WHERE `+due+` AND (`+robots+`)
			AND (priority > ? OR priority = ? AND (queued_at < ? OR queued_at = ? AND run_id < ?))
			ORDER BY `+queueOrder+` LIMIT ?`, args...); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(out, func(a, b *queued) int {
		switch {
		case a.priority != b.priority:
			return b.priority - a.priority
		case !a.queuedAt.Equal(b.queuedAt):
			return a.queuedAt.Compare(b.queuedAt)
		}
		return strings.Compare(a.id, b.id)
	})
	if len(out) > 2*maxClaimCandidates {
		out = out[:2*maxClaimCandidates]
	}
	return out, nil
}

// lockLimits locks, on PostgreSQL, the robot rows and pool rows whose
// limits the candidates need, in id order (robots, then pools), so that
// claims checking the same limits take turns and never deadlock.
func (db *DB) lockLimits(ctx context.Context, tx *Tx, cands []*queued, needs []limits) error {
	if db.dialect.lockRow() == "" {
		return nil
	}
	var robots, pools []string
	for i, c := range cands {
		if needs[i].robotMax > 0 || needs[i].scheduleMax > 0 {
			robots = append(robots, c.robotID)
		}
		for _, p := range needs[i].pools {
			pools = append(pools, p.id)
		}
	}
	for _, lock := range []struct {
		table string
		ids   []string
	}{{"robots", robots}, {"pools", pools}} {
		slices.Sort(lock.ids)
		ids := slices.Compact(lock.ids)
		if len(ids) == 0 {
			continue
		}
		if _, err := queryIDs(ctx, tx, `SELECT id FROM `+lock.table+` WHERE id IN `+inClause(len(ids))+` ORDER BY id`+db.dialect.lockRow(), anySlice(ids)...); err != nil {
			return fmt.Errorf("lock %s: %w", lock.table, err)
		}
	}
	return nil
}

// slotCounts counts RUNNING runs per limit within one claim, once each.
type slotCounts struct {
	tx    *Tx
	count map[string]int
}

func newSlotCounts(tx *Tx) *slotCounts { return &slotCounts{tx: tx, count: map[string]int{}} }

func (s *slotCounts) get(ctx context.Context, key, query string, args ...any) (int, error) {
	if n, ok := s.count[key]; ok {
		return n, nil
	}
	var n int
	if err := s.tx.QueryRow(ctx, query, args...).Scan(&n); err != nil {
		return 0, err
	}
	s.count[key] = n
	return n, nil
}

// blocked returns why run q cannot start now ("" when every limit has room).
func (s *slotCounts) blocked(ctx context.Context, q *queued, l limits) (string, error) {
	if l.robotMax > 0 {
		n, err := s.get(ctx, "robot:"+q.robotID, `SELECT COUNT(*) FROM runs WHERE robot_id = ? AND status = ?`, q.robotID, hub.RunRunning)
		if err != nil {
			return "", err
		}
		if n >= l.robotMax {
			return fmt.Sprintf("robot limit reached (%d/%d running)", n, l.robotMax), nil
		}
	}
	if l.scheduleMax > 0 && q.scheduleID.Valid {
		n, err := s.get(ctx, "schedule:"+q.scheduleID.String, `SELECT COUNT(*) FROM runs WHERE schedule_id = ? AND status = ?`, q.scheduleID.String, hub.RunRunning)
		if err != nil {
			return "", err
		}
		if n >= l.scheduleMax {
			return fmt.Sprintf("schedule limit reached (%d/%d running)", n, l.scheduleMax), nil
		}
	}
	for _, p := range l.pools {
		n, err := s.get(ctx, "pool:"+p.id, `SELECT COUNT(*) FROM runs WHERE status = ? AND held_pools LIKE ?`, hub.RunRunning, "%,"+p.id+",%")
		if err != nil {
			return "", err
		}
		if n >= p.capacity {
			return fmt.Sprintf("pool %s is full (%d/%d)", p.name, n, p.capacity), nil
		}
	}
	return "", nil
}

// takeRun moves a PENDING run to RUNNING for a worker, holding the pools.
func takeRun(ctx context.Context, tx *Tx, runID, workerID, host string, now, leaseUntil time.Time, pools []string) (bool, error) {
	var held *string
	if len(pools) > 0 {
		h := "," + strings.Join(pools, ",") + ","
		held = &h
	}
	res, err := tx.Exec(ctx, `UPDATE runs SET status = ?, worker_id = ?, host_name = ?, started_at = ?, lease_until = ?,
		waiting_reason = NULL, held_pools = ? WHERE run_id = ? AND status = ?`,
		hub.RunRunning, workerID, host, now, leaseUntil, held, runID, hub.RunPending)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// scheduleRetry queues the retry of a run that just failed, when its
// policy allows one more attempt: a new PENDING run (RETRY, attempt+1,
// retry_of the failed run) that may not start before its backoff ends, and
// a WARN line in the failed run's log. Cancelled runs never get here.
func scheduleRetry(ctx context.Context, tx *Tx, runID string, now time.Time) error {
	var (
		r                          hub.Run
		service, params, by, sched sql.NullString
		args, env                  string
	)
	err := tx.QueryRow(ctx, `SELECT robot_id, robot_version_id, service_id, env_name, parameters_json, runtime_arguments, runtime_env,
		timeout_seconds, triggered_by, schedule_id, priority, attempt, retry_count, retry_backoff_seconds FROM runs WHERE run_id = ?`, runID).Scan(
		&r.RobotID, &r.VersionID, &service, &r.EnvName, &params, &args, &env, &r.TimeoutSeconds, &by, &sched, &r.Priority,
		&r.Attempt, &r.RetryCount, &r.RetryBackoffSeconds)
	if err != nil {
		return fmt.Errorf("read retry policy: %w", err)
	}
	if r.Attempt > r.RetryCount {
		return nil
	}
	delay := hub.RetryDelay(time.Duration(r.RetryBackoffSeconds)*time.Second, r.Attempt+1)
	notBefore := now.Add(delay).UTC().Truncate(time.Microsecond)
	reason := backoffPrefix + notBefore.Format(time.RFC3339)
	retryOf := runID
	next := &hub.Run{
		ID: uuid.NewString(), RobotID: r.RobotID, VersionID: r.VersionID, ServiceID: nullStr(service), Status: hub.RunPending,
		TriggerType: hub.TriggerRetry, Attempt: r.Attempt + 1, EnvName: r.EnvName, TimeoutSeconds: r.TimeoutSeconds,
		QueuedAt: now, TriggeredBy: nullStr(by), ScheduleID: nullStr(sched), RetryOf: &retryOf, NotBefore: &notBefore,
		Priority: r.Priority, WaitingReason: &reason, RetryCount: r.RetryCount, RetryBackoffSeconds: r.RetryBackoffSeconds,
	}
	if params.Valid {
		if err := jsonUnmarshal(params.String, &next.Parameters); err != nil {
			return err
		}
	}
	if err := jsonUnmarshal(args, &next.RuntimeArguments); err != nil {
		return err
	}
	if err := jsonUnmarshal(env, &next.RuntimeEnv); err != nil {
		return err
	}
	if err := insertRuns(ctx, tx, []*hub.Run{next}); err != nil {
		return err
	}
	seq, err := lastSeq(ctx, tx, runID)
	if err != nil {
		return err
	}
	return appendLogs(ctx, tx, []hub.LogLine{{RunID: runID, Seq: seq + 1, Timestamp: now, Level: hub.LevelWarn,
		Message: hub.RetryLine(next.Attempt, delay, next.ID)}})
}

// StalePendingRuns lists PENDING runs to signal again, oldest first: those
// queued before cutoff that no limit holds (their ready signal may have
// been lost), and retries whose backoff has ended by now (nobody has
// signalled them yet).
func (db *DB) StalePendingRuns(ctx context.Context, cutoff, now time.Time, limit int) ([]string, error) {
	return db.runIDs(ctx, `SELECT run_id FROM runs WHERE status = ?
		AND (not_before IS NULL AND queued_at < ? OR not_before <= ?)
		AND (waiting_reason IS NULL OR waiting_reason LIKE ?)
		ORDER BY queued_at LIMIT ?`, hub.RunPending, cutoff, now, backoffPrefix+"%", limit)
}

// WaitingRuns lists PENDING runs held back by a limit (not by a backoff),
// in queue order: the safety net signals them again now and then.
func (db *DB) WaitingRuns(ctx context.Context, now time.Time, limit int) ([]string, error) {
	return db.runIDs(ctx, `SELECT run_id FROM runs WHERE status = ? AND waiting_reason IS NOT NULL AND waiting_reason NOT LIKE ?
		AND (not_before IS NULL OR not_before <= ?) ORDER BY `+queueOrder+` LIMIT ?`, hub.RunPending, backoffPrefix+"%", now, limit)
}

// WaitingBehind lists, in queue order, the PENDING runs held back by a
// limit that the end of run runID may have made room for: runs of the same
// robot or schedule, runs of robots that need a pool it held, then runs
// waiting for a worker that its worker may take.
func (db *DB) WaitingBehind(ctx context.Context, runID string, now time.Time, limit int) ([]string, error) {
	var (
		robot               string
		sched, held, worker sql.NullString
	)
	err := db.Read().QueryRow(ctx, `SELECT robot_id, schedule_id, held_pools, worker_id FROM runs WHERE run_id = ?`, runID).Scan(&robot, &sched, &held, &worker)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore.WaitingBehind: %w", err)
	}
	cond := `robot_id = ?`
	args := []any{hub.RunPending, backoffPrefix + "%", now, robot}
	if sched.Valid {
		cond += ` OR schedule_id = ?`
		args = append(args, sched.String)
	}
	if pools := strings.FieldsFunc(held.String, func(r rune) bool { return r == ',' }); len(pools) > 0 {
		cond += ` OR robot_id IN (SELECT robot_id FROM robot_pools WHERE pool_id IN ` + inClause(len(pools)) + `)`
		args = append(args, anySlice(pools)...)
	}
	ids, err := db.runIDs(ctx, `SELECT run_id FROM runs WHERE status = ? AND waiting_reason IS NOT NULL AND waiting_reason NOT LIKE ?
		AND (not_before IS NULL OR not_before <= ?) AND (`+cond+`) ORDER BY `+queueOrder+` LIMIT ?`, append(args, limit)...)
	if err != nil || len(ids) >= limit || !worker.Valid {
		return ids, err
	}
	// The run's worker has a free slot now: runs waiting for a worker with
	// its labels may start on it.
	return db.waitingForWorker(ctx, worker.String, ids, now, limit)
}

// WaitingForRobot lists, in queue order, the PENDING runs of a robot and
// of the robots sharing one of its pools that a limit holds back: after a
// limit is raised, they may start.
func (db *DB) WaitingForRobot(ctx context.Context, robotID string, now time.Time, limit int) ([]string, error) {
	return db.runIDs(ctx, `SELECT run_id FROM runs WHERE status = ? AND waiting_reason IS NOT NULL AND waiting_reason NOT LIKE ?
		AND (not_before IS NULL OR not_before <= ?) AND (robot_id = ? OR robot_id IN
		(SELECT b.robot_id FROM robot_pools a JOIN robot_pools b ON b.pool_id = a.pool_id WHERE a.robot_id = ?))
		ORDER BY `+queueOrder+` LIMIT ?`, hub.RunPending, backoffPrefix+"%", now, robotID, robotID, limit)
}

// WaitingForPool lists, in queue order, the PENDING runs of the robots
// that need a pool and that a limit holds back.
func (db *DB) WaitingForPool(ctx context.Context, poolID string, now time.Time, limit int) ([]string, error) {
	return db.runIDs(ctx, `SELECT run_id FROM runs WHERE status = ? AND waiting_reason IS NOT NULL AND waiting_reason NOT LIKE ?
		AND (not_before IS NULL OR not_before <= ?) AND robot_id IN (SELECT robot_id FROM robot_pools WHERE pool_id = ?)
		ORDER BY `+queueOrder+` LIMIT ?`, hub.RunPending, backoffPrefix+"%", now, poolID, limit)
}

// waitingStats counts PENDING runs held back, by kind of reason.
func waitingStats(ctx context.Context, q *Tx, now time.Time) (map[string]int64, error) {
	rows, err := q.Query(ctx, `SELECT CASE WHEN not_before > ? THEN '`+hub.WaitBackoff+`' WHEN waiting_reason LIKE 'pool %' THEN '`+hub.WaitPool+`'
		WHEN waiting_reason LIKE '`+hub.NoWorkerPrefix+`%' OR waiting_reason LIKE '`+hub.BusyWorkersPrefix+`%' THEN '`+hub.WaitWorker+`'
		WHEN waiting_reason LIKE 'robot %' THEN '`+hub.WaitRobotLimit+`' WHEN waiting_reason LIKE 'schedule %' THEN '`+hub.WaitScheduleLimit+`'
		ELSE '`+hub.WaitBackoff+`' END AS kind, COUNT(*) FROM runs WHERE status = ? AND (waiting_reason IS NOT NULL OR not_before > ?)
		GROUP BY kind`, now, hub.RunPending, now)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int64{hub.WaitPool: 0, hub.WaitRobotLimit: 0, hub.WaitScheduleLimit: 0, hub.WaitBackoff: 0, hub.WaitWorker: 0}
	for rows.Next() {
		var kind string
		var n int64
		if err := rows.Scan(&kind, &n); err != nil {
			return nil, err
		}
		out[kind] += n
	}
	return out, rows.Err()
}

// poolUsage returns every pool with the slots RUNNING runs hold.
func poolUsage(ctx context.Context, q *Tx) ([]hub.PoolUsage, error) {
	rows, err := q.Query(ctx, `SELECT p.name, p.capacity, (SELECT COUNT(*) FROM runs r WHERE r.status = ? AND r.held_pools LIKE '%,' || p.id || ',%')
		FROM pools p ORDER BY p.name`, hub.RunRunning)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []hub.PoolUsage
	for rows.Next() {
		var u hub.PoolUsage
		if err := rows.Scan(&u.Name, &u.Capacity, &u.InUse); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

func jsonUnmarshal(s string, v any) error {
	if err := json.Unmarshal([]byte(s), v); err != nil {
		return fmt.Errorf("decode %T: %w", v, err)
	}
	return nil
}
