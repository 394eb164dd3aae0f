package httpapi_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/justpay/justpay"
	"github.com/justpay/justpay/httpapi"
	"github.com/justpay/justpay/sqlstore/sqlstoretest"
)

// The status matrix of the job routes, on SQLite and (with JUSTPAY_TEST_POSTGRES) PostgreSQL:
// escrow on creation, the provider paid exactly the amount, full refunds, and the timeouts driven
// through POST /dev/clock/advance.

// jobPath is the path of a job, or of one of its actions ("accept", "applications/x/accept"...).
func jobPath(id string, action ...string) string {
	return strings.Join(append([]string{"/api/v1/jobs/" + id}, action...), "/")
}

// directJob is the body hiring a summarizer service.
func directJob(serviceID string) map[string]any {
	return map[string]any{"type": "direct", "serviceId": serviceID, "input": map[string]any{"text": "Summarize this document...", "maxBullets": 5}}
}

// openJob is the spec's example open job for amount, with the fields of over replaced (nil
// removes a field).
func openJob(amount int64, over map[string]any) map[string]any {
	body := map[string]any{
		"type":        "open",
		"title":       "Need a logo for my AI startup",
		"category":    "image-generation",
		"description": "Generate a minimalist logo with blue and white colors. Should work as favicon and social media avatar.",
		"input":       map[string]any{"style": "minimalist", "colors": []string{"blue", "white"}},
		"amount":      amount,
	}
	for k, v := range over {
		if v == nil {
			delete(body, k)
		} else {
			body[k] = v
		}
	}
	return body
}

// createJob creates a job through the API and returns it.
func (a *api) createJob(tb testing.TB, ag agent, body any) map[string]any {
	tb.Helper()
	return a.must(tb, http.StatusCreated, "POST", "/api/v1/jobs", ag.Key, body)
}

// jobFields are the fields of the job JSON, sorted, without applications.
var jobFields = []string{"acceptedAt", "amount", "applicationWindow", "callbackUrl", "category", "clientAgentId", "createdAt",
	"deliveredAt", "description", "executionTimeSecs", "expiresAt", "finishedAt", "id", "input", "output", "platformFee",
	"providerAgentId", "serviceId", "status", "title", "totalCost", "type", "updatedAt"}

// wantJob checks the shape of a job, with or without the applications block, and the given fields.
func wantJob(withApplications bool, want map[string]any) func(t *testing.T, r response) {
	return func(t *testing.T, r response) {
		t.Helper()
		fields := jobFields
		if withApplications {
			fields = append(slices.Clone(jobFields), "applications")
			slices.Sort(fields)
		}
		// The details of GET /jobs/{id} add the parties' reputation (and the dispute, if any):
		// TestStatusDisputes checks those blocks.
		got := slices.DeleteFunc(sortedKeys(r.JSON), func(k string) bool {
			return k == "clientReputation" || k == "warnings" || k == "dispute"
		})
		if !slices.Equal(got, fields) {
			t.Errorf("job fields = %v, want %v", got, fields)
		}
		wantFields(t, r.JSON, want)
	}
}

