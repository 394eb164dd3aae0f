package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/justpay/justpay"
	"github.com/justpay/justpay/bench"
	"github.com/justpay/justpay/sqlstore"
)

// benchUsageText is what justpay bench -h prints.
const benchUsageText = `Usage:
  justpay bench [lifecycle] [--pairs 16] [--duration 10s] [--rounds 1] [--database-url URL]
  justpay bench [lifecycle] --url URL --admin-token TOKEN [--database-url URL] [...]
  justpay bench campaign [--agents 16] [--duration 10s] [--rounds 1] [--database-url URL]
  justpay bench campaign --url URL --admin-token TOKEN [...]
  justpay bench ledger [--callers 1,8] [--duration 5s] [--rounds 2] [--database-url URL]

bench lifecycle (the default) drives --pairs client/provider pairs through direct jobs over HTTP
(hire, deliver, accept-delivery) and, in the same run and on the same database, the three bare
write transactions a lifecycle needs; it prints lifecycles/s, p50/p99 of every call and the ratio,
and ends by verifying the ledger.
  --pairs N          concurrent client/provider pairs (default 16)
  --duration D       length of each measured run (default 10s)
  --rounds N         raw and HTTP runs alternate N times (default 1)
  --database-url URL without --url: the server started in process uses a scratch schema there
                     (JUSTPAY_MASTER_KEY is generated for it); default a temporary SQLite file.
                     With --url: where the raw baseline runs (a scratch schema); without it the
                     baseline is skipped.                              (JUSTPAY_DATABASE_URL)
  --url URL          measure the dev-mode server running there instead of starting one; run it
                     with --rate-limit-per-key 0 --rate-limit-per-ip 0
  --admin-token T    admin token of the server at --url, to verify the ledger (JUSTPAY_ADMIN_TOKEN)
  --cpuprofile FILE  write a CPU profile of this process (the benchmark's HTTP clients and, without
                     --url, the server) during the first HTTP run, for go tool pprof

bench campaign has --agents agents claim and deliver tasks of one hot auto-accept campaign over
HTTP (claim, deliver: paid at once) and, in the same run, as many client/provider pairs run direct
jobs as bench lifecycle does; it prints claim+deliver pairs/s, p50/p99 of every call, lifecycles/s
and their ratio, and ends by checking every balance, the campaign's pool and the ledger.
  --agents N         agents on the campaign, and direct-job pairs (default 16)
  --duration D       length of each measured run (default 10s)
  --rounds N         direct-job and campaign runs alternate N times (default 1)
  --database-url URL without --url: the server started in process uses a scratch schema there;
                     default a temporary SQLite file. Not used with --url. (JUSTPAY_DATABASE_URL)
  --url URL          measure the dev-mode server running there, as for bench lifecycle
  --admin-token T    admin token of the server at --url (JUSTPAY_ADMIN_TOKEN)
  --cpuprofile FILE  write a CPU profile of this process during the first campaign run

bench ledger measures ledger transfers against one conditional update and one insert.
  --callers LIST     comma-separated numbers of concurrent callers (default 1,8)
  --duration D       length of each measured run (default 5s)
  --rounds N         raw and ledger runs alternate N times (default 2)
  --database-url URL PostgreSQL server to measure in a scratch schema; default a temporary SQLite file
`

// runBench runs `justpay bench [lifecycle|campaign|ledger]` with args, writing its report to stdout.
func runBench(ctx context.Context, args []string, stdout io.Writer) error {
	sub := "lifecycle"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub, args = args[0], args[1:]
	}
	var err error
	switch sub {
	case "lifecycle":
		err = benchLifecycle(ctx, args, stdout)
	case "campaign":
		err = benchCampaign(ctx, args, stdout)
	case "ledger":
		err = benchLedger(ctx, args, stdout)
	case "help":
		err = flag.ErrHelp
	default:
		return usagef("unknown benchmark %q: justpay bench lifecycle, justpay bench campaign or justpay bench ledger", sub)
	}
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, benchUsageText)
		return nil
	}
	return err
}

