package sqlstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
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

// campaignRows dumps the campaigns of the agents (as owners) and the tasks they own or hold:
// with rows, what a refused campaign operation must leave byte-identical.
func (e *jobEnv) campaignRows(tb testing.TB, agentIDs ...string) string {
	tb.Helper()
	var b strings.Builder
	for _, id := range agentIDs {
		for _, q := range []string{
			`SELECT 'campaign ' || id || ' ' || status || ' ' || CAST(total_budget AS TEXT) || ' ' || CAST(updated_at AS TEXT) || ' ' ||
				COALESCE(CAST(finished_at AS TEXT), '-') FROM campaigns WHERE owner_id = $1 ORDER BY id`,
			`SELECT 'task ' || t.id || ' ' || t.agent_id || ' ' || t.status || ' ' || COALESCE(CAST(t.expires_at AS TEXT), '-') || ' ' ||
				CAST(t.updated_at AS TEXT) || ' ' || t.reject_reason || ' ' || COALESCE(t.output, '-') FROM campaign_tasks t
				JOIN campaigns c ON c.id = t.campaign_id WHERE t.agent_id = $1 OR c.owner_id = $1 ORDER BY t.id`,
		} {
			rows, err := e.raw.Query(q, id)
			if err != nil {
				tb.Fatalf("campaign rows: %v\n%s", err, q)
			}
			for rows.Next() {
				var s string
				if err := rows.Scan(&s); err != nil {
					tb.Fatal(err)
				}
				b.WriteString(s + "\n")
			}
			if err := errors.Join(rows.Err(), rows.Close()); err != nil {
				tb.Fatal(err)
			}
		}
	}
	return e.rows(tb, agentIDs...) + b.String()
}

// wantCampaignErr checks a refused campaign operation's code and that it changed nothing of the
// agents: balances, postings, events, campaigns and tasks.
func (e *jobEnv) wantCampaignErr(tb testing.TB, code string, op func() error, agentIDs ...string) error {
	tb.Helper()
	before := e.campaignRows(tb, agentIDs...)
	err := op()
	jobWantCode(tb, err, code)
	mustUnchanged(tb, before, e.campaignRows(tb, agentIDs...))
	return err
}

// mustCampaignStatus reads the campaign as its owner and checks its status and pool.
func (e *jobEnv) mustCampaignStatus(tb testing.TB, ownerID, id, status string, pool int64) *justpay.Campaign {
	tb.Helper()
	c := e.campaign(tb, ownerID, id)
	if c.Status != status || c.Remaining != pool {
		tb.Fatalf("campaign is %s with %d in its pool, want %s with %d", c.Status, c.Remaining, status, pool)
	}
	return c
}

func TestCreateCampaignValidation(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		env := newJobEnv(t, b)
		owner := env.mustAgent(t, "owner", 20*usdc)

		t.Run("Defaults", func(t *testing.T) {
			nc := newCampaign(2 * taskReward)
			nc.Tags, nc.TaskDescription = nil, json.RawMessage(`null`)
			c := env.mustCampaign(t, owner.ID, nc)
			now := env.Clock.Now()
			if c.MaxPerAgent != 1 || c.DailyLimitPerAgent != nil || c.MinTrustScore != 0 || !c.AutoAccept || c.ReviewTimeoutSecs != 300 ||
				c.MaxExecutionTimeSecs != 300 || c.MaxConcurrentClaims != 10 || c.DurationDays != 30 || !c.EndsAt.Equal(now.AddDate(0, 0, 30)) ||
				c.TaskFee != taskFee || c.TotalBudget != 2*taskReward || c.Status != justpay.CampaignActive || c.TaskDescription != nil ||
				c.Tags == nil || len(c.Tags) != 0 || c.FinishedAt != nil {
				t.Fatalf("defaults: %+v", c)
			}
			got := env.campaign(t, owner.ID, c.ID)
			if got.Tags == nil || len(got.Tags) != 0 || got.TaskDescription != nil || !got.EndsAt.Equal(c.EndsAt) || got.Remaining != 2*taskCost {
				t.Fatalf("read back: %+v", got)
			}
		})
		t.Run("Limits", func(t *testing.T) {
			// Every bound at its edge is accepted.
			c := env.mustCampaign(t, owner.ID, justpay.NewCampaign{Title: "abc", Description: strings.Repeat("d", 10), Category: "ab",
				Tags: slices.Repeat([]string{strings.Repeat("t", justpay.MaxTagLen)}, justpay.MaxServiceTags), RewardPerTask: justpay.MinRewardPerTask,
				TotalBudget: justpay.MinRewardPerTask, MaxPerAgent: ptr(justpay.MaxMaxPerAgent), DailyLimitPerAgent: ptr(1), MinTrustScore: ptr(1.0),
				AutoAccept: ptr(false), ReviewTimeoutSecs: ptr(60), MaxExecutionTimeSecs: ptr(30), MaxConcurrentClaims: ptr(1000), DurationDays: ptr(365),
				CallbackURL: "https://example.com/hook"})
			if c.TaskFee != 30 || c.Remaining != 1030 || !c.EndsAt.Equal(env.Clock.Now().AddDate(0, 0, 365)) || c.CallbackURL == "" {
				t.Fatalf("at the limits: %+v", c)
			}
			c = env.mustCampaign(t, owner.ID, newCampaign(taskReward, func(nc *justpay.NewCampaign) {
				nc.Title, nc.Description, nc.Category = strings.Repeat("é", 200), strings.Repeat("é", 5000), strings.Repeat("é", 50)
				nc.ReviewTimeoutSecs, nc.MaxExecutionTimeSecs, nc.MaxConcurrentClaims, nc.DurationDays = ptr(86400), ptr(86400), ptr(1), ptr(1)
				nc.DailyLimitPerAgent = ptr(justpay.MaxMaxPerAgent)
			}))
			if c.Title != strings.Repeat("é", 200) {
				t.Fatalf("title %q", c.Title)
			}
		})

		for _, tc := range []struct {
			name string
			set  func(*justpay.NewCampaign)
		}{
			{"TitleShort", func(nc *justpay.NewCampaign) { nc.Title = "ab" }},
			{"TitleLong", func(nc *justpay.NewCampaign) { nc.Title = strings.Repeat("a", 201) }},
			{"TitleNUL", func(nc *justpay.NewCampaign) { nc.Title = "abc\x00" }},
			{"TitleNotUTF8", func(nc *justpay.NewCampaign) { nc.Title = "abc\xff" }},
			{"DescriptionShort", func(nc *justpay.NewCampaign) { nc.Description = "too short" }},
			{"DescriptionLong", func(nc *justpay.NewCampaign) { nc.Description = strings.Repeat("d", 5001) }},
			{"CategoryShort", func(nc *justpay.NewCampaign) { nc.Category = "a" }},
			{"CategoryLong", func(nc *justpay.NewCampaign) { nc.Category = strings.Repeat("c", 51) }},
			{"TagsTooMany", func(nc *justpay.NewCampaign) { nc.Tags = slices.Repeat([]string{"t"}, justpay.MaxServiceTags+1) }},
			{"TagBlank", func(nc *justpay.NewCampaign) { nc.Tags = []string{"ok", " "} }},
			{"TagLong", func(nc *justpay.NewCampaign) { nc.Tags = []string{strings.Repeat("t", justpay.MaxTagLen+1)} }},
			{"TaskDescriptionNUL", func(nc *justpay.NewCampaign) { nc.TaskDescription = json.RawMessage(`{"a":"\u0000"}`) }},
			{"TaskDescriptionTooLarge", func(nc *justpay.NewCampaign) {
				nc.TaskDescription = json.RawMessage(`"` + strings.Repeat("x", justpay.MaxTaskDescriptionBytes) + `"`)
			}},
			{"CallbackNotHTTP", func(nc *justpay.NewCampaign) { nc.CallbackURL = "ftp://example.com/hook" }},
			{"CallbackNoHost", func(nc *justpay.NewCampaign) { nc.CallbackURL = "https:///hook" }},
			{"CallbackUserinfo", func(nc *justpay.NewCampaign) { nc.CallbackURL = "https://user:pw@example.com/hook" }},
			{"RewardBelowMinimum", func(nc *justpay.NewCampaign) { nc.RewardPerTask, nc.TotalBudget = 999, 999 }},
			{"RewardZero", func(nc *justpay.NewCampaign) { nc.RewardPerTask = 0 }},
			{"RewardNegative", func(nc *justpay.NewCampaign) { nc.RewardPerTask = -taskReward }},
			{"RewardAboveMaximum", func(nc *justpay.NewCampaign) {
				nc.RewardPerTask, nc.TotalBudget = justpay.MaxCampaignBudget+1, justpay.MaxCampaignBudget+1
			}},
			{"BudgetBelowOneTask", func(nc *justpay.NewCampaign) { nc.TotalBudget = taskReward - 1 }},
			{"BudgetAboveMaximum", func(nc *justpay.NewCampaign) { nc.TotalBudget = justpay.MaxCampaignBudget + 1 }},
			{"MaxPerAgentZero", func(nc *justpay.NewCampaign) { nc.MaxPerAgent = ptr(0) }},
			{"MaxPerAgentAboveMaximum", func(nc *justpay.NewCampaign) { nc.MaxPerAgent = ptr(justpay.MaxMaxPerAgent + 1) }},
			{"DailyLimitZero", func(nc *justpay.NewCampaign) { nc.DailyLimitPerAgent = ptr(0) }},
			{"DailyLimitAboveMaximum", func(nc *justpay.NewCampaign) { nc.DailyLimitPerAgent = ptr(justpay.MaxMaxPerAgent + 1) }},
			{"MinTrustNegative", func(nc *justpay.NewCampaign) { nc.MinTrustScore = ptr(-0.001) }},
			{"MinTrustAboveOne", func(nc *justpay.NewCampaign) { nc.MinTrustScore = ptr(1.001) }},
			{"MinTrustNaN", func(nc *justpay.NewCampaign) { nc.MinTrustScore = ptr(math.NaN()) }},
			{"ReviewTimeoutShort", func(nc *justpay.NewCampaign) { nc.ReviewTimeoutSecs = ptr(59) }},
			{"ReviewTimeoutLong", func(nc *justpay.NewCampaign) { nc.ReviewTimeoutSecs = ptr(86401) }},
			{"ExecutionTimeShort", func(nc *justpay.NewCampaign) { nc.MaxExecutionTimeSecs = ptr(29) }},
			{"ExecutionTimeLong", func(nc *justpay.NewCampaign) { nc.MaxExecutionTimeSecs = ptr(86401) }},
			{"ConcurrentClaimsZero", func(nc *justpay.NewCampaign) { nc.MaxConcurrentClaims = ptr(0) }},
			{"ConcurrentClaimsAboveMaximum", func(nc *justpay.NewCampaign) { nc.MaxConcurrentClaims = ptr(1001) }},
			{"DurationZero", func(nc *justpay.NewCampaign) { nc.DurationDays = ptr(0) }},
			{"DurationAboveMaximum", func(nc *justpay.NewCampaign) { nc.DurationDays = ptr(366) }},
		} {
			t.Run("Err"+tc.name, func(t *testing.T) {
				env.wantCampaignErr(t, justpay.EINVALID, func() error {
					_, err := env.Store.CreateCampaign(ctx, owner.ID, newCampaign(2*taskReward, tc.set))
					return err
				}, owner.ID)
			})
		}

		t.Run("ErrInsufficientFunds", func(t *testing.T) {
			poor := env.mustAgent(t, "poor", usdc+2*taskCost)
			env.wantCampaignErr(t, justpay.EINSUFFICIENT, func() error {
				_, err := env.Store.CreateCampaign(ctx, poor.ID, newCampaign(2*taskReward+1))
				return err
			}, poor.ID)
			// Exactly what it has: budget and fees.
			c := env.mustCampaign(t, poor.ID, newCampaign(2*taskReward))
			if got := env.available(t, poor.ID); got != 0 || c.Funded.TotalCost() != 2*taskCost {
				t.Fatalf("left %d after funding %+v", got, c.Funded)
			}
			env.wantCampaignErr(t, justpay.EINSUFFICIENT, func() error {
				_, err := env.Store.TopUpCampaign(ctx, poor.ID, c.ID, 1)
				return err
			}, poor.ID)
		})
		sqlstoretest.MustVerify(t, env.DB)
	})
}

