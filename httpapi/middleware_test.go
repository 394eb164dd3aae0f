package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func TestUnmatchedRoutesAnswerJSON(t *testing.T) {
	s, _ := newTestServer(t)
	h := s.Handler()
	for _, tc := range []struct {
		name, method, path string
		status             int
		msg, allow         string
	}{
		{"UnknownAPIPath", "GET", "/api/v1/nope", 404, "not found", ""},
		{"UnknownRoot", "GET", "/", 404, "not found", ""},
		{"UnknownDeep", "POST", "/api/v1/agents/x/y/z", 404, "not found", ""},
		{"DevRoutesAbsentOutsideDevMode", "POST", "/dev/clock/advance", 404, "not found", ""},
		{"MetricsAbsentWithoutRegistry", "GET", "/metrics", 404, "not found", ""},
		{"WrongMethodOnPublicProfile", "PATCH", "/api/v1/agents/cabc", 405, "method not allowed; allowed: GET, HEAD", "GET, HEAD"},
		{"WrongMethodOnRegister", "GET", "/api/v1/auth/register", 405, "method not allowed; allowed: POST", "POST"},
		{"WrongMethodOnKeys", "PUT", "/api/v1/auth/keys", 405, "method not allowed; allowed: GET, HEAD, POST", "GET, HEAD, POST"},
		{"UnknownMethod", "BREW", "/api/v1/stats", 405, "method not allowed; allowed: GET, HEAD", "GET, HEAD"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := serve(h, tc.method, tc.path, "", "")
			if msg := mustJSONError(t, w, tc.status); msg != tc.msg {
				t.Fatalf("error = %q, want %q", msg, tc.msg)
			}
			if got := w.Header().Get("Allow"); got != tc.allow {
				t.Fatalf("Allow = %q, want %q", got, tc.allow)
			}
		})
	}

	t.Run("CleanPathRedirect", func(t *testing.T) {
		w := serve(h, "GET", "/api/v1/auth/../stats", "", "")
		if w.Code < 300 || w.Code > 399 {
			t.Fatalf("status = %d, want the mux's redirect", w.Code)
		}
		if msg := mustJSONError(t, w, w.Code); msg != "moved to /api/v1/stats" {
			t.Fatalf("error = %q", msg)
		}
		if loc := w.Header().Get("Location"); loc != "/api/v1/stats" {
			t.Fatalf("Location = %q", loc)
		}
	})
}

func TestRequireAgent(t *testing.T) {
	s, _ := newTestServer(t)
	h := s.Handler()
	const missing = "missing API key: send Authorization: Bearer <key>"
	for _, tc := range []struct {
		name, auth string
		status     int
		msg        string
	}{
		{"Missing", "", 401, missing},
		{"NotBearer", "Basic " + activeKey, 401, missing},
		{"EmptyBearer", "Bearer ", 401, missing},
		{"BadKey", "Bearer jp_nope", 401, "invalid API key"},
		{"AdminTokenIsNoAPIKey", "Bearer " + adminToken, 401, "invalid API key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/api/v1/auth/verify", nil)
			if tc.auth != "" {
				r.Header.Set("Authorization", tc.auth)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if msg := mustJSONError(t, w, tc.status); msg != tc.msg {
				t.Fatalf("error = %q, want %q", msg, tc.msg)
			}
		})
	}
	t.Run("OK", func(t *testing.T) {
		for _, scheme := range []string{"Bearer ", "bearer "} {
			r := httptest.NewRequest(http.MethodGet, "/api/v1/auth/verify", nil)
			r.Header.Set("Authorization", scheme+inactiveKey)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != http.StatusOK {
				t.Fatalf("status = %d, body %s", w.Code, w.Body)
			}
			var got map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			if got["valid"] != true || got["agentId"] != inactiveAgent.ID || got["name"] != inactiveAgent.Name {
				t.Fatalf("body = %s", w.Body)
			}
		}
	})
}

