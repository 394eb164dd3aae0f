package vault_test

import (
	"bytes"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/justpay/justpay/vault"
)

// MustVault returns a Vault over a new random key, and the key.
func MustVault(tb testing.TB) (*vault.Vault, []byte) {
	tb.Helper()
	key := make([]byte, vault.KeySize)
	rand.Read(key)
	v, err := vault.New(key)
	if err != nil {
		tb.Fatal(err)
	}
	return v, key
}

func TestNew(t *testing.T) {
	for _, n := range []int{0, 1, 16, 24, 31, 33, 64} {
		if _, err := vault.New(make([]byte, n)); err == nil {
			t.Errorf("New with a %d-byte key succeeded, want an error", n)
		}
	}
	if _, err := vault.New(make([]byte, 32)); err != nil {
		t.Fatalf("New with a 32-byte key: %v", err)
	}
}

func TestVault_SealOpen(t *testing.T) {
	v, _ := MustVault(t)
	for _, n := range []int{0, 1, 32, 64, 1000} {
		plaintext := make([]byte, n)
		rand.Read(plaintext)
		ad := []byte("deposit_keys:agent_123")
		sealed, err := v.Seal(plaintext, ad)
		if err != nil {
			t.Fatal(err)
		}
		if want := 1 + 12 + n + 16; len(sealed) != want {
			t.Fatalf("sealed %d bytes into %d, want %d", n, len(sealed), want)
		}
		if sealed[0] != 1 {
			t.Fatalf("version byte = %d, want 1", sealed[0])
		}
		if n >= 16 && bytes.Contains(sealed, plaintext) {
			t.Fatal("sealed value contains the plaintext")
		}
		got, err := v.Open(sealed, ad)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if !bytes.Equal(got, plaintext) {
			t.Fatalf("Open = %x, want %x", got, plaintext)
		}
		again, err := v.Seal(plaintext, ad)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(again, sealed) {
			t.Fatal("sealing twice gave the same value: nonces must be random")
		}
	}
}

func TestVault_Open(t *testing.T) {
	v, _ := MustVault(t)
	other, _ := MustVault(t)
	plaintext := []byte("a 64-byte ed25519 private key would go here, any secret will do.")
	ad := []byte("agent_1")
	sealed, err := v.Seal(plaintext, ad)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte {
		b := bytes.Clone(sealed)
		b[i] ^= 0x01
		return b
	}
	tests := []struct {
		name    string
		vault   *vault.Vault
		sealed  []byte
		ad      []byte
		wantErr string
	}{
		{"OK", v, sealed, ad, ""},
		{"ErrWrongAssociatedData", v, sealed, []byte("agent_2"), "cannot open"},
		{"ErrMissingAssociatedData", v, sealed, nil, "cannot open"},
		{"ErrLongerAssociatedData", v, sealed, []byte("agent_1 "), "cannot open"},
		{"ErrWrongKey", other, sealed, ad, "cannot open"},
		{"ErrUnknownVersion", v, append([]byte{2}, sealed[1:]...), ad, "unknown sealed value version 2"},
		{"ErrVersionZero", v, append([]byte{0}, sealed[1:]...), ad, "unknown sealed value version 0"},
		{"ErrTamperedNonce", v, flip(5), ad, "cannot open"},
		{"ErrTamperedCiphertext", v, flip(20), ad, "cannot open"},
		{"ErrTamperedTag", v, flip(len(sealed) - 1), ad, "cannot open"},
		{"ErrTruncated", v, sealed[:len(sealed)-1], ad, "cannot open"},
		{"ErrExtended", v, append(bytes.Clone(sealed), 0), ad, "cannot open"},
		{"ErrTooShort", v, sealed[:1+12+15], ad, "too short"},
		{"ErrVersionOnly", v, sealed[:1], ad, "too short"},
		{"ErrEmpty", v, nil, ad, "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.vault.Open(tt.sealed, tt.ad)
			if tt.wantErr == "" {
				if err != nil || !bytes.Equal(got, plaintext) {
					t.Fatalf("Open = %q, %v; want the plaintext", got, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Open error = %v, want one containing %q", err, tt.wantErr)
			}
			if got != nil {
				t.Fatalf("Open returned %q with an error", got)
			}
		})
	}
	// Every single-bit change anywhere is detected.
	for i := range sealed {
		for bit := range 8 {
			b := bytes.Clone(sealed)
			b[i] ^= 1 << bit
			if _, err := v.Open(b, ad); err == nil {
				t.Fatalf("flipping bit %d of byte %d went unnoticed", bit, i)
			}
		}
	}
}

func TestVault_Concurrent(t *testing.T) {
	v, _ := MustVault(t)
	done := make(chan error)
	for i := range 8 {
		go func() {
			ad := []byte{byte(i)}
			sealed, err := v.Seal([]byte("secret"), ad)
			if err == nil {
				_, err = v.Open(sealed, ad)
			}
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
