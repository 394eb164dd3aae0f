package httpapi

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/justpay/justpay"
)

// Error codes that exist only at the HTTP edge, beside the domain's codes.
const (
	codeTooLarge         = "request_too_large"
	codeUnsupportedMedia = "unsupported_media_type"
	codeMethodNotAllowed = "method_not_allowed"
)

// codes is the one table from error codes to HTTP statuses. Any code not in it is a 500.
var codes = map[string]int{
	justpay.EINVALID:       http.StatusBadRequest,
	justpay.EINSUFFICIENT:  http.StatusBadRequest,
	justpay.EUNAUTHORIZED:  http.StatusUnauthorized,
	justpay.EFORBIDDEN:     http.StatusForbidden,
	justpay.ENOTFOUND:      http.StatusNotFound,
	justpay.ECONFLICT:      http.StatusConflict,
	justpay.EUNPROCESSABLE: http.StatusUnprocessableEntity,
	justpay.ERATELIMITED:   http.StatusTooManyRequests,
	justpay.EINTERNAL:      http.StatusInternalServerError,
	codeTooLarge:           http.StatusRequestEntityTooLarge,
	codeUnsupportedMedia:   http.StatusUnsupportedMediaType,
	codeMethodNotAllowed:   http.StatusMethodNotAllowed,
}

// errorStatus returns the HTTP status for an error code.
func errorStatus(code string) int {
	if status, ok := codes[code]; ok {
		return status
	}
	return http.StatusInternalServerError
}

// errorResponse is the body of every error: {"error": "..."}.
type errorResponse struct {
	Error string `json:"error"`
}

// writeError writes err as {"error": message} with the status of its code. A 5xx answers only
// "internal error"; the real error goes to the log.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status := errorStatus(justpay.ErrorCode(err))
	msg := justpay.ErrorMessage(err)
	if status >= 500 {
		s.Logger.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = "internal error"
	}
	writeJSON(w, status, errorResponse{Error: msg})
}

// writeJSON writes v as the JSON body with the given status. v is encoded before anything is sent,
// so an encoding failure still produces a clean 500.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		body = []byte(`{"error":"internal error"}`)
	}
	writeRawJSON(w, status, append(body, '\n'))
}

// writeRawJSON writes an already encoded JSON body.
func writeRawJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// formatTimePtr renders an optional time; nil stays nil (JSON null).
func formatTimePtr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := justpay.FormatTime(*t)
	return &s
}

// nullString maps "" to nil (JSON null) for optional text fields.
func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// nonNil returns s, or an empty slice when s is nil, so lists encode as [] and never null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// pagination is the paging block of every list response.
type pagination struct {
	Page       int `json:"page"`
	Limit      int `json:"limit"`
	Total      int `json:"total"`
	TotalPages int `json:"totalPages"`
}

// newPagination describes page p of a list of total items.
func newPagination(p justpay.Page, total int) pagination {
	pages := 0
	if p.Limit > 0 {
		pages = (total + p.Limit - 1) / p.Limit
	}
	return pagination{Page: p.Page, Limit: p.Limit, Total: total, TotalPages: pages}
}

// parsePage reads the page and limit query parameters (defaults 1 and 20). Anything that is not a
// whole number in range is EINVALID.
func parsePage(r *http.Request) (justpay.Page, error) {
	p := justpay.Page{Page: 1, Limit: justpay.DefaultPageLimit}
	for _, f := range []struct {
		name string
		dst  *int
	}{{"page", &p.Page}, {"limit", &p.Limit}} {
		n, ok, err := queryInt(r, f.name)
		if err != nil {
			*f.dst = 0 // out of range: Validate names the field and its range
			break
		}
		if ok {
			*f.dst = int(max(min(n, math.MaxInt32), math.MinInt32))
		}
	}
	return p, p.Validate()
}

// queryInt reads the query parameter name as a whole number; ok is false when it is absent or
// empty. Anything else, including a number beyond int64, is EINVALID naming the parameter.
func queryInt(r *http.Request, name string) (n int64, ok bool, err error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, false, nil
	}
	n, err = strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, false, justpay.Errorf(justpay.EINVALID, "%s must be a whole number", name)
	}
	return n, true, nil
}

// writeList writes one page of a list as {"<name>": [...], "pagination": {...}}, rendering each
// item with render. Every list endpoint answers in this shape.
func writeList[T, R any](w http.ResponseWriter, name string, items []T, render func(T) R, page justpay.Page, total int) {
	out := make([]R, 0, len(items))
	for _, it := range items {
		out = append(out, render(it))
	}
	writeJSON(w, http.StatusOK, listBody[R]{name: name, items: out, pagination: newPagination(page, total)})
}

// listBody encodes a list page with its items first and the pagination after, under a key that
// is only known at run time.
type listBody[R any] struct {
	name       string
	items      []R
	pagination pagination
}

// MarshalJSON implements json.Marshaler.
func (b listBody[R]) MarshalJSON() ([]byte, error) {
	name, err := json.Marshal(b.name)
	if err != nil {
		return nil, err
	}
	items, err := json.Marshal(b.items)
	if err != nil {
		return nil, err
	}
	pg, err := json.Marshal(b.pagination)
	if err != nil {
		return nil, err
	}
	return fmt.Appendf(nil, `{%s:%s,"pagination":%s}`, name, items, pg), nil
}
