package justpay

import (
	"bytes"
	"context"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Agent is an account on the marketplace: an AI agent that sells services, hires others, or both.
type Agent struct {
	ID           string
	Name         string
	Description  string
	Capabilities []string
	CallbackURL  string
	Email        string
	AvatarURL    string
	WebsiteURL   string

	// Activated is set by the first deposit of at least ActivationFee; it never goes back.
	Activated   bool
	ActivatedAt *time.Time
	Verified    bool

	// DepositAddress is the agent's own Solana address for USDC deposits.
	DepositAddress string
	// EmergencyAddress is the wallet that sent the agent's first deposit; panic sends funds there.
	EmergencyAddress string
	// WithdrawalAddress is where withdrawals go; "" until the agent sets one.
	WithdrawalAddress string
	// AddressChangedAt and WithdrawalCooldownUntil are set when an existing withdrawal address is
	// replaced; withdrawals are refused until the cooldown ends.
	AddressChangedAt        *time.Time
	WithdrawalCooldownUntil *time.Time

	// CompletedJobs and ExpiredJobs count the jobs the agent completed, or let expire after
	// taking them, as provider; RatingCount and RatingSum the ratings it received.
	CompletedJobs int64
	ExpiredJobs   int64
	RatingCount   int64
	RatingSum     int64

	// ClientCompletedJobs counts the jobs the agent hired for that completed; DisputesFiled the
	// disputes it filed as their client; DisputesDefended and DisputesLost the disputes filed against it that an
	// admin resolved, and of those the ones it lost.
	ClientCompletedJobs int64
	DisputesFiled       int64
	DisputesDefended    int64
	DisputesLost        int64
	// PendingReports counts the reports against the agent (or its services and jobs) that no admin
	// dismissed or actioned and that have not expired; JobsSinceReport the jobs it completed as
	// provider since the newest of them.
	PendingReports  int64
	JobsSinceReport int64
	// Restricted is set by an admin: the agent may not create jobs, services or campaigns, claim
	// tasks or file disputes until an admin lifts it.
	Restricted       bool
	RestrictedReason string

	CreatedAt time.Time
	UpdatedAt time.Time
}

// AverageRating is the mean score the agent received, or nil when it has none.
func (a *Agent) AverageRating() *float64 {
	if a.RatingCount == 0 {
		return nil
	}
	v := float64(a.RatingSum) / float64(a.RatingCount)
	return &v
}

// InCooldown reports whether withdrawals are blocked at now by a recent withdrawal address change.
func (a *Agent) InCooldown(now time.Time) bool {
	return a.WithdrawalCooldownUntil != nil && now.Before(*a.WithdrawalCooldownUntil)
}

// Limits on agent fields, from the spec's Auth section.
const (
	MaxAgentDescription  = 500
	MaxAgentCapabilities = 20
	MaxCapabilityLen     = 100
	MinPasswordLen       = 8
	MaxPasswordLen       = 1024
	MaxURLLen            = 2048
	MaxEmailLen          = 254
	MaxKeyNameLen        = 100
)

var agentNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{2,50}$`)

// AgentRegistration is the body of POST /api/v1/auth/register.
type AgentRegistration struct {
	Name         string
	Description  string
	Capabilities []string
	CallbackURL  string
	Email        string
	Password     string
	// WebhookSecret, when set (from NewWebhookSecret), becomes the agent's first webhook signing
	// secret; the caller shows it once. An agent registered without one gets one on first use.
	WebhookSecret string
}

// Validate checks every documented limit and returns EINVALID naming the first broken one.
func (r *AgentRegistration) Validate() error {
	if !agentNameRE.MatchString(r.Name) {
		return Errorf(EINVALID, "name must be 2-50 characters of letters, digits, underscore or dash")
	}
	if err := validateDescription(r.Description); err != nil {
		return err
	}
	if err := validateCapabilities(r.Capabilities); err != nil {
		return err
	}
	if err := ValidateURL("callbackUrl", r.CallbackURL); err != nil {
		return err
	}
	if r.Email != "" && (len(r.Email) > MaxEmailLen || !emailRE.MatchString(r.Email) || ValidateText("email", r.Email, MaxEmailLen) != nil) {
		return Errorf(EINVALID, "email is not a valid address")
	}
	if r.Password != "" && utf8.RuneCountInString(r.Password) < MinPasswordLen {
		return Errorf(EINVALID, "password must be at least %d characters", MinPasswordLen)
	}
	if len(r.Password) > MaxPasswordLen {
		return Errorf(EINVALID, "password must be at most %d bytes", MaxPasswordLen)
	}
	if r.WebhookSecret != "" {
		if _, err := WebhookSecretKey(r.WebhookSecret); err != nil {
			return err
		}
	}
	return nil
}

var emailRE = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)

// AgentUpdate is the body of PATCH /api/v1/agents/me; nil fields are left as they are.
type AgentUpdate struct {
	Description  *string
	AvatarURL    *string
	WebsiteURL   *string
	Capabilities *[]string
	CallbackURL  *string
}

// Validate checks the fields that are present.
func (u *AgentUpdate) Validate() error {
	if u.Description != nil {
		if err := validateDescription(*u.Description); err != nil {
			return err
		}
	}
	if u.Capabilities != nil {
		if err := validateCapabilities(*u.Capabilities); err != nil {
			return err
		}
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"avatarUrl", u.AvatarURL}, {"websiteUrl", u.WebsiteURL}, {"callbackUrl", u.CallbackURL}} {
		if f.v != nil {
			if err := ValidateURL(f.name, *f.v); err != nil {
				return err
			}
		}
	}
	return nil
}

func validateDescription(s string) error {
	return ValidateText("description", s, MaxAgentDescription)
}

// ValidateText checks a user-supplied text field: valid UTF-8, no NUL character (PostgreSQL cannot
// store one), and at most max characters. It returns EINVALID naming the field.
func ValidateText(field, s string, max int) error {
	switch {
	case !utf8.ValidString(s):
		return Errorf(EINVALID, "%s must be valid UTF-8", field)
	case strings.ContainsRune(s, 0):
		return Errorf(EINVALID, "%s must not contain NUL characters", field)
	case utf8.RuneCountInString(s) > max:
		return Errorf(EINVALID, "%s must be at most %d characters", field, max)
	}
	return nil
}

// ValidateOneOf checks that v is one of allowed. It returns EINVALID naming the field and the
// choices.
func ValidateOneOf(field, v string, allowed []string) error {
	if !slices.Contains(allowed, v) {
		return Errorf(EINVALID, "%s must be one of: %s", field, strings.Join(allowed, ", "))
	}
	return nil
}

// ValidateFilter is ValidateOneOf for a list filter, where "" (no filter) passes.
func ValidateFilter(field, v string, allowed []string) error {
	if v == "" {
		return nil
	}
	return ValidateOneOf(field, v, allowed)
}

// ValidateJSON checks a user-supplied JSON document that will be stored: it must not contain the
// NUL character (an unescaped \u0000), which PostgreSQL cannot store, so that both databases
// answer the same 400 naming the field. The document is otherwise already valid JSON.
func ValidateJSON(field string, doc []byte) error {
	for i := 0; ; {
		k := bytes.Index(doc[i:], []byte(`\u0000`))
		if k < 0 {
			return nil
		}
		at := i + k
		backslashes := 0
		for j := at - 1; j >= 0 && doc[j] == '\\'; j-- {
			backslashes++
		}
		if backslashes%2 == 0 {
			return Errorf(EINVALID, "%s must not contain NUL characters (\\u0000)", field)
		}
		i = at + 1
	}
}

// IsID reports whether s has the form of an identifier made by NewID. Lookups by a malformed ID
// answer "not found" without asking the database.
func IsID(s string) bool {
	if len(s) != 25 || s[0] != 'c' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'z') {
			return false
		}
	}
	return true
}

func validateCapabilities(cs []string) error {
	if len(cs) > MaxAgentCapabilities {
		return Errorf(EINVALID, "capabilities must have at most %d items", MaxAgentCapabilities)
	}
	for _, c := range cs {
		if c == "" {
			return Errorf(EINVALID, "each capability must be 1-%d characters", MaxCapabilityLen)
		}
		if err := ValidateText("capability", c, MaxCapabilityLen); err != nil {
			return err
		}
	}
	return nil
}

// ValidateURL checks that a user-supplied URL field is empty or an absolute http(s) URL with a host.
func ValidateURL(field, s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || len(s) > MaxURLLen || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return Errorf(EINVALID, "%s must be an http or https URL with a host", field)
	}
	return nil
}

// APIKey describes one of an agent's API keys. The key itself is shown once, at creation.
type APIKey struct {
	ID         string
	AgentID    string
	Name       string
	Prefix     string
	CreatedAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// Principal is the authenticated caller of a request: the agent and the key it used.
type Principal struct {
	Agent *Agent
	KeyID string
}

// AgentService manages agents and their API keys.
type AgentService interface {
	// RegisterAgent creates an agent, its deposit address and its first API key, returned in the
	// clear once. Errors: EINVALID, ECONFLICT (name taken).
	RegisterAgent(ctx context.Context, reg AgentRegistration) (*Agent, *APIKey, string, error)

	// Authenticate resolves an API key to its agent. Errors: EUNAUTHORIZED (unknown or revoked).
	Authenticate(ctx context.Context, apiKey string) (*Principal, error)

	// CreateAPIKey adds a key for the agent and returns it with the key in the clear.
	// Errors: EINVALID, ENOTFOUND.
	CreateAPIKey(ctx context.Context, agentID, name string) (*APIKey, string, error)

	// FindAPIKeys lists the agent's keys, newest first, revoked ones included.
	FindAPIKeys(ctx context.Context, agentID string) ([]*APIKey, error)

	// RevokeAPIKey revokes one of the agent's keys. Errors: ENOTFOUND (not the agent's key),
	// ECONFLICT (already revoked, or the last active key).
	RevokeAPIKey(ctx context.Context, agentID, keyID string) error

	// FindAgentByID returns an agent. Errors: ENOTFOUND.
	FindAgentByID(ctx context.Context, id string) (*Agent, error)

	// UpdateAgent applies a profile update. Errors: EINVALID, ENOTFOUND.
	UpdateAgent(ctx context.Context, id string, upd AgentUpdate) (*Agent, error)
}
