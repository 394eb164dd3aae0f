package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/justpay/justpay"
	"github.com/justpay/justpay/devchain"
	"github.com/justpay/justpay/scheduler"
	"github.com/justpay/justpay/sqlstore"
	"github.com/justpay/justpay/sqlstore/sqlstoretest"
)

var simSeed = flag.Uint64("seed", 20260209, "seed of TestWalletSimulation; a failure logs the seed that reproduces it")

const simUSDC = justpay.MicroPerUSDC

// simConfig sizes a simulation: agents are split over workers, each worker runs steps operations
// per round, and the rounds are separated by a serial phase.
type simConfig struct {
	agents, workers, rounds, steps int
}

// simConfigFor sizes the simulation: 2,400 operations, 240 with -short. The race detector slows
// the pure-Go SQLite some tenfold and checking the ledger after every step costs time in
// proportion to the ledger, so a -race build runs 960.
func simConfigFor(short, race bool) simConfig {
	c := simConfig{agents: 24, workers: 8, rounds: 10, steps: 30}
	switch {
	case short:
		c.rounds, c.steps = 3, 10
	case race:
		c.rounds, c.steps = 6, 20
	}
	return c
}

// simRace reports whether the test binary was built with -race.
func simRace() bool {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-race" {
				return s.Value == "true"
			}
		}
	}
	return false
}

// TestWalletSimulation runs a seeded randomized wallet workload: agents deposit (dust, the
// activation fee, ordinary and large amounts, confirmed at once or later), set withdrawal
// addresses (the same, new, invalid), withdraw (below the minimum, above the balance, all of it,
// absurd amounts), panic and read their balance and history, from several workers at once. Every
// agent belongs to one worker, so its history is a function of the seed whatever the
// interleaving. Between rounds a serial phase settles withdrawals through the scheduler, with
// transient chain failures and lost responses (FailNextSends and LoseNextSendResponses count
// sends across agents, so they are only armed there), and moves the clock across cooldowns. Some
// agents' addresses are refused by the chain (RejectSendsTo), so their withdrawals and panics fail
// and are refunded.
//
// After every step: the agent's balances and settings equal an independent model of the
// documented rules (including the error code of a refused operation); an operation that was
// refused or found nothing to do left the agent's rows byte-identical; nothing is negative; and
// a VerifyLedger that started after the step has passed before the worker goes on (concurrent
// steps share one, see simVerifier). At the end every withdrawal has settled and the money is
// conserved to the micro-unit. The simulation runs twice at once on two fresh databases; both
// runs must give the same histories and ledger totals. Pass -seed to reproduce a failure.
func TestWalletSimulation(t *testing.T) {
	seed, cfg := *simSeed, simConfigFor(testing.Short(), simRace())
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("reproduce with: go test ./sqlstore -run 'TestWalletSimulation/%s' -seed %d", b.Name, seed)
			}
		})
		// Two runs on two fresh databases, at the same time so that they interleave differently.
		var runs [2]*simResult
		t.Run("runs", func(t *testing.T) {
			for i := range runs {
				t.Run(fmt.Sprint(i+1), func(t *testing.T) {
					t.Parallel()
					start := time.Now()
					runs[i] = runSimulation(t, b, seed, cfg)
					if runs[i] != nil {
						t.Logf("seed %d: %d operations on %d agents in %v: %d ledger transactions, %d ledger checks\n%s",
							seed, cfg.workers*cfg.rounds*cfg.steps, cfg.agents, time.Since(start).Round(time.Millisecond),
							runs[i].transactions, runs[i].checks, simFormatStats(runs[i].stats))
					}
				})
			}
		})
		if t.Failed() {
			return
		}
		runs[0].mustEqual(t, runs[1])
	})
}

// simResult is what must not depend on anything but the seed.
type simResult struct {
	histories    [][]string // per agent
	serial       []string
	totals       map[string]int64
	transactions int64
	postings     int64
	checks       int64          // ledger checks made: not part of the comparison
	stats        map[string]int // outcomes by kind
}

func (r *simResult) mustEqual(tb testing.TB, o *simResult) {
	tb.Helper()
	for i := range r.histories {
		if d := simFirstDiff(r.histories[i], o.histories[i]); d != "" {
			tb.Fatalf("same seed, different history of agent %d: %s", i, d)
		}
	}
	if d := simFirstDiff(r.serial, o.serial); d != "" {
		tb.Fatalf("same seed, different serial phases: %s", d)
	}
	if !maps.Equal(r.totals, o.totals) || r.transactions != o.transactions || r.postings != o.postings {
		tb.Fatalf("same seed, different ledgers:\n%v %d %d\n%v %d %d", r.totals, r.transactions, r.postings, o.totals, o.transactions, o.postings)
	}
}

func simFormatStats(stats map[string]int) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(stats)) {
		fmt.Fprintf(&b, "%s=%d ", k, stats[k])
	}
	return b.String()
}

func simFirstDiff(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("entry %d:\n  %s\n  %s", i, a[i], b[i])
		}
	}
	if len(a) != len(b) {
		return fmt.Sprintf("%d entries, then %d", len(a), len(b))
	}
	return ""
}

// sim is one run of the simulation on a fresh database.
type sim struct {
	ctx      context.Context
	env      *sqlstoretest.Env
	raw      *sql.DB // reads rows behind the store's back, without crediting deposits
	sched    *scheduler.Scheduler
	agents   []*simAgent
	serial   []string
	verifier *simVerifier
	retried  int // serial phases where the scheduler had to retry sends

	// Prepared once: parsing dominates these small reads, above all under the race detector.
	balancesStmt, countsStmt *sql.Stmt
	failed                   atomic.Bool
}

