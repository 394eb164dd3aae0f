// Command justpay is the whole justpay marketplace in one binary: the API server with its workers
// (justpay serve, the default), schema migrations, the ledger check, admin tokens, dev-mode helpers
// and the benchmark. All wiring of the packages happens here, in Main.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/justpay/justpay"
	"github.com/justpay/justpay/httpapi"
	"github.com/justpay/justpay/sqlstore"
	"github.com/justpay/justpay/webhook"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, stop catching them: a second one kills a slow shutdown at once.
	context.AfterFunc(ctx, stop)
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process around it: it runs the command line args and returns the exit
// status (0 ok, 1 failure, 2 usage). A server runs until ctx is cancelled.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	m := NewMain(stdout, stderr)
	if err := m.ParseFlags(ctx, args); err != nil {
		return m.report(err)
	}
	if err := m.Run(ctx); err != nil {
		m.Close()
		return m.report(err)
	}
	if m.Command == CommandServe {
		<-ctx.Done()
		m.logger.Info("signal received: shutting down")
	}
	if err := m.Close(); err != nil {
		return m.report(err)
	}
	return 0
}

// Subcommands, as ParseFlags stores them in Main.Command.
const (
	CommandServe        = "serve"
	CommandMigrate      = "migrate"
	CommandLedgerVerify = "ledger verify"
	CommandAdminToken   = "admin token"
	CommandDevSendUSDC  = "dev send-usdc"
	CommandBench        = "bench"
	CommandHelp         = "help"
)

// Defaults of the settings that have one.
const (
	DefaultAddr      = ":8080"
	DefaultDataDir   = "./justpay-data"
	DefaultLogFormat = "text"
	DefaultServerURL = "http://127.0.0.1:8080"
)

// Environment variables read by ParseFlags. A flag given on the command line wins over its
// variable, and a variable that is set and not empty wins over the default.
const (
	EnvAddr        = "JUSTPAY_ADDR"
	EnvDataDir     = "JUSTPAY_DATA_DIR"
	EnvDatabaseURL = "JUSTPAY_DATABASE_URL"
	EnvLogFormat   = "JUSTPAY_LOG_FORMAT"
	EnvAdminToken  = "JUSTPAY_ADMIN_TOKEN"
	EnvMasterKey   = "JUSTPAY_MASTER_KEY"

	EnvRateLimitPerKey = "JUSTPAY_RATE_LIMIT_PER_KEY"
	EnvRateLimitPerIP  = "JUSTPAY_RATE_LIMIT_PER_IP"

	EnvWebhookWorkers       = "JUSTPAY_WEBHOOK_WORKERS"
	EnvWebhookAllowHosts    = "JUSTPAY_WEBHOOK_ALLOW_HOSTS"
	EnvWebhookAllowLoopback = "JUSTPAY_WEBHOOK_ALLOW_LOOPBACK"
)

// SQLiteFile is the name of the SQLite database inside the data directory.
const SQLiteFile = "justpay.db"

// Config is the configuration of the subcommands, from flags, the environment and defaults.
type Config struct {
	// Addr is the TCP address justpay serve listens on.
	Addr string
	// DataDir holds the SQLite database and, in dev, the generated master key.
	DataDir string
	// DatabaseURL selects PostgreSQL when it is a postgres:// URL; otherwise SQLite in DataDir.
	DatabaseURL string
	// LogFormat is "text" or "json"; logs go to stderr.
	LogFormat string
	// AdminToken is a static admin token (environment only); "" means none.
	AdminToken string
	// MasterKey seals deposit keys (environment only); "" means the dev key in DataDir.
	MasterKey string
	// RateLimitPerKey and RateLimitPerIP are the requests a minute justpay serve admits per API
	// key and per client IP on /api/v1/*; 0 means unlimited.
	RateLimitPerKey, RateLimitPerIP int
	// WebhookWorkers bounds the webhook deliveries in flight at once.
	WebhookWorkers int
	// WebhookAllowHosts are host names, IP addresses or CIDR prefixes webhooks may reach even when
	// they are not public (comma-separated on the command line).
	WebhookAllowHosts string
	// WebhookAllowLoopback lets webhooks reach loopback addresses (dev mode always does).
	WebhookAllowLoopback bool

	// SendUSDC configures justpay dev send-usdc.
	SendUSDC SendUSDCConfig
}

