package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/justpay/justpay"
	"github.com/justpay/justpay/sqlstore"
	"github.com/justpay/justpay/sqlstore/sqlstoretest"
	"github.com/justpay/justpay/webhook"
)

var (
	benchWorkers = flag.Int("webhookworkers", webhook.DefaultWorkers, "dispatcher workers of BenchmarkWebhookDelivery")
	benchRate    = flag.Int("webhookrate", 200, "events a second written in BenchmarkWebhookDelivery's paced run")
	benchTimings = flag.Bool("webhooktimings", false, "log how long BenchmarkWebhookDelivery's dispatcher spent in each store call")
)

// benchWriters write events at once, each as its own agent.
const benchWriters = 8

// BenchmarkWebhookDelivery measures the dispatcher as `justpay serve` runs it (Run, the default
// 100 ms poll, -webhookworkers workers) over the real store, on a fresh database (a temporary
// SQLite file, and a scratch PostgreSQL schema when JUSTPAY_TEST_POSTGRES is set), delivering to a
// receiver on loopback in this process that answers 200 at once. b.N is the number of events:
// wallet.address_changed, written through the store by benchWriters goroutines, after
// benchWarmup events delivered unmeasured (the first deliveries of a fresh process open its
// database and HTTP connections: on PostgreSQL they took up to 0.6 s).
//
//   - burst: the events are written as fast as the store takes them (written/s), faster than
//     they are delivered; events/s is b.N over the time from the first write to the last
//     delivery, drain/s the rate of the deliveries left when the last write returned (the
//     dispatcher without the writes competing for the database), and the latencies include the
//     wait in the backlog.
//   - paced: the events are written at -webhookrate a second, below the dispatcher's rate, so the
//     latencies are its own: the poll (up to 100 ms) and the attempt.
//
// The latency of an event runs from the return of the store call that committed it (a moment
// after the commit) to its arrival at the receiver. The receiver, the writers and the dispatcher
// share the machine's cores.
//
//	go test ./webhook/ -run '^$' -bench WebhookDelivery -benchtime 3000x
//
// -webhookworkers=N and -webhookrate=R change the workers and the paced rate; -webhooktimings -v
// logs the time the dispatcher spent in each store call.
func BenchmarkWebhookDelivery(b *testing.B) {
	for _, backend := range sqlstoretest.Backends() {
		b.Run(backend.Name, func(b *testing.B) {
			b.Run("burst", func(b *testing.B) { benchDelivery(b, backend, 0) })
			b.Run(fmt.Sprintf("paced-%d", *benchRate), func(b *testing.B) { benchDelivery(b, backend, *benchRate) })
		})
	}
}

func benchDelivery(b *testing.B, backend sqlstoretest.Backend, rate int) {
	ctx := context.Background()
	clock := justpay.NewAdjustableClock(justpay.SystemClock{})
	env := sqlstoretest.Wire(b, sqlstoretest.MustOpen(b, backend, clock), clock)
	n := b.N
	rc := newArrivals()
	defer rc.srv.Close()

	agents := make([]string, benchWriters)
	for i := range agents {
		a, _, _, err := env.Store.RegisterAgent(ctx, justpay.AgentRegistration{Name: fmt.Sprintf("bench-%d", i), CallbackURL: rc.srv.URL + "/hook"})
		if err != nil {
			b.Fatal(err)
		}
		agents[i] = a.ID
		if _, err := env.Store.SetWithdrawalAddress(ctx, a.ID, sqlstoretest.NewWallet(b)); err != nil { // the first: no event
			b.Fatal(err)
		}
	}
	newAddresses := func(k int) []string {
		out := make([]string, k)
		for i := range out {
			out[i] = sqlstoretest.NewWallet(b)
		}
		return out
	}
	warmup, addresses := newAddresses(benchWarmup), newAddresses(n)

	var store webhook.Store = env.Store
	timed := &timedStore{Store: env.Store}
	if *benchTimings {
		store = timed
		defer func() { b.Log(timed) }()
	}
	d, err := webhook.NewDispatcher(webhook.Config{Store: store, Clock: clock,
		Client: mustClient(b, webhook.Policy{AllowLoopback: true}), Workers: *benchWorkers})
	if err != nil {
		b.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	var running sync.WaitGroup
	running.Go(func() { d.Run(runCtx) })
	defer func() {
		stop()
		running.Wait()
	}()

	// Warm up (database and HTTP connections, the database's caches) as a running server is.
	if _, err := writeEvents(ctx, env.Store, agents, warmup, 0); err != nil {
		b.Fatal(err)
	}
	rc.wait(b, benchWarmup)
	timed.reset()

	b.ResetTimer()
	start := time.Now()
	committed, err := writeEvents(ctx, env.Store, agents, addresses, rate)
	if err != nil {
		b.Fatal(err)
	}
	written := time.Since(start)
	deliveredWhileWriting := rc.count() - benchWarmup
	rc.wait(b, benchWarmup+n)
	b.StopTimer()

	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.requests != benchWarmup+n {
		b.Fatalf("%d requests for %d events, want one each", rc.requests, benchWarmup+n)
	}
	lat := make([]time.Duration, n)
	last := start
	for i, addr := range addresses {
		at := rc.arrived[addr]
		lat[i] = at.Sub(committed[i])
		if at.After(last) {
			last = at
		}
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[min(n-1, int(p*float64(n)))]) / float64(time.Millisecond) }
	b.ReportMetric(float64(n)/last.Sub(start).Seconds(), "events/s")
	b.ReportMetric(float64(n)/written.Seconds(), "written/s")
	if drain := last.Sub(start) - written; rate == 0 && drain > 0 {
		b.ReportMetric(float64(n-deliveredWhileWriting)/drain.Seconds(), "drain/s")
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(lat[n-1])/float64(time.Millisecond), "max-ms")
	b.ReportMetric(0, "ns/op")
}