func TestRequireActivated(t *testing.T) {
	s, _ := newTestServer(t)
	h := s.requireAgent(requireActivated(okHandler))

	w := serve(h, "POST", "/api/v1/services", inactiveKey, "")
	want := "agent is not activated: deposit at least 1 USDC to your wallet address, then call POST /api/v1/wallet/confirm-deposit"
	if msg := mustJSONError(t, w, http.StatusForbidden); msg != want {
		t.Fatalf("error = %q", msg)
	}

	w = serve(h, "POST", "/api/v1/services", activeKey, "")
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), activeAgent.ID) {
		t.Fatalf("activated agent: %d %s", w.Code, w.Body)
	}

	w = serve(h, "POST", "/api/v1/services", "", "")
	mustJSONError(t, w, http.StatusUnauthorized)

	// Without requireAgent in front there is no principal: refused, never let through.
	w = serve(requireActivated(okHandler), "POST", "/api/v1/services", activeKey, "")
	mustJSONError(t, w, http.StatusForbidden)
}

func TestRequireAdmin(t *testing.T) {
	s, _ := newTestServer(t)
	h := s.requireAdmin(okHandler)
	for _, tc := range []struct {
		name, token string
		status      int
		msg         string
	}{
		{"Missing", "", 401, "missing admin token: send Authorization: Bearer <admin token>"},
		{"AgentKey", activeKey, 403, "admin token required"},
		{"WrongToken", "adm_wrong", 403, "admin token required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := serve(h, "GET", "/api/v1/admin/ledger/verify", tc.token, "")
			if msg := mustJSONError(t, w, tc.status); msg != tc.msg {
				t.Fatalf("error = %q, want %q", msg, tc.msg)
			}
		})
	}
	t.Run("OK", func(t *testing.T) {
		if w := serve(h, "GET", "/api/v1/admin/ledger/verify", adminToken, ""); w.Code != http.StatusOK {
			t.Fatalf("status = %d, body %s", w.Code, w.Body)
		}
	})
	t.Run("NoAuthenticator", func(t *testing.T) {
		s.Admin = nil
		w := serve(s.requireAdmin(okHandler), "GET", "/api/v1/admin/ledger/verify", adminToken, "")
		mustJSONError(t, w, http.StatusForbidden)
	})
	t.Run("ThroughTheRouteTable", func(t *testing.T) {
		s, _ := newTestServer(t)
		w := serve(s.Handler(), "GET", "/api/v1/admin/ledger/verify", activeKey, "")
		if msg := mustJSONError(t, w, http.StatusForbidden); msg != "admin token required" {
			t.Fatalf("error = %q", msg)
		}
	})
}

func TestRecoverPanics(t *testing.T) {
	var logs bytes.Buffer
	s, _ := newTestServer(t)
	s.Logger = slog.New(slog.NewTextHandler(&logs, nil))

	boom := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom: secret detail") })
	w := serve(s.recoverPanics(s.logRequests(boom)), "GET", "/api/v1/x", "", "")
	if msg := mustJSONError(t, w, http.StatusInternalServerError); msg != "internal error" {
		t.Fatalf("error = %q", msg)
	}
	if !strings.Contains(logs.String(), "boom: secret detail") || !strings.Contains(logs.String(), "status=500") {
		t.Fatalf("log does not show the panic and its 500: %s", logs.String())
	}

	t.Run("AfterHeaders", func(t *testing.T) {
		late := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusAccepted)
			panic("late")
		})
		w := serve(s.recoverPanics(late), "GET", "/x", "", "")
		if w.Code != http.StatusAccepted || w.Body.Len() != 0 {
			t.Fatalf("got %d %q, want the 202 left alone", w.Code, w.Body)
		}
	})

	t.Run("AbortHandlerPropagates", func(t *testing.T) {
		abort := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) })
		defer func() {
			if p := recover(); p != http.ErrAbortHandler {
				t.Fatalf("recovered %v, want http.ErrAbortHandler", p)
			}
		}()
		serve(s.recoverPanics(abort), "GET", "/x", "", "")
	})
}

