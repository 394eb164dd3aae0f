package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/justpay/justpay"
	"github.com/justpay/justpay/sqlstore"
)

// LedgerTransfers measures ledger transfers (conditional debit, credit, transaction row and
// postings, in one database transaction) against the raw baseline (one conditional update and one
// insert in a transaction, both prepared) for each caller count. Each caller moves money between accounts of its
// own, so the figures measure the ledger and not contention on one row. Runs alternate raw and
// ledger rounds times, to share out drift in the machine's speed.
func LedgerTransfers(ctx context.Context, db *sqlstore.DB, callers []int, d time.Duration, rounds int) ([][2]Result, error) {
	maxCallers := 0
	for _, c := range callers {
		maxCallers = max(maxCallers, c)
	}
	const funds = 1_000_000_000_000
	var raw []string
	for i := range maxCallers {
		a, b := benchAccount(i, "a"), benchAccount(i, "b")
		for _, acc := range []string{a, b} {
			if err := db.OpenAccount(ctx, acc, "bench"); err != nil {
				return nil, err
			}
		}
		if _, err := db.PostTransfer(ctx, justpay.Transfer(justpay.TxDeposit, justpay.ExternalSolana, a, funds)); err != nil {
			return nil, err
		}
		raw = append(raw, a)
	}
	rawBench, err := db.PrepareRawBench(ctx, raw, funds)
	if err != nil {
		return nil, err
	}
	defer rawBench.Close()
	// Each ledger caller moves one micro-unit back and forth between its two accounts.
	flips := make([]bool, maxCallers)
	ledgerOp := func(ctx context.Context, c int) error {
		from, to := benchAccount(c, "a"), benchAccount(c, "b")
		if flips[c] {
			from, to = to, from
		}
		flips[c] = !flips[c]
		_, err := db.PostTransfer(ctx, justpay.Transfer(justpay.TxSpent, from, to, 1))
		return err
	}
	rawOp := func(ctx context.Context, c int) error { return rawBench.Transfer(ctx, raw[c], 1) }

	var out [][2]Result
	for _, c := range callers {
		var raws, ledgers []Result
		for range rounds {
			r, err := run(ctx, "raw update+insert", c, d, rawOp)
			if err != nil {
				return nil, err
			}
			l, err := run(ctx, "ledger transfer", c, d, ledgerOp)
			if err != nil {
				return nil, err
			}
			raws, ledgers = append(raws, r), append(ledgers, l)
		}
		out = append(out, [2]Result{Merge(raws), Merge(ledgers)})
	}
	report, err := db.VerifyLedger(ctx)
	if err != nil {
		return nil, err
	}
	if !report.OK() {
		return nil, fmt.Errorf("ledger invariant broken after the benchmark: %v", report.Problems)
	}
	return out, nil
}

func benchAccount(i int, side string) string {
	return justpay.AgentAvailable(fmt.Sprintf("bench%d%s", i, side))
}
