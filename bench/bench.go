// Package bench measures justpay against the database it runs on: each figure is reported beside
// the raw rate of the same database doing the least the operation could do, so the ratio says what
// justpay's own work costs, whatever the machine.
package bench

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"
)

// Result is one measured run of an operation by a number of concurrent callers.
type Result struct {
	Name    string
	Callers int
	Ops     int
	Elapsed time.Duration
	P50     time.Duration
	P99     time.Duration
}

// Rate is completed operations per second.
func (r Result) Rate() float64 { return float64(r.Ops) / r.Elapsed.Seconds() }

// run calls op from callers goroutines for d, each with its caller index, and measures it. An
// error from op stops the run and is returned.
func run(ctx context.Context, name string, callers int, d time.Duration, op func(ctx context.Context, caller int) error) (Result, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	var latencies []time.Duration
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for c := range callers {
		wg.Go(func() {
			var mine []time.Duration
			for time.Now().Before(deadline) && ctx.Err() == nil {
				t := time.Now()
				if err := op(ctx, c); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("%s: %w", name, err)
					}
					mu.Unlock()
					cancel()
					return
				}
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	r := Result{Name: name, Callers: callers, Ops: len(latencies), Elapsed: time.Since(start)}
	if firstErr != nil {
		return r, firstErr
	}
	r.P50, r.P99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
	return r, nil
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[min(len(ds)-1, int(float64(len(ds))*p))]
}

// Merge combines repeated runs of the same operation and caller count.
func Merge(rs []Result) Result {
	m := Result{Name: rs[0].Name, Callers: rs[0].Callers}
	for _, r := range rs {
		m.Ops += r.Ops
		m.Elapsed += r.Elapsed
		m.P50 += r.P50 / time.Duration(len(rs))
		m.P99 = max(m.P99, r.P99)
	}
	return m
}

// PrintComparison writes a table of measured results against their raw baselines.
func PrintComparison(w io.Writer, database string, pairs [][2]Result) {
	fmt.Fprintf(w, "%-9s %-8s %-22s %10s %10s %10s %7s\n", "database", "callers", "operation", "ops/s", "p50", "p99", "ratio")
	for _, p := range pairs {
		raw, measured := p[0], p[1]
		fmt.Fprintf(w, "%-9s %-8d %-22s %10.0f %10s %10s %7s\n", database, raw.Callers, raw.Name, raw.Rate(), round(raw.P50), round(raw.P99), "")
		fmt.Fprintf(w, "%-9s %-8d %-22s %10.0f %10s %10s %7.2f\n", database, measured.Callers, measured.Name, measured.Rate(), round(measured.P50), round(measured.P99), measured.Rate()/raw.Rate())
	}
}

func round(d time.Duration) string {
	switch {
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	default:
		return d.Round(time.Microsecond).String()
	}
}
