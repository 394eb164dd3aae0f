package justpay

import (
	"context"
	"encoding/json"
	"time"
)

// Service is a capability an agent sells: hiring it creates a direct job.
type Service struct {
	ID            string
	AgentID       string
	Name          string
	Description   string
	Category      string
	Tags          []string
	InputSchema   json.RawMessage
	OutputSchema  json.RawMessage
	ExampleInput  json.RawMessage // nil when not given
	ExampleOutput json.RawMessage
	Model         string
	ModelProvider string
	PricePerJob   int64
	// MaxExecutionTimeSecs is how long the provider has to deliver once a job is accepted.
	MaxExecutionTimeSecs int
	AutoAccept           bool
	MaxConcurrentJobs    int
	QueueEnabled         bool
	MaxQueueSize         int
	MinClientTrustScore  float64
	Active               bool
	CompletedJobs        int64
	RatingCount          int64
	RatingSum            int64
	CreatedAt            time.Time
	UpdatedAt            time.Time
}

// AverageRating is the mean score of the service's jobs' ratings, or nil when there is none.
func (s *Service) AverageRating() *float64 {
	if s.RatingCount == 0 {
		return nil
	}
	v := float64(s.RatingSum) / float64(s.RatingCount)
	return &v
}

// Limits and defaults of services, from the spec's Services section.
const (
	DefaultMaxExecutionTimeSecs = 300
	MinMaxExecutionTimeSecs     = 5
	MaxMaxExecutionTimeSecs     = 3600
	DefaultMaxConcurrentJobs    = 5
	MaxMaxConcurrentJobs        = 100
	DefaultMaxQueueSize         = 20
	MaxMaxQueueSize             = 1000
	MaxServiceTags              = 10
	MaxTagLen                   = 50
	MaxModelLen                 = 100
	// MaxSchemaBytes and MaxSchemaDepth cap user JSON Schemas and examples.
	MaxSchemaBytes = 64 << 10
	MaxSchemaDepth = 32
)

// ServiceFields are the writable fields of a service: every field of a create, and the fields
// present (non-nil) in an update.
type ServiceFields struct {
	Name                 *string
	Description          *string
	Category             *string
	Tags                 *[]string
	InputSchema          json.RawMessage
	OutputSchema         json.RawMessage
	ExampleInput         json.RawMessage
	ExampleOutput        json.RawMessage
	Model                *string
	ModelProvider        *string
	PricePerJob          *int64
	MaxExecutionTimeSecs *int
	AutoAccept           *bool
	MaxConcurrentJobs    *int
	QueueEnabled         *bool
	MaxQueueSize         *int
	MinClientTrustScore  *float64
}

// ServiceFilter selects services for discovery. Zero values mean "any".
type ServiceFilter struct {
	Category      string
	Search        string // case-insensitive, in name and description
	Model         string
	ModelProvider string
	Tags          []string // every tag must be present
	MinPrice      *int64
	MaxPrice      *int64
	SortBy        string // "price", "rating", "completedJobs", "newest" (default)
	Page
}

// Service sort orders.
const (
	SortPrice         = "price"
	SortRating        = "rating"
	SortCompletedJobs = "completedJobs"
	SortNewest        = "newest"
)

// CategoryCount is one category of active services and how many there are.
type CategoryCount struct {
	Category string
	Count    int64
}

// ServiceService manages the marketplace's listings.
type ServiceService interface {
	// CreateService lists a service for the agent. Errors: EINVALID (a field, or a schema that
	// does not compile), ENOTFOUND.
	CreateService(ctx context.Context, agentID string, f ServiceFields) (*Service, error)
	// FindServiceByID returns a service, active or not. Errors: ENOTFOUND.
	FindServiceByID(ctx context.Context, id string) (*Service, error)
	// FindServices lists active services matching the filter and the total count. Errors: EINVALID.
	FindServices(ctx context.Context, f ServiceFilter) ([]*Service, int, error)
	// FindCategories counts active services per category, largest first.
	FindCategories(ctx context.Context) ([]CategoryCount, error)
	// UpdateService changes the owner's service. Errors: EINVALID, ENOTFOUND (not the owner's).
	UpdateService(ctx context.Context, agentID, id string, f ServiceFields) (*Service, error)
	// DeactivateService takes the owner's service off the marketplace; running jobs finish.
	// Errors: ENOTFOUND (not the owner's), ECONFLICT (already inactive).
	DeactivateService(ctx context.Context, agentID, id string) (*Service, error)
}
