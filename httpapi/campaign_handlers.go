package httpapi

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/justpay/justpay"
)

// createCampaignRequest is the body of POST /api/v1/campaigns. Optional fields left out or sent
// as null take their defaults (dailyLimitPerAgent: no daily limit); the service checks every
// field's bounds.
type createCampaignRequest struct {
	Title                string          `json:"title"`
	Description          string          `json:"description"`
	Category             string          `json:"category"`
	Tags                 []string        `json:"tags"`
	TaskDescription      json.RawMessage `json:"taskDescription"`
	CallbackURL          string          `json:"callbackUrl"`
	RewardPerTask        *microAmount    `json:"rewardPerTask"`
	TotalBudget          *microAmount    `json:"totalBudget"`
	MaxPerAgent          *int            `json:"maxPerAgent"`
	DailyLimitPerAgent   *int            `json:"dailyLimitPerAgent"`
	MinTrustScore        *float64        `json:"minTrustScore"`
	AutoAccept           *bool           `json:"autoAccept"`
	ReviewTimeoutSecs    *int            `json:"reviewTimeoutSecs"`
	MaxExecutionTimeSecs *int            `json:"maxExecutionTimeSecs"`
	MaxConcurrentClaims  *int            `json:"maxConcurrentClaims"`
	DurationDays         *int            `json:"durationDays"`
}

// newCampaign converts the request. The two amounts are required: a missing one is named here,
// where it can still be told from zero.
func (req *createCampaignRequest) newCampaign() (justpay.NewCampaign, error) {
	nc := justpay.NewCampaign{
		Title:                req.Title,
		Description:          req.Description,
		Category:             req.Category,
		Tags:                 req.Tags,
		TaskDescription:      req.TaskDescription,
		CallbackURL:          req.CallbackURL,
		MaxPerAgent:          req.MaxPerAgent,
		DailyLimitPerAgent:   req.DailyLimitPerAgent,
		MinTrustScore:        req.MinTrustScore,
		AutoAccept:           req.AutoAccept,
		ReviewTimeoutSecs:    req.ReviewTimeoutSecs,
		MaxExecutionTimeSecs: req.MaxExecutionTimeSecs,
		MaxConcurrentClaims:  req.MaxConcurrentClaims,
		DurationDays:         req.DurationDays,
	}
	for _, a := range []struct {
		name string
		v    *microAmount
		dst  *int64
	}{{"rewardPerTask", req.RewardPerTask, &nc.RewardPerTask}, {"totalBudget", req.TotalBudget, &nc.TotalBudget}} {
		if a.v == nil {
			return nc, justpay.Errorf(justpay.EINVALID, "%s is required: a whole number of micro-units (1 USDC = 1000000)", a.name)
		}
		*a.dst = int64(*a.v)
	}
	return nc, nil
}

// taskCountsResponse counts a campaign's tasks by status; every status is always present.
type taskCountsResponse struct {
	Claimed   int `json:"claimed"`
	Delivered int `json:"delivered"`
	Accepted  int `json:"accepted"`
	Rejected  int `json:"rejected"`
	Expired   int `json:"expired"`
	Cancelled int `json:"cancelled"`
}

// fundingResponse is what a creation or a top-up escrowed from the owner's balance.
type fundingResponse struct {
	Amount      string `json:"amount"`
	PlatformFee string `json:"platformFee"`
	TotalCost   string `json:"totalCost"`
}

// campaignResponse is a campaign as every endpoint shows it. callbackUrl appears only for the
// owner (the service fills it in for the owner alone); funded only in the answer of the call
// that escrowed money.
type campaignResponse struct {
	ID                   string             `json:"id"`
	OwnerID              string             `json:"ownerId"`
	Title                string             `json:"title"`
	Description          string             `json:"description"`
	Category             string             `json:"category"`
	Tags                 []string           `json:"tags"`
	TaskDescription      json.RawMessage    `json:"taskDescription"`
	CallbackURL          *string            `json:"callbackUrl,omitempty"`
	RewardPerTask        string             `json:"rewardPerTask"`
	PlatformFeePerTask   string             `json:"platformFeePerTask"`
	TaskCost             string             `json:"taskCost"`
	TotalBudget          string             `json:"totalBudget"`
	RemainingBudget      string             `json:"remainingBudget"`
	RemainingTasks       int64              `json:"remainingTasks"`
	MaxPerAgent          int                `json:"maxPerAgent"`
	DailyLimitPerAgent   *int               `json:"dailyLimitPerAgent"`
	MinTrustScore        float64            `json:"minTrustScore"`
	AutoAccept           bool               `json:"autoAccept"`
	ReviewTimeoutSecs    int                `json:"reviewTimeoutSecs"`
	MaxExecutionTimeSecs int                `json:"maxExecutionTimeSecs"`
	MaxConcurrentClaims  int                `json:"maxConcurrentClaims"`
	DurationDays         int                `json:"durationDays"`
	Status               string             `json:"status"`
	EndsAt               string             `json:"endsAt"`
	FinishedAt           *string            `json:"finishedAt"`
	CreatedAt            string             `json:"createdAt"`
	UpdatedAt            string             `json:"updatedAt"`
	Tasks                taskCountsResponse `json:"tasks"`
	Funded               *fundingResponse   `json:"funded,omitempty"`
}

