package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/justpay/justpay"
)

var _ justpay.ProposalService = (*Store)(nil)

var errProposalNotFound = justpay.Errorf(justpay.ENOTFOUND, "proposal not found")

// proposalColumns and proposalFrom read proposals with their author's name and whether the viewer
// ($1, "" for nobody) voted for them.
const (
	proposalColumns = `p.id, p.author_id, a.name, p.title, p.description, p.category, p.status, p.vote_count,
	p.created_at, p.updated_at, v.agent_id IS NOT NULL`
	proposalFrom = `FROM proposals p JOIN agents a ON a.id = p.author_id
	LEFT JOIN proposal_votes v ON v.proposal_id = p.id AND v.agent_id = $1`
)

// scanProposal reads a row of proposalColumns; HasVoted is set only for a viewer.
func scanProposal(row scanner, viewerID string) (*justpay.Proposal, error) {
	var p justpay.Proposal
	var voted bool
	err := row.Scan(&p.ID, &p.AuthorID, &p.AuthorName, &p.Title, &p.Description, &p.Category, &p.Status, &p.VoteCount,
		&p.CreatedAt, &p.UpdatedAt, &voted)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errProposalNotFound
	} else if err != nil {
		return nil, fmt.Errorf("scan proposal: %w", err)
	}
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	if viewerID != "" {
		p.HasVoted = &voted
	}
	return &p, nil
}

// findProposal reads one proposal as viewerID sees it.
func (tx *Tx) findProposal(ctx context.Context, viewerID, id string) (*justpay.Proposal, error) {
	return scanProposal(tx.QueryRowContext(ctx, `SELECT `+proposalColumns+` `+proposalFrom+` WHERE p.id = $2`, viewerID, id), viewerID)
}

// lockProposal takes the proposal's row lock (PostgreSQL; SQLite's single writer holds
// everything) and returns its author and status. It locks the proposal row alone, never its
// author's agent row, so a vote does not wait for the author's own transactions.
func (tx *Tx) lockProposal(ctx context.Context, id string) (authorID, status string, err error) {
	err = tx.QueryRowContext(ctx, `SELECT author_id, status FROM proposals WHERE id = $1`+tx.db.dialect.forUpdate, id).Scan(&authorID, &status)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", errProposalNotFound
	} else if err != nil {
		return "", "", fmt.Errorf("lock proposal: %w", err)
	}
	return authorID, status, nil
}

