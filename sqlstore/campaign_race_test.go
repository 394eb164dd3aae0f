package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/justpay/justpay"
	"github.com/justpay/justpay/sqlstore"
	"github.com/justpay/justpay/sqlstore/sqlstoretest"
)

// pgHold is a row lock on one balance row, taken by a transaction of the test's own on
// PostgreSQL, so that a store transaction posting to that account stops half-way (it has read and
// locked what it locks before the posting) until the lock is released. It orders interleavings
// that a race only hits by chance.
type pgHold struct {
	conn *sql.Conn
	tx   *sql.Tx
	pid  int
}

func (e *jobEnv) holdBalance(tb testing.TB, account string) *pgHold {
	tb.Helper()
	ctx := context.Background()
	conn, err := e.raw.Conn(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	h := &pgHold{conn: conn}
	if err := conn.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&h.pid); err != nil {
		tb.Fatal(err)
	}
	if h.tx, err = conn.BeginTx(ctx, nil); err != nil {
		tb.Fatal(err)
	}
	var balance int64
	if err := h.tx.QueryRowContext(ctx, `SELECT balance FROM ledger_balances WHERE account = $1 FOR UPDATE`, account).Scan(&balance); err != nil {
		tb.Fatalf("lock %s: %v", account, err)
	}
	tb.Cleanup(h.release)
	return h
}

func (h *pgHold) release() {
	if h.tx != nil {
		h.tx.Rollback()
		h.conn.Close()
		h.tx = nil
	}
}

// pgWaitBlocked waits until a session waits for a lock held by the session pid, and returns it.
func (e *jobEnv) pgWaitBlocked(tb testing.TB, pid int) int {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var blocked int
		err := e.raw.QueryRow(`SELECT pid FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid)) LIMIT 1`, pid).Scan(&blocked)
		if err == nil {
			return blocked
		}
		if err != sql.ErrNoRows {
			tb.Fatal(err)
		}
		if time.Now().After(deadline) {
			tb.Fatalf("no session waits for a lock of session %d", pid)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestCampaignCompletesWhenTwoLastTasksArePaidAtOnce pays a campaign's last two tasks at once on
// PostgreSQL, in the order that defeats the completion check: A's delivery reads the pool while it
// can still pay a task, then stops (its posting waits); B claims the last task's cost and delivers,
// and B's completion check still counts A as running; then A commits. Nothing runs and the pool is
// empty: the scheduler's next pass must complete it. (SQLite runs one write transaction at a time, so this
// interleaving cannot happen there.)
func TestCampaignCompletesWhenTwoLastTasksArePaidAtOnce(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		if b.URL == "" {
			t.Skip("SQLite runs one write transaction at a time")
		}
		ctx := context.Background()
		env := newJobEnv(t, b)
		owner := env.mustAgent(t, "owner", 5*usdc)
		ann, bob := env.mustAgent(t, "ann", 2*usdc), env.mustAgent(t, "bob", 2*usdc)
		c := env.mustCampaign(t, owner.ID, newCampaign(2*taskReward))
		ta := env.mustClaim(t, ann.ID, c.ID)

		hold := env.holdBalance(t, justpay.EscrowAccount("campaign_task", ta.ID))
		done := make(chan error, 1)
		go func() {
			_, err := env.Store.DeliverTask(ctx, ann.ID, c.ID, ta.ID, taskOutput)
			done <- err
		}()
		env.pgWaitBlocked(t, hold.pid)
		last := env.mustClaim(t, bob.ID, c.ID)
		if _, err := env.Store.DeliverTask(ctx, bob.ID, c.ID, last.ID, taskOutput); err != nil {
			t.Fatalf("bob delivers: %v", err)
		}
		hold.release()
		if err := <-done; err != nil {
			t.Fatalf("ann delivers: %v", err)
		}
		// Each completion check saw the other task running; the scheduler's backstop completes it.
		env.mustDueCampaigns(t, 1)
		cur := env.campaign(t, owner.ID, c.ID)
		if cur.Tasks[justpay.TaskAccepted] != 2 || cur.Remaining != 0 {
			t.Fatalf("campaign %+v", cur)
		}
		if cur.Status != justpay.CampaignCompleted {
			t.Errorf("both tasks paid, the pool empty, nothing running: the campaign is %s, want completed", cur.Status)
		}
		sqlstoretest.MustVerify(t, env.DB)
	})
}

