package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/justpay/justpay"
)

// idemFixture is the idempotency middleware behind auth, in front of a handler that counts its
// runs, checks the claim in its context and answers with the configured status.
type idemFixture struct {
	s      *Server
	store  *fakeIdempotency
	h      http.Handler
	runs   atomic.Int32
	status atomic.Int32
	panics atomic.Bool
}

func newIdemFixture(t *testing.T) *idemFixture {
	t.Helper()
	s, _ := newTestServer(t)
	f := &idemFixture{s: s, store: s.Idempotency.(*fakeIdempotency)}
	f.status.Store(http.StatusOK)
	inner := s.endpoint(func(w http.ResponseWriter, r *http.Request) error {
		n := f.runs.Add(1)
		if f.panics.Load() {
			panic("handler bug")
		}
		claim, ok := justpay.IdempotencyClaimFrom(r.Context())
		if key := r.Header.Get("Idempotency-Key"); key != "" {
			p := principalFrom(r.Context())
			if !ok || claim.Key != key || claim.Scope != p.Agent.ID {
				t.Errorf("claim in context = %+v, %v; want key %q for %s", claim, ok, key, p.Agent.ID)
			}
		} else if ok {
			t.Error("a claim without an Idempotency-Key header")
		}
		if err := decodeOptional(w, r, &withdrawRequest{}); err != nil {
			return err
		}
		switch st := int(f.status.Load()); {
		case st >= 500:
			return justpay.Errorf(justpay.EINTERNAL, "store down")
		case st >= 400:
			return justpay.Errorf(justpay.EINSUFFICIENT, "available balance too low")
		default:
			writeJSON(w, st, map[string]any{"run": n})
		}
		return nil
	})
	f.h = s.recoverPanics(s.requireAgent(s.idempotent(inner)))
	return f
}

// do sends a POST with an Idempotency-Key (none when key is "").
func (f *idemFixture) do(path, apiKey, key, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+apiKey)
	if key != "" {
		r.Header.Set("Idempotency-Key", key)
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w
}

