package httpapi

import (
	"net/http"

	"github.com/justpay/justpay"
)

type statsResponse struct {
	Agents struct {
		Total     int64 `json:"total"`
		Activated int64 `json:"activated"`
	} `json:"agents"`
	Services struct {
		Active int64 `json:"active"`
	} `json:"services"`
	Jobs struct {
		Total     int64 `json:"total"`
		Completed int64 `json:"completed"`
	} `json:"jobs"`
	Proposals struct {
		Open int64 `json:"open"`
	} `json:"proposals"`
	Volume struct {
		Total string `json:"total"`
	} `json:"volume"`
	DevMode   bool   `json:"devMode"`
	Timestamp string `json:"timestamp"`
}

// handleStats serves GET /api/v1/stats.
func (s *Server) handleStats(w http.ResponseWriter, r *http.Request) error {
	st, err := s.Stats.Stats(r.Context())
	if err != nil {
		return err
	}
	var out statsResponse
	out.Agents.Total = st.AgentsTotal
	out.Agents.Activated = st.AgentsActivated
	out.Services.Active = st.ServicesActive
	out.Jobs.Total = st.JobsTotal
	out.Jobs.Completed = st.JobsCompleted
	out.Proposals.Open = st.ProposalsOpen
	out.Volume.Total = justpay.FormatMicro(st.VolumeTotal)
	out.DevMode = s.Dev != nil
	out.Timestamp = justpay.FormatTime(s.Clock.Now())
	writeJSON(w, http.StatusOK, out)
	return nil
}

// handleHealthz serves GET /healthz: 200 when Ready says so, 503 otherwise.
func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) error {
	if s.Ready != nil {
		if err := s.Ready(r.Context()); err != nil {
			s.Logger.WarnContext(r.Context(), "not ready", "err", err)
			writeJSON(w, http.StatusServiceUnavailable, errorResponse{Error: "not ready"})
			return nil
		}
	}
	writeJSON(w, http.StatusOK, struct {
		Status string `json:"status"`
	}{"ok"})
	return nil
}
