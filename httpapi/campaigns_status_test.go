package httpapi_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/justpay/justpay/httpapi"
	"github.com/justpay/justpay/sqlstore/sqlstoretest"
)

// The status matrix of the campaign routes, on SQLite and (with JUSTPAY_TEST_POSTGRES)
// PostgreSQL: the budget and its fees escrowed at creation, a task's cost reserved by its claim
// and paid to the agent to the micro-unit, everything unspent back to the owner on cancel.

// campaignPath is the path of a campaign, or of one of its actions ("claim", "tasks/x/deliver"...).
func campaignPath(id string, action ...string) string {
	return strings.Join(append([]string{"/api/v1/campaigns/" + id}, action...), "/")
}

// taskPath is the path of an action on a campaign's task.
func taskPath(campaign, task, action string) string {
	return campaignPath(campaign, "tasks", task, action)
}

// campaignBody is the spec's example campaign at a smaller budget (20 tasks of 0.05 USDC), with
// the fields of over replaced (a nil value removes the field).
func campaignBody(over map[string]any) map[string]any {
	body := map[string]any{
		"title":                "Tweet about our product launch",
		"description":          "Post a tweet mentioning @ourproduct with the hashtag #launch",
		"category":             "social-media",
		"tags":                 []string{"twitter", "promo"},
		"taskDescription":      map[string]any{"format": "tweet_url"},
		"rewardPerTask":        50000,
		"totalBudget":          1000000,
		"maxPerAgent":          1,
		"autoAccept":           true,
		"maxExecutionTimeSecs": 3600,
		"durationDays":         30,
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

// minimalCampaign is the smallest campaign there is: one task of 1000 micro-units (1030 with its
// fee), only the required fields, with the fields of over replaced.
func minimalCampaign(over map[string]any) map[string]any {
	body := map[string]any{"title": "Say hi", "description": "Reply hi to our post", "category": "social-media",
		"rewardPerTask": 1000, "totalBudget": 1000}
	for k, v := range over {
		if v == nil {
			delete(body, k)
		} else {
			body[k] = v
		}
	}
	return body
}

// createCampaign creates a campaign for ag through the API and returns its ID.
func (a *api) createCampaign(tb testing.TB, ag agent, body any) string {
	tb.Helper()
	return str(a.must(tb, http.StatusCreated, "POST", "/api/v1/campaigns", ag.Key, body)["id"])
}

// claim claims a task of campaign for ag through the API and returns the task's ID.
func (a *api) claim(tb testing.TB, ag agent, campaign string) string {
	tb.Helper()
	return str(a.must(tb, http.StatusCreated, "POST", campaignPath(campaign, "claim"), ag.Key, nil)["id"])
}

// campaignFields are the fields of the campaign JSON, sorted, without the two that appear only
// sometimes: callbackUrl (owner only, when set) and funded (answers that escrowed money).
var campaignFields = []string{"autoAccept", "category", "createdAt", "dailyLimitPerAgent", "description", "durationDays", "endsAt",
	"finishedAt", "id", "maxConcurrentClaims", "maxExecutionTimeSecs", "maxPerAgent", "minTrustScore", "ownerId", "platformFeePerTask",
	"remainingBudget", "remainingTasks", "reviewTimeoutSecs", "rewardPerTask", "status", "tags", "taskCost", "taskDescription", "tasks",
	"title", "totalBudget", "updatedAt"}

// taskFields are the fields of the task JSON, sorted.
var taskFields = []string{"agentId", "amount", "campaignId", "createdAt", "deliveredAt", "expiresAt", "finishedAt", "id", "output",
	"platformFee", "rejectReason", "status", "totalCost", "updatedAt"}

// checkCampaign checks the shape of a campaign and the given fields: callbackUrl and funded must
// be present exactly when want names them.
func checkCampaign(t *testing.T, m map[string]any, want map[string]any) {
	t.Helper()
	fields := slices.Clone(campaignFields)
	for _, k := range []string{"callbackUrl", "funded"} {
		if _, ok := want[k]; ok {
			fields = append(fields, k)
		}
	}
	slices.Sort(fields)
	if got := sortedKeys(m); !slices.Equal(got, fields) {
		t.Errorf("campaign fields = %v, want %v", got, fields)
	}
	if tasks, _ := m["tasks"].(map[string]any); !slices.Equal(sortedKeys(tasks), []string{"accepted", "cancelled", "claimed", "delivered", "expired", "rejected"}) {
		t.Errorf("tasks = %v, want a count for each of the six statuses", m["tasks"])
	}
	wantFields(t, m, want)
}

// wantCampaign is checkCampaign as a statusCase check.
func wantCampaign(want map[string]any) func(t *testing.T, r response) {
	return func(t *testing.T, r response) {
		t.Helper()
		checkCampaign(t, r.JSON, want)
	}
}

// wantTask checks the shape of a task and the given fields.
func wantTask(want map[string]any) func(t *testing.T, r response) {
	return func(t *testing.T, r response) {
		t.Helper()
		if got := sortedKeys(r.JSON); !slices.Equal(got, taskFields) {
			t.Errorf("task fields = %v, want %v", got, taskFields)
		}
		wantFields(t, r.JSON, want)
	}
}

// counts is the tasks block of a campaign: the statuses given, zero for the others.
func counts(kv ...any) map[string]any {
	m := map[string]any{"claimed": 0.0, "delivered": 0.0, "accepted": 0.0, "rejected": 0.0, "expired": 0.0, "cancelled": 0.0}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = float64(kv[i+1].(int))
	}
	return m
}

// micro renders an amount of micro-units as the API writes it.
func micro(v int64) string { return strconv.FormatInt(v, 10) }

// getCampaign is a case reading a campaign as key (anonymous when "") and checking it.
func getCampaign(name, key, id string, want map[string]any) statusCase {
	return statusCase{name: name, method: "GET", path: campaignPath(id), key: key, want: http.StatusOK, check: wantCampaign(want)}
}

// listIDs is a check that the list under name holds exactly the IDs want, in order, and that its
// total is total.
func listIDs(name string, total int, want ...string) func(t *testing.T, r response) {
	return func(t *testing.T, r response) {
		t.Helper()
		got := []string{}
		items, ok := r.JSON[name].([]any)
		if !ok {
			t.Fatalf("%s = %v, want a list", name, r.JSON[name])
		}
		for _, x := range items {
			got = append(got, str(x.(map[string]any)["id"]))
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
		if got := r.JSON["pagination"].(map[string]any)["total"]; got != float64(total) {
			t.Errorf("total = %v, want %d", got, total)
		}
	}
}

// listSet is listIDs in any order, for items made in the same instant (which the API lists
// in no set order).
func listSet(name string, total int, want ...string) func(t *testing.T, r response) {
	return func(t *testing.T, r response) {
		t.Helper()
		got := []string{}
		for _, x := range r.JSON[name].([]any) {
			got = append(got, str(x.(map[string]any)["id"]))
		}
		slices.Sort(got)
		want = slices.Sorted(slices.Values(want))
		if !slices.Equal(got, want) {
			t.Errorf("%s = %v, want %v in any order", name, got, want)
		}
		if got := r.JSON["pagination"].(map[string]any)["total"]; got != float64(total) {
			t.Errorf("total = %v, want %d", got, total)
		}
	}
}

// platformRevenue is a case checking the platform's revenue in the ledger's totals.
func platformRevenue(name string, want int64) statusCase {
	return statusCase{name: name, method: "GET", path: "/api/v1/admin/ledger/verify", key: adminToken, want: http.StatusOK,
		check: func(t *testing.T, r response) {
			t.Helper()
			totals, _ := r.JSON["totals"].(map[string]any)
			wantFields(t, totals, map[string]any{"platform:revenue": micro(want)})
		}}
}

func TestStatusCreateCampaign(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.RateLimits{})
		owner, _ := a.activated(t, "camp-owner", 5*usdc)  // 4 USDC available
		poor, _ := a.activated(t, "camp-poor", 1_500_000) // 0.5 USDC available
		idle := a.register(t, "camp-idle")
		now := a.Clock.Now()
		const path = "/api/v1/campaigns"
		create := func(name string, body any, want int, check func(*testing.T, response)) statusCase {
			return statusCase{name: name, method: "POST", path: path, key: owner.Key, body: body, want: want, check: check}
		}
		tags10, tags11 := make([]string, 10), make([]string, 11)
		for i := range tags11 {
			tags11[i] = "t" + string(rune('a'+i))
		}
		copy(tags10, tags11)

		// Every creation escrows the budget plus 3% per whole task plus 3% of the rest.
		const spec, remainder, minimal = 1_000_000 + 20*1500, 1_010_000 + 20*1500 + 300, 1000 + 30
		available := int64(4 * usdc)
		cases := []statusCase{
			balanceIs("BalanceBefore", owner, micro(available), "0"),
			create("OK", campaignBody(map[string]any{"callbackUrl": "https://ourproduct.example/hooks/campaign"}), http.StatusCreated, wantCampaign(map[string]any{
				"ownerId": owner.ID, "title": "Tweet about our product launch", "description": "Post a tweet mentioning @ourproduct with the hashtag #launch",
				"category": "social-media", "tags": []any{"twitter", "promo"}, "taskDescription": map[string]any{"format": "tweet_url"},
				"callbackUrl": "https://ourproduct.example/hooks/campaign", "rewardPerTask": "50000", "platformFeePerTask": "1500", "taskCost": "51500",
				"totalBudget": "1000000", "remainingBudget": micro(spec), "remainingTasks": 20.0, "maxPerAgent": 1.0, "dailyLimitPerAgent": nil,
				"minTrustScore": 0.0, "autoAccept": true, "reviewTimeoutSecs": 300.0, "maxExecutionTimeSecs": 3600.0, "maxConcurrentClaims": 10.0,
				"durationDays": 30.0, "status": "active", "endsAt": at(now, 30*24*time.Hour), "finishedAt": nil, "createdAt": at(now, 0),
				"updatedAt": at(now, 0), "tasks": counts(),
				"funded": map[string]any{"amount": "1000000", "platformFee": "30000", "totalCost": micro(spec)},
			})),
			balanceIs("Escrowed", owner, micro(available-spec), micro(spec)),
			// 20 tasks and 10000 left over: the fee on the rest is 3% of it, 300.
			create("OKBudgetNotAMultiple", campaignBody(map[string]any{"totalBudget": 1010000}), http.StatusCreated, wantCampaign(map[string]any{
				"totalBudget": "1010000", "remainingBudget": micro(remainder), "remainingTasks": 20.0,
				"funded": map[string]any{"amount": "1010000", "platformFee": "30300", "totalCost": micro(remainder)},
			})),
			balanceIs("EscrowedBoth", owner, micro(available-spec-remainder), micro(spec+remainder)),
			create("OKDefaults", minimalCampaign(nil), http.StatusCreated, wantCampaign(map[string]any{
				"tags": []any{}, "taskDescription": nil, "rewardPerTask": "1000", "platformFeePerTask": "30", "taskCost": "1030",
				"totalBudget": "1000", "remainingBudget": "1030", "remainingTasks": 1.0, "maxPerAgent": 1.0, "dailyLimitPerAgent": nil,
				"minTrustScore": 0.0, "autoAccept": true, "reviewTimeoutSecs": 300.0, "maxExecutionTimeSecs": 300.0, "maxConcurrentClaims": 10.0,
				"durationDays": 30.0, "status": "active", "funded": map[string]any{"amount": "1000", "platformFee": "30", "totalCost": "1030"},
			})),
			create("OKNullsAreDefaults", minimalCampaign(map[string]any{"tags": json.RawMessage("null"), "taskDescription": json.RawMessage("null"),
				"maxPerAgent": json.RawMessage("null"), "dailyLimitPerAgent": json.RawMessage("null"), "minTrustScore": json.RawMessage("null"),
				"autoAccept": json.RawMessage("null"), "reviewTimeoutSecs": json.RawMessage("null"), "durationDays": json.RawMessage("null"),
			}), http.StatusCreated, wantCampaign(map[string]any{"tags": []any{}, "taskDescription": nil, "maxPerAgent": 1.0, "dailyLimitPerAgent": nil,
				"minTrustScore": 0.0, "autoAccept": true, "reviewTimeoutSecs": 300.0, "durationDays": 30.0, "funded": map[string]any{"amount": "1000", "platformFee": "30", "totalCost": "1030"}})),
			create("OKLowerBounds", minimalCampaign(map[string]any{"title": "abc", "description": "0123456789", "category": "ab", "tags": tags10,
				"maxPerAgent": 1, "dailyLimitPerAgent": 1, "minTrustScore": 0, "reviewTimeoutSecs": 60, "maxExecutionTimeSecs": 30,
				"maxConcurrentClaims": 1, "durationDays": 1, "autoAccept": false, "taskDescription": "any JSON, even a string",
			}), http.StatusCreated, wantCampaign(map[string]any{"dailyLimitPerAgent": 1.0, "reviewTimeoutSecs": 60.0, "maxExecutionTimeSecs": 30.0,
				"maxConcurrentClaims": 1.0, "durationDays": 1.0, "autoAccept": false, "endsAt": at(now, 24*time.Hour),
				"taskDescription": "any JSON, even a string", "funded": map[string]any{"amount": "1000", "platformFee": "30", "totalCost": "1030"}})),
			create("OKUpperBounds", minimalCampaign(map[string]any{"title": strings.Repeat("t", 200), "description": strings.Repeat("d", 5000),
				"category": strings.Repeat("c", 50), "maxPerAgent": 1_000_000, "dailyLimitPerAgent": 1_000_000, "minTrustScore": 1,
				"reviewTimeoutSecs": 86400, "maxExecutionTimeSecs": 86400, "maxConcurrentClaims": 1000, "durationDays": 365,
			}), http.StatusCreated, wantCampaign(map[string]any{"maxPerAgent": 1e6, "dailyLimitPerAgent": 1e6, "minTrustScore": 1.0,
				"reviewTimeoutSecs": 86400.0, "maxExecutionTimeSecs": 86400.0, "maxConcurrentClaims": 1000.0, "durationDays": 365.0,
				"endsAt": at(now, 365*24*time.Hour), "funded": map[string]any{"amount": "1000", "platformFee": "30", "totalCost": "1030"}})),
			balanceIs("EscrowedAll", owner, micro(available-spec-remainder-4*minimal), micro(spec+remainder+4*minimal)),
		}
		available -= spec + remainder + 4*minimal
		created := 6

		for _, c := range []struct {
			name  string
			field string
			value any
		}{
			{"TitleMissing", "title", nil},
			{"TitleTooShort", "title", "ab"},
			{"TitleBlank", "title", "     "},
			{"TitleShortInsideSpaces", "title", "  ab  "},
			{"TitleTooLong", "title", strings.Repeat("t", 201)},
			{"TitleNUL", "title", "a\u0000bc"},
			{"TitleNotAString", "title", 5},
			{"DescriptionMissing", "description", nil},
			{"DescriptionTooShort", "description", "too short"},
			{"DescriptionBlank", "description", strings.Repeat(" ", 20)},
			{"DescriptionTooLong", "description", strings.Repeat("d", 5001)},
			{"CategoryMissing", "category", nil},
			{"CategoryTooShort", "category", "c"},
			{"CategoryBlank", "category", "  "},
			{"CategoryTooLong", "category", strings.Repeat("c", 51)},
			{"TooManyTags", "tags", tags11},
			{"EmptyTag", "tags", []string{""}},
			{"TagsNotArray", "tags", "twitter,promo"},
			{"TaskDescriptionTooLarge", "taskDescription", strings.Repeat("x", 70000)},
			{"TaskDescriptionNUL", "taskDescription", json.RawMessage(`{"format":"a\u0000b"}`)},
			{"CallbackURLScheme", "callbackUrl", "ftp://ourproduct.example/hooks"},
			{"CallbackURLRelative", "callbackUrl", "/hooks"},
			{"RewardMissing", "rewardPerTask", nil},
			{"RewardNull", "rewardPerTask", json.RawMessage("null")},
			{"RewardZero", "rewardPerTask", 0},
			{"RewardBelowMinimum", "rewardPerTask", 999},
			{"RewardAboveBudgetCap", "rewardPerTask", json.RawMessage("1000000000000000001")},
			{"RewardFraction", "rewardPerTask", json.RawMessage("50000.5")},
			{"RewardNegative", "rewardPerTask", json.RawMessage("-50000")},
			{"RewardString", "rewardPerTask", "50000"},
			{"RewardExponent", "rewardPerTask", json.RawMessage("5e4")},
			{"RewardOverflow", "rewardPerTask", json.RawMessage("99999999999999999999")},
			{"BudgetMissing", "totalBudget", nil},
			{"BudgetBelowOneTask", "totalBudget", 49999},
			{"BudgetZero", "totalBudget", 0},
			{"BudgetAboveCap", "totalBudget", json.RawMessage("1000000000000001")},
			{"BudgetFraction", "totalBudget", json.RawMessage("1000000.5")},
			{"BudgetNegative", "totalBudget", json.RawMessage("-1")},
			{"BudgetOverflow", "totalBudget", json.RawMessage("9223372036854775808")},
			{"MaxPerAgentZero", "maxPerAgent", 0},
			{"MaxPerAgentNegative", "maxPerAgent", -1},
			{"MaxPerAgentTooMany", "maxPerAgent", 1_000_001},
			{"MaxPerAgentFraction", "maxPerAgent", 1.5},
			{"DailyLimitZero", "dailyLimitPerAgent", 0},
			{"DailyLimitString", "dailyLimitPerAgent", "3"},
			{"TrustAboveOne", "minTrustScore", 1.5},
			{"TrustNegative", "minTrustScore", -0.1},
			{"TrustString", "minTrustScore", "0.5"},
			{"AutoAcceptString", "autoAccept", "yes"},
			{"ReviewTimeoutTooShort", "reviewTimeoutSecs", 59},
			{"ReviewTimeoutTooLong", "reviewTimeoutSecs", 86401},
			{"ExecutionTimeTooShort", "maxExecutionTimeSecs", 29},
			{"ExecutionTimeTooLong", "maxExecutionTimeSecs", 86401},
			{"ExecutionTimeFraction", "maxExecutionTimeSecs", 60.5},
			{"ConcurrentClaimsZero", "maxConcurrentClaims", 0},
			{"ConcurrentClaimsTooMany", "maxConcurrentClaims", 1001},
			{"DurationZero", "durationDays", 0},
			{"DurationTooLong", "durationDays", 366},
			{"DurationString", "durationDays", "30"},
			{"DurationOverflow", "durationDays", json.RawMessage("99999999999999999999")},
		} {
			cases = append(cases, create("ErrInvalid"+c.name, campaignBody(map[string]any{c.field: c.value}), http.StatusBadRequest, wantError(c.field)))
		}
		// poor has 500000: a budget of 485437 costs 485437 + 9 * 1500 + 1063 = 500000 exactly.
		cases = append(cases,
			create("ErrInvalidUnknownField", campaignBody(map[string]any{"status": "paused"}), http.StatusBadRequest, wantError("unknown field")),
			create("ErrInvalidUnknownFieldOwner", campaignBody(map[string]any{"ownerId": poor.ID}), http.StatusBadRequest, wantError("unknown field")),
			create("ErrInvalidEmptyBody", ``, http.StatusBadRequest, nil),
			create("ErrInvalidEmptyObject", `{}`, http.StatusBadRequest, nil),
			create("ErrInvalidArray", `[]`, http.StatusBadRequest, nil),
			create("ErrInvalidSyntax", `{"title":`, http.StatusBadRequest, nil),
			create("ErrInvalidTrailingData", `{"title":"x"} {}`, http.StatusBadRequest, nil),
			statusCase{name: "ErrInsufficientFunds", method: "POST", path: path, key: poor.Key, body: campaignBody(nil),
				want: http.StatusBadRequest, money: &poor, check: wantError("insufficient")},
			statusCase{name: "ErrInsufficientFundsByOneMicro", method: "POST", path: path, key: poor.Key, body: campaignBody(map[string]any{"totalBudget": 485438}),
				want: http.StatusBadRequest, money: &poor},
			statusCase{name: "OKPoorCanAffordExactly", method: "POST", path: path, key: poor.Key, body: campaignBody(map[string]any{"totalBudget": 485437}),
				want: http.StatusCreated, check: wantCampaign(map[string]any{"ownerId": poor.ID, "remainingBudget": "500000", "remainingTasks": 9.0,
					"funded": map[string]any{"amount": "485437", "platformFee": "14563", "totalCost": "500000"}})},
			balanceIs("PoorIsEmpty", poor, "0", "500000"),
			statusCase{name: "ErrInsufficientFundsEmpty", method: "POST", path: path, key: poor.Key, body: minimalCampaign(nil),
				want: http.StatusBadRequest, money: &poor},
			statusCase{name: "ErrUnauthorized", method: "POST", path: path, body: campaignBody(nil), want: http.StatusUnauthorized},
			statusCase{name: "ErrUnauthorizedBadKey", method: "POST", path: path, key: "jp_nope", body: campaignBody(nil), want: http.StatusUnauthorized},
			statusCase{name: "ErrForbiddenNotActivated", method: "POST", path: path, key: idle.Key, body: campaignBody(nil), want: http.StatusForbidden,
				money: &idle, check: wantError("activat")},
			balanceIs("RejectionsMovedNothing", owner, micro(available), micro(spec+remainder+4*minimal)),
			statusCase{name: "ListCountsOnlyTheCreated", method: "GET", path: path + "?limit=100", key: owner.Key, want: http.StatusOK,
				check: func(t *testing.T, r response) {
					if got := r.JSON["pagination"].(map[string]any)["total"]; got != float64(created) {
						t.Errorf("%v campaigns, want the %d created: rejected requests must create none", got, created)
					}
				}},
		)
		a.table(t, &owner, cases)

		t.Run("IdempotentReplay", func(t *testing.T) {
			rq := request{Method: "POST", Path: path, Key: owner.Key, Body: minimalCampaign(nil), Header: hdr("Idempotency-Key", "pool-1")}
			first, second := a.send(t, rq), a.send(t, rq)
			if first.Status != http.StatusCreated || second.Status != http.StatusCreated || second.Header.Get("Idempotency-Replayed") != "true" ||
				!bytes.Equal(first.Raw, second.Raw) {
				t.Fatalf("first %d %s, second %d %s (replayed %q)", first.Status, first.Raw, second.Status, second.Raw, second.Header.Get("Idempotency-Replayed"))
			}
			got := a.must(t, http.StatusOK, "GET", path+"?limit=100", owner.Key, nil)
			if total := got["pagination"].(map[string]any)["total"]; total != float64(created+1) {
				t.Errorf("%v campaigns after two requests with one key, want %d", total, created+1)
			}
			wantFields(t, a.balance(t, owner), map[string]any{"available": micro(available - minimal)})
			other := rq
			other.Body = minimalCampaign(map[string]any{"title": "Say hello"})
			if r := a.send(t, other); r.Status != http.StatusUnprocessableEntity {
				t.Errorf("same key, other body: %d %s, want 422", r.Status, r.Raw)
			}
			sqlstoretest.MustVerify(t, a.DB)
		})
	})
}