func newCampaignResponse(c *justpay.Campaign) campaignResponse {
	var remainingTasks int64
	if cost := c.TaskCost(); cost > 0 {
		remainingTasks = c.Remaining / cost
	}
	out := campaignResponse{
		ID:                   c.ID,
		OwnerID:              c.OwnerID,
		Title:                c.Title,
		Description:          c.Description,
		Category:             c.Category,
		Tags:                 nonNil(c.Tags),
		TaskDescription:      rawJSON(c.TaskDescription),
		CallbackURL:          nullString(c.CallbackURL),
		RewardPerTask:        justpay.FormatMicro(c.RewardPerTask),
		PlatformFeePerTask:   justpay.FormatMicro(c.TaskFee),
		TaskCost:             justpay.FormatMicro(c.TaskCost()),
		TotalBudget:          justpay.FormatMicro(c.TotalBudget),
		RemainingBudget:      justpay.FormatMicro(c.Remaining),
		RemainingTasks:       remainingTasks,
		MaxPerAgent:          c.MaxPerAgent,
		DailyLimitPerAgent:   c.DailyLimitPerAgent,
		MinTrustScore:        c.MinTrustScore,
		AutoAccept:           c.AutoAccept,
		ReviewTimeoutSecs:    c.ReviewTimeoutSecs,
		MaxExecutionTimeSecs: c.MaxExecutionTimeSecs,
		MaxConcurrentClaims:  c.MaxConcurrentClaims,
		DurationDays:         c.DurationDays,
		Status:               c.Status,
		EndsAt:               justpay.FormatTime(c.EndsAt),
		FinishedAt:           formatTimePtr(c.FinishedAt),
		CreatedAt:            justpay.FormatTime(c.CreatedAt),
		UpdatedAt:            justpay.FormatTime(c.UpdatedAt),
		Tasks: taskCountsResponse{
			Claimed:   c.Tasks[justpay.TaskClaimed],
			Delivered: c.Tasks[justpay.TaskDelivered],
			Accepted:  c.Tasks[justpay.TaskAccepted],
			Rejected:  c.Tasks[justpay.TaskRejected],
			Expired:   c.Tasks[justpay.TaskExpired],
			Cancelled: c.Tasks[justpay.TaskCancelled],
		},
	}
	if f := c.Funded; f != nil {
		out.Funded = &fundingResponse{
			Amount:      justpay.FormatMicro(f.Amount),
			PlatformFee: justpay.FormatMicro(f.PlatformFee),
			TotalCost:   justpay.FormatMicro(f.TotalCost()),
		}
	}
	return out
}

// taskResponse is a campaign task as its agent and the campaign's owner see it.
type taskResponse struct {
	ID           string          `json:"id"`
	CampaignID   string          `json:"campaignId"`
	AgentID      string          `json:"agentId"`
	Amount       string          `json:"amount"`
	PlatformFee  string          `json:"platformFee"`
	TotalCost    string          `json:"totalCost"`
	Status       string          `json:"status"`
	Output       json.RawMessage `json:"output"`
	RejectReason *string         `json:"rejectReason"`
	ExpiresAt    *string         `json:"expiresAt"`
	DeliveredAt  *string         `json:"deliveredAt"`
	FinishedAt   *string         `json:"finishedAt"`
	CreatedAt    string          `json:"createdAt"`
	UpdatedAt    string          `json:"updatedAt"`
}

