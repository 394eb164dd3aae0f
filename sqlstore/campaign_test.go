package sqlstore_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/justpay/justpay"
	"github.com/justpay/justpay/sqlstore/sqlstoretest"
)

const (
	taskReward = 50_000
	taskFee    = 1_500 // 3% of the reward
	taskCost   = taskReward + taskFee
)

var taskOutput = json.RawMessage(`{"tweet_url":"https://x.com/agent/status/123"}`)

func newCampaign(budget int64, opts ...func(*justpay.NewCampaign)) justpay.NewCampaign {
	nc := justpay.NewCampaign{Title: "Tweet about our launch", Description: "Post a tweet mentioning @ourproduct with #launch",
		Category: "social-media", Tags: []string{"twitter"}, TaskDescription: json.RawMessage(`{"format":"tweet_url"}`),
		RewardPerTask: taskReward, TotalBudget: budget}
	for _, o := range opts {
		o(&nc)
	}
	return nc
}

func manualReview(nc *justpay.NewCampaign) { nc.AutoAccept = ptr(false) }

func (e *jobEnv) mustCampaign(tb testing.TB, ownerID string, nc justpay.NewCampaign) *justpay.Campaign {
	tb.Helper()
	c, err := e.Store.CreateCampaign(context.Background(), ownerID, nc)
	if err != nil {
		tb.Fatalf("create campaign: %v", err)
	}
	return c
}

func (e *jobEnv) mustClaim(tb testing.TB, agentID, campaignID string) *justpay.CampaignTask {
	tb.Helper()
	t, err := e.Store.ClaimTask(context.Background(), agentID, campaignID)
	if err != nil {
		tb.Fatalf("claim: %v", err)
	}
	return t
}

func (e *jobEnv) campaign(tb testing.TB, viewerID, id string) *justpay.Campaign {
	tb.Helper()
	c, err := e.Store.FindCampaignByID(context.Background(), viewerID, id)
	if err != nil {
		tb.Fatalf("find campaign: %v", err)
	}
	return c
}

func (e *jobEnv) mustDueCampaigns(tb testing.TB, want int) {
	tb.Helper()
	n, err := e.Store.RunDueCampaigns(context.Background())
	if err != nil || n != want {
		tb.Fatalf("RunDueCampaigns = %d, %v; want %d", n, err, want)
	}
}

func TestCampaignAutoAccept(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		env := newJobEnv(t, b)
		owner := env.mustAgent(t, "owner", 21*usdc)
		agents := []*justpay.Agent{env.mustAgent(t, "ann", 2*usdc), env.mustAgent(t, "bob", 2*usdc), env.mustAgent(t, "cat", 2*usdc)}
		start := env.available(t, owner.ID)

		c := env.mustCampaign(t, owner.ID, newCampaign(2*taskReward))
		if c.Funded == nil || c.Funded.PlatformFee != 2*taskFee || c.Remaining != 2*taskCost || c.TaskCost() != taskCost {
			t.Fatalf("created %+v funded %+v", c, c.Funded)
		}
		if got := env.available(t, owner.ID); got != start-2*taskCost {
			t.Fatalf("owner %d -> %d, want -%d", start, got, 2*taskCost)
		}
		t1 := env.mustClaim(t, agents[0].ID, c.ID)
		if t1.Status != justpay.TaskClaimed || t1.TotalCost() != taskCost || !timeEqual(t1.ExpiresAt, env.Clock.Now().Add(300*time.Second)) {
			t.Fatalf("claimed %+v", t1)
		}
		env.wantErr(t, justpay.EFORBIDDEN, func() error { _, err := env.Store.ClaimTask(ctx, agents[0].ID, c.ID); return err }, agents[0].ID)
		env.wantErr(t, justpay.EFORBIDDEN, func() error { _, err := env.Store.ClaimTask(ctx, owner.ID, c.ID); return err }, owner.ID)
		t2 := env.mustClaim(t, agents[1].ID, c.ID)
		env.wantErr(t, justpay.ECONFLICT, func() error { _, err := env.Store.ClaimTask(ctx, agents[2].ID, c.ID); return err },
			owner.ID, agents[2].ID)

		revenue0 := env.revenue(t)
		a0 := env.available(t, agents[0].ID)
		got, err := env.Store.DeliverTask(ctx, agents[0].ID, c.ID, t1.ID, taskOutput)
		if err != nil || got.Status != justpay.TaskAccepted || got.FinishedAt == nil {
			t.Fatalf("deliver = %+v, %v", got, err)
		}
		if env.available(t, agents[0].ID) != a0+taskReward || env.revenue(t) != revenue0+taskFee {
			t.Fatalf("payment: provider %d -> %d, revenue %d -> %d", a0, env.available(t, agents[0].ID), revenue0, env.revenue(t))
		}
		env.wantErr(t, justpay.ECONFLICT, func() error {
			_, err := env.Store.DeliverTask(ctx, agents[0].ID, c.ID, t1.ID, taskOutput)
			return err
		}, agents[0].ID, owner.ID)
		env.wantErr(t, justpay.ENOTFOUND, func() error {
			_, err := env.Store.DeliverTask(ctx, agents[0].ID, c.ID, t2.ID, taskOutput)
			return err
		}, agents[0].ID, owner.ID)
		if cur := env.campaign(t, owner.ID, c.ID); cur.Status != justpay.CampaignActive {
			t.Fatalf("campaign %s with a task running", cur.Status)
		}
		if _, err := env.Store.DeliverTask(ctx, agents[1].ID, c.ID, t2.ID, taskOutput); err != nil {
			t.Fatal(err)
		}
		cur := env.campaign(t, owner.ID, c.ID)
		if cur.Status != justpay.CampaignCompleted || cur.Remaining != 0 || cur.Tasks[justpay.TaskAccepted] != 2 {
			t.Fatalf("spent campaign: %+v", cur)
		}
		// A top-up reactivates it; cancelling gives the unspent budget back.
		if cur, err = env.Store.TopUpCampaign(ctx, owner.ID, c.ID, 3*taskReward); err != nil || cur.Status != justpay.CampaignActive ||
			cur.Remaining != 3*taskCost || cur.TotalBudget != 5*taskReward {
			t.Fatalf("top up = %+v, %v", cur, err)
		}
		t3 := env.mustClaim(t, agents[2].ID, c.ID)
		before := env.available(t, owner.ID)
		if cur, err = env.Store.CancelCampaign(ctx, owner.ID, c.ID); err != nil || cur.Status != justpay.CampaignCancelled || cur.Tasks[justpay.TaskCancelled] != 1 {
			t.Fatalf("cancel = %+v, %v", cur, err)
		}
		if got := env.available(t, owner.ID); got != before+3*taskCost {
			t.Fatalf("cancel refunded %d, want %d", got-before, 3*taskCost)
		}
		env.wantErr(t, justpay.ECONFLICT, func() error {
			_, err := env.Store.DeliverTask(ctx, agents[2].ID, c.ID, t3.ID, taskOutput)
			return err
		}, agents[2].ID, owner.ID)
		if got := env.available(t, owner.ID); got != start-2*taskCost {
			t.Fatalf("owner spent %d, want exactly two tasks %d", start-got, 2*taskCost)
		}
		// The owner's history shows the campaign's spending.
		txs, _, err := env.Store.FindTransactions(ctx, owner.ID, justpay.TransactionFilter{Type: justpay.TxCampaignTaskSpent, Page: justpay.Page{Page: 1, Limit: 20}})
		if err != nil || len(txs) != 3 {
			t.Fatalf("owner's campaign_task_spent: %d, %v; want 3 claims", len(txs), err)
		}
		sqlstoretest.MustVerify(t, env.DB)
	})
}

