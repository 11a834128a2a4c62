package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"automationhub/internal/hub"
)

// Log ingestion at disk speed. A worker under load sends batches of
// thousands of lines; each batch is one transaction that checks the run is
// still held (the lease check, on the run row) and stores every line
// idempotently by (run_id, seq):
//
//   - SQLite: one INSERT … SELECT over json_each of a single JSON text
//     argument holding the whole batch: one statement, one bound value,
//     parsed by SQLite itself, instead of thousands of bound parameters.
//   - PostgreSQL: COPY (pgx CopyFrom) straight into run_logs when none of
//     the batch's seqs is stored yet — the common case, checked with one
//     index probe under the run's row lock, which every writer of a run's
//     log takes, so nobody can add one meanwhile; otherwise (a batch sent
//     again after an unseen commit) COPY into a temporary staging table and
//     INSERT … SELECT … ON CONFLICT (run_id, seq) DO NOTHING. Either way in
//     the transaction of the lease check. Small batches keep the multi-row
//     INSERT.
//
// Both keep NUL characters out (stored as U+FFFD) and report a batch the
// database refuses for its content as hub.EInvalid.

// copyMinLines is the smallest batch PostgreSQL stores through COPY; below
// it the round trips of the staging table cost more than they save.
const copyMinLines = 64

// appendLogsJSON stores the lines of one run on SQLite in one statement.
func appendLogsJSON(ctx context.Context, q *Tx, runID string, lines []hub.LogLine) error {
	buf := make([]byte, 0, 80*len(lines)+2)
	buf = append(buf, '[')
	for i, l := range lines {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, '[')
		buf = strconv.AppendInt(buf, l.Seq, 10)
		buf = append(buf, ",\""...)
		buf = l.Timestamp.UTC().AppendFormat(buf, sqliteTimeLayout)
		buf = append(buf, "\","...)
		buf = appendJSONString(buf, l.Level)
		buf = append(buf, ',')
		buf = appendJSONString(buf, storableText(l.Message))
		buf = append(buf, ']')
	}
	buf = append(buf, ']')
	// WHERE true: an INSERT … SELECT followed by ON CONFLICT needs a WHERE
	// for SQLite to parse the upsert.
	_, err := q.Exec(ctx, `INSERT INTO run_logs (run_id, seq, "timestamp", level, message)
		SELECT ?, value ->> 0, value ->> 1, value ->> 2, value ->> 3 FROM json_each(?) WHERE true
		ON CONFLICT (run_id, seq) DO NOTHING`, runID, string(buf))
	if err != nil {
		return fmt.Errorf("sqlstore.AppendLogs: %w", err)
	}
	return nil
}

// appendJSONString appends s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendJSONString(buf []byte, s string) []byte {
	const hex = "0123456789abcdef"
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		buf = append(buf, s[start:i]...)
		switch c {
		case '"', '\\':
			buf = append(buf, '\\', c)
		case '\n':
			buf = append(buf, '\\', 'n')
		case '\r':
			buf = append(buf, '\\', 'r')
		case '\t':
			buf = append(buf, '\\', 't')
		default:
			buf = append(buf, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}

// sameRun returns the run of lines when there are some and they all
// belong to one.
func sameRun(lines []hub.LogLine) (string, bool) {
	if len(lines) == 0 {
		return "", false
	}
	for _, l := range lines[1:] {
		if l.RunID != lines[0].RunID {
			return "", false
		}
	}
	return lines[0].RunID, true
}

// appendRunLogsCopy is AppendRunLogs on PostgreSQL for a large batch: the
// lease check, COPY into the staging table and the idempotent insert, in
// one transaction on one pgx connection.
func (db *DB) appendRunLogsCopy(ctx context.Context, runID, workerID string, lines []hub.LogLine) (held bool, err error) {
	conn, err := db.sql.Conn(ctx)
	if err != nil {
		return false, fmt.Errorf("connection: %w", err)
	}
	defer conn.Close()
	err = conn.Raw(func(driverConn any) error {
		sc, ok := driverConn.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("unexpected driver connection %T", driverConn)
		}
		tx, err := sc.Conn().Begin(ctx)
		if err != nil {
			return fmt.Errorf("begin transaction: %w", err)
		}
		defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // after Commit it is a no-op
		var one int
		err = tx.QueryRow(ctx, `SELECT 1 FROM runs WHERE run_id = $1 AND worker_id = $2 AND status = $3 FOR UPDATE`,
			runID, workerID, hub.RunRunning).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		held = true
		first, last := lines[0].Seq, lines[0].Seq
		for _, l := range lines {
			first, last = min(first, l.Seq), max(last, l.Seq)
		}
		var stored bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM run_logs WHERE run_id = $1 AND seq BETWEEN $2 AND $3)`,
			runID, first, last).Scan(&stored); err != nil {
			return err
		}
		if !stored {
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"run_logs"}, []string{"run_id", "seq", "timestamp", "level", "message"},
				&logRows{runID: runID, lines: lines, i: -1}); err != nil {
				return fmt.Errorf("copy: %w", err)
			}
			if err := tx.Commit(ctx); err != nil {
				return fmt.Errorf("commit transaction: %w", err)
			}
			return nil
		}
		// The staging table lives as long as the connection; its rows only
		// as long as the transaction.
		if _, err := tx.Exec(ctx, `CREATE TEMPORARY TABLE IF NOT EXISTS run_logs_in (seq bigint, ts timestamptz, level text, message text)
			ON COMMIT DELETE ROWS`); err != nil {
			return fmt.Errorf("staging table: %w", err)
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"run_logs_in"}, []string{"seq", "ts", "level", "message"}, &logRows{lines: lines, i: -1}); err != nil {
			return fmt.Errorf("copy: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO run_logs (run_id, seq, "timestamp", level, message)
			SELECT $1, seq, ts, level, message FROM run_logs_in ORDER BY seq ON CONFLICT (run_id, seq) DO NOTHING`, runID); err != nil {
			return err
		}
		if err := tx.Commit(ctx); err != nil {
			return fmt.Errorf("commit transaction: %w", err)
		}
		return nil
	})
	if err != nil {
		return false, markDiskFull(err)
	}
	return held, nil
}

// logRows feeds log lines to CopyFrom: seq, timestamp, level, message,
// preceded by the run when runID is set.
type logRows struct {
	runID string
	lines []hub.LogLine
	i     int
	row   [5]any
}

func (r *logRows) Next() bool { r.i++; return r.i < len(r.lines) }

func (r *logRows) Values() ([]any, error) {
	l := r.lines[r.i]
	if r.runID == "" {
		r.row = [5]any{l.Seq, l.Timestamp, l.Level, storableText(l.Message)}
		return r.row[:4], nil
	}
	r.row = [5]any{r.runID, l.Seq, l.Timestamp, l.Level, storableText(l.Message)}
	return r.row[:], nil
}

func (r *logRows) Err() error { return nil }

// appendLogs stores log lines inside the caller's transaction, idempotently
// by (run_id, seq): on SQLite the lines of one run in one JSON statement,
// otherwise multi-row INSERTs of at most maxLogRowsPerStatement lines.
func appendLogs(ctx context.Context, q *Tx, lines []hub.LogLine) error {
	if len(lines) == 0 {
		return nil
	}
	if runID, ok := sameRun(lines); ok && q.d.name() == "sqlite" {
		return appendLogsJSON(ctx, q, runID, lines)
	}
	return appendLogRows(ctx, q, lines)
}
