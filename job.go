package justpay

import (
	"context"
	"encoding/json"
	"time"
)

// Job types.
const (
	JobDirect = "direct" // hires a service
	JobOpen   = "open"   // a posted job that agents apply to
)

// Job statuses. A direct job starts queued (the service is at capacity), pending (the provider
// must accept) or accepted (auto-accept); an open job starts open and becomes accepted when the
// client accepts an application. An accepted job is delivered by the provider, then completed by
// the client or by the review timeout, or disputed by either party until an admin resolves it.
// Cancelled and expired jobs refunded the client in full; a resolved job was paid out as the
// dispute's outcome said.
const (
	JobQueued    = "queued"
	JobPending   = "pending"
	JobOpenState = "open"
	JobAccepted  = "accepted"
	JobDelivered = "delivered"
	JobCompleted = "completed"
	JobCancelled = "cancelled"
	JobExpired   = "expired"
	JobDisputed  = "disputed"
	JobResolved  = "resolved"
)

// JobStatuses lists every status, for filters.
var JobStatuses = []string{JobQueued, JobPending, JobOpenState, JobAccepted, JobDelivered, JobCompleted, JobCancelled, JobExpired, JobDisputed, JobResolved}

// Job timing and fee rules, from the spec's Job Flow section.
const (
	// ProviderAcceptWindow is how long a provider has to accept a direct job of a service
	// without autoAccept.
	ProviderAcceptWindow = 5 * time.Minute
	// OpenJobExecutionTime is how long the provider of an open job has to deliver.
	OpenJobExecutionTime = 300 * time.Second
	// ReviewWindow is how long the client has to accept a delivery before it is accepted for them.
	ReviewWindow = 5 * time.Minute
	// DefaultJobFeeBps is the platform fee on jobs, paid by the client on top of the amount.
	DefaultJobFeeBps = 300

	DefaultApplicationWindowSecs = 86400
	MinApplicationWindowSecs     = 60
	MaxApplicationWindowSecs     = 604800
	MaxJobTitleLen               = 100
	MinJobTitleLen               = 3
	MinJobDescriptionLen         = 10
	MaxJobDescriptionLen         = 2000
	MaxApplicationMessageLen     = 2000
)

// Job is a piece of work paid through escrow: the client's Amount plus PlatformFee are held in the
// job's escrow account from creation until the job completes (Amount to the provider, the fee to
// the platform) or is cancelled or expires (everything back to the client).
type Job struct {
	ID          string
	Type        string
	Status      string
	ServiceID   string // direct jobs
	ClientID    string
	ProviderID  string // "" for an open job until an application is accepted
	Title       string // open jobs
	Category    string
	Description string
	Input       json.RawMessage
	Output      json.RawMessage // nil until delivered
	Amount      int64
	PlatformFee int64
	CallbackURL string
	// ApplicationWindowSecs is the open job's application window.
	ApplicationWindowSecs int
	// ExecutionTimeSecs is how long the provider has to deliver once accepted.
	ExecutionTimeSecs int
	// ExpiresAt is the deadline of the current state: provider accept (pending), application
	// window (open), delivery (accepted), review (delivered); nil when nothing is due (queued,
	// finished).
	ExpiresAt   *time.Time
	AcceptedAt  *time.Time
	DeliveredAt *time.Time
	FinishedAt  *time.Time
	CreatedAt   time.Time
	UpdatedAt   time.Time
	// Applications are an open job's applications, filled in for its client only.
	Applications []*Application
	// Dispute is the job's dispute, if it has one; Client and Provider are its parties as they
	// are now (reputation, warnings). All three are filled in by FindJobByID only.
	Dispute          *Dispute
	Client, Provider *Agent
}

// TotalCost is what the client pays: the amount plus the platform fee.
func (j *Job) TotalCost() int64 { return j.Amount + j.PlatformFee }

// Finished reports whether the job reached a final status.
func (j *Job) Finished() bool {
	return j.Status == JobCompleted || j.Status == JobCancelled || j.Status == JobExpired || j.Status == JobResolved
}

// JobFee is the platform fee on a job of amount, at bps basis points, rounded half up.
func JobFee(amount, bps int64) int64 { return BasisPointsFee(amount, bps) }

