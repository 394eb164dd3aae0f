package sqlstore_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/justpay/justpay"
	"github.com/justpay/justpay/devchain"
	"github.com/justpay/justpay/scheduler"
	"github.com/justpay/justpay/sqlstore/sqlstoretest"
)

const usdc = justpay.MicroPerUSDC

func newScheduler(env *sqlstoretest.Env) *scheduler.Scheduler {
	return &scheduler.Scheduler{Store: env.Store, Chain: env.Chain, Clock: env.Clock, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

func wantCode(tb testing.TB, err error, code string) {
	tb.Helper()
	if got := justpay.ErrorCode(err); got != code {
		tb.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

func TestConfirmDeposits(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		env := sqlstoretest.NewEnv(t, b)

		t.Run("FirstDepositActivates", func(t *testing.T) {
			a, _ := env.MustRegister(t, "activator")
			wallet := sqlstoretest.NewWallet(t)
			r := env.MustDeposit(t, a, wallet, 9*usdc)
			if !r.Activated || r.TotalCredited != 9*usdc || len(r.Deposits) != 1 || !r.Deposits[0].Activated || r.SuggestedAddress != wallet {
				t.Fatalf("result = %+v", r)
			}
			if got := env.MustBalance(t, a.ID); got.Available != 8*usdc {
				t.Fatalf("available = %d, want 8 USDC after the activation fee", got.Available)
			}
			agent, _ := env.Store.FindAgentByID(ctx, a.ID)
			if !agent.Activated || agent.EmergencyAddress != wallet || agent.ActivatedAt == nil {
				t.Fatalf("agent = %+v", agent)
			}
			// Nothing new: nothing credited twice.
			r, err := env.Store.ConfirmDeposits(ctx, a.ID)
			if err != nil || len(r.Deposits) != 0 || r.TotalCredited != 0 || !r.Activated {
				t.Fatalf("second confirm = %+v, %v", r, err)
			}
			// A later deposit from another wallet charges no fee and keeps the emergency address.
			env.MustDeposit(t, a, sqlstoretest.NewWallet(t), 3*usdc)
			if got := env.MustBalance(t, a.ID); got.Available != 11*usdc {
				t.Fatalf("available = %d, want 11 USDC", got.Available)
			}
			agent, _ = env.Store.FindAgentByID(ctx, a.ID)
			if agent.EmergencyAddress != wallet {
				t.Fatalf("emergency address moved to %s", agent.EmergencyAddress)
			}
		})
		t.Run("SmallDepositDoesNotActivate", func(t *testing.T) {
			a, _ := env.MustRegister(t, "small")
			first := sqlstoretest.NewWallet(t)
			r := env.MustDeposit(t, a, first, usdc/2)
			if r.Activated || r.TotalCredited != usdc/2 {
				t.Fatalf("result = %+v", r)
			}
			r = env.MustDeposit(t, a, sqlstoretest.NewWallet(t), usdc/2)
			if r.Activated {
				t.Fatal("two half deposits activated: activation needs one deposit of at least 1 USDC")
			}
			r = env.MustDeposit(t, a, sqlstoretest.NewWallet(t), usdc)
			if !r.Activated || r.SuggestedAddress != first {
				t.Fatalf("result = %+v, want activation and the first wallet suggested", r)
			}
			if got := env.MustBalance(t, a.ID); got.Available != usdc {
				t.Fatalf("available = %d, want 1 USDC (2 deposited, 1 fee)", got.Available)
			}
		})
		t.Run("OnlyOwnAddress", func(t *testing.T) {
			a, _ := env.MustRegister(t, "own")
			other, _ := env.MustRegister(t, "not-own")
			env.MustDeposit(t, other, sqlstoretest.NewWallet(t), 2*usdc)
			r, err := env.Store.ConfirmDeposits(ctx, a.ID)
			if err != nil || len(r.Deposits) != 0 {
				t.Fatalf("confirm = %+v, %v", r, err)
			}
		})
		t.Run("SeveralAtOnceInChainOrder", func(t *testing.T) {
			a, _ := env.MustRegister(t, "several")
			w := sqlstoretest.NewWallet(t)
			for _, amt := range []int64{usdc / 4, 2 * usdc, 3 * usdc} {
				if _, err := env.Chain.Transfer(ctx, w, a.DepositAddress, amt); err != nil {
					t.Fatal(err)
				}
			}
			r, err := env.Store.ConfirmDeposits(ctx, a.ID)
			if err != nil || len(r.Deposits) != 3 || r.TotalCredited != 5*usdc+usdc/4 {
				t.Fatalf("confirm = %+v, %v", r, err)
			}
			if r.Deposits[0].Activated || !r.Deposits[1].Activated || r.Deposits[2].Activated {
				t.Fatalf("activation should be the 2 USDC deposit only: %+v", r.Deposits)
			}
		})
		t.Run("ErrUnknownAgent", func(t *testing.T) {
			_, err := env.Store.ConfirmDeposits(ctx, "cnobody")
			wantCode(t, err, justpay.ENOTFOUND)
		})
		r := sqlstoretest.MustVerify(t, env.DB)
		if r.Totals[justpay.PlatformRevenue] != 4*usdc {
			t.Fatalf("revenue = %d, want 4 activation fees", r.Totals[justpay.PlatformRevenue])
		}
	})
}

func TestWithdrawalAddress(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		env := sqlstoretest.NewEnv(t, b)
		a, _ := env.MustRegister(t, "addr")
		env.MustActivate(t, a, 20*usdc)
		first, second := sqlstoretest.NewWallet(t), sqlstoretest.NewWallet(t)

		for _, bad := range []string{"", "not-base58-0OIl", "1111", a.DepositAddress} {
			_, err := env.Store.SetWithdrawalAddress(ctx, a.ID, bad)
			wantCode(t, err, justpay.EINVALID)
		}
		c, err := env.Store.SetWithdrawalAddress(ctx, a.ID, first)
		if err != nil || c.Changed || c.CooldownUntil != nil {
			t.Fatalf("first set = %+v, %v; want no cooldown", c, err)
		}
		c, err = env.Store.SetWithdrawalAddress(ctx, a.ID, first)
		if err != nil || c.Changed || c.CooldownUntil != nil {
			t.Fatalf("same again = %+v, %v; want no change", c, err)
		}
		if _, err := env.Store.Withdraw(ctx, a.ID, 5*usdc); err != nil {
			t.Fatalf("withdraw before change: %v", err)
		}
		c, err = env.Store.SetWithdrawalAddress(ctx, a.ID, second)
		if err != nil || !c.Changed || c.CooldownUntil == nil || !c.CooldownUntil.Equal(env.Clock.Now().Add(24*time.Hour)) {
			t.Fatalf("change = %+v, %v; want a 24h cooldown", c, err)
		}
		events, _ := env.DB.FindEvents(ctx, a.ID)
		if len(events) != 1 || events[0].Type != justpay.EventWalletAddressChanged || events[0].Data["newAddress"] != second {
			t.Fatalf("events = %+v", events)
		}
		_, agent, _ := env.Store.Balance(ctx, a.ID)
		if w := justpay.BalanceWarnings(agent, env.Clock.Now()); len(w) != 1 {
			t.Fatalf("warnings = %q", w)
		}
		_, err = env.Store.Withdraw(ctx, a.ID, 5*usdc)
		wantCode(t, err, justpay.EFORBIDDEN)

		env.Clock.Advance(24*time.Hour - time.Second)
		_, err = env.Store.Withdraw(ctx, a.ID, 5*usdc)
		wantCode(t, err, justpay.EFORBIDDEN)
		env.Clock.Advance(time.Second)
		w, err := env.Store.Withdraw(ctx, a.ID, 5*usdc)
		if err != nil || w.Address != second {
			t.Fatalf("withdraw after cooldown = %+v, %v", w, err)
		}
		_, agent, _ = env.Store.Balance(ctx, a.ID)
		if w := justpay.BalanceWarnings(agent, env.Clock.Now()); len(w) != 0 {
			t.Fatalf("warnings after cooldown = %q", w)
		}
		sqlstoretest.MustVerify(t, env.DB)
	})
}

