package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/justpay/justpay"
	"github.com/justpay/justpay/argon2id"
	"github.com/justpay/justpay/devchain"
	"github.com/justpay/justpay/httpapi"
	"github.com/justpay/justpay/jsonschema"
	"github.com/justpay/justpay/scheduler"
	"github.com/justpay/justpay/sqlstore"
	"github.com/justpay/justpay/vault"
	"github.com/justpay/justpay/webhook"
)

// SchedulerInterval is how often the server looks for due work (withdrawals to send, expired
// idempotency keys).
const SchedulerInterval = time.Second

// maxConcurrentHashes bounds the argon2id hashes running at once: each holds 64 MiB.
const maxConcurrentHashes = 2

// serve wires the server: clock, database, simulated chain, vault, store, scheduler, metrics and
// the HTTP server. It returns once the server listens; Close undoes it.
func (m *Main) serve(ctx context.Context) error {
	c := &m.Config
	base := m.BaseClock
	if base == nil {
		base = justpay.SystemClock{}
	}
	m.clock = justpay.NewAdjustableClock(base)

	sealer, err := m.openVault()
	if err != nil {
		return err
	}
	m.logger.Info("opening database", "database", m.describeDatabase())
	if m.db, err = m.openDatabase(ctx, m.clock); err != nil {
		return err
	}
	chain := devchain.New(m.db, m.clock)
	hasher := newPasswordHasher(maxConcurrentHashes)
	store := sqlstore.NewStore(m.db, sqlstore.StoreConfig{Chain: chain, Sealer: sealer, HashPassword: hasher.Hash, Schemas: jsonschema.New()})
	sched := &scheduler.Scheduler{
		Store:    store,
		Chain:    chain,
		Clock:    m.clock,
		Logger:   m.logger.With("component", "scheduler"),
		Interval: SchedulerInterval,
	}
	webhooks, policy, err := m.newDispatcher(store)
	if err != nil {
		return err
	}

	registry := prometheus.NewRegistry()
	for _, col := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := registry.Register(col); err != nil {
			return fmt.Errorf("register metrics: %w", err)
		}
	}

	server := &httpapi.Server{
		Addr:         c.Addr,
		Agents:       store,
		Wallet:       store,
		Ledger:       store,
		Stats:        store,
		Services:     store,
		Jobs:         store,
		Campaigns:    store,
		Disputes:     store,
		Reports:      store,
		Proposals:    store,
		AdminActions: store,
		Idempotency:  store,
		Webhooks:     webhooks,
		Admin:        sqlstore.AdminTokens{DB: m.db, Static: c.AdminToken},
		Dev:          devTools{chain: chain, clock: m.clock, scheduler: sched, webhooks: webhooks},
		Clock:        m.clock,
		Logger:       m.logger,
		Registry:     registry,
		Limits:       m.rateLimits(),
		Ready:        m.db.Ping,
	}
	if err := server.Open(); err != nil {
		return fmt.Errorf("listen on %s: %w", c.Addr, err)
	}
	m.server = server

	schedCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	m.stopScheduler = cancel
	m.schedulerDone.Go(func() { sched.Run(schedCtx) })
	webhookCtx, stopWebhooks := context.WithCancel(context.WithoutCancel(ctx))
	m.stopWebhooks = stopWebhooks
	m.webhooksDone.Go(func() { webhooks.Run(webhookCtx) })

	m.logger.Warn("dev mode: simulated chain, POST /dev/* enabled",
		"routes", "POST /dev/chain/transfer, POST /dev/clock/advance",
		"hint", "fund a deposit address with: justpay dev send-usdc --to ADDRESS --amount 10 --url "+server.URL())
	if c.AdminToken != "" {
		m.logger.Info("admin API enabled with JUSTPAY_ADMIN_TOKEN and tokens from `justpay admin token`")
	} else {
		m.logger.Info("admin API accepts tokens from `justpay admin token`; JUSTPAY_ADMIN_TOKEN is not set")
	}
	m.logger.Info("justpay listening", "url", server.URL(), "addr", c.Addr, "scheduler_interval", SchedulerInterval,
		"rate_limit_per_key", c.RateLimitPerKey, "rate_limit_per_ip", c.RateLimitPerIP,
		"webhook_workers", c.WebhookWorkers, "webhook_allow_loopback", policy.AllowLoopback, "webhook_allow_hosts", policy.AllowHosts)
	return nil
}

// newDispatcher builds the webhook dispatcher over store with the configured policy. Serve runs
// in dev mode (there is no real chain yet), and dev mode lets webhooks reach loopback so that local
// agents receive them.
func (m *Main) newDispatcher(store *sqlstore.Store) (*webhook.Dispatcher, webhook.Policy, error) {
	const devMode = true
	policy := webhook.Policy{AllowLoopback: m.Config.WebhookAllowLoopback || devMode}
	for _, h := range strings.Split(m.Config.WebhookAllowHosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			policy.AllowHosts = append(policy.AllowHosts, h)
		}
	}
	client, err := webhook.NewClient(policy)
	if err != nil {
		return nil, policy, fmt.Errorf("--webhook-allow-hosts: %w", err)
	}
	d, err := webhook.NewDispatcher(webhook.Config{
		Store:   store,
		Clock:   m.clock,
		Client:  client,
		Workers: m.Config.WebhookWorkers,
		Logger:  m.logger.With("component", "webhooks"),
	})
	return d, policy, err
}