// at renders base+d in the API's time format.
func at(base time.Time, d time.Duration) string {
	return base.Add(d).UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

// balanceIs is a case checking ag's available and escrowed balances.
func balanceIs(name string, ag agent, available, escrowed string) statusCase {
	return statusCase{name: name, method: "GET", path: "/api/v1/wallet/balance", key: ag.Key, want: http.StatusOK,
		check: func(t *testing.T, r response) {
			t.Helper()
			wantFields(t, r.JSON, map[string]any{"available": available, "escrowed": escrowed})
		}}
}

// advance is a case moving the server's clock forward, which runs the due job timeouts.
func advance(name string, d time.Duration) statusCase {
	return statusCase{name: name, method: "POST", path: "/dev/clock/advance", body: map[string]any{"seconds": int64(d / time.Second)}, want: http.StatusOK}
}

// action is a POST case on a job action.
func action(name, key, path string, body any, want int, check func(*testing.T, response)) statusCase {
	return statusCase{name: name, method: "POST", path: path, key: key, body: body, want: want, check: check}
}

// otherParty is a case where the job's other party calls an action that is not theirs: the job is
// visible to them, so 403 is as right as 404.
func otherParty(name, key, path string, body any) statusCase {
	return statusCase{name: name, method: "POST", path: path, key: key, body: body, want: http.StatusNotFound, orWant: []int{http.StatusForbidden}}
}

// capture is a check that keeps the response's field k in *dst.
func capture(dst *string, k string, then func(*testing.T, response)) func(t *testing.T, r response) {
	return func(t *testing.T, r response) {
		t.Helper()
		*dst = str(r.JSON[k])
		if then != nil {
			then(t, r)
		}
	}
}

func TestStatusCreateJob(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.RateLimits{})
		client, _ := a.activated(t, "job-client", 5*usdc) // 4 USDC available
		provider, _ := a.activated(t, "job-provider", 2*usdc)
		poor, _ := a.activated(t, "job-poor", 1_200_000) // 0.2 USDC available
		idle := a.register(t, "job-idle")
		auto := a.createService(t, provider, nil)
		free := a.createService(t, provider, map[string]any{"name": "Free Summaries", "pricePerJob": 0})
		picky := a.createService(t, provider, map[string]any{"name": "Picky Summaries", "minClientTrustScore": 0.9})
		retired := a.createService(t, provider, map[string]any{"name": "Retired Summaries"})
		a.must(t, http.StatusOK, "DELETE", "/api/v1/services/"+retired, provider.Key, nil)
		single := a.createService(t, provider, map[string]any{"name": "Single Slot", "maxConcurrentJobs": 1, "queueEnabled": false})
		a.createJob(t, client, directJob(single)) // fills it
		now := a.Clock.Now()

		const path = "/api/v1/jobs"
		create := func(name string, body any, want int, check func(*testing.T, response)) statusCase {
			return statusCase{name: name, method: "POST", path: path, key: client.Key, body: body, want: want, check: check}
		}
		with := func(body map[string]any, k string, v any) map[string]any {
			out := make(map[string]any, len(body))
			for key, val := range body {
				out[key] = val
			}
			if v == nil {
				delete(out, k)
			} else {
				out[k] = v
			}
			return out
		}
		cases := []statusCase{
			balanceIs("BalanceBefore", client, "3485000", "515000"),
			create("OKDirect", directJob(auto), http.StatusCreated, wantJob(false, map[string]any{
				"type": "direct", "status": "accepted", "serviceId": auto, "title": nil, "category": "text-processing", "description": nil,
				"amount": "500000", "platformFee": "15000", "totalCost": "515000", "clientAgentId": client.ID, "providerAgentId": provider.ID,
				"input": map[string]any{"text": "Summarize this document...", "maxBullets": 5.0}, "output": nil, "callbackUrl": nil,
				"applicationWindow": nil, "executionTimeSecs": 60.0, "expiresAt": at(now, time.Minute), "acceptedAt": at(now, 0),
				"deliveredAt": nil, "finishedAt": nil, "createdAt": at(now, 0), "updatedAt": at(now, 0),
			})),
			// The client paid the amount plus 3%, held in escrow.
			balanceIs("BalanceAfterDirect", client, "2970000", "1030000"),
			create("OKDirectCallbackURL", with(directJob(free), "callbackUrl", "https://myagent.dev/job-updates"), http.StatusCreated,
				wantJob(false, map[string]any{"callbackUrl": "https://myagent.dev/job-updates", "amount": "0", "platformFee": "0", "totalCost": "0"})),
			create("OKDirectInputAnyJSON", map[string]any{"type": "direct", "serviceId": free, "input": map[string]any{"text": "x", "extra": []any{1, nil}}}, http.StatusCreated, nil),
			balanceIs("FreeJobsCostNothing", client, "2970000", "1030000"),
			create("OKOpen", openJob(300000, nil), http.StatusCreated, wantJob(true, map[string]any{
				"type": "open", "status": "open", "serviceId": nil, "title": "Need a logo for my AI startup", "category": "image-generation",
				"amount": "300000", "platformFee": "9000", "totalCost": "309000", "clientAgentId": client.ID, "providerAgentId": nil,
				"applicationWindow": 86400.0, "executionTimeSecs": 300.0, "expiresAt": at(now, 24*time.Hour), "acceptedAt": nil,
				"applications": []any{}, "input": map[string]any{"style": "minimalist", "colors": []any{"blue", "white"}},
			})),
			create("OKOpenApplicationWindowMin", openJob(1, map[string]any{"applicationWindow": 60}), http.StatusCreated,
				wantJob(true, map[string]any{"applicationWindow": 60.0, "expiresAt": at(now, time.Minute), "platformFee": "0", "totalCost": "1"})),
			create("OKOpenApplicationWindowMax", openJob(1, map[string]any{"applicationWindow": 604800}), http.StatusCreated, nil),
			balanceIs("BalanceAfterOpen", client, "2660998", "1339002"),

			create("ErrInvalidTypeMissing", with(directJob(auto), "type", nil), http.StatusBadRequest, wantError("type")),
			create("ErrInvalidTypeUnknown", with(directJob(auto), "type", "campaign"), http.StatusBadRequest, wantError("type")),
			create("ErrInvalidTypeWrongCase", with(directJob(auto), "type", "Direct"), http.StatusBadRequest, wantError("type")),
			create("ErrInvalidDirectWithAmount", with(directJob(auto), "amount", 1), http.StatusBadRequest, wantError("amount", "pricePerJob")),
			create("ErrInvalidDirectWithZeroAmount", with(directJob(auto), "amount", 0), http.StatusBadRequest, wantError("amount")),
			create("ErrInvalidDirectWithTitle", with(directJob(auto), "title", "A title"), http.StatusBadRequest, wantError("title")),
			create("ErrInvalidDirectWithApplicationWindow", with(directJob(auto), "applicationWindow", 60), http.StatusBadRequest, wantError("applicationWindow")),
			create("ErrInvalidOpenWithService", openJob(1, map[string]any{"serviceId": auto}), http.StatusBadRequest, wantError("serviceId")),
			create("ErrInvalidOpenAmountZero", openJob(0, nil), http.StatusBadRequest, wantError("amount")),
			create("ErrInvalidDirectNoService", with(directJob(auto), "serviceId", nil), http.StatusBadRequest, wantError("serviceId")),
			create("ErrInvalidInputMissing", with(directJob(auto), "input", nil), http.StatusBadRequest, wantError("input")),
			create("ErrInvalidInputNull", with(directJob(auto), "input", json.RawMessage("null")), http.StatusBadRequest, wantError("input")),
			create("ErrInvalidInputAgainstSchema", with(directJob(auto), "input", map[string]any{"maxBullets": 5}), http.StatusBadRequest, wantError("input")),
			create("ErrInvalidInputWrongType", with(directJob(auto), "input", map[string]any{"text": 42}), http.StatusBadRequest, wantError("input")),
			create("ErrInvalidOpenNoAmount", openJob(0, map[string]any{"amount": nil}), http.StatusBadRequest, wantError("amount")),
			create("ErrInvalidOpenAmountNegative", openJob(0, map[string]any{"amount": json.RawMessage("-1")}), http.StatusBadRequest, wantError("amount")),
			create("ErrInvalidOpenAmountFraction", openJob(0, map[string]any{"amount": json.RawMessage("0.5")}), http.StatusBadRequest, wantError("amount")),
			create("ErrInvalidOpenAmountString", openJob(0, map[string]any{"amount": "500000"}), http.StatusBadRequest, wantError("amount")),
			create("ErrInvalidOpenAmountOverflow", openJob(0, map[string]any{"amount": json.RawMessage("99999999999999999999")}), http.StatusBadRequest, wantError("amount")),
			create("ErrInvalidOpenInputMissing", openJob(1, map[string]any{"input": nil}), http.StatusBadRequest, wantError("input")),
			create("ErrInvalidOpenTitleMissing", openJob(1, map[string]any{"title": nil}), http.StatusBadRequest, wantError("title")),
			create("ErrInvalidOpenTitleTooShort", openJob(1, map[string]any{"title": "ab"}), http.StatusBadRequest, wantError("title")),
			create("ErrInvalidOpenTitleTooLong", openJob(1, map[string]any{"title": strings.Repeat("t", 101)}), http.StatusBadRequest, wantError("title")),
			create("ErrInvalidOpenTitleNUL", openJob(1, map[string]any{"title": "a logo\u0000"}), http.StatusBadRequest, wantError("title")),
			create("ErrInvalidOpenDescriptionMissing", openJob(1, map[string]any{"description": nil}), http.StatusBadRequest, wantError("description")),
			create("ErrInvalidOpenDescriptionTooShort", openJob(1, map[string]any{"description": "too short"}), http.StatusBadRequest, wantError("description")),
			create("ErrInvalidOpenDescriptionTooLong", openJob(1, map[string]any{"description": strings.Repeat("d", 2001)}), http.StatusBadRequest, wantError("description")),
			create("ErrInvalidOpenCategoryMissing", openJob(1, map[string]any{"category": nil}), http.StatusBadRequest, wantError("category")),
			create("ErrInvalidApplicationWindowTooShort", openJob(1, map[string]any{"applicationWindow": 59}), http.StatusBadRequest, wantError("applicationWindow")),
			create("ErrInvalidApplicationWindowTooLong", openJob(1, map[string]any{"applicationWindow": 604801}), http.StatusBadRequest, wantError("applicationWindow")),
			create("ErrInvalidApplicationWindowFraction", openJob(1, map[string]any{"applicationWindow": 60.5}), http.StatusBadRequest, wantError("applicationWindow")),
			create("ErrInvalidApplicationWindowString", openJob(1, map[string]any{"applicationWindow": "3600"}), http.StatusBadRequest, wantError("applicationWindow")),
			create("ErrInvalidCallbackURL", with(directJob(auto), "callbackUrl", "ftp://x.example/hook"), http.StatusBadRequest, wantError("callbackUrl")),
			create("ErrInvalidUnknownField", with(directJob(auto), "providerAgentId", provider.ID), http.StatusBadRequest, wantError("unknown field")),
			create("ErrInvalidEmptyBody", ``, http.StatusBadRequest, nil),
			create("ErrInvalidNotAnObject", `[]`, http.StatusBadRequest, nil),
			create("ErrNotFoundUnknownService", directJob(unknownID), http.StatusNotFound, wantError("service")),
			create("ErrNotFoundMalformedService", directJob("nope"), http.StatusNotFound, wantError("service")),
			create("ErrForbiddenTrustScore", directJob(picky), http.StatusForbidden, wantError("trust score")),
			create("ErrConflictInactiveService", directJob(retired), http.StatusConflict, nil),
			create("ErrConflictServiceFull", directJob(single), http.StatusConflict, wantError("capacity")),
			{name: "ErrForbiddenOwnService", method: "POST", path: path, key: provider.Key, body: directJob(auto), want: http.StatusForbidden, money: &provider},
			{name: "ErrInsufficientFundsDirect", method: "POST", path: path, key: poor.Key, body: directJob(auto), want: http.StatusBadRequest, money: &poor},
			{name: "ErrInsufficientFundsOpen", method: "POST", path: path, key: poor.Key, body: openJob(200000, nil), want: http.StatusBadRequest, money: &poor},
			{name: "OKPoorCanAffordExactly", method: "POST", path: path, key: poor.Key, body: openJob(194175, nil), want: http.StatusCreated,
				check: wantJob(true, map[string]any{"amount": "194175", "platformFee": "5825", "totalCost": "200000"})},
			balanceIs("PoorIsEmpty", poor, "0", "200000"),
			{name: "ErrUnauthorized", method: "POST", path: path, body: directJob(auto), want: http.StatusUnauthorized},
			{name: "ErrForbiddenNotActivated", method: "POST", path: path, key: idle.Key, body: directJob(auto), want: http.StatusForbidden, money: &idle},
			balanceIs("RejectionsMovedNothing", client, "2660998", "1339002"),
		}
		a.table(t, &client, cases)

		t.Run("IdempotentReplay", func(t *testing.T) {
			count := func() any {
				return a.must(t, http.StatusOK, "GET", "/api/v1/jobs?role=client", client.Key, nil)["pagination"].(map[string]any)["total"]
			}
			before := count()
			rq := request{Method: "POST", Path: path, Key: client.Key, Body: directJob(auto), Header: hdr("Idempotency-Key", "hire-1")}
			first, second := a.send(t, rq), a.send(t, rq)
			if first.Status != http.StatusCreated || second.Status != http.StatusCreated || second.Header.Get("Idempotency-Replayed") != "true" ||
				!bytes.Equal(first.Raw, second.Raw) {
				t.Fatalf("first %d %s, second %d %s (replayed %q)", first.Status, first.Raw, second.Status, second.Raw, second.Header.Get("Idempotency-Replayed"))
			}
			if after := count(); after != before.(float64)+1 {
				t.Errorf("jobs = %v after two requests with one key, want %v", after, before.(float64)+1)
			}
			wantFields(t, a.balance(t, client), map[string]any{"available": "2145998", "escrowed": "1854002"})
			sqlstoretest.MustVerify(t, a.DB)
		})
	})
}

