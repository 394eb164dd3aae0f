package justpay

import (
	"math"
	"math/big"
	"strconv"
	"strings"
)

// Money is held as int64 micro-USDC everywhere inside: 1 USDC = 1,000,000 micro-units.
const (
	MicroPerUSDC = 1_000_000

	// ActivationFee is charged once, from the first deposit of at least this much.
	ActivationFee int64 = 1 * MicroPerUSDC
	// MinWithdrawal is the smallest amount POST /wallet/withdraw accepts.
	MinWithdrawal int64 = 5 * MicroPerUSDC
	// WithdrawalFee is the flat fee that covers Solana gas, taken from every withdrawal.
	WithdrawalFee int64 = 100_000
)

// FormatMicro renders micro-units as the decimal string the API returns ("500000").
func FormatMicro(v int64) string { return strconv.FormatInt(v, 10) }

// FormatUSDC renders micro-units for people: "1.00 USDC", "0.123456 USDC".
func FormatUSDC(v int64) string {
	neg := v < 0
	u := uint64(v)
	if neg {
		u = uint64(-v)
	}
	whole, frac := u/MicroPerUSDC, u%MicroPerUSDC
	f := strings.TrimRight(strconv.FormatUint(frac+MicroPerUSDC, 10)[1:], "0")
	for len(f) < 2 {
		f += "0"
	}
	s := strconv.FormatUint(whole, 10) + "." + f + " USDC"
	if neg {
		s = "-" + s
	}
	return s
}

// ParseUSD parses a decimal dollar amount ("10", "10.5", "0.000001") exactly, without float64,
// into micro-units. More than 6 decimals, a sign, an exponent or an overflow is EINVALID.
func ParseUSD(s string) (int64, error) {
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" && (!hasDot || frac == "") || len(frac) > 6 || (hasDot && frac == "") {
		return 0, Errorf(EINVALID, "amount %q must be a decimal number with at most 6 decimals", s)
	}
	for _, part := range []string{whole, frac} {
		for _, r := range part {
			if r < '0' || r > '9' {
				return 0, Errorf(EINVALID, "amount %q must be a decimal number with at most 6 decimals", s)
			}
		}
	}
	if whole == "" {
		whole = "0"
	}
	frac += strings.Repeat("0", 6-len(frac))
	n, ok := new(big.Int).SetString(whole+frac, 10)
	if !ok || !n.IsInt64() {
		return 0, Errorf(EINVALID, "amount %q is too large", s)
	}
	return n.Int64(), nil
}

// BasisPointsFee returns amount*bps/10000 rounded half up to the micro-unit. amount and bps must be
// non-negative; the result never overflows for any int64 amount.
func BasisPointsFee(amount, bps int64) int64 {
	p := new(big.Int).Mul(big.NewInt(amount), big.NewInt(bps))
	p.Add(p, big.NewInt(5000))
	p.Quo(p, big.NewInt(10000))
	if !p.IsInt64() {
		return math.MaxInt64
	}
	return p.Int64()
}

// AddMicro adds two non-negative amounts, reporting EINVALID on overflow.
func AddMicro(a, b int64) (int64, error) {
	if a > math.MaxInt64-b {
		return 0, Errorf(EINVALID, "amount too large")
	}
	return a + b, nil
}
