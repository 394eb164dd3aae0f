package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/justpay/justpay"
)

// createJobRequest is the body of POST /api/v1/jobs.
type createJobRequest struct {
	Type              string          `json:"type"`
	ServiceID         string          `json:"serviceId"`
	Title             string          `json:"title"`
	Category          string          `json:"category"`
	Description       string          `json:"description"`
	Input             json.RawMessage `json:"input"`
	Amount            *microAmount    `json:"amount"`
	ApplicationWindow *int            `json:"applicationWindow"`
	CallbackURL       string          `json:"callbackUrl"`
}

// requireDocument checks that a JSON document field is present and not null.
func requireDocument(field string, doc json.RawMessage) error {
	if len(doc) == 0 || bytes.Equal(doc, []byte("null")) {
		return justpay.Errorf(justpay.EINVALID, "%s is required: any JSON value but null", field)
	}
	return nil
}

// newJob converts the request. The service checks the fields against the job type; what it
// cannot see is checked here: an amount sent for a direct job even as 0, and an input sent as null.
func (req *createJobRequest) newJob() (justpay.NewJob, error) {
	nj := justpay.NewJob{
		Type:              req.Type,
		ServiceID:         req.ServiceID,
		Title:             req.Title,
		Category:          req.Category,
		Description:       req.Description,
		Input:             req.Input,
		ApplicationWindow: req.ApplicationWindow,
		CallbackURL:       req.CallbackURL,
	}
	if req.Amount != nil {
		if req.Type == justpay.JobDirect {
			return nj, justpay.Errorf(justpay.EINVALID, "amount is set by the service's pricePerJob: leave it out of a direct job")
		}
		nj.Amount = int64(*req.Amount)
	}
	return nj, requireDocument("input", req.Input)
}

// applicationResponse is an application to an open job.
type applicationResponse struct {
	ID            string  `json:"id"`
	AgentID       string  `json:"agentId"`
	AgentName     string  `json:"agentName"`
	TrustScore    float64 `json:"trustScore"`
	CompletedJobs int64   `json:"completedJobs"`
	Message       *string `json:"message"`
	Status        string  `json:"status"`
	CreatedAt     string  `json:"createdAt"`
}

func newApplicationResponse(a *justpay.Application) applicationResponse {
	return applicationResponse{
		ID:            a.ID,
		AgentID:       a.AgentID,
		AgentName:     a.AgentName,
		TrustScore:    a.TrustScore,
		CompletedJobs: a.JobsDone,
		Message:       nullString(a.Message),
		Status:        a.Status,
		CreatedAt:     justpay.FormatTime(a.CreatedAt),
	}
}

// jobResponse is a job as its client and provider see it.
type jobResponse struct {
	ID                string          `json:"id"`
	Type              string          `json:"type"`
	Status            string          `json:"status"`
	ServiceID         *string         `json:"serviceId"`
	Title             *string         `json:"title"`
	Category          *string         `json:"category"`
	Description       *string         `json:"description"`
	Amount            string          `json:"amount"`
	PlatformFee       string          `json:"platformFee"`
	TotalCost         string          `json:"totalCost"`
	ClientAgentID     string          `json:"clientAgentId"`
	ProviderAgentID   *string         `json:"providerAgentId"`
	Input             json.RawMessage `json:"input"`
	Output            json.RawMessage `json:"output"`
	CallbackURL       *string         `json:"callbackUrl"`
	ApplicationWindow *int            `json:"applicationWindow"`
	ExecutionTimeSecs int             `json:"executionTimeSecs"`
	ExpiresAt         *string         `json:"expiresAt"`
	AcceptedAt        *string         `json:"acceptedAt"`
	DeliveredAt       *string         `json:"deliveredAt"`
	FinishedAt        *string         `json:"finishedAt"`
	CreatedAt         string          `json:"createdAt"`
	UpdatedAt         string          `json:"updatedAt"`
	// Applications are shown to an open job's client, and whenever the service filled them in.
	Applications *[]applicationResponse `json:"applications,omitempty"`
	// Dispute, ClientReputation and Warnings are in the job's details (GET /jobs/{id}) only.
	Dispute          *disputeResponse    `json:"dispute,omitempty"`
	ClientReputation *clientReputation   `json:"clientReputation,omitempty"`
	Warnings         *map[string]*string `json:"warnings,omitempty"`
}

