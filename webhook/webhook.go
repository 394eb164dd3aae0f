// Package webhook delivers the outbox's events to agents' callback URLs: signed (JustPayAI's
// X-JustPayAI-Signature and the Standard Webhooks headers), retried after 1 s, 4 s, 16 s, 64 s and
// 256 s, and only to addresses the policy allows, checked at connect time. Deliveries are rows the
// store writes in the same transaction as their event; a Dispatcher claims due rows under a lease,
// so several servers on one database share the work without making the same attempt twice.
package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/justpay/justpay"
)

// Store is what the dispatcher needs from the database.
type Store interface {
	// HasDueWebhookDeliveries reports, without taking a write lock, whether a delivery is due.
	HasDueWebhookDeliveries(ctx context.Context) (bool, error)
	// ClaimWebhookDeliveries leases up to limit due deliveries to the caller.
	ClaimWebhookDeliveries(ctx context.Context, limit int) ([]*justpay.WebhookDispatch, error)
	// RecordWebhookAttempt records an attempt's outcome; ECONFLICT when the lease was lost.
	RecordWebhookAttempt(ctx context.Context, d *justpay.WebhookDispatch, a justpay.WebhookAttempt) error
	// WebhookSigningSecrets returns the secrets that sign the agent's deliveries now.
	WebhookSigningSecrets(ctx context.Context, agentID string) ([]string, error)
	// FindAgentByID returns an agent (for its callbackUrl). Errors: ENOTFOUND.
	FindAgentByID(ctx context.Context, id string) (*justpay.Agent, error)
	// FindWebhookDeliveries, RedeliverWebhook and RotateWebhookSecret are justpay.WebhookService's.
	FindWebhookDeliveries(ctx context.Context, agentID, status string, p justpay.Page) ([]*justpay.WebhookDelivery, int, error)
	RedeliverWebhook(ctx context.Context, agentID, deliveryID string) (*justpay.WebhookDelivery, error)
	RotateWebhookSecret(ctx context.Context, agentID string) (*justpay.WebhookSecretRotation, error)
}

// Defaults of Config.
const (
	DefaultWorkers  = 8
	DefaultInterval = 100 * time.Millisecond
)

// Config configures a Dispatcher.
type Config struct {
	Store Store
	// Clock dates attempts (webhook-timestamp) and, through the store, schedules retries.
	Clock justpay.Clock
	// Client sends deliveries; nil means NewClient(Policy{}), which refuses every non-public
	// address.
	Client *http.Client
	// Workers bounds the deliveries in flight at once (DefaultWorkers when 0), so that slow
	// receivers hold at most that many connections and never stall the claiming loop.
	Workers int
	// Interval is how often Run looks for due deliveries when nothing wakes it (DefaultInterval
	// when 0).
	Interval time.Duration
	// Timeout bounds one attempt (justpay.WebhookTimeout when 0).
	Timeout time.Duration
	// Logger receives each attempt's outcome; nil discards it.
	Logger *slog.Logger
}

// Dispatcher delivers due webhooks with a bounded pool of workers. It also implements
// justpay.WebhookService for the HTTP API.
type Dispatcher struct {
	store    Store
	clock    justpay.Clock
	client   *http.Client
	workers  int
	interval time.Duration
	timeout  time.Duration
	logger   *slog.Logger
	wake     chan struct{}
}

var _ justpay.WebhookService = (*Dispatcher)(nil)

// NewDispatcher returns a Dispatcher; it does nothing until Run or RunOnce.
func NewDispatcher(cfg Config) (*Dispatcher, error) {
	if cfg.Store == nil || cfg.Clock == nil {
		return nil, errors.New("webhook: a store and a clock are required")
	}
	d := &Dispatcher{store: cfg.Store, clock: cfg.Clock, client: cfg.Client, workers: cfg.Workers, interval: cfg.Interval,
		timeout: cfg.Timeout, logger: cfg.Logger, wake: make(chan struct{}, 1)}
	if d.client == nil {
		c, err := NewClient(Policy{})
		if err != nil {
			return nil, err
		}
		d.client = c
	}
	if d.workers <= 0 {
		d.workers = DefaultWorkers
	}
	if d.interval <= 0 {
		d.interval = DefaultInterval
	}
	if d.timeout <= 0 {
		d.timeout = justpay.WebhookTimeout
	}
	if d.logger == nil {
		d.logger = slog.New(slog.DiscardHandler)
	}
	return d, nil
}

