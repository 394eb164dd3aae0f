package httpapi_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/justpay/justpay"
	"github.com/justpay/justpay/httpapi"
	"github.com/justpay/justpay/sqlstore/sqlstoretest"
	"github.com/justpay/justpay/webhook"
)

// newTestDispatcher is the webhook dispatcher of the test servers: over env's store and clock,
// allowed to reach loopback, where the tests run their receivers. Tests drive it with RunOnce.
func newTestDispatcher(tb testing.TB, env *sqlstoretest.Env) *webhook.Dispatcher {
	tb.Helper()
	client, err := webhook.NewClient(webhook.Policy{AllowLoopback: true})
	if err != nil {
		tb.Fatal(err)
	}
	d, err := webhook.NewDispatcher(webhook.Config{Store: env.Store, Clock: env.Clock, Client: client})
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// hookRequest is one request a hookReceiver got.
type hookRequest struct {
	Path   string
	Header http.Header
	Body   []byte
}

// hookReceiver is a webhook receiver on loopback: it records every request and answers status.
type hookReceiver struct {
	*httptest.Server
	mu     sync.Mutex
	reqs   []hookRequest
	status int
}

func newHookReceiver(tb testing.TB) *hookReceiver {
	tb.Helper()
	h := &hookReceiver{status: http.StatusOK}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.reqs = append(h.reqs, hookRequest{Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
		status := h.status
		h.mu.Unlock()
		w.WriteHeader(status)
	}))
	tb.Cleanup(h.Close)
	return h
}

func (h *hookReceiver) requests() []hookRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.reqs)
}

func (h *hookReceiver) answer(status int) {
	h.mu.Lock()
	h.status = status
	h.mu.Unlock()
}

// hookedAgent registers an agent through the API with callbackUrl url, keeps the webhook secret
// the registration shows, and funds it with amount (at least 1 USDC, which activates it).
func (a *api) hookedAgent(tb testing.TB, name, url string, amount int64) (agent, string) {
	tb.Helper()
	got := a.must(tb, http.StatusCreated, "POST", "/api/v1/auth/register", "", map[string]any{"name": name, "callbackUrl": url})
	ag := agent{ID: str(got["agentId"]), Key: str(got["apiKey"]), Deposit: str(got["walletAddress"])}
	secret := str(got["webhookSecret"])
	if _, err := justpay.WebhookSecretKey(secret); err != nil || len(secret) != len("whsec_")+44 {
		tb.Fatalf("webhookSecret %q: want whsec_ and the base64 of 32 bytes", secret)
	}
	if amount > 0 {
		if got := a.deposit(tb, ag, sqlstoretest.NewWallet(tb), amount); got["activated"] != true {
			tb.Fatalf("deposit did not activate %s: %v", name, got)
		}
	}
	return ag, secret
}

// runWebhooks attempts every due delivery.
func (a *api) runWebhooks(tb testing.TB) {
	tb.Helper()
	if err := a.Webhooks.RunOnce(context.Background()); err != nil {
		tb.Fatalf("deliver webhooks: %v", err)
	}
}

// standardWebhookValid checks a request the way a receiver following the Standard Webhooks
// specification does, written from its description rather than with the package's signer:
// base64(HMAC-SHA256(key, "<webhook-id>.<webhook-timestamp>.<body>")) among the space-separated
// "v1,<signature>" entries, where the key is the base64 after "whsec_".
func standardWebhookValid(secret string, r hookRequest) bool {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(r.Header.Get("webhook-id") + "." + r.Header.Get("webhook-timestamp") + "."))
	m.Write(r.Body)
	want := "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
	return slices.Contains(strings.Fields(r.Header.Get("webhook-signature")), want)
}