func TestStatusJobFlow(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.RateLimits{})
		client, _ := a.activated(t, "flow-client", 2*usdc)     // 1 USDC available
		provider, _ := a.activated(t, "flow-provider", 2*usdc) // 1 USDC available
		stranger, _ := a.activated(t, "flow-stranger", 2*usdc)
		idle := a.register(t, "flow-idle")
		manual := a.createService(t, provider, map[string]any{"autoAccept": false})
		start := a.Clock.Now()
		job := str(a.createJob(t, client, directJob(manual))["id"])
		output := map[string]any{"output": map[string]any{"bullets": []string{"Key finding 1", "Key finding 2"}}}

		a.table(t, &client, []statusCase{
			{name: "GetOKClient", method: "GET", path: jobPath(job), key: client.Key, want: http.StatusOK, check: wantJob(false, map[string]any{
				"id": job, "status": "pending", "expiresAt": at(start, 5*time.Minute), "acceptedAt": nil, "providerAgentId": provider.ID})},
			{name: "GetOKProvider", method: "GET", path: jobPath(job), key: provider.Key, want: http.StatusOK, check: wantJob(false, map[string]any{"id": job})},
			{name: "GetErrNotFoundStranger", method: "GET", path: jobPath(job), key: stranger.Key, want: http.StatusNotFound},
			{name: "GetErrNotFoundUnknown", method: "GET", path: jobPath(unknownID), key: client.Key, want: http.StatusNotFound},
			{name: "GetErrNotFoundMalformed", method: "GET", path: jobPath("nope"), key: client.Key, want: http.StatusNotFound},
			{name: "GetErrNotFoundNUL", method: "GET", path: jobPath("%00"), key: client.Key, want: http.StatusNotFound},
			{name: "GetErrUnauthorized", method: "GET", path: jobPath(job), want: http.StatusUnauthorized},
			balanceIs("Escrowed", client, "485000", "515000"),
			action("DeliverErrConflictPending", provider.Key, jobPath(job, "deliver"), output, http.StatusConflict, nil),
			action("AcceptDeliveryErrConflictNotDelivered", client.Key, jobPath(job, "accept-delivery"), nil, http.StatusConflict, nil),
			otherParty("AcceptErrClient", client.Key, jobPath(job, "accept"), nil),
			action("AcceptErrNotFoundStranger", stranger.Key, jobPath(job, "accept"), nil, http.StatusNotFound, nil),
			action("AcceptErrNotFoundUnknown", provider.Key, jobPath(unknownID, "accept"), nil, http.StatusNotFound, nil),
			action("AcceptErrInvalidBody", provider.Key, jobPath(job, "accept"), `{"now":true}`, http.StatusBadRequest, nil),
			action("AcceptErrUnauthorized", "", jobPath(job, "accept"), nil, http.StatusUnauthorized, nil),
			action("AcceptOK", provider.Key, jobPath(job, "accept"), `{}`, http.StatusOK, wantJob(false, map[string]any{
				"status": "accepted", "acceptedAt": at(start, 0), "expiresAt": at(start, time.Minute)})),
			action("AcceptErrConflictTwice", provider.Key, jobPath(job, "accept"), nil, http.StatusConflict, nil),
			action("DeliverErrInvalidNoOutput", provider.Key, jobPath(job, "deliver"), `{}`, http.StatusBadRequest, wantError("output")),
			action("DeliverErrInvalidNullOutput", provider.Key, jobPath(job, "deliver"), `{"output":null}`, http.StatusBadRequest, wantError("output")),
			action("DeliverErrInvalidNoBody", provider.Key, jobPath(job, "deliver"), nil, http.StatusBadRequest, nil),
			action("DeliverErrInvalidUnknownField", provider.Key, jobPath(job, "deliver"), `{"output":{},"status":"completed"}`, http.StatusBadRequest, wantError("unknown field")),
			action("DeliverErrInvalidAgainstSchema", provider.Key, jobPath(job, "deliver"), `{"output":{"bullets":"not a list"}}`, http.StatusBadRequest, wantError("output")),
			otherParty("DeliverErrClient", client.Key, jobPath(job, "deliver"), output),
			action("DeliverErrNotFoundStranger", stranger.Key, jobPath(job, "deliver"), output, http.StatusNotFound, nil),
			action("DeliverOK", provider.Key, jobPath(job, "deliver"), output, http.StatusOK, wantJob(false, map[string]any{
				"status": "delivered", "output": map[string]any{"bullets": []any{"Key finding 1", "Key finding 2"}},
				"deliveredAt": at(start, 0), "expiresAt": at(start, 5*time.Minute)})),
			action("DeliverErrConflictTwice", provider.Key, jobPath(job, "deliver"), output, http.StatusConflict, nil),
			action("CancelErrConflictAfterDelivery", client.Key, jobPath(job, "cancel"), nil, http.StatusConflict, nil),
			otherParty("AcceptDeliveryErrProvider", provider.Key, jobPath(job, "accept-delivery"), nil),
			action("AcceptDeliveryErrNotFoundStranger", stranger.Key, jobPath(job, "accept-delivery"), nil, http.StatusNotFound, nil),
			action("RateErrConflictNotCompleted", client.Key, jobPath(job, "rate"), `{"score":5}`, http.StatusConflict, nil),
			balanceIs("StillEscrowed", client, "485000", "515000"),
			action("AcceptDeliveryOK", client.Key, jobPath(job, "accept-delivery"), nil, http.StatusOK, wantJob(false, map[string]any{
				"status": "completed", "finishedAt": at(start, 0), "expiresAt": nil, "amount": "500000", "totalCost": "515000"})),
			// The provider got exactly the amount, the client paid amount + 3%, the platform the fee.
			balanceIs("ProviderPaid", provider, "1500000", "0"),
			balanceIs("ClientPaid", client, "485000", "0"),
			{name: "PlatformGotTheFee", method: "GET", path: "/api/v1/admin/ledger/verify", key: adminToken, want: http.StatusOK, check: func(t *testing.T, r response) {
				totals, _ := r.JSON["totals"].(map[string]any)
				wantFields(t, totals, map[string]any{"platform:revenue": "3015000"}) // three activations and the fee
			}},
			action("AcceptDeliveryErrConflictTwice", client.Key, jobPath(job, "accept-delivery"), nil, http.StatusConflict, nil),
			action("CancelErrConflictCompleted", client.Key, jobPath(job, "cancel"), nil, http.StatusConflict, nil),
		})

		rate := func(name, key, body string, want int, check func(*testing.T, response)) statusCase {
			return action(name, key, jobPath(job, "rate"), body, want, check)
		}
		cases := []statusCase{
			rate("RateErrInvalidScoreMissing", client.Key, `{"comment":"good"}`, http.StatusBadRequest, wantError("score")),
			rate("RateErrInvalidScoreNull", client.Key, `{"score":null}`, http.StatusBadRequest, wantError("score")),
			rate("RateErrInvalidScoreZero", client.Key, `{"score":0}`, http.StatusBadRequest, wantError("score")),
			rate("RateErrInvalidScoreSix", client.Key, `{"score":6}`, http.StatusBadRequest, wantError("score")),
			rate("RateErrInvalidScoreFraction", client.Key, `{"score":4.5}`, http.StatusBadRequest, wantError("score")),
			rate("RateErrInvalidScoreString", client.Key, `{"score":"5"}`, http.StatusBadRequest, wantError("score")),
			rate("RateErrInvalidCommentTooLong", client.Key, `{"score":5,"comment":"`+strings.Repeat("c", 501)+`"}`, http.StatusBadRequest, wantError("comment")),
			rate("RateErrInvalidTooManyTags", client.Key, `{"score":5,"tags":["a","b","c","d","e","f"]}`, http.StatusBadRequest, wantError("tags")),
			rate("RateErrInvalidTagsNotArray", client.Key, `{"score":5,"tags":"fast"}`, http.StatusBadRequest, wantError("tags")),
			rate("RateErrInvalidUnknownField", client.Key, `{"score":5,"rateeAgentId":"x"}`, http.StatusBadRequest, wantError("unknown field")),
			rate("RateErrInvalidEmptyBody", client.Key, ``, http.StatusBadRequest, nil),
			rate("RateErrNotFoundStranger", stranger.Key, `{"score":1}`, http.StatusNotFound, nil),
			action("RateErrNotFoundUnknownJob", client.Key, jobPath(unknownID, "rate"), `{"score":5}`, http.StatusNotFound, nil),
			rate("RateErrUnauthorized", "", `{"score":5}`, http.StatusUnauthorized, nil),
			rate("RateOKClient", client.Key, `{"score":5,"comment":"Fast and accurate results","tags":["fast","accurate"]}`, http.StatusCreated,
				func(t *testing.T, r response) {
					want := []string{"comment", "createdAt", "id", "jobId", "rateeAgentId", "raterAgentId", "score", "tags"}
					if got := sortedKeys(r.JSON); !slices.Equal(got, want) {
						t.Errorf("rating fields = %v, want %v", got, want)
					}
					wantFields(t, r.JSON, map[string]any{"jobId": job, "raterAgentId": client.ID, "rateeAgentId": provider.ID, "score": 5.0,
						"comment": "Fast and accurate results", "tags": []any{"fast", "accurate"}, "createdAt": at(start, 0)})
				}),
			rate("RateErrConflictTwice", client.Key, `{"score":1}`, http.StatusConflict, nil),
			rate("RateOKProvider", provider.Key, `{"score":4}`, http.StatusCreated, func(t *testing.T, r response) {
				wantFields(t, r.JSON, map[string]any{"raterAgentId": provider.ID, "rateeAgentId": client.ID, "score": 4.0, "comment": nil, "tags": []any{}})
			}),
			rate("RateErrConflictProviderTwice", provider.Key, `{"score":4}`, http.StatusConflict, nil),
			{name: "RatingsOKProvider", method: "GET", path: "/api/v1/agents/" + provider.ID + "/ratings", want: http.StatusOK, check: func(t *testing.T, r response) {
				wantFields(t, r.JSON, map[string]any{"averageRating": 5.0, "totalRatings": 1.0,
					"pagination": map[string]any{"page": 1.0, "limit": 20.0, "total": 1.0, "totalPages": 1.0}})
				list, _ := r.JSON["ratings"].([]any)
				if len(list) != 1 {
					t.Fatalf("ratings = %v", r.JSON["ratings"])
				}
				m := list[0].(map[string]any)
				want := []string{"comment", "createdAt", "id", "jobId", "raterAgentId", "raterName", "score", "tags"}
				if got := sortedKeys(m); !slices.Equal(got, want) {
					t.Errorf("rating fields = %v, want %v", got, want)
				}
				wantFields(t, m, map[string]any{"jobId": job, "raterAgentId": client.ID, "raterName": "flow-client", "score": 5.0,
					"comment": "Fast and accurate results", "tags": []any{"fast", "accurate"}})
			}},
			{name: "RatingsOKClient", method: "GET", path: "/api/v1/agents/" + client.ID + "/ratings?limit=1", want: http.StatusOK, check: func(t *testing.T, r response) {
				wantFields(t, r.JSON, map[string]any{"averageRating": 4.0, "totalRatings": 1.0})
			}},
			{name: "RatingsOKPastTheEnd", method: "GET", path: "/api/v1/agents/" + provider.ID + "/ratings?page=2", want: http.StatusOK, check: func(t *testing.T, r response) {
				wantFields(t, r.JSON, map[string]any{"ratings": []any{}, "averageRating": 5.0, "totalRatings": 1.0})
			}},
			// success 1, rating 1, no disputes, no reports, unverified: 0.25+0.25+0.15+0.15+0.10.
			{name: "PublicProfileReputation", method: "GET", path: "/api/v1/agents/" + provider.ID, want: http.StatusOK, check: func(t *testing.T, r response) {
				wantFields(t, r.JSON, map[string]any{"completedJobs": 1.0, "ratingCount": 1.0, "averageRating": 5.0, "trustScore": 0.9})
			}},
			{name: "OwnProfileReputation", method: "GET", path: "/api/v1/agents/me", key: provider.Key, want: http.StatusOK, check: func(t *testing.T, r response) {
				wantFields(t, r.JSON, map[string]any{"completedJobs": 1.0, "ratingCount": 1.0, "averageRating": 5.0, "trustScore": 0.9})
			}},
			{name: "ClientReputation", method: "GET", path: "/api/v1/agents/" + client.ID, want: http.StatusOK, check: func(t *testing.T, r response) {
				wantFields(t, r.JSON, map[string]any{"completedJobs": 0.0, "ratingCount": 1.0, "averageRating": 4.0,
					"trustScore": justpay.TrustScore(justpay.TrustInputs{RatingCount: 1, RatingSum: 4})})
			}},
			{name: "ServiceReputation", method: "GET", path: "/api/v1/services/" + manual, want: http.StatusOK, check: func(t *testing.T, r response) {
				wantFields(t, r.JSON, map[string]any{"completedJobs": 1.0, "ratingCount": 1.0, "averageRating": 5.0})
			}},
			{name: "Stats", method: "GET", path: "/api/v1/stats", want: http.StatusOK, check: func(t *testing.T, r response) {
				wantFields(t, r.JSON, map[string]any{"services": map[string]any{"active": 1.0},
					"jobs": map[string]any{"total": 1.0, "completed": 1.0}, "volume": map[string]any{"total": "500000"}})
			}},
		}
		list := func(name, key, query string, n, total int) statusCase {
			return statusCase{name: name, method: "GET", path: "/api/v1/jobs" + query, key: key, want: http.StatusOK, check: func(t *testing.T, r response) {
				jobs, _ := r.JSON["jobs"].([]any)
				if len(jobs) != n || r.JSON["pagination"].(map[string]any)["total"] != float64(total) {
					t.Fatalf("jobs = %v, want %d of %d", r.JSON, n, total)
				}
				if n > 0 {
					wantJob(false, map[string]any{"id": job})(t, response{JSON: jobs[0].(map[string]any)})
				}
			}}
		}
		cases = append(cases,
			list("ListOK", client.Key, "", 1, 1),
			list("ListOKClient", client.Key, "?role=client", 1, 1),
			list("ListOKClientAsProvider", client.Key, "?role=provider", 0, 0),
			list("ListOKProvider", provider.Key, "?role=provider&status=completed", 1, 1),
			list("ListOKStatusOther", provider.Key, "?status=open", 0, 0),
			list("ListOKStranger", stranger.Key, "", 0, 0),
			list("ListOKPaged", client.Key, "?page=2&limit=1", 0, 1),
			statusCase{name: "ListErrInvalidRole", method: "GET", path: "/api/v1/jobs?role=admin", key: client.Key, want: http.StatusBadRequest, check: wantError("role")},
			statusCase{name: "ListErrInvalidStatus", method: "GET", path: "/api/v1/jobs?status=done", key: client.Key, want: http.StatusBadRequest, check: wantError("status")},
			statusCase{name: "ListErrInvalidLimit", method: "GET", path: "/api/v1/jobs?limit=101", key: client.Key, want: http.StatusBadRequest, check: wantError("limit")},
			statusCase{name: "ListErrInvalidPage", method: "GET", path: "/api/v1/jobs?page=x", key: client.Key, want: http.StatusBadRequest, check: wantError("page")},
			statusCase{name: "ListErrUnauthorized", method: "GET", path: "/api/v1/jobs", want: http.StatusUnauthorized},
		)
		cases = append(cases, notActivatedCases(idle.Key,
			[2]string{"POST", "/api/v1/jobs"}, [2]string{"GET", "/api/v1/jobs"}, [2]string{"GET", jobPath(job)},
			[2]string{"POST", jobPath(job, "accept")}, [2]string{"POST", jobPath(job, "deliver")},
			[2]string{"POST", jobPath(job, "accept-delivery")}, [2]string{"POST", jobPath(job, "cancel")},
			[2]string{"POST", jobPath(job, "apply")}, [2]string{"POST", jobPath(job, "applications", unknownID, "accept")},
			[2]string{"POST", jobPath(job, "rate")})...)
		a.table(t, &client, cases)
	})
}