// simAgent is one agent, its addresses and its model. Only the worker that owns it touches it
// during a round, and only the serial phase between rounds.
type simAgent struct {
	idx      int
	id       string
	deposit  string            // its deposit address
	wallets  []string          // external wallets it deposits from
	targets  []string          // candidate withdrawal addresses: its wallets and two more
	rejected map[string]bool   // addresses the chain refuses
	names    map[string]string // address -> name in the history

	m           simModel
	unconfirmed []simChainDeposit // on chain, not yet credited, oldest first
	queued      []simWithdrawal   // withdrawals not settled yet
	last        simSnapshot       // the agent's rows after its previous step
	steps       int
	history     []string
	stats       map[string]int // outcomes by kind, to show what a run covered
}

// simModel is what the documented rules say an agent's wallet holds.
type simModel struct {
	available, pending int64
	activated          bool
	emergency          string
	withdrawal         string
	cooldownUntil      time.Time
	deposits           int // credited deposits
	withdrawals        int // queued withdrawals, ever
	txs                []simTx
	// Totals for the conservation check.
	deposited, sent, gas, fees int64
}

type simTx struct {
	typ       string
	amount    int64
	direction string
}

type simChainDeposit struct {
	from   string
	amount int64
}

type simWithdrawal struct {
	id      string
	kind    string
	address string
	amount  int64
}

func (a *simAgent) name(addr string) string {
	if n, ok := a.names[addr]; ok {
		return n
	}
	if addr == "" {
		return "-"
	}
	return fmt.Sprintf("%q", addr)
}

func (a *simAgent) state() string {
	cd := "-"
	if !a.m.cooldownUntil.IsZero() {
		cd = a.m.cooldownUntil.Sub(sqlstoretest.Epoch).String()
	}
	return fmt.Sprintf("avail=%d pend=%d act=%t emerg=%s wd=%s cd=%s txs=%d",
		a.m.available, a.m.pending, a.m.activated, a.name(a.m.emergency), a.name(a.m.withdrawal), cd, len(a.m.txs))
}

func (a *simAgent) addTx(typ string, amount int64, direction string) {
	a.m.txs = append(a.m.txs, simTx{typ, amount, direction})
}

// credit applies a deposit to the model and returns whether it activates the agent.
func (a *simAgent) credit(d simChainDeposit) bool {
	activates := !a.m.activated && d.amount >= justpay.ActivationFee
	a.m.available += d.amount
	a.m.deposited += d.amount
	a.m.deposits++
	a.addTx(justpay.TxDeposit, d.amount, "in")
	if a.m.emergency == "" {
		a.m.emergency = d.from
	}
	if d.amount < justpay.ActivationFee {
		a.stats["deposit dust"]++
	}
	if activates {
		a.stats["deposit activating"]++
		a.m.activated = true
		a.m.available -= justpay.ActivationFee
		a.m.fees += justpay.ActivationFee
		a.addTx(justpay.TxFee, justpay.ActivationFee, "out")
	}
	return activates
}

func runSimulation(t *testing.T, b sqlstoretest.Backend, seed uint64, cfg simConfig) *simResult {
	t.Helper()
	ctx := context.Background()
	clock := sqlstoretest.NewClock()
	dbCfg := sqlstoretest.Config(t, b, clock)
	db, err := sqlstore.Open(ctx, dbCfg)
	if err != nil {
		t.Fatalf("open %s: %v", b.Name, err)
	}
	t.Cleanup(func() { db.Close() })
	env := sqlstoretest.Wire(t, db, clock)
	s := &sim{
		ctx: ctx, env: env, raw: simOpenRaw(t, dbCfg), verifier: newSimVerifier(env.DB),
		sched: &scheduler.Scheduler{Store: env.Store, Chain: env.Chain, Clock: env.Clock,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Batch: 10},
	}

	s.balancesStmt = simPrepare(t, s.raw, `SELECT account, balance, closed FROM ledger_balances WHERE agent_id = $1 ORDER BY account`)
	s.countsStmt = simPrepare(t, s.raw, `SELECT
		(SELECT COUNT(*) FROM ledger_postings WHERE account IN ($1, $2)),
		(SELECT COALESCE(SUM(amount), 0) FROM ledger_postings WHERE account IN ($1, $2)),
		(SELECT COUNT(*) FROM deposits WHERE agent_id = $3),
		(SELECT COUNT(*) FROM withdrawals WHERE agent_id = $3),
		(SELECT COUNT(*) FROM events WHERE agent_id = $3)`)

	// Setup, serial: agents, their wallets, and which of their addresses the chain refuses.
	serial := rand.New(rand.NewPCG(seed, 0))
	for i := range cfg.agents {
		agent, _ := env.MustRegister(t, fmt.Sprintf("sim-agent-%02d", i))
		a := &simAgent{idx: i, id: agent.ID, deposit: agent.DepositAddress, rejected: map[string]bool{}, stats: map[string]int{},
			names: map[string]string{agent.DepositAddress: "own-deposit"}}
		for j := range 2 {
			w := sqlstoretest.NewWallet(t)
			a.wallets, a.names[w] = append(a.wallets, w), fmt.Sprintf("w%d", j)
		}
		a.targets = slices.Clone(a.wallets)
		for j := range 2 {
			w := sqlstoretest.NewWallet(t)
			a.targets, a.names[w] = append(a.targets, w), fmt.Sprintf("x%d", j)
		}
		failing := serial.IntN(3) == 0
		for _, addr := range a.targets {
			if failing && serial.IntN(2) == 0 {
				a.rejected[addr] = true
				env.Chain.RejectSendsTo(addr)
				a.names[addr] += "!"
			}
		}
		a.history = append(a.history, fmt.Sprintf("setup failing=%t rejected=%d", failing, len(a.rejected)))
		if a.last, err = s.snapshot(a); err != nil {
			t.Fatal(err)
		}
		s.agents = append(s.agents, a)
	}

	// Each worker owns every workers-th agent and draws from its own stream of the seed.
	owned := make([][]*simAgent, cfg.workers)
	rngs := make([]*rand.Rand, cfg.workers)
	for w := range cfg.workers {
		for i := w; i < len(s.agents); i += cfg.workers {
			owned[w] = append(owned[w], s.agents[i])
		}
		rngs[w] = rand.New(rand.NewPCG(seed, uint64(w)+1))
	}
	for round := range cfg.rounds {
		var wg sync.WaitGroup
		for w := range cfg.workers {
			mine, r := owned[w], rngs[w]
			wg.Go(func() {
				for range cfg.steps {
					if s.failed.Load() {
						return
					}
					a := mine[r.IntN(len(mine))]
					if err := s.step(r, a); err != nil {
						s.fail(t, a, err)
						return
					}
				}
			})
		}
		wg.Wait()
		if t.Failed() {
			return nil
		}
		s.serialPhase(t, serial, round)
		if t.Failed() {
			return nil
		}
	}
	return s.finish(t)
}

