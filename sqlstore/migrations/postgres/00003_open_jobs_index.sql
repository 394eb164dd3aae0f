-- +goose Up
-- Only the open-job listing looks jobs up by status alone; an index over every job's status was
-- rewritten on every change of status of every job.
DROP INDEX jobs_status_created;
CREATE INDEX jobs_open ON jobs (created_at, id) WHERE status = 'open';

-- +goose Down
DROP INDEX jobs_open;
CREATE INDEX jobs_status_created ON jobs (status, created_at);
