package sqlstore

import (
	"context"
	"fmt"

	"github.com/justpay/justpay"
)

// ConfirmDeposits credits the agent's new on-chain deposits, each exactly once.
// See justpay.WalletService.
func (s *Store) ConfirmDeposits(ctx context.Context, agentID string) (*justpay.DepositResult, error) {
	agent, err := s.FindAgentByID(ctx, agentID)
	if err != nil {
		return nil, err
	}
	// Ask the chain outside any database transaction: it is a network call.
	transfers, err := s.chain.FindDeposits(ctx, agent.DepositAddress)
	if err != nil {
		return nil, fmt.Errorf("find deposits: %w", err)
	}
	result := &justpay.DepositResult{Deposits: []justpay.Deposit{}, Activated: agent.Activated}
	if agent.WithdrawalAddress == "" {
		result.SuggestedAddress = agent.EmergencyAddress
	}
	// Most checks find nothing new: answer those from a read, without taking the writer.
	if fresh, err := s.uncreditedTransfers(ctx, agentID, agent.DepositAddress, transfers); err != nil || len(fresh) == 0 {
		return result, err
	}
	err = s.update(ctx, func(tx *Tx) error {
		result.Deposits, result.TotalCredited = result.Deposits[:0], 0
		// The agent's row lock serializes concurrent confirmations, so the set of credited
		// deposits read next is complete; the primary key on (signature, idx) backs it up.
		a, err := tx.startMoneyAction(ctx, agentID)
		if err != nil {
			return err
		}
		credited, err := tx.creditedDeposits(ctx, agentID)
		if err != nil {
			return err
		}
		for _, t := range transfers {
			if t.To != a.DepositAddress || t.Amount <= 0 || credited[depositKey{t.Signature, t.Index}] {
				continue
			}
			d, err := tx.creditDeposit(ctx, a, t)
			if err != nil {
				return err
			}
			result.Deposits = append(result.Deposits, d)
			result.TotalCredited += d.Amount
		}
		result.Activated = a.Activated
		if a.WithdrawalAddress == "" {
			result.SuggestedAddress = a.EmergencyAddress
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return result, nil
}

// uncreditedTransfers filters transfers down to those into address not yet credited.
func (s *Store) uncreditedTransfers(ctx context.Context, agentID, address string, transfers []justpay.ChainTransfer) ([]justpay.ChainTransfer, error) {
	var fresh []justpay.ChainTransfer
	err := s.view(ctx, func(tx *Tx) error {
		credited, err := tx.creditedDeposits(ctx, agentID)
		for _, t := range transfers {
			if t.To == address && t.Amount > 0 && !credited[depositKey{t.Signature, t.Index}] {
				fresh = append(fresh, t)
			}
		}
		return err
	})
	return fresh, err
}

type depositKey struct {
	signature string
	index     int
}

func (tx *Tx) creditedDeposits(ctx context.Context, agentID string) (map[depositKey]bool, error) {
	rows, err := tx.QueryContext(ctx, `SELECT signature, idx FROM deposits WHERE agent_id = $1`, agentID)
	if err != nil {
		return nil, fmt.Errorf("read deposits: %w", err)
	}
	defer rows.Close()
	seen := map[depositKey]bool{}
	for rows.Next() {
		var k depositKey
		if err := rows.Scan(&k.signature, &k.index); err != nil {
			return nil, err
		}
		seen[k] = true
	}
	return seen, rows.Err()
}

// creditDeposit posts one deposit to the agent's available balance; the first deposit records the
// emergency address, and the first deposit of at least the activation fee activates the agent and
// pays the fee. It updates a in place.
func (tx *Tx) creditDeposit(ctx context.Context, a *justpay.Agent, t justpay.ChainTransfer) (justpay.Deposit, error) {
	d := justpay.Deposit{Signature: t.Signature, Index: t.Index, From: t.From, Amount: t.Amount, Activated: justpay.DepositActivates(a.Activated, t.Amount)}
	deposit := justpay.Transfer(justpay.TxDeposit, justpay.ExternalSolana, justpay.AgentAvailable(a.ID), t.Amount)
	deposit.RefType, deposit.RefID = "deposit", t.Signature
	deposit.Description = "USDC deposit from " + t.From
	txID, err := tx.post(ctx, deposit)
	if err != nil {
		return d, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO deposits (signature, idx, agent_id, address, from_address, amount, slot, activation, tx_id, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		t.Signature, t.Index, a.ID, t.To, t.From, t.Amount, int64(t.Slot), d.Activated, txID, tx.now); err != nil {
		return d, fmt.Errorf("insert deposit: %w", err)
	}
	if a.EmergencyAddress == "" {
		a.EmergencyAddress = t.From
		if _, err := tx.ExecContext(ctx, `UPDATE agents SET emergency_address = $1, updated_at = $2 WHERE id = $3`, t.From, tx.now, a.ID); err != nil {
			return d, fmt.Errorf("set emergency address: %w", err)
		}
	}
	if d.Activated {
		fee := justpay.Transfer(justpay.TxFee, justpay.AgentAvailable(a.ID), justpay.PlatformRevenue, justpay.ActivationFee)
		fee.RefType, fee.RefID, fee.Description = "deposit", t.Signature, "activation fee"
		if _, err := tx.post(ctx, fee); err != nil {
			return d, err
		}
		a.Activated, a.ActivatedAt = true, &tx.now
		if _, err := tx.ExecContext(ctx, `UPDATE agents SET activated = TRUE, activated_at = $1, updated_at = $1 WHERE id = $2`, tx.now, a.ID); err != nil {
			return d, fmt.Errorf("activate agent: %w", err)
		}
	}
	return d, nil
}

// Balance returns the agent's balances after crediting new deposits; when the chain cannot be
// reached it still answers from the ledger. See justpay.WalletService.
func (s *Store) Balance(ctx context.Context, agentID string) (*justpay.Balance, *justpay.Agent, error) {
	if _, err := s.ConfirmDeposits(ctx, agentID); err != nil {
		if c := justpay.ErrorCode(err); c == justpay.ENOTFOUND {
			return nil, nil, err
		}
		s.logger.Warn("balance: deposit check failed", "agent", agentID, "err", err)
	}
	var b *justpay.Balance
	var a *justpay.Agent
	err := s.view(ctx, func(tx *Tx) (err error) {
		if a, err = tx.findAgent(ctx, agentID, false); err != nil {
			return err
		}
		b, err = agentBalance(ctx, tx, agentID)
		return err
	})
	return b, a, err
}

// SetWithdrawalAddress sets or replaces the withdrawal address. See justpay.WalletService.
func (s *Store) SetWithdrawalAddress(ctx context.Context, agentID, address string) (*justpay.AddressChange, error) {
	if address == "" {
		return nil, justpay.Errorf(justpay.EINVALID, "address is required")
	}
	if err := s.chain.ValidateAddress(address); err != nil {
		return nil, err
	}
	var change *justpay.AddressChange
	err := s.update(ctx, func(tx *Tx) error {
		a, err := tx.findAgent(ctx, agentID, true)
		if err != nil {
			return err
		}
		// A deposit address of this platform would loop the money back in, and the deposit would
		// come from the platform's hot wallet, which must never become anyone's emergency address.
		var taken int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM agents WHERE deposit_address = $1`, address).Scan(&taken); err != nil {
			return fmt.Errorf("check address: %w", err)
		}
		if taken > 0 {
			return justpay.Errorf(justpay.EINVALID, "the withdrawal address cannot be a deposit address of this platform: use a wallet you control")
		}
		change = &justpay.AddressChange{Address: address}
		switch a.WithdrawalAddress {
		case address: // unchanged: nothing to do, an existing cooldown stays as it is
			if a.InCooldown(tx.now) {
				change.CooldownUntil = a.WithdrawalCooldownUntil
			}
			return nil
		case "":
			_, err = tx.ExecContext(ctx, `UPDATE agents SET withdrawal_address = $1, updated_at = $2 WHERE id = $3`, address, tx.now, agentID)
			return err
		}
		until := tx.now.Add(justpay.WithdrawalCooldown)
		change.Changed, change.CooldownUntil = true, &until
		if _, err := tx.ExecContext(ctx, `UPDATE agents SET withdrawal_address = $1, address_changed_at = $2,
			withdrawal_cooldown_until = $3, updated_at = $2 WHERE id = $4`, address, tx.now, until, agentID); err != nil {
			return err
		}
		return tx.recordEvent(ctx, agentID, justpay.EventWalletAddressChanged, map[string]any{
			"previousAddress": a.WithdrawalAddress,
			"newAddress":      address,
			"changedAt":       justpay.FormatTime(tx.now),
			"cooldownUntil":   justpay.FormatTime(until),
		})
	})
	return change, err
}

// Withdraw queues a withdrawal to the withdrawal address. See justpay.WalletService.
func (s *Store) Withdraw(ctx context.Context, agentID string, amount int64) (*justpay.Withdrawal, error) {
	var w *justpay.Withdrawal
	err := s.update(ctx, func(tx *Tx) error {
		a, err := tx.startMoneyAction(ctx, agentID)
		if err != nil {
			return err
		}
		fee, net, err := justpay.PlanWithdrawal(a, amount, tx.now)
		if err != nil {
			return err
		}
		w, err = tx.queueWithdrawal(ctx, a, justpay.WithdrawalKindStandard, a.WithdrawalAddress, amount, fee, net)
		return err
	})
	return w, err
}

// Panic queues a withdrawal of the whole available balance to the emergency address.
// See justpay.WalletService.
func (s *Store) Panic(ctx context.Context, agentID string) (*justpay.Withdrawal, error) {
	var w *justpay.Withdrawal
	err := s.update(ctx, func(tx *Tx) error {
		a, err := tx.startMoneyAction(ctx, agentID)
		if err != nil {
			return err
		}
		b, err := agentBalance(ctx, tx, agentID)
		if err != nil {
			return err
		}
		amount, fee, net, err := justpay.PlanPanic(a, b.Available)
		if err != nil {
			return err
		}
		w, err = tx.queueWithdrawal(ctx, a, justpay.WithdrawalKindPanic, a.EmergencyAddress, amount, fee, net)
		return err
	})
	return w, err
}

// startMoneyAction begins every action that moves an agent's money: it spends the request's
// Idempotency-Key, if any, and locks the agent's row, which serializes the agent's money actions.
func (tx *Tx) startMoneyAction(ctx context.Context, agentID string) (*justpay.Agent, error) {
	if err := tx.applyIdempotency(ctx); err != nil {
		return nil, err
	}
	return tx.findAgent(ctx, agentID, true)
}

// queueWithdrawal moves amount from available to pending and queues the send for the worker.
func (tx *Tx) queueWithdrawal(ctx context.Context, a *justpay.Agent, kind, address string, amount, fee, net int64) (*justpay.Withdrawal, error) {
	w := &justpay.Withdrawal{ID: justpay.NewID(tx.now), AgentID: a.ID, Kind: kind, Address: address, Amount: amount, Fee: fee,
		NetAmount: net, Status: justpay.WithdrawalQueued, CreatedAt: tx.now, UpdatedAt: tx.now}
	lt := justpay.Transfer(justpay.TxWithdrawal, justpay.AgentAvailable(a.ID), justpay.AgentPending(a.ID), amount)
	lt.RefType, lt.RefID = "withdrawal", w.ID
	lt.Description = fmt.Sprintf("%s withdrawal to %s (%s gas fee)", kind, address, justpay.FormatUSDC(fee))
	if _, err := tx.post(ctx, lt); err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO withdrawals (id, agent_id, kind, address, amount, fee, net_amount, status,
		next_attempt_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $9)`,
		w.ID, a.ID, kind, address, amount, fee, net, w.Status, tx.now); err != nil {
		return nil, fmt.Errorf("insert withdrawal: %w", err)
	}
	return w, nil
}

// FindTransactions lists the ledger transactions that moved the agent's available balance, and
// those that moved the pools of its campaigns without touching its available balance (tasks
// claimed from a pool, costs returned to it), so that a campaign owner sees its campaign's
// spending. See justpay.WalletService.
func (s *Store) FindTransactions(ctx context.Context, agentID string, f justpay.TransactionFilter) ([]*justpay.Transaction, int, error) {
	if err := f.Page.Validate(); err != nil {
		return nil, 0, err
	}
	if err := justpay.ValidateFilter("type", f.Type, justpay.TransactionTypes); err != nil {
		return nil, 0, err
	}
	where := `(p.account = $1 OR (p.account IN (SELECT b.account FROM ledger_balances b WHERE b.agent_id = $3 AND b.account LIKE 'escrow:campaign:%')
		AND NOT EXISTS (SELECT 1 FROM ledger_postings q WHERE q.tx_id = p.tx_id AND q.account = $1))) AND ($2 = '' OR t.type = $2)`
	args := []any{justpay.AgentAvailable(agentID), f.Type, agentID}
	return readPage(ctx, s.DB, listQuery{what: "transactions",
		columns: `t.id, t.type, p.amount, t.ref_type, t.ref_id, t.description, t.created_at`,
		from:    `FROM ledger_postings p JOIN ledger_transactions t ON t.id = p.tx_id WHERE ` + where,
		order:   `p.id DESC`, args: args}, f.Page, scanTransaction)
}

// scanTransaction reads a posting of the agent's as a transaction, its sign as the direction.
func scanTransaction(row scanner) (*justpay.Transaction, error) {
	var t justpay.Transaction
	if err := row.Scan(&t.ID, &t.Type, &t.Amount, &t.RefType, &t.RefID, &t.Description, &t.CreatedAt); err != nil {
		return nil, err
	}
	t.Direction, t.CreatedAt = "in", t.CreatedAt.UTC()
	if t.Amount < 0 {
		t.Direction, t.Amount = "out", -t.Amount
	}
	return &t, nil
}
