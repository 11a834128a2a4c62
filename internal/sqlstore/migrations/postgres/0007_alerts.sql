-- SLA rules, alerts, the notification outbox, admin settings and the daily
-- run figures of the dashboard. Keep in step with ../sqlite/0007_alerts.sql.
-- +goose Up

-- One SLA rule per robot (the previous backend's fields, plus the longest a
-- run may take before RUNNING_TOO_LONG).
CREATE TABLE sla_rules (
    id                         uuid PRIMARY KEY,
    robot_id                   uuid NOT NULL UNIQUE REFERENCES robots (id) ON DELETE CASCADE,
    expected_run_every_minutes integer CHECK (expected_run_every_minutes BETWEEN 1 AND 10080),
    expected_daily_time        varchar(5),
    late_after_minutes         integer NOT NULL DEFAULT 15 CHECK (late_after_minutes BETWEEN 1 AND 720),
    alert_on_failure           boolean NOT NULL DEFAULT true,
    alert_on_late              boolean NOT NULL DEFAULT true,
    max_run_minutes            integer CHECK (max_run_minutes >= 1),
    notify_channels_json       text NOT NULL DEFAULT '{}',
    created_by                 uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at                 timestamptz NOT NULL,
    updated_at                 timestamptz NOT NULL
);

-- Alerts. subject names what broke (a robot, worker or schedule id; '' for
-- the queue); a breach is one row from the moment it is seen until its
-- condition clears (breach_ended_at). resolved_at closes the alert, by hand
-- (resolved_by) or when the breach ends. At most one breach per type and
-- subject is ongoing: the unique index makes raising it exactly-once.
CREATE TABLE alert_events (
    id              uuid PRIMARY KEY,
    robot_id        uuid REFERENCES robots (id) ON DELETE CASCADE,
    run_id          uuid REFERENCES runs (run_id) ON DELETE SET NULL,
    type            varchar(40) NOT NULL,
    severity        varchar(20) NOT NULL,
    subject         varchar(200) NOT NULL,
    message         text NOT NULL,
    metadata_json   text NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL,
    resolved_at     timestamptz,
    resolved_by     uuid REFERENCES users (id) ON DELETE SET NULL,
    breach_ended_at timestamptz
);
CREATE UNIQUE INDEX ux_alert_events_breach ON alert_events (type, subject) WHERE breach_ended_at IS NULL;
CREATE INDEX ix_alert_events_created ON alert_events (created_at, id);
CREATE INDEX ix_alert_events_open ON alert_events (created_at, id) WHERE resolved_at IS NULL;
CREATE INDEX ix_alert_events_robot ON alert_events (robot_id, created_at);
CREATE INDEX ix_alert_events_type ON alert_events (type, created_at);

-- The notification outbox: one row per notice (raised or resolved) and
-- channel target, delivered with retries until SENT or FAILED.
CREATE TABLE notifications (
    id              uuid PRIMARY KEY,
    alert_id        uuid NOT NULL REFERENCES alert_events (id) ON DELETE CASCADE,
    event           varchar(20) NOT NULL CHECK (event IN ('raised', 'resolved')),
    channel         varchar(20) NOT NULL CHECK (channel IN ('webhook', 'teams', 'slack', 'email')),
    target          varchar(2000) NOT NULL,
    status          varchar(20) NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'SENT', 'FAILED')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    last_error      text,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    sent_at         timestamptz,
    UNIQUE (alert_id, event, channel, target)
);
CREATE INDEX ix_notifications_due ON notifications (next_attempt_at) WHERE status = 'PENDING';
CREATE INDEX ix_notifications_created ON notifications (created_at, id);

-- Settings an administrator changes at run time (default alert channels).
CREATE TABLE hub_settings (
    key        varchar(100) PRIMARY KEY,
    value      text NOT NULL,
    updated_at timestamptz NOT NULL,
    updated_by uuid REFERENCES users (id) ON DELETE SET NULL
);

-- Finished runs per day (in the hub's time zone), robot and service: the
-- dashboard's 7- and 30-day figures. hist counts durations in fixed
-- logarithmic buckets (JSON array) for percentiles. A day is written once
-- it is over; today is read from the runs themselves.
CREATE TABLE run_stats_daily (
    day        varchar(10) NOT NULL,
    robot_id   uuid NOT NULL,
    service_id varchar(36) NOT NULL DEFAULT '',
    success    integer NOT NULL DEFAULT 0,
    failed     integer NOT NULL DEFAULT 0,
    canceled   integer NOT NULL DEFAULT 0,
    hist       text NOT NULL DEFAULT '[]',
    PRIMARY KEY (day, robot_id, service_id)
);
CREATE TABLE run_stats_days (
    day         varchar(10) PRIMARY KEY,
    computed_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE run_stats_days;
DROP TABLE run_stats_daily;
DROP TABLE hub_settings;
DROP TABLE notifications;
DROP TABLE alert_events;
DROP TABLE sla_rules;
