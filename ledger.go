package justpay

import (
	"context"
	"math"
	"slices"
	"strings"
	"time"
)

// Ledger accounts. Agent and escrow accounts hold a materialized balance that may never go
// negative; platform and external accounts are derived from their postings, so no single row is a
// hot spot that every fee must lock.
const (
	PlatformRevenue     = "platform:revenue"
	PlatformGas         = "platform:gas"
	ExternalSolana      = "external:solana"
	ExternalNOWPayments = "external:nowpayments"
)

// AgentAvailable is the account of an agent's spendable money.
func AgentAvailable(agentID string) string { return "agent:" + agentID + ":available" }

// AgentPending is the account of an agent's withdrawals on their way to the chain.
func AgentPending(agentID string) string { return "agent:" + agentID + ":pending_withdrawal" }

// EscrowAccount is the escrow of one job, task, campaign or channel: EscrowAccount("job", id).
func EscrowAccount(kind, id string) string { return "escrow:" + kind + ":" + id }

// IsMaterialized reports whether account keeps a balance row that must never go negative.
func IsMaterialized(account string) bool {
	return strings.HasPrefix(account, "agent:") || strings.HasPrefix(account, "escrow:")
}

// Entry is one posting: Amount is added to Account (negative amounts take from it).
type Entry struct {
	Account string
	Amount  int64
}

// LedgerTx is one balanced movement of money: its entries sum to zero.
type LedgerTx struct {
	ID          string
	Type        string
	RefType     string
	RefID       string
	Description string
	Entries     []Entry
	CreatedAt   time.Time
}

// Transfer returns a two-entry transaction moving amount from one account to another.
func Transfer(typ, from, to string, amount int64) LedgerTx {
	return LedgerTx{Type: typ, Entries: []Entry{{from, -amount}, {to, amount}}}
}

// Validate checks that the transaction is well formed: a type, at least two entries, no zero
// amount, no account twice, and entries that sum to exactly zero without overflow.
func (t *LedgerTx) Validate() error {
	if t.Type == "" || len(t.Entries) < 2 {
		return Errorf(EINTERNAL, "ledger transaction needs a type and two entries")
	}
	var sum int64
	seen := make([]string, 0, len(t.Entries))
	for _, e := range t.Entries {
		if e.Amount == 0 || e.Amount == math.MinInt64 || e.Account == "" || slices.Contains(seen, e.Account) {
			return Errorf(EINTERNAL, "ledger entry %q %d is empty, zero or repeated", e.Account, e.Amount)
		}
		seen = append(seen, e.Account)
		next := sum + e.Amount
		if (e.Amount > 0 && next < sum) || (e.Amount < 0 && next > sum) {
			return Errorf(EINTERNAL, "ledger transaction overflows")
		}
		sum = next
	}
	if sum != 0 {
		return Errorf(EINTERNAL, "ledger transaction %s does not balance: sums to %d", t.Type, sum)
	}
	return nil
}

// LedgerReport is the result of checking the ledger invariant.
type LedgerReport struct {
	Transactions int64
	Postings     int64
	Accounts     int64
	// Totals is the balance of each derived account (platform and external) and of each class of
	// materialized account ("agent:*:available", "escrow:job:*", ...).
	Totals map[string]int64
	// Problems lists every violation found, one line each; empty when the ledger is sound.
	Problems []string
}

// OK reports whether the invariant holds.
func (r *LedgerReport) OK() bool { return len(r.Problems) == 0 }

// LedgerService checks the books.
type LedgerService interface {
	// VerifyLedger checks, on one consistent snapshot: every transaction sums to zero; every
	// materialized balance equals the sum of its postings and is not negative; every closed escrow
	// is zero; all accounts together sum to zero.
	VerifyLedger(ctx context.Context) (*LedgerReport, error)
}

// Stats are the platform counters of GET /api/v1/stats.
type Stats struct {
	AgentsTotal     int64
	AgentsActivated int64
	ServicesActive  int64
	JobsTotal       int64
	JobsCompleted   int64
	ProposalsOpen   int64
	VolumeTotal     int64
}

// StatsService counts the platform.
type StatsService interface {
	// Stats returns the live counters.
	Stats(ctx context.Context) (*Stats, error)
}
