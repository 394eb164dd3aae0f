package devchain_test

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/justpay/justpay"
	"github.com/justpay/justpay/devchain"
	"github.com/justpay/justpay/solana"
)

// memStore is an in-memory devchain.Store with the same contract as the SQL one.
type memStore struct {
	mu        sync.Mutex
	transfers []devchain.Transfer
	err       error // when set, every call fails with it
}

func (s *memStore) InsertChainTransfer(_ context.Context, t devchain.Transfer) (devchain.Transfer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return devchain.Transfer{}, s.err
	}
	for _, old := range s.transfers {
		if t.Ref != "" && old.Ref == t.Ref {
			return old, nil
		}
		if old.Signature == t.Signature {
			return devchain.Transfer{}, fmt.Errorf("duplicate signature %s", t.Signature)
		}
	}
	s.transfers = append(s.transfers, t)
	return t, nil
}

func (s *memStore) FindChainTransfersTo(_ context.Context, address string) ([]devchain.Transfer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	var out []devchain.Transfer
	for _, t := range s.transfers {
		if t.To == address {
			out = append(out, t)
		}
	}
	slices.SortStableFunc(out, func(a, b devchain.Transfer) int { return cmp.Compare(a.Slot, b.Slot) })
	return out, nil
}

func (s *memStore) NextChainSlot(context.Context) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return 0, s.err
	}
	var slot uint64
	for _, t := range s.transfers {
		slot = max(slot, t.Slot)
	}
	return slot + 1, nil
}

func (s *memStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.transfers)
}

func (s *memStore) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err = err
}

// testNow is a fixed instant; its slot on Solana's schedule is testSlot.
var testNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

const testSlot = uint64((1767323045 - 1584368940) * 5 / 2)

// MustChain returns a chain over a fresh in-memory store and a clock fixed at testNow.
func MustChain(tb testing.TB) (*devchain.Chain, *memStore) {
	tb.Helper()
	store := &memStore{}
	return devchain.New(store, justpay.FixedClock{T: testNow}), store
}

// MustAddress returns a new valid address.
func MustAddress(tb testing.TB) string {
	tb.Helper()
	addr, _, err := solana.NewKeypair()
	if err != nil {
		tb.Fatal(err)
	}
	return addr
}

func TestHotWallet(t *testing.T) {
	seed := sha256.Sum256([]byte("justpay/devchain/hot-wallet"))
	pub := ed25519.NewKeyFromSeed(seed[:]).Public().(ed25519.PublicKey)
	if got := solana.EncodeBase58(pub); got != devchain.HotWallet {
		t.Fatalf("hot wallet derived from its seed is %s, constant says %s", got, devchain.HotWallet)
	}
	if err := solana.ValidateAddress(devchain.HotWallet); err != nil {
		t.Fatal(err)
	}
}

func TestChain_NewDepositAccount(t *testing.T) {
	chain, _ := MustChain(t)
	addr, priv, err := chain.NewDepositAccount()
	if err != nil {
		t.Fatal(err)
	}
	if err := chain.ValidateAddress(addr); err != nil {
		t.Fatal(err)
	}
	pub, _ := solana.DecodeBase58(addr)
	if len(priv) != ed25519.PrivateKeySize || !slices.Equal(pub, []byte(ed25519.PrivateKey(priv).Public().(ed25519.PublicKey))) {
		t.Fatalf("private key does not match address %s", addr)
	}
	if code := justpay.ErrorCode(chain.ValidateAddress("nope")); code != justpay.EINVALID {
		t.Fatalf("ValidateAddress(nope) code = %q, want %q", code, justpay.EINVALID)
	}
}