// benchWarmup events are delivered before the measured ones.
const benchWarmup = 200

// writeEvents changes the agents' withdrawal addresses to addresses, one agent per goroutine,
// as fast as the store takes them or, when rate > 0, the ith at i/rate seconds from the start. It
// returns when each one's store call returned.
func writeEvents(ctx context.Context, store *sqlstore.Store, agents, addresses []string, rate int) ([]time.Time, error) {
	committed := make([]time.Time, len(addresses))
	errs := make([]error, len(agents))
	var next atomic.Int64
	var writers sync.WaitGroup
	start := time.Now()
	for w, agent := range agents {
		writers.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(addresses) {
					return
				}
				if rate > 0 {
					time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))))
				}
				if _, err := store.SetWithdrawalAddress(ctx, agent, addresses[i]); err != nil {
					errs[w] = err
					return
				}
				committed[i] = time.Now()
			}
		})
	}
	writers.Wait()
	return committed, errors.Join(errs...)
}

// arrivals is a receiver that answers 200 and notes when each event (by its new address) first
// arrived.
type arrivals struct {
	srv      *httptest.Server
	mu       sync.Mutex
	requests int
	arrived  map[string]time.Time
}

func newArrivals() *arrivals {
	rc := &arrivals{arrived: map[string]time.Time{}}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		body, _ := io.ReadAll(r.Body)
		var p struct {
			Data struct{ NewAddress string }
		}
		json.Unmarshal(body, &p)
		rc.mu.Lock()
		defer rc.mu.Unlock()
		rc.requests++
		if _, ok := rc.arrived[p.Data.NewAddress]; !ok {
			rc.arrived[p.Data.NewAddress] = at
		}
	}))
	return rc
}

func (rc *arrivals) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.arrived)
}

// wait returns once k events have arrived, polling every millisecond; it gives up after five
// minutes.
func (rc *arrivals) wait(b *testing.B, k int) {
	for deadline := time.Now().Add(5 * time.Minute); rc.count() < k; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d events delivered after 5 minutes", rc.count(), k)
		}
	}
}

// timedStore times the dispatcher's calls to the store.
type timedStore struct {
	webhook.Store
	mu      sync.Mutex
	calls   map[string][]time.Duration
	claimed int
}

func (s *timedStore) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls, s.claimed = nil, 0
}

func (s *timedStore) note(call string, start time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.calls == nil {
		s.calls = map[string][]time.Duration{}
	}
	s.calls[call] = append(s.calls[call], time.Since(start))
}

func (s *timedStore) HasDueWebhookDeliveries(ctx context.Context) (bool, error) {
	defer s.note("HasDue", time.Now())
	return s.Store.HasDueWebhookDeliveries(ctx)
}

func (s *timedStore) ClaimWebhookDeliveries(ctx context.Context, limit int) ([]*justpay.WebhookDispatch, error) {
	defer s.note("Claim", time.Now())
	list, err := s.Store.ClaimWebhookDeliveries(ctx, limit)
	s.mu.Lock()
	s.claimed += len(list)
	s.mu.Unlock()
	return list, err
}

func (s *timedStore) RecordWebhookAttempt(ctx context.Context, d *justpay.WebhookDispatch, a justpay.WebhookAttempt) error {
	defer s.note("Record", time.Now())
	return s.Store.RecordWebhookAttempt(ctx, d, a)
}

func (s *timedStore) WebhookSigningSecrets(ctx context.Context, agentID string) ([]string, error) {
	defer s.note("Secrets", time.Now())
	return s.Store.WebhookSigningSecrets(ctx, agentID)
}

// String lists each call's count, mean, p50, p99 and total, and the claims' mean batch.
func (s *timedStore) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out strings.Builder
	for _, call := range []string{"HasDue", "Claim", "Secrets", "Record"} {
		d := slices.Sorted(slices.Values(s.calls[call]))
		if len(d) == 0 {
			continue
		}
		var total time.Duration
		for _, x := range d {
			total += x
		}
		fmt.Fprintf(&out, "\n%-8s %6d calls  mean %8v  p50 %8v  p99 %8v  total %v", call, len(d),
			total/time.Duration(len(d)), d[len(d)/2], d[min(len(d)-1, len(d)*99/100)], total.Round(time.Millisecond))
	}
	if n := len(s.calls["Claim"]); n > 0 {
		fmt.Fprintf(&out, "\nclaims took %.2f deliveries each", float64(s.claimed)/float64(n))
	}
	return out.String()
}
