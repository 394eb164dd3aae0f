package webhook_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/justpay/justpay"
	"github.com/justpay/justpay/argon2id"
	"github.com/justpay/justpay/devchain"
	"github.com/justpay/justpay/jsonschema"
	"github.com/justpay/justpay/sqlstore"
	"github.com/justpay/justpay/sqlstore/sqlstoretest"
	"github.com/justpay/justpay/vault"
	"github.com/justpay/justpay/webhook"
)

// stamps returns the webhook-timestamp of each request, as offsets from start.
func stamps(reqs []received, start time.Time) []time.Duration {
	out := make([]time.Duration, len(reqs))
	for i, r := range reqs {
		sec, _ := strconv.ParseInt(r.Header.Get("webhook-timestamp"), 10, 64)
		out[i] = time.Unix(sec, 0).Sub(start)
	}
	return out
}

// stepTo advances env's clock to start+at and runs the dispatcher.
func stepTo(t *testing.T, env *sqlstoretest.Env, d *webhook.Dispatcher, start time.Time, at time.Duration) {
	t.Helper()
	env.Clock.Advance(start.Add(at).Sub(env.Clock.Now()))
	mustRunOnce(t, d)
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestDeliveryOK: one event, one signed request with the documented payload, delivered once.
func TestDeliveryOK(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		env := sqlstoretest.NewEnv(t, b)
		rc := newReceiver(t, nil)
		d := newDispatcher(t, env, webhook.Policy{AllowLoopback: true})
		a, secret := hooked(t, env, "ok-agent", rc.URL+"/hook")
		changeAddress(t, env, a.ID)
		before := only(t, env, a.ID)
		if before.Status != justpay.WebhookPending || before.Attempts != 0 || before.Event != justpay.EventWalletAddressChanged ||
			before.URL != rc.URL+"/hook" || before.NextAttemptAt == nil || !before.NextAttemptAt.Equal(env.Clock.Now()) {
			t.Fatalf("delivery before the dispatcher runs: %+v", before)
		}
		mustRunOnce(t, d)
		mustRunOnce(t, d) // nothing is due any more
		reqs := rc.requests()
		if len(reqs) != 1 {
			t.Fatalf("requests = %d, want 1", len(reqs))
		}
		r := reqs[0]
		mustVerify(t, secret, r, env.Clock.Now())
		if r.Path != "/hook" || r.Header.Get("webhook-id") != before.EventID || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("request %s headers %v, want /hook with webhook-id %s", r.Path, r.Header, before.EventID)
		}
		var body struct {
			Event     string         `json:"event"`
			Data      map[string]any `json:"data"`
			Timestamp string         `json:"timestamp"`
		}
		dec := json.NewDecoder(bytes.NewReader(r.Body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			t.Fatalf("body %s: %v", r.Body, err)
		}
		if body.Event != "wallet.address_changed" || body.Timestamp != "2026-02-09T12:00:00.000Z" || body.Data["newAddress"] == nil {
			t.Errorf("body = %s", r.Body)
		}
		after := only(t, env, a.ID)
		if after.Status != justpay.WebhookDelivered || after.Attempts != 1 || after.LastStatusCode != 200 || after.LastError != "" ||
			after.NextAttemptAt != nil || after.DeliveredAt == nil {
			t.Errorf("delivery after: %+v", after)
		}
	})
}

// TestNoURLNoDelivery: an event whose recipient has no URL is recorded but not delivered.
func TestNoURLNoDelivery(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		env := sqlstoretest.NewEnv(t, b)
		a, _ := hooked(t, env, "quiet-agent", "")
		changeAddress(t, env, a.ID)
		events, err := env.DB.FindEvents(context.Background(), a.ID)
		if err != nil || len(events) != 1 {
			t.Fatalf("events = %d (%v), want 1", len(events), err)
		}
		if got := deliveries(t, env, a.ID); len(got) != 0 {
			t.Errorf("deliveries = %d, want 0", len(got))
		}
	})
}

