package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/justpay/justpay/sqlstore"
	"github.com/justpay/justpay/sqlstore/sqlstoretest"
)

// queueBehind starts a write transaction that holds the writer until release is closed, then runs
// each of fns as a concurrent write transaction queued behind it, and returns their errors. On
// SQLite the queued transactions share commits (writer.go); on PostgreSQL they run concurrently.
func queueBehind(t *testing.T, db *sqlstore.DB, fns []func(tx *sqlstore.Tx) error, ctxs []context.Context) []error {
	t.Helper()
	ctx := context.Background()
	held, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := db.Update(ctx, func(tx *sqlstore.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO writer_test (k) VALUES ('holder')`)
			close(held)
			<-release
			return err
		})
		if err != nil {
			t.Error(err)
		}
	}()
	<-held
	errs := make([]error, len(fns))
	for i, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := ctx
			if ctxs != nil {
				c = ctxs[i]
			}
			errs[i] = db.Update(c, fn)
		}()
	}
	time.Sleep(100 * time.Millisecond) // let them queue
	close(release)
	wg.Wait()
	return errs
}

func insertKey(k string) func(tx *sqlstore.Tx) error {
	return func(tx *sqlstore.Tx) error {
		_, err := tx.ExecContext(context.Background(), `INSERT INTO writer_test (k) VALUES ($1)`, k)
		return err
	}
}

func mustKeys(t *testing.T, db *sqlstore.DB, want map[string]bool) {
	t.Helper()
	for k, present := range want {
		var n int
		err := db.Update(context.Background(), func(tx *sqlstore.Tx) error {
			return tx.QueryRowContext(context.Background(), `SELECT count(*) FROM writer_test WHERE k = $1`, k).Scan(&n)
		})
		if err != nil {
			t.Fatal(err)
		}
		if (n == 1) != present {
			t.Errorf("key %q: %d rows, want present=%v", k, n, present)
		}
	}
}

func openWriterTest(t *testing.T, b sqlstoretest.Backend) *sqlstore.DB {
	db := sqlstoretest.MustOpen(t, b, sqlstoretest.NewClock())
	if err := db.Update(context.Background(), func(tx *sqlstore.Tx) error {
		_, err := tx.ExecContext(context.Background(), `CREATE TABLE writer_test (k TEXT PRIMARY KEY)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return db
}

// A transaction that fails leaves no trace and does not disturb the transactions committed with it.
func TestWriteGroupIsolatesFailures(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		db := openWriterTest(t, b)
		before := db.WriterCommits()
		failed := errors.New("refused after writing")
		var fns []func(tx *sqlstore.Tx) error
		want := map[string]bool{"holder": true}
		for i := range 20 {
			k := fmt.Sprint("k", i)
			write := insertKey(k)
			if i%2 == 1 {
				fns = append(fns, func(tx *sqlstore.Tx) error {
					if err := write(tx); err != nil {
						return err
					}
					return failed
				})
			} else {
				fns = append(fns, write)
			}
			want[k] = i%2 == 0
		}
		// A duplicate key fails inside the database, not in Go.
		fns = append(fns, insertKey("holder"))
		errs := queueBehind(t, db, fns, nil)
		for i, err := range errs[:20] {
			if i%2 == 1 && !errors.Is(err, failed) || i%2 == 0 && err != nil {
				t.Errorf("transaction %d: %v", i, err)
			}
		}
		if errs[20] == nil {
			t.Error("a duplicate key was committed")
		}
		commits := db.WriterCommits() - before
		mustKeys(t, db, want)
		if !db.IsPostgres() {
			// The holder, then the 21 queued in at most a few groups (those still on their way
			// to the queue when the holder finished make a later group).
			if commits > 6 {
				t.Errorf("%d commits for 11 successful transactions queued together: not grouped", commits)
			}
		}
	})
}

// A transaction that breaks the group (here by releasing the group's savepoint itself) fails the
// group's commit; every transaction is then run alone, and only the culprit fails.
func TestWriteGroupFailureFallsBackToSingleCommits(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		if b.Name != "sqlite" {
			t.Skip("groups are SQLite's")
		}
		db := openWriterTest(t, b)
		fns := []func(tx *sqlstore.Tx) error{insertKey("a"), func(tx *sqlstore.Tx) error {
			if err := insertKey("culprit")(tx); err != nil {
				return err
			}
			_, err := tx.ExecContext(context.Background(), `RELEASE w`)
			return err
		}, insertKey("b")}
		errs := queueBehind(t, db, fns, nil)
		if errs[0] != nil || errs[2] != nil || errs[1] == nil {
			t.Errorf("errors %v, want only the culprit's", errs)
		}
		mustKeys(t, db, map[string]bool{"holder": true, "a": true, "b": true, "culprit": false})
	})
}

// A caller that gives up while its transaction waits is told so, and its transaction never runs.
func TestWriteQueueHonoursCancellation(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		db := openWriterTest(t, b)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		errs := queueBehind(t, db, []func(tx *sqlstore.Tx) error{insertKey("gave-up"), insertKey("waited")},
			[]context.Context{ctx, context.Background()})
		if !errors.Is(errs[0], context.DeadlineExceeded) || errs[1] != nil {
			t.Errorf("errors %v, want deadline exceeded and nil", errs)
		}
		mustKeys(t, db, map[string]bool{"gave-up": false, "waited": true})
	})
}

// Statements run twice are prepared on SQLite's writer.
func TestWriterPreparesRepeatedStatements(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		if b.Name != "sqlite" {
			t.Skip("pgx prepares PostgreSQL's statements itself")
		}
		db := openWriterTest(t, b)
		q := `INSERT INTO writer_test (k) VALUES ($1)`
		for i := range 3 {
			if i == 2 && !db.IsPreparedOnWriter(q) {
				t.Fatal("not prepared after two runs")
			}
			if err := db.Update(context.Background(), insertKey(fmt.Sprint("p", i))); err != nil {
				t.Fatal(err)
			}
		}
		mustKeys(t, db, map[string]bool{"p0": true, "p1": true, "p2": true})
	})
}
