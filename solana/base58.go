package solana

import (
	"fmt"
	"strings"
)

// base58Alphabet is the Bitcoin alphabet, which Solana uses for addresses and signatures: the
// digits and letters without 0, O, I and l.
const base58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

// EncodeBase58 returns b in base58 with the Bitcoin alphabet. Each leading zero byte becomes a
// leading '1', so the encoding keeps the length of fixed-size values such as public keys.
func EncodeBase58(b []byte) string {
	zeros := 0
	for zeros < len(b) && b[zeros] == 0 {
		zeros++
	}
	// digits holds the base-58 digits of the rest of b, least significant first; each byte
	// needs at most log(256)/log(58) < 1.37 digits.
	digits := make([]byte, 0, (len(b)-zeros)*137/100+1)
	for _, c := range b[zeros:] {
		carry := int(c)
		for i := range digits {
			carry += int(digits[i]) << 8
			digits[i] = byte(carry % 58)
			carry /= 58
		}
		for carry > 0 {
			digits = append(digits, byte(carry%58))
			carry /= 58
		}
	}
	out := make([]byte, zeros+len(digits))
	for i := range zeros {
		out[i] = base58Alphabet[0]
	}
	for i, d := range digits {
		out[len(out)-1-i] = base58Alphabet[d]
	}
	return string(out)
}

// DecodeBase58 decodes s, written in base58 with the Bitcoin alphabet. Each leading '1' becomes a
// leading zero byte. It fails on any character outside the alphabet, including white space. The
// work grows with the square of len(s): callers decoding untrusted input should bound its length
// first, as ValidateAddress does.
func DecodeBase58(s string) ([]byte, error) {
	zeros := 0
	for zeros < len(s) && s[zeros] == base58Alphabet[0] {
		zeros++
	}
	// bytes holds the value of the rest of s in base 256, least significant first; each digit
	// needs at most log(58)/log(256) < 0.74 bytes.
	bytes := make([]byte, 0, (len(s)-zeros)*733/1000+1)
	for i := zeros; i < len(s); i++ {
		digit := strings.IndexByte(base58Alphabet, s[i])
		if digit < 0 {
			return nil, fmt.Errorf("base58: invalid character %q at offset %d", s[i], i)
		}
		carry := digit
		for j := range bytes {
			carry += int(bytes[j]) * 58
			bytes[j] = byte(carry)
			carry >>= 8
		}
		for carry > 0 {
			bytes = append(bytes, byte(carry))
			carry >>= 8
		}
	}
	out := make([]byte, zeros+len(bytes))
	for i, b := range bytes {
		out[len(out)-1-i] = b
	}
	return out, nil
}