// SendUSDCConfig is what justpay dev send-usdc sends, and to which server.
type SendUSDCConfig struct {
	// To is the receiving address, usually an agent's deposit address.
	To string
	// From is the sending wallet; "" means a fresh random one.
	From string
	// Amount is in micro-USDC, parsed exactly from the decimal --amount.
	Amount int64
	// ServerURL is the base URL of the running dev-mode server.
	ServerURL string
}

// SQLitePath is where the SQLite database lives when DatabaseURL does not select PostgreSQL.
func (c *Config) SQLitePath() string {
	return filepath.Join(c.DataDir, SQLiteFile)
}

// UsesPostgres reports whether the database is PostgreSQL.
func (c *Config) UsesPostgres() bool { return sqlstore.IsPostgresURL(c.DatabaseURL) }

// Main is the program: ParseFlags reads the command line, Run does the command (for serve: starts
// the server and its workers and returns), Close stops what Run started.
type Main struct {
	// Command is the subcommand ParseFlags selected, one of the Command* constants.
	Command string
	// Config is the configuration ParseFlags assembled.
	Config Config
	// BaseClock is the clock the server's adjustable dev clock runs over; SystemClock when nil.
	// Tests set a fixed one.
	BaseClock justpay.Clock
	// Stdout receives the output of the commands; Stderr the logs and error messages.
	Stdout, Stderr io.Writer

	benchArgs []string
	logger    *slog.Logger

	// Set while serving, for Close.
	clock         *justpay.AdjustableClock
	db            *sqlstore.DB
	server        *httpapi.Server
	stopScheduler context.CancelFunc
	schedulerDone sync.WaitGroup
	stopWebhooks  context.CancelFunc
	webhooksDone  sync.WaitGroup
}

// NewMain returns a Main writing to stdout and stderr.
func NewMain(stdout, stderr io.Writer) *Main {
	return &Main{Stdout: stdout, Stderr: stderr, logger: slog.New(slog.DiscardHandler)}
}

// usageError is a mistake on the command line: it is reported with a pointer to the help and
// exit status 2.
type usageError struct {
	msg       string
	showUsage bool // print the whole usage text before the message
}

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// report prints err for people and returns the exit status it calls for.
func (m *Main) report(err error) int {
	var ue *usageError
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		if ue.showUsage {
			fmt.Fprint(m.Stderr, usageText)
			fmt.Fprintln(m.Stderr)
		}
		fmt.Fprintf(m.Stderr, "justpay: %s\nRun 'justpay help' for usage.\n", ue.msg)
		return 2
	}
	fmt.Fprintf(m.Stderr, "justpay: %v\n", err)
	return 1
}

