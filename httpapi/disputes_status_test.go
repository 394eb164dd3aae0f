package httpapi_test

import (
	"bytes"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/justpay/justpay"
	"github.com/justpay/justpay/httpapi"
	"github.com/justpay/justpay/sqlstore/sqlstoretest"
)

// The status matrix of disputes, admin rulings, client reputation, verification, restriction
// and the audit log, on SQLite and (with JUSTPAY_TEST_POSTGRES) PostgreSQL: the filing fee taken
// once and never refunded, each ruling paying out the escrow to the micro-unit as the fee table of
// ../shared/ARCHITECTURE.md says, and the trust scores following the formula of justpay.TrustScore.

// disputeFilingFee is the fee of a dispute over a 0.50 USDC job: 5% is 0.025 USDC, below the
// 0.10 USDC minimum.
const disputeFilingFee = 100_000

// disputeFields are the fields of the dispute JSON, sorted.
var disputeFields = []string{"claimantAgentId", "createdAt", "description", "fee", "id", "jobId", "note", "outcome", "reason",
	"resolvedAt", "respondentAgentId", "status"}

// adminAgentFields are the fields of the admin API's agent JSON, sorted.
var adminAgentFields = []string{"averageRating", "clientDisputeRate", "clientRestricted", "completedJobs", "id", "name",
	"pendingReportCount", "ratingCount", "restricted", "restrictedReason", "totalDisputesFiled", "trustScore", "verified", "warning"}

// auditFields are the fields of an audit record, sorted.
var auditFields = []string{"action", "createdAt", "details", "id", "targetId", "targetType"}

// checkDispute checks the shape of a dispute and the given fields.
func checkDispute(t *testing.T, m map[string]any, want map[string]any) {
	t.Helper()
	if got := sortedKeys(m); !slices.Equal(got, disputeFields) {
		t.Errorf("dispute fields = %v, want %v", got, disputeFields)
	}
	if id := str(m["id"]); !justpay.IsID(id) {
		t.Errorf("dispute id %q is not an ID", id)
	}
	wantFields(t, m, want)
}

// wantDispute is checkDispute as a statusCase check.
func wantDispute(want map[string]any) func(t *testing.T, r response) {
	return func(t *testing.T, r response) {
		t.Helper()
		checkDispute(t, r.JSON, want)
	}
}

// wantAdminAgent checks the shape of the admin API's agent JSON and the given fields.
func wantAdminAgent(want map[string]any) func(t *testing.T, r response) {
	return func(t *testing.T, r response) {
		t.Helper()
		if got := sortedKeys(r.JSON); !slices.Equal(got, adminAgentFields) {
			t.Errorf("admin agent fields = %v, want %v", got, adminAgentFields)
		}
		wantFields(t, r.JSON, want)
	}
}

// disputePath is the path filing a dispute over a job.
func disputePath(jobID string) string { return jobPath(jobID, "dispute") }

// resolvePath is the admin path ruling on a dispute.
func resolvePath(disputeID string) string { return "/api/v1/admin/disputes/" + disputeID + "/resolve" }

// adminAgentPath is the admin path of an action on an agent (verify, unverify, restrict, unrestrict).
func adminAgentPath(agentID, action string) string {
	return "/api/v1/admin/agents/" + agentID + "/" + action
}

// summaryOutput is an output the summarizer service's outputSchema accepts.
var summaryOutput = map[string]any{"output": map[string]any{"bullets": []string{"Key finding 1", "Key finding 2"}}}

// deliveredJob hires svc (a service of provider's, with autoAccept) for client and delivers it:
// the job waits for the client's review.
func (a *api) deliveredJob(tb testing.TB, client, provider agent, svc string) string {
	tb.Helper()
	id := str(a.createJob(tb, client, directJob(svc))["id"])
	a.must(tb, http.StatusOK, "POST", jobPath(id, "deliver"), provider.Key, summaryOutput)
	return id
}

// fileDispute files a dispute over job as ag and returns its ID.
func (a *api) fileDispute(tb testing.TB, ag agent, job string) string {
	tb.Helper()
	return str(a.must(tb, http.StatusCreated, "POST", disputePath(job), ag.Key, map[string]any{"reason": "quality"})["id"])
}

// available is ag's available balance in micro-units.
func (a *api) available(tb testing.TB, ag agent) int64 {
	tb.Helper()
	return jsonNumber(tb, a.balance(tb, ag)["available"])
}

// revenue is the platform's revenue in micro-units, from the ledger's totals.
func (a *api) revenue(tb testing.TB) int64 {
	tb.Helper()
	totals, _ := a.must(tb, http.StatusOK, "GET", "/api/v1/admin/ledger/verify", adminToken, nil)["totals"].(map[string]any)
	return jsonNumber(tb, totals["platform:revenue"])
}

// profileIs is a case checking fields of an agent's public profile.
func profileIs(name, agentID string, want map[string]any) statusCase {
	return statusCase{name: name, method: "GET", path: "/api/v1/agents/" + agentID, want: http.StatusOK,
		check: func(t *testing.T, r response) {
			t.Helper()
			wantFields(t, r.JSON, want)
		}}
}

// trust is justpay.TrustScore of the inputs, for the expected trustScore of a profile.
func trust(in justpay.TrustInputs) float64 { return justpay.TrustScore(in) }

