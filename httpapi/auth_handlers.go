package httpapi

import (
	"net/http"

	"github.com/justpay/justpay"
)

// registerRequest is the body of POST /api/v1/auth/register.
type registerRequest struct {
	Name         string   `json:"name"`
	Description  string   `json:"description"`
	Capabilities []string `json:"capabilities"`
	CallbackURL  string   `json:"callbackUrl"`
	Email        string   `json:"email"`
	Password     string   `json:"password"`
}

type activationInfo struct {
	Status       string `json:"status"`
	Fee          string `json:"fee"`
	Instructions string `json:"instructions"`
}

type registerResponse struct {
	AgentID       string         `json:"agentId"`
	Name          string         `json:"name"`
	APIKey        string         `json:"apiKey"`
	WalletAddress string         `json:"walletAddress"`
	Activated     bool           `json:"activated"`
	ActivationFee string         `json:"activationFee"`
	Activation    activationInfo `json:"activation"`
	// WebhookSecret signs the agent's webhook deliveries; like the API key it is shown only here.
	WebhookSecret string `json:"webhookSecret"`
}

// handleRegister serves POST /api/v1/auth/register.
func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) error {
	var req registerRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	webhookSecret := justpay.NewWebhookSecret()
	agent, _, apiKey, err := s.Agents.RegisterAgent(r.Context(), justpay.AgentRegistration{
		Name:          req.Name,
		Description:   req.Description,
		Capabilities:  req.Capabilities,
		CallbackURL:   req.CallbackURL,
		Email:         req.Email,
		Password:      req.Password,
		WebhookSecret: webhookSecret,
	})
	if err != nil {
		return err
	}
	fee := justpay.FormatUSDC(justpay.ActivationFee)
	writeJSON(w, http.StatusCreated, registerResponse{
		AgentID:       agent.ID,
		Name:          agent.Name,
		APIKey:        apiKey,
		WalletAddress: agent.DepositAddress,
		Activated:     agent.Activated,
		ActivationFee: fee,
		Activation: activationInfo{
			Status:       "pending", // a new agent is never activated
			Fee:          fee,
			Instructions: "Send at least 1 USDC to your wallet address to activate",
		},
		WebhookSecret: webhookSecret,
	})
	return nil
}

// createKeyRequest is the body of POST /api/v1/auth/keys; the whole body is optional.
type createKeyRequest struct {
	Name string `json:"name"`
}

type createKeyResponse struct {
	APIKey    string `json:"apiKey"`
	KeyPrefix string `json:"keyPrefix"`
	KeyID     string `json:"keyId"`
	Name      string `json:"name"`
	CreatedAt string `json:"createdAt"`
}

// handleCreateAPIKey serves POST /api/v1/auth/keys.
func (s *Server) handleCreateAPIKey(w http.ResponseWriter, r *http.Request) error {
	var req createKeyRequest
	if err := decodeOptional(w, r, &req); err != nil {
		return err
	}
	p := principalFrom(r.Context())
	key, apiKey, err := s.Agents.CreateAPIKey(r.Context(), p.Agent.ID, req.Name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, createKeyResponse{
		APIKey:    apiKey,
		KeyPrefix: key.Prefix,
		KeyID:     key.ID,
		Name:      key.Name,
		CreatedAt: justpay.FormatTime(key.CreatedAt),
	})
	return nil
}

type keyResponse struct {
	KeyID      string  `json:"keyId"`
	Name       string  `json:"name"`
	KeyPrefix  string  `json:"keyPrefix"`
	CreatedAt  string  `json:"createdAt"`
	LastUsedAt *string `json:"lastUsedAt"`
	RevokedAt  *string `json:"revokedAt"`
	Active     bool    `json:"active"`
}

// handleListAPIKeys serves GET /api/v1/auth/keys, an addition to the spec so that agents can find
// the keyId to revoke.
func (s *Server) handleListAPIKeys(w http.ResponseWriter, r *http.Request) error {
	p := principalFrom(r.Context())
	keys, err := s.Agents.FindAPIKeys(r.Context(), p.Agent.ID)
	if err != nil {
		return err
	}
	out := make([]keyResponse, 0, len(keys))
	for _, k := range keys {
		out = append(out, keyResponse{
			KeyID:      k.ID,
			Name:       k.Name,
			KeyPrefix:  k.Prefix,
			CreatedAt:  justpay.FormatTime(k.CreatedAt),
			LastUsedAt: formatTimePtr(k.LastUsedAt),
			RevokedAt:  formatTimePtr(k.RevokedAt),
			Active:     k.RevokedAt == nil,
		})
	}
	writeJSON(w, http.StatusOK, struct {
		Keys []keyResponse `json:"keys"`
	}{out})
	return nil
}

// handleRevokeAPIKey serves DELETE /api/v1/auth/keys/{keyId}.
func (s *Server) handleRevokeAPIKey(w http.ResponseWriter, r *http.Request) error {
	p := principalFrom(r.Context())
	keyID := r.PathValue("keyId")
	if err := s.Agents.RevokeAPIKey(r.Context(), p.Agent.ID, keyID); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		Message string `json:"message"`
		KeyID   string `json:"keyId"`
	}{"API key revoked", keyID})
	return nil
}

// handleVerify serves GET /api/v1/auth/verify.
func (s *Server) handleVerify(w http.ResponseWriter, r *http.Request) error {
	p := principalFrom(r.Context())
	writeJSON(w, http.StatusOK, struct {
		Valid   bool   `json:"valid"`
		AgentID string `json:"agentId"`
		Name    string `json:"name"`
	}{true, p.Agent.ID, p.Agent.Name})
	return nil
}
