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
	"github.com/justpay/justpay/sqlstore"
)

// The direct-job lifecycle benchmark: pairs of a client and a provider, each pair on its own
// service, run hire → deliver → accept-delivery over HTTP as fast as they can, against a dev-mode
// server. Beside it, in the same run and on the same database, the raw baseline runs the three
// bare write transactions a lifecycle needs (sqlstore.RawLifecycle) with as many callers.

// Prices of the benchmark's services, and what the agents are funded with.
const (
	// LifecyclePrice is the pricePerJob of every benchmark service, in micro-USDC.
	LifecyclePrice = 1000
	// maxLifecyclesPerSecond bounds what one pair could possibly run, to fund clients for the
	// whole run without asking the server how fast it is.
	maxLifecyclesPerSecond = 20_000
	// providerDeposit activates a provider (the activation fee takes 1 USDC) and leaves 1 USDC.
	providerDeposit = 2 * justpay.MicroPerUSDC
)

// LifecycleCalls name the three calls of a lifecycle, in order; RawCalls the three transactions
// of the baseline.
var (
	LifecycleCalls = []string{"POST /api/v1/jobs", "POST /api/v1/jobs/{id}/deliver", "POST /api/v1/jobs/{id}/accept-delivery"}
	RawCalls       = []string{"raw create: debit + insert", "raw deliver: update", "raw complete: update + credit + insert"}
)

// LifecycleConfig is a lifecycle benchmark against a running dev-mode server.
type LifecycleConfig struct {
	// URL is the server's base URL. It must run in dev mode (POST /dev/chain/transfer funds the
	// agents) and should have its rate limits off.
	URL string
	// AdminToken authorizes GET /api/v1/admin/ledger/verify, the check that ends the run.
	AdminToken string
	// Pairs is the number of client/provider pairs, each running lifecycles one after another.
	Pairs int
	// Duration is the length of each measured run.
	Duration time.Duration
	// Rounds is how many times the raw and HTTP runs alternate (at least 1).
	Rounds int
	// Raw is the database of the raw baseline: the server's own, or one on the same database
	// server. Nil skips the baseline.
	Raw *sqlstore.DB
	// Client makes the HTTP requests; nil means one with keep-alive and enough idle connections.
	Client *http.Client
	// Progress receives a line as each phase starts; nil discards them.
	Progress io.Writer
	// CPUProfile, when set, receives a CPU profile of this process during the first HTTP run.
	CPUProfile io.Writer
}

// LifecycleReport is the outcome of Lifecycles.
type LifecycleReport struct {
	Pairs int
	// Setup is the time taken to register, fund and activate the agents and create the services.
	Setup time.Duration
	HTTP  Steps
	// Raw is the baseline; nil when it was skipped.
	Raw *Steps
	// LedgerTransactions and LedgerPostings are what GET /api/v1/admin/ledger/verify counted
	// when it found the invariant holding, at the end.
	LedgerTransactions, LedgerPostings int64
}

// Ratio is lifecycles per second over raw transaction triples per second; 0 without a baseline.
func (r *LifecycleReport) Ratio() float64 {
	if r.Raw == nil || r.Raw.Rate() == 0 {
		return 0
	}
	return r.HTTP.Rate() / r.Raw.Rate()
}

// Lifecycles sets up cfg.Pairs client/provider pairs over HTTP, then alternates cfg.Rounds times a
// run of the raw baseline and a run of HTTP lifecycles, each of cfg.Duration with one caller per
// pair, and ends by checking every agent's balance against the lifecycles it ran and verifying
// the ledger through the admin API.
func Lifecycles(ctx context.Context, cfg LifecycleConfig) (*LifecycleReport, error) {
	if cfg.Pairs < 1 || cfg.Duration <= 0 {
		return nil, errors.New("lifecycle benchmark: pairs and duration must be positive")
	}
	cfg.Rounds = max(cfg.Rounds, 1)
	progress := orDiscard(cfg.Progress)
	api, closeIdle := newAPIClient(cfg.URL, cfg.Client, 2*cfg.Pairs)
	defer closeIdle()

	fmt.Fprintf(progress, "setup: registering, funding and activating %d agents over HTTP\n", 2*cfg.Pairs)
	start := time.Now()
	direct, err := setUpDirectJobs(ctx, api, cfg.Pairs, cfg.Rounds, cfg.Duration)
	if err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	report := &LifecycleReport{Pairs: cfg.Pairs, Setup: time.Since(start)}

	var raw *sqlstore.RawLifecycle
	if cfg.Raw != nil {
		if raw, err = cfg.Raw.PrepareRawLifecycle(ctx, cfg.Pairs, lifecycleBudget(cfg.Rounds, cfg.Duration)); err != nil {
			return nil, err
		}
		defer raw.Close()
	}
	rawOp := func(ctx context.Context, c int, t *stepTimer) error {
		var id string
		if err := t.time(0, func() (err error) { id, err = raw.Create(ctx, c, LifecyclePrice); return err }); err != nil {
			return err
		}
		if err := t.time(1, func() error { return raw.Deliver(ctx, id) }); err != nil {
			return err
		}
		return t.time(2, func() error { return raw.Complete(ctx, id) })
	}

	rawRun := newStepRun("raw transactions", cfg.Pairs, RawCalls)
	for round := range cfg.Rounds {
		if raw != nil {
			fmt.Fprintf(progress, "round %d/%d: raw transactions, %d callers, %s\n", round+1, cfg.Rounds, cfg.Pairs, cfg.Duration)
			if err := runSteps(ctx, &rawRun, cfg.Duration, rawOp); err != nil {
				return nil, err
			}
		}
		fmt.Fprintf(progress, "round %d/%d: HTTP lifecycles, %d pairs, %s\n", round+1, cfg.Rounds, cfg.Pairs, cfg.Duration)
		var profile io.Writer
		if round == 0 {
			profile = cfg.CPUProfile
		}
		if err := profiled(profile, func() error { return direct.run(ctx, api, cfg.Duration) }); err != nil {
			return nil, err
		}
	}
	report.HTTP = direct.runs.result()
	if raw != nil {
		r := rawRun.result()
		report.Raw = &r
	}

	fmt.Fprintln(progress, "checking balances and verifying the ledger")
	if err := direct.check(ctx, api); err != nil {
		return nil, err
	}
	if report.LedgerTransactions, report.LedgerPostings, err = verifyLedger(ctx, api, cfg.AdminToken); err != nil {
		return nil, err
	}
	return report, nil
}

