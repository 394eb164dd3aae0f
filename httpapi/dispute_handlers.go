package httpapi

import (
	"net/http"

	"github.com/justpay/justpay"
)

// disputeRequest is the body of POST /api/v1/jobs/{id}/dispute.
type disputeRequest struct {
	Reason      string `json:"reason"`
	Description string `json:"description"`
}

// disputeResponse is a dispute as its parties and admins see it.
type disputeResponse struct {
	ID                string  `json:"id"`
	JobID             string  `json:"jobId"`
	ClaimantAgentID   string  `json:"claimantAgentId"`
	RespondentAgentID string  `json:"respondentAgentId"`
	Reason            string  `json:"reason"`
	Description       *string `json:"description"`
	Fee               string  `json:"fee"`
	Status            string  `json:"status"`
	Outcome           *string `json:"outcome"`
	Note              *string `json:"note"`
	CreatedAt         string  `json:"createdAt"`
	ResolvedAt        *string `json:"resolvedAt"`
}

func newDisputeResponse(d *justpay.Dispute) disputeResponse {
	return disputeResponse{
		ID:                d.ID,
		JobID:             d.JobID,
		ClaimantAgentID:   d.ClaimantID,
		RespondentAgentID: d.RespondentID,
		Reason:            d.Reason,
		Description:       nullString(d.Description),
		Fee:               justpay.FormatMicro(d.Fee),
		Status:            d.Status,
		Outcome:           nullString(d.Outcome),
		Note:              nullString(d.Note),
		CreatedAt:         justpay.FormatTime(d.CreatedAt),
		ResolvedAt:        formatTimePtr(d.ResolvedAt),
	}
}

// handleDisputeJob serves POST /api/v1/jobs/{id}/dispute: 201 with the dispute.
func (s *Server) handleDisputeJob(w http.ResponseWriter, r *http.Request) error {
	var req disputeRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	d, err := s.Disputes.FileDispute(r.Context(), principalFrom(r.Context()).Agent.ID, r.PathValue("id"),
		justpay.NewDispute{Reason: req.Reason, Description: req.Description})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, newDisputeResponse(d))
	return nil
}

// handleAdminDisputes serves GET /api/v1/admin/disputes?status=&page=&limit=, oldest first.
func (s *Server) handleAdminDisputes(w http.ResponseWriter, r *http.Request) error {
	page, err := parsePage(r)
	if err != nil {
		return err
	}
	disputes, total, err := s.Disputes.FindDisputes(r.Context(), r.URL.Query().Get("status"), page)
	if err != nil {
		return err
	}
	writeList(w, "disputes", disputes, newDisputeResponse, page, total)
	return nil
}

// resolveRequest is the body of POST /api/v1/admin/disputes/{id}/resolve.
type resolveRequest struct {
	Outcome string `json:"outcome"`
	Note    string `json:"note"`
}

// handleResolveDispute serves POST /api/v1/admin/disputes/{id}/resolve.
func (s *Server) handleResolveDispute(w http.ResponseWriter, r *http.Request) error {
	var req resolveRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	d, err := s.Disputes.ResolveDispute(r.Context(), r.PathValue("id"), justpay.Resolution{Outcome: req.Outcome, Note: req.Note})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newDisputeResponse(d))
	return nil
}

// adminAgentResponse is an agent as the admin API shows it: its public profile and the admin's
// flags.
type adminAgentResponse struct {
	ID               string  `json:"id"`
	Name             string  `json:"name"`
	Verified         bool    `json:"verified"`
	Restricted       bool    `json:"restricted"`
	RestrictedReason *string `json:"restrictedReason"`
	agentReputation
}

func writeAdminAgent(w http.ResponseWriter, a *justpay.Agent) {
	writeJSON(w, http.StatusOK, adminAgentResponse{ID: a.ID, Name: a.Name, Verified: a.Verified, Restricted: a.Restricted,
		RestrictedReason: nullString(a.RestrictedReason), agentReputation: newAgentReputation(a)})
}

// handleVerifyAgent serves POST /api/v1/admin/agents/{id}/verify and .../unverify (verified says
// which).
func (s *Server) handleVerifyAgent(verified bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := decodeNone(w, r); err != nil {
			return err
		}
		a, err := s.AdminActions.SetVerified(r.Context(), r.PathValue("id"), verified)
		if err != nil {
			return err
		}
		writeAdminAgent(w, a)
		return nil
	}
}

// restrictRequest is the body of POST /api/v1/admin/agents/{id}/restrict.
type restrictRequest struct {
	Reason string `json:"reason"`
}

// handleRestrictAgent serves POST /api/v1/admin/agents/{id}/restrict ({"reason": "..."}).
func (s *Server) handleRestrictAgent(w http.ResponseWriter, r *http.Request) error {
	var req restrictRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	a, err := s.AdminActions.SetRestricted(r.Context(), r.PathValue("id"), true, req.Reason)
	if err != nil {
		return err
	}
	writeAdminAgent(w, a)
	return nil
}

// handleUnrestrictAgent serves POST /api/v1/admin/agents/{id}/unrestrict.
func (s *Server) handleUnrestrictAgent(w http.ResponseWriter, r *http.Request) error {
	if err := decodeNone(w, r); err != nil {
		return err
	}
	a, err := s.AdminActions.SetRestricted(r.Context(), r.PathValue("id"), false, "")
	if err != nil {
		return err
	}
	writeAdminAgent(w, a)
	return nil
}

// auditResponse is one admin action of the audit log.
type auditResponse struct {
	ID         string         `json:"id"`
	Action     string         `json:"action"`
	TargetType string         `json:"targetType"`
	TargetID   string         `json:"targetId"`
	Details    map[string]any `json:"details"`
	CreatedAt  string         `json:"createdAt"`
}

// handleAudit serves GET /api/v1/admin/audit?page=&limit=, newest first.
func (s *Server) handleAudit(w http.ResponseWriter, r *http.Request) error {
	page, err := parsePage(r)
	if err != nil {
		return err
	}
	records, total, err := s.AdminActions.FindAudit(r.Context(), page)
	if err != nil {
		return err
	}
	writeList(w, "records", records, func(a *justpay.AuditRecord) auditResponse {
		d := a.Details
		if d == nil {
			d = map[string]any{}
		}
		return auditResponse{ID: a.ID, Action: a.Action, TargetType: a.TargetType, TargetID: a.TargetID, Details: d, CreatedAt: justpay.FormatTime(a.CreatedAt)}
	}, page, total)
	return nil
}
