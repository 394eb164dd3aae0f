package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/justpay/justpay"
)

const agentColumns = `id, name, description, capabilities, callback_url, email, avatar_url, website_url,
	activated, activated_at, verified, deposit_address, emergency_address, withdrawal_address,
	address_changed_at, withdrawal_cooldown_until, completed_jobs, expired_jobs, rating_count, rating_sum,
	client_completed_jobs, disputes_filed, disputes_defended, disputes_lost, pending_reports, jobs_since_report,
	restricted, restricted_reason, created_at, updated_at`

func scanAgent(row scanner) (*justpay.Agent, error) {
	var a justpay.Agent
	var caps string
	var activatedAt, changedAt, cooldown sql.NullTime
	err := row.Scan(&a.ID, &a.Name, &a.Description, &caps, &a.CallbackURL, &a.Email, &a.AvatarURL, &a.WebsiteURL,
		&a.Activated, &activatedAt, &a.Verified, &a.DepositAddress, &a.EmergencyAddress, &a.WithdrawalAddress,
		&changedAt, &cooldown, &a.CompletedJobs, &a.ExpiredJobs, &a.RatingCount, &a.RatingSum,
		&a.ClientCompletedJobs, &a.DisputesFiled, &a.DisputesDefended, &a.DisputesLost, &a.PendingReports, &a.JobsSinceReport,
		&a.Restricted, &a.RestrictedReason, &a.CreatedAt, &a.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, justpay.Errorf(justpay.ENOTFOUND, "agent not found")
	} else if err != nil {
		return nil, fmt.Errorf("scan agent: %w", err)
	}
	if err := json.Unmarshal([]byte(caps), &a.Capabilities); err != nil {
		return nil, fmt.Errorf("agent %s capabilities: %w", a.ID, err)
	}
	if a.Capabilities == nil {
		a.Capabilities = []string{}
	}
	a.ActivatedAt, a.AddressChangedAt, a.WithdrawalCooldownUntil = nullTime(activatedAt), nullTime(changedAt), nullTime(cooldown)
	a.CreatedAt, a.UpdatedAt = a.CreatedAt.UTC(), a.UpdatedAt.UTC()
	return &a, nil
}

func nullTime(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	u := t.Time.UTC()
	return &u
}

// findAgent reads an agent; lock takes its row lock until commit (PostgreSQL; SQLite's single
// writer already holds everything).
func (tx *Tx) findAgent(ctx context.Context, id string, lock bool) (*justpay.Agent, error) {
	q := `SELECT ` + agentColumns + ` FROM agents WHERE id = $1`
	if lock {
		q += tx.db.dialect.forUpdate
	}
	return scanAgent(tx.QueryRowContext(ctx, q, id))
}

// RegisterAgent creates an agent with its deposit address, accounts and first API key.
// See justpay.AgentService.
func (s *Store) RegisterAgent(ctx context.Context, reg justpay.AgentRegistration) (*justpay.Agent, *justpay.APIKey, string, error) {
	if err := reg.Validate(); err != nil {
		return nil, nil, "", err
	}
	if reg.Capabilities == nil {
		reg.Capabilities = []string{}
	}
	caps, err := json.Marshal(reg.Capabilities)
	if err != nil {
		return nil, nil, "", err
	}
	var passwordHash string
	if reg.Password != "" {
		if passwordHash, err = s.hashPassword(reg.Password); err != nil {
			return nil, nil, "", fmt.Errorf("hash password: %w", err)
		}
	}
	address, privateKey, err := s.chain.NewDepositAccount()
	if err != nil {
		return nil, nil, "", fmt.Errorf("new deposit account: %w", err)
	}
	sealed, err := s.sealer.Seal(privateKey, []byte(address))
	if err != nil {
		return nil, nil, "", fmt.Errorf("seal deposit key: %w", err)
	}
	agentID := justpay.NewID(s.Now())
	var agent *justpay.Agent
	var key *justpay.APIKey
	var secret string
	err = s.update(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO agents (id, name, name_key, description, capabilities, callback_url, email,
			password_hash, deposit_address, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)`,
			agentID, reg.Name, strings.ToLower(reg.Name), reg.Description, string(caps), reg.CallbackURL, reg.Email,
			passwordHash, address, tx.now)
		if s.dialect.isUnique(err) {
			return justpay.Errorf(justpay.ECONFLICT, "an agent named %q already exists", reg.Name)
		} else if err != nil {
			return fmt.Errorf("insert agent: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO deposit_keys (address, agent_id, sealed_key, created_at) VALUES ($1, $2, $3, $4)`,
			address, agentID, sealed, tx.now); err != nil {
			return fmt.Errorf("insert deposit key: %w", err)
		}
		for _, account := range []string{justpay.AgentAvailable(agentID), justpay.AgentPending(agentID)} {
			if err := tx.openAccount(ctx, account, agentID); err != nil {
				return err
			}
		}
		if key, secret, err = tx.createAPIKey(ctx, agentID, "default"); err != nil {
			return err
		}
		if reg.WebhookSecret != "" {
			if err := tx.insertWebhookSecret(ctx, s.sealer, agentID, reg.WebhookSecret); err != nil {
				return err
			}
		}
		agent, err = tx.findAgent(ctx, agentID, false)
		return err
	})
	if err != nil {
		return nil, nil, "", err
	}
	return agent, key, secret, nil
}

