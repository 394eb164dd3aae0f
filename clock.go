package justpay

import (
	"sync"
	"time"
)

// Clock tells the time. It is injected everywhere; domain and store code never call time.Now, so
// tests and dev mode can move time forward to fire timeouts.
type Clock interface {
	Now() time.Time
}

// TimeLayout is how the API, webhook payloads and event data write times: RFC 3339 in UTC with
// milliseconds, as the spec's examples show ("2026-02-10T12:00:00.000Z").
const TimeLayout = "2006-01-02T15:04:05.000Z07:00"

// FormatTime renders t in TimeLayout.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns the current wall-clock time in UTC.
func (SystemClock) Now() time.Time { return time.Now().UTC() }

// AdjustableClock is a base clock plus an offset that only moves forward. Dev mode runs the server
// on one over the SystemClock (POST /dev/clock/advance); tests run one over a fixed instant.
type AdjustableClock struct {
	base   Clock
	mu     sync.Mutex
	offset time.Duration
}

// NewAdjustableClock returns an AdjustableClock over base with no offset.
func NewAdjustableClock(base Clock) *AdjustableClock { return &AdjustableClock{base: base} }

// Now returns the base time plus the offset.
func (c *AdjustableClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.base.Now().Add(c.offset).UTC()
}

// Advance moves the clock forward by d (negative values are ignored) and returns the new time.
func (c *AdjustableClock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	if d > 0 {
		c.offset += d
	}
	c.mu.Unlock()
	return c.Now()
}

// FixedClock is a clock that always reads the same instant; the base of test clocks.
type FixedClock struct{ T time.Time }

// Now returns the fixed instant.
func (c FixedClock) Now() time.Time { return c.T }