// benchServerFlags are the flags of a benchmark over HTTP: how long it runs, and the server it
// measures.
type benchServerFlags struct {
	name                                           string // "bench lifecycle", for messages
	duration                                       time.Duration
	rounds                                         int
	databaseURL, serverURL, adminToken, cpuProfile string
}

// addBenchServerFlags defines the flags of a benchmark over HTTP on fs.
func addBenchServerFlags(fs *flag.FlagSet) *benchServerFlags {
	f := &benchServerFlags{name: fs.Name()}
	fs.DurationVar(&f.duration, "duration", 10*time.Second, "length of each measured run")
	fs.IntVar(&f.rounds, "rounds", 1, "the benchmark's runs alternate this many times")
	fs.StringVar(&f.databaseURL, "database-url", os.Getenv(EnvDatabaseURL), "PostgreSQL server")
	fs.StringVar(&f.serverURL, "url", "", "base URL of a running dev-mode server")
	fs.StringVar(&f.adminToken, "admin-token", os.Getenv(EnvAdminToken), "admin token of the server at --url")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the first measured run to this file")
	return f
}

// parse parses args into fs and checks the flags of f.
func (f *benchServerFlags) parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usagef("%s: %v", f.name, err)
	}
	switch {
	case fs.NArg() > 0:
		return usagef("%s: unexpected argument %q", f.name, fs.Arg(0))
	case f.duration <= 0 || f.rounds < 1:
		return usagef("%s: --duration and --rounds must be positive", f.name)
	case f.databaseURL != "" && !sqlstore.IsPostgresURL(f.databaseURL):
		return usagef("%s: --database-url must be a postgres:// URL", f.name)
	case f.serverURL != "" && !strings.HasPrefix(f.serverURL, "http://") && !strings.HasPrefix(f.serverURL, "https://"):
		return usagef("%s: --url must be an http:// or https:// URL, got %q", f.name, f.serverURL)
	case f.serverURL != "" && f.adminToken == "":
		return usagef("%s: --url needs --admin-token (or %s) to verify the ledger at the end", f.name, EnvAdminToken)
	}
	return nil
}

// benchTarget is the server a benchmark over HTTP measures.
type benchTarget struct {
	url, adminToken string
	// db is the database of the server started in process; nil with --url.
	db *sqlstore.DB
	// database names the database in the report ("sqlite", "postgres", "server" when unknown);
	// where says which server it is.
	database, where string
	// cpuProfile receives the CPU profile; nil without --cpuprofile.
	cpuProfile io.Writer
}

// start starts the server to measure in process, or names the one at --url, and opens the CPU
// profile's file. stop undoes what it did.
func (f *benchServerFlags) start(ctx context.Context) (t *benchTarget, stop func(), err error) {
	var cleanups []func()
	stop = func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}
	defer func() {
		if err != nil {
			stop()
			err = fmt.Errorf("%s: %w", f.name, err)
		}
	}()
	t = &benchTarget{database: "sqlite"}
	if f.databaseURL != "" {
		t.database = "postgres"
	}
	if f.cpuProfile != "" {
		file, err := os.Create(f.cpuProfile)
		if err != nil {
			return nil, nil, err
		}
		cleanups = append(cleanups, func() { file.Close() })
		t.cpuProfile = file
	}
	if f.serverURL != "" {
		t.url, t.adminToken, t.where = f.serverURL, f.adminToken, "server at "+f.serverURL
		return t, stop, nil
	}
	srv, stopServer, err := startBenchServer(ctx, f.databaseURL)
	if err != nil {
		return nil, nil, err
	}
	cleanups = append(cleanups, stopServer)
	t.url, t.adminToken, t.db = srv.URL(), srv.Config.AdminToken, srv.db
	t.where = "in-process server at " + srv.URL() + ", rate limits off"
	return t, stop, nil
}

