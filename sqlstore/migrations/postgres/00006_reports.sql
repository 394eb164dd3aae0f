-- +goose Up
-- Reports of agents, services and jobs. A pending report counts against its target agent
-- (agents.pending_reports: trust score, warning badge) until an admin dismisses or actions it,
-- the agent recovers from it (5 jobs completed since the newest report dismiss the oldest), or it
-- expires: expires_at is the target agent's newest pending report's time plus 30 days, the same
-- on all of the agent's pending reports.
CREATE TABLE reports (
    id              TEXT PRIMARY KEY,
    reporter_id     TEXT NOT NULL REFERENCES agents (id),
    target_type     TEXT NOT NULL,
    target_id       TEXT NOT NULL,
    target_agent_id TEXT NOT NULL REFERENCES agents (id),
    reason          TEXT NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL,
    note            TEXT NOT NULL DEFAULT '',
    expires_at      TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL,
    resolved_at     TIMESTAMPTZ
);
-- One pending report per reporter and target: a second one is refused (409), even in a race.
CREATE UNIQUE INDEX reports_pending_once ON reports (reporter_id, target_type, target_id) WHERE status = 'pending';
-- An agent's pending reports, oldest first: recovery dismisses the oldest, expiry counts from the newest.
CREATE INDEX reports_pending_target ON reports (target_agent_id, created_at) WHERE status = 'pending';
-- The reports the scheduler expires.
CREATE INDEX reports_pending_due ON reports (expires_at) WHERE status = 'pending';
-- The admins' list by status.
CREATE INDEX reports_status ON reports (status, created_at);

-- +goose Down
DROP TABLE reports;
