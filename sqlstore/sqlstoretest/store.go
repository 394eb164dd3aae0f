package sqlstoretest

import (
	"context"
	"crypto/rand"
	"testing"

	"github.com/justpay/justpay"
	"github.com/justpay/justpay/argon2id"
	"github.com/justpay/justpay/devchain"
	"github.com/justpay/justpay/jsonschema"
	"github.com/justpay/justpay/solana"
	"github.com/justpay/justpay/sqlstore"
	"github.com/justpay/justpay/vault"
)

// Env is a wired store on a fresh database: the real SQL store, the simulated chain in the same
// database, a vault with a random master key and a test clock.
type Env struct {
	DB    *sqlstore.DB
	Store *sqlstore.Store
	Chain *devchain.Chain
	Clock *justpay.AdjustableClock
}

// NewEnv opens a fresh database on backend b and wires a Store over it.
func NewEnv(tb testing.TB, b Backend) *Env {
	tb.Helper()
	clock := NewClock()
	db := MustOpen(tb, b, clock)
	return Wire(tb, db, clock)
}

// Wire builds the store and chain over an open database.
func Wire(tb testing.TB, db *sqlstore.DB, clock *justpay.AdjustableClock) *Env {
	tb.Helper()
	key := make([]byte, vault.KeySize)
	rand.Read(key)
	v, err := vault.New(key)
	if err != nil {
		tb.Fatal(err)
	}
	chain := devchain.New(db, clock)
	cheap := argon2id.Params{Memory: 64, Time: 1, Threads: 1}
	store := sqlstore.NewStore(db, sqlstore.StoreConfig{
		Chain:        chain,
		Sealer:       v,
		HashPassword: func(p string) (string, error) { return argon2id.HashWith(p, cheap) },
		Schemas:      jsonschema.New(),
	})
	return &Env{DB: db, Store: store, Chain: chain, Clock: clock}
}

// MustRegister registers an agent named name and returns it with its API key.
func (e *Env) MustRegister(tb testing.TB, name string) (*justpay.Agent, string) {
	tb.Helper()
	a, _, key, err := e.Store.RegisterAgent(context.Background(), justpay.AgentRegistration{Name: name})
	if err != nil {
		tb.Fatalf("register %s: %v", name, err)
	}
	return a, key
}

// NewWallet returns a fresh external wallet address.
func NewWallet(tb testing.TB) string {
	tb.Helper()
	addr, _, err := solana.NewKeypair()
	if err != nil {
		tb.Fatal(err)
	}
	return addr
}

// MustDeposit sends amount from wallet to the agent's deposit address on the simulated chain and
// confirms it.
func (e *Env) MustDeposit(tb testing.TB, agent *justpay.Agent, wallet string, amount int64) *justpay.DepositResult {
	tb.Helper()
	ctx := context.Background()
	if _, err := e.Chain.Transfer(ctx, wallet, agent.DepositAddress, amount); err != nil {
		tb.Fatalf("chain transfer: %v", err)
	}
	r, err := e.Store.ConfirmDeposits(ctx, agent.ID)
	if err != nil {
		tb.Fatalf("confirm deposits: %v", err)
	}
	return r
}

// MustActivate registers nothing: it funds agent with amount (at least the activation fee) from a
// fresh wallet, which becomes its emergency address, and returns that wallet.
func (e *Env) MustActivate(tb testing.TB, agent *justpay.Agent, amount int64) string {
	tb.Helper()
	wallet := NewWallet(tb)
	if r := e.MustDeposit(tb, agent, wallet, amount); !r.Activated {
		tb.Fatalf("deposit of %d did not activate %s", amount, agent.Name)
	}
	return wallet
}

// MustBalance returns the agent's balances.
func (e *Env) MustBalance(tb testing.TB, agentID string) justpay.Balance {
	tb.Helper()
	b, _, err := e.Store.Balance(context.Background(), agentID)
	if err != nil {
		tb.Fatalf("balance: %v", err)
	}
	return *b
}

// MustVerify fails the test unless the ledger invariant holds.
func MustVerify(tb testing.TB, db *sqlstore.DB) *justpay.LedgerReport {
	tb.Helper()
	r, err := db.VerifyLedger(context.Background())
	if err != nil {
		tb.Fatalf("verify ledger: %v", err)
	}
	if !r.OK() {
		tb.Fatalf("ledger invariant broken:\n%v", r.Problems)
	}
	return r
}
