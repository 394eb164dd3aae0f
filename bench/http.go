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
)

// What the benchmarks over HTTP share: timed runs of multi-step operations by concurrent callers,
// agents set up through the API, and the ledger check that ends every run.

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

// newAPIClient returns a client of the server at base that makes its requests with hc or, when hc
// is nil, with a client of its own keeping conns connections alive; close releases them.
func newAPIClient(base string, hc *http.Client, conns int) (api *apiClient, close func()) {
	api = &apiClient{base: strings.TrimRight(base, "/"), hc: hc}
	if hc != nil {
		return api, func() {}
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = conns + 16
	t.MaxIdleConnsPerHost = conns + 16
	api.hc = &http.Client{Transport: t, Timeout: time.Minute}
	return api, t.CloseIdleConnections
}

// verifyLedger checks the ledger invariant through GET /api/v1/admin/ledger/verify and returns
// how many transactions and postings it counted. A broken invariant is an error naming the
// problems.
func verifyLedger(ctx context.Context, api *apiClient, adminToken string) (transactions, postings int64, err error) {
	var ledger struct {
		OK           bool     `json:"ok"`
		Transactions int64    `json:"transactions"`
		Postings     int64    `json:"postings"`
		Problems     []string `json:"problems"`
	}
	if err := api.do(ctx, "GET", "/api/v1/admin/ledger/verify", adminToken, nil, http.StatusOK, &ledger); err != nil {
		return 0, 0, fmt.Errorf("verify the ledger: %w", err)
	}
	if !ledger.OK {
		return 0, 0, fmt.Errorf("the ledger invariant is broken after the benchmark: %s", strings.Join(ledger.Problems, "; "))
	}
	return ledger.Transactions, ledger.Postings, nil
}

// profiled runs f, with a CPU profile of this process written to w while it runs when w is not
// nil.
func profiled(w io.Writer, f func() error) error {
	if w == nil {
		return f()
	}
	if err := pprof.StartCPUProfile(w); err != nil {
		return err
	}
	defer pprof.StopCPUProfile()
	return f()
}

// setUpEach calls setUp for 0 to n-1, a few at a time, with a name unique to the call and to this
// run of the benchmark (agents' names on a long-lived server do not collide), and joins the
// errors.
func setUpEach(n int, setUp func(i int, name string) error) error {
	tag := make([]byte, 4)
	rand.Read(tag)
	run := hex.EncodeToString(tag)
	errs := make([]error, n)
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = setUp(i, fmt.Sprintf("bench-%s-%d", run, i))
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// orDiscard is w, or io.Discard when w is nil.
func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}