// TestRetrySchedule: a receiver failing three times then succeeding gets exactly four attempts,
// at 0, 1, 5 and 21 seconds, each with the same webhook-id and body; one that always fails gets
// six (0, 1, 5, 21, 85, 341 s) and the delivery is failed.
func TestRetrySchedule(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		env := sqlstoretest.NewEnv(t, b)
		flaky := newReceiver(t, answer(500, 502, 404, 204))
		dead := newReceiver(t, answer(500))
		d := newDispatcher(t, env, webhook.Policy{AllowLoopback: true})
		fa, fsecret := hooked(t, env, "flaky-agent", flaky.URL)
		da, _ := hooked(t, env, "dead-agent", dead.URL)
		start := env.Clock.Now()
		changeAddress(t, env, fa.ID)
		changeAddress(t, env, da.ID)

		// Just before each retry is due nothing happens; at the time it happens.
		for _, at := range []time.Duration{0, time.Second - time.Millisecond, time.Second, 5*time.Second - time.Millisecond,
			5 * time.Second, 21*time.Second - time.Millisecond, 21 * time.Second} {
			stepTo(t, env, d, start, at)
		}
		got := only(t, env, fa.ID)
		if got.Status != justpay.WebhookDelivered || got.Attempts != 4 || got.LastStatusCode != 204 {
			t.Fatalf("flaky delivery: %+v, want delivered after 4 attempts", got)
		}
		for _, at := range []time.Duration{85*time.Second - time.Millisecond, 85 * time.Second, 341*time.Second - time.Millisecond,
			341 * time.Second, time.Hour, 48 * time.Hour} {
			stepTo(t, env, d, start, at)
		}

		reqs := flaky.requests()
		if want := []time.Duration{0, time.Second, 5 * time.Second, 21 * time.Second}; !equalDurations(stamps(reqs, start), want) {
			t.Errorf("flaky attempts at %v, want %v", stamps(reqs, start), want)
		}
		for _, r := range reqs {
			if r.Header.Get("webhook-id") != got.EventID || !bytes.Equal(r.Body, reqs[0].Body) {
				t.Errorf("attempt with webhook-id %s body %s, want %s and the first body", r.Header.Get("webhook-id"), r.Body, got.EventID)
			}
			ts, _ := strconv.ParseInt(r.Header.Get("webhook-timestamp"), 10, 64)
			mustVerify(t, fsecret, r, time.Unix(ts, 0))
		}

		deadReqs := dead.requests()
		if want := []time.Duration{0, time.Second, 5 * time.Second, 21 * time.Second, 85 * time.Second, 341 * time.Second}; !equalDurations(stamps(deadReqs, start), want) {
			t.Errorf("dead attempts at %v, want %v", stamps(deadReqs, start), want)
		}
		failed := only(t, env, da.ID)
		if failed.Status != justpay.WebhookFailed || failed.Attempts != 6 || failed.LastStatusCode != 500 || failed.LastError != "HTTP 500" ||
			failed.NextAttemptAt != nil || failed.DeliveredAt != nil {
			t.Errorf("dead delivery: %+v, want failed after 6 attempts", failed)
		}
	})
}

// TestRetryAfter: a 429 or 503 with Retry-After (seconds or an HTTP date) delays the next attempt
// when it asks for longer than the schedule, up to an hour; other statuses' Retry-After is ignored.
func TestRetryAfter(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		env := sqlstoretest.NewEnv(t, b)
		start := env.Clock.Now()
		script := []func(w http.ResponseWriter){
			func(w http.ResponseWriter) { w.Header().Set("Retry-After", "30"); w.WriteHeader(429) },
			func(w http.ResponseWriter) {
				w.Header().Set("Retry-After", start.Add(30*time.Second+2*time.Minute).UTC().Format(http.TimeFormat))
				w.WriteHeader(503)
			},
			func(w http.ResponseWriter) { w.Header().Set("Retry-After", "999999"); w.WriteHeader(429) },
			func(w http.ResponseWriter) { w.Header().Set("Retry-After", "600"); w.WriteHeader(500) },
			func(w http.ResponseWriter) { w.Header().Set("Retry-After", "1"); w.WriteHeader(503) }, // shorter than 256 s: the schedule wins
			func(w http.ResponseWriter) { w.WriteHeader(200) },
		}
		rc := newReceiver(t, func(n int, w http.ResponseWriter) { script[min(n, len(script))-1](w) })
		d := newDispatcher(t, env, webhook.Policy{AllowLoopback: true})
		a, _ := hooked(t, env, "busy-agent", rc.URL)
		changeAddress(t, env, a.ID)
		want := []time.Duration{0, 30 * time.Second, 150 * time.Second, 150*time.Second + time.Hour,
			150*time.Second + time.Hour + 64*time.Second, 150*time.Second + time.Hour + 64*time.Second + 256*time.Second}
		for i, at := range want {
			if i > 0 {
				stepTo(t, env, d, start, at-time.Millisecond)
			}
			stepTo(t, env, d, start, at)
			if n := len(rc.requests()); n != i+1 {
				t.Fatalf("at %v: %d requests, want %d", at, n, i+1)
			}
		}
		if got := stamps(rc.requests(), start); !equalDurations(got, want) {
			t.Errorf("attempts at %v, want %v", got, want)
		}
		if got := only(t, env, a.ID); got.Status != justpay.WebhookDelivered || got.Attempts != 6 {
			t.Errorf("delivery %+v, want delivered at the 6th attempt", got)
		}
	})
}

