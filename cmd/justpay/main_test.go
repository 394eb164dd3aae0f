package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/justpay/justpay/solana"
	"github.com/justpay/justpay/sqlstore"
	"github.com/justpay/justpay/sqlstore/sqlstoretest"
)

// The walkthrough of the README, over real HTTP against a booted Main: register, fund from a
// personal wallet on the simulated chain, confirm, set the suggested withdrawal address, withdraw,
// advance the clock so the scheduler sends it, and check the books.
func TestServe_Walkthrough(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		const adminToken = "test-admin-token"
		clearEnv(t)
		t.Setenv(EnvAdminToken, adminToken)
		if b.URL != "" {
			t.Setenv(EnvMasterKey, strings.Repeat("ab", 32)) // the non-dev key path
		}
		m, env := MustServe(t, b)
		c := &client{t: t, base: m.URL()}

		// Register.
		var reg struct {
			AgentID       string `json:"agentId"`
			APIKey        string `json:"apiKey"`
			WalletAddress string `json:"walletAddress"`
			Activated     bool   `json:"activated"`
		}
		c.Do("POST", "/api/v1/auth/register", `{"name":"walkthrough-bot"}`, http.StatusCreated, &reg)
		if !strings.HasPrefix(reg.APIKey, "jp_") || reg.WalletAddress == "" || reg.Activated {
			t.Fatalf("register = %+v, want a jp_ key, a wallet address and activated false", reg)
		}
		if err := solana.ValidateAddress(reg.WalletAddress); err != nil {
			t.Fatalf("walletAddress %q: %v", reg.WalletAddress, err)
		}
		c.key = reg.APIKey

		// Deposit address.
		var dep struct{ Address, Network, Token string }
		c.Do("GET", "/api/v1/wallet/deposit-address", "", http.StatusOK, &dep)
		if dep.Address != reg.WalletAddress || dep.Network != "solana" || dep.Token != "USDC" {
			t.Fatalf("deposit-address = %+v, want %s on solana in USDC", dep, reg.WalletAddress)
		}

		// 10 USDC from a personal wallet on the simulated chain.
		wallet := sqlstoretest.NewWallet(t)
		var transfer struct{ Signature string }
		c.Do("POST", "/dev/chain/transfer", `{"from":"`+wallet+`","to":"`+dep.Address+`","amount":10000000}`, http.StatusOK, &transfer)
		if transfer.Signature == "" {
			t.Fatal("dev transfer returned no signature")
		}

		// Confirm it.
		var confirm struct {
			DepositsFound int    `json:"depositsFound"`
			TotalCredited string `json:"totalCredited"`
			Activated     bool   `json:"activated"`
			Action        *struct {
				Type             string `json:"type"`
				SuggestedAddress string `json:"suggestedAddress"`
			} `json:"action"`
		}
		c.Do("POST", "/api/v1/wallet/confirm-deposit", "", http.StatusOK, &confirm)
		if !confirm.Activated || confirm.DepositsFound != 1 || confirm.TotalCredited != "10000000" ||
			confirm.Action == nil || confirm.Action.SuggestedAddress != wallet {
			t.Fatalf("confirm-deposit = %+v (action %+v), want 1 deposit of 10000000, activated, suggesting %s",
				confirm, confirm.Action, wallet)
		}

		assertBalance(c, "9000000", "0")

		// Accept the suggested withdrawal address: the first one has no cooldown.
		var set map[string]any
		c.Do("PUT", "/api/v1/wallet/withdrawal-address", `{"address":"`+confirm.Action.SuggestedAddress+`"}`, http.StatusOK, &set)
		if v, ok := set["cooldownUntil"]; !ok || v != nil {
			t.Fatalf("withdrawal-address = %v, want cooldownUntil null", set)
		}

		// Withdraw 5 USDC.
		var wd struct{ Fee, NetAmount, TransactionID string }
		c.Do("POST", "/api/v1/wallet/withdraw", `{"amount":5000000}`, http.StatusOK, &wd)
		if wd.Fee != "100000" || wd.NetAmount != "4900000" || wd.TransactionID == "" {
			t.Fatalf("withdraw = %+v, want fee 100000 and netAmount 4900000", wd)
		}

		// One second later the scheduler has sent it.
		var adv struct{ Now string }
		c.Do("POST", "/dev/clock/advance", `{"seconds":1}`, http.StatusOK, &adv)
		if want := "2026-02-09T12:00:01.000Z"; adv.Now != want {
			t.Fatalf("clock advance: now = %q, want %q", adv.Now, want)
		}
		assertBalance(c, "4000000", "0")

		var txs struct {
			Transactions []struct{ Type, Amount, Direction string } `json:"transactions"`
		}
		c.Do("GET", "/api/v1/wallet/transactions", "", http.StatusOK, &txs)
		var got []string
		for _, tx := range txs.Transactions {
			got = append(got, tx.Type+" "+tx.Direction+" "+tx.Amount)
		}
		slices.Sort(got)
		if want := []string{"deposit in 10000000", "fee out 1000000", "withdrawal out 5000000"}; !slices.Equal(got, want) {
			t.Fatalf("transactions = %q, want %q", got, want)
		}

		// The books, through the admin API: with the static token and with one from `admin token`.
		admin := &client{t: t, base: m.URL()}
		admin.Do("GET", "/api/v1/admin/ledger/verify", "", http.StatusUnauthorized, nil)
		var ledger struct {
			OK       bool              `json:"ok"`
			Totals   map[string]string `json:"totals"`
			Problems []string          `json:"problems"`
		}
		admin.key = adminToken
		admin.Do("GET", "/api/v1/admin/ledger/verify", "", http.StatusOK, &ledger)
		if !ledger.OK || ledger.Totals["external:solana"] != "-5100000" || ledger.Totals["platform:gas"] != "100000" ||
			ledger.Totals["platform:revenue"] != "1000000" {
			t.Fatalf("admin ledger verify = %+v, want ok with 5.10 USDC net in from the chain", ledger)
		}
		out := MustRun(t, 0, "admin", "token", "--data-dir", env.DataDir, "--database-url", env.DatabaseURL)
		admin.key = strings.TrimSpace(out)
		if !strings.HasPrefix(admin.key, "jpadmin_") {
			t.Fatalf("admin token printed %q, want a jpadmin_ token alone", out)
		}
		admin.Do("GET", "/api/v1/admin/ledger/verify", "", http.StatusOK, &ledger)

		// Platform routes.
		public := &client{t: t, base: m.URL()}
		public.Do("GET", "/healthz", "", http.StatusOK, nil)
		var stats struct {
			DevMode bool `json:"devMode"`
		}
		public.Do("GET", "/api/v1/stats", "", http.StatusOK, &stats)
		if !stats.DevMode {
			t.Error("stats: devMode = false, want true")
		}
		if metrics := public.Raw("GET", "/metrics", http.StatusOK); !strings.Contains(metrics, "justpay_http_requests_total") ||
			!strings.Contains(metrics, "go_goroutines") {
			t.Errorf("/metrics lacks justpay_http_requests_total or go_goroutines:\n%.2000s", metrics)
		}
		var notFound struct{ Error string }
		public.Do("GET", "/api/v1/no-such-route", "", http.StatusNotFound, &notFound)
		if notFound.Error == "" {
			t.Error("unknown route: no JSON error")
		}

		if err := m.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
		if _, err := http.Get(c.base + "/healthz"); err == nil {
			t.Fatal("server still answers after Close")
		}
		// The database is left consistent and closed cleanly.
		MustRun(t, 0, "ledger", "verify", "--data-dir", env.DataDir, "--database-url", env.DatabaseURL)
	})
}

