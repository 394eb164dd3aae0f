package sqlstore_test

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/justpay/justpay"
	"github.com/justpay/justpay/sqlstore"
	"github.com/justpay/justpay/sqlstore/sqlstoretest"
)

var campaignSimSeed = flag.Uint64("campaignseed", 20260212, "seed of TestCampaignSimulation; a failure logs the seed that reproduces it")

// campaignSimConfig sizes a campaign simulation: groups of agents, each driven by its own worker,
// for rounds of steps separated by serial phases.
type campaignSimConfig struct {
	groups, agents, rounds, steps int
}

// campaignSimConfigFor sizes the simulation: 2,880 operations, 216 with -short, 288 under the race
// detector (which slows the pure-Go SQLite some tenfold; the ledger check after every step costs
// time in proportion to the ledger), in about 8 s on SQLite.
func campaignSimConfigFor(short, race bool) campaignSimConfig {
	c := campaignSimConfig{groups: 6, agents: 5, rounds: 12, steps: 40}
	switch {
	case short:
		c.rounds, c.steps = 3, 12
	case race:
		c.groups, c.rounds, c.steps = 6, 6, 8
	}
	return c
}

// TestCampaignSimulation runs a seeded randomized campaign workload. Agents come in groups; a
// group's agents claim only the group's campaigns, so each group's state is touched by its own
// worker alone and an independent model predicts every outcome: campaigns created with auto-accept
// or manual review, budgets that are and are not whole rewards, per-agent, daily and concurrency
// limits and trust requirements (some agents' trust scores are above or below the others'); claims,
// deliveries, acceptances, rejections, top-ups, pauses, resumes and cancellations, by the right
// party or anyone, on the right or a wrong campaign; invalid fields and insufficient funds. Within
// a group, some steps run two actions on one campaign or task at once (exactly one wins, or both
// in an order the outcome reveals) or several agents claiming one campaign at once (exactly as many
// win as the campaign's slots and pool allow). The groups' workers run concurrently. Between
// rounds a serial phase moves the clock (seconds to a day, to UTC midnight and just before it, to
// just before a campaign's end and then just past it, so that campaigns end with tasks running)
// and, usually, runs the timeouts: claims expire, deliveries under review are accepted, campaigns
// end; when it does not, the next round meets deadlines that have passed but not been applied.
//
// After every step: every agent's available balance equals the model; every campaign's pool and
// every task's escrow hold exactly what the model says, zero and closed once finished; statuses,
// budgets and deadlines equal the model's; a refused or read-only operation left the group's rows
// byte-identical; and a VerifyLedger that started after the step has passed. After every serial
// phase and at the end, when everything has run to its end: the agents' balances, the escrows and
// the platform's revenue add up to exactly what was deposited. Pass -campaignseed to reproduce a
// failure.
func TestCampaignSimulation(t *testing.T) {
	seed, cfg := *campaignSimSeed, campaignSimConfigFor(testing.Short(), simRace())
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("reproduce with: go test ./sqlstore -run 'TestCampaignSimulation/%s' -campaignseed %d", b.Name, seed)
			}
		})
		start := time.Now()
		s := newCampaignSim(t, b, seed, cfg)
		s.run(t)
		if t.Failed() {
			return
		}
		stats := map[string]int{}
		var campaigns, tasks int
		for _, g := range s.groups {
			for k, n := range g.stats {
				stats[k] += n
			}
			campaigns += len(g.campaigns)
			tasks += len(g.tasks)
		}
		t.Logf("seed %d: %d operations, %d campaigns, %d tasks, %d agents in %v; %d ledger checks\n%s", seed,
			cfg.groups*cfg.rounds*cfg.steps, campaigns, tasks, cfg.groups*cfg.agents, time.Since(start).Round(time.Millisecond),
			s.verifier.checks.Load(), simFormatStats(stats))
	})
}

// campaignSim is one run of the simulation.
type campaignSim struct {
	ctx      context.Context
	env      *sqlstoretest.Env
	raw      *sql.DB
	cfg      campaignSimConfig
	serial   *rand.Rand
	groups   []*csGroup
	verifier *simVerifier
	failed   atomic.Bool
	nearEnd  bool // the clock stands just before a campaign's end

	balancesStmt, countsStmt, campaignsStmt, tasksStmt *sql.Stmt
}

// csAgent is an agent and what the model says it has.
type csAgent struct {
	id, name  string
	available int64
	deposited int64
	trust     float64
}

// csCampaign is a campaign as the model sees it.
type csCampaign struct {
	id, label    string
	owner        *csAgent
	reward, fee  int64 // fee: the platform's on one task
	totalBudget  int64
	pool         int64
	status       string
	maxPerAgent  int
	daily        *int
	minTrust     float64
	autoAccept   bool
	review, exec int
	maxConc      int
	endsAt       time.Time
	tasks        []*csTask
}

func (c *csCampaign) cost() int64 { return c.reward + c.fee }

func (c *csCampaign) finished() bool {
	return c.status == justpay.CampaignEnded || c.status == justpay.CampaignCancelled
}

func (c *csCampaign) running() int {
	n := 0
	for _, t := range c.tasks {
		if t.running() {
			n++
		}
	}
	return n
}

// counted are the agent's tasks of c that count toward its limits (all but expired and
// cancelled ones), and those of them claimed since dayStart.
func (c *csCampaign) counted(a *csAgent, dayStart time.Time) (mine, today int) {
	for _, t := range c.tasks {
		if t.agent != a || t.status == justpay.TaskExpired || t.status == justpay.TaskCancelled {
			continue
		}
		mine++
		if !t.created.Before(dayStart) {
			today++
		}
	}
	return mine, today
}

// csTask is a campaign task as the model sees it.
type csTask struct {
	id, label string
	c         *csCampaign
	agent     *csAgent
	status    string
	expires   time.Time // zero: no deadline
	created   time.Time
}

func (t *csTask) running() bool {
	return t.status == justpay.TaskClaimed || t.status == justpay.TaskDelivered
}

func (t *csTask) finished() bool { return !t.running() }

// csGroup is a set of agents and their campaigns, driven by one worker.
type csGroup struct {
	idx       int
	agents    []*csAgent
	campaigns []*csCampaign
	tasks     []*csTask
	fees      int64 // task fees the platform earned from the group
	r         *rand.Rand
	last      string // the group's rows after its previous step
	steps     int
	history   []string
	stats     map[string]int
}

// running counts the group's campaigns that have not finished.
func (g *csGroup) running() int {
	n := 0
	for _, c := range g.campaigns {
		if !c.finished() {
			n++
		}
	}
	return n
}

