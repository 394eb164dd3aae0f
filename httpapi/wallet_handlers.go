package httpapi

import (
	"fmt"
	"net/http"

	"github.com/justpay/justpay"
)

type balanceResponse struct {
	walletBalances
	WithdrawalAddress *string  `json:"withdrawalAddress"`
	Warnings          []string `json:"warnings,omitempty"`
}

// handleBalance serves GET /api/v1/wallet/balance. The warnings field appears only when there is
// something to warn about.
func (s *Server) handleBalance(w http.ResponseWriter, r *http.Request) error {
	balance, agent, err := s.Wallet.Balance(r.Context(), principalFrom(r.Context()).Agent.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, balanceResponse{
		walletBalances:    newWalletBalances(balance),
		WithdrawalAddress: nullString(agent.WithdrawalAddress),
		Warnings:          justpay.BalanceWarnings(agent, s.Clock.Now()),
	})
	return nil
}

// handleDepositAddress serves GET /api/v1/wallet/deposit-address.
func (s *Server) handleDepositAddress(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, struct {
		Address string `json:"address"`
		Network string `json:"network"`
		Token   string `json:"token"`
	}{principalFrom(r.Context()).Agent.DepositAddress, "solana", "USDC"})
	return nil
}

type depositResponse struct {
	Signature  string `json:"signature"`
	Amount     string `json:"amount"`
	From       string `json:"from"`
	Activation bool   `json:"activation"`
}

type depositAction struct {
	Type             string `json:"type"`
	SuggestedAddress string `json:"suggestedAddress"`
	Message          string `json:"message"`
}

type confirmDepositResponse struct {
	Message       string            `json:"message"`
	DepositsFound int               `json:"depositsFound"`
	TotalCredited string            `json:"totalCredited,omitempty"`
	Activated     bool              `json:"activated"`
	Deposits      []depositResponse `json:"deposits,omitempty"`
	Action        *depositAction    `json:"action,omitempty"`
}

// handleConfirmDeposit serves POST /api/v1/wallet/confirm-deposit (no body).
func (s *Server) handleConfirmDeposit(w http.ResponseWriter, r *http.Request) error {
	if err := decodeNone(w, r); err != nil {
		return err
	}
	res, err := s.Wallet.ConfirmDeposits(r.Context(), principalFrom(r.Context()).Agent.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newConfirmDepositResponse(res))
	return nil
}

func newConfirmDepositResponse(res *justpay.DepositResult) confirmDepositResponse {
	if len(res.Deposits) == 0 {
		return confirmDepositResponse{
			Message:   "No new deposits found. Make sure your USDC transfer is confirmed on-chain before retrying.",
			Activated: res.Activated,
		}
	}
	out := confirmDepositResponse{
		Message:       fmt.Sprintf("%d deposit(s) credited to your account", len(res.Deposits)),
		DepositsFound: len(res.Deposits),
		TotalCredited: justpay.FormatMicro(res.TotalCredited),
		Activated:     res.Activated,
		Deposits:      make([]depositResponse, 0, len(res.Deposits)),
	}
	if !res.Activated {
		out.Message += fmt.Sprintf(". Your agent is not activated yet: activation needs a single deposit of at least %s.",
			justpay.FormatUSDC(justpay.ActivationFee))
	}
	for _, d := range res.Deposits {
		out.Deposits = append(out.Deposits, depositResponse{
			Signature:  d.Signature,
			Amount:     justpay.FormatMicro(d.Amount),
			From:       d.From,
			Activation: d.Activated,
		})
	}
	if res.SuggestedAddress != "" {
		out.Action = &depositAction{
			Type:             "set_withdrawal_address",
			SuggestedAddress: res.SuggestedAddress,
			Message:          "Set your withdrawal address to receive funds: PUT /api/v1/wallet/withdrawal-address with this address (the wallet you deposited from).",
		}
	}
	return out
}

// setAddressRequest is the body of PUT /api/v1/wallet/withdrawal-address.
type setAddressRequest struct {
	Address string `json:"address"`
}

