package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/justpay/justpay"
	"github.com/justpay/justpay/httpapi"
	"github.com/justpay/justpay/scheduler"
	"github.com/justpay/justpay/sqlstore"
	"github.com/justpay/justpay/sqlstore/sqlstoretest"
	"github.com/justpay/justpay/webhook"
	"github.com/prometheus/client_golang/prometheus"
)

// adminToken is the static admin token of every test server.
const adminToken = "admintoken"

// devTools are the server's /dev/* helpers over the test env: the simulated chain's faucet, and
// the test clock followed by one scheduler pass, as the real dev mode does.
type devTools struct {
	env   *sqlstoretest.Env
	sched *scheduler.Scheduler
}

func (d devTools) Transfer(ctx context.Context, from, to string, amount int64) (string, error) {
	return d.env.Chain.Transfer(ctx, from, to, amount)
}

func (d devTools) AdvanceClock(ctx context.Context, dur time.Duration) (time.Time, error) {
	now := d.env.Clock.Advance(dur)
	if err := d.sched.RunOnce(ctx); err != nil {
		return time.Time{}, fmt.Errorf("run due work: %w", err)
	}
	return now, nil
}

// api is a real httpapi.Server over a real store on a fresh database, served over HTTP.
type api struct {
	*sqlstoretest.Env
	Server *httpapi.Server
	URL    string
	client *http.Client
	// Webhooks delivers to receivers on loopback; tests run it with RunOnce.
	Webhooks *webhook.Dispatcher
}

// newAPI builds the server over sqlstoretest.NewEnv(tb, b), with the static admin token, dev
// tools, metrics, the env's clock and the given rate limits, and serves it with httptest.
func newAPI(tb testing.TB, b sqlstoretest.Backend, limits httpapi.RateLimits) *api {
	tb.Helper()
	env := sqlstoretest.NewEnv(tb, b)
	logger := slog.New(slog.DiscardHandler)
	webhooks := newTestDispatcher(tb, env)
	srv := &httpapi.Server{
		Agents:       env.Store,
		Wallet:       env.Store,
		Ledger:       env.Store,
		Stats:        env.Store,
		Services:     env.Store,
		Jobs:         env.Store,
		Campaigns:    env.Store,
		Disputes:     env.Store,
		Reports:      env.Store,
		Proposals:    env.Store,
		AdminActions: env.Store,
		Idempotency:  env.Store,
		Webhooks:     webhooks,
		Admin:        sqlstore.AdminTokens{DB: env.DB, Static: adminToken},
		Dev: devTools{env: env, sched: &scheduler.Scheduler{
			Store: env.Store, Chain: env.Chain, Clock: env.Clock, Logger: logger, Interval: time.Second,
		}},
		Clock:    env.Clock,
		Logger:   logger,
		Registry: prometheus.NewRegistry(),
		Limits:   limits,
		Ready:    env.DB.Ping,
	}
	ts := httptest.NewServer(srv.Handler())
	tb.Cleanup(ts.Close)
	return &api{Env: env, Server: srv, URL: ts.URL, client: ts.Client(), Webhooks: webhooks}
}

// request is one HTTP call. Body is sent as is when it is a string or []byte, JSON-encoded
// otherwise; nil sends no body.
type request struct {
	Method, Path, Key string
	Body              any
	Header            http.Header
}

// response is what came back.
type response struct {
	Status int
	Header http.Header
	Raw    []byte
	JSON   map[string]any
}