func assertBalance(c *client, available, pending string) {
	c.t.Helper()
	var bal struct{ Available, Pending string }
	c.Do("GET", "/api/v1/wallet/balance", "", http.StatusOK, &bal)
	if bal.Available != available || bal.Pending != pending {
		c.t.Fatalf("balance = %+v, want available %s, pending %s", bal, available, pending)
	}
}

// Close with a request in flight lets it finish before returning, while refusing new connections.
func TestServe_CloseDrainsInFlightRequests(t *testing.T) {
	clearEnv(t)
	m, _ := MustServe(t, sqlstoretest.Backend{Name: "sqlite"})
	host := strings.TrimPrefix(m.URL(), "http://")

	// Expect: 100-continue makes the server tell us when the handler starts reading the body; the
	// body comes from a pipe, so the request then stays in the handler until we finish it.
	body, bodyWriter := io.Pipe()
	handlerReading := make(chan struct{})
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		Got100Continue: func() { close(handlerReading) },
	})
	req, err := http.NewRequestWithContext(ctx, "POST", m.URL()+"/api/v1/auth/register", body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Expect", "100-continue")
	transport := &http.Transport{ExpectContinueTimeout: time.Minute}
	defer transport.CloseIdleConnections()

	type result struct {
		status int
		body   string
		err    error
	}
	results := make(chan result, 1)
	go func() {
		resp, err := (&http.Client{Transport: transport}).Do(req)
		if err != nil {
			results <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		results <- result{resp.StatusCode, string(b), err}
	}()
	select {
	case <-handlerReading:
	case r := <-results:
		t.Fatalf("request ended before its body was sent: %+v", r)
	case <-time.After(10 * time.Second):
		t.Fatal("the handler never started reading the body")
	}

	closed := make(chan error, 1)
	go func() { closed <- m.Close() }()

	// Close has begun once the listener refuses connections.
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", host, time.Second)
		if err != nil {
			break
		}
		conn.Close()
		if time.Now().After(deadline) {
			t.Fatal("the listener still accepts connections after Close began")
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a request was in flight", err)
	default:
	}

	if _, err := io.WriteString(bodyWriter, `{"name":"slow-bot"}`); err != nil {
		t.Fatal(err)
	}
	bodyWriter.Close()
	r := <-results
	if r.err != nil || r.status != http.StatusCreated || !strings.Contains(r.body, `"apiKey":"jp_`) {
		t.Fatalf("in-flight request ended with %d %q (err %v), want 201 with an API key", r.status, r.body, r.err)
	}
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("close: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Close did not return after the last request finished")
	}
}

