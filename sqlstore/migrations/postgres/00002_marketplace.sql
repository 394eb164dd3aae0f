-- +goose Up
CREATE TABLE services (
    id                      TEXT PRIMARY KEY,
    agent_id                TEXT NOT NULL REFERENCES agents (id),
    name                    TEXT NOT NULL,
    description             TEXT NOT NULL,
    category                TEXT NOT NULL,
    tags                    JSONB NOT NULL DEFAULT '[]',
    input_schema            JSONB NOT NULL,
    output_schema           JSONB NOT NULL,
    example_input           JSONB,
    example_output          JSONB,
    model                   TEXT NOT NULL DEFAULT '',
    model_provider          TEXT NOT NULL DEFAULT '',
    price_per_job           BIGINT NOT NULL CHECK (price_per_job >= 0),
    max_execution_time_secs INTEGER NOT NULL,
    auto_accept             BOOLEAN NOT NULL,
    max_concurrent_jobs     INTEGER NOT NULL,
    queue_enabled           BOOLEAN NOT NULL,
    max_queue_size          INTEGER NOT NULL,
    min_client_trust_score  DOUBLE PRECISION NOT NULL DEFAULT 0,
    active                  BOOLEAN NOT NULL DEFAULT TRUE,
    completed_jobs          BIGINT NOT NULL DEFAULT 0,
    rating_count            BIGINT NOT NULL DEFAULT 0,
    rating_sum              BIGINT NOT NULL DEFAULT 0,
    created_at              TIMESTAMPTZ NOT NULL,
    updated_at              TIMESTAMPTZ NOT NULL
);
CREATE INDEX services_agent ON services (agent_id);
CREATE INDEX services_active_category ON services (active, category);
CREATE INDEX services_active_created ON services (active, created_at);

CREATE TABLE jobs (
    id                      TEXT PRIMARY KEY,
    type                    TEXT NOT NULL,
    status                  TEXT NOT NULL,
    service_id              TEXT REFERENCES services (id),
    client_id               TEXT NOT NULL REFERENCES agents (id),
    provider_id             TEXT NOT NULL DEFAULT '',
    title                   TEXT NOT NULL DEFAULT '',
    category                TEXT NOT NULL DEFAULT '',
    description             TEXT NOT NULL DEFAULT '',
    input                   JSONB NOT NULL,
    output                  JSONB,
    amount                  BIGINT NOT NULL CHECK (amount >= 0),
    platform_fee            BIGINT NOT NULL CHECK (platform_fee >= 0),
    callback_url            TEXT NOT NULL DEFAULT '',
    application_window_secs INTEGER NOT NULL DEFAULT 0,
    execution_time_secs     INTEGER NOT NULL,
    expires_at              TIMESTAMPTZ,
    accepted_at             TIMESTAMPTZ,
    delivered_at            TIMESTAMPTZ,
    finished_at             TIMESTAMPTZ,
    created_at              TIMESTAMPTZ NOT NULL,
    updated_at              TIMESTAMPTZ NOT NULL
);
CREATE INDEX jobs_client ON jobs (client_id, created_at);
CREATE INDEX jobs_provider ON jobs (provider_id, created_at);
CREATE INDEX jobs_due ON jobs (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX jobs_service_status ON jobs (service_id, status, created_at);
CREATE INDEX jobs_status_created ON jobs (status, created_at);

CREATE TABLE job_applications (
    id         TEXT PRIMARY KEY,
    job_id     TEXT NOT NULL REFERENCES jobs (id),
    agent_id   TEXT NOT NULL REFERENCES agents (id),
    message    TEXT NOT NULL DEFAULT '',
    status     TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    UNIQUE (job_id, agent_id)
);

CREATE TABLE ratings (
    id         TEXT PRIMARY KEY,
    job_id     TEXT NOT NULL REFERENCES jobs (id),
    rater_id   TEXT NOT NULL REFERENCES agents (id),
    ratee_id   TEXT NOT NULL REFERENCES agents (id),
    score      INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5),
    comment    TEXT NOT NULL DEFAULT '',
    tags       JSONB NOT NULL DEFAULT '[]',
    created_at TIMESTAMPTZ NOT NULL,
    UNIQUE (job_id, rater_id)
);
CREATE INDEX ratings_ratee ON ratings (ratee_id, created_at);

-- Counters kept with the events that change them, for profiles and trust scores.
ALTER TABLE agents ADD COLUMN completed_jobs BIGINT NOT NULL DEFAULT 0;
ALTER TABLE agents ADD COLUMN expired_jobs BIGINT NOT NULL DEFAULT 0;
ALTER TABLE agents ADD COLUMN rating_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE agents ADD COLUMN rating_sum BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE agents DROP COLUMN rating_sum;
ALTER TABLE agents DROP COLUMN rating_count;
ALTER TABLE agents DROP COLUMN expired_jobs;
ALTER TABLE agents DROP COLUMN completed_jobs;
DROP TABLE ratings;
DROP TABLE job_applications;
DROP TABLE jobs;
DROP TABLE services;
