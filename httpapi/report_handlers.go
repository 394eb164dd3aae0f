package httpapi

import (
	"net/http"

	"github.com/justpay/justpay"
)

// reportRequest is the body of POST /api/v1/reports.
type reportRequest struct {
	TargetType  string `json:"targetType"`
	TargetID    string `json:"targetId"`
	Reason      string `json:"reason"`
	Description string `json:"description"`
}

// reportResponse is a report as its reporter and admins see it.
type reportResponse struct {
	ID              string  `json:"id"`
	ReporterAgentID string  `json:"reporterAgentId"`
	TargetType      string  `json:"targetType"`
	TargetID        string  `json:"targetId"`
	TargetAgentID   string  `json:"targetAgentId"`
	Reason          string  `json:"reason"`
	Description     *string `json:"description"`
	Status          string  `json:"status"`
	Note            *string `json:"note"`
	ExpiresAt       *string `json:"expiresAt"`
	CreatedAt       string  `json:"createdAt"`
	ResolvedAt      *string `json:"resolvedAt"`
}

func newReportResponse(r *justpay.Report) reportResponse {
	return reportResponse{
		ID:              r.ID,
		ReporterAgentID: r.ReporterID,
		TargetType:      r.TargetType,
		TargetID:        r.TargetID,
		TargetAgentID:   r.TargetAgentID,
		Reason:          r.Reason,
		Description:     nullString(r.Description),
		Status:          r.Status,
		Note:            nullString(r.Note),
		ExpiresAt:       formatTimePtr(r.ExpiresAt),
		CreatedAt:       justpay.FormatTime(r.CreatedAt),
		ResolvedAt:      formatTimePtr(r.ResolvedAt),
	}
}

// handleSubmitReport serves POST /api/v1/reports: 201 with the report.
func (s *Server) handleSubmitReport(w http.ResponseWriter, r *http.Request) error {
	var req reportRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	rep, err := s.Reports.SubmitReport(r.Context(), principalFrom(r.Context()).Agent.ID, justpay.NewReport{
		TargetType: req.TargetType, TargetID: req.TargetID, Reason: req.Reason, Description: req.Description})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, newReportResponse(rep))
	return nil
}

// handleAdminReports serves GET /api/v1/admin/reports?status=&page=&limit=, oldest first.
func (s *Server) handleAdminReports(w http.ResponseWriter, r *http.Request) error {
	page, err := parsePage(r)
	if err != nil {
		return err
	}
	reports, total, err := s.Reports.FindReports(r.Context(), r.URL.Query().Get("status"), page)
	if err != nil {
		return err
	}
	writeList(w, "reports", reports, newReportResponse, page, total)
	return nil
}

// reportNoteRequest is the optional body of POST /api/v1/admin/reports/{id}/dismiss and /action.
type reportNoteRequest struct {
	Note string `json:"note"`
}

// handleCloseReport serves POST /api/v1/admin/reports/{id}/dismiss and .../action (actioned says
// which), with an optional {"note": "..."}.
func (s *Server) handleCloseReport(actioned bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		var req reportNoteRequest
		if err := decodeOptional(w, r, &req); err != nil {
			return err
		}
		closeReport := s.Reports.DismissReport
		if actioned {
			closeReport = s.Reports.ActionReport
		}
		rep, err := closeReport(r.Context(), r.PathValue("id"), req.Note)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, newReportResponse(rep))
		return nil
	}
}