// lifecycleBudget is what a client may spend in rounds runs of d: the most lifecycles it could
// possibly run, whatever the server's speed, at LifecyclePrice and its fee.
func lifecycleBudget(rounds int, d time.Duration) int64 {
	seconds := int64(d/time.Second) + 1
	return int64(rounds) * seconds * maxLifecyclesPerSecond * (LifecyclePrice + justpay.JobFee(LifecyclePrice, justpay.DefaultJobFeeBps))
}

// directJobs is the direct-job phase of a benchmark: its client/provider pairs and what their
// runs measured so far.
type directJobs struct {
	pairs []*pair
	runs  stepRun
}

// setUpDirectJobs sets up n pairs over HTTP, each client funded for rounds runs of d.
func setUpDirectJobs(ctx context.Context, api *apiClient, n, rounds int, d time.Duration) (*directJobs, error) {
	pairs, err := setUpPairs(ctx, api, n, justpay.ActivationFee+lifecycleBudget(rounds, d))
	if err != nil {
		return nil, err
	}
	return &directJobs{pairs: pairs, runs: newStepRun("HTTP lifecycle", n, LifecycleCalls)}, nil
}

// run runs lifecycles for d, one caller per pair, and adds them to what was measured.
func (dj *directJobs) run(ctx context.Context, api *apiClient, d time.Duration) error {
	return runSteps(ctx, &dj.runs, d, func(ctx context.Context, c int, t *stepTimer) error {
		return dj.pairs[c].lifecycle(ctx, api, t)
	})
}

// check compares every agent's available balance with what its lifecycles moved.
func (dj *directJobs) check(ctx context.Context, api *apiClient) error {
	for _, p := range dj.pairs {
		if err := p.checkBalances(ctx, api); err != nil {
			return err
		}
	}
	return nil
}

