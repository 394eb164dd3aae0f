package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/justpay/justpay"
	"github.com/justpay/justpay/solana"
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

// Steps is a measured run of lifecycles of several steps each, by concurrent callers.
type Steps struct {
	Name       string
	Callers    int
	Lifecycles int
	Elapsed    time.Duration
	// Calls has one Result per step: its name, how many were made, their p50 and p99.
	Calls []Result
}

// Rate is completed lifecycles per second.
func (s Steps) Rate() float64 { return float64(s.Lifecycles) / s.Elapsed.Seconds() }

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
	progress := cfg.Progress
	if progress == nil {
		progress = io.Discard
	}
	api := &apiClient{base: strings.TrimRight(cfg.URL, "/"), hc: cfg.Client}
	if api.hc == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConns = 2*cfg.Pairs + 16
		t.MaxIdleConnsPerHost = 2*cfg.Pairs + 16
		api.hc = &http.Client{Transport: t, Timeout: time.Minute}
		defer t.CloseIdleConnections()
	}

	// Fund each client for the most lifecycles it could run, whatever the server's speed.
	seconds := int64(cfg.Duration/time.Second) + 1
	budget := int64(cfg.Rounds) * seconds * maxLifecyclesPerSecond * (LifecyclePrice + justpay.JobFee(LifecyclePrice, justpay.DefaultJobFeeBps))
	clientDeposit := justpay.ActivationFee + budget

	fmt.Fprintf(progress, "setup: registering, funding and activating %d agents over HTTP\n", 2*cfg.Pairs)
	start := time.Now()
	pairs, err := setUpPairs(ctx, api, cfg.Pairs, clientDeposit)
	if err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	report := &LifecycleReport{Pairs: cfg.Pairs, Setup: time.Since(start)}

	var raw *sqlstore.RawLifecycle
	if cfg.Raw != nil {
		if raw, err = cfg.Raw.PrepareRawLifecycle(ctx, cfg.Pairs, budget); err != nil {
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
	httpOp := func(ctx context.Context, c int, t *stepTimer) error { return pairs[c].lifecycle(ctx, api, t) }

	httpRun := newStepRun("HTTP lifecycle", cfg.Pairs, LifecycleCalls)
	rawRun := newStepRun("raw transactions", cfg.Pairs, RawCalls)
	for round := range cfg.Rounds {
		if raw != nil {
			fmt.Fprintf(progress, "round %d/%d: raw transactions, %d callers, %s\n", round+1, cfg.Rounds, cfg.Pairs, cfg.Duration)
			if err := runSteps(ctx, &rawRun, cfg.Duration, rawOp); err != nil {
				return nil, err
			}
		}
		fmt.Fprintf(progress, "round %d/%d: HTTP lifecycles, %d pairs, %s\n", round+1, cfg.Rounds, cfg.Pairs, cfg.Duration)
		profiling := round == 0 && cfg.CPUProfile != nil
		if profiling {
			if err := pprof.StartCPUProfile(cfg.CPUProfile); err != nil {
				return nil, err
			}
		}
		err := runSteps(ctx, &httpRun, cfg.Duration, httpOp)
		if profiling {
			pprof.StopCPUProfile()
		}
		if err != nil {
			return nil, err
		}
	}
	report.HTTP = httpRun.result()
	if raw != nil {
		r := rawRun.result()
		report.Raw = &r
	}

	fmt.Fprintln(progress, "checking balances and verifying the ledger")
	for _, p := range pairs {
		if err := p.checkBalances(ctx, api); err != nil {
			return nil, err
		}
	}
	var ledger struct {
		OK           bool     `json:"ok"`
		Transactions int64    `json:"transactions"`
		Postings     int64    `json:"postings"`
		Problems     []string `json:"problems"`
	}
	if err := api.do(ctx, "GET", "/api/v1/admin/ledger/verify", cfg.AdminToken, nil, http.StatusOK, &ledger); err != nil {
		return nil, fmt.Errorf("verify the ledger: %w", err)
	}
	if !ledger.OK {
		return nil, fmt.Errorf("the ledger invariant is broken after the benchmark: %s", strings.Join(ledger.Problems, "; "))
	}
	report.LedgerTransactions, report.LedgerPostings = ledger.Transactions, ledger.Postings
	return report, nil
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

// stepTimer records the latency of each step of one caller's lifecycles.
type stepTimer struct {
	lat [][]time.Duration
}

// time runs f as step i and records how long it took.
func (t *stepTimer) time(i int, f func() error) error {
	start := time.Now()
	err := f()
	t.lat[i] = append(t.lat[i], time.Since(start))
	return err
}

// stepRun accumulates the runs of one kind of lifecycle, across rounds.
type stepRun struct {
	name       string
	callers    int
	calls      []string
	lifecycles int
	elapsed    time.Duration
	lat        [][]time.Duration
}

func newStepRun(name string, callers int, calls []string) stepRun {
	return stepRun{name: name, callers: callers, calls: calls, lat: make([][]time.Duration, len(calls))}
}

// result computes the rate and the percentiles of every call over all the runs.
func (s *stepRun) result() Steps {
	out := Steps{Name: s.name, Callers: s.callers, Lifecycles: s.lifecycles, Elapsed: s.elapsed}
	for i, name := range s.calls {
		out.Calls = append(out.Calls, Result{Name: name, Callers: s.callers, Ops: len(s.lat[i]), Elapsed: s.elapsed,
			P50: percentile(s.lat[i], 0.50), P99: percentile(s.lat[i], 0.99)})
	}
	return out
}

// runSteps calls op from s.callers goroutines for d, each with its caller index, and adds what it
// measured to s. A lifecycle started before d has passed is finished. An error from op stops the
// run and is returned.
func runSteps(ctx context.Context, s *stepRun, d time.Duration, op func(ctx context.Context, caller int, t *stepTimer) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for c := range s.callers {
		wg.Go(func() {
			t := &stepTimer{lat: make([][]time.Duration, len(s.calls))}
			done := 0
			for time.Now().Before(deadline) && ctx.Err() == nil {
				if err := op(ctx, c, t); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("%s, caller %d: %w", s.name, c, err)
					}
					mu.Unlock()
					cancel()
					return
				}
				done++
			}
			mu.Lock()
			s.lifecycles += done
			for i := range t.lat {
				s.lat[i] = append(s.lat[i], t.lat[i]...)
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	s.elapsed += time.Since(start)
	return firstErr
}

// agent is a registered, activated benchmark agent.
type agent struct {
	id, key, address string
	// available is the balance after setup, in micro-USDC.
	available int64
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
	tag := make([]byte, 4)
	rand.Read(tag)
	run := hex.EncodeToString(tag)
	pairs := make([]*pair, n)
	errs := make([]error, n)
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			pairs[i], errs[i] = setUpPair(ctx, api, fmt.Sprintf("bench-%s-%d", run, i), clientDeposit)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
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

// newAgent registers an agent, sends deposit to its deposit address on the simulated chain from a
// fresh wallet and confirms it, which activates the agent.
func newAgent(ctx context.Context, api *apiClient, name string, deposit int64) (agent, error) {
	var reg struct {
		AgentID       string `json:"agentId"`
		APIKey        string `json:"apiKey"`
		WalletAddress string `json:"walletAddress"`
	}
	if err := api.do(ctx, "POST", "/api/v1/auth/register", "", []byte(`{"name":"`+name+`"}`), http.StatusCreated, &reg); err != nil {
		return agent{}, fmt.Errorf("register %s: %w", name, err)
	}
	wallet, _, err := solana.NewKeypair()
	if err != nil {
		return agent{}, err
	}
	transfer, err := json.Marshal(map[string]any{"from": wallet, "to": reg.WalletAddress, "amount": deposit})
	if err != nil {
		return agent{}, err
	}
	if err := api.do(ctx, "POST", "/dev/chain/transfer", "", transfer, http.StatusOK, nil); err != nil {
		return agent{}, fmt.Errorf("fund %s (the server must run in dev mode): %w", name, err)
	}
	var confirm struct {
		Activated bool `json:"activated"`
	}
	if err := api.do(ctx, "POST", "/api/v1/wallet/confirm-deposit", reg.APIKey, nil, http.StatusOK, &confirm); err != nil {
		return agent{}, fmt.Errorf("confirm the deposit of %s: %w", name, err)
	}
	if !confirm.Activated {
		return agent{}, fmt.Errorf("%s is not activated after a deposit of %s", name, justpay.FormatUSDC(deposit))
	}
	a := agent{id: reg.AgentID, key: reg.APIKey, address: reg.WalletAddress}
	if a.available, err = balance(ctx, api, a.key); err != nil {
		return agent{}, err
	}
	return a, nil
}

// balance returns the agent's available balance in micro-USDC.
func balance(ctx context.Context, api *apiClient, key string) (int64, error) {
	var bal struct {
		Available string `json:"available"`
	}
	if err := api.do(ctx, "GET", "/api/v1/wallet/balance", key, nil, http.StatusOK, &bal); err != nil {
		return 0, fmt.Errorf("balance: %w", err)
	}
	v, err := strconv.ParseInt(bal.Available, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("balance: available %q: %w", bal.Available, err)
	}
	return v, nil
}

// apiClient makes JSON requests to the server under test.
type apiClient struct {
	base string
	hc   *http.Client
}

// do sends body (JSON, or none when nil) with key as bearer token (none when "") and decodes the
// answer into out (when not nil). Any status but want is an error carrying the answer.
func (c *apiClient) do(ctx context.Context, method, path, key string, body []byte, want int, out any) error {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, r)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: read the answer: %w", method, path, err)
	}
	if resp.StatusCode != want {
		hint := ""
		if resp.StatusCode == http.StatusTooManyRequests {
			hint = " (start the server with --rate-limit-per-key 0 --rate-limit-per-ip 0)"
		}
		return fmt.Errorf("%s %s: status %d, want %d%s: %s", method, path, resp.StatusCode, want, hint, bytes.TrimSpace(raw))
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s %s: decode %s: %w", method, path, raw, err)
		}
	}
	return nil
}