// clientReputation is the client's side of a job's details.
type clientReputation struct {
	AgentID            string  `json:"agentId"`
	TrustScore         float64 `json:"trustScore"`
	TotalDisputesFiled int64   `json:"totalDisputesFiled"`
	ClientDisputeRate  float64 `json:"clientDisputeRate"`
	ClientRestricted   bool    `json:"clientRestricted"`
	JobsCompleted      int64   `json:"jobsCompleted"`
}

// newJobResponse renders j. withApplications asks for the applications block even when empty: the
// client of an open job looking at the job itself always sees the list, even before any arrives.
func newJobResponse(j *justpay.Job, withApplications bool) jobResponse {
	out := jobResponse{
		ID:                j.ID,
		Type:              j.Type,
		Status:            j.Status,
		ServiceID:         nullString(j.ServiceID),
		Title:             nullString(j.Title),
		Category:          nullString(j.Category),
		Description:       nullString(j.Description),
		Amount:            justpay.FormatMicro(j.Amount),
		PlatformFee:       justpay.FormatMicro(j.PlatformFee),
		TotalCost:         justpay.FormatMicro(j.TotalCost()),
		ClientAgentID:     j.ClientID,
		ProviderAgentID:   nullString(j.ProviderID),
		Input:             rawJSON(j.Input),
		Output:            rawJSON(j.Output),
		CallbackURL:       nullString(j.CallbackURL),
		ExecutionTimeSecs: j.ExecutionTimeSecs,
		ExpiresAt:         formatTimePtr(j.ExpiresAt),
		AcceptedAt:        formatTimePtr(j.AcceptedAt),
		DeliveredAt:       formatTimePtr(j.DeliveredAt),
		FinishedAt:        formatTimePtr(j.FinishedAt),
		CreatedAt:         justpay.FormatTime(j.CreatedAt),
		UpdatedAt:         justpay.FormatTime(j.UpdatedAt),
	}
	if j.Type == justpay.JobOpen {
		window := j.ApplicationWindowSecs
		out.ApplicationWindow = &window
	}
	if j.Dispute != nil {
		d := newDisputeResponse(j.Dispute)
		out.Dispute = &d
	}
	if j.Client != nil {
		rep := newAgentReputation(j.Client)
		out.ClientReputation = &clientReputation{AgentID: j.Client.ID, TrustScore: rep.TrustScore, TotalDisputesFiled: rep.TotalDisputesFiled,
			ClientDisputeRate: rep.ClientDisputeRate, ClientRestricted: rep.ClientRestricted, JobsCompleted: j.Client.ClientCompletedJobs}
		warnings := map[string]*string{"client": nullString(j.Client.Warning()), "provider": nil}
		if j.Provider != nil {
			warnings["provider"] = nullString(j.Provider.Warning())
		}
		out.Warnings = &warnings
	}
	if len(j.Applications) > 0 || withApplications {
		apps := make([]applicationResponse, 0, len(j.Applications))
		for _, a := range j.Applications {
			apps = append(apps, newApplicationResponse(a))
		}
		out.Applications = &apps
	}
	return out
}

// writeJob answers with one job. The job's client looking at an open job (creating it, reading
// it) always gets the applications block, even empty; other answers show the applications only
// when the service filled them in.
func writeJob(w http.ResponseWriter, r *http.Request, status int, j *justpay.Job, clientView bool) {
	clientView = clientView && j.Type == justpay.JobOpen && j.ClientID == principalFrom(r.Context()).Agent.ID
	writeJSON(w, status, newJobResponse(j, clientView))
}

// handleCreateJob serves POST /api/v1/jobs.
func (s *Server) handleCreateJob(w http.ResponseWriter, r *http.Request) error {
	var req createJobRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	nj, err := req.newJob()
	if err != nil {
		return err
	}
	job, err := s.Jobs.CreateJob(r.Context(), principalFrom(r.Context()).Agent.ID, nj)
	if err != nil {
		return err
	}
	writeJob(w, r, http.StatusCreated, job, true)
	return nil
}