// benchLifecycle runs justpay bench lifecycle: against a server it starts in process (on a
// temporary SQLite file, or a scratch schema of --database-url) or the one at --url.
func benchLifecycle(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bench lifecycle", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	pairs := fs.Int("pairs", 16, "concurrent client/provider pairs")
	f := addBenchServerFlags(fs)
	if err := f.parse(fs, args); err != nil {
		return err
	}
	if *pairs < 1 || *pairs > 256 {
		return usagef("bench lifecycle: --pairs must be from 1 to 256")
	}

	target, stop, err := f.start(ctx)
	if err != nil {
		return err
	}
	defer stop()
	cfg := bench.LifecycleConfig{URL: target.url, AdminToken: target.adminToken, Pairs: *pairs, Duration: f.duration,
		Rounds: f.rounds, Raw: target.db, Progress: stdout, CPUProfile: target.cpuProfile}
	switch {
	case f.serverURL == "":
	case f.databaseURL == "":
		target.database, target.where = "server", target.where+"; raw baseline skipped: no --database-url"
	default:
		db, drop, err := openScratch(ctx, f.databaseURL)
		if err != nil {
			return fmt.Errorf("bench lifecycle: %w", err)
		}
		defer drop()
		cfg.Raw = db
		target.where += "; raw baseline in a scratch schema of --database-url"
	}
	fmt.Fprintf(stdout, "justpay bench lifecycle: %s, %s, %d pairs, %d round(s) of %s per run\n",
		target.database, target.where, *pairs, f.rounds, f.duration)
	report, err := bench.Lifecycles(ctx, cfg)
	if err != nil {
		return fmt.Errorf("bench lifecycle: %w", err)
	}
	fmt.Fprintf(stdout, "setup: %d agents registered, funded and activated, %d services created, in %s\n\n",
		2**pairs, *pairs, report.Setup.Round(time.Millisecond))
	bench.PrintLifecycle(stdout, target.database, report)
	return nil
}

// benchCampaign runs justpay bench campaign: against a server it starts in process (on a
// temporary SQLite file, or a scratch schema of --database-url) or the one at --url.
func benchCampaign(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bench campaign", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	agents := fs.Int("agents", 16, "agents claiming from the campaign, and direct-job pairs")
	f := addBenchServerFlags(fs)
	if err := f.parse(fs, args); err != nil {
		return err
	}
	if *agents < 1 || *agents > 256 {
		return usagef("bench campaign: --agents must be from 1 to 256")
	}

	target, stop, err := f.start(ctx)
	if err != nil {
		return err
	}
	defer stop()
	if f.serverURL != "" {
		target.database = "server"
	}
	fmt.Fprintf(stdout, "justpay bench campaign: %s, %s, %d agents, %d round(s) of %s per run\n",
		target.database, target.where, *agents, f.rounds, f.duration)
	report, err := bench.Campaigns(ctx, bench.CampaignConfig{URL: target.url, AdminToken: target.adminToken, Agents: *agents,
		Duration: f.duration, Rounds: f.rounds, Progress: stdout, CPUProfile: target.cpuProfile})
	if err != nil {
		return fmt.Errorf("bench campaign: %w", err)
	}
	fmt.Fprintf(stdout, "setup: %d agents registered, funded and activated, %d services and 1 campaign created, in %s\n\n",
		3**agents+1, *agents, report.Setup.Round(time.Millisecond))
	bench.PrintCampaign(stdout, target.database, report)
	return nil
}