func TestStatusFileDispute(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.RateLimits{})
		client, _ := a.activated(t, "dispute-client", 5*usdc)     // 4 USDC available
		provider, _ := a.activated(t, "dispute-provider", 2*usdc) // 1 USDC available
		stranger, _ := a.activated(t, "dispute-stranger", 2*usdc)
		poor, _ := a.activated(t, "dispute-poor", usdc+515_000) // one job, nothing left for a fee
		idle := a.register(t, "dispute-idle")
		svc := a.createService(t, provider, nil) // 0.50 USDC a job, 3% fee: 515000
		running := str(a.createJob(t, client, directJob(svc))["id"])
		completed := a.deliveredJob(t, client, provider, svc)
		a.must(t, http.StatusOK, "POST", jobPath(completed, "accept-delivery"), client.Key, nil)
		job := a.deliveredJob(t, client, provider, svc)
		second := a.deliveredJob(t, client, provider, svc)
		poorJob := a.deliveredJob(t, poor, provider, svc)
		now := a.Clock.Now()

		quality := map[string]any{"reason": "quality", "description": "Output was completely off-topic and unusable"}
		file := func(name, key, job string, body any, want int, check func(*testing.T, response)) statusCase {
			return action(name, key, disputePath(job), body, want, check)
		}
		long := strings.Repeat("d", justpay.MaxDisputeDescription)
		var clientDispute, providerDispute string
		a.table(t, &client, []statusCase{
			balanceIs("BalanceBefore", client, "1940000", "1545000"),
			file("ErrUnauthorized", "", job, quality, http.StatusUnauthorized, nil),
			{name: "ErrForbiddenNotActivated", method: "POST", path: disputePath(job), key: idle.Key, body: quality, want: http.StatusForbidden,
				check: wantError("activat"), money: &idle},
			file("ErrInvalidReasonMissing", client.Key, job, `{"description":"bad"}`, http.StatusBadRequest, wantError("reason")),
			file("ErrInvalidReasonUnknown", client.Key, job, `{"reason":"meh"}`, http.StatusBadRequest, wantError("reason", "quality, incomplete, fraud, wrong_output, other")),
			file("ErrInvalidReasonWrongCase", client.Key, job, `{"reason":"Quality"}`, http.StatusBadRequest, wantError("reason")),
			file("ErrInvalidReasonNotString", client.Key, job, `{"reason":5}`, http.StatusBadRequest, wantError("reason")),
			file("ErrInvalidDescriptionTooLong", client.Key, job, map[string]any{"reason": "other", "description": long + "d"}, http.StatusBadRequest,
				wantError("description", "1000")),
			file("ErrInvalidDescriptionNUL", client.Key, job, `{"reason":"other","description":"a\u0000b"}`, http.StatusBadRequest, wantError("description")),
			file("ErrInvalidUnknownField", client.Key, job, `{"reason":"quality","amount":1}`, http.StatusBadRequest, wantError("unknown field")),
			file("ErrInvalidEmptyBody", client.Key, job, ``, http.StatusBadRequest, nil),
			file("ErrInvalidNotAnObject", client.Key, job, `[]`, http.StatusBadRequest, nil),
			{name: "ErrNotFoundNotAParty", method: "POST", path: disputePath(job), key: stranger.Key, body: quality, want: http.StatusNotFound, money: &stranger},
			file("ErrNotFoundUnknown", client.Key, unknownID, quality, http.StatusNotFound, nil),
			file("ErrNotFoundMalformed", client.Key, "nope", quality, http.StatusNotFound, nil),
			file("ErrConflictNotDelivered", client.Key, running, quality, http.StatusConflict, wantError("accepted", "delivered")),
			file("ErrConflictCompleted", client.Key, completed, quality, http.StatusConflict, wantError("completed")),
			{name: "ErrInsufficientFundsForTheFee", method: "POST", path: disputePath(poorJob), key: poor.Key, body: quality,
				want: http.StatusBadRequest, check: wantError("insufficient funds"), money: &poor},
			{name: "PoorJobStillDelivered", method: "GET", path: jobPath(poorJob), key: poor.Key, want: http.StatusOK,
				check: wantJob(false, map[string]any{"status": "delivered"})},
			{name: "GetNoDisputeYet", method: "GET", path: jobPath(job), key: client.Key, want: http.StatusOK, check: func(t *testing.T, r response) {
				wantJob(false, map[string]any{"status": "delivered", "expiresAt": at(now, 5*time.Minute)})(t, r)
				wantAbsent(t, r.JSON, "dispute")
			}},

			file("OKClient", client.Key, job, quality, http.StatusCreated, capture(&clientDispute, "id", wantDispute(map[string]any{
				"jobId": job, "claimantAgentId": client.ID, "respondentAgentId": provider.ID, "reason": "quality",
				"description": "Output was completely off-topic and unusable", "fee": "100000", "status": "open", "outcome": nil,
				"note": nil, "createdAt": at(now, 0), "resolvedAt": nil}))),
			// The fee left the client's available balance; the job's escrow stays where it was.
			balanceIs("FeeTaken", client, "1840000", "1545000"),
			file("ErrConflictTwice", client.Key, job, quality, http.StatusConflict, nil),
			{name: "ErrConflictOtherPartyAfter", method: "POST", path: disputePath(job), key: provider.Key, body: quality,
				want: http.StatusConflict, check: wantError("disputed"), money: &provider},

			{name: "OKProvider", method: "POST", path: disputePath(second), key: provider.Key, want: http.StatusCreated,
				body: map[string]any{"reason": "other", "description": long}, money: &provider,
				check: capture(&providerDispute, "id", wantDispute(map[string]any{
					"jobId": second, "claimantAgentId": provider.ID, "respondentAgentId": client.ID, "reason": "other",
					"description": long, "fee": "100000", "status": "open", "outcome": nil, "note": nil, "createdAt": at(now, 0), "resolvedAt": nil}))},
			balanceIs("ProviderPaidItsFee", provider, "1400000", "0"),
			balanceIs("ClientUnchangedByTheProvidersDispute", client, "1840000", "1545000"),

			// Both parties see the dispute in the job's details, with the client's reputation.
			{name: "GetOKClientSeesTheDispute", method: "GET", path: jobPath(job), key: client.Key, want: http.StatusOK, check: func(t *testing.T, r response) {
				wantJob(false, map[string]any{"status": "disputed", "expiresAt": nil, "finishedAt": nil})(t, r)
				checkDispute(t, r.JSON["dispute"].(map[string]any), map[string]any{"id": clientDispute, "jobId": job,
					"claimantAgentId": client.ID, "respondentAgentId": provider.ID, "status": "open", "fee": "100000", "outcome": nil})
				// One dispute filed and one job completed as a client: a 50% rate, which zeroes the
				// client-behaviour component; one dispute is not yet three, so no restriction.
				wantFields(t, r.JSON, map[string]any{
					"clientReputation": map[string]any{"agentId": client.ID, "trustScore": trust(justpay.TrustInputs{DisputesFiled: 1, ClientJobsCompleted: 1}),
						"totalDisputesFiled": 1.0, "clientDisputeRate": 0.5, "clientRestricted": false, "jobsCompleted": 1.0},
					"warnings": map[string]any{"client": nil, "provider": nil},
				})
			}},
			{name: "GetOKProviderSeesTheDispute", method: "GET", path: jobPath(job), key: provider.Key, want: http.StatusOK, check: func(t *testing.T, r response) {
				wantJob(false, map[string]any{"status": "disputed"})(t, r)
				checkDispute(t, r.JSON["dispute"].(map[string]any), map[string]any{"id": clientDispute, "claimantAgentId": client.ID})
				wantFields(t, r.JSON["clientReputation"].(map[string]any), map[string]any{"agentId": client.ID, "totalDisputesFiled": 1.0})
			}},
			{name: "GetOKProvidersDispute", method: "GET", path: jobPath(second), key: client.Key, want: http.StatusOK, check: func(t *testing.T, r response) {
				checkDispute(t, r.JSON["dispute"].(map[string]any), map[string]any{"id": providerDispute, "claimantAgentId": provider.ID,
					"respondentAgentId": client.ID, "description": long})
			}},
			{name: "GetCompletedHasNoDispute", method: "GET", path: jobPath(completed), key: client.Key, want: http.StatusOK, check: func(t *testing.T, r response) {
				wantAbsent(t, r.JSON, "dispute")
				wantFields(t, r.JSON, map[string]any{"warnings": map[string]any{"client": nil, "provider": nil}})
			}},
			{name: "GetErrNotFoundStranger", method: "GET", path: jobPath(job), key: stranger.Key, want: http.StatusNotFound},
			profileIs("ClientProfile", client.ID, map[string]any{"totalDisputesFiled": 1.0, "clientDisputeRate": 0.5, "clientRestricted": false,
				"trustScore": trust(justpay.TrustInputs{DisputesFiled: 1, ClientJobsCompleted: 1})}),
			profileIs("ProviderProfile", provider.ID, map[string]any{"completedJobs": 1.0}),

			// A disputed job has no deadline: the review's auto-accept no longer applies. The
			// running job expires and the poor client's delivery is accepted meanwhile.
			advance("TenMinutesLater", 10*time.Minute),
			{name: "StillDisputed", method: "GET", path: jobPath(job), key: client.Key, want: http.StatusOK,
				check: wantJob(false, map[string]any{"status": "disputed", "expiresAt": nil})},
			{name: "PoorJobAccepted", method: "GET", path: jobPath(poorJob), key: poor.Key, want: http.StatusOK,
				check: wantJob(false, map[string]any{"status": "completed"})},
			balanceIs("DisputedEscrowsStayFrozen", client, "2355000", "1030000"),
			balanceIs("ProviderPaidOnlyForTheUndisputed", provider, "1900000", "0"),
			platformRevenue("PlatformGotTheFees", 4*usdc+2*15_000+2*disputeFilingFee), // 4 activations, 3% of two jobs, two dispute fees
		})

		t.Run("RespondentNotified", func(t *testing.T) {
			for _, tc := range []struct {
				to      agent
				job, id string
			}{{provider, job, clientDispute}, {client, second, providerDispute}} {
				events, err := a.DB.FindEvents(t.Context(), tc.to.ID)
				if err != nil {
					t.Fatal(err)
				}
				found := slices.ContainsFunc(events, func(e *justpay.Event) bool {
					return e.Type == "job.disputed" && e.Data["jobId"] == tc.job && e.Data["disputeId"] == tc.id
				})
				if !found {
					t.Errorf("%s got no job.disputed event for job %s", tc.to.ID, tc.job)
				}
			}
		})

		t.Run("ReviewWindowClosed", func(t *testing.T) {
			start := a.Clock.Now()
			justInTime := a.deliveredJob(t, client, provider, svc)
			late := a.deliveredJob(t, client, provider, svc)
			a.Clock.Advance(5*time.Minute - time.Microsecond) // no scheduler pass
			a.table(t, &client, []statusCase{
				file("OKJustBeforeTheDeadline", client.Key, justInTime, quality, http.StatusCreated, wantDispute(map[string]any{
					"jobId": justInTime, "createdAt": at(start, 5*time.Minute-time.Microsecond)})),
			})
			a.Clock.Advance(time.Microsecond) // at the deadline: the auto-accept wins
			a.table(t, &client, []statusCase{
				file("ErrConflictAtTheDeadline", client.Key, late, quality, http.StatusConflict, wantError("review window")),
				file("ErrConflictAtTheDeadlineProvider", provider.Key, late, quality, http.StatusConflict, wantError("review window")),
				advance("Scheduler", time.Second),
				{name: "AcceptedAutomatically", method: "GET", path: jobPath(late), key: client.Key, want: http.StatusOK,
					check: wantJob(false, map[string]any{"status": "completed"})},
				{name: "DisputedInTimeStays", method: "GET", path: jobPath(justInTime), key: client.Key, want: http.StatusOK,
					check: wantJob(false, map[string]any{"status": "disputed"})},
			})
		})

		t.Run("IdempotentReplay", func(t *testing.T) {
			j := a.deliveredJob(t, client, provider, svc)
			before := a.available(t, client)
			rq := request{Method: "POST", Path: disputePath(j), Key: client.Key, Body: quality, Header: hdr("Idempotency-Key", "dispute-1")}
			first, second := a.send(t, rq), a.send(t, rq)
			if first.Status != http.StatusCreated || second.Status != http.StatusCreated || second.Header.Get("Idempotency-Replayed") != "true" ||
				!bytes.Equal(first.Raw, second.Raw) {
				t.Fatalf("first %d %s, second %d %s (replayed %q)", first.Status, first.Raw, second.Status, second.Raw, second.Header.Get("Idempotency-Replayed"))
			}
			if got := a.available(t, client); got != before-disputeFilingFee {
				t.Errorf("available %d -> %d, want the fee %d taken once", before, got, disputeFilingFee)
			}
			a.table(t, &client, []statusCase{
				{name: "ErrUnprocessableOtherBody", method: "POST", path: disputePath(j), key: client.Key, body: `{"reason":"fraud"}`,
					header: hdr("Idempotency-Key", "dispute-1"), want: http.StatusUnprocessableEntity},
				{name: "ErrConflictNewKey", method: "POST", path: disputePath(j), key: client.Key, body: quality,
					header: hdr("Idempotency-Key", "dispute-2"), want: http.StatusConflict},
			})
		})

		t.Run("ClientRestricted", func(t *testing.T) {
			serial, _ := a.activated(t, "dispute-serial", 4*usdc) // 3 USDC available
			jobs := []string{a.deliveredJob(t, serial, provider, svc), a.deliveredJob(t, serial, provider, svc),
				a.deliveredJob(t, serial, provider, svc), a.deliveredJob(t, serial, provider, svc)}
			// Fewer than three disputes never restrict, even at a 100% rate: the third is filed.
			for _, j := range jobs[:3] {
				a.fileDispute(t, serial, j)
			}
			restricted := wantError("restricted", "3 disputes filed", "100% dispute rate")
			a.table(t, &serial, []statusCase{
				balanceIs("ThreeFeesPaid", serial, "640000", "2060000"),
				profileIs("Restricted", serial.ID, map[string]any{"totalDisputesFiled": 3.0, "clientDisputeRate": 1.0, "clientRestricted": true,
					"trustScore": trust(justpay.TrustInputs{DisputesFiled: 3})}),
				file("ErrForbiddenFourthDispute", serial.Key, jobs[3], quality, http.StatusForbidden, restricted),
				action("ErrForbiddenDirectJob", serial.Key, "/api/v1/jobs", directJob(svc), http.StatusForbidden, restricted),
				action("ErrForbiddenOpenJob", serial.Key, "/api/v1/jobs", openJob(100_000, nil), http.StatusForbidden, restricted),
				{name: "JobDetailsShowIt", method: "GET", path: jobPath(jobs[3]), key: provider.Key, want: http.StatusOK, check: func(t *testing.T, r response) {
					wantFields(t, r.JSON["clientReputation"].(map[string]any), map[string]any{"agentId": serial.ID, "totalDisputesFiled": 3.0,
						"clientDisputeRate": 1.0, "clientRestricted": true, "jobsCompleted": 0.0, "trustScore": trust(justpay.TrustInputs{DisputesFiled: 3})})
				}},
				// Finishing the jobs under way is still allowed: 3 disputes of 4 is 75%, still restricted.
				action("AcceptDeliveryOK", serial.Key, jobPath(jobs[3], "accept-delivery"), nil, http.StatusOK, wantJob(false, map[string]any{"status": "completed"})),
				profileIs("StillRestricted", serial.ID, map[string]any{"clientDisputeRate": 0.75, "clientRestricted": true}),
				action("ErrForbiddenStill", serial.Key, "/api/v1/jobs", directJob(svc), http.StatusForbidden, wantError("3 disputes filed", "75% dispute rate")),
			})
		})
		sqlstoretest.MustVerify(t, a.DB)
	})
}