func TestStatusCampaignReads(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.RateLimits{})
		owner, _ := a.activated(t, "read-owner", 5*usdc)
		other, _ := a.activated(t, "read-other", 2*usdc)
		idle := a.register(t, "read-idle")
		start := a.Clock.Now()
		tweets := a.createCampaign(t, owner, campaignBody(map[string]any{"callbackUrl": "https://ourproduct.example/hooks/campaign"}))
		a.Clock.Advance(time.Second)
		weather := a.createCampaign(t, owner, campaignBody(map[string]any{"title": "Daily weather report", "category": "data-collection",
			"description": "Collect the weather in Paris every morning", "totalBudget": 500000, "dailyLimitPerAgent": 1, "maxPerAgent": 30}))
		a.Clock.Advance(time.Second)
		paused := a.createCampaign(t, owner, minimalCampaign(map[string]any{"title": "Paused pool"}))
		a.must(t, http.StatusOK, "POST", campaignPath(paused, "pause"), owner.Key, nil)
		a.Clock.Advance(time.Second)
		others := a.createCampaign(t, other, minimalCampaign(map[string]any{"title": "Somebody else's 100% pool", "category": "data-collection"}))

		const discover, mine = "/api/v1/campaigns/discover", "/api/v1/campaigns"
		public := map[string]any{"id": tweets, "ownerId": owner.ID, "status": "active", "createdAt": at(start, 0), "remainingTasks": 20.0,
			"remainingBudget": "1030000", "totalBudget": "1000000", "tasks": counts()}
		withCallback := map[string]any{"callbackUrl": "https://ourproduct.example/hooks/campaign"}
		for k, v := range public {
			withCallback[k] = v
		}
		get := func(name, path string, want int, check func(*testing.T, response)) statusCase {
			return statusCase{name: name, method: "GET", path: path, want: want, check: check}
		}
		cases := []statusCase{
			getCampaign("GetOKAnonymous", "", tweets, public),
			getCampaign("GetOKOwnerSeesCallbackURL", owner.Key, tweets, withCallback),
			getCampaign("GetOKOtherAgent", other.Key, tweets, public),
			getCampaign("GetOKNotActivatedAgent", idle.Key, tweets, public),
			getCampaign("GetOKInvalidKeyIsAnonymous", "jp_not_a_real_key", tweets, public),
			getCampaign("GetOKMalformedKeyIsAnonymous", "nope", tweets, public),
			{name: "GetOKBasicAuthIsAnonymous", method: "GET", path: campaignPath(tweets), header: hdr("Authorization", "Basic "+owner.Key),
				want: http.StatusOK, check: wantCampaign(public)},
			getCampaign("GetOKDailyLimit", "", weather, map[string]any{"dailyLimitPerAgent": 1.0, "maxPerAgent": 30.0, "category": "data-collection"}),
			getCampaign("GetOKPaused", "", paused, map[string]any{"status": "paused"}),
			get("GetErrNotFoundUnknown", campaignPath(unknownID), http.StatusNotFound, nil),
			get("GetErrNotFoundMalformed", campaignPath("nope"), http.StatusNotFound, nil),
			get("GetErrNotFoundNUL", campaignPath("%00"), http.StatusNotFound, nil),
			{name: "GetErrNotFoundUnknownWithKey", method: "GET", path: campaignPath(unknownID), key: owner.Key, want: http.StatusNotFound},

			get("DiscoverOKNewestFirst", discover, http.StatusOK, func(t *testing.T, r response) {
				listIDs("campaigns", 3, others, weather, tweets)(t, r)
				wantFields(t, r.JSON, map[string]any{"pagination": map[string]any{"page": 1.0, "limit": 20.0, "total": 3.0, "totalPages": 1.0}})
				checkCampaign(t, r.JSON["campaigns"].([]any)[2].(map[string]any), public)
			}),
			{name: "DiscoverOKOwnerSeesNoCallbackURL", method: "GET", path: discover, key: owner.Key, want: http.StatusOK, check: func(t *testing.T, r response) {
				checkCampaign(t, r.JSON["campaigns"].([]any)[2].(map[string]any), public)
			}},
			{name: "DiscoverOKInvalidKey", method: "GET", path: discover, key: "jp_nope", want: http.StatusOK, check: listIDs("campaigns", 3, others, weather, tweets)},
			get("DiscoverOKCategory", discover+"?category=data-collection", http.StatusOK, listIDs("campaigns", 2, others, weather)),
			get("DiscoverOKSearchTitle", discover+"?search=WEATHER", http.StatusOK, listIDs("campaigns", 1, weather)),
			get("DiscoverOKSearchDescription", discover+"?search=hashtag", http.StatusOK, listIDs("campaigns", 1, tweets)),
			get("DiscoverOKSearchPercentIsLiteral", discover+"?search=100%25", http.StatusOK, listIDs("campaigns", 1, others)),
			get("DiscoverOKSearchUnderscoreIsLiteral", discover+"?search=_", http.StatusOK, listIDs("campaigns", 0)),
			get("DiscoverOKCategoryAndSearch", discover+"?category=data-collection&search=paris", http.StatusOK, listIDs("campaigns", 1, weather)),
			get("DiscoverOKPaged", discover+"?limit=1&page=2", http.StatusOK, func(t *testing.T, r response) {
				listIDs("campaigns", 3, weather)(t, r)
				wantFields(t, r.JSON, map[string]any{"pagination": map[string]any{"page": 2.0, "limit": 1.0, "total": 3.0, "totalPages": 3.0}})
			}),
			get("DiscoverOKPastTheEnd", discover+"?page=5", http.StatusOK, listIDs("campaigns", 3)),
			get("DiscoverOKNoMatch", discover+"?category=nothing-here", http.StatusOK, func(t *testing.T, r response) {
				wantFields(t, r.JSON, map[string]any{"campaigns": []any{}, "pagination": map[string]any{"page": 1.0, "limit": 20.0, "total": 0.0, "totalPages": 0.0}})
			}),
			get("DiscoverOKStatusIsNotAFilter", discover+"?status=paused", http.StatusOK, listIDs("campaigns", 3, others, weather, tweets)),
			get("DiscoverErrInvalidLimitZero", discover+"?limit=0", http.StatusBadRequest, wantError("limit")),
			get("DiscoverErrInvalidLimitTooLarge", discover+"?limit=101", http.StatusBadRequest, wantError("limit")),
			get("DiscoverErrInvalidPage", discover+"?page=x", http.StatusBadRequest, wantError("page")),
			get("DiscoverErrInvalidSearchTooLong", discover+"?search="+strings.Repeat("s", 201), http.StatusBadRequest, wantError("search")),
			// PostgreSQL refuses NUL and invalid UTF-8 in text parameters: 400 or no match, never a 500.
			{name: "DiscoverCategoryNULNever500", method: "GET", path: discover + "?category=%00", want: http.StatusBadRequest, orWant: []int{http.StatusOK}},
			{name: "DiscoverSearchInvalidUTF8Never500", method: "GET", path: discover + "?search=%FF", want: http.StatusBadRequest, orWant: []int{http.StatusOK}},

			{name: "MineOKNewestFirst", method: "GET", path: mine, key: owner.Key, want: http.StatusOK, check: func(t *testing.T, r response) {
				listIDs("campaigns", 3, paused, weather, tweets)(t, r)
				checkCampaign(t, r.JSON["campaigns"].([]any)[2].(map[string]any), withCallback)
			}},
			{name: "MineOKStatusPaused", method: "GET", path: mine + "?status=paused", key: owner.Key, want: http.StatusOK, check: listIDs("campaigns", 1, paused)},
			{name: "MineOKStatusActive", method: "GET", path: mine + "?status=active", key: owner.Key, want: http.StatusOK, check: listIDs("campaigns", 2, weather, tweets)},
			{name: "MineOKStatusCancelled", method: "GET", path: mine + "?status=cancelled", key: owner.Key, want: http.StatusOK, check: listIDs("campaigns", 0)},
			{name: "MineOKPaged", method: "GET", path: mine + "?limit=2&page=2", key: owner.Key, want: http.StatusOK, check: listIDs("campaigns", 3, tweets)},
			{name: "MineOKOtherSeesOnlyItsOwn", method: "GET", path: mine, key: other.Key, want: http.StatusOK, check: listIDs("campaigns", 1, others)},
			{name: "MineErrInvalidStatus", method: "GET", path: mine + "?status=done", key: owner.Key, want: http.StatusBadRequest,
				check: wantError("status", "active", "paused", "completed", "ended", "cancelled")},
			{name: "MineErrInvalidStatusCase", method: "GET", path: mine + "?status=Active", key: owner.Key, want: http.StatusBadRequest, check: wantError("status")},
			{name: "MineErrInvalidLimit", method: "GET", path: mine + "?limit=101", key: owner.Key, want: http.StatusBadRequest, check: wantError("limit")},
			{name: "MineErrUnauthorized", method: "GET", path: mine, want: http.StatusUnauthorized},
			{name: "MineErrUnauthorizedBadKey", method: "GET", path: mine, key: "jp_nope", want: http.StatusUnauthorized},
			{name: "MineErrForbiddenNotActivated", method: "GET", path: mine, key: idle.Key, want: http.StatusForbidden, check: wantError("activat")},
			{name: "MethodNotAllowed", method: "DELETE", path: campaignPath(tweets), key: owner.Key, want: http.StatusMethodNotAllowed},
		}
		a.table(t, nil, cases)
	})
}