// TestCampaignCancelWhileTaskIsPaid cancels a campaign on PostgreSQL while one of its tasks is
// being paid: the delivery (auto-accept) has locked the task and stops at its posting; the cancel
// locks the campaign, gives the pool back, lists the task as running and waits for its row; the
// delivery commits. The task is paid, not running any more: the cancel must succeed and leave it
// accepted.
func TestCampaignCancelWhileTaskIsPaid(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		if b.URL == "" {
			t.Skip("SQLite runs one write transaction at a time")
		}
		ctx := context.Background()
		env := newJobEnv(t, b)
		owner := env.mustAgent(t, "owner", 5*usdc)
		ann := env.mustAgent(t, "ann", 2*usdc)
		c := env.mustCampaign(t, owner.ID, newCampaign(3*taskReward))
		ta := env.mustClaim(t, ann.ID, c.ID)
		owner0, ann0 := env.available(t, owner.ID), env.available(t, ann.ID)

		hold := env.holdBalance(t, justpay.EscrowAccount("campaign_task", ta.ID))
		delivered := make(chan error, 1)
		go func() {
			_, err := env.Store.DeliverTask(ctx, ann.ID, c.ID, ta.ID, taskOutput)
			delivered <- err
		}()
		deliverPID := env.pgWaitBlocked(t, hold.pid)
		cancelled := make(chan error, 1)
		go func() {
			_, err := env.Store.CancelCampaign(ctx, owner.ID, c.ID)
			cancelled <- err
		}()
		env.pgWaitBlocked(t, deliverPID)
		hold.release()
		if err := <-delivered; err != nil {
			t.Fatalf("deliver: %v", err)
		}
		if err := <-cancelled; err != nil {
			t.Errorf("cancel after the task was paid: %v; want success", err)
		}
		cur := env.campaign(t, owner.ID, c.ID)
		if cur.Status != justpay.CampaignCancelled || cur.Tasks[justpay.TaskAccepted] != 1 || cur.Remaining != 0 {
			t.Errorf("campaign %s, tasks %v, pool %d; want cancelled, 1 accepted, 0", cur.Status, cur.Tasks, cur.Remaining)
		}
		if got := env.available(t, ann.ID); got != ann0+taskReward {
			t.Errorf("ann %d -> %d, want +%d", ann0, got, taskReward)
		}
		if got := env.available(t, owner.ID); cur.Status == justpay.CampaignCancelled && got != owner0+2*taskCost {
			t.Errorf("owner %d -> %d, want +%d", owner0, got, 2*taskCost)
		}
		sqlstoretest.MustVerify(t, env.DB)
	})
}

// claimAll has every agent claim a task of the campaign at once, all released together from a
// barrier, and returns the tasks won (by agent ID) and the refused agents. Anything but success or
// ECONFLICT fails the test.
func (e *jobEnv) claimAll(tb testing.TB, agents []*justpay.Agent, campaignID string) (map[string]*justpay.CampaignTask, []*justpay.Agent) {
	tb.Helper()
	tasks, errs := make([]*justpay.CampaignTask, len(agents)), make([]error, len(agents))
	gate := make(chan struct{})
	var wg sync.WaitGroup
	for i, a := range agents {
		wg.Go(func() {
			<-gate
			tasks[i], errs[i] = e.Store.ClaimTask(context.Background(), a.ID, campaignID)
		})
	}
	close(gate)
	wg.Wait()
	won := map[string]*justpay.CampaignTask{}
	var refused []*justpay.Agent
	for i, err := range errs {
		switch justpay.ErrorCode(err) {
		case "":
			if tasks[i].AgentID != agents[i].ID || tasks[i].Status != justpay.TaskClaimed || tasks[i].TotalCost() != taskCost {
				tb.Fatalf("claim of %s = %+v", agents[i].Name, tasks[i])
			}
			won[agents[i].ID] = tasks[i]
		case justpay.ECONFLICT:
			refused = append(refused, agents[i])
		default:
			tb.Fatalf("claim of %s: %v, want success or ECONFLICT", agents[i].Name, err)
		}
	}
	return won, refused
}

// claimRace has agents claim at once a campaign whose pool pays exactly want more tasks, and
// checks that exactly want claims won; that the claimants' rows (balances, postings, events) are
// byte-identical and only the winners have one task more (a claim moves the owner's money, from
// the pool to the task's escrow); and that the campaign holds exactly the winners' tasks, each
// escrow holding its cost.
func (e *jobEnv) claimRace(tb testing.TB, agents []*justpay.Agent, owner *justpay.Agent, campaignID string, want int) (map[string]*justpay.CampaignTask, []*justpay.Agent) {
	tb.Helper()
	before := e.campaign(tb, owner.ID, campaignID)
	rowsBefore, tasksBefore := e.claimants(tb, owner.ID)
	won, refused := e.claimAll(tb, agents, campaignID)
	if len(won) != want {
		tb.Fatalf("%d of %d claims won against a pool of %d tasks", len(won), len(agents), want)
	}
	rowsAfter, tasksAfter := e.claimants(tb, owner.ID)
	if rowsBefore != rowsAfter {
		tb.Fatalf("claims changed the claimants' rows:\nbefore:\n%s\nafter:\n%s", rowsBefore, rowsAfter)
	}
	for _, a := range agents {
		if d := tasksAfter[a.ID] - tasksBefore[a.ID]; (won[a.ID] != nil) != (d == 1) || d > 1 {
			tb.Fatalf("%s won %t but has %d tasks more", a.Name, won[a.ID] != nil, d)
		}
	}
	after := e.campaign(tb, owner.ID, campaignID)
	running := func(c *justpay.Campaign) int { return c.Tasks[justpay.TaskClaimed] + c.Tasks[justpay.TaskDelivered] }
	if after.Remaining != before.Remaining-int64(want)*taskCost || running(after) != running(before)+want {
		tb.Fatalf("after %d claims: pool %d -> %d, running %d -> %d", want, before.Remaining, after.Remaining, running(before), running(after))
	}
	for _, task := range won {
		e.mustTaskHeld(tb, task.ID)
	}
	return won, refused
}