// TestWebhookEveryEvent drives every kind of event through the API and checks that each event
// recorded reaches its recipient's receiver exactly once, signed, at the right URL: the job's
// callbackUrl for its client, the campaign's for its owner, the agent's otherwise.
func TestWebhookEveryEvent(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.RateLimits{})
		rc := newHookReceiver(t)
		client, clientSecret := a.hookedAgent(t, "wh-client", rc.URL+"/client", 5*usdc)
		provider, providerSecret := a.hookedAgent(t, "wh-provider", rc.URL+"/provider", 2*usdc)
		worker, workerSecret := a.hookedAgent(t, "wh-worker", rc.URL+"/worker", 2*usdc)
		owner, ownerSecret := a.hookedAgent(t, "wh-owner", rc.URL+"/owner", 5*usdc)
		names := map[string]string{client.ID: "client", provider.ID: "provider", worker.ID: "worker", owner.ID: "owner"}
		secrets := map[string]string{client.ID: clientSecret, provider.ID: providerSecret, worker.ID: workerSecret, owner.ID: ownerSecret}

		// wallet.address_changed: the first address records nothing, the change does.
		for range 2 {
			a.must(t, http.StatusOK, "PUT", "/api/v1/wallet/withdrawal-address", client.Key, map[string]any{"address": sqlstoretest.NewWallet(t)})
		}

		// A direct job with its own callbackUrl: created, accepted, delivered, completed.
		svc := a.createService(t, provider, map[string]any{"autoAccept": false})
		output := map[string]any{"output": map[string]any{"bullets": []string{"one"}}}
		withURL := directJob(svc)
		withURL["callbackUrl"] = rc.URL + "/client-job"
		hooked := str(a.createJob(t, client, withURL)["id"])
		a.must(t, http.StatusOK, "POST", jobPath(hooked, "accept"), provider.Key, nil)
		a.must(t, http.StatusOK, "POST", jobPath(hooked, "deliver"), provider.Key, output)
		a.must(t, http.StatusOK, "POST", jobPath(hooked, "accept-delivery"), client.Key, nil)

		// Cancelled, and expired.
		cancelled := str(a.createJob(t, client, directJob(svc))["id"])
		a.must(t, http.StatusOK, "POST", jobPath(cancelled, "cancel"), client.Key, nil)
		str(a.createJob(t, client, directJob(svc))["id"])
		a.must(t, http.StatusOK, "POST", "/dev/clock/advance", "", map[string]any{"seconds": 301})

		// An open job: assigned, delivered, disputed, resolved.
		open := str(a.createJob(t, client, openJob(200000, nil))["id"])
		app := str(a.must(t, http.StatusCreated, "POST", jobPath(open, "apply"), provider.Key, map[string]any{"message": "me"})["id"])
		a.must(t, http.StatusOK, "POST", jobPath(open, "applications", app, "accept"), client.Key, nil)
		a.must(t, http.StatusOK, "POST", jobPath(open, "deliver"), provider.Key, map[string]any{"output": map[string]any{"logo": "x"}})
		dispute := str(a.must(t, http.StatusCreated, "POST", jobPath(open, "dispute"), client.Key,
			map[string]any{"reason": "quality", "description": "not a logo"})["id"])
		a.must(t, http.StatusOK, "POST", "/api/v1/admin/disputes/"+dispute+"/resolve", adminToken, map[string]any{"outcome": "split", "note": "half"})

		// A reviewed campaign with its own callbackUrl: tasks accepted, rejected, expired; then
		// cancelled.
		reviewed := a.createCampaign(t, owner, campaignBody(map[string]any{"autoAccept": false, "maxPerAgent": 3,
			"maxExecutionTimeSecs": 30, "callbackUrl": rc.URL + "/owner-campaign"}))
		tweet := map[string]any{"output": map[string]any{"tweet_url": "https://x.com/a/status/1"}}
		task := a.claim(t, worker, reviewed)
		a.must(t, http.StatusOK, "POST", taskPath(reviewed, task, "deliver"), worker.Key, tweet)
		a.must(t, http.StatusOK, "POST", taskPath(reviewed, task, "accept"), owner.Key, nil)
		task = a.claim(t, worker, reviewed)
		a.must(t, http.StatusOK, "POST", taskPath(reviewed, task, "deliver"), worker.Key, tweet)
		a.must(t, http.StatusOK, "POST", taskPath(reviewed, task, "reject"), owner.Key, map[string]any{"reason": "no hashtag"})
		a.claim(t, worker, reviewed)
		a.must(t, http.StatusOK, "POST", "/dev/clock/advance", "", map[string]any{"seconds": 31})
		a.must(t, http.StatusOK, "POST", campaignPath(reviewed, "cancel"), owner.Key, nil)

		// A one-task campaign completes; another ends after its day.
		single := a.createCampaign(t, owner, minimalCampaign(map[string]any{"autoAccept": true}))
		task = a.claim(t, worker, single)
		a.must(t, http.StatusOK, "POST", taskPath(single, task, "deliver"), worker.Key, tweet)
		a.createCampaign(t, owner, minimalCampaign(map[string]any{"durationDays": 1}))
		a.must(t, http.StatusOK, "POST", "/dev/clock/advance", "", map[string]any{"seconds": 86400})

		a.runWebhooks(t)
		a.runWebhooks(t)
		reqs := rc.requests()
		byID := map[string][]hookRequest{}
		for _, r := range reqs {
			byID[r.Header.Get("webhook-id")] = append(byID[r.Header.Get("webhook-id")], r)
		}
		seen := map[string]bool{}
		total := 0
		for id, name := range names {
			events, err := a.DB.FindEvents(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			total += len(events)
			for _, ev := range events {
				seen[ev.Type] = true
				path := "/" + name
				switch {
				case ev.Data["jobId"] == hooked && id == client.ID:
					path = "/client-job"
				case ev.Data["campaignId"] == reviewed && id == owner.ID:
					path = "/owner-campaign"
				}
				got := byID[ev.ID]
				if len(got) != 1 {
					t.Errorf("%s %s for %s: %d requests, want 1", ev.Type, ev.ID, name, len(got))
					continue
				}
				r := got[0]
				var body struct {
					Event     string         `json:"event"`
					Data      map[string]any `json:"data"`
					Timestamp string         `json:"timestamp"`
				}
				if err := json.Unmarshal(r.Body, &body); err != nil {
					t.Fatalf("body %s: %v", r.Body, err)
				}
				if r.Path != path || body.Event != ev.Type || body.Timestamp != ev.CreatedAt.Format("2006-01-02T15:04:05.000Z07:00") {
					t.Errorf("%s for %s: went to %s as %s at %s, want %s as %s at %s", ev.Type, name, r.Path, body.Event, body.Timestamp,
						path, ev.Type, ev.CreatedAt)
				}
				if !standardWebhookValid(secrets[id], r) {
					t.Errorf("%s for %s: signature does not verify with the agent's secret", ev.Type, name)
				}
				if ev.Type == "wallet.address_changed" && body.Data["changedAt"] != body.Timestamp {
					t.Errorf("wallet.address_changed: changedAt %v, want the event's time %s written as the API writes times", body.Data["changedAt"], body.Timestamp)
				}
				if ev.Type == "job.created" && body.Data["clientReputation"] == nil && body.Data["jobId"] == hooked {
					t.Errorf("job.created without clientReputation: %s", r.Body)
				}
			}
		}
		if len(reqs) != total {
			t.Errorf("requests = %d, events = %d: want one request per event", len(reqs), total)
		}
		for _, typ := range []string{"wallet.address_changed", "job.created", "job.assigned", "job.delivered", "job.completed",
			"job.cancelled", "job.expired", "job.disputed", "job.dispute_resolved", "campaign.task_claimed", "campaign.task_delivered",
			"campaign.task_accepted", "campaign.task_rejected", "campaign.task_expired", "campaign.completed", "campaign.ended",
			"campaign.cancelled"} {
			if !seen[typ] {
				t.Errorf("no %s event was recorded", typ)
			}
		}

		// The provider's deliveries as the API shows them.
		got := a.must(t, http.StatusOK, "GET", "/api/v1/webhooks/deliveries?limit=100", provider.Key, nil)
		list := got["deliveries"].([]any)
		events, _ := a.DB.FindEvents(context.Background(), provider.ID)
		if len(list) != len(events) || got["pagination"].(map[string]any)["total"] != float64(len(events)) {
			t.Fatalf("provider deliveries = %d, events = %d", len(list), len(events))
		}
		for _, x := range list {
			d := x.(map[string]any)
			wantFields(t, d, map[string]any{"status": "delivered", "attempts": float64(1), "lastStatusCode": float64(200),
				"lastError": nil, "nextRetryAt": nil, "url": rc.URL + "/provider"})
		}
	})
}

