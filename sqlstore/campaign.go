package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/justpay/justpay"
)

var _ justpay.CampaignService = (*Store)(nil)

// A campaign's pool is its escrow account; a claim moves one task's cost from the pool into the
// task's own escrow, from where it is paid out (reward to the agent, fee to the platform) or given
// back (to the pool, or to the owner once the campaign has ended or been cancelled).
//
// Every change of the pool's balance holds the campaign's row lock (claims, returns to the pool,
// top-ups, refunds), so a locked campaign's pool is exact. Lock order: task, campaign, agent,
// balances. Paying a task does not lock the campaign unless the pool can no longer pay a task (the
// campaign may then complete), so many agents delivering to one campaign do not queue on its row;
// claims do, since the checks they make (running claims, the agent's limits, the pool) must see
// every claim before them. Cancelling and ending lock the campaign, then its running tasks: against
// a task action that waits for the campaign this is the one cycle, rare, which PostgreSQL breaks
// and the loser retries.

func campaignEscrow(id string) string { return justpay.EscrowAccount("campaign", id) }
func taskEscrow(id string) string     { return justpay.EscrowAccount("campaign_task", id) }

const campaignColumns = `c.id, c.owner_id, c.title, c.description, c.category, c.tags, c.task_description, c.callback_url,
	c.reward_per_task, c.task_fee, c.total_budget, c.max_per_agent, c.daily_limit_per_agent, c.min_trust_score, c.auto_accept,
	c.review_timeout_secs, c.max_execution_time_secs, c.max_concurrent_claims, c.duration_days, c.status, c.ends_at,
	c.finished_at, c.created_at, c.updated_at`

// campaignPoolColumns and campaignPoolFrom select campaigns with their pools' balances. A locked read takes the balance
// in a statement of its own (findCampaign): on PostgreSQL a row lock waited for re-reads the
// locked row only, not what the statement joined to it.
const (
	campaignPoolColumns = campaignColumns + `, COALESCE(b.balance, 0)`
	campaignPoolFrom    = `FROM campaigns c LEFT JOIN ledger_balances b ON b.account = 'escrow:campaign:' || c.id`
)

func scanCampaign(row scanner) (*justpay.Campaign, error) {
	var c justpay.Campaign
	var tags string
	var taskDescription sql.NullString
	var daily sql.NullInt64
	var finished sql.NullTime
	err := row.Scan(&c.ID, &c.OwnerID, &c.Title, &c.Description, &c.Category, &tags, &taskDescription, &c.CallbackURL,
		&c.RewardPerTask, &c.TaskFee, &c.TotalBudget, &c.MaxPerAgent, &daily, &c.MinTrustScore, &c.AutoAccept,
		&c.ReviewTimeoutSecs, &c.MaxExecutionTimeSecs, &c.MaxConcurrentClaims, &c.DurationDays, &c.Status, &c.EndsAt,
		&finished, &c.CreatedAt, &c.UpdatedAt, &c.Remaining)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, justpay.Errorf(justpay.ENOTFOUND, "campaign not found")
	} else if err != nil {
		return nil, fmt.Errorf("scan campaign: %w", err)
	}
	if err := json.Unmarshal([]byte(tags), &c.Tags); err != nil {
		return nil, fmt.Errorf("campaign %s tags: %w", c.ID, err)
	}
	if taskDescription.Valid {
		c.TaskDescription = json.RawMessage(taskDescription.String)
	}
	if daily.Valid {
		d := int(daily.Int64)
		c.DailyLimitPerAgent = &d
	}
	c.FinishedAt = nullTime(finished)
	c.EndsAt, c.CreatedAt, c.UpdatedAt = c.EndsAt.UTC(), c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	return &c, nil
}

// findCampaign reads a campaign and its pool, locking the campaign's row if lock is set.
func (tx *Tx) findCampaign(ctx context.Context, id string, lock bool) (*justpay.Campaign, error) {
	if !justpay.IsID(id) {
		return nil, justpay.Errorf(justpay.ENOTFOUND, "campaign not found")
	}
	if !lock {
		return scanCampaign(tx.QueryRowContext(ctx, `SELECT `+campaignPoolColumns+` `+campaignPoolFrom+` WHERE c.id = $1`, id))
	}
	c, err := scanCampaign(tx.QueryRowContext(ctx, `SELECT `+campaignColumns+`, 0 FROM campaigns c WHERE c.id = $1`+tx.db.dialect.forUpdate, id))
	if err != nil {
		return nil, err
	}
	err = tx.QueryRowContext(ctx, `SELECT balance FROM ledger_balances WHERE account = $1`, campaignEscrow(id)).Scan(&c.Remaining)
	if err != nil {
		return nil, fmt.Errorf("campaign %s pool: %w", id, err)
	}
	return c, nil
}

// findOwnCampaign reads and locks a campaign of ownerID; anyone else's is ENOTFOUND.
func (tx *Tx) findOwnCampaign(ctx context.Context, ownerID, id string) (*justpay.Campaign, error) {
	c, err := tx.findCampaign(ctx, id, true)
	if err != nil {
		return nil, err
	}
	if c.OwnerID != ownerID {
		return nil, justpay.Errorf(justpay.ENOTFOUND, "campaign not found")
	}
	return c, nil
}