// TestCampaignFee checks the fees escrowed with a budget: a budget of n rewards escrows exactly n
// task costs even when a task's fee is rounded, and a budget with a remainder escrows the fee on
// the remainder too, all of which goes back to the owner when the campaign completes.
// TestCampaignCancelKeepsDeliveries: cancelling stops the claimed tasks (their costs back to the
// owner) but not the delivered ones, whose work the owner already has: each is still accepted,
// rejected (its cost to the owner, the pool being gone) or accepted when the review times out.
func TestCampaignCancelKeepsDeliveries(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		env := newJobEnv(t, b)
		owner := env.mustAgent(t, "owner", 10*usdc)
		agents := env.mustAgents(t, "worker", 4, 2*usdc)
		c := env.mustCampaign(t, owner.ID, newCampaign(5*taskReward, manualReview, func(nc *justpay.NewCampaign) { nc.MaxConcurrentClaims = ptr(5) }))
		base := env.available(t, agents[0].ID) // each worker's, after its activation fee
		var tasks []*justpay.CampaignTask
		for i, ag := range agents {
			tasks = append(tasks, env.mustClaim(t, ag.ID, c.ID))
			if i < 3 {
				if _, err := env.Store.DeliverTask(ctx, ag.ID, c.ID, tasks[i].ID, taskOutput); err != nil {
					t.Fatal(err)
				}
			}
		}
		start, revenue0 := env.available(t, owner.ID), env.revenue(t)
		cur, err := env.Store.CancelCampaign(ctx, owner.ID, c.ID)
		if err != nil || cur.Status != justpay.CampaignCancelled || cur.Tasks[justpay.TaskCancelled] != 1 || cur.Tasks[justpay.TaskDelivered] != 3 {
			t.Fatalf("cancel = %+v, %v", cur, err)
		}
		// The unclaimed fifth task and the claimed fourth come back; the three deliveries stay held.
		if got := env.available(t, owner.ID); got != start+2*taskCost {
			t.Fatalf("cancel refunded %d, want %d", got-start, 2*taskCost)
		}
		for _, task := range tasks[:3] {
			env.mustTaskHeld(t, task.ID)
		}
		if _, err := env.Store.AcceptTask(ctx, owner.ID, c.ID, tasks[0].ID); err != nil {
			t.Fatal(err)
		}
		if _, err := env.Store.RejectTask(ctx, owner.ID, c.ID, tasks[1].ID, "not a tweet"); err != nil {
			t.Fatal(err)
		}
		env.Clock.Advance(300 * time.Second)
		env.mustDueCampaigns(t, 1) // the third review times out: accepted
		env.mustFindTask(t, owner.ID, c.ID, tasks[2].ID, justpay.TaskAccepted)
		for i, want := range []int64{base + taskReward, base, base + taskReward, base} {
			if got := env.available(t, agents[i].ID); got != want {
				t.Errorf("worker %d has %d, want %d", i, got, want)
			}
		}
		if got := env.available(t, owner.ID); got != start+3*taskCost {
			t.Errorf("owner got back %d, want %d (two unstarted tasks and the rejected one)", got-start, 3*taskCost)
		}
		if got := env.revenue(t); got != revenue0+2*taskFee {
			t.Errorf("revenue grew by %d, want the fees of the two accepted tasks %d", got-revenue0, 2*taskFee)
		}
		env.mustCampaignSettled(t, c.ID)
		sqlstoretest.MustVerify(t, env.DB)
	})
}

