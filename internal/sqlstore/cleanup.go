package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/google/uuid"

	"automationhub/internal/hub"
)

// finishedStatuses is the SQL list of final run statuses.
const finishedRuns = `(r.status = 'SUCCESS' OR r.status = 'FAILED' OR r.status = 'CANCELED')`

// TryLock takes the named fleet-wide lock without waiting: a session
// advisory lock on PostgreSQL (held on a dedicated connection until unlock),
// a lease row in hub_locks on SQLite (expires after lease if the holder dies).
// ok is false when someone else holds it.
func (db *DB) TryLock(ctx context.Context, name string, lease time.Duration) (unlock func(), ok bool, err error) {
	if db.dialect.name() == "postgres" {
		conn, err := db.sql.Conn(ctx)
		if err != nil {
			return nil, false, fmt.Errorf("sqlstore.TryLock: %w", err)
		}
		h := fnv.New64a()
		h.Write([]byte("hub:" + name))
		key := int64(h.Sum64())
		if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&ok); err != nil || !ok {
			conn.Close()
			return nil, false, err
		}
		return func() {
			_, _ = conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock($1)`, key)
			conn.Close()
		}, true, nil
	}
	l := &sqliteLocker{name: name, owner: uuid.NewString(), lease: lease}
	ok, err = l.tryLock(ctx, db.sql)
	if err != nil || !ok {
		return nil, false, err
	}
	return func() { _ = l.Unlock(context.Background(), db.sql) }, true, nil
}

// CountOldLogs counts log lines older than before of finished runs.
func (db *DB) CountOldLogs(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := db.Read().QueryRow(ctx, `SELECT COUNT(*) FROM run_logs l JOIN runs r ON r.run_id = l.run_id
		WHERE l."timestamp" < ? AND `+finishedRuns, before).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("sqlstore.CountOldLogs: %w", err)
	}
	return n, nil
}

// DeleteOldLogs deletes at most batch log lines older than before of
// finished runs, in one short statement, and returns how many it deleted.
func (db *DB) DeleteOldLogs(ctx context.Context, before time.Time, batch int) (int64, error) {
	res, err := db.Conn().Exec(ctx, `DELETE FROM run_logs WHERE id IN (
		SELECT l.id FROM run_logs l JOIN runs r ON r.run_id = l.run_id
		WHERE l."timestamp" < ? AND `+finishedRuns+` LIMIT ?)`, before, batch)
	if err != nil {
		return 0, fmt.Errorf("sqlstore.DeleteOldLogs: %w", err)
	}
	return res.RowsAffected()
}

// OldArtifacts lists up to limit artifacts created before before, of finished runs.
func (db *DB) OldArtifacts(ctx context.Context, before time.Time, limit int) ([]hub.Artifact, error) {
	rows, err := db.Read().Query(ctx, `SELECT a.id, a.run_id, a.artifact_name, a.file_path, a.file_size_bytes, a.created_at
		FROM artifacts a JOIN runs r ON r.run_id = a.run_id WHERE a.created_at < ? AND `+finishedRuns+`
		ORDER BY a.created_at LIMIT ?`, before, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlstore.OldArtifacts: %w", err)
	}
	defer rows.Close()
	var out []hub.Artifact
	for rows.Next() {
		var a hub.Artifact
		if err := rows.Scan(&a.ID, &a.RunID, &a.Name, &a.Path, &a.Size, &a.CreatedAt); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// DeleteArtifacts deletes artifact rows and, in the same transaction, queues
// their files in file_deletions.
func (db *DB) DeleteArtifacts(ctx context.Context, arts []hub.Artifact, now time.Time) error {
	if len(arts) == 0 {
		return nil
	}
	err := db.InTx(ctx, func(tx *Tx) error {
		ids := make([]string, len(arts))
		for i, a := range arts {
			ids[i] = a.ID
			if _, err := tx.Exec(ctx, `INSERT INTO file_deletions (path, queued_at) VALUES (?, ?) ON CONFLICT (path) DO NOTHING`, a.Path, now); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `DELETE FROM artifacts WHERE id IN `+inClause(len(ids)), anySlice(ids)...)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlstore.DeleteArtifacts: %w", err)
	}
	return nil
}

// PendingFileDeletions lists up to limit queued file removals.
func (db *DB) PendingFileDeletions(ctx context.Context, limit int) ([]string, error) {
	return db.runIDs(ctx, `SELECT path FROM file_deletions ORDER BY queued_at, path LIMIT ?`, limit)
}

// FileDeleted removes a path from the deletion journal.
func (db *DB) FileDeleted(ctx context.Context, path string) error {
	_, err := db.Conn().Exec(ctx, `DELETE FROM file_deletions WHERE path = ?`, path)
	if err != nil {
		return fmt.Errorf("sqlstore.FileDeleted: %w", err)
	}
	return nil
}

// RunFinished reports whether a run exists and has ended (for sweeping
// working copies); a run that does not exist counts as finished.
func (db *DB) RunFinished(ctx context.Context, runID string) (bool, error) {
	var status string
	err := db.Read().QueryRow(ctx, `SELECT status FROM runs WHERE run_id = ?`, runID).Scan(&status)
	if errors.Is(err, sql.ErrNoRows) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("sqlstore.RunFinished: %w", err)
	}
	return hub.Finished(status), nil
}

// Workers lists worker rows by host name, then age.
func (db *DB) Workers(ctx context.Context) ([]hub.Worker, error) {
	ws, err := scanWorkers(db.Read().Query(ctx, `SELECT `+workerColumns+` FROM workers ORDER BY hostname, created_at`))
	if err != nil {
		return nil, fmt.Errorf("sqlstore.Workers: %w", err)
	}
	return ws, nil
}

// CountOldArtifacts counts artifacts created before before, of finished
// runs, and their total size.
func (db *DB) CountOldArtifacts(ctx context.Context, before time.Time) (rows, bytes int64, err error) {
	err = db.Read().QueryRow(ctx, `SELECT COUNT(*), COALESCE(SUM(a.file_size_bytes), 0) FROM artifacts a JOIN runs r ON r.run_id = a.run_id
		WHERE a.created_at < ? AND `+finishedRuns, before).Scan(&rows, &bytes)
	if err != nil {
		return 0, 0, fmt.Errorf("sqlstore.CountOldArtifacts: %w", err)
	}
	return rows, bytes, nil
}
