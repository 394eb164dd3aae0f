package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/justpay/justpay"
)

var _ justpay.ReportService = (*Store)(nil)

const reportColumns = `id, reporter_id, target_type, target_id, target_agent_id, reason, description, status, note,
	expires_at, created_at, resolved_at`

func scanReport(row scanner) (*justpay.Report, error) {
	var r justpay.Report
	var expires, resolved sql.NullTime
	err := row.Scan(&r.ID, &r.ReporterID, &r.TargetType, &r.TargetID, &r.TargetAgentID, &r.Reason, &r.Description,
		&r.Status, &r.Note, &expires, &r.CreatedAt, &resolved)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, justpay.Errorf(justpay.ENOTFOUND, "report not found")
	} else if err != nil {
		return nil, fmt.Errorf("scan report: %w", err)
	}
	r.CreatedAt, r.ExpiresAt, r.ResolvedAt = r.CreatedAt.UTC(), nullTime(expires), nullTime(resolved)
	return &r, nil
}

// SubmitReport files a report. See justpay.ReportService.
func (s *Store) SubmitReport(ctx context.Context, reporterID string, nr justpay.NewReport) (*justpay.Report, error) {
	if err := nr.Validate(); err != nil {
		return nil, err
	}
	var report *justpay.Report
	err := s.update(ctx, func(tx *Tx) error {
		targetAgentID, err := tx.reportedAgent(ctx, reporterID, nr)
		if err != nil {
			return err
		}
		// The target agent's row lock serializes its reports: the duplicate check below then
		// sees every committed report (the partial unique index backs it up).
		if _, err := tx.findAgent(ctx, targetAgentID, true); err != nil {
			return err
		}
		var pending int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM reports WHERE reporter_id = $1 AND target_type = $2 AND target_id = $3
			AND status = 'pending'`, reporterID, nr.TargetType, nr.TargetID).Scan(&pending); err != nil {
			return fmt.Errorf("find pending report: %w", err)
		}
		if pending > 0 {
			return duplicateReport(nr)
		}
		r := &justpay.Report{ID: justpay.NewID(tx.now), ReporterID: reporterID, TargetType: nr.TargetType, TargetID: nr.TargetID,
			TargetAgentID: targetAgentID, Reason: nr.Reason, Description: nr.Description, Status: justpay.ReportPending, CreatedAt: tx.now}
		_, err = tx.ExecContext(ctx, `INSERT INTO reports (id, reporter_id, target_type, target_id, target_agent_id, reason, description,
			status, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			r.ID, r.ReporterID, r.TargetType, r.TargetID, r.TargetAgentID, r.Reason, r.Description, r.Status, tx.now)
		if s.dialect.isUnique(err) {
			return duplicateReport(nr)
		} else if err != nil {
			return fmt.Errorf("insert report: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE agents SET pending_reports = pending_reports + 1, jobs_since_report = 0 WHERE id = $1`,
			targetAgentID); err != nil {
			return fmt.Errorf("count report: %w", err)
		}
		// The newest report restarts the expiry of all the agent's pending reports.
		if err := tx.setReportExpiry(ctx, targetAgentID); err != nil {
			return err
		}
		expires := tx.now.Add(justpay.ReportExpiry)
		r.ExpiresAt = &expires
		report = r
		return nil
	})
	return report, err
}

func duplicateReport(nr justpay.NewReport) error {
	return justpay.Errorf(justpay.ECONFLICT, "you already reported this %s and your report is still pending", nr.TargetType)
}

// reportedAgent finds the reported agent, service or job and returns the agent the report counts
// against, by justpay.ReportedAgent's rules.
func (tx *Tx) reportedAgent(ctx context.Context, reporterID string, nr justpay.NewReport) (string, error) {
	switch nr.TargetType {
	case justpay.ReportTargetAgent:
		a, err := tx.findAgent(ctx, nr.TargetID, false)
		if err != nil {
			return "", err
		}
		return justpay.ReportedAgent(reporterID, a, nil, nil)
	case justpay.ReportTargetService:
		svc, err := tx.findService(ctx, nr.TargetID, false)
		if err != nil {
			return "", err
		}
		return justpay.ReportedAgent(reporterID, nil, svc, nil)
	default:
		j, err := tx.findJob(ctx, nr.TargetID, false)
		if err != nil {
			return "", err
		}
		return justpay.ReportedAgent(reporterID, nil, nil, j)
	}
}

// setReportExpiry sets the expiry of the agent's pending reports to its newest pending report's
// time plus justpay.ReportExpiry, after a report was filed or closed.
func (tx *Tx) setReportExpiry(ctx context.Context, agentID string) error {
	var newest sql.NullTime
	err := tx.QueryRowContext(ctx, `SELECT created_at FROM reports WHERE target_agent_id = $1 AND status = 'pending'
		ORDER BY created_at DESC LIMIT 1`, agentID).Scan(&newest)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	} else if err != nil {
		return fmt.Errorf("find newest report: %w", err)
	}
	expires := newest.Time.UTC().Add(justpay.ReportExpiry)
	if _, err := tx.ExecContext(ctx, `UPDATE reports SET expires_at = $1 WHERE target_agent_id = $2 AND status = 'pending'
		AND (expires_at IS NULL OR expires_at <> $1)`, expires, agentID); err != nil {
		return fmt.Errorf("set report expiry: %w", err)
	}
	return nil
}

