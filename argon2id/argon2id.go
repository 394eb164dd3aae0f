// Package argon2id hashes passwords with Argon2id (RFC 9106) and stores them in the PHC string
// format that other Argon2 libraries read and write:
//
//	$argon2id$v=19$m=65536,t=1,p=2$<salt>$<hash>
//
// where salt and hash are unpadded standard base64.
package argon2id

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Sizes of what Hash generates. Verify accepts other sizes within the limits below, so hashes
// made elsewhere still verify.
const (
	saltLen = 16
	keyLen  = 32
)

// Limits Verify puts on an encoded hash, so that a corrupted or hostile string cannot make it
// allocate gigabytes or loop for minutes.
const (
	minSaltLen = 8
	maxSaltLen = 64
	minKeyLen  = 16
	maxKeyLen  = 64
	maxMemory  = 4 << 20 // KiB, 4 GiB
	maxTime    = 64
)

// Params are the Argon2id cost parameters.
type Params struct {
	// Memory is the memory cost in KiB; at least 8 per thread.
	Memory uint32
	// Time is the number of passes over the memory; at least 1.
	Time uint32
	// Threads is the degree of parallelism; at least 1.
	Threads uint8
}

// Default returns the parameters Hash uses: 64 MiB, one pass, two threads, one of the settings
// RFC 9106 and OWASP recommend. Each hash takes that much memory while it runs, so callers should
// bound how many run at once.
func Default() Params {
	return Params{Memory: 64 * 1024, Time: 1, Threads: 2}
}

// validate checks p against what Argon2 requires and what Verify is willing to compute.
func (p Params) validate() error {
	switch {
	case p.Threads < 1:
		return errors.New("argon2id: threads must be at least 1")
	case p.Time < 1 || p.Time > maxTime:
		return fmt.Errorf("argon2id: time must be between 1 and %d, got %d", maxTime, p.Time)
	case p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemory:
		return fmt.Errorf("argon2id: memory must be between %d (8 KiB per thread) and %d KiB, got %d", 8*uint32(p.Threads), maxMemory, p.Memory)
	}
	return nil
}

// Hash returns the PHC-format Argon2id hash of password with Default parameters and a random
// 16-byte salt.
func Hash(password string) (string, error) {
	return HashWith(password, Default())
}

// HashWith returns the PHC-format Argon2id hash of password with parameters p and a random
// 16-byte salt. Tests use it with cheap parameters.
func HashWith(password string, p Params) (string, error) {
	if err := p.validate(); err != nil {
		return "", err
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("argon2id: salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// Verify reports whether password matches encoded, a PHC-format Argon2id hash, using the
// parameters, salt and hash length encoded in it and comparing in constant time. A wrong password
// gives false and a nil error; an error means encoded is malformed or outside the limits.
func Verify(password, encoded string) (bool, error) {
	p, salt, want, err := decode(encoded)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// DecodeParams returns the parameters encoded in a PHC-format Argon2id hash, so that a caller can
// tell a hash made with weaker parameters than Default and rehash the password at the next login.
func DecodeParams(encoded string) (Params, error) {
	p, _, _, err := decode(encoded)
	return p, err
}

// decode parses $argon2id$v=19$m=<m>,t=<t>,p=<p>$<salt>$<hash>. It is strict: fields in this
// order, decimal numbers without sign or leading zeros, unpadded canonical base64.
func decode(encoded string) (p Params, salt, key []byte, err error) {
	fail := func(format string, args ...any) (Params, []byte, []byte, error) {
		return Params{}, nil, nil, fmt.Errorf("argon2id: malformed hash: "+format, args...)
	}
	parts := strings.Split(encoded, "$")
	// The base64 decoder skips line breaks; a hash has none.
	if len(parts) != 6 || parts[0] != "" || strings.ContainsAny(encoded, "\r\n") {
		return fail("want $argon2id$v=19$m=...,t=...,p=...$salt$hash")
	}
	if parts[1] != "argon2id" {
		return fail("algorithm %q is not argon2id", parts[1])
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return fail("version %q is not v=%d", parts[2], argon2.Version)
	}
	fields := strings.Split(parts[3], ",")
	if len(fields) != 3 {
		return fail("want parameters m=...,t=...,p=...")
	}
	var values [3]uint64
	for i, name := range []string{"m", "t", "p"} {
		digits, ok := strings.CutPrefix(fields[i], name+"=")
		if !ok || digits == "" || (digits[0] == '0' && len(digits) > 1) {
			return fail("want parameter %s=<number> in position %d", name, i+1)
		}
		if values[i], err = strconv.ParseUint(digits, 10, 32); err != nil {
			return fail("parameter %s: %v", name, err)
		}
	}
	if values[2] > 255 {
		return fail("parameter p=%d is above 255", values[2])
	}
	p = Params{Memory: uint32(values[0]), Time: uint32(values[1]), Threads: uint8(values[2])}
	if err := p.validate(); err != nil {
		return Params{}, nil, nil, err
	}
	enc := base64.RawStdEncoding.Strict()
	if salt, err = enc.DecodeString(parts[4]); err != nil || len(salt) < minSaltLen || len(salt) > maxSaltLen {
		return fail("salt must be unpadded base64 of %d to %d bytes", minSaltLen, maxSaltLen)
	}
	if key, err = enc.DecodeString(parts[5]); err != nil || len(key) < minKeyLen || len(key) > maxKeyLen {
		return fail("hash must be unpadded base64 of %d to %d bytes", minKeyLen, maxKeyLen)
	}
	return p, salt, key, nil
}
