-- Worker labels and the labels a robot's runs require. Keep in step with
-- ../sqlite/0009_worker_labels.sql.
-- +goose Up

-- A worker's labels (JSON array of strings, sorted), from its heartbeat.
ALTER TABLE workers ADD COLUMN labels TEXT NOT NULL DEFAULT '[]';

-- The labels a worker needs to claim the robot's runs (JSON array, sorted).
ALTER TABLE robots ADD COLUMN required_labels TEXT NOT NULL DEFAULT '[]';

-- +goose Down
ALTER TABLE robots DROP COLUMN required_labels;
ALTER TABLE workers DROP COLUMN labels;