func TestWithdraw(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		env := sqlstoretest.NewEnv(t, b)
		sched := newScheduler(env)
		a, _ := env.MustRegister(t, "withdrawer")
		env.MustActivate(t, a, 21*usdc) // 20 available
		dest := sqlstoretest.NewWallet(t)

		_, err := env.Store.Withdraw(ctx, a.ID, 5*usdc)
		wantCode(t, err, justpay.EINVALID) // no address yet
		if _, err := env.Store.SetWithdrawalAddress(ctx, a.ID, dest); err != nil {
			t.Fatal(err)
		}
		_, err = env.Store.Withdraw(ctx, a.ID, 5*usdc-1)
		wantCode(t, err, justpay.EINVALID)
		before := env.MustBalance(t, a.ID)
		_, err = env.Store.Withdraw(ctx, a.ID, 20*usdc+1)
		wantCode(t, err, justpay.EINSUFFICIENT)
		if after := env.MustBalance(t, a.ID); after != before {
			t.Fatalf("refused withdrawal changed balances: %+v -> %+v", before, after)
		}

		t.Run("Settles", func(t *testing.T) {
			w, err := env.Store.Withdraw(ctx, a.ID, 5*usdc)
			if err != nil || w.Fee != justpay.WithdrawalFee || w.NetAmount != 5*usdc-justpay.WithdrawalFee || w.Status != justpay.WithdrawalQueued {
				t.Fatalf("withdraw = %+v, %v", w, err)
			}
			if got := env.MustBalance(t, a.ID); got.Available != 15*usdc || got.Pending != 5*usdc {
				t.Fatalf("balance = %+v, want 15 available and 5 pending", got)
			}
			if err := sched.RunOnce(ctx); err != nil {
				t.Fatal(err)
			}
			w, _ = env.DB.FindWithdrawalByID(ctx, a.ID, w.ID)
			if w.Status != justpay.WithdrawalCompleted || w.Signature == "" || w.CompletedAt == nil {
				t.Fatalf("withdrawal = %+v", w)
			}
			if got := env.MustBalance(t, a.ID); got.Pending != 0 || got.Available != 15*usdc {
				t.Fatalf("balance = %+v", got)
			}
			deposits, _ := env.Chain.FindDeposits(ctx, dest)
			if len(deposits) != 1 || deposits[0].Amount != 4_900_000 || deposits[0].From != devchain.HotWallet {
				t.Fatalf("chain received %+v", deposits)
			}
		})
		t.Run("RejectedSendRefunds", func(t *testing.T) {
			env.Chain.RejectSendsTo(dest)
			w, err := env.Store.Withdraw(ctx, a.ID, 5*usdc)
			if err != nil {
				t.Fatal(err)
			}
			sched.RunOnce(ctx)
			w, _ = env.DB.FindWithdrawalByID(ctx, a.ID, w.ID)
			if w.Status != justpay.WithdrawalFailed || w.FailureReason == "" {
				t.Fatalf("withdrawal = %+v", w)
			}
			if got := env.MustBalance(t, a.ID); got.Pending != 0 || got.Available != 15*usdc {
				t.Fatalf("balance = %+v, want everything back", got)
			}
		})
		t.Run("TransientFailureRetries", func(t *testing.T) {
			b, _ := env.MustRegister(t, "retrier")
			env.MustActivate(t, b, 11*usdc)
			bdest := sqlstoretest.NewWallet(t)
			env.Store.SetWithdrawalAddress(ctx, b.ID, bdest)
			w, err := env.Store.Withdraw(ctx, b.ID, 10*usdc)
			if err != nil {
				t.Fatal(err)
			}
			env.Chain.LoseNextSendResponses(1) // the send lands but its answer is lost
			sched.RunOnce(ctx)
			w, _ = env.DB.FindWithdrawalByID(ctx, b.ID, w.ID)
			if w.Status != justpay.WithdrawalSending || w.Attempts != 1 {
				t.Fatalf("after a lost response = %+v", w)
			}
			sched.RunOnce(ctx) // not due yet
			env.Clock.Advance(time.Second)
			sched.RunOnce(ctx)
			w, _ = env.DB.FindWithdrawalByID(ctx, b.ID, w.ID)
			if w.Status != justpay.WithdrawalCompleted || w.Attempts != 2 {
				t.Fatalf("after retry = %+v", w)
			}
			deposits, _ := env.Chain.FindDeposits(ctx, bdest)
			if len(deposits) != 1 {
				t.Fatalf("the retry sent twice: %+v", deposits)
			}
		})
		sqlstoretest.MustVerify(t, env.DB)
	})
}