func (tx *Tx) createAPIKey(ctx context.Context, agentID, name string) (*justpay.APIKey, string, error) {
	secret := justpay.NewAPIKey()
	k := &justpay.APIKey{ID: justpay.NewID(tx.now), AgentID: agentID, Name: name, Prefix: secret[:justpay.APIKeyPrefixLen], CreatedAt: tx.now}
	if _, err := tx.ExecContext(ctx, `INSERT INTO api_keys (id, agent_id, name, prefix, key_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		k.ID, agentID, name, k.Prefix, justpay.HashAPIKey(secret), tx.now); err != nil {
		return nil, "", fmt.Errorf("insert api key: %w", err)
	}
	return k, secret, nil
}

// lastUsedResolution is how stale an API key's last-used time may get before a request refreshes
// it, so that authentication is not a write on every request.
const lastUsedResolution = time.Minute

// authenticateQuery finds the key and its agent by the key's hash.
var authenticateQuery = `SELECT k.id, k.last_used_at, ` + prefixed("a", agentColumns) + `
	FROM api_keys k JOIN agents a ON a.id = k.agent_id WHERE k.key_hash = $1 AND k.revoked_at IS NULL`

// Authenticate resolves an API key to its agent. See justpay.AgentService.
func (s *Store) Authenticate(ctx context.Context, apiKey string) (*justpay.Principal, error) {
	if !strings.HasPrefix(apiKey, "jp_") || len(apiKey) > 100 {
		return nil, justpay.Errorf(justpay.EUNAUTHORIZED, "invalid API key")
	}
	var keyID string
	var lastUsed sql.NullTime
	var row *sql.Row
	if s.auth != nil {
		row = s.auth.QueryRowContext(ctx, justpay.HashAPIKey(apiKey))
	} else {
		row = s.reader.QueryRowContext(ctx, authenticateQuery, justpay.HashAPIKey(apiKey))
	}
	agent, err := scanAgent(scanPrefix{row, []any{&keyID, &lastUsed}})
	if justpay.ErrorCode(err) == justpay.ENOTFOUND {
		return nil, justpay.Errorf(justpay.EUNAUTHORIZED, "invalid API key")
	} else if err != nil {
		return nil, err
	}
	if now := s.Now(); !lastUsed.Valid || now.Sub(lastUsed.Time) > lastUsedResolution {
		err := s.update(ctx, func(tx *Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE api_keys SET last_used_at = $1 WHERE id = $2`, now, keyID)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("touch api key: %w", err)
		}
	}
	return &justpay.Principal{Agent: agent, KeyID: keyID}, nil
}

// scanPrefix scans a row whose first columns go to prefix and the rest to the caller's targets.
type scanPrefix struct {
	row    scanner
	prefix []any
}

func (p scanPrefix) Scan(dest ...any) error { return p.row.Scan(append(p.prefix, dest...)...) }

// prefixed qualifies a comma-separated column list with a table alias.
func prefixed(alias, columns string) string {
	fields := strings.Split(columns, ",")
	for i, f := range fields {
		fields[i] = alias + "." + strings.TrimSpace(f)
	}
	return strings.Join(fields, ", ")
}

