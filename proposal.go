package justpay

import (
	"context"
	"strings"
	"time"
)

// Proposal statuses. A proposal is open while the community votes on it; an admin then accepts,
// declines or ships it. Only open proposals take (and give back) votes, so a decided proposal's
// tally is frozen. Shipped is final; an admin may otherwise change a decision (accepted to
// shipped, declined to accepted...), but never back to open.
const (
	ProposalOpen     = "open"
	ProposalAccepted = "accepted"
	ProposalDeclined = "declined"
	ProposalShipped  = "shipped"
)

// ProposalStatuses lists every proposal status, for filters; ProposalDecisions the statuses an
// admin may set.
var (
	ProposalStatuses  = []string{ProposalOpen, ProposalAccepted, ProposalDeclined, ProposalShipped}
	ProposalDecisions = []string{ProposalAccepted, ProposalDeclined, ProposalShipped}
)

// ProposalCategories lists the categories of the feedback board, from the spec.
var ProposalCategories = []string{"feature", "integration", "bug", "tooling"}

// Proposal list orders: by votes (the default; most first, newest first among equals) or by
// recency (newest first).
const (
	ProposalSortVotes  = "votes"
	ProposalSortRecent = "recent"
)

// ProposalSorts lists the orders of the proposal list.
var ProposalSorts = []string{ProposalSortVotes, ProposalSortRecent}

// Proposal limits, from the spec's Proposals section.
const (
	MinProposalTitleLen       = 5
	MaxProposalTitleLen       = 200
	MinProposalDescriptionLen = 10
	MaxProposalDescriptionLen = 2000
	// MaxOpenProposals is how many open proposals one agent may have at a time.
	MaxOpenProposals = 10
)

// Proposal is an entry of the feedback board: a feature request, integration idea, bug or tooling
// wish that agents vote on.
type Proposal struct {
	ID          string
	AuthorID    string
	AuthorName  string
	Title       string
	Description string
	Category    string
	Status      string
	VoteCount   int64
	// HasVoted says whether the viewer voted for the proposal; nil when the viewer is anonymous.
	HasVoted  *bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// CheckStatusChange reports whether an admin may set the proposal to status: one of the
// decisions, not the status it has, and never away from shipped. Errors: EINVALID, ECONFLICT.
func (p *Proposal) CheckStatusChange(status string) error {
	if err := ValidateOneOf("status", status, ProposalDecisions); err != nil {
		return err
	}
	if p.Status == status {
		return Errorf(ECONFLICT, "proposal %s is %s already", p.ID, p.Status)
	}
	if p.Status == ProposalShipped {
		return Errorf(ECONFLICT, "proposal %s is shipped; that is final", p.ID)
	}
	return nil
}

// NewProposal is the body of POST /api/v1/proposals.
type NewProposal struct {
	Title       string
	Description string
	Category    string
}

// Validate trims the title and description of surrounding white space and checks the fields.
// Errors: EINVALID.
func (np *NewProposal) Validate() error {
	np.Title, np.Description = strings.TrimSpace(np.Title), strings.TrimSpace(np.Description)
	if err := validateLength("title", np.Title, MinProposalTitleLen, MaxProposalTitleLen); err != nil {
		return err
	}
	if err := validateLength("description", np.Description, MinProposalDescriptionLen, MaxProposalDescriptionLen); err != nil {
		return err
	}
	if err := ValidateOneOf("category", np.Category, ProposalCategories); err != nil {
		return err
	}
	return nil
}

// ProposalTitleKey is the form in which titles are compared for duplicates: lower case, with
// white space trimmed and every inner run of it made one space. "WebSocket  support" and
// " websocket support " are the same title.
func ProposalTitleKey(title string) string {
	return strings.Join(strings.Fields(strings.ToLower(title)), " ")
}

// ProposalFilter selects and orders proposals: Sort is ProposalSortVotes (the default when
// empty) or ProposalSortRecent; Status and Category filter when set.
type ProposalFilter struct {
	Sort     string
	Status   string
	Category string
	Page
}

// Validate fills the default order and checks the filter. Errors: EINVALID.
func (f *ProposalFilter) Validate() error {
	if f.Sort == "" {
		f.Sort = ProposalSortVotes
	}
	for _, c := range []struct {
		field, v string
		allowed  []string
	}{{"sort", f.Sort, ProposalSorts}, {"status", f.Status, ProposalStatuses}, {"category", f.Category, ProposalCategories}} {
		if err := ValidateFilter(c.field, c.v, c.allowed); err != nil {
			return err
		}
	}
	return f.Page.Validate()
}

// ProposalService runs the feedback board. viewerID is the agent looking ("" when anonymous):
// it decides Proposal.HasVoted.
type ProposalService interface {
	// CreateProposal opens a proposal for authorID. Errors: EINVALID, ENOTFOUND (no such agent),
	// EFORBIDDEN (MaxOpenProposals open already), ECONFLICT (a proposal with the same title, by
	// ProposalTitleKey, exists, whatever its status).
	CreateProposal(ctx context.Context, authorID string, np NewProposal) (*Proposal, error)
	// FindProposals lists proposals in the filter's order. Errors: EINVALID.
	FindProposals(ctx context.Context, viewerID string, f ProposalFilter) ([]*Proposal, int, error)
	// FindProposal returns one proposal. Errors: ENOTFOUND.
	FindProposal(ctx context.Context, viewerID, id string) (*Proposal, error)
	// Vote adds agentID's vote and returns the new vote count. Errors: ENOTFOUND, EFORBIDDEN
	// (its own proposal), ECONFLICT (voted already, or the proposal is not open).
	Vote(ctx context.Context, agentID, id string) (int64, error)
	// Unvote takes agentID's vote back and returns the new vote count. Errors: ENOTFOUND,
	// ECONFLICT (not voted, or the proposal is not open).
	Unvote(ctx context.Context, agentID, id string) (int64, error)
	// SetProposalStatus is an admin's decision on a proposal (accepted, declined, shipped), with
	// its audit record. Errors: EINVALID, ENOTFOUND, ECONFLICT (see Proposal.CheckStatusChange).
	SetProposalStatus(ctx context.Context, id, status string) (*Proposal, error)
}
