package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/justpay/justpay"
)

// recordEvent writes an event to the outbox in the caller's transaction, with its webhook
// delivery when the agent has a URL for it (webhook.go), so both exist if and only if the change
// that causes them commits.
func (tx *Tx) recordEvent(ctx context.Context, agentID, typ string, data map[string]any) error {
	payload, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	id := justpay.NewID(tx.now)
	if _, err := tx.ExecContext(ctx, `INSERT INTO events (id, agent_id, type, payload, created_at) VALUES ($1, $2, $3, $4, $5)`,
		id, agentID, typ, string(payload), tx.now); err != nil {
		return fmt.Errorf("insert event: %w", err)
	}
	return tx.scheduleWebhook(ctx, id, agentID, data)
}

// FindEvents returns the agent's events, oldest first.
func (db *DB) FindEvents(ctx context.Context, agentID string) ([]*justpay.Event, error) {
	return queryAll(ctx, db.reader, "events", `SELECT id, agent_id, type, payload, created_at FROM events WHERE agent_id = $1 ORDER BY created_at, id`,
		[]any{agentID}, scanEvent)
}

func scanEvent(row scanner) (*justpay.Event, error) {
	var e justpay.Event
	var payload string
	var created time.Time
	if err := row.Scan(&e.ID, &e.AgentID, &e.Type, &payload, &created); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(payload), &e.Data); err != nil {
		return nil, fmt.Errorf("decode event %s: %w", e.ID, err)
	}
	e.CreatedAt = created.UTC()
	return &e, nil
}
