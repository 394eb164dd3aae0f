package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/justpay/justpay"
)

// The raw baseline of the ledger benchmark: the same database doing the least a transfer could
// do, one conditional debit and one insert in a transaction. The ledger's rate is reported as a
// fraction of this one.

// RawBench is the baseline, with its statements prepared as the ledger's hot statements are.
type RawBench struct {
	db            *DB
	debit, insert *sql.Stmt
}

// PrepareRawBench creates the baseline's tables with the given accounts, each holding balance.
func (db *DB) PrepareRawBench(ctx context.Context, accounts []string, balance int64) (*RawBench, error) {
	err := db.update(ctx, func(tx *Tx) error {
		for _, stmt := range []string{
			`CREATE TABLE IF NOT EXISTS bench_raw_balances (account TEXT PRIMARY KEY, balance BIGINT NOT NULL CHECK (balance >= 0))`,
			`CREATE TABLE IF NOT EXISTS bench_raw_log (account TEXT NOT NULL, amount BIGINT NOT NULL)`,
		} {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return err
			}
		}
		for _, a := range accounts {
			if _, err := tx.ExecContext(ctx, `INSERT INTO bench_raw_balances (account, balance) VALUES ($1, $2)`, a, balance); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("prepare raw bench: %w", err)
	}
	r := &RawBench{db: db}
	if r.debit, err = db.writer.PrepareContext(ctx, `UPDATE bench_raw_balances SET balance = balance - $1 WHERE account = $2 AND balance >= $1`); err != nil {
		return nil, fmt.Errorf("prepare raw bench: %w", err)
	}
	if r.insert, err = db.writer.PrepareContext(ctx, `INSERT INTO bench_raw_log (account, amount) VALUES ($1, $2)`); err != nil {
		r.debit.Close()
		return nil, fmt.Errorf("prepare raw bench: %w", err)
	}
	return r, nil
}

// Transfer debits account by amount if it can and logs it, in one transaction.
func (r *RawBench) Transfer(ctx context.Context, account string, amount int64) error {
	return r.db.update(ctx, func(tx *Tx) error {
		res, err := tx.StmtContext(ctx, r.debit).ExecContext(ctx, amount, account)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return justpay.Errorf(justpay.EINSUFFICIENT, "raw bench account %s is empty", account)
		}
		_, err = tx.StmtContext(ctx, r.insert).ExecContext(ctx, account, amount)
		return err
	})
}

// Close releases the prepared statements.
func (r *RawBench) Close() error { return errors.Join(r.debit.Close(), r.insert.Close()) }

// CreateScratchSchema creates an empty PostgreSQL schema on the database at base and returns a URL
// whose connections use it, and a function that drops it. Tests and benchmarks use it to work on a
// shared server without touching anything else.
func CreateScratchSchema(ctx context.Context, base string) (string, func() error, error) {
	admin, err := sql.Open("pgx", base)
	if err != nil {
		return "", nil, err
	}
	schema := "scratch_" + strings.ToLower(justpay.NewID(time.Time{}))
	if _, err := admin.ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("create schema: %w", err)
	}
	drop := func() error {
		defer admin.Close()
		_, err := admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
		return err
	}
	u, err := url.Parse(base)
	if err != nil {
		drop()
		return "", nil, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), drop, nil
}
