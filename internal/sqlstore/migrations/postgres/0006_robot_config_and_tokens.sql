-- Robot configuration per environment (encrypted at rest), API tokens and
-- service accounts. Keep in step with ../sqlite/0006_robot_config_and_tokens.sql.
-- +goose Up

-- One variable of a robot's configuration for one environment. Every value,
-- secret or not, is sealed (AES-256-GCM) with the key named by key_id;
-- key_id NULL is a Fernet token of the previous backend.
CREATE TABLE robot_env_vars (
    robot_id        uuid NOT NULL REFERENCES robots (id) ON DELETE CASCADE,
    env_name        varchar(20) NOT NULL CHECK (env_name IN ('PROD', 'HML', 'TEST')),
    env_key         varchar(150) NOT NULL,
    value_encrypted text NOT NULL,
    key_id          varchar(64),
    is_secret       boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL,
    created_by      uuid REFERENCES users (id) ON DELETE SET NULL,
    updated_at      timestamptz NOT NULL,
    updated_by      uuid REFERENCES users (id) ON DELETE SET NULL,
    PRIMARY KEY (robot_id, env_name, env_key)
);

-- Service accounts: users for programs, without a password.
ALTER TABLE users ADD COLUMN service_account boolean NOT NULL DEFAULT false;

-- API tokens: only the SHA-256 of a token is kept; a request authenticates
-- with one read of the unique index on token_hash.
CREATE TABLE api_tokens (
    id               uuid PRIMARY KEY,
    user_id          uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name             varchar(200) NOT NULL,
    token_hash       varchar(64) NOT NULL UNIQUE,
    hint             varchar(32) NOT NULL,
    permissions_json json NOT NULL DEFAULT '[]',
    robot_id         uuid REFERENCES robots (id) ON DELETE CASCADE,
    scope_tag        varchar(100),
    expires_at       timestamptz,
    created_at       timestamptz NOT NULL,
    created_by       uuid REFERENCES users (id) ON DELETE SET NULL,
    last_used_at     timestamptz
);
CREATE INDEX ix_api_tokens_user ON api_tokens (user_id, created_at);
CREATE INDEX ix_api_tokens_robot ON api_tokens (robot_id) WHERE robot_id IS NOT NULL;

-- +goose Down
DROP TABLE api_tokens;
ALTER TABLE users DROP COLUMN service_account;
DROP TABLE robot_env_vars;
