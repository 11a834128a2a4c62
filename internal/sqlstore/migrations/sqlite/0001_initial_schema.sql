-- Automation Hub schema, SQLite dialect. Keep in step with ../postgres/0001_initial_schema.sql.
-- +goose Up

CREATE TABLE users (
    id              TEXT PRIMARY KEY,
    username        varchar(128) NOT NULL,
    full_name       varchar(255),
    email           varchar(255),
    hashed_password varchar(255) NOT NULL,
    is_active       BOOLEAN NOT NULL DEFAULT true,
    is_superuser    BOOLEAN NOT NULL DEFAULT false,
    role            varchar(20) NOT NULL DEFAULT 'Viewer'
                    CHECK (role IN ('None', 'Viewer', 'Operator', 'Maintainer', 'Admin')),
    auth_source     varchar(50) NOT NULL DEFAULT 'local' CHECK (auth_source IN ('local', 'azure_ad')),
    azure_object_id varchar(255),
    -- local tokens carry this number; raising it revokes them (password change, revocation)
    token_generation integer NOT NULL DEFAULT 0,
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX ux_users_username ON users (lower(username));
CREATE UNIQUE INDEX ux_users_email ON users (lower(email)) WHERE email IS NOT NULL;
CREATE UNIQUE INDEX ux_users_azure_object_id ON users (azure_object_id) WHERE azure_object_id IS NOT NULL;
CREATE INDEX ix_users_created_at ON users (created_at);

CREATE TABLE permissions (
    id            INTEGER PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    resource_type varchar(50) NOT NULL,
    resource_id   TEXT,
    scope_tag     varchar(100),
    action        varchar(80) NOT NULL,
    created_at    TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX ux_permissions_grant
    ON permissions (user_id, action, COALESCE(resource_id, ''), COALESCE(scope_tag, ''));
CREATE INDEX ix_permissions_action ON permissions (action);
CREATE INDEX ix_permissions_scope_tag ON permissions (scope_tag) WHERE scope_tag IS NOT NULL;

CREATE TABLE robots (
    id          TEXT PRIMARY KEY,
    name        varchar(200) NOT NULL UNIQUE,
    description text,
    created_by  TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);
CREATE INDEX ix_robots_created_at ON robots (created_at);

CREATE TABLE robot_tags (
    id       INTEGER PRIMARY KEY,
    robot_id TEXT NOT NULL REFERENCES robots (id) ON DELETE CASCADE,
    tag      varchar(100) NOT NULL,
    UNIQUE (robot_id, tag)
);
CREATE INDEX ix_robot_tags_tag ON robot_tags (tag);

CREATE TABLE robot_versions (
    id                     TEXT PRIMARY KEY,
    robot_id               TEXT NOT NULL REFERENCES robots (id) ON DELETE CASCADE,
    version                varchar(50) NOT NULL,
    entrypoint_type        varchar(20) NOT NULL DEFAULT 'PYTHON' CHECK (entrypoint_type IN ('PYTHON', 'EXE')),
    entrypoint_path        varchar(1024) NOT NULL DEFAULT 'main.py',
    arguments              TEXT NOT NULL DEFAULT '[]',
    env_vars               TEXT NOT NULL DEFAULT '{}',
    working_directory      varchar(1024),
    checksum               varchar(255),
    created_by             TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at             TIMESTAMP NOT NULL,
    is_active              BOOLEAN NOT NULL DEFAULT false,
    channel                varchar(20) NOT NULL DEFAULT 'stable' CHECK (channel IN ('stable', 'beta', 'hotfix')),
    artifact_type          varchar(20) NOT NULL DEFAULT 'ZIP' CHECK (artifact_type IN ('ZIP', 'EXE')),
    artifact_path          varchar(2048),
    artifact_sha256        varchar(128),
    artifact_size_bytes    bigint,
    changelog              text,
    commit_sha             varchar(80),
    branch                 varchar(255),
    build_url              varchar(2048),
    created_source         varchar(50) NOT NULL DEFAULT 'user' CHECK (created_source IN ('user', 'github_actions')),
    required_env_keys_json TEXT NOT NULL DEFAULT '[]',
    UNIQUE (robot_id, version)
);
-- At most one active version per robot, enforced by the database.
CREATE UNIQUE INDEX ux_robot_versions_active ON robot_versions (robot_id) WHERE is_active = 1;
CREATE INDEX ix_robot_versions_robot_created ON robot_versions (robot_id, created_at);

-- One cascade path only: deleting a robot removes its release tags directly.
CREATE TABLE robot_release_tags (
    id         INTEGER PRIMARY KEY,
    robot_id   TEXT NOT NULL REFERENCES robots (id) ON DELETE CASCADE,
    tag        varchar(30) NOT NULL CHECK (tag IN ('latest', 'stable')),
    version_id TEXT NOT NULL REFERENCES robot_versions (id),
    UNIQUE (robot_id, tag)
);
CREATE INDEX ix_robot_release_tags_version ON robot_release_tags (version_id);

CREATE TABLE domains (
    id          TEXT PRIMARY KEY,
    name        varchar(200) NOT NULL UNIQUE,
    slug        varchar(120) NOT NULL UNIQUE,
    description text,
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);

CREATE TABLE services (
    id                 TEXT PRIMARY KEY,
    domain_id          TEXT NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
    robot_id           TEXT NOT NULL REFERENCES robots (id),
    title              varchar(200) NOT NULL,
    description        text,
    icon               varchar(120),
    enabled            BOOLEAN NOT NULL DEFAULT true,
    default_version_id TEXT REFERENCES robot_versions (id),
    form_schema_json   TEXT NOT NULL DEFAULT '{}',
    run_template_json  TEXT NOT NULL DEFAULT '{}',
    created_by         TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at         TIMESTAMP NOT NULL,
    updated_at         TIMESTAMP NOT NULL,
    UNIQUE (domain_id, title)
);
CREATE INDEX ix_services_domain_created ON services (domain_id, created_at);
CREATE INDEX ix_services_robot ON services (robot_id);
CREATE INDEX ix_services_default_version ON services (default_version_id) WHERE default_version_id IS NOT NULL;
CREATE INDEX ix_services_created_at ON services (created_at);

CREATE TABLE workers (
    id             varchar(128) PRIMARY KEY,
    hostname       varchar(255) NOT NULL,
    status         varchar(20) NOT NULL DEFAULT 'RUNNING' CHECK (status IN ('RUNNING', 'PAUSED', 'STOPPED')),
    version        varchar(50),
    concurrency    integer NOT NULL DEFAULT 1,
    running_runs   integer NOT NULL DEFAULT 0,
    started_at     TIMESTAMP NOT NULL,
    last_heartbeat TIMESTAMP NOT NULL,
    created_at     TIMESTAMP NOT NULL
);
CREATE INDEX ix_workers_hostname ON workers (hostname, created_at);

CREATE TABLE runs (
    run_id            TEXT PRIMARY KEY,
    robot_id          TEXT NOT NULL REFERENCES robots (id),
    robot_version_id  TEXT NOT NULL REFERENCES robot_versions (id),
    service_id        TEXT REFERENCES services (id),
    status            varchar(20) NOT NULL DEFAULT 'PENDING'
                      CHECK (status IN ('PENDING', 'RUNNING', 'SUCCESS', 'FAILED', 'CANCELED')),
    trigger_type      varchar(20) NOT NULL DEFAULT 'MANUAL' CHECK (trigger_type IN ('MANUAL', 'SCHEDULED', 'RETRY')),
    attempt           integer NOT NULL DEFAULT 1 CHECK (attempt >= 1),
    env_name          varchar(20) NOT NULL DEFAULT 'PROD' CHECK (env_name IN ('PROD', 'HML', 'TEST')),
    parameters_json   TEXT,
    runtime_arguments TEXT NOT NULL DEFAULT '[]',
    runtime_env       TEXT NOT NULL DEFAULT '{}',
    timeout_seconds   integer NOT NULL CHECK (timeout_seconds > 0),
    queued_at         TIMESTAMP NOT NULL,
    started_at        TIMESTAMP,
    finished_at       TIMESTAMP,
    duration_seconds  REAL,
    triggered_by      TEXT REFERENCES users (id) ON DELETE SET NULL,
    error_message     text,
    exit_code         integer,
    host_name         varchar(255),
    process_id        integer,
    worker_id         varchar(128),
    lease_until       TIMESTAMP,
    cancel_requested  BOOLEAN NOT NULL DEFAULT false,
    canceled_at       TIMESTAMP,
    canceled_by       TEXT REFERENCES users (id) ON DELETE SET NULL
);
CREATE INDEX ix_runs_queued_at ON runs (queued_at);
CREATE INDEX ix_runs_robot_queued ON runs (robot_id, queued_at);
CREATE INDEX ix_runs_service_queued ON runs (service_id, queued_at) WHERE service_id IS NOT NULL;
CREATE INDEX ix_runs_status_queued ON runs (status, queued_at);
CREATE INDEX ix_runs_version ON runs (robot_version_id);
CREATE INDEX ix_runs_triggered_by ON runs (triggered_by) WHERE triggered_by IS NOT NULL;
CREATE INDEX ix_runs_lease ON runs (lease_until) WHERE status = 'RUNNING';

CREATE TABLE run_logs (
    id          INTEGER PRIMARY KEY,
    run_id      TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    seq         bigint NOT NULL,
    "timestamp" TIMESTAMP NOT NULL,
    level       varchar(20) NOT NULL CHECK (level IN ('INFO', 'WARN', 'ERROR')),
    message     text NOT NULL,
    UNIQUE (run_id, seq)
);
CREATE INDEX ix_run_logs_timestamp ON run_logs ("timestamp");

CREATE TABLE artifacts (
    id              TEXT PRIMARY KEY,
    run_id          TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    artifact_name   varchar(255) NOT NULL,
    file_path       varchar(2048) NOT NULL,
    file_size_bytes bigint NOT NULL CHECK (file_size_bytes >= 0),
    content_type    varchar(255),
    sha256          varchar(64),
    created_at      TIMESTAMP NOT NULL
);
CREATE INDEX ix_artifacts_run ON artifacts (run_id);
CREATE INDEX ix_artifacts_created_at ON artifacts (created_at);

-- actor_user_id is deliberately not a foreign key: the audit trail outlives users.
CREATE TABLE audit_events (
    id            INTEGER PRIMARY KEY,
    actor_user_id TEXT,
    actor_subject varchar(255),
    action        varchar(120) NOT NULL,
    target_type   varchar(80),
    target_id     varchar(255),
    metadata_json TEXT NOT NULL DEFAULT '{}',
    ip            varchar(64),
    created_at    TIMESTAMP NOT NULL
);
CREATE INDEX ix_audit_events_created_at ON audit_events (created_at);
CREATE INDEX ix_audit_events_action ON audit_events (action, created_at);
CREATE INDEX ix_audit_events_actor ON audit_events (actor_user_id, created_at) WHERE actor_user_id IS NOT NULL;
CREATE INDEX ix_audit_events_target ON audit_events (target_type, target_id);

-- +goose Down
DROP TABLE audit_events;
DROP TABLE artifacts;
DROP TABLE run_logs;
DROP TABLE runs;
DROP TABLE workers;
DROP TABLE services;
DROP TABLE domains;
DROP TABLE robot_release_tags;
DROP TABLE robot_versions;
DROP TABLE robot_tags;
DROP TABLE robots;
DROP TABLE permissions;
DROP TABLE users;