// TestRedirectNotFollowed: a 302 is a failed attempt; its target is never requested.
func TestRedirectNotFollowed(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		env := sqlstoretest.NewEnv(t, b)
		var rc *receiver
		rc = newReceiver(t, func(n int, w http.ResponseWriter) {
			w.Header().Set("Location", rc.URL+"/elsewhere")
			w.WriteHeader(http.StatusFound)
		})
		d := newDispatcher(t, env, webhook.Policy{AllowLoopback: true})
		a, _ := hooked(t, env, "moved-agent", rc.URL+"/hook")
		changeAddress(t, env, a.ID)
		mustRunOnce(t, d)
		reqs := rc.requests()
		if len(reqs) != 1 || reqs[0].Path != "/hook" {
			t.Fatalf("requests = %+v, want one to /hook", reqs)
		}
		got := only(t, env, a.ID)
		if got.Status != justpay.WebhookPending || got.Attempts != 1 || got.LastStatusCode != 302 || !strings.Contains(got.LastError, "redirect") {
			t.Errorf("delivery %+v, want a failed attempt with 302", got)
		}
	})
}

// TestErrorsSanitized: what a receiver says in its body is never stored; transport failures are
// described in a few fixed words.
func TestErrorsSanitized(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		env := sqlstoretest.NewEnv(t, b)
		rc := newReceiver(t, func(n int, w http.ResponseWriter) {
			w.WriteHeader(500)
			w.Write([]byte(strings.Repeat("secret internal stack trace ", 10000)))
		})
		d := newDispatcher(t, env, webhook.Policy{AllowLoopback: true})
		a, _ := hooked(t, env, "leaky-agent", rc.URL)
		changeAddress(t, env, a.ID)
		closed, _ := hooked(t, env, "closed-agent", "http://127.0.0.1:1/hook")
		changeAddress(t, env, closed.ID)
		nowhere, _ := hooked(t, env, "nowhere-agent", "http://no-such-host.invalid/hook")
		changeAddress(t, env, nowhere.ID)
		mustRunOnce(t, d)
		for id, want := range map[string]string{a.ID: "HTTP 500", closed.ID: "connection refused", nowhere.ID: "could not be resolved"} {
			got := only(t, env, id)
			if !strings.Contains(got.LastError, want) || strings.Contains(got.LastError, "secret") || strings.Contains(got.LastError, "127.0.0.1") {
				t.Errorf("last error %q, want %q and nothing from the receiver or the address", got.LastError, want)
			}
		}
	})
}