// PrintLifecycle writes the report: rates of both runs, latencies of every call, and the ratio.
func PrintLifecycle(w io.Writer, database string, r *LifecycleReport) {
	fmt.Fprintf(w, "%-9s %-6s %-18s %11s %10s\n", "database", "pairs", "run", "lifecycles", "per second")
	runs := []Steps{r.HTTP}
	if r.Raw != nil {
		runs = []Steps{*r.Raw, r.HTTP}
	}
	for _, s := range runs {
		fmt.Fprintf(w, "%-9s %-6d %-18s %11d %10.0f\n", database, s.Callers, s.Name, s.Lifecycles, s.Rate())
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%-40s %9s %10s %10s\n", "call", "calls", "p50", "p99")
	for _, s := range runs {
		for _, c := range s.Calls {
			fmt.Fprintf(w, "%-40s %9d %10s %10s\n", c.Name, c.Ops, round(c.P50), round(c.P99))
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "lifecycles/s:      %.1f\n", r.HTTP.Rate())
	if r.Raw == nil {
		fmt.Fprintln(w, "raw lifecycles/s:  skipped (no database to measure: give --database-url)")
		fmt.Fprintln(w, "ratio:             n/a")
	} else {
		fmt.Fprintf(w, "raw lifecycles/s:  %.1f (transaction triples per second)\n", r.Raw.Rate())
		fmt.Fprintf(w, "ratio:             %.2f\n", r.Ratio())
	}
	fmt.Fprintf(w, "ledger verified: invariant holds (%d transactions, %d postings)\n", r.LedgerTransactions, r.LedgerPostings)
}

// pair is a client hiring the service of its provider, and what their lifecycles moved.
type pair struct {
	client, provider agent
	serviceID        string
	createBody       []byte
	spent, earned    int64 // by the client (amount + fee), by the provider (amount)
}

// jobAnswer is the part of a job response the benchmark checks.
type jobAnswer struct {
	ID         string `json:"id"`
	Status     string `json:"status"`
	Amount     string `json:"amount"`
	TotalCost  string `json:"totalCost"`
	ProviderID string `json:"providerAgentId"`
}

var (
	deliverBody = []byte(`{"output":{"summary":"benchmark output"}}`)
	serviceBody = `{"name":"Benchmark service","description":"A service hired by justpay bench lifecycle.",` +
		`"category":"benchmark","pricePerJob":` + strconv.Itoa(LifecyclePrice) + `,"autoAccept":true,"maxConcurrentJobs":100,` +
		`"inputSchema":{"type":"object","properties":{"text":{"type":"string"}},"required":["text"]},` +
		`"outputSchema":{"type":"object","properties":{"summary":{"type":"string"}},"required":["summary"]}}`
)

// lifecycle runs one direct job through: the client hires, the provider delivers, the client
// accepts the delivery. It checks each answer's status.
func (p *pair) lifecycle(ctx context.Context, api *apiClient, t *stepTimer) error {
	var job, delivered, completed jobAnswer
	if err := t.time(0, func() error {
		return api.do(ctx, "POST", "/api/v1/jobs", p.client.key, p.createBody, http.StatusCreated, &job)
	}); err != nil {
		return err
	}
	if job.Status != justpay.JobAccepted || job.ProviderID != p.provider.id {
		return fmt.Errorf("POST /api/v1/jobs: job %s is %q for provider %q, want accepted for %s", job.ID, job.Status, job.ProviderID, p.provider.id)
	}
	path := "/api/v1/jobs/" + job.ID
	if err := t.time(1, func() error {
		return api.do(ctx, "POST", path+"/deliver", p.provider.key, deliverBody, http.StatusOK, &delivered)
	}); err != nil {
		return err
	}
	if delivered.Status != justpay.JobDelivered {
		return fmt.Errorf("deliver: job %s is %q, want delivered", job.ID, delivered.Status)
	}
	if err := t.time(2, func() error {
		return api.do(ctx, "POST", path+"/accept-delivery", p.client.key, nil, http.StatusOK, &completed)
	}); err != nil {
		return err
	}
	if completed.Status != justpay.JobCompleted {
		return fmt.Errorf("accept-delivery: job %s is %q, want completed", job.ID, completed.Status)
	}
	amount, err1 := strconv.ParseInt(job.Amount, 10, 64)
	total, err2 := strconv.ParseInt(job.TotalCost, 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("job %s: amounts: %w", job.ID, err)
	}
	p.spent += total
	p.earned += amount
	return nil
}

// checkBalances compares both agents' available balances with what their lifecycles moved.
func (p *pair) checkBalances(ctx context.Context, api *apiClient) error {
	for _, c := range []struct {
		a    agent
		want int64
	}{{p.client, p.client.available - p.spent}, {p.provider, p.provider.available + p.earned}} {
		got, err := balance(ctx, api, c.a.key)
		if err != nil {
			return err
		}
		if got != c.want {
			return fmt.Errorf("agent %s: available balance %d after the benchmark, want %d", c.a.id, got, c.want)
		}
	}
	return nil
}

// setUpPairs registers, funds and activates n clients and n providers, a few at a time, and
// creates a service for each provider.
func setUpPairs(ctx context.Context, api *apiClient, n int, clientDeposit int64) ([]*pair, error) {
	pairs := make([]*pair, n)
	err := setUpEach(n, func(i int, name string) (err error) {
		pairs[i], err = setUpPair(ctx, api, name, clientDeposit)
		return err
	})
	if err != nil {
		return nil, err
	}
	return pairs, nil
}

func setUpPair(ctx context.Context, api *apiClient, name string, clientDeposit int64) (*pair, error) {
	client, err := newAgent(ctx, api, name+"-client", clientDeposit)
	if err != nil {
		return nil, err
	}
	provider, err := newAgent(ctx, api, name+"-provider", providerDeposit)
	if err != nil {
		return nil, err
	}
	var svc struct {
		ID string `json:"id"`
	}
	if err := api.do(ctx, "POST", "/api/v1/services", provider.key, []byte(serviceBody), http.StatusCreated, &svc); err != nil {
		return nil, fmt.Errorf("create service: %w", err)
	}
	body, err := json.Marshal(map[string]any{"type": justpay.JobDirect, "serviceId": svc.ID, "input": map[string]string{"text": "benchmark input"}})
	if err != nil {
		return nil, err
	}
	return &pair{client: client, provider: provider, serviceID: svc.ID, createBody: body}, nil
}