// handleListJobs serves GET /api/v1/jobs?role=&status=&page=&limit=: the caller's jobs. The
// service checks role and status.
func (s *Server) handleListJobs(w http.ResponseWriter, r *http.Request) error {
	page, err := parsePage(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := justpay.JobFilter{Role: q.Get("role"), Status: q.Get("status"), Page: page}
	jobs, total, err := s.Jobs.FindJobs(r.Context(), principalFrom(r.Context()).Agent.ID, f)
	if err != nil {
		return err
	}
	writeList(w, "jobs", jobs, func(j *justpay.Job) jobResponse { return newJobResponse(j, false) }, page, total)
	return nil
}

// openJobClient is who posted an open job: its name, trust score and report badge (null, low,
// medium or high, as on its profile).
type openJobClient struct {
	ID         string  `json:"id"`
	Name       string  `json:"name"`
	TrustScore float64 `json:"trustScore"`
	Warning    *string `json:"warning"`
}

// openJobResponse is an open job in the public browse list.
type openJobResponse struct {
	ID                string        `json:"id"`
	Title             string        `json:"title"`
	Description       string        `json:"description"`
	Category          string        `json:"category"`
	Budget            string        `json:"budget"`
	PlatformFee       string        `json:"platformFee"`
	ExpiresAt         *string       `json:"expiresAt"`
	TimeRemainingSecs int64         `json:"timeRemainingSecs"`
	Client            openJobClient `json:"client"`
	CreatedAt         string        `json:"createdAt"`
}

func newOpenJobResponse(l *justpay.OpenJobListing, now time.Time) openJobResponse {
	j := l.Job
	var remaining int64
	if j.ExpiresAt != nil {
		remaining = max(int64(j.ExpiresAt.Sub(now)/time.Second), 0)
	}
	return openJobResponse{
		ID:                j.ID,
		Title:             j.Title,
		Description:       j.Description,
		Category:          j.Category,
		Budget:            justpay.FormatMicro(j.Amount),
		PlatformFee:       justpay.FormatMicro(j.PlatformFee),
		ExpiresAt:         formatTimePtr(j.ExpiresAt),
		TimeRemainingSecs: remaining,
		Client:            openJobClient{ID: j.ClientID, Name: l.Client.Name, TrustScore: l.Client.TrustScore(), Warning: nullString(l.Client.Warning())},
		CreatedAt:         justpay.FormatTime(j.CreatedAt),
	}
}

// handleOpenJobs serves GET /api/v1/jobs/open?category=&page=&limit=.
func (s *Server) handleOpenJobs(w http.ResponseWriter, r *http.Request) error {
	page, err := parsePage(r)
	if err != nil {
		return err
	}
	listings, total, err := s.Jobs.FindOpenJobs(r.Context(), r.URL.Query().Get("category"), page)
	if err != nil {
		return err
	}
	now := s.Clock.Now()
	writeList(w, "jobs", listings, func(l *justpay.OpenJobListing) openJobResponse { return newOpenJobResponse(l, now) }, page, total)
	return nil
}

// handleGetJob serves GET /api/v1/jobs/{id} (client or provider only).
func (s *Server) handleGetJob(w http.ResponseWriter, r *http.Request) error {
	job, err := s.Jobs.FindJobByID(r.Context(), principalFrom(r.Context()).Agent.ID, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJob(w, r, http.StatusOK, job, true)
	return nil
}

// jobAction serves a job endpoint that takes no body (nothing or {}): it calls act with the
// caller and the job's ID and answers with the job.
func jobAction(w http.ResponseWriter, r *http.Request, act func(ctx context.Context, agentID, jobID string) (*justpay.Job, error)) error {
	if err := decodeNone(w, r); err != nil {
		return err
	}
	job, err := act(r.Context(), principalFrom(r.Context()).Agent.ID, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJob(w, r, http.StatusOK, job, false)
	return nil
}

// handleAcceptJob serves POST /api/v1/jobs/{id}/accept: the provider takes a pending direct job.
func (s *Server) handleAcceptJob(w http.ResponseWriter, r *http.Request) error {
	return jobAction(w, r, s.Jobs.AcceptJob)
}

// handleAcceptDelivery serves POST /api/v1/jobs/{id}/accept-delivery: the client releases the
// escrow to the provider.
func (s *Server) handleAcceptDelivery(w http.ResponseWriter, r *http.Request) error {
	return jobAction(w, r, s.Jobs.AcceptDelivery)
}

// handleCancelJob serves POST /api/v1/jobs/{id}/cancel: the client is refunded in full.
func (s *Server) handleCancelJob(w http.ResponseWriter, r *http.Request) error {
	return jobAction(w, r, s.Jobs.CancelJob)
}

// handleAcceptApplication serves POST /api/v1/jobs/{id}/applications/{appId}/accept: the client
// assigns the applicant as provider.
func (s *Server) handleAcceptApplication(w http.ResponseWriter, r *http.Request) error {
	return jobAction(w, r, func(ctx context.Context, clientID, jobID string) (*justpay.Job, error) {
		return s.Jobs.AcceptApplication(ctx, clientID, jobID, r.PathValue("appId"))
	})
}

// deliverRequest is the body of POST /api/v1/jobs/{id}/deliver.
type deliverRequest struct {
	Output json.RawMessage `json:"output"`
}

// handleDeliverJob serves POST /api/v1/jobs/{id}/deliver.
func (s *Server) handleDeliverJob(w http.ResponseWriter, r *http.Request) error {
	var req deliverRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if err := requireDocument("output", req.Output); err != nil {
		return err
	}
	job, err := s.Jobs.DeliverJob(r.Context(), principalFrom(r.Context()).Agent.ID, r.PathValue("id"), req.Output)
	if err != nil {
		return err
	}
	writeJob(w, r, http.StatusOK, job, false)
	return nil
}

// applyRequest is the body of POST /api/v1/jobs/{id}/apply; the whole body is optional.
type applyRequest struct {
	Message string `json:"message"`
}

// handleApplyToJob serves POST /api/v1/jobs/{id}/apply.
func (s *Server) handleApplyToJob(w http.ResponseWriter, r *http.Request) error {
	var req applyRequest
	if err := decodeOptional(w, r, &req); err != nil {
		return err
	}
	app, err := s.Jobs.ApplyToJob(r.Context(), principalFrom(r.Context()).Agent.ID, r.PathValue("id"), req.Message)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, newApplicationResponse(app))
	return nil
}

// rateRequest is the body of POST /api/v1/jobs/{id}/rate.
type rateRequest struct {
	Score   *int     `json:"score"`
	Comment string   `json:"comment"`
	Tags    []string `json:"tags"`
}

// handleRateJob serves POST /api/v1/jobs/{id}/rate.
func (s *Server) handleRateJob(w http.ResponseWriter, r *http.Request) error {
	var req rateRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if req.Score == nil {
		return justpay.Errorf(justpay.EINVALID, "score is required: a whole number from 1 to 5")
	}
	rating, err := s.Jobs.RateJob(r.Context(), principalFrom(r.Context()).Agent.ID, r.PathValue("id"),
		justpay.NewRating{Score: *req.Score, Comment: req.Comment, Tags: req.Tags})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, struct {
		ID           string   `json:"id"`
		JobID        string   `json:"jobId"`
		RaterAgentID string   `json:"raterAgentId"`
		RateeAgentID string   `json:"rateeAgentId"`
		Score        int      `json:"score"`
		Comment      *string  `json:"comment"`
		Tags         []string `json:"tags"`
		CreatedAt    string   `json:"createdAt"`
	}{
		ID:           rating.ID,
		JobID:        rating.JobID,
		RaterAgentID: rating.RaterID,
		RateeAgentID: rating.RateeID,
		Score:        rating.Score,
		Comment:      nullString(rating.Comment),
		Tags:         nonNil(rating.Tags),
		CreatedAt:    justpay.FormatTime(rating.CreatedAt),
	})
	return nil
}
