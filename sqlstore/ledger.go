package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/justpay/justpay"
)

// openAccount creates the balance row of a materialized account, owned by agentID.
func (tx *Tx) openAccount(ctx context.Context, account, agentID string) error {
	if !justpay.IsMaterialized(account) {
		return fmt.Errorf("open account %s: not a materialized account", account)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO ledger_balances (account, agent_id) VALUES ($1, $2)`, account, agentID)
	if err != nil {
		return fmt.Errorf("open account %s: %w", account, err)
	}
	return nil
}

// closeAccount marks a finished escrow closed; it must be empty. A closed account takes no postings,
// so a hold can be released only once.
func (tx *Tx) closeAccount(ctx context.Context, account string) error {
	res, err := tx.ExecContext(ctx, `UPDATE ledger_balances SET closed = TRUE WHERE account = $1 AND balance = 0 AND NOT closed`, account)
	if err != nil {
		return fmt.Errorf("close account %s: %w", account, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("close account %s: not open or not empty", account)
	}
	return nil
}

// The statements of every ledger transaction.
const (
	// A debit may not take the balance below zero, a credit may not overflow it; neither
	// expression can overflow for an amount that LedgerTx.Validate let through.
	debitBalance   = `UPDATE ledger_balances SET balance = balance - $1 WHERE account = $2 AND NOT closed AND balance >= $1`
	creditBalance  = `UPDATE ledger_balances SET balance = balance + $1 WHERE account = $2 AND NOT closed AND balance <= 9223372036854775807 - $1`
	insertLedgerTx = `INSERT INTO ledger_transactions (id, created_at, type, ref_type, ref_id, description) VALUES ($1, $2, $3, $4, $5, $6)`
)

// insertPostings is the statement that inserts a transaction's n postings in one go.
func insertPostings(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO ledger_postings (tx_id, account, amount, created_at) VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "($1, $%d, $%d, $2)", 3+2*i, 4+2*i)
	}
	return b.String()
}

// insertLedgerTxWithPostings inserts the transaction row and its n postings in one statement, for
// databases with data-modifying WITH (PostgreSQL): the same arguments as insertLedgerTx, then an
// account and an amount per posting.
func insertLedgerTxWithPostings(n int) string {
	var b strings.Builder
	b.WriteString(`WITH t AS (` + insertLedgerTx + `) INSERT INTO ledger_postings (tx_id, account, amount, created_at) VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "($1, $%d, $%d, $2)", 7+2*i, 8+2*i)
	}
	return b.String()
}

// post writes one balanced ledger transaction: for each materialized account, in sorted order so
// that concurrent transactions lock rows in the same order, a conditional update that refuses to
// take a balance below zero; then the transaction row and its postings. It returns EINSUFFICIENT
// when a debit does not fit, naming the account's balance.
func (tx *Tx) post(ctx context.Context, lt justpay.LedgerTx) (string, error) {
	if err := lt.Validate(); err != nil {
		return "", err
	}
	if lt.ID == "" {
		lt.ID = justpay.NewID(tx.now)
	}
	entries := slices.Clone(lt.Entries)
	slices.SortFunc(entries, func(a, b justpay.Entry) int { return strings.Compare(a.Account, b.Account) })
	for _, e := range entries {
		if !justpay.IsMaterialized(e.Account) {
			continue
		}
		q, amount := debitBalance, -e.Amount
		if e.Amount > 0 {
			q, amount = creditBalance, e.Amount
		}
		res, err := tx.ExecContext(ctx, q, amount, e.Account)
		if err != nil {
			return "", fmt.Errorf("post %s to %s: %w", lt.Type, e.Account, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return "", tx.postRefused(ctx, e)
		}
	}
	args := make([]any, 0, 6+2*len(lt.Entries))
	args = append(args, lt.ID, tx.now, lt.Type, lt.RefType, lt.RefID, lt.Description)
	for _, e := range lt.Entries {
		args = append(args, e.Account, e.Amount)
	}
	if tx.db.dialect.writableCTE {
		// One round trip instead of two, where the database allows it.
		if _, err := tx.ExecContext(ctx, insertLedgerTxWithPostings(len(lt.Entries)), args...); err != nil {
			return "", fmt.Errorf("insert ledger transaction: %w", err)
		}
		return lt.ID, nil
	}
	if _, err := tx.ExecContext(ctx, insertLedgerTx, args[:6]...); err != nil {
		return "", fmt.Errorf("insert ledger transaction: %w", err)
	}
	if _, err := tx.ExecContext(ctx, insertPostings(len(lt.Entries)), append(args[:2:2], args[6:]...)...); err != nil {
		return "", fmt.Errorf("insert postings: %w", err)
	}
	return lt.ID, nil
}

// postRefused explains why a conditional balance update matched no row.
func (tx *Tx) postRefused(ctx context.Context, e justpay.Entry) error {
	var balance int64
	var closed bool
	err := tx.QueryRowContext(ctx, `SELECT balance, closed FROM ledger_balances WHERE account = $1`, e.Account).Scan(&balance, &closed)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("post to %s: account does not exist", e.Account)
	case err != nil:
		return fmt.Errorf("post to %s: %w", e.Account, err)
	case closed:
		return justpay.Errorf(justpay.ECONFLICT, "the escrow has already been released")
	case e.Amount > 0:
		return justpay.Errorf(justpay.EINVALID, "amount too large: the balance would exceed %s", justpay.FormatUSDC(math.MaxInt64))
	}
	return justpay.Errorf(justpay.EINSUFFICIENT, "insufficient funds: the balance is %s and this needs %s",
		justpay.FormatUSDC(balance), justpay.FormatUSDC(-e.Amount))
}

