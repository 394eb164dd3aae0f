// Package vault seals secrets at rest, such as the private keys of deposit addresses, with
// AES-256-GCM under a master key. Each sealed value is bound to associated data, typically the
// identity of the row it belongs to, so that it cannot be copied into another row and opened there.
package vault

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// KeySize is the size of a master key in bytes (AES-256).
const KeySize = 32

// version1 marks the layout version1 || nonce (12 bytes) || AES-256-GCM ciphertext and tag, with
// the version byte authenticated along with the caller's associated data.
const version1 byte = 1

const nonceSize = 12

// Vault seals and opens secrets under one master key. It is safe for concurrent use.
type Vault struct {
	aead cipher.AEAD
}

// New returns a Vault using masterKey, which must be exactly KeySize bytes. The Vault does not
// keep a reference to masterKey.
func New(masterKey []byte) (*Vault, error) {
	if len(masterKey) != KeySize {
		return nil, fmt.Errorf("vault: master key must be %d bytes, got %d", KeySize, len(masterKey))
	}
	block, err := aes.NewCipher(masterKey) // copies the key into its schedule
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	return &Vault{aead: aead}, nil
}

// Seal encrypts plaintext bound to associatedData and returns the sealed value: a version byte,
// a random 12-byte nonce and the ciphertext with its 16-byte tag. The same associatedData must be
// given to Open. Random nonces are safe for up to about 2^32 seals under one key.
func (v *Vault) Seal(plaintext, associatedData []byte) ([]byte, error) {
	out := make([]byte, 1+nonceSize, 1+nonceSize+len(plaintext)+v.aead.Overhead())
	out[0] = version1
	if _, err := rand.Read(out[1 : 1+nonceSize]); err != nil {
		return nil, fmt.Errorf("vault: nonce: %w", err)
	}
	return v.aead.Seal(out, out[1:1+nonceSize], plaintext, additionalData(version1, associatedData)), nil
}

// Open decrypts a value returned by Seal. It fails if sealed was altered or truncated, was sealed
// under another key or with other associated data, or has an unknown version.
func (v *Vault) Open(sealed, associatedData []byte) ([]byte, error) {
	if len(sealed) == 0 {
		return nil, errors.New("vault: sealed value is empty")
	}
	if sealed[0] != version1 {
		return nil, fmt.Errorf("vault: unknown sealed value version %d", sealed[0])
	}
	if len(sealed) < 1+nonceSize+v.aead.Overhead() {
		return nil, fmt.Errorf("vault: sealed value is too short (%d bytes)", len(sealed))
	}
	nonce, ciphertext := sealed[1:1+nonceSize], sealed[1+nonceSize:]
	plaintext, err := v.aead.Open(nil, nonce, ciphertext, additionalData(sealed[0], associatedData))
	if err != nil {
		return nil, errors.New("vault: cannot open sealed value: wrong master key, wrong associated data or tampered value")
	}
	return plaintext, nil
}

// additionalData is what GCM authenticates besides the ciphertext: the version byte, so that a
// value cannot be relabelled as another version, and the caller's associated data.
func additionalData(version byte, associatedData []byte) []byte {
	return append([]byte{version}, associatedData...)
}
