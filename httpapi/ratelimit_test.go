package httpapi

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/justpay/justpay"
)

func TestRateLimiter(t *testing.T) {
	t.Run("BurstThenRefill", func(t *testing.T) {
		clock := justpay.NewAdjustableClock(justpay.FixedClock{T: testTime})
		l := newRateLimiter(clock, 30) // one token every 2 s
		for i := range 30 {
			if ok, _ := l.allow("ip"); !ok {
				t.Fatalf("request %d refused within the burst", i+1)
			}
		}
		ok, wait := l.allow("ip")
		if ok || wait != 2*time.Second {
			t.Fatalf("31st: ok=%v wait=%v, want refused for 2s", ok, wait)
		}
		if ok, _ := l.allow("other"); !ok {
			t.Fatal("another key shares the bucket")
		}
		clock.Advance(time.Second)
		if ok, wait := l.allow("ip"); ok || wait != time.Second {
			t.Fatalf("after 1s: ok=%v wait=%v, want refused for 1s", ok, wait)
		}
		clock.Advance(time.Second)
		if ok, _ := l.allow("ip"); !ok {
			t.Fatal("a token must be back after 2s")
		}
		if ok, _ := l.allow("ip"); ok {
			t.Fatal("only one token came back")
		}
		clock.Advance(time.Minute)
		for i := range 30 {
			if ok, _ := l.allow("ip"); !ok {
				t.Fatalf("after a minute, request %d refused: the bucket must be full again", i+1)
			}
		}
	})

	t.Run("OnePerMinute", func(t *testing.T) {
		clock := justpay.NewAdjustableClock(justpay.FixedClock{T: testTime})
		l := newRateLimiter(clock, 1)
		if ok, _ := l.allow("k"); !ok {
			t.Fatal("first refused")
		}
		if ok, wait := l.allow("k"); ok || wait != time.Minute {
			t.Fatalf("second: ok=%v wait=%v", ok, wait)
		}
	})

	t.Run("Unlimited", func(t *testing.T) {
		l := newRateLimiter(justpay.SystemClock{}, 0)
		for range 10_000 {
			if ok, _ := l.allow("k"); !ok {
				t.Fatal("refused with no limit")
			}
		}
		if l.size() != 0 {
			t.Fatal("an unlimited limiter keeps no buckets")
		}
	})

	t.Run("IdleBucketsEvicted", func(t *testing.T) {
		clock := justpay.NewAdjustableClock(justpay.FixedClock{T: testTime})
		l := newRateLimiter(clock, 600)
		for i := range 1000 {
			l.allow(fmt.Sprint("ip-", i))
		}
		if l.size() != 1000 {
			t.Fatalf("size = %d, want 1000", l.size())
		}
		clock.Advance(2 * time.Minute)
		l.allow("fresh")
		if l.size() != 1 {
			t.Fatalf("size after idle minute = %d, want only the fresh bucket", l.size())
		}
	})

	t.Run("SizeCapForcesSweep", func(t *testing.T) {
		clock := justpay.NewAdjustableClock(justpay.FixedClock{T: testTime})
		l := newRateLimiter(clock, 6000) // a token every 10ms
		for i := range maxIdleBuckets {
			l.allow(fmt.Sprint("ip-", i))
		}
		clock.Advance(time.Second) // well under a minute, but every bucket is full again
		l.allow("one-more")
		if l.size() != 1 {
			t.Fatalf("size = %d, want the cap to force a sweep", l.size())
		}
	})
}

func TestRetryAfterSeconds(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want int
	}{{0, 1}, {time.Millisecond, 1}, {time.Second, 1}, {1001 * time.Millisecond, 2}, {time.Minute, 60}} {
		if got := retryAfterSeconds(tc.d); got != tc.want {
			t.Errorf("retryAfterSeconds(%v) = %d, want %d", tc.d, got, tc.want)
		}
	}
}

