package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/justpay/justpay/bench"
	"github.com/justpay/justpay/httpapi"
	"github.com/justpay/justpay/sqlstore/sqlstoretest"
)

// A short real run of the lifecycle benchmark against a server it starts itself: both the HTTP
// lifecycles and the raw baseline are measured, and the run ends with the ledger verified.
func TestBenchLifecycle(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		clearEnv(t)
		out, _ := runArgs(t, 0, "bench", "lifecycle", "--pairs", "2", "--duration", "300ms", "--database-url", b.URL)
		assertLifecycleOutput(t, out, true)
		if !strings.Contains(out, "in-process server") || !strings.Contains(out, b.Name) {
			t.Errorf("output does not name the in-process %s server:\n%s", b.Name, out)
		}
	})
}

// Against a server given by --url, set up over HTTP alone; without --database-url the raw
// baseline is skipped, and says so.
func TestBenchLifecycle_URL(t *testing.T) {
	clearEnv(t)
	const adminToken = "bench-admin-token"
	t.Setenv(EnvAdminToken, adminToken)
	t.Setenv(EnvRateLimitPerKey, "0")
	t.Setenv(EnvRateLimitPerIP, "0")
	m, _ := MustServe(t, sqlstoretest.Backend{Name: "sqlite"})
	if m.Config.RateLimitPerKey != 0 || m.Config.RateLimitPerIP != 0 {
		t.Fatalf("rate limits = %d/%d, want 0/0 from the environment", m.Config.RateLimitPerKey, m.Config.RateLimitPerIP)
	}
	t.Setenv(EnvAdminToken, "")

	out, _ := runArgs(t, 0, "bench", "--url", m.URL(), "--admin-token", adminToken, "--pairs", "2", "--duration", "200ms")
	assertLifecycleOutput(t, out, false)
	if !strings.Contains(out, "raw lifecycles/s:  skipped") {
		t.Errorf("output does not say the raw baseline was skipped:\n%s", out)
	}

	// A wrong admin token fails the run at the ledger check.
	_, stderr := runArgs(t, 1, "bench", "--url", m.URL(), "--admin-token", "wrong", "--pairs", "1", "--duration", "50ms")
	if !strings.Contains(stderr, "verify the ledger") {
		t.Errorf("stderr = %q, want the failed ledger check", stderr)
	}
}

func assertLifecycleOutput(t *testing.T, out string, withRaw bool) {
	t.Helper()
	wants := []string{"HTTP lifecycle", "ledger verified: invariant holds", "ratio:"}
	wants = append(wants, bench.LifecycleCalls...)
	if withRaw {
		wants = append(wants, "raw transactions")
		wants = append(wants, bench.RawCalls...)
	}
	for _, want := range wants {
		if !strings.Contains(out, want) {
			t.Fatalf("output lacks %q:\n%s", want, out)
		}
	}
	for _, label := range []string{"lifecycles/s:", "raw lifecycles/s:", "ratio:"} {
		if !withRaw && label != "lifecycles/s:" {
			continue
		}
		if v, err := strconv.ParseFloat(field(out, label), 64); err != nil || v <= 0 {
			t.Fatalf("%s %q, want a positive number:\n%s", label, field(out, label), out)
		}
	}
}

// A short real run of the campaign benchmark against a server it starts itself: direct jobs and
// the hot campaign are both measured, and the run ends with every balance, the pool and the
// ledger checked.
func TestBenchCampaign(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		clearEnv(t)
		out, _ := runArgs(t, 0, "bench", "campaign", "--agents", "2", "--duration", "300ms", "--database-url", b.URL)
		wants := []string{"HTTP lifecycle", "campaign claim+deliver", "campaign checked:", "ledger verified: invariant holds", "in-process server", b.Name}
		wants = append(wants, bench.LifecycleCalls...)
		wants = append(wants, bench.CampaignCalls...)
		for _, want := range wants {
			if !strings.Contains(out, want) {
				t.Fatalf("output lacks %q:\n%s", want, out)
			}
		}
		for _, label := range []string{"lifecycles/s:", "campaign pairs/s:", "ratio:"} {
			if v, err := strconv.ParseFloat(field(out, label), 64); err != nil || v <= 0 {
				t.Fatalf("%s %q, want a positive number:\n%s", label, field(out, label), out)
			}
		}
	})
}