func TestStatusJobCancelAndTimeouts(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.RateLimits{})
		client, _ := a.activated(t, "timeout-client", 11*usdc) // 10 USDC available
		provider, _ := a.activated(t, "timeout-provider", 2*usdc)
		stranger, _ := a.activated(t, "timeout-stranger", 2*usdc)
		auto := a.createService(t, provider, nil)
		manual := a.createService(t, provider, map[string]any{"name": "Manual Summaries", "autoAccept": false})
		output := map[string]any{"output": map[string]any{"bullets": []string{"done"}}}

		t.Run("Cancel", func(t *testing.T) {
			accepted := str(a.createJob(t, client, directJob(auto))["id"])
			pending := str(a.createJob(t, client, directJob(manual))["id"])
			a.table(t, &client, []statusCase{
				balanceIs("Escrowed", client, "8970000", "1030000"),
				otherParty("CancelErrProvider", provider.Key, jobPath(accepted, "cancel"), nil),
				action("CancelErrNotFoundStranger", stranger.Key, jobPath(accepted, "cancel"), nil, http.StatusNotFound, nil),
				action("CancelErrNotFoundUnknown", client.Key, jobPath(unknownID, "cancel"), nil, http.StatusNotFound, nil),
				action("CancelErrInvalidBody", client.Key, jobPath(accepted, "cancel"), `{"reason":"changed my mind"}`, http.StatusBadRequest, nil),
				action("CancelOKAccepted", client.Key, jobPath(accepted, "cancel"), nil, http.StatusOK, wantJob(false, map[string]any{
					"status": "cancelled", "expiresAt": nil, "finishedAt": at(a.Clock.Now(), 0)})),
				balanceIs("RefundedInFull", client, "9485000", "515000"),
				action("CancelErrConflictTwice", client.Key, jobPath(accepted, "cancel"), nil, http.StatusConflict, nil),
				action("DeliverErrConflictCancelled", provider.Key, jobPath(accepted, "deliver"), output, http.StatusConflict, nil),
				action("AcceptErrConflictCancelled", provider.Key, jobPath(accepted, "accept"), nil, http.StatusConflict, nil),
				{name: "CancelOKPendingIdempotent", method: "POST", path: jobPath(pending, "cancel"), key: client.Key, header: hdr("Idempotency-Key", "cancel-1"),
					want: http.StatusOK, check: wantJob(false, map[string]any{"status": "cancelled"})},
				{name: "CancelReplayed", method: "POST", path: jobPath(pending, "cancel"), key: client.Key, header: hdr("Idempotency-Key", "cancel-1"),
					want: http.StatusOK, check: func(t *testing.T, r response) {
						if r.Header.Get("Idempotency-Replayed") != "true" {
							t.Errorf("second cancel with the same key was not a replay: %s", r.Raw)
						}
					}},
				balanceIs("EverythingBack", client, "10000000", "0"),
			})
		})

		t.Run("PendingExpires", func(t *testing.T) {
			job := str(a.createJob(t, client, directJob(manual))["id"])
			a.table(t, nil, []statusCase{
				balanceIs("Escrowed", client, "9485000", "515000"),
				advance("AlmostFiveMinutes", 299*time.Second),
				{name: "StillPending", method: "GET", path: jobPath(job), key: client.Key, want: http.StatusOK, check: wantJob(false, map[string]any{"status": "pending"})},
				advance("FiveMinutes", time.Second),
				{name: "Expired", method: "GET", path: jobPath(job), key: client.Key, want: http.StatusOK, check: wantJob(false, map[string]any{
					"status": "expired", "expiresAt": nil, "finishedAt": at(a.Clock.Now(), 5*time.Minute)})},
				balanceIs("Refunded", client, "10000000", "0"),
				action("AcceptErrConflictExpired", provider.Key, jobPath(job, "accept"), nil, http.StatusConflict, nil),
				action("CancelErrConflictExpired", client.Key, jobPath(job, "cancel"), nil, http.StatusConflict, nil),
			})
		})

		t.Run("AcceptedExpiresUndelivered", func(t *testing.T) {
			job := str(a.createJob(t, client, directJob(auto))["id"])
			a.table(t, nil, []statusCase{
				advance("PastDeadline", 61*time.Second),
				{name: "Expired", method: "GET", path: jobPath(job), key: provider.Key, want: http.StatusOK, check: wantJob(false, map[string]any{"status": "expired"})},
				balanceIs("Refunded", client, "10000000", "0"),
				balanceIs("ProviderUnpaid", provider, "1000000", "0"),
				action("DeliverErrConflictExpired", provider.Key, jobPath(job, "deliver"), output, http.StatusConflict, nil),
				// success 0 of 1, no rating (half marks), no disputes, no reports, unverified.
				{name: "ProviderTrustDrops", method: "GET", path: "/api/v1/agents/" + provider.ID, want: http.StatusOK, check: func(t *testing.T, r response) {
					wantFields(t, r.JSON, map[string]any{"completedJobs": 0.0, "trustScore": justpay.TrustScore(justpay.TrustInputs{JobsFailed: 1})})
				}},
			})
		})

		t.Run("LateDeliveryLosesToTheDeadline", func(t *testing.T) {
			job := str(a.createJob(t, client, directJob(auto))["id"])
			a.Clock.Advance(61 * time.Second) // the deadline passed; no scheduler pass yet
			a.table(t, nil, []statusCase{
				action("DeliverErrConflictLate", provider.Key, jobPath(job, "deliver"), output, http.StatusConflict, nil),
				advance("Timeouts", time.Second),
				{name: "Expired", method: "GET", path: jobPath(job), key: client.Key, want: http.StatusOK, check: wantJob(false, map[string]any{"status": "expired"})},
				balanceIs("Refunded", client, "10000000", "0"),
			})
		})

		t.Run("DeliveryAutoAccepted", func(t *testing.T) {
			job := str(a.createJob(t, client, directJob(auto))["id"])
			a.table(t, nil, []statusCase{
				action("DeliverOK", provider.Key, jobPath(job, "deliver"), output, http.StatusOK, wantJob(false, map[string]any{"status": "delivered"})),
				advance("AlmostReviewWindow", 299*time.Second),
				{name: "StillDelivered", method: "GET", path: jobPath(job), key: client.Key, want: http.StatusOK, check: wantJob(false, map[string]any{"status": "delivered"})},
				advance("ReviewWindow", time.Second),
				{name: "Completed", method: "GET", path: jobPath(job), key: client.Key, want: http.StatusOK, check: wantJob(false, map[string]any{"status": "completed", "expiresAt": nil})},
				balanceIs("ProviderPaid", provider, "1500000", "0"),
				balanceIs("ClientPaid", client, "9485000", "0"),
				action("AcceptDeliveryErrConflictAutoAccepted", client.Key, jobPath(job, "accept-delivery"), nil, http.StatusConflict, nil),
				action("RateOK", client.Key, jobPath(job, "rate"), `{"score":3}`, http.StatusCreated, nil),
			})
		})

		t.Run("ServiceChangedWhileRunning", func(t *testing.T) {
			svc := a.createService(t, provider, map[string]any{"name": "Changing Summaries"})
			job := str(a.createJob(t, client, directJob(svc))["id"])
			a.table(t, &client, []statusCase{
				{name: "Reprice", method: "PATCH", path: "/api/v1/services/" + svc, key: provider.Key, body: `{"pricePerJob":900000}`, want: http.StatusOK},
				{name: "Retire", method: "DELETE", path: "/api/v1/services/" + svc, key: provider.Key, want: http.StatusOK},
				action("ErrConflictHireRetired", client.Key, "/api/v1/jobs", directJob(svc), http.StatusConflict, nil),
				action("DeliverOK", provider.Key, jobPath(job, "deliver"), output, http.StatusOK, nil),
				action("AcceptDeliveryOK", client.Key, jobPath(job, "accept-delivery"), nil, http.StatusOK,
					wantJob(false, map[string]any{"status": "completed", "amount": "500000", "platformFee": "15000"})),
				// The price when hired holds.
				balanceIs("ProviderPaidTheOldPrice", provider, "2000000", "0"),
				balanceIs("ClientPaidTheOldPrice", client, "8970000", "0"),
			})
		})

		t.Run("Queue", func(t *testing.T) {
			queued := a.createService(t, provider, map[string]any{"name": "Queued Summaries", "maxConcurrentJobs": 1, "maxQueueSize": 1})
			first := str(a.createJob(t, client, directJob(queued))["id"])
			var second string
			a.table(t, &client, []statusCase{
				action("OKQueued", client.Key, "/api/v1/jobs", directJob(queued), http.StatusCreated, capture(&second, "id",
					wantJob(false, map[string]any{"status": "queued", "expiresAt": nil, "acceptedAt": nil, "totalCost": "515000"}))),
				action("ErrConflictQueueFull", client.Key, "/api/v1/jobs", directJob(queued), http.StatusConflict, wantError("queue")),
				balanceIs("BothEscrowed", client, "7940000", "1030000"),
			})
			a.table(t, &client, []statusCase{
				action("DeliverErrConflictQueued", provider.Key, jobPath(second, "deliver"), output, http.StatusConflict, nil),
				action("CancelFirst", client.Key, jobPath(first, "cancel"), nil, http.StatusOK, nil),
				{name: "SecondPromoted", method: "GET", path: jobPath(second), key: client.Key, want: http.StatusOK, check: wantJob(false, map[string]any{
					"status": "accepted", "expiresAt": at(a.Clock.Now(), time.Minute)})},
				action("CancelSecond", client.Key, jobPath(second, "cancel"), nil, http.StatusOK, nil),
				balanceIs("AllRefunded", client, "8970000", "0"),
			})
		})

		t.Run("ConcurrentCancels", func(t *testing.T) {
			job := str(a.createJob(t, client, directJob(auto))["id"])
			const n = 8
			rs := make([]response, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					rs[i], errs[i] = a.roundTrip(request{Method: "POST", Path: jobPath(job, "cancel"), Key: client.Key})
				})
			}
			wg.Wait()
			ok := 0
			for i, r := range rs {
				if errs[i] != nil {
					t.Fatal(errs[i])
				}
				checkResponse(t, request{Method: "POST", Path: jobPath(job, "cancel")}, &r)
				switch r.Status {
				case http.StatusOK:
					ok++
				case http.StatusConflict:
				default:
					t.Errorf("cancel %d: %d %s", i, r.Status, r.Raw)
				}
			}
			if ok != 1 {
				t.Errorf("%d cancels succeeded, want exactly 1", ok)
			}
			wantFields(t, a.balance(t, client), map[string]any{"available": "8970000", "escrowed": "0"})
			sqlstoretest.MustVerify(t, a.DB)
		})
	})
}

