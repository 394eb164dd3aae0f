package justpay

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
)

// Webhook events are the outbox's events (Event) delivered by HTTP POST to the recipient's
// callback URL: a job's own callbackUrl for its client's events, a campaign's callbackUrl for its
// owner's campaign events, and otherwise the agent's callbackUrl. An event whose recipient has no
// URL is not delivered.

// EventPing is the event POST /api/v1/webhooks/test sends; it is never stored.
const EventPing = "ping"

// Webhook delivery statuses.
const (
	WebhookPending   = "pending"   // waiting for its next attempt, or being attempted
	WebhookDelivered = "delivered" // the receiver answered 2xx
	WebhookFailed    = "failed"    // every attempt failed
)

// Webhook delivery rules.
const (
	// WebhookMaxAttempts is the first attempt plus the five retries.
	WebhookMaxAttempts = 6
	// WebhookTimeout bounds one attempt: connecting, sending and reading the answer.
	WebhookTimeout = 10 * time.Second
	// WebhookLease is how long a claimed delivery belongs to the dispatcher that claimed it. A
	// dispatcher that dies mid-attempt loses it after the lease and the delivery is attempted again
	// (with the same webhook-id); an attempt that left no outcome is not counted.
	WebhookLease = time.Minute
	// MaxWebhookRetryAfter caps how long a receiver's Retry-After header may delay the next attempt.
	MaxWebhookRetryAfter = time.Hour
	// WebhookSecretOverlap is how long a rotated-out secret keeps signing beside its successor.
	WebhookSecretOverlap = 24 * time.Hour
	// WebhookSecretPrefix starts every webhook secret, as in the Standard Webhooks specification.
	WebhookSecretPrefix = "whsec_"
)

// webhookRetryDelays are the waits after the first to fifth failed attempts.
var webhookRetryDelays = [WebhookMaxAttempts - 1]time.Duration{
	time.Second, 4 * time.Second, 16 * time.Second, 64 * time.Second, 256 * time.Second,
}

// WebhookAttempt is the outcome of one delivery attempt.
type WebhookAttempt struct {
	// Delivered is set when the receiver answered 2xx.
	Delivered bool
	// StatusCode is the receiver's HTTP status, 0 when no answer came.
	StatusCode int
	// Error says briefly why the attempt failed, in our words (never the receiver's body).
	Error string
	// RetryAfter is the receiver's Retry-After on a 429 or 503, 0 otherwise.
	RetryAfter time.Duration
}

// PlanWebhookRetry decides what follows the attempt numbered attempt (from 1) with outcome a:
// delivered; failed for good after WebhookMaxAttempts; or pending again after the schedule's
// delay (1 s, 4 s, 16 s, 64 s, 256 s), or after the receiver's Retry-After when that is longer
// (capped at MaxWebhookRetryAfter).
func PlanWebhookRetry(attempt int, a WebhookAttempt) (status string, retryIn time.Duration) {
	switch {
	case a.Delivered:
		return WebhookDelivered, 0
	case attempt >= WebhookMaxAttempts:
		return WebhookFailed, 0
	}
	delay := webhookRetryDelays[max(attempt, 1)-1]
	if ra := min(a.RetryAfter, MaxWebhookRetryAfter); ra > delay {
		delay = ra
	}
	return WebhookPending, delay
}

// WebhookDelivery is the delivery of one event to its recipient's URL, as the recipient sees it.
type WebhookDelivery struct {
	ID      string
	EventID string // the webhook-id header: the same on every attempt and redelivery
	AgentID string
	Event   string // the event type
	URL     string
	Status  string
	// Attempts counts the attempts that finished (with an answer or an error) in the current
	// cycle; a redelivery starts a new cycle at 0.
	Attempts int
	// NextAttemptAt is when the next attempt is due; nil unless pending.
	NextAttemptAt *time.Time
	// LastStatusCode is the receiver's answer to the last attempt, 0 when none came.
	LastStatusCode int
	// LastError says briefly why the last attempt failed; "" after a success.
	LastError   string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	DeliveredAt *time.Time
}

// WebhookDispatch is a delivery claimed by a dispatcher for one attempt, with what it sends.
type WebhookDispatch struct {
	DeliveryID string
	EventID    string
	AgentID    string
	URL        string
	// Attempts counts the attempts finished before this one.
	Attempts int
	// Lease is when the claim runs out; the outcome is recorded only under the same lease.
	Lease time.Time
	// Event, Data and Time are the event's type, its data (a JSON object) and when it happened.
	Event string
	Data  json.RawMessage
	Time  time.Time
}

// WebhookTestResult is the outcome of a ping sent by POST /api/v1/webhooks/test.
type WebhookTestResult struct {
	WebhookID string
	URL       string
	Attempt   WebhookAttempt
	Duration  time.Duration
}

// WebhookSecretRotation is a new webhook secret, shown once, and when the one it replaces stops
// signing (nil when there was none).
type WebhookSecretRotation struct {
	Secret            string
	PreviousExpiresAt *time.Time
}

// NewWebhookSecret returns a fresh webhook signing secret: "whsec_" and the standard base64 of 32
// random bytes, the format of the Standard Webhooks specification.
func NewWebhookSecret() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return WebhookSecretPrefix + base64.StdEncoding.EncodeToString(b[:])
}

// WebhookSecretKey returns the HMAC key of a webhook secret: the bytes its base64 encodes.
// Errors: EINVALID unless secret is "whsec_" and the base64 of 24 to 64 bytes.
func WebhookSecretKey(secret string) ([]byte, error) {
	enc, ok := strings.CutPrefix(secret, WebhookSecretPrefix)
	key, err := base64.StdEncoding.DecodeString(enc)
	if !ok || err != nil || len(key) < 24 || len(key) > 64 {
		return nil, Errorf(EINVALID, "a webhook secret is %s and the base64 of 24 to 64 bytes", WebhookSecretPrefix)
	}
	return key, nil
}

// WebhookService shows an agent its webhook deliveries and manages its signing secret.
type WebhookService interface {
	// FindWebhookDeliveries lists the agent's deliveries, newest first, with the total count;
	// status filters by status when not "". Errors: EINVALID.
	FindWebhookDeliveries(ctx context.Context, agentID, status string, p Page) ([]*WebhookDelivery, int, error)
	// RedeliverWebhook starts another cycle of attempts of a delivered or failed delivery, with the
	// same event id, to the URL the event would go to now. Errors: ENOTFOUND (not the agent's),
	// ECONFLICT (still pending, or no URL to send to).
	RedeliverWebhook(ctx context.Context, agentID, deliveryID string) (*WebhookDelivery, error)
	// TestWebhook sends a signed ping event to the agent's callbackUrl now and reports how the
	// receiver answered. Errors: ENOTFOUND, ECONFLICT (no callbackUrl).
	TestWebhook(ctx context.Context, agentID string) (*WebhookTestResult, error)
	// RotateWebhookSecret gives the agent a new signing secret; the current one keeps signing
	// beside it for WebhookSecretOverlap, and any older one stops. Errors: ENOTFOUND.
	RotateWebhookSecret(ctx context.Context, agentID string) (*WebhookSecretRotation, error)
}