func (s *sim) fail(t *testing.T, a *simAgent, err error) {
	if s.failed.Swap(true) {
		t.Errorf("agent %d step %d: %v", a.idx, a.steps, err)
		return
	}
	tail := a.history[max(0, len(a.history)-10):]
	t.Errorf("agent %d step %d: %v\nmodel: %s\nlast steps:\n  %s", a.idx, a.steps, err, a.state(), strings.Join(tail, "\n  "))
}

// step runs one random operation for agent a and checks its outcome and the invariants.
func (s *sim) step(r *rand.Rand, a *simAgent) error {
	a.steps++
	var (
		desc    string
		changed bool
		err     error
	)
	switch x := r.IntN(100); {
	case x < 24:
		desc, changed, err = s.opDeposit(r, a, true)
	case x < 29:
		desc, changed, err = s.opDeposit(r, a, false)
	case x < 35:
		desc, changed, err = s.opConfirm(a)
	case x < 39:
		desc, changed, err = s.opBalance(a)
	case x < 52:
		desc, changed, err = s.opSetAddress(r, a)
	case x < 82:
		desc, changed, err = s.opWithdraw(r, a)
	case x < 89:
		desc, changed, err = s.opPanic(a)
	default:
		desc, changed, err = s.opHistory(r, a)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", desc, err)
	}
	if err := s.check(a, changed); err != nil {
		return fmt.Errorf("after %s: %w", desc, err)
	}
	if err := s.verifier.verifyAfter(s.ctx); err != nil {
		return fmt.Errorf("after %s: %w", desc, err)
	}
	a.history = append(a.history, fmt.Sprintf("%04d %s | %s", a.steps, desc, a.state()))
	return nil
}

// simCode compares an error's code with the model's.
func simCode(err error, want string) error {
	if got := justpay.ErrorCode(err); got != want {
		return fmt.Errorf("error code = %q (%v), want %q", got, err, want)
	}
	return nil
}

func simOutcome(code string) string {
	if code == "" {
		return "ok"
	}
	return code
}

// simDepositAmount draws dust below the activation fee, the fee itself, ordinary and large amounts.
func simDepositAmount(r *rand.Rand) int64 {
	switch x := r.IntN(100); {
	case x < 25:
		return 1 + r.Int64N(justpay.ActivationFee-1)
	case x < 33:
		return justpay.ActivationFee
	case x < 80:
		return 1 + r.Int64N(100*simUSDC)
	case x < 95:
		return 100*simUSDC + r.Int64N(10_000*simUSDC)
	}
	return 10_000*simUSDC + r.Int64N(1_000_000*simUSDC)
}

// opDeposit sends a deposit on chain and, when confirm is set, confirms it (with any earlier
// unconfirmed ones) as one operation.
func (s *sim) opDeposit(r *rand.Rand, a *simAgent, confirm bool) (string, bool, error) {
	d := simChainDeposit{from: a.wallets[r.IntN(len(a.wallets))], amount: simDepositAmount(r)}
	desc := fmt.Sprintf("chain-deposit %d from %s", d.amount, a.name(d.from))
	if _, err := s.env.Chain.Transfer(s.ctx, d.from, a.deposit, d.amount); err != nil {
		return desc, false, fmt.Errorf("chain transfer: %w", err)
	}
	a.unconfirmed = append(a.unconfirmed, d)
	if !confirm {
		return desc, false, nil // nothing is credited until a confirmation or a balance read
	}
	d2, changed, err := s.opConfirm(a)
	return "deposit+" + d2, changed, err
}

// opConfirm checks for deposits; the model credits every unconfirmed one, oldest first.
func (s *sim) opConfirm(a *simAgent) (string, bool, error) {
	res, err := s.env.Store.ConfirmDeposits(s.ctx, a.id)
	pending := a.unconfirmed
	a.unconfirmed = nil
	var want []string
	var total int64
	for _, d := range pending {
		act := a.credit(d)
		want = append(want, fmt.Sprintf("%d/%s/%t", d.amount, d.from, act))
		total += d.amount
	}
	desc := fmt.Sprintf("confirm -> %d deposits %d", len(pending), total)
	if err != nil {
		return desc, false, fmt.Errorf("confirm deposits: %w", err)
	}
	var got []string
	for _, d := range res.Deposits {
		got = append(got, fmt.Sprintf("%d/%s/%t", d.Amount, d.From, d.Activated))
	}
	suggested := ""
	if a.m.withdrawal == "" {
		suggested = a.m.emergency
	}
	if !slices.Equal(got, want) || res.TotalCredited != total || res.Activated != a.m.activated || res.SuggestedAddress != suggested {
		return desc, false, fmt.Errorf("result = %+v, want deposits %v total %d activated %t suggested %s",
			res, want, total, a.m.activated, a.name(suggested))
	}
	return desc, len(pending) > 0, nil
}