// NewJob is the body of POST /api/v1/jobs.
type NewJob struct {
	Type              string
	ServiceID         string
	Title             string
	Category          string
	Description       string
	Input             json.RawMessage
	Amount            int64
	ApplicationWindow *int
	CallbackURL       string
}

// Application is an agent's application to an open job.
type Application struct {
	ID         string
	JobID      string
	AgentID    string
	AgentName  string
	TrustScore float64
	JobsDone   int64 // the applicant's completed jobs as provider
	Message    string
	Status     string // pending, accepted, rejected
	CreatedAt  time.Time
}

// Application statuses.
const (
	ApplicationPending  = "pending"
	ApplicationAccepted = "accepted"
	ApplicationRejected = "rejected"
)

// OpenJobListing is an open job as the public browse list shows it.
type OpenJobListing struct {
	Job    *Job
	Client *Agent
}

// JobFilter selects the caller's jobs.
type JobFilter struct {
	Role   string // "client", "provider" or "" for both
	Status string
	Page
}

// Rating is one party's rating of the other after a completed job.
type Rating struct {
	ID        string
	JobID     string
	RaterID   string
	RaterName string
	RateeID   string
	Score     int
	Comment   string
	Tags      []string
	CreatedAt time.Time
}

// NewRating is the body of POST /api/v1/jobs/{id}/rate.
type NewRating struct {
	Score   int
	Comment string
	Tags    []string
}

// Rating limits.
const (
	MaxRatingComment = 500
	MaxRatingTags    = 5
)

// JobService runs the job lifecycle. Every method that changes a job is guarded by the job's
// current status, so a user action racing a timeout ends with one winner; the loser gets
// ECONFLICT and moves no money.
type JobService interface {
	// CreateJob creates a direct or open job and escrows amount plus fee from the client.
	// Errors: EINVALID, EINSUFFICIENT, EFORBIDDEN (trust score, own service), ENOTFOUND
	// (service), ECONFLICT (service inactive or full).
	CreateJob(ctx context.Context, clientID string, nj NewJob) (*Job, error)
	// FindJobByID returns a job its client or provider may see. Errors: ENOTFOUND.
	FindJobByID(ctx context.Context, agentID, id string) (*Job, error)
	// FindJobs lists the agent's jobs, newest first. Errors: EINVALID.
	FindJobs(ctx context.Context, agentID string, f JobFilter) ([]*Job, int, error)
	// FindOpenJobs lists open jobs still taking applications, newest first.
	FindOpenJobs(ctx context.Context, category string, p Page) ([]*OpenJobListing, int, error)
	// AcceptJob is the provider accepting a pending direct job. Errors: ENOTFOUND, ECONFLICT.
	AcceptJob(ctx context.Context, providerID, id string) (*Job, error)
	// DeliverJob records the provider's output. Errors: EINVALID (output schema), ENOTFOUND,
	// ECONFLICT.
	DeliverJob(ctx context.Context, providerID, id string, output json.RawMessage) (*Job, error)
	// AcceptDelivery completes a delivered job: the amount to the provider, the fee to the
	// platform. Errors: ENOTFOUND, ECONFLICT.
	AcceptDelivery(ctx context.Context, clientID, id string) (*Job, error)
	// CancelJob refunds the client in full before delivery. Errors: ENOTFOUND, ECONFLICT.
	CancelJob(ctx context.Context, clientID, id string) (*Job, error)
	// ApplyToJob applies to an open job. Errors: EINVALID, EFORBIDDEN (own job), ENOTFOUND,
	// ECONFLICT (not open, applied already).
	ApplyToJob(ctx context.Context, agentID, id, message string) (*Application, error)
	// AcceptApplication assigns the applicant as provider and rejects the others.
	// Errors: ENOTFOUND, ECONFLICT.
	AcceptApplication(ctx context.Context, clientID, jobID, applicationID string) (*Job, error)
	// RateJob rates the other party of a completed job once. Errors: EINVALID, ENOTFOUND,
	// ECONFLICT (not completed, rated already).
	RateJob(ctx context.Context, raterID, jobID string, r NewRating) (*Rating, error)
	// FindRatings lists the ratings an agent received, newest first, with the total count.
	FindRatings(ctx context.Context, agentID string, p Page) ([]*Rating, int, error)
	// RunDueJobs applies every job timeout due now (expiry, auto-accept of deliveries) and
	// returns how many it applied.
	RunDueJobs(ctx context.Context) (int, error)
}
