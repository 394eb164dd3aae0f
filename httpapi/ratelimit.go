package httpapi

import (
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/justpay/justpay"
)

// maxIdleBuckets bounds the limiter's memory between sweeps: when a limiter holds more buckets
// than this, the idle ones are dropped at once instead of at the next minute.
const maxIdleBuckets = 100_000

// rateLimiter is a set of in-memory token buckets, one per key, each holding up to perMinute
// tokens and refilling perMinute tokens a minute. It is the generic cell rate algorithm: a bucket
// is only the time at which it will be full again ("tat"), so a full bucket and a missing one are
// the same and idle buckets can be dropped without changing any answer. Time comes from the clock.
type rateLimiter struct {
	clock     justpay.Clock
	perMinute int
	interval  time.Duration // time to earn one token
	burst     time.Duration // how far tat may run ahead of now: (perMinute-1) intervals

	mu        sync.Mutex
	tats      map[string]time.Time
	lastSweep time.Time
}

// newRateLimiter returns a limiter of perMinute requests a minute per key; 0 or less is unlimited.
func newRateLimiter(clock justpay.Clock, perMinute int) *rateLimiter {
	l := &rateLimiter{clock: clock, perMinute: perMinute, tats: make(map[string]time.Time)}
	if perMinute > 0 {
		l.interval = time.Minute / time.Duration(perMinute)
		l.burst = time.Duration(perMinute-1) * l.interval
	}
	return l
}

// allow takes a token from key's bucket. When the bucket is empty it reports false and how long
// until a token is available.
func (l *rateLimiter) allow(key string) (ok bool, retryAfter time.Duration) {
	if l == nil || l.perMinute <= 0 {
		return true, 0
	}
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	tat, found := l.tats[key]
	if !found || tat.Before(now) {
		tat = now
	}
	if ahead := tat.Sub(now); ahead > l.burst {
		return false, ahead - l.burst
	}
	l.tats[key] = tat.Add(l.interval)
	return true, 0
}

// sweep drops the buckets that are full again, once a minute or when there are too many.
func (l *rateLimiter) sweep(now time.Time) {
	if now.Sub(l.lastSweep) < time.Minute && len(l.tats) < maxIdleBuckets {
		return
	}
	l.lastSweep = now
	for k, tat := range l.tats {
		if !tat.After(now) {
			delete(l.tats, k)
		}
	}
}

// size returns the number of buckets held, for tests.
func (l *rateLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.tats)
}

// retryAfterSeconds rounds a wait up to whole seconds, at least 1, for the Retry-After header.
func retryAfterSeconds(d time.Duration) int {
	secs := int((d + time.Second - 1) / time.Second)
	return max(secs, 1)
}

// writeRateLimited answers 429 with Retry-After.
func (s *Server) writeRateLimited(w http.ResponseWriter, r *http.Request, wait time.Duration) {
	secs := retryAfterSeconds(wait)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	s.writeError(w, r, justpay.Errorf(justpay.ERATELIMITED, "rate limit exceeded; retry after %d seconds", secs))
}

// limitRequests applies the per-IP limit to every /api/v1/* request and the per-key limit to every
// /api/v1/* request that carries a bearer token. Keys are bucketed by their hash, never kept in
// the clear.
func (s *Server) limitRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/api/v1/") {
			next.ServeHTTP(w, r)
			return
		}
		if ok, wait := s.ipLimit.allow(s.clientIP(r)); !ok {
			s.writeRateLimited(w, r, wait)
			return
		}
		if token := bearerToken(r); token != "" {
			if ok, wait := s.keyLimit.allow(justpay.HashAPIKey(token)); !ok {
				s.writeRateLimited(w, r, wait)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// limitPublic applies the PublicPerIP limit of the public routes the spec rate-limits, to each
// route separately: every such route is "IP rate limited: 30/min" on its own.
func (s *Server) limitPublic(pattern string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ok, wait := s.pubLimit.allow(pattern + " " + s.clientIP(r)); !ok {
			s.writeRateLimited(w, r, wait)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// clientIP is the peer's IP, or the first X-Forwarded-For hop when TrustProxyHeaders is set and
// that hop is a valid IP.
func (s *Server) clientIP(r *http.Request) string {
	if s.TrustProxyHeaders {
		if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
			first, _, _ := strings.Cut(xff, ",")
			if ip := net.ParseIP(strings.TrimSpace(first)); ip != nil {
				return ip.String()
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