func TestLedgerVerify(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		clearEnv(t)
		cfg := sqlstoretest.Config(t, b, sqlstoretest.NewClock())
		dir := t.TempDir()
		cfg.SQLitePath = dir + "/" + SQLiteFile
		args := []string{"--data-dir", dir, "--database-url", cfg.URL}

		t.Run("NoDatabase", func(t *testing.T) {
			if b.URL != "" {
				t.Skip("only SQLite has a file that may be missing")
			}
			_, stderr := runArgs(t, 1, append([]string{"ledger", "verify"}, args...)...)
			if !strings.Contains(stderr, "no database at") {
				t.Fatalf("stderr = %q, want it to say there is no database", stderr)
			}
		})

		out := MustRun(t, 0, append([]string{"migrate"}, args...)...)
		if !strings.Contains(out, "schema is current") {
			t.Fatalf("migrate printed %q", out)
		}
		t.Run("Empty", func(t *testing.T) {
			out := MustRun(t, 0, append([]string{"ledger", "verify"}, args...)...)
			if !strings.Contains(out, "ledger OK") || !strings.Contains(out, "transactions  0") {
				t.Fatalf("ledger verify printed:\n%s", out)
			}
		})

		// Money through the real store: 10 USDC deposited, 1 USDC activation fee.
		db, err := sqlstore.Open(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		env := sqlstoretest.Wire(t, db, sqlstoretest.NewClock())
		agent, _ := env.MustRegister(t, "ledger-bot")
		env.MustActivate(t, agent, 10_000_000)
		db.Close()

		t.Run("OK", func(t *testing.T) {
			out := MustRun(t, 0, append([]string{"ledger", "verify"}, args...)...)
			for _, want := range []string{
				"ledger OK", "transactions  2", "postings      4", "accounts      3",
				"agent:*:available    9.00 USDC", "external:solana    -10.00 USDC", "platform:revenue     1.00 USDC",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("ledger verify output lacks %q:\n%s", want, out)
				}
			}
			if i, j := strings.Index(out, "agent:*:available"), strings.Index(out, "platform:revenue"); i > j {
				t.Errorf("totals are not sorted by name:\n%s", out)
			}
		})

		t.Run("Corrupted", func(t *testing.T) {
			driver, dsn := "sqlite", cfg.SQLitePath
			if b.URL != "" {
				driver, dsn = "pgx", cfg.URL
			}
			raw := mustSQL(t, driver, dsn)
			if _, err := raw.Exec(`UPDATE ledger_balances SET balance = balance + 1 WHERE account = $1`,
				"agent:"+agent.ID+":available"); err != nil {
				t.Fatal(err)
			}
			raw.Close()
			out, stderr := runArgs(t, 1, append([]string{"ledger", "verify"}, args...)...)
			want := "account agent:" + agent.ID + ":available: materialized balance differs from its postings by 1"
			if !strings.Contains(out, "ledger BROKEN: 1 problem(s)") || !strings.Contains(out, want) {
				t.Fatalf("ledger verify output lacks %q:\n%s", want, out)
			}
			if !strings.Contains(stderr, "invariant does not hold") {
				t.Fatalf("stderr = %q", stderr)
			}
		})
	})
}

