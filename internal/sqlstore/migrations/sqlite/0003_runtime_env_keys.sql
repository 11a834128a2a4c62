-- Environment variables a run may set at start (robot.yaml runtime_env).
-- Keep in step with ../postgres/0003_runtime_env_keys.sql.
-- +goose Up
ALTER TABLE robot_versions ADD COLUMN runtime_env_keys_json TEXT NOT NULL DEFAULT '[]';

-- +goose Down
ALTER TABLE robot_versions DROP COLUMN runtime_env_keys_json;
