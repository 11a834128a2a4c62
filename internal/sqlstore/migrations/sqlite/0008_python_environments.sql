-- Python environments: requests to build a version's environment ahead of
-- its first run, and what each worker reports about it. Keep in step with
-- ../postgres/0008_python_environments.sql.
-- +goose Up

-- One open request per version: a new one replaces the last.
CREATE TABLE python_env_prepares (
    id           TEXT PRIMARY KEY,
    robot_id     TEXT NOT NULL REFERENCES robots (id) ON DELETE CASCADE,
    version_id   TEXT NOT NULL REFERENCES robot_versions (id) ON DELETE CASCADE,
    requested_by TEXT REFERENCES users (id) ON DELETE SET NULL,
    requested_at TIMESTAMP NOT NULL
);
CREATE INDEX ix_python_env_prepares_requested ON python_env_prepares (requested_at);
CREATE INDEX ix_python_env_prepares_version ON python_env_prepares (version_id);

-- A worker's last report on a version's environment (after a prepare
-- request or a run).
CREATE TABLE worker_python_envs (
    worker_id      varchar(128) NOT NULL,
    version_id     TEXT NOT NULL REFERENCES robot_versions (id) ON DELETE CASCADE,
    env_key        varchar(64) NOT NULL DEFAULT '',
    status         varchar(20) NOT NULL CHECK (status IN ('READY', 'FAILED', 'NOT_NEEDED')),
    error          text,
    python_version varchar(20),
    updated_at     TIMESTAMP NOT NULL,
    PRIMARY KEY (worker_id, version_id)
);
CREATE INDEX ix_worker_python_envs_version ON worker_python_envs (version_id);

-- +goose Down
DROP TABLE worker_python_envs;
DROP TABLE python_env_prepares;