// TestStatusClientRestrictionLifts: a client restricted for its disputes (3 filed, 60%) gets its
// rights back by itself as the jobs it has under way complete, by its acceptance or by the
// review timeout, without an admin.
func TestStatusClientRestrictionLifts(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.RateLimits{})
		client, _ := a.activated(t, "lift-client", 6*usdc) // 5 USDC available
		provider, _ := a.activated(t, "lift-provider", 2*usdc)
		svc := a.createService(t, provider, nil)
		for range 2 {
			a.must(t, http.StatusOK, "POST", jobPath(a.deliveredJob(t, client, provider, svc), "accept-delivery"), client.Key, nil)
		}
		for range 2 {
			a.fileDispute(t, client, a.deliveredJob(t, client, provider, svc))
		}
		// 2 disputes of 4 is 50%, but fewer than 3 disputes: still free to hire. Three more
		// jobs are under way when the third dispute restricts the client.
		third := a.deliveredJob(t, client, provider, svc)
		pending := []string{a.deliveredJob(t, client, provider, svc), a.deliveredJob(t, client, provider, svc), a.deliveredJob(t, client, provider, svc)}
		reputation := func(name string, disputes, completed int64, rate float64, restricted bool) statusCase {
			return profileIs(name, client.ID, map[string]any{"totalDisputesFiled": float64(disputes), "clientDisputeRate": rate,
				"clientRestricted": restricted, "trustScore": trust(justpay.TrustInputs{DisputesFiled: disputes, ClientJobsCompleted: completed})})
		}
		hire := func(name string, want int, check func(*testing.T, response)) statusCase {
			return action(name, client.Key, "/api/v1/jobs", directJob(svc), want, check)
		}
		a.table(t, &client, []statusCase{
			reputation("TwoOfFour", 2, 2, 0.5, false),
			action("ThirdDispute", client.Key, disputePath(third), `{"reason":"incomplete"}`, http.StatusCreated, nil),
			reputation("ThreeOfFive", 3, 2, 0.6, true),
			hire("ErrForbiddenAt60", http.StatusForbidden, wantError("3 disputes filed", "60% dispute rate", "completing jobs")),
			action("ErrForbiddenDispute", client.Key, disputePath(pending[0]), `{"reason":"quality"}`, http.StatusForbidden, wantError("restricted")),
			action("AcceptFirst", client.Key, jobPath(pending[0], "accept-delivery"), nil, http.StatusOK, nil),
			reputation("ThreeOfSix", 3, 3, 0.5, true),
			hire("ErrForbiddenAt50", http.StatusForbidden, wantError("50% dispute rate")),
			action("AcceptSecond", client.Key, jobPath(pending[1], "accept-delivery"), nil, http.StatusOK, nil),
			reputation("ThreeOfSeven", 3, 4, 0.429, true), // 42.9%: still at or above 40%
			hire("ErrForbiddenAt43", http.StatusForbidden, wantError("43% dispute rate")),
			// The last job is accepted by the review timeout: 3 of 8 is 37.5%, below 40%.
			advance("ReviewTimeout", 5*time.Minute),
			{name: "AcceptedByTheWorker", method: "GET", path: jobPath(pending[2]), key: client.Key, want: http.StatusOK,
				check: wantJob(false, map[string]any{"status": "completed"})},
			reputation("ThreeOfEight", 3, 5, 0.375, false),
			hire("HireAgain", http.StatusCreated, wantJob(false, map[string]any{"clientAgentId": client.ID})),
		})
	})
}

