package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/justpay/justpay"
)

// The campaign benchmark: one owner funds one hot campaign with auto-accept, and many agents claim
// and deliver its tasks over HTTP as fast as they can. Beside it, in the same run and against the
// same server, as many client/provider pairs run direct-job lifecycles, each pair on its own
// service: the rate a hot campaign reaches is compared with that of independent jobs.

// The benchmark campaign's terms, and what its owner and agents are funded with.
const (
	// CampaignReward is the rewardPerTask of the benchmark campaign, in micro-USDC (the least
	// the API allows).
	CampaignReward = justpay.MinRewardPerTask
	// maxCampaignTasksPerSecond bounds what one agent could possibly claim and deliver, to fund
	// the campaign for the whole run without asking the server how fast it is.
	maxCampaignTasksPerSecond = 20_000
	// campaignAgentDeposit activates an agent and leaves 1 USDC.
	campaignAgentDeposit = 2 * justpay.MicroPerUSDC
)

// CampaignCalls name the two calls of a campaign task, in order.
var CampaignCalls = []string{"POST /api/v1/campaigns/{id}/claim", "POST /api/v1/campaigns/{id}/tasks/{taskId}/deliver"}

// CampaignConfig is a campaign benchmark against a running dev-mode server.
type CampaignConfig struct {
	// URL is the server's base URL. It must run in dev mode (POST /dev/chain/transfer funds the
	// agents) and should have its rate limits off.
	URL string
	// AdminToken authorizes GET /api/v1/admin/ledger/verify, the check that ends the run.
	AdminToken string
	// Agents is the number of agents claiming from the campaign, and of client/provider pairs
	// running direct jobs.
	Agents int
	// Duration is the length of each measured run.
	Duration time.Duration
	// Rounds is how many times the direct-job and campaign runs alternate (at least 1).
	Rounds int
	// Client makes the HTTP requests; nil means one with keep-alive and enough idle connections.
	Client *http.Client
	// Progress receives a line as each phase starts; nil discards them.
	Progress io.Writer
	// CPUProfile, when set, receives a CPU profile of this process during the first campaign run.
	CPUProfile io.Writer
}

// CampaignReport is the outcome of Campaigns.
type CampaignReport struct {
	Agents int
	// Setup is the time taken to register, fund and activate the agents, and to create the
	// services and the campaign.
	Setup time.Duration
	// Direct is the direct-job lifecycles; Campaign the claim+deliver pairs on the one campaign.
	Direct, Campaign Steps
	CampaignID       string
	// Paid is what the agents earned from the campaign; Spent what its pool gave for it (the
	// rewards and the platform's fees).
	Paid, Spent int64
	// LedgerTransactions and LedgerPostings are what GET /api/v1/admin/ledger/verify counted
	// when it found the invariant holding, at the end.
	LedgerTransactions, LedgerPostings int64
}

// Ratio is campaign claim+deliver pairs per second over direct lifecycles per second.
func (r *CampaignReport) Ratio() float64 {
	if r.Direct.Rate() == 0 {
		return 0
	}
	return r.Campaign.Rate() / r.Direct.Rate()
}