func newCampaignSim(t *testing.T, b sqlstoretest.Backend, seed uint64, cfg campaignSimConfig) *campaignSim {
	t.Helper()
	ctx := context.Background()
	clock := sqlstoretest.NewClock()
	dbCfg := sqlstoretest.Config(t, b, clock)
	retries := &retryCounter{}
	dbCfg.Logger = slog.New(retries)
	db, err := sqlstore.Open(ctx, dbCfg)
	if err != nil {
		t.Fatalf("open %s: %v", b.Name, err)
	}
	t.Cleanup(func() { db.Close() })
	env := sqlstoretest.Wire(t, db, clock)
	s := &campaignSim{ctx: ctx, env: env, raw: simOpenRaw(t, dbCfg), cfg: cfg, serial: rand.New(rand.NewPCG(seed, 0)),
		verifier: newSimVerifier(env.DB)}

	in := make([]string, cfg.agents)
	for i := range in {
		in[i] = fmt.Sprintf("$%d", i+1)
	}
	agents := "(" + strings.Join(in, ", ") + ")"
	s.balancesStmt = simPrepare(t, s.raw, `SELECT account, balance, closed FROM ledger_balances WHERE agent_id IN `+agents+` ORDER BY account`)
	s.countsStmt = simPrepare(t, s.raw, `SELECT COUNT(*), COALESCE(SUM(amount), 0),
		(SELECT COUNT(*) FROM events WHERE agent_id IN `+agents+`)
		FROM ledger_postings WHERE account IN (SELECT account FROM ledger_balances WHERE agent_id IN `+agents+`)`)
	s.campaignsStmt = simPrepare(t, s.raw, `SELECT id, status, total_budget, updated_at FROM campaigns WHERE owner_id IN `+agents+` ORDER BY id`)
	s.tasksStmt = simPrepare(t, s.raw, `SELECT id, campaign_id, agent_id, status, expires_at, updated_at FROM campaign_tasks
		WHERE campaign_id IN (SELECT id FROM campaigns WHERE owner_id IN `+agents+`) ORDER BY id`)

	// Setup, serial: agents with a deposit each (some barely activated); some have a job record
	// that moves their trust score above or below a newcomer's.
	for gi := range cfg.groups {
		g := &csGroup{idx: gi, r: rand.New(rand.NewPCG(seed, uint64(gi)+1)), stats: map[string]int{}}
		for ai := range cfg.agents {
			a, _ := env.MustRegister(t, fmt.Sprintf("g%d-a%d", gi, ai))
			deposit := []int64{usdc + 300_000, 3 * usdc, 10 * usdc, 30 * usdc}[s.serial.IntN(4)]
			env.MustActivate(t, a, deposit)
			var completed, expired int64
			switch s.serial.IntN(4) {
			case 0:
				completed = 5
			case 1:
				expired = 3
			}
			if completed+expired > 0 {
				if err := env.DB.Update(ctx, func(tx *sqlstore.Tx) error {
					_, err := tx.ExecContext(ctx, `UPDATE agents SET completed_jobs = $1, expired_jobs = $2 WHERE id = $3`, completed, expired, a.ID)
					return err
				}); err != nil {
					t.Fatal(err)
				}
			}
			m := &csAgent{id: a.ID, name: a.Name, available: deposit - justpay.ActivationFee, deposited: deposit,
				trust: justpay.TrustScore(justpay.TrustInputs{JobsCompleted: completed, JobsFailed: expired})}
			if got, err := env.Store.FindAgentByID(ctx, a.ID); err != nil || got.TrustScore() != m.trust {
				t.Fatalf("%s's trust score: %v, want %v", a.Name, err, m.trust)
			}
			g.agents = append(g.agents, m)
			g.history = append(g.history, fmt.Sprintf("setup %s avail %d trust %.3f", m.name, m.available, m.trust))
		}
		snap, err := s.snapshot(g)
		if err != nil {
			t.Fatal(err)
		}
		g.last = snap.text
		s.groups = append(s.groups, g)
	}
	// Task paths lock the task, then the campaign; claims, top-ups, pauses and ends the campaign
	// alone; only a cancel racing a payment that completes the campaign meets the documented
	// cycle, which PostgreSQL breaks and the store retries. Nothing else should ever retry.
	t.Cleanup(func() {
		if n := retries.n.Load(); n > 0 {
			t.Logf("%d transactions retried (first: %s)", n, retries.first)
		}
	})
	return s
}