// countTasks fills in the campaigns' task counts by status.
func (tx *Tx) countTasks(ctx context.Context, campaigns ...*justpay.Campaign) error {
	if len(campaigns) == 0 {
		return nil
	}
	byID := map[string]*justpay.Campaign{}
	args := make([]any, len(campaigns))
	marks := make([]string, len(campaigns))
	for i, c := range campaigns {
		c.Tasks = map[string]int{}
		for _, st := range justpay.TaskStatuses {
			c.Tasks[st] = 0
		}
		byID[c.ID] = c
		args[i], marks[i] = c.ID, fmt.Sprintf("$%d", i+1)
	}
	rows, err := tx.QueryContext(ctx, `SELECT campaign_id, status, COUNT(*) FROM campaign_tasks
		WHERE campaign_id IN (`+strings.Join(marks, ", ")+`) GROUP BY campaign_id, status`, args...)
	if err != nil {
		return fmt.Errorf("count tasks: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, status string
		var n int
		if err := rows.Scan(&id, &status, &n); err != nil {
			return err
		}
		byID[id].Tasks[status] = n
	}
	return rows.Err()
}

// present prepares a campaign for viewerID: counts filled in, the callback URL for its owner only.
func (tx *Tx) present(ctx context.Context, viewerID string, campaigns ...*justpay.Campaign) error {
	for _, c := range campaigns {
		if c.OwnerID != viewerID {
			c.CallbackURL = ""
		}
	}
	return tx.countTasks(ctx, campaigns...)
}

// CreateCampaign escrows the budget and its fees. See justpay.CampaignService.
func (s *Store) CreateCampaign(ctx context.Context, ownerID string, nc justpay.NewCampaign) (*justpay.Campaign, error) {
	if err := nc.Validate(); err != nil {
		return nil, err
	}
	tags, err := json.Marshal(nc.Tags)
	if err != nil {
		return nil, err
	}
	if nc.Tags == nil {
		tags = []byte("[]")
	}
	var campaign *justpay.Campaign
	err = s.update(ctx, func(tx *Tx) error {
		owner, err := tx.startMoneyAction(ctx, ownerID)
		if err != nil {
			return err
		}
		if err := owner.CheckNotRestricted(); err != nil {
			return err
		}
		c := &justpay.Campaign{ID: justpay.NewID(tx.now), OwnerID: ownerID, Title: nc.Title, Description: nc.Description,
			Category: nc.Category, Tags: nc.Tags, TaskDescription: nc.TaskDescription, CallbackURL: nc.CallbackURL,
			RewardPerTask: nc.RewardPerTask, TaskFee: justpay.BasisPointsFee(nc.RewardPerTask, s.jobFeeBps),
			MaxPerAgent: *nc.MaxPerAgent, DailyLimitPerAgent: nc.DailyLimitPerAgent, MinTrustScore: *nc.MinTrustScore,
			AutoAccept: *nc.AutoAccept, ReviewTimeoutSecs: *nc.ReviewTimeoutSecs, MaxExecutionTimeSecs: *nc.MaxExecutionTimeSecs,
			MaxConcurrentClaims: *nc.MaxConcurrentClaims, DurationDays: *nc.DurationDays, Status: justpay.CampaignActive,
			EndsAt: tx.now.AddDate(0, 0, *nc.DurationDays), CreatedAt: tx.now, UpdatedAt: tx.now}
		if c.Tags == nil {
			c.Tags = []string{}
		}
		var taskDescription any
		if c.TaskDescription != nil {
			taskDescription = string(c.TaskDescription)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO campaigns (id, owner_id, title, description, category, tags, task_description,
			callback_url, reward_per_task, task_fee, total_budget, max_per_agent, daily_limit_per_agent, min_trust_score, auto_accept,
			review_timeout_secs, max_execution_time_secs, max_concurrent_claims, duration_days, status, ends_at, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $21)`,
			c.ID, ownerID, c.Title, c.Description, c.Category, string(tags), taskDescription, c.CallbackURL, c.RewardPerTask,
			c.TaskFee, c.MaxPerAgent, c.DailyLimitPerAgent, c.MinTrustScore, c.AutoAccept, c.ReviewTimeoutSecs,
			c.MaxExecutionTimeSecs, c.MaxConcurrentClaims, c.DurationDays, c.Status, c.EndsAt, tx.now); err != nil {
			return fmt.Errorf("insert campaign: %w", err)
		}
		if err := tx.openAccount(ctx, campaignEscrow(c.ID), ownerID); err != nil {
			return err
		}
		if err := s.fund(ctx, tx, c, nc.TotalBudget, justpay.TxCampaignEscrowLock); err != nil {
			return err
		}
		campaign = c
		return tx.countTasks(ctx, c)
	})
	return campaign, err
}

// fund moves amount of budget and its fees from the owner's available balance into the pool. The
// fees are those of the whole budget less those already paid, so that a budget of n rewards,
// however it was put together, escrows exactly n task costs.
func (s *Store) fund(ctx context.Context, tx *Tx, c *justpay.Campaign, amount int64, typ string) error {
	budget, err := justpay.AddMicro(c.TotalBudget, amount)
	if err != nil || budget > justpay.MaxCampaignBudget {
		return justpay.Errorf(justpay.EINVALID, "a campaign's total budget may not exceed %d micro-units", justpay.MaxCampaignBudget)
	}
	f := &justpay.CampaignFunding{Amount: amount, PlatformFee: justpay.CampaignFee(budget, c.RewardPerTask, s.jobFeeBps) -
		justpay.CampaignFee(c.TotalBudget, c.RewardPerTask, s.jobFeeBps)}
	lt := justpay.Transfer(typ, justpay.AgentAvailable(c.OwnerID), campaignEscrow(c.ID), f.TotalCost())
	lt.RefType, lt.RefID = "campaign", c.ID
	lt.Description = fmt.Sprintf("campaign %s: budget %s + %s fees", c.ID, justpay.FormatUSDC(f.Amount), justpay.FormatUSDC(f.PlatformFee))
	if _, err := tx.post(ctx, lt); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE campaigns SET total_budget = $1, updated_at = $2 WHERE id = $3`, budget, tx.now, c.ID); err != nil {
		return fmt.Errorf("update campaign budget: %w", err)
	}
	c.TotalBudget, c.Remaining, c.UpdatedAt, c.Funded = budget, c.Remaining+f.TotalCost(), tx.now, f
	return nil
}

// FindCampaignByID returns a campaign. See justpay.CampaignService.
func (s *Store) FindCampaignByID(ctx context.Context, viewerID, id string) (*justpay.Campaign, error) {
	var c *justpay.Campaign
	err := s.view(ctx, func(tx *Tx) error {
		var err error
		if c, err = tx.findCampaign(ctx, id, false); err != nil {
			return err
		}
		return tx.present(ctx, viewerID, c)
	})
	return c, err
}

// DiscoverCampaigns lists active campaigns. See justpay.CampaignService.
func (s *Store) DiscoverCampaigns(ctx context.Context, f justpay.CampaignFilter) ([]*justpay.Campaign, int, error) {
	if f.Status != "" {
		return nil, 0, justpay.Errorf(justpay.EINVALID, "discovery lists active campaigns only; status is not a filter here")
	}
	return s.findCampaigns(ctx, "", []string{"c.status = 'active'"}, f)
}

// FindMyCampaigns lists the owner's campaigns. See justpay.CampaignService.
func (s *Store) FindMyCampaigns(ctx context.Context, ownerID string, f justpay.CampaignFilter) ([]*justpay.Campaign, int, error) {
	if err := justpay.ValidateFilter("status", f.Status, justpay.CampaignStatuses); err != nil {
		return nil, 0, err
	}
	return s.findCampaigns(ctx, ownerID, []string{"c.owner_id = $1"}, f)
}

// findCampaigns lists campaigns matching where (whose $1, if any, is ownerID) and the filter.
func (s *Store) findCampaigns(ctx context.Context, ownerID string, where []string, f justpay.CampaignFilter) ([]*justpay.Campaign, int, error) {
	if err := f.Page.Validate(); err != nil {
		return nil, 0, err
	}
	for _, t := range []struct{ field, v string }{{"category", f.Category}, {"search", f.Search}} {
		if err := justpay.ValidateText(t.field, t.v, 200); err != nil {
			return nil, 0, err
		}
	}
	var args []any
	if ownerID != "" {
		args = append(args, ownerID)
	}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.Status != "" {
		where = append(where, "c.status = "+arg(f.Status))
	}
	if f.Category != "" {
		where = append(where, "c.category = "+arg(f.Category))
	}
	if f.Search != "" {
		p := arg("%" + escapeLike(strings.ToLower(f.Search)) + "%")
		where = append(where, `(LOWER(c.title) LIKE `+p+` ESCAPE '\' OR LOWER(c.description) LIKE `+p+` ESCAPE '\')`)
	}
	var campaigns []*justpay.Campaign
	var total int
	err := s.view(ctx, func(tx *Tx) error {
		var err error
		campaigns, total, err = findPage(ctx, tx, listQuery{what: "campaigns", columns: campaignPoolColumns,
			from: campaignPoolFrom + ` WHERE ` + strings.Join(where, " AND "), order: `c.created_at DESC, c.id DESC`, args: args},
			f.Page, scanCampaign)
		if err != nil {
			return err
		}
		return tx.present(ctx, ownerID, campaigns...)
	})
	if err != nil {
		return nil, 0, err
	}
	return campaigns, total, nil
}

const taskColumns = `id, campaign_id, agent_id, status, output, reject_reason, amount, platform_fee, expires_at, delivered_at,
	finished_at, created_at, updated_at`

func scanTask(row scanner) (*justpay.CampaignTask, error) {
	var t justpay.CampaignTask
	var output sql.NullString
	var expires, delivered, finished sql.NullTime
	err := row.Scan(&t.ID, &t.CampaignID, &t.AgentID, &t.Status, &output, &t.RejectReason, &t.Amount, &t.PlatformFee,
		&expires, &delivered, &finished, &t.CreatedAt, &t.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, justpay.Errorf(justpay.ENOTFOUND, "task not found")
	} else if err != nil {
		return nil, fmt.Errorf("scan task: %w", err)
	}
	if output.Valid {
		t.Output = json.RawMessage(output.String)
	}
	t.ExpiresAt, t.DeliveredAt, t.FinishedAt = nullTime(expires), nullTime(delivered), nullTime(finished)
	t.CreatedAt, t.UpdatedAt = t.CreatedAt.UTC(), t.UpdatedAt.UTC()
	return &t, nil
}

// findTask reads and locks a task of the campaign.
func (tx *Tx) findTask(ctx context.Context, campaignID, id string) (*justpay.CampaignTask, error) {
	if !justpay.IsID(id) || !justpay.IsID(campaignID) {
		return nil, justpay.Errorf(justpay.ENOTFOUND, "task not found")
	}
	t, err := scanTask(tx.QueryRowContext(ctx, `SELECT `+taskColumns+` FROM campaign_tasks WHERE id = $1 AND campaign_id = $2`+
		tx.db.dialect.forUpdate, id, campaignID))
	if err != nil {
		return nil, err
	}
	return t, nil
}

// ClaimTask reserves one task's cost for agentID. See justpay.CampaignService.
func (s *Store) ClaimTask(ctx context.Context, agentID, campaignID string) (*justpay.CampaignTask, error) {
	var task *justpay.CampaignTask
	err := s.update(ctx, func(tx *Tx) error {
		if err := tx.applyIdempotency(ctx); err != nil {
			return err
		}
		c, err := tx.findCampaign(ctx, campaignID, true)
		if err != nil {
			return err
		}
		agent, err := tx.findAgent(ctx, agentID, false)
		if err != nil {
			return err
		}
		if err := tx.checkClaim(ctx, c, agent); err != nil {
			return err
		}
		expires := tx.now.Add(time.Duration(c.MaxExecutionTimeSecs) * time.Second)
		t := &justpay.CampaignTask{ID: justpay.NewID(tx.now), CampaignID: c.ID, AgentID: agentID, Status: justpay.TaskClaimed,
			Amount: c.RewardPerTask, PlatformFee: c.TaskFee, ExpiresAt: &expires, CreatedAt: tx.now, UpdatedAt: tx.now}
		if _, err := tx.ExecContext(ctx, `INSERT INTO campaign_tasks (id, campaign_id, agent_id, status, amount, platform_fee,
			expires_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)`,
			t.ID, c.ID, agentID, t.Status, t.Amount, t.PlatformFee, t.ExpiresAt, tx.now); err != nil {
			return fmt.Errorf("insert task: %w", err)
		}
		if err := tx.openAccount(ctx, taskEscrow(t.ID), c.OwnerID); err != nil {
			return err
		}
		lt := justpay.Transfer(justpay.TxCampaignTaskSpent, campaignEscrow(c.ID), taskEscrow(t.ID), t.TotalCost())
		lt.RefType, lt.RefID = "campaign_task", t.ID
		lt.Description = fmt.Sprintf("campaign %s: task %s claimed by %s", c.ID, t.ID, agentID)
		if _, err := tx.post(ctx, lt); err != nil {
			return err
		}
		task = t
		return tx.recordEvent(ctx, c.OwnerID, "campaign.task_claimed", taskEventData(c, t))
	})
	return task, err
}

// checkClaim applies the rules of claiming a task of c, on the locked campaign row.
func (tx *Tx) checkClaim(ctx context.Context, c *justpay.Campaign, agent *justpay.Agent) error {
	if err := agent.CheckNotRestricted(); err != nil {
		return err
	}
	switch {
	case c.Status != justpay.CampaignActive:
		return justpay.Errorf(justpay.ECONFLICT, "campaign %s is %s and takes no claims", c.ID, c.Status)
	case !tx.now.Before(c.EndsAt):
		return justpay.Errorf(justpay.ECONFLICT, "campaign %s has ended", c.ID)
	case c.OwnerID == agent.ID:
		return justpay.Errorf(justpay.EFORBIDDEN, "you cannot claim tasks of your own campaign")
	case agent.TrustScore() < c.MinTrustScore:
		return justpay.Errorf(justpay.EFORBIDDEN, "your trust score %.3f is below the %.3f this campaign requires", agent.TrustScore(), c.MinTrustScore)
	}
	dayStart := tx.now.Truncate(24 * time.Hour)
	var mine, today, running int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN created_at >= $3 THEN 1 ELSE 0 END), 0)
		FROM campaign_tasks WHERE campaign_id = $1 AND agent_id = $2 AND status NOT IN ('expired', 'cancelled')`,
		c.ID, agent.ID, dayStart).Scan(&mine, &today); err != nil {
		return fmt.Errorf("count agent's tasks: %w", err)
	}
	switch {
	case mine >= c.MaxPerAgent:
		return justpay.Errorf(justpay.EFORBIDDEN, "you reached this campaign's limit of %d task(s) per agent (rejected tasks count)", c.MaxPerAgent)
	case c.DailyLimitPerAgent != nil && today >= *c.DailyLimitPerAgent:
		return justpay.Errorf(justpay.EFORBIDDEN, "you reached this campaign's daily limit of %d task(s) per agent; it resets at 00:00 UTC", *c.DailyLimitPerAgent)
	}
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM campaign_tasks WHERE campaign_id = $1 AND status IN ('claimed', 'delivered')`,
		c.ID).Scan(&running); err != nil {
		return fmt.Errorf("count running tasks: %w", err)
	}
	switch {
	case running >= c.MaxConcurrentClaims:
		return justpay.Errorf(justpay.ECONFLICT, "campaign %s has %d tasks running, its maximum; try again later", c.ID, running)
	case c.Remaining < c.TaskCost():
		return justpay.Errorf(justpay.ECONFLICT, "campaign %s's remaining budget (%s) cannot pay another task (%s)", c.ID,
			justpay.FormatUSDC(c.Remaining), justpay.FormatUSDC(c.TaskCost()))
	}
	return nil
}