func TestRequestLog(t *testing.T) {
	var logs bytes.Buffer
	s, _ := newTestServer(t)
	s.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	h := s.Handler()

	serve(h, "GET", "/api/v1/auth/verify", activeKey, "")
	serve(h, "GET", "/api/v1/nope/secret-path", "", "")

	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("log lines = %d, want 2:\n%s", len(lines), logs.String())
	}
	var first, second map[string]any
	_ = json.Unmarshal([]byte(lines[0]), &first)
	_ = json.Unmarshal([]byte(lines[1]), &second)
	if first["route"] != "GET /api/v1/auth/verify" || first["status"] != 200.0 || first["agent"] != activeAgent.ID ||
		first["method"] != "GET" || first["duration"] == nil {
		t.Fatalf("first line = %s", lines[0])
	}
	if second["route"] != "unmatched" || second["status"] != 404.0 || strings.Contains(lines[1], "secret-path") {
		t.Fatalf("second line = %s", lines[1])
	}
}

func TestMetrics(t *testing.T) {
	s, _ := newTestServer(t)
	s.Registry = prometheus.NewRegistry()
	h := s.Handler()

	serve(h, "GET", "/api/v1/auth/verify", activeKey, "")
	serve(h, "GET", "/api/v1/auth/verify", activeKey, "")
	serve(h, "GET", "/api/v1/auth/verify", "", "")
	serve(h, "GET", "/api/v1/agents/raw-id-1/nope", "", "")
	serve(h, "BREW", "/api/v1/stats", "", "")

	families, err := s.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]float64{}
	histograms := map[string]uint64{}
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			switch mf.GetName() {
			case "justpay_http_requests_total":
				counts[labels(m)] = m.GetCounter().GetValue()
			case "justpay_http_request_duration_seconds":
				histograms[labels(m)] = m.GetHistogram().GetSampleCount()
			}
		}
	}
	want := map[string]float64{
		"code=200,method=GET,route=GET /api/v1/auth/verify": 2,
		"code=401,method=GET,route=GET /api/v1/auth/verify": 1,
		"code=404,method=GET,route=unmatched":               1,
		"code=405,method=OTHER,route=unmatched":             1,
	}
	if len(counts) != len(want) {
		t.Fatalf("counters = %v, want %v", counts, want)
	}
	for k, v := range want {
		if counts[k] != v {
			t.Fatalf("counter %s = %v, want %v (all: %v)", k, counts[k], v, counts)
		}
	}
	if histograms["route=GET /api/v1/auth/verify"] != 3 || histograms["route=unmatched"] != 2 {
		t.Fatalf("histograms = %v", histograms)
	}

	w := serve(h, "GET", "/metrics", "", "")
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "justpay_http_requests_total") {
		t.Fatalf("/metrics: %d %s", w.Code, w.Body)
	}

	t.Run("SecondServerSameRegistry", func(t *testing.T) {
		s2, _ := newTestServer(t)
		s2.Registry = s.Registry
		serve(s2.Handler(), "GET", "/api/v1/auth/verify", activeKey, "")
	})
}

// labels renders a metric's labels as "k=v,k=v" in name order.
func labels(m *dto.Metric) string {
	var parts []string
	for _, l := range m.GetLabel() {
		parts = append(parts, l.GetName()+"="+l.GetValue())
	}
	return strings.Join(parts, ",")
}

