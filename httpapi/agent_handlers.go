package httpapi

import (
	"math"
	"net/http"

	"github.com/justpay/justpay"
)

// walletBalances are the balances block of the full profile.
type walletBalances struct {
	Available string `json:"available"`
	Pending   string `json:"pending"`
	Escrowed  string `json:"escrowed"`
	Total     string `json:"total"`
}

func newWalletBalances(b *justpay.Balance) walletBalances {
	return walletBalances{
		Available: justpay.FormatMicro(b.Available),
		Pending:   justpay.FormatMicro(b.Pending),
		Escrowed:  justpay.FormatMicro(b.Escrowed),
		Total:     justpay.FormatMicro(b.Total()),
	}
}

// profileResponse is an agent's full profile, shown only to the agent itself.
type profileResponse struct {
	ID                      string         `json:"id"`
	Name                    string         `json:"name"`
	Description             *string        `json:"description"`
	Capabilities            []string       `json:"capabilities"`
	CallbackURL             *string        `json:"callbackUrl"`
	Email                   *string        `json:"email"`
	AvatarURL               *string        `json:"avatarUrl"`
	WebsiteURL              *string        `json:"websiteUrl"`
	Activated               bool           `json:"activated"`
	ActivatedAt             *string        `json:"activatedAt"`
	Verified                bool           `json:"verified"`
	WalletAddress           string         `json:"walletAddress"`
	WithdrawalAddress       *string        `json:"withdrawalAddress"`
	EmergencyAddress        *string        `json:"emergencyAddress"`
	WithdrawalCooldownUntil *string        `json:"withdrawalCooldownUntil"`
	CreatedAt               string         `json:"createdAt"`
	UpdatedAt               string         `json:"updatedAt"`
	Wallet                  walletBalances `json:"wallet"`
	agentReputation
}

// agentReputation is what an agent's jobs, ratings, disputes and reports say about it, in both
// profiles: its trust score, its client reputation and the warning badge of its pending reports.
type agentReputation struct {
	CompletedJobs      int64    `json:"completedJobs"`
	AverageRating      *float64 `json:"averageRating"`
	RatingCount        int64    `json:"ratingCount"`
	TrustScore         float64  `json:"trustScore"`
	TotalDisputesFiled int64    `json:"totalDisputesFiled"`
	ClientDisputeRate  float64  `json:"clientDisputeRate"`
	ClientRestricted   bool     `json:"clientRestricted"`
	PendingReportCount int64    `json:"pendingReportCount"`
	Warning            *string  `json:"warning"`
}

func newAgentReputation(a *justpay.Agent) agentReputation {
	return agentReputation{
		CompletedJobs:      a.CompletedJobs,
		AverageRating:      a.AverageRating(),
		RatingCount:        a.RatingCount,
		TrustScore:         a.TrustScore(),
		TotalDisputesFiled: a.DisputesFiled,
		ClientDisputeRate:  math.Round(a.ClientDisputeRate()*1000) / 1000,
		ClientRestricted:   a.ClientRestricted(),
		PendingReportCount: a.PendingReports,
		Warning:            nullString(a.Warning()),
	}
}

func newProfileResponse(a *justpay.Agent, b *justpay.Balance) profileResponse {
	return profileResponse{
		ID:                      a.ID,
		Name:                    a.Name,
		Description:             nullString(a.Description),
		Capabilities:            nonNil(a.Capabilities),
		CallbackURL:             nullString(a.CallbackURL),
		Email:                   nullString(a.Email),
		AvatarURL:               nullString(a.AvatarURL),
		WebsiteURL:              nullString(a.WebsiteURL),
		Activated:               a.Activated,
		ActivatedAt:             formatTimePtr(a.ActivatedAt),
		Verified:                a.Verified,
		WalletAddress:           a.DepositAddress,
		WithdrawalAddress:       nullString(a.WithdrawalAddress),
		EmergencyAddress:        nullString(a.EmergencyAddress),
		WithdrawalCooldownUntil: formatTimePtr(a.WithdrawalCooldownUntil),
		CreatedAt:               justpay.FormatTime(a.CreatedAt),
		UpdatedAt:               justpay.FormatTime(a.UpdatedAt),
		Wallet:                  newWalletBalances(b),
		agentReputation:         newAgentReputation(a),
	}
}

// writeProfile answers with the agent's full profile, read fresh with its balances.
func (s *Server) writeProfile(w http.ResponseWriter, r *http.Request, agentID string) error {
	balance, agent, err := s.Wallet.Balance(r.Context(), agentID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newProfileResponse(agent, balance))
	return nil
}

// handleGetMe serves GET /api/v1/agents/me.
func (s *Server) handleGetMe(w http.ResponseWriter, r *http.Request) error {
	return s.writeProfile(w, r, principalFrom(r.Context()).Agent.ID)
}

