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

// The raw baselines of the benchmarks: the same database doing the least an operation could do.
// For a ledger transfer, one conditional debit and one insert in a transaction (RawBench); for a
// direct job's lifecycle, three such bare transactions (RawLifecycle). The measured rates are
// reported as fractions of these.

// updateRaw runs a baseline transaction alone, committed by itself, as a client of the database
// would: the baselines measure the database, not justpay's grouping of commits (writer.go).
func (db *DB) updateRaw(ctx context.Context, fn func(tx *Tx) error) error {
	return db.retry(ctx, func() error { return db.updateAlone(ctx, fn) })
}

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
	return r.db.updateRaw(ctx, func(tx *Tx) error {
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

// RawLifecycle is the raw baseline of the lifecycle benchmark: the three write transactions a
// direct job needs, each as bare as it can be and with its statements prepared.
//
//	create:   a conditional debit of the client and the insert of the job row
//	deliver:  a conditional update of the job row
//	complete: a conditional update of the job row, a credit of the provider and a log insert
type RawLifecycle struct {
	db                                              *DB
	debit, insertJob, deliver, complete, credit, lg *sql.Stmt
}

// rawLifecycleClient and rawLifecycleProvider name the baseline's accounts of pair i.
func rawLifecycleClient(i int) string   { return fmt.Sprintf("lifecycle%d-client", i) }
func rawLifecycleProvider(i int) string { return fmt.Sprintf("lifecycle%d-provider", i) }

// PrepareRawLifecycle creates the baseline's tables with pairs client accounts holding balance
// and as many empty provider accounts, and prepares its statements.
func (db *DB) PrepareRawLifecycle(ctx context.Context, pairs int, balance int64) (*RawLifecycle, error) {
	err := db.update(ctx, func(tx *Tx) error {
		for _, stmt := range []string{
			`CREATE TABLE IF NOT EXISTS bench_raw_balances (account TEXT PRIMARY KEY, balance BIGINT NOT NULL CHECK (balance >= 0))`,
			`CREATE TABLE IF NOT EXISTS bench_raw_log (account TEXT NOT NULL, amount BIGINT NOT NULL)`,
			`CREATE TABLE IF NOT EXISTS bench_raw_jobs (id TEXT PRIMARY KEY, client TEXT NOT NULL, provider TEXT NOT NULL,
				amount BIGINT NOT NULL, status TEXT NOT NULL)`,
		} {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return err
			}
		}
		for i := range pairs {
			for _, a := range []struct {
				account string
				balance int64
			}{{rawLifecycleClient(i), balance}, {rawLifecycleProvider(i), 0}} {
				if _, err := tx.ExecContext(ctx, `INSERT INTO bench_raw_balances (account, balance) VALUES ($1, $2)
					ON CONFLICT (account) DO UPDATE SET balance = excluded.balance`, a.account, a.balance); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("prepare raw lifecycle: %w", err)
	}
	r := &RawLifecycle{db: db}
	for _, p := range []struct {
		st **sql.Stmt
		q  string
	}{
		{&r.debit, `UPDATE bench_raw_balances SET balance = balance - $1 WHERE account = $2 AND balance >= $1`},
		{&r.insertJob, `INSERT INTO bench_raw_jobs (id, client, provider, amount, status) VALUES ($1, $2, $3, $4, 'accepted')`},
		{&r.deliver, `UPDATE bench_raw_jobs SET status = 'delivered' WHERE id = $1 AND status = 'accepted'`},
		{&r.complete, `UPDATE bench_raw_jobs SET status = 'completed' WHERE id = $1 AND status = 'delivered' RETURNING provider, amount`},
		{&r.credit, `UPDATE bench_raw_balances SET balance = balance + $1 WHERE account = $2`},
		{&r.lg, `INSERT INTO bench_raw_log (account, amount) VALUES ($1, $2)`},
	} {
		if *p.st, err = db.writer.PrepareContext(ctx, p.q); err != nil {
			r.Close()
			return nil, fmt.Errorf("prepare raw lifecycle: %w", err)
		}
	}
	return r, nil
}

// Create debits pair's client by amount if it can and inserts an accepted job row, in one
// transaction; it returns the job's ID.
func (r *RawLifecycle) Create(ctx context.Context, pair int, amount int64) (string, error) {
	var id string
	err := r.db.updateRaw(ctx, func(tx *Tx) error {
		res, err := tx.StmtContext(ctx, r.debit).ExecContext(ctx, amount, rawLifecycleClient(pair))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return justpay.Errorf(justpay.EINSUFFICIENT, "raw lifecycle client %d is out of funds", pair)
		}
		id = justpay.NewID(tx.now)
		_, err = tx.StmtContext(ctx, r.insertJob).ExecContext(ctx, id, rawLifecycleClient(pair), rawLifecycleProvider(pair), amount)
		return err
	})
	return id, err
}

// Deliver moves the job from accepted to delivered, in one transaction.
func (r *RawLifecycle) Deliver(ctx context.Context, id string) error {
	return r.db.updateRaw(ctx, func(tx *Tx) error {
		res, err := tx.StmtContext(ctx, r.deliver).ExecContext(ctx, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return justpay.Errorf(justpay.ECONFLICT, "raw lifecycle job %s is not accepted", id)
		}
		return nil
	})
}

// Complete moves the job from delivered to completed, credits its provider with its amount and
// logs the credit, in one transaction.
func (r *RawLifecycle) Complete(ctx context.Context, id string) error {
	return r.db.updateRaw(ctx, func(tx *Tx) error {
		var provider string
		var amount int64
		err := tx.StmtContext(ctx, r.complete).QueryRowContext(ctx, id).Scan(&provider, &amount)
		if errors.Is(err, sql.ErrNoRows) {
			return justpay.Errorf(justpay.ECONFLICT, "raw lifecycle job %s is not delivered", id)
		} else if err != nil {
			return err
		}
		if _, err := tx.StmtContext(ctx, r.credit).ExecContext(ctx, amount, provider); err != nil {
			return err
		}
		_, err = tx.StmtContext(ctx, r.lg).ExecContext(ctx, provider, amount)
		return err
	})
}

// Close releases the prepared statements.
func (r *RawLifecycle) Close() error {
	var errs []error
	for _, st := range []*sql.Stmt{r.debit, r.insertJob, r.deliver, r.complete, r.credit, r.lg} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(errs...)
}

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
