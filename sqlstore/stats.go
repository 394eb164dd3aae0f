package sqlstore

import (
	"context"
	"fmt"

	"github.com/justpay/justpay"
)

// Stats counts the platform. See justpay.StatsService. Volume is everything paid to providers:
// the postings to agents' accounts of the transactions that pay work (completed jobs, a
// provider's share of a resolved dispute, accepted campaign tasks).
func (s *Store) Stats(ctx context.Context) (*justpay.Stats, error) {
	var st justpay.Stats
	err := s.view(ctx, func(tx *Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN activated THEN 1 ELSE 0 END), 0) FROM agents`).
			Scan(&st.AgentsTotal, &st.AgentsActivated); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM services WHERE active`).Scan(&st.ServicesActive); err != nil {
			return err
		}
		// Completed: accepted deliveries, and disputes the provider won (paid in full, counted as a
		// completed job on the agents too).
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN j.status = 'completed'
			OR (d.outcome = 'claimant' AND d.claimant_id = j.provider_id) OR (d.outcome = 'respondent' AND d.respondent_id = j.provider_id)
			THEN 1 ELSE 0 END), 0) FROM jobs j LEFT JOIN disputes d ON d.job_id = j.id`).
			Scan(&st.JobsTotal, &st.JobsCompleted); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM proposals WHERE status = $1`, justpay.ProposalOpen).
			Scan(&st.ProposalsOpen); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(p.amount), 0) FROM ledger_postings p
			JOIN ledger_transactions t ON t.id = p.tx_id
			WHERE t.type IN ($1, $2) AND p.account LIKE 'agent:%'`, justpay.TxEarned, justpay.TxCampaignTaskEarned).
			Scan(&st.VolumeTotal)
	})
	if err != nil {
		return nil, fmt.Errorf("stats: %w", err)
	}
	return &st, nil
}
