-- Reads that cost the same at a million runs. Keep in step with ../postgres/0004_reads_at_scale.sql.
-- +goose Up

-- Indexes that match every runs-list filter and its order (queued_at DESC,
-- run_id DESC), so a page is an index range scan and keyset cursors seek.
DROP INDEX ix_runs_queued_at;
DROP INDEX ix_runs_robot_queued;
DROP INDEX ix_runs_service_queued;
DROP INDEX ix_runs_status_queued;
CREATE INDEX ix_runs_queued ON runs (queued_at, run_id);
CREATE INDEX ix_runs_robot_queued ON runs (robot_id, queued_at, run_id);
CREATE INDEX ix_runs_robot_status_queued ON runs (robot_id, status, queued_at, run_id);
CREATE INDEX ix_runs_service_queued ON runs (service_id, queued_at, run_id) WHERE service_id IS NOT NULL;
CREATE INDEX ix_runs_status_queued ON runs (status, queued_at, run_id);
CREATE INDEX ix_runs_trigger_queued ON runs (trigger_type, queued_at, run_id);
-- Failed runs of the last hour (operations status).
CREATE INDEX ix_runs_status_finished ON runs (status, finished_at);
-- A run's artifacts in the order lists show them, without a sort.
DROP INDEX ix_artifacts_run;
CREATE INDEX ix_artifacts_run ON artifacts (run_id, artifact_name, id);

DROP INDEX ix_audit_events_created_at;
DROP INDEX ix_audit_events_action;
DROP INDEX ix_audit_events_actor;
DROP INDEX ix_audit_events_target;
CREATE INDEX ix_audit_events_created ON audit_events (created_at, id);
CREATE INDEX ix_audit_events_action ON audit_events (action, created_at, id);
CREATE INDEX ix_audit_events_actor ON audit_events (actor_user_id, created_at, id) WHERE actor_user_id IS NOT NULL;
CREATE INDEX ix_audit_events_target ON audit_events (target_type, target_id, created_at, id);

-- Runs per robot and status, kept by triggers in the same transaction as
-- the change: totals and operations figures without counting the table.
CREATE TABLE run_counts (
    robot_id TEXT NOT NULL,
    status   varchar(20) NOT NULL,
    n        bigint NOT NULL,
    PRIMARY KEY (robot_id, status)
);
-- Pending changes to run_counts. PostgreSQL writers append here (no hot row
-- to wait for) and a fold moves them into run_counts; SQLite has one writer
-- and updates run_counts directly, so this table stays empty.
CREATE TABLE run_count_deltas (
    id       INTEGER PRIMARY KEY,
    robot_id TEXT NOT NULL,
    status   varchar(20) NOT NULL,
    delta    bigint NOT NULL
);

INSERT INTO run_counts (robot_id, status, n) SELECT robot_id, status, COUNT(*) FROM runs GROUP BY robot_id, status;

-- +goose StatementBegin
CREATE TRIGGER runs_count_insert AFTER INSERT ON runs BEGIN
    INSERT INTO run_counts (robot_id, status, n) VALUES (NEW.robot_id, NEW.status, 1)
        ON CONFLICT (robot_id, status) DO UPDATE SET n = n + 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER runs_count_update AFTER UPDATE OF status ON runs WHEN OLD.status <> NEW.status BEGIN
    UPDATE run_counts SET n = n - 1 WHERE robot_id = OLD.robot_id AND status = OLD.status;
    INSERT INTO run_counts (robot_id, status, n) VALUES (NEW.robot_id, NEW.status, 1)
        ON CONFLICT (robot_id, status) DO UPDATE SET n = n + 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER runs_count_delete AFTER DELETE ON runs BEGIN
    UPDATE run_counts SET n = n - 1 WHERE robot_id = OLD.robot_id AND status = OLD.status;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER runs_count_delete;
DROP TRIGGER runs_count_update;
DROP TRIGGER runs_count_insert;
DROP TABLE run_count_deltas;
DROP TABLE run_counts;
DROP INDEX ix_audit_events_target;
DROP INDEX ix_audit_events_actor;
DROP INDEX ix_audit_events_action;
DROP INDEX ix_audit_events_created;
CREATE INDEX ix_audit_events_created_at ON audit_events (created_at);
CREATE INDEX ix_audit_events_action ON audit_events (action, created_at);
CREATE INDEX ix_audit_events_actor ON audit_events (actor_user_id, created_at) WHERE actor_user_id IS NOT NULL;
CREATE INDEX ix_audit_events_target ON audit_events (target_type, target_id);
DROP INDEX ix_artifacts_run;
CREATE INDEX ix_artifacts_run ON artifacts (run_id);
DROP INDEX ix_runs_status_finished;
DROP INDEX ix_runs_trigger_queued;
DROP INDEX ix_runs_status_queued;
DROP INDEX ix_runs_service_queued;
DROP INDEX ix_runs_robot_status_queued;
DROP INDEX ix_runs_robot_queued;
DROP INDEX ix_runs_queued;
CREATE INDEX ix_runs_queued_at ON runs (queued_at);
CREATE INDEX ix_runs_robot_queued ON runs (robot_id, queued_at);
CREATE INDEX ix_runs_service_queued ON runs (service_id, queued_at) WHERE service_id IS NOT NULL;
CREATE INDEX ix_runs_status_queued ON runs (status, queued_at);