func TestIdempotency(t *testing.T) {
	const path = "/api/v1/wallet/withdraw"
	const body = `{"amount":5000000}`

	t.Run("NoHeader", func(t *testing.T) {
		f := newIdemFixture(t)
		f.do(path, activeKey, "", body)
		f.do(path, activeKey, "", body)
		if f.runs.Load() != 2 || f.store.callLog() != "" {
			t.Fatalf("runs = %d, store calls %q", f.runs.Load(), f.store.callLog())
		}
	})

	t.Run("Replay", func(t *testing.T) {
		f := newIdemFixture(t)
		first := f.do(path, activeKey, "k1", body)
		if first.Code != http.StatusOK || first.Header().Get("Idempotency-Replayed") != "" {
			t.Fatalf("first: %d %v", first.Code, first.Header())
		}
		second := f.do(path, activeKey, "k1", body)
		if second.Code != http.StatusOK || second.Body.String() != first.Body.String() {
			t.Fatalf("replay = %d %q, want %d %q", second.Code, second.Body, first.Code, first.Body)
		}
		if second.Header().Get("Idempotency-Replayed") != "true" || second.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("replay headers = %v", second.Header())
		}
		if f.runs.Load() != 1 {
			t.Fatalf("handler ran %d times, want once", f.runs.Load())
		}
		if got := f.store.callLog(); got != "begin,finish,begin" {
			t.Fatalf("store calls = %q", got)
		}
	})

	t.Run("ScopedPerAgent", func(t *testing.T) {
		f := newIdemFixture(t)
		f.do(path, activeKey, "shared", body)
		w := f.do(path, inactiveKey, "shared", body)
		if w.Code != http.StatusOK || w.Header().Get("Idempotency-Replayed") != "" || f.runs.Load() != 2 {
			t.Fatalf("another agent's key must not replay: %d runs=%d", w.Code, f.runs.Load())
		}
	})

	t.Run("DifferentRequest422", func(t *testing.T) {
		f := newIdemFixture(t)
		f.do(path, activeKey, "k1", body)
		w := f.do(path, activeKey, "k1", `{"amount":6000000}`)
		mustJSONError(t, w, http.StatusUnprocessableEntity)
		w = f.do("/api/v1/wallet/panic", activeKey, "k1", body)
		mustJSONError(t, w, http.StatusUnprocessableEntity)
		if f.runs.Load() != 1 {
			t.Fatalf("runs = %d", f.runs.Load())
		}
	})

	t.Run("InFlight409", func(t *testing.T) {
		f := newIdemFixture(t)
		claim := justpay.IdempotencyClaim{Scope: activeAgent.ID, Key: "k1"}
		if _, err := f.store.BeginIdempotent(t.Context(), claim, requestFingerprint("POST", path, []byte(body))); err != nil {
			t.Fatal(err)
		}
		w := f.do(path, activeKey, "k1", body)
		mustJSONError(t, w, http.StatusConflict)
		if f.runs.Load() != 0 {
			t.Fatal("the handler ran while the key was in flight")
		}
	})

	t.Run("ServerErrorAborts", func(t *testing.T) {
		f := newIdemFixture(t)
		f.status.Store(http.StatusInternalServerError)
		w := f.do(path, activeKey, "k1", body)
		if msg := mustJSONError(t, w, http.StatusInternalServerError); msg != "internal error" {
			t.Fatalf("error = %q", msg)
		}
		if got := f.store.callLog(); got != "begin,abort" {
			t.Fatalf("store calls = %q, want begin,abort", got)
		}
		// The claim was released: a retry runs again and its success is stored.
		f.status.Store(http.StatusOK)
		if w := f.do(path, activeKey, "k1", body); w.Code != http.StatusOK || w.Header().Get("Idempotency-Replayed") != "" {
			t.Fatalf("retry: %d %v", w.Code, w.Header())
		}
		if f.runs.Load() != 2 {
			t.Fatalf("runs = %d, want 2", f.runs.Load())
		}
	})

	t.Run("ClientErrorStored", func(t *testing.T) {
		f := newIdemFixture(t)
		f.status.Store(http.StatusBadRequest)
		first := f.do(path, activeKey, "k1", body)
		mustJSONError(t, first, http.StatusBadRequest)
		f.status.Store(http.StatusOK)
		second := f.do(path, activeKey, "k1", body)
		if second.Code != http.StatusBadRequest || second.Body.String() != first.Body.String() ||
			second.Header().Get("Idempotency-Replayed") != "true" {
			t.Fatalf("replay = %d %q", second.Code, second.Body)
		}
	})

	t.Run("PanicAborts", func(t *testing.T) {
		f := newIdemFixture(t)
		f.panics.Store(true)
		w := f.do(path, activeKey, "k1", body)
		mustJSONError(t, w, http.StatusInternalServerError)
		if got := f.store.callLog(); got != "begin,abort" {
			t.Fatalf("store calls = %q, want begin,abort", got)
		}
	})

	t.Run("BadKeys", func(t *testing.T) {
		for name, key := range map[string]string{
			"TooLong":    strings.Repeat("k", 256),
			"NonASCII":   "clé",
			"Control":    "a\tb",
			"Whitespace": " ",
			"Padded":     " k1 ",
		} {
			t.Run(name, func(t *testing.T) {
				f := newIdemFixture(t)
				w := f.do(path, activeKey, key, body)
				msg := mustJSONError(t, w, http.StatusBadRequest)
				if !strings.Contains(msg, "Idempotency-Key") {
					t.Fatalf("error = %q", msg)
				}
				if f.runs.Load() != 0 {
					t.Fatal("handler ran")
				}
			})
		}
		t.Run("Empty", func(t *testing.T) {
			f := newIdemFixture(t)
			r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
			r.Header.Set("Authorization", "Bearer "+activeKey)
			r.Header["Idempotency-Key"] = []string{""}
			w := httptest.NewRecorder()
			f.h.ServeHTTP(w, r)
			mustJSONError(t, w, http.StatusBadRequest)
		})
		t.Run("Twice", func(t *testing.T) {
			f := newIdemFixture(t)
			r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
			r.Header.Set("Authorization", "Bearer "+activeKey)
			r.Header["Idempotency-Key"] = []string{"a", "b"}
			w := httptest.NewRecorder()
			f.h.ServeHTTP(w, r)
			mustJSONError(t, w, http.StatusBadRequest)
		})
		t.Run("MaxLength", func(t *testing.T) {
			f := newIdemFixture(t)
			if w := f.do(path, activeKey, strings.Repeat("k", 255), body); w.Code != http.StatusOK {
				t.Fatalf("255 chars: %d %s", w.Code, w.Body)
			}
		})
	})

	t.Run("BodyTooLarge", func(t *testing.T) {
		f := newIdemFixture(t)
		w := f.do(path, activeKey, "k1", `{"amount":"`+strings.Repeat("1", MaxBodyBytes)+`"}`)
		if msg := mustJSONError(t, w, http.StatusRequestEntityTooLarge); msg != "request body too large (limit 1 MiB)" {
			t.Fatalf("error = %q", msg)
		}
		if f.store.callLog() != "" {
			t.Fatal("no key may be claimed for a rejected body")
		}
	})

	t.Run("UnauthenticatedNeverClaims", func(t *testing.T) {
		f := newIdemFixture(t)
		w := f.do(path, "jp_bad", "k1", body)
		mustJSONError(t, w, http.StatusUnauthorized)
		if f.store.callLog() != "" {
			t.Fatal("a key was claimed before authentication")
		}
	})
}

func TestRequestFingerprint(t *testing.T) {
	a := requestFingerprint("POST", "/api/v1/wallet/withdraw", []byte(`{"amount":1}`))
	if len(a) != 64 {
		t.Fatalf("fingerprint %q is not hex sha256", a)
	}
	for _, other := range []string{
		requestFingerprint("PUT", "/api/v1/wallet/withdraw", []byte(`{"amount":1}`)),
		requestFingerprint("POST", "/api/v1/wallet/panic", []byte(`{"amount":1}`)),
		requestFingerprint("POST", "/api/v1/wallet/withdraw", []byte(`{"amount":2}`)),
		requestFingerprint("POST", "/api/v1/wallet/withdraw\n{", []byte(`"amount":1}`)),
	} {
		if other == a {
			t.Fatal("different requests share a fingerprint")
		}
	}
	if requestFingerprint("POST", "/api/v1/wallet/withdraw", []byte(`{"amount":1}`)) != a {
		t.Fatal("fingerprint is not stable")
	}
}
