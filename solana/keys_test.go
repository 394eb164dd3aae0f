package solana_test

import (
	"bytes"
	"crypto/ed25519"
	"strings"
	"testing"

	"github.com/justpay/justpay"
	"github.com/justpay/justpay/solana"
)

func TestNewKeypair(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		addr, priv, err := solana.NewKeypair()
		if err != nil {
			t.Fatal(err)
		}
		if err := solana.ValidateAddress(addr); err != nil {
			t.Fatalf("ValidateAddress(%q): %v", addr, err)
		}
		if len(priv) != ed25519.PrivateKeySize {
			t.Fatalf("private key has %d bytes, want %d", len(priv), ed25519.PrivateKeySize)
		}
		pub, err := solana.DecodeBase58(addr)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(pub, ed25519.PrivateKey(priv).Public().(ed25519.PublicKey)) {
			t.Fatalf("address %s is not the public key of the private key", addr)
		}
		// The key signs, and the address verifies the signature.
		msg := []byte("justpay")
		if !ed25519.Verify(pub, msg, ed25519.Sign(priv, msg)) {
			t.Fatal("signature by the private key does not verify with the address")
		}
		if seen[addr] {
			t.Fatalf("address %s generated twice", addr)
		}
		seen[addr] = true
	}
}

func TestValidateAddress(t *testing.T) {
	tests := []struct {
		name    string
		address string
		wantErr string // a substring of the message, or "" for a valid address
	}{
		{"USDCMint", solana.USDCMint, ""},
		{"SystemProgram", "11111111111111111111111111111111", ""},
		{"TokenProgram", "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA", ""},
		{"WrappedSOL43Chars", "So11111111111111111111111111111111111111112", ""},
		{"ProgramDerivedOffCurve", solana.EncodeBase58(bytes.Repeat([]byte{0xff}, 32)), ""},
		{"Empty", "", "required"},
		{"TooShort", "2g", "got 2 characters"},
		{"TooLong", solana.USDCMint + "1", "got 45 characters"},
		{"InvalidChar0", "0PjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", "not valid base58"},
		{"InvalidCharl", "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1l", "not valid base58"},
		{"Whitespace", " " + solana.USDCMint[1:], "not valid base58"},
		{"EthereumAddress", "0x71C7656EC7ab88b098defB751B7401B5f6d8976F", "not valid base58"},
		{"ThirtyOneBytes", solana.EncodeBase58(bytes.Repeat([]byte{0xff}, 31)), "decode to 32 bytes, got 31"},
		{"ThirtyThreeBytes", "1So11111111111111111111111111111111111111112", "decode to 32 bytes, got 33"},
		{"ThirtyTwoOnesAndOne", strings.Repeat("1", 31) + "2", ""},
		{"FortyFourCharsTooBig", strings.Repeat("z", 44), "decode to 32 bytes, got 33"},
		{"SignatureLength", solana.NewSignature([]byte("x")), "characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := solana.ValidateAddress(tt.address)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ValidateAddress(%q) = %v, want nil", tt.address, err)
				}
				return
			}
			if code := justpay.ErrorCode(err); code != justpay.EINVALID {
				t.Fatalf("ValidateAddress(%q) code = %q (%v), want %q", tt.address, code, err, justpay.EINVALID)
			}
			if msg := justpay.ErrorMessage(err); !strings.Contains(msg, tt.wantErr) {
				t.Fatalf("ValidateAddress(%q) message = %q, want it to contain %q", tt.address, msg, tt.wantErr)
			}
		})
	}
}

func TestNewSignature(t *testing.T) {
	a1 := solana.NewSignature([]byte("seed a"))
	a2 := solana.NewSignature([]byte("seed a"))
	b := solana.NewSignature([]byte("seed b"))
	if a1 != a2 {
		t.Errorf("same seed gave %q and %q", a1, a2)
	}
	if a1 == b {
		t.Errorf("different seeds gave the same signature %q", a1)
	}
	for _, s := range []string{a1, b, solana.NewSignature(nil)} {
		raw, err := solana.DecodeBase58(s)
		if err != nil {
			t.Fatalf("DecodeBase58(%q): %v", s, err)
		}
		if len(raw) != solana.SignatureLen {
			t.Fatalf("signature %q has %d bytes, want %d", s, len(raw), solana.SignatureLen)
		}
		if len(s) < 64 || len(s) > 88 {
			t.Fatalf("signature %q has %d characters, want 64 to 88", s, len(s))
		}
	}
}
