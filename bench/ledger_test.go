package bench_test

import (
	"context"
	"testing"

	"github.com/justpay/justpay"
	"github.com/justpay/justpay/sqlstore/sqlstoretest"
)

// BenchmarkLedgerTransfer and BenchmarkRawTransfer are the single-caller halves of
// `justpay bench ledger`, for profiling with go test -bench.
func BenchmarkLedgerTransfer(b *testing.B) {
	for _, be := range sqlstoretest.Backends() {
		b.Run(be.Name, func(b *testing.B) {
			ctx := context.Background()
			db := sqlstoretest.MustOpen(b, be, justpay.SystemClock{})
			a, c := justpay.AgentAvailable("a"), justpay.AgentAvailable("c")
			db.OpenAccount(ctx, a, "a")
			db.OpenAccount(ctx, c, "c")
			if _, err := db.PostTransfer(ctx, justpay.Transfer(justpay.TxDeposit, justpay.ExternalSolana, a, 1<<40)); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := db.PostTransfer(ctx, justpay.Transfer(justpay.TxSpent, a, c, 1)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkRawTransfer(b *testing.B) {
	for _, be := range sqlstoretest.Backends() {
		b.Run(be.Name, func(b *testing.B) {
			ctx := context.Background()
			db := sqlstoretest.MustOpen(b, be, justpay.SystemClock{})
			raw, err := db.PrepareRawBench(ctx, []string{"a"}, 1<<40)
			if err != nil {
				b.Fatal(err)
			}
			defer raw.Close()
			b.ResetTimer()
			for b.Loop() {
				if err := raw.Transfer(ctx, "a", 1); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
