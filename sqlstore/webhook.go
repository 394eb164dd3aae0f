package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/justpay/justpay"
)

// Webhooks: every event whose recipient has a URL gets a webhook_deliveries row in the event's
// own transaction (scheduleWebhook); the dispatcher (package webhook) claims due rows under a
// lease, attempts them, and records each outcome under the lease it claimed with.

// webhookURLQuery finds where an event for agent $1 goes: the job's own callbackUrl when the agent
// is the job's client ($2, the event's jobId), the campaign's when the agent owns it ($3, the
// event's campaignId), else the agent's. A job's or campaign's URL is its creator's, so it never
// receives the other party's events.
const webhookURLQuery = `SELECT COALESCE(
	NULLIF((SELECT callback_url FROM jobs WHERE id = $2 AND client_id = $1), ''),
	NULLIF((SELECT callback_url FROM campaigns WHERE id = $3 AND owner_id = $1), ''),
	(SELECT callback_url FROM agents WHERE id = $1), '')`

// scheduleWebhook writes the delivery of event eventID to its recipient's URL, if it has one.
func (tx *Tx) scheduleWebhook(ctx context.Context, eventID, agentID string, data map[string]any) error {
	url, err := tx.webhookURL(ctx, agentID, data)
	if err != nil || url == "" {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_deliveries (id, event_id, agent_id, url, status, next_attempt_at,
		created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6, $6)`,
		justpay.NewID(tx.now), eventID, agentID, url, justpay.WebhookPending, tx.now); err != nil {
		return fmt.Errorf("insert webhook delivery: %w", err)
	}
	return nil
}

// webhookURL is where an event with data for agentID goes now; "" for nowhere.
func (tx *Tx) webhookURL(ctx context.Context, agentID string, data map[string]any) (string, error) {
	jobID, _ := data["jobId"].(string)
	campaignID, _ := data["campaignId"].(string)
	var url string
	if err := tx.QueryRowContext(ctx, webhookURLQuery, agentID, jobID, campaignID).Scan(&url); err != nil {
		return "", fmt.Errorf("find webhook url: %w", err)
	}
	return url, nil
}

const webhookDeliveryColumns = `d.id, d.event_id, d.agent_id, e.type, d.url, d.status, d.attempts, d.next_attempt_at,
	d.last_status_code, d.last_error, d.created_at, d.updated_at, d.delivered_at`

const webhookDeliveryFrom = `FROM webhook_deliveries d JOIN events e ON e.id = d.event_id`

func scanWebhookDelivery(row scanner) (*justpay.WebhookDelivery, error) {
	var d justpay.WebhookDelivery
	var next time.Time
	var code sql.NullInt64
	var delivered sql.NullTime
	err := row.Scan(&d.ID, &d.EventID, &d.AgentID, &d.Event, &d.URL, &d.Status, &d.Attempts, &next,
		&code, &d.LastError, &d.CreatedAt, &d.UpdatedAt, &delivered)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, justpay.Errorf(justpay.ENOTFOUND, "webhook delivery not found")
	} else if err != nil {
		return nil, fmt.Errorf("scan webhook delivery: %w", err)
	}
	if d.Status == justpay.WebhookPending {
		next = next.UTC()
		d.NextAttemptAt = &next
	}
	d.LastStatusCode = int(code.Int64)
	d.CreatedAt, d.UpdatedAt, d.DeliveredAt = d.CreatedAt.UTC(), d.UpdatedAt.UTC(), nullTime(delivered)
	return &d, nil
}

// FindWebhookDeliveries lists the agent's deliveries, newest first. See justpay.WebhookService.
func (db *DB) FindWebhookDeliveries(ctx context.Context, agentID, status string, p justpay.Page) ([]*justpay.WebhookDelivery, int, error) {
	if err := p.Validate(); err != nil {
		return nil, 0, err
	}
	where, args := ` WHERE d.agent_id = $1`, []any{agentID}
	switch status {
	case "":
	case justpay.WebhookPending, justpay.WebhookDelivered, justpay.WebhookFailed:
		where, args = where+` AND d.status = $2`, append(args, status)
	default:
		return nil, 0, justpay.Errorf(justpay.EINVALID, "status must be pending, delivered or failed")
	}
	return readPage(ctx, db, listQuery{what: "webhook deliveries", columns: webhookDeliveryColumns,
		from: webhookDeliveryFrom + where, order: `d.created_at DESC, d.id DESC`, args: args}, p, scanWebhookDelivery)
}

// FindWebhookDeliveryByEventID returns the delivery of an event. Errors: ENOTFOUND.
func (db *DB) FindWebhookDeliveryByEventID(ctx context.Context, eventID string) (*justpay.WebhookDelivery, error) {
	return scanWebhookDelivery(db.reader.QueryRowContext(ctx, `SELECT `+webhookDeliveryColumns+` `+webhookDeliveryFrom+` WHERE d.event_id = $1`, eventID))
}

// RedeliverWebhook starts another cycle of attempts. See justpay.WebhookService.
func (db *DB) RedeliverWebhook(ctx context.Context, agentID, id string) (*justpay.WebhookDelivery, error) {
	if !justpay.IsID(id) {
		return nil, justpay.Errorf(justpay.ENOTFOUND, "webhook delivery not found")
	}
	var out *justpay.WebhookDelivery
	err := db.update(ctx, func(tx *Tx) error {
		var status, payload string
		err := tx.QueryRowContext(ctx, `SELECT d.status, e.payload `+webhookDeliveryFrom+` WHERE d.id = $1 AND d.agent_id = $2`+tx.db.dialect.forUpdate,
			id, agentID).Scan(&status, &payload)
		if errors.Is(err, sql.ErrNoRows) {
			return justpay.Errorf(justpay.ENOTFOUND, "webhook delivery not found")
		} else if err != nil {
			return fmt.Errorf("find webhook delivery: %w", err)
		}
		if status == justpay.WebhookPending {
			return justpay.Errorf(justpay.ECONFLICT, "the delivery is still pending: it will be attempted again on its own")
		}
		var data map[string]any
		if err := json.Unmarshal([]byte(payload), &data); err != nil {
			return fmt.Errorf("decode event of delivery %s: %w", id, err)
		}
		url, err := tx.webhookURL(ctx, agentID, data)
		if err != nil {
			return err
		}
		if url == "" {
			return justpay.Errorf(justpay.ECONFLICT, "you have no callbackUrl to deliver to: set one with PATCH /api/v1/agents/me")
		}
		res, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET status = $1, url = $2, attempts = 0, next_attempt_at = $3,
			lease_until = NULL, updated_at = $3 WHERE id = $4 AND status = $5`, justpay.WebhookPending, url, tx.now, id, status)
		if err != nil {
			return fmt.Errorf("redeliver webhook: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return justpay.Errorf(justpay.ECONFLICT, "webhook delivery %s changed concurrently", id)
		}
		out, err = scanWebhookDelivery(tx.QueryRowContext(ctx, `SELECT `+webhookDeliveryColumns+` `+webhookDeliveryFrom+` WHERE d.id = $1`, id))
		return err
	})
	return out, err
}