func TestPanic(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		env := sqlstoretest.NewEnv(t, b)
		a, _ := env.MustRegister(t, "panicker")
		_, err := env.Store.Panic(ctx, a.ID)
		wantCode(t, err, justpay.ECONFLICT) // no emergency address yet

		home := env.MustActivate(t, a, 10*usdc)
		env.Store.SetWithdrawalAddress(ctx, a.ID, sqlstoretest.NewWallet(t))
		env.Store.SetWithdrawalAddress(ctx, a.ID, sqlstoretest.NewWallet(t)) // attacker's change: cooldown
		w, err := env.Store.Panic(ctx, a.ID)
		if err != nil || w.Address != home || w.Amount != 9*usdc || w.NetAmount != 9*usdc-justpay.WithdrawalFee || w.Kind != justpay.WithdrawalKindPanic {
			t.Fatalf("panic = %+v, %v", w, err)
		}
		_, err = env.Store.Panic(ctx, a.ID)
		wantCode(t, err, justpay.EINSUFFICIENT) // nothing left
		newScheduler(env).RunOnce(ctx)
		got, _ := env.Chain.FindDeposits(ctx, home)
		if len(got) != 1 || got[0].Amount != 9*usdc-justpay.WithdrawalFee {
			t.Fatalf("emergency wallet received %+v", got)
		}
		// Funding again charges no second activation fee.
		env.MustDeposit(t, a, home, 2*usdc)
		if bal := env.MustBalance(t, a.ID); bal.Available != 2*usdc {
			t.Fatalf("available = %d, want 2 USDC", bal.Available)
		}
		agent, _ := env.Store.FindAgentByID(ctx, a.ID)
		if !agent.Activated {
			t.Fatal("panic deactivated the agent")
		}
		sqlstoretest.MustVerify(t, env.DB)
	})
}