// opBalance reads the balance, which credits new deposits first.
func (s *sim) opBalance(a *simAgent) (string, bool, error) {
	n := len(a.unconfirmed)
	for _, d := range a.unconfirmed {
		a.credit(d)
	}
	a.unconfirmed = nil
	desc := fmt.Sprintf("balance -> credited %d", n)
	b, ag, err := s.env.Store.Balance(s.ctx, a.id)
	if err != nil {
		return desc, false, fmt.Errorf("balance: %w", err)
	}
	if b.Available != a.m.available || b.Pending != a.m.pending || b.Escrowed != 0 {
		return desc, false, fmt.Errorf("balance = %+v, want available %d pending %d", *b, a.m.available, a.m.pending)
	}
	if err := a.checkAgent(ag); err != nil {
		return desc, false, err
	}
	return desc, n > 0, nil
}

// opSetAddress sets the withdrawal address to the same one, a new one, or something invalid.
func (s *sim) opSetAddress(r *rand.Rand, a *simAgent) (string, bool, error) {
	var addr, label string
	invalid := true
	switch x := r.IntN(100); {
	case x < 25 && a.m.withdrawal != "":
		addr, label, invalid = a.m.withdrawal, "same", false
	case x < 72:
		addr, invalid = a.targets[r.IntN(len(a.targets))], false
		label = a.name(addr)
	case x < 78:
		addr, label = "", "empty"
	case x < 86:
		addr, label = "not-a-solana-address", "garbage"
	case x < 90:
		addr, label = a.targets[0][:20], "truncated"
	case x < 95:
		addr, label = a.deposit, "own-deposit"
	default: // another agent's: it would loop the money back into the platform
		addr, label = s.agents[(a.idx+1)%len(s.agents)].deposit, "other-deposit"
	}
	now := s.env.Clock.Now()
	wantCode, wantChanged, changed := "", false, false
	var wantUntil time.Time
	switch {
	case invalid:
		wantCode = justpay.EINVALID
	case addr == a.m.withdrawal:
		if now.Before(a.m.cooldownUntil) {
			wantUntil = a.m.cooldownUntil
		}
	case a.m.withdrawal == "":
		a.m.withdrawal, changed = addr, true
	default:
		a.m.withdrawal, a.m.cooldownUntil, changed, wantChanged = addr, now.Add(justpay.WithdrawalCooldown), true, true
		wantUntil = a.m.cooldownUntil
	}
	desc := fmt.Sprintf("set-address %s -> %s", label, simOutcome(wantCode))
	a.stats["set-address "+simOutcome(wantCode)]++
	if wantChanged {
		a.stats["set-address change"]++
	}
	ch, err := s.env.Store.SetWithdrawalAddress(s.ctx, a.id, addr)
	if err := simCode(err, wantCode); err != nil {
		return desc, false, err
	}
	if err == nil {
		until := time.Time{}
		if ch.CooldownUntil != nil {
			until = *ch.CooldownUntil
		}
		if ch.Address != addr || ch.Changed != wantChanged || !until.Equal(wantUntil) {
			return desc, false, fmt.Errorf("change = %+v (until %v), want changed %t until %v", ch, until, wantChanged, wantUntil)
		}
	}
	return desc, changed, nil
}

// opWithdraw withdraws below the minimum, above the balance, all of it, or an ordinary amount.
func (s *sim) opWithdraw(r *rand.Rand, a *simAgent) (string, bool, error) {
	avail := a.m.available
	var amount int64
	switch x := r.IntN(100); {
	case x < 12:
		amount = r.Int64N(justpay.MinWithdrawal)
	case x < 15:
		amount = []int64{-1, math.MinInt64, math.MaxInt64}[r.IntN(3)]
	case x < 30:
		amount = avail + 1 + r.Int64N(10*simUSDC)
	case x < 45:
		amount = avail
	case x < 50:
		amount = justpay.MinWithdrawal
	default:
		amount = justpay.MinWithdrawal + r.Int64N(max(avail-justpay.MinWithdrawal, 0)+1)
	}
	now := s.env.Clock.Now()
	var wantCode string
	switch {
	case amount < justpay.MinWithdrawal:
		wantCode = justpay.EINVALID
	case a.m.withdrawal == "":
		wantCode = justpay.EINVALID
	case now.Before(a.m.cooldownUntil):
		wantCode = justpay.EFORBIDDEN
	case amount > avail:
		wantCode = justpay.EINSUFFICIENT
	}
	desc := fmt.Sprintf("withdraw %d -> %s", amount, simOutcome(wantCode))
	a.stats["withdraw "+simOutcome(wantCode)]++
	w, err := s.env.Store.Withdraw(s.ctx, a.id, amount)
	if err := simCode(err, wantCode); err != nil {
		return desc, false, err
	}
	if err != nil {
		return desc, false, nil
	}
	return desc, true, a.queue(w, justpay.WithdrawalKindStandard, a.m.withdrawal, amount)
}

// queue checks a queued withdrawal against the model and applies it.
func (a *simAgent) queue(w *justpay.Withdrawal, kind, address string, amount int64) error {
	want := justpay.Withdrawal{AgentID: a.id, Kind: kind, Address: address, Amount: amount, Fee: justpay.WithdrawalFee,
		NetAmount: amount - justpay.WithdrawalFee, Status: justpay.WithdrawalQueued}
	got := justpay.Withdrawal{AgentID: w.AgentID, Kind: w.Kind, Address: w.Address, Amount: w.Amount, Fee: w.Fee,
		NetAmount: w.NetAmount, Status: w.Status}
	a.m.available -= amount
	a.m.pending += amount
	a.m.withdrawals++
	a.addTx(justpay.TxWithdrawal, amount, "out")
	a.queued = append(a.queued, simWithdrawal{id: w.ID, kind: kind, address: address, amount: amount})
	if got != want || w.ID == "" {
		return fmt.Errorf("withdrawal = %+v, want %+v", got, want)
	}
	return nil
}