// TestRateLimitCampaignDiscover checks the spec's "IP rate limited: 30/min" on discovery, and
// that it does not reach the other campaign routes.
func TestRateLimitCampaignDiscover(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.DefaultRateLimits())
		owner, _ := a.activated(t, "limit-owner", 2*usdc)
		id := a.createCampaign(t, owner, minimalCampaign(nil))
		for i := range 30 {
			if status, body, _ := a.do(t, "GET", "/api/v1/campaigns/discover", "", nil); status != http.StatusOK {
				t.Fatalf("discover %d: %d %v", i+1, status, body)
			}
		}
		status, body, h := a.do(t, "GET", "/api/v1/campaigns/discover", owner.Key, nil)
		if status != http.StatusTooManyRequests {
			t.Fatalf("31st discover in a minute = %d %v, want 429", status, body)
		}
		if s, err := strconv.Atoi(h.Get("Retry-After")); err != nil || s < 1 {
			t.Errorf("Retry-After = %q, want whole seconds >= 1", h.Get("Retry-After"))
		}
		// The other campaign routes are not under the public limit.
		a.must(t, http.StatusOK, "GET", campaignPath(id), "", nil)
		a.must(t, http.StatusOK, "GET", "/api/v1/campaigns", owner.Key, nil)
		a.Clock.Advance(2 * time.Second) // one token back
		a.must(t, http.StatusOK, "GET", "/api/v1/campaigns/discover", "", nil)
		if status, _, _ := a.do(t, "GET", "/api/v1/campaigns/discover", "", nil); status != http.StatusTooManyRequests {
			t.Errorf("discover after one token came back: %d, want 429", status)
		}
		a.Clock.Advance(time.Minute)
		a.must(t, http.StatusOK, "GET", "/api/v1/campaigns/discover", "", nil)
	})
}