func TestDevSendUSDC(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		clearEnv(t)
		m, _ := MustServe(t, b)
		c := &client{t: t, base: m.URL()}
		var reg struct{ APIKey, WalletAddress string }
		c.Do("POST", "/api/v1/auth/register", `{"name":"cli-funded-bot"}`, http.StatusCreated, &reg)
		c.key = reg.APIKey

		out := MustRun(t, 0, "dev", "send-usdc", "--to", reg.WalletAddress, "--amount", "2.5", "--url", m.URL())
		sig, from := field(out, "signature:"), field(out, "from:")
		if sig == "" || solana.ValidateAddress(from) != nil {
			t.Fatalf("send-usdc printed no signature or sending wallet:\n%s", out)
		}

		var confirm struct {
			TotalCredited string `json:"totalCredited"`
			Activated     bool   `json:"activated"`
			Deposits      []struct{ Signature, From string }
		}
		c.Do("POST", "/api/v1/wallet/confirm-deposit", "", http.StatusOK, &confirm)
		if confirm.TotalCredited != "2500000" || !confirm.Activated || len(confirm.Deposits) != 1 ||
			confirm.Deposits[0].Signature != sig || confirm.Deposits[0].From != from {
			t.Fatalf("confirm-deposit = %+v, want the 2500000 sent with signature %s from %s", confirm, sig, from)
		}

		t.Run("ServerRefuses", func(t *testing.T) {
			_, stderr := runArgs(t, 1, "dev", "send-usdc", "--to", reg.WalletAddress, "--from", reg.WalletAddress,
				"--amount", "1", "--url", m.URL())
			if !strings.Contains(stderr, "from and to must be different addresses") {
				t.Fatalf("stderr = %q, want the server's error", stderr)
			}
		})
		t.Run("BadAmount", func(t *testing.T) {
			for _, amount := range []string{"0", "1.0000001", "-1", "1e6", "abc"} {
				_, stderr := runArgs(t, 2, "dev", "send-usdc", "--to", reg.WalletAddress, "--amount", amount, "--url", m.URL())
				if !strings.Contains(stderr, "--amount") {
					t.Errorf("amount %q: stderr = %q", amount, stderr)
				}
			}
		})
	})
}