func taskEventData(c *justpay.Campaign, t *justpay.CampaignTask) map[string]any {
	d := map[string]any{"campaignId": c.ID, "taskId": t.ID, "agentId": t.AgentID, "status": t.Status,
		"amount": justpay.FormatMicro(t.Amount)}
	if t.RejectReason != "" {
		d["reason"] = t.RejectReason
	}
	return d
}

// DeliverTask records the output. See justpay.CampaignService.
func (s *Store) DeliverTask(ctx context.Context, agentID, campaignID, taskID string, output json.RawMessage) (*justpay.CampaignTask, error) {
	if err := justpay.ValidateTaskOutput(output); err != nil {
		return nil, err
	}
	return s.actOnTask(ctx, campaignID, taskID, func(tx *Tx, c *justpay.Campaign, t *justpay.CampaignTask) (string, error) {
		if t.AgentID != agentID {
			return "", justpay.Errorf(justpay.ENOTFOUND, "task not found")
		}
		if t.Status != justpay.TaskClaimed {
			return "", justpay.Errorf(justpay.ECONFLICT, "task %s is %s; only a claimed task can be delivered", t.ID, t.Status)
		}
		t.Output, t.DeliveredAt = output, &tx.now
		if c.AutoAccept {
			return justpay.TaskAccepted, nil
		}
		return justpay.TaskDelivered, nil
	})
}

