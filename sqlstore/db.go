// Package sqlstore keeps justpay's state in SQLite (the embedded default) or PostgreSQL: agents,
// keys, the double-entry ledger, deposits, withdrawals, idempotency keys and the event outbox. All
// SQL of the project lives here; one set of statements serves both databases, with the few dialect
// differences kept in dialect.go and the DDL in one migration folder per dialect.
package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/justpay/justpay"
)

//go:embed migrations
var migrations embed.FS

// DB is an open database: a writer pool, a reader pool and the clock every transaction reads once.
// On SQLite the writer is a single connection (SQLite admits one writer at a time anyway, and a
// queue in Go is cheaper than lock retries) and readers share a small read-only pool over WAL.
type DB struct {
	writer *sql.DB
	reader *sql.DB
	// w is SQLite's write queue (writer.go); nil on PostgreSQL.
	w *writer
	// auth is the API-key lookup, prepared on SQLite's readers. PostgreSQL needs no prepared
	// statements of ours: pgx caches them per connection itself.
	auth    *sql.Stmt
	dialect dialect
	clock   justpay.Clock
	logger  *slog.Logger
}

// Config says which database to open.
type Config struct {
	// URL selects PostgreSQL when it starts with postgres:// or postgresql://; otherwise SQLite is
	// used at SQLitePath.
	URL string
	// SQLitePath is the SQLite database file; its directory is created if missing.
	SQLitePath string
	// Clock is read once at the start of every transaction.
	Clock justpay.Clock
	// Logger receives migration and retry logs; nil discards them.
	Logger *slog.Logger
}

// IsPostgresURL reports whether url selects PostgreSQL.
func IsPostgresURL(url string) bool {
	return strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://")
}

// Open opens the database and brings its schema up to date.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	if cfg.Clock == nil {
		return nil, errors.New("sqlstore: a clock is required")
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	db := &DB{clock: cfg.Clock, logger: logger}
	var err error
	if IsPostgresURL(cfg.URL) {
		db.dialect = postgresDialect
		if db.writer, err = sql.Open("pgx", cfg.URL); err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		db.writer.SetMaxOpenConns(32)
		db.writer.SetMaxIdleConns(32)
		db.reader = db.writer
	} else {
		db.dialect = sqliteDialect
		if cfg.SQLitePath == "" {
			return nil, errors.New("sqlstore: no database URL and no SQLite path")
		}
		if strings.ContainsAny(cfg.SQLitePath, "?#") {
			return nil, fmt.Errorf("sqlstore: the SQLite path %q may not contain '?' or '#'", cfg.SQLitePath)
		}
		if err := os.MkdirAll(filepath.Dir(cfg.SQLitePath), 0o700); err != nil {
			return nil, fmt.Errorf("create data directory: %w", err)
		}
		// temp_store(memory) on the writer: each transaction of a group runs in a savepoint, and
		// SQLite copies the pages a savepoint changes to a sub-journal, a temporary file by default.
		base := "file:" + cfg.SQLitePath + "?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_time_format=sqlite"
		if db.writer, err = sql.Open("sqlite", base+"&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=temp_store(memory)&_txlock=immediate"); err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		db.writer.SetMaxOpenConns(1)
		db.writer.SetMaxIdleConns(1)
		db.writer.SetConnMaxLifetime(0)
		db.writer.SetConnMaxIdleTime(0)
		// The writer switches the file to WAL before any reader opens it.
		if err := db.writer.PingContext(ctx); err != nil {
			db.writer.Close()
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		if db.reader, err = sql.Open("sqlite", base+"&_pragma=query_only(1)"); err != nil {
			db.writer.Close()
			return nil, fmt.Errorf("open sqlite reader: %w", err)
		}
		db.reader.SetMaxOpenConns(4)
		db.reader.SetMaxIdleConns(4)
	}
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if !db.IsPostgres() {
		if db.auth, err = db.reader.PrepareContext(ctx, authenticateQuery); err != nil {
			db.Close()
			return nil, fmt.Errorf("prepare: %w", err)
		}
		db.startWriter()
	}
	return db, nil
}

// Close closes both pools.
func (db *DB) Close() error {
	var err error
	if db.w != nil {
		err = db.stopWriter()
	}
	if db.auth != nil {
		err = errors.Join(err, db.auth.Close())
	}
	err = errors.Join(err, db.writer.Close())
	if db.reader != db.writer {
		err = errors.Join(err, db.reader.Close())
	}
	return err
}

// Ping checks that the database answers; /healthz uses it.
func (db *DB) Ping(ctx context.Context) error { return db.writer.PingContext(ctx) }

