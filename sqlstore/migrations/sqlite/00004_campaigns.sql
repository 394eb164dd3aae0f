-- +goose Up
-- A campaign's pool is the escrow account escrow:campaign:<id>; each claimed task holds its cost in
-- escrow:campaign_task:<id>. Task counts are read from campaign_tasks, not kept on the campaign row,
-- so that paying a task does not lock the campaign.
CREATE TABLE campaigns (
    id                      TEXT PRIMARY KEY,
    owner_id                TEXT NOT NULL REFERENCES agents (id),
    title                   TEXT NOT NULL,
    description             TEXT NOT NULL,
    category                TEXT NOT NULL,
    tags                    TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(tags)),
    task_description        TEXT CHECK (task_description IS NULL OR json_valid(task_description)),
    callback_url            TEXT NOT NULL DEFAULT '',
    reward_per_task         BIGINT NOT NULL CHECK (reward_per_task > 0),
    task_fee                BIGINT NOT NULL CHECK (task_fee >= 0),
    total_budget            BIGINT NOT NULL CHECK (total_budget >= 0),
    max_per_agent           INTEGER NOT NULL,
    daily_limit_per_agent   INTEGER,
    min_trust_score         REAL NOT NULL DEFAULT 0,
    auto_accept             BOOLEAN NOT NULL,
    review_timeout_secs     INTEGER NOT NULL,
    max_execution_time_secs INTEGER NOT NULL,
    max_concurrent_claims   INTEGER NOT NULL,
    duration_days           INTEGER NOT NULL,
    status                  TEXT NOT NULL,
    ends_at                 TIMESTAMP NOT NULL,
    finished_at             TIMESTAMP,
    created_at              TIMESTAMP NOT NULL,
    updated_at              TIMESTAMP NOT NULL
);
CREATE INDEX campaigns_owner ON campaigns (owner_id, created_at);
CREATE INDEX campaigns_active ON campaigns (created_at, id) WHERE status = 'active';
CREATE INDEX campaigns_due ON campaigns (ends_at) WHERE status IN ('active', 'paused', 'completed');

CREATE TABLE campaign_tasks (
    id            TEXT PRIMARY KEY,
    campaign_id   TEXT NOT NULL REFERENCES campaigns (id),
    agent_id      TEXT NOT NULL REFERENCES agents (id),
    status        TEXT NOT NULL,
    output        TEXT CHECK (output IS NULL OR json_valid(output)),
    reject_reason TEXT NOT NULL DEFAULT '',
    amount        BIGINT NOT NULL CHECK (amount > 0),
    platform_fee  BIGINT NOT NULL CHECK (platform_fee >= 0),
    expires_at    TIMESTAMP,
    delivered_at  TIMESTAMP,
    finished_at   TIMESTAMP,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL
);
CREATE INDEX campaign_tasks_campaign ON campaign_tasks (campaign_id, status);
CREATE INDEX campaign_tasks_agent ON campaign_tasks (campaign_id, agent_id, created_at);
CREATE INDEX campaign_tasks_due ON campaign_tasks (expires_at) WHERE expires_at IS NOT NULL;

-- +goose Down
DROP TABLE campaign_tasks;
DROP TABLE campaigns;