// AcceptTask pays a delivered task. See justpay.CampaignService.
func (s *Store) AcceptTask(ctx context.Context, ownerID, campaignID, taskID string) (*justpay.CampaignTask, error) {
	return s.actOnTask(ctx, campaignID, taskID, func(tx *Tx, c *justpay.Campaign, t *justpay.CampaignTask) (string, error) {
		if c.OwnerID != ownerID {
			return "", justpay.Errorf(justpay.ENOTFOUND, "task not found")
		}
		if t.Status != justpay.TaskDelivered {
			return "", justpay.Errorf(justpay.ECONFLICT, "task %s is %s; only a delivered task can be accepted", t.ID, t.Status)
		}
		return justpay.TaskAccepted, nil
	})
}

// RejectTask returns a delivered task's cost. See justpay.CampaignService.
func (s *Store) RejectTask(ctx context.Context, ownerID, campaignID, taskID, reason string) (*justpay.CampaignTask, error) {
	if err := justpay.ValidateRejectReason(reason); err != nil {
		return nil, err
	}
	return s.actOnTask(ctx, campaignID, taskID, func(tx *Tx, c *justpay.Campaign, t *justpay.CampaignTask) (string, error) {
		if c.OwnerID != ownerID {
			return "", justpay.Errorf(justpay.ENOTFOUND, "task not found")
		}
		if t.Status != justpay.TaskDelivered {
			return "", justpay.Errorf(justpay.ECONFLICT, "task %s is %s; only a delivered task can be rejected", t.ID, t.Status)
		}
		t.RejectReason = reason
		return justpay.TaskRejected, nil
	})
}

