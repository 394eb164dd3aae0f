package sqlstore_test

import (
	"context"
	"database/sql"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/justpay/justpay"
	"github.com/justpay/justpay/sqlstore"
	"github.com/justpay/justpay/sqlstore/sqlstoretest"
)

func TestPostTransfer(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		db := sqlstoretest.MustOpen(t, b, sqlstoretest.NewClock())
		a, c := justpay.AgentAvailable("a"), justpay.AgentAvailable("c")
		for _, acc := range []string{a, c} {
			if err := db.OpenAccount(ctx, acc, strings.Split(acc, ":")[1]); err != nil {
				t.Fatal(err)
			}
		}
		mustPost(t, db, justpay.Transfer(justpay.TxDeposit, justpay.ExternalSolana, a, 100))
		mustPost(t, db, justpay.Transfer(justpay.TxSpent, a, c, 60))

		t.Run("ErrInsufficientFunds", func(t *testing.T) {
			_, err := db.PostTransfer(ctx, justpay.Transfer(justpay.TxSpent, a, c, 41))
			if code := justpay.ErrorCode(err); code != justpay.EINSUFFICIENT {
				t.Fatalf("code = %q (%v), want %q", code, err, justpay.EINSUFFICIENT)
			}
		})
		t.Run("ErrCreditOverflow", func(t *testing.T) {
			big := justpay.AgentAvailable("big")
			db.OpenAccount(ctx, big, "big")
			mustPost(t, db, justpay.Transfer(justpay.TxDeposit, justpay.ExternalNOWPayments, big, math.MaxInt64-10))
			_, err := db.PostTransfer(ctx, justpay.Transfer(justpay.TxDeposit, justpay.ExternalNOWPayments, big, 11))
			if code := justpay.ErrorCode(err); code != justpay.EINVALID {
				t.Fatalf("code = %q (%v), want %q", code, err, justpay.EINVALID)
			}
			mustPost(t, db, justpay.Transfer(justpay.TxDeposit, justpay.ExternalNOWPayments, big, 10))
			mustPost(t, db, justpay.Transfer(justpay.TxRefund, big, justpay.ExternalNOWPayments, math.MaxInt64))
		})
		t.Run("ErrUnbalanced", func(t *testing.T) {
			lt := justpay.LedgerTx{Type: justpay.TxSpent, Entries: []justpay.Entry{{Account: a, Amount: -1}, {Account: c, Amount: 2}}}
			if _, err := db.PostTransfer(ctx, lt); err == nil {
				t.Fatal("unbalanced transaction was posted")
			}
		})
		t.Run("ErrMissingAccount", func(t *testing.T) {
			if _, err := db.PostTransfer(ctx, justpay.Transfer(justpay.TxSpent, a, justpay.AgentAvailable("nobody"), 1)); err == nil {
				t.Fatal("posted to an account that does not exist")
			}
		})
		r := sqlstoretest.MustVerify(t, db)
		if r.Transactions != 5 || r.Postings != 10 {
			t.Fatalf("report = %+v, want 5 transactions and 10 postings", r)
		}
		if got := r.Totals["agent:*:available"]; got != 100 {
			t.Fatalf("agent total = %d, want 100", got)
		}
		if got := r.Totals[justpay.ExternalSolana]; got != -100 {
			t.Fatalf("external total = %d, want -100", got)
		}
	})
}

func mustPost(tb testing.TB, db *sqlstore.DB, lt justpay.LedgerTx) {
	tb.Helper()
	if _, err := db.PostTransfer(context.Background(), lt); err != nil {
		tb.Fatalf("post %s: %v", lt.Type, err)
	}
}

// Concurrent debits that together exceed the balance: exactly those that fit succeed.
func TestPostTransferConcurrentDebits(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		db := sqlstoretest.MustOpen(t, b, sqlstoretest.NewClock())
		src, dst := justpay.AgentAvailable("src"), justpay.AgentAvailable("dst")
		db.OpenAccount(ctx, src, "src")
		db.OpenAccount(ctx, dst, "dst")
		mustPost(t, db, justpay.Transfer(justpay.TxDeposit, justpay.ExternalSolana, src, 100))
		ok, insufficient := concurrently(t, 40, func() error {
			_, err := db.PostTransfer(ctx, justpay.Transfer(justpay.TxSpent, src, dst, 10))
			return err
		})
		if ok != 10 || insufficient != 30 {
			t.Fatalf("ok=%d insufficient=%d, want 10 and 30", ok, insufficient)
		}
		sqlstoretest.MustVerify(t, db)
	})
}

// concurrently calls fn n times at once and counts the calls that succeeded and those refused for
// insufficient funds; any other error fails the test.
func concurrently(t *testing.T, n int, fn func() error) (ok, insufficient int64) {
	t.Helper()
	var okN, insufficientN atomic.Int64
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			switch err := fn(); justpay.ErrorCode(err) {
			case "":
				okN.Add(1)
			case justpay.EINSUFFICIENT:
				insufficientN.Add(1)
			default:
				t.Errorf("unexpected error: %v", err)
			}
		})
	}
	wg.Wait()
	return okN.Load(), insufficientN.Load()
}

// The verifier finds each kind of corruption, written behind the store's back.
func TestVerifyLedgerFindsCorruption(t *testing.T) {
	for _, tc := range []struct {
		name    string
		corrupt string
		want    string
	}{
		{"BalanceDrift", `UPDATE ledger_balances SET balance = balance + 7 WHERE account = 'agent:a:available'`, "differs from its postings by 7"},
		{"Unbalanced", `UPDATE ledger_postings SET amount = amount + 1 WHERE account = 'agent:a:available'`, "does not balance"},
		{"ClosedEscrowNotZero", `UPDATE ledger_balances SET closed = TRUE WHERE account = 'agent:a:available'`, "closed escrow"},
		{"NoBalanceRow", `DELETE FROM ledger_balances WHERE account = 'agent:a:available'`, "no balance row"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
				ctx := context.Background()
				cfg := sqlstoretest.Config(t, b, sqlstoretest.NewClock())
				db, err := sqlstore.Open(ctx, cfg)
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				db.OpenAccount(ctx, justpay.AgentAvailable("a"), "a")
				mustPost(t, db, justpay.Transfer(justpay.TxDeposit, justpay.ExternalSolana, justpay.AgentAvailable("a"), 50))
				sqlstoretest.MustVerify(t, db)

				raw := rawDB(t, cfg)
				if _, err := raw.Exec(tc.corrupt); err != nil {
					t.Fatal(err)
				}
				r, err := db.VerifyLedger(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if r.OK() || !strings.Contains(strings.Join(r.Problems, "\n"), tc.want) {
					t.Fatalf("problems = %q, want one containing %q", r.Problems, tc.want)
				}
			})
		})
	}
}

// rawDB opens the test database without the store, to corrupt it on purpose.
func rawDB(tb testing.TB, cfg sqlstore.Config) *sql.DB {
	tb.Helper()
	driver, dsn := "sqlite", "file:"+cfg.SQLitePath
	if cfg.URL != "" {
		driver, dsn = "pgx", cfg.URL
	}
	raw, err := sql.Open(driver, dsn)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { raw.Close() })
	return raw
}
