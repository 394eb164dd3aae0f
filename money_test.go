package justpay_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/justpay/justpay"
)

func TestParseUSD(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"10", 10_000_000, true}, {"10.00", 10_000_000, true}, {"0.000001", 1, true}, {".5", 500_000, true},
		{"100.123456", 100_123_456, true}, {"9223372036854.775807", math.MaxInt64, true},
		{"9223372036854.775808", 0, false}, {"1.0000001", 0, false}, {"-1", 0, false}, {"+1", 0, false},
		{"1e6", 0, false}, {"", 0, false}, {".", 0, false}, {"1.", 0, false}, {"1,5", 0, false}, {" 1", 0, false},
		{"NaN", 0, false}, {"0x10", 0, false},
	} {
		got, err := justpay.ParseUSD(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseUSD(%q) = %d, %v; want %d ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
		if err != nil && justpay.ErrorCode(err) != justpay.EINVALID {
			t.Errorf("ParseUSD(%q) error code = %q", tc.in, justpay.ErrorCode(err))
		}
	}
}

func TestFormatUSDC(t *testing.T) {
	for in, want := range map[int64]string{
		1_000_000: "1.00 USDC", 100_000: "0.10 USDC", 1: "0.000001 USDC", 0: "0.00 USDC", 4_900_000: "4.90 USDC",
		123_456_789: "123.456789 USDC", -1_500_000: "-1.50 USDC",
	} {
		if got := justpay.FormatUSDC(in); got != want {
			t.Errorf("FormatUSDC(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestBasisPointsFee(t *testing.T) {
	for _, tc := range []struct{ amount, bps, want int64 }{
		{500_000, 300, 15_000}, {1_000_000, 500, 50_000}, {0, 300, 0},
		{50, 300, 2}, // 1.5 rounds half up to 2
		{49, 300, 1}, // 1.47 rounds to 1
		{16, 300, 0}, // 0.48 rounds to 0
		{17, 300, 1}, // 0.51 rounds to 1
		{math.MaxInt64, 300, 276701161105643274},
		{math.MaxInt64, 20000, math.MaxInt64}, // saturates instead of overflowing
	} {
		if got := justpay.BasisPointsFee(tc.amount, tc.bps); got != tc.want {
			t.Errorf("BasisPointsFee(%d, %d) = %d, want %d", tc.amount, tc.bps, got, tc.want)
		}
	}
}

func TestLedgerTxValidate(t *testing.T) {
	a, b, c := justpay.AgentAvailable("a"), justpay.AgentAvailable("b"), justpay.PlatformRevenue
	for _, tc := range []struct {
		name    string
		entries []justpay.Entry
		ok      bool
	}{
		{"OK", []justpay.Entry{{Account: a, Amount: -5}, {Account: b, Amount: 3}, {Account: c, Amount: 2}}, true},
		{"ErrUnbalanced", []justpay.Entry{{Account: a, Amount: -5}, {Account: b, Amount: 4}}, false},
		{"ErrOneEntry", []justpay.Entry{{Account: a, Amount: 0}}, false},
		{"ErrZero", []justpay.Entry{{Account: a, Amount: 0}, {Account: b, Amount: 0}}, false},
		{"ErrRepeated", []justpay.Entry{{Account: a, Amount: -1}, {Account: a, Amount: 1}}, false},
		{"ErrMinInt64", []justpay.Entry{{Account: a, Amount: math.MinInt64}, {Account: b, Amount: math.MaxInt64}, {Account: c, Amount: 1}}, false},
		{"ErrOverflow", []justpay.Entry{{Account: a, Amount: math.MaxInt64}, {Account: b, Amount: math.MaxInt64}, {Account: c, Amount: 2}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lt := justpay.LedgerTx{Type: justpay.TxSpent, Entries: tc.entries}
			if err := lt.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestPlanWithdrawal(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	until := now.Add(time.Hour)
	withAddr := &justpay.Agent{WithdrawalAddress: "addr"}
	cooling := &justpay.Agent{WithdrawalAddress: "addr", AddressChangedAt: &now, WithdrawalCooldownUntil: &until}
	for _, tc := range []struct {
		name   string
		agent  *justpay.Agent
		amount int64
		code   string
	}{
		{"OK", withAddr, 5_000_000, ""},
		{"ErrBelowMinimum", withAddr, 4_999_999, justpay.EINVALID},
		{"ErrNoAddress", &justpay.Agent{}, 5_000_000, justpay.EINVALID},
		{"ErrCooldown", cooling, 5_000_000, justpay.EFORBIDDEN},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fee, net, err := justpay.PlanWithdrawal(tc.agent, tc.amount, now)
			if justpay.ErrorCode(err) != tc.code {
				t.Fatalf("code = %q (%v), want %q", justpay.ErrorCode(err), err, tc.code)
			}
			if err == nil && (fee != 100_000 || net != tc.amount-100_000) {
				t.Fatalf("fee, net = %d, %d", fee, net)
			}
		})
	}
	if _, _, err := justpay.PlanWithdrawal(cooling, 5_000_000, until); err != nil {
		t.Fatalf("cooldown should end at its deadline: %v", err)
	}
	if w := justpay.BalanceWarnings(cooling, now); len(w) != 1 || !strings.Contains(w[0], "panic") {
		t.Fatalf("warnings = %q", w)
	}
}

func TestNewAPIKey(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		k := justpay.NewAPIKey()
		if !strings.HasPrefix(k, "jp_") || len(k) < 40 || seen[k] {
			t.Fatalf("key %q", k)
		}
		seen[k] = true
	}
	if id := justpay.NewID(time.Now()); len(id) != 25 || id[0] != 'c' {
		t.Fatalf("id %q", id)
	}
}

func TestValidateJSON(t *testing.T) {
	for doc, ok := range map[string]bool{
		`{"a":"b"}`:            true,
		`{"a":"\u0000"}`:       false,
		`{"a":"x\u0000y"}`:     false,
		`{"\u0000":1}`:         false,
		`{"a":"\\u0000"}`:      true, // an escaped backslash, then the text u0000
		`{"a":"\\\u0000"}`:     false,
		`{"a":"\u00001"}`:      false,
		`["\\\\u0000"]`:        true,
		`{"a":"\u0001\u0000"}`: false,
	} {
		if err := justpay.ValidateJSON("input", []byte(doc)); (err == nil) != ok {
			t.Errorf("ValidateJSON(%s) = %v, want ok=%v", doc, err, ok)
		}
	}
}