func TestStatusResolveDispute(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.RateLimits{})
		// An odd price, to see where the odd micro-unit of a split goes: its 3% fee is 15000.
		const price, fee = 500_001, 15_000
		type outcomeCase struct {
			claimant, outcome string
			// The parties' available balances after the ruling (each started with 1000000), and
			// what the platform earned from the filing to the ruling, the filing fee included.
			client, provider, platform int64
			// Trust inputs after the ruling.
			clientTrust, providerTrust justpay.TrustInputs
		}
		// Fresh parties in each case: the trust scores are exactly the formula's, and three
		// disputes would restrict a shared client.
		cases := []outcomeCase{
			// The client wins its own dispute: amount and fee back; only the filing fee is lost.
			{"client", justpay.OutcomeClaimant, 1_000_000 - disputeFilingFee, 1_000_000, disputeFilingFee,
				justpay.TrustInputs{DisputesFiled: 1}, justpay.TrustInputs{DisputesDefended: 1, DisputesLost: 1}},
			// The provider wins: the amount to it, the fee to the platform; the job counts as completed.
			{"client", justpay.OutcomeRespondent, 1_000_000 - price - fee - disputeFilingFee, 1_000_000 + price, disputeFilingFee + fee,
				justpay.TrustInputs{DisputesFiled: 1, ClientJobsCompleted: 1}, justpay.TrustInputs{JobsCompleted: 1, DisputesDefended: 1}},
			// Split: 250001 to the provider (the odd micro-unit), 250000 back to the client.
			{"client", justpay.OutcomeSplit, 1_000_000 - price - fee - disputeFilingFee + 250_000, 1_000_000 + 250_001, disputeFilingFee + fee,
				justpay.TrustInputs{DisputesFiled: 1}, justpay.TrustInputs{DisputesDefended: 1}},
			// The provider files and wins: paid as if the client had accepted. A dispute filed as
			// provider is not client behaviour: the provider's client-side inputs stay empty (see
			// TestStatusDisputeFiledAsProviderIsNotClientBehaviour).
			{"provider", justpay.OutcomeClaimant, 1_000_000 - price - fee, 1_000_000 - disputeFilingFee + price, disputeFilingFee + fee,
				justpay.TrustInputs{ClientJobsCompleted: 1, DisputesDefended: 1, DisputesLost: 1}, justpay.TrustInputs{JobsCompleted: 1}},
			// The provider files and the client wins: amount and fee back to the client.
			{"provider", justpay.OutcomeRespondent, 1_000_000, 1_000_000 - disputeFilingFee, disputeFilingFee,
				justpay.TrustInputs{DisputesDefended: 1}, justpay.TrustInputs{}},
			{"provider", justpay.OutcomeSplit, 1_000_000 - price - fee + 250_000, 1_000_000 - disputeFilingFee + 250_001, disputeFilingFee + fee,
				justpay.TrustInputs{DisputesDefended: 1}, justpay.TrustInputs{}},
		}
		var resolved []string // dispute IDs, in the order filed
		var audit []map[string]any
		for _, tc := range cases {
			t.Run(tc.claimant+"_"+tc.outcome, func(t *testing.T) {
				a.Clock.Advance(time.Second) // one instant per dispute: the lists' order is then known
				name := "ruling-" + tc.claimant + "-" + tc.outcome
				client, _ := a.activated(t, name+"-client", 2*usdc)
				provider, _ := a.activated(t, name+"-provider", 2*usdc)
				svc := a.createService(t, provider, map[string]any{"pricePerJob": price})
				job := a.deliveredJob(t, client, provider, svc)
				claimant, respondent := client, provider
				if tc.claimant == "provider" {
					claimant, respondent = provider, client
				}
				a.table(t, nil, []statusCase{
					profileIs("ClientTrustBefore", client.ID, map[string]any{"trustScore": 0.65}),
					profileIs("ProviderTrustBefore", provider.ID, map[string]any{"trustScore": 0.65}),
				})
				rev0 := a.revenue(t)
				id := a.fileDispute(t, claimant, job)
				now := a.Clock.Now()
				resolve := func(name, key, id string, body any, want int, check func(*testing.T, response)) statusCase {
					return statusCase{name: name, method: "POST", path: resolvePath(id), key: key, body: body, want: want, check: check}
				}
				ruling := map[string]any{"outcome": tc.outcome, "note": "Reviewed the output against the input"}
				a.table(t, &claimant, []statusCase{
					resolve("ErrUnauthorized", "", id, ruling, http.StatusUnauthorized, nil),
					resolve("ErrForbiddenClientKey", client.Key, id, ruling, http.StatusForbidden, wantError("admin")),
					resolve("ErrForbiddenProviderKey", provider.Key, id, ruling, http.StatusForbidden, wantError("admin")),
					resolve("ErrInvalidOutcomeUnknown", adminToken, id, `{"outcome":"client"}`, http.StatusBadRequest, wantError("outcome", "claimant, respondent, split")),
					resolve("ErrInvalidOutcomeMissing", adminToken, id, `{"note":"no outcome"}`, http.StatusBadRequest, wantError("outcome")),
					resolve("ErrInvalidOutcomeWrongCase", adminToken, id, `{"outcome":"Split"}`, http.StatusBadRequest, wantError("outcome")),
					resolve("ErrInvalidNoteTooLong", adminToken, id, map[string]any{"outcome": tc.outcome, "note": strings.Repeat("n", 1001)},
						http.StatusBadRequest, wantError("note")),
					resolve("ErrInvalidUnknownField", adminToken, id, `{"outcome":"split","amount":1}`, http.StatusBadRequest, wantError("unknown field")),
					resolve("ErrInvalidNoBody", adminToken, id, nil, http.StatusBadRequest, nil),
					resolve("ErrNotFoundUnknown", adminToken, unknownID, ruling, http.StatusNotFound, nil),
					resolve("ErrNotFoundMalformed", adminToken, "nope", ruling, http.StatusNotFound, nil),
					{name: "StillOpen", method: "GET", path: jobPath(job), key: respondent.Key, want: http.StatusOK, check: func(t *testing.T, r response) {
						wantJob(false, map[string]any{"status": "disputed"})(t, r)
						checkDispute(t, r.JSON["dispute"].(map[string]any), map[string]any{"id": id, "status": "open", "outcome": nil})
					}},
					resolve("OK", adminToken, id, ruling, http.StatusOK, wantDispute(map[string]any{
						"id": id, "jobId": job, "claimantAgentId": claimant.ID, "respondentAgentId": respondent.ID, "reason": "quality",
						"description": nil, "fee": "100000", "status": "resolved", "outcome": tc.outcome,
						"note": "Reviewed the output against the input", "createdAt": at(now, 0), "resolvedAt": at(now, 0)})),
					resolve("ErrConflictTwice", adminToken, id, map[string]any{"outcome": justpay.OutcomeSplit}, http.StatusConflict, wantError("resolved")),
					balanceIs("Client", client, micro(tc.client), "0"),
					balanceIs("Provider", provider, micro(tc.provider), "0"),
					platformRevenue("Platform", rev0+tc.platform),
					{name: "JobResolved", method: "GET", path: jobPath(job), key: client.Key, want: http.StatusOK, check: func(t *testing.T, r response) {
						wantJob(false, map[string]any{"status": "resolved", "expiresAt": nil, "finishedAt": at(now, 0)})(t, r)
						checkDispute(t, r.JSON["dispute"].(map[string]any), map[string]any{"id": id, "status": "resolved", "outcome": tc.outcome,
							"resolvedAt": at(now, 0)})
						wantFields(t, r.JSON["clientReputation"].(map[string]any), map[string]any{"trustScore": trust(tc.clientTrust),
							"totalDisputesFiled": float64(tc.clientTrust.DisputesFiled), "jobsCompleted": float64(tc.clientTrust.ClientJobsCompleted)})
					}},
					{name: "ProviderSeesTheRuling", method: "GET", path: jobPath(job), key: provider.Key, want: http.StatusOK, check: func(t *testing.T, r response) {
						checkDispute(t, r.JSON["dispute"].(map[string]any), map[string]any{"id": id, "status": "resolved", "outcome": tc.outcome})
					}},
					profileIs("ClientTrustAfter", client.ID, map[string]any{"trustScore": trust(tc.clientTrust),
						"totalDisputesFiled": float64(tc.clientTrust.DisputesFiled)}),
					profileIs("ProviderTrustAfter", provider.ID, map[string]any{"trustScore": trust(tc.providerTrust),
						"completedJobs": float64(tc.providerTrust.JobsCompleted), "totalDisputesFiled": float64(tc.providerTrust.DisputesFiled)}),
					action("ErrConflictDisputeAgain", claimant.Key, disputePath(job), `{"reason":"other"}`, http.StatusConflict, nil),
					action("ErrConflictAcceptDelivery", client.Key, jobPath(job, "accept-delivery"), nil, http.StatusConflict, nil),
				})
				resolved = append(resolved, id)
				audit = append(audit, map[string]any{"action": "dispute.resolve", "targetType": "dispute", "targetId": id, "createdAt": at(now, 0),
					"details": map[string]any{"jobId": job, "outcome": tc.outcome, "note": "Reviewed the output against the input"}})
			})
		}
		if len(resolved) != len(cases) {
			return // a ruling failed outright: the lists below would only repeat it
		}

		// Two disputes left open, for the admin's list.
		client, _ := a.activated(t, "list-client", 3*usdc)
		provider, _ := a.activated(t, "list-provider", 2*usdc)
		svc := a.createService(t, provider, nil)
		var open []string
		for range 2 {
			a.Clock.Advance(time.Second)
			open = append(open, a.fileDispute(t, client, a.deliveredJob(t, client, provider, svc)))
		}
		all := append(slices.Clone(resolved), open...)
		slices.Reverse(audit) // newest first
		list := func(name, query string, want int, check func(*testing.T, response)) statusCase {
			return statusCase{name: name, method: "GET", path: "/api/v1/admin/disputes" + query, key: adminToken, want: want, check: check}
		}
		a.table(t, nil, []statusCase{
			list("OKAll", "", http.StatusOK, func(t *testing.T, r response) {
				listIDs("disputes", len(all), all...)(t, r)
				for _, d := range r.JSON["disputes"].([]any) {
					checkDispute(t, d.(map[string]any), nil)
				}
				wantFields(t, r.JSON, map[string]any{"pagination": map[string]any{"page": 1.0, "limit": 20.0, "total": 8.0, "totalPages": 1.0}})
			}),
			list("OKOpen", "?status=open", http.StatusOK, func(t *testing.T, r response) {
				listIDs("disputes", 2, open...)(t, r)
				checkDispute(t, r.JSON["disputes"].([]any)[0].(map[string]any), map[string]any{"claimantAgentId": client.ID,
					"respondentAgentId": provider.ID, "status": "open", "outcome": nil, "resolvedAt": nil})
			}),
			list("OKResolved", "?status=resolved", http.StatusOK, listIDs("disputes", 6, resolved...)),
			list("OKResolvedPage2", "?status=resolved&limit=4&page=2", http.StatusOK, func(t *testing.T, r response) {
				listIDs("disputes", 6, resolved[4:]...)(t, r)
				wantFields(t, r.JSON, map[string]any{"pagination": map[string]any{"page": 2.0, "limit": 4.0, "total": 6.0, "totalPages": 2.0}})
			}),
			list("OKPastTheEnd", "?page=3&limit=4", http.StatusOK, listIDs("disputes", 8)),
			list("OKEmptyStatusIsAll", "?status=", http.StatusOK, listIDs("disputes", 8, all...)),
			list("ErrInvalidStatus", "?status=closed", http.StatusBadRequest, wantError("status", "open, resolved")),
			list("ErrInvalidStatusWrongCase", "?status=OPEN", http.StatusBadRequest, wantError("status")),
			list("ErrInvalidLimitZero", "?limit=0", http.StatusBadRequest, wantError("limit")),
			list("ErrInvalidLimitTooBig", "?limit=101", http.StatusBadRequest, wantError("limit")),
			list("ErrInvalidPageZero", "?page=0", http.StatusBadRequest, wantError("page")),
			{name: "ErrUnauthorized", method: "GET", path: "/api/v1/admin/disputes", want: http.StatusUnauthorized},
			{name: "ErrForbiddenAgentKey", method: "GET", path: "/api/v1/admin/disputes", key: client.Key, want: http.StatusForbidden},
			{name: "ErrForbiddenWrongToken", method: "GET", path: "/api/v1/admin/disputes", key: adminToken + "x", want: http.StatusForbidden},
			{name: "ErrMethodNotAllowed", method: "POST", path: "/api/v1/admin/disputes", key: adminToken, want: http.StatusMethodNotAllowed},
			// The audit log holds the six rulings, newest first, and nothing for the refused calls.
			{name: "Audit", method: "GET", path: "/api/v1/admin/audit", key: adminToken, want: http.StatusOK, check: func(t *testing.T, r response) {
				checkAudit(t, r, 6, audit)
			}},
		})
	})
}