// webhookDeliveryFields are the fields of a delivery, sorted.
var webhookDeliveryFields = []string{"attempts", "createdAt", "deliveredAt", "event", "eventId", "id", "lastError",
	"lastStatusCode", "nextRetryAt", "status", "updatedAt", "url"}

func wantDelivery(want map[string]any) func(t *testing.T, r response) {
	return func(t *testing.T, r response) {
		t.Helper()
		if got := sortedKeys(r.JSON); !slices.Equal(got, webhookDeliveryFields) {
			t.Errorf("delivery fields = %v, want %v", got, webhookDeliveryFields)
		}
		wantFields(t, r.JSON, want)
	}
}

// TestStatusWebhooks is the status matrix of the webhook routes.
func TestStatusWebhooks(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.RateLimits{})
		rc := newHookReceiver(t)
		ag, secret := a.hookedAgent(t, "status-hooks", rc.URL+"/hook", 0)
		other, _ := a.hookedAgent(t, "status-other", rc.URL+"/other", 0)
		quiet := a.register(t, "status-quiet")
		setAddress := func() {
			a.must(t, http.StatusOK, "PUT", "/api/v1/wallet/withdrawal-address", ag.Key, map[string]any{"address": sqlstoretest.NewWallet(t)})
		}
		setAddress()
		setAddress()
		setAddress()
		list := a.must(t, http.StatusOK, "GET", "/api/v1/webhooks/deliveries", ag.Key, nil)["deliveries"].([]any)
		if len(list) != 2 {
			t.Fatalf("deliveries = %d, want 2", len(list))
		}
		newest, oldest := list[0].(map[string]any), list[1].(map[string]any)
		now := a.Clock.Now()
		deliveries := "/api/v1/webhooks/deliveries"
		redeliver := func(id string) string { return deliveries + "/" + id + "/redeliver" }
		var rotated string

		a.table(t, nil, []statusCase{
			{name: "ListOK", method: "GET", path: deliveries + "?limit=1", key: ag.Key, want: http.StatusOK, check: func(t *testing.T, r response) {
				wantFields(t, r.JSON, map[string]any{"pagination": map[string]any{"page": float64(1), "limit": float64(1), "total": float64(2), "totalPages": float64(2)}})
				wantDelivery(map[string]any{"id": newest["id"], "event": "wallet.address_changed", "url": rc.URL + "/hook", "status": "pending",
					"attempts": float64(0), "lastStatusCode": nil, "lastError": nil, "nextRetryAt": at(now, 0), "deliveredAt": nil,
					"createdAt": at(now, 0)})(t, response{JSON: r.JSON["deliveries"].([]any)[0].(map[string]any)})
			}},
			{name: "ListOKStatus", method: "GET", path: deliveries + "?status=delivered", key: ag.Key, want: http.StatusOK, check: func(t *testing.T, r response) {
				wantFields(t, r.JSON, map[string]any{"deliveries": []any{}})
			}},
			{name: "ListOKOtherSeesOwn", method: "GET", path: deliveries, key: other.Key, want: http.StatusOK, check: func(t *testing.T, r response) {
				wantFields(t, r.JSON, map[string]any{"deliveries": []any{}})
			}},
			{name: "ListErrInvalidStatus", method: "GET", path: deliveries + "?status=lost", key: ag.Key, want: http.StatusBadRequest, check: wantError("status")},
			{name: "ListErrInvalidPage", method: "GET", path: deliveries + "?page=0", key: ag.Key, want: http.StatusBadRequest},
			{name: "ListErrUnauthorized", method: "GET", path: deliveries, want: http.StatusUnauthorized},
			{name: "RedeliverErrConflictPending", method: "POST", path: redeliver(str(newest["id"])), key: ag.Key, want: http.StatusConflict, check: wantError("pending")},
			{name: "Deliver", method: "POST", path: "/dev/clock/advance", body: map[string]any{"seconds": 1}, want: http.StatusOK, check: func(t *testing.T, r response) {
				a.runWebhooks(t)
				reqs := rc.requests()
				if len(reqs) != 2 || !standardWebhookValid(secret, reqs[0]) || !standardWebhookValid(secret, reqs[1]) {
					t.Fatalf("receiver got %d requests, want 2 signed ones", len(reqs))
				}
			}},
			{name: "RedeliverErrNotFoundOther", method: "POST", path: redeliver(str(newest["id"])), key: other.Key, want: http.StatusNotFound},
			{name: "RedeliverErrNotFoundUnknown", method: "POST", path: redeliver(unknownID), key: ag.Key, want: http.StatusNotFound},
			{name: "RedeliverErrNotFoundMalformed", method: "POST", path: redeliver("nope"), key: ag.Key, want: http.StatusNotFound},
			{name: "RedeliverErrInvalidBody", method: "POST", path: redeliver(str(oldest["id"])), key: ag.Key, body: `{"now":true}`, want: http.StatusBadRequest},
			{name: "RedeliverErrUnauthorized", method: "POST", path: redeliver(str(oldest["id"])), want: http.StatusUnauthorized},
			{name: "RedeliverOK", method: "POST", path: redeliver(str(oldest["id"])), key: ag.Key, want: http.StatusAccepted,
				check: wantDelivery(map[string]any{"id": oldest["id"], "eventId": oldest["eventId"], "status": "pending", "attempts": float64(0),
					"lastStatusCode": float64(200), "nextRetryAt": at(now, time.Second)})},
			{name: "Redelivered", method: "GET", path: deliveries + "?status=delivered", key: ag.Key, want: http.StatusOK, check: func(t *testing.T, r response) {
				a.runWebhooks(t)
				reqs := rc.requests()
				if len(reqs) != 3 || reqs[2].Header.Get("webhook-id") != str(oldest["eventId"]) {
					t.Fatalf("receiver got %d requests, want a third with webhook-id %s", len(reqs), oldest["eventId"])
				}
			}},
			{name: "TestOK", method: "POST", path: "/api/v1/webhooks/test", key: ag.Key, want: http.StatusOK, check: func(t *testing.T, r response) {
				wantFields(t, r.JSON, map[string]any{"url": rc.URL + "/hook", "event": "ping", "delivered": true, "statusCode": float64(200), "error": nil})
				reqs := rc.requests()
				last := reqs[len(reqs)-1]
				if last.Header.Get("webhook-id") != str(r.JSON["webhookId"]) || !standardWebhookValid(secret, last) || !strings.Contains(string(last.Body), `"event":"ping"`) {
					t.Errorf("ping request %s %v", last.Body, last.Header)
				}
			}},
			{name: "TestOKOther", method: "POST", path: "/api/v1/webhooks/test", key: other.Key, want: http.StatusOK, check: func(t *testing.T, r response) {
				wantFields(t, r.JSON, map[string]any{"delivered": true})
			}},
			{name: "TestErrConflictNoURL", method: "POST", path: "/api/v1/webhooks/test", key: quiet.Key, want: http.StatusConflict, check: wantError("callbackUrl")},
			{name: "TestErrInvalidBody", method: "POST", path: "/api/v1/webhooks/test", key: ag.Key, body: `[]`, want: http.StatusBadRequest},
			{name: "TestErrUnauthorized", method: "POST", path: "/api/v1/webhooks/test", want: http.StatusUnauthorized},
			{name: "RotateOK", method: "POST", path: "/api/v1/webhooks/secret/rotate", key: ag.Key, want: http.StatusOK, check: func(t *testing.T, r response) {
				rotated = str(r.JSON["webhookSecret"])
				if !strings.HasPrefix(rotated, "whsec_") || rotated == secret {
					t.Errorf("webhookSecret %q", rotated)
				}
				wantFields(t, r.JSON, map[string]any{"previousSecretExpiresAt": at(a.Clock.Now(), 24*time.Hour)})
			}},
			{name: "RotateOKWithoutURL", method: "POST", path: "/api/v1/webhooks/secret/rotate", key: quiet.Key, want: http.StatusOK, check: func(t *testing.T, r response) {
				wantFields(t, r.JSON, map[string]any{"previousSecretExpiresAt": at(a.Clock.Now(), 24*time.Hour)}) // registration made the first
			}},
			{name: "RotateErrUnauthorized", method: "POST", path: "/api/v1/webhooks/secret/rotate", want: http.StatusUnauthorized},
			{name: "TestSignedWithBoth", method: "POST", path: "/api/v1/webhooks/test", key: ag.Key, want: http.StatusOK, check: func(t *testing.T, r response) {
				reqs := rc.requests()
				last := reqs[len(reqs)-1]
				if !standardWebhookValid(secret, last) || !standardWebhookValid(rotated, last) {
					t.Errorf("after a rotation, the ping must verify with both secrets: %v", last.Header)
				}
			}},
		})

		rc.answer(http.StatusInternalServerError)
		got := a.must(t, http.StatusOK, "POST", "/api/v1/webhooks/test", ag.Key, nil)
		wantFields(t, got, map[string]any{"delivered": false, "statusCode": float64(500), "error": "HTTP 500"})
	})
}