// OpenAccount creates a materialized account owned by agentID. Benchmarks and tests use it; the
// services open their accounts inside their own transactions.
func (db *DB) OpenAccount(ctx context.Context, account, agentID string) error {
	return db.update(ctx, func(tx *Tx) error { return tx.openAccount(ctx, account, agentID) })
}

// PostTransfer writes one ledger transaction in a transaction of its own and returns its ID.
// Errors: EINSUFFICIENT when a materialized account would go negative.
func (db *DB) PostTransfer(ctx context.Context, lt justpay.LedgerTx) (string, error) {
	var id string
	err := db.update(ctx, func(tx *Tx) (err error) {
		id, err = tx.post(ctx, lt)
		return err
	})
	return id, err
}

// agentBalance reads an agent's balances from its materialized accounts.
func agentBalance(ctx context.Context, q queryer, agentID string) (*justpay.Balance, error) {
	rows, err := q.QueryContext(ctx, `SELECT account, balance FROM ledger_balances WHERE agent_id = $1`, agentID)
	if err != nil {
		return nil, fmt.Errorf("read balances: %w", err)
	}
	defer rows.Close()
	var b justpay.Balance
	for rows.Next() {
		var account string
		var balance int64
		if err := rows.Scan(&account, &balance); err != nil {
			return nil, err
		}
		switch account {
		case justpay.AgentAvailable(agentID):
			b.Available = balance
		case justpay.AgentPending(agentID):
			b.Pending = balance
		default:
			b.Escrowed += balance
		}
	}
	return &b, rows.Err()
}

// maxProblems caps how many offending rows a ledger check lists per rule.
const maxProblems = 100