// Wake makes Run look for due deliveries now instead of at its next tick.
func (d *Dispatcher) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run delivers due webhooks until ctx is cancelled, then waits for the attempts in flight to
// finish (each within its timeout) and records their outcomes before returning.
func (d *Dispatcher) Run(ctx context.Context) {
	var inflight sync.WaitGroup
	defer inflight.Wait()
	slots := make(chan struct{}, d.workers)
	freed := make(chan struct{}, 1)
	work := context.WithoutCancel(ctx) // attempts in flight finish and are recorded on shutdown
	ticker := time.NewTicker(d.interval)
	defer ticker.Stop()
	for {
		busy := d.fill(ctx, work, slots, freed, &inflight)
		var onFreed <-chan struct{}
		if busy {
			onFreed = freed // due work may be waiting for a worker
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-d.wake:
		case <-onFreed:
		}
	}
}

// fill claims due deliveries for the free workers and starts them. It reports whether it stopped
// because every worker was busy.
func (d *Dispatcher) fill(ctx, work context.Context, slots, freed chan struct{}, inflight *sync.WaitGroup) bool {
	for {
		free := cap(slots) - len(slots)
		if free == 0 {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		due, err := d.store.HasDueWebhookDeliveries(ctx)
		if err != nil || !due {
			d.logFailure(ctx, "look for due webhooks", err)
			return false
		}
		batch, err := d.store.ClaimWebhookDeliveries(ctx, free)
		if err != nil {
			d.logFailure(ctx, "claim webhooks", err)
			return false
		}
		for _, dl := range batch {
			slots <- struct{}{} // never waits: only this goroutine takes slots, and it claimed at most free
			inflight.Go(func() {
				defer func() {
					<-slots
					select {
					case freed <- struct{}{}:
					default:
					}
				}()
				d.attempt(work, dl)
			})
		}
		if len(batch) < free {
			return false
		}
	}
}

func (d *Dispatcher) logFailure(ctx context.Context, what string, err error) {
	if err != nil && ctx.Err() == nil {
		d.logger.Error(what+" failed", "err", err)
	}
}

// RunOnce attempts every delivery due now, up to Workers at a time, and returns when none is
// due. Tests and tools call it after moving a clock; Run is the server's loop.
func (d *Dispatcher) RunOnce(ctx context.Context) error {
	for {
		batch, err := d.store.ClaimWebhookDeliveries(ctx, d.workers)
		if err != nil || len(batch) == 0 {
			return err
		}
		var wg sync.WaitGroup
		for _, dl := range batch {
			wg.Go(func() { d.attempt(ctx, dl) })
		}
		wg.Wait()
	}
}

// attempt makes one attempt at a claimed delivery and records its outcome. When it cannot (the
// database is down), the lease runs out and the delivery is attempted again later.
func (d *Dispatcher) attempt(ctx context.Context, dl *justpay.WebhookDispatch) {
	log := d.logger.With("delivery", dl.DeliveryID, "event", dl.Event, "webhook_id", dl.EventID, "agent", dl.AgentID,
		"attempt", dl.Attempts+1)
	secrets, err := d.store.WebhookSigningSecrets(ctx, dl.AgentID)
	if err != nil {
		log.Error("webhook secrets unavailable; will retry after the lease", "err", err)
		return
	}
	var a justpay.WebhookAttempt
	if body, err := Payload(dl.Event, dl.Data, dl.Time); err != nil {
		log.Error("webhook payload", "err", err)
		a.Error = "internal error"
	} else {
		a = d.send(ctx, dl.URL, dl.EventID, body, secrets)
	}
	err = d.store.RecordWebhookAttempt(ctx, dl, a)
	switch {
	case justpay.ErrorCode(err) == justpay.ECONFLICT:
		log.Warn("webhook attempt outcome dropped: the lease was lost", "status_code", a.StatusCode)
	case err != nil:
		log.Error("record webhook attempt", "err", err)
	case a.Delivered:
		log.Info("webhook delivered", "status_code", a.StatusCode)
	default:
		log.Warn("webhook attempt failed", "status_code", a.StatusCode, "error", a.Error, "retry_after", a.RetryAfter)
	}
}

// send POSTs body to target, signed as message id with secrets, and says how it went.
func (d *Dispatcher) send(ctx context.Context, target, id string, body []byte, secrets []string) justpay.WebhookAttempt {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return justpay.WebhookAttempt{Error: "the callback URL is not an http or https URL with a host"}
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return justpay.WebhookAttempt{Error: "the callback URL is not valid"}
	}
	now := d.clock.Now()
	if err := Sign(req.Header, id, now, body, secrets); err != nil {
		return justpay.WebhookAttempt{Error: "internal error"}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "JustPayAI-Webhooks/1.0")
	resp, err := d.client.Do(req)
	if err != nil {
		return justpay.WebhookAttempt{Error: describe(err, d.timeout)}
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseRead)) // never shown to anyone
	a := justpay.WebhookAttempt{StatusCode: resp.StatusCode}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		a.Delivered = true
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		a.Error = fmt.Sprintf("HTTP %d: redirects are not followed", resp.StatusCode)
	default:
		a.Error = fmt.Sprintf("HTTP %d", resp.StatusCode)
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		a.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), now)
	}
	return a
}