// checkAudit checks an audit page: its total and its records, in order, against want (every
// field but id).
func checkAudit(t *testing.T, r response, total int, want []map[string]any) {
	t.Helper()
	records, _ := r.JSON["records"].([]any)
	if len(records) != len(want) {
		t.Fatalf("%d audit records, want %d: %s", len(records), len(want), r.Raw)
	}
	for i, x := range records {
		m := x.(map[string]any)
		if got := sortedKeys(m); !slices.Equal(got, auditFields) {
			t.Errorf("audit record fields = %v, want %v", got, auditFields)
		}
		if !justpay.IsID(str(m["id"])) {
			t.Errorf("audit record id %v is not an ID", m["id"])
		}
		wantFields(t, m, want[i])
	}
	if got := r.JSON["pagination"].(map[string]any)["total"]; got != float64(total) {
		t.Errorf("audit total = %v, want %d", got, total)
	}
}

func TestStatusAdminAgents(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.RateLimits{})
		target, _ := a.activated(t, "admin-target", 5*usdc) // 4 USDC available
		provider, _ := a.activated(t, "admin-provider", 2*usdc)
		owner, _ := a.activated(t, "admin-owner", 2*usdc)
		svc := a.createService(t, provider, nil)
		campaign := a.createCampaign(t, owner, minimalCampaign(map[string]any{"rewardPerTask": 1000, "totalBudget": 2000}))
		job := a.deliveredJob(t, target, provider, svc) // delivered before the restriction
		const reason = "Chargebacks under review: contact support@justpay.example"
		start := a.Clock.Now()

		admin := func(name, path string, body any, want int, check func(*testing.T, response)) statusCase {
			return statusCase{name: name, method: "POST", path: path, key: adminToken, body: body, want: want, check: check}
		}
		agentJSON := func(verified, restricted bool, restrictedReason any, trustScore float64) func(*testing.T, response) {
			return wantAdminAgent(map[string]any{"id": target.ID, "name": "admin-target", "verified": verified, "restricted": restricted,
				"restrictedReason": restrictedReason, "trustScore": trustScore, "completedJobs": 0.0, "averageRating": nil, "ratingCount": 0.0,
				"totalDisputesFiled": 0.0, "clientDisputeRate": 0.0, "clientRestricted": false, "pendingReportCount": 0.0, "warning": nil})
		}
		tick := func(name string) statusCase { return advance(name, time.Second) }
		byAdmin := wantError("restricted by an admin", reason)
		// Everything the restriction forbids, as the target: hire (direct and open), list a
		// service, start a campaign, claim a campaign task, dispute.
		restrictedActions := func(prefix string, want int, check func(*testing.T, response)) []statusCase {
			return []statusCase{
				action(prefix+"DirectJob", target.Key, "/api/v1/jobs", directJob(svc), want, check),
				action(prefix+"OpenJob", target.Key, "/api/v1/jobs", openJob(100_000, nil), want, check),
				action(prefix+"Service", target.Key, "/api/v1/services", serviceBody(map[string]any{"name": "Target Summaries"}), want, check),
				action(prefix+"Campaign", target.Key, "/api/v1/campaigns", minimalCampaign(nil), want, check),
				action(prefix+"Claim", target.Key, campaignPath(campaign, "claim"), nil, want, check),
				action(prefix+"Dispute", target.Key, disputePath(job), `{"reason":"wrong_output"}`, want, check),
			}
		}
		cases := []statusCase{
			profileIs("TrustBefore", target.ID, map[string]any{"verified": false, "trustScore": 0.65}),
			{name: "VerifyErrUnauthorized", method: "POST", path: adminAgentPath(target.ID, "verify"), want: http.StatusUnauthorized},
			{name: "VerifyErrForbiddenAgentKey", method: "POST", path: adminAgentPath(target.ID, "verify"), key: target.Key, want: http.StatusForbidden},
			{name: "VerifyErrForbiddenWrongToken", method: "POST", path: adminAgentPath(target.ID, "verify"), key: "jp_" + adminToken, want: http.StatusForbidden},
			admin("VerifyErrNotFoundUnknown", adminAgentPath(unknownID, "verify"), nil, http.StatusNotFound, nil),
			admin("VerifyErrNotFoundMalformed", adminAgentPath("nope", "verify"), nil, http.StatusNotFound, nil),
			admin("VerifyErrInvalidBody", adminAgentPath(target.ID, "verify"), `{"verified":true}`, http.StatusBadRequest, nil),
			{name: "VerifyErrMethodNotAllowed", method: "GET", path: adminAgentPath(target.ID, "verify"), key: adminToken, want: http.StatusMethodNotAllowed},
			// A verified agent scores the 10% verification component: exactly 0.10 more.
			admin("VerifyOK", adminAgentPath(target.ID, "verify"), `{}`, http.StatusOK, agentJSON(true, false, nil, 0.75)),
			profileIs("VerifiedProfile", target.ID, map[string]any{"verified": true, "trustScore": 0.75}),
			{name: "VerifiedOwnProfile", method: "GET", path: "/api/v1/agents/me", key: target.Key, want: http.StatusOK, check: func(t *testing.T, r response) {
				wantFields(t, r.JSON, map[string]any{"verified": true, "trustScore": 0.75})
			}},
			tick("Tick1"),
			admin("VerifyOKAgain", adminAgentPath(target.ID, "verify"), nil, http.StatusOK, agentJSON(true, false, nil, 0.75)),
			tick("Tick2"),
			admin("UnverifyOK", adminAgentPath(target.ID, "unverify"), nil, http.StatusOK, agentJSON(false, false, nil, 0.65)),
			admin("UnverifyErrNotFoundUnknown", adminAgentPath(unknownID, "unverify"), nil, http.StatusNotFound, nil),
			{name: "UnverifyErrForbiddenAgentKey", method: "POST", path: adminAgentPath(target.ID, "unverify"), key: target.Key, want: http.StatusForbidden},
			profileIs("UnverifiedProfile", target.ID, map[string]any{"verified": false, "trustScore": 0.65}),

			admin("RestrictErrInvalidNoReason", adminAgentPath(target.ID, "restrict"), `{}`, http.StatusBadRequest, wantError("reason")),
			admin("RestrictErrInvalidBlankReason", adminAgentPath(target.ID, "restrict"), `{"reason":"  "}`, http.StatusBadRequest, wantError("reason")),
			admin("RestrictErrInvalidNoBody", adminAgentPath(target.ID, "restrict"), nil, http.StatusBadRequest, nil),
			admin("RestrictErrInvalidReasonTooLong", adminAgentPath(target.ID, "restrict"), map[string]any{"reason": strings.Repeat("r", 501)},
				http.StatusBadRequest, wantError("reason")),
			admin("RestrictErrInvalidUnknownField", adminAgentPath(target.ID, "restrict"), `{"reason":"x","days":3}`, http.StatusBadRequest, wantError("unknown field")),
			admin("RestrictErrNotFoundUnknown", adminAgentPath(unknownID, "restrict"), map[string]any{"reason": reason}, http.StatusNotFound, nil),
			{name: "RestrictErrForbiddenAgentKey", method: "POST", path: adminAgentPath(target.ID, "restrict"), key: target.Key,
				body: map[string]any{"reason": reason}, want: http.StatusForbidden},
			{name: "RestrictErrUnauthorized", method: "POST", path: adminAgentPath(target.ID, "restrict"), body: map[string]any{"reason": reason},
				want: http.StatusUnauthorized},
			tick("Tick3"),
			admin("RestrictOK", adminAgentPath(target.ID, "restrict"), map[string]any{"reason": reason}, http.StatusOK, agentJSON(false, true, reason, 0.65)),
		}
		cases = append(cases, restrictedActions("ErrForbiddenRestricted", http.StatusForbidden, byAdmin)...)
		cases = append(cases, []statusCase{
			// What it has under way goes on: it may still read its wallet and its jobs (and accept
			// the delivery it waits for; not here: the dispute below needs it delivered).
			balanceIs("BalanceUntouched", target, "3485000", "515000"),
			{name: "JobStillReadable", method: "GET", path: jobPath(job), key: target.Key, want: http.StatusOK,
				check: wantJob(false, map[string]any{"status": "delivered"})},
			admin("UnrestrictErrInvalidBody", adminAgentPath(target.ID, "unrestrict"), `{"reason":"x"}`, http.StatusBadRequest, nil),
			admin("UnrestrictErrNotFoundUnknown", adminAgentPath(unknownID, "unrestrict"), nil, http.StatusNotFound, nil),
			{name: "UnrestrictErrForbiddenAgentKey", method: "POST", path: adminAgentPath(target.ID, "unrestrict"), key: target.Key, want: http.StatusForbidden},
			tick("Tick4"),
			admin("UnrestrictOK", adminAgentPath(target.ID, "unrestrict"), nil, http.StatusOK, agentJSON(false, false, nil, 0.65)),
		}...)
		a.table(t, &target, cases)

		var dispute string
		after := restrictedActions("OKUnrestricted", http.StatusCreated, nil)
		after[len(after)-1].check = capture(&dispute, "id", nil)
		a.table(t, &target, after)
		a.table(t, &target, []statusCase{
			tick("Tick5"),
			admin("ResolveOK", resolvePath(dispute), `{"outcome":"respondent"}`, http.StatusOK, wantDispute(map[string]any{"outcome": "respondent", "note": nil})),
		})

		// Every successful admin action, newest first, with its details.
		record := func(action, targetType, targetID string, at string, details map[string]any) map[string]any {
			return map[string]any{"action": action, "targetType": targetType, "targetId": targetID, "createdAt": at, "details": details}
		}
		records := []map[string]any{
			record("dispute.resolve", "dispute", dispute, at(start, 5*time.Second), map[string]any{"jobId": job, "outcome": "respondent", "note": ""}),
			record("agent.unrestrict", "agent", target.ID, at(start, 4*time.Second), map[string]any{"reason": ""}),
			record("agent.restrict", "agent", target.ID, at(start, 3*time.Second), map[string]any{"reason": reason}),
			record("agent.unverify", "agent", target.ID, at(start, 2*time.Second), map[string]any{}),
			record("agent.verify", "agent", target.ID, at(start, time.Second), map[string]any{}),
			record("agent.verify", "agent", target.ID, at(start, 0), map[string]any{}),
		}
		auditList := func(name, query string, want int, check func(*testing.T, response)) statusCase {
			return statusCase{name: name, method: "GET", path: "/api/v1/admin/audit" + query, key: adminToken, want: want, check: check}
		}
		a.table(t, nil, []statusCase{
			auditList("OK", "", http.StatusOK, func(t *testing.T, r response) {
				checkAudit(t, r, len(records), records)
				wantFields(t, r.JSON, map[string]any{"pagination": map[string]any{"page": 1.0, "limit": 20.0, "total": 6.0, "totalPages": 1.0}})
			}),
			auditList("OKFirstPage", "?limit=4", http.StatusOK, func(t *testing.T, r response) {
				checkAudit(t, r, len(records), records[:4])
				wantFields(t, r.JSON, map[string]any{"pagination": map[string]any{"page": 1.0, "limit": 4.0, "total": 6.0, "totalPages": 2.0}})
			}),
			auditList("OKSecondPage", "?limit=4&page=2", http.StatusOK, func(t *testing.T, r response) { checkAudit(t, r, len(records), records[4:]) }),
			auditList("OKPastTheEnd", "?limit=4&page=3", http.StatusOK, func(t *testing.T, r response) { checkAudit(t, r, len(records), nil) }),
			auditList("ErrInvalidLimit", "?limit=101", http.StatusBadRequest, wantError("limit")),
			auditList("ErrInvalidPage", "?page=-1", http.StatusBadRequest, wantError("page")),
			{name: "ErrUnauthorized", method: "GET", path: "/api/v1/admin/audit", want: http.StatusUnauthorized},
			{name: "ErrForbiddenAgentKey", method: "GET", path: "/api/v1/admin/audit", key: target.Key, want: http.StatusForbidden},
			{name: "ErrMethodNotAllowed", method: "POST", path: "/api/v1/admin/audit", key: adminToken, want: http.StatusMethodNotAllowed},
		})
	})
}

