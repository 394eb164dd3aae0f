package sqlstore

import (
	"context"
	"fmt"
)

// dueBatch is how many due rows one query of runDue reads at most.
const dueBatch = 100

// runDue applies apply to every row that query finds due now, batch after batch, and returns the
// sum of what apply reports. query takes the time as $1 and returns at most dueBatch IDs; apply
// locks its row, checks that it is still due (a user action may have got there first) and deals
// with it, so that the next batch does not find it again.
func (s *Store) runDue(ctx context.Context, query string, apply func(ctx context.Context, id string) (int, error)) (int, error) {
	total := 0
	for {
		var ids []string
		err := s.view(ctx, func(tx *Tx) error {
			var err error
			ids, err = queryAll(ctx, tx, "due rows", query, []any{tx.now}, scanID)
			return err
		})
		if err != nil {
			return total, fmt.Errorf("find due: %w", err)
		}
		for _, id := range ids {
			n, err := apply(ctx, id)
			if err != nil {
				return total, err
			}
			total += n
		}
		if len(ids) < dueBatch {
			return total, nil
		}
	}
}

// once adapts a function that applies one timeout (or not) to runDue.
func once(apply func(ctx context.Context, id string) (bool, error)) func(ctx context.Context, id string) (int, error) {
	return func(ctx context.Context, id string) (int, error) {
		ok, err := apply(ctx, id)
		if ok {
			return 1, err
		}
		return 0, err
	}
}