func TestStatusOpenJobs(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.RateLimits{})
		client, _ := a.activated(t, "open-client", 3*usdc) // 2 USDC available
		first, _ := a.activated(t, "open-first", 2*usdc)
		second, _ := a.activated(t, "open-second", 2*usdc)
		stranger, _ := a.activated(t, "open-stranger", 2*usdc)
		direct := str(a.createJob(t, client, directJob(a.createService(t, stranger, nil)))["id"])
		start := a.Clock.Now()
		job := str(a.createJob(t, client, openJob(500000, map[string]any{"applicationWindow": 3600}))["id"])
		const browse = "/api/v1/jobs/open"
		browseIDs := func(want ...string) func(t *testing.T, r response) {
			return func(t *testing.T, r response) {
				t.Helper()
				var got []string
				for _, j := range r.JSON["jobs"].([]any) {
					got = append(got, str(j.(map[string]any)["id"]))
				}
				if !slices.Equal(got, want) || r.JSON["pagination"].(map[string]any)["total"] != float64(len(want)) {
					t.Errorf("open jobs = %v (%v), want %v", got, r.JSON["pagination"], want)
				}
			}
		}
		apply := func(name, key, id string, body any, want int, check func(*testing.T, response)) statusCase {
			return action(name, key, jobPath(id, "apply"), body, want, check)
		}
		var app1, app2 string
		a.table(t, &client, []statusCase{
			balanceIs("Escrowed", client, "970000", "1030000"),
			{name: "BrowseOK", method: "GET", path: browse, want: http.StatusOK, check: func(t *testing.T, r response) {
				browseIDs(job)(t, r)
				m := r.JSON["jobs"].([]any)[0].(map[string]any)
				want := []string{"budget", "category", "client", "createdAt", "description", "expiresAt", "id", "platformFee", "timeRemainingSecs", "title"}
				if got := sortedKeys(m); !slices.Equal(got, want) {
					t.Errorf("open job fields = %v, want %v", got, want)
				}
				wantFields(t, m, map[string]any{"title": "Need a logo for my AI startup", "category": "image-generation", "budget": "500000",
					"platformFee": "15000", "expiresAt": at(start, time.Hour), "timeRemainingSecs": 3600.0, "createdAt": at(start, 0),
					"client": map[string]any{"id": client.ID, "name": "open-client", "trustScore": 0.65, "warning": nil}})
			}},
			{name: "BrowseOKWithKey", method: "GET", path: browse, key: first.Key, want: http.StatusOK, check: browseIDs(job)},
			{name: "BrowseOKCategory", method: "GET", path: browse + "?category=image-generation", want: http.StatusOK, check: browseIDs(job)},
			{name: "BrowseOKOtherCategory", method: "GET", path: browse + "?category=text-processing", want: http.StatusOK, check: browseIDs()},
			{name: "BrowseOKPastTheEnd", method: "GET", path: browse + "?page=2", want: http.StatusOK, check: func(t *testing.T, r response) {
				wantFields(t, r.JSON, map[string]any{"jobs": []any{}, "pagination": map[string]any{"page": 2.0, "limit": 20.0, "total": 1.0, "totalPages": 1.0}})
			}},
			{name: "BrowseErrInvalidLimit", method: "GET", path: browse + "?limit=0", want: http.StatusBadRequest, check: wantError("limit")},
			// PostgreSQL refuses NUL and invalid UTF-8 in text parameters: such a filter is a 400 or
			// matches nothing, never a 500.
			{name: "BrowseCategoryNULNever500", method: "GET", path: browse + "?category=%00", want: http.StatusBadRequest, orWant: []int{http.StatusOK}},
			{name: "BrowseCategoryInvalidUTF8Never500", method: "GET", path: browse + "?category=%FF", want: http.StatusBadRequest, orWant: []int{http.StatusOK}},
			{name: "BrowseCategoryLongNever500", method: "GET", path: browse + "?category=" + strings.Repeat("c", 5000), want: http.StatusBadRequest, orWant: []int{http.StatusOK}},
			advance("HalfAMinute", 30*time.Second),
			{name: "BrowseTimeRemaining", method: "GET", path: browse, want: http.StatusOK, check: func(t *testing.T, r response) {
				wantFields(t, r.JSON["jobs"].([]any)[0].(map[string]any), map[string]any{"timeRemainingSecs": 3570.0})
			}},
			apply("ApplyErrForbiddenOwnJob", client.Key, job, `{"message":"me"}`, http.StatusForbidden, nil),
			apply("ApplyErrNotFoundUnknown", first.Key, unknownID, nil, http.StatusNotFound, nil),
			apply("ApplyErrNotFoundMalformed", first.Key, "nope", nil, http.StatusNotFound, nil),
			apply("ApplyErrInvalidMessageTooLong", first.Key, job, map[string]any{"message": strings.Repeat("m", 2001)}, http.StatusBadRequest, wantError("message")),
			apply("ApplyErrInvalidMessageNUL", first.Key, job, `{"message":"a\u0000b"}`, http.StatusBadRequest, wantError("message")),
			apply("ApplyErrInvalidMessageType", first.Key, job, `{"message":5}`, http.StatusBadRequest, wantError("message")),
			apply("ApplyErrInvalidUnknownField", first.Key, job, `{"message":"hi","price":1}`, http.StatusBadRequest, wantError("unknown field")),
			apply("ApplyErrNotFoundDirectJob", first.Key, direct, nil, http.StatusNotFound, nil), // a direct job is its parties' only
			apply("ApplyErrUnauthorized", "", job, nil, http.StatusUnauthorized, nil),
			apply("ApplyOK", first.Key, job, map[string]any{"message": "I can generate high-quality logos. Check my portfolio."}, http.StatusCreated,
				capture(&app1, "id", func(t *testing.T, r response) {
					want := []string{"agentId", "agentName", "completedJobs", "createdAt", "id", "message", "status", "trustScore"}
					if got := sortedKeys(r.JSON); !slices.Equal(got, want) {
						t.Errorf("application fields = %v, want %v", got, want)
					}
					wantFields(t, r.JSON, map[string]any{"agentId": first.ID, "agentName": "open-first", "trustScore": 0.65, "completedJobs": 0.0,
						"message": "I can generate high-quality logos. Check my portfolio.", "status": "pending", "createdAt": at(start, 30*time.Second)})
				})),
			apply("ApplyOKNoBody", second.Key, job, nil, http.StatusCreated, capture(&app2, "id", func(t *testing.T, r response) {
				wantFields(t, r.JSON, map[string]any{"agentId": second.ID, "message": nil, "status": "pending"})
			})),
			apply("ApplyErrConflictTwice", first.Key, job, `{"message":"again"}`, http.StatusConflict, nil),
			{name: "GetErrNotFoundApplicant", method: "GET", path: jobPath(job), key: first.Key, want: http.StatusNotFound},
			{name: "GetOKClientSeesApplications", method: "GET", path: jobPath(job), key: client.Key, want: http.StatusOK, check: wantJob(true, map[string]any{
				"status": "open", "providerAgentId": nil, "applicationWindow": 3600.0})},
			balanceIs("ApplyingMovesNoMoney", client, "970000", "1030000"),
		})

		accept := func(name, key, app string, want int, check func(*testing.T, response)) statusCase {
			return action(name, key, jobPath(job, "applications", app, "accept"), nil, want, check)
		}
		applications := func(want map[string]string) func(t *testing.T, r response) {
			return func(t *testing.T, r response) {
				t.Helper()
				got := map[string]string{}
				for _, x := range r.JSON["applications"].([]any) {
					m := x.(map[string]any)
					got[str(m["id"])] = str(m["status"])
				}
				if len(got) != len(want) {
					t.Errorf("applications = %v, want %v", r.JSON["applications"], want)
				}
				for id, status := range want {
					if got[id] != status {
						t.Errorf("application %s is %q, want %q", id, got[id], status)
					}
				}
			}
		}
		a.table(t, &client, []statusCase{
			{name: "GetOKApplicationsPending", method: "GET", path: jobPath(job), key: client.Key, want: http.StatusOK,
				check: applications(map[string]string{app1: "pending", app2: "pending"})},
			otherParty("AcceptAppErrApplicant", first.Key, jobPath(job, "applications", app1, "accept"), nil),
			accept("AcceptAppErrNotFoundUnknown", client.Key, unknownID, http.StatusNotFound, nil),
			accept("AcceptAppErrNotFoundMalformed", client.Key, "nope", http.StatusNotFound, nil),
			{name: "AcceptAppErrOtherJob", method: "POST", path: jobPath(direct, "applications", app1, "accept"), key: client.Key, want: http.StatusNotFound, orWant: []int{http.StatusConflict}},
			action("AcceptAppErrNotFoundUnknownJob", client.Key, jobPath(unknownID, "applications", app1, "accept"), nil, http.StatusNotFound, nil),
			action("AcceptAppErrInvalidBody", client.Key, jobPath(job, "applications", app1, "accept"), `{"x":1}`, http.StatusBadRequest, nil),
			accept("AcceptAppErrUnauthorized", "", app1, http.StatusUnauthorized, nil),
			accept("AcceptAppOK", client.Key, app1, http.StatusOK, func(t *testing.T, r response) {
				wantFields(t, r.JSON, map[string]any{"id": job, "status": "accepted", "providerAgentId": first.ID,
					"acceptedAt": at(start, 30*time.Second), "expiresAt": at(start, 30*time.Second+5*time.Minute)})
			}),
			accept("AcceptAppErrConflictOther", client.Key, app2, http.StatusConflict, nil),
			accept("AcceptAppErrConflictTwice", client.Key, app1, http.StatusConflict, nil),
			{name: "GetOKApplicationsResolved", method: "GET", path: jobPath(job), key: client.Key, want: http.StatusOK,
				check: applications(map[string]string{app1: "accepted", app2: "rejected"})},
			{name: "GetOKProvider", method: "GET", path: jobPath(job), key: first.Key, want: http.StatusOK, check: wantJob(false, map[string]any{"providerAgentId": first.ID})},
			{name: "GetErrNotFoundRejected", method: "GET", path: jobPath(job), key: second.Key, want: http.StatusNotFound},
			{name: "BrowseNoLongerLists", method: "GET", path: browse, want: http.StatusOK, check: browseIDs()},
			apply("ApplyErrConflictNotOpen", stranger.Key, job, nil, http.StatusConflict, nil),
			action("DeliverErrNotFoundRejected", second.Key, jobPath(job, "deliver"), `{"output":"logo.png"}`, http.StatusNotFound, nil),
			action("DeliverOK", first.Key, jobPath(job, "deliver"), `{"output":"https://cdn.example/logo.png"}`, http.StatusOK,
				wantJob(false, map[string]any{"status": "delivered", "output": "https://cdn.example/logo.png"})),
			action("AcceptDeliveryOK", client.Key, jobPath(job, "accept-delivery"), nil, http.StatusOK, wantJob(false, map[string]any{"status": "completed"})),
			balanceIs("ProviderPaidTheBudget", first, "1500000", "0"),
			balanceIs("OthersUnpaid", second, "1000000", "0"),
			balanceIs("ClientPaid", client, "970000", "515000"),
		})

		t.Run("Expires", func(t *testing.T) {
			open := str(a.createJob(t, client, openJob(100000, map[string]any{"applicationWindow": 120}))["id"])
			a.table(t, &client, []statusCase{
				balanceIs("Escrowed", client, "867000", "618000"),
				apply("ApplyOK", second.Key, open, nil, http.StatusCreated, nil),
				advance("AlmostClosed", 119*time.Second),
				{name: "BrowseStillLists", method: "GET", path: browse, want: http.StatusOK, check: func(t *testing.T, r response) {
					browseIDs(open)(t, r)
					wantFields(t, r.JSON["jobs"].([]any)[0].(map[string]any), map[string]any{"timeRemainingSecs": 1.0})
				}},
				advance("WindowClosed", time.Second),
				{name: "Expired", method: "GET", path: jobPath(open), key: client.Key, want: http.StatusOK, check: wantJob(true, map[string]any{"status": "expired"})},
				{name: "BrowseEmpty", method: "GET", path: browse, want: http.StatusOK, check: browseIDs()},
				balanceIs("RefundedWithTheExpiredDirectJob", client, "1485000", "0"),
				apply("ApplyErrConflictExpired", first.Key, open, nil, http.StatusConflict, nil),
			})
		})
	})
}

