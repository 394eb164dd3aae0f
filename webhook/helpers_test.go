package webhook_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/justpay/justpay"
	"github.com/justpay/justpay/sqlstore/sqlstoretest"
	"github.com/justpay/justpay/webhook"
)

// received is one request a receiver got.
type received struct {
	Path   string
	Header http.Header
	Body   []byte
}

// receiver is a real HTTP server on loopback that records every request and answers with its
// script: respond gets the 1-based number of the request and returns the status and headers.
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	reqs    []received
	respond func(n int, w http.ResponseWriter)
}

func newReceiver(tb testing.TB, respond func(n int, w http.ResponseWriter)) *receiver {
	tb.Helper()
	rc := &receiver{respond: respond}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, received{Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
		n := len(rc.reqs)
		rc.mu.Unlock()
		if rc.respond == nil {
			w.WriteHeader(http.StatusOK)
			return
		}
		rc.respond(n, w)
	}))
	tb.Cleanup(rc.Close)
	return rc
}

// requests returns a copy of what the receiver got so far.
func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.reqs...)
}

// answer is a receiver script that answers statuses[n-1] to the nth request, and the last
// status to every request after them.
func answer(statuses ...int) func(int, http.ResponseWriter) {
	return func(n int, w http.ResponseWriter) {
		w.WriteHeader(statuses[min(n, len(statuses))-1])
	}
}

// sentinel is a listener that must never be reached: it counts the connections it accepts.
type sentinel struct {
	lns   []net.Listener
	conns atomic.Int64
}

// newSentinel listens on 127.0.0.1 and, when the machine has IPv6 loopback, on [::1] at the same
// port where it can.
func newSentinel(tb testing.TB) *sentinel {
	tb.Helper()
	s := &sentinel{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s.lns = append(s.lns, ln)
	if ln6, err := net.Listen("tcp", "[::1]:"+s.Port()); err == nil {
		s.lns = append(s.lns, ln6)
	} else if ln6, err := net.Listen("tcp", "[::1]:0"); err == nil {
		s.lns = append(s.lns, ln6)
	}
	for _, l := range s.lns {
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				s.conns.Add(1)
				c.Close()
			}
		}()
	}
	tb.Cleanup(func() {
		for _, l := range s.lns {
			l.Close()
		}
	})
	return s
}

// Port is the IPv4 listener's port.
func (s *sentinel) Port() string {
	_, port, _ := net.SplitHostPort(s.lns[0].Addr().String())
	return port
}

// Port6 is the IPv6 listener's port, "" without IPv6 loopback.
func (s *sentinel) Port6() string {
	if len(s.lns) < 2 {
		return ""
	}
	_, port, _ := net.SplitHostPort(s.lns[1].Addr().String())
	return port
}

// settle waits a moment for connections in flight to be accepted and counted.
func (s *sentinel) settle() int64 {
	time.Sleep(50 * time.Millisecond)
	return s.conns.Load()
}