// raceAll sends the requests at once and returns how many got each status, after checking every
// response (never a 5xx).
func (a *api) raceAll(t *testing.T, rqs []request) map[int]int {
	t.Helper()
	rs := make([]response, len(rqs))
	errs := make([]error, len(rqs))
	gate := make(chan struct{})
	var wg sync.WaitGroup
	for i, rq := range rqs {
		wg.Go(func() {
			<-gate
			rs[i], errs[i] = a.roundTrip(rq)
		})
	}
	close(gate)
	wg.Wait()
	statuses := map[int]int{}
	for i := range rs {
		if errs[i] != nil {
			t.Fatalf("request %d: %v", i, errs[i])
		}
		checkResponse(t, rqs[i], &rs[i])
		statuses[rs[i].Status]++
	}
	return statuses
}

// TestStatusDisputesConcurrent races the dispute requests that must serialize on the job: one
// filing wins and only its fee is taken, one ruling wins and the escrow is paid out once, and a
// dispute racing the client's acceptance leaves exactly one of them done.
func TestStatusDisputesConcurrent(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.RateLimits{})
		const rounds = 4
		// parties are a fresh client, provider and service: a provider's won disputes must not
		// add up across rounds.
		parties := func(t *testing.T, name string) (client, provider agent, svc string) {
			t.Helper()
			client, _ = a.activated(t, name+"-client", 2*usdc)
			provider, _ = a.activated(t, name+"-provider", 2*usdc)
			return client, provider, a.createService(t, provider, nil)
		}

		t.Run("OneFilingWins", func(t *testing.T) {
			for i := range rounds {
				client, provider, svc := parties(t, fmt.Sprintf("race-filer-%d", i))
				job := a.deliveredJob(t, client, provider, svc)
				c0, p0 := a.available(t, client), a.available(t, provider)
				var rqs []request
				for k := range 3 {
					for _, ag := range []agent{client, provider} {
						rqs = append(rqs, request{Method: "POST", Path: disputePath(job), Key: ag.Key, Body: `{"reason":"quality"}`,
							Header: hdr("Idempotency-Key", fmt.Sprintf("race-%d-%d", i, k))})
					}
				}
				if got := a.raceAll(t, rqs); got[http.StatusCreated] != 1 || got[http.StatusConflict] != len(rqs)-1 {
					t.Fatalf("round %d: statuses %v, want one 201 and %d 409", i, got, len(rqs)-1)
				}
				d := a.must(t, http.StatusOK, "GET", jobPath(job), client.Key, nil)["dispute"].(map[string]any)
				paid := map[string]int64{client.ID: c0 - a.available(t, client), provider.ID: p0 - a.available(t, provider)}
				if claimant := str(d["claimantAgentId"]); paid[claimant] != disputeFilingFee || len(paid) != 2 ||
					paid[client.ID]+paid[provider.ID] != disputeFilingFee {
					t.Fatalf("round %d: claimant %s, fees paid %v, want %d from the claimant only", i, claimant, paid, disputeFilingFee)
				}
			}
			sqlstoretest.MustVerify(t, a.DB)
		})

		t.Run("OneRulingWins", func(t *testing.T) {
			for i := range rounds {
				client, provider, svc := parties(t, fmt.Sprintf("race-ruled-%d", i))
				job := a.deliveredJob(t, client, provider, svc)
				id := a.fileDispute(t, client, job)
				c0, p0 := a.available(t, client), a.available(t, provider)
				var rqs []request
				for range 2 {
					for _, outcome := range justpay.DisputeOutcomes {
						rqs = append(rqs, request{Method: "POST", Path: resolvePath(id), Key: adminToken, Body: map[string]any{"outcome": outcome}})
					}
				}
				if got := a.raceAll(t, rqs); got[http.StatusOK] != 1 || got[http.StatusConflict] != len(rqs)-1 {
					t.Fatalf("round %d: statuses %v, want one 200 and %d 409", i, got, len(rqs)-1)
				}
				d := a.must(t, http.StatusOK, "GET", jobPath(job), client.Key, nil)["dispute"].(map[string]any)
				want := map[string][2]int64{ // what the client and the provider get for each outcome
					justpay.OutcomeClaimant: {515_000, 0}, justpay.OutcomeRespondent: {0, 500_000}, justpay.OutcomeSplit: {250_000, 250_000}}[str(d["outcome"])]
				if got := [2]int64{a.available(t, client) - c0, a.available(t, provider) - p0}; got != want {
					t.Fatalf("round %d: outcome %v paid client and provider %v, want %v", i, d["outcome"], got, want)
				}
			}
			sqlstoretest.MustVerify(t, a.DB)
		})

		t.Run("DisputeOrAcceptance", func(t *testing.T) {
			for i := range rounds {
				client, provider, svc := parties(t, fmt.Sprintf("race-accepter-%d", i))
				job := a.deliveredJob(t, client, provider, svc)
				got := a.raceAll(t, []request{
					{Method: "POST", Path: jobPath(job, "accept-delivery"), Key: client.Key},
					{Method: "POST", Path: disputePath(job), Key: provider.Key, Body: `{"reason":"other"}`},
				})
				status := str(a.must(t, http.StatusOK, "GET", jobPath(job), client.Key, nil)["status"])
				if got[http.StatusConflict] != 1 || (status == "completed") != (got[http.StatusOK] == 1) || (status == "disputed") != (got[http.StatusCreated] == 1) {
					t.Fatalf("round %d: statuses %v, job %s: want exactly one of acceptance and dispute", i, got, status)
				}
			}
			sqlstoretest.MustVerify(t, a.DB)
		})
	})
}