// closeReport moves a pending report to status (dismissed or actioned) with note: it stops
// counting against its target agent, whose row the caller has locked.
func (tx *Tx) closeReport(ctx context.Context, r *justpay.Report, status, note string) error {
	res, err := tx.ExecContext(ctx, `UPDATE reports SET status = $1, note = $2, resolved_at = $3, expires_at = NULL
		WHERE id = $4 AND status = 'pending'`, status, note, tx.now, r.ID)
	if err != nil {
		return fmt.Errorf("close report: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return justpay.Errorf(justpay.ECONFLICT, "report %s changed concurrently", r.ID)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE agents SET pending_reports = pending_reports - 1 WHERE id = $1 AND pending_reports > 0`,
		r.TargetAgentID); err != nil {
		return fmt.Errorf("uncount report: %w", err)
	}
	r.Status, r.Note, r.ResolvedAt, r.ExpiresAt = status, note, &tx.now, nil
	return tx.setReportExpiry(ctx, r.TargetAgentID)
}

// DismissReport closes a pending report as unfounded. See justpay.ReportService.
func (s *Store) DismissReport(ctx context.Context, id, note string) (*justpay.Report, error) {
	return s.resolveReport(ctx, id, justpay.ReportDismissed, "report.dismiss", note)
}

// ActionReport closes a pending report as acted upon. See justpay.ReportService.
func (s *Store) ActionReport(ctx context.Context, id, note string) (*justpay.Report, error) {
	return s.resolveReport(ctx, id, justpay.ReportActioned, "report.action", note)
}

// resolveReport is an admin's dismissal or action of a report, with its audit record.
func (s *Store) resolveReport(ctx context.Context, id, status, action, note string) (*justpay.Report, error) {
	if err := justpay.ValidateText("note", note, justpay.MaxReportNote); err != nil {
		return nil, err
	}
	if !justpay.IsID(id) {
		return nil, justpay.Errorf(justpay.ENOTFOUND, "report not found")
	}
	var report *justpay.Report
	err := s.update(ctx, func(tx *Tx) error {
		q := `SELECT ` + reportColumns + ` FROM reports WHERE id = $1`
		r, err := scanReport(tx.QueryRowContext(ctx, q, id))
		if err != nil {
			return err
		}
		// Lock order: the target agent, then its reports (as recovery and expiry do).
		if _, err := tx.findAgent(ctx, r.TargetAgentID, true); err != nil {
			return err
		}
		if r, err = scanReport(tx.QueryRowContext(ctx, q+tx.db.dialect.forUpdate, id)); err != nil {
			return err
		}
		if r.Status != justpay.ReportPending {
			return justpay.Errorf(justpay.ECONFLICT, "report %s is %s already", r.ID, r.Status)
		}
		if err := tx.closeReport(ctx, r, status, note); err != nil {
			return err
		}
		if err := tx.audit(ctx, action, "report", r.ID, map[string]any{"targetType": r.TargetType, "targetId": r.TargetID,
			"targetAgentId": r.TargetAgentID, "reason": r.Reason, "note": note}); err != nil {
			return err
		}
		report = r
		return nil
	})
	return report, err
}

// recoverFromReports dismisses the provider's oldest pending report when it has completed
// justpay.ReportRecoveryJobs jobs since its newest report or its last recovery; countCompleted
// calls it with the agent's counters as they are after the job, the agent row updated (locked).
func (tx *Tx) recoverFromReports(ctx context.Context, agentID string, pendingReports, jobsSinceReport int64) error {
	if pendingReports <= 0 || jobsSinceReport < justpay.ReportRecoveryJobs {
		return nil
	}
	r, err := scanReport(tx.QueryRowContext(ctx, `SELECT `+reportColumns+` FROM reports WHERE target_agent_id = $1 AND status = 'pending'
		ORDER BY created_at, id LIMIT 1`+tx.db.dialect.forUpdate, agentID))
	if justpay.ErrorCode(err) == justpay.ENOTFOUND {
		return nil
	} else if err != nil {
		return err
	}
	if err := tx.closeReport(ctx, r, justpay.ReportDismissed, justpay.ReportRecoveryNote); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE agents SET jobs_since_report = 0 WHERE id = $1`, agentID); err != nil {
		return fmt.Errorf("restart recovery: %w", err)
	}
	return nil
}

// FindReports lists reports for admins. See justpay.ReportService.
func (s *Store) FindReports(ctx context.Context, status string, p justpay.Page) ([]*justpay.Report, int, error) {
	if err := p.Validate(); err != nil {
		return nil, 0, err
	}
	if err := justpay.ValidateFilter("status", status, justpay.ReportStatuses); err != nil {
		return nil, 0, err
	}
	return readPage(ctx, s.DB, listQuery{what: "reports", columns: reportColumns,
		from: `FROM reports WHERE $1 = '' OR status = $1`, order: `created_at, id`, args: []any{status}}, p, scanReport)
}

// RunDueReports expires the pending reports of agents whose newest pending report is 30 days
// old. See justpay.ReportService.
func (s *Store) RunDueReports(ctx context.Context) (int, error) {
	return s.runDue(ctx, `SELECT DISTINCT target_agent_id FROM reports WHERE status = 'pending' AND expires_at <= $1
		ORDER BY target_agent_id LIMIT 100`, s.expireReports)
}

// expireReports expires all the agent's pending reports if they are still due once its row is
// locked: a report filed meanwhile restarted the 30 days, and an admin may have closed some.
func (s *Store) expireReports(ctx context.Context, agentID string) (int, error) {
	expired := 0
	err := s.update(ctx, func(tx *Tx) error {
		expired = 0
		if _, err := tx.findAgent(ctx, agentID, true); err != nil {
			return err
		}
		var due int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM reports WHERE target_agent_id = $1 AND status = 'pending' AND expires_at <= $2`,
			agentID, tx.now).Scan(&due); err != nil {
			return fmt.Errorf("find due reports: %w", err)
		}
		if due == 0 {
			return nil
		}
		res, err := tx.ExecContext(ctx, `UPDATE reports SET status = 'expired', resolved_at = $1, expires_at = NULL
			WHERE target_agent_id = $2 AND status = 'pending'`, tx.now, agentID)
		if err != nil {
			return fmt.Errorf("expire reports: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE agents SET pending_reports = 0 WHERE id = $1`, agentID); err != nil {
			return fmt.Errorf("uncount reports: %w", err)
		}
		expired = int(n)
		return nil
	})
	return expired, err
}
