package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/justpay/justpay"
)

var (
	_ justpay.DisputeService = (*Store)(nil)
	_ justpay.AdminService   = (*Store)(nil)
)

const disputeColumns = `id, job_id, claimant_id, respondent_id, reason, description, fee, status, outcome, note, created_at, resolved_at`

func scanDispute(row scanner) (*justpay.Dispute, error) {
	var d justpay.Dispute
	var resolved sql.NullTime
	err := row.Scan(&d.ID, &d.JobID, &d.ClaimantID, &d.RespondentID, &d.Reason, &d.Description, &d.Fee, &d.Status,
		&d.Outcome, &d.Note, &d.CreatedAt, &resolved)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, justpay.Errorf(justpay.ENOTFOUND, "dispute not found")
	} else if err != nil {
		return nil, fmt.Errorf("scan dispute: %w", err)
	}
	d.CreatedAt, d.ResolvedAt = d.CreatedAt.UTC(), nullTime(resolved)
	return &d, nil
}

// FileDispute disputes a delivered job. See justpay.DisputeService.
func (s *Store) FileDispute(ctx context.Context, agentID, jobID string, nd justpay.NewDispute) (*justpay.Dispute, error) {
	if err := nd.Validate(); err != nil {
		return nil, err
	}
	var dispute *justpay.Dispute
	err := s.update(ctx, func(tx *Tx) error {
		if err := tx.applyIdempotency(ctx); err != nil {
			return err
		}
		// Lock order as on every job path: job, agents, balances.
		j, err := tx.findJob(ctx, jobID, true)
		if err != nil {
			return err
		}
		if agentID == "" || (agentID != j.ClientID && agentID != j.ProviderID) {
			return justpay.Errorf(justpay.ENOTFOUND, "job not found")
		}
		if j.Status != justpay.JobDelivered {
			return justpay.Errorf(justpay.ECONFLICT, "job %s is %s; only a delivered job can be disputed", j.ID, j.Status)
		}
		if j.ExpiresAt != nil && !tx.now.Before(*j.ExpiresAt) {
			return justpay.Errorf(justpay.ECONFLICT, "job %s's review window closed at %s; it is being accepted automatically", j.ID, j.ExpiresAt.Format(time.RFC3339))
		}
		claimant, err := tx.findAgent(ctx, agentID, true)
		if err != nil {
			return err
		}
		if err := claimant.CheckMayHire(); err != nil {
			return err
		}
		d := &justpay.Dispute{ID: justpay.NewID(tx.now), JobID: j.ID, ClaimantID: agentID, RespondentID: j.ClientID,
			Reason: nd.Reason, Description: nd.Description, Fee: justpay.DisputeFee(j.Amount), Status: justpay.DisputeOpen, CreatedAt: tx.now}
		if agentID == j.ClientID {
			d.RespondentID = j.ProviderID
		}
		lt := justpay.Transfer(justpay.TxDisputeFee, justpay.AgentAvailable(agentID), justpay.PlatformRevenue, d.Fee)
		lt.RefType, lt.RefID = "job", j.ID
		lt.Description = fmt.Sprintf("dispute fee for job %s (5%% of %s, non-refundable)", j.ID, justpay.FormatUSDC(j.Amount))
		if _, err := tx.post(ctx, lt); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO disputes (id, job_id, claimant_id, respondent_id, reason, description, fee, status, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			d.ID, d.JobID, d.ClaimantID, d.RespondentID, d.Reason, d.Description, d.Fee, d.Status, tx.now); err != nil {
			return fmt.Errorf("insert dispute: %w", err)
		}
		// Only a client's disputes are client behaviour (the dispute rate, the restriction).
		if agentID == j.ClientID {
			if _, err := tx.ExecContext(ctx, `UPDATE agents SET disputes_filed = disputes_filed + 1 WHERE id = $1`, agentID); err != nil {
				return fmt.Errorf("count dispute: %w", err)
			}
		}
		j.Status = justpay.JobDisputed
		tx.setDeadline(j, nil) // the review's auto-accept no longer applies
		if err := tx.saveJob(ctx, j, justpay.JobDelivered); err != nil {
			return err
		}
		dispute = d
		return tx.recordJobEvent(ctx, d.RespondentID, "job.disputed", j, disputeEventData(d))
	})
	return dispute, err
}

// disputeEventData is what job.disputed and job.dispute_resolved add to a job event's data: the
// dispute (its status as disputeStatus; status is the job's, as in every job event).
func disputeEventData(d *justpay.Dispute) map[string]any {
	data := map[string]any{"disputeId": d.ID, "disputeStatus": d.Status, "reason": d.Reason, "claimantAgentId": d.ClaimantID,
		"respondentAgentId": d.RespondentID}
	if d.Outcome != "" {
		data["outcome"] = d.Outcome
	}
	return data
}