// updateAgentRequest is the body of PATCH /api/v1/agents/me. Every field is optional. A field sent
// as null clears it: the text fields become empty (and read back as null), capabilities become [].
type updateAgentRequest struct {
	Description  nullable[string]   `json:"description"`
	AvatarURL    nullable[string]   `json:"avatarUrl"`
	WebsiteURL   nullable[string]   `json:"websiteUrl"`
	Capabilities nullable[[]string] `json:"capabilities"`
	CallbackURL  nullable[string]   `json:"callbackUrl"`
}

// update converts the request to the domain's AgentUpdate: absent fields stay nil.
func (req *updateAgentRequest) update() justpay.AgentUpdate {
	str := func(n nullable[string]) *string {
		if !n.Set {
			return nil
		}
		v := n.Value // "" when null
		return &v
	}
	var upd justpay.AgentUpdate
	upd.Description = str(req.Description)
	upd.AvatarURL = str(req.AvatarURL)
	upd.WebsiteURL = str(req.WebsiteURL)
	upd.CallbackURL = str(req.CallbackURL)
	if req.Capabilities.Set {
		caps := nonNil(req.Capabilities.Value)
		upd.Capabilities = &caps
	}
	return upd
}

// handleUpdateMe serves PATCH /api/v1/agents/me and answers with the updated full profile.
func (s *Server) handleUpdateMe(w http.ResponseWriter, r *http.Request) error {
	var req updateAgentRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	p := principalFrom(r.Context())
	if _, err := s.Agents.UpdateAgent(r.Context(), p.Agent.ID, req.update()); err != nil {
		return err
	}
	return s.writeProfile(w, r, p.Agent.ID)
}

// publicProfileResponse is what anyone may see of an agent: never email, addresses or balances.
type publicProfileResponse struct {
	ID           string   `json:"id"`
	Name         string   `json:"name"`
	Description  *string  `json:"description"`
	Capabilities []string `json:"capabilities"`
	AvatarURL    *string  `json:"avatarUrl"`
	WebsiteURL   *string  `json:"websiteUrl"`
	Activated    bool     `json:"activated"`
	Verified     bool     `json:"verified"`
	CreatedAt    string   `json:"createdAt"`
	agentReputation
}

// handleGetAgent serves GET /api/v1/agents/{id}.
func (s *Server) handleGetAgent(w http.ResponseWriter, r *http.Request) error {
	a, err := s.Agents.FindAgentByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, publicProfileResponse{
		ID:              a.ID,
		Name:            a.Name,
		Description:     nullString(a.Description),
		Capabilities:    nonNil(a.Capabilities),
		AvatarURL:       nullString(a.AvatarURL),
		WebsiteURL:      nullString(a.WebsiteURL),
		Activated:       a.Activated,
		Verified:        a.Verified,
		CreatedAt:       justpay.FormatTime(a.CreatedAt),
		agentReputation: newAgentReputation(a),
	})
	return nil
}

// ratingResponse is one rating an agent received.
type ratingResponse struct {
	ID           string   `json:"id"`
	JobID        string   `json:"jobId"`
	RaterAgentID string   `json:"raterAgentId"`
	RaterName    string   `json:"raterName"`
	Score        int      `json:"score"`
	Comment      *string  `json:"comment"`
	Tags         []string `json:"tags"`
	CreatedAt    string   `json:"createdAt"`
}

// handleAgentRatings serves GET /api/v1/agents/{id}/ratings: the ratings the agent received,
// newest first, with its average and count from the agent's own counters.
func (s *Server) handleAgentRatings(w http.ResponseWriter, r *http.Request) error {
	page, err := parsePage(r)
	if err != nil {
		return err
	}
	agent, err := s.Agents.FindAgentByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	ratings, total, err := s.Jobs.FindRatings(r.Context(), agent.ID, page)
	if err != nil {
		return err
	}
	out := make([]ratingResponse, 0, len(ratings))
	for _, rt := range ratings {
		out = append(out, ratingResponse{
			ID:           rt.ID,
			JobID:        rt.JobID,
			RaterAgentID: rt.RaterID,
			RaterName:    rt.RaterName,
			Score:        rt.Score,
			Comment:      nullString(rt.Comment),
			Tags:         nonNil(rt.Tags),
			CreatedAt:    justpay.FormatTime(rt.CreatedAt),
		})
	}
	writeJSON(w, http.StatusOK, struct {
		Ratings       []ratingResponse `json:"ratings"`
		AverageRating *float64         `json:"averageRating"`
		TotalRatings  int64            `json:"totalRatings"`
		Pagination    pagination       `json:"pagination"`
	}{out, agent.AverageRating(), agent.RatingCount, newPagination(page, total)})
	return nil
}
