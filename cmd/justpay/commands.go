package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/justpay/justpay"
	"github.com/justpay/justpay/solana"
)

// migrate opens the database, which applies any pending migration, and says the schema is current.
func (m *Main) migrate(ctx context.Context) error {
	db, err := m.openDatabase(ctx, justpay.SystemClock{})
	if err != nil {
		return err
	}
	defer db.Close()
	fmt.Fprintf(m.Stdout, "database schema is current (%s)\n", m.describeDatabase())
	return nil
}

// errLedgerBroken is what ledger verify returns, after printing the problems, when the invariant
// does not hold.
var errLedgerBroken = errors.New("the ledger invariant does not hold")

// verifyLedger prints the ledger report and fails when the invariant is broken.
func (m *Main) verifyLedger(ctx context.Context) error {
	if !m.Config.UsesPostgres() {
		// Opening would create an empty database; a wrong --data-dir should not pass as a sound ledger.
		if _, err := os.Stat(m.Config.SQLitePath()); errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("no database at %s (check --data-dir, or run justpay migrate first)", m.Config.SQLitePath())
		}
	}
	db, err := m.openDatabase(ctx, justpay.SystemClock{})
	if err != nil {
		return err
	}
	defer db.Close()
	report, err := db.VerifyLedger(ctx)
	if err != nil {
		return fmt.Errorf("verify ledger: %w", err)
	}
	writeLedgerReport(m.Stdout, m.describeDatabase(), report)
	if !report.OK() {
		return fmt.Errorf("%w: %d problem(s) found", errLedgerBroken, len(report.Problems))
	}
	return nil
}

// writeLedgerReport prints a ledger report for people: counts, totals per account class sorted by
// name, then every problem.
func writeLedgerReport(w io.Writer, database string, r *justpay.LedgerReport) {
	status := "OK: the invariant holds"
	if !r.OK() {
		status = fmt.Sprintf("BROKEN: %d problem(s)", len(r.Problems))
	}
	fmt.Fprintf(w, "ledger %s\n", status)
	fmt.Fprintf(w, "  database      %s\n", database)
	fmt.Fprintf(w, "  transactions  %d\n", r.Transactions)
	fmt.Fprintf(w, "  postings      %d\n", r.Postings)
	fmt.Fprintf(w, "  accounts      %d\n", r.Accounts)

	names := make([]string, 0, len(r.Totals))
	nameWidth, amountWidth := 0, 0
	for name, v := range r.Totals {
		names = append(names, name)
		nameWidth = max(nameWidth, len(name))
		amountWidth = max(amountWidth, len(justpay.FormatUSDC(v)))
	}
	slices.Sort(names)
	if len(names) == 0 {
		fmt.Fprintln(w, "totals: none (no postings yet)")
	} else {
		fmt.Fprintln(w, "totals by account class:")
	}
	for _, name := range names {
		fmt.Fprintf(w, "  %-*s  %*s\n", nameWidth, name, amountWidth, justpay.FormatUSDC(r.Totals[name]))
	}
	if !r.OK() {
		fmt.Fprintln(w, "problems:")
		for _, p := range r.Problems {
			fmt.Fprintf(w, "  - %s\n", p)
		}
	}
}

// createAdminToken makes an admin token and prints it, once.
func (m *Main) createAdminToken(ctx context.Context) error {
	db, err := m.openDatabase(ctx, justpay.SystemClock{})
	if err != nil {
		return err
	}
	defer db.Close()
	token, err := db.CreateAdminToken(ctx)
	if err != nil {
		return fmt.Errorf("create admin token: %w", err)
	}
	// The token alone on stdout, so that TOKEN=$(justpay admin token) works; the hint on stderr.
	fmt.Fprintln(m.Stdout, token)
	fmt.Fprintf(m.Stderr, `This admin token is shown once and only its hash is stored; keep it safe.
Send it as "Authorization: Bearer <token>" on /api/v1/admin/..., for example:
  curl -H "Authorization: Bearer %s" http://localhost:8080/api/v1/admin/ledger/verify
`, token)
	return nil
}

// sendUSDCTimeout bounds the whole dev send-usdc request.
const sendUSDCTimeout = 30 * time.Second

// sendUSDC asks a running dev-mode server for a simulated transfer and prints its signature.
func (m *Main) sendUSDC(ctx context.Context) error {
	s := m.Config.SendUSDC
	from, fresh := s.From, false
	if from == "" {
		addr, _, err := solana.NewKeypair()
		if err != nil {
			return err
		}
		from, fresh = addr, true
	}
	body, err := json.Marshal(struct {
		From   string `json:"from"`
		To     string `json:"to"`
		Amount int64  `json:"amount"`
	}{from, s.To, s.Amount})
	if err != nil {
		return err
	}
	endpoint := strings.TrimRight(s.ServerURL, "/") + "/dev/chain/transfer"
	ctx, cancel := context.WithTimeout(ctx, sendUSDCTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("send-usdc: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("send-usdc: is justpay serve running at %s? %w", s.ServerURL, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("send-usdc: read the answer of %s: %w", endpoint, err)
	}
	var answer struct {
		Signature string `json:"signature"`
		Error     string `json:"error"`
	}
	jsonErr := json.Unmarshal(raw, &answer)
	switch {
	case resp.StatusCode == http.StatusNotFound && answer.Error == "not found":
		return fmt.Errorf("send-usdc: %s has no /dev/chain/transfer: is it a justpay server in dev mode?", s.ServerURL)
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		if jsonErr != nil || answer.Error == "" {
			return fmt.Errorf("send-usdc: the server answered %s: %.200s", resp.Status, raw)
		}
		return fmt.Errorf("send-usdc: the server refused the transfer (%s): %s", resp.Status, answer.Error)
	case jsonErr != nil || answer.Signature == "":
		return fmt.Errorf("send-usdc: the server answered %s without a signature: %.200s", resp.Status, raw)
	}

	fmt.Fprintf(m.Stdout, "sent %s from %s to %s\n", justpay.FormatUSDC(s.Amount), from, s.To)
	if fresh {
		fmt.Fprintf(m.Stdout, "from:      %s (a fresh random wallet: the agent's emergency address if this is its first deposit)\n", from)
	} else {
		fmt.Fprintf(m.Stdout, "from:      %s\n", from)
	}
	fmt.Fprintf(m.Stdout, "signature: %s\n", answer.Signature)
	fmt.Fprintln(m.Stdout, "next:      POST /api/v1/wallet/confirm-deposit with the agent's API key to credit it")
	return nil
}