// TestLeaseFencing: a claimed delivery is nobody else's until its lease runs out; an attempt that
// left no outcome (a crash) is made again after the lease with the same webhook-id and is not
// counted; an outcome reported under a lost lease is dropped.
func TestLeaseFencing(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		env := sqlstoretest.NewEnv(t, b)
		a, _ := hooked(t, env, "lease-agent", "http://hooks.example.com/x")
		changeAddress(t, env, a.ID)
		first, err := env.Store.ClaimWebhookDeliveries(ctx, 10)
		if err != nil || len(first) != 1 {
			t.Fatalf("claim: %v, %d claimed, want 1", err, len(first))
		}
		if due, _ := env.Store.HasDueWebhookDeliveries(ctx); due {
			t.Error("a leased delivery is reported due")
		}
		if again, _ := env.Store.ClaimWebhookDeliveries(ctx, 10); len(again) != 0 {
			t.Fatalf("claimed a leased delivery twice")
		}
		env.Clock.Advance(justpay.WebhookLease)
		second, err := env.Store.ClaimWebhookDeliveries(ctx, 10)
		if err != nil || len(second) != 1 {
			t.Fatalf("claim after the lease: %v, %d claimed, want 1", err, len(second))
		}
		if second[0].EventID != first[0].EventID || second[0].Attempts != 0 || !second[0].Lease.After(first[0].Lease) {
			t.Errorf("reclaimed %+v after %+v: want the same event, no attempt counted, a later lease", second[0], first[0])
		}
		err = env.Store.RecordWebhookAttempt(ctx, first[0], justpay.WebhookAttempt{Delivered: true, StatusCode: 200})
		if justpay.ErrorCode(err) != justpay.ECONFLICT {
			t.Errorf("outcome under a lost lease: err = %v, want conflict", err)
		}
		if err := env.Store.RecordWebhookAttempt(ctx, second[0], justpay.WebhookAttempt{StatusCode: 500, Error: "HTTP 500"}); err != nil {
			t.Fatal(err)
		}
		if err := env.Store.RecordWebhookAttempt(ctx, second[0], justpay.WebhookAttempt{StatusCode: 500, Error: "HTTP 500"}); justpay.ErrorCode(err) != justpay.ECONFLICT {
			t.Errorf("second outcome of one attempt: err = %v, want conflict", err)
		}
		got := only(t, env, a.ID)
		if got.Status != justpay.WebhookPending || got.Attempts != 1 || !got.NextAttemptAt.Equal(env.Clock.Now().Add(time.Second)) {
			t.Errorf("delivery %+v, want pending after 1 attempt, next in 1 s", got)
		}
	})
}

// TestRedeliver: a delivered or failed delivery starts another cycle with the same webhook-id; a
// pending one is not redelivered; another agent's is not found.
func TestRedeliver(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		env := sqlstoretest.NewEnv(t, b)
		rc := newReceiver(t, nil)
		d := newDispatcher(t, env, webhook.Policy{AllowLoopback: true})
		a, _ := hooked(t, env, "again-agent", rc.URL)
		other, _ := hooked(t, env, "other-agent", rc.URL)
		changeAddress(t, env, a.ID)
		pending := only(t, env, a.ID)
		if _, err := d.RedeliverWebhook(ctx, a.ID, pending.ID); justpay.ErrorCode(err) != justpay.ECONFLICT {
			t.Errorf("redeliver pending: err = %v, want conflict", err)
		}
		mustRunOnce(t, d)
		if _, err := d.RedeliverWebhook(ctx, other.ID, pending.ID); justpay.ErrorCode(err) != justpay.ENOTFOUND {
			t.Errorf("redeliver another's: err = %v, want not found", err)
		}
		if _, err := d.RedeliverWebhook(ctx, a.ID, "nope"); justpay.ErrorCode(err) != justpay.ENOTFOUND {
			t.Errorf("redeliver malformed: err = %v, want not found", err)
		}
		env.Clock.Advance(time.Minute)
		again, err := d.RedeliverWebhook(ctx, a.ID, pending.ID)
		if err != nil || again.Status != justpay.WebhookPending || again.Attempts != 0 || !again.NextAttemptAt.Equal(env.Clock.Now()) {
			t.Fatalf("redeliver: %+v, %v", again, err)
		}
		mustRunOnce(t, d)
		reqs := rc.requests()
		if len(reqs) != 2 || reqs[0].Header.Get("webhook-id") != reqs[1].Header.Get("webhook-id") || !bytes.Equal(reqs[0].Body, reqs[1].Body) {
			t.Fatalf("requests %d, want 2 with the same webhook-id and body", len(reqs))
		}
		if got := only(t, env, a.ID); got.Status != justpay.WebhookDelivered || got.Attempts != 1 {
			t.Errorf("after redelivery: %+v", got)
		}
		// Without a URL any more there is nowhere to redeliver to.
		empty := ""
		if _, err := env.Store.UpdateAgent(ctx, a.ID, justpay.AgentUpdate{CallbackURL: &empty}); err != nil {
			t.Fatal(err)
		}
		if _, err := d.RedeliverWebhook(ctx, a.ID, pending.ID); justpay.ErrorCode(err) != justpay.ECONFLICT {
			t.Errorf("redeliver without a URL: err = %v, want conflict", err)
		}
	})
}

