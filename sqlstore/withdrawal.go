package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/justpay/justpay"
)

// WithdrawalLease is how long a claimed withdrawal belongs to the worker that claimed it. A worker
// that dies mid-send loses it after the lease and another sends it again with the same reference,
// which the chain deduplicates.
const WithdrawalLease = time.Minute

const withdrawalColumns = `id, agent_id, kind, address, amount, fee, net_amount, status, signature, failure_reason,
	attempts, created_at, updated_at, completed_at`

func scanWithdrawal(row scanner) (*justpay.Withdrawal, error) {
	var w justpay.Withdrawal
	var completed sql.NullTime
	err := row.Scan(&w.ID, &w.AgentID, &w.Kind, &w.Address, &w.Amount, &w.Fee, &w.NetAmount, &w.Status, &w.Signature,
		&w.FailureReason, &w.Attempts, &w.CreatedAt, &w.UpdatedAt, &completed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, justpay.Errorf(justpay.ENOTFOUND, "withdrawal not found")
	} else if err != nil {
		return nil, fmt.Errorf("scan withdrawal: %w", err)
	}
	w.CreatedAt, w.UpdatedAt, w.CompletedAt = w.CreatedAt.UTC(), w.UpdatedAt.UTC(), nullTime(completed)
	return &w, nil
}

// FindWithdrawalByID returns one of the agent's withdrawals. Errors: ENOTFOUND.
func (db *DB) FindWithdrawalByID(ctx context.Context, agentID, id string) (*justpay.Withdrawal, error) {
	if !justpay.IsID(id) {
		return nil, justpay.Errorf(justpay.ENOTFOUND, "withdrawal not found")
	}
	return scanWithdrawal(db.reader.QueryRowContext(ctx, `SELECT `+withdrawalColumns+` FROM withdrawals WHERE id = $1 AND agent_id = $2`, id, agentID))
}

// ClaimDueWithdrawals takes up to limit withdrawals that are due (queued, or sending with an
// expired lease), marks them sending under a fresh lease and returns them.
func (db *DB) ClaimDueWithdrawals(ctx context.Context, limit int) ([]*justpay.Withdrawal, error) {
	var claimed []*justpay.Withdrawal
	err := db.update(ctx, func(tx *Tx) error {
		claimed = claimed[:0]
		ids, err := queryAll(ctx, tx, "due withdrawals", `SELECT id FROM withdrawals WHERE status IN ($1, $2) AND next_attempt_at <= $3
			ORDER BY next_attempt_at, id LIMIT $4`+tx.db.dialect.skipLocked,
			[]any{justpay.WithdrawalQueued, justpay.WithdrawalSending, tx.now, limit}, scanID)
		if err != nil {
			return err
		}
		for _, id := range ids {
			w, err := scanWithdrawal(tx.QueryRowContext(ctx, `UPDATE withdrawals SET status = $1, attempts = attempts + 1,
				next_attempt_at = $2, updated_at = $3 WHERE id = $4 RETURNING `+withdrawalColumns,
				justpay.WithdrawalSending, tx.now.Add(WithdrawalLease), tx.now, id))
			if err != nil {
				return err
			}
			claimed = append(claimed, w)
		}
		return nil
	})
	return claimed, err
}

// CompleteWithdrawal records a successful send: the amount leaves pending, the net amount goes to
// the chain and the fee to the gas account. Errors: ECONFLICT when it is no longer sending.
func (db *DB) CompleteWithdrawal(ctx context.Context, id, signature string) error {
	return db.update(ctx, func(tx *Tx) error {
		w, err := tx.finishWithdrawal(ctx, id, justpay.WithdrawalCompleted, signature, "")
		if err != nil {
			return err
		}
		lt := justpay.LedgerTx{Type: justpay.TxWithdrawalSettled, RefType: "withdrawal", RefID: id,
			Description: "sent on chain: " + signature,
			Entries:     []justpay.Entry{{Account: justpay.AgentPending(w.AgentID), Amount: -w.Amount}, {Account: justpay.ExternalSolana, Amount: w.NetAmount}}}
		if w.Fee > 0 {
			lt.Entries = append(lt.Entries, justpay.Entry{Account: justpay.PlatformGas, Amount: w.Fee})
		}
		_, err = tx.post(ctx, lt)
		return err
	})
}

// FailWithdrawal records a send the chain refused for good and returns the whole amount to the
// available balance. Errors: ECONFLICT when it is no longer sending.
func (db *DB) FailWithdrawal(ctx context.Context, id, reason string) error {
	return db.update(ctx, func(tx *Tx) error {
		w, err := tx.finishWithdrawal(ctx, id, justpay.WithdrawalFailed, "", reason)
		if err != nil {
			return err
		}
		lt := justpay.Transfer(justpay.TxRefund, justpay.AgentPending(w.AgentID), justpay.AgentAvailable(w.AgentID), w.Amount)
		lt.RefType, lt.RefID, lt.Description = "withdrawal", id, "withdrawal failed: "+reason
		_, err = tx.post(ctx, lt)
		return err
	})
}

// RetryWithdrawal schedules another attempt at a withdrawal whose send failed transiently.
// Errors: ECONFLICT when it is no longer sending.
func (db *DB) RetryWithdrawal(ctx context.Context, id, reason string, at time.Time) error {
	return db.update(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE withdrawals SET failure_reason = $1, next_attempt_at = $2, updated_at = $3
			WHERE id = $4 AND status = $5`, truncate(reason), at.UTC().Truncate(time.Microsecond), tx.now, id, justpay.WithdrawalSending)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return justpay.Errorf(justpay.ECONFLICT, "withdrawal %s is not being sent", id)
		}
		return nil
	})
}

// finishWithdrawal moves a sending withdrawal to a final status; the guard on the current status
// makes a second worker's late report a conflict instead of a second posting.
func (tx *Tx) finishWithdrawal(ctx context.Context, id, status, signature, reason string) (*justpay.Withdrawal, error) {
	w, err := scanWithdrawal(tx.QueryRowContext(ctx, `UPDATE withdrawals SET status = $1, signature = $2, failure_reason = $3,
		updated_at = $4, completed_at = $4 WHERE id = $5 AND status = $6 RETURNING `+withdrawalColumns,
		status, signature, truncate(reason), tx.now, id, justpay.WithdrawalSending))
	if justpay.ErrorCode(err) == justpay.ENOTFOUND {
		return nil, justpay.Errorf(justpay.ECONFLICT, "withdrawal %s is not being sent", id)
	}
	return w, err
}

func truncate(s string) string {
	if len(s) > 500 {
		s = s[:500]
	}
	return strings.ToValidUTF8(s, "")
}