// rateLimits are the server's rate limits: the configured ones per key and per IP, and the
// default limit of the public routes that have one.
func (m *Main) rateLimits() httpapi.RateLimits {
	limits := httpapi.DefaultRateLimits()
	limits.PerKey, limits.PerIP = m.Config.RateLimitPerKey, m.Config.RateLimitPerIP
	return limits
}

// openDatabase opens the configured database and brings its schema up to date.
func (m *Main) openDatabase(ctx context.Context, clock justpay.Clock) (*sqlstore.DB, error) {
	db, err := sqlstore.Open(ctx, sqlstore.Config{
		URL:        m.Config.DatabaseURL,
		SQLitePath: m.Config.SQLitePath(),
		Clock:      clock,
		Logger:     m.logger,
	})
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", m.describeDatabase(), err)
	}
	return db, nil
}

// describeDatabase names the configured database for logs and messages, without its password.
func (m *Main) describeDatabase() string {
	if !m.Config.UsesPostgres() {
		return "sqlite " + m.Config.SQLitePath()
	}
	u, err := url.Parse(m.Config.DatabaseURL)
	if err != nil {
		return "postgres (unparsable URL)"
	}
	return "postgres " + u.Redacted()
}

// openVault returns the vault that seals deposit keys: under JUSTPAY_MASTER_KEY when set, or else
// under a dev key kept in the data directory, generated on first use.
func (m *Main) openVault() (*vault.Vault, error) {
	if m.Config.MasterKey != "" {
		key, err := vault.ParseMasterKey(m.Config.MasterKey)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvMasterKey, err)
		}
		m.logger.Info("master key from " + EnvMasterKey)
		return vault.New(key)
	}
	if m.Config.UsesPostgres() {
		// Several servers may share the database: a key generated per machine would seal deposit
		// keys that the other servers cannot open.
		return nil, fmt.Errorf("%s is required with PostgreSQL: every server sharing the database must use the same master key", EnvMasterKey)
	}
	path := filepath.Join(m.Config.DataDir, vault.MasterKeyFile)
	_, statErr := os.Stat(path)
	key, err := vault.LoadOrCreateMasterKey(m.Config.DataDir)
	if err != nil {
		return nil, err
	}
	msg := EnvMasterKey + " is not set: using the dev master key"
	if errors.Is(statErr, fs.ErrNotExist) {
		msg = EnvMasterKey + " is not set: generated a dev master key"
	}
	m.logger.Warn(msg, "path", path, "hint", "back this file up (deposit keys are sealed under it); set "+EnvMasterKey+" in production")
	return vault.New(key)
}

// devTools are the dev-mode helpers behind POST /dev/*: the simulated chain's faucet and the
// server's adjustable clock.
type devTools struct {
	chain     *devchain.Chain
	clock     *justpay.AdjustableClock
	scheduler *scheduler.Scheduler
	webhooks  *webhook.Dispatcher
}

var _ httpapi.DevTools = devTools{}

// Transfer makes a finalized transfer on the simulated chain from an external wallet.
func (d devTools) Transfer(ctx context.Context, from, to string, amount int64) (string, error) {
	return d.chain.Transfer(ctx, from, to, amount)
}

// AdvanceClock moves the clock forward by dur and runs the scheduler at once, so that work that
// became due (withdrawals, timeouts) is done when the call returns, and wakes the webhook
// dispatcher for the retries that became due (they are sent in the background). It returns the
// new time.
func (d devTools) AdvanceClock(ctx context.Context, dur time.Duration) (time.Time, error) {
	now := d.clock.Advance(dur)
	if err := d.scheduler.RunOnce(ctx); err != nil {
		return time.Time{}, fmt.Errorf("run due work after advancing the clock: %w", err)
	}
	if d.webhooks != nil {
		d.webhooks.Wake()
	}
	return now, nil
}

// passwordHasher hashes passwords with argon2id, a few at a time: each hash holds 64 MiB while it
// runs, so a burst of registrations must not take the memory of the machine.
type passwordHasher struct {
	slots chan struct{}
}

func newPasswordHasher(concurrency int) passwordHasher {
	return passwordHasher{slots: make(chan struct{}, concurrency)}
}

// Hash waits for a free slot and hashes password with argon2id's default parameters.
func (h passwordHasher) Hash(password string) (string, error) {
	h.slots <- struct{}{}
	defer func() { <-h.slots }()
	return argon2id.Hash(password)
}