// dueWebhooksCondition selects the deliveries a dispatcher may attempt at $1: pending, due, and
// not leased to another dispatcher.
const dueWebhooksCondition = `status = 'pending' AND next_attempt_at <= $1 AND (lease_until IS NULL OR lease_until <= $1)`

// HasDueWebhookDeliveries reports whether a delivery is due now, with a read that takes no write
// lock: the dispatcher asks before claiming.
func (db *DB) HasDueWebhookDeliveries(ctx context.Context) (bool, error) {
	var one int
	err := db.reader.QueryRowContext(ctx, `SELECT 1 FROM webhook_deliveries WHERE `+dueWebhooksCondition+` LIMIT 1`, db.Now()).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// ClaimWebhookDeliveries leases up to limit due deliveries to the caller for one attempt each,
// oldest due first, and returns them with their events. Several dispatchers on one PostgreSQL take
// different rows (SKIP LOCKED), and a leased row is nobody else's until the lease runs out.
func (db *DB) ClaimWebhookDeliveries(ctx context.Context, limit int) ([]*justpay.WebhookDispatch, error) {
	var claimed []*justpay.WebhookDispatch
	err := db.update(ctx, func(tx *Tx) error {
		claimed = claimed[:0]
		ids, err := queryAll(ctx, tx, "due webhook deliveries", `SELECT id FROM webhook_deliveries WHERE `+dueWebhooksCondition+`
			ORDER BY next_attempt_at, id LIMIT $2`+tx.db.dialect.skipLocked, []any{tx.now, limit}, scanID)
		if err != nil {
			return err
		}
		lease := tx.now.Add(justpay.WebhookLease)
		for _, id := range ids {
			// The condition again: without SKIP LOCKED (SQLite, or a database that lacks it) a
			// concurrent claim may have leased the row since the SELECT.
			res, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET lease_until = $2, updated_at = $1 WHERE id = $3 AND `+dueWebhooksCondition,
				tx.now, lease, id)
			if err != nil {
				return fmt.Errorf("lease webhook delivery: %w", err)
			}
			if n, _ := res.RowsAffected(); n != 1 {
				continue
			}
			d := &justpay.WebhookDispatch{Lease: lease}
			var data string
			if err := tx.QueryRowContext(ctx, `SELECT d.id, d.event_id, d.agent_id, d.url, d.attempts, e.type, e.payload, e.created_at `+
				webhookDeliveryFrom+` WHERE d.id = $1`, id).Scan(&d.DeliveryID, &d.EventID, &d.AgentID, &d.URL, &d.Attempts,
				&d.Event, &data, &d.Time); err != nil {
				return fmt.Errorf("read claimed webhook delivery: %w", err)
			}
			d.Data, d.Time = json.RawMessage(data), d.Time.UTC()
			claimed = append(claimed, d)
		}
		return nil
	})
	return claimed, err
}

// RecordWebhookAttempt records the outcome of the attempt d was claimed for and schedules what
// follows (justpay.PlanWebhookRetry). Errors: ECONFLICT when d's lease was lost (it ran out and
// another dispatcher claimed the delivery, or it was redelivered): the outcome is then dropped.
func (db *DB) RecordWebhookAttempt(ctx context.Context, d *justpay.WebhookDispatch, a justpay.WebhookAttempt) error {
	return db.update(ctx, func(tx *Tx) error {
		status, retryIn := justpay.PlanWebhookRetry(d.Attempts+1, a)
		var code, delivered any
		if a.StatusCode != 0 {
			code = a.StatusCode
		}
		if status == justpay.WebhookDelivered {
			delivered = tx.now
		}
		res, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET status = $1, attempts = attempts + 1, next_attempt_at = $2,
			lease_until = NULL, last_status_code = $3, last_error = $4, updated_at = $5, delivered_at = $6
			WHERE id = $7 AND status = $8 AND attempts = $9 AND lease_until = $10`,
			status, tx.now.Add(retryIn), code, truncate(a.Error), tx.now, delivered,
			d.DeliveryID, justpay.WebhookPending, d.Attempts, d.Lease.UTC().Truncate(time.Microsecond))
		if err != nil {
			return fmt.Errorf("record webhook attempt: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return justpay.Errorf(justpay.ECONFLICT, "webhook delivery %s is no longer leased to this dispatcher", d.DeliveryID)
		}
		return nil
	})
}

// Webhook secrets are sealed bound to their row: another row's sealed value does not open here.
func webhookSecretAD(id, agentID string) []byte {
	return []byte("webhook_secret:" + id + ":" + agentID)
}

// insertWebhookSecret stores secret as the agent's current signing secret.
func (tx *Tx) insertWebhookSecret(ctx context.Context, sealer Sealer, agentID, secret string) error {
	id := justpay.NewID(tx.now)
	sealed, err := sealer.Seal([]byte(secret), webhookSecretAD(id, agentID))
	if err != nil {
		return fmt.Errorf("seal webhook secret: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_secrets (id, agent_id, sealed_secret, created_at) VALUES ($1, $2, $3, $4)`,
		id, agentID, sealed, tx.now); err != nil {
		return fmt.Errorf("insert webhook secret: %w", err)
	}
	return nil
}

// WebhookSigningSecrets returns the secrets that sign the agent's deliveries now, newest first:
// the current one and, for a day after a rotation, the one it replaced. An agent that has none
// (registered before webhooks existed) gets one here; it sees a secret once it rotates.
func (s *Store) WebhookSigningSecrets(ctx context.Context, agentID string) ([]string, error) {
	secrets, current, err := s.webhookSecrets(ctx, s.reader, agentID, s.Now())
	if err != nil || current {
		return secrets, err
	}
	err = s.update(ctx, func(tx *Tx) error {
		if _, err := tx.findAgent(ctx, agentID, true); err != nil {
			return err
		}
		if secrets, current, err = s.webhookSecrets(ctx, tx, agentID, tx.now); err != nil || current {
			return err // another call made it first
		}
		if err := tx.insertWebhookSecret(ctx, s.sealer, agentID, justpay.NewWebhookSecret()); err != nil {
			return err
		}
		secrets, _, err = s.webhookSecrets(ctx, tx, agentID, tx.now)
		return err
	})
	return secrets, err
}

// webhookSecrets opens the agent's secrets valid at now, newest first, and reports whether one of
// them is current (not rotated out).
func (s *Store) webhookSecrets(ctx context.Context, q queryer, agentID string, now time.Time) ([]string, bool, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, sealed_secret, expires_at FROM webhook_secrets
		WHERE agent_id = $1 AND (expires_at IS NULL OR expires_at > $2) ORDER BY created_at DESC, id DESC`, agentID, now)
	if err != nil {
		return nil, false, fmt.Errorf("find webhook secrets: %w", err)
	}
	defer rows.Close()
	var secrets []string
	current := false
	for rows.Next() {
		var id string
		var sealed []byte
		var expires sql.NullTime
		if err := rows.Scan(&id, &sealed, &expires); err != nil {
			return nil, false, err
		}
		secret, err := s.sealer.Open(sealed, webhookSecretAD(id, agentID))
		if err != nil {
			return nil, false, fmt.Errorf("open webhook secret %s: %w", id, err)
		}
		secrets = append(secrets, string(secret))
		current = current || !expires.Valid
	}
	return secrets, current, rows.Err()
}

// RotateWebhookSecret gives the agent a new secret. See justpay.WebhookService.
func (s *Store) RotateWebhookSecret(ctx context.Context, agentID string) (*justpay.WebhookSecretRotation, error) {
	rot := &justpay.WebhookSecretRotation{Secret: justpay.NewWebhookSecret()}
	err := s.update(ctx, func(tx *Tx) error {
		rot.PreviousExpiresAt = nil
		if _, err := tx.findAgent(ctx, agentID, true); err != nil {
			return err
		}
		// Only the secret being replaced keeps signing: one rotated out earlier stops now.
		if _, err := tx.ExecContext(ctx, `DELETE FROM webhook_secrets WHERE agent_id = $1 AND expires_at IS NOT NULL`, agentID); err != nil {
			return fmt.Errorf("delete old webhook secrets: %w", err)
		}
		until := tx.now.Add(justpay.WebhookSecretOverlap)
		res, err := tx.ExecContext(ctx, `UPDATE webhook_secrets SET expires_at = $1 WHERE agent_id = $2 AND expires_at IS NULL`, until, agentID)
		if err != nil {
			return fmt.Errorf("expire webhook secret: %w", err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			rot.PreviousExpiresAt = &until
		}
		return tx.insertWebhookSecret(ctx, s.sealer, agentID, rot.Secret)
	})
	if err != nil {
		return nil, err
	}
	return rot, nil
}