func TestChain_Transfer(t *testing.T) {
	a, b := MustAddress(t), MustAddress(t)
	tests := []struct {
		name     string
		from, to string
		amount   int64
		wantErr  bool
	}{
		{"OK", a, b, 5_000_000, false},
		{"OneMicroUnit", a, b, 1, false},
		{"Max", a, b, devchain.MaxTransferAmount, false},
		{"FromHotWallet", devchain.HotWallet, b, 1, false},
		{"ToProgramDerivedAddress", a, solana.EncodeBase58(make([]byte, 32)), 1, false},
		{"ErrZeroAmount", a, b, 0, true},
		{"ErrNegativeAmount", a, b, -1, true},
		{"ErrAboveMax", a, b, devchain.MaxTransferAmount + 1, true},
		{"ErrSameAddress", a, a, 1, true},
		{"ErrInvalidFrom", "0xabc", b, 1, true},
		{"ErrInvalidTo", a, "", 1, true},
		{"ErrShortTo", a, b[:20], 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chain, store := MustChain(t)
			sig, err := chain.Transfer(context.Background(), tt.from, tt.to, tt.amount)
			if tt.wantErr {
				if code := justpay.ErrorCode(err); code != justpay.EINVALID {
					t.Fatalf("Transfer error = %v (code %q), want code %q", err, code, justpay.EINVALID)
				}
				if n := store.count(); n != 0 {
					t.Fatalf("a rejected transfer recorded %d transfers", n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			raw, err := solana.DecodeBase58(sig)
			if err != nil || len(raw) != solana.SignatureLen {
				t.Fatalf("signature %q is not base58 of 64 bytes (%v)", sig, err)
			}
			got, err := chain.FindDeposits(context.Background(), tt.to)
			if err != nil {
				t.Fatal(err)
			}
			want := []justpay.ChainTransfer{{Signature: sig, From: tt.from, To: tt.to, Amount: tt.amount, Slot: testSlot}}
			if !slices.Equal(got, want) {
				t.Fatalf("FindDeposits = %+v, want %+v", got, want)
			}
		})
	}
}

func TestChain_TransferErrorMessages(t *testing.T) {
	chain, _ := MustChain(t)
	a := MustAddress(t)
	tests := []struct {
		name     string
		from, to string
		amount   int64
		want     string
	}{
		{"From", "bad", a, 1, "from: address must be a base58 Solana address of 32 to 44 characters, got 3 characters"},
		{"To", a, "", 1, "to: address is required: a base58 Solana address of 32 to 44 characters"},
		{"Same", a, a, 1, "from and to must be different addresses"},
		{"Amount", devchain.HotWallet, a, 0, "amount must be between 1 and 1000000000000000 micro-units (1000000000.00 USDC), got 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := chain.Transfer(context.Background(), tt.from, tt.to, tt.amount)
			if got := justpay.ErrorMessage(err); got != tt.want {
				t.Fatalf("message = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestChain_FindDeposits(t *testing.T) {
	ctx := context.Background()
	t.Run("OldestFirst", func(t *testing.T) {
		chain, _ := MustChain(t)
		to, other := MustAddress(t), MustAddress(t)
		var want []justpay.ChainTransfer
		for i := range 5 {
			from := MustAddress(t)
			sig, err := chain.Transfer(ctx, from, to, int64(i+1))
			if err != nil {
				t.Fatal(err)
			}
			// Every transfer takes the next slot, the one to the other address too.
			want = append(want, justpay.ChainTransfer{Signature: sig, From: from, To: to, Amount: int64(i + 1), Slot: testSlot + uint64(2*i)})
			if _, err := chain.Transfer(ctx, from, other, 7); err != nil {
				t.Fatal(err)
			}
		}
		got, err := chain.FindDeposits(ctx, to)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("FindDeposits =\n%+v\nwant\n%+v", got, want)
		}
	})
	t.Run("None", func(t *testing.T) {
		chain, _ := MustChain(t)
		got, err := chain.FindDeposits(ctx, MustAddress(t))
		if err != nil || len(got) != 0 {
			t.Fatalf("FindDeposits = %v, %v; want empty, nil", got, err)
		}
	})
	t.Run("ErrInvalidAddress", func(t *testing.T) {
		chain, _ := MustChain(t)
		if _, err := chain.FindDeposits(ctx, "nope"); justpay.ErrorCode(err) != justpay.EINVALID {
			t.Fatalf("err = %v, want code %q", err, justpay.EINVALID)
		}
	})
	t.Run("ErrStore", func(t *testing.T) {
		chain, store := MustChain(t)
		boom := errors.New("boom")
		store.fail(boom)
		if _, err := chain.FindDeposits(ctx, MustAddress(t)); !errors.Is(err, boom) {
			t.Fatalf("err = %v, want it to wrap %v", err, boom)
		}
	})
}

func TestChain_Send(t *testing.T) {
	ctx := context.Background()
	t.Run("OK", func(t *testing.T) {
		chain, store := MustChain(t)
		to := MustAddress(t)
		sig, err := chain.Send(ctx, "wd1", to, 4_900_000)
		if err != nil {
			t.Fatal(err)
		}
		got, err := chain.FindDeposits(ctx, to)
		if err != nil {
			t.Fatal(err)
		}
		want := []justpay.ChainTransfer{{Signature: sig, From: devchain.HotWallet, To: to, Amount: 4_900_000, Slot: testSlot}}
		if !slices.Equal(got, want) {
			t.Fatalf("FindDeposits = %+v, want %+v", got, want)
		}
		if store.transfers[0].Ref != "wd1" {
			t.Fatalf("recorded ref = %q, want wd1", store.transfers[0].Ref)
		}
	})
	t.Run("IdempotentByRef", func(t *testing.T) {
		chain, store := MustChain(t)
		to := MustAddress(t)
		first, err := chain.Send(ctx, "wd1", to, 100)
		if err != nil {
			t.Fatal(err)
		}
		again, err := chain.Send(ctx, "wd1", to, 100)
		if err != nil {
			t.Fatal(err)
		}
		if again != first {
			t.Fatalf("second Send returned %s, want the first signature %s", again, first)
		}
		other, err := chain.Send(ctx, "wd2", to, 100)
		if err != nil {
			t.Fatal(err)
		}
		if other == first {
			t.Fatal("two refs got the same signature")
		}
		if n := store.count(); n != 2 {
			t.Fatalf("recorded %d transfers, want 2", n)
		}
	})
	t.Run("SignatureDependsOnRefOnly", func(t *testing.T) {
		c1, _ := MustChain(t)
		c2, _ := MustChain(t)
		s1, err1 := c1.Send(ctx, "wd1", MustAddress(t), 1)
		s2, err2 := c2.Send(ctx, "wd1", MustAddress(t), 2)
		if err1 != nil || err2 != nil || s1 != s2 {
			t.Fatalf("Send signatures %s, %s (%v, %v); want equal", s1, s2, err1, err2)
		}
	})
	t.Run("ConcurrentSameRef", func(t *testing.T) {
		chain, store := MustChain(t)
		to := MustAddress(t)
		sigs := make([]string, 20)
		var wg sync.WaitGroup
		for i := range sigs {
			wg.Go(func() {
				sig, err := chain.Send(ctx, "wd1", to, 100)
				if err != nil {
					t.Error(err)
				}
				sigs[i] = sig
			})
		}
		wg.Wait()
		for _, s := range sigs {
			if s != sigs[0] {
				t.Fatalf("concurrent Sends returned %s and %s", s, sigs[0])
			}
		}
		if n := store.count(); n != 1 {
			t.Fatalf("recorded %d transfers, want 1", n)
		}
	})

	rejected := []struct {
		name    string
		ref     string
		address string
		amount  int64
	}{
		{"ErrEmptyRef", "", MustAddress(t), 1},
		{"ErrInvalidAddress", "wd1", "not-an-address", 1},
		{"ErrEmptyAddress", "wd1", "", 1},
		{"ErrZeroAmount", "wd1", MustAddress(t), 0},
		{"ErrNegativeAmount", "wd1", MustAddress(t), -5},
	}
	for _, tt := range rejected {
		t.Run(tt.name, func(t *testing.T) {
			chain, store := MustChain(t)
			_, err := chain.Send(ctx, tt.ref, tt.address, tt.amount)
			if !errors.Is(err, justpay.ErrSendRejected) {
				t.Fatalf("err = %v, want it to wrap ErrSendRejected", err)
			}
			if code := justpay.ErrorCode(err); code != justpay.EINVALID {
				t.Fatalf("code = %q, want %q", code, justpay.EINVALID)
			}
			if n := store.count(); n != 0 {
				t.Fatalf("recorded %d transfers, want 0", n)
			}
		})
	}

	t.Run("ErrStoreIsTransient", func(t *testing.T) {
		chain, store := MustChain(t)
		boom := errors.New("database is locked")
		store.fail(boom)
		_, err := chain.Send(ctx, "wd1", MustAddress(t), 1)
		if !errors.Is(err, boom) || errors.Is(err, justpay.ErrSendRejected) {
			t.Fatalf("err = %v, want a transient error wrapping %v", err, boom)
		}
	})
}

func TestChain_RejectSendsTo(t *testing.T) {
	ctx := context.Background()
	chain, store := MustChain(t)
	bad, good := MustAddress(t), MustAddress(t)
	chain.RejectSendsTo(bad)
	for _, ref := range []string{"wd1", "wd2"} {
		if _, err := chain.Send(ctx, ref, bad, 100); !errors.Is(err, justpay.ErrSendRejected) {
			t.Fatalf("Send(%s) to rejected address: err = %v, want ErrSendRejected", ref, err)
		}
	}
	if _, err := chain.Send(ctx, "wd3", good, 100); err != nil {
		t.Fatalf("Send to another address: %v", err)
	}
	// The faucet is not affected: deposits to the address still work.
	if _, err := chain.Transfer(ctx, good, bad, 100); err != nil {
		t.Fatalf("faucet transfer to rejected address: %v", err)
	}
	if n := store.count(); n != 2 {
		t.Fatalf("recorded %d transfers, want 2", n)
	}
}

func TestChain_FailNextSends(t *testing.T) {
	ctx := context.Background()
	chain, store := MustChain(t)
	to, bad := MustAddress(t), MustAddress(t)
	chain.RejectSendsTo(bad)
	chain.FailNextSends(2)

	// Invalid arguments and rejections do not use up an injected failure.
	if _, err := chain.Send(ctx, "wd0", "bad", 1); !errors.Is(err, justpay.ErrSendRejected) {
		t.Fatalf("invalid address: err = %v, want ErrSendRejected", err)
	}
	if _, err := chain.Send(ctx, "wd0", bad, 1); !errors.Is(err, justpay.ErrSendRejected) {
		t.Fatalf("rejected address: err = %v, want ErrSendRejected", err)
	}
	for i := range 2 {
		_, err := chain.Send(ctx, "wd1", to, 100)
		if err == nil || errors.Is(err, justpay.ErrSendRejected) {
			t.Fatalf("attempt %d: err = %v, want a transient error", i+1, err)
		}
		if justpay.ErrorCode(err) != justpay.EINTERNAL {
			t.Fatalf("attempt %d: code = %q, want %q", i+1, justpay.ErrorCode(err), justpay.EINTERNAL)
		}
	}
	if n := store.count(); n != 0 {
		t.Fatalf("failed sends recorded %d transfers", n)
	}
	sig, err := chain.Send(ctx, "wd1", to, 100)
	if err != nil || sig == "" {
		t.Fatalf("third attempt: %q, %v; want success", sig, err)
	}
	chain.FailNextSends(1)
	chain.FailNextSends(0) // cancels
	if _, err := chain.Send(ctx, "wd2", to, 100); err != nil {
		t.Fatalf("after FailNextSends(0): %v", err)
	}
}

func TestChain_LoseNextSendResponses(t *testing.T) {
	ctx := context.Background()
	chain, store := MustChain(t)
	to := MustAddress(t)
	chain.LoseNextSendResponses(1)
	_, err := chain.Send(ctx, "wd1", to, 100)
	if err == nil || errors.Is(err, justpay.ErrSendRejected) {
		t.Fatalf("err = %v, want a transient error", err)
	}
	if n := store.count(); n != 1 {
		t.Fatalf("recorded %d transfers, want 1: the transfer landed", n)
	}
	sig, err := chain.Send(ctx, "wd1", to, 100)
	if err != nil {
		t.Fatal(err)
	}
	if sig != store.transfers[0].Signature {
		t.Fatalf("retry returned %s, want the landed signature %s", sig, store.transfers[0].Signature)
	}
	if n := store.count(); n != 1 {
		t.Fatalf("retry recorded a second transfer: %d", n)
	}
}

func TestChain_Slots(t *testing.T) {
	ctx := context.Background()
	t.Run("NilClockCountsUp", func(t *testing.T) {
		store := &memStore{}
		chain := devchain.New(store, nil)
		for i := range 3 {
			if _, err := chain.Transfer(ctx, MustAddress(t), devchain.HotWallet, 1); err != nil {
				t.Fatal(err)
			}
			if got := store.transfers[i].Slot; got != uint64(i+1) {
				t.Fatalf("transfer %d slot = %d, want %d", i, got, i+1)
			}
		}
	})
	t.Run("FollowsClock", func(t *testing.T) {
		store := &memStore{}
		clock := justpay.NewAdjustableClock(justpay.FixedClock{T: testNow})
		chain := devchain.New(store, clock)
		transfer := func() uint64 {
			t.Helper()
			if _, err := chain.Transfer(ctx, MustAddress(t), devchain.HotWallet, 1); err != nil {
				t.Fatal(err)
			}
			return store.transfers[len(store.transfers)-1].Slot
		}
		if got := transfer(); got != testSlot {
			t.Fatalf("first slot = %d, want %d", got, testSlot)
		}
		if got := transfer(); got != testSlot+1 {
			t.Fatalf("second slot at the same instant = %d, want %d", got, testSlot+1)
		}
		clock.Advance(time.Hour)
		if got, want := transfer(), testSlot+9000; got != want {
			t.Fatalf("slot an hour later = %d, want %d", got, want)
		}
	})
	t.Run("ClockBeforeGenesis", func(t *testing.T) {
		store := &memStore{}
		chain := devchain.New(store, justpay.FixedClock{T: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)})
		if _, err := chain.Transfer(ctx, MustAddress(t), devchain.HotWallet, 1); err != nil {
			t.Fatal(err)
		}
		if got := store.transfers[0].Slot; got != 1 {
			t.Fatalf("slot = %d, want 1", got)
		}
	})
}

func TestChain_ConcurrentTransfers(t *testing.T) {
	chain, store := MustChain(t)
	to := MustAddress(t)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			var err error
			if i%2 == 0 {
				_, err = chain.Transfer(context.Background(), MustAddress(t), to, 1)
			} else {
				_, err = chain.Send(context.Background(), fmt.Sprintf("wd%d", i), to, 1)
			}
			if err != nil {
				t.Error(err)
			}
		})
		if i%10 == 0 {
			wg.Go(func() { chain.FailNextSends(0); chain.RejectSendsTo(MustAddress(t)) })
		}
	}
	wg.Wait()
	got, err := chain.FindDeposits(context.Background(), to)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, d := range got {
		if seen[d.Signature] {
			t.Fatalf("signature %s appears twice", d.Signature)
		}
		seen[d.Signature] = true
	}
	if len(got) != 50 || store.count() != 50 {
		t.Fatalf("found %d deposits, store has %d; want 50", len(got), store.count())
	}
}
