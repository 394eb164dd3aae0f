package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/justpay/justpay"
)

func TestErrorStatus(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
		msg    string
	}{
		{justpay.Errorf(justpay.EINVALID, "bad"), 400, "bad"},
		{justpay.Errorf(justpay.EINSUFFICIENT, "poor"), 400, "poor"},
		{justpay.Errorf(justpay.EUNAUTHORIZED, "who"), 401, "who"},
		{justpay.Errorf(justpay.EFORBIDDEN, "no"), 403, "no"},
		{justpay.Errorf(justpay.ENOTFOUND, "gone"), 404, "gone"},
		{justpay.Errorf(justpay.ECONFLICT, "clash"), 409, "clash"},
		{justpay.Errorf(justpay.EUNPROCESSABLE, "other request"), 422, "other request"},
		{justpay.Errorf(justpay.ERATELIMITED, "slow down"), 429, "slow down"},
		{justpay.Errorf(justpay.EINTERNAL, "db exploded at 10.0.0.7"), 500, "internal error"},
		{errBodyTooLarge, 413, "request body too large (limit 1 MiB)"},
		{justpay.Errorf("no_such_code", "secret"), 500, "internal error"},
		{errors.New("plain error with secrets"), 500, "internal error"},
		{fmt.Errorf("wrapped: %w", justpay.Errorf(justpay.ENOTFOUND, "agent not found")), 404, "agent not found"},
	} {
		t.Run(fmt.Sprint(tc.status, "/", tc.msg), func(t *testing.T) {
			var logs bytes.Buffer
			s := &Server{Logger: slog.New(slog.NewTextHandler(&logs, nil))}
			w := httptest.NewRecorder()
			s.writeError(w, httptest.NewRequest(http.MethodGet, "/x", nil), tc.err)
			if w.Code != tc.status {
				t.Fatalf("status = %d, want %d", w.Code, tc.status)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type = %q", ct)
			}
			var body map[string]string
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || len(body) != 1 || body["error"] != tc.msg {
				t.Fatalf("body = %s, want {\"error\":%q}", w.Body, tc.msg)
			}
			if tc.status >= 500 && !strings.Contains(logs.String(), tc.err.Error()) {
				t.Fatalf("log %q does not hold the real error %q", logs.String(), tc.err)
			}
		})
	}
}

func TestParsePage(t *testing.T) {
	for _, tc := range []struct {
		query       string
		page, limit int
		msg         string
	}{
		{"", 1, 20, ""},
		{"page=3&limit=100", 3, 100, ""},
		{"limit=1", 1, 1, ""},
		{"page=0", 0, 0, "page must be a whole number from 1"},
		{"page=-1", 0, 0, "page must be"},
		{"page=abc", 0, 0, "page must be"},
		{"page=1.5", 0, 0, "page must be"},
		{"page=99999999999999999999999", 0, 0, "page must be"},
		{"limit=0", 0, 0, "limit must be a whole number from 1 to 100"},
		{"limit=101", 0, 0, "limit must be"},
		{"limit=ten", 0, 0, "limit must be"},
	} {
		t.Run(tc.query, func(t *testing.T) {
			p, err := parsePage(httptest.NewRequest(http.MethodGet, "/x?"+tc.query, nil))
			if tc.msg != "" {
				if justpay.ErrorCode(err) != justpay.EINVALID || !strings.Contains(justpay.ErrorMessage(err), tc.msg) {
					t.Fatalf("err = %v, want invalid containing %q", err, tc.msg)
				}
				return
			}
			if err != nil || p.Page != tc.page || p.Limit != tc.limit {
				t.Fatalf("got %+v, %v; want page %d limit %d", p, err, tc.page, tc.limit)
			}
		})
	}
}

func TestNewPagination(t *testing.T) {
	for _, tc := range []struct{ total, limit, pages int }{{0, 20, 0}, {1, 20, 1}, {20, 20, 1}, {21, 20, 2}, {100, 1, 100}} {
		got := newPagination(justpay.Page{Page: 1, Limit: tc.limit}, tc.total)
		if got.TotalPages != tc.pages || got.Total != tc.total {
			t.Errorf("total %d limit %d: got %+v, want %d pages", tc.total, tc.limit, got, tc.pages)
		}
	}
}

func TestFormatTime(t *testing.T) {
	loc := time.FixedZone("CET", 3600)
	got := justpay.FormatTime(time.Date(2026, 2, 9, 16, 0, 0, 123456789, loc))
	if want := "2026-02-09T15:00:00.123Z"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if formatTimePtr(nil) != nil {
		t.Fatal("nil time must stay nil")
	}
}
