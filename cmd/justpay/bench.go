package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/justpay/justpay"
	"github.com/justpay/justpay/bench"
	"github.com/justpay/justpay/sqlstore"
)

// runBench runs `justpay bench <name>` with args, writing its report to stdout. Benchmarks run on
// a database of their own: a temporary SQLite file, or a scratch schema on the PostgreSQL server
// named by --database-url, dropped afterwards.
func runBench(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "ledger" {
		return usagef("usage: justpay bench ledger [--database-url URL] [--callers 1,8] [--duration 5s] [--rounds 2]")
	}
	fs := flag.NewFlagSet("bench ledger", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	databaseURL := fs.String("database-url", os.Getenv(EnvDatabaseURL), "PostgreSQL server to measure (a scratch schema is used); default: a temporary SQLite file")
	callersFlag := fs.String("callers", "1,8", "comma-separated numbers of concurrent callers")
	duration := fs.Duration("duration", 5*time.Second, "length of each measured run")
	rounds := fs.Int("rounds", 2, "raw and ledger runs alternate this many times per caller count")
	if err := fs.Parse(args[1:]); err != nil {
		return usagef("bench ledger: %v", err)
	}
	var callers []int
	for _, s := range strings.Split(*callersFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 256 {
			return usagef("bench ledger: --callers must list numbers from 1 to 256")
		}
		callers = append(callers, n)
	}
	if *rounds < 1 || *duration <= 0 {
		return usagef("bench ledger: --rounds and --duration must be positive")
	}

	cfg := sqlstore.Config{Clock: justpay.SystemClock{}}
	name := "sqlite"
	if *databaseURL != "" {
		if !sqlstore.IsPostgresURL(*databaseURL) {
			return errors.New("bench ledger: --database-url must be a postgres:// URL")
		}
		scratch, drop, err := sqlstore.CreateScratchSchema(ctx, *databaseURL)
		if err != nil {
			return fmt.Errorf("bench ledger: %w", err)
		}
		defer drop()
		cfg.URL, name = scratch, "postgres"
	} else {
		dir, err := os.MkdirTemp("", "justpay-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		cfg.SQLitePath = filepath.Join(dir, "bench.db")
	}
	db, err := sqlstore.Open(ctx, cfg)
	if err != nil {
		return fmt.Errorf("bench ledger: %w", err)
	}
	defer db.Close()

	fmt.Fprintf(stdout, "justpay bench ledger: %s, callers %v, %d rounds of %s per operation\n", name, callers, *rounds, *duration)
	results, err := bench.LedgerTransfers(ctx, db, callers, *duration, *rounds)
	if err != nil {
		return fmt.Errorf("bench ledger: %w", err)
	}
	bench.PrintComparison(stdout, name, results)
	fmt.Fprintln(stdout, "ledger verified: invariant holds")
	return nil
}
