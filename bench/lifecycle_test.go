package bench_test

import (
	"context"
	"testing"

	"github.com/justpay/justpay"
	"github.com/justpay/justpay/sqlstore/sqlstoretest"
)

// The raw baseline of the lifecycle benchmark keeps its transactions honest: each step is
// conditional on the one before, and a client cannot spend more than it holds.
func TestRawLifecycle(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		db := sqlstoretest.MustOpen(t, b, justpay.SystemClock{})
		raw, err := db.PrepareRawLifecycle(ctx, 2, 2500)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()

		id, err := raw.Create(ctx, 1, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if err := raw.Complete(ctx, id); justpay.ErrorCode(err) != justpay.ECONFLICT {
			t.Fatalf("complete before delivery: %v, want ECONFLICT", err)
		}
		if err := raw.Deliver(ctx, id); err != nil {
			t.Fatal(err)
		}
		if err := raw.Deliver(ctx, id); justpay.ErrorCode(err) != justpay.ECONFLICT {
			t.Fatalf("second delivery: %v, want ECONFLICT", err)
		}
		if err := raw.Complete(ctx, id); err != nil {
			t.Fatal(err)
		}
		if err := raw.Complete(ctx, id); justpay.ErrorCode(err) != justpay.ECONFLICT {
			t.Fatalf("second completion: %v, want ECONFLICT", err)
		}
		if _, err := raw.Create(ctx, 1, 1000); err != nil {
			t.Fatal(err)
		}
		if _, err := raw.Create(ctx, 1, 1000); justpay.ErrorCode(err) != justpay.EINSUFFICIENT {
			t.Fatalf("create beyond the balance: %v, want EINSUFFICIENT", err)
		}
		if _, err := raw.Create(ctx, 0, 2500); err != nil {
			t.Fatalf("the other pair's client: %v", err)
		}
	})
}

// BenchmarkRawLifecycle is one caller of the raw half of `justpay bench lifecycle`, for profiling
// with go test -bench.
func BenchmarkRawLifecycle(b *testing.B) {
	for _, be := range sqlstoretest.Backends() {
		b.Run(be.Name, func(b *testing.B) {
			ctx := context.Background()
			db := sqlstoretest.MustOpen(b, be, justpay.SystemClock{})
			raw, err := db.PrepareRawLifecycle(ctx, 1, 1<<50)
			if err != nil {
				b.Fatal(err)
			}
			defer raw.Close()
			b.ResetTimer()
			for b.Loop() {
				id, err := raw.Create(ctx, 0, 1000)
				if err == nil {
					err = raw.Deliver(ctx, id)
				}
				if err == nil {
					err = raw.Complete(ctx, id)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
