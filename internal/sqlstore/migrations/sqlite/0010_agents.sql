-- Remote agents: enrolment tokens and the agents that traded one for a
-- credential of their own. Keep in step with ../postgres/0010_agents.sql.
-- +goose Up

-- An enrolment token lets agents join; only its SHA-256 is kept. max_uses
-- NULL: any number of agents until it expires or is revoked.
CREATE TABLE agent_enrollment_tokens (
    id          TEXT PRIMARY KEY,
    name        varchar(200) NOT NULL,
    token_hash  varchar(64) NOT NULL UNIQUE,
    hint        varchar(32) NOT NULL,
    max_uses    integer,
    uses        integer NOT NULL DEFAULT 0,
    expires_at  TIMESTAMP,
    revoked_at  TIMESTAMP,
    created_at  TIMESTAMP NOT NULL,
    created_by  TEXT REFERENCES users (id) ON DELETE SET NULL
);
CREATE INDEX ix_agent_enrollment_tokens_created ON agent_enrollment_tokens (created_at);

-- An agent's id is its worker id; a request authenticates with one read of
-- the unique index on token_hash (the SHA-256 of its credential).
CREATE TABLE agents (
    id                  TEXT PRIMARY KEY,
    name                varchar(255) NOT NULL,
    token_hash          varchar(64) NOT NULL UNIQUE,
    hostname            varchar(255) NOT NULL,
    os                  varchar(50) NOT NULL,
    version             varchar(50) NOT NULL,
    labels_json         text NOT NULL DEFAULT '[]',
    enrollment_token_id TEXT REFERENCES agent_enrollment_tokens (id) ON DELETE SET NULL,
    created_at          TIMESTAMP NOT NULL,
    revoked_at          TIMESTAMP,
    last_seen_at        TIMESTAMP
);
CREATE INDEX ix_agents_created ON agents (created_at);

-- +goose Down
DROP TABLE agents;
DROP TABLE agent_enrollment_tokens;
