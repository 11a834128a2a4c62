package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"automationhub/internal/hub"
)

// countCap is how far past the requested page a list counts its matching
// rows when no maintained counter answers the filter: the total is exact
// below it and a lower bound (ListInfo.Exact false) above.
const countCap = 1000

// keyset is the cursor part of a list query over (timeCol, idCol) newest
// first: the condition, its arguments, the scan order, and whether the rows
// come oldest first (an After cursor) and must be reversed.
func keyset(p hub.Page, timeCol, idCol string) (cond string, args []any, order string, ascending bool) {
	switch {
	case p.Before != nil:
		return "(" + timeCol + ", " + idCol + ") < (?, ?)", []any{p.Before.At, p.Before.ID},
			timeCol + " DESC, " + idCol + " DESC", false
	case p.After != nil:
		return "(" + timeCol + ", " + idCol + ") > (?, ?)", []any{p.After.At, p.After.ID},
			timeCol + " ASC, " + idCol + " ASC", true
	}
	return "", nil, timeCol + " DESC, " + idCol + " DESC", false
}

// pageInfo trims the limit+1 rows a list read to one page, puts them newest
// first, and sets the cursors to the neighbouring pages. cursor gives an
// item's place in the order.
func pageInfo[T any](items []T, p hub.Page, ascending bool, cursor func(*T) hub.Cursor) ([]T, hub.ListInfo) {
	var info hub.ListInfo
	more := len(items) > p.Limit
	if more {
		items = items[:p.Limit]
	}
	if ascending {
		slices.Reverse(items)
	}
	if len(items) == 0 {
		return items, info
	}
	first, last := cursor(&items[0]), cursor(&items[len(items)-1])
	switch {
	case ascending: // After: older items exist (the cursor's); newer ones if more
		info.Next = &last
		if more {
			info.Prev = &first
		}
	default:
		if more {
			info.Next = &last
		}
		if p.Before != nil || p.Skip > 0 {
			info.Prev = &first
		}
	}
	return items, info
}

// cappedCount counts the rows of `FROM … WHERE …` (from) up to skip+limit
// plus countCap, so the cost does not grow with the table.
func cappedCount(ctx context.Context, q *Tx, from string, args []any, p hub.Page) (total int, exact bool, err error) {
	limit := p.Skip + p.Limit + countCap
	if err := q.QueryRow(ctx, `SELECT COUNT(*) FROM (SELECT 1`+from+limitSQL(limit)+`) c`, args...).Scan(&total); err != nil {
		return 0, false, err
	}
	return total, total < limit, nil
}

// ListRuns returns a page of runs newest first (queued_at, then run_id),
// with their summaries and artifacts in one query, and the page's
// ListInfo. The total is exact, from the maintained per-robot counters,
// when the filter is only robot, status and the caller's scope; otherwise
// it is counted up to a cap.
func (db *DB) ListRuns(ctx context.Context, f hub.RunFilter) ([]hub.Run, hub.ListInfo, error) {
	scope, scopeArgs, where, args, ok := runConditions(f)
	if !ok {
		return []hub.Run{}, hub.ListInfo{Exact: true}, nil
	}
	q := db.Read()
	// A restricted scope is read robot by robot (one index range each),
	// unless a robot filter already narrows it to one.
	var robots []string
	if f.RobotID == "" && !f.Scope.All {
		ids, tooMany, err := scopeRobots(ctx, q, f.Scope)
		switch {
		case err != nil:
			return nil, hub.ListInfo{}, fmt.Errorf("sqlstore.ListRuns: scope: %w", err)
		case len(ids) == 0:
			return []hub.Run{}, hub.ListInfo{Exact: true}, nil
		case !tooMany:
			robots = ids
		}
	}
	filtered, filteredArgs := where, args
	if scope != "" {
		filtered, filteredArgs = append([]string{scope}, where...), append(slices.Clone(scopeArgs), args...)
	}
	var (
		total int
		exact bool
		err   error
	)
	switch {
	case f.NoTotal:
	case f.ServiceID == "" && f.TriggerType == "" && f.ScheduleID == "" && f.Since == nil && f.Until == nil:
		total, err = db.countRuns(ctx, q, f)
		exact = true
	default:
		total, exact, err = cappedCount(ctx, q, ` FROM runs r`+whereClause(filtered), filteredArgs, f.Page)
	}
	if err != nil {
		return nil, hub.ListInfo{}, fmt.Errorf("sqlstore.ListRuns: count: %w", err)
	}
	var query string
	var queryArgs []any
	var ascending bool
	if robots != nil {
		query, queryArgs, ascending = db.runPageQuery(robots, where, args, f.Page)
	} else {
		query, queryArgs, ascending = db.runPageQuery(nil, filtered, filteredArgs, f.Page)
	}
	rows, err := q.Query(ctx, query, queryArgs...)
	if err != nil {
		return nil, hub.ListInfo{}, fmt.Errorf("sqlstore.ListRuns: %w", err)
	}
	defer rows.Close()
	out := []hub.Run{}
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, hub.ListInfo{}, fmt.Errorf("sqlstore.ListRuns: %w", err)
		}
		out = append(out, *r)
	}
	if err := rows.Err(); err != nil {
		return nil, hub.ListInfo{}, fmt.Errorf("sqlstore.ListRuns: %w", err)
	}
	out, info := pageInfo(out, f.Page, ascending, func(r *hub.Run) hub.Cursor { return hub.Cursor{At: r.QueuedAt, ID: r.ID} })
	info.Total, info.Exact = total, exact
	if !exact && info.Next == nil && f.Before == nil && f.After == nil {
		// The last page reached by skipping: nothing follows it.
		info.Total, info.Exact = f.Skip+len(out), true
	}
	return out, info, nil
}

