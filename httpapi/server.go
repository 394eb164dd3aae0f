// Package httpapi is the HTTP layer of justpay's public API (surface A, spec/justpayai-api.md).
// Handlers only translate HTTP: they parse the path and query, decode the body strictly, call a
// justpay service and encode the answer. Every business rule lives in the services.
package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/justpay/justpay"
	"github.com/prometheus/client_golang/prometheus"
)

// ShutdownTimeout is how long Close waits for in-flight requests before cutting connections.
const ShutdownTimeout = 30 * time.Second

// AdminAuthenticator decides whether a bearer token is an admin token.
type AdminAuthenticator interface {
	// IsAdminToken reports whether token grants admin access.
	IsAdminToken(ctx context.Context, token string) (bool, error)
}

// DevTools are the dev-mode helpers behind /dev/*: a simulated chain and a clock that can be moved
// forward. A Server with no DevTools has no /dev/* routes at all.
type DevTools interface {
	// Transfer makes a simulated, immediately finalized USDC transfer and returns its signature.
	Transfer(ctx context.Context, from, to string, amount int64) (signature string, err error)
	// AdvanceClock moves the server's clock forward by d, runs what became due and returns the
	// new time.
	AdvanceClock(ctx context.Context, d time.Duration) (time.Time, error)
}

// RateLimits are request budgets per minute; 0 means unlimited.
type RateLimits struct {
	// PerKey limits the requests made with one API key (or admin token).
	PerKey int
	// PerIP limits the requests to /api/v1/* from one client IP.
	PerIP int
	// PublicPerIP additionally limits, per client IP, the public routes the spec marks
	// "IP rate limited: 30/min".
	PublicPerIP int
}

// DefaultRateLimits returns the limits used in production: 600/min per key, 1200/min per IP and
// 30/min per IP on the rate-limited public routes.
func DefaultRateLimits() RateLimits {
	return RateLimits{PerKey: 600, PerIP: 1200, PublicPerIP: 30}
}

// Server is the HTTP server of the public API. Set its exported fields, then call Open; call
// Close to stop it. Handler gives the same handler chain without a listener, for tests.
type Server struct {
	// Addr is the TCP address to listen on, such as ":8080" or "127.0.0.1:0".
	Addr string

	// Agents registers and authenticates agents and manages their profiles and API keys.
	Agents justpay.AgentService
	// Wallet moves agents' money: deposits, balances, withdrawals, history.
	Wallet justpay.WalletService
	// Ledger checks the books for the admin API.
	Ledger justpay.LedgerService
	// Stats counts the platform for GET /api/v1/stats.
	Stats justpay.StatsService
	// Services manages the marketplace's service listings.
	Services justpay.ServiceService
	// Jobs runs jobs through escrow, from creation to rating.
	Jobs justpay.JobService
	// Campaigns runs bounty pools: budgets escrowed up front, tasks claimed, delivered and paid.
	Campaigns justpay.CampaignService
	// Disputes files disputes and applies admins' rulings.
	Disputes justpay.DisputeService
	// Reports files reports against agents, services and jobs and lets admins review them.
	Reports justpay.ReportService
	// Proposals runs the feedback board: proposals, votes and admins' decisions.
	Proposals justpay.ProposalService
	// AdminActions are the admin's changes to agents and the audit log.
	AdminActions justpay.AdminService
	// Idempotency remembers Idempotency-Keys of money-moving POSTs.
	Idempotency justpay.IdempotencyService
	// Webhooks shows agents their webhook deliveries, sends test pings and rotates secrets.
	Webhooks justpay.WebhookService

	// Admin checks admin tokens for /api/v1/admin/*; with none, admin routes answer 403.
	Admin AdminAuthenticator
	// Dev is nil outside dev mode: then the /dev/* routes do not exist (404).
	Dev DevTools

	// Clock drives the rate limiters and the timestamps the API reports; SystemClock when nil.
	Clock justpay.Clock
	// Logger receives the request log and the details of internal errors; discarded when nil.
	Logger *slog.Logger
	// Registry receives the HTTP metrics and is served on /metrics; nil means no metrics.
	Registry *prometheus.Registry
	// Limits are the rate limits; the zero value means unlimited.
	Limits RateLimits
	// TrustProxyHeaders makes the client IP the first X-Forwarded-For hop instead of the peer
	// address. Set it only behind a proxy that overwrites that header.
	TrustProxyHeaders bool
	// Ready reports whether the server can serve traffic, for GET /healthz; nil means always.
	Ready func(context.Context) error

	initOnce sync.Once
	initErr  error
	handler  http.Handler
	metrics  *httpMetrics
	keyLimit *rateLimiter
	ipLimit  *rateLimiter
	pubLimit *rateLimiter

	ln     net.Listener
	server *http.Server
	done   chan struct{} // closed when Serve returns
}