// usageText is what justpay help prints.
const usageText = `justpay: a payments marketplace for AI agents, in one binary.

Usage:
  justpay [serve] [flags]        run the API server and its workers (the default command)
  justpay migrate [flags]        create or upgrade the database schema
  justpay ledger verify [flags]  check the ledger invariant; exit 1 and list the problems if broken
  justpay admin token [flags]    create an admin token and print it once
  justpay dev send-usdc --to ADDRESS --amount USDC [--from ADDRESS] [--url URL]
                                 send simulated USDC on a dev-mode server's chain
  justpay bench [lifecycle|campaign|ledger] [flags]
                                 measure direct-job lifecycles or a hot campaign over HTTP, or
                                 ledger transfers, against a baseline (see justpay bench -h)
  justpay help                   show this text

Flags of serve, migrate, ledger verify and admin token:
  --data-dir DIR         SQLite database and dev master key  (JUSTPAY_DATA_DIR, default ./justpay-data)
  --database-url URL     postgres://... selects PostgreSQL   (JUSTPAY_DATABASE_URL, default: SQLite
                         at <data-dir>/justpay.db)
  --log-format FORMAT    text or json, on stderr             (JUSTPAY_LOG_FORMAT, default text)

Flags of serve:
  --addr ADDR            address to listen on                (JUSTPAY_ADDR, default :8080)
  --rate-limit-per-key N requests a minute per API key on /api/v1/*; 0 = unlimited
                                                             (JUSTPAY_RATE_LIMIT_PER_KEY, default 600)
  --rate-limit-per-ip N  requests a minute per client IP on /api/v1/*; 0 = unlimited
                                                             (JUSTPAY_RATE_LIMIT_PER_IP, default 1200)
  --webhook-workers N    webhook deliveries in flight at once (JUSTPAY_WEBHOOK_WORKERS, default 8)
  --webhook-allow-hosts LIST
                         comma-separated host names, IPs or CIDRs webhooks may reach although
                         not public, such as hooks.internal,10.1.0.0/16 (JUSTPAY_WEBHOOK_ALLOW_HOSTS)
  --webhook-allow-loopback
                         let webhooks reach 127.0.0.0/8 and ::1 (JUSTPAY_WEBHOOK_ALLOW_LOOPBACK;
                         always on in dev mode)

Flags of dev send-usdc:
  --to ADDRESS           receiving Solana address, such as an agent's deposit address (required)
  --amount USDC          decimal USDC, such as 5 or 0.25 (required)
  --from ADDRESS         sending wallet (default: a fresh random wallet, printed)
  --url URL              the running server (default http://127.0.0.1:8080)

Environment only:
  JUSTPAY_ADMIN_TOKEN    static admin token: Authorization: Bearer <token> on /api/v1/admin/...
  JUSTPAY_MASTER_KEY     64 hex characters or base64 of 32 bytes; seals deposit keys at rest.
                         Unset: a dev key is generated in <data-dir>/master.key (SQLite only;
                         required with PostgreSQL).

A flag wins over its environment variable, which wins over the default.
No chain is configured yet, so serve always runs in dev mode: a simulated Solana chain, and
POST /dev/chain/transfer and POST /dev/clock/advance enabled.
Exit status: 0 ok, 1 failure, 2 usage error.
`

// ParseFlags reads the subcommand and its flags from args (the command line without the program
// name), falling back on the environment and then on the defaults. No subcommand, or a flag
// first, means serve. Errors: a usage error for anything the command line gets wrong, and
// flag.ErrHelp after printing the help.
func (m *Main) ParseFlags(ctx context.Context, args []string) error {
	m.Command = CommandServe
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, rest := args[0], args[1:]
		switch cmd {
		case "serve", "migrate":
			m.Command = cmd
		case "ledger", "admin", "dev":
			sub := map[string]string{"ledger": "verify", "admin": "token", "dev": "send-usdc"}[cmd]
			if len(rest) == 0 || rest[0] != sub {
				if len(rest) > 0 && isHelpArg(rest[0]) {
					return m.help()
				}
				if len(rest) == 0 {
					return usagef("%s needs a subcommand: justpay %s %s", cmd, cmd, sub)
				}
				return usagef("unknown subcommand %q (did you mean justpay %s %s?)", cmd+" "+rest[0], cmd, sub)
			}
			m.Command, rest = cmd+" "+sub, rest[1:]
		case "bench":
			m.Command, m.benchArgs = CommandBench, rest
			return nil
		case "help":
			return m.help()
		default:
			if isHelpArg(cmd) {
				return m.help()
			}
			return &usageError{msg: fmt.Sprintf("unknown command %q", cmd), showUsage: true}
		}
		args = rest
	}
	return m.parseCommandFlags(args)
}