func TestParseFlags(t *testing.T) {
	type want struct {
		command, addr, dataDir, databaseURL, logFormat string
	}
	const pg = "postgres://u@db/justpay"
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want want
	}{
		{"Defaults", nil, nil, want{"serve", ":8080", "./justpay-data", "", "text"}},
		{"ServeExplicit", nil, []string{"serve"}, want{"serve", ":8080", "./justpay-data", "", "text"}},
		{"Env", map[string]string{EnvAddr: ":9000", EnvDataDir: "/srv/jp", EnvDatabaseURL: pg, EnvLogFormat: "json"},
			nil, want{"serve", ":9000", "/srv/jp", pg, "json"}},
		{"Flags", nil, []string{"--addr", ":7000", "--data-dir", "d", "--database-url", pg, "--log-format", "json"},
			want{"serve", ":7000", "d", pg, "json"}},
		{"FlagBeatsEnv",
			map[string]string{EnvAddr: ":9000", EnvDataDir: "/srv/jp", EnvDatabaseURL: pg, EnvLogFormat: "json"},
			[]string{"serve", "-addr=:7000", "--data-dir=d", "--database-url=", "--log-format=text"},
			want{"serve", ":7000", "d", "", "text"}},
		{"EmptyEnvIsUnset", map[string]string{EnvAddr: "", EnvDataDir: "", EnvLogFormat: ""},
			nil, want{"serve", ":8080", "./justpay-data", "", "text"}},
		{"Migrate", map[string]string{EnvDataDir: "/srv/jp"}, []string{"migrate", "--database-url", pg},
			want{"migrate", "", "/srv/jp", pg, "text"}},
		{"LedgerVerify", map[string]string{EnvDatabaseURL: pg}, []string{"ledger", "verify", "--data-dir", "x"},
			want{"ledger verify", "", "x", pg, "text"}},
		{"AdminToken", nil, []string{"admin", "token", "--log-format", "json"},
			want{"admin token", "", "./justpay-data", "", "json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			m := NewMain(io.Discard, io.Discard)
			if err := m.ParseFlags(context.Background(), tc.args); err != nil {
				t.Fatalf("ParseFlags(%q): %v", tc.args, err)
			}
			c := m.Config
			got := want{m.Command, c.Addr, c.DataDir, c.DatabaseURL, c.LogFormat}
			if got != tc.want {
				t.Fatalf("ParseFlags(%q) with env %v\n got %+v\nwant %+v", tc.args, tc.env, got, tc.want)
			}
		})
	}

	t.Run("SecretsFromEnv", func(t *testing.T) {
		clearEnv(t)
		t.Setenv(EnvAdminToken, "adm")
		t.Setenv(EnvMasterKey, "key")
		m := NewMain(io.Discard, io.Discard)
		if err := m.ParseFlags(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		if m.Config.AdminToken != "adm" || m.Config.MasterKey != "key" {
			t.Fatalf("config = %+v, want the admin token and master key from the environment", m.Config)
		}
	})

	t.Run("SendUSDC", func(t *testing.T) {
		clearEnv(t)
		m := NewMain(io.Discard, io.Discard)
		err := m.ParseFlags(context.Background(), []string{"dev", "send-usdc", "--to", "T", "--amount", "0.000001"})
		if err != nil {
			t.Fatal(err)
		}
		if s := m.Config.SendUSDC; s.Amount != 1 || s.To != "T" || s.From != "" || s.ServerURL != DefaultServerURL {
			t.Fatalf("send-usdc config = %+v", s)
		}
	})

	t.Run("UsageErrors", func(t *testing.T) {
		clearEnv(t)
		for _, args := range [][]string{
			{"frobnicate"}, {"ledger"}, {"ledger", "check"}, {"admin"}, {"dev", "send-btc"},
			{"serve", "--no-such-flag"}, {"serve", "extra"}, {"migrate", "--addr", ":1"},
			{"--log-format", "xml"}, {"--database-url", "mysql://x"}, {"--data-dir", ""},
			{"dev", "send-usdc", "--amount", "1"}, {"dev", "send-usdc", "--to", "T"},
			{"dev", "send-usdc", "--to", "T", "--amount", "1", "--url", "localhost:8080"},
		} {
			runArgs(t, 2, args...)
		}
		t.Setenv(EnvLogFormat, "yaml")
		runArgs(t, 2, "migrate")
	})

	t.Run("Help", func(t *testing.T) {
		clearEnv(t)
		for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}, {"serve", "-h"}, {"ledger", "--help"}} {
			out, _ := runArgs(t, 0, args...)
			if !strings.Contains(out, "justpay ledger verify") || !strings.Contains(out, "JUSTPAY_MASTER_KEY") {
				t.Errorf("%q printed no usage:\n%s", args, out)
			}
		}
	})

	t.Run("BenchUsage", func(t *testing.T) {
		clearEnv(t)
		for _, args := range [][]string{{"bench", "ledger", "--anything"}, {"bench", "ledger", "--callers", "0"}, {"bench", "ledger", "--rounds", "0"}} {
			if _, stderr := runArgs(t, 2, args...); !strings.Contains(stderr, "bench ledger") {
				t.Fatalf("%q stderr = %q", args, stderr)
			}
		}
	})
}

