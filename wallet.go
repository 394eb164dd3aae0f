package justpay

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// WithdrawalCooldown is how long withdrawals stay blocked after a withdrawal address is replaced.
const WithdrawalCooldown = 24 * time.Hour

// Transaction types, as an agent sees them in GET /api/v1/wallet/transactions. Every ledger
// transaction carries one.
const (
	TxDeposit            = "deposit"
	TxFee                = "fee"
	TxEscrowLock         = "escrow_lock"
	TxEarned             = "earned"
	TxSpent              = "spent"
	TxRefund             = "refund"
	TxWithdrawal         = "withdrawal"
	TxDisputeFee         = "dispute_fee"
	TxCampaignEscrowLock = "campaign_escrow_lock"
	TxCampaignTaskSpent  = "campaign_task_spent"
	TxCampaignTaskEarned = "campaign_task_earned"
	TxCampaignRefund     = "campaign_refund"
	TxCampaignTopup      = "campaign_topup"
	// TxWithdrawalSettled moves a sent withdrawal from pending to the chain; it does not touch the
	// available balance and so is not listed in an agent's history.
	TxWithdrawalSettled = "withdrawal_settled"
)

// TransactionTypes lists the types an agent may filter its history by.
var TransactionTypes = []string{TxDeposit, TxFee, TxEscrowLock, TxEarned, TxSpent, TxRefund, TxWithdrawal,
	TxDisputeFee, TxCampaignEscrowLock, TxCampaignTaskSpent, TxCampaignTaskEarned, TxCampaignRefund, TxCampaignTopup}

// Withdrawal statuses. A withdrawal is queued, picked up by the worker (sending), then completed
// or failed; a failed one has returned its amount to the available balance.
const (
	WithdrawalQueued    = "queued"
	WithdrawalSending   = "sending"
	WithdrawalCompleted = "completed"
	WithdrawalFailed    = "failed"
)

// Withdrawal kinds: an ordinary withdrawal to the withdrawal address, or a panic withdrawal of the
// whole available balance to the emergency address.
const (
	WithdrawalKindStandard = "standard"
	WithdrawalKindPanic    = "panic"
)

// Withdrawal is a request to send USDC from an agent's balance to a Solana address. Amount leaves
// the available balance; Fee covers gas; NetAmount arrives on chain.
type Withdrawal struct {
	ID            string
	AgentID       string
	Kind          string
	Address       string
	Amount        int64
	Fee           int64
	NetAmount     int64
	Status        string
	Signature     string
	FailureReason string
	Attempts      int
	CreatedAt     time.Time
	UpdatedAt     time.Time
	CompletedAt   *time.Time
}

// PlanWithdrawal checks a withdrawal of amount for agent at now and returns the fee and the net
// amount. Errors: EINVALID (below the minimum, no address), EFORBIDDEN (cooldown).
func PlanWithdrawal(a *Agent, amount int64, now time.Time) (fee, net int64, err error) {
	if amount < MinWithdrawal {
		return 0, 0, Errorf(EINVALID, "amount must be at least %d micro-units (%s)", MinWithdrawal, FormatUSDC(MinWithdrawal))
	}
	if a.WithdrawalAddress == "" {
		return 0, 0, Errorf(EINVALID, "no withdrawal address set: PUT /api/v1/wallet/withdrawal-address first")
	}
	if a.InCooldown(now) {
		return 0, 0, Errorf(EFORBIDDEN, "withdrawals are blocked until %s after the withdrawal address change; if you did not change it, call POST /api/v1/wallet/panic",
			a.WithdrawalCooldownUntil.Format(time.RFC3339))
	}
	return WithdrawalFee, amount - WithdrawalFee, nil
}

// PlanPanic returns what a panic withdrawal of the whole available balance moves.
// Errors: ECONFLICT (no emergency address yet), EINSUFFICIENT (nothing above the gas fee).
func PlanPanic(a *Agent, available int64) (amount, fee, net int64, err error) {
	if a.EmergencyAddress == "" {
		return 0, 0, 0, Errorf(ECONFLICT, "no emergency address: it is set by the agent's first deposit")
	}
	if available <= WithdrawalFee {
		return 0, 0, 0, Errorf(EINSUFFICIENT, "available balance %s does not cover the %s gas fee", FormatUSDC(available), FormatUSDC(WithdrawalFee))
	}
	return available, WithdrawalFee, available - WithdrawalFee, nil
}

// DepositActivates reports whether a deposit of amount activates an agent: the first deposit of at
// least ActivationFee does, and only while the agent is not yet active.
func DepositActivates(activated bool, amount int64) bool {
	return !activated && amount >= ActivationFee
}