// TestSecretRotation: after a rotation deliveries carry a signature under each secret; a day
// later only the new one's; a second rotation drops the oldest at once. An agent registered
// without a secret gets one on its first delivery.
func TestSecretRotation(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		env := sqlstoretest.NewEnv(t, b)
		rc := newReceiver(t, nil)
		d := newDispatcher(t, env, webhook.Policy{AllowLoopback: true})
		a, first := hooked(t, env, "rotating-agent", rc.URL)
		deliver := func() received {
			t.Helper()
			changeAddress(t, env, a.ID)
			mustRunOnce(t, d)
			reqs := rc.requests()
			return reqs[len(reqs)-1]
		}
		r := deliver()
		mustVerify(t, first, r, env.Clock.Now())

		rot, err := d.RotateWebhookSecret(ctx, a.ID)
		if err != nil || rot.PreviousExpiresAt == nil || !rot.PreviousExpiresAt.Equal(env.Clock.Now().Add(24*time.Hour)) {
			t.Fatalf("rotate: %+v, %v", rot, err)
		}
		second := rot.Secret
		r = deliver()
		mustVerify(t, first, r, env.Clock.Now())
		mustVerify(t, second, r, env.Clock.Now())

		env.Clock.Advance(24 * time.Hour)
		r = deliver()
		mustVerify(t, second, r, env.Clock.Now())
		if verifyStandard(first, r.Header, r.Body, env.Clock.Now()) == nil || verifyJustPayAI(first, r.Header, r.Body) == nil {
			t.Error("the rotated-out secret still signs after a day")
		}

		rot, err = d.RotateWebhookSecret(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		rot3, err := d.RotateWebhookSecret(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		r = deliver()
		mustVerify(t, rot.Secret, r, env.Clock.Now())
		mustVerify(t, rot3.Secret, r, env.Clock.Now())
		if verifyStandard(second, r.Header, r.Body, env.Clock.Now()) == nil {
			t.Error("a secret rotated out twice still signs")
		}
		if n := len(strings.Fields(r.Header.Get("webhook-signature"))); n != 2 {
			t.Errorf("signatures = %d, want 2", n)
		}

		// Registered without a secret: deliveries are still signed, with one made on first use,
		// and the first rotation shows a secret that verifies.
		lazy, _, _, err := env.Store.RegisterAgent(ctx, justpay.AgentRegistration{Name: "lazy-agent", CallbackURL: rc.URL})
		if err != nil {
			t.Fatal(err)
		}
		changeAddress(t, env, lazy.ID)
		changeAddress(t, env, lazy.ID)
		mustRunOnce(t, d)
		reqs := rc.requests()
		if sig := reqs[len(reqs)-1].Header.Get("webhook-signature"); !strings.HasPrefix(sig, "v1,") {
			t.Errorf("lazy agent's delivery signature %q", sig)
		}
		lrot, err := d.RotateWebhookSecret(ctx, lazy.ID)
		if err != nil {
			t.Fatal(err)
		}
		changeAddress(t, env, lazy.ID)
		mustRunOnce(t, d)
		reqs = rc.requests()
		mustVerify(t, lrot.Secret, reqs[len(reqs)-1], env.Clock.Now())
	})
}