// opPanic sends the whole available balance to the emergency address, ignoring any cooldown.
func (s *sim) opPanic(a *simAgent) (string, bool, error) {
	amount := a.m.available
	var wantCode string
	switch {
	case a.m.emergency == "":
		wantCode = justpay.ECONFLICT
	case amount <= justpay.WithdrawalFee:
		wantCode = justpay.EINSUFFICIENT
	}
	desc := fmt.Sprintf("panic %d to %s -> %s", amount, a.name(a.m.emergency), simOutcome(wantCode))
	a.stats["panic "+simOutcome(wantCode)]++
	w, err := s.env.Store.Panic(s.ctx, a.id)
	if err := simCode(err, wantCode); err != nil {
		return desc, false, err
	}
	if err != nil {
		return desc, false, nil
	}
	return desc, true, a.queue(w, justpay.WithdrawalKindPanic, a.m.emergency, amount)
}

// opHistory reads a page of the agent's transactions and compares it with the model's.
func (s *sim) opHistory(r *rand.Rand, a *simAgent) (string, bool, error) {
	page := justpay.Page{Page: 1 + r.IntN(3), Limit: 1 + r.IntN(6)}
	desc := fmt.Sprintf("history page %d limit %d", page.Page, page.Limit)
	txs, total, err := s.env.Store.FindTransactions(s.ctx, a.id, justpay.TransactionFilter{Page: page})
	if err != nil {
		return desc, false, fmt.Errorf("find transactions: %w", err)
	}
	var want, got []string
	for i := len(a.m.txs) - 1 - page.Offset(); i >= 0 && len(want) < page.Limit; i-- {
		t := a.m.txs[i]
		want = append(want, fmt.Sprintf("%s %s %d", t.typ, t.direction, t.amount))
	}
	for _, t := range txs {
		got = append(got, fmt.Sprintf("%s %s %d", t.Type, t.Direction, t.Amount))
	}
	if total != len(a.m.txs) || !slices.Equal(got, want) {
		return desc, false, fmt.Errorf("transactions = %d %v, want %d %v", total, got, len(a.m.txs), want)
	}
	return desc, false, nil
}

// simSnapshot is an agent's rows, read without crediting anything.
type simSnapshot struct {
	available, pending int64
	negative           []string
	agent              *justpay.Agent
	// text holds every row of the agent the wallet touches, for byte-identical comparison.
	text string
	// counts of the agent's deposits and withdrawals rows
	deposits, withdrawals int
}

func simTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format(time.RFC3339Nano)
}

