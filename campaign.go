package justpay

import (
	"context"
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"
)

// Campaign statuses. An active campaign takes claims; a paused one does not (running tasks go
// on). A campaign completes by itself when what is left cannot pay one more task and no task is
// running, and a top-up reactivates it. It ends at its end time (durationDays after creation):
// no more claims, and once its running tasks finish, what is left goes back to the owner. A
// cancelled campaign cancelled its running tasks and gave everything unspent back.
const (
	CampaignActive    = "active"
	CampaignPaused    = "paused"
	CampaignCompleted = "completed"
	CampaignEnded     = "ended"
	CampaignCancelled = "cancelled"
)

// CampaignStatuses lists every campaign status, for filters.
var CampaignStatuses = []string{CampaignActive, CampaignPaused, CampaignCompleted, CampaignEnded, CampaignCancelled}

// Campaign task statuses. A claimed task reserves one task's cost from the campaign's pool; the
// agent delivers it before the claim expires (expired: the cost goes back to the pool). A
// delivered task is accepted (the agent is paid the reward, the platform the fee) at once with
// autoAccept, else by the owner or by the review timeout; or the owner rejects it (the cost goes
// back to the pool). Cancelling the campaign cancels its claimed tasks; delivered ones keep their
// review.
const (
	TaskClaimed   = "claimed"
	TaskDelivered = "delivered"
	TaskAccepted  = "accepted"
	TaskRejected  = "rejected"
	TaskExpired   = "expired"
	TaskCancelled = "cancelled"
)

// TaskStatuses lists every campaign task status, for filters.
var TaskStatuses = []string{TaskClaimed, TaskDelivered, TaskAccepted, TaskRejected, TaskExpired, TaskCancelled}

// Campaign limits and defaults, from the spec's Campaigns section.
const (
	MinCampaignTitleLen                = 3
	MaxCampaignTitleLen                = 200
	MinCampaignDescriptionLen          = 10
	MaxCampaignDescriptionLen          = 5000
	MinRewardPerTask                   = 1000
	DefaultMaxPerAgent                 = 1
	MaxMaxPerAgent                     = 1_000_000
	DefaultReviewTimeoutSecs           = 300
	MinReviewTimeoutSecs               = 60
	MaxReviewTimeoutSecs               = 86400
	DefaultCampaignExecutionSecs       = 300
	MinCampaignExecutionSecs           = 30
	MaxCampaignExecutionSecs           = 86400
	DefaultMaxConcurrentClaims         = 10
	MaxMaxConcurrentClaims             = 1000
	DefaultCampaignDurationDays        = 30
	MaxCampaignDurationDays            = 365
	MaxTaskDescriptionBytes            = 64 << 10
	MaxTaskRejectReasonLen             = 1000
	MaxCampaignBudget            int64 = 1_000_000_000_000_000 // a billion USDC: far beyond any real pool, far below overflow
)

// Campaign is a bounty pool: the owner escrows a budget and agents claim tasks from it, each paid
// RewardPerTask when accepted, with TaskFee to the platform.
type Campaign struct {
	ID              string
	OwnerID         string
	Title           string
	Description     string
	Category        string
	Tags            []string
	TaskDescription json.RawMessage // nil when none
	CallbackURL     string          // shown to the owner only
	RewardPerTask   int64
	TaskFee         int64 // the platform fee on one task, fixed at creation
	// TotalBudget is every budget the owner put in (creation and top-ups), fees excluded.
	TotalBudget          int64
	MaxPerAgent          int
	DailyLimitPerAgent   *int // nil: no daily limit
	MinTrustScore        float64
	AutoAccept           bool
	ReviewTimeoutSecs    int
	MaxExecutionTimeSecs int
	MaxConcurrentClaims  int
	DurationDays         int
	Status               string
	EndsAt               time.Time
	FinishedAt           *time.Time
	CreatedAt            time.Time
	UpdatedAt            time.Time

	// Remaining is the pool: what the campaign's escrow holds for tasks not claimed yet (rewards
	// and fees). Claimed and delivered tasks hold their cost in escrows of their own.
	Remaining int64
	// Tasks counts the campaign's tasks by status.
	Tasks map[string]int
	// Funded is what the call that returned the campaign escrowed (creation, top-up); nil
	// otherwise.
	Funded *CampaignFunding
}