// TestStatusDisputeRateInJobCreated: the spec's Client Reputation section says providers see
// the client's reputation "in the job.created webhook, including your trust score, dispute rate,
// and jobs completed"; the event carries the same block as the job's details.
func TestStatusDisputeRateInJobCreated(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.RateLimits{})
		client, _ := a.activated(t, "webhook-client", 3*usdc)
		provider, _ := a.activated(t, "webhook-provider", 2*usdc)
		svc := a.createService(t, provider, nil)
		a.must(t, http.StatusOK, "POST", jobPath(a.deliveredJob(t, client, provider, svc), "accept-delivery"), client.Key, nil)
		a.fileDispute(t, client, a.deliveredJob(t, client, provider, svc))
		job := str(a.createJob(t, client, directJob(svc))["id"])

		details := a.must(t, http.StatusOK, "GET", jobPath(job), provider.Key, nil)["clientReputation"].(map[string]any)
		wantFields(t, details, map[string]any{"agentId": client.ID, "totalDisputesFiled": 1.0, "clientDisputeRate": 0.5,
			"clientRestricted": false, "jobsCompleted": 1.0})
		events, err := a.DB.FindEvents(t.Context(), provider.ID)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(events, func(e *justpay.Event) bool { return e.Type == "job.created" && e.Data["jobId"] == job })
		if i < 0 {
			t.Fatalf("no job.created event for job %s", job)
		}
		webhook, _ := events[i].Data["clientReputation"].(map[string]any)
		if !reflect.DeepEqual(webhook, details) {
			t.Errorf("job.created clientReputation = %v, want the job details' %v", webhook, details)
		}
	})
}

