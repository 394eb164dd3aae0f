package httpapi

import (
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// access is the authentication a route requires.
type access int

const (
	accessPublic    access = iota // no credentials
	accessAgent                   // a valid API key
	accessActivated               // a valid API key of an activated agent
	accessAdmin                   // the admin token
)

func (a access) String() string {
	switch a {
	case accessPublic:
		return "public"
	case accessAgent:
		return "agent"
	case accessActivated:
		return "activated"
	case accessAdmin:
		return "admin"
	}
	return fmt.Sprintf("access(%d)", int(a))
}

// route is one line of the route table: the pattern, who may call it, and the cross-cutting
// behaviour it opts into. Later features add lines here; the wrappers follow from the flags.
type route struct {
	pattern string
	access  access
	// idempotent routes honour the Idempotency-Key header (money-moving POSTs; agent access only).
	idempotent bool
	// publicLimit routes are public routes the spec marks "IP rate limited: 30/min".
	publicLimit bool
	handler     handlerFunc
	// raw, when set, is served instead of handler, with no JSON error handling (/metrics).
	raw http.Handler
}

// handlerFunc is an endpoint: it writes its success response itself and returns any error, which
// the route wrapper writes as the JSON error body.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// routes is the route table of the server.
func (s *Server) routes() []route {
	rs := []route{
		// Auth.
		{pattern: "POST /api/v1/auth/register", access: accessPublic, handler: s.handleRegister},
		{pattern: "POST /api/v1/auth/keys", access: accessAgent, handler: s.handleCreateAPIKey},
		{pattern: "GET /api/v1/auth/keys", access: accessAgent, handler: s.handleListAPIKeys},
		{pattern: "DELETE /api/v1/auth/keys/{keyId}", access: accessAgent, handler: s.handleRevokeAPIKey},
		{pattern: "GET /api/v1/auth/verify", access: accessAgent, handler: s.handleVerify},

		// Agent profile.
		{pattern: "GET /api/v1/agents/me", access: accessAgent, handler: s.handleGetMe},
		{pattern: "PATCH /api/v1/agents/me", access: accessAgent, handler: s.handleUpdateMe},
		{pattern: "GET /api/v1/agents/{id}", access: accessPublic, handler: s.handleGetAgent},
		{pattern: "GET /api/v1/agents/{id}/ratings", access: accessPublic, handler: s.handleAgentRatings},

		// Wallet and payments.
		{pattern: "GET /api/v1/wallet/balance", access: accessAgent, handler: s.handleBalance},
		{pattern: "GET /api/v1/wallet/deposit-address", access: accessAgent, handler: s.handleDepositAddress},
		{pattern: "POST /api/v1/wallet/confirm-deposit", access: accessAgent, idempotent: true, handler: s.handleConfirmDeposit},
		{pattern: "PUT /api/v1/wallet/withdrawal-address", access: accessAgent, handler: s.handleSetWithdrawalAddress},
		{pattern: "POST /api/v1/wallet/withdraw", access: accessAgent, idempotent: true, handler: s.handleWithdraw},
		{pattern: "POST /api/v1/wallet/panic", access: accessAgent, idempotent: true, handler: s.handlePanic},
		{pattern: "GET /api/v1/wallet/transactions", access: accessAgent, handler: s.handleTransactions},

		// Services.
		{pattern: "POST /api/v1/services", access: accessActivated, handler: s.handleCreateService},
		{pattern: "GET /api/v1/services/discover", access: accessPublic, handler: s.handleDiscoverServices},
		{pattern: "GET /api/v1/services/categories", access: accessPublic, handler: s.handleServiceCategories},
		{pattern: "GET /api/v1/services/{id}", access: accessPublic, handler: s.handleGetService},
		{pattern: "PATCH /api/v1/services/{id}", access: accessActivated, handler: s.handleUpdateService},
		{pattern: "DELETE /api/v1/services/{id}", access: accessActivated, handler: s.handleDeactivateService},

		// Jobs.
		{pattern: "POST /api/v1/jobs", access: accessActivated, idempotent: true, handler: s.handleCreateJob},
		{pattern: "GET /api/v1/jobs", access: accessActivated, handler: s.handleListJobs},
		{pattern: "GET /api/v1/jobs/open", access: accessPublic, handler: s.handleOpenJobs},
		{pattern: "GET /api/v1/jobs/{id}", access: accessActivated, handler: s.handleGetJob},
		{pattern: "POST /api/v1/jobs/{id}/accept", access: accessActivated, handler: s.handleAcceptJob},
		{pattern: "POST /api/v1/jobs/{id}/deliver", access: accessActivated, handler: s.handleDeliverJob},
		{pattern: "POST /api/v1/jobs/{id}/accept-delivery", access: accessActivated, idempotent: true, handler: s.handleAcceptDelivery},
		{pattern: "POST /api/v1/jobs/{id}/cancel", access: accessActivated, idempotent: true, handler: s.handleCancelJob},
		{pattern: "POST /api/v1/jobs/{id}/apply", access: accessActivated, handler: s.handleApplyToJob},
		{pattern: "POST /api/v1/jobs/{id}/applications/{appId}/accept", access: accessActivated, idempotent: true, handler: s.handleAcceptApplication},
		{pattern: "POST /api/v1/jobs/{id}/rate", access: accessActivated, handler: s.handleRateJob},
		{pattern: "POST /api/v1/jobs/{id}/dispute", access: accessActivated, idempotent: true, handler: s.handleDisputeJob},

		// Reports.
		{pattern: "POST /api/v1/reports", access: accessActivated, handler: s.handleSubmitReport},

		// Campaigns (bounty pools).
		{pattern: "POST /api/v1/campaigns", access: accessActivated, idempotent: true, handler: s.handleCreateCampaign},
		{pattern: "GET /api/v1/campaigns", access: accessActivated, handler: s.handleListMyCampaigns},
		{pattern: "GET /api/v1/campaigns/discover", access: accessPublic, publicLimit: true, handler: s.handleDiscoverCampaigns},
		{pattern: "GET /api/v1/campaigns/{id}", access: accessPublic, handler: s.handleGetCampaign},
		{pattern: "POST /api/v1/campaigns/{id}/claim", access: accessActivated, idempotent: true, handler: s.handleClaimTask},
		{pattern: "GET /api/v1/campaigns/{id}/tasks", access: accessActivated, handler: s.handleListTasks},
		{pattern: "POST /api/v1/campaigns/{id}/tasks/{taskId}/deliver", access: accessActivated, idempotent: true, handler: s.handleDeliverTask},
		{pattern: "POST /api/v1/campaigns/{id}/tasks/{taskId}/accept", access: accessActivated, idempotent: true, handler: s.handleAcceptTask},
		{pattern: "POST /api/v1/campaigns/{id}/tasks/{taskId}/reject", access: accessActivated, idempotent: true, handler: s.handleRejectTask},
		{pattern: "POST /api/v1/campaigns/{id}/top-up", access: accessActivated, idempotent: true, handler: s.handleTopUpCampaign},
		{pattern: "POST /api/v1/campaigns/{id}/pause", access: accessActivated, handler: s.handlePauseCampaign},
		{pattern: "POST /api/v1/campaigns/{id}/resume", access: accessActivated, handler: s.handleResumeCampaign},
		{pattern: "POST /api/v1/campaigns/{id}/cancel", access: accessActivated, idempotent: true, handler: s.handleCancelCampaign},

		// Proposals (feedback board).
		{pattern: "POST /api/v1/proposals", access: accessActivated, handler: s.handleCreateProposal},
		{pattern: "GET /api/v1/proposals", access: accessPublic, publicLimit: true, handler: s.handleListProposals},
		{pattern: "GET /api/v1/proposals/{id}", access: accessPublic, handler: s.handleGetProposal},
		{pattern: "POST /api/v1/proposals/{id}/vote", access: accessActivated, handler: s.handleVote},
		{pattern: "DELETE /api/v1/proposals/{id}/vote", access: accessActivated, handler: s.handleUnvote},

		// Webhooks.
		{pattern: "GET /api/v1/webhooks/deliveries", access: accessAgent, handler: s.handleWebhookDeliveries},
		{pattern: "POST /api/v1/webhooks/deliveries/{id}/redeliver", access: accessAgent, handler: s.handleRedeliverWebhook},
		{pattern: "POST /api/v1/webhooks/test", access: accessAgent, handler: s.handleTestWebhook},
		{pattern: "POST /api/v1/webhooks/secret/rotate", access: accessAgent, handler: s.handleRotateWebhookSecret},

		// Platform.
		{pattern: "GET /api/v1/stats", access: accessPublic, publicLimit: true, handler: s.handleStats},
		{pattern: "GET /healthz", access: accessPublic, handler: s.handleHealthz},

		// Admin.
		{pattern: "GET /api/v1/admin/ledger/verify", access: accessAdmin, handler: s.handleVerifyLedger},
		{pattern: "GET /api/v1/admin/disputes", access: accessAdmin, handler: s.handleAdminDisputes},
		{pattern: "POST /api/v1/admin/disputes/{id}/resolve", access: accessAdmin, handler: s.handleResolveDispute},
		{pattern: "GET /api/v1/admin/reports", access: accessAdmin, handler: s.handleAdminReports},
		{pattern: "POST /api/v1/admin/reports/{id}/dismiss", access: accessAdmin, handler: s.handleCloseReport(false)},
		{pattern: "POST /api/v1/admin/reports/{id}/action", access: accessAdmin, handler: s.handleCloseReport(true)},
		{pattern: "POST /api/v1/admin/agents/{id}/verify", access: accessAdmin, handler: s.handleVerifyAgent(true)},
		{pattern: "POST /api/v1/admin/agents/{id}/unverify", access: accessAdmin, handler: s.handleVerifyAgent(false)},
		{pattern: "POST /api/v1/admin/agents/{id}/restrict", access: accessAdmin, handler: s.handleRestrictAgent},
		{pattern: "POST /api/v1/admin/agents/{id}/unrestrict", access: accessAdmin, handler: s.handleUnrestrictAgent},
		{pattern: "GET /api/v1/admin/audit", access: accessAdmin, handler: s.handleAudit},
		{pattern: "POST /api/v1/admin/proposals/{id}/status", access: accessAdmin, handler: s.handleSetProposalStatus},
	}
	if s.Registry != nil {
		rs = append(rs, route{pattern: "GET /metrics", access: accessPublic,
			raw: promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{})})
	}
	if s.Dev != nil {
		rs = append(rs,
			route{pattern: "POST /dev/chain/transfer", access: accessPublic, handler: s.handleDevTransfer},
			route{pattern: "POST /dev/clock/advance", access: accessPublic, handler: s.handleDevAdvanceClock},
		)
	}
	return rs
}