// retryAfter reads a Retry-After header, seconds or an HTTP date (relative to now), capped at
// justpay.MaxWebhookRetryAfter; 0 when absent or unreadable.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		d = time.Duration(min(secs, int64(justpay.MaxWebhookRetryAfter/time.Second))) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return max(min(d, justpay.MaxWebhookRetryAfter), 0)
}

// describe says in a few fixed words why a request failed, without the details of the error,
// which can carry addresses the agent should not learn.
func describe(err error, timeout time.Duration) string {
	var dnsErr *net.DNSError
	var netErr net.Error
	var certErr *tls.CertificateVerificationError
	var unknownAuthority x509.UnknownAuthorityError
	switch {
	case errors.Is(err, ErrAddressNotAllowed):
		return "the callback URL's address is not allowed (loopback, private, link-local or reserved)"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return fmt.Sprintf("timed out after %s", timeout)
	case errors.As(err, &dnsErr):
		return "the callback URL's host name could not be resolved"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed by the receiver"
	case errors.As(err, &certErr), errors.As(err, &unknownAuthority):
		return "TLS certificate not valid"
	}
	return "connection failed"
}

// FindWebhookDeliveries lists the agent's deliveries. See justpay.WebhookService.
func (d *Dispatcher) FindWebhookDeliveries(ctx context.Context, agentID, status string, p justpay.Page) ([]*justpay.WebhookDelivery, int, error) {
	return d.store.FindWebhookDeliveries(ctx, agentID, status, p)
}

// RedeliverWebhook starts another cycle of attempts now. See justpay.WebhookService.
func (d *Dispatcher) RedeliverWebhook(ctx context.Context, agentID, deliveryID string) (*justpay.WebhookDelivery, error) {
	dl, err := d.store.RedeliverWebhook(ctx, agentID, deliveryID)
	if err == nil {
		d.Wake()
	}
	return dl, err
}

// RotateWebhookSecret gives the agent a new signing secret. See justpay.WebhookService.
func (d *Dispatcher) RotateWebhookSecret(ctx context.Context, agentID string) (*justpay.WebhookSecretRotation, error) {
	return d.store.RotateWebhookSecret(ctx, agentID)
}

// TestWebhook sends a signed ping to the agent's callbackUrl. See justpay.WebhookService.
func (d *Dispatcher) TestWebhook(ctx context.Context, agentID string) (*justpay.WebhookTestResult, error) {
	agent, err := d.store.FindAgentByID(ctx, agentID)
	if err != nil {
		return nil, err
	}
	if agent.CallbackURL == "" {
		return nil, justpay.Errorf(justpay.ECONFLICT, "you have no callbackUrl: set one with PATCH /api/v1/agents/me")
	}
	secrets, err := d.store.WebhookSigningSecrets(ctx, agentID)
	if err != nil {
		return nil, err
	}
	now := d.clock.Now()
	data, err := json.Marshal(map[string]any{"agentId": agentID, "message": "Webhook test from JustPayAI"})
	if err != nil {
		return nil, err
	}
	body, err := Payload(justpay.EventPing, data, now)
	if err != nil {
		return nil, err
	}
	res := &justpay.WebhookTestResult{WebhookID: justpay.NewID(now), URL: agent.CallbackURL}
	res.Attempt = d.send(ctx, agent.CallbackURL, res.WebhookID, body, secrets)
	res.Duration = d.clock.Now().Sub(now)
	return res, nil
}