func TestRouteTable(t *testing.T) {
	s, _ := newTestServer(t)
	s.Dev = &fakeDev{}
	s.Registry = prometheus.NewRegistry()
	type line struct {
		access      access
		idempotent  bool
		publicLimit bool
	}
	want := map[string]line{
		"POST /api/v1/auth/register":                         {accessPublic, false, false},
		"POST /api/v1/auth/keys":                             {accessAgent, false, false},
		"GET /api/v1/auth/keys":                              {accessAgent, false, false},
		"DELETE /api/v1/auth/keys/{keyId}":                   {accessAgent, false, false},
		"GET /api/v1/auth/verify":                            {accessAgent, false, false},
		"GET /api/v1/agents/me":                              {accessAgent, false, false},
		"PATCH /api/v1/agents/me":                            {accessAgent, false, false},
		"GET /api/v1/agents/{id}":                            {accessPublic, false, false},
		"GET /api/v1/agents/{id}/ratings":                    {accessPublic, false, false},
		"GET /api/v1/wallet/balance":                         {accessAgent, false, false},
		"GET /api/v1/wallet/deposit-address":                 {accessAgent, false, false},
		"POST /api/v1/wallet/confirm-deposit":                {accessAgent, true, false},
		"PUT /api/v1/wallet/withdrawal-address":              {accessAgent, false, false},
		"POST /api/v1/wallet/withdraw":                       {accessAgent, true, false},
		"POST /api/v1/wallet/panic":                          {accessAgent, true, false},
		"GET /api/v1/wallet/transactions":                    {accessAgent, false, false},
		"POST /api/v1/services":                              {accessActivated, false, false},
		"GET /api/v1/services/discover":                      {accessPublic, false, false},
		"GET /api/v1/services/categories":                    {accessPublic, false, false},
		"GET /api/v1/services/{id}":                          {accessPublic, false, false},
		"PATCH /api/v1/services/{id}":                        {accessActivated, false, false},
		"DELETE /api/v1/services/{id}":                       {accessActivated, false, false},
		"POST /api/v1/jobs":                                  {accessActivated, true, false},
		"GET /api/v1/jobs":                                   {accessActivated, false, false},
		"GET /api/v1/jobs/open":                              {accessPublic, false, false},
		"GET /api/v1/jobs/{id}":                              {accessActivated, false, false},
		"POST /api/v1/jobs/{id}/accept":                      {accessActivated, false, false},
		"POST /api/v1/jobs/{id}/deliver":                     {accessActivated, false, false},
		"POST /api/v1/jobs/{id}/accept-delivery":             {accessActivated, true, false},
		"POST /api/v1/jobs/{id}/cancel":                      {accessActivated, true, false},
		"POST /api/v1/jobs/{id}/apply":                       {accessActivated, false, false},
		"POST /api/v1/jobs/{id}/applications/{appId}/accept": {accessActivated, true, false},
		"POST /api/v1/jobs/{id}/rate":                        {accessActivated, false, false},
		"POST /api/v1/jobs/{id}/dispute":                     {accessActivated, true, false},
		"POST /api/v1/campaigns":                             {accessActivated, true, false},
		"GET /api/v1/campaigns":                              {accessActivated, false, false},
		"GET /api/v1/campaigns/discover":                     {accessPublic, false, true},
		"GET /api/v1/campaigns/{id}":                         {accessPublic, false, false},
		"POST /api/v1/campaigns/{id}/claim":                  {accessActivated, true, false},
		"GET /api/v1/campaigns/{id}/tasks":                   {accessActivated, false, false},
		"POST /api/v1/campaigns/{id}/tasks/{taskId}/deliver": {accessActivated, true, false},
		"POST /api/v1/campaigns/{id}/tasks/{taskId}/accept":  {accessActivated, true, false},
		"POST /api/v1/campaigns/{id}/tasks/{taskId}/reject":  {accessActivated, true, false},
		"POST /api/v1/campaigns/{id}/top-up":                 {accessActivated, true, false},
		"POST /api/v1/campaigns/{id}/pause":                  {accessActivated, false, false},
		"POST /api/v1/campaigns/{id}/resume":                 {accessActivated, false, false},
		"POST /api/v1/campaigns/{id}/cancel":                 {accessActivated, true, false},
		"POST /api/v1/proposals":                             {accessActivated, false, false},
		"GET /api/v1/proposals":                              {accessPublic, false, true},
		"GET /api/v1/proposals/{id}":                         {accessPublic, false, false},
		"POST /api/v1/proposals/{id}/vote":                   {accessActivated, false, false},
		"DELETE /api/v1/proposals/{id}/vote":                 {accessActivated, false, false},
		"GET /api/v1/webhooks/deliveries":                    {accessAgent, false, false},
		"POST /api/v1/webhooks/deliveries/{id}/redeliver":    {accessAgent, false, false},
		"POST /api/v1/webhooks/test":                         {accessAgent, false, false},
		"POST /api/v1/webhooks/secret/rotate":                {accessAgent, false, false},
		"GET /api/v1/stats":                                  {accessPublic, false, true},
		"GET /healthz":                                       {accessPublic, false, false},
		"GET /api/v1/admin/ledger/verify":                    {accessAdmin, false, false},
		"GET /api/v1/admin/disputes":                         {accessAdmin, false, false},
		"POST /api/v1/admin/disputes/{id}/resolve":           {accessAdmin, false, false},
		"POST /api/v1/reports":                               {accessActivated, false, false},
		"GET /api/v1/admin/reports":                          {accessAdmin, false, false},
		"POST /api/v1/admin/reports/{id}/dismiss":            {accessAdmin, false, false},
		"POST /api/v1/admin/reports/{id}/action":             {accessAdmin, false, false},
		"POST /api/v1/admin/agents/{id}/verify":              {accessAdmin, false, false},
		"POST /api/v1/admin/agents/{id}/unverify":            {accessAdmin, false, false},
		"POST /api/v1/admin/agents/{id}/restrict":            {accessAdmin, false, false},
		"POST /api/v1/admin/agents/{id}/unrestrict":          {accessAdmin, false, false},
		"GET /api/v1/admin/audit":                            {accessAdmin, false, false},
		"POST /api/v1/admin/proposals/{id}/status":           {accessAdmin, false, false},
		"GET /metrics":                                       {accessPublic, false, false},
		"POST /dev/chain/transfer":                           {accessPublic, false, false},
		"POST /dev/clock/advance":                            {accessPublic, false, false},
	}
	got := map[string]line{}
	for _, rt := range s.routes() {
		if _, dup := got[rt.pattern]; dup {
			t.Fatalf("route %q twice", rt.pattern)
		}
		got[rt.pattern] = line{rt.access, rt.idempotent, rt.publicLimit}
		if strings.HasPrefix(rt.pattern, "GET /api/v1/admin/") || strings.Contains(rt.pattern, " /api/v1/admin/") {
			if rt.access != accessAdmin {
				t.Errorf("%s is under /api/v1/admin but %s", rt.pattern, rt.access)
			}
		}
	}
	for p, w := range want {
		if got[p] != w {
			t.Errorf("%s = %+v, want %+v", p, got[p], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("routes = %d, want %d", len(got), len(want))
	}
}

func TestIdempotentRouteMustRequireAgent(t *testing.T) {
	s, _ := newTestServer(t)
	defer func() {
		if recover() == nil {
			t.Fatal("a public idempotent route must be refused at startup")
		}
	}()
	s.wrapRoute(route{pattern: "POST /x", access: accessPublic, idempotent: true, raw: okHandler})
}

func TestEndpointErrors(t *testing.T) {
	s, _ := newTestServer(t)
	h := s.endpoint(func(w http.ResponseWriter, r *http.Request) error {
		return errors.New("dial tcp 10.0.0.7:5432: connection refused")
	})
	if msg := mustJSONError(t, serve(h, "GET", "/x", "", ""), 500); msg != "internal error" {
		t.Fatalf("error = %q", msg)
	}
}