// TestStatusJobsConcurrent races job requests that must serialize in the store: exactly one
// winner, never a 5xx, and the books add up.
func TestStatusJobsConcurrent(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.RateLimits{})
		provider, _ := a.activated(t, "race-provider", 2*usdc)
		race := func(t *testing.T, rqs []request) map[int]int {
			t.Helper()
			return statusCounts(a.race(t, rqs))
		}

		t.Run("CapacityHolds", func(t *testing.T) {
			single := a.createService(t, provider, map[string]any{"name": "One At A Time", "maxConcurrentJobs": 1, "queueEnabled": false})
			var clients []agent
			var rqs []request
			for i := range 6 {
				c, _ := a.activated(t, "race-hirer-"+string(rune('a'+i)), 2*usdc)
				clients = append(clients, c)
				rqs = append(rqs, request{Method: "POST", Path: "/api/v1/jobs", Key: c.Key, Body: directJob(single)})
			}
			got := race(t, rqs)
			if got[http.StatusCreated] != 1 || got[http.StatusConflict] != 5 {
				t.Errorf("statuses %v, want one 201 and five 409 (the service runs one job)", got)
			}
			paid := 0
			for _, c := range clients {
				switch bal := a.balance(t, c); bal["available"] {
				case "485000":
					paid++
				case "1000000":
				default:
					t.Errorf("%s: balance %v", c.ID, bal)
				}
			}
			if paid != 1 {
				t.Errorf("%d clients paid, want 1", paid)
			}
		})

		t.Run("OneApplicationWins", func(t *testing.T) {
			client, _ := a.activated(t, "race-poster", 2*usdc)
			job := str(a.createJob(t, client, openJob(100000, nil))["id"])
			var rqs []request
			for i := range 4 {
				applicant, _ := a.activated(t, "race-applicant-"+string(rune('a'+i)), 2*usdc)
				app := str(a.must(t, http.StatusCreated, "POST", jobPath(job, "apply"), applicant.Key, nil)["id"])
				rqs = append(rqs, request{Method: "POST", Path: jobPath(job, "applications", app, "accept"), Key: client.Key})
			}
			if got := race(t, rqs); got[http.StatusOK] != 1 || got[http.StatusConflict] != 3 {
				t.Errorf("statuses %v, want one 200 and three 409", got)
			}
			accepted := 0
			for _, x := range a.must(t, http.StatusOK, "GET", jobPath(job), client.Key, nil)["applications"].([]any) {
				if x.(map[string]any)["status"] == "accepted" {
					accepted++
				}
			}
			if accepted != 1 {
				t.Errorf("%d applications accepted, want 1", accepted)
			}
		})

		t.Run("ApplyOnce", func(t *testing.T) {
			client, _ := a.activated(t, "race-poster-2", 2*usdc)
			applicant, _ := a.activated(t, "race-eager", 2*usdc)
			job := str(a.createJob(t, client, openJob(100000, nil))["id"])
			rqs := make([]request, 5)
			for i := range rqs {
				rqs[i] = request{Method: "POST", Path: jobPath(job, "apply"), Key: applicant.Key, Body: `{"message":"pick me"}`}
			}
			if got := race(t, rqs); got[http.StatusCreated] != 1 || got[http.StatusConflict] != 4 {
				t.Errorf("statuses %v, want one 201 and four 409", got)
			}
		})

		t.Run("DeliveryAcceptedOnceAgainstTheTimeout", func(t *testing.T) {
			client, _ := a.activated(t, "race-reviewer", 2*usdc)
			svc := a.createService(t, provider, map[string]any{"name": "Racy Summaries", "pricePerJob": 100000})
			job := str(a.createJob(t, client, directJob(svc))["id"])
			a.must(t, http.StatusOK, "POST", jobPath(job, "deliver"), provider.Key, map[string]any{"output": map[string]any{"bullets": []string{}}})
			before := a.balance(t, provider)["available"]
			a.Clock.Advance(299 * time.Second)
			var rqs []request
			for range 3 {
				rqs = append(rqs, request{Method: "POST", Path: jobPath(job, "accept-delivery"), Key: client.Key},
					request{Method: "POST", Path: "/dev/clock/advance", Body: `{"seconds":1}`})
			}
			race(t, rqs)
			wantFields(t, a.must(t, http.StatusOK, "GET", jobPath(job), client.Key, nil), map[string]any{"status": "completed"})
			after := a.balance(t, provider)["available"]
			if want := jsonNumber(t, before) + 100000; jsonNumber(t, after) != want {
				t.Errorf("provider available %v -> %v, want +100000 exactly once", before, after)
			}
		})

		t.Run("RateOnce", func(t *testing.T) {
			client, _ := a.activated(t, "race-rater", 2*usdc)
			svc := a.createService(t, provider, map[string]any{"name": "Rated Summaries", "pricePerJob": 0})
			job := str(a.createJob(t, client, directJob(svc))["id"])
			a.must(t, http.StatusOK, "POST", jobPath(job, "deliver"), provider.Key, map[string]any{"output": map[string]any{}})
			a.must(t, http.StatusOK, "POST", jobPath(job, "accept-delivery"), client.Key, nil)
			rqs := make([]request, 5)
			for i := range rqs {
				rqs[i] = request{Method: "POST", Path: jobPath(job, "rate"), Key: client.Key, Body: `{"score":5}`}
			}
			if got := race(t, rqs); got[http.StatusCreated] != 1 || got[http.StatusConflict] != 4 {
				t.Errorf("statuses %v, want one 201 and four 409", got)
			}
			got := a.must(t, http.StatusOK, "GET", "/api/v1/services/"+svc, "", nil)
			wantFields(t, got, map[string]any{"ratingCount": 1.0, "averageRating": 5.0})
		})
		sqlstoretest.MustVerify(t, a.DB)
	})
}

