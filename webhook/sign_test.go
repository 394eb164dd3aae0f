package webhook_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/justpay/justpay"
	"github.com/justpay/justpay/webhook"
)

func TestPayload(t *testing.T) {
	at := time.Date(2026, 2, 9, 12, 0, 0, 0, time.UTC)
	got, err := webhook.Payload("job.delivered", json.RawMessage(`{"jobId": "clx", "executionTimeSecs": 12}`), at)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"event":"job.delivered","data":{"jobId":"clx","executionTimeSecs":12},"timestamp":"2026-02-09T12:00:00.000Z"}`
	if string(got) != want {
		t.Errorf("payload = %s, want %s", got, want)
	}
	empty, err := webhook.Payload("ping", nil, at.In(time.FixedZone("x", 3600)))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"event":"ping","data":{},"timestamp":"2026-02-09T12:00:00.000Z"}`; string(empty) != want {
		t.Errorf("payload = %s, want %s", empty, want)
	}
}

// TestSignStandardWebhooksVector checks the signer against the example of the Standard Webhooks
// reference libraries, whose expected signature was computed by them, not by us.
func TestSignStandardWebhooksVector(t *testing.T) {
	h := http.Header{}
	body := []byte(`{"test": 2432232314}`)
	if err := webhook.Sign(h, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), body,
		[]string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"webhook-id":        "msg_p5jXN8AQM9LWM0D4loKWxJek",
		"webhook-timestamp": "1614265330",
		"webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if got := h.Get("X-JustPayAI-Signature"); !strings.HasPrefix(got, "t=1614265330,v1=") || len(got) != len("t=1614265330,v1=")+64 {
		t.Errorf("X-JustPayAI-Signature = %q, want t=1614265330,v1=<64 hex>", got)
	}
}

func TestSignVerifiesIndependently(t *testing.T) {
	current, previous, stranger := justpay.NewWebhookSecret(), justpay.NewWebhookSecret(), justpay.NewWebhookSecret()
	now := time.Date(2026, 2, 9, 12, 0, 0, 0, time.UTC)
	body := []byte(`{"event":"job.created","data":{"jobId":"c1"},"timestamp":"2026-02-09T12:00:00.000Z"}`)

	t.Run("OKOneSecret", func(t *testing.T) {
		h := http.Header{}
		if err := webhook.Sign(h, "cevent1", now, body, []string{current}); err != nil {
			t.Fatal(err)
		}
		mustVerify(t, current, received{Header: h, Body: body}, now)
		if n := len(strings.Fields(h.Get("webhook-signature"))); n != 1 {
			t.Errorf("webhook-signature has %d entries, want 1", n)
		}
	})
	t.Run("OKTwoSecrets", func(t *testing.T) {
		h := http.Header{}
		if err := webhook.Sign(h, "cevent1", now, body, []string{current, previous}); err != nil {
			t.Fatal(err)
		}
		mustVerify(t, current, received{Header: h, Body: body}, now)
		mustVerify(t, previous, received{Header: h, Body: body}, now)
		if n := len(strings.Fields(h.Get("webhook-signature"))); n != 2 {
			t.Errorf("webhook-signature has %d entries, want 2: %q", n, h.Get("webhook-signature"))
		}
		if n := strings.Count(h.Get("X-JustPayAI-Signature"), "v1="); n != 2 {
			t.Errorf("X-JustPayAI-Signature has %d v1 entries, want 2", n)
		}
	})
	t.Run("ErrWrongSecretOrTampered", func(t *testing.T) {
		h := http.Header{}
		if err := webhook.Sign(h, "cevent1", now, body, []string{current}); err != nil {
			t.Fatal(err)
		}
		if verifyStandard(stranger, h, body, now) == nil || verifyJustPayAI(stranger, h, body) == nil {
			t.Error("another secret verifies")
		}
		tampered := []byte(strings.Replace(string(body), "c1", "c2", 1))
		if verifyStandard(current, h, tampered, now) == nil || verifyJustPayAI(current, h, tampered) == nil {
			t.Error("a tampered body verifies")
		}
		h2 := h.Clone()
		h2.Set("webhook-id", "cevent2")
		if verifyStandard(current, h2, body, now) == nil {
			t.Error("another webhook-id verifies")
		}
		if verifyStandard(current, h, body, now.Add(10*time.Minute)) == nil {
			t.Error("a stale timestamp verifies")
		}
	})
	t.Run("ErrBadSecret", func(t *testing.T) {
		for _, s := range []string{"", "whsec_", "whsec_!!!", "sk_" + strings.TrimPrefix(current, "whsec_"), "whsec_AAAA"} {
			if err := webhook.Sign(http.Header{}, "c", now, body, []string{s}); justpay.ErrorCode(err) != justpay.EINVALID {
				t.Errorf("secret %q: err = %v, want invalid", s, err)
			}
		}
	})
}

func TestNewWebhookSecret(t *testing.T) {
	s := justpay.NewWebhookSecret()
	key, err := justpay.WebhookSecretKey(s)
	if err != nil || len(key) != 32 || !strings.HasPrefix(s, "whsec_") {
		t.Fatalf("secret %q: key %d bytes, err %v; want whsec_ and 32 bytes", s, len(key), err)
	}
	if s == justpay.NewWebhookSecret() {
		t.Error("two secrets are equal")
	}
}