// CampaignFunding is one escrow of budget into a campaign: the budget and the platform fees on it
// (CampaignFee), both taken from the owner's available balance.
type CampaignFunding struct {
	Amount      int64
	PlatformFee int64
}

// TotalCost is what the owner paid: the budget and its fees.
func (f *CampaignFunding) TotalCost() int64 { return f.Amount + f.PlatformFee }

// TaskCost is what one task takes from the pool: the reward and the platform fee.
func (c *Campaign) TaskCost() int64 { return c.RewardPerTask + c.TaskFee }

// Finished reports whether the campaign's escrow is closed for good.
func (c *Campaign) Finished() bool {
	return c.Status == CampaignEnded || c.Status == CampaignCancelled
}

// CampaignFee is the platform fee escrowed with amount of budget for tasks of reward: each whole
// task's fee (rounded half up on its reward, as each task is charged) plus the fee on the rest.
// A budget of n rewards thus escrows exactly n task costs.
func CampaignFee(amount, reward, bps int64) int64 {
	return amount/reward*BasisPointsFee(reward, bps) + BasisPointsFee(amount%reward, bps)
}

// CampaignTask is one agent's claim on a campaign, from claim to payment.
type CampaignTask struct {
	ID           string
	CampaignID   string
	AgentID      string
	Status       string
	Output       json.RawMessage // nil until delivered
	RejectReason string
	Amount       int64 // the reward
	PlatformFee  int64
	// ExpiresAt is the deadline of the current state: delivery (claimed), review (delivered,
	// without autoAccept); nil when finished.
	ExpiresAt   *time.Time
	DeliveredAt *time.Time
	FinishedAt  *time.Time
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// TotalCost is what the task holds in escrow: the reward and the fee.
func (t *CampaignTask) TotalCost() int64 { return t.Amount + t.PlatformFee }

// NewCampaign is the body of POST /api/v1/campaigns; nil fields take their defaults.
type NewCampaign struct {
	Title                string
	Description          string
	Category             string
	Tags                 []string
	TaskDescription      json.RawMessage
	CallbackURL          string
	RewardPerTask        int64
	TotalBudget          int64
	MaxPerAgent          *int
	DailyLimitPerAgent   *int
	MinTrustScore        *float64
	AutoAccept           *bool
	ReviewTimeoutSecs    *int
	MaxExecutionTimeSecs *int
	MaxConcurrentClaims  *int
	DurationDays         *int
}

// Validate checks a new campaign's fields and fills in the defaults. Errors: EINVALID.
func (nc *NewCampaign) Validate() error {
	if err := validateLength("title", nc.Title, MinCampaignTitleLen, MaxCampaignTitleLen); err != nil {
		return err
	}
	if err := validateLength("description", nc.Description, MinCampaignDescriptionLen, MaxCampaignDescriptionLen); err != nil {
		return err
	}
	if err := validateLength("category", nc.Category, 2, 50); err != nil {
		return err
	}
	if err := validateTags("tags", nc.Tags); err != nil {
		return err
	}
	if isAbsent(nc.TaskDescription) {
		nc.TaskDescription = nil
	} else {
		if len(nc.TaskDescription) > MaxTaskDescriptionBytes {
			return Errorf(EINVALID, "taskDescription must be at most %d bytes of JSON", MaxTaskDescriptionBytes)
		}
		if err := ValidateJSON("taskDescription", nc.TaskDescription); err != nil {
			return err
		}
	}
	if err := ValidateURL("callbackUrl", nc.CallbackURL); err != nil {
		return err
	}
	if nc.RewardPerTask < MinRewardPerTask {
		return Errorf(EINVALID, "rewardPerTask must be at least %d micro-units", MinRewardPerTask)
	}
	if nc.RewardPerTask > MaxCampaignBudget {
		return Errorf(EINVALID, "rewardPerTask must be at most %d micro-units", MaxCampaignBudget)
	}
	if nc.TotalBudget < nc.RewardPerTask {
		return Errorf(EINVALID, "totalBudget must cover at least one task: at least rewardPerTask (%d micro-units)", nc.RewardPerTask)
	}
	if nc.TotalBudget > MaxCampaignBudget {
		return Errorf(EINVALID, "totalBudget must be at most %d micro-units", MaxCampaignBudget)
	}
	for _, f := range []struct {
		name     string
		v        **int
		def, min int
		max      int
	}{
		{"maxPerAgent", &nc.MaxPerAgent, DefaultMaxPerAgent, 1, MaxMaxPerAgent},
		{"reviewTimeoutSecs", &nc.ReviewTimeoutSecs, DefaultReviewTimeoutSecs, MinReviewTimeoutSecs, MaxReviewTimeoutSecs},
		{"maxExecutionTimeSecs", &nc.MaxExecutionTimeSecs, DefaultCampaignExecutionSecs, MinCampaignExecutionSecs, MaxCampaignExecutionSecs},
		{"maxConcurrentClaims", &nc.MaxConcurrentClaims, DefaultMaxConcurrentClaims, 1, MaxMaxConcurrentClaims},
		{"durationDays", &nc.DurationDays, DefaultCampaignDurationDays, 1, MaxCampaignDurationDays},
	} {
		if *f.v == nil {
			d := f.def
			*f.v = &d
		}
		if v := **f.v; v < f.min || v > f.max {
			return Errorf(EINVALID, "%s must be %d-%d", f.name, f.min, f.max)
		}
	}
	if nc.DailyLimitPerAgent != nil && (*nc.DailyLimitPerAgent < 1 || *nc.DailyLimitPerAgent > MaxMaxPerAgent) {
		return Errorf(EINVALID, "dailyLimitPerAgent must be %d-%d, or null for no daily limit", 1, MaxMaxPerAgent)
	}
	if nc.MinTrustScore == nil {
		nc.MinTrustScore = new(float64)
	}
	if s := *nc.MinTrustScore; !(s >= 0 && s <= 1) {
		return Errorf(EINVALID, "minTrustScore must be a number from 0 to 1")
	}
	if nc.AutoAccept == nil {
		nc.AutoAccept = new(true)
	}
	return nil
}

// validateLength checks a text field: ValidateText's rules, at most max characters, and at least
// min not counting surrounding white space, so that blank text does not pass for a title.
func validateLength(field, s string, min, max int) error {
	if err := ValidateText(field, s, max); err != nil {
		return err
	}
	if utf8.RuneCountInString(strings.TrimSpace(s)) < min {
		return Errorf(EINVALID, "%s must be %d-%d characters", field, min, max)
	}
	return nil
}

// ValidateTopUp checks a top-up amount. Errors: EINVALID.
func ValidateTopUp(amount int64) error {
	if amount <= 0 || amount > MaxCampaignBudget {
		return Errorf(EINVALID, "amount must be 1-%d micro-units", MaxCampaignBudget)
	}
	return nil
}

// ValidateTaskOutput checks a task delivery's output. Errors: EINVALID.
func ValidateTaskOutput(output json.RawMessage) error {
	if isAbsent(output) {
		return Errorf(EINVALID, "output is required: the task's result as JSON")
	}
	return ValidateJSON("output", output)
}

// ValidateRejectReason checks the reason an owner gives for rejecting a task. Errors: EINVALID.
func ValidateRejectReason(reason string) error {
	if err := validateLength("reason", reason, 1, MaxTaskRejectReasonLen); err != nil {
		return err
	}
	return nil
}

// CampaignFilter selects campaigns: the public discovery list (active campaigns, by category
// and a search over title and description) or the owner's own (by status).
type CampaignFilter struct {
	Category string
	Search   string
	Status   string
	Page
}

// TaskFilter selects a campaign's tasks.
type TaskFilter struct {
	Status string
	Page
}

// CampaignService runs campaigns. Every change of a task or a campaign is guarded by its current
// status, so a user action racing a timeout ends with one winner and moves money once.
type CampaignService interface {
	// CreateCampaign escrows the budget and its fees from the owner's available balance.
	// Errors: EINVALID, EINSUFFICIENT.
	CreateCampaign(ctx context.Context, ownerID string, nc NewCampaign) (*Campaign, error)
	// FindCampaignByID returns a campaign; viewerID ("" when anonymous) sees the callback URL
	// only if it owns it. Errors: ENOTFOUND.
	FindCampaignByID(ctx context.Context, viewerID, id string) (*Campaign, error)
	// DiscoverCampaigns lists active campaigns, newest first. Errors: EINVALID.
	DiscoverCampaigns(ctx context.Context, f CampaignFilter) ([]*Campaign, int, error)
	// FindMyCampaigns lists the owner's campaigns, newest first. Errors: EINVALID.
	FindMyCampaigns(ctx context.Context, ownerID string, f CampaignFilter) ([]*Campaign, int, error)
	// ClaimTask reserves one task's cost from the pool for agentID. Errors: ENOTFOUND,
	// EFORBIDDEN (own campaign, trust score, per-agent or daily limit), ECONFLICT (not active,
	// too many claims running, budget spent).
	ClaimTask(ctx context.Context, agentID, campaignID string) (*CampaignTask, error)
	// DeliverTask records the agent's output; with autoAccept it pays at once. Errors:
	// EINVALID, ENOTFOUND, ECONFLICT.
	DeliverTask(ctx context.Context, agentID, campaignID, taskID string, output json.RawMessage) (*CampaignTask, error)
	// AcceptTask pays a delivered task. Errors: ENOTFOUND, ECONFLICT.
	AcceptTask(ctx context.Context, ownerID, campaignID, taskID string) (*CampaignTask, error)
	// RejectTask returns a delivered task's cost to the pool. Errors: EINVALID, ENOTFOUND,
	// ECONFLICT.
	RejectTask(ctx context.Context, ownerID, campaignID, taskID, reason string) (*CampaignTask, error)
	// FindTasks lists a campaign's tasks, newest first: all of them for the owner, the agent's
	// own for anyone else. Errors: EINVALID, ENOTFOUND.
	FindTasks(ctx context.Context, agentID, campaignID string, f TaskFilter) ([]*CampaignTask, int, error)
	// TopUpCampaign adds budget (and its fees) from the owner's balance; a completed campaign
	// becomes active again. Errors: EINVALID, EINSUFFICIENT, ENOTFOUND, ECONFLICT (ended or
	// cancelled).
	TopUpCampaign(ctx context.Context, ownerID, id string, amount int64) (*Campaign, error)
	// PauseCampaign stops new claims. Errors: ENOTFOUND, ECONFLICT.
	PauseCampaign(ctx context.Context, ownerID, id string) (*Campaign, error)
	// ResumeCampaign takes claims again. Errors: ENOTFOUND, ECONFLICT.
	ResumeCampaign(ctx context.Context, ownerID, id string) (*Campaign, error)
	// CancelCampaign cancels the running tasks and refunds everything unspent. Errors:
	// ENOTFOUND, ECONFLICT.
	CancelCampaign(ctx context.Context, ownerID, id string) (*Campaign, error)
	// RunDueCampaigns applies every campaign timeout due now (claim expiry, review timeout,
	// campaign end) and returns how many it applied.
	RunDueCampaigns(ctx context.Context) (int, error)
}