func (s *sim) snapshot(a *simAgent) (simSnapshot, error) {
	var snap simSnapshot
	var b strings.Builder
	rows, err := s.balancesStmt.QueryContext(s.ctx, a.id)
	if err != nil {
		return snap, fmt.Errorf("read balances: %w", err)
	}
	for rows.Next() {
		var account string
		var balance int64
		var closed bool
		if err := rows.Scan(&account, &balance, &closed); err != nil {
			rows.Close()
			return snap, err
		}
		fmt.Fprintf(&b, "%s=%d closed=%t\n", account, balance, closed)
		switch account {
		case justpay.AgentAvailable(a.id):
			snap.available = balance
		case justpay.AgentPending(a.id):
			snap.pending = balance
		}
		if balance < 0 {
			snap.negative = append(snap.negative, account)
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return snap, fmt.Errorf("read balances: %w", err)
	}
	var postings, sum int64
	var events int
	if err := s.countsStmt.QueryRowContext(s.ctx, justpay.AgentAvailable(a.id), justpay.AgentPending(a.id), a.id).Scan(
		&postings, &sum, &snap.deposits, &snap.withdrawals, &events); err != nil {
		return snap, fmt.Errorf("snapshot: %w", err)
	}
	fmt.Fprintf(&b, "postings=%d sum=%d deposits=%d withdrawals=%d events=%d\n", postings, sum, snap.deposits, snap.withdrawals, events)
	if snap.agent, err = s.env.Store.FindAgentByID(s.ctx, a.id); err != nil {
		return snap, fmt.Errorf("find agent: %w", err)
	}
	ag := snap.agent
	fmt.Fprintf(&b, "activated=%t at=%s emergency=%s withdrawal=%s changed=%s cooldown=%s updated=%s\n", ag.Activated,
		simTime(ag.ActivatedAt), ag.EmergencyAddress, ag.WithdrawalAddress, simTime(ag.AddressChangedAt),
		simTime(ag.WithdrawalCooldownUntil), ag.UpdatedAt.Format(time.RFC3339Nano))
	snap.text = b.String()
	return snap, nil
}

// checkAgent compares the agent's settings with the model.
func (a *simAgent) checkAgent(ag *justpay.Agent) error {
	until := time.Time{}
	if ag.WithdrawalCooldownUntil != nil {
		until = *ag.WithdrawalCooldownUntil
	}
	if ag.Activated != a.m.activated || ag.EmergencyAddress != a.m.emergency || ag.WithdrawalAddress != a.m.withdrawal || !until.Equal(a.m.cooldownUntil) {
		return fmt.Errorf("agent activated=%t emergency=%s withdrawal=%s cooldown=%v, want %s",
			ag.Activated, a.name(ag.EmergencyAddress), a.name(ag.WithdrawalAddress), until, a.state())
	}
	return nil
}

// check reads the agent's rows and the ledger after a step: an operation that was refused or had
// nothing to do (changed false) must leave every row byte-identical; the balances and settings
// must match the model; nothing is negative; the ledger invariant holds.
func (s *sim) check(a *simAgent, changed bool) error {
	snap, err := s.snapshot(a)
	if err != nil {
		return err
	}
	switch {
	case !changed && snap.text != a.last.text:
		return fmt.Errorf("a refused or empty operation changed the agent's rows:\nbefore:\n%safter:\n%s", a.last.text, snap.text)
	case changed && snap.text == a.last.text:
		return fmt.Errorf("a successful operation changed nothing:\n%s", snap.text)
	case len(snap.negative) > 0:
		return fmt.Errorf("negative balances: %v", snap.negative)
	case snap.available != a.m.available || snap.pending != a.m.pending:
		return fmt.Errorf("available=%d pending=%d, want %s", snap.available, snap.pending, a.state())
	case snap.deposits != a.m.deposits || snap.withdrawals != a.m.withdrawals:
		return fmt.Errorf("%d deposits and %d withdrawals recorded, want %d and %d", snap.deposits, snap.withdrawals, a.m.deposits, a.m.withdrawals)
	}
	if err := a.checkAgent(snap.agent); err != nil {
		return err
	}
	a.last = snap
	return nil
}

func (s *sim) verify() error { return simVerify(s.ctx, s.env.DB) }

func simVerify(ctx context.Context, db *sqlstore.DB) error {
	r, err := db.VerifyLedger(ctx)
	if err != nil {
		return fmt.Errorf("verify ledger: %w", err)
	}
	if !r.OK() {
		return fmt.Errorf("ledger invariant broken: %v", r.Problems)
	}
	return nil
}

// simVerifier checks the ledger after every step of every worker, sharing checks between
// workers as a database shares a commit: a step that ends calls verifyAfter, which returns once a
// VerifyLedger that started after the call (and so reads a snapshot holding the step) has
// finished. Steps that end while a check runs are all covered by the next one.
type simVerifier struct {
	db      *sqlstore.DB
	mu      sync.Mutex
	cond    *sync.Cond
	started int // checks started
	done    int // checks finished
	running bool
	err     error // the first failure, reported to every later caller
	checks  atomic.Int64
}

func newSimVerifier(db *sqlstore.DB) *simVerifier {
	v := &simVerifier{db: db}
	v.cond = sync.NewCond(&v.mu)
	return v
}

func (v *simVerifier) verifyAfter(ctx context.Context) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	need := v.started + 1 // the first check to start after this call
	for v.done < need && v.err == nil {
		if v.running {
			v.cond.Wait()
			continue
		}
		v.running = true
		v.started++
		gen := v.started
		v.mu.Unlock()
		err := simVerify(ctx, v.db)
		v.checks.Add(1)
		v.mu.Lock()
		v.running, v.done = false, gen
		if err != nil && v.err == nil {
			v.err = err
		}
		v.cond.Broadcast()
	}
	return v.err
}

// serialPhase settles every queued withdrawal, sometimes through transient chain failures and
// lost responses, then moves the clock. Nothing else runs meanwhile, and the failures depend only
// on how many sends there are, so the phase is as deterministic as the rounds.
func (s *sim) serialPhase(t *testing.T, r *rand.Rand, round int) {
	t.Helper()
	var fail, lose int
	if r.IntN(3) == 0 {
		fail = 1 + r.IntN(3)
	}
	if r.IntN(4) == 0 {
		lose = 1 + r.IntN(2)
	}
	s.env.Chain.FailNextSends(fail)
	s.env.Chain.LoseNextSendResponses(lose)
	passes := s.settle(t)
	if passes > 0 {
		s.retried++
	}
	s.env.Chain.FailNextSends(0)
	s.env.Chain.LoseNextSendResponses(0)
	advance := []time.Duration{0, time.Hour, 12 * time.Hour, 23 * time.Hour, 24 * time.Hour, 25 * time.Hour, 48 * time.Hour}[r.IntN(7)]
	now := s.env.Clock.Advance(advance)
	s.serial = append(s.serial, fmt.Sprintf("round %d: fail=%d lose=%d passes=%d advance=%s now=%s", round, fail, lose, passes, advance, now.Sub(sqlstoretest.Epoch)))
}

