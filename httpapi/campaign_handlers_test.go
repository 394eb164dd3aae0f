package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/justpay/justpay"
)

// The exact JSON of a campaign and a task, whatever the service leaves unset.

func TestCampaignResponse(t *testing.T) {
	created := time.Date(2026, 2, 9, 12, 0, 0, 0, time.UTC)
	bare := &justpay.Campaign{ID: "c1", OwnerID: "c2", Title: "Tweet", Description: "Tweet about us", Category: "social-media",
		RewardPerTask: 50_000, TaskFee: 1_500, TotalBudget: 1_010_000, Remaining: 1_040_300, MaxPerAgent: 1, ReviewTimeoutSecs: 300,
		MaxExecutionTimeSecs: 300, MaxConcurrentClaims: 10, DurationDays: 30, Status: justpay.CampaignActive,
		EndsAt: created.AddDate(0, 0, 30), CreatedAt: created, UpdatedAt: created}

	t.Run("Bare", func(t *testing.T) {
		got := mustJSON(t, newCampaignResponse(bare))
		want := map[string]any{
			"id": "c1", "ownerId": "c2", "title": "Tweet", "description": "Tweet about us", "category": "social-media",
			"tags": []any{}, "taskDescription": nil, "rewardPerTask": "50000", "platformFeePerTask": "1500", "taskCost": "51500",
			"totalBudget": "1010000", "remainingBudget": "1040300", "remainingTasks": 20.0, "maxPerAgent": 1.0, "dailyLimitPerAgent": nil,
			"minTrustScore": 0.0, "autoAccept": false, "reviewTimeoutSecs": 300.0, "maxExecutionTimeSecs": 300.0,
			"maxConcurrentClaims": 10.0, "durationDays": 30.0, "status": "active", "endsAt": "2026-03-11T12:00:00.000Z",
			"finishedAt": nil, "createdAt": "2026-02-09T12:00:00.000Z", "updatedAt": "2026-02-09T12:00:00.000Z",
			"tasks": map[string]any{"claimed": 0.0, "delivered": 0.0, "accepted": 0.0, "rejected": 0.0, "expired": 0.0, "cancelled": 0.0},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got  %v\nwant %v", got, want)
		}
		// The keys come in the documented order.
		b, _ := json.Marshal(newCampaignResponse(bare))
		if !strings.HasPrefix(string(b), `{"id":"c1","ownerId":"c2","title":`) || !strings.HasSuffix(string(b), `"cancelled":0}}`) {
			t.Errorf("order: %s", b)
		}
	})

	t.Run("Full", func(t *testing.T) {
		c := *bare
		daily, finished := 3, created.Add(time.Hour)
		c.Tags, c.TaskDescription, c.CallbackURL = []string{"twitter"}, json.RawMessage(`{"format":"tweet_url"}`), "https://x.example/h"
		c.DailyLimitPerAgent, c.FinishedAt, c.MinTrustScore, c.AutoAccept = &daily, &finished, 0.5, true
		c.Tasks = map[string]int{justpay.TaskClaimed: 2, justpay.TaskAccepted: 5, justpay.TaskCancelled: 1}
		c.Funded = &justpay.CampaignFunding{Amount: 1_010_000, PlatformFee: 30_300}
		got := mustJSON(t, newCampaignResponse(&c))
		for k, v := range map[string]any{
			"tags": []any{"twitter"}, "taskDescription": map[string]any{"format": "tweet_url"}, "callbackUrl": "https://x.example/h",
			"dailyLimitPerAgent": 3.0, "finishedAt": "2026-02-09T13:00:00.000Z", "minTrustScore": 0.5, "autoAccept": true,
			"tasks":  map[string]any{"claimed": 2.0, "delivered": 0.0, "accepted": 5.0, "rejected": 0.0, "expired": 0.0, "cancelled": 1.0},
			"funded": map[string]any{"amount": "1010000", "platformFee": "30300", "totalCost": "1040300"},
		} {
			if !reflect.DeepEqual(got[k], v) {
				t.Errorf("%s = %#v, want %#v", k, got[k], v)
			}
		}
		if len(got) != 29 {
			t.Errorf("campaign has %d fields, want 29 with callbackUrl and funded: %v", len(got), got)
		}
	})

	t.Run("RemainingTasksRoundsDown", func(t *testing.T) {
		c := *bare
		for _, tc := range []struct {
			remaining int64
			want      float64
		}{{0, 0}, {51_499, 0}, {51_500, 1}, {103_000 - 1, 1}, {103_000, 2}} {
			c.Remaining = tc.remaining
			if got := mustJSON(t, newCampaignResponse(&c))["remainingTasks"]; got != tc.want {
				t.Errorf("remaining %d: remainingTasks = %v, want %v", tc.remaining, got, tc.want)
			}
		}
	})
}