func TestCampaignFee(t *testing.T) {
	for _, tc := range []struct {
		amount, reward, want int64
	}{
		{3 * taskReward, taskReward, 3 * taskFee},
		{3 * 1050, 1050, 3 * 32}, // 31.5 rounds up on each task
		{3*1050 + 525, 1050, 3*32 + 16},
		{1050 + 16, 1050, 32 + 0}, // 0.48 rounds down
		{1000, 1000, 30},
		{1_000_000_000_000_000, 1000, 30_000_000_000_000},
	} {
		if got := justpay.CampaignFee(tc.amount, tc.reward, justpay.DefaultJobFeeBps); got != tc.want {
			t.Errorf("CampaignFee(%d, %d) = %d, want %d", tc.amount, tc.reward, got, tc.want)
		}
	}
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		env := newJobEnv(t, b)
		owner := env.mustAgent(t, "owner", 10*usdc)
		agents := []*justpay.Agent{env.mustAgent(t, "ann", usdc), env.mustAgent(t, "bob", usdc), env.mustAgent(t, "cat", usdc), env.mustAgent(t, "dan", usdc)}

		t.Run("WholeTasks", func(t *testing.T) {
			const reward, cost = 1050, 1050 + 32
			start := env.available(t, owner.ID)
			c := env.mustCampaign(t, owner.ID, newCampaign(3*reward, func(nc *justpay.NewCampaign) { nc.RewardPerTask, nc.MaxPerAgent = reward, ptr(5) }))
			if c.TaskFee != 32 || c.Funded.PlatformFee != 96 || c.Remaining != 3*cost || start-env.available(t, owner.ID) != 3*cost {
				t.Fatalf("funded %+v, pool %d", c.Funded, c.Remaining)
			}
			for _, a := range agents[:3] {
				task := env.mustClaim(t, a.ID, c.ID)
				if task.TotalCost() != cost {
					t.Fatalf("task %+v", task)
				}
				if _, err := env.Store.DeliverTask(ctx, a.ID, c.ID, task.ID, taskOutput); err != nil {
					t.Fatal(err)
				}
			}
			env.mustCampaignStatus(t, owner.ID, c.ID, justpay.CampaignCompleted, 0)
			if got := env.available(t, owner.ID); start-got != 3*cost {
				t.Fatalf("owner paid %d for three tasks of %d", start-got, cost)
			}
		})
		t.Run("Remainder", func(t *testing.T) {
			start := env.available(t, owner.ID)
			c := env.mustCampaign(t, owner.ID, newCampaign(2*taskReward+taskReward/2))
			left := int64(taskReward/2 + 750)
			if c.Funded.PlatformFee != 2*taskFee+750 || c.Remaining != 2*taskCost+left {
				t.Fatalf("funded %+v, pool %d", c.Funded, c.Remaining)
			}
			t1, t2 := env.mustClaim(t, agents[0].ID, c.ID), env.mustClaim(t, agents[1].ID, c.ID)
			env.wantCampaignErr(t, justpay.ECONFLICT, func() error { _, err := env.Store.ClaimTask(ctx, agents[2].ID, c.ID); return err },
				owner.ID, agents[2].ID)
			for i, task := range []*justpay.CampaignTask{t1, t2} {
				if _, err := env.Store.DeliverTask(ctx, agents[i].ID, c.ID, task.ID, taskOutput); err != nil {
					t.Fatal(err)
				}
			}
			// Completed: the remainder and its fee come back.
			env.mustCampaignStatus(t, owner.ID, c.ID, justpay.CampaignCompleted, 0)
			if got := env.available(t, owner.ID); start-got != 2*taskCost {
				t.Fatalf("owner paid %d for two tasks of %d", start-got, taskCost)
			}
		})
		// A remainder topped up to a whole task pays that task: the budget is then whole tasks,
		// so the pool should hold whole tasks' costs.
		t.Run("TopUpCompletingATask", func(t *testing.T) {
			const reward, cost = 1050, 1050 + 32
			c := env.mustCampaign(t, owner.ID, newCampaign(2*reward+510, func(nc *justpay.NewCampaign) { nc.RewardPerTask, nc.MaxPerAgent = reward, ptr(5) }))
			env.mustClaim(t, agents[0].ID, c.ID)
			env.mustClaim(t, agents[1].ID, c.ID)
			top, err := env.Store.TopUpCampaign(ctx, owner.ID, c.ID, 540)
			if err != nil {
				t.Fatal(err)
			}
			if top.TotalBudget != 3*reward {
				t.Fatalf("total budget %d", top.TotalBudget)
			}
			if top.Remaining != cost {
				t.Errorf("a budget of 3 rewards, 2 claimed: the pool holds %d, want one task's cost %d (top-up fee %d)",
					top.Remaining, cost, top.Funded.PlatformFee)
			}
			if _, err := env.Store.ClaimTask(ctx, agents[2].ID, c.ID); err != nil {
				t.Errorf("third task of a 3-reward budget: %v", err)
			}
		})
		sqlstoretest.MustVerify(t, env.DB)
	})
}

