package sqlstore

import (
	"encoding/json"

	"github.com/justpay/justpay"
)

// Store implements justpay's services on the database: the business rules come from package
// justpay, the SQL from here.
type Store struct {
	*DB
	chain        justpay.Chain
	sealer       Sealer
	hashPassword func(string) (string, error)
	schemas      Schemas
	jobFeeBps    int64
}

// Schemas checks user JSON Schemas and validates documents against them.
type Schemas interface {
	// Check reports EINVALID unless schema is an acceptable JSON Schema (it compiles, within the
	// size and depth caps, with no remote or file references).
	Check(schema json.RawMessage) error
	// Validate reports EINVALID, naming the failing paths, unless doc satisfies schema.
	Validate(schema, doc json.RawMessage) error
}

// Sealer encrypts secrets at rest, bound to associated data (the row they belong to), and opens
// them again (webhook secrets, which the server needs in the clear to sign deliveries).
type Sealer interface {
	Seal(plaintext, associatedData []byte) ([]byte, error)
	Open(sealed, associatedData []byte) ([]byte, error)
}

// StoreConfig holds the outside pieces a Store needs.
type StoreConfig struct {
	// Chain provides deposit addresses and finds deposits.
	Chain justpay.Chain
	// Sealer encrypts deposit private keys and webhook secrets.
	Sealer Sealer
	// HashPassword turns a password into the string stored for it (argon2id).
	HashPassword func(string) (string, error)
	// Schemas compiles services' input and output schemas and validates jobs against them.
	Schemas Schemas
	// JobFeeBps is the platform fee on jobs in basis points; 0 means justpay.DefaultJobFeeBps.
	JobFeeBps int64
}

// NewStore returns a Store over db.
func NewStore(db *DB, cfg StoreConfig) *Store {
	fee := cfg.JobFeeBps
	if fee == 0 {
		fee = justpay.DefaultJobFeeBps
	}
	return &Store{DB: db, chain: cfg.Chain, sealer: cfg.Sealer, hashPassword: cfg.HashPassword, schemas: cfg.Schemas, jobFeeBps: fee}
}

var (
	_ justpay.AgentService       = (*Store)(nil)
	_ justpay.WalletService      = (*Store)(nil)
	_ justpay.LedgerService      = (*Store)(nil)
	_ justpay.StatsService       = (*Store)(nil)
	_ justpay.IdempotencyService = (*Store)(nil)
)