// actOnTask locks a task, lets decide check it and name its next status, and commits the change.
func (s *Store) actOnTask(ctx context.Context, campaignID, taskID string,
	decide func(tx *Tx, c *justpay.Campaign, t *justpay.CampaignTask) (string, error)) (*justpay.CampaignTask, error) {
	var task *justpay.CampaignTask
	err := s.update(ctx, func(tx *Tx) error {
		if err := tx.applyIdempotency(ctx); err != nil {
			return err
		}
		t, err := tx.findTask(ctx, campaignID, taskID)
		if err != nil {
			return err
		}
		c, err := tx.findCampaign(ctx, campaignID, false)
		if err != nil {
			return err
		}
		next, err := decide(tx, c, t)
		if err != nil {
			return err
		}
		// At its deadline a task belongs to the scheduler (expiry, auto-accept), as a job does.
		if t.ExpiresAt != nil && !tx.now.Before(*t.ExpiresAt) {
			return justpay.Errorf(justpay.ECONFLICT, "task %s's deadline passed at %s; it is being %s", t.ID,
				t.ExpiresAt.Format(time.RFC3339), map[string]string{justpay.TaskClaimed: "expired", justpay.TaskDelivered: "accepted automatically"}[t.Status])
		}
		if err := tx.commitTask(ctx, c, t, next); err != nil {
			return err
		}
		task = t
		return nil
	})
	return task, err
}