// CreateAPIKey adds a key for the agent. See justpay.AgentService.
func (s *Store) CreateAPIKey(ctx context.Context, agentID, name string) (*justpay.APIKey, string, error) {
	if err := justpay.ValidateText("name", name, justpay.MaxKeyNameLen); err != nil {
		return nil, "", err
	}
	var key *justpay.APIKey
	var secret string
	err := s.update(ctx, func(tx *Tx) (err error) {
		if _, err := tx.findAgent(ctx, agentID, false); err != nil {
			return err
		}
		key, secret, err = tx.createAPIKey(ctx, agentID, name)
		return err
	})
	return key, secret, err
}

// FindAPIKeys lists the agent's keys, newest first. See justpay.AgentService.
func (s *Store) FindAPIKeys(ctx context.Context, agentID string) ([]*justpay.APIKey, error) {
	return queryAll(ctx, s.reader, "api keys", `SELECT id, agent_id, name, prefix, created_at, last_used_at, revoked_at
		FROM api_keys WHERE agent_id = $1 ORDER BY created_at DESC, id DESC`, []any{agentID}, scanAPIKey)
}

func scanAPIKey(row scanner) (*justpay.APIKey, error) {
	var k justpay.APIKey
	var used, revoked sql.NullTime
	if err := row.Scan(&k.ID, &k.AgentID, &k.Name, &k.Prefix, &k.CreatedAt, &used, &revoked); err != nil {
		return nil, err
	}
	k.CreatedAt, k.LastUsedAt, k.RevokedAt = k.CreatedAt.UTC(), nullTime(used), nullTime(revoked)
	return &k, nil
}

// RevokeAPIKey revokes one of the agent's keys, never the last active one.
// See justpay.AgentService.
func (s *Store) RevokeAPIKey(ctx context.Context, agentID, keyID string) error {
	if !justpay.IsID(keyID) {
		return justpay.Errorf(justpay.ENOTFOUND, "API key not found")
	}
	return s.update(ctx, func(tx *Tx) error {
		// Locking the agent serializes revocations of its keys, so two concurrent calls cannot
		// both see a second active key and leave none.
		if _, err := tx.findAgent(ctx, agentID, true); err != nil {
			return err
		}
		var revoked sql.NullTime
		err := tx.QueryRowContext(ctx, `SELECT revoked_at FROM api_keys WHERE id = $1 AND agent_id = $2`, keyID, agentID).Scan(&revoked)
		if errors.Is(err, sql.ErrNoRows) {
			return justpay.Errorf(justpay.ENOTFOUND, "API key not found")
		} else if err != nil {
			return fmt.Errorf("find api key: %w", err)
		}
		if revoked.Valid {
			return justpay.Errorf(justpay.ECONFLICT, "API key is already revoked")
		}
		var active int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM api_keys WHERE agent_id = $1 AND revoked_at IS NULL`, agentID).Scan(&active); err != nil {
			return fmt.Errorf("count api keys: %w", err)
		}
		if active <= 1 {
			return justpay.Errorf(justpay.ECONFLICT, "cannot revoke your last active API key: create another one first")
		}
		_, err = tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = $1 WHERE id = $2`, tx.now, keyID)
		return err
	})
}

// FindAgentByID returns an agent. See justpay.AgentService.
func (s *Store) FindAgentByID(ctx context.Context, id string) (*justpay.Agent, error) {
	if !justpay.IsID(id) {
		return nil, justpay.Errorf(justpay.ENOTFOUND, "agent not found")
	}
	return scanAgent(s.reader.QueryRowContext(ctx, `SELECT `+agentColumns+` FROM agents WHERE id = $1`, id))
}

// UpdateAgent applies a profile update. See justpay.AgentService.
func (s *Store) UpdateAgent(ctx context.Context, id string, upd justpay.AgentUpdate) (*justpay.Agent, error) {
	if err := upd.Validate(); err != nil {
		return nil, err
	}
	p := newPatch()
	for _, f := range []struct {
		column string
		v      *string
	}{{"description", upd.Description}, {"avatar_url", upd.AvatarURL}, {"website_url", upd.WebsiteURL}, {"callback_url", upd.CallbackURL}} {
		p.text(f.column, f.v)
	}
	if err := p.list("capabilities", upd.Capabilities); err != nil {
		return nil, err
	}
	var agent *justpay.Agent
	err := s.update(ctx, func(tx *Tx) error {
		res, err := p.exec(ctx, tx, "agents", id)
		if err != nil {
			return fmt.Errorf("update agent: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return justpay.Errorf(justpay.ENOTFOUND, "agent not found")
		}
		agent, err = tx.findAgent(ctx, id, false)
		return err
	})
	return agent, err
}
