package sqlstore

import (
	"github.com/justpay/justpay"
)

// Store implements justpay's services on the database: the business rules come from package
// justpay, the SQL from here.
type Store struct {
	*DB
	chain        justpay.Chain
	sealer       Sealer
	hashPassword func(string) (string, error)
}

// Sealer encrypts secrets at rest, bound to associated data (the row they belong to).
type Sealer interface {
	Seal(plaintext, associatedData []byte) ([]byte, error)
}

// StoreConfig holds the outside pieces a Store needs.
type StoreConfig struct {
	// Chain provides deposit addresses and finds deposits.
	Chain justpay.Chain
	// Sealer encrypts deposit private keys.
	Sealer Sealer
	// HashPassword turns a password into the string stored for it (argon2id).
	HashPassword func(string) (string, error)
}

// NewStore returns a Store over db.
func NewStore(db *DB, cfg StoreConfig) *Store {
	return &Store{DB: db, chain: cfg.Chain, sealer: cfg.Sealer, hashPassword: cfg.HashPassword}
}

var (
	_ justpay.AgentService       = (*Store)(nil)
	_ justpay.WalletService      = (*Store)(nil)
	_ justpay.LedgerService      = (*Store)(nil)
	_ justpay.StatsService       = (*Store)(nil)
	_ justpay.IdempotencyService = (*Store)(nil)
)