// claimants dumps the rows of every agent but the owner (balances, postings, events) and counts
// their campaign tasks.
func (e *jobEnv) claimants(tb testing.TB, ownerID string) (string, map[string]int) {
	tb.Helper()
	var b strings.Builder
	for _, q := range []string{
		`SELECT b.account || ' ' || CAST(b.balance AS TEXT) || ' ' || CAST(b.closed AS TEXT) || ' ' ||
			CAST((SELECT COUNT(*) FROM ledger_postings p WHERE p.account = b.account) AS TEXT)
			FROM ledger_balances b WHERE b.agent_id <> $1 ORDER BY b.account`,
		`SELECT agent_id || ' events ' || CAST(COUNT(*) AS TEXT) FROM events WHERE agent_id <> $1 GROUP BY agent_id ORDER BY agent_id`,
	} {
		rows, err := e.raw.Query(q, ownerID)
		if err != nil {
			tb.Fatal(err)
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
	tasks := map[string]int{}
	rows, err := e.raw.Query(`SELECT agent_id, COUNT(*) FROM campaign_tasks GROUP BY agent_id`)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			tb.Fatal(err)
		}
		tasks[id] = n
	}
	return b.String(), tasks
}

// mustAgents registers and activates n agents at once, each with deposit.
func (e *jobEnv) mustAgents(tb testing.TB, prefix string, n int, deposit int64) []*justpay.Agent {
	tb.Helper()
	agents := make([]*justpay.Agent, n)
	var wg sync.WaitGroup
	next := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				a, _, _, err := e.Store.RegisterAgent(context.Background(), justpay.AgentRegistration{Name: fmt.Sprintf("%s-%03d", prefix, i)})
				if err == nil {
					_, err = e.Chain.Transfer(context.Background(), sqlstoretest.NewWallet(tb), a.DepositAddress, deposit)
				}
				var r *justpay.DepositResult
				if err == nil {
					r, err = e.Store.ConfirmDeposits(context.Background(), a.ID)
				}
				if err != nil || !r.Activated {
					tb.Errorf("agent %d: %v", i, err)
					continue
				}
				agents[i] = a
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if tb.Failed() {
		tb.FailNow()
	}
	return agents
}

// availables reads every agent's available balance at once.
func (e *jobEnv) availables(tb testing.TB) map[string]int64 {
	tb.Helper()
	rows, err := e.raw.Query(`SELECT agent_id, balance FROM ledger_balances WHERE account LIKE 'agent:%:available'`)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	m := map[string]int64{}
	for rows.Next() {
		var id string
		var v int64
		if err := rows.Scan(&id, &v); err != nil {
			tb.Fatal(err)
		}
		m[id] = v
	}
	return m
}

// taskEscrow reads a task's escrow account.
func (e *jobEnv) taskEscrow(tb testing.TB, taskID string) (balance int64, closed bool) {
	tb.Helper()
	if err := e.raw.QueryRow(`SELECT balance, closed FROM ledger_balances WHERE account = $1`,
		justpay.EscrowAccount("campaign_task", taskID)).Scan(&balance, &closed); err != nil {
		tb.Fatalf("escrow of task %s: %v", taskID, err)
	}
	return balance, closed
}

// mustTaskHeld checks that a running task's escrow is open and holds the task's cost.
func (e *jobEnv) mustTaskHeld(tb testing.TB, taskID string) {
	tb.Helper()
	if bal, closed := e.taskEscrow(tb, taskID); bal != taskCost || closed {
		tb.Fatalf("escrow of running task %s: %d closed %t; want %d held", taskID, bal, closed, taskCost)
	}
}

// mustCampaignSettled checks that no escrow of the campaign holds anything: its pool and every
// task escrow are at zero, and closed unless the campaign is merely completed (its pool stays
// open for a top-up); no task runs.
func (e *jobEnv) mustCampaignSettled(tb testing.TB, campaignID string) {
	tb.Helper()
	var status string
	var pool int64
	var closed bool
	if err := e.raw.QueryRow(`SELECT c.status, b.balance, b.closed FROM campaigns c JOIN ledger_balances b
		ON b.account = 'escrow:campaign:' || c.id WHERE c.id = $1`, campaignID).Scan(&status, &pool, &closed); err != nil {
		tb.Fatal(err)
	}
	if pool != 0 || closed != (status != justpay.CampaignCompleted) {
		tb.Fatalf("%s campaign: pool holds %d, closed %t", status, pool, closed)
	}
	rows, err := e.raw.Query(`SELECT t.id, t.status, b.balance, b.closed FROM campaign_tasks t JOIN ledger_balances b
		ON b.account = 'escrow:campaign_task:' || t.id WHERE t.campaign_id = $1`, campaignID)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, taskStatus string
		var balance int64
		var closed bool
		if err := rows.Scan(&id, &taskStatus, &balance, &closed); err != nil {
			tb.Fatal(err)
		}
		if balance != 0 || !closed || taskStatus == justpay.TaskClaimed || taskStatus == justpay.TaskDelivered {
			tb.Fatalf("%s campaign: %s task %s's escrow holds %d, closed %t", status, taskStatus, id, balance, closed)
		}
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
}