// BalanceWarnings returns the security warnings GET /wallet/balance shows at now.
func BalanceWarnings(a *Agent, now time.Time) []string {
	if !a.InCooldown(now) {
		return nil
	}
	return []string{fmt.Sprintf("Security alert: Withdrawal address was changed at %s. Withdrawals are blocked until %s. If you did not make this change, call POST /api/v1/wallet/panic immediately.",
		a.AddressChangedAt.Format(time.RFC3339), a.WithdrawalCooldownUntil.Format(time.RFC3339))}
}

// Balance is an agent's money, in micro-units.
type Balance struct {
	Available int64
	Pending   int64
	Escrowed  int64
}

// Total is everything the agent owns on the platform.
func (b Balance) Total() int64 { return b.Available + b.Pending + b.Escrowed }

// Deposit is one on-chain transfer credited to an agent.
type Deposit struct {
	Signature string
	Index     int
	From      string
	Amount    int64
	// Activated is true for the deposit that activated the agent and paid the activation fee.
	Activated bool
}

// DepositResult is what a deposit check found and credited.
type DepositResult struct {
	Deposits      []Deposit
	TotalCredited int64
	// Activated is the agent's state after the check.
	Activated bool
	// SuggestedAddress is the wallet the first deposit came from, when no withdrawal address is set.
	SuggestedAddress string
}

// AddressChange is the outcome of PUT /wallet/withdrawal-address.
type AddressChange struct {
	Address       string
	Changed       bool // an existing, different address was replaced
	CooldownUntil *time.Time
}

// Transaction is one entry of an agent's history: a ledger transaction that moved the agent's
// available balance, seen from the agent's side.
type Transaction struct {
	ID          string
	Type        string
	Amount      int64  // magnitude, in micro-units
	Direction   string // "in" or "out" of the available balance
	RefType     string
	RefID       string
	Description string
	CreatedAt   time.Time
}

// TransactionFilter selects an agent's transactions; Type "" means all types.
type TransactionFilter struct {
	Type string
	Page
}

// WalletService moves an agent's money in and out of the platform.
type WalletService interface {
	// ConfirmDeposits asks the chain for new deposits to the agent's address and credits each once.
	// Errors: ENOTFOUND.
	ConfirmDeposits(ctx context.Context, agentID string) (*DepositResult, error)

	// Balance returns the agent's balances after crediting any new deposits. Errors: ENOTFOUND.
	Balance(ctx context.Context, agentID string) (*Balance, *Agent, error)

	// SetWithdrawalAddress sets or replaces the withdrawal address; a replacement starts the
	// cooldown and records a wallet.address_changed event. Errors: EINVALID, ENOTFOUND.
	SetWithdrawalAddress(ctx context.Context, agentID, address string) (*AddressChange, error)

	// Withdraw queues a withdrawal of amount to the withdrawal address. Errors: EINVALID,
	// EFORBIDDEN (cooldown), EINSUFFICIENT, ENOTFOUND.
	Withdraw(ctx context.Context, agentID string, amount int64) (*Withdrawal, error)

	// Panic queues a withdrawal of the whole available balance to the emergency address, ignoring
	// the cooldown. Errors: ECONFLICT (no emergency address), EINSUFFICIENT, ENOTFOUND.
	Panic(ctx context.Context, agentID string) (*Withdrawal, error)

	// FindTransactions lists the agent's history, newest first, and the total count.
	// Errors: EINVALID (bad type or page).
	FindTransactions(ctx context.Context, agentID string, filter TransactionFilter) ([]*Transaction, int, error)
}

// ChainTransfer is a finalized USDC transfer seen on chain.
type ChainTransfer struct {
	Signature string
	Index     int // position of the transfer within its transaction
	From      string
	To        string
	Amount    int64
	Slot      uint64
}

// ErrSendRejected marks a withdrawal the chain refused for good (for example an invalid
// destination); any other Send error is treated as transient and retried.
var ErrSendRejected = errors.New("transfer rejected")

// Chain is USDC on Solana, as the platform needs it.
type Chain interface {
	// NewDepositAccount creates a keypair for an agent's deposit address.
	NewDepositAccount() (address string, privateKey []byte, err error)
	// ValidateAddress reports EINVALID unless address is a valid address on this chain.
	ValidateAddress(address string) error
	// FindDeposits returns the finalized USDC transfers into address, oldest first.
	FindDeposits(ctx context.Context, address string) ([]ChainTransfer, error)
	// Send transfers amount from the platform's hot wallet to address. It is idempotent by ref:
	// sending the same ref again returns the first signature and moves nothing more. An error
	// wrapping ErrSendRejected is final; any other error may be retried.
	Send(ctx context.Context, ref, address string, amount int64) (signature string, err error)
}
