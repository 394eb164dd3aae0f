package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/justpay/justpay"
)

// Idempotency-Key states: a claim is started by the HTTP layer, applied inside the transaction
// that moves the money, and done once its response is stored for replay.
const (
	idemStarted = "started"
	idemApplied = "applied"
	idemDone    = "done"
)

// BeginIdempotent claims an Idempotency-Key. See justpay.IdempotencyService.
func (s *Store) BeginIdempotent(ctx context.Context, c justpay.IdempotencyClaim, fingerprint string) (*justpay.StoredResponse, error) {
	var replay *justpay.StoredResponse
	err := s.update(ctx, func(tx *Tx) error {
		replay = nil
		if _, err := tx.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND created_at < $3`,
			c.Scope, c.Key, tx.now.Add(-justpay.IdempotencyKeyTTL)); err != nil {
			return fmt.Errorf("expire idempotency key: %w", err)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO idempotency_keys (scope, key, fingerprint, state, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (scope, key) DO NOTHING`, c.Scope, c.Key, fingerprint, idemStarted, tx.now)
		if err != nil {
			return fmt.Errorf("claim idempotency key: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return nil
		}
		var stored, state string
		var status int
		var body []byte
		var updated time.Time
		err = tx.QueryRowContext(ctx, `SELECT fingerprint, state, status, body, updated_at FROM idempotency_keys
			WHERE scope = $1 AND key = $2`+tx.db.dialect.forUpdate, c.Scope, c.Key).Scan(&stored, &state, &status, &body, &updated)
		if err != nil {
			return fmt.Errorf("read idempotency key: %w", err)
		}
		switch {
		case stored != fingerprint:
			return justpay.Errorf(justpay.EUNPROCESSABLE, "this Idempotency-Key was already used with a different request")
		case state == idemDone:
			replay = &justpay.StoredResponse{Status: status, Body: body}
			return nil
		case state == idemApplied:
			return justpay.Errorf(justpay.ECONFLICT, "the request with this Idempotency-Key was applied but its response was not recorded; check the result instead of retrying")
		case tx.now.Sub(updated) < justpay.IdempotencyClaimTimeout:
			return justpay.Errorf(justpay.ECONFLICT, "a request with this Idempotency-Key is still in progress; retry later")
		}
		// The first attempt stalled before moving money; this one takes the claim over. Should the
		// first still commit, its applyIdempotency and ours cannot both succeed.
		_, err = tx.ExecContext(ctx, `UPDATE idempotency_keys SET updated_at = $1 WHERE scope = $2 AND key = $3`, tx.now, c.Scope, c.Key)
		return err
	})
	return replay, err
}

// applyIdempotency marks the request's Idempotency-Key applied, inside the transaction that moves
// the money, so that the movement happens at most once per key. Without a key it does nothing.
func (tx *Tx) applyIdempotency(ctx context.Context) error {
	c, ok := justpay.IdempotencyClaimFrom(ctx)
	if !ok {
		return nil
	}
	res, err := tx.ExecContext(ctx, `UPDATE idempotency_keys SET state = $1, updated_at = $2
		WHERE scope = $3 AND key = $4 AND state = $5`, idemApplied, tx.now, c.Scope, c.Key, idemStarted)
	if err != nil {
		return fmt.Errorf("apply idempotency key: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return justpay.Errorf(justpay.ECONFLICT, "the request with this Idempotency-Key was already applied")
	}
	return nil
}

// FinishIdempotent stores the response of a claimed key. See justpay.IdempotencyService.
func (s *Store) FinishIdempotent(ctx context.Context, c justpay.IdempotencyClaim, resp justpay.StoredResponse) error {
	return s.update(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE idempotency_keys SET state = $1, status = $2, body = $3, updated_at = $4
			WHERE scope = $5 AND key = $6 AND state IN ($7, $8)`, idemDone, resp.Status, resp.Body, tx.now, c.Scope, c.Key, idemStarted, idemApplied)
		return err
	})
}

// AbortIdempotent releases a claim that did not apply. See justpay.IdempotencyService.
func (s *Store) AbortIdempotent(ctx context.Context, c justpay.IdempotencyClaim) error {
	return s.update(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND state = $3`, c.Scope, c.Key, idemStarted)
		return err
	})
}

// PurgeIdempotencyKeys deletes keys older than justpay.IdempotencyKeyTTL and returns how many.
func (db *DB) PurgeIdempotencyKeys(ctx context.Context) (int64, error) {
	var n int64
	err := db.update(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE created_at < $1`, tx.now.Add(-justpay.IdempotencyKeyTTL))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}
