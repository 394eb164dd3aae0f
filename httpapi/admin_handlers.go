package httpapi

import (
	"net/http"

	"github.com/justpay/justpay"
)

type ledgerReportResponse struct {
	OK           bool              `json:"ok"`
	Transactions int64             `json:"transactions"`
	Postings     int64             `json:"postings"`
	Accounts     int64             `json:"accounts"`
	Totals       map[string]string `json:"totals"`
	Problems     []string          `json:"problems"`
}

// handleVerifyLedger serves GET /api/v1/admin/ledger/verify: the ledger invariant check.
func (s *Server) handleVerifyLedger(w http.ResponseWriter, r *http.Request) error {
	rep, err := s.Ledger.VerifyLedger(r.Context())
	if err != nil {
		return err
	}
	totals := make(map[string]string, len(rep.Totals))
	for account, v := range rep.Totals {
		totals[account] = justpay.FormatMicro(v)
	}
	writeJSON(w, http.StatusOK, ledgerReportResponse{
		OK:           rep.OK(),
		Transactions: rep.Transactions,
		Postings:     rep.Postings,
		Accounts:     rep.Accounts,
		Totals:       totals,
		Problems:     nonNil(rep.Problems),
	})
	return nil
}
