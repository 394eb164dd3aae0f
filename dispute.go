package justpay

import (
	"context"
	"time"
)

// Dispute reasons, from the spec's Dispute section.
var DisputeReasons = []string{"quality", "incomplete", "fraud", "wrong_output", "other"}

// Dispute statuses and outcomes. An open dispute holds its job's escrow until an admin resolves
// it: the claimant wins (its side gets its way), the respondent wins, or the amount is split.
const (
	DisputeOpen     = "open"
	DisputeResolved = "resolved"

	OutcomeClaimant   = "claimant"
	OutcomeRespondent = "respondent"
	OutcomeSplit      = "split"
)

// DisputeStatuses and DisputeOutcomes list the values, for filters and validation.
var (
	DisputeStatuses = []string{DisputeOpen, DisputeResolved}
	DisputeOutcomes = []string{OutcomeClaimant, OutcomeRespondent, OutcomeSplit}
)

// Dispute fee rules, from the spec: 5% of the job amount, at least 0.10 and at most 5.00 USDC,
// taken from the claimant's available balance when filing and never refunded.
const (
	DisputeFeeBps           = 500
	MinDisputeFee           = 100_000
	MaxDisputeFee           = 5_000_000
	MaxDisputeDescription   = 1000
	MaxDisputeResolutionLen = 1000
)

// DisputeFee is the filing fee of a dispute over a job of amount.
func DisputeFee(amount int64) int64 {
	return min(max(BasisPointsFee(amount, DisputeFeeBps), MinDisputeFee), MaxDisputeFee)
}

// Dispute is a party's complaint about a delivered job, and its resolution.
type Dispute struct {
	ID           string
	JobID        string
	ClaimantID   string
	RespondentID string
	Reason       string
	Description  string
	Fee          int64
	Status       string
	Outcome      string // "" while open
	Note         string // the admin's note on the ruling
	CreatedAt    time.Time
	ResolvedAt   *time.Time
}

// NewDispute is the body of POST /api/v1/jobs/{id}/dispute.
type NewDispute struct {
	Reason      string
	Description string
}

// Validate checks a new dispute's fields. Errors: EINVALID.
func (nd NewDispute) Validate() error {
	if err := ValidateOneOf("reason", nd.Reason, DisputeReasons); err != nil {
		return err
	}
	return ValidateText("description", nd.Description, MaxDisputeDescription)
}

// Resolution is an admin's ruling on a dispute.
type Resolution struct {
	Outcome string
	Note    string
}

// Validate checks a ruling. Errors: EINVALID.
func (r Resolution) Validate() error {
	if err := ValidateOneOf("outcome", r.Outcome, DisputeOutcomes); err != nil {
		return err
	}
	return ValidateText("note", r.Note, MaxDisputeResolutionLen)
}

// SplitAmount divides a disputed amount 50/50 between the parties, the odd micro-unit to the
// provider.
func SplitAmount(amount int64) (provider, client int64) {
	client = amount / 2
	return amount - client, client
}

// DisputeService files and resolves disputes.
type DisputeService interface {
	// FileDispute disputes a delivered job for one of its parties, charging the filing fee.
	// Errors: EINVALID, EINSUFFICIENT (the fee), EFORBIDDEN (restricted), ENOTFOUND (not a
	// party), ECONFLICT (not delivered).
	FileDispute(ctx context.Context, agentID, jobID string, nd NewDispute) (*Dispute, error)
	// FindDisputes lists disputes for admins, oldest first, by status ("" for all).
	// Errors: EINVALID.
	FindDisputes(ctx context.Context, status string, p Page) ([]*Dispute, int, error)
	// ResolveDispute applies an admin's ruling: the job's escrow is paid out as the outcome says
	// and both parties' trust inputs are updated. Errors: EINVALID, ENOTFOUND, ECONFLICT
	// (resolved already).
	ResolveDispute(ctx context.Context, id string, r Resolution) (*Dispute, error)
}

// AuditRecord is one admin action.
type AuditRecord struct {
	ID         string
	Action     string
	TargetType string
	TargetID   string
	Details    map[string]any
	CreatedAt  time.Time
}

// AdminService is the admin side of agents and the audit log. Every change it makes writes an
// audit record in the same transaction.
type AdminService interface {
	// SetVerified verifies or unverifies an agent. Errors: ENOTFOUND.
	SetVerified(ctx context.Context, agentID string, verified bool) (*Agent, error)
	// SetRestricted restricts (with a reason) or unrestricts an agent. Errors: EINVALID,
	// ENOTFOUND.
	SetRestricted(ctx context.Context, agentID string, restricted bool, reason string) (*Agent, error)
	// FindAudit lists the audit log, newest first.
	FindAudit(ctx context.Context, p Page) ([]*AuditRecord, int, error)
}