// TestTestWebhook: a signed ping to the agent's URL, reported; 409 without a URL.
func TestTestWebhook(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		env := sqlstoretest.NewEnv(t, b)
		rc := newReceiver(t, answer(200, 503))
		d := newDispatcher(t, env, webhook.Policy{AllowLoopback: true})
		a, secret := hooked(t, env, "ping-agent", rc.URL+"/ping")
		res, err := d.TestWebhook(ctx, a.ID)
		if err != nil || !res.Attempt.Delivered || res.Attempt.StatusCode != 200 || res.URL != rc.URL+"/ping" {
			t.Fatalf("ping: %+v, %v", res, err)
		}
		reqs := rc.requests()
		mustVerify(t, secret, reqs[0], env.Clock.Now())
		if !bytes.Contains(reqs[0].Body, []byte(`"event":"ping"`)) || reqs[0].Header.Get("webhook-id") != res.WebhookID {
			t.Errorf("ping request %s %v", reqs[0].Body, reqs[0].Header)
		}
		if res, err := d.TestWebhook(ctx, a.ID); err != nil || res.Attempt.Delivered || res.Attempt.StatusCode != 503 {
			t.Errorf("ping to a failing receiver: %+v, %v", res, err)
		}
		quiet, _ := hooked(t, env, "no-url-agent", "")
		if _, err := d.TestWebhook(ctx, quiet.ID); justpay.ErrorCode(err) != justpay.ECONFLICT {
			t.Errorf("ping without a URL: err = %v, want conflict", err)
		}
		if got := deliveries(t, env, a.ID); len(got) != 0 {
			t.Errorf("a ping left %d deliveries", len(got))
		}
	})
}

// TestTwoDispatchers runs two dispatchers, each on its own connection pool to one database, as two
// servers would: every event is delivered exactly once and no attempt is ever made by both at once.
func TestTwoDispatchers(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		clock := sqlstoretest.NewClock()
		cfg := sqlstoretest.Config(t, b, clock)
		key := make([]byte, vault.KeySize)
		rand.Read(key)
		v, err := vault.New(key)
		if err != nil {
			t.Fatal(err)
		}
		var stores []*sqlstore.Store
		for range 2 {
			db, err := sqlstore.Open(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			stores = append(stores, sqlstore.NewStore(db, sqlstore.StoreConfig{Chain: devchain.New(db, clock), Sealer: v,
				HashPassword: func(p string) (string, error) {
					return argon2id.HashWith(p, argon2id.Params{Memory: 64, Time: 1, Threads: 1})
				},
				Schemas: jsonschema.New()}))
		}
		env := &sqlstoretest.Env{DB: stores[0].DB, Store: stores[0], Chain: devchain.New(stores[0].DB, clock), Clock: clock}

		var mu sync.Mutex
		inFlight := map[string]int{}
		count := map[string]int{}
		var overlaps atomic.Int64
		rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := r.Header.Get("webhook-id")
			mu.Lock()
			inFlight[id]++
			count[id]++
			if inFlight[id] > 1 {
				overlaps.Add(1)
			}
			mu.Unlock()
			time.Sleep(2 * time.Millisecond)
			mu.Lock()
			inFlight[id]--
			mu.Unlock()
		}))
		t.Cleanup(rc.Close)

		const agents, perAgent = 4, 25
		var ids []string
		for i := range agents {
			a, _ := hooked(t, env, "pool-agent-"+strconv.Itoa(i), rc.URL)
			ids = append(ids, a.ID)
			for range perAgent {
				changeAddress(t, env, a.ID)
			}
		}
		runCtx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for _, s := range stores {
			d, err := webhook.NewDispatcher(webhook.Config{Store: s, Clock: clock, Client: mustClient(t, webhook.Policy{AllowLoopback: true}),
				Workers: 4, Interval: 5 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			wg.Go(func() { d.Run(runCtx) })
		}
		deadline := time.Now().Add(60 * time.Second)
		for {
			mu.Lock()
			done := len(count)
			mu.Unlock()
			if done == agents*perAgent {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after 60 s, %d of %d events delivered", done, agents*perAgent)
			}
			time.Sleep(20 * time.Millisecond)
		}
		stop()
		wg.Wait()
		for id, n := range count {
			if n != 1 {
				t.Errorf("webhook-id %s delivered %d times, want 1", id, n)
			}
		}
		for _, id := range ids {
			for _, dl := range deliveries(t, env, id) {
				if dl.Status != justpay.WebhookDelivered || dl.Attempts != 1 {
					t.Errorf("delivery %+v, want delivered at the first attempt", dl)
				}
			}
		}
		if n := overlaps.Load(); n != 0 {
			t.Errorf("%d attempts overlapped another of the same delivery", n)
		}
	})
}