// FindDisputes lists disputes for admins. See justpay.DisputeService.
func (s *Store) FindDisputes(ctx context.Context, status string, p justpay.Page) ([]*justpay.Dispute, int, error) {
	if err := p.Validate(); err != nil {
		return nil, 0, err
	}
	if err := justpay.ValidateFilter("status", status, justpay.DisputeStatuses); err != nil {
		return nil, 0, err
	}
	return readPage(ctx, s.DB, listQuery{what: "disputes", columns: disputeColumns,
		from: `FROM disputes WHERE $1 = '' OR status = $1`, order: `created_at, id`, args: []any{status}}, p, scanDispute)
}

// findJobDispute returns the job's dispute, or nil.
func (tx *Tx) findJobDispute(ctx context.Context, jobID string) (*justpay.Dispute, error) {
	d, err := scanDispute(tx.QueryRowContext(ctx, `SELECT `+disputeColumns+` FROM disputes WHERE job_id = $1`, jobID))
	if justpay.ErrorCode(err) == justpay.ENOTFOUND {
		return nil, nil
	}
	return d, err
}

// ResolveDispute applies an admin's ruling. See justpay.DisputeService.
func (s *Store) ResolveDispute(ctx context.Context, id string, r justpay.Resolution) (*justpay.Dispute, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	if !justpay.IsID(id) {
		return nil, justpay.Errorf(justpay.ENOTFOUND, "dispute not found")
	}
	var dispute *justpay.Dispute
	err := s.update(ctx, func(tx *Tx) error {
		d, err := scanDispute(tx.QueryRowContext(ctx, `SELECT `+disputeColumns+` FROM disputes WHERE id = $1`, id))
		if err != nil {
			return err
		}
		// Lock order: the job first, as every job path; then the dispute, read again under it.
		j, err := tx.findJob(ctx, d.JobID, true)
		if err != nil {
			return err
		}
		if d, err = scanDispute(tx.QueryRowContext(ctx, `SELECT `+disputeColumns+` FROM disputes WHERE id = $1`+tx.db.dialect.forUpdate, id)); err != nil {
			return err
		}
		if d.Status != justpay.DisputeOpen || j.Status != justpay.JobDisputed {
			return justpay.Errorf(justpay.ECONFLICT, "dispute %s is resolved already (%s)", d.ID, d.Outcome)
		}
		d.Status, d.Outcome, d.Note, d.ResolvedAt = justpay.DisputeResolved, r.Outcome, r.Note, &tx.now
		if err := tx.settleDispute(ctx, j, d); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE disputes SET status = $1, outcome = $2, note = $3, resolved_at = $4 WHERE id = $5 AND status = $6`,
			d.Status, d.Outcome, d.Note, tx.now, d.ID, justpay.DisputeOpen)
		if err != nil {
			return fmt.Errorf("update dispute: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return justpay.Errorf(justpay.ECONFLICT, "dispute %s changed concurrently", d.ID)
		}
		if err := tx.audit(ctx, "dispute.resolve", "dispute", d.ID, map[string]any{"jobId": j.ID, "outcome": d.Outcome, "note": d.Note}); err != nil {
			return err
		}
		for _, to := range []string{d.ClaimantID, d.RespondentID} {
			if err := tx.recordJobEvent(ctx, to, "job.dispute_resolved", j, disputeEventData(d)); err != nil {
				return err
			}
		}
		dispute = d
		return nil
	})
	return dispute, err
}

// settleDispute pays out a disputed job's escrow as the ruling says (see ARCHITECTURE.md): the
// client's win refunds amount and fee; the provider's pays the amount to it and the fee to the
// platform; a split pays each half the amount (the odd micro-unit to the provider) and the fee to
// the platform. The respondent's dispute counters and, when the provider is paid in full, the
// completed-job counters follow.
func (tx *Tx) settleDispute(ctx context.Context, j *justpay.Job, d *justpay.Dispute) error {
	clientWins := (d.Outcome == justpay.OutcomeClaimant) == (d.ClaimantID == j.ClientID)
	var toProvider, toClient, toPlatform int64
	switch {
	case d.Outcome == justpay.OutcomeSplit:
		toProvider, toClient = justpay.SplitAmount(j.Amount)
		toPlatform = j.PlatformFee
	case clientWins:
		toClient = j.TotalCost()
	default:
		toProvider, toPlatform = j.Amount, j.PlatformFee
	}
	escrow := jobEscrow(j.ID)
	for _, p := range []struct {
		typ, what string
		entries   []justpay.Entry
	}{
		{justpay.TxEarned, "paid to the provider", []justpay.Entry{{Account: justpay.AgentAvailable(j.ProviderID), Amount: toProvider},
			{Account: justpay.PlatformRevenue, Amount: toPlatform}}},
		{justpay.TxRefund, "refunded to the client", []justpay.Entry{{Account: justpay.AgentAvailable(j.ClientID), Amount: toClient}}},
	} {
		lt := justpay.LedgerTx{Type: p.typ, RefType: "job", RefID: j.ID,
			Description: fmt.Sprintf("dispute %s over job %s resolved (%s): %s", d.ID, j.ID, d.Outcome, p.what)}
		var total int64
		for _, e := range p.entries {
			if e.Amount > 0 {
				lt.Entries = append(lt.Entries, e)
				total += e.Amount
			}
		}
		if total == 0 {
			continue
		}
		lt.Entries = append(lt.Entries, justpay.Entry{Account: escrow, Amount: -total})
		if _, err := tx.post(ctx, lt); err != nil {
			return err
		}
	}
	if err := tx.closeAccount(ctx, escrow); err != nil {
		return err
	}
	lost := 0
	if d.Outcome == justpay.OutcomeClaimant {
		lost = 1
	}
	if _, err := tx.ExecContext(ctx, `UPDATE agents SET disputes_defended = disputes_defended + 1, disputes_lost = disputes_lost + $1 WHERE id = $2`,
		lost, d.RespondentID); err != nil {
		return fmt.Errorf("count dispute: %w", err)
	}
	if toProvider == j.Amount && !clientWins {
		if err := tx.countCompleted(ctx, j); err != nil {
			return err
		}
	}
	j.Status, j.FinishedAt = justpay.JobResolved, &tx.now
	tx.setDeadline(j, nil)
	return tx.saveJob(ctx, j, justpay.JobDisputed)
}

// audit writes an admin action to the audit log, in the transaction that takes it.
func (tx *Tx) audit(ctx context.Context, action, targetType, targetID string, details map[string]any) error {
	if details == nil {
		details = map[string]any{}
	}
	b, err := json.Marshal(details)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO admin_audit (id, action, target_type, target_id, details, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		justpay.NewID(tx.now), action, targetType, targetID, string(b), tx.now); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// FindAudit lists the audit log. See justpay.AdminService.
func (s *Store) FindAudit(ctx context.Context, p justpay.Page) ([]*justpay.AuditRecord, int, error) {
	if err := p.Validate(); err != nil {
		return nil, 0, err
	}
	return readPage(ctx, s.DB, listQuery{what: "audit records", columns: `id, action, target_type, target_id, details, created_at`,
		from: `FROM admin_audit`, order: `created_at DESC, id DESC`}, p, scanAuditRecord)
}

func scanAuditRecord(row scanner) (*justpay.AuditRecord, error) {
	var r justpay.AuditRecord
	var details string
	var created time.Time
	if err := row.Scan(&r.ID, &r.Action, &r.TargetType, &r.TargetID, &details, &created); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(details), &r.Details); err != nil {
		return nil, fmt.Errorf("audit %s: %w", r.ID, err)
	}
	r.CreatedAt = created.UTC()
	return &r, nil
}

// SetVerified verifies or unverifies an agent. See justpay.AdminService.
func (s *Store) SetVerified(ctx context.Context, agentID string, verified bool) (*justpay.Agent, error) {
	action := "agent.unverify"
	if verified {
		action = "agent.verify"
	}
	return s.adminAgent(ctx, agentID, action, nil, `UPDATE agents SET verified = $1, updated_at = $2 WHERE id = $3`, verified)
}

// SetRestricted restricts or unrestricts an agent. See justpay.AdminService.
func (s *Store) SetRestricted(ctx context.Context, agentID string, restricted bool, reason string) (*justpay.Agent, error) {
	action := "agent.unrestrict"
	if restricted {
		action = "agent.restrict"
		if strings.TrimSpace(reason) == "" {
			return nil, justpay.Errorf(justpay.EINVALID, "reason is required: the agent is told why it is restricted")
		}
	} else {
		reason = ""
	}
	if err := justpay.ValidateText("reason", reason, 500); err != nil {
		return nil, err
	}
	return s.adminAgent(ctx, agentID, action, map[string]any{"reason": reason},
		`UPDATE agents SET restricted = $1, restricted_reason = $4, updated_at = $2 WHERE id = $3`, restricted, reason)
}

// adminAgent runs an admin's update of an agent ($1 = value, $2 = now, $3 = the agent, then
// extra) with its audit record, and returns the agent.
func (s *Store) adminAgent(ctx context.Context, agentID, action string, details map[string]any, update string, value any, extra ...any) (*justpay.Agent, error) {
	if !justpay.IsID(agentID) {
		return nil, justpay.Errorf(justpay.ENOTFOUND, "agent not found")
	}
	var agent *justpay.Agent
	err := s.update(ctx, func(tx *Tx) error {
		if _, err := tx.findAgent(ctx, agentID, true); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, update, append([]any{value, tx.now, agentID}, extra...)...); err != nil {
			return fmt.Errorf("%s: %w", action, err)
		}
		if err := tx.audit(ctx, action, "agent", agentID, details); err != nil {
			return err
		}
		a, err := tx.findAgent(ctx, agentID, false)
		agent = a
		return err
	})
	return agent, err
}