func TestCampaignClaimRefused(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		env := newJobEnv(t, b)
		owner := env.mustAgent(t, "owner", 20*usdc)
		ann, bob, cat := env.mustAgent(t, "ann", usdc), env.mustAgent(t, "bob", usdc), env.mustAgent(t, "cat", usdc)
		claim := func(agentID, campaignID string) func() error {
			return func() error { _, err := env.Store.ClaimTask(ctx, agentID, campaignID); return err }
		}

		t.Run("ErrNotFound", func(t *testing.T) {
			env.wantCampaignErr(t, justpay.ENOTFOUND, claim(ann.ID, justpay.NewID(env.Clock.Now())), ann.ID)
			env.wantCampaignErr(t, justpay.ENOTFOUND, claim(ann.ID, "not-an-id"), ann.ID)
		})
		t.Run("ErrPaused", func(t *testing.T) {
			c := env.mustCampaign(t, owner.ID, newCampaign(2*taskReward))
			if _, err := env.Store.PauseCampaign(ctx, owner.ID, c.ID); err != nil {
				t.Fatal(err)
			}
			env.wantCampaignErr(t, justpay.ECONFLICT, claim(ann.ID, c.ID), owner.ID, ann.ID)
			if _, err := env.Store.ResumeCampaign(ctx, owner.ID, c.ID); err != nil {
				t.Fatal(err)
			}
			env.mustClaim(t, ann.ID, c.ID)
		})
		t.Run("ErrCancelled", func(t *testing.T) {
			c := env.mustCampaign(t, owner.ID, newCampaign(2*taskReward))
			if _, err := env.Store.CancelCampaign(ctx, owner.ID, c.ID); err != nil {
				t.Fatal(err)
			}
			env.wantCampaignErr(t, justpay.ECONFLICT, claim(ann.ID, c.ID), owner.ID, ann.ID)
		})
		t.Run("ErrCompleted", func(t *testing.T) {
			c := env.mustCampaign(t, owner.ID, newCampaign(taskReward))
			task := env.mustClaim(t, ann.ID, c.ID)
			if _, err := env.Store.DeliverTask(ctx, ann.ID, c.ID, task.ID, taskOutput); err != nil {
				t.Fatal(err)
			}
			env.mustCampaignStatus(t, owner.ID, c.ID, justpay.CampaignCompleted, 0)
			env.wantCampaignErr(t, justpay.ECONFLICT, claim(bob.ID, c.ID), owner.ID, bob.ID)
		})
		t.Run("ErrMaxConcurrentClaims", func(t *testing.T) {
			c := env.mustCampaign(t, owner.ID, newCampaign(5*taskReward, manualReview, func(nc *justpay.NewCampaign) { nc.MaxConcurrentClaims = ptr(2) }))
			t1 := env.mustClaim(t, ann.ID, c.ID)
			t2 := env.mustClaim(t, bob.ID, c.ID)
			env.wantCampaignErr(t, justpay.ECONFLICT, claim(cat.ID, c.ID), owner.ID, cat.ID)
			// A delivered task still runs (it holds its cost until reviewed).
			if _, err := env.Store.DeliverTask(ctx, ann.ID, c.ID, t1.ID, taskOutput); err != nil {
				t.Fatal(err)
			}
			env.wantCampaignErr(t, justpay.ECONFLICT, claim(cat.ID, c.ID), owner.ID, cat.ID)
			// Accepting one frees a slot; so does a rejection.
			if _, err := env.Store.AcceptTask(ctx, owner.ID, c.ID, t1.ID); err != nil {
				t.Fatal(err)
			}
			env.mustClaim(t, cat.ID, c.ID)
			_ = t2
		})
		t.Run("ErrTrustScore", func(t *testing.T) {
			base := env.agent(t, ann.ID).TrustScore()
			if base != justpay.TrustScore(justpay.TrustInputs{}) {
				t.Fatalf("a new agent's trust score is %v", base)
			}
			c := env.mustCampaign(t, owner.ID, newCampaign(2*taskReward, func(nc *justpay.NewCampaign) { nc.MinTrustScore = ptr(base + 0.001) }))
			env.wantCampaignErr(t, justpay.EFORBIDDEN, claim(ann.ID, c.ID), owner.ID, ann.ID)
			// Exactly the score required is enough.
			c = env.mustCampaign(t, owner.ID, newCampaign(2*taskReward, func(nc *justpay.NewCampaign) { nc.MinTrustScore = ptr(base) }))
			env.mustClaim(t, ann.ID, c.ID)
		})
		t.Run("ErrOwnCampaign", func(t *testing.T) {
			c := env.mustCampaign(t, owner.ID, newCampaign(2*taskReward))
			env.wantCampaignErr(t, justpay.EFORBIDDEN, claim(owner.ID, c.ID), owner.ID)
		})
		t.Run("ErrMaxPerAgent", func(t *testing.T) {
			c := env.mustCampaign(t, owner.ID, newCampaign(5*taskReward, manualReview, func(nc *justpay.NewCampaign) {
				nc.MaxPerAgent, nc.MaxExecutionTimeSecs = ptr(2), ptr(60)
			}))
			t1 := env.mustClaim(t, ann.ID, c.ID)
			if _, err := env.Store.DeliverTask(ctx, ann.ID, c.ID, t1.ID, taskOutput); err != nil {
				t.Fatal(err)
			}
			if _, err := env.Store.RejectTask(ctx, owner.ID, c.ID, t1.ID, "no"); err != nil {
				t.Fatal(err)
			}
			// An expired claim does not count; a rejected task does.
			t2 := env.mustClaim(t, ann.ID, c.ID)
			env.wantCampaignErr(t, justpay.EFORBIDDEN, claim(ann.ID, c.ID), owner.ID, ann.ID)
			env.Clock.Advance(60 * time.Second)
			env.mustDueCampaigns(t, 1)
			env.mustFindTask(t, owner.ID, c.ID, t2.ID, justpay.TaskExpired)
			env.mustClaim(t, ann.ID, c.ID)
			env.wantCampaignErr(t, justpay.EFORBIDDEN, claim(ann.ID, c.ID), owner.ID, ann.ID)
		})
		t.Run("ErrDailyLimit", func(t *testing.T) {
			// The day is UTC: a claim a microsecond before midnight and one at midnight fall on two days.
			now := env.Clock.Now()
			midnight := now.Truncate(24 * time.Hour).Add(24 * time.Hour)
			env.Clock.Advance(midnight.Add(-time.Microsecond).Sub(now))
			c := env.mustCampaign(t, owner.ID, newCampaign(5*taskReward, func(nc *justpay.NewCampaign) {
				nc.MaxPerAgent, nc.DailyLimitPerAgent = ptr(5), ptr(1)
			}))
			env.mustClaim(t, bob.ID, c.ID)
			env.wantCampaignErr(t, justpay.EFORBIDDEN, claim(bob.ID, c.ID), owner.ID, bob.ID)
			env.Clock.Advance(time.Microsecond)
			env.mustClaim(t, bob.ID, c.ID)
			env.wantCampaignErr(t, justpay.EFORBIDDEN, claim(bob.ID, c.ID), owner.ID, bob.ID)
		})
		t.Run("ErrBudget", func(t *testing.T) {
			c := env.mustCampaign(t, owner.ID, newCampaign(taskReward, func(nc *justpay.NewCampaign) { nc.MaxPerAgent = ptr(2) }))
			env.mustClaim(t, ann.ID, c.ID)
			env.wantCampaignErr(t, justpay.ECONFLICT, claim(bob.ID, c.ID), owner.ID, bob.ID)
		})
		t.Run("ErrEnded", func(t *testing.T) {
			c := env.mustCampaign(t, owner.ID, newCampaign(2*taskReward, func(nc *justpay.NewCampaign) { nc.DurationDays = ptr(1) }))
			env.Clock.Advance(c.EndsAt.Sub(env.Clock.Now()))
			// Its end time has come but the scheduler has not ended it yet: the claim is refused all the same.
			env.mustCampaignStatus(t, owner.ID, c.ID, justpay.CampaignActive, 2*taskCost)
			env.wantCampaignErr(t, justpay.ECONFLICT, claim(ann.ID, c.ID), owner.ID, ann.ID)
			n, err := env.Store.RunDueCampaigns(ctx)
			if err != nil || n < 1 {
				t.Fatalf("RunDueCampaigns = %d, %v", n, err)
			}
			env.mustCampaignStatus(t, owner.ID, c.ID, justpay.CampaignEnded, 0)
			env.wantCampaignErr(t, justpay.ECONFLICT, claim(ann.ID, c.ID), owner.ID, ann.ID)
		})
		sqlstoretest.MustVerify(t, env.DB)
	})
}

// mustFindTask reads a task through FindTasks as viewerID and checks its status.
func (e *jobEnv) mustFindTask(tb testing.TB, viewerID, campaignID, taskID, status string) *justpay.CampaignTask {
	tb.Helper()
	tasks, _, err := e.Store.FindTasks(context.Background(), viewerID, campaignID, justpay.TaskFilter{Page: justpay.Page{Page: 1, Limit: 100}})
	if err != nil {
		tb.Fatal(err)
	}
	for _, t := range tasks {
		if t.ID == taskID {
			if t.Status != status {
				tb.Fatalf("task %s is %s, want %s", taskID, t.Status, status)
			}
			return t
		}
	}
	tb.Fatalf("task %s not found", taskID)
	return nil
}

