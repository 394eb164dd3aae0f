package webhook_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/justpay/justpay/sqlstore/sqlstoretest"
	"github.com/justpay/justpay/webhook"
)

func TestAllowed(t *testing.T) {
	for _, c := range []struct {
		ip           string
		want, loopOK bool // without and with loopback allowed
	}{
		{"8.8.8.8", true, true},
		{"1.1.1.1", true, true},
		{"2606:4700:4700::1111", true, true},
		{"127.0.0.1", false, true},
		{"127.255.0.9", false, true},
		{"::1", false, true},
		{"::ffff:127.0.0.1", false, true},
		{"::127.0.0.1", false, true}, // IPv4-compatible
		{"64:ff9b::7f00:1", false, true},
		{"2002:7f00:1::1", false, true},
		{"0.0.0.0", false, false},
		{"0.1.2.3", false, false},
		{"::", false, false},
		{"10.0.0.1", false, false},
		{"172.16.0.1", false, false},
		{"172.31.255.255", false, false},
		{"192.168.1.1", false, false},
		{"100.64.0.1", false, false},
		{"100.127.255.254", false, false},
		{"169.254.169.254", false, false},
		{"224.0.0.1", false, false},
		{"239.255.255.250", false, false},
		{"255.255.255.255", false, false},
		{"240.0.0.1", false, false},
		{"192.0.2.1", false, false},
		{"198.18.0.1", false, false},
		{"fc00::1", false, false},
		{"fd12:3456::1", false, false},
		{"fe80::1", false, false},
		{"fe80::1%eth0", false, false},
		{"ff02::1", false, false},
		{"::ffff:10.0.0.1", false, false},
		{"::ffff:169.254.169.254", false, false},
		{"64:ff9b::a9fe:a9fe", false, false},                   // NAT64 of 169.254.169.254
		{"64:ff9b::808:808", true, true},                       // NAT64 of 8.8.8.8
		{"2002:c0a8:101::1", false, false},                     // 6to4 of 192.168.1.1
		{"2002:808:808::1", true, true},                        // 6to4 of 8.8.8.8
		{"64:ff9b:1::1", false, false},                         // local-use NAT64
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", false, false}, // Teredo
		{"2001:db8::1", false, false},
		{"100::1", false, false},
		{"172.15.255.255", true, true},
		{"172.32.0.0", true, true},
		{"100.128.0.0", true, true},
	} {
		ip := netip.MustParseAddr(c.ip)
		if got := webhook.Allowed(ip, false); got != c.want {
			t.Errorf("Allowed(%s) = %v, want %v", c.ip, got, c.want)
		}
		if got := webhook.Allowed(ip, true); got != c.loopOK {
			t.Errorf("Allowed(%s, loopback allowed) = %v, want %v", c.ip, got, c.loopOK)
		}
	}
}

func TestNewClientBadAllowHosts(t *testing.T) {
	for _, h := range []string{"10.0.0.0/33", "http://x.example", "x.example:443", "user@x"} {
		if _, err := webhook.NewClient(webhook.Policy{AllowHosts: []string{h}}); err == nil {
			t.Errorf("AllowHosts %q accepted", h)
		}
	}
	if _, err := webhook.NewClient(webhook.Policy{AllowHosts: []string{"hooks.example.com", "10.1.2.3", "10.0.0.0/8", "[::1]", " ", "fd00::/8"}}); err != nil {
		t.Error(err)
	}
}

