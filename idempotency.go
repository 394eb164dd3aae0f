package justpay

import (
	"context"
	"time"
)

// IdempotencyKeyTTL is how long a finished Idempotency-Key is remembered, and
// IdempotencyClaimTimeout how long a claim may stay in flight before a retry may take it over
// (it can only do so when the first attempt never reached its commit).
const (
	IdempotencyKeyTTL       = 24 * time.Hour
	IdempotencyClaimTimeout = time.Minute
)

// StoredResponse is the first response to an idempotent request, replayed for its retries.
type StoredResponse struct {
	Status int
	Body   []byte
}

// IdempotencyClaim names a claimed Idempotency-Key. The store marks it applied inside the same
// database transaction as the money movement it guards, so the movement happens at most once per
// key whatever crashes or races.
type IdempotencyClaim struct {
	Scope string // the caller: an agent ID
	Key   string
}

type idempotencyKey struct{}

// WithIdempotencyClaim returns a context carrying the claim for the store to apply.
func WithIdempotencyClaim(ctx context.Context, c IdempotencyClaim) context.Context {
	return context.WithValue(ctx, idempotencyKey{}, c)
}

// IdempotencyClaimFrom returns the claim carried by ctx, if any.
func IdempotencyClaimFrom(ctx context.Context) (IdempotencyClaim, bool) {
	c, ok := ctx.Value(idempotencyKey{}).(IdempotencyClaim)
	return c, ok
}

// IdempotencyService remembers Idempotency-Keys and the responses they produced.
type IdempotencyService interface {
	// BeginIdempotent claims the key for a request with the given fingerprint. It returns the stored
	// response when the request already finished. Errors: EUNPROCESSABLE (the key was used for a
	// different request), ECONFLICT (the key is in flight, or its first attempt moved money but its
	// response was lost).
	BeginIdempotent(ctx context.Context, c IdempotencyClaim, fingerprint string) (*StoredResponse, error)
	// FinishIdempotent stores the response for replay.
	FinishIdempotent(ctx context.Context, c IdempotencyClaim, resp StoredResponse) error
	// AbortIdempotent releases a claim whose request failed without applying, so it can be retried.
	AbortIdempotent(ctx context.Context, c IdempotencyClaim) error
}

// Event is a notification for an agent, written to the outbox in the same transaction as the
// change that causes it and delivered later as a webhook.
type Event struct {
	ID        string
	AgentID   string
	Type      string
	Data      map[string]any
	CreatedAt time.Time
}

// Event types.
const (
	EventWalletAddressChanged = "wallet.address_changed"
)