// TestCampaignStateMatrix runs pause, resume, cancel and top-up on a campaign in every status: the
// allowed ones move it (and the money), the others are refused with ECONFLICT and change nothing;
// another agent's campaign, or one that does not exist, is ENOTFOUND whatever its status.
func TestCampaignStateMatrix(t *testing.T) {
	type action struct {
		name string
		do   func(s justpay.CampaignService, ownerID, id string) (*justpay.Campaign, error)
	}
	pause := action{"Pause", func(s justpay.CampaignService, o, id string) (*justpay.Campaign, error) {
		return s.PauseCampaign(context.Background(), o, id)
	}}
	resume := action{"Resume", func(s justpay.CampaignService, o, id string) (*justpay.Campaign, error) {
		return s.ResumeCampaign(context.Background(), o, id)
	}}
	cancel := action{"Cancel", func(s justpay.CampaignService, o, id string) (*justpay.Campaign, error) {
		return s.CancelCampaign(context.Background(), o, id)
	}}
	topUp := action{"TopUp", func(s justpay.CampaignService, o, id string) (*justpay.Campaign, error) {
		return s.TopUpCampaign(context.Background(), o, id, 2*taskReward)
	}}
	// want is the status after the action, or "" for ECONFLICT.
	matrix := []struct {
		from string
		want map[string]string
	}{
		{justpay.CampaignActive, map[string]string{"Pause": justpay.CampaignPaused, "Resume": "", "Cancel": justpay.CampaignCancelled, "TopUp": justpay.CampaignActive}},
		{justpay.CampaignPaused, map[string]string{"Pause": "", "Resume": justpay.CampaignActive, "Cancel": justpay.CampaignCancelled, "TopUp": justpay.CampaignPaused}},
		{justpay.CampaignCompleted, map[string]string{"Pause": "", "Resume": "", "Cancel": justpay.CampaignCancelled, "TopUp": justpay.CampaignActive}},
		{justpay.CampaignEnded, map[string]string{"Pause": "", "Resume": "", "Cancel": "", "TopUp": ""}},
		{justpay.CampaignCancelled, map[string]string{"Pause": "", "Resume": "", "Cancel": "", "TopUp": ""}},
	}
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		env := newJobEnv(t, b)
		owner := env.mustAgent(t, "owner", 50*usdc)
		other := env.mustAgent(t, "other", 5*usdc)
		ann := env.mustAgent(t, "ann", usdc)

		// One campaign per cell, brought to its status; the ended ones end first, a day in.
		type cell struct {
			from string
			act  action
			c    *justpay.Campaign
		}
		var cells []*cell
		for _, row := range matrix {
			for _, act := range []action{pause, resume, cancel, topUp} {
				budget, days := int64(3*taskReward), 30
				switch row.from {
				case justpay.CampaignCompleted:
					budget = taskReward
				case justpay.CampaignEnded:
					days = 1
				}
				c := env.mustCampaign(t, owner.ID, newCampaign(budget, func(nc *justpay.NewCampaign) { nc.DurationDays, nc.MaxPerAgent = ptr(days), ptr(100) }))
				cells = append(cells, &cell{from: row.from, act: act, c: c})
			}
		}
		env.Clock.Advance(24 * time.Hour)
		env.mustDueCampaigns(t, 4)
		for _, cl := range cells {
			switch cl.from {
			case justpay.CampaignPaused:
				if _, err := env.Store.PauseCampaign(ctx, owner.ID, cl.c.ID); err != nil {
					t.Fatal(err)
				}
			case justpay.CampaignCompleted:
				task := env.mustClaim(t, ann.ID, cl.c.ID)
				if _, err := env.Store.DeliverTask(ctx, ann.ID, cl.c.ID, task.ID, taskOutput); err != nil {
					t.Fatal(err)
				}
			case justpay.CampaignCancelled:
				if _, err := env.Store.CancelCampaign(ctx, owner.ID, cl.c.ID); err != nil {
					t.Fatal(err)
				}
			}
			if got := env.campaign(t, owner.ID, cl.c.ID); got.Status != cl.from {
				t.Fatalf("prepared a %s campaign, got %s", cl.from, got.Status)
			}
		}
		for i, cl := range cells {
			want := matrix[i/4].want[cl.act.name]
			t.Run(cl.from+"/"+cl.act.name, func(t *testing.T) {
				// Someone else's campaign, or none: not found, whatever its status.
				env.wantCampaignErr(t, justpay.ENOTFOUND, func() error { _, err := cl.act.do(env.Store, other.ID, cl.c.ID); return err }, owner.ID, other.ID)
				env.wantCampaignErr(t, justpay.ENOTFOUND, func() error {
					_, err := cl.act.do(env.Store, owner.ID, justpay.NewID(env.Clock.Now()))
					return err
				}, owner.ID)
				if want == "" {
					env.wantCampaignErr(t, justpay.ECONFLICT, func() error { _, err := cl.act.do(env.Store, owner.ID, cl.c.ID); return err }, owner.ID)
					return
				}
				before := env.campaign(t, owner.ID, cl.c.ID)
				owner0 := env.available(t, owner.ID)
				got, err := cl.act.do(env.Store, owner.ID, cl.c.ID)
				if err != nil {
					t.Fatalf("%s a %s campaign: %v", cl.act.name, cl.from, err)
				}
				pool := before.Remaining
				var spent int64
				switch cl.act.name {
				case "Cancel":
					pool, spent = 0, -before.Remaining
				case "TopUp":
					pool, spent = pool+2*taskCost, 2*taskCost
					if got.Funded == nil || got.Funded.Amount != 2*taskReward || got.TotalBudget != before.TotalBudget+2*taskReward {
						t.Fatalf("top up: %+v funded %+v", got, got.Funded)
					}
				}
				if got.Status != want || got.Remaining != pool {
					t.Fatalf("%s a %s campaign returned %s with %d, want %s with %d", cl.act.name, cl.from, got.Status, got.Remaining, want, pool)
				}
				env.mustCampaignStatus(t, owner.ID, cl.c.ID, want, pool)
				if got := env.available(t, owner.ID); owner0-got != spent {
					t.Fatalf("owner %d -> %d, want -%d", owner0, got, spent)
				}
				if want == justpay.CampaignCancelled {
					if got.FinishedAt == nil {
						t.Fatalf("cancelled without finishedAt")
					}
					env.wantCampaignErr(t, justpay.ECONFLICT, func() error { _, err := cl.act.do(env.Store, owner.ID, cl.c.ID); return err }, owner.ID)
				}
			})
		}
		// Past its end time, before the scheduler has ended it, a campaign takes no owner action:
		// it is about to end.
		t.Run("PastItsEnd", func(t *testing.T) {
			var due []*justpay.Campaign
			statuses := []string{justpay.CampaignActive, justpay.CampaignPaused, justpay.CampaignCompleted}
			pools := []int64{3 * taskCost, 3 * taskCost, 0}
			for _, from := range statuses {
				budget := int64(3 * taskReward)
				if from == justpay.CampaignCompleted {
					budget = taskReward
				}
				c := env.mustCampaign(t, owner.ID, newCampaign(budget, func(nc *justpay.NewCampaign) { nc.DurationDays = ptr(1) }))
				switch from {
				case justpay.CampaignPaused:
					if _, err := env.Store.PauseCampaign(ctx, owner.ID, c.ID); err != nil {
						t.Fatal(err)
					}
				case justpay.CampaignCompleted:
					task := env.mustClaim(t, ann.ID, c.ID)
					if _, err := env.Store.DeliverTask(ctx, ann.ID, c.ID, task.ID, taskOutput); err != nil {
						t.Fatal(err)
					}
				}
				due = append(due, c)
			}
			env.Clock.Advance(24 * time.Hour)
			for i, c := range due {
				env.mustCampaignStatus(t, owner.ID, c.ID, statuses[i], pools[i])
				for _, act := range []action{pause, resume, cancel, topUp} {
					env.wantCampaignErr(t, justpay.ECONFLICT, func() error { _, err := act.do(env.Store, owner.ID, c.ID); return err }, owner.ID)
				}
			}
			n, err := env.Store.RunDueCampaigns(ctx)
			if err != nil || n < 3 {
				t.Fatalf("RunDueCampaigns = %d, %v", n, err)
			}
			for _, c := range due {
				env.mustCampaignStatus(t, owner.ID, c.ID, justpay.CampaignEnded, 0)
			}
		})
		t.Run("ErrTopUpAmount", func(t *testing.T) {
			c := cells[0].c
			for _, amount := range []int64{0, -1, justpay.MaxCampaignBudget + 1} {
				env.wantCampaignErr(t, justpay.EINVALID, func() error { _, err := env.Store.TopUpCampaign(ctx, owner.ID, c.ID, amount); return err }, owner.ID)
			}
			// Within the amount's limit, but the campaign's total budget would exceed it.
			env.wantCampaignErr(t, justpay.EINVALID, func() error {
				_, err := env.Store.TopUpCampaign(ctx, owner.ID, cells[4].c.ID, justpay.MaxCampaignBudget)
				return err
			}, owner.ID)
		})
		sqlstoretest.MustVerify(t, env.DB)
	})
}

