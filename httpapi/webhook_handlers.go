package httpapi

import (
	"net/http"

	"github.com/justpay/justpay"
)

// webhookDeliveryResponse is one delivery of an event to the agent's URL.
type webhookDeliveryResponse struct {
	ID             string  `json:"id"`
	EventID        string  `json:"eventId"`
	Event          string  `json:"event"`
	URL            string  `json:"url"`
	Status         string  `json:"status"`
	Attempts       int     `json:"attempts"`
	LastStatusCode *int    `json:"lastStatusCode"`
	LastError      *string `json:"lastError"`
	NextRetryAt    *string `json:"nextRetryAt"`
	CreatedAt      string  `json:"createdAt"`
	UpdatedAt      string  `json:"updatedAt"`
	DeliveredAt    *string `json:"deliveredAt"`
}

func newWebhookDeliveryResponse(d *justpay.WebhookDelivery) webhookDeliveryResponse {
	out := webhookDeliveryResponse{
		ID:          d.ID,
		EventID:     d.EventID,
		Event:       d.Event,
		URL:         d.URL,
		Status:      d.Status,
		Attempts:    d.Attempts,
		LastError:   nullString(d.LastError),
		NextRetryAt: formatTimePtr(d.NextAttemptAt),
		CreatedAt:   justpay.FormatTime(d.CreatedAt),
		UpdatedAt:   justpay.FormatTime(d.UpdatedAt),
		DeliveredAt: formatTimePtr(d.DeliveredAt),
	}
	if d.LastStatusCode != 0 {
		out.LastStatusCode = &d.LastStatusCode
	}
	return out
}

// handleWebhookDeliveries serves GET /api/v1/webhooks/deliveries?status=&page=&limit=, newest
// first.
func (s *Server) handleWebhookDeliveries(w http.ResponseWriter, r *http.Request) error {
	page, err := parsePage(r)
	if err != nil {
		return err
	}
	list, total, err := s.Webhooks.FindWebhookDeliveries(r.Context(), principalFrom(r.Context()).Agent.ID, r.URL.Query().Get("status"), page)
	if err != nil {
		return err
	}
	writeList(w, "deliveries", list, newWebhookDeliveryResponse, page, total)
	return nil
}

// handleRedeliverWebhook serves POST /api/v1/webhooks/deliveries/{id}/redeliver: 202 with the
// delivery, pending again.
func (s *Server) handleRedeliverWebhook(w http.ResponseWriter, r *http.Request) error {
	if err := decodeNone(w, r); err != nil {
		return err
	}
	d, err := s.Webhooks.RedeliverWebhook(r.Context(), principalFrom(r.Context()).Agent.ID, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, newWebhookDeliveryResponse(d))
	return nil
}

// webhookTestResponse reports how the agent's URL answered a ping.
type webhookTestResponse struct {
	WebhookID  string  `json:"webhookId"`
	URL        string  `json:"url"`
	Event      string  `json:"event"`
	Delivered  bool    `json:"delivered"`
	StatusCode *int    `json:"statusCode"`
	Error      *string `json:"error"`
	DurationMs int64   `json:"durationMs"`
}

// handleTestWebhook serves POST /api/v1/webhooks/test: 200 with the outcome of a signed ping,
// whether the receiver accepted it or not; 409 without a callbackUrl.
func (s *Server) handleTestWebhook(w http.ResponseWriter, r *http.Request) error {
	if err := decodeNone(w, r); err != nil {
		return err
	}
	res, err := s.Webhooks.TestWebhook(r.Context(), principalFrom(r.Context()).Agent.ID)
	if err != nil {
		return err
	}
	out := webhookTestResponse{
		WebhookID:  res.WebhookID,
		URL:        res.URL,
		Event:      justpay.EventPing,
		Delivered:  res.Attempt.Delivered,
		Error:      nullString(res.Attempt.Error),
		DurationMs: res.Duration.Milliseconds(),
	}
	if res.Attempt.StatusCode != 0 {
		out.StatusCode = &res.Attempt.StatusCode
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// rotateSecretResponse is the new secret, shown once.
type rotateSecretResponse struct {
	WebhookSecret           string  `json:"webhookSecret"`
	PreviousSecretExpiresAt *string `json:"previousSecretExpiresAt"`
	Message                 string  `json:"message"`
}

// handleRotateWebhookSecret serves POST /api/v1/webhooks/secret/rotate: 200 with the new secret.
func (s *Server) handleRotateWebhookSecret(w http.ResponseWriter, r *http.Request) error {
	if err := decodeNone(w, r); err != nil {
		return err
	}
	rot, err := s.Webhooks.RotateWebhookSecret(r.Context(), principalFrom(r.Context()).Agent.ID)
	if err != nil {
		return err
	}
	msg := "Webhook secret created. Store it now: it is not shown again."
	if rot.PreviousExpiresAt != nil {
		msg = "Webhook secret rotated. Store it now: it is not shown again. Deliveries carry a signature with each secret until the previous one expires."
	}
	writeJSON(w, http.StatusOK, rotateSecretResponse{
		WebhookSecret:           rot.Secret,
		PreviousSecretExpiresAt: formatTimePtr(rot.PreviousExpiresAt),
		Message:                 msg,
	})
	return nil
}