func TestStatusCampaignTasks(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.RateLimits{})
		owner, _ := a.activated(t, "task-owner", 5*usdc) // 4 USDC available
		first, _ := a.activated(t, "task-first", 2*usdc)
		second, _ := a.activated(t, "task-second", 2*usdc)
		stranger, _ := a.activated(t, "task-stranger", 2*usdc)
		idle := a.register(t, "task-idle")
		now := a.Clock.Now()
		auto := a.createCampaign(t, owner, campaignBody(nil)) // 20 tasks of 50000 + 1500, maxPerAgent 1
		output := map[string]any{"output": map[string]any{"tweet_url": "https://x.com/agent/status/123"}}
		var task1, task2 string

		a.table(t, &owner, []statusCase{
			balanceIs("Escrowed", owner, "2970000", "1030000"),
			action("ClaimOK", first.Key, campaignPath(auto, "claim"), nil, http.StatusCreated, capture(&task1, "id", wantTask(map[string]any{
				"campaignId": auto, "agentId": first.ID, "amount": "50000", "platformFee": "1500", "totalCost": "51500", "status": "claimed",
				"output": nil, "rejectReason": nil, "expiresAt": at(now, time.Hour), "deliveredAt": nil, "finishedAt": nil,
				"createdAt": at(now, 0), "updatedAt": at(now, 0),
			}))),
			getCampaign("PoolReserved", "", auto, map[string]any{"remainingBudget": "978500", "remainingTasks": 19.0, "tasks": counts("claimed", 1)}),
			// The claim moved money from the pool to the task's escrow: the owner's balances stay.
			balanceIs("OwnerStillEscrowed", owner, "2970000", "1030000"),
			balanceIs("AgentNotPaidYet", first, "1000000", "0"),
			action("ClaimErrForbiddenMaxPerAgent", first.Key, campaignPath(auto, "claim"), nil, http.StatusForbidden, wantError("limit")),
			action("ClaimErrForbiddenOwnCampaign", owner.Key, campaignPath(auto, "claim"), nil, http.StatusForbidden, wantError("own")),
			action("ClaimErrNotFoundUnknown", second.Key, campaignPath(unknownID, "claim"), nil, http.StatusNotFound, nil),
			action("ClaimErrNotFoundMalformed", second.Key, campaignPath("nope", "claim"), nil, http.StatusNotFound, nil),
			action("ClaimErrInvalidBody", second.Key, campaignPath(auto, "claim"), `{"agentId":"x"}`, http.StatusBadRequest, nil),
			action("ClaimErrInvalidNotJSON", second.Key, campaignPath(auto, "claim"), `claim`, http.StatusBadRequest, nil),
			action("ClaimErrUnauthorized", "", campaignPath(auto, "claim"), nil, http.StatusUnauthorized, nil),
			action("ClaimOKEmptyObject", second.Key, campaignPath(auto, "claim"), `{}`, http.StatusCreated, capture(&task2, "id",
				wantTask(map[string]any{"agentId": second.ID, "status": "claimed"}))),
		})

		deliver := func(name, key, campaign, task string, body any, want int, check func(*testing.T, response)) statusCase {
			return action(name, key, taskPath(campaign, task, "deliver"), body, want, check)
		}
		a.table(t, &owner, []statusCase{
			deliver("DeliverErrNotFoundStranger", stranger.Key, auto, task1, output, http.StatusNotFound, nil),
			deliver("DeliverErrNotFoundOtherAgent", second.Key, auto, task1, output, http.StatusNotFound, nil),
			deliver("DeliverErrNotFoundOwner", owner.Key, auto, task1, output, http.StatusNotFound, nil),
			deliver("DeliverErrNotFoundOtherCampaign", first.Key, unknownID, task1, output, http.StatusNotFound, nil),
			deliver("DeliverErrNotFoundMalformedCampaign", first.Key, "nope", task1, output, http.StatusNotFound, nil),
			deliver("DeliverErrNotFoundUnknownTask", first.Key, auto, unknownID, output, http.StatusNotFound, nil),
			deliver("DeliverErrNotFoundMalformedTask", first.Key, auto, "nope", output, http.StatusNotFound, nil),
			deliver("DeliverErrInvalidNoOutput", first.Key, auto, task1, `{}`, http.StatusBadRequest, wantError("output")),
			deliver("DeliverErrInvalidNullOutput", first.Key, auto, task1, `{"output":null}`, http.StatusBadRequest, wantError("output")),
			deliver("DeliverErrInvalidNoBody", first.Key, auto, task1, nil, http.StatusBadRequest, nil),
			deliver("DeliverErrInvalidUnknownField", first.Key, auto, task1, `{"output":{},"status":"accepted"}`, http.StatusBadRequest, wantError("unknown field")),
			deliver("DeliverErrInvalidOutputNUL", first.Key, auto, task1, `{"output":{"tweet_url":"a\u0000b"}}`, http.StatusBadRequest, wantError("output")),
			deliver("DeliverErrUnauthorized", "", auto, task1, output, http.StatusUnauthorized, nil),
			balanceIs("RejectedDeliveriesPaidNothing", first, "1000000", "0"),
			// autoAccept: the delivery pays at once, exactly the reward.
			deliver("DeliverOKAutoAccepted", first.Key, auto, task1, output, http.StatusOK, wantTask(map[string]any{
				"id": task1, "status": "accepted", "output": map[string]any{"tweet_url": "https://x.com/agent/status/123"}, "rejectReason": nil,
				"expiresAt": nil, "deliveredAt": at(now, 0), "finishedAt": at(now, 0), "amount": "50000", "totalCost": "51500",
			})),
			balanceIs("AgentPaidTheReward", first, "1050000", "0"),
			balanceIs("OwnerPaidTheTaskCost", owner, "2970000", "978500"),
			platformRevenue("PlatformGotTheFee", 4*usdc+1500), // four activations and one task's fee
			deliver("DeliverErrConflictTwice", first.Key, auto, task1, output, http.StatusConflict, nil),
			action("AcceptErrConflictAutoAccepted", owner.Key, taskPath(auto, task1, "accept"), nil, http.StatusConflict, nil),
			action("RejectErrConflictAutoAccepted", owner.Key, taskPath(auto, task1, "reject"), `{"reason":"too late"}`, http.StatusConflict, nil),
			getCampaign("Counts", "", auto, map[string]any{"remainingBudget": "927000", "remainingTasks": 18.0, "tasks": counts("claimed", 1, "accepted", 1)}),
		})

		list := func(name, key, campaign, query string, want int, check func(*testing.T, response)) statusCase {
			return statusCase{name: name, method: "GET", path: campaignPath(campaign, "tasks") + query, key: key, want: want, check: check}
		}
		a.table(t, nil, []statusCase{
			list("ListOKOwnerSeesAll", owner.Key, auto, "", http.StatusOK, func(t *testing.T, r response) {
				listSet("tasks", 2, task2, task1)(t, r)
				for _, x := range r.JSON["tasks"].([]any) {
					if m := x.(map[string]any); m["id"] == task2 {
						wantTask(map[string]any{"agentId": second.ID, "status": "claimed", "output": nil})(t, response{JSON: m})
					}
				}
				wantFields(t, r.JSON, map[string]any{"pagination": map[string]any{"page": 1.0, "limit": 20.0, "total": 2.0, "totalPages": 1.0}})
			}),
			list("ListOKAgentSeesItsOwn", first.Key, auto, "", http.StatusOK, listIDs("tasks", 1, task1)),
			list("ListOKOtherAgentSeesItsOwn", second.Key, auto, "", http.StatusOK, listIDs("tasks", 1, task2)),
			list("ListOKStrangerSeesNone", stranger.Key, auto, "", http.StatusOK, listIDs("tasks", 0)),
			list("ListOKStatus", owner.Key, auto, "?status=accepted", http.StatusOK, listIDs("tasks", 1, task1)),
			list("ListOKStatusOwnOnly", second.Key, auto, "?status=accepted", http.StatusOK, listIDs("tasks", 0)),
			list("ListOKPaged", owner.Key, auto, "?limit=1&page=2", http.StatusOK, func(t *testing.T, r response) {
				if tasks := r.JSON["tasks"].([]any); len(tasks) != 1 {
					t.Errorf("tasks = %v, want one", tasks)
				}
				wantFields(t, r.JSON, map[string]any{"pagination": map[string]any{"page": 2.0, "limit": 1.0, "total": 2.0, "totalPages": 2.0}})
			}),
			list("ListErrInvalidStatus", owner.Key, auto, "?status=done", http.StatusBadRequest, wantError("status", "claimed")),
			list("ListErrInvalidLimit", owner.Key, auto, "?limit=101", http.StatusBadRequest, wantError("limit")),
			list("ListErrInvalidPage", owner.Key, auto, "?page=0", http.StatusBadRequest, wantError("page")),
			list("ListErrNotFoundUnknown", owner.Key, unknownID, "", http.StatusNotFound, nil),
			list("ListErrNotFoundMalformed", owner.Key, "nope", "", http.StatusNotFound, nil),
			list("ListErrUnauthorized", "", auto, "", http.StatusUnauthorized, nil),
		})

		// Manual review: 3 tasks of 100000 + 3000, two per agent, a 10-minute review window.
		manual := a.createCampaign(t, owner, campaignBody(map[string]any{"title": "Write a product review", "rewardPerTask": 100000,
			"totalBudget": 300000, "autoAccept": false, "maxPerAgent": 2, "reviewTimeoutSecs": 600, "taskDescription": nil}))
		var task3, task4, task5 string
		accept := func(name, key, task string, want int, check func(*testing.T, response)) statusCase {
			return action(name, key, taskPath(manual, task, "accept"), nil, want, check)
		}
		reject := func(name, key, task string, body any, want int, check func(*testing.T, response)) statusCase {
			return action(name, key, taskPath(manual, task, "reject"), body, want, check)
		}
		const reason = `{"reason":"Tweet doesn't mention the correct hashtag"}`
		a.table(t, &owner, []statusCase{
			balanceIs("ManualEscrowed", owner, "2661000", "1287500"),
			action("ClaimOKFirst", first.Key, campaignPath(manual, "claim"), nil, http.StatusCreated, capture(&task3, "id", wantTask(map[string]any{
				"amount": "100000", "platformFee": "3000", "totalCost": "103000", "expiresAt": at(now, time.Hour)}))),
			action("ClaimOKSecond", second.Key, campaignPath(manual, "claim"), nil, http.StatusCreated, capture(&task4, "id", nil)),
		})
		a.table(t, &owner, []statusCase{
			accept("AcceptErrConflictUndelivered", owner.Key, task3, http.StatusConflict, nil),
			reject("RejectErrConflictUndelivered", owner.Key, task3, reason, http.StatusConflict, nil),
			deliver("DeliverOKForReview", first.Key, manual, task3, output, http.StatusOK, wantTask(map[string]any{
				"status": "delivered", "deliveredAt": at(now, 0), "expiresAt": at(now, 10*time.Minute), "finishedAt": nil})),
			balanceIs("NotPaidBeforeReview", first, "1050000", "0"),
			accept("AcceptErrNotFoundAgentItself", first.Key, task3, http.StatusNotFound, nil),
			accept("AcceptErrNotFoundStranger", stranger.Key, task3, http.StatusNotFound, nil),
			accept("AcceptErrNotFoundUnknownTask", owner.Key, unknownID, http.StatusNotFound, nil),
			accept("AcceptErrNotFoundMalformedTask", owner.Key, "nope", http.StatusNotFound, nil),
			action("AcceptErrNotFoundTaskOfAnotherCampaign", owner.Key, taskPath(auto, task3, "accept"), nil, http.StatusNotFound, nil),
			action("AcceptErrInvalidBody", owner.Key, taskPath(manual, task3, "accept"), `{"rating":5}`, http.StatusBadRequest, nil),
			accept("AcceptErrUnauthorized", "", task3, http.StatusUnauthorized, nil),
			reject("RejectErrNotFoundAgentItself", first.Key, task3, reason, http.StatusNotFound, nil),
			reject("RejectErrNotFoundStranger", stranger.Key, task3, reason, http.StatusNotFound, nil),
			reject("RejectErrInvalidNoReason", owner.Key, task3, `{}`, http.StatusBadRequest, wantError("reason")),
			reject("RejectErrInvalidEmptyReason", owner.Key, task3, `{"reason":""}`, http.StatusBadRequest, wantError("reason")),
			reject("RejectErrInvalidReasonTooLong", owner.Key, task3, map[string]any{"reason": strings.Repeat("r", 1001)}, http.StatusBadRequest, wantError("reason")),
			reject("RejectErrInvalidReasonNUL", owner.Key, task3, `{"reason":"a\u0000b"}`, http.StatusBadRequest, wantError("reason")),
			reject("RejectErrInvalidReasonType", owner.Key, task3, `{"reason":5}`, http.StatusBadRequest, wantError("reason")),
			reject("RejectErrInvalidNoBody", owner.Key, task3, nil, http.StatusBadRequest, nil),
			reject("RejectErrInvalidUnknownField", owner.Key, task3, `{"reason":"no","refund":true}`, http.StatusBadRequest, wantError("unknown field")),
			reject("RejectErrUnauthorized", "", task3, reason, http.StatusUnauthorized, nil),
			reject("RejectOK", owner.Key, task3, reason, http.StatusOK, wantTask(map[string]any{
				"id": task3, "status": "rejected", "rejectReason": "Tweet doesn't mention the correct hashtag", "expiresAt": nil,
				"finishedAt": at(now, 0), "output": map[string]any{"tweet_url": "https://x.com/agent/status/123"}})),
			reject("RejectErrConflictTwice", owner.Key, task3, reason, http.StatusConflict, nil),
			accept("AcceptErrConflictRejected", owner.Key, task3, http.StatusConflict, nil),
			deliver("DeliverErrConflictRejected", first.Key, manual, task3, output, http.StatusConflict, nil),
			balanceIs("RejectedIsUnpaid", first, "1050000", "0"),
			// The rejected task's cost went back to the pool: 309000 - 2 * 103000 + 103000.
			getCampaign("PoolRefilled", "", manual, map[string]any{"remainingBudget": "206000", "remainingTasks": 2.0,
				"tasks": counts("claimed", 1, "rejected", 1)}),
			// A rejected task counts toward maxPerAgent (2): one more claim, then no more.
			action("ClaimOKAfterReject", first.Key, campaignPath(manual, "claim"), nil, http.StatusCreated, capture(&task5, "id", nil)),
			action("ClaimErrForbiddenRejectedCounts", first.Key, campaignPath(manual, "claim"), nil, http.StatusForbidden, wantError("limit")),
		})
		a.table(t, &owner, []statusCase{
			deliver("DeliverOKSecond", second.Key, manual, task4, output, http.StatusOK, wantTask(map[string]any{"status": "delivered"})),
			accept("AcceptOK", owner.Key, task4, http.StatusOK, wantTask(map[string]any{"id": task4, "status": "accepted", "expiresAt": nil,
				"finishedAt": at(now, 0), "rejectReason": nil})),
			accept("AcceptErrConflictTwice", owner.Key, task4, http.StatusConflict, nil),
			reject("RejectErrConflictAccepted", owner.Key, task4, reason, http.StatusConflict, nil),
			balanceIs("SecondPaidTheReward", second, "1100000", "0"),
			balanceIs("OwnerPaidTheSecondTask", owner, "2661000", micro(1287500-103000)),
			platformRevenue("PlatformGotBothFees", 4*usdc+1500+3000),
			getCampaign("ManualCounts", owner.Key, manual, map[string]any{"remainingBudget": "103000", "remainingTasks": 1.0,
				"tasks": counts("claimed", 1, "rejected", 1, "accepted", 1)}),
			list("ListOKOwnerManual", owner.Key, manual, "", http.StatusOK, listSet("tasks", 3, task5, task4, task3)),
			list("ListOKFirstManual", first.Key, manual, "?status=rejected", http.StatusOK, listIDs("tasks", 1, task3)),
		})

		// The claim rules: trust score, running claims, the daily limit.
		picky := a.createCampaign(t, owner, minimalCampaign(map[string]any{"title": "Trusted agents only", "minTrustScore": 0.9}))
		narrow := a.createCampaign(t, owner, minimalCampaign(map[string]any{"title": "One at a time", "totalBudget": 5000, "maxConcurrentClaims": 1}))
		daily := a.createCampaign(t, owner, minimalCampaign(map[string]any{"title": "Once a day", "totalBudget": 5000, "maxPerAgent": 5,
			"dailyLimitPerAgent": 1}))
		a.table(t, &owner, []statusCase{
			// An agent without history scores 0.65.
			action("ClaimErrForbiddenTrustScore", stranger.Key, campaignPath(picky, "claim"), nil, http.StatusForbidden, wantError("trust score")),
			action("ClaimOKNarrow", stranger.Key, campaignPath(narrow, "claim"), nil, http.StatusCreated, nil),
			action("ClaimErrConflictTooManyRunning", second.Key, campaignPath(narrow, "claim"), nil, http.StatusConflict, wantError("running")),
			action("ClaimOKDaily", stranger.Key, campaignPath(daily, "claim"), nil, http.StatusCreated, nil),
			action("ClaimErrForbiddenDailyLimit", stranger.Key, campaignPath(daily, "claim"), nil, http.StatusForbidden, wantError("daily")),
			action("ClaimOKDailyOtherAgent", second.Key, campaignPath(daily, "claim"), nil, http.StatusCreated, nil),
		})

		cases := notActivatedCases(idle.Key,
			[2]string{"POST", "/api/v1/campaigns"}, [2]string{"GET", "/api/v1/campaigns"},
			[2]string{"POST", campaignPath(auto, "claim")}, [2]string{"GET", campaignPath(auto, "tasks")},
			[2]string{"POST", taskPath(auto, task2, "deliver")}, [2]string{"POST", taskPath(auto, task2, "accept")},
			[2]string{"POST", taskPath(auto, task2, "reject")}, [2]string{"POST", campaignPath(auto, "top-up")},
			[2]string{"POST", campaignPath(auto, "pause")}, [2]string{"POST", campaignPath(auto, "resume")},
			[2]string{"POST", campaignPath(auto, "cancel")})
		for _, rt := range [][2]string{
			{"POST", "/api/v1/campaigns"}, {"GET", "/api/v1/campaigns"},
			{"POST", campaignPath(auto, "claim")}, {"GET", campaignPath(auto, "tasks")},
			{"POST", taskPath(auto, task2, "deliver")}, {"POST", taskPath(auto, task2, "accept")},
			{"POST", taskPath(auto, task2, "reject")}, {"POST", campaignPath(auto, "top-up")},
			{"POST", campaignPath(auto, "pause")}, {"POST", campaignPath(auto, "resume")}, {"POST", campaignPath(auto, "cancel")},
		} {
			cases = append(cases, statusCase{name: "ErrUnauthorized" + rt[0] + rt[1], method: rt[0], path: rt[1], body: `{}`, want: http.StatusUnauthorized})
		}
		cases = append(cases, getCampaign("NothingChanged", "", auto, map[string]any{"status": "active", "tasks": counts("claimed", 1, "accepted", 1)}))
		a.table(t, &owner, cases)
	})
}

