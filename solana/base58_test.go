package solana_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"math/big"
	"testing"

	"github.com/justpay/justpay/solana"
)

func TestBase58Vectors(t *testing.T) {
	tests := []struct {
		name string
		hex  string
		b58  string
	}{
		// The Bitcoin Core base58_encode_decode vectors.
		{"Empty", "", ""},
		{"OneByte", "61", "2g"},
		{"ThreeBytes", "626262", "a3gV"},
		{"ThreeBytesAgain", "636363", "aPEr"},
		{"String", "73696d706c792061206c6f6e6720737472696e67", "2cFupjhnEsSn59qHXstmK2ffpLv2"},
		{"LeadingZero", "00eb15231dfceb60925886b67d065299925915aeb172c06647", "1NS17iag9jJgTHD1VXjvLCEnZuQ3rJDE9L"},
		{"FiveBytes", "516b6fcd0f", "ABnLTmg"},
		{"InnerZero", "bf4f89001e670274dd", "3SEo3LWLoPntC"},
		{"FourBytes", "572e4794", "3EFU7m"},
		{"TenBytes", "ecac89cad93923c02321", "EJDM8drfXA6uyA"},
		{"FourBytesAgain", "10c8511e", "Rt5zm"},
		{"AllZeros", "00000000000000000000", "1111111111"},
		// Solana addresses.
		{"USDCMint", "c6fa7af3bedbad3a3d65f36aabc97431b1bbe4c2d2f6e0e47ca60203452f5d61", solana.USDCMint},
		{"TokenProgram", "06ddf6e1d765a193d9cbe146ceeb79ac1cb485ed5f5b37913a8cf5857eff00a9", "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"},
		{"WrappedSOL", "069b8857feab8184fb687f634618c035dac439dc1aeb3b5598a0f00000000001", "So11111111111111111111111111111111111111112"},
		{"SystemProgram", "0000000000000000000000000000000000000000000000000000000000000000", "11111111111111111111111111111111"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := hex.DecodeString(tt.hex)
			if err != nil {
				t.Fatal(err)
			}
			if got := solana.EncodeBase58(raw); got != tt.b58 {
				t.Errorf("EncodeBase58(%s) = %q, want %q", tt.hex, got, tt.b58)
			}
			got, err := solana.DecodeBase58(tt.b58)
			if err != nil {
				t.Fatalf("DecodeBase58(%q): %v", tt.b58, err)
			}
			if !bytes.Equal(got, raw) {
				t.Errorf("DecodeBase58(%q) = %x, want %x", tt.b58, got, raw)
			}
		})
	}
}

func TestDecodeBase58Invalid(t *testing.T) {
	for _, s := range []string{"0", "O", "I", "l", "3mJr0", "O3yxU", "3sNI", "4kl8", " 2g", "2g ", "2g\n", "a+b", "é", "1\x00"} {
		if got, err := solana.DecodeBase58(s); err == nil {
			t.Errorf("DecodeBase58(%q) = %x, want an error", s, got)
		}
	}
}

func TestBase58RoundTripRandom(t *testing.T) {
	for n := range 80 {
		b := make([]byte, n)
		rand.Read(b)
		// Force leading zeros on some inputs to exercise the '1' prefix.
		for i := 0; i < n && i < n%4; i++ {
			b[i] = 0
		}
		s := solana.EncodeBase58(b)
		got, err := solana.DecodeBase58(s)
		if err != nil {
			t.Fatalf("DecodeBase58(EncodeBase58(%x)): %v", b, err)
		}
		if !bytes.Equal(got, b) {
			t.Fatalf("round trip of %x gave %x via %q", b, got, s)
		}
		// Cross-check against math/big: the part after the leading '1's is the number in base 58.
		want := new(big.Int).SetBytes(b)
		gotInt := new(big.Int)
		for _, c := range s {
			gotInt.Mul(gotInt, big.NewInt(58))
			gotInt.Add(gotInt, big.NewInt(int64(indexOf(c))))
		}
		if gotInt.Cmp(want) != 0 {
			t.Fatalf("EncodeBase58(%x) = %q, which is %v, not %v", b, s, gotInt, want)
		}
	}
}

func indexOf(c rune) int {
	const alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
	for i, a := range alphabet {
		if a == c {
			return i
		}
	}
	return -1
}