// jsonNumber parses a micro-unit string of a response.
func jsonNumber(tb testing.TB, v any) int64 {
	tb.Helper()
	var n int64
	if err := json.Unmarshal([]byte(str(v)), &n); err != nil {
		tb.Fatalf("%v is not a whole number: %v", v, err)
	}
	return n
}

// TestStatusJSONDocumentsWithNUL: PostgreSQL's JSONB cannot hold \u0000, so a JSON document
// containing one (service schemas and examples, job input, delivered output) must be refused on
// both backends alike, never stored on one and refused (or a 500) on the other.
func TestStatusJSONDocumentsWithNUL(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.RateLimits{})
		client, _ := a.activated(t, "nul-client", 2*usdc)
		provider, _ := a.activated(t, "nul-provider", 2*usdc)
		free := a.createService(t, provider, map[string]any{"pricePerJob": 0, "outputSchema": map[string]any{}})
		job := str(a.createJob(t, client, directJob(free))["id"])
		a.table(t, &client, []statusCase{
			{name: "ServiceExampleInput", method: "POST", path: "/api/v1/services", key: provider.Key, money: &provider, want: http.StatusBadRequest,
				body: serviceBody(map[string]any{"exampleInput": json.RawMessage(`{"text":"a\u0000b"}`)})},
			{name: "ServiceInputSchema", method: "POST", path: "/api/v1/services", key: provider.Key, money: &provider, want: http.StatusBadRequest,
				body: serviceBody(map[string]any{"inputSchema": json.RawMessage(`{"type":"object","description":"a\u0000b"}`)})},
			{name: "ServicePatchExampleOutput", method: "PATCH", path: "/api/v1/services/" + free, key: provider.Key, want: http.StatusBadRequest,
				body: `{"exampleOutput":{"\u0000":1}}`},
			{name: "JobInput", method: "POST", path: "/api/v1/jobs", key: client.Key, want: http.StatusBadRequest,
				body: map[string]any{"type": "direct", "serviceId": free, "input": json.RawMessage(`{"text":"a\u0000b"}`)}},
			{name: "OpenJobInputKey", method: "POST", path: "/api/v1/jobs", key: client.Key, want: http.StatusBadRequest,
				body: openJob(1, map[string]any{"input": json.RawMessage(`{"\u0000":1}`)})},
			{name: "DeliverOutput", method: "POST", path: jobPath(job, "deliver"), key: provider.Key, money: &provider, want: http.StatusBadRequest,
				body: `{"output":{"bullets":["a\u0000b"]}}`},
		})
	})
}