// TestCampaignClaimRace has 200 agents claim at once from a campaign whose budget pays exactly 10
// tasks (one per agent, room for 1,000 running, so the budget is the only limit): exactly 10 win,
// the 190 others get ECONFLICT and their rows are byte-identical. Then the winners' tasks go every
// way at once (accepted, rejected, left to expire, left to the review timeout), the costs that
// come back to the pool are raced for twice more by the losers (exactly as many win as the pool
// pays), the campaign completes by itself once ten tasks are paid, a top-up reactivates it and a
// cancel ends it with a task running. At the end the owner paid exactly ten tasks' costs, each
// provider got exactly its rewards, the platform exactly the fees, every escrow of the campaign
// is closed at zero and the ledger verifies.
func TestCampaignClaimRace(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		env := newJobEnv(t, b)
		owner := env.mustAgent(t, "owner", 5*usdc)
		agents := env.mustAgents(t, "agent", 200, usdc+1)
		owner0, revenue0 := env.available(t, owner.ID), env.revenue(t)
		c := env.mustCampaign(t, owner.ID, newCampaign(10*taskReward, manualReview, func(nc *justpay.NewCampaign) {
			nc.MaxConcurrentClaims, nc.MaxExecutionTimeSecs, nc.ReviewTimeoutSecs = ptr(1000), ptr(120), ptr(60)
		}))
		if c.Remaining != 10*taskCost {
			t.Fatalf("pool %d, want %d", c.Remaining, 10*taskCost)
		}
		start := time.Now()
		won, losers := env.claimRace(t, agents, owner, c.ID, 10)
		t.Logf("200 claims at once, 10 won, in %v", time.Since(start).Round(time.Millisecond))
		var w []*justpay.CampaignTask
		for _, a := range agents {
			if task := won[a.ID]; task != nil {
				w = append(w, task)
			}
		}
		paid := map[string]int64{} // provider -> rewards it must have received

		// Every winner's task goes its way, all at once: 0-2 and 9 delivered and accepted, 3-4
		// delivered and rejected, 5-6 left to expire, 7-8 delivered and left to the review timeout.
		var wg sync.WaitGroup
		errs := make([]error, len(w))
		for i, task := range w {
			wg.Go(func() {
				if i == 5 || i == 6 {
					return
				}
				if _, err := env.Store.DeliverTask(ctx, task.AgentID, c.ID, task.ID, taskOutput); err != nil {
					errs[i] = err
					return
				}
				switch i {
				case 0, 1, 2, 9:
					_, errs[i] = env.Store.AcceptTask(ctx, owner.ID, c.ID, task.ID)
				case 3, 4:
					_, errs[i] = env.Store.RejectTask(ctx, owner.ID, c.ID, task.ID, "not what was asked")
				}
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("task %d: %v", i, err)
			}
		}
		for _, i := range []int{0, 1, 2, 9} {
			paid[w[i].AgentID] += taskReward
		}
		if cur := env.campaign(t, owner.ID, c.ID); cur.Remaining != 2*taskCost || cur.Tasks[justpay.TaskAccepted] != 4 ||
			cur.Tasks[justpay.TaskRejected] != 2 || cur.Tasks[justpay.TaskClaimed] != 2 || cur.Tasks[justpay.TaskDelivered] != 2 {
			t.Fatalf("after the first round: pool %d, tasks %v", cur.Remaining, cur.Tasks)
		}
		// The rejected costs are back in the pool: the losers race for them; exactly 2 win.
		won2, losers := env.claimRace(t, losers, owner, c.ID, 2)
		x := slices.Collect(maps.Values(won2))
		slices.SortFunc(x, func(a, b *justpay.CampaignTask) int { return strings.Compare(a.ID, b.ID) })
		if _, err := env.Store.DeliverTask(ctx, x[0].AgentID, c.ID, x[0].ID, taskOutput); err != nil {
			t.Fatal(err)
		}
		// The review window closes: 7, 8 and x0 are accepted. Then the claims expire: 5, 6 and x1.
		env.Clock.Advance(60 * time.Second)
		env.mustDueCampaigns(t, 3)
		paid[w[7].AgentID] += taskReward
		paid[w[8].AgentID] += taskReward
		paid[x[0].AgentID] += taskReward
		env.Clock.Advance(60 * time.Second)
		env.mustDueCampaigns(t, 3)
		if cur := env.campaign(t, owner.ID, c.ID); cur.Remaining != 3*taskCost || cur.Tasks[justpay.TaskAccepted] != 7 ||
			cur.Tasks[justpay.TaskExpired] != 3 || cur.Status != justpay.CampaignActive {
			t.Fatalf("after the timeouts: %s, pool %d, tasks %v", cur.Status, cur.Remaining, cur.Tasks)
		}
		// The expired costs are raced for: exactly 3 win; all delivered and accepted at once.
		won3, losers := env.claimRace(t, losers, owner, c.ID, 3)
		for _, task := range won3 {
			wg.Go(func() {
				if _, err := env.Store.DeliverTask(ctx, task.AgentID, c.ID, task.ID, taskOutput); err != nil {
					t.Error(err)
					return
				}
				if _, err := env.Store.AcceptTask(ctx, owner.ID, c.ID, task.ID); err != nil {
					t.Error(err)
				}
			})
			paid[task.AgentID] += taskReward
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		// Ten tasks paid, the pool empty, nothing running: the campaign completed by itself.
		cur := env.campaign(t, owner.ID, c.ID)
		if cur.Status != justpay.CampaignCompleted || cur.Remaining != 0 || cur.Tasks[justpay.TaskAccepted] != 10 {
			t.Fatalf("spent campaign: %s, pool %d, tasks %v", cur.Status, cur.Remaining, cur.Tasks)
		}
		env.mustCampaignSettled(t, c.ID)
		env.wantErr(t, justpay.ECONFLICT, func() error { _, err := env.Store.ClaimTask(ctx, losers[0].ID, c.ID); return err },
			owner.ID, losers[0].ID)
		// A top-up reactivates it; a claim runs; the owner cancels: the task's cost and the pool
		// come back.
		if cur, err := env.Store.TopUpCampaign(ctx, owner.ID, c.ID, 2*taskReward); err != nil || cur.Status != justpay.CampaignActive {
			t.Fatalf("top up = %+v, %v", cur, err)
		}
		z := env.mustClaim(t, losers[0].ID, c.ID)
		if cur, err := env.Store.CancelCampaign(ctx, owner.ID, c.ID); err != nil || cur.Status != justpay.CampaignCancelled ||
			cur.Tasks[justpay.TaskCancelled] != 1 {
			t.Fatalf("cancel = %+v, %v", cur, err)
		}
		if got, _ := env.taskEscrow(t, z.ID); got != 0 {
			t.Fatalf("cancelled task's escrow holds %d", got)
		}
		env.mustCampaignSettled(t, c.ID)

		// Every micro-unit accounted for.
		if got := env.available(t, owner.ID); owner0-got != 10*taskCost {
			t.Fatalf("owner paid %d, want 10 tasks' rewards and fees, %d", owner0-got, 10*taskCost)
		}
		if len(paid) != 10 {
			t.Fatalf("%d providers paid, want 10", len(paid))
		}
		avail := env.availables(t)
		for _, a := range agents {
			if got := avail[a.ID]; got != 1+paid[a.ID] {
				t.Fatalf("%s has %d, want %d", a.Name, got, 1+paid[a.ID])
			}
		}
		if got := env.revenue(t); got != revenue0+10*taskFee {
			t.Fatalf("revenue %d -> %d, want +%d", revenue0, got, 10*taskFee)
		}
		sqlstoretest.MustVerify(t, env.DB)
	})
}