func (s *campaignSim) run(t *testing.T) {
	for round := range s.cfg.rounds {
		var wg sync.WaitGroup
		for _, g := range s.groups {
			wg.Go(func() {
				for range s.cfg.steps {
					if s.failed.Load() {
						return
					}
					if err := s.step(g); err != nil {
						s.fail(t, g, err)
						return
					}
				}
			})
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		s.serialPhase(t, round)
		if t.Failed() {
			return
		}
	}
	s.finish(t)
}

func (s *campaignSim) fail(t *testing.T, g *csGroup, err error) {
	if s.failed.Swap(true) {
		t.Errorf("group %d step %d: %v", g.idx, g.steps, err)
		return
	}
	tail := g.history[max(0, len(g.history)-15):]
	t.Errorf("seed %d, group %d step %d: %v\nlast steps:\n  %s", *campaignSimSeed, g.idx, g.steps, err, strings.Join(tail, "\n  "))
}

// step runs one random operation in the group and checks the outcome and the invariants.
func (s *campaignSim) step(g *csGroup) error {
	g.steps++
	now := s.env.Clock.Now() // the clock stands still during a round
	var (
		desc    string
		changed bool
		err     error
	)
	switch x := g.r.IntN(100); {
	case x < 10 && (g.running() < 4 || x < 2):
		desc, changed, err = s.opCreate(g, now)
	case x < 10:
		desc, changed, err = s.opAction(g, now, csClaim)
	case x < 32:
		desc, changed, err = s.opAction(g, now, csClaim)
	case x < 46:
		desc, changed, err = s.opAction(g, now, csDeliver)
	case x < 53:
		desc, changed, err = s.opAction(g, now, csAccept)
	case x < 59:
		desc, changed, err = s.opAction(g, now, csReject)
	case x < 64:
		desc, changed, err = s.opAction(g, now, csTopUp)
	case x < 67:
		desc, changed, err = s.opAction(g, now, csPause)
	case x < 70:
		desc, changed, err = s.opAction(g, now, csResume)
	case x < 73:
		desc, changed, err = s.opAction(g, now, csCancel)
	case x < 81:
		desc, changed, err = s.opAction(g, now, "") // anyone, anything
	case x < 89:
		desc, changed, err = s.opRace(g, now)
	case x < 95:
		desc, changed, err = s.opBurst(g, now)
	default:
		desc, changed, err = s.opFind(g)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", desc, err)
	}
	if err := s.check(g, changed); err != nil {
		return fmt.Errorf("after %s: %w", desc, err)
	}
	if err := s.verifier.verifyAfter(s.ctx); err != nil {
		return fmt.Errorf("after %s: %w", desc, err)
	}
	g.history = append(g.history, fmt.Sprintf("%04d %s", g.steps, desc))
	return nil
}

// The model's rules: what each change does to the balances.

// claim reserves a task's cost from the pool.
func (g *csGroup) claim(c *csCampaign, a *csAgent, task *justpay.CampaignTask, now time.Time) *csTask {
	t := &csTask{id: task.ID, label: fmt.Sprintf("%s.t%d", c.label, len(c.tasks)), c: c, agent: a, status: justpay.TaskClaimed,
		expires: now.Add(time.Duration(c.exec) * time.Second), created: now}
	c.pool -= c.cost()
	c.tasks = append(c.tasks, t)
	g.tasks = append(g.tasks, t)
	return t
}

// deliver pays at once with auto-accept, else opens the review window.
func (g *csGroup) deliver(t *csTask, now time.Time) {
	if t.c.autoAccept {
		g.finishTask(t, justpay.TaskAccepted)
		return
	}
	t.status, t.expires = justpay.TaskDelivered, now.Add(time.Duration(t.c.review)*time.Second)
}

// finishTask empties the task's escrow: the reward to the agent and the fee to the platform, or
// the cost back to the pool (to the owner once the campaign has ended or been cancelled). A paid
// task may complete the campaign.
func (g *csGroup) finishTask(t *csTask, status string) {
	c := t.c
	t.status, t.expires = status, time.Time{}
	if c.status == justpay.CampaignEnded {
		g.stats["task "+status+" after the end"]++
	}
	switch {
	case status == justpay.TaskAccepted:
		t.agent.available += c.reward
		g.fees += c.fee
		g.completeIfSpent(c)
	case c.finished():
		c.owner.available += c.cost()
	default:
		c.pool += c.cost()
	}
}

// completeIfSpent completes a running campaign whose pool cannot pay a task and that has no task
// running; what is left goes back to the owner.
func (g *csGroup) completeIfSpent(c *csCampaign) {
	if (c.status == justpay.CampaignActive || c.status == justpay.CampaignPaused) && c.pool < c.cost() && c.running() == 0 {
		c.owner.available += c.pool
		c.pool, c.status = 0, justpay.CampaignCompleted
		g.stats["completed"]++
	}
}

// finishCampaign gives the pool back to the owner: ended or cancelled.
func (g *csGroup) finishCampaign(c *csCampaign, status string) {
	c.owner.available += c.pool
	c.pool, c.status = 0, status
	if status == justpay.CampaignCancelled {
		for _, t := range c.tasks { // in ID order, as created; deliveries keep their review
			if t.status == justpay.TaskClaimed {
				g.finishTask(t, justpay.TaskCancelled)
			}
		}
	}
}

// topUpFee is the fee escrowed with a top-up: the fees of the whole budget less those paid, so
// that a budget of n rewards, however it was put together, escrows n task costs.
func (c *csCampaign) topUpFee(amount int64) int64 {
	return justpay.CampaignFee(c.totalBudget+amount, c.reward, justpay.DefaultJobFeeBps) -
		justpay.CampaignFee(c.totalBudget, c.reward, justpay.DefaultJobFeeBps)
}

// topUp escrows amount of budget and its fees; a completed campaign runs again.
func (g *csGroup) topUp(c *csCampaign, amount int64) {
	total := amount + c.topUpFee(amount)
	c.owner.available -= total
	c.pool += total
	c.totalBudget += amount
	if c.status == justpay.CampaignCompleted {
		c.status = justpay.CampaignActive
	}
}

// timeout applies a task's passed deadline.
func (g *csGroup) timeout(t *csTask) {
	g.stats["timeout "+t.status]++
	if t.status == justpay.TaskDelivered {
		g.finishTask(t, justpay.TaskAccepted)
		return
	}
	g.finishTask(t, justpay.TaskExpired)
}

// opCreate creates a campaign with random settings: valid, invalid, or more than the owner has.
func (s *campaignSim) opCreate(g *csGroup, now time.Time) (string, bool, error) {
	r := g.r
	owner := pick(r, g.agents)
	reward := []int64{1000, 1050, 33_333, 50_000, 250_000}[r.IntN(5)]
	budget := reward * []int64{1, 2, 3, 5}[r.IntN(4)]
	if r.IntN(3) == 0 {
		budget += 1 + r.Int64N(reward-1) // not a whole number of rewards
	}
	nc := newCampaign(budget, func(nc *justpay.NewCampaign) {
		nc.RewardPerTask = reward
		nc.MaxPerAgent = ptr([]int{1, 2, 3, 10, 10}[r.IntN(5)])
		if r.IntN(3) == 0 {
			nc.DailyLimitPerAgent = ptr(1 + r.IntN(2))
		}
		// Nobody, the least trusted, newcomers, only the most trusted, nobody at all.
		nc.MinTrustScore = ptr([]float64{0, 0, 0, 0, 0, 0.5, justpay.TrustScore(justpay.TrustInputs{}), 0.7, 0.95}[r.IntN(9)])
		nc.AutoAccept = ptr(r.IntN(2) == 0)
		nc.ReviewTimeoutSecs = ptr([]int{60, 120, 300}[r.IntN(3)])
		nc.MaxExecutionTimeSecs = ptr([]int{30, 60, 300}[r.IntN(3)])
		nc.MaxConcurrentClaims = ptr([]int{1, 2, 3, 10}[r.IntN(4)])
		nc.DurationDays = ptr(1 + r.IntN(3))
	})
	variant := "good"
	switch x := r.IntN(100); {
	case x < 4:
		nc.RewardPerTask, variant = justpay.MinRewardPerTask-1, "reward-too-small"
	case x < 7:
		nc.TotalBudget, variant = reward-1, "budget-below-a-task"
	case x < 9:
		nc.MaxConcurrentClaims, variant = ptr(0), "no-claims"
	case x < 15:
		nc.TotalBudget, variant = owner.available+1, "too-expensive"
	}
	fee := justpay.CampaignFee(nc.TotalBudget, nc.RewardPerTask, justpay.DefaultJobFeeBps)
	var code string
	switch {
	case variant != "good" && variant != "too-expensive":
		code = justpay.EINVALID
	case nc.TotalBudget < nc.RewardPerTask:
		code = justpay.EINVALID
	case owner.available < nc.TotalBudget+fee:
		code = justpay.EINSUFFICIENT
	}
	desc := fmt.Sprintf("%s creates reward %d budget %d (%s, avail %d) -> %s", owner.name, nc.RewardPerTask, nc.TotalBudget, variant,
		owner.available, jsOutcome(code))
	g.stats["create "+jsOutcome(code)]++
	got, err := s.env.Store.CreateCampaign(s.ctx, owner.id, nc)
	if err := simCode(err, code); err != nil {
		return desc, false, err
	}
	if err != nil {
		return desc, false, nil
	}
	c := &csCampaign{id: got.ID, label: fmt.Sprintf("c%d.%d", g.idx, len(g.campaigns)), owner: owner, reward: nc.RewardPerTask,
		fee: justpay.BasisPointsFee(nc.RewardPerTask, justpay.DefaultJobFeeBps), totalBudget: nc.TotalBudget, pool: nc.TotalBudget + fee,
		status: justpay.CampaignActive, maxPerAgent: *nc.MaxPerAgent, daily: nc.DailyLimitPerAgent, minTrust: *nc.MinTrustScore,
		autoAccept: *nc.AutoAccept, review: *nc.ReviewTimeoutSecs, exec: *nc.MaxExecutionTimeSecs, maxConc: *nc.MaxConcurrentClaims,
		endsAt: now.AddDate(0, 0, *nc.DurationDays)}
	owner.available -= c.pool
	g.campaigns = append(g.campaigns, c)
	daily := "-"
	if c.daily != nil {
		daily = fmt.Sprint(*c.daily)
	}
	desc += fmt.Sprintf(" %s: auto %t perAgent %d daily %s conc %d trust %.3f exec %d review %d ends %s", c.label, c.autoAccept,
		c.maxPerAgent, daily, c.maxConc, c.minTrust, c.exec, c.review, c.endsAt.Format(time.RFC3339))
	if got.TaskFee != c.fee || got.Remaining != c.pool || got.TotalBudget != c.totalBudget || !got.EndsAt.Equal(c.endsAt) ||
		got.Status != justpay.CampaignActive || got.Funded == nil || got.Funded.PlatformFee != fee {
		return desc, true, fmt.Errorf("created %+v, want fee %d pool %d ends %v", got, c.fee, c.pool, c.endsAt)
	}
	return desc, true, nil
}

// The actions of the simulation.
const (
	csClaim   = "claim"
	csDeliver = "deliver"
	csAccept  = "accept"
	csReject  = "reject"
	csTopUp   = "top-up"
	csPause   = "pause"
	csResume  = "resume"
	csCancel  = "cancel"
)

var csActions = []string{csClaim, csDeliver, csAccept, csReject, csTopUp, csPause, csResume, csCancel}

// csCall is one action with its arguments, what the model expects and what happened.
type csCall struct {
	action     string
	actor      *csAgent
	c          *csCampaign // the campaign named, nil for one that does not exist
	t          *csTask     // the task named (task actions), nil for one that does not exist
	campaignID string
	taskID     string
	output     json.RawMessage
	reason     string
	amount     int64
	code       string // expected
	err        error  // got
	result     any
}

func (c *csCall) String() string {
	target := "?"
	switch {
	case c.t != nil && (c.c == nil || c.t.c != c.c):
		target = c.t.label + "(" + c.t.status + ") of another campaign"
	case c.t != nil:
		target = c.t.label + "(" + c.t.status + ")"
	case c.c != nil && c.taskID != "":
		target = c.c.label + ": no such task"
	case c.c != nil:
		target = fmt.Sprintf("%s(%s pool %d)", c.c.label, c.c.status, c.c.pool)
	}
	extra := ""
	switch c.action {
	case csDeliver:
		extra = " " + string(c.output)
	case csReject:
		extra = fmt.Sprintf(" %q", c.reason)
	case csTopUp:
		extra = fmt.Sprintf(" %d", c.amount)
	}
	return fmt.Sprintf("%s %s %s%s", c.actor.name, c.action, target, extra)
}

// plan fills in what the model expects of the call now.
func (c *csCall) plan(now time.Time) {
	c.code = c.expect(now)
}

func (c *csCall) expect(now time.Time) string {
	switch c.action {
	case csClaim:
		cp := c.c
		if cp == nil {
			return justpay.ENOTFOUND
		}
		dayStart := now.Truncate(24 * time.Hour)
		mine, today := cp.counted(c.actor, dayStart)
		switch {
		case cp.status != justpay.CampaignActive:
			return justpay.ECONFLICT
		case !now.Before(cp.endsAt):
			return csOverdue
		case cp.owner == c.actor, c.actor.trust < cp.minTrust, mine >= cp.maxPerAgent, cp.daily != nil && today >= *cp.daily:
			return justpay.EFORBIDDEN
		case cp.running() >= cp.maxConc, cp.pool < cp.cost():
			return justpay.ECONFLICT
		}
		return ""
	case csDeliver, csAccept, csReject:
		switch {
		case c.action == csDeliver && (len(c.output) == 0 || string(c.output) == "null"):
			return justpay.EINVALID
		case c.action == csReject && c.reason == "":
			return justpay.EINVALID
		case c.t == nil || c.c == nil || c.t.c != c.c:
			return justpay.ENOTFOUND
		case c.action == csDeliver && c.t.agent != c.actor, c.action != csDeliver && c.c.owner != c.actor:
			return justpay.ENOTFOUND
		case c.action == csDeliver && c.t.status != justpay.TaskClaimed, c.action != csDeliver && c.t.status != justpay.TaskDelivered:
			return justpay.ECONFLICT
		case !now.Before(c.t.expires):
			return csOverdue // the timeout has not been applied yet, but the task is the scheduler's
		}
		return ""
	case csTopUp:
		switch {
		case c.amount <= 0:
			return justpay.EINVALID
		case c.c == nil || c.c.owner != c.actor:
			return justpay.ENOTFOUND
		case c.c.finished():
			return justpay.ECONFLICT
		case !now.Before(c.c.endsAt):
			return csOverdue
		case c.c.status == justpay.CampaignCompleted && c.amount < c.c.reward:
			return justpay.EINVALID // a completed campaign runs again only if the top-up pays a task
		case c.actor.available < c.amount+c.c.topUpFee(c.amount):
			return justpay.EINSUFFICIENT
		}
		return ""
	default: // pause, resume, cancel
		from := map[string]func(string) bool{
			csPause:  func(s string) bool { return s == justpay.CampaignActive },
			csResume: func(s string) bool { return s == justpay.CampaignPaused },
			csCancel: func(s string) bool { return s != justpay.CampaignEnded && s != justpay.CampaignCancelled },
		}[c.action]
		switch {
		case c.c == nil || c.c.owner != c.actor:
			return justpay.ENOTFOUND
		case !c.c.finished() && !now.Before(c.c.endsAt):
			return csOverdue // its time is up: the scheduler is about to end it
		case !from(c.c.status):
			return justpay.ECONFLICT
		}
		return ""
	}
}

// why tells a refused claim's reasons apart, for the statistics.
func (c *csCall) why(now time.Time) string {
	if c.action != csClaim || c.c == nil || c.code == "" || c.code == csOverdue {
		return ""
	}
	cp := c.c
	mine, today := cp.counted(c.actor, now.Truncate(24*time.Hour))
	switch {
	case cp.status != justpay.CampaignActive:
		return " (" + cp.status + ")"
	case cp.owner == c.actor:
		return " (own)"
	case c.actor.trust < cp.minTrust:
		return " (trust)"
	case mine >= cp.maxPerAgent:
		return " (per agent)"
	case cp.daily != nil && today >= *cp.daily:
		return " (daily)"
	case cp.running() >= cp.maxConc:
		return " (slots)"
	}
	return " (budget)"
}

// call runs the action on the store.
func (s *campaignSim) call(c *csCall) {
	st, ctx := s.env.Store, s.ctx
	var res any
	var err error
	switch c.action {
	case csClaim:
		res, err = st.ClaimTask(ctx, c.actor.id, c.campaignID)
	case csDeliver:
		res, err = st.DeliverTask(ctx, c.actor.id, c.campaignID, c.taskID, c.output)
	case csAccept:
		res, err = st.AcceptTask(ctx, c.actor.id, c.campaignID, c.taskID)
	case csReject:
		res, err = st.RejectTask(ctx, c.actor.id, c.campaignID, c.taskID, c.reason)
	case csTopUp:
		res, err = st.TopUpCampaign(ctx, c.actor.id, c.campaignID, c.amount)
	case csPause:
		res, err = st.PauseCampaign(ctx, c.actor.id, c.campaignID)
	case csResume:
		res, err = st.ResumeCampaign(ctx, c.actor.id, c.campaignID)
	case csCancel:
		res, err = st.CancelCampaign(ctx, c.actor.id, c.campaignID)
	}
	c.err, c.result = err, res
}

// apply moves the model by a call that succeeded and checks what the store returned.
func (g *csGroup) apply(c *csCall, now time.Time) (string, error) {
	switch c.action {
	case csClaim:
		task := c.result.(*justpay.CampaignTask)
		t := g.claim(c.c, c.actor, task, now)
		if task.AgentID != c.actor.id || task.CampaignID != c.c.id || task.Status != justpay.TaskClaimed || task.Amount != c.c.reward ||
			task.PlatformFee != c.c.fee || task.ExpiresAt == nil || !task.ExpiresAt.Equal(t.expires) {
			return t.label, fmt.Errorf("claimed %+v, want expiry %v", task, t.expires)
		}
		return t.label, nil
	case csDeliver, csAccept, csReject:
		switch c.action {
		case csDeliver:
			g.deliver(c.t, now)
		case csAccept:
			g.finishTask(c.t, justpay.TaskAccepted)
		case csReject:
			g.finishTask(c.t, justpay.TaskRejected)
		}
		task := c.result.(*justpay.CampaignTask)
		expires := time.Time{}
		if task.ExpiresAt != nil {
			expires = *task.ExpiresAt
		}
		if task.ID != c.t.id || task.Status != c.t.status || !expires.Equal(c.t.expires) || (task.FinishedAt != nil) != c.t.finished() {
			return "", fmt.Errorf("task = %s expires %v, want %s expires %v", task.Status, expires, c.t.status, c.t.expires)
		}
		return "", nil
	}
	switch c.action {
	case csTopUp:
		g.topUp(c.c, c.amount)
	case csPause:
		c.c.status = justpay.CampaignPaused
	case csResume:
		c.c.status = justpay.CampaignActive
	case csCancel:
		g.finishCampaign(c.c, justpay.CampaignCancelled)
	}
	got := c.result.(*justpay.Campaign)
	if got.ID != c.c.id || got.Status != c.c.status || got.Remaining != c.c.pool || got.TotalBudget != c.c.totalBudget {
		return "", fmt.Errorf("campaign = %s pool %d budget %d, want %s pool %d budget %d", got.Status, got.Remaining, got.TotalBudget,
			c.c.status, c.c.pool, c.c.totalBudget)
	}
	return "", nil
}

// newCall draws the arguments of action by actor on the campaign and task.
func (g *csGroup) newCall(action string, actor *csAgent, c *csCampaign, t *csTask, now time.Time) *csCall {
	r := g.r
	call := &csCall{action: action, actor: actor, c: c, t: t}
	if c != nil {
		call.campaignID = c.id
	} else {
		call.campaignID = justpay.NewID(now)
	}
	switch action {
	case csDeliver, csAccept, csReject:
		if t != nil {
			call.taskID = t.id
		} else {
			call.taskID = justpay.NewID(now)
		}
	}
	switch action {
	case csDeliver:
		call.output = taskOutput
		if r.IntN(25) == 0 {
			call.output = []json.RawMessage{nil, json.RawMessage(`null`)}[r.IntN(2)]
		}
	case csReject:
		call.reason = "not what was asked"
		if r.IntN(25) == 0 {
			call.reason = ""
		}
	case csTopUp:
		if c != nil {
			call.amount = c.reward * []int64{1, 2, 3}[r.IntN(3)]
			if r.IntN(3) == 0 {
				call.amount = 1 + r.Int64N(c.reward) // part of a task: the pool may still not pay one
			}
		}
		switch x := r.IntN(30); {
		case x == 0:
			call.amount = 0
		case x == 1:
			call.amount = actor.available + 1
		case call.amount == 0:
			call.amount = 5000
		}
	}
	call.plan(now)
	return call
}

// fits lists the targets an action is meant for: claimed tasks to deliver, delivered ones to
// review, active campaigns to claim or pause...
func (g *csGroup) fits(action string) (campaigns []*csCampaign, tasks []*csTask) {
	switch action {
	case csDeliver:
		for _, t := range g.tasks {
			if t.status == justpay.TaskClaimed {
				tasks = append(tasks, t)
			}
		}
	case csAccept, csReject:
		for _, t := range g.tasks {
			if t.status == justpay.TaskDelivered {
				tasks = append(tasks, t)
			}
		}
	default:
		for _, c := range g.campaigns {
			switch {
			case action == csClaim, action == csPause:
				if c.status == justpay.CampaignActive {
					campaigns = append(campaigns, c)
				}
			case action == csResume:
				if c.status == justpay.CampaignPaused {
					campaigns = append(campaigns, c)
				}
			case !c.finished():
				campaigns = append(campaigns, c)
			}
		}
	}
	return campaigns, tasks
}

// rightActor is who an action is meant for: the task's agent, the owner, or (to claim) an agent of
// the group other than the owner.
func (g *csGroup) rightActor(action string, c *csCampaign, t *csTask) *csAgent {
	switch {
	case action == csDeliver && t != nil:
		return t.agent
	case action == csClaim && c != nil:
		var others []*csAgent
		for _, a := range g.agents {
			if a != c.owner {
				others = append(others, a)
			}
		}
		return pick(g.r, others)
	case c != nil:
		return c.owner
	}
	return pick(g.r, g.agents)
}

// opAction runs one action: mostly by the right party on a target in the right status, sometimes
// by anyone on anything of the group (a wrong campaign for the task, one that does not exist). An
// empty action draws one.
func (s *campaignSim) opAction(g *csGroup, now time.Time, action string) (string, bool, error) {
	r := g.r
	wild := action == ""
	if wild {
		action = pick(r, csActions)
	}
	campaigns, tasks := g.fits(action)
	var c *csCampaign
	var t *csTask
	taskAction := action == csDeliver || action == csAccept || action == csReject
	switch {
	case wild || r.IntN(10) == 0:
		c = pick(r, g.campaigns)
		if taskAction {
			t = pick(r, g.tasks)
			if t != nil && r.IntN(3) != 0 {
				c = t.c
			}
		}
		if r.IntN(20) == 0 {
			c, t = nil, nil // nothing of that ID
		}
	case taskAction:
		t = pick(r, tasks)
		if t == nil {
			if r.IntN(10) < 7 {
				return s.opAction(g, now, csClaim) // nothing to do this to: claim something instead
			}
			t = pick(r, g.tasks)
		}
		if t != nil {
			c = t.c
		}
	default:
		c = pick(r, campaigns)
		if ending := slices.DeleteFunc(slices.Clone(campaigns), func(c *csCampaign) bool {
			return !c.endsAt.After(now) || c.endsAt.Sub(now) > 2*time.Minute
		}); len(ending) > 0 && r.IntN(2) == 0 {
			c = pick(r, ending) // about to end: claims now still run when it does
		}
		if c == nil {
			if r.IntN(10) < 8 {
				return s.opCreate(g, now) // nothing to do this to: create a campaign instead
			}
			c = pick(r, g.campaigns)
		}
	}
	if c == nil && t == nil && len(g.campaigns) == 0 {
		return s.opCreate(g, now)
	}
	actor := g.rightActor(action, c, t)
	if wild || r.IntN(10) == 0 {
		actor = pick(r, g.agents)
	}
	call := g.newCall(action, actor, c, t, now)
	desc := call.String() + " -> " + jsOutcome(call.code)
	kind := action
	if wild {
		kind = "any " + action
	}
	g.stats[kind+" "+jsOutcome(call.code)+call.why(now)]++
	s.call(call)
	if err := simCode(call.err, strings.TrimSuffix(call.code, " (overdue)")); err != nil {
		return desc, false, err
	}
	if call.err != nil {
		return desc, false, nil
	}
	label, err := g.apply(call, now)
	if label != "" {
		desc += " " + label
	}
	return desc, true, err
}

// csOverdue is ECONFLICT for an action refused because a deadline passed (a task's, or the
// campaign's end) that the scheduler has not applied yet, told apart in the statistics.
const csOverdue = justpay.ECONFLICT + " (overdue)"

// csPair is two actions raced at once; want says which outcomes are allowed: "one" (exactly one
// wins) or "b" (b always wins; a wins too if it came first, and the model applies a, then b).
type csPair struct {
	a, b *csCall
	want string
}

// opRace runs two actions at once on one campaign or task, each of which would succeed alone: the
// same action twice, accept against reject, a delivery, a claim, a top-up or a pause against the
// owner's cancel, a claim against a pause.
func (s *campaignSim) opRace(g *csGroup, now time.Time) (string, bool, error) {
	r := g.r
	var pairs []csPair
	mk := func(action string, actor *csAgent, c *csCampaign, t *csTask) *csCall {
		call := &csCall{action: action, actor: actor, c: c, t: t, campaignID: c.id, output: taskOutput, reason: "no", amount: c.reward}
		if t != nil {
			call.taskID = t.id
		}
		call.plan(now)
		return call
	}
	for _, t := range g.tasks {
		c := t.c
		switch t.status {
		case justpay.TaskClaimed:
			pairs = append(pairs, csPair{mk(csDeliver, t.agent, c, t), mk(csDeliver, t.agent, c, t), "one"})
			if !c.finished() {
				pairs = append(pairs, csPair{mk(csDeliver, t.agent, c, t), mk(csCancel, c.owner, c, nil), "b"})
			}
		case justpay.TaskDelivered:
			pairs = append(pairs, csPair{mk(csAccept, c.owner, c, t), mk(csReject, c.owner, c, t), "one"},
				csPair{mk(csAccept, c.owner, c, t), mk(csAccept, c.owner, c, t), "one"},
				csPair{mk(csReject, c.owner, c, t), mk(csReject, c.owner, c, t), "one"})
		}
	}
	for _, c := range g.campaigns {
		pairs = append(pairs, csPair{mk(csCancel, c.owner, c, nil), mk(csCancel, c.owner, c, nil), "one"},
			csPair{mk(csPause, c.owner, c, nil), mk(csPause, c.owner, c, nil), "one"},
			csPair{mk(csResume, c.owner, c, nil), mk(csResume, c.owner, c, nil), "one"},
			csPair{mk(csTopUp, c.owner, c, nil), mk(csCancel, c.owner, c, nil), "b"},
			csPair{mk(csPause, c.owner, c, nil), mk(csCancel, c.owner, c, nil), "b"})
		for _, a := range g.agents {
			pairs = append(pairs, csPair{mk(csClaim, a, c, nil), mk(csCancel, c.owner, c, nil), "b"},
				csPair{mk(csClaim, a, c, nil), mk(csPause, c.owner, c, nil), "b"})
		}
	}
	pairs = slices.DeleteFunc(pairs, func(p csPair) bool { return p.a.code != "" || p.b.code != "" })
	if len(pairs) == 0 {
		return "race: nothing to race", false, nil
	}
	// Every kind of race as likely as any other, however many targets each has; those that
	// cancel the campaign half as likely, or few campaigns would run long.
	kind := func(p csPair) string { return p.a.action + "|" + p.b.action }
	var kinds []string
	for _, p := range pairs {
		if !slices.Contains(kinds, kind(p)) {
			kinds = append(kinds, kind(p))
		}
	}
	if cancels := slices.DeleteFunc(slices.Clone(kinds), func(k string) bool { return !strings.HasSuffix(k, "|"+csCancel) }); len(cancels) < len(kinds) && r.IntN(2) == 0 {
		kinds = slices.DeleteFunc(kinds, func(k string) bool { return strings.HasSuffix(k, "|"+csCancel) })
	}
	k := pick(r, kinds)
	p := pick(r, slices.DeleteFunc(pairs, func(p csPair) bool { return kind(p) != k }))
	desc := fmt.Sprintf("race %s | %s", p.a, p.b)
	gate := make(chan struct{})
	var wg sync.WaitGroup
	for _, call := range []*csCall{p.a, p.b} {
		wg.Go(func() {
			<-gate
			s.call(call)
		})
	}
	close(gate)
	wg.Wait()
	for _, call := range []*csCall{p.a, p.b} {
		if code := justpay.ErrorCode(call.err); code != "" && code != justpay.ECONFLICT {
			return desc, false, fmt.Errorf("%s: %v, want success or ECONFLICT", call, call.err)
		}
	}
	aWon, bWon := p.a.err == nil, p.b.err == nil
	var order []*csCall
	switch {
	case p.want == "one" && aWon && bWon:
		return desc, false, errors.New("both won")
	case p.want == "one" && !aWon && !bWon:
		return desc, false, fmt.Errorf("neither won: %v; %v", p.a.err, p.b.err)
	case p.want == "one" && aWon:
		order = []*csCall{p.a}
	case p.want == "one":
		order = []*csCall{p.b}
	case !bWon:
		return desc, false, fmt.Errorf("%s lost: %v (the other: %v)", p.b, p.b.err, p.a.err)
	case aWon:
		order = []*csCall{p.a, p.b}
	default:
		order = []*csCall{p.b}
	}
	var won []string
	for _, call := range order {
		label, err := g.apply(call, now)
		if err != nil {
			return desc, true, fmt.Errorf("%s won: %w", call.action, err)
		}
		won = append(won, strings.TrimSpace(call.action+" "+label))
	}
	desc += " -> " + strings.Join(won, " then ")
	outcome := order[0].action
	if len(order) == 2 {
		outcome = "both"
	}
	g.stats["race "+k+" -> "+outcome]++
	return desc, true, nil
}

// opBurst has several of the group's agents, each of which could claim alone, claim one campaign
// at once: exactly as many win as the campaign's free slots and its pool allow, whoever they are.
func (s *campaignSim) opBurst(g *csGroup, now time.Time) (string, bool, error) {
	r := g.r
	c := pick(r, g.campaigns)
	if c == nil {
		return s.opCreate(g, now)
	}
	var agents []*csAgent
	for _, a := range g.agents {
		if (&csCall{action: csClaim, actor: a, c: c}).withRoom(now) == "" {
			agents = append(agents, a)
		}
	}
	if len(agents) < 2 {
		return "burst on " + c.label + ": fewer than 2 eligible agents", false, nil
	}
	r.Shuffle(len(agents), func(i, k int) { agents[i], agents[k] = agents[k], agents[i] })
	n := len(agents)
	want := min(n, max(c.maxConc-c.running(), 0), int(c.pool/c.cost()))
	desc := fmt.Sprintf("burst %d agents on %s (slots %d, pool %d for %d) -> %d", n, c.label, c.maxConc-c.running(), c.pool,
		c.pool/c.cost(), want)
	tasks, errs := make([]*justpay.CampaignTask, n), make([]error, n)
	gate := make(chan struct{})
	var wg sync.WaitGroup
	for i, a := range agents {
		wg.Go(func() {
			<-gate
			tasks[i], errs[i] = s.env.Store.ClaimTask(s.ctx, a.id, c.id)
		})
	}
	close(gate)
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch justpay.ErrorCode(err) {
		case "":
			won++
		case justpay.ECONFLICT:
		default:
			return desc, false, fmt.Errorf("%s: %v", agents[i].name, err)
		}
	}
	if won != want {
		return desc, false, fmt.Errorf("%d claims won, want %d", won, want)
	}
	g.stats["burst"]++
	for i, task := range tasks {
		if task == nil {
			continue
		}
		call := &csCall{action: csClaim, actor: agents[i], c: c, campaignID: c.id, result: task}
		label, err := g.apply(call, now)
		if err != nil {
			return desc, true, err
		}
		desc += " " + agents[i].name + ":" + label
	}
	return desc, won > 0, nil
}