func newTaskResponse(t *justpay.CampaignTask) taskResponse {
	return taskResponse{
		ID:           t.ID,
		CampaignID:   t.CampaignID,
		AgentID:      t.AgentID,
		Amount:       justpay.FormatMicro(t.Amount),
		PlatformFee:  justpay.FormatMicro(t.PlatformFee),
		TotalCost:    justpay.FormatMicro(t.TotalCost()),
		Status:       t.Status,
		Output:       rawJSON(t.Output),
		RejectReason: nullString(t.RejectReason),
		ExpiresAt:    formatTimePtr(t.ExpiresAt),
		DeliveredAt:  formatTimePtr(t.DeliveredAt),
		FinishedAt:   formatTimePtr(t.FinishedAt),
		CreatedAt:    justpay.FormatTime(t.CreatedAt),
		UpdatedAt:    justpay.FormatTime(t.UpdatedAt),
	}
}

var (
	errCampaignNotFound = justpay.Errorf(justpay.ENOTFOUND, "campaign not found")
	errTaskNotFound     = justpay.Errorf(justpay.ENOTFOUND, "task not found")
)

// campaignID returns the campaign ID of the path; one that cannot be an ID names no campaign.
func campaignID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if !justpay.IsID(id) {
		return "", errCampaignNotFound
	}
	return id, nil
}

// taskIDs returns the campaign and task IDs of the path.
func taskIDs(r *http.Request) (campaign, task string, err error) {
	if campaign, err = campaignID(r); err != nil {
		return "", "", err
	}
	task = r.PathValue("taskId")
	if !justpay.IsID(task) {
		return "", "", errTaskNotFound
	}
	return campaign, task, nil
}

// handleCreateCampaign serves POST /api/v1/campaigns: the budget and its fees are escrowed from
// the owner's balance at once.
func (s *Server) handleCreateCampaign(w http.ResponseWriter, r *http.Request) error {
	var req createCampaignRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	nc, err := req.newCampaign()
	if err != nil {
		return err
	}
	c, err := s.Campaigns.CreateCampaign(r.Context(), principalFrom(r.Context()).Agent.ID, nc)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, newCampaignResponse(c))
	return nil
}

// handleDiscoverCampaigns serves GET /api/v1/campaigns/discover?category=&search=&page=&limit=:
// the active campaigns, for anyone.
func (s *Server) handleDiscoverCampaigns(w http.ResponseWriter, r *http.Request) error {
	page, err := parsePage(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := justpay.CampaignFilter{Category: q.Get("category"), Search: q.Get("search"), Page: page}
	campaigns, total, err := s.Campaigns.DiscoverCampaigns(r.Context(), f)
	if err != nil {
		return err
	}
	writeList(w, "campaigns", campaigns, newCampaignResponse, page, total)
	return nil
}

// handleGetCampaign serves GET /api/v1/campaigns/{id}, for anyone; the owner, identified by an
// API key it may send, also sees the callback URL.
func (s *Server) handleGetCampaign(w http.ResponseWriter, r *http.Request) error {
	id, err := campaignID(r)
	if err != nil {
		return err
	}
	viewer, err := s.viewerID(r)
	if err != nil {
		return err
	}
	c, err := s.Campaigns.FindCampaignByID(r.Context(), viewer, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newCampaignResponse(c))
	return nil
}

// handleListMyCampaigns serves GET /api/v1/campaigns?status=&page=&limit=: the caller's own
// campaigns. The service checks the status.
func (s *Server) handleListMyCampaigns(w http.ResponseWriter, r *http.Request) error {
	page, err := parsePage(r)
	if err != nil {
		return err
	}
	f := justpay.CampaignFilter{Status: r.URL.Query().Get("status"), Page: page}
	campaigns, total, err := s.Campaigns.FindMyCampaigns(r.Context(), principalFrom(r.Context()).Agent.ID, f)
	if err != nil {
		return err
	}
	writeList(w, "campaigns", campaigns, newCampaignResponse, page, total)
	return nil
}

// handleClaimTask serves POST /api/v1/campaigns/{id}/claim, which takes no body: one task's cost
// is reserved for the caller.
func (s *Server) handleClaimTask(w http.ResponseWriter, r *http.Request) error {
	if err := decodeNone(w, r); err != nil {
		return err
	}
	id, err := campaignID(r)
	if err != nil {
		return err
	}
	task, err := s.Campaigns.ClaimTask(r.Context(), principalFrom(r.Context()).Agent.ID, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, newTaskResponse(task))
	return nil
}

// handleListTasks serves GET /api/v1/campaigns/{id}/tasks?status=&page=&limit=: every task for
// the owner, the caller's own for anyone else.
func (s *Server) handleListTasks(w http.ResponseWriter, r *http.Request) error {
	id, err := campaignID(r)
	if err != nil {
		return err
	}
	page, err := parsePage(r)
	if err != nil {
		return err
	}
	f := justpay.TaskFilter{Status: r.URL.Query().Get("status"), Page: page}
	tasks, total, err := s.Campaigns.FindTasks(r.Context(), principalFrom(r.Context()).Agent.ID, id, f)
	if err != nil {
		return err
	}
	writeList(w, "tasks", tasks, newTaskResponse, page, total)
	return nil
}

// taskDeliverRequest is the body of POST /api/v1/campaigns/{id}/tasks/{taskId}/deliver.
type taskDeliverRequest struct {
	Output json.RawMessage `json:"output"`
}

// handleDeliverTask serves POST /api/v1/campaigns/{id}/tasks/{taskId}/deliver; with autoAccept
// the agent is paid at once.
func (s *Server) handleDeliverTask(w http.ResponseWriter, r *http.Request) error {
	var req taskDeliverRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if err := requireDocument("output", req.Output); err != nil {
		return err
	}
	campaign, task, err := taskIDs(r)
	if err != nil {
		return err
	}
	t, err := s.Campaigns.DeliverTask(r.Context(), principalFrom(r.Context()).Agent.ID, campaign, task, req.Output)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newTaskResponse(t))
	return nil
}