func TestCampaignFindTasks(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		env := newJobEnv(t, b)
		owner := env.mustAgent(t, "owner", 10*usdc)
		ann, bob, cat := env.mustAgent(t, "ann", usdc), env.mustAgent(t, "bob", usdc), env.mustAgent(t, "cat", usdc)
		c := env.mustCampaign(t, owner.ID, newCampaign(10*taskReward, manualReview, func(nc *justpay.NewCampaign) { nc.MaxPerAgent = ptr(3) }))
		var annTasks, all []string // newest first
		for i, a := range []*justpay.Agent{ann, bob, ann, bob, ann} {
			task := env.mustClaim(t, a.ID, c.ID)
			env.Clock.Advance(time.Second)
			all = append([]string{task.ID}, all...)
			if a == ann {
				annTasks = append([]string{task.ID}, annTasks...)
			}
			if i < 2 {
				if _, err := env.Store.DeliverTask(ctx, a.ID, c.ID, task.ID, taskOutput); err != nil {
					t.Fatal(err)
				}
			}
		}
		ids := func(viewer string, f justpay.TaskFilter) ([]string, int) {
			t.Helper()
			if f.Page.Page == 0 {
				f.Page = justpay.Page{Page: 1, Limit: 20}
			}
			tasks, total, err := env.Store.FindTasks(ctx, viewer, c.ID, f)
			if err != nil {
				t.Fatal(err)
			}
			out := []string{}
			for _, task := range tasks {
				if task.CampaignID != c.ID || (viewer != owner.ID && task.AgentID != viewer) {
					t.Fatalf("%s sees %+v", viewer, task)
				}
				out = append(out, task.ID)
			}
			return out, total
		}
		for _, tc := range []struct {
			name   string
			viewer string
			f      justpay.TaskFilter
			want   []string
			total  int
		}{
			{"OwnerSeesAll", owner.ID, justpay.TaskFilter{}, all, 5},
			{"AgentSeesOwn", ann.ID, justpay.TaskFilter{}, annTasks, 3},
			{"OutsiderSeesNone", cat.ID, justpay.TaskFilter{}, []string{}, 0},
			{"StatusDelivered", owner.ID, justpay.TaskFilter{Status: justpay.TaskDelivered}, all[3:], 2},
			{"StatusClaimedOwn", ann.ID, justpay.TaskFilter{Status: justpay.TaskClaimed}, annTasks[:2], 2},
			{"StatusNone", owner.ID, justpay.TaskFilter{Status: justpay.TaskAccepted}, []string{}, 0},
			{"Page2", owner.ID, justpay.TaskFilter{Page: justpay.Page{Page: 2, Limit: 2}}, all[2:4], 5},
			{"PagePastEnd", owner.ID, justpay.TaskFilter{Page: justpay.Page{Page: 4, Limit: 2}}, []string{}, 5},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, total := ids(tc.viewer, tc.f)
				if !slices.Equal(got, tc.want) || total != tc.total {
					t.Fatalf("got %v (total %d), want %v (total %d)", got, total, tc.want, tc.total)
				}
			})
		}
		for _, tc := range []struct {
			name, code, campaign string
			f                    justpay.TaskFilter
		}{
			{"ErrStatus", justpay.EINVALID, c.ID, justpay.TaskFilter{Status: "done", Page: justpay.Page{Page: 1, Limit: 20}}},
			{"ErrLimit", justpay.EINVALID, c.ID, justpay.TaskFilter{Page: justpay.Page{Page: 1, Limit: 101}}},
			{"ErrPage", justpay.EINVALID, c.ID, justpay.TaskFilter{Page: justpay.Page{Page: 0, Limit: 20}}},
			{"ErrNoCampaign", justpay.ENOTFOUND, justpay.NewID(env.Clock.Now()), justpay.TaskFilter{Page: justpay.Page{Page: 1, Limit: 20}}},
			{"ErrMalformedCampaign", justpay.ENOTFOUND, "x", justpay.TaskFilter{Page: justpay.Page{Page: 1, Limit: 20}}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, _, err := env.Store.FindTasks(ctx, owner.ID, tc.campaign, tc.f)
				jobWantCode(t, err, tc.code)
			})
		}
		// A task's fields as stored.
		got := env.mustFindTask(t, ann.ID, c.ID, all[4], justpay.TaskDelivered)
		if !jsonEqual(got.Output, taskOutput) || got.DeliveredAt == nil || got.ExpiresAt == nil || got.Amount != taskReward ||
			got.PlatformFee != taskFee || got.FinishedAt != nil {
			t.Fatalf("delivered task %+v", got)
		}
	})
}