// settle runs the scheduler until no withdrawal is queued or being sent, moving the clock past
// the retry delay between passes, and applies the outcomes to the models: a withdrawal to an
// address the chain refuses fails and is refunded, every other one completes.
func (s *sim) settle(t *testing.T) int {
	t.Helper()
	passes := 0
	for ; ; passes++ {
		if err := s.sched.RunOnce(s.ctx); err != nil {
			t.Fatalf("scheduler: %v", err)
		}
		var open int
		if err := s.raw.QueryRowContext(s.ctx, `SELECT COUNT(*) FROM withdrawals WHERE status IN ($1, $2)`,
			justpay.WithdrawalQueued, justpay.WithdrawalSending).Scan(&open); err != nil {
			t.Fatal(err)
		}
		if open == 0 {
			break
		}
		if passes > 20 {
			t.Fatalf("%d withdrawals still open after %d scheduler passes", open, passes)
		}
		s.env.Clock.Advance(10 * time.Minute)
	}
	for _, a := range s.agents {
		if len(a.queued) == 0 {
			continue
		}
		var done, failed int
		var refunds []int64
		for _, q := range a.queued {
			w, err := s.env.DB.FindWithdrawalByID(s.ctx, a.id, q.id)
			if err != nil {
				t.Fatalf("agent %d: %v", a.idx, err)
			}
			a.m.pending -= q.amount
			want := justpay.WithdrawalCompleted
			if a.rejected[q.address] {
				want = justpay.WithdrawalFailed
				a.m.available += q.amount
				refunds = append(refunds, q.amount)
				failed++
			} else {
				a.m.sent += q.amount - justpay.WithdrawalFee
				a.m.gas += justpay.WithdrawalFee
				done++
			}
			if w.Status != want || (want == justpay.WithdrawalCompleted) != (w.Signature != "") {
				t.Fatalf("agent %d: %s withdrawal of %d to %s: status %q signature %q, want %q",
					a.idx, q.kind, q.amount, a.name(q.address), w.Status, w.Signature, want)
			}
		}
		a.queued = nil
		// The test clock stands still during a round, so withdrawals queued in it have IDs that
		// differ only in their random part, and the scheduler sends them in that order: the refunds
		// of one pass enter the history in an order the model cannot know. Take it from the store,
		// after checking that the amounts are the model's.
		got, err := s.lastRefunds(a, len(refunds))
		if err != nil {
			t.Fatalf("agent %d: %v", a.idx, err)
		}
		if !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(refunds))) {
			t.Fatalf("agent %d: refunds %v, want %v in any order", a.idx, got, refunds)
		}
		for _, amount := range got {
			a.addTx(justpay.TxRefund, amount, "in")
		}
		if err := s.check(a, true); err != nil {
			t.Fatalf("agent %d after settling: %v\nmodel: %s", a.idx, err, a.state())
		}
		a.history = append(a.history, fmt.Sprintf("settle completed=%d failed=%d | %s", done, failed, a.state()))
		a.stats["settled completed"] += done
		a.stats["settled failed"] += failed
	}
	if err := s.verify(); err != nil {
		t.Fatal(err)
	}
	return passes
}

// lastRefunds returns the amounts of the agent's n newest refunds, oldest first.
func (s *sim) lastRefunds(a *simAgent, n int) ([]int64, error) {
	var amounts []int64
	for page := 1; len(amounts) < n; page++ {
		txs, _, err := s.env.Store.FindTransactions(s.ctx, a.id, justpay.TransactionFilter{Type: justpay.TxRefund,
			Page: justpay.Page{Page: page, Limit: justpay.MaxPageLimit}})
		if err != nil {
			return nil, err
		}
		for _, t := range txs[:min(len(txs), n-len(amounts))] {
			amounts = append(amounts, t.Amount)
		}
		if len(txs) < justpay.MaxPageLimit {
			break
		}
	}
	slices.Reverse(amounts)
	return amounts, nil
}

// finish credits what is still unconfirmed, settles every withdrawal and checks that the money is
// conserved: what the agents hold, the fees and gas, and what left to the chain add up to exactly
// what was deposited.
func (s *sim) finish(t *testing.T) *simResult {
	t.Helper()
	for _, a := range s.agents {
		desc, changed, err := s.opConfirm(a)
		if err == nil {
			err = s.check(a, changed)
		}
		if err != nil {
			t.Fatalf("agent %d final %s: %v", a.idx, desc, err)
		}
		a.history = append(a.history, fmt.Sprintf("final %s | %s", desc, a.state()))
	}
	s.settle(t)
	r, err := s.env.DB.VerifyLedger(s.ctx)
	if err != nil || !r.OK() {
		t.Fatalf("verify ledger: %v %v", err, r)
	}
	var available, deposited, sent, gas, fees int64
	for _, a := range s.agents {
		if a.m.pending != 0 || a.last.pending != 0 {
			t.Fatalf("agent %d: pending %d after settling", a.idx, a.last.pending)
		}
		available += a.m.available
		deposited += a.m.deposited
		sent += a.m.sent
		gas += a.m.gas
		fees += a.m.fees
	}
	var chainSent, chainDeposited int64
	if err := s.raw.QueryRowContext(s.ctx, `SELECT COALESCE(SUM(amount), 0) FROM devchain_transfers WHERE from_address = $1`,
		devchain.HotWallet).Scan(&chainSent); err != nil {
		t.Fatal(err)
	}
	if err := s.raw.QueryRowContext(s.ctx, `SELECT COALESCE(SUM(amount), 0) FROM devchain_transfers WHERE from_address <> $1`,
		devchain.HotWallet).Scan(&chainDeposited); err != nil {
		t.Fatal(err)
	}
	revenue, platformGas := r.Totals[justpay.PlatformRevenue], r.Totals[justpay.PlatformGas]
	if got := available + revenue + platformGas + chainSent; got != deposited || chainDeposited != deposited {
		t.Fatalf("available %d + revenue %d + gas %d + sent on chain %d = %d, want deposited %d (chain saw %d deposited)",
			available, revenue, platformGas, chainSent, got, deposited, chainDeposited)
	}
	for _, c := range []struct {
		name      string
		got, want int64
	}{
		{"agents' available", r.Totals["agent:*:available"], available},
		{"agents' pending", r.Totals["agent:*:pending_withdrawal"], 0},
		{"revenue", revenue, fees},
		{"gas", platformGas, gas},
		{"sent on chain", chainSent, sent},
		{justpay.ExternalSolana, r.Totals[justpay.ExternalSolana], sent - deposited},
	} {
		if c.got != c.want {
			t.Fatalf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	res := &simResult{serial: s.serial, totals: maps.Clone(r.Totals), transactions: r.Transactions, postings: r.Postings}
	res.totals["chain:sent"] = chainSent
	var retried int
	if err := s.raw.QueryRowContext(s.ctx, `SELECT COUNT(*) FROM withdrawals WHERE attempts > 1`).Scan(&retried); err != nil {
		t.Fatal(err)
	}
	res.checks, res.stats = s.verifier.checks.Load(), map[string]int{"serial phases with retries": s.retried, "withdrawals sent again": retried}
	for _, a := range s.agents {
		for k, n := range a.stats {
			res.stats[k] += n
		}
	}
	for _, a := range s.agents {
		res.histories = append(res.histories, a.history)
	}
	return res
}

// simOpenRaw opens the test database directly, to read rows without going through the store.
func simOpenRaw(tb testing.TB, cfg sqlstore.Config) *sql.DB {
	tb.Helper()
	driver, dsn := "sqlite", "file:"+cfg.SQLitePath+"?_pragma=query_only(1)&_pragma=busy_timeout(10000)"
	if cfg.URL != "" {
		driver, dsn = "pgx", cfg.URL
	}
	raw, err := sql.Open(driver, dsn)
	if err != nil {
		tb.Fatal(err)
	}
	raw.SetMaxOpenConns(8)
	raw.SetMaxIdleConns(8)
	tb.Cleanup(func() { raw.Close() })
	return raw
}

func simPrepare(tb testing.TB, db *sql.DB, query string) *sql.Stmt {
	tb.Helper()
	stmt, err := db.Prepare(query)
	if err != nil {
		tb.Fatalf("prepare: %v", err)
	}
	tb.Cleanup(func() { stmt.Close() })
	return stmt
}

// An agent with 52 USDC available asks for twenty 5 USDC withdrawals at once: exactly ten fit.
func TestConcurrentWithdrawalsExceedingBalance(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		env := sqlstoretest.NewEnv(t, b)
		a, _ := env.MustRegister(t, "racer")
		env.MustActivate(t, a, 53*simUSDC)
		to := sqlstoretest.NewWallet(t)
		if _, err := env.Store.SetWithdrawalAddress(ctx, a.ID, to); err != nil {
			t.Fatal(err)
		}
		ok, insufficient := concurrently(t, 20, func() error {
			_, err := env.Store.Withdraw(ctx, a.ID, 5*simUSDC)
			return err
		})
		if ok != 10 || insufficient != 10 {
			t.Fatalf("ok=%d insufficient=%d, want 10 and 10", ok, insufficient)
		}
		if got := env.MustBalance(t, a.ID); got.Available != 2*simUSDC || got.Pending != 50*simUSDC {
			t.Fatalf("balance = %+v, want 2 USDC available and 50 pending", got)
		}
		sqlstoretest.MustVerify(t, env.DB)

		sched := &scheduler.Scheduler{Store: env.Store, Chain: env.Chain, Clock: env.Clock,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Batch: 10}
		if err := sched.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if got := env.MustBalance(t, a.ID); got.Available != 2*simUSDC || got.Pending != 0 {
			t.Fatalf("balance after sending = %+v, want 2 USDC available and nothing pending", got)
		}
		received, err := env.Chain.FindDeposits(ctx, to)
		if err != nil {
			t.Fatal(err)
		}
		var sum int64
		for _, r := range received {
			sum += r.Amount
		}
		if len(received) != 10 || sum != 10*(5*simUSDC-justpay.WithdrawalFee) {
			t.Fatalf("chain received %d transfers of %d in all, want 10 of 49 USDC", len(received), sum)
		}
		r := sqlstoretest.MustVerify(t, env.DB)
		if got := r.Totals[justpay.PlatformGas]; got != 10*justpay.WithdrawalFee {
			t.Fatalf("gas = %d, want %d", got, 10*justpay.WithdrawalFee)
		}
	})
}