func TestFindTransactions(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		env := sqlstoretest.NewEnv(t, b)
		a, _ := env.MustRegister(t, "historian")
		env.MustActivate(t, a, 30*usdc)
		env.Store.SetWithdrawalAddress(ctx, a.ID, sqlstoretest.NewWallet(t))
		env.Store.Withdraw(ctx, a.ID, 5*usdc)
		env.Store.Withdraw(ctx, a.ID, 6*usdc)
		newScheduler(env).RunOnce(ctx) // settlement does not touch available: not listed

		all, total, err := env.Store.FindTransactions(ctx, a.ID, justpay.TransactionFilter{Page: justpay.Page{Page: 1, Limit: 20}})
		if err != nil || total != 4 || len(all) != 4 {
			t.Fatalf("transactions = %d of %d, %v", len(all), total, err)
		}
		want := []struct {
			typ, dir string
			amount   int64
		}{{"withdrawal", "out", 6 * usdc}, {"withdrawal", "out", 5 * usdc}, {"fee", "out", usdc}, {"deposit", "in", 30 * usdc}}
		for i, w := range want {
			if all[i].Type != w.typ || all[i].Direction != w.dir || all[i].Amount != w.amount {
				t.Fatalf("transaction %d = %+v, want %+v", i, all[i], w)
			}
		}
		page2, total, _ := env.Store.FindTransactions(ctx, a.ID, justpay.TransactionFilter{Page: justpay.Page{Page: 2, Limit: 3}})
		if total != 4 || len(page2) != 1 || page2[0].Type != "deposit" {
			t.Fatalf("page 2 = %+v (total %d)", page2, total)
		}
		fees, total, _ := env.Store.FindTransactions(ctx, a.ID, justpay.TransactionFilter{Type: "fee", Page: justpay.Page{Page: 1, Limit: 20}})
		if total != 1 || len(fees) != 1 || fees[0].Description != "activation fee" {
			t.Fatalf("fees = %+v", fees)
		}
		_, _, err = env.Store.FindTransactions(ctx, a.ID, justpay.TransactionFilter{Type: "bogus", Page: justpay.Page{Page: 1, Limit: 20}})
		wantCode(t, err, justpay.EINVALID)
		_, _, err = env.Store.FindTransactions(ctx, a.ID, justpay.TransactionFilter{Page: justpay.Page{Page: 1, Limit: 101}})
		wantCode(t, err, justpay.EINVALID)
	})
}