// VerifyLedger checks the ledger invariant on one snapshot. See justpay.LedgerService.
func (db *DB) VerifyLedger(ctx context.Context) (*justpay.LedgerReport, error) {
	r := &justpay.LedgerReport{Totals: map[string]int64{}, Problems: []string{}}
	err := db.view(ctx, func(tx *Tx) error {
		for _, c := range []struct {
			query string
			dst   *int64
		}{
			{`SELECT COUNT(*) FROM ledger_transactions`, &r.Transactions},
			{`SELECT COUNT(*) FROM ledger_postings`, &r.Postings},
			{`SELECT COUNT(DISTINCT account) FROM ledger_postings`, &r.Accounts},
		} {
			if err := tx.QueryRowContext(ctx, c.query).Scan(c.dst); err != nil {
				return fmt.Errorf("count: %w", err)
			}
		}
		checks := []struct {
			query  string
			format string
		}{
			{`SELECT tx_id, SUM(amount) FROM ledger_postings GROUP BY tx_id HAVING SUM(amount) <> 0`,
				"transaction %s does not balance: its postings sum to %d"},
			{`SELECT tx_id, COUNT(*) FROM ledger_postings GROUP BY tx_id HAVING COUNT(*) < 2`,
				"transaction %s has %d posting(s), fewer than two"},
			{`SELECT id, 0 FROM ledger_transactions WHERE id NOT IN (SELECT tx_id FROM ledger_postings)`,
				"transaction %s has %d postings, fewer than two"},
			{`SELECT b.account, b.balance - COALESCE((SELECT SUM(p.amount) FROM ledger_postings p WHERE p.account = b.account), 0)
				FROM ledger_balances b
				WHERE b.balance <> COALESCE((SELECT SUM(p.amount) FROM ledger_postings p WHERE p.account = b.account), 0)`,
				"account %s: materialized balance differs from its postings by %d"},
			{`SELECT account, balance FROM ledger_balances WHERE balance < 0`,
				"account %s has a negative balance %d"},
			{`SELECT account, balance FROM ledger_balances WHERE closed AND balance <> 0`,
				"closed escrow %s holds %d"},
			{`SELECT c.id, b.balance FROM campaigns c JOIN ledger_balances b ON b.account = 'escrow:campaign:' || c.id
				WHERE c.status IN ('completed', 'ended', 'cancelled') AND b.balance <> 0`,
				"finished campaign %s still holds %d in its pool"},
			{`SELECT t.id, b.balance FROM campaign_tasks t JOIN ledger_balances b ON b.account = 'escrow:campaign_task:' || t.id
				WHERE t.status IN ('accepted', 'rejected', 'expired', 'cancelled') AND (b.balance <> 0 OR NOT b.closed)`,
				"finished campaign task %s: escrow holds %d or is open"},
			{`SELECT p.account, SUM(p.amount) FROM ledger_postings p
				WHERE (p.account LIKE 'agent:%' OR p.account LIKE 'escrow:%')
				  AND NOT EXISTS (SELECT 1 FROM ledger_balances b WHERE b.account = p.account)
				GROUP BY p.account`,
				"account %s has postings summing to %d but no balance row"},
			{`SELECT 'all accounts', SUM(amount) FROM ledger_postings HAVING SUM(amount) <> 0`,
				"%s together sum to %d instead of zero"},
		}
		for _, c := range checks {
			if err := collectProblems(ctx, tx, c.query, c.format, r); err != nil {
				return err
			}
		}
		return ledgerTotals(ctx, tx, r.Totals)
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

func collectProblems(ctx context.Context, tx *Tx, query, format string, r *justpay.LedgerReport) error {
	rows, err := tx.QueryContext(ctx, query)
	if err != nil {
		return fmt.Errorf("ledger check: %w", err)
	}
	defer rows.Close()
	for n := 0; rows.Next(); n++ {
		var what string
		var amount int64
		if err := rows.Scan(&what, &amount); err != nil {
			return err
		}
		if n < maxProblems {
			r.Problems = append(r.Problems, fmt.Sprintf(format, what, amount))
		}
	}
	return rows.Err()
}

// ledgerTotals sums balances by account class: derived accounts by name, materialized accounts by
// their kind with the id replaced by '*'.
func ledgerTotals(ctx context.Context, tx *Tx, totals map[string]int64) error {
	rows, err := tx.QueryContext(ctx, `SELECT account, SUM(amount) FROM ledger_postings GROUP BY account`)
	if err != nil {
		return fmt.Errorf("ledger totals: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var account string
		var sum int64
		if err := rows.Scan(&account, &sum); err != nil {
			return err
		}
		totals[accountClass(account)] += sum
	}
	return rows.Err()
}

func accountClass(account string) string {
	parts := strings.Split(account, ":")
	switch {
	case parts[0] == "agent" && len(parts) == 3:
		return "agent:*:" + parts[2]
	case parts[0] == "escrow" && len(parts) == 3:
		return "escrow:" + parts[1] + ":*"
	}
	return account
}