// startBenchServer starts justpay serve in process on 127.0.0.1 with rate limits off, a random
// admin token and a temporary data directory: on SQLite there, or on PostgreSQL in a scratch
// schema of databaseURL under a random master key. stop closes the server and removes what it
// made.
func startBenchServer(ctx context.Context, databaseURL string) (*Main, func(), error) {
	dir, err := os.MkdirTemp("", "justpay-bench-")
	if err != nil {
		return nil, nil, err
	}
	cleanups := []func(){func() { os.RemoveAll(dir) }}
	stop := func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}
	if databaseURL != "" {
		scratch, drop, err := sqlstore.CreateScratchSchema(ctx, databaseURL)
		if err != nil {
			stop()
			return nil, nil, err
		}
		cleanups = append(cleanups, func() { drop() })
		databaseURL = scratch
	}
	m := NewMain(io.Discard, io.Discard)
	err = m.ParseFlags(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dir, "--database-url", databaseURL,
		"--log-format", "text", "--rate-limit-per-key", "0", "--rate-limit-per-ip", "0"})
	if err != nil {
		stop()
		return nil, nil, err
	}
	m.Config.AdminToken = "jpbench_" + randomHex(24)
	m.Config.MasterKey = ""
	if databaseURL != "" {
		m.Config.MasterKey = randomHex(32)
	}
	if err := m.Run(ctx); err != nil {
		m.Close()
		stop()
		return nil, nil, err
	}
	cleanups = append(cleanups, func() { m.Close() })
	return m, stop, nil
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// openScratch opens a database in a new scratch schema of the PostgreSQL server at url; drop
// closes it and drops the schema.
func openScratch(ctx context.Context, url string) (*sqlstore.DB, func(), error) {
	scratch, drop, err := sqlstore.CreateScratchSchema(ctx, url)
	if err != nil {
		return nil, nil, err
	}
	db, err := sqlstore.Open(ctx, sqlstore.Config{URL: scratch, Clock: justpay.SystemClock{}})
	if err != nil {
		drop()
		return nil, nil, err
	}
	return db, func() { db.Close(); drop() }, nil
}

// benchLedger runs justpay bench ledger. It runs on a database of its own: a temporary SQLite
// file, or a scratch schema on the PostgreSQL server named by --database-url, dropped afterwards.
func benchLedger(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bench ledger", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	databaseURL := fs.String("database-url", os.Getenv(EnvDatabaseURL), "PostgreSQL server to measure (a scratch schema is used); default: a temporary SQLite file")
	callersFlag := fs.String("callers", "1,8", "comma-separated numbers of concurrent callers")
	duration := fs.Duration("duration", 5*time.Second, "length of each measured run")
	rounds := fs.Int("rounds", 2, "raw and ledger runs alternate this many times per caller count")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usagef("bench ledger: %v", err)
	}
	var callers []int
	for _, s := range strings.Split(*callersFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 256 {
			return usagef("bench ledger: --callers must list numbers from 1 to 256")
		}
		callers = append(callers, n)
	}
	if *rounds < 1 || *duration <= 0 {
		return usagef("bench ledger: --rounds and --duration must be positive")
	}

	name := "sqlite"
	var db *sqlstore.DB
	if *databaseURL != "" {
		if !sqlstore.IsPostgresURL(*databaseURL) {
			return errors.New("bench ledger: --database-url must be a postgres:// URL")
		}
		scratch, drop, err := openScratch(ctx, *databaseURL)
		if err != nil {
			return fmt.Errorf("bench ledger: %w", err)
		}
		defer drop()
		db, name = scratch, "postgres"
	} else {
		dir, err := os.MkdirTemp("", "justpay-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		if db, err = sqlstore.Open(ctx, sqlstore.Config{SQLitePath: filepath.Join(dir, "bench.db"), Clock: justpay.SystemClock{}}); err != nil {
			return fmt.Errorf("bench ledger: %w", err)
		}
		defer db.Close()
	}

	fmt.Fprintf(stdout, "justpay bench ledger: %s, callers %v, %d rounds of %s per operation\n", name, callers, *rounds, *duration)
	results, err := bench.LedgerTransfers(ctx, db, callers, *duration, *rounds)
	if err != nil {
		return fmt.Errorf("bench ledger: %w", err)
	}
	bench.PrintComparison(stdout, name, results)
	fmt.Fprintln(stdout, "ledger verified: invariant holds")
	return nil
}