func TestStatusCampaignOwnerActions(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.RateLimits{})
		owner, _ := a.activated(t, "pool-owner", 5*usdc) // 4 USDC available
		provider, _ := a.activated(t, "pool-provider", 2*usdc)
		stranger, _ := a.activated(t, "pool-stranger", 2*usdc)
		now := a.Clock.Now()
		// 10 tasks of 50000 + 1500: 515000 escrowed.
		id := a.createCampaign(t, owner, campaignBody(map[string]any{"totalBudget": 500000, "maxPerAgent": 5}))
		output := map[string]any{"output": map[string]any{"tweet_url": "https://x.com/agent/status/1"}}
		owned := func(name, key, act string, body any, want int, check func(*testing.T, response)) statusCase {
			return action(name, key, campaignPath(id, act), body, want, check)
		}
		var running, paid string

		cases := []statusCase{balanceIs("Escrowed", owner, "3485000", "515000")}
		for _, act := range []string{"pause", "resume", "cancel"} {
			cases = append(cases,
				owned(act+"ErrNotFoundStranger", stranger.Key, act, nil, http.StatusNotFound, nil),
				owned(act+"ErrNotFoundProvider", provider.Key, act, nil, http.StatusNotFound, nil),
				action(act+"ErrNotFoundUnknown", owner.Key, campaignPath(unknownID, act), nil, http.StatusNotFound, nil),
				action(act+"ErrNotFoundMalformed", owner.Key, campaignPath("nope", act), nil, http.StatusNotFound, nil),
				owned(act+"ErrInvalidBody", owner.Key, act, `{"reason":"why not"}`, http.StatusBadRequest, nil),
				owned(act+"ErrUnauthorized", "", act, nil, http.StatusUnauthorized, nil),
			)
		}
		cases = append(cases,
			owned("ResumeErrConflictActive", owner.Key, "resume", nil, http.StatusConflict, nil),
			owned("PauseOK", owner.Key, "pause", `{}`, http.StatusOK, wantCampaign(map[string]any{"id": id, "status": "paused", "finishedAt": nil,
				"remainingBudget": "515000", "remainingTasks": 10.0})),
			owned("PauseErrConflictTwice", owner.Key, "pause", nil, http.StatusConflict, nil),
			owned("ClaimErrConflictPaused", provider.Key, "claim", nil, http.StatusConflict, nil),
			statusCase{name: "DiscoverHidesPaused", method: "GET", path: "/api/v1/campaigns/discover", want: http.StatusOK, check: listIDs("campaigns", 0)},
			owned("ResumeOK", owner.Key, "resume", nil, http.StatusOK, wantCampaign(map[string]any{"status": "active"})),
			owned("ResumeErrConflictTwice", owner.Key, "resume", nil, http.StatusConflict, nil),
			statusCase{name: "DiscoverListsResumed", method: "GET", path: "/api/v1/campaigns/discover", want: http.StatusOK, check: listIDs("campaigns", 1, id)},
			owned("ClaimOK", provider.Key, "claim", nil, http.StatusCreated, capture(&paid, "id", nil)),
			owned("ClaimOKRunning", provider.Key, "claim", nil, http.StatusCreated, capture(&running, "id", nil)),
		)
		a.table(t, &owner, cases)
		a.must(t, http.StatusOK, "POST", taskPath(id, paid, "deliver"), provider.Key, output)
		// Paused, the running task goes on: it can still be delivered and paid.
		a.must(t, http.StatusOK, "POST", campaignPath(id, "pause"), owner.Key, nil)
		a.must(t, http.StatusOK, "POST", campaignPath(id, "resume"), owner.Key, nil)

		topUp := func(name, key string, body any, want int, check func(*testing.T, response)) statusCase {
			return owned(name, key, "top-up", body, want, check)
		}
		// 515000 - 2 * 51500 in the pool; 100000 more costs 100000 + 2 * 1500 = 103000.
		a.table(t, &owner, []statusCase{
			balanceIs("BeforeTopUp", owner, "3485000", "463500"),
			getCampaign("Pool", owner.Key, id, map[string]any{"remainingBudget": "412000", "remainingTasks": 8.0, "tasks": counts("claimed", 1, "accepted", 1)}),
			topUp("TopUpErrNotFoundStranger", stranger.Key, `{"amount":100000}`, http.StatusNotFound, nil),
			topUp("TopUpErrNotFoundProvider", provider.Key, `{"amount":100000}`, http.StatusNotFound, nil),
			action("TopUpErrNotFoundUnknown", owner.Key, campaignPath(unknownID, "top-up"), `{"amount":100000}`, http.StatusNotFound, nil),
			action("TopUpErrNotFoundMalformed", owner.Key, campaignPath("nope", "top-up"), `{"amount":100000}`, http.StatusNotFound, nil),
			topUp("TopUpErrInvalidMissing", owner.Key, `{}`, http.StatusBadRequest, wantError("amount")),
			topUp("TopUpErrInvalidNull", owner.Key, `{"amount":null}`, http.StatusBadRequest, wantError("amount")),
			topUp("TopUpErrInvalidZero", owner.Key, `{"amount":0}`, http.StatusBadRequest, wantError("amount")),
			topUp("TopUpErrInvalidNegative", owner.Key, `{"amount":-100000}`, http.StatusBadRequest, wantError("amount")),
			topUp("TopUpErrInvalidFraction", owner.Key, `{"amount":100000.5}`, http.StatusBadRequest, wantError("amount")),
			topUp("TopUpErrInvalidString", owner.Key, `{"amount":"100000"}`, http.StatusBadRequest, wantError("amount")),
			topUp("TopUpErrInvalidExponent", owner.Key, `{"amount":1e5}`, http.StatusBadRequest, wantError("amount")),
			topUp("TopUpErrInvalidOverflow", owner.Key, `{"amount":9223372036854775808}`, http.StatusBadRequest, wantError("amount")),
			topUp("TopUpErrInvalidAboveCap", owner.Key, `{"amount":1000000000000001}`, http.StatusBadRequest, wantError("amount")),
			topUp("TopUpErrInvalidUnknownField", owner.Key, `{"amount":100000,"currency":"USDC"}`, http.StatusBadRequest, wantError("unknown field")),
			topUp("TopUpErrInvalidNoBody", owner.Key, nil, http.StatusBadRequest, nil),
			topUp("TopUpErrUnauthorized", "", `{"amount":100000}`, http.StatusUnauthorized, nil),
			topUp("TopUpErrInsufficientFunds", owner.Key, `{"amount":3400000}`, http.StatusBadRequest, wantError("insufficient")),
			topUp("TopUpOK", owner.Key, `{"amount":100000}`, http.StatusOK, wantCampaign(map[string]any{"id": id, "status": "active",
				"totalBudget": "600000", "remainingBudget": "515000", "remainingTasks": 10.0, "updatedAt": at(now, 0),
				"funded": map[string]any{"amount": "100000", "platformFee": "3000", "totalCost": "103000"}})),
			balanceIs("TopUpEscrowed", owner, "3382000", "566500"),
			// A top-up of a part of a task pays 3% of it: 10000 + 300.
			topUp("TopUpOKPartOfATask", owner.Key, `{"amount":10000}`, http.StatusOK, wantCampaign(map[string]any{"totalBudget": "610000",
				"remainingBudget": "525300", "remainingTasks": 10.0, "funded": map[string]any{"amount": "10000", "platformFee": "300", "totalCost": "10300"}})),
			balanceIs("TopUpsEscrowed", owner, "3371700", "576800"),
			getCampaign("GetShowsNoFunding", owner.Key, id, map[string]any{"totalBudget": "610000", "remainingBudget": "525300"}),
		})

		// Cancel: the running task is cancelled and everything unspent comes back: the owner is down
		// exactly the one task it paid.
		a.table(t, &owner, []statusCase{
			owned("CancelOK", owner.Key, "cancel", nil, http.StatusOK, wantCampaign(map[string]any{"id": id, "status": "cancelled",
				"finishedAt": at(now, 0), "remainingBudget": "0", "remainingTasks": 0.0, "totalBudget": "610000",
				"tasks": counts("accepted", 1, "cancelled", 1)})),
			balanceIs("EverythingUnspentBack", owner, micro(4*usdc-51500), "0"),
			balanceIs("ProviderKeepsItsPay", provider, "1050000", "0"),
			platformRevenue("PlatformKeepsOneFee", 3*usdc+1500),
			owned("CancelErrConflictTwice", owner.Key, "cancel", nil, http.StatusConflict, nil),
			owned("PauseErrConflictCancelled", owner.Key, "pause", nil, http.StatusConflict, nil),
			owned("ResumeErrConflictCancelled", owner.Key, "resume", nil, http.StatusConflict, nil),
			topUp("TopUpErrConflictCancelled", owner.Key, `{"amount":100000}`, http.StatusConflict, nil),
			owned("ClaimErrConflictCancelled", stranger.Key, "claim", nil, http.StatusConflict, nil),
			action("DeliverErrConflictCancelledTask", provider.Key, taskPath(id, running, "deliver"), output, http.StatusConflict, nil),
			{name: "TaskCancelled", method: "GET", path: campaignPath(id, "tasks") + "?status=cancelled", key: provider.Key, want: http.StatusOK,
				check: func(t *testing.T, r response) {
					listIDs("tasks", 1, running)(t, r)
					wantTask(map[string]any{"status": "cancelled", "finishedAt": at(now, 0), "expiresAt": nil})(t, response{JSON: r.JSON["tasks"].([]any)[0].(map[string]any)})
				}},
			getCampaign("GetCancelled", "", id, map[string]any{"status": "cancelled", "remainingBudget": "0"}),
			{name: "DiscoverHidesCancelled", method: "GET", path: "/api/v1/campaigns/discover", want: http.StatusOK, check: listIDs("campaigns", 0)},
		})

		t.Run("CompletesWhenSpent", func(t *testing.T) {
			// One task and 10000 over: 50000 + 1500 + 10000 + 300 escrowed.
			one := a.createCampaign(t, owner, campaignBody(map[string]any{"totalBudget": 60000, "maxPerAgent": 5}))
			var task string
			a.table(t, &owner, []statusCase{
				balanceIs("Escrowed", owner, micro(4*usdc-51500-61800), "61800"),
				action("ClaimOK", provider.Key, campaignPath(one, "claim"), nil, http.StatusCreated, capture(&task, "id", nil)),
				action("ClaimErrConflictBudgetSpent", stranger.Key, campaignPath(one, "claim"), nil, http.StatusConflict, wantError("budget")),
				getCampaign("StillActiveWhileRunning", "", one, map[string]any{"status": "active", "remainingBudget": "10300", "remainingTasks": 0.0}),
			})
			a.table(t, &owner, []statusCase{
				action("DeliverOK", provider.Key, taskPath(one, task, "deliver"), output, http.StatusOK, wantTask(map[string]any{"status": "accepted"})),
				// Paid, and nothing left for another task: completed, the 10300 left back to the owner.
				getCampaign("Completed", owner.Key, one, map[string]any{"status": "completed", "remainingBudget": "0", "finishedAt": nil,
					"tasks": counts("accepted", 1)}),
				balanceIs("RestBack", owner, micro(4*usdc-51500-51500), "0"),
				action("ClaimErrConflictCompleted", stranger.Key, campaignPath(one, "claim"), nil, http.StatusConflict, nil),
				action("PauseErrConflictCompleted", owner.Key, campaignPath(one, "pause"), nil, http.StatusConflict, nil),
				{name: "DiscoverHidesCompleted", method: "GET", path: "/api/v1/campaigns/discover", want: http.StatusOK, check: listIDs("campaigns", 0)},
				{name: "MineCompleted", method: "GET", path: "/api/v1/campaigns?status=completed", key: owner.Key, want: http.StatusOK, check: listIDs("campaigns", 1, one)},
				action("TopUpReactivates", owner.Key, campaignPath(one, "top-up"), `{"amount":100000}`, http.StatusOK, wantCampaign(map[string]any{
					"status": "active", "totalBudget": "160000", "remainingBudget": "103000", "remainingTasks": 2.0,
					"funded": map[string]any{"amount": "100000", "platformFee": "3000", "totalCost": "103000"}})),
				action("ClaimOKAgain", stranger.Key, campaignPath(one, "claim"), nil, http.StatusCreated, nil),
				action("CancelOK", owner.Key, campaignPath(one, "cancel"), nil, http.StatusOK, wantCampaign(map[string]any{"status": "cancelled",
					"tasks": counts("accepted", 1, "cancelled", 1)})),
				balanceIs("AllBackButTwoTasks", owner, micro(4*usdc-51500-51500), "0"),
			})
		})
	})
}

