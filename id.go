package justpay

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"math/big"
	"strconv"
	"strings"
	"time"
)

const base36 = "0123456789abcdefghijklmnopqrstuvwxyz"

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// NewID returns a new object identifier in the spec's style: "c", then at in microseconds since
// the Unix epoch as 11 base-36 digits, then 13 random base-36 characters (67 bits). IDs made later
// sort later, so inserts append to the end of the database's indexes instead of landing on a random
// page each time; the random part keeps IDs made in the same microsecond apart and unguessable.
func NewID(at time.Time) string {
	ts := strconv.FormatInt(max(at.UnixMicro(), 0), 36)
	return "c" + strings.Repeat("0", max(11-len(ts), 0)) + ts + randomString(base36, 13)
}

// APIKeyPrefixLen is how many characters of an API key are kept as its display prefix ("jp_xyz").
const APIKeyPrefixLen = 6

// NewAPIKey returns a fresh API key: "jp_" followed by 32 random bytes in base62. Only its hash
// (HashAPIKey) and display prefix are ever stored.
func NewAPIKey() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return "jp_" + new(big.Int).SetBytes(b[:]).Text(62)
}

// HashAPIKey returns the hex SHA-256 of an API key, the form in which keys are stored and looked up.
// Keys carry 256 random bits, so a fast hash is enough; passwords use argon2id instead.
func HashAPIKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// NewSecretToken returns a random token of 32 bytes in base62 with the given prefix, for admin and
// webhook secrets.
func NewSecretToken(prefix string) string {
	return prefix + randomString(base62, 43)
}

func randomString(alphabet string, n int) string {
	buf := make([]byte, n)
	if _, err := rand.Read(buf); err != nil {
		panic(err)
	}
	max := byte(256 - 256%len(alphabet))
	out := make([]byte, 0, n)
	for len(out) < n {
		for _, b := range buf {
			if b < max && len(out) < n {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
		if _, err := rand.Read(buf); err != nil {
			panic(err)
		}
	}
	return string(out)
}