// campaignTrial is one trial of a campaign race: a campaign (shared by the batch, or its own), the
// agent and, once claimed, its task.
type campaignTrial struct {
	c     *justpay.Campaign
	agent *justpay.Agent
	task  *justpay.CampaignTask // nil until claimed
	err   error                 // the user's action
	err2  error                 // the second user action, if any
}

// campaignRace is a user action racing a campaign timeout (or another user action).
type campaignRace struct {
	name string
	// campaign shapes the campaigns of the race.
	campaign []func(*justpay.NewCampaign)
	// ownCampaign gives every trial a campaign of its own (a budget of two tasks); else the batch
	// shares one whose budget is one task per trial.
	ownCampaign bool
	// prepare brings the trial to the state the race starts from.
	prepare func(env *jobEnv, tr *campaignTrial) error
	// deadline is when the race runs; nil: now.
	deadline func(tr *campaignTrial) time.Time
	// act is the user's action, on the user's store; act2, if any, a second one on env's store.
	act, act2 func(store *sqlstore.Store, owner *justpay.Agent, tr *campaignTrial) error
	// schedulers run RunDueCampaigns twice at once with the actions.
	schedulers bool
	// judge checks the trial's outcome and says whether the user won, how many timeouts it must
	// have taken and how many rewards it paid.
	judge func(t *testing.T, env *jobEnv, owner *justpay.Agent, tr *campaignTrial) (userWon bool, timeouts int, paid int64)
	// deadlineRule: at the deadline instant the user's action is refused by rule (the deadline
	// belongs to the scheduler), whoever locks first.
	deadlineRule bool
}

