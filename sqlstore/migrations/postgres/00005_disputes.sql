-- +goose Up
-- The counters of trust scores and client reputation, kept with the events that change them.
ALTER TABLE agents ADD COLUMN client_completed_jobs BIGINT NOT NULL DEFAULT 0;
ALTER TABLE agents ADD COLUMN disputes_filed BIGINT NOT NULL DEFAULT 0;
ALTER TABLE agents ADD COLUMN disputes_defended BIGINT NOT NULL DEFAULT 0;
ALTER TABLE agents ADD COLUMN disputes_lost BIGINT NOT NULL DEFAULT 0;
ALTER TABLE agents ADD COLUMN pending_reports BIGINT NOT NULL DEFAULT 0;
ALTER TABLE agents ADD COLUMN jobs_since_report BIGINT NOT NULL DEFAULT 0;
ALTER TABLE agents ADD COLUMN restricted BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE agents ADD COLUMN restricted_reason TEXT NOT NULL DEFAULT '';

-- One dispute per job: a disputed job stays disputed until an admin resolves it.
CREATE TABLE disputes (
    id            TEXT PRIMARY KEY,
    job_id        TEXT NOT NULL UNIQUE REFERENCES jobs (id),
    claimant_id   TEXT NOT NULL REFERENCES agents (id),
    respondent_id TEXT NOT NULL REFERENCES agents (id),
    reason        TEXT NOT NULL,
    description   TEXT NOT NULL DEFAULT '',
    fee           BIGINT NOT NULL CHECK (fee >= 0),
    status        TEXT NOT NULL,
    outcome       TEXT NOT NULL DEFAULT '',
    note          TEXT NOT NULL DEFAULT '',
    created_at    TIMESTAMPTZ NOT NULL,
    resolved_at   TIMESTAMPTZ
);
CREATE INDEX disputes_status ON disputes (status, created_at);

-- Every admin action, in the order taken.
CREATE TABLE admin_audit (
    id          TEXT PRIMARY KEY,
    action      TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id   TEXT NOT NULL,
    details     TEXT NOT NULL DEFAULT '{}',
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX admin_audit_target ON admin_audit (target_type, target_id);

-- +goose Down
DROP TABLE admin_audit;
DROP TABLE disputes;
ALTER TABLE agents DROP COLUMN restricted_reason;
ALTER TABLE agents DROP COLUMN restricted;
ALTER TABLE agents DROP COLUMN jobs_since_report;
ALTER TABLE agents DROP COLUMN pending_reports;
ALTER TABLE agents DROP COLUMN disputes_lost;
ALTER TABLE agents DROP COLUMN disputes_defended;
ALTER TABLE agents DROP COLUMN disputes_filed;
ALTER TABLE agents DROP COLUMN client_completed_jobs;