func TestCampaignDiscover(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		env := newJobEnv(t, b)
		owner := env.mustAgent(t, "owner", 20*usdc)
		other := env.mustAgent(t, "other", 20*usdc)
		ann := env.mustAgent(t, "ann", usdc)
		mk := func(ownerID, title, description, category string, opts ...func(*justpay.NewCampaign)) *justpay.Campaign {
			t.Helper()
			c := env.mustCampaign(t, ownerID, newCampaign(taskReward, append(opts, func(nc *justpay.NewCampaign) {
				nc.Title, nc.Description, nc.Category, nc.CallbackURL = title, description, category, "https://example.com/hook"
			})...))
			env.Clock.Advance(time.Second)
			return c
		}
		// The oldest lasts a day, and ends before the others are created.
		ended := mk(other.ID, "Ended tweet campaign", "Its time is up; the pool went back", "social-media",
			func(nc *justpay.NewCampaign) { nc.DurationDays = ptr(1) })
		env.Clock.Advance(24 * time.Hour)
		env.mustDueCampaigns(t, 1)
		tweet := mk(owner.ID, "Tweet about our LAUNCH", "Post a tweet mentioning @ourproduct", "social-media")
		review := mk(owner.ID, "Write a product review", "An honest REVIEW of 100% natural soap, made in Ñandú", "content")
		report := mk(other.ID, "Daily data collection", "Collect snake_case metrics each day, then tweet them", "data")
		paused := mk(owner.ID, "Paused tweet campaign", "Nothing to see while paused here", "social-media")
		completed := mk(owner.ID, "Completed tweet campaign", "Spent: one task, already paid", "social-media")
		cancelled := mk(other.ID, "Cancelled tweet campaign", "Given up before anyone claimed it", "social-media")
		if _, err := env.Store.PauseCampaign(ctx, owner.ID, paused.ID); err != nil {
			t.Fatal(err)
		}
		task := env.mustClaim(t, ann.ID, completed.ID)
		if _, err := env.Store.DeliverTask(ctx, ann.ID, completed.ID, task.ID, taskOutput); err != nil {
			t.Fatal(err)
		}
		if _, err := env.Store.CancelCampaign(ctx, other.ID, cancelled.ID); err != nil {
			t.Fatal(err)
		}
		titles := func(cs []*justpay.Campaign) []string {
			out := []string{}
			for _, c := range cs {
				out = append(out, c.Title)
			}
			return out
		}
		for _, tc := range []struct {
			name  string
			f     justpay.CampaignFilter
			want  []*justpay.Campaign
			total int
		}{
			{"ActiveOnly", justpay.CampaignFilter{}, []*justpay.Campaign{report, review, tweet}, 3},
			{"Category", justpay.CampaignFilter{Category: "social-media"}, []*justpay.Campaign{tweet}, 1},
			{"CategoryExact", justpay.CampaignFilter{Category: "social"}, nil, 0},
			{"SearchTitleAnyCase", justpay.CampaignFilter{Search: "launch"}, []*justpay.Campaign{tweet}, 1},
			{"SearchUpperCase", justpay.CampaignFilter{Search: "DAILY DATA"}, []*justpay.Campaign{report}, 1},
			{"SearchDescriptionAnyCase", justpay.CampaignFilter{Search: "review of"}, []*justpay.Campaign{review}, 1},
			{"SearchTitleOrDescription", justpay.CampaignFilter{Search: "TWEET"}, []*justpay.Campaign{report, tweet}, 2},
			{"SearchWithCategory", justpay.CampaignFilter{Search: "tweet", Category: "data"}, []*justpay.Campaign{report}, 1},
			{"SearchPercentLiteral", justpay.CampaignFilter{Search: "100%"}, []*justpay.Campaign{review}, 1},
			{"SearchNonASCIIAnyCase", justpay.CampaignFilter{Search: "ñANDÚ"}, []*justpay.Campaign{review}, 1},
			{"SearchUnderscoreLiteral", justpay.CampaignFilter{Search: "snake_case"}, []*justpay.Campaign{report}, 1},
			{"SearchUnderscoreAlone", justpay.CampaignFilter{Search: "e_c"}, []*justpay.Campaign{report}, 1},
			{"SearchNothing", justpay.CampaignFilter{Search: "quantum"}, nil, 0},
			{"Page1", justpay.CampaignFilter{Page: justpay.Page{Page: 1, Limit: 2}}, []*justpay.Campaign{report, review}, 3},
			{"Page2", justpay.CampaignFilter{Page: justpay.Page{Page: 2, Limit: 2}}, []*justpay.Campaign{tweet}, 3},
			{"PagePastEnd", justpay.CampaignFilter{Page: justpay.Page{Page: 3, Limit: 2}}, nil, 3},
		} {
			t.Run(tc.name, func(t *testing.T) {
				f := tc.f
				if f.Page.Page == 0 {
					f.Page = justpay.Page{Page: 1, Limit: 20}
				}
				got, total, err := env.Store.DiscoverCampaigns(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				if want := titles(tc.want); !slices.Equal(titles(got), want) || total != tc.total {
					t.Fatalf("got %v (total %d), want %v (total %d)", titles(got), total, want, tc.total)
				}
				for _, c := range got {
					if c.CallbackURL != "" || c.Tasks == nil || c.Status != justpay.CampaignActive {
						t.Fatalf("discovered %+v", c)
					}
				}
			})
		}
		for _, tc := range []struct {
			name string
			f    justpay.CampaignFilter
		}{
			{"ErrStatus", justpay.CampaignFilter{Status: justpay.CampaignActive, Page: justpay.Page{Page: 1, Limit: 20}}},
			{"ErrLimit", justpay.CampaignFilter{Page: justpay.Page{Page: 1, Limit: 0}}},
			{"ErrSearchNUL", justpay.CampaignFilter{Search: "a\x00", Page: justpay.Page{Page: 1, Limit: 20}}},
			{"ErrSearchLong", justpay.CampaignFilter{Search: strings.Repeat("s", 201), Page: justpay.Page{Page: 1, Limit: 20}}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, _, err := env.Store.DiscoverCampaigns(ctx, tc.f)
				jobWantCode(t, err, justpay.EINVALID)
			})
		}

		t.Run("FindMyCampaigns", func(t *testing.T) {
			for _, tc := range []struct {
				owner  *justpay.Agent
				status string
				want   []*justpay.Campaign
			}{
				{owner, "", []*justpay.Campaign{completed, paused, review, tweet}},
				{owner, justpay.CampaignActive, []*justpay.Campaign{review, tweet}},
				{owner, justpay.CampaignPaused, []*justpay.Campaign{paused}},
				{owner, justpay.CampaignCompleted, []*justpay.Campaign{completed}},
				{owner, justpay.CampaignCancelled, nil},
				{other, "", []*justpay.Campaign{cancelled, report, ended}},
				{other, justpay.CampaignEnded, []*justpay.Campaign{ended}},
				{other, justpay.CampaignCancelled, []*justpay.Campaign{cancelled}},
				{ann, "", nil},
			} {
				got, total, err := env.Store.FindMyCampaigns(ctx, tc.owner.ID, justpay.CampaignFilter{Status: tc.status, Page: justpay.Page{Page: 1, Limit: 20}})
				if err != nil {
					t.Fatal(err)
				}
				if want := titles(tc.want); !slices.Equal(titles(got), want) || total != len(want) {
					t.Fatalf("%s's %q campaigns: %v (total %d), want %v", tc.owner.Name, tc.status, titles(got), total, want)
				}
				for _, c := range got {
					if c.CallbackURL == "" || c.OwnerID != tc.owner.ID {
						t.Fatalf("the owner's own campaign without its callback URL: %+v", c)
					}
				}
			}
			got, total, err := env.Store.FindMyCampaigns(ctx, owner.ID, justpay.CampaignFilter{Page: justpay.Page{Page: 2, Limit: 3}})
			if err != nil || total != 4 || !slices.Equal(titles(got), titles([]*justpay.Campaign{tweet})) {
				t.Fatalf("page 2: %v (total %d), %v", titles(got), total, err)
			}
			_, _, err = env.Store.FindMyCampaigns(ctx, owner.ID, justpay.CampaignFilter{Status: "finished", Page: justpay.Page{Page: 1, Limit: 20}})
			jobWantCode(t, err, justpay.EINVALID)
		})
		t.Run("FindCampaignByID", func(t *testing.T) {
			if got := env.campaign(t, "", tweet.ID); got.CallbackURL != "" || got.Remaining != taskCost {
				t.Fatalf("anonymous view %+v", got)
			}
			if got := env.campaign(t, other.ID, tweet.ID); got.CallbackURL != "" {
				t.Fatalf("another agent sees the callback URL")
			}
			if got := env.campaign(t, owner.ID, tweet.ID); got.CallbackURL != "https://example.com/hook" {
				t.Fatalf("the owner does not see its callback URL")
			}
			for _, id := range []string{"x", justpay.NewID(env.Clock.Now())} {
				_, err := env.Store.FindCampaignByID(ctx, owner.ID, id)
				jobWantCode(t, err, justpay.ENOTFOUND)
			}
		})
		// Past their duration every campaign still running ends and leaves the discovery list.
		env.Clock.Advance(30 * 24 * time.Hour)
		if _, err := env.Store.RunDueCampaigns(ctx); err != nil {
			t.Fatal(err)
		}
		if got, total, err := env.Store.DiscoverCampaigns(ctx, justpay.CampaignFilter{Page: justpay.Page{Page: 1, Limit: 20}}); err != nil || total != 0 || len(got) != 0 {
			t.Fatalf("after the end: %v (total %d), %v", titles(got), total, err)
		}
		sqlstoretest.MustVerify(t, env.DB)
	})
}

