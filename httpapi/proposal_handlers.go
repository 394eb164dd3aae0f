package httpapi

import (
	"net/http"

	"github.com/justpay/justpay"
)

// createProposalRequest is the body of POST /api/v1/proposals.
type createProposalRequest struct {
	Title       string `json:"title"`
	Description string `json:"description"`
	Category    string `json:"category"`
}

// proposalResponse is a proposal as every endpoint shows it. hasVoted appears only when the
// request carried a valid API key.
type proposalResponse struct {
	ID            string `json:"id"`
	AuthorAgentID string `json:"authorAgentId"`
	AuthorName    string `json:"authorName"`
	Title         string `json:"title"`
	Description   string `json:"description"`
	Category      string `json:"category"`
	Status        string `json:"status"`
	VoteCount     int64  `json:"voteCount"`
	HasVoted      *bool  `json:"hasVoted,omitempty"`
	CreatedAt     string `json:"createdAt"`
	UpdatedAt     string `json:"updatedAt"`
}

func newProposalResponse(p *justpay.Proposal) proposalResponse {
	return proposalResponse{
		ID:            p.ID,
		AuthorAgentID: p.AuthorID,
		AuthorName:    p.AuthorName,
		Title:         p.Title,
		Description:   p.Description,
		Category:      p.Category,
		Status:        p.Status,
		VoteCount:     p.VoteCount,
		HasVoted:      p.HasVoted,
		CreatedAt:     justpay.FormatTime(p.CreatedAt),
		UpdatedAt:     justpay.FormatTime(p.UpdatedAt),
	}
}

// voteResponse is the answer of a vote and of its removal: the proposal's new count.
type voteResponse struct {
	VoteCount int64 `json:"voteCount"`
}

// handleCreateProposal serves POST /api/v1/proposals: 201 with the proposal.
func (s *Server) handleCreateProposal(w http.ResponseWriter, r *http.Request) error {
	var req createProposalRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	p, err := s.Proposals.CreateProposal(r.Context(), principalFrom(r.Context()).Agent.ID,
		justpay.NewProposal{Title: req.Title, Description: req.Description, Category: req.Category})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, newProposalResponse(p))
	return nil
}

// handleListProposals serves GET /api/v1/proposals?sort=votes|recent&status=&category=&page=&limit=,
// for anyone; an agent sending its API key also sees hasVoted on each proposal.
func (s *Server) handleListProposals(w http.ResponseWriter, r *http.Request) error {
	page, err := parsePage(r)
	if err != nil {
		return err
	}
	viewer, err := s.viewerID(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := justpay.ProposalFilter{Sort: q.Get("sort"), Status: q.Get("status"), Category: q.Get("category"), Page: page}
	proposals, total, err := s.Proposals.FindProposals(r.Context(), viewer, f)
	if err != nil {
		return err
	}
	writeList(w, "proposals", proposals, newProposalResponse, page, total)
	return nil
}

// handleGetProposal serves GET /api/v1/proposals/{id}, for anyone, with hasVoted as in the list.
func (s *Server) handleGetProposal(w http.ResponseWriter, r *http.Request) error {
	viewer, err := s.viewerID(r)
	if err != nil {
		return err
	}
	p, err := s.Proposals.FindProposal(r.Context(), viewer, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newProposalResponse(p))
	return nil
}

// handleVote serves POST /api/v1/proposals/{id}/vote, which takes no body.
func (s *Server) handleVote(w http.ResponseWriter, r *http.Request) error {
	if err := decodeNone(w, r); err != nil {
		return err
	}
	n, err := s.Proposals.Vote(r.Context(), principalFrom(r.Context()).Agent.ID, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, voteResponse{VoteCount: n})
	return nil
}

// handleUnvote serves DELETE /api/v1/proposals/{id}/vote: 409 when the caller has not voted.
func (s *Server) handleUnvote(w http.ResponseWriter, r *http.Request) error {
	if err := decodeNone(w, r); err != nil {
		return err
	}
	n, err := s.Proposals.Unvote(r.Context(), principalFrom(r.Context()).Agent.ID, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, voteResponse{VoteCount: n})
	return nil
}

// proposalStatusRequest is the body of POST /api/v1/admin/proposals/{id}/status.
type proposalStatusRequest struct {
	Status string `json:"status"`
}

// handleSetProposalStatus serves POST /api/v1/admin/proposals/{id}/status
// ({"status": "accepted" | "declined" | "shipped"}).
func (s *Server) handleSetProposalStatus(w http.ResponseWriter, r *http.Request) error {
	var req proposalStatusRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	p, err := s.Proposals.SetProposalStatus(r.Context(), r.PathValue("id"), req.Status)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newProposalResponse(p))
	return nil
}
