package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/justpay/justpay"
)

// testTime is the fixed instant test clocks start from.
var testTime = time.Date(2026, 2, 9, 15, 0, 0, 0, time.UTC)

// fakeAgents is an AgentService that only authenticates: keys maps API keys to agents. The other
// methods are not reached by middleware tests.
type fakeAgents struct {
	justpay.AgentService // nil: any other call panics, which the tests would see
	keys                 map[string]*justpay.Agent
}

func (f *fakeAgents) Authenticate(_ context.Context, key string) (*justpay.Principal, error) {
	a, ok := f.keys[key]
	if !ok {
		return nil, justpay.Errorf(justpay.EUNAUTHORIZED, "invalid API key")
	}
	return &justpay.Principal{Agent: a, KeyID: "key-" + a.ID}, nil
}

// fakeAdmin accepts one token.
type fakeAdmin struct{ token string }

func (f fakeAdmin) IsAdminToken(_ context.Context, token string) (bool, error) {
	return token == f.token, nil
}

// fakeIdempotency is an in-memory IdempotencyService with the store's rules.
type fakeIdempotency struct {
	mu      sync.Mutex
	entries map[justpay.IdempotencyClaim]*idemEntry
	calls   []string
}

type idemEntry struct {
	fingerprint string
	resp        *justpay.StoredResponse // nil while in flight
}

func newFakeIdempotency() *fakeIdempotency {
	return &fakeIdempotency{entries: make(map[justpay.IdempotencyClaim]*idemEntry)}
}

func (f *fakeIdempotency) BeginIdempotent(_ context.Context, c justpay.IdempotencyClaim, fp string) (*justpay.StoredResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "begin")
	e, ok := f.entries[c]
	switch {
	case !ok:
		f.entries[c] = &idemEntry{fingerprint: fp}
		return nil, nil
	case e.fingerprint != fp:
		return nil, justpay.Errorf(justpay.EUNPROCESSABLE, "Idempotency-Key was used for a different request")
	case e.resp == nil:
		return nil, justpay.Errorf(justpay.ECONFLICT, "a request with this Idempotency-Key is in flight")
	}
	return e.resp, nil
}

func (f *fakeIdempotency) FinishIdempotent(_ context.Context, c justpay.IdempotencyClaim, resp justpay.StoredResponse) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "finish")
	f.entries[c].resp = &justpay.StoredResponse{Status: resp.Status, Body: append([]byte(nil), resp.Body...)}
	return nil
}

func (f *fakeIdempotency) AbortIdempotent(_ context.Context, c justpay.IdempotencyClaim) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "abort")
	delete(f.entries, c)
	return nil
}

func (f *fakeIdempotency) callLog() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.calls, ",")
}

// fakeDev records dev calls.
type fakeDev struct{ clock *justpay.AdjustableClock }

func (f *fakeDev) Transfer(_ context.Context, from, to string, amount int64) (string, error) {
	return "sig-" + from + "-" + to, nil
}

func (f *fakeDev) AdvanceClock(_ context.Context, d time.Duration) (time.Time, error) {
	return f.clock.Advance(d), nil
}

// Agents of the tests and their keys.
var (
	activeAgent   = &justpay.Agent{ID: "cactive", Name: "active-bot", Activated: true}
	inactiveAgent = &justpay.Agent{ID: "cinactive", Name: "new-bot"}
)

const (
	activeKey   = "jp_active"
	inactiveKey = "jp_inactive"
	adminToken  = "adm_secret"
)

// newTestServer returns a server with fake auth, an adjustable clock at testTime and no limits.
func newTestServer(tb testing.TB) (*Server, *justpay.AdjustableClock) {
	tb.Helper()
	clock := justpay.NewAdjustableClock(justpay.FixedClock{T: testTime})
	return &Server{
		Agents:      &fakeAgents{keys: map[string]*justpay.Agent{activeKey: activeAgent, inactiveKey: inactiveAgent}},
		Admin:       fakeAdmin{token: adminToken},
		Idempotency: newFakeIdempotency(),
		Clock:       clock,
		Logger:      slog.New(slog.DiscardHandler),
	}, clock
}

// serve sends one request through h and returns the recorder.
func serve(h http.Handler, method, target, token, body string) *httptest.ResponseRecorder {
	var r *http.Request
	if body == "" {
		r = httptest.NewRequest(method, target, nil)
	} else {
		r = httptest.NewRequest(method, target, strings.NewReader(body))
	}
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// mustJSONError checks a JSON error response and returns its message.
func mustJSONError(tb testing.TB, w *httptest.ResponseRecorder, status int) string {
	tb.Helper()
	if w.Code != status {
		tb.Fatalf("status = %d, want %d; body %s", w.Code, status, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		tb.Fatalf("Content-Type = %q, want application/json", ct)
	}
	var body map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		tb.Fatalf("body %q is not JSON: %v", w.Body, err)
	}
	msg, ok := body["error"].(string)
	if !ok || len(body) != 1 {
		tb.Fatalf("body = %s, want {\"error\": ...}", w.Body)
	}
	return msg
}

// okHandler answers 200 {"ok":true} and reports the principal's agent, if any.
var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	agentID := ""
	if p := principalFrom(r.Context()); p != nil {
		agentID = p.Agent.ID
	}
	_, _ = io.Copy(io.Discard, r.Body)
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "agent": agentID})
})
