package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
)

// SQLite admits one writer at a time and makes every commit durable with an fsync, so on SQLite
// all write transactions go through one goroutine that owns the writer connection and commits
// them in groups: the requests waiting when a group starts run one after another in one
// database transaction, each inside its own savepoint, and one commit (one fsync) makes them all
// durable. A request that fails rolls back to its savepoint and leaves the others alone; its
// caller hears of the outcome only after the commit, so nothing is acknowledged before it is on
// disk. Requests are taken in arrival order, so a caller waits for the requests ahead of it and
// never for a random draw among them (database/sql hands a freed connection to a random waiter).
//
// PostgreSQL needs none of this: it runs transactions concurrently and groups commits itself.

// maxGroup bounds how many write transactions share one commit, and so how long the first of
// them waits for the last.
const maxGroup = 64

// maxPrepared bounds the statements kept prepared on the writer connection.
const maxPrepared = 512

// write is one write transaction waiting for the writer goroutine.
type write struct {
	fn   func(tx *Tx) error
	ctx  context.Context
	done chan error
}

// writer is SQLite's write queue and the goroutine that drains it.
type writer struct {
	queue   chan *write
	closing chan struct{}
	stopped chan struct{}
	// prepared and seen belong to the writer goroutine: every statement of a write transaction
	// runs on it. A statement seen twice is prepared after the group that ran it, while the
	// connection is free (preparing inside a transaction would wait for the connection forever);
	// parsing SQL is a sizeable part of a small transaction on SQLite.
	prepared map[string]*sql.Stmt
	seen     map[string]bool
	wanted   []string
	// commits counts the groups committed, for tests.
	commits atomic.Int64
}

func (db *DB) startWriter() {
	db.w = &writer{
		queue:    make(chan *write),
		closing:  make(chan struct{}),
		stopped:  make(chan struct{}),
		prepared: map[string]*sql.Stmt{},
		seen:     map[string]bool{},
	}
	go db.writeLoop()
}

// stopWriter lets the group in progress finish, refuses new requests and closes the prepared
// statements.
func (db *DB) stopWriter() error {
	close(db.w.closing)
	<-db.w.stopped
	var err error
	for _, st := range db.w.prepared {
		if st != nil {
			err = errors.Join(err, st.Close())
		}
	}
	return err
}

var errClosed = errors.New("sqlstore: the database is closed")

// submit queues fn for the writer goroutine and waits for its outcome. Once queued, it waits even
// if ctx ends, because only the writer knows whether fn was committed; the writer skips requests
// whose context ended before their turn.
func (db *DB) submit(ctx context.Context, fn func(tx *Tx) error) error {
	w := &write{fn: fn, ctx: ctx, done: make(chan error, 1)}
	select {
	case db.w.queue <- w:
		return <-w.done
	case <-ctx.Done():
		return ctx.Err()
	case <-db.w.closing:
		return errClosed
	}
}

func (db *DB) writeLoop() {
	defer close(db.w.stopped)
	group := make([]*write, 0, maxGroup)
	for {
		select {
		case w := <-db.w.queue:
			group = append(group[:0], w)
		case <-db.w.closing:
			return
		}
	collect:
		for len(group) < maxGroup {
			select {
			case w := <-db.w.queue:
				group = append(group, w)
			default:
				break collect
			}
		}
		db.runGroup(group)
		db.prepareWanted()
	}
}

// runGroup commits group and tells each request its outcome. If the group fails as a whole (a
// savepoint or the commit itself), each request is run again alone, so that one request's trouble
// is its own.
func (db *DB) runGroup(group []*write) {
	errs, err := db.commitGroup(group)
	if err != nil && len(group) > 1 {
		db.logger.Warn("group commit failed; committing its transactions one by one", "transactions", len(group), "err", err)
		for _, w := range group {
			db.runGroup([]*write{w})
		}
		return
	}
	for i, w := range group {
		if err != nil {
			w.done <- err
		} else {
			w.done <- errs[i]
		}
	}
}

// commitGroup runs group in one transaction, each request in a savepoint of its own (a lone
// request needs none), and commits. It returns each request's error, or the error that failed the
// whole group, in which case nothing was committed.
func (db *DB) commitGroup(group []*write) ([]error, error) {
	sqlTx, err := db.writer.BeginTx(context.Background(), nil)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer sqlTx.Rollback()
	errs := make([]error, len(group))
	committed := 0
	for i, w := range group {
		if errs[i] = w.ctx.Err(); errs[i] != nil {
			continue
		}
		if len(group) == 1 {
			if errs[i] = w.fn(db.writeTx(sqlTx)); errs[i] != nil {
				return errs, nil
			}
			committed++
			continue
		}
		if _, err := sqlTx.Exec(`SAVEPOINT w`); err != nil {
			return nil, fmt.Errorf("savepoint: %w", err)
		}
		if errs[i] = w.fn(db.writeTx(sqlTx)); errs[i] != nil {
			if _, err := sqlTx.Exec(`ROLLBACK TO w`); err != nil {
				return nil, fmt.Errorf("rollback to savepoint: %w", err)
			}
		} else {
			committed++
		}
		if _, err := sqlTx.Exec(`RELEASE w`); err != nil {
			return nil, fmt.Errorf("release savepoint: %w", err)
		}
	}
	if committed == 0 {
		return errs, nil
	}
	if err := sqlTx.Commit(); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	db.w.commits.Add(1)
	return errs, nil
}

// writeTx wraps a transaction of the writer goroutine. Its statements ignore their callers'
// cancellation: SQLite answers an interrupted write by rolling back the whole transaction, which
// here holds other requests' work too. A request is short; it runs to its end once started.
func (db *DB) writeTx(sqlTx *sql.Tx) *Tx {
	return &Tx{Tx: sqlTx, db: db, now: db.Now(), detached: true}
}

// stmt returns the prepared form of query on the writer connection, or nil, noting the queries
// worth preparing: those run a second time.
func (w *writer) stmt(query string) *sql.Stmt {
	if st, ok := w.prepared[query]; ok {
		return st
	}
	if len(w.prepared)+len(w.wanted) >= maxPrepared {
		return nil
	}
	if !w.seen[query] {
		if len(w.seen) >= maxPrepared {
			clear(w.seen) // many one-off statements: start counting afresh
		}
		w.seen[query] = true
	} else if !slices.Contains(w.wanted, query) {
		w.wanted = append(w.wanted, query)
	}
	return nil
}

// prepareWanted prepares the statements stmt asked for, between groups, while the connection is
// free. A statement that fails to prepare is run unprepared from then on.
func (db *DB) prepareWanted() {
	for _, q := range db.w.wanted {
		delete(db.w.seen, q)
		st, err := db.writer.Prepare(q)
		if err != nil {
			db.logger.Debug("statement not prepared", "err", err)
		}
		db.w.prepared[q] = st // nil when it failed: never tried again
	}
	db.w.wanted = db.w.wanted[:0]
}
