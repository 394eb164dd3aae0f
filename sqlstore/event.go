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
	rows, err := db.reader.QueryContext(ctx, `SELECT id, agent_id, type, payload, created_at FROM events WHERE agent_id = $1 ORDER BY created_at, id`, agentID)
	if err != nil {
		return nil, fmt.Errorf("find events: %w", err)
	}
	defer rows.Close()
	var events []*justpay.Event
	for rows.Next() {
		var e justpay.Event
		var payload string
		var created time.Time
		if err := rows.Scan(&e.ID, &e.AgentID, &e.Type, &payload, &created); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(payload), &e.Data); err != nil {
			return nil, fmt.Errorf("decode event %s: %w", e.ID, err)
		}
		e.CreatedAt = created.UTC()
		events = append(events, &e)
	}
	return events, rows.Err()
}
