package solana

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"fmt"

	"github.com/justpay/justpay"
)

// Lengths of the values an address or a signature encodes.
const (
	// AddressLen is the size of an address: an ed25519 public key, or a program-derived address
	// of the same size that lies off the curve.
	AddressLen = 32
	// SignatureLen is the size of a transaction signature: an ed25519 signature.
	SignatureLen = 64
)

// Bounds of the base58 length of an address: 32 bytes take 32 characters when all are zero (the
// system program, "111...1") and at most 44 characters otherwise.
const (
	minAddressChars = 32
	maxAddressChars = 44
)

// NewKeypair returns a new random ed25519 keypair: address is the base58 public key and
// privateKey the 64-byte ed25519 private key (seed followed by public key), the form Solana
// wallets store.
func NewKeypair() (address string, privateKey []byte, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", nil, fmt.Errorf("solana: generate keypair: %w", err)
	}
	return EncodeBase58(pub), priv, nil
}

// ValidateAddress returns an EINVALID error unless s is a Solana address: base58 that decodes to
// exactly 32 bytes. Any 32 bytes are accepted, since program-derived addresses are valid while
// not being points on the curve.
func ValidateAddress(s string) error {
	switch {
	case s == "":
		return justpay.Errorf(justpay.EINVALID, "address is required: a base58 Solana address of 32 to 44 characters")
	case len(s) < minAddressChars || len(s) > maxAddressChars:
		return justpay.Errorf(justpay.EINVALID, "address must be a base58 Solana address of 32 to 44 characters, got %d characters", len(s))
	}
	b, err := DecodeBase58(s)
	if err != nil {
		return justpay.Errorf(justpay.EINVALID, "address is not valid base58 (characters 1-9, A-Z and a-z without 0, O, I and l): %v", err)
	}
	if len(b) != AddressLen {
		return justpay.Errorf(justpay.EINVALID, "address must decode to %d bytes, got %d", AddressLen, len(b))
	}
	return nil
}

// NewSignature returns a transaction signature in Solana's format (base58 of 64 bytes) that is a
// function of seed alone: a real ed25519 signature of seed by a key derived from seed. The
// simulated chain uses it so that its signatures look real and are reproducible.
func NewSignature(seed []byte) string {
	keySeed := sha256.Sum256(append([]byte("justpay/solana/signature-key\x00"), seed...))
	key := ed25519.NewKeyFromSeed(keySeed[:])
	return EncodeBase58(ed25519.Sign(key, seed))
}