// TestStatusCampaignIdempotentClaim: a claim repeated with its Idempotency-Key is answered from
// the first, and claims once.
func TestStatusCampaignIdempotentClaim(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.RateLimits{})
		owner, _ := a.activated(t, "idem-owner", 3*usdc)
		agent, _ := a.activated(t, "idem-agent", 2*usdc)
		id := a.createCampaign(t, owner, campaignBody(map[string]any{"maxPerAgent": 5}))
		rq := request{Method: "POST", Path: campaignPath(id, "claim"), Key: agent.Key, Header: hdr("Idempotency-Key", "claim-1")}
		first, second := a.send(t, rq), a.send(t, rq)
		if first.Status != http.StatusCreated || second.Status != http.StatusCreated || second.Header.Get("Idempotency-Replayed") != "true" ||
			!bytes.Equal(first.Raw, second.Raw) || first.Header.Get("Idempotency-Replayed") != "" {
			t.Fatalf("first %d %s, second %d %s (replayed %q)", first.Status, first.Raw, second.Status, second.Raw, second.Header.Get("Idempotency-Replayed"))
		}
		if str(first.JSON["id"]) != str(second.JSON["id"]) {
			t.Errorf("replay answered task %v, want %v", second.JSON["id"], first.JSON["id"])
		}
		got := a.must(t, http.StatusOK, "GET", campaignPath(id), "", nil)
		wantFields(t, got, map[string]any{"tasks": counts("claimed", 1), "remainingBudget": micro(1030000 - 51500)})
		list := a.must(t, http.StatusOK, "GET", campaignPath(id, "tasks"), agent.Key, nil)
		if total := list["pagination"].(map[string]any)["total"]; total != 1.0 {
			t.Errorf("agent has %v tasks after two claims with one key, want 1", total)
		}
		// The same key with another body (a different request) is refused; another key claims again.
		other := rq
		other.Body = `{}`
		if r := a.send(t, other); r.Status != http.StatusUnprocessableEntity {
			t.Errorf("same key, other body: %d %s, want 422", r.Status, r.Raw)
		}
		rq.Header = hdr("Idempotency-Key", "claim-2")
		if r := a.send(t, rq); r.Status != http.StatusCreated || str(r.JSON["id"]) == str(first.JSON["id"]) {
			t.Errorf("claim with a new key: %d %s, want a new task", r.Status, r.Raw)
		}
		// A refused claim is replayed as refused too, and does not claim once the refusal is gone.
		a.must(t, http.StatusOK, "POST", campaignPath(id, "pause"), owner.Key, nil)
		paused := request{Method: "POST", Path: campaignPath(id, "claim"), Key: agent.Key, Header: hdr("Idempotency-Key", "claim-3")}
		if r := a.send(t, paused); r.Status != http.StatusConflict {
			t.Fatalf("claim on a paused campaign: %d %s, want 409", r.Status, r.Raw)
		}
		a.must(t, http.StatusOK, "POST", campaignPath(id, "resume"), owner.Key, nil)
		if r := a.send(t, paused); r.Status != http.StatusConflict || r.Header.Get("Idempotency-Replayed") != "true" {
			t.Errorf("replayed refused claim: %d %s (replayed %q), want the 409 replayed", r.Status, r.Raw, r.Header.Get("Idempotency-Replayed"))
		}
		wantFields(t, a.must(t, http.StatusOK, "GET", campaignPath(id), "", nil), map[string]any{"tasks": counts("claimed", 2)})
		sqlstoretest.MustVerify(t, a.DB)
	})
}

