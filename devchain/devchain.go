// Package devchain is a simulated Solana USDC chain for dev mode and tests. It implements
// justpay.Chain with real-format addresses (base58 ed25519 public keys) and signatures, keeps its
// transfers in the database through Store, and finalizes every transfer at once. A faucet
// (Chain.Transfer) lets external wallets, which have unlimited funds, pay deposit addresses.
package devchain

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"time"

	"github.com/justpay/justpay"
	"github.com/justpay/justpay/solana"
)

// HotWallet is the address of the platform's hot wallet on the simulated chain, from which every
// Send pays. It is the ed25519 public key whose seed is the SHA-256 of
// "justpay/devchain/hot-wallet", so it is the same in every installation and valid on Solana.
const HotWallet = "HM9hBLZdU9xDRzcqDEWBkXAZW733vD2FHYykJZexY2VB"

// MaxTransferAmount is the largest faucet transfer, in micro-units: one billion USDC.
const MaxTransferAmount int64 = 1_000_000_000_000_000

// Solana mainnet-beta started at genesisUnix (2020-03-16T14:29:00Z) and produces a slot about
// every slotDuration; the simulated chain numbers its slots the same way so they look and advance
// like real ones.
const (
	genesisUnix  = 1584368940
	slotDuration = 400 * time.Millisecond
)

// Transfer is one finalized USDC transfer on the simulated chain, as Store keeps it.
type Transfer struct {
	// Signature is the transaction signature, base58 of 64 bytes, unique among transfers.
	Signature string
	// Index is the position of the transfer within its transaction; always 0 here, since every
	// simulated transaction carries one transfer.
	Index int
	// From and To are base58 addresses.
	From, To string
	// Amount is in micro-USDC, always positive.
	Amount int64
	// Slot is the slot the transaction landed in; later transfers never have a smaller slot.
	Slot uint64
	// Ref is the withdrawal reference of a platform Send, or "" for a faucet transfer.
	Ref string
}

// Store persists the simulated chain's transfers. Package sqlstore implements it.
type Store interface {
	// InsertChainTransfer records t. If t.Ref is not "" and a transfer with that ref is already
	// recorded, it records nothing and returns the existing transfer with a nil error; otherwise
	// it returns t as recorded. This must hold under concurrency (a unique index on the non-empty
	// ref), since it is what makes Send idempotent.
	InsertChainTransfer(ctx context.Context, t Transfer) (Transfer, error)
	// FindChainTransfersTo returns every transfer whose To is address, oldest first (by slot,
	// then by insertion order), or an empty slice.
	FindChainTransfersTo(ctx context.Context, address string) ([]Transfer, error)
	// NextChainSlot returns a slot greater than that of every recorded transfer (1 when there is
	// none). Two concurrent callers may get the same slot; a slot holds many transactions.
	NextChainSlot(ctx context.Context) (uint64, error)
}

// Chain is the simulated chain. It is safe for concurrent use.
type Chain struct {
	store Store
	clock justpay.Clock

	// Failure injection for tests, guarded by mu.
	mu        sync.Mutex
	rejectTo  map[string]bool
	failSends int
	loseSends int
}

// Chain implements the platform's view of the chain.
var _ justpay.Chain = (*Chain)(nil)

// New returns a simulated chain that records its transfers in store. Slots follow clock (about
// 2.5 per second since Solana's genesis), so advancing a dev clock advances the chain too; clock
// may be nil, and slots then only count up.
func New(store Store, clock justpay.Clock) *Chain {
	return &Chain{store: store, clock: clock, rejectTo: map[string]bool{}}
}

// NewDepositAccount creates a new ed25519 keypair for an agent's deposit address; privateKey is
// the 64-byte ed25519 private key.
func (c *Chain) NewDepositAccount() (address string, privateKey []byte, err error) {
	return solana.NewKeypair()
}

// ValidateAddress reports EINVALID unless address is a base58 address of 32 bytes.
func (c *Chain) ValidateAddress(address string) error {
	return solana.ValidateAddress(address)
}

// FindDeposits returns every transfer into address, oldest first; all are finalized. Errors:
// EINVALID (not an address).
func (c *Chain) FindDeposits(ctx context.Context, address string) ([]justpay.ChainTransfer, error) {
	if err := solana.ValidateAddress(address); err != nil {
		return nil, err
	}
	transfers, err := c.store.FindChainTransfersTo(ctx, address)
	if err != nil {
		return nil, fmt.Errorf("devchain: find transfers to %s: %w", address, err)
	}
	deposits := make([]justpay.ChainTransfer, 0, len(transfers))
	for _, t := range transfers {
		deposits = append(deposits, justpay.ChainTransfer{
			Signature: t.Signature, Index: t.Index, From: t.From, To: t.To, Amount: t.Amount, Slot: t.Slot,
		})
	}
	return deposits, nil
}