func isHelpArg(s string) bool { return s == "help" || s == "-h" || s == "-help" || s == "--help" }

// help prints the usage text to stdout and selects the help command.
func (m *Main) help() error {
	m.Command = CommandHelp
	fmt.Fprint(m.Stdout, usageText)
	return nil
}

// parseCommandFlags parses the flags of m.Command.
func (m *Main) parseCommandFlags(args []string) error {
	fs := flag.NewFlagSet("justpay "+m.Command, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	c := &m.Config
	c.AdminToken = os.Getenv(EnvAdminToken)
	c.MasterKey = os.Getenv(EnvMasterKey)

	var amount string
	switch m.Command {
	case CommandDevSendUSDC:
		fs.StringVar(&c.SendUSDC.To, "to", "", "receiving address")
		fs.StringVar(&c.SendUSDC.From, "from", "", "sending wallet")
		fs.StringVar(&amount, "amount", "", "decimal USDC")
		fs.StringVar(&c.SendUSDC.ServerURL, "url", DefaultServerURL, "server base URL")
	default:
		fs.StringVar(&c.DataDir, "data-dir", envOr(EnvDataDir, DefaultDataDir), "data directory")
		fs.StringVar(&c.DatabaseURL, "database-url", os.Getenv(EnvDatabaseURL), "postgres:// URL")
		fs.StringVar(&c.LogFormat, "log-format", envOr(EnvLogFormat, DefaultLogFormat), "text or json")
		if m.Command == CommandServe {
			fs.StringVar(&c.Addr, "addr", envOr(EnvAddr, DefaultAddr), "listen address")
			limits := httpapi.DefaultRateLimits()
			for _, l := range []struct {
				p        *int
				flag     string
				env      string
				fallback int
			}{
				{&c.RateLimitPerKey, "rate-limit-per-key", EnvRateLimitPerKey, limits.PerKey},
				{&c.RateLimitPerIP, "rate-limit-per-ip", EnvRateLimitPerIP, limits.PerIP},
			} {
				def, err := envInt(l.env, l.fallback)
				if err != nil {
					return err
				}
				fs.IntVar(l.p, l.flag, def, "requests a minute; 0 = unlimited")
			}
			workers, err := envInt(EnvWebhookWorkers, webhook.DefaultWorkers)
			if err != nil {
				return err
			}
			fs.IntVar(&c.WebhookWorkers, "webhook-workers", workers, "webhook deliveries in flight")
			fs.StringVar(&c.WebhookAllowHosts, "webhook-allow-hosts", os.Getenv(EnvWebhookAllowHosts), "hosts webhooks may reach")
			loopback, err := strconv.ParseBool(envOr(EnvWebhookAllowLoopback, "false"))
			if err != nil {
				return usagef("%s must be true or false, got %q", EnvWebhookAllowLoopback, os.Getenv(EnvWebhookAllowLoopback))
			}
			fs.BoolVar(&c.WebhookAllowLoopback, "webhook-allow-loopback", loopback, "webhooks may reach loopback")
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return m.help()
		}
		return usagef("%s: %v", m.Command, err)
	}
	if fs.NArg() > 0 {
		return usagef("%s: unexpected argument %q", m.Command, fs.Arg(0))
	}
	if c.RateLimitPerKey < 0 || c.RateLimitPerIP < 0 {
		return usagef("--rate-limit-per-key and --rate-limit-per-ip must be 0 (unlimited) or more")
	}
	if m.Command == CommandServe {
		if c.WebhookWorkers < 1 || c.WebhookWorkers > 1000 {
			return usagef("--webhook-workers must be 1 to 1000, got %d", c.WebhookWorkers)
		}
		if _, err := webhook.NewClient(webhook.Policy{AllowHosts: strings.Split(c.WebhookAllowHosts, ",")}); err != nil {
			return usagef("--webhook-allow-hosts (or %s): %v", EnvWebhookAllowHosts, err)
		}
	}

	if m.Command == CommandDevSendUSDC {
		return m.checkSendUSDC(amount)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		return usagef("--log-format (or %s) must be text or json, got %q", EnvLogFormat, c.LogFormat)
	}
	if c.DataDir == "" {
		return usagef("--data-dir must not be empty")
	}
	if c.DatabaseURL != "" && !c.UsesPostgres() {
		return usagef("--database-url (or %s) must be a postgres:// URL; leave it unset for SQLite in --data-dir", EnvDatabaseURL)
	}
	m.logger = newLogger(m.Stderr, c.LogFormat)
	return nil
}

// checkSendUSDC validates the flags of dev send-usdc.
func (m *Main) checkSendUSDC(amount string) error {
	s := &m.Config.SendUSDC
	if s.To == "" || amount == "" {
		return usagef("dev send-usdc needs --to ADDRESS and --amount USDC")
	}
	micro, err := justpay.ParseUSD(amount)
	if err != nil {
		return usagef("--amount: %s", justpay.ErrorMessage(err))
	}
	if micro <= 0 {
		return usagef("--amount must be more than zero")
	}
	s.Amount = micro
	if !strings.HasPrefix(s.ServerURL, "http://") && !strings.HasPrefix(s.ServerURL, "https://") {
		return usagef("--url must be an http:// or https:// URL, got %q", s.ServerURL)
	}
	return nil
}

// envOr returns the environment variable key, or def when it is unset or empty.
func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// envInt returns the whole number in the environment variable key, or def when it is unset or
// empty; anything else there is a usage error.
func envInt(key string, def int) (int, error) {
	v := os.Getenv(key)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, usagef("%s must be a whole number of requests a minute (0 = unlimited), got %q", key, v)
	}
	return n, nil
}