// Campaigns sets up cfg.Agents client/provider pairs, a campaign owner and cfg.Agents agents over
// HTTP, then alternates cfg.Rounds times a run of direct-job lifecycles (one caller per pair) and
// a run of claim → deliver on the one campaign (one caller per agent), each of cfg.Duration. It
// ends by checking every agent's balance, the campaign's pool and the owner's balance against
// what the runs moved, and verifying the ledger through the admin API.
func Campaigns(ctx context.Context, cfg CampaignConfig) (*CampaignReport, error) {
	if cfg.Agents < 1 || cfg.Duration <= 0 {
		return nil, errors.New("campaign benchmark: agents and duration must be positive")
	}
	if cfg.Agents > justpay.MaxMaxConcurrentClaims {
		return nil, fmt.Errorf("campaign benchmark: at most %d agents (a campaign's most concurrent claims)", justpay.MaxMaxConcurrentClaims)
	}
	cfg.Rounds = max(cfg.Rounds, 1)
	progress := orDiscard(cfg.Progress)
	api, closeIdle := newAPIClient(cfg.URL, cfg.Client, 3*cfg.Agents)
	defer closeIdle()

	fmt.Fprintf(progress, "setup: registering, funding and activating %d agents over HTTP\n", 3*cfg.Agents+1)
	start := time.Now()
	direct, err := setUpDirectJobs(ctx, api, cfg.Agents, cfg.Rounds, cfg.Duration)
	if err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	hot, err := setUpHotCampaign(ctx, api, cfg.Agents, cfg.Rounds, cfg.Duration)
	if err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	report := &CampaignReport{Agents: cfg.Agents, Setup: time.Since(start), CampaignID: hot.id}

	for round := range cfg.Rounds {
		fmt.Fprintf(progress, "round %d/%d: direct-job lifecycles, %d pairs, %s\n", round+1, cfg.Rounds, cfg.Agents, cfg.Duration)
		if err := direct.run(ctx, api, cfg.Duration); err != nil {
			return nil, err
		}
		fmt.Fprintf(progress, "round %d/%d: claim → deliver on campaign %s, %d agents, %s\n", round+1, cfg.Rounds, hot.id, cfg.Agents, cfg.Duration)
		var profile io.Writer
		if round == 0 {
			profile = cfg.CPUProfile
		}
		if err := profiled(profile, func() error { return hot.run(ctx, api, cfg.Duration) }); err != nil {
			return nil, err
		}
	}
	report.Direct, report.Campaign = direct.runs.result(), hot.runs.result()

	fmt.Fprintln(progress, "checking balances, the campaign's pool and the ledger")
	if err := direct.check(ctx, api); err != nil {
		return nil, err
	}
	if report.Paid, report.Spent, err = hot.check(ctx, api); err != nil {
		return nil, err
	}
	if report.LedgerTransactions, report.LedgerPostings, err = verifyLedger(ctx, api, cfg.AdminToken); err != nil {
		return nil, err
	}
	return report, nil
}