func TestTaskResponse(t *testing.T) {
	created := time.Date(2026, 2, 9, 12, 0, 0, 0, time.UTC)
	expires := created.Add(time.Hour)
	claimed := &justpay.CampaignTask{ID: "t1", CampaignID: "c1", AgentID: "a1", Status: justpay.TaskClaimed, Amount: 50_000,
		PlatformFee: 1_500, ExpiresAt: &expires, CreatedAt: created, UpdatedAt: created}
	got := mustJSON(t, newTaskResponse(claimed))
	want := map[string]any{"id": "t1", "campaignId": "c1", "agentId": "a1", "amount": "50000", "platformFee": "1500",
		"totalCost": "51500", "status": "claimed", "output": nil, "rejectReason": nil, "expiresAt": "2026-02-09T13:00:00.000Z",
		"deliveredAt": nil, "finishedAt": nil, "createdAt": "2026-02-09T12:00:00.000Z", "updatedAt": "2026-02-09T12:00:00.000Z"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
	rejected := *claimed
	rejected.Status, rejected.Output, rejected.RejectReason = justpay.TaskRejected, json.RawMessage(`["x"]`), "wrong hashtag"
	rejected.ExpiresAt, rejected.DeliveredAt, rejected.FinishedAt = nil, &created, &expires
	got = mustJSON(t, newTaskResponse(&rejected))
	for k, v := range map[string]any{"status": "rejected", "output": []any{"x"}, "rejectReason": "wrong hashtag", "expiresAt": nil,
		"deliveredAt": "2026-02-09T12:00:00.000Z", "finishedAt": "2026-02-09T13:00:00.000Z"} {
		if !reflect.DeepEqual(got[k], v) {
			t.Errorf("%s = %#v, want %#v", k, got[k], v)
		}
	}
}

// unreachableCampaigns is a CampaignService that no request may reach: any other method than
// these panics (into a 500), and these report the call.
type unreachableCampaigns struct {
	justpay.CampaignService
	t *testing.T
}

func (u unreachableCampaigns) PauseCampaign(context.Context, string, string) (*justpay.Campaign, error) {
	u.t.Error("PauseCampaign reached")
	return nil, nil
}

func (u unreachableCampaigns) ResumeCampaign(context.Context, string, string) (*justpay.Campaign, error) {
	u.t.Error("ResumeCampaign reached")
	return nil, nil
}

func (u unreachableCampaigns) CancelCampaign(context.Context, string, string) (*justpay.Campaign, error) {
	u.t.Error("CancelCampaign reached")
	return nil, nil
}

// TestCampaignPathIDs: a path ID that cannot be an ID is a 404 before the service is asked.
func TestCampaignPathIDs(t *testing.T) {
	s, _ := newTestServer(t)
	s.Campaigns = unreachableCampaigns{t: t}
	h := s.Handler()
	const good = "c000000000000000000000000"
	for _, tc := range []struct{ method, path, body string }{
		{"GET", "/api/v1/campaigns/nope", ""},
		{"POST", "/api/v1/campaigns/nope/claim", ""},
		{"GET", "/api/v1/campaigns/nope/tasks", ""},
		{"POST", "/api/v1/campaigns/nope/tasks/" + good + "/deliver", `{"output":1}`},
		{"POST", "/api/v1/campaigns/" + good + "/tasks/nope/deliver", `{"output":1}`},
		{"POST", "/api/v1/campaigns/" + good + "/tasks/NOPE/accept", ""},
		{"POST", "/api/v1/campaigns/" + good + "/tasks/nope/reject", `{"reason":"r"}`},
		{"POST", "/api/v1/campaigns/nope/top-up", `{"amount":1}`},
		{"POST", "/api/v1/campaigns/nope/pause", ""},
		{"POST", "/api/v1/campaigns/nope/resume", ""},
		{"POST", "/api/v1/campaigns/nope/cancel", ""},
	} {
		key := activeKey
		if tc.method == "GET" && !strings.HasSuffix(tc.path, "/tasks") {
			key = ""
		}
		w := serve(h, tc.method, tc.path, key, tc.body)
		if w.Code != http.StatusNotFound {
			t.Errorf("%s %s: %d %s, want 404", tc.method, tc.path, w.Code, w.Body)
			continue
		}
		if msg := mustJSONError(t, w, http.StatusNotFound); !strings.Contains(msg, "not found") {
			t.Errorf("%s %s: %q", tc.method, tc.path, msg)
		}
	}
}