// newLogger returns a slog logger writing format ("text" or "json") to w.
func newLogger(w io.Writer, format string) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

// Run does the command ParseFlags selected. For serve it opens the database, starts the workers
// and the HTTP server and returns once the server listens; Close stops them.
func (m *Main) Run(ctx context.Context) error {
	switch m.Command {
	case CommandServe:
		return m.serve(ctx)
	case CommandMigrate:
		return m.migrate(ctx)
	case CommandLedgerVerify:
		return m.verifyLedger(ctx)
	case CommandAdminToken:
		return m.createAdminToken(ctx)
	case CommandDevSendUSDC:
		return m.sendUSDC(ctx)
	case CommandBench:
		return runBench(ctx, m.benchArgs, m.Stdout)
	case CommandHelp:
		return nil
	}
	return fmt.Errorf("no command to run (call ParseFlags first)")
}

// Close stops what Run started, in order: the HTTP server (draining in-flight requests), then the
// scheduler, then the webhook dispatcher (finishing its attempts in flight), then the database. It is safe to call after a failed Run and more than once.
func (m *Main) Close() error {
	var errs []error
	if m.server != nil {
		m.logger.Info("http server: draining in-flight requests", "timeout", httpapi.ShutdownTimeout)
		if err := m.server.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close http server: %w", err))
		}
		m.logger.Info("http server stopped")
		m.server = nil
	}
	if m.stopScheduler != nil {
		m.stopScheduler()
		m.schedulerDone.Wait()
		m.logger.Info("scheduler stopped")
		m.stopScheduler = nil
	}
	if m.stopWebhooks != nil {
		m.logger.Info("webhook dispatcher: finishing the attempts in flight", "timeout", justpay.WebhookTimeout)
		m.stopWebhooks()
		m.webhooksDone.Wait()
		m.logger.Info("webhook dispatcher stopped")
		m.stopWebhooks = nil
	}
	if m.db != nil {
		if err := m.db.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close database: %w", err))
		}
		m.logger.Info("database closed")
		m.db = nil
	}
	return errors.Join(errs...)
}

// URL is the base URL of the running server, "" when none runs.
func (m *Main) URL() string {
	if m.server == nil {
		return ""
	}
	return m.server.URL()
}
