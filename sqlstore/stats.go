package sqlstore

import (
	"context"
	"fmt"

	"github.com/justpay/justpay"
)

// Stats counts the platform. See justpay.StatsService. Volume is the amount paid to providers by
// completed jobs; counters of features that do not exist yet (proposals) are zero.
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
		return tx.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN status = 'completed' THEN amount ELSE 0 END), 0) FROM jobs`).
			Scan(&st.JobsTotal, &st.JobsCompleted, &st.VolumeTotal)
	})
	if err != nil {
		return nil, fmt.Errorf("stats: %w", err)
	}
	return &st, nil
}
