package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/justpay/justpay/sqlstore/sqlstoretest"
)

// TestServe_Webhooks: `justpay serve` runs the webhook dispatcher. An agent on this machine (dev
// mode reaches loopback) gets its event, first refused by the receiver and then, once the dev
// clock is advanced past the 1 s retry, delivered again with the same webhook-id.
func TestServe_Webhooks(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		clearEnv(t)
		var mu sync.Mutex
		var ids []string
		rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			mu.Lock()
			ids = append(ids, r.Header.Get("webhook-id"))
			n := len(ids)
			mu.Unlock()
			if n == 1 {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
		}))
		defer rc.Close()
		received := func() []string {
			mu.Lock()
			defer mu.Unlock()
			return append([]string(nil), ids...)
		}
		waitFor := func(n int) {
			t.Helper()
			for deadline := time.Now().Add(10 * time.Second); len(received()) < n; time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("receiver got %d requests after 10 s, want %d", len(received()), n)
				}
			}
		}

		m, _ := MustServe(t, b)
		c := &client{t: t, base: m.URL()}
		var reg struct {
			APIKey        string `json:"apiKey"`
			WebhookSecret string `json:"webhookSecret"`
		}
		c.Do("POST", "/api/v1/auth/register", `{"name":"hooked-bot","callbackUrl":"`+rc.URL+`/hook"}`, http.StatusCreated, &reg)
		if !strings.HasPrefix(reg.WebhookSecret, "whsec_") {
			t.Fatalf("webhookSecret = %q", reg.WebhookSecret)
		}
		c.key = reg.APIKey
		for range 2 {
			c.Do("PUT", "/api/v1/wallet/withdrawal-address", `{"address":"`+sqlstoretest.NewWallet(t)+`"}`, http.StatusOK, nil)
		}
		waitFor(1)
		time.Sleep(300 * time.Millisecond) // the retry is not due on the standing clock
		if n := len(received()); n != 1 {
			t.Fatalf("receiver got %d requests before the retry was due, want 1", n)
		}
		c.Do("POST", "/dev/clock/advance", `{"seconds":1}`, http.StatusOK, nil)
		waitFor(2)
		if got := received(); got[0] != got[1] || got[0] == "" {
			t.Errorf("webhook-ids %v, want the same one twice", got)
		}
		var list struct {
			Deliveries []struct {
				Status   string `json:"status"`
				Attempts int    `json:"attempts"`
			} `json:"deliveries"`
		}
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			c.Do("GET", "/api/v1/webhooks/deliveries", "", http.StatusOK, &list)
			if len(list.Deliveries) == 1 && list.Deliveries[0].Status == "delivered" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("deliveries = %+v, want one delivered", list.Deliveries)
			}
		}
		if list.Deliveries[0].Attempts != 2 {
			t.Errorf("attempts = %d, want 2", list.Deliveries[0].Attempts)
		}
	})
}

func TestParseFlagsWebhooks(t *testing.T) {
	clearEnv(t)
	for _, k := range []string{EnvWebhookWorkers, EnvWebhookAllowHosts, EnvWebhookAllowLoopback} {
		t.Setenv(k, "")
	}
	m := NewMain(io.Discard, io.Discard)
	if err := m.ParseFlags(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if c := m.Config; c.WebhookWorkers != 8 || c.WebhookAllowHosts != "" || c.WebhookAllowLoopback {
		t.Errorf("defaults = %d %q %v", c.WebhookWorkers, c.WebhookAllowHosts, c.WebhookAllowLoopback)
	}
	t.Setenv(EnvWebhookWorkers, "3")
	t.Setenv(EnvWebhookAllowHosts, "hooks.internal")
	t.Setenv(EnvWebhookAllowLoopback, "true")
	m = NewMain(io.Discard, io.Discard)
	if err := m.ParseFlags(context.Background(), []string{"serve", "--webhook-workers", "5", "--webhook-allow-hosts", "a.internal,10.0.0.0/8"}); err != nil {
		t.Fatal(err)
	}
	if c := m.Config; c.WebhookWorkers != 5 || c.WebhookAllowHosts != "a.internal,10.0.0.0/8" || !c.WebhookAllowLoopback {
		t.Errorf("flags and env = %d %q %v", c.WebhookWorkers, c.WebhookAllowHosts, c.WebhookAllowLoopback)
	}
	runArgs(t, 2, "serve", "--webhook-workers", "0")
	t.Setenv(EnvWebhookAllowLoopback, "maybe")
	runArgs(t, 2, "serve")
	t.Setenv(EnvWebhookAllowLoopback, "")
	runArgs(t, 2, "serve", "--webhook-allow-hosts", "hooks.internal,http://x")
}