// TestOpenJobsClientWarning: the browse list shows a reported client's badge and lowered trust
// score, as its profile does.
func TestOpenJobsClientWarning(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.RateLimits{})
		client, _ := a.activated(t, "open-client", 5*usdc)
		reporter, _ := a.activated(t, "reporter", 2*usdc)
		job := str(a.createJob(t, client, openJob(500000, nil))["id"])
		a.must(t, http.StatusCreated, "POST", "/api/v1/reports", reporter.Key,
			map[string]any{"targetType": "agent", "targetId": client.ID, "reason": "spam"})
		profile := a.must(t, http.StatusOK, "GET", "/api/v1/agents/"+client.ID, "", nil)
		list := a.must(t, http.StatusOK, "GET", "/api/v1/jobs/open", "", nil)["jobs"].([]any)
		if len(list) != 1 {
			t.Fatalf("open jobs = %v", list)
		}
		m := list[0].(map[string]any)
		wantFields(t, m, map[string]any{"id": job, "client": map[string]any{"id": client.ID, "name": "open-client",
			"trustScore": profile["trustScore"], "warning": "low"}})
		if profile["warning"] != "low" || profile["trustScore"] == 0.65 {
			t.Errorf("profile warning %v, trust %v: want low, lowered", profile["warning"], profile["trustScore"])
		}
	})
}
