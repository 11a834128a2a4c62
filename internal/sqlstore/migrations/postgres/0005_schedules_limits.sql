-- Schedules, retries, concurrency limits and resource pools.
-- Keep in step with ../sqlite/0005_schedules_limits.sql.
-- +goose Up

-- Resource pools: a named number of slots that runs of the robots needing
-- the pool share, fleet-wide.
CREATE TABLE pools (
    id          uuid PRIMARY KEY,
    name        varchar(100) NOT NULL UNIQUE,
    capacity    integer NOT NULL CHECK (capacity >= 1),
    description text,
    created_by  uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

-- The pools a robot's runs need; a pool in use cannot be deleted.
CREATE TABLE robot_pools (
    robot_id uuid NOT NULL REFERENCES robots (id) ON DELETE CASCADE,
    pool_id  uuid NOT NULL REFERENCES pools (id),
    PRIMARY KEY (robot_id, pool_id)
);
CREATE INDEX ix_robot_pools_pool ON robot_pools (pool_id);

-- Robot defaults for runs: how many may run at once (NULL: no limit) and
-- how failed runs are retried.
ALTER TABLE robots ADD COLUMN max_concurrent_runs integer CHECK (max_concurrent_runs >= 1);
ALTER TABLE robots ADD COLUMN retry_count integer NOT NULL DEFAULT 0 CHECK (retry_count >= 0);
ALTER TABLE robots ADD COLUMN retry_backoff_seconds integer NOT NULL DEFAULT 60 CHECK (retry_backoff_seconds >= 1);

-- One schedule per robot. next_fire_at is the next due instant (UTC); a
-- scheduler claims a fire by moving it forward with a conditional update in
-- the transaction that creates the run.
CREATE TABLE schedules (
    id                     uuid PRIMARY KEY,
    robot_id               uuid NOT NULL UNIQUE REFERENCES robots (id) ON DELETE CASCADE,
    enabled                boolean NOT NULL DEFAULT true,
    cron_expr              varchar(120) NOT NULL,
    timezone               varchar(80) NOT NULL DEFAULT 'America/Sao_Paulo',
    window_start           varchar(5),
    window_end             varchar(5),
    max_concurrency        integer NOT NULL DEFAULT 1 CHECK (max_concurrency >= 1),
    timeout_seconds        integer NOT NULL DEFAULT 3600 CHECK (timeout_seconds >= 1),
    retry_count            integer NOT NULL DEFAULT 0 CHECK (retry_count >= 0),
    retry_backoff_seconds  integer NOT NULL DEFAULT 60 CHECK (retry_backoff_seconds >= 1),
    overlap_policy         varchar(20) NOT NULL DEFAULT 'skip' CHECK (overlap_policy IN ('skip', 'queue', 'cancel_previous')),
    catchup                varchar(10) NOT NULL DEFAULT 'latest' CHECK (catchup IN ('latest', 'none', 'all')),
    catchup_window_seconds integer NOT NULL DEFAULT 3600 CHECK (catchup_window_seconds >= 0),
    next_fire_at           timestamptz,
    last_fire_at           timestamptz,
    created_by             uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at             timestamptz NOT NULL,
    updated_at             timestamptz NOT NULL
);
CREATE INDEX ix_schedules_due ON schedules (next_fire_at) WHERE enabled;

-- Runs: where they came from (schedule and fire time, the run they retry),
-- when they may start, their queue priority, what they wait for, their retry
-- policy, and the pools they hold while RUNNING.
ALTER TABLE runs ADD COLUMN schedule_id uuid REFERENCES schedules (id) ON DELETE SET NULL;
ALTER TABLE runs ADD COLUMN scheduled_for timestamptz;
ALTER TABLE runs ADD COLUMN retry_of uuid REFERENCES runs (run_id) ON DELETE SET NULL;
ALTER TABLE runs ADD COLUMN not_before timestamptz;
ALTER TABLE runs ADD COLUMN priority integer NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN waiting_reason varchar(300);
ALTER TABLE runs ADD COLUMN retry_count integer NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN retry_backoff_seconds integer NOT NULL DEFAULT 60;
ALTER TABLE runs ADD COLUMN held_pools varchar(2000);
-- One run per fire of a schedule, whatever happens above.
CREATE UNIQUE INDEX ux_runs_schedule_fire ON runs (schedule_id, scheduled_for) WHERE trigger_type = 'SCHEDULED';
CREATE INDEX ix_runs_schedule_status ON runs (schedule_id, status) WHERE schedule_id IS NOT NULL;
CREATE INDEX ix_runs_retry_of ON runs (retry_of) WHERE retry_of IS NOT NULL;
-- The queue: PENDING runs in start order.
CREATE INDEX ix_runs_pending_queue ON runs (priority DESC, queued_at, run_id) WHERE status = 'PENDING';

-- +goose Down
DROP INDEX ix_runs_pending_queue;
DROP INDEX ix_runs_retry_of;
DROP INDEX ix_runs_schedule_status;
DROP INDEX ux_runs_schedule_fire;
ALTER TABLE runs DROP COLUMN held_pools;
ALTER TABLE runs DROP COLUMN retry_backoff_seconds;
ALTER TABLE runs DROP COLUMN retry_count;
ALTER TABLE runs DROP COLUMN waiting_reason;
ALTER TABLE runs DROP COLUMN priority;
ALTER TABLE runs DROP COLUMN not_before;
ALTER TABLE runs DROP COLUMN retry_of;
ALTER TABLE runs DROP COLUMN scheduled_for;
ALTER TABLE runs DROP COLUMN schedule_id;
DROP TABLE schedules;
ALTER TABLE robots DROP COLUMN retry_backoff_seconds;
ALTER TABLE robots DROP COLUMN retry_count;
ALTER TABLE robots DROP COLUMN max_concurrent_runs;
DROP TABLE robot_pools;
DROP TABLE pools;