// handleAcceptTask serves POST /api/v1/campaigns/{id}/tasks/{taskId}/accept, which takes no
// body: the owner pays a delivered task.
func (s *Server) handleAcceptTask(w http.ResponseWriter, r *http.Request) error {
	if err := decodeNone(w, r); err != nil {
		return err
	}
	campaign, task, err := taskIDs(r)
	if err != nil {
		return err
	}
	t, err := s.Campaigns.AcceptTask(r.Context(), principalFrom(r.Context()).Agent.ID, campaign, task)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newTaskResponse(t))
	return nil
}

// taskRejectRequest is the body of POST /api/v1/campaigns/{id}/tasks/{taskId}/reject.
type taskRejectRequest struct {
	Reason string `json:"reason"`
}

// handleRejectTask serves POST /api/v1/campaigns/{id}/tasks/{taskId}/reject: the task's cost
// goes back to the pool.
func (s *Server) handleRejectTask(w http.ResponseWriter, r *http.Request) error {
	var req taskRejectRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	campaign, task, err := taskIDs(r)
	if err != nil {
		return err
	}
	t, err := s.Campaigns.RejectTask(r.Context(), principalFrom(r.Context()).Agent.ID, campaign, task, req.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newTaskResponse(t))
	return nil
}

// topUpRequest is the body of POST /api/v1/campaigns/{id}/top-up.
type topUpRequest struct {
	Amount *microAmount `json:"amount"`
}

// handleTopUpCampaign serves POST /api/v1/campaigns/{id}/top-up: more budget, and its fees, from
// the owner's balance.
func (s *Server) handleTopUpCampaign(w http.ResponseWriter, r *http.Request) error {
	var req topUpRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	amount, err := requirePositive("amount", req.Amount)
	if err != nil {
		return err
	}
	id, err := campaignID(r)
	if err != nil {
		return err
	}
	c, err := s.Campaigns.TopUpCampaign(r.Context(), principalFrom(r.Context()).Agent.ID, id, amount)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newCampaignResponse(c))
	return nil
}

// campaignAction serves an owner's campaign endpoint that takes no body (nothing or {}): it
// calls act with the caller and the campaign's ID and answers with the campaign.
func campaignAction(w http.ResponseWriter, r *http.Request, act func(ctx context.Context, ownerID, id string) (*justpay.Campaign, error)) error {
	if err := decodeNone(w, r); err != nil {
		return err
	}
	id, err := campaignID(r)
	if err != nil {
		return err
	}
	c, err := act(r.Context(), principalFrom(r.Context()).Agent.ID, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newCampaignResponse(c))
	return nil
}

// handlePauseCampaign serves POST /api/v1/campaigns/{id}/pause: no new claims.
func (s *Server) handlePauseCampaign(w http.ResponseWriter, r *http.Request) error {
	return campaignAction(w, r, s.Campaigns.PauseCampaign)
}

// handleResumeCampaign serves POST /api/v1/campaigns/{id}/resume.
func (s *Server) handleResumeCampaign(w http.ResponseWriter, r *http.Request) error {
	return campaignAction(w, r, s.Campaigns.ResumeCampaign)
}

// handleCancelCampaign serves POST /api/v1/campaigns/{id}/cancel: the running tasks are
// cancelled and everything unspent goes back to the owner.
func (s *Server) handleCancelCampaign(w http.ResponseWriter, r *http.Request) error {
	return campaignAction(w, r, s.Campaigns.CancelCampaign)
}
