package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/justpay/justpay/devchain"
)

// The simulated chain of dev mode keeps its transfers in the same database; these methods
// implement devchain.Store.
var _ devchain.Store = (*DB)(nil)

const chainTransferColumns = `signature, idx, from_address, to_address, amount, slot, COALESCE(ref, '')`

func scanChainTransfer(row scanner) (devchain.Transfer, error) {
	var t devchain.Transfer
	var slot int64
	err := row.Scan(&t.Signature, &t.Index, &t.From, &t.To, &t.Amount, &slot, &t.Ref)
	t.Slot = uint64(slot)
	return t, err
}

// InsertChainTransfer records a simulated transfer; a second transfer with the same non-empty ref
// records nothing and returns the first. See devchain.Store.
func (db *DB) InsertChainTransfer(ctx context.Context, t devchain.Transfer) (devchain.Transfer, error) {
	var out devchain.Transfer
	err := db.update(ctx, func(tx *Tx) error {
		var ref sql.NullString
		if t.Ref != "" {
			ref = sql.NullString{String: t.Ref, Valid: true}
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO devchain_transfers (signature, idx, from_address, to_address, amount, slot, ref, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (ref) DO NOTHING`,
			t.Signature, t.Index, t.From, t.To, t.Amount, int64(t.Slot), ref, tx.now)
		if err != nil {
			return fmt.Errorf("insert chain transfer: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			out = t
			return nil
		}
		out, err = scanChainTransfer(tx.QueryRowContext(ctx, `SELECT `+chainTransferColumns+` FROM devchain_transfers WHERE ref = $1`, t.Ref))
		return err
	})
	return out, err
}

// FindChainTransfersTo returns the simulated transfers into address, oldest first.
// See devchain.Store.
func (db *DB) FindChainTransfersTo(ctx context.Context, address string) ([]devchain.Transfer, error) {
	return queryAll(ctx, db.reader, "chain transfers", `SELECT `+chainTransferColumns+` FROM devchain_transfers WHERE to_address = $1 ORDER BY slot, seq`,
		[]any{address}, scanChainTransfer)
}

// NextChainSlot returns a slot above every recorded one. See devchain.Store.
func (db *DB) NextChainSlot(ctx context.Context) (uint64, error) {
	var max int64
	err := db.reader.QueryRowContext(ctx, `SELECT COALESCE(MAX(slot), 0) FROM devchain_transfers`).Scan(&max)
	if err != nil {
		return 0, fmt.Errorf("next chain slot: %w", err)
	}
	return uint64(max) + 1, nil
}