// A short real run of the ledger benchmark on SQLite: it measures both operations and ends by
// verifying the ledger it wrote.
func TestBenchLedger(t *testing.T) {
	clearEnv(t)
	out, _ := runArgs(t, 0, "bench", "ledger", "--duration", "100ms", "--rounds", "1", "--callers", "1,2")
	for _, want := range []string{"raw update+insert", "ledger transfer", "ratio", "ledger verified: invariant holds"} {
		if !strings.Contains(out, want) {
			t.Fatalf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestEnv is the environment of a Main started by MustServe.
type TestEnv struct {
	// DataDir is the server's data directory (SQLite database, dev master key).
	DataDir string
	// DatabaseURL is the PostgreSQL URL of the test's own schema; "" on SQLite.
	DatabaseURL string
	// Logs holds what the server logged.
	Logs *syncBuffer
}

// MustServe starts `justpay serve` on a free local port, with a fresh data directory (and a fresh
// PostgreSQL schema on that backend), over a clock standing still at sqlstoretest.Epoch. It is
// closed at the end of the test; the logs are printed if the test fails.
func MustServe(tb testing.TB, b sqlstoretest.Backend) (*Main, TestEnv) {
	tb.Helper()
	env := TestEnv{DataDir: tb.TempDir(), Logs: &syncBuffer{}}
	clock := sqlstoretest.NewClock()
	if b.URL != "" {
		env.DatabaseURL = sqlstoretest.Config(tb, b, clock).URL
		if os.Getenv(EnvMasterKey) == "" {
			tb.Setenv(EnvMasterKey, strings.Repeat("cd", 32))
		}
	}
	m := NewMain(io.Discard, env.Logs)
	m.BaseClock = clock
	args := []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", env.DataDir, "--database-url", env.DatabaseURL}
	if err := m.ParseFlags(context.Background(), args); err != nil {
		tb.Fatalf("parse flags: %v", err)
	}
	if err := m.Run(context.Background()); err != nil {
		m.Close()
		tb.Fatalf("run: %v\n%s", err, env.Logs)
	}
	tb.Cleanup(func() {
		if err := m.Close(); err != nil {
			tb.Errorf("close: %v", err)
		}
		if tb.Failed() {
			tb.Logf("server logs:\n%s", env.Logs)
		}
	})
	return m, env
}

// MustRun runs the command line args in process and fails unless it exits with want; it returns
// what the command printed on stdout.
func MustRun(tb testing.TB, want int, args ...string) string {
	tb.Helper()
	out, _ := runArgs(tb, want, args...)
	return out
}

// runArgs runs args through run and checks the exit status; it returns stdout and stderr.
func runArgs(tb testing.TB, want int, args ...string) (stdout, stderr string) {
	tb.Helper()
	var out, errOut bytes.Buffer
	if got := run(context.Background(), args, &out, &errOut); got != want {
		tb.Fatalf("justpay %q exited %d, want %d\nstdout:\n%s\nstderr:\n%s", args, got, want, &out, &errOut)
	}
	return out.String(), errOut.String()
}

// clearEnv unsets every JUSTPAY_* variable this command reads, for the rest of the test.
func clearEnv(tb testing.TB) {
	tb.Helper()
	for _, k := range []string{EnvAddr, EnvDataDir, EnvDatabaseURL, EnvLogFormat, EnvAdminToken, EnvMasterKey, EnvRateLimitPerKey, EnvRateLimitPerIP} {
		tb.Setenv(k, "")
	}
}

// field returns the first word after label at the start of a line of out.
func field(out, label string) string {
	for line := range strings.Lines(out) {
		if rest, ok := strings.CutPrefix(line, label); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				return f[0]
			}
		}
	}
	return ""
}

// client makes JSON requests to the server under test, as a newcomer would with curl.
type client struct {
	t    testing.TB
	base string
	key  string // API key or admin token; "" sends no Authorization
}

// Do sends body (JSON, or nothing when "") and fails unless the status is want; it decodes the
// JSON answer into out when out is not nil.
func (c *client) Do(method, path, body string, want int, out any) {
	c.t.Helper()
	resp, raw := c.send(method, path, body)
	if resp.StatusCode != want {
		c.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, resp.StatusCode, want, raw)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		c.t.Fatalf("%s %s: Content-Type %q, want application/json", method, path, ct)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			c.t.Fatalf("%s %s: decode %s: %v", method, path, raw, err)
		}
	}
}

// Raw sends a request without a body and returns the response body as text.
func (c *client) Raw(method, path string, want int) string {
	c.t.Helper()
	resp, raw := c.send(method, path, "")
	if resp.StatusCode != want {
		c.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, resp.StatusCode, want, raw)
	}
	return string(raw)
}

func (c *client) send(method, path, body string) (*http.Response, []byte) {
	c.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, r)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp, raw
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// mustSQL opens a raw database/sql handle, closed at the end of the test, to tamper with tables.
func mustSQL(tb testing.TB, driver, dsn string) *sql.DB {
	tb.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}