// withRoom is the claim's answer if the campaign had a free slot and a task's cost in its pool:
// whether the agent's own limits let it claim.
func (c *csCall) withRoom(now time.Time) string {
	cp := *c.c
	cp.maxConc, cp.pool = cp.running()+1, cp.cost()
	return (&csCall{action: csClaim, actor: c.actor, c: &cp}).expect(now)
}

// opFind reads a campaign and its tasks as its owner or an agent, and an owner's campaigns, and
// compares them with the model.
func (s *campaignSim) opFind(g *csGroup) (string, bool, error) {
	r := g.r
	c := pick(r, g.campaigns)
	if c == nil {
		return "find: no campaigns yet", false, nil
	}
	viewer := pick(r, g.agents)
	desc := fmt.Sprintf("%s reads %s", viewer.name, c.label)
	got, err := s.env.Store.FindCampaignByID(s.ctx, viewer.id, c.id)
	if err != nil {
		return desc, false, err
	}
	counts := map[string]int{}
	var mine int
	for _, t := range c.tasks {
		counts[t.status]++
		if t.agent == viewer {
			mine++
		}
	}
	for _, st := range justpay.TaskStatuses {
		if got.Tasks[st] != counts[st] {
			return desc, false, fmt.Errorf("task counts %v, want %v", got.Tasks, counts)
		}
	}
	if got.Status != c.status || got.Remaining != c.pool || got.TotalBudget != c.totalBudget || (got.CallbackURL != "") {
		return desc, false, fmt.Errorf("campaign %+v, want %s pool %d budget %d", got, c.status, c.pool, c.totalBudget)
	}
	want := mine
	if viewer == c.owner {
		want = len(c.tasks)
	}
	_, total, err := s.env.Store.FindTasks(s.ctx, viewer.id, c.id, justpay.TaskFilter{Page: justpay.Page{Page: 1, Limit: 1}})
	if err != nil || total != want {
		return desc, false, fmt.Errorf("FindTasks total = %d, %v; want %d", total, err, want)
	}
	status := pick(r, justpay.CampaignStatuses)
	var owned int
	for _, o := range g.campaigns {
		if o.owner == viewer && o.status == status {
			owned++
		}
	}
	if _, total, err := s.env.Store.FindMyCampaigns(s.ctx, viewer.id, justpay.CampaignFilter{Status: status,
		Page: justpay.Page{Page: 1, Limit: 1}}); err != nil || total != owned {
		return desc, false, fmt.Errorf("FindMyCampaigns(%s) total = %d, %v; want %d", status, total, err, owned)
	}
	return desc, false, nil
}