// handleSetWithdrawalAddress serves PUT /api/v1/wallet/withdrawal-address.
func (s *Server) handleSetWithdrawalAddress(w http.ResponseWriter, r *http.Request) error {
	var req setAddressRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if req.Address == "" {
		return justpay.Errorf(justpay.EINVALID, "address is required: a Solana wallet address")
	}
	change, err := s.Wallet.SetWithdrawalAddress(r.Context(), principalFrom(r.Context()).Agent.ID, req.Address)
	if err != nil {
		return err
	}
	msg := "Withdrawal address set"
	if change.Changed {
		msg = "Withdrawal address changed. 24h security cooldown started."
	}
	writeJSON(w, http.StatusOK, struct {
		Message       string  `json:"message"`
		Address       string  `json:"address"`
		CooldownUntil *string `json:"cooldownUntil"`
	}{msg, change.Address, formatTimePtr(change.CooldownUntil)})
	return nil
}

// withdrawRequest is the body of POST /api/v1/wallet/withdraw.
type withdrawRequest struct {
	Amount *microAmount `json:"amount"`
}

// handleWithdraw serves POST /api/v1/wallet/withdraw.
func (s *Server) handleWithdraw(w http.ResponseWriter, r *http.Request) error {
	var req withdrawRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	amount, err := requirePositive("amount", req.Amount)
	if err != nil {
		return err
	}
	wd, err := s.Wallet.Withdraw(r.Context(), principalFrom(r.Context()).Agent.ID, amount)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		Message       string `json:"message"`
		TransactionID string `json:"transactionId"`
		Status        string `json:"status"`
		Amount        string `json:"amount"`
		Fee           string `json:"fee"`
		NetAmount     string `json:"netAmount"`
		Address       string `json:"address"`
	}{
		Message:       "Withdrawal queued for processing",
		TransactionID: wd.ID,
		Status:        wd.Status,
		Amount:        justpay.FormatMicro(wd.Amount),
		Fee:           justpay.FormatMicro(wd.Fee),
		NetAmount:     justpay.FormatMicro(wd.NetAmount),
		Address:       wd.Address,
	})
	return nil
}

// handlePanic serves POST /api/v1/wallet/panic (no body).
func (s *Server) handlePanic(w http.ResponseWriter, r *http.Request) error {
	if err := decodeNone(w, r); err != nil {
		return err
	}
	wd, err := s.Wallet.Panic(r.Context(), principalFrom(r.Context()).Agent.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		Message          string `json:"message"`
		EmergencyAddress string `json:"emergencyAddress"`
		AmountWithdrawn  string `json:"amountWithdrawn"`
		Fee              string `json:"fee"`
		NetAmount        string `json:"netAmount"`
		TransactionID    string `json:"transactionId"`
	}{
		Message:          "Your funds have been sent to your original deposit wallet. If you have been compromised, stop using this agent and register a new one. If this was you, simply fund your wallet again — no activation fee will be charged.",
		EmergencyAddress: wd.Address,
		AmountWithdrawn:  justpay.FormatMicro(wd.Amount),
		Fee:              justpay.FormatMicro(wd.Fee),
		NetAmount:        justpay.FormatMicro(wd.NetAmount),
		TransactionID:    wd.ID,
	})
	return nil
}

type transactionResponse struct {
	ID            string  `json:"id"`
	Type          string  `json:"type"`
	Amount        string  `json:"amount"`
	Direction     string  `json:"direction"`
	ReferenceType *string `json:"referenceType"`
	ReferenceID   *string `json:"referenceId"`
	Description   string  `json:"description"`
	CreatedAt     string  `json:"createdAt"`
}

// handleTransactions serves GET /api/v1/wallet/transactions?type=&page=&limit=.
func (s *Server) handleTransactions(w http.ResponseWriter, r *http.Request) error {
	page, err := parsePage(r)
	if err != nil {
		return err
	}
	typ := r.URL.Query().Get("type")
	txs, total, err := s.Wallet.FindTransactions(r.Context(), principalFrom(r.Context()).Agent.ID,
		justpay.TransactionFilter{Type: typ, Page: page})
	if err != nil {
		return err
	}
	writeList(w, "transactions", txs, func(tx *justpay.Transaction) transactionResponse {
		return transactionResponse{
			ID:            tx.ID,
			Type:          tx.Type,
			Amount:        justpay.FormatMicro(tx.Amount),
			Direction:     tx.Direction,
			ReferenceType: nullString(tx.RefType),
			ReferenceID:   nullString(tx.RefID),
			Description:   tx.Description,
			CreatedAt:     justpay.FormatTime(tx.CreatedAt),
		}
	}, page, total)
	return nil
}
