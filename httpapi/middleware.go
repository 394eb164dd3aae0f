package httpapi

import (
	"context"
	"errors"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/justpay/justpay"
	"github.com/prometheus/client_golang/prometheus"
)

// requestInfo is what the inner layers learn about a request (its route pattern, its agent) for
// the outer layers that log and measure it once it is done.
type requestInfo struct {
	route   string // the matched route pattern; "" when no route matched
	agentID string
}

type requestInfoKey struct{}

// responseRecorder remembers the status written through it.
type responseRecorder struct {
	http.ResponseWriter
	status int
}

// WriteHeader records the first status.
func (w *responseRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write records the implicit 200 of a body written without WriteHeader.
func (w *responseRecorder) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *responseRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// track returns the request's recorder and info, creating them on the way in. The outermost layer
// creates them; the layers inside reuse them.
func track(w http.ResponseWriter, r *http.Request) (*responseRecorder, *http.Request, *requestInfo) {
	rec, ok := w.(*responseRecorder)
	if !ok {
		rec = &responseRecorder{ResponseWriter: w}
	}
	info, ok := r.Context().Value(requestInfoKey{}).(*requestInfo)
	if !ok {
		info = &requestInfo{}
		r = r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, info))
	}
	return rec, r, info
}

// infoFrom returns the request's info, or a throwaway one when no outer layer made it.
func infoFrom(ctx context.Context) *requestInfo {
	if info, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		return info
	}
	return &requestInfo{}
}

// routeLabel is the route of a request for logs and metrics: its pattern, never the raw path.
func (i *requestInfo) routeLabel() string {
	if i.route == "" {
		return "unmatched"
	}
	return i.route
}

// markRoute records the matched route pattern for the outer layers.
func markRoute(pattern string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		infoFrom(r.Context()).route = pattern
		next.ServeHTTP(w, r)
	})
}

// recoverPanics turns a panic into a 500 {"error":"internal error"} and logs it with its stack.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec, r, _ := track(w, r)
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if p == http.ErrAbortHandler {
				panic(p) // the server's way to abort a response; let it do so
			}
			s.Logger.ErrorContext(r.Context(), "panic serving request", "method", r.Method, "path", r.URL.Path,
				"panic", p, "stack", string(debug.Stack()))
			if rec.status == 0 {
				writeJSON(rec, http.StatusInternalServerError, errorResponse{Error: "internal error"})
			}
		}()
		next.ServeHTTP(rec, r)
	})
}

// logRequests writes one slog line per request: method, route pattern, status, duration, agent.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec, r, info := track(w, r)
		start := time.Now() // wall time for the duration, not the injectable clock
		returned := false
		defer func() {
			s.Logger.InfoContext(r.Context(), "http request",
				"method", r.Method,
				"route", info.routeLabel(),
				"status", finalStatus(rec, returned),
				"duration", time.Since(start),
				"agent", info.agentID,
			)
		}()
		next.ServeHTTP(rec, r)
		returned = true
	})
}

// finalStatus is the status a request ended with; a handler that panicked before writing ends
// with the 500 the recover layer is about to write.
func finalStatus(rec *responseRecorder, returned bool) int {
	switch {
	case rec.status != 0:
		return rec.status
	case returned:
		return http.StatusOK
	}
	return http.StatusInternalServerError
}

// httpMetrics are the Prometheus collectors of the HTTP layer.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// newHTTPMetrics registers the collectors on reg, reusing ones already registered there.
func newHTTPMetrics(reg *prometheus.Registry) (*httpMetrics, error) {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "justpay_http_requests_total",
		Help: "HTTP requests served, by route pattern, method and status code.",
	}, []string{"route", "method", "code"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "justpay_http_request_duration_seconds",
		Help:    "Time to serve HTTP requests, by route pattern.",
		Buckets: prometheus.DefBuckets,
	}, []string{"route"})
	m := &httpMetrics{}
	var err error
	if m.requests, err = registerOrReuse(reg, requests); err != nil {
		return nil, err
	}
	if m.duration, err = registerOrReuse(reg, duration); err != nil {
		return nil, err
	}
	return m, nil
}

// registerOrReuse registers c, or returns the identical collector already registered.
func registerOrReuse[C prometheus.Collector](reg *prometheus.Registry, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}

// measure counts requests and observes their durations, labelled by route pattern.
func (s *Server) measure(next http.Handler) http.Handler {
	if s.metrics == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec, r, info := track(w, r)
		start := time.Now()
		returned := false
		defer func() {
			route := info.routeLabel()
			code := strconv.Itoa(finalStatus(rec, returned))
			s.metrics.requests.WithLabelValues(route, methodLabel(r.Method), code).Inc()
			s.metrics.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
		}()
		next.ServeHTTP(rec, r)
		returned = true
	})
}