// TestCampaignTaskDeadline acts on a task at its deadline, before the scheduler has applied it:
// as with jobs, the deadline decides, not when the scheduler happens to run. A delivery at or
// after the claim's expiry is refused (the claim has expired; its cost goes back to the pool),
// and so is a rejection at or after the end of the review window (the delivery is accepted).
func TestCampaignTaskDeadline(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		env := newJobEnv(t, b)
		owner := env.mustAgent(t, "owner", 5*usdc)
		ann, bob := env.mustAgent(t, "ann", usdc), env.mustAgent(t, "bob", usdc)
		c := env.mustCampaign(t, owner.ID, newCampaign(4*taskReward, manualReview, func(nc *justpay.NewCampaign) {
			nc.MaxExecutionTimeSecs, nc.ReviewTimeoutSecs, nc.MaxPerAgent = ptr(60), ptr(60), ptr(3)
		}))

		t.Run("DeliverAtClaimExpiry", func(t *testing.T) {
			task := env.mustClaim(t, ann.ID, c.ID)
			env.Clock.Advance(60 * time.Second)
			env.wantCampaignErr(t, justpay.ECONFLICT, func() error {
				_, err := env.Store.DeliverTask(ctx, ann.ID, c.ID, task.ID, taskOutput)
				return err
			}, owner.ID, ann.ID)
			env.mustDueCampaigns(t, 1)
			env.mustFindTask(t, owner.ID, c.ID, task.ID, justpay.TaskExpired)
		})
		t.Run("AcceptAtReviewTimeout", func(t *testing.T) {
			task := env.mustClaim(t, bob.ID, c.ID)
			if _, err := env.Store.DeliverTask(ctx, bob.ID, c.ID, task.ID, taskOutput); err != nil {
				t.Fatal(err)
			}
			env.Clock.Advance(60 * time.Second)
			env.wantCampaignErr(t, justpay.ECONFLICT, func() error {
				_, err := env.Store.AcceptTask(ctx, owner.ID, c.ID, task.ID)
				return err
			}, owner.ID, bob.ID)
			env.mustDueCampaigns(t, 1)
			env.mustFindTask(t, owner.ID, c.ID, task.ID, justpay.TaskAccepted)
		})
		t.Run("RejectAtReviewTimeout", func(t *testing.T) {
			task := env.mustClaim(t, bob.ID, c.ID)
			if _, err := env.Store.DeliverTask(ctx, bob.ID, c.ID, task.ID, taskOutput); err != nil {
				t.Fatal(err)
			}
			bob0 := env.available(t, bob.ID)
			env.Clock.Advance(60 * time.Second)
			env.wantCampaignErr(t, justpay.ECONFLICT, func() error {
				_, err := env.Store.RejectTask(ctx, owner.ID, c.ID, task.ID, "too late to refuse")
				return err
			}, owner.ID, bob.ID)
			env.mustDueCampaigns(t, 1)
			env.mustFindTask(t, owner.ID, c.ID, task.ID, justpay.TaskAccepted)
			if got := env.available(t, bob.ID); got != bob0+taskReward {
				t.Fatalf("bob %d -> %d, want +%d", bob0, got, taskReward)
			}
		})
		sqlstoretest.MustVerify(t, env.DB)
	})
}

// TestCampaignEndWithTasksRunning ends a campaign at its duration while four of its tasks run:
// the pool goes back to the owner at once and the campaign takes no more claims or owner
// actions; the tasks finish as usual, what they do not spend going to the owner (an expired
// claim, a rejected delivery) and what they earn to their agents (a delivery accepted by the
// owner, one accepted by the review timeout). Nothing is left in any escrow.
func TestCampaignEndWithTasksRunning(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		env := newJobEnv(t, b)
		owner := env.mustAgent(t, "owner", 5*usdc)
		agents := []*justpay.Agent{env.mustAgent(t, "ann", usdc), env.mustAgent(t, "bob", usdc), env.mustAgent(t, "cat", usdc),
			env.mustAgent(t, "dan", usdc), env.mustAgent(t, "eve", usdc)}
		owner0, revenue0 := env.available(t, owner.ID), env.revenue(t)
		c := env.mustCampaign(t, owner.ID, newCampaign(6*taskReward, manualReview, func(nc *justpay.NewCampaign) {
			nc.DurationDays, nc.MaxExecutionTimeSecs, nc.ReviewTimeoutSecs = ptr(1), ptr(300), ptr(300)
		}))
		// A minute before the end: four claims, two of them delivered.
		env.Clock.Advance(c.EndsAt.Sub(env.Clock.Now()) - time.Minute)
		var tasks []*justpay.CampaignTask
		for i, a := range agents[:4] {
			task := env.mustClaim(t, a.ID, c.ID)
			if i >= 2 {
				if _, err := env.Store.DeliverTask(ctx, a.ID, c.ID, task.ID, taskOutput); err != nil {
					t.Fatal(err)
				}
			}
			tasks = append(tasks, task)
		}
		env.Clock.Advance(time.Minute)
		env.mustDueCampaigns(t, 1)
		cur := env.mustCampaignStatus(t, owner.ID, c.ID, justpay.CampaignEnded, 0)
		if cur.FinishedAt == nil || cur.Tasks[justpay.TaskClaimed] != 2 || cur.Tasks[justpay.TaskDelivered] != 2 {
			t.Fatalf("ended: %+v", cur)
		}
		if got := env.available(t, owner.ID); owner0-got != 4*taskCost {
			t.Fatalf("at the end the owner got the pool back: it has spent %d, want the 4 running tasks' %d", owner0-got, 4*taskCost)
		}
		env.wantCampaignErr(t, justpay.ECONFLICT, func() error { _, err := env.Store.ClaimTask(ctx, agents[4].ID, c.ID); return err },
			owner.ID, agents[4].ID)
		for _, act := range []func() error{
			func() error { _, err := env.Store.PauseCampaign(ctx, owner.ID, c.ID); return err },
			func() error { _, err := env.Store.ResumeCampaign(ctx, owner.ID, c.ID); return err },
			func() error { _, err := env.Store.TopUpCampaign(ctx, owner.ID, c.ID, taskReward); return err },
			func() error { _, err := env.Store.CancelCampaign(ctx, owner.ID, c.ID); return err },
		} {
			env.wantCampaignErr(t, justpay.ECONFLICT, act, owner.ID)
		}
		// The running tasks finish: 0 is delivered (and accepted by the owner), 1 expires, 2 is
		// rejected, 3 is accepted when its review window closes.
		if _, err := env.Store.DeliverTask(ctx, agents[0].ID, c.ID, tasks[0].ID, taskOutput); err != nil {
			t.Fatalf("deliver after the end: %v", err)
		}
		if _, err := env.Store.AcceptTask(ctx, owner.ID, c.ID, tasks[0].ID); err != nil {
			t.Fatalf("accept after the end: %v", err)
		}
		if _, err := env.Store.RejectTask(ctx, owner.ID, c.ID, tasks[2].ID, "not it"); err != nil {
			t.Fatalf("reject after the end: %v", err)
		}
		if got := env.available(t, owner.ID); owner0-got != 3*taskCost {
			t.Fatalf("a rejection after the end returns the cost to the owner: spent %d, want %d", owner0-got, 3*taskCost)
		}
		env.Clock.Advance(5 * time.Minute)
		env.mustDueCampaigns(t, 2)
		for i, want := range []string{justpay.TaskAccepted, justpay.TaskExpired, justpay.TaskRejected, justpay.TaskAccepted} {
			env.mustFindTask(t, owner.ID, c.ID, tasks[i].ID, want)
		}
		if got := env.available(t, owner.ID); owner0-got != 2*taskCost {
			t.Fatalf("owner spent %d, want the two paid tasks' %d", owner0-got, 2*taskCost)
		}
		avail := env.availables(t)
		for i, a := range agents {
			want := usdc - justpay.ActivationFee
			if i == 0 || i == 3 {
				want += taskReward
			}
			if avail[a.ID] != want {
				t.Fatalf("%s has %d, want %d", a.Name, avail[a.ID], want)
			}
		}
		if got := env.revenue(t); got != revenue0+2*taskFee {
			t.Fatalf("revenue %d -> %d, want +%d", revenue0, got, 2*taskFee)
		}
		env.mustCampaignSettled(t, c.ID)
		sqlstoretest.MustVerify(t, env.DB)
	})
}
