package sqlstore

import (
	"context"
	"crypto/subtle"
	"fmt"

	"github.com/justpay/justpay"
)

// AdminTokens authenticates admin calls: the operator's JUSTPAY_ADMIN_TOKEN, or any token made by
// `justpay admin token` (stored hashed).
type AdminTokens struct {
	DB *DB
	// Static is the token from the environment; "" means none.
	Static string
}

// IsAdminToken reports whether token is an admin token.
func (a AdminTokens) IsAdminToken(ctx context.Context, token string) (bool, error) {
	if token == "" {
		return false, nil
	}
	if a.Static != "" && subtle.ConstantTimeCompare([]byte(token), []byte(a.Static)) == 1 {
		return true, nil
	}
	var n int
	err := a.DB.reader.QueryRowContext(ctx, `SELECT COUNT(*) FROM admin_tokens WHERE token_hash = $1`, justpay.HashAPIKey(token)).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("check admin token: %w", err)
	}
	return n > 0, nil
}

// CreateAdminToken makes a new admin token, stores its hash and returns it in the clear, once.
func (db *DB) CreateAdminToken(ctx context.Context) (string, error) {
	token := justpay.NewSecretToken("jpadmin_")
	err := db.update(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO admin_tokens (token_hash, created_at) VALUES ($1, $2)`, justpay.HashAPIKey(token), tx.now)
		return err
	})
	if err != nil {
		return "", err
	}
	return token, nil
}