// PrintCampaign writes the report: the rates of both phases, the latencies of every call, and the
// ratio.
func PrintCampaign(w io.Writer, database string, r *CampaignReport) {
	fmt.Fprintf(w, "%-9s %-7s %-24s %9s %10s\n", "database", "callers", "run", "completed", "per second")
	for _, s := range []Steps{r.Direct, r.Campaign} {
		fmt.Fprintf(w, "%-9s %-7d %-24s %9d %10.0f\n", database, s.Callers, s.Name, s.Lifecycles, s.Rate())
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%-52s %9s %10s %10s\n", "call", "calls", "p50", "p99")
	for _, s := range []Steps{r.Direct, r.Campaign} {
		for _, c := range s.Calls {
			fmt.Fprintf(w, "%-52s %9d %10s %10s\n", c.Name, c.Ops, round(c.P50), round(c.P99))
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "lifecycles/s:       %.1f (direct jobs, one pair per service)\n", r.Direct.Rate())
	fmt.Fprintf(w, "campaign pairs/s:   %.1f (claim + deliver, all on campaign %s)\n", r.Campaign.Rate(), r.CampaignID)
	fmt.Fprintf(w, "ratio:              %.2f (campaign pairs/s ÷ lifecycles/s; the aim is at least 0.5)\n", r.Ratio())
	fmt.Fprintf(w, "campaign checked: %d tasks paid %s to %d agents; the pool gave %s (rewards and fees)\n",
		r.Campaign.Lifecycles, justpay.FormatUSDC(r.Paid), r.Campaign.Callers, justpay.FormatUSDC(r.Spent))
	fmt.Fprintf(w, "ledger verified: invariant holds (%d transactions, %d postings)\n", r.LedgerTransactions, r.LedgerPostings)
}

// hotCampaign is the campaign phase of the benchmark: one owner's campaign, the agents working on
// it, and what their runs measured so far.
type hotCampaign struct {
	owner agent
	id    string
	// taskCost is what one task takes from the pool; pool what the pool held after creation.
	taskCost, pool int64
	workers        []*worker
	runs           stepRun
}

// worker is an agent claiming and delivering the campaign's tasks, and what it was paid.
type worker struct {
	agent
	tasks  int
	earned int64
}

// campaignAnswer is the part of a campaign response the benchmark checks.
type campaignAnswer struct {
	ID              string `json:"id"`
	Status          string `json:"status"`
	TaskCost        string `json:"taskCost"`
	RemainingBudget string `json:"remainingBudget"`
	Tasks           struct {
		Claimed   int `json:"claimed"`
		Delivered int `json:"delivered"`
		Accepted  int `json:"accepted"`
	} `json:"tasks"`
}

// taskAnswer is the part of a task response the benchmark checks.
type taskAnswer struct {
	ID         string `json:"id"`
	CampaignID string `json:"campaignId"`
	AgentID    string `json:"agentId"`
	Status     string `json:"status"`
	Amount     string `json:"amount"`
	TotalCost  string `json:"totalCost"`
}

var taskOutput = []byte(`{"output":{"result":"benchmark output"}}`)

// setUpHotCampaign sets up an owner and its campaign, funded for n agents each at
// maxCampaignTasksPerSecond for rounds runs of d, and n agents to work on it.
func setUpHotCampaign(ctx context.Context, api *apiClient, n, rounds int, d time.Duration) (*hotCampaign, error) {
	seconds := int64(d/time.Second) + 1
	budget := int64(rounds) * seconds * int64(n) * maxCampaignTasksPerSecond * CampaignReward
	fee := justpay.CampaignFee(budget, CampaignReward, justpay.DefaultJobFeeBps)
	hot := &hotCampaign{workers: make([]*worker, n), runs: newStepRun("campaign claim+deliver", n, CampaignCalls)}
	err := setUpEach(n+1, func(i int, name string) error {
		if i == n {
			owner, err := newAgent(ctx, api, name+"-owner", justpay.ActivationFee+budget+fee)
			hot.owner = owner
			return err
		}
		a, err := newAgent(ctx, api, name+"-worker", campaignAgentDeposit)
		hot.workers[i] = &worker{agent: a}
		return err
	})
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(map[string]any{
		"title":               "Benchmark campaign",
		"description":         "A hot campaign claimed by justpay bench campaign.",
		"category":            "benchmark",
		"rewardPerTask":       CampaignReward,
		"totalBudget":         budget,
		"maxPerAgent":         justpay.MaxMaxPerAgent,
		"autoAccept":          true,
		"maxConcurrentClaims": justpay.MaxMaxConcurrentClaims,
		"durationDays":        1,
	})
	if err != nil {
		return nil, err
	}
	var c campaignAnswer
	if err := api.do(ctx, "POST", "/api/v1/campaigns", hot.owner.key, body, http.StatusCreated, &c); err != nil {
		return nil, fmt.Errorf("create the campaign: %w", err)
	}
	cost, err1 := strconv.ParseInt(c.TaskCost, 10, 64)
	pool, err2 := strconv.ParseInt(c.RemainingBudget, 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("campaign %s: amounts: %w", c.ID, err)
	}
	if c.Status != justpay.CampaignActive || pool != budget+fee || cost != CampaignReward+justpay.BasisPointsFee(CampaignReward, justpay.DefaultJobFeeBps) {
		return nil, fmt.Errorf("campaign %s is %s with a pool of %d and tasks costing %d, want active, %d and %d",
			c.ID, c.Status, pool, cost, budget+fee, CampaignReward+justpay.BasisPointsFee(CampaignReward, justpay.DefaultJobFeeBps))
	}
	hot.id, hot.taskCost, hot.pool = c.ID, cost, pool
	// What the owner has left after paying for the campaign must not move while agents work.
	if hot.owner.available, err = balance(ctx, api, hot.owner.key); err != nil {
		return nil, err
	}
	return hot, nil
}

// run has every agent claim and deliver tasks for d, and adds them to what was measured.
func (h *hotCampaign) run(ctx context.Context, api *apiClient, d time.Duration) error {
	return runSteps(ctx, &h.runs, d, func(ctx context.Context, c int, t *stepTimer) error {
		return h.workers[c].task(ctx, api, h.id, t)
	})
}

// task claims one task of the campaign and delivers it, which pays it at once (autoAccept). It
// checks each answer.
func (w *worker) task(ctx context.Context, api *apiClient, campaignID string, t *stepTimer) error {
	path := "/api/v1/campaigns/" + campaignID
	var claimed, delivered taskAnswer
	if err := t.time(0, func() error {
		return api.do(ctx, "POST", path+"/claim", w.key, nil, http.StatusCreated, &claimed)
	}); err != nil {
		return err
	}
	if claimed.Status != justpay.TaskClaimed || claimed.AgentID != w.id || claimed.CampaignID != campaignID {
		return fmt.Errorf("claim: task %s of campaign %s is %q for agent %s, want claimed of %s for %s",
			claimed.ID, claimed.CampaignID, claimed.Status, claimed.AgentID, campaignID, w.id)
	}
	if err := t.time(1, func() error {
		return api.do(ctx, "POST", path+"/tasks/"+claimed.ID+"/deliver", w.key, taskOutput, http.StatusOK, &delivered)
	}); err != nil {
		return err
	}
	if delivered.ID != claimed.ID || delivered.Status != justpay.TaskAccepted {
		return fmt.Errorf("deliver: task %s is %q, want accepted (autoAccept)", claimed.ID, delivered.Status)
	}
	amount, err := strconv.ParseInt(delivered.Amount, 10, 64)
	if err != nil {
		return fmt.Errorf("task %s: amount: %w", claimed.ID, err)
	}
	w.tasks++
	w.earned += amount
	return nil
}

// check compares each agent's balance with the rewards of the tasks it completed, the pool with
// what those tasks cost, and the owner's balance with what it was after paying for the campaign.
// It returns what the agents were paid and what the pool gave.
func (h *hotCampaign) check(ctx context.Context, api *apiClient) (paid, spent int64, err error) {
	tasks := 0
	for _, w := range h.workers {
		if w.earned != int64(w.tasks)*CampaignReward {
			return 0, 0, fmt.Errorf("agent %s: %d tasks were paid %d in all, want %d each", w.id, w.tasks, w.earned, CampaignReward)
		}
		got, err := balance(ctx, api, w.key)
		if err != nil {
			return 0, 0, err
		}
		if got != w.available+w.earned {
			return 0, 0, fmt.Errorf("agent %s: available balance %d after %d tasks, want %d", w.id, got, w.tasks, w.available+w.earned)
		}
		tasks += w.tasks
		paid += w.earned
	}
	spent = int64(tasks) * h.taskCost
	var c campaignAnswer
	if err := api.do(ctx, "GET", "/api/v1/campaigns/"+h.id, "", nil, http.StatusOK, &c); err != nil {
		return 0, 0, fmt.Errorf("read the campaign: %w", err)
	}
	pool, err := strconv.ParseInt(c.RemainingBudget, 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("campaign %s: remainingBudget: %w", h.id, err)
	}
	if pool != h.pool-spent || c.Tasks.Accepted != tasks || c.Tasks.Claimed != 0 || c.Tasks.Delivered != 0 || c.Status != justpay.CampaignActive {
		return 0, 0, fmt.Errorf("campaign %s after %d tasks: %s, pool %d, %d accepted, %d claimed, %d delivered; want active, pool %d, %d accepted, none running",
			h.id, tasks, c.Status, pool, c.Tasks.Accepted, c.Tasks.Claimed, c.Tasks.Delivered, h.pool-spent, tasks)
	}
	got, err := balance(ctx, api, h.owner.key)
	if err != nil {
		return 0, 0, err
	}
	if got != h.owner.available {
		return 0, 0, fmt.Errorf("campaign owner %s: available balance %d after the benchmark, want %d as after funding the campaign", h.owner.id, got, h.owner.available)
	}
	return paid, spent, nil
}