// CreateProposal opens a proposal. See justpay.ProposalService.
func (s *Store) CreateProposal(ctx context.Context, authorID string, np justpay.NewProposal) (*justpay.Proposal, error) {
	if err := np.Validate(); err != nil {
		return nil, err
	}
	if !justpay.IsID(authorID) {
		return nil, justpay.Errorf(justpay.ENOTFOUND, "agent not found")
	}
	var proposal *justpay.Proposal
	err := s.update(ctx, func(tx *Tx) error {
		// The author's row lock makes the count of its open proposals exact until commit: two
		// creations by one agent run one after the other.
		author, err := tx.findAgent(ctx, authorID, true)
		if err != nil {
			return err
		}
		var open int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM proposals WHERE author_id = $1 AND status = $2`,
			authorID, justpay.ProposalOpen).Scan(&open); err != nil {
			return fmt.Errorf("count open proposals: %w", err)
		}
		if open >= justpay.MaxOpenProposals {
			return justpay.Errorf(justpay.EFORBIDDEN, "you have %d open proposals, the most allowed; wait for a decision on one of them", open)
		}
		voted := false
		p := &justpay.Proposal{ID: justpay.NewID(tx.now), AuthorID: authorID, AuthorName: author.Name, Title: np.Title,
			Description: np.Description, Category: np.Category, Status: justpay.ProposalOpen, HasVoted: &voted,
			CreatedAt: tx.now, UpdatedAt: tx.now}
		_, err = tx.ExecContext(ctx, `INSERT INTO proposals (id, author_id, title, title_key, description, category, status, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)`,
			p.ID, p.AuthorID, p.Title, justpay.ProposalTitleKey(p.Title), p.Description, p.Category, p.Status, tx.now)
		if tx.db.dialect.isUnique(err) {
			return justpay.Errorf(justpay.ECONFLICT, "a proposal titled %q exists already; vote for it instead", p.Title)
		} else if err != nil {
			return fmt.Errorf("insert proposal: %w", err)
		}
		proposal = p
		return nil
	})
	return proposal, err
}

// FindProposals lists proposals. See justpay.ProposalService.
func (s *Store) FindProposals(ctx context.Context, viewerID string, f justpay.ProposalFilter) ([]*justpay.Proposal, int, error) {
	if err := f.Validate(); err != nil {
		return nil, 0, err
	}
	order := `p.vote_count DESC, p.created_at DESC, p.id DESC`
	if f.Sort == justpay.ProposalSortRecent {
		order = `p.created_at DESC, p.id DESC`
	}
	return readPage(ctx, s.DB, listQuery{what: "proposals", columns: proposalColumns,
		from:  proposalFrom + ` WHERE ($2 = '' OR p.status = $2) AND ($3 = '' OR p.category = $3)`,
		order: order, args: []any{viewerID, f.Status, f.Category}}, f.Page,
		func(row scanner) (*justpay.Proposal, error) { return scanProposal(row, viewerID) })
}

// FindProposal returns one proposal. See justpay.ProposalService.
func (s *Store) FindProposal(ctx context.Context, viewerID, id string) (*justpay.Proposal, error) {
	if !justpay.IsID(id) {
		return nil, errProposalNotFound
	}
	var proposal *justpay.Proposal
	err := s.view(ctx, func(tx *Tx) error {
		p, err := tx.findProposal(ctx, viewerID, id)
		proposal = p
		return err
	})
	return proposal, err
}

// Vote adds a vote. See justpay.ProposalService.
func (s *Store) Vote(ctx context.Context, agentID, id string) (int64, error) {
	if !justpay.IsID(id) {
		return 0, errProposalNotFound
	}
	var count int64
	err := s.update(ctx, func(tx *Tx) error {
		author, status, err := tx.lockProposal(ctx, id)
		if err != nil {
			return err
		}
		if author == agentID {
			return justpay.Errorf(justpay.EFORBIDDEN, "you cannot vote for your own proposal")
		}
		if status != justpay.ProposalOpen {
			return justpay.Errorf(justpay.ECONFLICT, "proposal %s is %s; only open proposals take votes", id, status)
		}
		// The primary key keeps one vote per agent even without the lock.
		res, err := tx.ExecContext(ctx, `INSERT INTO proposal_votes (proposal_id, agent_id, created_at) VALUES ($1, $2, $3)
			ON CONFLICT (proposal_id, agent_id) DO NOTHING`, id, agentID, tx.now)
		if err != nil {
			return fmt.Errorf("insert vote: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return justpay.Errorf(justpay.ECONFLICT, "you voted for proposal %s already", id)
		}
		return tx.addVotes(ctx, id, 1, &count)
	})
	return count, err
}

// Unvote takes a vote back. See justpay.ProposalService.
func (s *Store) Unvote(ctx context.Context, agentID, id string) (int64, error) {
	if !justpay.IsID(id) {
		return 0, errProposalNotFound
	}
	var count int64
	err := s.update(ctx, func(tx *Tx) error {
		_, status, err := tx.lockProposal(ctx, id)
		if err != nil {
			return err
		}
		if status != justpay.ProposalOpen {
			return justpay.Errorf(justpay.ECONFLICT, "proposal %s is %s; its votes are final", id, status)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM proposal_votes WHERE proposal_id = $1 AND agent_id = $2`, id, agentID)
		if err != nil {
			return fmt.Errorf("delete vote: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return justpay.Errorf(justpay.ECONFLICT, "you have not voted for proposal %s", id)
		}
		return tx.addVotes(ctx, id, -1, &count)
	})
	return count, err
}

// addVotes changes a proposal's vote count by delta, in the transaction that adds or removes
// the vote, and reads the new count into count.
func (tx *Tx) addVotes(ctx context.Context, id string, delta int64, count *int64) error {
	if err := tx.QueryRowContext(ctx, `UPDATE proposals SET vote_count = vote_count + $1 WHERE id = $2 RETURNING vote_count`,
		delta, id).Scan(count); err != nil {
		return fmt.Errorf("count vote: %w", err)
	}
	return nil
}

// SetProposalStatus applies an admin's decision. See justpay.ProposalService.
func (s *Store) SetProposalStatus(ctx context.Context, id, status string) (*justpay.Proposal, error) {
	if err := (&justpay.Proposal{}).CheckStatusChange(status); justpay.ErrorCode(err) == justpay.EINVALID {
		return nil, err
	}
	if !justpay.IsID(id) {
		return nil, errProposalNotFound
	}
	var proposal *justpay.Proposal
	err := s.update(ctx, func(tx *Tx) error {
		_, from, err := tx.lockProposal(ctx, id)
		if err != nil {
			return err
		}
		if err := (&justpay.Proposal{ID: id, Status: from}).CheckStatusChange(status); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE proposals SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4`,
			status, tx.now, id, from)
		if err != nil {
			return fmt.Errorf("update proposal: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return justpay.Errorf(justpay.ECONFLICT, "proposal %s changed concurrently", id)
		}
		if err := tx.audit(ctx, "proposal.set_status", "proposal", id, map[string]any{"from": from, "to": status}); err != nil {
			return err
		}
		proposal, err = tx.findProposal(ctx, "", id)
		return err
	})
	return proposal, err
}
