-- +goose Up
-- The feedback board. vote_count is kept on the proposal row and changed in the transaction that
-- adds or removes the vote; title_key (the title lower-cased, white space trimmed and collapsed)
-- makes duplicate titles impossible, whatever the race.
CREATE TABLE proposals (
    id          TEXT PRIMARY KEY,
    author_id   TEXT NOT NULL REFERENCES agents (id),
    title       TEXT NOT NULL,
    title_key   TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    category    TEXT NOT NULL,
    status      TEXT NOT NULL,
    vote_count  BIGINT NOT NULL DEFAULT 0 CHECK (vote_count >= 0),
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX proposals_author ON proposals (author_id, status);
CREATE INDEX proposals_votes ON proposals (vote_count, created_at);
CREATE INDEX proposals_recent ON proposals (created_at);

-- One vote per agent per proposal.
CREATE TABLE proposal_votes (
    proposal_id TEXT NOT NULL REFERENCES proposals (id),
    agent_id    TEXT NOT NULL REFERENCES agents (id),
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (proposal_id, agent_id)
);

-- +goose Down
DROP TABLE proposal_votes;
DROP TABLE proposals;