// TestStatusDisputeFreeJob: a job of a free service has an empty escrow; a dispute over it still
// costs the 0.10 USDC minimum fee, and every ruling closes the empty escrow without moving money.
func TestStatusDisputeFreeJob(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.RateLimits{})
		provider, _ := a.activated(t, "free-provider", 2*usdc)
		free := a.createService(t, provider, map[string]any{"pricePerJob": 0})
		for _, outcome := range justpay.DisputeOutcomes {
			client, _ := a.activated(t, "free-client-"+outcome, 2*usdc)
			job := a.deliveredJob(t, client, provider, free)
			var id string
			a.table(t, &client, []statusCase{
				action("File", client.Key, disputePath(job), `{"reason":"incomplete"}`, http.StatusCreated,
					capture(&id, "id", wantDispute(map[string]any{"fee": "100000", "jobId": job}))),
				balanceIs("FeePaid", client, "900000", "0"),
			})
			a.table(t, &client, []statusCase{
				{name: "Resolve", method: "POST", path: resolvePath(id), key: adminToken, body: map[string]any{"outcome": outcome},
					want: http.StatusOK, check: wantDispute(map[string]any{"outcome": outcome, "status": "resolved"})},
				balanceIs("NothingBack", client, "900000", "0"),
				balanceIs("ProviderUnpaid", provider, "1000000", "0"),
				{name: "Resolved", method: "GET", path: jobPath(job), key: client.Key, want: http.StatusOK,
					check: wantJob(false, map[string]any{"status": "resolved", "amount": "0"})},
			})
		}
	})
}

// TestStatusDisputeFiledAsProviderIsNotClientBehaviour: the spec's client-behaviour component
// "tracks how often you dispute jobs you hired for", and the client abuse restriction "lifts
// automatically as you complete jobs without disputing". A provider that disputes its own
// deliveries (and wins) has hired nobody: its client dispute rate stays 0, its trust keeps the
// client-behaviour marks, and it may go on disputing and hiring.
func TestStatusDisputeFiledAsProviderIsNotClientBehaviour(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.RateLimits{})
		provider, _ := a.activated(t, "filing-provider", 2*usdc)
		other, _ := a.activated(t, "filing-other", 2*usdc)
		svc := a.createService(t, provider, nil)
		otherSvc := a.createService(t, other, nil)
		var jobs []string
		for i := range 4 {
			client, _ := a.activated(t, fmt.Sprintf("filing-client-%d", i), 2*usdc)
			jobs = append(jobs, a.deliveredJob(t, client, provider, svc))
		}
		for _, j := range jobs[:3] {
			id := a.fileDispute(t, provider, j)
			a.must(t, http.StatusOK, "POST", resolvePath(id), adminToken, map[string]any{"outcome": justpay.OutcomeClaimant})
		}
		a.table(t, &provider, []statusCase{
			profileIs("NoClientSideDisputes", provider.ID, map[string]any{"completedJobs": 3.0, "totalDisputesFiled": 0.0,
				"clientDisputeRate": 0.0, "clientRestricted": false, "trustScore": trust(justpay.TrustInputs{JobsCompleted: 3})}),
			action("FourthDisputeOK", provider.Key, disputePath(jobs[3]), `{"reason":"other"}`, http.StatusCreated, nil),
			action("HireOK", provider.Key, "/api/v1/jobs", directJob(otherSvc), http.StatusCreated, nil),
		})
	})
}