// methodLabel keeps the method label's values few: clients may send any method name.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "OTHER"
}

// jsonMuxErrors serves mux and rewrites the answers the mux gives by itself (404 for an unknown
// path, 405 for a known path with another method, 301 to a cleaned path) as JSON bodies. It tells
// them apart from the routes' own answers by the route pattern markRoute records.
func jsonMuxErrors(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec, r, info := track(w, r)
		mux.ServeHTTP(&muxErrorWriter{ResponseWriter: rec, info: info}, r)
	})
}

// muxErrorWriter replaces the text body of a response the mux wrote itself with a JSON one.
type muxErrorWriter struct {
	http.ResponseWriter
	info     *requestInfo
	replaced bool
}

// WriteHeader passes a route's status through; for the mux's own answers it writes the JSON body.
func (w *muxErrorWriter) WriteHeader(code int) {
	if w.info.route != "" || w.replaced {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.replaced = true
	h := w.ResponseWriter.Header()
	h.Del("X-Content-Type-Options")
	msg := "not found"
	switch {
	case code == http.StatusMethodNotAllowed:
		msg = "method not allowed; allowed: " + h.Get("Allow")
	case code >= 300 && code < 400:
		msg = "moved to " + h.Get("Location")
	case code != http.StatusNotFound:
		msg = strings.ToLower(http.StatusText(code))
	}
	writeJSON(w.ResponseWriter, code, errorResponse{Error: msg})
}

// Write drops the mux's own text bodies.
func (w *muxErrorWriter) Write(p []byte) (int, error) {
	if w.info.route == "" && !w.replaced {
		w.WriteHeader(http.StatusOK)
	}
	if w.replaced {
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *muxErrorWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

type principalKey struct{}

// withPrincipal returns a context carrying the authenticated caller.
func withPrincipal(ctx context.Context, p *justpay.Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// principalFrom returns the authenticated caller of the request, nil on public routes.
func principalFrom(ctx context.Context) *justpay.Principal {
	p, _ := ctx.Value(principalKey{}).(*justpay.Principal)
	return p
}

// bearerToken returns the token of an "Authorization: Bearer <token>" header, "" if there is none.
func bearerToken(r *http.Request) string {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

var (
	errMissingAPIKey     = justpay.Errorf(justpay.EUNAUTHORIZED, "missing API key: send Authorization: Bearer <key>")
	errMissingAdminToken = justpay.Errorf(justpay.EUNAUTHORIZED, "missing admin token: send Authorization: Bearer <admin token>")
	errAdminRequired     = justpay.Errorf(justpay.EFORBIDDEN, "admin token required")
	errNotActivated      = justpay.Errorf(justpay.EFORBIDDEN, "agent is not activated: deposit at least 1 USDC to your wallet address, then call POST /api/v1/wallet/confirm-deposit")
)

// requireAgent authenticates the API key and puts the principal in the request context.
func (s *Server) requireAgent(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := bearerToken(r)
		if token == "" {
			s.writeError(w, r, errMissingAPIKey)
			return
		}
		p, err := s.Agents.Authenticate(r.Context(), token)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if p == nil || p.Agent == nil {
			s.writeError(w, r, errors.New("httpapi: Authenticate returned no agent"))
			return
		}
		infoFrom(r.Context()).agentID = p.Agent.ID
		next.ServeHTTP(w, r.WithContext(withPrincipal(r.Context(), p)))
	})
}

// requireActivated refuses agents that are not activated yet. It goes inside requireAgent.
func requireActivated(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := principalFrom(r.Context())
		if p == nil || p.Agent == nil || !p.Agent.Activated {
			writeJSON(w, errorStatus(justpay.EFORBIDDEN), errorResponse{Error: errNotActivated.Message})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// requireAdmin admits only requests bearing the admin token.
func (s *Server) requireAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := bearerToken(r)
		if token == "" {
			s.writeError(w, r, errMissingAdminToken)
			return
		}
		if s.Admin == nil {
			s.writeError(w, r, errAdminRequired)
			return
		}
		ok, err := s.Admin.IsAdminToken(r.Context(), token)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if !ok {
			s.writeError(w, r, errAdminRequired)
			return
		}
		infoFrom(r.Context()).agentID = "admin"
		next.ServeHTTP(w, r)
	})
}
