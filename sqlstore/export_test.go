package sqlstore

import "context"

// Update runs fn as a write transaction, for the tests of the write path.
func (db *DB) Update(ctx context.Context, fn func(tx *Tx) error) error { return db.update(ctx, fn) }

// WriterCommits is how many groups SQLite's writer has committed (0 on PostgreSQL).
func (db *DB) WriterCommits() int64 {
	if db.w == nil {
		return 0
	}
	return db.w.commits.Load()
}

// IsPreparedOnWriter reports whether SQLite's writer keeps query prepared.
func (db *DB) IsPreparedOnWriter(query string) bool {
	var ok bool
	// The map belongs to the writer goroutine: look from a transaction, which runs there.
	db.update(context.Background(), func(tx *Tx) error {
		_, ok = db.w.prepared[query]
		return nil
	})
	return ok
}
