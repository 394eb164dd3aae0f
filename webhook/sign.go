package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/justpay/justpay"
)

// Header names of a delivery. The first is JustPayAI's own signature; the three others are the
// Standard Webhooks headers (https://www.standardwebhooks.com), so a receiver can verify with
// either scheme.
const (
	HeaderSignature        = "X-JustPayAI-Signature"
	HeaderWebhookID        = "webhook-id"
	HeaderWebhookTimestamp = "webhook-timestamp"
	HeaderWebhookSignature = "webhook-signature"
)

// payload is the body of every delivery, as the spec documents it.
type payload struct {
	Event     string          `json:"event"`
	Data      json.RawMessage `json:"data"`
	Timestamp string          `json:"timestamp"`
}

// Payload returns the body delivering event with data (a JSON object) that happened at t:
// {"event": ..., "data": {...}, "timestamp": ...}. The same event always gives the same bytes.
func Payload(event string, data json.RawMessage, t time.Time) ([]byte, error) {
	if len(data) == 0 {
		data = json.RawMessage(`{}`)
	}
	b, err := json.Marshal(payload{Event: event, Data: data, Timestamp: justpay.FormatTime(t)})
	if err != nil {
		return nil, fmt.Errorf("webhook payload: %w", err)
	}
	return b, nil
}

// Sign sets on h the signature headers of body, delivered as message id at t, with each secret
// (whsec_ and the base64 of the key): X-JustPayAI-Signature "t=<unix>,v1=<hex>[,v1=<hex>]" with
// HMAC-SHA256(key, "<t>.<body>"), and the Standard Webhooks headers webhook-id, webhook-timestamp
// and webhook-signature "v1,<base64>[ v1,<base64>]" with HMAC-SHA256(key, "<id>.<t>.<body>").
func Sign(h http.Header, id string, t time.Time, body []byte, secrets []string) error {
	ts := strconv.FormatInt(t.Unix(), 10)
	ours := []string{"t=" + ts}
	var standard []string
	for _, secret := range secrets {
		key, err := justpay.WebhookSecretKey(secret)
		if err != nil {
			return err
		}
		ours = append(ours, "v1="+hex.EncodeToString(mac(key, ts, ".", body)))
		standard = append(standard, "v1,"+base64.StdEncoding.EncodeToString(mac(key, id, ".", ts, ".", body)))
	}
	h.Set(HeaderSignature, strings.Join(ours, ","))
	h.Set(HeaderWebhookID, id)
	h.Set(HeaderWebhookTimestamp, ts)
	h.Set(HeaderWebhookSignature, strings.Join(standard, " "))
	return nil
}

// mac is HMAC-SHA256 under key of the concatenation of parts (strings and byte slices).
func mac(key []byte, parts ...any) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		switch v := p.(type) {
		case string:
			m.Write([]byte(v))
		case []byte:
			m.Write(v)
		}
	}
	return m.Sum(nil)
}
