// Package sqlstoretest opens real databases for tests: SQLite in a temporary directory always, and
// PostgreSQL, in a schema of its own that is dropped afterwards, when JUSTPAY_TEST_POSTGRES holds a
// postgres:// URL. Nothing is mocked.
package sqlstoretest

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/justpay/justpay"
	"github.com/justpay/justpay/sqlstore"
)

// Backend is one kind of database a test runs on.
type Backend struct {
	Name string
	// URL is "" for SQLite, else the PostgreSQL URL.
	URL string
}

// Backends returns SQLite, and PostgreSQL when JUSTPAY_TEST_POSTGRES is set.
func Backends() []Backend {
	bs := []Backend{{Name: "sqlite"}}
	if u := os.Getenv("JUSTPAY_TEST_POSTGRES"); u != "" {
		bs = append(bs, Backend{Name: "postgres", URL: u})
	}
	return bs
}

// Run runs fn as a subtest on each backend.
func Run(t *testing.T, fn func(t *testing.T, b Backend)) {
	t.Helper()
	for _, b := range Backends() {
		t.Run(b.Name, func(t *testing.T) { fn(t, b) })
	}
}

// Epoch is the instant test clocks start at.
var Epoch = time.Date(2026, 2, 9, 12, 0, 0, 0, time.UTC)

// NewClock returns an adjustable clock standing at Epoch.
func NewClock() *justpay.AdjustableClock {
	return justpay.NewAdjustableClock(justpay.FixedClock{T: Epoch})
}

// Config returns a sqlstore.Config for a fresh, empty database on backend b, removed at the end
// of the test.
func Config(tb testing.TB, b Backend, clock justpay.Clock) sqlstore.Config {
	tb.Helper()
	cfg := sqlstore.Config{Clock: clock, SQLitePath: filepath.Join(tb.TempDir(), "justpay.db")}
	if b.URL != "" {
		cfg.URL = freshSchema(tb, b.URL)
	}
	return cfg
}

// MustOpen opens a fresh, migrated database on backend b, closed at the end of the test.
func MustOpen(tb testing.TB, b Backend, clock justpay.Clock) *sqlstore.DB {
	tb.Helper()
	db, err := sqlstore.Open(context.Background(), Config(tb, b, clock))
	if err != nil {
		tb.Fatalf("open %s: %v", b.Name, err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// freshSchema creates a schema for this test, dropped at its end, and returns a URL that uses it.
func freshSchema(tb testing.TB, base string) string {
	tb.Helper()
	u, drop, err := sqlstore.CreateScratchSchema(context.Background(), base)
	if err != nil {
		tb.Fatalf("postgres: %v", err)
	}
	tb.Cleanup(func() { drop() })
	return u
}