// IsPostgres reports whether the database is PostgreSQL.
func (db *DB) IsPostgres() bool { return db.dialect.name == postgresDialect.name }

// Now returns the clock's time truncated to the microsecond, the precision both databases keep.
func (db *DB) Now() time.Time { return db.clock.Now().UTC().Truncate(time.Microsecond) }

func (db *DB) migrate(ctx context.Context) error {
	dir, err := fs.Sub(migrations, "migrations/"+db.dialect.name)
	if err != nil {
		return err
	}
	provider, err := goose.NewProvider(db.dialect.goose, db.writer, dir)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	results, err := provider.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, r := range results {
		db.logger.Info("migration applied", "version", r.Source.Version, "path", r.Source.Path, "duration", r.Duration)
	}
	return nil
}

// Tx is a transaction with the time it started, read once from the clock.
type Tx struct {
	*sql.Tx
	db  *DB
	now time.Time
	// detached marks a transaction of SQLite's writer goroutine: its statements run to their end
	// whatever their context, through the statements prepared on the writer (writer.go).
	detached bool
}

// ExecContext runs a statement in the transaction.
func (tx *Tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ctx = tx.context(ctx)
	if st := tx.stmt(query); st != nil {
		return tx.Tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return tx.Tx.ExecContext(ctx, query, args...)
}

// QueryRowContext runs a query expected to return at most one row in the transaction.
func (tx *Tx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	ctx = tx.context(ctx)
	if st := tx.stmt(query); st != nil {
		return tx.Tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return tx.Tx.QueryRowContext(ctx, query, args...)
}

// QueryContext runs a query in the transaction.
func (tx *Tx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	ctx = tx.context(ctx)
	if st := tx.stmt(query); st != nil {
		return tx.Tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return tx.Tx.QueryContext(ctx, query, args...)
}

func (tx *Tx) stmt(query string) *sql.Stmt {
	if !tx.detached {
		return nil
	}
	return tx.db.w.stmt(query)
}

func (tx *Tx) context(ctx context.Context) context.Context {
	if tx.detached {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

// maxTxAttempts bounds the retries of a transaction that lost a serialization race or a deadlock.
const maxTxAttempts = 8

// update runs fn in a write transaction and commits it, retrying the whole function when the
// database reports a serialization failure or a deadlock. fn must not have effects outside tx,
// and on SQLite it runs on the writer goroutine (writer.go), grouped with other transactions.
func (db *DB) update(ctx context.Context, fn func(tx *Tx) error) error {
	if db.w != nil {
		return db.retry(ctx, func() error { return db.submit(ctx, fn) })
	}
	return db.retry(ctx, func() error { return db.updateAlone(ctx, fn) })
}

// retry runs once until it succeeds, fails for good, or has been tried maxTxAttempts times.
func (db *DB) retry(ctx context.Context, once func() error) error {
	for attempt := 1; ; attempt++ {
		err := once()
		if err = db.badText(err); err == nil || !db.dialect.retryable(err) || attempt == maxTxAttempts {
			return err
		}
		db.logger.Debug("retrying transaction", "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt*attempt) * time.Millisecond):
		}
	}
}

// updateAlone runs fn in a transaction of its own on the writer pool and commits it.
func (db *DB) updateAlone(ctx context.Context, fn func(tx *Tx) error) error {
	sqlTx, err := db.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer sqlTx.Rollback()
	if err := fn(&Tx{Tx: sqlTx, db: db, now: db.Now()}); err != nil {
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// badText turns the database's refusal of a client's bytes (NUL, invalid UTF-8) into a 400.
// Validation should have refused them first; this keeps a gap from ever becoming a 500.
func (db *DB) badText(err error) error {
	if db.dialect.errCode(err) == codeBadText {
		return justpay.Errorf(justpay.EINVALID, "the request contains text that cannot be stored (NUL or invalid UTF-8)")
	}
	return err
}

// view runs fn in a read-only transaction that sees one consistent snapshot.
func (db *DB) view(ctx context.Context, fn func(tx *Tx) error) error {
	return db.badText(db.viewOnce(ctx, fn))
}

func (db *DB) viewOnce(ctx context.Context, fn func(tx *Tx) error) error {
	sqlTx, err := db.reader.BeginTx(ctx, db.dialect.snapshotOptions)
	if err != nil {
		return fmt.Errorf("begin read: %w", err)
	}
	defer sqlTx.Rollback()
	if err := fn(&Tx{Tx: sqlTx, db: db, now: db.Now()}); err != nil {
		return err
	}
	return sqlTx.Commit()
}
