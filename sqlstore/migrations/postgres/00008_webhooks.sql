-- +goose Up
-- Agents' webhook signing secrets, AES-256-GCM sealed with the master key and bound to their row.
-- An agent has one current secret (expires_at NULL) and, for a day after a rotation, the one it
-- replaced; every delivery is signed with each secret that has not expired.
CREATE TABLE webhook_secrets (
    id            TEXT PRIMARY KEY,
    agent_id      TEXT NOT NULL REFERENCES agents (id),
    sealed_secret BYTEA NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ
);
CREATE INDEX webhook_secrets_agent ON webhook_secrets (agent_id, created_at);

-- One delivery per event that has a URL, written in the event's transaction. The dispatcher
-- claims due rows under a lease (lease_until) and records each attempt's outcome only under the
-- lease it claimed with, so two dispatchers never make the same attempt at once.
CREATE TABLE webhook_deliveries (
    id               TEXT PRIMARY KEY,
    event_id         TEXT NOT NULL UNIQUE REFERENCES events (id),
    agent_id         TEXT NOT NULL, -- no foreign key, as on events: on PostgreSQL its check would lock the agent row
    url              TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  TIMESTAMPTZ NOT NULL,
    lease_until      TIMESTAMPTZ,
    last_status_code INTEGER,
    last_error       TEXT NOT NULL DEFAULT '',
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    delivered_at     TIMESTAMPTZ
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_agent ON webhook_deliveries (agent_id, created_at, id);

-- +goose Down
DROP TABLE webhook_deliveries;
DROP TABLE webhook_secrets;
