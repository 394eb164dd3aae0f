package httpapi

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/justpay/justpay"
)

// mustJSON encodes v and decodes it back into a generic map, to compare shapes.
func mustJSON(tb testing.TB, v any) map[string]any {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		tb.Fatal(err)
	}
	return m
}

func TestConfirmDepositResponse(t *testing.T) {
	t.Run("None", func(t *testing.T) {
		got := mustJSON(t, newConfirmDepositResponse(&justpay.DepositResult{Activated: true}))
		want := map[string]any{
			"message":       "No new deposits found. Make sure your USDC transfer is confirmed on-chain before retrying.",
			"depositsFound": 0.0,
			"activated":     true,
		}
		if len(got) != len(want) {
			t.Fatalf("got %v, want %v", got, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("%s = %v, want %v", k, got[k], v)
			}
		}
	})
	t.Run("FoundWithAction", func(t *testing.T) {
		got := mustJSON(t, newConfirmDepositResponse(&justpay.DepositResult{
			Deposits:         []justpay.Deposit{{Signature: "sig1", From: "W1", Amount: 9_000_000, Activated: true}},
			TotalCredited:    8_000_000,
			Activated:        true,
			SuggestedAddress: "W1",
		}))
		if got["message"] != "1 deposit(s) credited to your account" || got["depositsFound"] != 1.0 ||
			got["totalCredited"] != "8000000" || got["activated"] != true {
			t.Fatalf("got %v", got)
		}
		deps := got["deposits"].([]any)
		d := deps[0].(map[string]any)
		if len(deps) != 1 || d["signature"] != "sig1" || d["amount"] != "9000000" || d["from"] != "W1" || d["activation"] != true {
			t.Fatalf("deposits = %v", deps)
		}
		action := got["action"].(map[string]any)
		if action["type"] != "set_withdrawal_address" || action["suggestedAddress"] != "W1" || action["message"] == "" {
			t.Fatalf("action = %v", action)
		}
	})
	t.Run("FoundNotActivated", func(t *testing.T) {
		got := mustJSON(t, newConfirmDepositResponse(&justpay.DepositResult{
			Deposits:      []justpay.Deposit{{Signature: "s", From: "W", Amount: 500_000}, {Signature: "t", From: "W", Amount: 600_000}},
			TotalCredited: 1_100_000,
		}))
		want := "2 deposit(s) credited to your account. Your agent is not activated yet: activation needs a single deposit of at least 1.00 USDC."
		if got["message"] != want || got["activated"] != false {
			t.Fatalf("got %v", got)
		}
		if _, ok := got["action"]; ok {
			t.Fatal("no action without a suggested address")
		}
	})
}

func TestProfileResponse(t *testing.T) {
	created := time.Date(2026, 2, 9, 12, 0, 0, 0, time.UTC)
	a := &justpay.Agent{ID: "c1", Name: "bot", DepositAddress: "DEP", CreatedAt: created, UpdatedAt: created}
	got := mustJSON(t, newProfileResponse(a, &justpay.Balance{Available: 4_500_000, Escrowed: 1_000_000}))
	for _, k := range []string{"description", "callbackUrl", "email", "avatarUrl", "websiteUrl", "activatedAt",
		"withdrawalAddress", "emergencyAddress", "withdrawalCooldownUntil"} {
		v, ok := got[k]
		if !ok || v != nil {
			t.Errorf("%s = %v (present %v), want null", k, v, ok)
		}
	}
	if caps, ok := got["capabilities"].([]any); !ok || len(caps) != 0 {
		t.Errorf("capabilities = %v, want []", got["capabilities"])
	}
	if got["walletAddress"] != "DEP" || got["createdAt"] != "2026-02-09T12:00:00.000Z" || got["activated"] != false {
		t.Errorf("got %v", got)
	}
	wallet := got["wallet"].(map[string]any)
	if wallet["available"] != "4500000" || wallet["pending"] != "0" || wallet["escrowed"] != "1000000" || wallet["total"] != "5500000" {
		t.Errorf("wallet = %v", wallet)
	}
	if got["completedJobs"] != 0.0 || got["averageRating"] != nil || got["ratingCount"] != 0.0 || got["trustScore"] != 0.65 {
		t.Errorf("reputation of an agent without history = %v", got)
	}
	if got["totalDisputesFiled"] != 0.0 || got["clientDisputeRate"] != 0.0 || got["clientRestricted"] != false ||
		got["pendingReportCount"] != 0.0 || got["warning"] != nil {
		t.Errorf("client reputation and reports of an agent without history = %v", got)
	}
	if len(got) != 27 {
		t.Errorf("profile has %d fields, want 27: %v", len(got), got)
	}
}
