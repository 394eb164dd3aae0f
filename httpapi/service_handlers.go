package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/justpay/justpay"
)

// serviceRequest is the body of POST /api/v1/services and PATCH /api/v1/services/{id}. The
// fields are nullable so that an update can tell an absent field from a null one; the JSON
// documents are passed on as sent (nil when absent, null when null), for the service to judge.
type serviceRequest struct {
	Name                 nullable[string]      `json:"name"`
	Description          nullable[string]      `json:"description"`
	Category             nullable[string]      `json:"category"`
	Tags                 nullable[[]string]    `json:"tags"`
	InputSchema          json.RawMessage       `json:"inputSchema"`
	OutputSchema         json.RawMessage       `json:"outputSchema"`
	ExampleInput         json.RawMessage       `json:"exampleInput"`
	ExampleOutput        json.RawMessage       `json:"exampleOutput"`
	Model                nullable[string]      `json:"model"`
	ModelProvider        nullable[string]      `json:"modelProvider"`
	PricePerJob          nullable[microAmount] `json:"pricePerJob"`
	MaxExecutionTimeSecs nullable[int]         `json:"maxExecutionTimeSecs"`
	AutoAccept           nullable[bool]        `json:"autoAccept"`
	MaxConcurrentJobs    nullable[int]         `json:"maxConcurrentJobs"`
	QueueEnabled         nullable[bool]        `json:"queueEnabled"`
	MaxQueueSize         nullable[int]         `json:"maxQueueSize"`
	MinClientTrustScore  nullable[float64]     `json:"minClientTrustScore"`
}

// set returns a pointer to the value of a field given with a value, nil for an absent or null one.
func set[T any](n nullable[T]) *T {
	if !n.Set || n.Null {
		return nil
	}
	v := n.Value
	return &v
}

// fields converts the request to ServiceFields. Absent and null fields stay nil: a create fills
// them with the documented defaults or refuses a missing required one.
func (req *serviceRequest) fields() justpay.ServiceFields {
	f := justpay.ServiceFields{
		Name:                 set(req.Name),
		Description:          set(req.Description),
		Category:             set(req.Category),
		Tags:                 set(req.Tags),
		InputSchema:          req.InputSchema,
		OutputSchema:         req.OutputSchema,
		ExampleInput:         req.ExampleInput,
		ExampleOutput:        req.ExampleOutput,
		Model:                set(req.Model),
		ModelProvider:        set(req.ModelProvider),
		MaxExecutionTimeSecs: set(req.MaxExecutionTimeSecs),
		AutoAccept:           set(req.AutoAccept),
		MaxConcurrentJobs:    set(req.MaxConcurrentJobs),
		QueueEnabled:         set(req.QueueEnabled),
		MaxQueueSize:         set(req.MaxQueueSize),
		MinClientTrustScore:  set(req.MinClientTrustScore),
	}
	if p := set(req.PricePerJob); p != nil {
		price := int64(*p)
		f.PricePerJob = &price
	}
	return f
}

// updateFields are the fields of an update. null clears tags, model and modelProvider (the
// service judges null documents itself); for the other fields, which have no empty value, null is
// refused here, where it can still be told from absence.
func (req *serviceRequest) updateFields() (justpay.ServiceFields, error) {
	for _, n := range []struct {
		name string
		null bool
	}{
		{"name", req.Name.Null}, {"description", req.Description.Null}, {"category", req.Category.Null},
		{"pricePerJob", req.PricePerJob.Null}, {"maxExecutionTimeSecs", req.MaxExecutionTimeSecs.Null},
		{"autoAccept", req.AutoAccept.Null}, {"maxConcurrentJobs", req.MaxConcurrentJobs.Null},
		{"queueEnabled", req.QueueEnabled.Null}, {"maxQueueSize", req.MaxQueueSize.Null},
		{"minClientTrustScore", req.MinClientTrustScore.Null},
	} {
		if n.null {
			return justpay.ServiceFields{}, justpay.Errorf(justpay.EINVALID, "%s must not be null: leave it out to keep it", n.name)
		}
	}
	f := req.fields()
	empty := ""
	if req.Tags.Null {
		f.Tags = &[]string{}
	}
	if req.Model.Null {
		f.Model = &empty
	}
	if req.ModelProvider.Null {
		f.ModelProvider = &empty
	}
	return f, nil
}

// serviceResponse is a service as every endpoint shows it.
type serviceResponse struct {
	ID                   string          `json:"id"`
	AgentID              string          `json:"agentId"`
	Name                 string          `json:"name"`
	Description          string          `json:"description"`
	Category             string          `json:"category"`
	Tags                 []string        `json:"tags"`
	InputSchema          json.RawMessage `json:"inputSchema"`
	OutputSchema         json.RawMessage `json:"outputSchema"`
	ExampleInput         json.RawMessage `json:"exampleInput"`
	ExampleOutput        json.RawMessage `json:"exampleOutput"`
	Model                *string         `json:"model"`
	ModelProvider        *string         `json:"modelProvider"`
	PricePerJob          string          `json:"pricePerJob"`
	MaxExecutionTimeSecs int             `json:"maxExecutionTimeSecs"`
	AutoAccept           bool            `json:"autoAccept"`
	MaxConcurrentJobs    int             `json:"maxConcurrentJobs"`
	QueueEnabled         bool            `json:"queueEnabled"`
	MaxQueueSize         int             `json:"maxQueueSize"`
	MinClientTrustScore  float64         `json:"minClientTrustScore"`
	Active               bool            `json:"active"`
	CompletedJobs        int64           `json:"completedJobs"`
	AverageRating        *float64        `json:"averageRating"`
	RatingCount          int64           `json:"ratingCount"`
	CreatedAt            string          `json:"createdAt"`
	UpdatedAt            string          `json:"updatedAt"`
}

