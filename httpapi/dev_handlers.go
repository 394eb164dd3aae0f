package httpapi

import (
	"net/http"
	"time"

	"github.com/justpay/justpay"
)

// maxClockAdvance is the largest single step of POST /dev/clock/advance: 366 days, in seconds.
const maxClockAdvance = 366 * 24 * 60 * 60

// devTransferRequest is the body of POST /dev/chain/transfer.
type devTransferRequest struct {
	From   string       `json:"from"`
	To     string       `json:"to"`
	Amount *microAmount `json:"amount"`
}

// handleDevTransfer serves POST /dev/chain/transfer: a simulated, finalized USDC transfer.
func (s *Server) handleDevTransfer(w http.ResponseWriter, r *http.Request) error {
	var req devTransferRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if req.From == "" || req.To == "" {
		return justpay.Errorf(justpay.EINVALID, "from and to are required: base58 Solana addresses")
	}
	amount, err := requirePositive("amount", req.Amount)
	if err != nil {
		return err
	}
	sig, err := s.Dev.Transfer(r.Context(), req.From, req.To, amount)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		Signature string `json:"signature"`
	}{sig})
	return nil
}

// devAdvanceRequest is the body of POST /dev/clock/advance.
type devAdvanceRequest struct {
	Seconds *int64 `json:"seconds"`
}

// handleDevAdvanceClock serves POST /dev/clock/advance: moves the server's clock forward.
func (s *Server) handleDevAdvanceClock(w http.ResponseWriter, r *http.Request) error {
	var req devAdvanceRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if req.Seconds == nil || *req.Seconds < 1 || *req.Seconds > maxClockAdvance {
		return justpay.Errorf(justpay.EINVALID, "seconds must be a whole number from 1 to %d", maxClockAdvance)
	}
	now, err := s.Dev.AdvanceClock(r.Context(), time.Duration(*req.Seconds)*time.Second)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		Now string `json:"now"`
	}{justpay.FormatTime(now)})
	return nil
}