// TestStatusCampaignTimeouts drives the campaign deadlines through POST /dev/clock/advance: an
// undelivered claim expires back into the pool, a delivery under review is accepted, a campaign
// ends and gives the rest back. Each case has an owner and an agent of its own.
func TestStatusCampaignTimeouts(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.RateLimits{})
		output := map[string]any{"output": map[string]any{"tweet_url": "https://x.com/agent/status/9"}}
		parties := func(t *testing.T, name string) (owner, provider agent) {
			owner, _ = a.activated(t, name+"-owner", 2*usdc) // 1 USDC available
			provider, _ = a.activated(t, name+"-agent", 2*usdc)
			return owner, provider
		}

		t.Run("ClaimExpires", func(t *testing.T) {
			owner, provider := parties(t, "expiry")
			id := a.createCampaign(t, owner, campaignBody(map[string]any{"totalBudget": 100000, "maxExecutionTimeSecs": 60}))
			task := a.claim(t, provider, id)
			a.table(t, &owner, []statusCase{
				advance("AlmostExpired", 59*time.Second),
				getCampaign("StillClaimed", "", id, map[string]any{"remainingBudget": "51500", "tasks": counts("claimed", 1)}),
				advance("Expired", time.Second),
				getCampaign("BackInThePool", "", id, map[string]any{"remainingBudget": "103000", "remainingTasks": 2.0, "tasks": counts("expired", 1)}),
				{name: "TaskExpired", method: "GET", path: campaignPath(id, "tasks"), key: provider.Key, want: http.StatusOK, check: func(t *testing.T, r response) {
					listIDs("tasks", 1, task)(t, r)
					wantTask(map[string]any{"status": "expired", "expiresAt": nil, "deliveredAt": nil})(t, response{JSON: r.JSON["tasks"].([]any)[0].(map[string]any)})
				}},
				action("DeliverErrConflictExpired", provider.Key, taskPath(id, task, "deliver"), output, http.StatusConflict, nil),
				balanceIs("ProviderUnpaid", provider, "1000000", "0"),
				// An expired claim does not count toward maxPerAgent (1).
				action("ClaimOKAgain", provider.Key, campaignPath(id, "claim"), nil, http.StatusCreated, nil),
				action("CancelOK", owner.Key, campaignPath(id, "cancel"), nil, http.StatusOK, nil),
				balanceIs("OwnerWhole", owner, "1000000", "0"),
			})
		})

		t.Run("LateDeliveryLosesToTheDeadline", func(t *testing.T) {
			owner, provider := parties(t, "late")
			id := a.createCampaign(t, owner, campaignBody(map[string]any{"totalBudget": 100000, "maxExecutionTimeSecs": 60}))
			task := a.claim(t, provider, id)
			a.Clock.Advance(60 * time.Second) // the deadline is now; no scheduler pass yet
			a.table(t, &owner, []statusCase{
				action("DeliverErrConflictLate", provider.Key, taskPath(id, task, "deliver"), output, http.StatusConflict, nil),
				advance("Timeouts", time.Second),
				getCampaign("Expired", "", id, map[string]any{"tasks": counts("expired", 1)}),
				balanceIs("ProviderUnpaid", provider, "1000000", "0"),
				action("CancelOK", owner.Key, campaignPath(id, "cancel"), nil, http.StatusOK, nil),
				balanceIs("OwnerWhole", owner, "1000000", "0"),
			})
		})

		t.Run("ReviewTimesOutAccepted", func(t *testing.T) {
			owner, provider := parties(t, "review")
			id := a.createCampaign(t, owner, campaignBody(map[string]any{"totalBudget": 100000, "autoAccept": false, "reviewTimeoutSecs": 120}))
			task := a.claim(t, provider, id)
			a.table(t, &owner, []statusCase{
				action("DeliverOK", provider.Key, taskPath(id, task, "deliver"), output, http.StatusOK, wantTask(map[string]any{"status": "delivered"})),
				advance("AlmostReviewed", 119*time.Second),
				getCampaign("StillUnderReview", "", id, map[string]any{"tasks": counts("delivered", 1)}),
				advance("Reviewed", time.Second),
				getCampaign("AutoAccepted", "", id, map[string]any{"tasks": counts("accepted", 1)}),
				balanceIs("ProviderPaid", provider, "1050000", "0"),
				action("RejectErrConflictTooLate", owner.Key, taskPath(id, task, "reject"), `{"reason":"late"}`, http.StatusConflict, nil),
				action("CancelOK", owner.Key, campaignPath(id, "cancel"), nil, http.StatusOK, nil),
				balanceIs("OwnerPaidOneTask", owner, micro(usdc-51500), "0"),
			})
		})

		t.Run("LateReviewLosesToTheDeadline", func(t *testing.T) {
			owner, provider := parties(t, "late-review")
			id := a.createCampaign(t, owner, campaignBody(map[string]any{"totalBudget": 100000, "autoAccept": false, "reviewTimeoutSecs": 120}))
			task := a.claim(t, provider, id)
			a.must(t, http.StatusOK, "POST", taskPath(id, task, "deliver"), provider.Key, output)
			a.Clock.Advance(120 * time.Second) // the review window closed; no scheduler pass yet
			a.table(t, &owner, []statusCase{
				action("RejectErrConflictLate", owner.Key, taskPath(id, task, "reject"), `{"reason":"late"}`, http.StatusConflict, nil),
				advance("Timeouts", time.Second),
				getCampaign("AutoAccepted", "", id, map[string]any{"tasks": counts("accepted", 1)}),
				balanceIs("ProviderPaid", provider, "1050000", "0"),
			})
		})

		t.Run("CampaignEnds", func(t *testing.T) {
			owner, provider := parties(t, "end")
			other, _ := a.activated(t, "end-other", 2*usdc)
			id := a.createCampaign(t, owner, campaignBody(map[string]any{"totalBudget": 100000, "durationDays": 1, "maxExecutionTimeSecs": 86400}))
			a.Clock.Advance(time.Hour)
			task := a.claim(t, provider, id) // due an hour after the campaign ends
			a.table(t, &owner, []statusCase{
				advance("Ended", 23*time.Hour),
				getCampaign("EndedPoolBack", "", id, map[string]any{"status": "ended", "remainingBudget": "0", "tasks": counts("claimed", 1)}),
				// The pool (one task) is back; the running task still holds its cost.
				balanceIs("PoolBack", owner, micro(usdc-51500), "51500"),
				action("ClaimErrConflictEnded", other.Key, campaignPath(id, "claim"), nil, http.StatusConflict, nil),
				action("TopUpErrConflictEnded", owner.Key, campaignPath(id, "top-up"), `{"amount":100000}`, http.StatusConflict, nil),
				action("PauseErrConflictEnded", owner.Key, campaignPath(id, "pause"), nil, http.StatusConflict, nil),
				action("CancelErrConflictEnded", owner.Key, campaignPath(id, "cancel"), nil, http.StatusConflict, nil),
				{name: "DiscoverHidesEnded", method: "GET", path: "/api/v1/campaigns/discover", want: http.StatusOK, check: func(t *testing.T, r response) {
					for _, x := range r.JSON["campaigns"].([]any) {
						if x.(map[string]any)["id"] == id {
							t.Errorf("ended campaign %s listed", id)
						}
					}
				}},
				action("DeliverOKAfterTheEnd", provider.Key, taskPath(id, task, "deliver"), output, http.StatusOK, wantTask(map[string]any{"status": "accepted"})),
				balanceIs("ProviderPaid", provider, "1050000", "0"),
				balanceIs("OwnerPaidOneTask", owner, micro(usdc-51500), "0"),
			})
		})
	})
}