// rawJSON passes a stored JSON document through verbatim; absent is JSON null.
func rawJSON(doc json.RawMessage) json.RawMessage {
	if len(doc) == 0 {
		return json.RawMessage("null")
	}
	return doc
}

func newServiceResponse(s *justpay.Service) serviceResponse {
	return serviceResponse{
		ID:                   s.ID,
		AgentID:              s.AgentID,
		Name:                 s.Name,
		Description:          s.Description,
		Category:             s.Category,
		Tags:                 nonNil(s.Tags),
		InputSchema:          rawJSON(s.InputSchema),
		OutputSchema:         rawJSON(s.OutputSchema),
		ExampleInput:         rawJSON(s.ExampleInput),
		ExampleOutput:        rawJSON(s.ExampleOutput),
		Model:                nullString(s.Model),
		ModelProvider:        nullString(s.ModelProvider),
		PricePerJob:          justpay.FormatMicro(s.PricePerJob),
		MaxExecutionTimeSecs: s.MaxExecutionTimeSecs,
		AutoAccept:           s.AutoAccept,
		MaxConcurrentJobs:    s.MaxConcurrentJobs,
		QueueEnabled:         s.QueueEnabled,
		MaxQueueSize:         s.MaxQueueSize,
		MinClientTrustScore:  s.MinClientTrustScore,
		Active:               s.Active,
		CompletedJobs:        s.CompletedJobs,
		AverageRating:        s.AverageRating(),
		RatingCount:          s.RatingCount,
		CreatedAt:            justpay.FormatTime(s.CreatedAt),
		UpdatedAt:            justpay.FormatTime(s.UpdatedAt),
	}
}

// handleCreateService serves POST /api/v1/services.
func (s *Server) handleCreateService(w http.ResponseWriter, r *http.Request) error {
	var req serviceRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	svc, err := s.Services.CreateService(r.Context(), principalFrom(r.Context()).Agent.ID, req.fields())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, newServiceResponse(svc))
	return nil
}

// handleDiscoverServices serves GET /api/v1/services/discover?page=&limit=&category=&search=
// &model=&modelProvider=&tags=a,b&minPrice=&maxPrice=&sortBy=.
func (s *Server) handleDiscoverServices(w http.ResponseWriter, r *http.Request) error {
	page, err := parsePage(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := justpay.ServiceFilter{
		Category:      q.Get("category"),
		Search:        q.Get("search"),
		Model:         q.Get("model"),
		ModelProvider: q.Get("modelProvider"),
		SortBy:        q.Get("sortBy"),
		Page:          page,
	}
	for tag := range strings.SplitSeq(q.Get("tags"), ",") {
		if tag = strings.TrimSpace(tag); tag != "" {
			f.Tags = append(f.Tags, tag)
		}
	}
	for _, p := range []struct {
		name string
		dst  **int64
	}{{"minPrice", &f.MinPrice}, {"maxPrice", &f.MaxPrice}} {
		n, ok, err := queryInt(r, p.name)
		if err != nil {
			return err
		}
		if ok {
			*p.dst = &n
		}
	}
	services, total, err := s.Services.FindServices(r.Context(), f)
	if err != nil {
		return err
	}
	writeList(w, "services", services, newServiceResponse, page, total)
	return nil
}

// handleServiceCategories serves GET /api/v1/services/categories.
func (s *Server) handleServiceCategories(w http.ResponseWriter, r *http.Request) error {
	counts, err := s.Services.FindCategories(r.Context())
	if err != nil {
		return err
	}
	type category struct {
		Category string `json:"category"`
		Count    int64  `json:"count"`
	}
	out := make([]category, 0, len(counts))
	for _, c := range counts {
		out = append(out, category{c.Category, c.Count})
	}
	writeJSON(w, http.StatusOK, struct {
		Categories []category `json:"categories"`
	}{out})
	return nil
}

// handleGetService serves GET /api/v1/services/{id}; inactive services are shown too.
func (s *Server) handleGetService(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.Services.FindServiceByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newServiceResponse(svc))
	return nil
}

// handleUpdateService serves PATCH /api/v1/services/{id} (owner only).
func (s *Server) handleUpdateService(w http.ResponseWriter, r *http.Request) error {
	var req serviceRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	f, err := req.updateFields()
	if err != nil {
		return err
	}
	svc, err := s.Services.UpdateService(r.Context(), principalFrom(r.Context()).Agent.ID, r.PathValue("id"), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newServiceResponse(svc))
	return nil
}

// handleDeactivateService serves DELETE /api/v1/services/{id} (owner only) and answers with the
// deactivated service.
func (s *Server) handleDeactivateService(w http.ResponseWriter, r *http.Request) error {
	if err := decodeNone(w, r); err != nil {
		return err
	}
	svc, err := s.Services.DeactivateService(r.Context(), principalFrom(r.Context()).Agent.ID, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newServiceResponse(svc))
	return nil
}