// Open builds the handler and starts listening on Addr before it returns, so a port already in
// use is reported at once; requests are then served in the background until Close.
func (s *Server) Open() error {
	if err := s.init(); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return err
	}
	s.ln = ln
	s.server = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      ShutdownTimeout, // no request outlives a graceful shutdown
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.Logger.Handler(), slog.LevelWarn),
	}
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		if err := s.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.Logger.Error("http server stopped", "err", err)
		}
	}()
	return nil
}

// Close stops accepting connections and waits up to ShutdownTimeout for in-flight requests to
// finish; connections still open after that are cut.
func (s *Server) Close() error {
	if s.server == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	err := s.server.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, s.server.Close())
	}
	<-s.done
	return err
}

// URL returns the base URL the server listens on, such as "http://localhost:41234"; it reports
// the real port when Addr asked for ":0". It is "" before Open.
func (s *Server) URL() string {
	if s.ln == nil {
		return ""
	}
	host, port, err := net.SplitHostPort(s.ln.Addr().String())
	if err != nil {
		return "http://" + s.ln.Addr().String()
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// Handler returns the full handler chain (recover, request log, metrics, rate limits, routes).
// It is built once; it panics if the metrics cannot be registered on Registry, which Open
// reports as an error instead.
func (s *Server) Handler() http.Handler {
	if err := s.init(); err != nil {
		panic(err)
	}
	return s.handler
}

// viewerID identifies the caller of a public route that shows more to an authenticated agent:
// the agent of a valid API key, or "" for anyone else. A missing, malformed or revoked key makes
// the caller anonymous, never a 401; only a failure to check the key is an error.
func (s *Server) viewerID(r *http.Request) (string, error) {
	token := bearerToken(r)
	if token == "" {
		return "", nil
	}
	p, err := s.Agents.Authenticate(r.Context(), token)
	switch {
	case justpay.ErrorCode(err) == justpay.EUNAUTHORIZED:
		return "", nil
	case err != nil:
		return "", err
	case p == nil || p.Agent == nil:
		return "", errors.New("httpapi: Authenticate returned no agent")
	}
	infoFrom(r.Context()).agentID = p.Agent.ID
	return p.Agent.ID, nil
}

// init fills defaults and builds the handler chain, once.
func (s *Server) init() error {
	s.initOnce.Do(func() {
		if s.Clock == nil {
			s.Clock = justpay.SystemClock{}
		}
		if s.Logger == nil {
			s.Logger = slog.New(slog.DiscardHandler)
		}
		if s.Registry != nil {
			m, err := newHTTPMetrics(s.Registry)
			if err != nil {
				s.initErr = err
				return
			}
			s.metrics = m
		}
		s.keyLimit = newRateLimiter(s.Clock, s.Limits.PerKey)
		s.ipLimit = newRateLimiter(s.Clock, s.Limits.PerIP)
		s.pubLimit = newRateLimiter(s.Clock, s.Limits.PublicPerIP)
		s.handler = s.recoverPanics(s.logRequests(s.measure(s.limitRequests(s.newMux()))))
	})
	return s.initErr
}