// Against a server given by --url, the campaign benchmark sets everything up over HTTP alone.
func TestBenchCampaign_URL(t *testing.T) {
	clearEnv(t)
	const adminToken = "bench-admin-token"
	t.Setenv(EnvAdminToken, adminToken)
	t.Setenv(EnvRateLimitPerKey, "0")
	t.Setenv(EnvRateLimitPerIP, "0")
	m, _ := MustServe(t, sqlstoretest.Backend{Name: "sqlite"})
	t.Setenv(EnvAdminToken, "")

	out, _ := runArgs(t, 0, "bench", "campaign", "--url", m.URL(), "--admin-token", adminToken, "--agents", "2", "--duration", "200ms")
	for _, want := range []string{"server at " + m.URL(), "campaign checked:", "ledger verified: invariant holds"} {
		if !strings.Contains(out, want) {
			t.Fatalf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestBenchUsage(t *testing.T) {
	clearEnv(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bench", "--anything"}, "bench lifecycle"},
		{[]string{"bench", "lifecycle", "--pairs", "0"}, "--pairs"},
		{[]string{"bench", "lifecycle", "--duration", "0s"}, "--duration"},
		{[]string{"bench", "--url", "localhost:8080", "--admin-token", "x"}, "--url"},
		{[]string{"bench", "--url", "http://127.0.0.1:1"}, "--admin-token"},
		{[]string{"bench", "lifecycle", "--database-url", "mysql://x"}, "postgres://"},
		{[]string{"bench", "frobnicate"}, "unknown benchmark"},
		{[]string{"bench", "campaign", "--agents", "0"}, "--agents"},
		{[]string{"bench", "campaign", "--agents", "257"}, "--agents"},
		{[]string{"bench", "campaign", "--rounds", "0"}, "--rounds"},
		{[]string{"bench", "campaign", "--pairs", "2"}, "bench campaign"},
		{[]string{"bench", "campaign", "--url", "http://127.0.0.1:1"}, "--admin-token"},
		{[]string{"bench", "campaign", "--database-url", "mysql://x"}, "postgres://"},
		{[]string{"bench", "campaign", "extra"}, "unexpected argument"},
	} {
		if _, stderr := runArgs(t, 2, tc.args...); !strings.Contains(stderr, tc.want) {
			t.Errorf("%q: stderr = %q, want %q", tc.args, stderr, tc.want)
		}
	}
	for _, args := range [][]string{{"bench", "-h"}, {"bench", "lifecycle", "--help"}, {"bench", "campaign", "-h"}, {"bench", "ledger", "-h"}, {"bench", "help"}} {
		if out, _ := runArgs(t, 0, args...); !strings.Contains(out, "justpay bench [lifecycle]") || !strings.Contains(out, "justpay bench campaign [--agents 16]") {
			t.Errorf("%q printed no usage:\n%s", args, out)
		}
	}
}

func TestParseFlags_RateLimits(t *testing.T) {
	def := httpapi.DefaultRateLimits()
	for _, tc := range []struct {
		name          string
		env           map[string]string
		args          []string
		perKey, perIP int
	}{
		{"Defaults", nil, nil, def.PerKey, def.PerIP},
		{"Env", map[string]string{EnvRateLimitPerKey: "0", EnvRateLimitPerIP: "50"}, nil, 0, 50},
		{"FlagBeatsEnv", map[string]string{EnvRateLimitPerKey: "7"}, []string{"--rate-limit-per-key", "9", "--rate-limit-per-ip=0"}, 9, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			m := NewMain(io.Discard, io.Discard)
			if err := m.ParseFlags(context.Background(), tc.args); err != nil {
				t.Fatal(err)
			}
			if m.Config.RateLimitPerKey != tc.perKey || m.Config.RateLimitPerIP != tc.perIP {
				t.Fatalf("rate limits = %d/%d, want %d/%d", m.Config.RateLimitPerKey, m.Config.RateLimitPerIP, tc.perKey, tc.perIP)
			}
			if got := m.rateLimits(); got.PerKey != tc.perKey || got.PerIP != tc.perIP || got.PublicPerIP != def.PublicPerIP {
				t.Fatalf("server limits = %+v", got)
			}
		})
	}
	t.Run("UsageText", func(t *testing.T) {
		for _, want := range []string{
			fmt.Sprintf("(%s, default %d)", EnvRateLimitPerKey, def.PerKey),
			fmt.Sprintf("(%s, default %d)", EnvRateLimitPerIP, def.PerIP),
		} {
			if !strings.Contains(usageText, want) {
				t.Errorf("usage text lacks %q", want)
			}
		}
	})
	t.Run("UsageErrors", func(t *testing.T) {
		clearEnv(t)
		runArgs(t, 2, "serve", "--rate-limit-per-key", "-1")
		runArgs(t, 2, "serve", "--rate-limit-per-ip", "many")
		runArgs(t, 2, "migrate", "--rate-limit-per-ip", "5")
		t.Setenv(EnvRateLimitPerIP, "lots")
		runArgs(t, 2, "serve")
	})
}