func TestIdempotency(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		env := sqlstoretest.NewEnv(t, b)
		a, _ := env.MustRegister(t, "idem")
		env.MustActivate(t, a, 30*usdc)
		env.Store.SetWithdrawalAddress(ctx, a.ID, sqlstoretest.NewWallet(t))
		claim := justpay.IdempotencyClaim{Scope: a.ID, Key: "withdraw-1"}

		replay, err := env.Store.BeginIdempotent(ctx, claim, "fp1")
		if err != nil || replay != nil {
			t.Fatalf("begin = %+v, %v", replay, err)
		}
		_, err = env.Store.BeginIdempotent(ctx, claim, "fp1")
		wantCode(t, err, justpay.ECONFLICT) // in flight
		_, err = env.Store.BeginIdempotent(ctx, claim, "fp2")
		wantCode(t, err, justpay.EUNPROCESSABLE)

		cctx := justpay.WithIdempotencyClaim(ctx, claim)
		if _, err := env.Store.Withdraw(cctx, a.ID, 5*usdc); err != nil {
			t.Fatal(err)
		}
		// The same claim can never move money twice, even if the caller runs it again.
		_, err = env.Store.Withdraw(cctx, a.ID, 5*usdc)
		wantCode(t, err, justpay.ECONFLICT)
		if bal := env.MustBalance(t, a.ID); bal.Pending != 5*usdc {
			t.Fatalf("pending = %d, want one withdrawal", bal.Pending)
		}
		_, err = env.Store.BeginIdempotent(ctx, claim, "fp1")
		wantCode(t, err, justpay.ECONFLICT) // applied, response not stored yet

		if err := env.Store.FinishIdempotent(ctx, claim, justpay.StoredResponse{Status: 200, Body: []byte(`{"ok":true}`)}); err != nil {
			t.Fatal(err)
		}
		replay, err = env.Store.BeginIdempotent(ctx, claim, "fp1")
		if err != nil || replay == nil || replay.Status != 200 || string(replay.Body) != `{"ok":true}` {
			t.Fatalf("replay = %+v, %v", replay, err)
		}

		t.Run("AbortReleases", func(t *testing.T) {
			c := justpay.IdempotencyClaim{Scope: a.ID, Key: "aborted"}
			env.Store.BeginIdempotent(ctx, c, "fp")
			if err := env.Store.AbortIdempotent(ctx, c); err != nil {
				t.Fatal(err)
			}
			if r, err := env.Store.BeginIdempotent(ctx, c, "other"); err != nil || r != nil {
				t.Fatalf("begin after abort = %+v, %v", r, err)
			}
		})
		t.Run("StaleClaimTakenOver", func(t *testing.T) {
			c := justpay.IdempotencyClaim{Scope: a.ID, Key: "stale"}
			env.Store.BeginIdempotent(ctx, c, "fp")
			env.Clock.Advance(justpay.IdempotencyClaimTimeout + time.Second)
			if r, err := env.Store.BeginIdempotent(ctx, c, "fp"); err != nil || r != nil {
				t.Fatalf("takeover = %+v, %v", r, err)
			}
		})
		t.Run("ScopedPerAgent", func(t *testing.T) {
			other, _ := env.MustRegister(t, "idem-other")
			if r, err := env.Store.BeginIdempotent(ctx, justpay.IdempotencyClaim{Scope: other.ID, Key: "withdraw-1"}, "fpX"); err != nil || r != nil {
				t.Fatalf("another agent's same key = %+v, %v", r, err)
			}
		})
		t.Run("ExpiresAfterTTL", func(t *testing.T) {
			env.Clock.Advance(justpay.IdempotencyKeyTTL + time.Second)
			if n, err := env.DB.PurgeIdempotencyKeys(ctx); err != nil || n == 0 {
				t.Fatalf("purge = %d, %v", n, err)
			}
			if r, err := env.Store.BeginIdempotent(ctx, claim, "new"); err != nil || r != nil {
				t.Fatalf("reuse after TTL = %+v, %v", r, err)
			}
		})
		sqlstoretest.MustVerify(t, env.DB)
	})
}