func TestLimitRequests(t *testing.T) {
	t.Run("PerIP", func(t *testing.T) {
		s, clock := newTestServer(t)
		s.Limits = RateLimits{PerIP: 2}
		h := s.Handler()
		for range 2 {
			if w := serve(h, "GET", "/api/v1/nope", "", ""); w.Code != http.StatusNotFound {
				t.Fatalf("status = %d", w.Code)
			}
		}
		w := serve(h, "GET", "/api/v1/auth/verify", activeKey, "")
		if msg := mustJSONError(t, w, http.StatusTooManyRequests); msg != "rate limit exceeded; retry after 30 seconds" {
			t.Fatalf("error = %q", msg)
		}
		if ra := w.Header().Get("Retry-After"); ra != "30" {
			t.Fatalf("Retry-After = %q, want 30", ra)
		}
		// Outside /api/v1 nothing is limited.
		if w := serve(h, "GET", "/healthz", "", ""); w.Code != http.StatusOK {
			t.Fatalf("/healthz status = %d", w.Code)
		}
		// Another client is not affected.
		r := httptest.NewRequest("GET", "/api/v1/auth/verify", nil)
		r.RemoteAddr = "198.51.100.9:4000"
		r.Header.Set("Authorization", "Bearer "+activeKey)
		w = httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			t.Fatalf("other IP: status = %d", w.Code)
		}
		clock.Advance(30 * time.Second)
		if w := serve(h, "GET", "/api/v1/auth/verify", activeKey, ""); w.Code != http.StatusOK {
			t.Fatalf("after Retry-After: status = %d", w.Code)
		}
	})

	t.Run("PerKey", func(t *testing.T) {
		s, _ := newTestServer(t)
		s.Limits = RateLimits{PerKey: 3, PerIP: 100}
		h := s.Handler()
		for range 3 {
			if w := serve(h, "GET", "/api/v1/auth/verify", activeKey, ""); w.Code != http.StatusOK {
				t.Fatalf("status = %d", w.Code)
			}
		}
		w := serve(h, "GET", "/api/v1/auth/verify", activeKey, "")
		mustJSONError(t, w, http.StatusTooManyRequests)
		if ra, _ := strconv.Atoi(w.Header().Get("Retry-After")); ra != 20 {
			t.Fatalf("Retry-After = %q, want 20", w.Header().Get("Retry-After"))
		}
		// Another key from the same IP has its own budget.
		if w := serve(h, "GET", "/api/v1/auth/verify", inactiveKey, ""); w.Code != http.StatusOK {
			t.Fatalf("other key: status = %d", w.Code)
		}
		// And so do public requests.
		if w := serve(h, "GET", "/api/v1/nope", "", ""); w.Code != http.StatusNotFound {
			t.Fatalf("no key: status = %d", w.Code)
		}
	})

	t.Run("PublicPerIP", func(t *testing.T) {
		s, clock := newTestServer(t)
		s.Limits = RateLimits{PublicPerIP: 30}
		s.Handler() // builds the limiters
		h := s.limitPublic("GET /api/v1/stats", okHandler)
		for i := range 30 {
			if w := serve(h, "GET", "/api/v1/stats", "", ""); w.Code != http.StatusOK {
				t.Fatalf("request %d: status = %d", i+1, w.Code)
			}
		}
		w := serve(h, "GET", "/api/v1/stats", "", "")
		if msg := mustJSONError(t, w, http.StatusTooManyRequests); msg != "rate limit exceeded; retry after 2 seconds" {
			t.Fatalf("error = %q", msg)
		}
		if ra := w.Header().Get("Retry-After"); ra != "2" {
			t.Fatalf("Retry-After = %q", ra)
		}
		clock.Advance(2 * time.Second)
		if w := serve(h, "GET", "/api/v1/stats", "", ""); w.Code != http.StatusOK {
			t.Fatalf("after 2s: status = %d", w.Code)
		}
	})
}

func TestClientIP(t *testing.T) {
	for _, tc := range []struct {
		name, remote, xff string
		trust             bool
		want              string
	}{
		{"Remote", "203.0.113.5:1234", "", false, "203.0.113.5"},
		{"RemoteV6", "[2001:db8::1]:1234", "", false, "2001:db8::1"},
		{"XFFIgnored", "203.0.113.5:1234", "198.51.100.1", false, "203.0.113.5"},
		{"XFFTrusted", "10.0.0.2:1234", "198.51.100.1, 10.0.0.9", true, "198.51.100.1"},
		{"XFFTrustedSpaces", "10.0.0.2:1234", "  198.51.100.1 ,10.0.0.9", true, "198.51.100.1"},
		{"XFFGarbage", "10.0.0.2:1234", "not-an-ip", true, "10.0.0.2"},
		{"NoPort", "203.0.113.5", "", false, "203.0.113.5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Server{TrustProxyHeaders: tc.trust}
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			if tc.xff != "" {
				r.Header.Set("X-Forwarded-For", tc.xff)
			}
			if got := s.clientIP(r); got != tc.want {
				t.Fatalf("clientIP = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDefaultRateLimits(t *testing.T) {
	if got := DefaultRateLimits(); got != (RateLimits{PerKey: 600, PerIP: 1200, PublicPerIP: 30}) {
		t.Fatalf("got %+v", got)
	}
}