// Send transfers amount micro-USDC from HotWallet to address. It is idempotent by ref: a second
// Send with the same ref returns the first transfer's signature and records nothing, so the
// signature of a ref is always the same. An empty ref, an invalid address, an amount below 1 and
// an address passed to RejectSendsTo give an error wrapping justpay.ErrSendRejected (with the
// EINVALID code where the arguments are at fault); any other error is transient.
func (c *Chain) Send(ctx context.Context, ref, address string, amount int64) (string, error) {
	switch err := solana.ValidateAddress(address); {
	case ref == "":
		return "", fmt.Errorf("devchain: send: %w: %w", justpay.ErrSendRejected, justpay.Errorf(justpay.EINVALID, "send needs a ref"))
	case err != nil:
		return "", fmt.Errorf("devchain: send %s: %w: %w", ref, justpay.ErrSendRejected, err)
	case amount <= 0:
		return "", fmt.Errorf("devchain: send %s: %w: %w", ref, justpay.ErrSendRejected,
			justpay.Errorf(justpay.EINVALID, "amount must be positive, got %d", amount))
	}
	if err := c.injectedSendFailure(address); err != nil {
		return "", fmt.Errorf("devchain: send %s: %w", ref, err)
	}
	t, err := c.record(ctx, Transfer{
		// The signature is a function of ref, so even a retry that raced past the store's
		// idempotency would carry the same signature.
		Signature: solana.NewSignature([]byte("justpay/devchain/send\x00" + ref)),
		From:      HotWallet,
		To:        address,
		Amount:    amount,
		Ref:       ref,
	})
	if err != nil {
		return "", fmt.Errorf("devchain: send %s: %w", ref, err)
	}
	if c.takeLostResponse() {
		return "", fmt.Errorf("devchain: send %s: transfer landed but the response was lost (injected failure)", ref)
	}
	return t.Signature, nil
}

// Transfer is the dev faucet: it moves amount micro-USDC from the external wallet from to to in
// one finalized transaction and returns its signature. External wallets have unlimited funds.
// Errors: EINVALID (an address is invalid, from equals to, or amount is outside 1 to
// MaxTransferAmount).
func (c *Chain) Transfer(ctx context.Context, from, to string, amount int64) (signature string, err error) {
	if err := solana.ValidateAddress(from); err != nil {
		return "", justpay.Errorf(justpay.EINVALID, "from: %s", justpay.ErrorMessage(err))
	}
	if err := solana.ValidateAddress(to); err != nil {
		return "", justpay.Errorf(justpay.EINVALID, "to: %s", justpay.ErrorMessage(err))
	}
	if from == to {
		return "", justpay.Errorf(justpay.EINVALID, "from and to must be different addresses")
	}
	if amount < 1 || amount > MaxTransferAmount {
		return "", justpay.Errorf(justpay.EINVALID, "amount must be between 1 and %d micro-units (%s), got %d",
			MaxTransferAmount, justpay.FormatUSDC(MaxTransferAmount), amount)
	}
	// The faucet is unlimited per transfer, not in total: an address may receive at most
	// MaxTransferAmount from it altogether, so no sum of simulated money comes near int64's range.
	received, err := c.store.FindChainTransfersTo(ctx, to)
	if err != nil {
		return "", fmt.Errorf("devchain: transfer: %w", err)
	}
	total := amount
	for _, t := range received {
		if t.From != HotWallet {
			total += t.Amount
		}
	}
	if total > MaxTransferAmount {
		return "", justpay.Errorf(justpay.EINVALID, "the dev faucet gives an address at most %s in total", justpay.FormatUSDC(MaxTransferAmount))
	}
	var seed [32]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return "", fmt.Errorf("devchain: transfer: %w", err)
	}
	t, err := c.record(ctx, Transfer{Signature: solana.NewSignature(seed[:]), From: from, To: to, Amount: amount})
	if err != nil {
		return "", fmt.Errorf("devchain: transfer: %w", err)
	}
	return t.Signature, nil
}

// RejectSendsTo makes every later Send to address fail with an error wrapping
// justpay.ErrSendRejected, as a real chain refuses a destination for good. For tests.
func (c *Chain) RejectSendsTo(address string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rejectTo[address] = true
}

// FailNextSends makes the next n Sends with valid arguments fail with a transient error before
// anything is recorded, as when the RPC node is unreachable. Rejections come first: a Send to an
// address passed to RejectSendsTo is rejected and does not use up one of the n. The count
// replaces any earlier one, so FailNextSends(0) cancels. For tests.
func (c *Chain) FailNextSends(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failSends = max(n, 0)
}

// LoseNextSendResponses makes the next n Sends that record their transfer return a transient
// error anyway, as when a transaction lands but the answer never reaches the caller. A retry with
// the same ref then returns the recorded signature. The count replaces any earlier one. For tests.
func (c *Chain) LoseNextSendResponses(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.loseSends = max(n, 0)
}

// injectedSendFailure returns the failure RejectSendsTo or FailNextSends set up for a Send to
// address, or nil.
func (c *Chain) injectedSendFailure(address string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.rejectTo[address]:
		return fmt.Errorf("%w: the chain refuses transfers to %s (injected failure)", justpay.ErrSendRejected, address)
	case c.failSends > 0:
		c.failSends--
		return fmt.Errorf("chain unavailable (injected failure)")
	}
	return nil
}

// takeLostResponse reports whether LoseNextSendResponses applies to this Send, using it up.
func (c *Chain) takeLostResponse() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.loseSends > 0 {
		c.loseSends--
		return true
	}
	return false
}

// record assigns t the next slot and stores it, returning the transfer as stored (the earlier one
// when t.Ref was already recorded).
func (c *Chain) record(ctx context.Context, t Transfer) (Transfer, error) {
	slot, err := c.store.NextChainSlot(ctx)
	if err != nil {
		return Transfer{}, fmt.Errorf("next slot: %w", err)
	}
	if c.clock != nil {
		if d := c.clock.Now().Sub(time.Unix(genesisUnix, 0)); d > 0 {
			slot = max(slot, uint64(d/slotDuration))
		}
	}
	t.Slot = slot
	stored, err := c.store.InsertChainTransfer(ctx, t)
	if err != nil {
		return Transfer{}, fmt.Errorf("record transfer: %w", err)
	}
	return stored, nil
}
