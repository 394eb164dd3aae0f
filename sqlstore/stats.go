package sqlstore

import (
	"context"
	"fmt"

	"github.com/justpay/justpay"
)

// Stats counts the platform. See justpay.StatsService. Counters of features that do not exist yet
// (services, jobs, proposals, volume) are zero.
func (s *Store) Stats(ctx context.Context) (*justpay.Stats, error) {
	var st justpay.Stats
	err := s.view(ctx, func(tx *Tx) error {
		return tx.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN activated THEN 1 ELSE 0 END), 0) FROM agents`).
			Scan(&st.AgentsTotal, &st.AgentsActivated)
	})
	if err != nil {
		return nil, fmt.Errorf("stats: %w", err)
	}
	return &st, nil
}