// TestSSRF sends to a sentinel listener on loopback through every kind of address that reaches
// it (or would reach an internal service): with loopback not allowed, none connects.
func TestSSRF(t *testing.T) {
	s := newSentinel(t)
	port := s.Port()
	port6 := s.Port6()
	if port6 == "" {
		port6 = port
	}
	targets := []string{
		"http://127.0.0.1:" + port + "/",
		"http://[::1]:" + port6 + "/",
		"http://[::ffff:127.0.0.1]:" + port + "/",
		"http://[::ffff:7f00:1]:" + port + "/",
		"http://localhost:" + port + "/",
		"http://0.0.0.0:" + port + "/",
		"http://[::]:" + port6 + "/",
		"http://127.1:" + port + "/",
		"http://2130706433:" + port + "/", // 127.0.0.1 as one number
		"http://10.0.0.1:" + port + "/",
		"http://169.254.169.254/latest/meta-data/",
		"http://[64:ff9b::7f00:1]:" + port + "/",
		"http://[2002:7f00:1::1]:" + port + "/",
		"http://[fe80::1]:" + port + "/",
	}
	client := mustClient(t, webhook.Policy{})
	for _, target := range targets {
		t.Run(target, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, "POST", target, strings.NewReader(`{}`))
			if err != nil {
				t.Skipf("Go refuses to build the request: %v", err)
			}
			start := time.Now()
			resp, err := client.Do(req)
			if err == nil {
				resp.Body.Close()
				t.Fatalf("got %d, want a refused connection", resp.StatusCode)
			}
			var dnsErr *net.DNSError
			if !errors.Is(err, webhook.ErrAddressNotAllowed) && !errors.As(err, &dnsErr) {
				t.Errorf("err = %v, want ErrAddressNotAllowed", err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("refusal took %v: the dialer must refuse before connecting", d)
			}
		})
	}
	if n := s.settle(); n != 0 {
		t.Fatalf("the sentinel accepted %d connections, want 0", n)
	}

	// The same sentinel is reachable when loopback is allowed: the zero above means something.
	allowed := mustClient(t, webhook.Policy{AllowLoopback: true})
	if resp, err := allowed.Post("http://127.0.0.1:"+port+"/", "application/json", strings.NewReader(`{}`)); err == nil {
		resp.Body.Close()
	}
	if n := s.settle(); n == 0 {
		t.Fatal("the sentinel saw no connection with loopback allowed: the test cannot see connections")
	}
}

// TestSSRFRedirect has an allowed receiver answer 302 to the sentinel: the redirect is the answer,
// never followed, with or without loopback allowed.
func TestSSRFRedirect(t *testing.T) {
	s := newSentinel(t)
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.2: %v", err)
	}
	var hits atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Redirect(w, r, "http://127.0.0.1:"+s.Port()+"/internal", http.StatusFound)
	}))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	defer srv.Close()

	for _, p := range []webhook.Policy{{AllowHosts: []string{"127.0.0.2"}}, {AllowHosts: []string{"127.0.0.2/32"}}, {AllowLoopback: true}} {
		resp, err := mustClient(t, p).Post(srv.URL+"/hook", "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatalf("policy %+v: %v", p, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound {
			t.Errorf("policy %+v: status = %d, want the 302 itself", p, resp.StatusCode)
		}
	}
	if n := hits.Load(); n != 3 {
		t.Errorf("receiver hits = %d, want 3", n)
	}
	if n := s.settle(); n != 0 {
		t.Fatalf("the sentinel accepted %d connections, want 0", n)
	}
	// The allowed host is allowed; its neighbour on loopback is not.
	if _, err := mustClient(t, webhook.Policy{AllowHosts: []string{"127.0.0.2"}}).Post("http://127.0.0.1:"+s.Port()+"/", "application/json", nil); !errors.Is(err, webhook.ErrAddressNotAllowed) {
		t.Errorf("neighbour of an allowed host: err = %v, want ErrAddressNotAllowed", err)
	}
	if n := s.settle(); n != 0 {
		t.Fatalf("the sentinel accepted %d connections, want 0", n)
	}
}

// TestSSRFThroughDispatcher points an agent's callbackUrl at the sentinel by a name that resolves
// to loopback: the delivery fails with a short reason, and nothing connects.
func TestSSRFThroughDispatcher(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		s := newSentinel(t)
		env := sqlstoretest.NewEnv(t, b)
		d := newDispatcher(t, env, webhook.Policy{})
		for i, url := range []string{"http://localhost:" + s.Port() + "/hook", "http://127.0.0.1:" + s.Port() + "/hook",
			"http://[::ffff:127.0.0.1]:" + s.Port() + "/hook", "http://169.254.169.254/hook"} {
			a, _ := hooked(t, env, "ssrf-"+string(rune('a'+i)), url)
			changeAddress(t, env, a.ID)
			mustRunOnce(t, d)
			got := only(t, env, a.ID)
			if got.Attempts != 1 || got.LastStatusCode != 0 || !strings.Contains(got.LastError, "not allowed") {
				t.Errorf("%s: delivery %+v, want 1 attempt refused as not allowed", url, got)
			}
		}
		if n := s.settle(); n != 0 {
			t.Fatalf("the sentinel accepted %d connections, want 0", n)
		}
	})
}
