package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// MustOpenServer opens s on a free local port and closes it when the test ends.
func MustOpenServer(tb testing.TB, s *Server) *Server {
	tb.Helper()
	s.Addr = "127.0.0.1:0"
	if err := s.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Error(err)
		}
	})
	return s
}

func TestServer_OpenClose(t *testing.T) {
	s, _ := newTestServer(t)
	if s.URL() != "" {
		t.Fatal("URL before Open must be empty")
	}
	MustOpenServer(t, s)
	if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") || strings.HasSuffix(s.URL(), ":0") {
		t.Fatalf("URL = %q", s.URL())
	}

	resp, err := http.Get(s.URL() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != `{"status":"ok"}` ||
		resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("healthz = %d %q", resp.StatusCode, body)
	}

	t.Run("PortInUse", func(t *testing.T) {
		other, _ := newTestServer(t)
		other.Addr = strings.TrimPrefix(s.URL(), "http://")
		if err := other.Open(); err == nil {
			other.Close()
			t.Fatal("Open on a used port must fail at once")
		}
	})

	t.Run("RealClientErrorsAreJSON", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, s.URL()+"/api/v1/auth/register", strings.NewReader(`{"name":`))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]string
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 400 || body["error"] == "" {
			t.Fatalf("got %d %v %v", resp.StatusCode, body, err)
		}
	})
}

func TestServer_UnspecifiedAddrURL(t *testing.T) {
	s, _ := newTestServer(t)
	s.Addr = ":0"
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !strings.HasPrefix(s.URL(), "http://localhost:") {
		t.Fatalf("URL = %q", s.URL())
	}
}

func TestServer_CloseDrainsInFlight(t *testing.T) {
	s, _ := newTestServer(t)
	started := make(chan struct{})
	release := make(chan struct{})
	s.Ready = func(ctx context.Context) error {
		close(started)
		<-release
		return nil
	}
	s.Addr = "127.0.0.1:0"
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	type result struct {
		status int
		err    error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.Get(s.URL() + "/healthz")
		if err != nil {
			done <- result{err: err}
			return
		}
		resp.Body.Close()
		done <- result{status: resp.StatusCode}
	}()
	<-started
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case <-closed:
		t.Fatal("Close returned while a request was in flight")
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if r := <-done; r.err != nil || r.status != http.StatusOK {
		t.Fatalf("in-flight request: %+v", r)
	}
}

func TestHealthz(t *testing.T) {
	s, _ := newTestServer(t)
	s.Ready = func(context.Context) error { return errors.New("database is down") }
	w := serve(s.Handler(), "GET", "/healthz", "", "")
	if msg := mustJSONError(t, w, http.StatusServiceUnavailable); msg != "not ready" {
		t.Fatalf("error = %q", msg)
	}
}

func TestDevRoutes(t *testing.T) {
	s, clock := newTestServer(t)
	s.Dev = &fakeDev{clock: clock}
	h := s.Handler()

	w := serve(h, "POST", "/dev/chain/transfer", "", `{"from":"A","to":"B","amount":5000000}`)
	if w.Code != http.StatusOK || strings.TrimSpace(w.Body.String()) != `{"signature":"sig-A-B"}` {
		t.Fatalf("transfer = %d %s", w.Code, w.Body)
	}
	w = serve(h, "POST", "/dev/clock/advance", "", `{"seconds":3600}`)
	if w.Code != http.StatusOK || strings.TrimSpace(w.Body.String()) != `{"now":"2026-02-09T16:00:00.000Z"}` {
		t.Fatalf("advance = %d %s", w.Code, w.Body)
	}
	for _, tc := range []struct{ path, body, msg string }{
		{"/dev/chain/transfer", `{"from":"A","to":"B","amount":1.5}`, "amount must be a whole number of micro-units without a fraction"},
		{"/dev/chain/transfer", `{"from":"A","to":"B","amount":0}`, "amount must be greater than zero"},
		{"/dev/chain/transfer", `{"from":"A","amount":1}`, "from and to are required"},
		{"/dev/clock/advance", `{"seconds":0}`, "seconds must be a whole number from 1 to 31622400"},
		{"/dev/clock/advance", `{"seconds":31622401}`, "seconds must be a whole number from 1 to 31622400"},
		{"/dev/clock/advance", `{}`, "seconds must be"},
		{"/dev/clock/advance", `{"seconds":60,"minutes":1}`, `unknown field "minutes"`},
	} {
		w := serve(h, "POST", tc.path, "", tc.body)
		if msg := mustJSONError(t, w, http.StatusBadRequest); !strings.Contains(msg, tc.msg) {
			t.Errorf("%s %s: error = %q, want %q", tc.path, tc.body, msg, tc.msg)
		}
	}
	if got := clock.Now(); !got.Equal(testTime.Add(time.Hour)) {
		t.Fatalf("clock = %v", got)
	}
}