// wantTask reads the trial's task and checks its status.
func (e *jobEnv) wantTask(t *testing.T, owner *justpay.Agent, tr *campaignTrial, status string) {
	t.Helper()
	var got string
	if err := e.raw.QueryRow(`SELECT status FROM campaign_tasks WHERE id = $1 AND campaign_id = $2 AND agent_id = $3`,
		tr.task.ID, tr.c.ID, tr.agent.ID).Scan(&got); err != nil {
		t.Fatalf("task of %s: %v", tr.agent.Name, err)
	}
	if got != status {
		t.Fatalf("task of %s is %s, want %s (user: %v)", tr.agent.Name, got, status, tr.err)
	}
}

func wantUserCode(t *testing.T, err error) bool {
	t.Helper()
	switch justpay.ErrorCode(err) {
	case "":
		return true
	case justpay.ECONFLICT:
		return false
	}
	t.Fatalf("%v, want success or ECONFLICT", err)
	return false
}

// TestCampaignTimeoutRaces races each campaign timeout, applied by two schedulers at once
// (RunDueCampaigns, as on two servers), against the user action it competes with: the agent
// delivering against the claim's expiry, the owner accepting or rejecting against the review
// timeout's auto-accept, an agent claiming against the campaign's end; and the owner cancelling
// against an agent delivering. A batch of trials with the same deadline races at once, all
// released together. Half the batches run with the user's clock at exactly the deadline; the
// other half with the user's transactions reading the clock a microsecond before it (a second
// store on the same database with its own clock), so that both sides pass their checks and only
// the locks and guarded updates decide. Every trial has exactly one winner, and money moved once:
// after each batch the owner paid exactly the paid tasks' costs, each agent got exactly its
// reward, the platform the fees, and every escrow of the batch is closed at zero.
func TestCampaignTimeoutRaces(t *testing.T) {
	trials := 200
	if simRace() || testing.Short() {
		trials = 100 // the race detector makes each trial several times slower
	}
	const batch = 10
	deliver := func(store *sqlstore.Store, _ *justpay.Agent, tr *campaignTrial) error {
		_, err := store.DeliverTask(context.Background(), tr.agent.ID, tr.c.ID, tr.task.ID, taskOutput)
		return err
	}
	claim := func(env *jobEnv, tr *campaignTrial) (err error) {
		tr.task, err = env.Store.ClaimTask(context.Background(), tr.agent.ID, tr.c.ID)
		return err
	}
	claimAndDeliver := func(env *jobEnv, tr *campaignTrial) error {
		if err := claim(env, tr); err != nil {
			return err
		}
		var err error
		tr.task, err = env.Store.DeliverTask(context.Background(), tr.agent.ID, tr.c.ID, tr.task.ID, taskOutput)
		return err
	}
	expires := func(tr *campaignTrial) time.Time { return *tr.task.ExpiresAt }
	review := []func(*justpay.NewCampaign){manualReview, func(nc *justpay.NewCampaign) { nc.ReviewTimeoutSecs = ptr(justpay.MinReviewTimeoutSecs) }}
	races := []campaignRace{
		{name: "DeliverVsClaimExpiry", schedulers: true, deadlineRule: true, prepare: claim, act: deliver,
			campaign: []func(*justpay.NewCampaign){func(nc *justpay.NewCampaign) { nc.MaxExecutionTimeSecs = ptr(justpay.MinCampaignExecutionSecs) }},
			deadline: expires,
			judge: func(t *testing.T, env *jobEnv, owner *justpay.Agent, tr *campaignTrial) (bool, int, int64) {
				if wantUserCode(t, tr.err) {
					env.wantTask(t, owner, tr, justpay.TaskAccepted)
					return true, 0, taskReward
				}
				env.wantTask(t, owner, tr, justpay.TaskExpired)
				return false, 1, 0
			}},
		{name: "AcceptVsReviewAutoAccept", schedulers: true, deadlineRule: true, campaign: review, prepare: claimAndDeliver, deadline: expires,
			act: func(store *sqlstore.Store, owner *justpay.Agent, tr *campaignTrial) error {
				_, err := store.AcceptTask(context.Background(), owner.ID, tr.c.ID, tr.task.ID)
				return err
			},
			judge: func(t *testing.T, env *jobEnv, owner *justpay.Agent, tr *campaignTrial) (bool, int, int64) {
				env.wantTask(t, owner, tr, justpay.TaskAccepted)
				if wantUserCode(t, tr.err) {
					return true, 0, taskReward
				}
				return false, 1, taskReward
			}},
		{name: "RejectVsReviewAutoAccept", schedulers: true, deadlineRule: true, campaign: review, prepare: claimAndDeliver, deadline: expires,
			act: func(store *sqlstore.Store, owner *justpay.Agent, tr *campaignTrial) error {
				_, err := store.RejectTask(context.Background(), owner.ID, tr.c.ID, tr.task.ID, "too late?")
				return err
			},
			judge: func(t *testing.T, env *jobEnv, owner *justpay.Agent, tr *campaignTrial) (bool, int, int64) {
				if wantUserCode(t, tr.err) {
					env.wantTask(t, owner, tr, justpay.TaskRejected)
					return true, 0, 0
				}
				env.wantTask(t, owner, tr, justpay.TaskAccepted)
				return false, 1, taskReward
			}},
		{name: "CancelVsDeliver", ownCampaign: true, prepare: claim,
			act: func(store *sqlstore.Store, owner *justpay.Agent, tr *campaignTrial) error {
				_, err := store.CancelCampaign(context.Background(), owner.ID, tr.c.ID)
				return err
			},
			act2: deliver,
			judge: func(t *testing.T, env *jobEnv, owner *justpay.Agent, tr *campaignTrial) (bool, int, int64) {
				// The campaign was active: the cancel always succeeds; the delivery only if it came first.
				if tr.err != nil {
					t.Fatalf("cancel: %v (the delivery: %v)", tr.err, tr.err2)
				}
				if c := env.campaign(t, owner.ID, tr.c.ID); c.Status != justpay.CampaignCancelled {
					t.Fatalf("campaign %s after a cancel", c.Status)
				}
				if wantUserCode(t, tr.err2) {
					env.wantTask(t, owner, tr, justpay.TaskAccepted)
					return false, 0, taskReward
				}
				env.wantTask(t, owner, tr, justpay.TaskCancelled)
				return true, 0, 0
			}},
		{name: "ClaimVsCampaignEnd", schedulers: true, ownCampaign: true, deadlineRule: true,
			campaign: []func(*justpay.NewCampaign){func(nc *justpay.NewCampaign) { nc.DurationDays = ptr(1) }},
			deadline: func(tr *campaignTrial) time.Time { return tr.c.EndsAt },
			act: func(store *sqlstore.Store, _ *justpay.Agent, tr *campaignTrial) error {
				var err error
				tr.task, err = store.ClaimTask(context.Background(), tr.agent.ID, tr.c.ID)
				return err
			},
			judge: func(t *testing.T, env *jobEnv, owner *justpay.Agent, tr *campaignTrial) (bool, int, int64) {
				c := env.campaign(t, owner.ID, tr.c.ID)
				if c.Status != justpay.CampaignEnded || c.Remaining != 0 {
					t.Fatalf("campaign %s with %d in its pool after its end", c.Status, c.Remaining)
				}
				if !wantUserCode(t, tr.err) {
					if c.Tasks[justpay.TaskClaimed] != 0 {
						t.Fatalf("refused claim left tasks %v", c.Tasks)
					}
					return false, 1, 0
				}
				// The claim came first: its task runs on after the end, and is paid when delivered.
				env.wantTask(t, owner, tr, justpay.TaskClaimed)
				if _, err := env.Store.DeliverTask(context.Background(), tr.agent.ID, tr.c.ID, tr.task.ID, taskOutput); err != nil {
					t.Fatalf("deliver after the end: %v", err)
				}
				return true, 1, taskReward
			}},
	}
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		for _, race := range races {
			t.Run(race.name, func(t *testing.T) {
				start := time.Now()
				wins := runCampaignRace(t, b, race, trials, batch)
				if race.deadline == nil {
					t.Logf("%d trials in %v: the user won %d, the other side %d", trials, time.Since(start).Round(time.Millisecond),
						wins[0][0], wins[0][1])
					return
				}
				t.Logf("%d trials in %v: at the deadline %d user, %d other; user 1µs earlier %d user, %d other",
					trials, time.Since(start).Round(time.Millisecond), wins[0][0], wins[0][1], wins[1][0], wins[1][1])
			})
		}
	})
}

