-- +goose Up
CREATE TABLE agents (
    id                        TEXT PRIMARY KEY,
    name                      TEXT NOT NULL,
    name_key                  TEXT NOT NULL UNIQUE, -- lower(name): names are unique ignoring case
    description               TEXT NOT NULL DEFAULT '',
    capabilities              TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(capabilities)),
    callback_url              TEXT NOT NULL DEFAULT '',
    email                     TEXT NOT NULL DEFAULT '',
    password_hash             TEXT NOT NULL DEFAULT '',
    avatar_url                TEXT NOT NULL DEFAULT '',
    website_url               TEXT NOT NULL DEFAULT '',
    activated                 BOOLEAN NOT NULL DEFAULT FALSE,
    activated_at              TIMESTAMP,
    verified                  BOOLEAN NOT NULL DEFAULT FALSE,
    deposit_address           TEXT NOT NULL UNIQUE,
    emergency_address         TEXT NOT NULL DEFAULT '',
    withdrawal_address        TEXT NOT NULL DEFAULT '',
    address_changed_at        TIMESTAMP,
    withdrawal_cooldown_until TIMESTAMP,
    created_at                TIMESTAMP NOT NULL,
    updated_at                TIMESTAMP NOT NULL
);

-- Deposit keypairs, AES-256-GCM sealed with the master key, bound to their address.
CREATE TABLE deposit_keys (
    address    TEXT PRIMARY KEY,
    agent_id   TEXT NOT NULL UNIQUE REFERENCES agents (id),
    sealed_key BLOB NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    agent_id     TEXT NOT NULL REFERENCES agents (id),
    name         TEXT NOT NULL DEFAULT '',
    prefix       TEXT NOT NULL,
    key_hash     TEXT NOT NULL UNIQUE,
    created_at   TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP,
    revoked_at   TIMESTAMP
);
CREATE INDEX api_keys_agent ON api_keys (agent_id);

CREATE TABLE ledger_transactions (
    id          TEXT PRIMARY KEY,
    type        TEXT NOT NULL,
    ref_type    TEXT NOT NULL DEFAULT '',
    ref_id      TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMP NOT NULL
) WITHOUT ROWID;

CREATE TABLE ledger_postings (
    id         INTEGER PRIMARY KEY, -- append-only, so rowids only grow: no AUTOINCREMENT bookkeeping
    tx_id      TEXT NOT NULL REFERENCES ledger_transactions (id),
    account    TEXT NOT NULL,
    amount     BIGINT NOT NULL CHECK (amount <> 0),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX ledger_postings_account ON ledger_postings (account, id);

-- Materialized balances of the accounts that must never go negative (agent and escrow accounts).
-- agent_id is the agent whose money the account holds. A closed account (a finished escrow) is zero
-- and takes no more postings.
CREATE TABLE ledger_balances (
    account  TEXT PRIMARY KEY,
    agent_id TEXT NOT NULL DEFAULT '',
    balance  BIGINT NOT NULL DEFAULT 0 CHECK (balance >= 0),
    closed   BOOLEAN NOT NULL DEFAULT FALSE
) WITHOUT ROWID;
CREATE INDEX ledger_balances_agent ON ledger_balances (agent_id);

-- Each on-chain transfer is credited once: the primary key is (signature, index).
CREATE TABLE deposits (
    signature    TEXT NOT NULL,
    idx          INTEGER NOT NULL,
    agent_id     TEXT NOT NULL REFERENCES agents (id),
    address      TEXT NOT NULL,
    from_address TEXT NOT NULL,
    amount       BIGINT NOT NULL CHECK (amount > 0),
    slot         BIGINT NOT NULL,
    activation   BOOLEAN NOT NULL DEFAULT FALSE,
    tx_id        TEXT NOT NULL REFERENCES ledger_transactions (id),
    created_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (signature, idx)
);
CREATE INDEX deposits_agent ON deposits (agent_id);

CREATE TABLE withdrawals (
    id              TEXT PRIMARY KEY,
    agent_id        TEXT NOT NULL REFERENCES agents (id),
    kind            TEXT NOT NULL,
    address         TEXT NOT NULL,
    amount          BIGINT NOT NULL CHECK (amount > 0),
    fee             BIGINT NOT NULL CHECK (fee >= 0),
    net_amount      BIGINT NOT NULL CHECK (net_amount > 0),
    status          TEXT NOT NULL,
    signature       TEXT NOT NULL DEFAULT '',
    failure_reason  TEXT NOT NULL DEFAULT '',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL,
    completed_at    TIMESTAMP
);
CREATE INDEX withdrawals_due ON withdrawals (status, next_attempt_at);
CREATE INDEX withdrawals_agent ON withdrawals (agent_id, created_at);

CREATE TABLE idempotency_keys (
    scope       TEXT NOT NULL,
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    state       TEXT NOT NULL, -- started, applied, done
    status      INTEGER NOT NULL DEFAULT 0,
    body        BLOB,
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- The outbox: events written with the change that causes them, delivered later as webhooks.
CREATE TABLE events (
    id         TEXT PRIMARY KEY,
    agent_id   TEXT NOT NULL,
    type       TEXT NOT NULL,
    payload    TEXT NOT NULL CHECK (json_valid(payload)),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX events_agent ON events (agent_id, created_at);

CREATE TABLE admin_tokens (
    token_hash TEXT PRIMARY KEY,
    created_at TIMESTAMP NOT NULL
);

-- The simulated chain of dev mode.
CREATE TABLE devchain_transfers (
    seq          INTEGER PRIMARY KEY, -- append-only: rowids only grow
    signature    TEXT NOT NULL UNIQUE,
    idx          INTEGER NOT NULL,
    from_address TEXT NOT NULL,
    to_address   TEXT NOT NULL,
    amount       BIGINT NOT NULL CHECK (amount > 0),
    slot         BIGINT NOT NULL,
    ref          TEXT UNIQUE, -- the withdrawal a platform send belongs to; NULL for faucet transfers
    created_at   TIMESTAMP NOT NULL
);
CREATE INDEX devchain_transfers_to ON devchain_transfers (to_address, slot);

-- +goose Down
DROP TABLE devchain_transfers;
DROP TABLE admin_tokens;
DROP TABLE events;
DROP TABLE idempotency_keys;
DROP TABLE withdrawals;
DROP TABLE deposits;
DROP TABLE ledger_balances;
DROP TABLE ledger_postings;
DROP TABLE ledger_transactions;
DROP TABLE api_keys;
DROP TABLE deposit_keys;
DROP TABLE agents;