// newMux registers every route with the wrappers its table line asks for, behind the layer that
// turns the mux's own 404, 405 and redirect answers into JSON.
func (s *Server) newMux() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.routes() {
		mux.Handle(rt.pattern, s.wrapRoute(rt))
	}
	return jsonMuxErrors(mux)
}

// wrapRoute builds the chain of one route: public rate limit, then authentication, then
// idempotency, then the endpoint.
func (s *Server) wrapRoute(rt route) http.Handler {
	var h http.Handler = rt.raw
	if h == nil {
		h = s.endpoint(rt.handler)
	}
	if rt.idempotent {
		if rt.access != accessAgent && rt.access != accessActivated {
			panic(fmt.Sprintf("httpapi: idempotent route %q must require an agent", rt.pattern))
		}
		h = s.idempotent(h)
	}
	switch rt.access {
	case accessAgent:
		h = s.requireAgent(h)
	case accessActivated:
		h = s.requireAgent(requireActivated(h))
	case accessAdmin:
		h = s.requireAdmin(h)
	}
	if rt.publicLimit {
		h = s.limitPublic(rt.pattern, h)
	}
	return markRoute(rt.pattern, h)
}

// endpoint adapts a handlerFunc: a returned error becomes the JSON error response.
func (s *Server) endpoint(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}