// TestStatusCampaignDailyLimit: the daily limit counts the claims of the current UTC day.
func TestStatusCampaignDailyLimit(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.RateLimits{})
		owner, _ := a.activated(t, "daily-owner", 2*usdc)
		provider, _ := a.activated(t, "daily-agent", 2*usdc)
		id := a.createCampaign(t, owner, campaignBody(map[string]any{"totalBudget": 200000, "maxPerAgent": 3, "dailyLimitPerAgent": 1,
			"durationDays": 5}))
		task := a.claim(t, provider, id)
		a.must(t, http.StatusOK, "POST", taskPath(id, task, "deliver"), provider.Key, map[string]any{"output": "done"})
		untilMidnight := a.Clock.Now().Truncate(24 * time.Hour).Add(24 * time.Hour).Sub(a.Clock.Now())
		a.table(t, &owner, []statusCase{
			action("ErrForbiddenSameDay", provider.Key, campaignPath(id, "claim"), nil, http.StatusForbidden, wantError("daily")),
			advance("AlmostMidnight", untilMidnight-time.Second),
			action("ErrForbiddenStillSameDay", provider.Key, campaignPath(id, "claim"), nil, http.StatusForbidden, wantError("daily")),
			advance("Midnight", time.Second),
			action("OKNextDay", provider.Key, campaignPath(id, "claim"), nil, http.StatusCreated, nil),
			action("ErrForbiddenNextDayTwice", provider.Key, campaignPath(id, "claim"), nil, http.StatusForbidden, wantError("daily")),
			balanceIs("ProviderPaidOnce", provider, "1050000", "0"),
		})
	})
}

// TestStatusCampaignConcurrent races campaign requests that must serialize in the store: exactly
// one winner, never a 5xx, and the books add up.
func TestStatusCampaignConcurrent(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.RateLimits{})
		owner, _ := a.activated(t, "race-pool-owner", 3*usdc)
		var last response // the answer to the last request of the last race
		race := func(t *testing.T, rqs []request) map[int]int {
			t.Helper()
			rs := a.race(t, rqs)
			last = rs[len(rs)-1]
			return statusCounts(rs)
		}
		var agents []agent
		for i := range 6 {
			ag, _ := a.activated(t, "race-claimer-"+string(rune('a'+i)), 2*usdc)
			agents = append(agents, ag)
		}

		t.Run("LastTaskClaimedOnce", func(t *testing.T) {
			id := a.createCampaign(t, owner, campaignBody(map[string]any{"totalBudget": 50000}))
			var rqs []request
			for _, ag := range agents {
				rqs = append(rqs, request{Method: "POST", Path: campaignPath(id, "claim"), Key: ag.Key})
			}
			if got := race(t, rqs); got[http.StatusCreated] != 1 || got[http.StatusConflict] != 5 {
				t.Errorf("statuses %v, want one 201 and five 409 (the budget pays one task)", got)
			}
			wantFields(t, a.must(t, http.StatusOK, "GET", campaignPath(id), "", nil), map[string]any{"remainingBudget": "0", "tasks": counts("claimed", 1)})
		})

		t.Run("OneAgentClaimsOnce", func(t *testing.T) {
			id := a.createCampaign(t, owner, campaignBody(map[string]any{"totalBudget": 500000}))
			rqs := make([]request, 6)
			for i := range rqs {
				rqs[i] = request{Method: "POST", Path: campaignPath(id, "claim"), Key: agents[0].Key}
			}
			if got := race(t, rqs); got[http.StatusCreated] != 1 || got[http.StatusForbidden] != 5 {
				t.Errorf("statuses %v, want one 201 and five 403 (maxPerAgent 1)", got)
			}
		})

		t.Run("CancelAgainstDeliveries", func(t *testing.T) {
			id := a.createCampaign(t, owner, campaignBody(map[string]any{"totalBudget": 500000}))
			var rqs []request
			for _, ag := range agents {
				task := a.claim(t, ag, id)
				rqs = append(rqs, request{Method: "POST", Path: taskPath(id, task, "deliver"), Key: ag.Key, Body: `{"output":"done"}`})
			}
			before := a.balance(t, owner)
			rqs = append(rqs, request{Method: "POST", Path: campaignPath(id, "cancel"), Key: owner.Key})
			got := race(t, rqs)
			if cancel := last; cancel.Status != http.StatusOK {
				t.Errorf("cancel racing deliveries: %d %s, want 200: nothing else stops it", cancel.Status, cancel.Raw)
			}
			if got[http.StatusOK]+got[http.StatusConflict] != len(rqs) {
				t.Errorf("statuses %v, want only 200 and 409", got)
			}
			c := a.must(t, http.StatusOK, "GET", campaignPath(id), "", nil)
			tasks := c["tasks"].(map[string]any)
			paid := int64(tasks["accepted"].(float64))
			if c["status"] != "cancelled" || paid+int64(tasks["cancelled"].(float64)) != int64(len(agents)) || paid != int64(got[http.StatusOK]-1) {
				t.Errorf("after the race %v: %v", got, c)
			}
			// The owner paid exactly the tasks accepted; everything else of the 515000 came back.
			want := jsonNumber(t, before["available"]) + 515000 - paid*51500
			wantFields(t, a.balance(t, owner), map[string]any{"available": micro(want)})
		})
		sqlstoretest.MustVerify(t, a.DB)
	})
}