// runConditions turns a run filter into WHERE conditions on runs r: the
// caller's scope (empty when unrestricted) and the filter's own. ok is
// false when the scope allows no robot at all.
func runConditions(f hub.RunFilter) (scope string, scopeArgs []any, where []string, args []any, ok bool) {
	scope, scopeArgs, ok = scopeCondition(f.Scope, "r.robot_id")
	if !ok {
		return "", nil, nil, nil, false
	}
	for _, c := range []struct{ col, v string }{{"r.robot_id", f.RobotID}, {"r.service_id", f.ServiceID}, {"r.status", f.Status}, {"r.trigger_type", f.TriggerType}, {"r.schedule_id", f.ScheduleID}} {
		if c.v != "" {
			where = append(where, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	if f.Since != nil {
		where, args = append(where, "r.queued_at >= ?"), append(args, *f.Since)
	}
	if f.Until != nil {
		where, args = append(where, "r.queued_at < ?"), append(args, *f.Until)
	}
	return scope, scopeArgs, where, args, true
}

// maxScopeBranches is how many robots a scoped list reads one index range
// each for; a caller who may read more robots is served from the time
// index with the scope as a filter.
const maxScopeBranches = 100

// runPageQuery is the query of one page of runs: the page's cursor
// condition, order and limit (one row more than asked, to know whether
// another page follows). ascending says the rows come oldest first.
//
// robots, when set, are the robots of a restricted scope: each gets its own
// branch reading at most skip+limit+1 rows from its (robot_id, queued_at)
// index, and the branches are merged. Without that, SQLite would read every
// run of those robots and sort them to find one page.
func (db *DB) runPageQuery(robots []string, where []string, args []any, p hub.Page) (query string, queryArgs []any, ascending bool) {
	kcond, kargs, order, ascending := keyset(p, "r.queued_at", "r.run_id")
	if kcond != "" {
		where, args = append(slices.Clone(where), kcond), append(slices.Clone(args), kargs...)
	}
	if len(robots) > 0 {
		branchWhere := whereClause(append([]string{"r.robot_id = ?"}, where...))
		branches := make([]string, len(robots))
		for i, id := range robots {
			branches[i] = `SELECT * FROM (SELECT r.run_id FROM runs r` + branchWhere + ` ORDER BY ` + order + limitSQL(p.Skip+p.Limit+1) + `) b` + strconv.Itoa(i)
			queryArgs = append(append(queryArgs, id), args...)
		}
		return `SELECT ` + db.runColumns() + ` FROM (` + strings.Join(branches, " UNION ALL ") + `) p JOIN runs r ON r.run_id = p.run_id
			JOIN robot_versions v ON v.id = r.robot_version_id LEFT JOIN services s ON s.id = r.service_id
			ORDER BY ` + order + limitSQL(p.Limit+1) + ` OFFSET ?`, append(queryArgs, p.Skip), ascending
	}
	if p.Skip == 0 {
		return `SELECT ` + db.runColumns() + runFrom + whereClause(where) + ` ORDER BY ` + order + limitSQL(p.Limit+1),
			slices.Clone(args), ascending
	}
	// The ids of the page come from the index alone (skipped rows are
	// never read from the table); then one join fetches its rows.
	return `SELECT ` + db.runColumns() + ` FROM (SELECT r.run_id FROM runs r` + whereClause(where) +
			` ORDER BY ` + order + limitSQL(p.Limit+1) + ` OFFSET ?) p JOIN runs r ON r.run_id = p.run_id
			JOIN robot_versions v ON v.id = r.robot_version_id LEFT JOIN services s ON s.id = r.service_id
			ORDER BY ` + order,
		append(slices.Clone(args), p.Skip), ascending
}

// scopeRobots lists the robots a restricted scope allows (nil for an
// unrestricted one); more than maxScopeBranches is reported as too many.
func scopeRobots(ctx context.Context, q *Tx, s hub.RobotScope) (ids []string, tooMany bool, err error) {
	if s.All {
		return nil, false, nil
	}
	cond, args, _ := scopeCondition(s, "robots.id")
	rows, err := q.Query(ctx, `SELECT id FROM robots WHERE `+cond+` ORDER BY id`+limitSQL(maxScopeBranches+1), args...)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, false, err
		}
		ids = append(ids, id)
	}
	return ids, len(ids) > maxScopeBranches, rows.Err()
}

// countRuns sums the maintained per-robot, per-status counters (plus their
// not yet folded deltas) for a filter of robot, status and scope.
func (db *DB) countRuns(ctx context.Context, q *Tx, f hub.RunFilter) (int, error) {
	cond, args, _ := scopeCondition(f.Scope, "c.robot_id")
	var where []string
	if cond != "" {
		where = append(where, cond)
	}
	if f.RobotID != "" {
		where, args = append(where, "c.robot_id = ?"), append(args, f.RobotID)
	}
	if f.Status != "" {
		where, args = append(where, "c.status = ?"), append(args, f.Status)
	}
	var n int64
	err := q.QueryRow(ctx, `SELECT COALESCE(SUM(c.n), 0) FROM (SELECT robot_id, status, n FROM run_counts
		UNION ALL SELECT robot_id, status, delta FROM run_count_deltas) c`+whereClause(where), args...).Scan(&n)
	return int(n), err
}

// RunCountsByStatus returns the number of runs in each status, from the
// maintained counters.
func (db *DB) RunCountsByStatus(ctx context.Context) (map[string]int64, error) {
	return runCountsByStatus(ctx, db.Read())
}

func runCountsByStatus(ctx context.Context, q *Tx) (map[string]int64, error) {
	rows, err := q.Query(ctx, `SELECT status, SUM(n) FROM (SELECT status, n FROM run_counts
		UNION ALL SELECT status, delta FROM run_count_deltas) c GROUP BY status`)
	if err != nil {
		return nil, fmt.Errorf("sqlstore.RunCountsByStatus: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var s string
		var n int64
		if err := rows.Scan(&s, &n); err != nil {
			return nil, fmt.Errorf("sqlstore.RunCountsByStatus: %w", err)
		}
		if n != 0 {
			out[s] = n
		}
	}
	return out, rows.Err()
}

// FoldRunCounts moves the pending counter deltas into run_counts, so that
// reading a count stays a sum over a few rows. Several processes may fold
// at once: each delta row is moved by exactly one of them. It returns how
// many delta rows it moved (always 0 on SQLite, whose triggers update the
// counters directly).
func (db *DB) FoldRunCounts(ctx context.Context) (int64, error) {
	if db.dialect.name() != "postgres" {
		return 0, nil
	}
	var moved int64
	err := db.InTx(ctx, func(tx *Tx) error {
		// One folder at a time: a second one would only wait on the first's
		// row locks.
		var got bool
		if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock(?)`, foldLockKey).Scan(&got); err != nil || !got {
			return err
		}
		return tx.QueryRow(ctx, `WITH moved AS (DELETE FROM run_count_deltas RETURNING robot_id, status, delta),
			summed AS (SELECT robot_id, status, SUM(delta) AS n, COUNT(*) AS k FROM moved GROUP BY robot_id, status),
			upserted AS (INSERT INTO run_counts (robot_id, status, n) SELECT robot_id, status, n FROM summed ORDER BY robot_id, status
				ON CONFLICT (robot_id, status) DO UPDATE SET n = run_counts.n + excluded.n)
			SELECT COALESCE(SUM(k), 0) FROM summed`).Scan(&moved)
	})
	if err != nil {
		return 0, fmt.Errorf("sqlstore.FoldRunCounts: %w", err)
	}
	if moved > 0 {
		// The moved rows are dead tuples that every count would otherwise
		// read past until autovacuum comes by: vacuum both small tables now
		// (skipped when another process is already at it).
		if _, err := db.sql.ExecContext(ctx, `VACUUM (SKIP_LOCKED) run_count_deltas, run_counts`); err != nil {
			return moved, fmt.Errorf("sqlstore.FoldRunCounts: vacuum: %w", err)
		}
	}
	return moved, nil
}

// Optimize refreshes the planner's statistics and, on PostgreSQL, the
// visibility map after a bulk load (VACUUM ANALYZE; ANALYZE on SQLite), as
// the databases' own background work would in time.
func (db *DB) Optimize(ctx context.Context) error {
	query := `ANALYZE`
	if db.dialect.name() == "postgres" {
		query = `VACUUM ANALYZE runs, run_logs, artifacts, audit_events, run_counts, run_count_deltas`
	}
	if _, err := db.sql.ExecContext(ctx, query); err != nil {
		return fmt.Errorf("sqlstore.Optimize: %w", err)
	}
	return nil
}

// foldLockKey is the PostgreSQL advisory lock of FoldRunCounts.
const foldLockKey = 0x6875625f636e74 // "hub_cnt"

// limitSQL is a LIMIT clause with its number written into the query, not
// bound. SQLite plans a bound LIMIT with its value (a page of 51 rows is
// joined row by row, an unknown count by scanning the whole table), and a
// statement planned with a bound value is prepared again each time its
// bindings are cleared — which the driver does after every use. A number
// in the text gives the good plan once: the list queries of the reader
// pool stay prepared. n is always computed by the store, never client
// text.
func limitSQL(n int) string { return " LIMIT " + strconv.Itoa(n) }

func whereClause(conds []string) string {
	if len(conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(conds, " AND ")
}