func TestCampaignReview(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		env := newJobEnv(t, b)
		owner := env.mustAgent(t, "owner", 11*usdc)
		a := env.mustAgent(t, "ann", 2*usdc)
		c := env.mustCampaign(t, owner.ID, newCampaign(3*taskReward, manualReview, func(nc *justpay.NewCampaign) {
			nc.MaxPerAgent, nc.DailyLimitPerAgent = ptr(3), ptr(2)
		}))
		t1 := env.mustClaim(t, a.ID, c.ID)
		d, err := env.Store.DeliverTask(ctx, a.ID, c.ID, t1.ID, taskOutput)
		if err != nil || d.Status != justpay.TaskDelivered || !timeEqual(d.ExpiresAt, env.Clock.Now().Add(300*time.Second)) {
			t.Fatalf("deliver = %+v, %v", d, err)
		}
		env.wantErr(t, justpay.ENOTFOUND, func() error { _, err := env.Store.AcceptTask(ctx, a.ID, c.ID, t1.ID); return err }, a.ID, owner.ID)
		r, err := env.Store.RejectTask(ctx, owner.ID, c.ID, t1.ID, "no hashtag")
		if err != nil || r.Status != justpay.TaskRejected || r.RejectReason != "no hashtag" {
			t.Fatalf("reject = %+v, %v", r, err)
		}
		if cur := env.campaign(t, "", c.ID); cur.Remaining != 3*taskCost || cur.CallbackURL != "" {
			t.Fatalf("after a rejection the pool holds %d, want %d", cur.Remaining, 3*taskCost)
		}
		// Rejected tasks count: the daily limit of 2 is reached with the second claim.
		t2 := env.mustClaim(t, a.ID, c.ID)
		env.wantErr(t, justpay.EFORBIDDEN, func() error { _, err := env.Store.ClaimTask(ctx, a.ID, c.ID); return err }, a.ID, owner.ID)
		// The claim expires: its cost goes back to the pool; the next UTC day the agent may claim again.
		env.Clock.Advance(300 * time.Second)
		env.mustDueCampaigns(t, 1)
		if got := env.campaign(t, owner.ID, c.ID); got.Remaining != 3*taskCost || got.Tasks[justpay.TaskExpired] != 1 {
			t.Fatalf("after expiry: %+v", got)
		}
		_ = t2
		env.Clock.Advance(24 * time.Hour)
		t3 := env.mustClaim(t, a.ID, c.ID)
		if _, err := env.Store.DeliverTask(ctx, a.ID, c.ID, t3.ID, taskOutput); err != nil {
			t.Fatal(err)
		}
		// Nobody reviews it: accepted when the review window closes.
		a0 := env.available(t, a.ID)
		env.Clock.Advance(300*time.Second - time.Microsecond)
		env.mustDueCampaigns(t, 0)
		env.Clock.Advance(time.Microsecond)
		env.mustDueCampaigns(t, 1)
		if got := env.available(t, a.ID); got != a0+taskReward {
			t.Fatalf("auto-accepted: %d -> %d", a0, got)
		}
		// The campaign ends at its duration: the pool goes back to the owner at once.
		before := env.available(t, owner.ID)
		env.Clock.Advance(30 * 24 * time.Hour)
		env.mustDueCampaigns(t, 1)
		cur := env.campaign(t, owner.ID, c.ID)
		if cur.Status != justpay.CampaignEnded || env.available(t, owner.ID) != before+2*taskCost {
			t.Fatalf("ended: %+v, owner +%d", cur, env.available(t, owner.ID)-before)
		}
		sqlstoretest.MustVerify(t, env.DB)
	})
}
