-- Cleanup bookkeeping. Keep in step with ../postgres/0002_cleanup.sql.
-- +goose Up

-- Files whose rows are already deleted, queued for removal in the same
-- transaction as the row deletion: a crash between rows and files leaves
-- this journal, never rows pointing at nothing.
CREATE TABLE file_deletions (
    path      TEXT PRIMARY KEY,
    queued_at TIMESTAMP NOT NULL
);

-- Lease locks (one cleanup at a time on SQLite; PostgreSQL uses advisory locks).
CREATE TABLE IF NOT EXISTS hub_locks (
    name       TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL
);

CREATE INDEX ix_workers_last_heartbeat ON workers (last_heartbeat);

-- +goose Down
DROP INDEX ix_workers_last_heartbeat;
DROP TABLE file_deletions;