// Ten concurrent confirmations of each new deposit credit it exactly once, and only one deposit
// ever pays the activation fee.
func TestConcurrentConfirmDepositCreditsOnce(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		env := sqlstoretest.NewEnv(t, b)
		a, _ := env.MustRegister(t, "confirmer")
		wallet := sqlstoretest.NewWallet(t)
		var wantAvailable int64
		// Dust does not activate, the first deposit of 1 USDC or more does, later ones pay no fee.
		for i, amount := range []int64{simUSDC / 2, 3 * simUSDC, 2 * simUSDC} {
			if _, err := env.Chain.Transfer(ctx, wallet, a.DepositAddress, amount); err != nil {
				t.Fatal(err)
			}
			var credited, deposits, activations atomic.Int64
			var wg sync.WaitGroup
			for range 10 {
				wg.Go(func() {
					r, err := env.Store.ConfirmDeposits(ctx, a.ID)
					if err != nil {
						t.Errorf("confirm deposits: %v", err)
						return
					}
					credited.Add(r.TotalCredited)
					deposits.Add(int64(len(r.Deposits)))
					for _, d := range r.Deposits {
						if d.Activated {
							activations.Add(1)
						}
					}
				})
			}
			wg.Wait()
			wantActivations := int64(0)
			wantAvailable += amount
			if i == 1 {
				wantActivations = 1
				wantAvailable -= justpay.ActivationFee
			}
			if credited.Load() != amount || deposits.Load() != 1 || activations.Load() != wantActivations {
				t.Fatalf("deposit %d: credited %d in %d deposits with %d activations, want %d in 1 with %d",
					i, credited.Load(), deposits.Load(), activations.Load(), amount, wantActivations)
			}
			if got := env.MustBalance(t, a.ID); got.Available != wantAvailable {
				t.Fatalf("deposit %d: available = %d, want %d", i, got.Available, wantAvailable)
			}
			sqlstoretest.MustVerify(t, env.DB)
		}
		r := sqlstoretest.MustVerify(t, env.DB)
		if got := r.Totals[justpay.PlatformRevenue]; got != justpay.ActivationFee {
			t.Fatalf("revenue = %d, want one activation fee", got)
		}
		if _, total, err := env.Store.FindTransactions(ctx, a.ID, justpay.TransactionFilter{Page: justpay.Page{Page: 1, Limit: 10}}); err != nil || total != 4 {
			t.Fatalf("transactions = %d (%v), want 3 deposits and 1 fee", total, err)
		}
	})
}