// csSnapshot is a group's rows.
type csSnapshot struct {
	text      string
	balances  map[string][2]int64 // account -> balance, closed (0 or 1)
	campaigns map[string][2]string
	budgets   map[string]int64
	tasks     map[string][3]string // status, campaign, agent
	expires   map[string]time.Time
}

func (s *campaignSim) snapshot(g *csGroup) (*csSnapshot, error) {
	args := make([]any, len(g.agents))
	for i, a := range g.agents {
		args[i] = a.id
	}
	snap := &csSnapshot{balances: map[string][2]int64{}, campaigns: map[string][2]string{}, budgets: map[string]int64{},
		tasks: map[string][3]string{}, expires: map[string]time.Time{}}
	var b strings.Builder
	query := func(stmt *sql.Stmt, scan func(*sql.Rows) error) error {
		rows, err := stmt.QueryContext(s.ctx, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	}
	err := query(s.balancesStmt, func(rows *sql.Rows) error {
		var account string
		var balance int64
		var closed bool
		if err := rows.Scan(&account, &balance, &closed); err != nil {
			return err
		}
		c := int64(0)
		if closed {
			c = 1
		}
		snap.balances[account] = [2]int64{balance, c}
		fmt.Fprintf(&b, "%s=%d closed=%t\n", account, balance, closed)
		return nil
	})
	if err == nil {
		var postings, sum, events int64
		err = s.countsStmt.QueryRowContext(s.ctx, args...).Scan(&postings, &sum, &events)
		fmt.Fprintf(&b, "postings=%d sum=%d events=%d\n", postings, sum, events)
	}
	if err == nil {
		err = query(s.campaignsStmt, func(rows *sql.Rows) error {
			var id, status string
			var budget int64
			var updated time.Time
			if err := rows.Scan(&id, &status, &budget, &updated); err != nil {
				return err
			}
			snap.campaigns[id] = [2]string{status}
			snap.budgets[id] = budget
			fmt.Fprintf(&b, "campaign %s %s %d %s\n", id, status, budget, updated.Format(time.RFC3339Nano))
			return nil
		})
	}
	if err == nil {
		err = query(s.tasksStmt, func(rows *sql.Rows) error {
			var id, campaign, agent, status string
			var expires sql.NullTime
			var updated time.Time
			if err := rows.Scan(&id, &campaign, &agent, &status, &expires, &updated); err != nil {
				return err
			}
			snap.tasks[id] = [3]string{status, campaign, agent}
			if expires.Valid {
				snap.expires[id] = expires.Time
			}
			fmt.Fprintf(&b, "task %s %s %s %s %d %s\n", id, campaign, agent, status, expires.Time.UnixMicro(), updated.Format(time.RFC3339Nano))
			return nil
		})
	}
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	snap.text = b.String()
	return snap, nil
}

// check compares the group's rows with the model after a step that changed them or not.
func (s *campaignSim) check(g *csGroup, changed bool) error {
	snap, err := s.snapshot(g)
	if err != nil {
		return err
	}
	switch {
	case !changed && snap.text != g.last:
		return fmt.Errorf("a refused or read-only operation changed the group's rows:\nbefore:\n%safter:\n%s", g.last, snap.text)
	case changed && snap.text == g.last:
		return fmt.Errorf("a successful operation changed nothing")
	}
	if err := g.compare(snap); err != nil {
		return err
	}
	g.last = snap.text
	return nil
}

// compare checks a snapshot against the model: balances, pools, task escrows, statuses, deadlines.
func (g *csGroup) compare(snap *csSnapshot) error {
	escrows := 0
	for account := range snap.balances {
		if strings.HasPrefix(account, "escrow:") {
			escrows++
		}
	}
	if escrows != len(g.campaigns)+len(g.tasks) || len(snap.campaigns) != len(g.campaigns) || len(snap.tasks) != len(g.tasks) {
		return fmt.Errorf("%d escrow accounts, %d campaign rows and %d task rows, want %d, %d and %d", escrows, len(snap.campaigns),
			len(snap.tasks), len(g.campaigns)+len(g.tasks), len(g.campaigns), len(g.tasks))
	}
	for _, a := range g.agents {
		if got := snap.balances[justpay.AgentAvailable(a.id)]; got[0] != a.available {
			return fmt.Errorf("%s available = %d, want %d", a.name, got[0], a.available)
		}
		if got := snap.balances[justpay.AgentPending(a.id)]; got[0] != 0 {
			return fmt.Errorf("%s pending = %d", a.name, got[0])
		}
	}
	for _, c := range g.campaigns {
		pool, ok := snap.balances[justpay.EscrowAccount("campaign", c.id)]
		closed := int64(0)
		if c.finished() {
			closed = 1
		}
		switch {
		case !ok:
			return fmt.Errorf("campaign %s has no pool", c.label)
		case pool[0] != c.pool || pool[1] != closed:
			return fmt.Errorf("%s campaign %s: pool holds %d, closed %d; want %d, closed %d", c.status, c.label, pool[0], pool[1], c.pool, closed)
		case snap.campaigns[c.id][0] != c.status:
			return fmt.Errorf("campaign %s is %s, want %s", c.label, snap.campaigns[c.id][0], c.status)
		case snap.budgets[c.id] != c.totalBudget:
			return fmt.Errorf("campaign %s's total budget is %d, want %d", c.label, snap.budgets[c.id], c.totalBudget)
		}
	}
	for _, t := range g.tasks {
		esc, ok := snap.balances[justpay.EscrowAccount("campaign_task", t.id)]
		switch {
		case !ok:
			return fmt.Errorf("task %s has no escrow account", t.label)
		case t.finished() && (esc[0] != 0 || esc[1] != 1):
			return fmt.Errorf("%s task %s: escrow holds %d, closed %d; want closed at zero", t.status, t.label, esc[0], esc[1])
		case t.running() && (esc[0] != t.c.cost() || esc[1] != 0):
			return fmt.Errorf("%s task %s: escrow holds %d, closed %d; want %d held", t.status, t.label, esc[0], esc[1], t.c.cost())
		}
		row := snap.tasks[t.id]
		if row[0] != t.status || row[1] != t.c.id || row[2] != t.agent.id || !snap.expires[t.id].Equal(t.expires) {
			return fmt.Errorf("task %s = %s expires %v, want %s expires %v", t.label, row[0], snap.expires[t.id], t.status, t.expires)
		}
	}
	return nil
}

// serialPhase moves the clock and usually runs the timeouts, which the model predicts in the
// order the store applies them; then it checks every group and the whole ledger.
func (s *campaignSim) serialPhase(t *testing.T, round int) {
	t.Helper()
	r := s.serial
	now := s.env.Clock.Now()
	midnight := now.Truncate(24 * time.Hour).Add(24 * time.Hour)
	// The next campaign end: the clock stops shortly before it now and then, so that the next
	// round claims and delivers just before the end, and the campaign ends with tasks running.
	var nextEnd time.Time
	for _, g := range s.groups {
		for _, c := range g.campaigns {
			if c.status == justpay.CampaignActive && c.pool >= c.cost() && c.endsAt.After(now.Add(time.Minute)) &&
				(nextEnd.IsZero() || c.endsAt.Before(nextEnd)) {
				nextEnd = c.endsAt
			}
		}
	}
	advance := []time.Duration{0, 10 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute,
		time.Hour, 6 * time.Hour, 24 * time.Hour, midnight.Sub(now), midnight.Sub(now) - time.Microsecond}[r.IntN(12)]
	runDue := r.IntN(3) != 0
	switch {
	case s.nearEnd:
		// Just past the end: the campaign ends while the claims of the last round still run.
		advance = []time.Duration{25 * time.Second, 45 * time.Second, time.Minute, 2 * time.Minute}[r.IntN(4)]
		s.nearEnd, runDue = false, true
	case r.IntN(3) == 0 && !nextEnd.IsZero():
		advance, s.nearEnd = nextEnd.Sub(now)-20*time.Second, true
	}
	now = s.env.Clock.Advance(advance)
	applied := -1
	if runDue {
		applied = s.runDue(t, now)
	}
	for _, g := range s.groups {
		g.history = append(g.history, fmt.Sprintf("serial %d: advance %v to %s, timeouts %d", round, advance, now.Format(time.RFC3339Nano), applied))
	}
	s.checkAll(t, "serial phase "+fmt.Sprint(round))
}

// runDue runs the timeouts due now on the store and the model, and checks that they agree: task
// deadlines first (deadline, then ID), then campaigns whose time is up (end time, then ID).
func (s *campaignSim) runDue(t *testing.T, now time.Time) int {
	t.Helper()
	want := 0
	for _, g := range s.groups {
		var due []*csTask
		for _, task := range g.tasks {
			if !task.expires.IsZero() && !task.expires.After(now) {
				due = append(due, task)
			}
		}
		slices.SortFunc(due, func(a, b *csTask) int { return cmp.Or(a.expires.Compare(b.expires), strings.Compare(a.id, b.id)) })
		for _, task := range due {
			g.timeout(task)
		}
		var ending []*csCampaign
		for _, c := range g.campaigns {
			if !c.finished() && !c.endsAt.After(now) {
				ending = append(ending, c)
			}
		}
		slices.SortFunc(ending, func(a, b *csCampaign) int { return cmp.Or(a.endsAt.Compare(b.endsAt), strings.Compare(a.id, b.id)) })
		for _, c := range ending {
			g.finishCampaign(c, justpay.CampaignEnded)
			g.stats["ended"]++
		}
		want += len(due) + len(ending)
	}
	n, err := s.env.Store.RunDueCampaigns(s.ctx)
	if err != nil || n != want {
		t.Fatalf("RunDueCampaigns = %d, %v; want %d", n, err, want)
	}
	return n
}

// checkAll compares every group with the model and checks the ledger and conservation: the
// agents' available balances, the pools, the task escrows and the platform's revenue add up to
// what was deposited, and revenue is the activation fees plus the fees of paid tasks.
func (s *campaignSim) checkAll(t *testing.T, when string) {
	t.Helper()
	var deposited, available, pools, held, fees, activations int64
	for _, g := range s.groups {
		snap, err := s.snapshot(g)
		if err != nil {
			t.Fatal(err)
		}
		if err := g.compare(snap); err != nil {
			t.Fatalf("%s, group %d: %v\nlast steps:\n  %s", when, g.idx, err, strings.Join(g.history[max(0, len(g.history)-15):], "\n  "))
		}
		g.last = snap.text
		for _, a := range g.agents {
			deposited += a.deposited
			available += a.available
			activations += justpay.ActivationFee
		}
		for _, c := range g.campaigns {
			pools += c.pool
		}
		for _, task := range g.tasks {
			if task.running() {
				held += task.c.cost()
			}
		}
		fees += g.fees
	}
	r := sqlstoretest.MustVerify(t, s.env.DB)
	revenue := r.Totals[justpay.PlatformRevenue]
	for _, c := range []struct {
		name      string
		got, want int64
	}{
		{"available", r.Totals["agent:*:available"], available},
		{"pools", r.Totals["escrow:campaign:*"], pools},
		{"task escrows", r.Totals["escrow:campaign_task:*"], held},
		{"revenue", revenue, activations + fees},
		{"available + escrowed + revenue", available + pools + held + revenue, deposited},
		{justpay.ExternalSolana, -r.Totals[justpay.ExternalSolana], deposited},
	} {
		if c.got != c.want {
			t.Fatalf("%s: %s = %d, want %d", when, c.name, c.got, c.want)
		}
	}
}

// finish runs every campaign to its end: the clock moves a day at a time and the timeouts apply
// until every task and every campaign is finished. Then every escrow is closed at zero and the
// agents and the platform hold exactly what was deposited.
func (s *campaignSim) finish(t *testing.T) {
	t.Helper()
	for pass := 0; ; pass++ {
		open := 0
		for _, g := range s.groups {
			for _, c := range g.campaigns {
				if !c.finished() {
					open++
				}
			}
			for _, task := range g.tasks {
				if task.running() {
					open++
				}
			}
		}
		if open == 0 {
			break
		}
		if pass > 6 {
			t.Fatalf("%d campaigns and tasks still running after %d days", open, pass)
		}
		s.runDue(t, s.env.Clock.Advance(24*time.Hour))
	}
	s.checkAll(t, "the end")
	var unsettled int
	if err := s.raw.QueryRowContext(s.ctx, `SELECT COUNT(*) FROM ledger_balances WHERE account LIKE 'escrow:campaign%' AND
		(balance <> 0 OR NOT closed)`).Scan(&unsettled); err != nil {
		t.Fatal(err)
	}
	if unsettled != 0 {
		t.Fatalf("%d campaign escrows not closed at zero", unsettled)
	}
}