// runCampaignRace runs the trials of one race and returns the wins of the user and of the other
// side, at the deadline and with the user's clock a microsecond earlier.
func runCampaignRace(t *testing.T, b sqlstoretest.Backend, race campaignRace, trials, batch int) (wins [2][2]int) {
	ctx := context.Background()
	clock := sqlstoretest.NewClock()
	cfg := sqlstoretest.Config(t, b, clock)
	retries := &retryCounter{}
	cfg.Logger = slog.New(retries)
	db, err := sqlstore.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if race.act2 == nil {
		// Task paths lock the task, then the campaign; claims and ends the campaign alone: no
		// cycle, no retry. (Cancelling locks the campaign, then its tasks: against a payment that
		// completes the campaign, the documented cycle.)
		t.Cleanup(func() { retries.mustNoRetries(t) })
	}
	env := &jobEnv{Env: sqlstoretest.Wire(t, db, clock), raw: simOpenRaw(t, cfg)}
	userClock := sqlstoretest.NewClock()
	userCfg := cfg
	userCfg.Clock = userClock
	userDB, err := sqlstore.Open(ctx, userCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { userDB.Close() })
	userStore := sqlstoretest.Wire(t, userDB, userClock).Store

	owner := env.mustAgent(t, "owner", usdc+int64(trials)*2*taskCost)
	agents := env.mustAgents(t, "agent", batch, usdc)
	revenue0 := env.revenue(t)
	var paidTotal int64
	for n := 0; n*batch < trials; n++ {
		k := min(batch, trials-n*batch)
		earlier := n%2 == 1 && race.deadline != nil
		trs := make([]*campaignTrial, k)
		var shared *justpay.Campaign
		if !race.ownCampaign {
			shared = env.mustCampaign(t, owner.ID, newCampaign(int64(k)*taskReward, append(race.campaign, func(nc *justpay.NewCampaign) {
				nc.MaxConcurrentClaims = ptr(k)
			})...))
		}
		// The trials are prepared at once, on one clock instant, so that they share their deadline.
		var wg sync.WaitGroup
		for i := range trs {
			trs[i] = &campaignTrial{c: shared, agent: agents[i]}
			wg.Go(func() {
				tr := trs[i]
				if race.ownCampaign {
					c, err := env.Store.CreateCampaign(ctx, owner.ID, newCampaign(2*taskReward, race.campaign...))
					if err != nil {
						t.Error(err)
						return
					}
					tr.c = c
				}
				if race.prepare != nil {
					if err := race.prepare(env, tr); err != nil {
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		user := env.Store
		if race.deadline != nil {
			deadline := race.deadline(trs[0])
			env.Clock.Advance(deadline.Sub(env.Clock.Now()))
			if earlier {
				userClock.Advance(deadline.Add(-time.Microsecond).Sub(userClock.Now()))
				user = userStore
			}
		}
		owner0, agents0 := env.available(t, owner.ID), env.availables(t)

		var applied [2]int
		var schedErr [2]error
		gate := make(chan struct{})
		for _, tr := range trs {
			wg.Go(func() {
				<-gate
				tr.err = race.act(user, owner, tr)
			})
			if race.act2 != nil {
				wg.Go(func() {
					<-gate
					tr.err2 = race.act2(env.Store, owner, tr)
				})
			}
		}
		if race.schedulers {
			for i := range applied {
				wg.Go(func() {
					<-gate
					applied[i], schedErr[i] = env.Store.RunDueCampaigns(ctx)
				})
			}
		}
		close(gate)
		wg.Wait()
		if schedErr[0] != nil || schedErr[1] != nil {
			t.Fatalf("batch %d: RunDueCampaigns: %v; %v", n, schedErr[0], schedErr[1])
		}

		userWon, timeouts := 0, 0
		var paid int64
		paidTo := map[string]int64{}
		for _, tr := range trs {
			won, took, p := race.judge(t, env, owner, tr)
			if won {
				userWon++
			}
			timeouts += took
			paid += p
			paidTo[tr.agent.ID] += p
		}
		if timeouts != applied[0]+applied[1] {
			t.Fatalf("batch %d: the schedulers applied %d and %d timeouts; the outcomes need %d (user won %d of %d)",
				n, applied[0], applied[1], timeouts, userWon, k)
		}
		if race.deadlineRule && race.deadline != nil && !earlier && userWon != 0 {
			t.Fatalf("batch %d: the user won %d at the deadline, where the rule refuses it", n, userWon)
		}
		mode := 0
		if earlier {
			mode = 1
		}
		wins[mode][0] += userWon
		wins[mode][1] += k - userWon

		// Settle the batch: whatever campaign still runs is cancelled, which refunds its pool.
		for i, tr := range trs {
			if i > 0 && tr.c == trs[0].c {
				break
			}
			if c := env.campaign(t, owner.ID, tr.c.ID); !c.Finished() {
				if _, err := env.Store.CancelCampaign(ctx, owner.ID, c.ID); err != nil {
					t.Fatalf("batch %d: cancel: %v", n, err)
				}
			}
			env.mustCampaignSettled(t, tr.c.ID)
		}
		// Money moved once: the owner paid the paid tasks' costs (its budgets were whole tasks),
		// each agent got its rewards.
		if got := env.available(t, owner.ID); owner0-got != paid/taskReward*taskCost-ownerOutlay(race, k) {
			t.Fatalf("batch %d: owner %d -> %d, want -%d for %d paid tasks", n, owner0, got, paid/taskReward*taskCost-ownerOutlay(race, k), paid/taskReward)
		}
		now := env.availables(t)
		for _, a := range agents {
			if now[a.ID]-agents0[a.ID] != paidTo[a.ID] {
				t.Fatalf("batch %d: %s got %d, want %d", n, a.Name, now[a.ID]-agents0[a.ID], paidTo[a.ID])
			}
		}
		paidTotal += paid
	}
	r := sqlstoretest.MustVerify(t, env.DB)
	if got, want := r.Totals[justpay.PlatformRevenue], revenue0+paidTotal/taskReward*taskFee; got != want {
		t.Fatalf("revenue = %d, want %d", got, want)
	}
	return wins
}

// ownerOutlay is what the owner had put in before the batch's balance was read: the campaigns
// funded during the batch's preparation are already paid for, and come back (net of what was
// paid) when they end.
func ownerOutlay(race campaignRace, k int) int64 {
	if race.ownCampaign {
		return int64(k) * 2 * taskCost
	}
	return int64(k) * taskCost
}
