package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/justpay/justpay"
)

// queryer is what both *sql.DB and *Tx offer for reads.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// scanner is a row to scan: *sql.Row, *sql.Rows or a wrapper of one.
type scanner interface{ Scan(...any) error }

// queryAll runs query and scans each row with scan; what names the rows in errors. The result is
// empty, never nil, when no row matches.
func queryAll[T any](ctx context.Context, q queryer, what, query string, args []any, scan func(scanner) (T, error)) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("find %s: %w", what, err)
	}
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("scan %s: %w", what, err), rows.Close())
		}
		out = append(out, v)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("find %s: %w", what, err)
	}
	return out, nil
}

// scanID scans a row of one text column.
func scanID(row scanner) (string, error) {
	var id string
	err := row.Scan(&id)
	return id, err
}

// listQuery is one paginated list: "SELECT <columns> <from> ORDER BY <order>". from holds the
// FROM clause, its joins and its WHERE; the list's total is "SELECT COUNT(*) <from>", so its joins
// must not change the number of rows. args bind from's placeholders, numbered from $1.
type listQuery struct {
	what    string // the rows, for errors
	columns string
	from    string
	order   string
	args    []any
}

// findPage reads the total of q and its page p in tx's snapshot, so the two agree. It does not
// read rows past the total.
func findPage[T any](ctx context.Context, tx *Tx, q listQuery, p justpay.Page, scan func(scanner) (T, error)) ([]T, int, error) {
	var total int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) `+q.from, q.args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count %s: %w", q.what, err)
	}
	if p.Offset() >= total {
		return []T{}, total, nil
	}
	n := len(q.args)
	query := fmt.Sprintf(`SELECT %s %s ORDER BY %s LIMIT $%d OFFSET $%d`, q.columns, q.from, q.order, n+1, n+2)
	items, err := queryAll(ctx, tx, q.what, query, append(q.args[:n:n], p.Limit, p.Offset()), scan)
	return items, total, err
}

// readPage is findPage in a read snapshot of its own.
func readPage[T any](ctx context.Context, db *DB, q listQuery, p justpay.Page, scan func(scanner) (T, error)) ([]T, int, error) {
	var items []T
	var total int
	err := db.view(ctx, func(tx *Tx) error {
		var err error
		items, total, err = findPage(ctx, tx, q, p, scan)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	return items, total, nil
}