// commitTask moves task t of campaign c to status next, guarded by its current status, and does
// what follows: the deadline of the new status, the money of a finished task, the campaign's
// completion, the event.
func (tx *Tx) commitTask(ctx context.Context, c *justpay.Campaign, t *justpay.CampaignTask, next string) error {
	from := t.Status
	t.Status, t.UpdatedAt = next, tx.now
	switch next {
	case justpay.TaskDelivered:
		deadline := tx.now.Add(time.Duration(c.ReviewTimeoutSecs) * time.Second)
		t.ExpiresAt = &deadline
	default:
		t.ExpiresAt, t.FinishedAt = nil, &tx.now
	}
	var output any
	if t.Output != nil {
		output = string(t.Output)
	}
	res, err := tx.ExecContext(ctx, `UPDATE campaign_tasks SET status = $1, output = $2, reject_reason = $3, expires_at = $4,
		delivered_at = $5, finished_at = $6, updated_at = $7 WHERE id = $8 AND status = $9`,
		t.Status, output, t.RejectReason, t.ExpiresAt, t.DeliveredAt, t.FinishedAt, tx.now, t.ID, from)
	if err != nil {
		return fmt.Errorf("update task: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return justpay.Errorf(justpay.ECONFLICT, "task %s changed concurrently; reload it", t.ID)
	}
	if t.FinishedAt != nil {
		if err := tx.settleTask(ctx, c, t); err != nil {
			return err
		}
	}
	var event, to string
	switch next {
	case justpay.TaskDelivered:
		event, to = "campaign.task_delivered", c.OwnerID
	case justpay.TaskAccepted:
		if from == justpay.TaskClaimed { // paid on delivery: the owner hears of the delivery too
			if err := tx.recordEvent(ctx, c.OwnerID, "campaign.task_delivered", taskEventData(c, t)); err != nil {
				return err
			}
		}
		event, to = "campaign.task_accepted", t.AgentID
	case justpay.TaskRejected:
		event, to = "campaign.task_rejected", t.AgentID
	case justpay.TaskExpired:
		event, to = "campaign.task_expired", t.AgentID
	}
	if event == "" {
		return nil
	}
	return tx.recordEvent(ctx, to, event, taskEventData(c, t))
}

// settleTask empties a finished task's escrow: an accepted task pays the reward to its agent and
// the fee to the platform; any other returns its cost to the pool while the campaign runs, or to
// the owner once it has ended or been cancelled. A paid task may complete the campaign.
func (tx *Tx) settleTask(ctx context.Context, c *justpay.Campaign, t *justpay.CampaignTask) error {
	var lt justpay.LedgerTx
	if t.Status == justpay.TaskAccepted {
		lt = justpay.LedgerTx{Type: justpay.TxCampaignTaskEarned, Description: fmt.Sprintf("campaign %s: task %s accepted", c.ID, t.ID),
			Entries: []justpay.Entry{{Account: justpay.AgentAvailable(t.AgentID), Amount: t.Amount}}}
		if t.PlatformFee > 0 {
			lt.Entries = append(lt.Entries, justpay.Entry{Account: justpay.PlatformRevenue, Amount: t.PlatformFee})
		}
	} else {
		// The pool takes the cost back while the campaign runs. Its status is read under its lock,
		// so that a cancel or an end that closes the pool cannot slip in between.
		locked, err := tx.findCampaign(ctx, c.ID, true)
		if err != nil {
			return err
		}
		to := campaignEscrow(c.ID)
		if locked.Finished() {
			to = justpay.AgentAvailable(c.OwnerID)
		}
		lt = justpay.LedgerTx{Type: justpay.TxCampaignRefund, Description: fmt.Sprintf("campaign %s: task %s %s, its cost returned", c.ID, t.ID, t.Status),
			Entries: []justpay.Entry{{Account: to, Amount: t.TotalCost()}}}
	}
	lt.Entries = append(lt.Entries, justpay.Entry{Account: taskEscrow(t.ID), Amount: -t.TotalCost()})
	lt.RefType, lt.RefID = "campaign_task", t.ID
	if _, err := tx.post(ctx, lt); err != nil {
		return err
	}
	if err := tx.closeAccount(ctx, taskEscrow(t.ID)); err != nil {
		return err
	}
	if t.Status == justpay.TaskAccepted && !c.Finished() && c.Remaining < c.TaskCost() {
		return tx.completeIfSpent(ctx, c.ID)
	}
	return nil
}

// completeIfSpent completes a running campaign whose pool cannot pay another task and that has no
// task running, giving what is left of the pool back to the owner. It locks the campaign and
// counts again, so that of two tasks paid at once, the one that commits last completes it.
func (tx *Tx) completeIfSpent(ctx context.Context, id string) error {
	c, err := tx.findCampaign(ctx, id, true)
	if err != nil {
		return err
	}
	if c.Status != justpay.CampaignActive && c.Status != justpay.CampaignPaused || c.Remaining >= c.TaskCost() {
		return nil
	}
	var running int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM campaign_tasks WHERE campaign_id = $1 AND status IN ('claimed', 'delivered')`,
		id).Scan(&running); err != nil {
		return fmt.Errorf("count running tasks: %w", err)
	}
	if running > 0 {
		return nil
	}
	return tx.finishCampaign(ctx, c, justpay.CampaignCompleted)
}

// finishCampaign moves c to status (completed, ended or cancelled), giving the pool back to the
// owner; an ended or cancelled campaign's pool is closed for good. It does not touch tasks.
func (tx *Tx) finishCampaign(ctx context.Context, c *justpay.Campaign, status string) error {
	from := c.Status
	if c.Remaining > 0 {
		lt := justpay.Transfer(justpay.TxCampaignRefund, campaignEscrow(c.ID), justpay.AgentAvailable(c.OwnerID), c.Remaining)
		lt.RefType, lt.RefID = "campaign", c.ID
		lt.Description = fmt.Sprintf("campaign %s %s: unspent budget returned", c.ID, status)
		if _, err := tx.post(ctx, lt); err != nil {
			return err
		}
	}
	c.Status, c.Remaining, c.UpdatedAt = status, 0, tx.now
	if c.Finished() {
		c.FinishedAt = &tx.now
		if err := tx.closeAccount(ctx, campaignEscrow(c.ID)); err != nil {
			return err
		}
	}
	if err := tx.saveCampaignStatus(ctx, c, from); err != nil {
		return err
	}
	return tx.recordEvent(ctx, c.OwnerID, "campaign."+status, map[string]any{"campaignId": c.ID, "status": status,
		"totalBudget": justpay.FormatMicro(c.TotalBudget)})
}

// saveCampaignStatus writes c's status, guarded by the status it was read in.
func (tx *Tx) saveCampaignStatus(ctx context.Context, c *justpay.Campaign, from string) error {
	res, err := tx.ExecContext(ctx, `UPDATE campaigns SET status = $1, finished_at = $2, updated_at = $3 WHERE id = $4 AND status = $5`,
		c.Status, c.FinishedAt, tx.now, c.ID, from)
	if err != nil {
		return fmt.Errorf("update campaign: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return justpay.Errorf(justpay.ECONFLICT, "campaign %s changed concurrently; reload it", c.ID)
	}
	return nil
}

// FindTasks lists a campaign's tasks. See justpay.CampaignService.
func (s *Store) FindTasks(ctx context.Context, agentID, campaignID string, f justpay.TaskFilter) ([]*justpay.CampaignTask, int, error) {
	if err := f.Page.Validate(); err != nil {
		return nil, 0, err
	}
	if err := justpay.ValidateFilter("status", f.Status, justpay.TaskStatuses); err != nil {
		return nil, 0, err
	}
	var tasks []*justpay.CampaignTask
	var total int
	err := s.view(ctx, func(tx *Tx) error {
		c, err := tx.findCampaign(ctx, campaignID, false)
		if err != nil {
			return err
		}
		args := []any{c.ID, f.Status, ""}
		if c.OwnerID != agentID {
			args[2] = agentID
		}
		tasks, total, err = findPage(ctx, tx, listQuery{what: "tasks", columns: taskColumns,
			from:  `FROM campaign_tasks WHERE campaign_id = $1 AND ($2 = '' OR status = $2) AND ($3 = '' OR agent_id = $3)`,
			order: `created_at DESC, id DESC`, args: args}, f.Page, scanTask)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	return tasks, total, nil
}

// TopUpCampaign adds budget. See justpay.CampaignService.
func (s *Store) TopUpCampaign(ctx context.Context, ownerID, id string, amount int64) (*justpay.Campaign, error) {
	if err := justpay.ValidateTopUp(amount); err != nil {
		return nil, err
	}
	return s.actOnCampaign(ctx, ownerID, id, func(tx *Tx, c *justpay.Campaign) error {
		if c.Finished() {
			return justpay.Errorf(justpay.ECONFLICT, "campaign %s is %s; it cannot be topped up", c.ID, c.Status)
		}
		if _, err := tx.findAgent(ctx, ownerID, true); err != nil {
			return err
		}
		if c.Status == justpay.CampaignCompleted && amount < c.RewardPerTask {
			return justpay.Errorf(justpay.EINVALID, "campaign %s is completed: a top-up must pay at least one more task (%d micro-units of budget)", c.ID, c.RewardPerTask)
		}
		if err := s.fund(ctx, tx, c, amount, justpay.TxCampaignTopup); err != nil {
			return err
		}
		if c.Status == justpay.CampaignCompleted {
			c.Status = justpay.CampaignActive
			if err := tx.saveCampaignStatus(ctx, c, justpay.CampaignCompleted); err != nil {
				return err
			}
		}
		return nil
	})
}

// PauseCampaign stops claims. See justpay.CampaignService.
func (s *Store) PauseCampaign(ctx context.Context, ownerID, id string) (*justpay.Campaign, error) {
	return s.setCampaignStatus(ctx, ownerID, id, justpay.CampaignActive, justpay.CampaignPaused)
}

// ResumeCampaign takes claims again. See justpay.CampaignService.
func (s *Store) ResumeCampaign(ctx context.Context, ownerID, id string) (*justpay.Campaign, error) {
	return s.setCampaignStatus(ctx, ownerID, id, justpay.CampaignPaused, justpay.CampaignActive)
}

func (s *Store) setCampaignStatus(ctx context.Context, ownerID, id, from, to string) (*justpay.Campaign, error) {
	return s.actOnCampaign(ctx, ownerID, id, func(tx *Tx, c *justpay.Campaign) error {
		if c.Status != from {
			return justpay.Errorf(justpay.ECONFLICT, "campaign %s is %s; only a %s campaign can become %s", c.ID, c.Status, from, to)
		}
		c.Status = to
		return tx.saveCampaignStatus(ctx, c, from)
	})
}

// CancelCampaign cancels the running tasks and refunds everything unspent. See
// justpay.CampaignService.
func (s *Store) CancelCampaign(ctx context.Context, ownerID, id string) (*justpay.Campaign, error) {
	return s.actOnCampaign(ctx, ownerID, id, func(tx *Tx, c *justpay.Campaign) error {
		if c.Finished() {
			return justpay.Errorf(justpay.ECONFLICT, "campaign %s is %s already", c.ID, c.Status)
		}
		if err := tx.finishCampaign(ctx, c, justpay.CampaignCancelled); err != nil {
			return err
		}
		return tx.cancelClaimedTasks(ctx, c)
	})
}

// cancelClaimedTasks cancels the finished campaign c's claimed tasks, each cost going back to the
// owner. Delivered tasks keep their review: the work is done and in the owner's hands, so, as a
// delivered job cannot be cancelled, the owner accepts or rejects it, or it is accepted when the
// review times out.
func (tx *Tx) cancelClaimedTasks(ctx context.Context, c *justpay.Campaign) error {
	ids, err := queryAll(ctx, tx, "claimed tasks", `SELECT id FROM campaign_tasks WHERE campaign_id = $1 AND status = 'claimed' ORDER BY id`,
		[]any{c.ID}, scanID)
	if err != nil {
		return err
	}
	for _, id := range ids {
		t, err := tx.findTask(ctx, c.ID, id)
		if err != nil {
			return err
		}
		if t.Status != justpay.TaskClaimed {
			continue // delivered or finished while we waited for its lock (on PostgreSQL)
		}
		if err := tx.commitTask(ctx, c, t, justpay.TaskCancelled); err != nil {
			return err
		}
	}
	return nil
}

// actOnCampaign locks the owner's campaign, applies change and returns the campaign as it is now.
func (s *Store) actOnCampaign(ctx context.Context, ownerID, id string, change func(tx *Tx, c *justpay.Campaign) error) (*justpay.Campaign, error) {
	var campaign *justpay.Campaign
	err := s.update(ctx, func(tx *Tx) error {
		if err := tx.applyIdempotency(ctx); err != nil {
			return err
		}
		c, err := tx.findOwnCampaign(ctx, ownerID, id)
		if err != nil {
			return err
		}
		if !c.Finished() && !tx.now.Before(c.EndsAt) {
			return justpay.Errorf(justpay.ECONFLICT, "campaign %s ended at %s; it is being closed", c.ID, c.EndsAt.Format(time.RFC3339))
		}
		if err := change(tx, c); err != nil {
			return err
		}
		c.UpdatedAt = tx.now
		campaign = c
		return tx.countTasks(ctx, c)
	})
	return campaign, err
}

// RunDueCampaigns applies every campaign deadline that has passed. See justpay.CampaignService.
func (s *Store) RunDueCampaigns(ctx context.Context) (int, error) {
	applied := 0
	for _, due := range []struct {
		query string
		apply func(ctx context.Context, id string) (bool, error)
	}{
		{`SELECT id FROM campaign_tasks WHERE expires_at IS NOT NULL AND expires_at <= $1 ORDER BY expires_at, id LIMIT 100`, s.timeoutTask},
		{`SELECT id FROM campaigns WHERE status IN ('active', 'paused', 'completed') AND ends_at <= $1 ORDER BY ends_at, id LIMIT 100`, s.endCampaign},
		// A backstop for completion: on PostgreSQL the last two tasks of a campaign paid at the
		// same moment each see the other still running (settleTask), and neither completes it.
		{`SELECT c.id FROM campaigns c JOIN ledger_balances b ON b.account = 'escrow:campaign:' || c.id
			WHERE c.status IN ('active', 'paused') AND c.ends_at > $1 AND b.balance < c.reward_per_task + c.task_fee
			AND NOT EXISTS (SELECT 1 FROM campaign_tasks t WHERE t.campaign_id = c.id AND t.status IN ('claimed', 'delivered'))
			ORDER BY c.id LIMIT 100`, s.completeSpent},
	} {
		n, err := s.runDue(ctx, due.query, once(due.apply))
		applied += n
		if err != nil {
			return applied, err
		}
	}
	return applied, nil
}

// timeoutTask applies a task's passed deadline if it is still due once locked: a claim expires,
// a delivery under review is accepted.
func (s *Store) timeoutTask(ctx context.Context, id string) (bool, error) {
	applied := false
	err := s.update(ctx, func(tx *Tx) error {
		applied = false
		var campaignID string
		if err := tx.QueryRowContext(ctx, `SELECT campaign_id FROM campaign_tasks WHERE id = $1`, id).Scan(&campaignID); err != nil {
			return fmt.Errorf("find task: %w", err)
		}
		t, err := tx.findTask(ctx, campaignID, id)
		if err != nil {
			return err
		}
		if t.ExpiresAt == nil || t.ExpiresAt.After(tx.now) {
			return nil
		}
		c, err := tx.findCampaign(ctx, campaignID, false)
		if err != nil {
			return err
		}
		next := justpay.TaskExpired
		if t.Status == justpay.TaskDelivered {
			next = justpay.TaskAccepted
		}
		applied = true
		return tx.commitTask(ctx, c, t, next)
	})
	return applied, err
}

// completeSpent completes a campaign that cannot pay another task and runs none, if it still is.
func (s *Store) completeSpent(ctx context.Context, id string) (bool, error) {
	applied := false
	err := s.update(ctx, func(tx *Tx) error {
		applied = false
		before, err := tx.findCampaign(ctx, id, true)
		if err != nil {
			return err
		}
		if err := tx.completeIfSpent(ctx, id); err != nil {
			return err
		}
		after, err := tx.findCampaign(ctx, id, false)
		applied = err == nil && after.Status != before.Status
		return err
	})
	return applied, err
}

// endCampaign ends a campaign whose time is up: no more claims, the pool back to the owner. Its
// running tasks finish as usual; what they do not spend goes back to the owner as they finish.
func (s *Store) endCampaign(ctx context.Context, id string) (bool, error) {
	applied := false
	err := s.update(ctx, func(tx *Tx) error {
		applied = false
		c, err := tx.findCampaign(ctx, id, true)
		if err != nil {
			return err
		}
		if c.Finished() || tx.now.Before(c.EndsAt) {
			return nil
		}
		applied = true
		return tx.finishCampaign(ctx, c, justpay.CampaignEnded)
	})
	return applied, err
}