// roundTrip makes the call and reads the whole answer. It is safe to call from any goroutine.
func (a *api) roundTrip(rq request) (response, error) {
	var body io.Reader
	switch v := rq.Body.(type) {
	case nil:
	case string:
		body = strings.NewReader(v)
	case []byte:
		body = bytes.NewReader(v)
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return response{}, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(rq.Method, a.URL+rq.Path, body)
	if err != nil {
		return response{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if rq.Key != "" {
		req.Header.Set("Authorization", "Bearer "+rq.Key)
	}
	for k, vs := range rq.Header {
		req.Header[k] = vs
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, fmt.Errorf("read body: %w", err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Raw: raw}, nil
}

// send makes the call and checks it with checkResponse.
func (a *api) send(tb testing.TB, rq request) response {
	tb.Helper()
	r, err := a.roundTrip(rq)
	if err != nil {
		tb.Fatalf("%s %s: %v", rq.Method, rq.Path, err)
	}
	checkResponse(tb, rq, &r)
	return r
}

// checkResponse checks what every response must satisfy: never a 5xx, a JSON object body (except
// /metrics and HEAD), and every error exactly {"error": "<non-empty>"}. It fills r.JSON.
func checkResponse(tb testing.TB, rq request, r *response) {
	tb.Helper()
	where := fmt.Sprintf("%s %s %.200q", rq.Method, rq.Path, fmt.Sprint(rq.Body))
	if r.Status >= 500 {
		tb.Errorf("%s: got %d, never want a 5xx; body %s", where, r.Status, r.Raw)
	}
	if rq.Method == http.MethodHead || (rq.Path == "/metrics" && r.Status == http.StatusOK) {
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		tb.Errorf("%s: Content-Type = %q, want application/json", where, ct)
	}
	if err := json.Unmarshal(r.Raw, &r.JSON); err != nil || r.JSON == nil {
		tb.Fatalf("%s: status %d, body %q is not a JSON object: %v", where, r.Status, r.Raw, err)
	}
	if r.Status >= 400 {
		if msg, ok := r.JSON["error"].(string); !ok || strings.TrimSpace(msg) == "" || len(r.JSON) != 1 {
			tb.Errorf("%s: status %d, body %s, want exactly {\"error\": \"<message>\"}", where, r.Status, r.Raw)
		}
	}
}

// race sends rqs all at once and returns their answers, each checked with checkResponse.
func (a *api) race(tb testing.TB, rqs []request) []response {
	tb.Helper()
	rs := make([]response, len(rqs))
	errs := make([]error, len(rqs))
	var wg sync.WaitGroup
	for i, rq := range rqs {
		wg.Go(func() { rs[i], errs[i] = a.roundTrip(rq) })
	}
	wg.Wait()
	for i := range rs {
		if errs[i] != nil {
			tb.Fatalf("request %d: %v", i, errs[i])
		}
		checkResponse(tb, rqs[i], &rs[i])
	}
	return rs
}

// statusCounts counts the answers by status.
func statusCounts(rs []response) map[int]int {
	n := map[int]int{}
	for _, r := range rs {
		n[r.Status]++
	}
	return n
}

// do makes one call and returns its status, JSON body and headers.
func (a *api) do(tb testing.TB, method, path, key string, body any) (int, map[string]any, http.Header) {
	tb.Helper()
	r := a.send(tb, request{Method: method, Path: path, Key: key, Body: body})
	return r.Status, r.JSON, r.Header
}

// must makes one call and fails the test unless it answers want.
func (a *api) must(tb testing.TB, want int, method, path, key string, body any) map[string]any {
	tb.Helper()
	status, got, _ := a.do(tb, method, path, key, body)
	if status != want {
		tb.Fatalf("%s %s: status = %d, want %d; body %v", method, path, status, want, got)
	}
	return got
}

// agent is a test agent: its ID, API key and deposit address.
type agent struct {
	ID, Key, Deposit string
}

// register registers an agent through the API.
func (a *api) register(tb testing.TB, name string) agent {
	tb.Helper()
	got := a.must(tb, http.StatusCreated, "POST", "/api/v1/auth/register", "", map[string]any{"name": name})
	return agent{ID: str(got["agentId"]), Key: str(got["apiKey"]), Deposit: str(got["walletAddress"])}
}

// deposit sends amount from wallet to ag's deposit address on the dev chain and confirms it,
// both through the API, and returns the confirm-deposit answer.
func (a *api) deposit(tb testing.TB, ag agent, wallet string, amount int64) map[string]any {
	tb.Helper()
	a.must(tb, http.StatusOK, "POST", "/dev/chain/transfer", "", map[string]any{"from": wallet, "to": ag.Deposit, "amount": amount})
	return a.must(tb, http.StatusOK, "POST", "/api/v1/wallet/confirm-deposit", ag.Key, nil)
}

// activated registers an agent and funds it with amount from a fresh wallet, which becomes its
// emergency address and is returned.
func (a *api) activated(tb testing.TB, name string, amount int64) (agent, string) {
	tb.Helper()
	ag := a.register(tb, name)
	wallet := sqlstoretest.NewWallet(tb)
	if got := a.deposit(tb, ag, wallet, amount); got["activated"] != true {
		tb.Fatalf("deposit of %d did not activate %s: %v", amount, name, got)
	}
	return ag, wallet
}

// withAddress is activated plus a withdrawal address, returned with the emergency wallet.
func (a *api) withAddress(tb testing.TB, name string, amount int64) (ag agent, emergency, address string) {
	tb.Helper()
	ag, emergency = a.activated(tb, name, amount)
	address = sqlstoretest.NewWallet(tb)
	a.must(tb, http.StatusOK, "PUT", "/api/v1/wallet/withdrawal-address", ag.Key, map[string]any{"address": address})
	return ag, emergency, address
}

// balance returns GET /wallet/balance.
func (a *api) balance(tb testing.TB, ag agent) map[string]any {
	tb.Helper()
	return a.must(tb, http.StatusOK, "GET", "/api/v1/wallet/balance", ag.Key, nil)
}

// snapshot is everything a money request could change for ag, serialized: the raw balance
// answer, the agent's whole history, its events and the ledger's counts and totals.
func (a *api) snapshot(tb testing.TB, ag agent) string {
	tb.Helper()
	ctx := context.Background()
	bal := a.send(tb, request{Method: "GET", Path: "/api/v1/wallet/balance", Key: ag.Key})
	me := a.send(tb, request{Method: "GET", Path: "/api/v1/agents/me", Key: ag.Key})
	txs, total, err := a.Store.FindTransactions(ctx, ag.ID, justpay.TransactionFilter{Page: justpay.Page{Page: 1, Limit: justpay.MaxPageLimit}})
	if err != nil {
		tb.Fatal(err)
	}
	events, err := a.DB.FindEvents(ctx, ag.ID)
	if err != nil {
		tb.Fatal(err)
	}
	rep := sqlstoretest.MustVerify(tb, a.DB)
	s, err := json.Marshal(map[string]any{
		"balance": string(bal.Raw), "me": string(me.Raw), "txs": txs, "txTotal": total, "events": len(events),
		"ledger": []any{rep.Transactions, rep.Postings, rep.Accounts, rep.Totals},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return string(s)
}

// str is v as a string, "" if it is not one.
func str(v any) string {
	s, _ := v.(string)
	return s
}

// sortedKeys returns the sorted keys of m.
func sortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// wantFields fails unless m[k] equals want[k] for every k of want (JSON numbers are float64).
func wantFields(tb testing.TB, m map[string]any, want map[string]any) {
	tb.Helper()
	for k, w := range want {
		if got, ok := m[k]; !ok || !reflect.DeepEqual(got, w) {
			tb.Errorf("%s = %#v (present %v), want %#v; body %v", k, got, ok, w, m)
		}
	}
}

// wantAbsent fails if any of the fields is present in m.
func wantAbsent(tb testing.TB, m map[string]any, fields ...string) {
	tb.Helper()
	for _, k := range fields {
		if v, ok := m[k]; ok {
			tb.Errorf("%s = %#v must be absent; body %v", k, v, m)
		}
	}
}

// statusCase is one line of a status-matrix table.
type statusCase struct {
	name   string
	method string
	path   string
	key    string
	body   any
	header http.Header
	want   int
	// orWant lists other statuses accepted besides want, for cases where more than one answer is
	// right (never a 5xx).
	orWant []int
	// check, when set, inspects a response with the wanted status.
	check func(t *testing.T, r response)
	// money, when set, overrides the table's money agent for this case.
	money *agent
}

// table runs the cases in order as subtests. For money routes, money names the agent whose
// snapshot must be byte-identical across every case answered with a 4xx: a rejected request
// leaves no trace. The ledger must verify after the table. It returns the status of each case.
func (a *api) table(t *testing.T, money *agent, cases []statusCase) []int {
	t.Helper()
	statuses := make([]int, len(cases))
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := money
			if c.money != nil {
				m = c.money
			}
			var before string
			if m != nil && c.want >= 400 {
				before = a.snapshot(t, *m)
			}
			r := a.send(t, request{Method: c.method, Path: c.path, Key: c.key, Body: c.body, Header: c.header})
			statuses[i] = r.Status
			if r.Status != c.want && !slices.Contains(c.orWant, r.Status) {
				t.Fatalf("%s %s: status = %d, want %d; body %s", c.method, c.path, r.Status, c.want, r.Raw)
			}
			if c.check != nil && r.Status == c.want {
				c.check(t, r)
			}
			if before != "" && r.Status >= 400 {
				if after := a.snapshot(t, *m); after != before {
					t.Errorf("rejected request left a trace:\nbefore %s\nafter  %s", before, after)
				}
			}
		})
	}
	sqlstoretest.MustVerify(t, a.DB)
	return statuses
}
