package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"

	"github.com/justpay/justpay"
)

// maxIdempotencyKeyLen is the longest Idempotency-Key accepted.
const maxIdempotencyKeyLen = 255

// validIdempotencyKey reports whether key is 1-255 printable ASCII characters, not starting or
// ending with a space (which HTTP would trim on the way).
func validIdempotencyKey(key string) bool {
	if len(key) == 0 || len(key) > maxIdempotencyKeyLen || key[0] == ' ' || key[len(key)-1] == ' ' {
		return false
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] > 0x7e {
			return false
		}
	}
	return true
}

// requestFingerprint is the hex SHA-256 of what makes two requests "the same": method, path and
// raw body. The parts are separated by newlines, which neither method nor path can contain.
func requestFingerprint(method, path string, body []byte) string {
	h := sha256.New()
	io.WriteString(h, method)
	h.Write([]byte{'\n'})
	io.WriteString(h, path)
	h.Write([]byte{'\n'})
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// idempotent honours the Idempotency-Key header of money-moving POSTs. It runs inside
// requireAgent: the key is scoped to the calling agent. A finished request's response is replayed
// verbatim with Idempotency-Replayed: true; a key reused for another request is 422, a key in
// flight 409. Otherwise the handler runs with the claim in its context (the store marks it applied
// in the transaction that moves the money) and its response is stored, unless it is a 5xx, in
// which case the claim is released so the request can be retried.
func (s *Server) idempotent(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		values := r.Header.Values("Idempotency-Key")
		if len(values) == 0 {
			next.ServeHTTP(w, r)
			return
		}
		key := values[0]
		if len(values) > 1 || !validIdempotencyKey(key) {
			s.writeError(w, r, justpay.Errorf(justpay.EINVALID, "Idempotency-Key must be one header of 1-%d printable ASCII characters", maxIdempotencyKeyLen))
			return
		}
		p := principalFrom(r.Context())
		if p == nil || p.Agent == nil {
			s.writeError(w, r, justpay.Errorf(justpay.EINTERNAL, "httpapi: idempotent route without an agent"))
			return
		}
		body, err := readBody(w, r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))

		claim := justpay.IdempotencyClaim{Scope: p.Agent.ID, Key: key}
		stored, err := s.Idempotency.BeginIdempotent(r.Context(), claim, requestFingerprint(r.Method, r.URL.Path, body))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if stored != nil {
			w.Header().Set("Idempotency-Replayed", "true")
			writeRawJSON(w, stored.Status, stored.Body)
			return
		}

		// Finish or abort even when the client went away or the handler panicked.
		ctx := context.WithoutCancel(r.Context())
		capture := &captureWriter{responseRecorder: responseRecorder{ResponseWriter: w}}
		finished := false
		defer func() {
			if finished {
				return
			}
			if err := s.Idempotency.AbortIdempotent(ctx, claim); err != nil {
				s.Logger.ErrorContext(ctx, "abort idempotency key", "scope", claim.Scope, "err", err)
			}
		}()
		next.ServeHTTP(capture, r.WithContext(justpay.WithIdempotencyClaim(r.Context(), claim)))

		status := capture.statusCode()
		if status >= http.StatusInternalServerError {
			return // the deferred abort releases the claim
		}
		finished = true
		resp := justpay.StoredResponse{Status: status, Body: capture.body.Bytes()}
		if err := s.Idempotency.FinishIdempotent(ctx, claim, resp); err != nil {
			s.Logger.ErrorContext(ctx, "finish idempotency key", "scope", claim.Scope, "err", err)
		}
	})
}

// captureWriter passes a response through while keeping a copy of its status and body.
type captureWriter struct {
	responseRecorder
	body bytes.Buffer
}

// Write copies the body.
func (w *captureWriter) Write(p []byte) (int, error) {
	w.body.Write(p)
	return w.responseRecorder.Write(p)
}

// statusCode is the status written, 200 if the handler wrote nothing.
func (w *captureWriter) statusCode() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}