// mustClient is NewClient or the test's end.
func mustClient(tb testing.TB, p webhook.Policy) *http.Client {
	tb.Helper()
	c, err := webhook.NewClient(p)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// newDispatcher returns a dispatcher over env's store and clock that may reach loopback.
func newDispatcher(tb testing.TB, env *sqlstoretest.Env, p webhook.Policy) *webhook.Dispatcher {
	tb.Helper()
	d, err := webhook.NewDispatcher(webhook.Config{Store: env.Store, Clock: env.Clock, Client: mustClient(tb, p), Workers: 4})
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// mustRunOnce attempts every due delivery.
func mustRunOnce(tb testing.TB, d *webhook.Dispatcher) {
	tb.Helper()
	if err := d.RunOnce(context.Background()); err != nil {
		tb.Fatalf("run once: %v", err)
	}
}

// hooked registers an agent whose callbackUrl is url, with a known webhook secret, and gives it a
// first withdrawal address (which records no event).
func hooked(tb testing.TB, env *sqlstoretest.Env, name, url string) (*justpay.Agent, string) {
	tb.Helper()
	secret := justpay.NewWebhookSecret()
	a, _, _, err := env.Store.RegisterAgent(context.Background(), justpay.AgentRegistration{Name: name, CallbackURL: url, WebhookSecret: secret})
	if err != nil {
		tb.Fatalf("register %s: %v", name, err)
	}
	changeAddress(tb, env, a.ID)
	return a, secret
}

// changeAddress sets a fresh withdrawal address for the agent: a wallet.address_changed event
// unless it is the agent's first.
func changeAddress(tb testing.TB, env *sqlstoretest.Env, agentID string) {
	tb.Helper()
	if _, err := env.Store.SetWithdrawalAddress(context.Background(), agentID, sqlstoretest.NewWallet(tb)); err != nil {
		tb.Fatalf("set withdrawal address: %v", err)
	}
}

// deliveries returns the agent's deliveries, newest first.
func deliveries(tb testing.TB, env *sqlstoretest.Env, agentID string) []*justpay.WebhookDelivery {
	tb.Helper()
	list, _, err := env.Store.FindWebhookDeliveries(context.Background(), agentID, "", justpay.Page{Page: 1, Limit: justpay.MaxPageLimit})
	if err != nil {
		tb.Fatal(err)
	}
	return list
}

// only returns the agent's one delivery.
func only(tb testing.TB, env *sqlstoretest.Env, agentID string) *justpay.WebhookDelivery {
	tb.Helper()
	list := deliveries(tb, env, agentID)
	if len(list) != 1 {
		tb.Fatalf("deliveries = %d, want 1", len(list))
	}
	return list[0]
}

// The Standard Webhooks verification, written from the specification's description
// (https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md),
// independently of the package's signer: the secret is "whsec_" and the base64 of the key; the
// signed content is "<webhook-id>.<webhook-timestamp>.<body>"; the signature is the base64 of its
// HMAC-SHA256; webhook-signature lists space-delimited "v1,<signature>" entries, any of which may
// match; a timestamp too far from now is refused.
func verifyStandard(secret string, h http.Header, body []byte, now time.Time) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return errors.New("missing webhook headers")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("bad webhook-timestamp")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return errors.New("webhook-timestamp outside the tolerance")
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + ts + "."))
	m.Write(body)
	want := base64.StdEncoding.EncodeToString(m.Sum(nil))
	for _, entry := range strings.Split(sigs, " ") {
		version, sig, ok := strings.Cut(entry, ",")
		if ok && version == "v1" && hmac.Equal([]byte(sig), []byte(want)) {
			return nil
		}
	}
	return errors.New("no matching signature")
}

// verifyJustPayAI checks X-JustPayAI-Signature: "t=<unix>,v1=<hex>[,v1=<hex>...]" where each hex
// is HMAC-SHA256(key, "<t>.<body>") under one valid secret's key.
func verifyJustPayAI(secret string, h http.Header, body []byte) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	var t string
	var sigs []string
	for _, part := range strings.Split(h.Get("X-JustPayAI-Signature"), ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			t = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	if t == "" || len(sigs) == 0 {
		return errors.New("malformed X-JustPayAI-Signature")
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(t + "."))
	m.Write(body)
	want := hex.EncodeToString(m.Sum(nil))
	for _, s := range sigs {
		if hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return errors.New("no matching v1 signature")
}

// mustVerify fails unless the request carries valid signatures under secret in both schemes.
func mustVerify(tb testing.TB, secret string, r received, now time.Time) {
	tb.Helper()
	if err := verifyStandard(secret, r.Header, r.Body, now); err != nil {
		tb.Errorf("Standard Webhooks verification: %v (headers %v)", err, r.Header)
	}
	if err := verifyJustPayAI(secret, r.Header, r.Body); err != nil {
		tb.Errorf("X-JustPayAI-Signature verification: %v (headers %v)", err, r.Header)
	}
}
