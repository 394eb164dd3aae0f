package sqlstore_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/justpay/justpay"
	"github.com/justpay/justpay/sqlstore"
	"github.com/justpay/justpay/sqlstore/sqlstoretest"
)

// The spec's example: a 0.50 USDC service costs the client 0.515 USDC, 3% on top.
const (
	jobPrice = 500_000
	jobFee   = 15_000
	jobCost  = 515_000
)

// The spec's summarizer service: its schemas, and documents that do and do not match them.
var (
	summarizerInputSchema  = json.RawMessage(`{"type":"object","properties":{"text":{"type":"string"},"maxBullets":{"type":"number"}},"required":["text"]}`)
	summarizerOutputSchema = json.RawMessage(`{"type":"object","properties":{"bullets":{"type":"array","items":{"type":"string"}}},"required":["bullets"]}`)
	goodInput              = json.RawMessage(`{"text":"Summarize this document, please.","maxBullets":3}`)
	badInput               = json.RawMessage(`{"maxBullets":"three"}`)
	goodOutput             = json.RawMessage(`{"bullets":["first point","second point"]}`)
	badOutput              = json.RawMessage(`{"bullets":["fine",2]}`)
)

func ptr[T any](v T) *T { return &v }

// serviceFields is the spec's summarizer at price (autoAccept, 60 s to deliver, room for 5
// concurrent jobs and a queue of 20), changed by opts.
func serviceFields(price int64, opts ...func(*justpay.ServiceFields)) justpay.ServiceFields {
	f := justpay.ServiceFields{
		Name:                 ptr("GPT-4 Text Summarizer"),
		Description:          ptr("Summarizes long documents into concise bullet points"),
		Category:             ptr("text-processing"),
		Tags:                 ptr([]string{"summarization", "nlp"}),
		InputSchema:          summarizerInputSchema,
		OutputSchema:         summarizerOutputSchema,
		PricePerJob:          ptr(price),
		MaxExecutionTimeSecs: ptr(60),
		AutoAccept:           ptr(true),
		MaxConcurrentJobs:    ptr(5),
		QueueEnabled:         ptr(true),
		MaxQueueSize:         ptr(20),
	}
	for _, o := range opts {
		o(&f)
	}
	return f
}

func manualAccept(f *justpay.ServiceFields) { f.AutoAccept = ptr(false) }

// capacity sets how many jobs run at once and how many may wait.
func capacity(running int, queue bool, queueSize int) func(*justpay.ServiceFields) {
	return func(f *justpay.ServiceFields) {
		f.MaxConcurrentJobs, f.QueueEnabled, f.MaxQueueSize = ptr(running), ptr(queue), ptr(queueSize)
	}
}

func directJob(serviceID string) justpay.NewJob {
	return justpay.NewJob{Type: justpay.JobDirect, ServiceID: serviceID, Input: goodInput}
}

func openJob(amount int64) justpay.NewJob {
	return justpay.NewJob{Type: justpay.JobOpen, Title: "Need a logo for my AI startup", Category: "image-generation",
		Description: "Generate a minimalist logo with blue and white colors.", Input: json.RawMessage(`{"style":"minimalist"}`),
		Amount: amount}
}

// jobEnv is a store on a fresh database and a read-only connection to the same database, to
// look at rows behind the store's back.
type jobEnv struct {
	*sqlstoretest.Env
	raw *sql.DB
}

func newJobEnv(tb testing.TB, b sqlstoretest.Backend) *jobEnv {
	tb.Helper()
	clock := sqlstoretest.NewClock()
	cfg := sqlstoretest.Config(tb, b, clock)
	db, err := sqlstore.Open(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("open %s: %v", b.Name, err)
	}
	tb.Cleanup(func() { db.Close() })
	return &jobEnv{Env: sqlstoretest.Wire(tb, db, clock), raw: simOpenRaw(tb, cfg)}
}

// mustAgent registers an agent and activates it with a deposit: it has deposit less the 1 USDC
// activation fee available.
func (e *jobEnv) mustAgent(tb testing.TB, name string, deposit int64) *justpay.Agent {
	tb.Helper()
	a, _ := e.MustRegister(tb, name)
	e.MustActivate(tb, a, deposit)
	return a
}

func (e *jobEnv) mustService(tb testing.TB, ownerID string, f justpay.ServiceFields) *justpay.Service {
	tb.Helper()
	s, err := e.Store.CreateService(context.Background(), ownerID, f)
	if err != nil {
		tb.Fatalf("create service: %v", err)
	}
	return s
}

func (e *jobEnv) mustJob(tb testing.TB, clientID string, nj justpay.NewJob) *justpay.Job {
	tb.Helper()
	j, err := e.Store.CreateJob(context.Background(), clientID, nj)
	if err != nil {
		tb.Fatalf("create %s job: %v", nj.Type, err)
	}
	return j
}

// mustDelivered creates a job of svc for client and has its provider deliver it.
func (e *jobEnv) mustDelivered(tb testing.TB, clientID string, svc *justpay.Service) *justpay.Job {
	tb.Helper()
	j := e.mustJob(tb, clientID, directJob(svc.ID))
	if j.Status == justpay.JobPending {
		if _, err := e.Store.AcceptJob(context.Background(), svc.AgentID, j.ID); err != nil {
			tb.Fatalf("accept: %v", err)
		}
	}
	j, err := e.Store.DeliverJob(context.Background(), svc.AgentID, j.ID, goodOutput)
	if err != nil {
		tb.Fatalf("deliver: %v", err)
	}
	return j
}

// mustCompleted creates a job of svc for client, delivers it and accepts the delivery.
func (e *jobEnv) mustCompleted(tb testing.TB, clientID string, svc *justpay.Service) *justpay.Job {
	tb.Helper()
	j := e.mustDelivered(tb, clientID, svc)
	j, err := e.Store.AcceptDelivery(context.Background(), clientID, j.ID)
	if err != nil {
		tb.Fatalf("accept delivery: %v", err)
	}
	return j
}

// mustDue runs the job timeouts and checks how many applied.
func (e *jobEnv) mustDue(tb testing.TB, want int) {
	tb.Helper()
	n, err := e.Store.RunDueJobs(context.Background())
	if err != nil || n != want {
		tb.Fatalf("RunDueJobs = %d, %v; want %d", n, err, want)
	}
}

// job returns the job as agentID sees it.
func (e *jobEnv) job(tb testing.TB, agentID, jobID string) *justpay.Job {
	tb.Helper()
	j, err := e.Store.FindJobByID(context.Background(), agentID, jobID)
	if err != nil {
		tb.Fatalf("find job: %v", err)
	}
	return j
}

// mustFind returns the job as agentID sees it and checks its status.
func (e *jobEnv) mustFind(tb testing.TB, agentID, jobID, status string) *justpay.Job {
	tb.Helper()
	j, err := e.Store.FindJobByID(context.Background(), agentID, jobID)
	if err != nil {
		tb.Fatalf("find job: %v", err)
	}
	if j.Status != status {
		tb.Fatalf("job status = %q, want %q", j.Status, status)
	}
	return j
}

// escrow reads a job's escrow account; ok is false when it does not exist.
func (e *jobEnv) escrow(tb testing.TB, jobID string) (balance int64, closed, ok bool) {
	tb.Helper()
	err := e.raw.QueryRow(`SELECT balance, closed FROM ledger_balances WHERE account = $1`, justpay.EscrowAccount("job", jobID)).Scan(&balance, &closed)
	if err == sql.ErrNoRows {
		return 0, false, false
	} else if err != nil {
		tb.Fatal(err)
	}
	return balance, closed, true
}

// mustHeld checks that the job's escrow is open and holds its total cost.
func (e *jobEnv) mustHeld(tb testing.TB, j *justpay.Job) {
	tb.Helper()
	if bal, closed, ok := e.escrow(tb, j.ID); !ok || closed || bal != j.TotalCost() {
		tb.Fatalf("escrow of job %s: balance %d closed %t exists %t; want %d held", j.ID, bal, closed, ok, j.TotalCost())
	}
}

// mustSettled checks that the job finished in status and that its escrow is closed at zero.
func (e *jobEnv) mustSettled(tb testing.TB, j *justpay.Job, status string) {
	tb.Helper()
	got := e.mustFind(tb, j.ClientID, j.ID, status)
	if got.FinishedAt == nil || got.ExpiresAt != nil {
		tb.Fatalf("finished job: finishedAt %v expiresAt %v", got.FinishedAt, got.ExpiresAt)
	}
	if bal, closed, ok := e.escrow(tb, j.ID); !ok || !closed || bal != 0 {
		tb.Fatalf("escrow of %s job: balance %d closed %t exists %t; want closed at zero", status, bal, closed, ok)
	}
}

func (e *jobEnv) available(tb testing.TB, agentID string) int64 {
	tb.Helper()
	return e.MustBalance(tb, agentID).Available
}

func (e *jobEnv) revenue(tb testing.TB) int64 {
	tb.Helper()
	return sqlstoretest.MustVerify(tb, e.DB).Totals[justpay.PlatformRevenue]
}

func (e *jobEnv) agent(tb testing.TB, id string) *justpay.Agent {
	tb.Helper()
	a, err := e.Store.FindAgentByID(context.Background(), id)
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

func (e *jobEnv) service(tb testing.TB, id string) *justpay.Service {
	tb.Helper()
	s, err := e.Store.FindServiceByID(context.Background(), id)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// rows dumps everything of the agents a job operation could touch: their balance rows (escrows
// included), how many postings those accounts have, the jobs they are party to, their
// applications, ratings and events, and their counters. A refused operation must leave it
// byte-identical.
func (e *jobEnv) rows(tb testing.TB, agentIDs ...string) string {
	tb.Helper()
	var b strings.Builder
	for _, id := range agentIDs {
		fmt.Fprintf(&b, "agent %s\n", id)
		for _, q := range []string{
			`SELECT account || ' ' || CAST(balance AS TEXT) || ' ' || CAST(closed AS TEXT) FROM ledger_balances WHERE agent_id = $1 ORDER BY account`,
			`SELECT 'postings ' || CAST(COUNT(*) AS TEXT) || ' ' || CAST(COALESCE(SUM(p.amount), 0) AS TEXT) FROM ledger_postings p
				JOIN ledger_balances b ON b.account = p.account WHERE b.agent_id = $1`,
			`SELECT id || ' ' || status || ' ' || provider_id || ' ' || COALESCE(CAST(output AS TEXT), '-') || ' ' || COALESCE(CAST(expires_at AS TEXT), '-')
				|| ' ' || CAST(updated_at AS TEXT) FROM jobs WHERE client_id = $1 OR provider_id = $1 ORDER BY id`,
			`SELECT 'application ' || id || ' ' || job_id || ' ' || status FROM job_applications WHERE agent_id = $1 OR job_id IN
				(SELECT id FROM jobs WHERE client_id = $1) ORDER BY id`,
			`SELECT 'rating ' || id FROM ratings WHERE rater_id = $1 OR ratee_id = $1 ORDER BY id`,
			`SELECT 'events ' || CAST(COUNT(*) AS TEXT) FROM events WHERE agent_id = $1`,
			`SELECT 'counters ' || CAST(completed_jobs AS TEXT) || ' ' || CAST(expired_jobs AS TEXT) || ' ' || CAST(rating_count AS TEXT)
				|| ' ' || CAST(rating_sum AS TEXT) FROM agents WHERE id = $1`,
		} {
			rows, err := e.raw.Query(q, id)
			if err != nil {
				tb.Fatalf("rows: %v\n%s", err, q)
			}
			for rows.Next() {
				var s string
				if err := rows.Scan(&s); err != nil {
					tb.Fatal(err)
				}
				b.WriteString(s + "\n")
			}
			if err := rows.Err(); err != nil {
				tb.Fatal(err)
			}
			rows.Close()
		}
	}
	return b.String()
}

// mustUnchanged checks that a refused operation left the rows as they were.
func mustUnchanged(tb testing.TB, before, after string) {
	tb.Helper()
	if before != after {
		tb.Fatalf("a refused operation changed rows:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// wantErr checks a refused operation's code and that it changed nothing of the agents.
func (e *jobEnv) wantErr(tb testing.TB, code string, op func() error, agentIDs ...string) error {
	tb.Helper()
	before := e.rows(tb, agentIDs...)
	err := op()
	jobWantCode(tb, err, code)
	mustUnchanged(tb, before, e.rows(tb, agentIDs...))
	return err
}

// mustEvent finds the event of type about jobID among the agent's.
func (e *jobEnv) mustEvent(tb testing.TB, agentID, typ, jobID string) *justpay.Event {
	tb.Helper()
	events, err := e.DB.FindEvents(context.Background(), agentID)
	if err != nil {
		tb.Fatal(err)
	}
	var types []string
	for _, ev := range events {
		if ev.Type == typ && ev.Data["jobId"] == jobID {
			return ev
		}
		types = append(types, ev.Type)
	}
	tb.Fatalf("no %s event for job %s among %v", typ, jobID, types)
	return nil
}

// jsonEqual reports whether two JSON documents hold the same value; PostgreSQL's jsonb does not
// keep the bytes.
func jsonEqual(a, b json.RawMessage) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}

func timeEqual(got *time.Time, want time.Time) bool { return got != nil && got.Equal(want) }

func TestCreateJob(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		env := newJobEnv(t, b)
		seller := env.mustAgent(t, "seller", 2*usdc)
		client := env.mustAgent(t, "client", 11*usdc) // 10 USDC available
		svc := env.mustService(t, seller.ID, serviceFields(jobPrice))

		t.Run("OK", func(t *testing.T) {
			before, revenue := env.MustBalance(t, client.ID), env.revenue(t)
			now := env.Clock.Now()
			j, err := env.Store.CreateJob(ctx, client.ID, directJob(svc.ID))
			if err != nil {
				t.Fatal(err)
			}
			if j.Type != justpay.JobDirect || j.Status != justpay.JobAccepted || j.Amount != jobPrice || j.PlatformFee != jobFee ||
				j.TotalCost() != jobCost || j.ClientID != client.ID || j.ProviderID != seller.ID || j.ServiceID != svc.ID ||
				j.Category != "text-processing" || string(j.Input) != string(goodInput) || j.ExecutionTimeSecs != 60 {
				t.Fatalf("job = %+v", j)
			}
			if !timeEqual(j.ExpiresAt, now.Add(60*time.Second)) || !timeEqual(j.AcceptedAt, now) {
				t.Fatalf("autoAccept job: expiresAt %v acceptedAt %v, want the 60 s delivery deadline from %v", j.ExpiresAt, j.AcceptedAt, now)
			}
			after := env.MustBalance(t, client.ID)
			if after.Available != before.Available-jobCost || after.Escrowed != before.Escrowed+jobCost {
				t.Fatalf("client balance %+v -> %+v, want %d moved into escrow", before, after, jobCost)
			}
			env.mustHeld(t, j)
			if got := env.revenue(t); got != revenue {
				t.Fatalf("revenue %d -> %d before the job completes", revenue, got)
			}
			txs, _, err := env.Store.FindTransactions(ctx, client.ID, justpay.TransactionFilter{Page: justpay.Page{Page: 1, Limit: 1}})
			if err != nil || len(txs) != 1 || txs[0].Type != justpay.TxEscrowLock || txs[0].Amount != jobCost || txs[0].Direction != "out" {
				t.Fatalf("client's newest transaction = %+v, %v; want escrow_lock out %d", txs, err, jobCost)
			}
			env.mustEvent(t, seller.ID, "job.created", j.ID)
			for _, who := range []string{client.ID, seller.ID} {
				got := env.mustFind(t, who, j.ID, justpay.JobAccepted)
				if got.TotalCost() != jobCost || !got.ExpiresAt.Equal(*j.ExpiresAt) || got.Applications != nil {
					t.Fatalf("found job = %+v", got)
				}
			}
		})
		t.Run("OKManualAccept", func(t *testing.T) {
			manual := env.mustService(t, seller.ID, serviceFields(jobPrice, manualAccept))
			j := env.mustJob(t, client.ID, directJob(manual.ID))
			if j.Status != justpay.JobPending || !timeEqual(j.ExpiresAt, env.Clock.Now().Add(justpay.ProviderAcceptWindow)) || j.AcceptedAt != nil {
				t.Fatalf("job = %+v, want pending with 5 minutes to accept", j)
			}
			env.mustHeld(t, j)
		})
		t.Run("OKOpen", func(t *testing.T) {
			before := env.available(t, client.ID)
			j := env.mustJob(t, client.ID, openJob(2*usdc))
			if j.Type != justpay.JobOpen || j.Status != justpay.JobOpenState || j.ProviderID != "" || j.Amount != 2*usdc || j.PlatformFee != 60_000 ||
				j.ApplicationWindowSecs != justpay.DefaultApplicationWindowSecs || j.ExecutionTimeSecs != 300 ||
				!timeEqual(j.ExpiresAt, env.Clock.Now().Add(24*time.Hour)) {
				t.Fatalf("job = %+v", j)
			}
			if got := env.available(t, client.ID); got != before-2_060_000 {
				t.Fatalf("available %d -> %d, want 2.06 USDC locked", before, got)
			}
			env.mustHeld(t, j)
		})
		t.Run("OKWholeBalance", func(t *testing.T) {
			// An open job whose total cost is the whole balance fits; one micro-unit more does not.
			spender := env.mustAgent(t, "spender", usdc+200_000)
			amount := int64(200_000 * 10_000 / 10_300)
			for amount+justpay.JobFee(amount, justpay.DefaultJobFeeBps) < 200_000 {
				amount++
			}
			if amount+justpay.JobFee(amount, justpay.DefaultJobFeeBps) != 200_000 {
				t.Fatalf("no amount costs exactly 200000 (%d)", amount)
			}
			env.wantErr(t, justpay.EINSUFFICIENT, func() error {
				_, err := env.Store.CreateJob(ctx, spender.ID, openJob(amount+1))
				return err
			}, spender.ID)
			j := env.mustJob(t, spender.ID, openJob(amount))
			if got := env.MustBalance(t, spender.ID); got.Available != 0 || got.Escrowed != 200_000 {
				t.Fatalf("balance = %+v, want everything in escrow", got)
			}
			env.mustHeld(t, j)
		})
		t.Run("ErrInvalid", func(t *testing.T) {
			window := func(w int) *int { return &w }
			for _, tc := range []struct {
				name   string
				nj     justpay.NewJob
				reason string // in the message
			}{
				{"NoInput", justpay.NewJob{Type: justpay.JobDirect, ServiceID: svc.ID}, "input"},
				{"BadType", justpay.NewJob{Type: "auction", ServiceID: svc.ID, Input: goodInput}, "type"},
				{"DirectNoService", justpay.NewJob{Type: justpay.JobDirect, Input: goodInput}, "serviceId"},
				{"DirectWithAmount", func() justpay.NewJob { nj := directJob(svc.ID); nj.Amount = 1; return nj }(), "amount"},
				{"DirectWithTitle", func() justpay.NewJob { nj := directJob(svc.ID); nj.Title = "A title"; return nj }(), "title"},
				{"InputSchema", justpay.NewJob{Type: justpay.JobDirect, ServiceID: svc.ID, Input: badInput}, "/text"},
				{"InputSchemaType", justpay.NewJob{Type: justpay.JobDirect, ServiceID: svc.ID, Input: json.RawMessage(`{"text":"x","maxBullets":"three"}`)}, "/maxBullets"},
				{"BadCallbackURL", func() justpay.NewJob { nj := directJob(svc.ID); nj.CallbackURL = "ftp://x"; return nj }(), "callbackUrl"},
				{"OpenWithService", func() justpay.NewJob { nj := openJob(usdc); nj.ServiceID = svc.ID; return nj }(), "serviceId"},
				{"OpenShortTitle", func() justpay.NewJob { nj := openJob(usdc); nj.Title = "ab"; return nj }(), "title"},
				{"OpenLongTitle", func() justpay.NewJob { nj := openJob(usdc); nj.Title = strings.Repeat("t", 101); return nj }(), "title"},
				{"OpenNoCategory", func() justpay.NewJob { nj := openJob(usdc); nj.Category = ""; return nj }(), "category"},
				{"OpenShortDescription", func() justpay.NewJob { nj := openJob(usdc); nj.Description = "too short"; return nj }(), "description"},
				{"OpenZeroAmount", openJob(0), "amount"},
				{"OpenNegativeAmount", openJob(-1), "amount"},
				{"OpenAmountOverflow", openJob(math.MaxInt64), ""},
				{"OpenWindowTooShort", func() justpay.NewJob { nj := openJob(usdc); nj.ApplicationWindow = window(59); return nj }(), "applicationWindow"},
				{"OpenWindowTooLong", func() justpay.NewJob { nj := openJob(usdc); nj.ApplicationWindow = window(604_801); return nj }(), "applicationWindow"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					err := env.wantErr(t, justpay.EINVALID, func() error {
						_, err := env.Store.CreateJob(ctx, client.ID, tc.nj)
						return err
					}, client.ID, seller.ID)
					if !strings.Contains(justpay.ErrorMessage(err), tc.reason) {
						t.Fatalf("message %q does not name %q", justpay.ErrorMessage(err), tc.reason)
					}
				})
			}
		})
		t.Run("ErrNotFound", func(t *testing.T) {
			for _, id := range []string{justpay.NewID(env.Clock.Now()), "not-an-id"} {
				env.wantErr(t, justpay.ENOTFOUND, func() error {
					_, err := env.Store.CreateJob(ctx, client.ID, directJob(id))
					return err
				}, client.ID)
			}
		})
		t.Run("ErrForbidden", func(t *testing.T) {
			t.Run("OwnService", func(t *testing.T) {
				env.wantErr(t, justpay.EFORBIDDEN, func() error {
					_, err := env.Store.CreateJob(ctx, seller.ID, directJob(svc.ID))
					return err
				}, seller.ID)
			})
			t.Run("TrustScore", func(t *testing.T) {
				// A new agent scores 0.65; after completing a job as provider, 0.775.
				picky := env.mustAgent(t, "picky", 2*usdc)
				pickySvc := env.mustService(t, picky.ID, serviceFields(jobPrice, func(f *justpay.ServiceFields) { f.MinClientTrustScore = ptr(0.7) }))
				hirer := env.mustAgent(t, "hirer", 5*usdc)
				if got := env.agent(t, hirer.ID).TrustScore(); got != 0.65 {
					t.Fatalf("new agent's trust score = %v, want 0.65", got)
				}
				err := env.wantErr(t, justpay.EFORBIDDEN, func() error {
					_, err := env.Store.CreateJob(ctx, hirer.ID, directJob(pickySvc.ID))
					return err
				}, hirer.ID, picky.ID)
				if !strings.Contains(justpay.ErrorMessage(err), "trust score") {
					t.Fatalf("message %q", justpay.ErrorMessage(err))
				}
				hirerSvc := env.mustService(t, hirer.ID, serviceFields(jobPrice))
				env.mustCompleted(t, client.ID, hirerSvc)
				if got := env.agent(t, hirer.ID).TrustScore(); got != 0.775 {
					t.Fatalf("trust score after a completed job = %v, want 0.775", got)
				}
				env.mustJob(t, hirer.ID, directJob(pickySvc.ID))
			})
		})
		t.Run("ErrConflict", func(t *testing.T) {
			gone := env.mustService(t, seller.ID, serviceFields(jobPrice))
			if _, err := env.Store.DeactivateService(ctx, seller.ID, gone.ID); err != nil {
				t.Fatal(err)
			}
			env.wantErr(t, justpay.ECONFLICT, func() error {
				_, err := env.Store.CreateJob(ctx, client.ID, directJob(gone.ID))
				return err
			}, client.ID, seller.ID)
		})
		t.Run("ErrInsufficientFunds", func(t *testing.T) {
			poor := env.mustAgent(t, "poor", usdc+jobCost-1) // one micro-unit short
			for _, nj := range []justpay.NewJob{directJob(svc.ID), openJob(jobPrice)} {
				err := env.wantErr(t, justpay.EINSUFFICIENT, func() error {
					_, err := env.Store.CreateJob(ctx, poor.ID, nj)
					return err
				}, poor.ID, seller.ID)
				if !strings.Contains(justpay.ErrorMessage(err), "insufficient") {
					t.Fatalf("message %q", justpay.ErrorMessage(err))
				}
			}
			var jobs, escrows int
			env.raw.QueryRow(`SELECT COUNT(*) FROM jobs WHERE client_id = $1`, poor.ID).Scan(&jobs)
			env.raw.QueryRow(`SELECT COUNT(*) FROM ledger_balances WHERE agent_id = $1 AND account LIKE 'escrow:%'`, poor.ID).Scan(&escrows)
			if jobs != 0 || escrows != 0 {
				t.Fatalf("a refused job left %d job rows and %d escrow accounts", jobs, escrows)
			}
			// Topped up by one micro-unit, it fits exactly.
			env.MustDeposit(t, poor, sqlstoretest.NewWallet(t), 1)
			env.mustJob(t, poor.ID, directJob(svc.ID))
			if got := env.MustBalance(t, poor.ID); got.Available != 0 || got.Escrowed != jobCost {
				t.Fatalf("balance = %+v", got)
			}
		})
		sqlstoretest.MustVerify(t, env.DB)
	})
}

func TestAcceptJob(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		env := newJobEnv(t, b)
		seller := env.mustAgent(t, "seller", 2*usdc)
		client := env.mustAgent(t, "client", 11*usdc)
		outsider := env.mustAgent(t, "outsider", 2*usdc)
		svc := env.mustService(t, seller.ID, serviceFields(jobPrice, manualAccept, func(f *justpay.ServiceFields) {
			f.MaxExecutionTimeSecs = ptr(120)
		}))
		start := env.available(t, client.ID)

		var accepted *justpay.Job
		t.Run("OK", func(t *testing.T) {
			j := env.mustJob(t, client.ID, directJob(svc.ID))
			accepted = j
			env.Clock.Advance(justpay.ProviderAcceptWindow - time.Microsecond) // the last instant
			before := env.MustBalance(t, client.ID)
			got, err := env.Store.AcceptJob(ctx, seller.ID, j.ID)
			now := env.Clock.Now()
			if err != nil || got.Status != justpay.JobAccepted || !timeEqual(got.AcceptedAt, now) || !timeEqual(got.ExpiresAt, now.Add(120*time.Second)) {
				t.Fatalf("accept = %+v, %v; want accepted with 120 s to deliver", got, err)
			}
			if after := env.MustBalance(t, client.ID); after != before {
				t.Fatalf("accepting moved money: %+v -> %+v", before, after)
			}
			env.mustHeld(t, j)
			env.mustFind(t, seller.ID, j.ID, justpay.JobAccepted)
		})
		j := env.mustJob(t, client.ID, directJob(svc.ID))
		t.Run("ErrNotFound", func(t *testing.T) {
			for _, c := range []struct{ agent, job string }{
				{outsider.ID, j.ID}, {seller.ID, justpay.NewID(env.Clock.Now())}, {seller.ID, "nope"},
			} {
				env.wantErr(t, justpay.ENOTFOUND, func() error {
					_, err := env.Store.AcceptJob(ctx, c.agent, c.job)
					return err
				}, client.ID, seller.ID, outsider.ID)
			}
		})
		t.Run("ErrForbidden", func(t *testing.T) {
			env.wantErr(t, justpay.EFORBIDDEN, func() error {
				_, err := env.Store.AcceptJob(ctx, client.ID, j.ID)
				return err
			}, client.ID, seller.ID)
		})
		t.Run("ErrConflict", func(t *testing.T) {
			if _, err := env.Store.AcceptJob(ctx, seller.ID, j.ID); err != nil {
				t.Fatal(err)
			}
			env.wantErr(t, justpay.ECONFLICT, func() error {
				_, err := env.Store.AcceptJob(ctx, seller.ID, j.ID) // twice
				return err
			}, client.ID, seller.ID)
			open := env.mustJob(t, client.ID, openJob(usdc))
			env.wantErr(t, justpay.ENOTFOUND, func() error {
				_, err := env.Store.AcceptJob(ctx, seller.ID, open.ID) // not its job
				return err
			}, client.ID, seller.ID)
			late := env.mustJob(t, client.ID, directJob(svc.ID))
			env.Clock.Advance(justpay.ProviderAcceptWindow) // exactly the deadline, not yet applied
			env.wantErr(t, justpay.ECONFLICT, func() error {
				_, err := env.Store.AcceptJob(ctx, seller.ID, late.ID)
				return err
			}, client.ID, seller.ID)
			env.mustDue(t, 3) // late, unaccepted; j and the first job, accepted and not delivered
			for _, x := range []*justpay.Job{late, j, accepted} {
				env.mustSettled(t, x, justpay.JobExpired)
			}
			if a := env.agent(t, seller.ID); a.ExpiredJobs != 2 {
				t.Fatalf("provider's expired jobs = %d, want the 2 it accepted", a.ExpiredJobs)
			}
			if _, err := env.Store.CancelJob(ctx, client.ID, open.ID); err != nil {
				t.Fatal(err)
			}
		})
		t.Run("ExpiresUnaccepted", func(t *testing.T) {
			before := env.available(t, client.ID)
			j := env.mustJob(t, client.ID, directJob(svc.ID))
			env.Clock.Advance(justpay.ProviderAcceptWindow - time.Microsecond)
			env.mustDue(t, 0)
			env.mustFind(t, client.ID, j.ID, justpay.JobPending)
			env.Clock.Advance(time.Microsecond)
			env.mustDue(t, 1)
			env.mustSettled(t, j, justpay.JobExpired)
			if got := env.available(t, client.ID); got != before {
				t.Fatalf("available %d after expiry, want %d refunded in full", got, before)
			}
			if a := env.agent(t, seller.ID); a.ExpiredJobs != 2 {
				t.Fatalf("a job the provider never accepted counts against it: expired %d, want still 2", a.ExpiredJobs)
			}
			env.mustEvent(t, client.ID, "job.expired", j.ID)
			env.mustDue(t, 0) // applied once
		})
		// Every job expired or was cancelled: everything came back.
		if got := env.MustBalance(t, client.ID); got.Available != start || got.Escrowed != 0 {
			t.Fatalf("client balance = %+v, want %d available and nothing escrowed", got, start)
		}
		sqlstoretest.MustVerify(t, env.DB)
	})
}

func TestDeliverJob(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		env := newJobEnv(t, b)
		seller := env.mustAgent(t, "seller", 2*usdc)
		client := env.mustAgent(t, "client", 11*usdc)
		outsider := env.mustAgent(t, "outsider", 2*usdc)
		svc := env.mustService(t, seller.ID, serviceFields(jobPrice))
		manual := env.mustService(t, seller.ID, serviceFields(jobPrice, manualAccept))
		parties := []string{client.ID, seller.ID, outsider.ID}

		t.Run("OK", func(t *testing.T) {
			j := env.mustJob(t, client.ID, directJob(svc.ID))
			env.Clock.Advance(59 * time.Second)
			before := env.rows(t, client.ID)
			got, err := env.Store.DeliverJob(ctx, seller.ID, j.ID, goodOutput)
			now := env.Clock.Now()
			if err != nil || got.Status != justpay.JobDelivered || string(got.Output) != string(goodOutput) ||
				!timeEqual(got.DeliveredAt, now) || !timeEqual(got.ExpiresAt, now.Add(justpay.ReviewWindow)) {
				t.Fatalf("deliver = %+v, %v; want delivered with 5 minutes to review", got, err)
			}
			env.mustHeld(t, j)
			if bal := env.MustBalance(t, client.ID); bal.Escrowed != jobCost {
				t.Fatalf("delivery released escrow: %+v", bal)
			}
			if env.rows(t, client.ID) == before {
				t.Fatal("delivery changed nothing")
			}
			found := env.mustFind(t, client.ID, j.ID, justpay.JobDelivered)
			if !jsonEqual(found.Output, goodOutput) {
				t.Fatalf("stored output = %s", found.Output)
			}
			e := env.mustEvent(t, client.ID, "job.delivered", j.ID)
			if e.Data["executionTimeSecs"] != float64(59) {
				t.Fatalf("event data = %v", e.Data)
			}
		})
		t.Run("ErrInvalid", func(t *testing.T) {
			j := env.mustJob(t, client.ID, directJob(svc.ID))
			for _, tc := range []struct {
				name   string
				output json.RawMessage
				reason string
			}{
				{"Schema", badOutput, "/bullets/1"},
				{"SchemaMissing", json.RawMessage(`{"summary":"x"}`), "bullets"},
				{"Empty", nil, "output"},
				{"NotJSON", json.RawMessage(`{"bullets":`), "output"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					err := env.wantErr(t, justpay.EINVALID, func() error {
						_, err := env.Store.DeliverJob(ctx, seller.ID, j.ID, tc.output)
						return err
					}, parties...)
					if !strings.Contains(justpay.ErrorMessage(err), tc.reason) {
						t.Fatalf("message %q does not name %q", justpay.ErrorMessage(err), tc.reason)
					}
					if got := env.mustFind(t, seller.ID, j.ID, justpay.JobAccepted); got.Output != nil {
						t.Fatalf("refused output stored: %s", got.Output)
					}
				})
			}
			// The provider may still deliver a valid output.
			if _, err := env.Store.DeliverJob(ctx, seller.ID, j.ID, goodOutput); err != nil {
				t.Fatal(err)
			}
		})
		t.Run("ErrNotFound", func(t *testing.T) {
			j := env.mustJob(t, client.ID, directJob(svc.ID))
			for _, c := range []struct{ agent, job string }{{outsider.ID, j.ID}, {seller.ID, justpay.NewID(env.Clock.Now())}} {
				env.wantErr(t, justpay.ENOTFOUND, func() error {
					_, err := env.Store.DeliverJob(ctx, c.agent, c.job, goodOutput)
					return err
				}, parties...)
			}
		})
		t.Run("ErrForbidden", func(t *testing.T) {
			j := env.mustJob(t, client.ID, directJob(svc.ID))
			env.wantErr(t, justpay.EFORBIDDEN, func() error {
				_, err := env.Store.DeliverJob(ctx, client.ID, j.ID, goodOutput)
				return err
			}, parties...)
		})
		t.Run("ErrConflict", func(t *testing.T) {
			pending := env.mustJob(t, client.ID, directJob(manual.ID))
			delivered := env.mustDelivered(t, client.ID, svc)
			late := env.mustJob(t, client.ID, directJob(svc.ID))
			for _, id := range []string{pending.ID, delivered.ID} {
				env.wantErr(t, justpay.ECONFLICT, func() error {
					_, err := env.Store.DeliverJob(ctx, seller.ID, id, goodOutput)
					return err
				}, parties...)
			}
			env.Clock.Advance(60 * time.Second) // late's deadline, not yet applied
			env.wantErr(t, justpay.ECONFLICT, func() error {
				_, err := env.Store.DeliverJob(ctx, seller.ID, late.ID, goodOutput)
				return err
			}, parties...)
		})
		t.Run("ExpiresUndelivered", func(t *testing.T) {
			env.mustDue(t, countDue(t, env, client.ID)) // settle what earlier subtests left due
			before, expired := env.available(t, client.ID), env.agent(t, seller.ID).ExpiredJobs
			j := env.mustJob(t, client.ID, directJob(svc.ID))
			env.Clock.Advance(60*time.Second - time.Microsecond)
			env.mustDue(t, 0)
			env.Clock.Advance(time.Microsecond)
			env.mustDue(t, countDue(t, env, client.ID))
			env.mustSettled(t, j, justpay.JobExpired)
			if got := env.available(t, client.ID); got != before {
				t.Fatalf("available %d after expiry, want %d", got, before)
			}
			if a := env.agent(t, seller.ID); a.ExpiredJobs != expired+1 {
				t.Fatalf("provider's expired jobs %d -> %d, want one more", expired, a.ExpiredJobs)
			}
		})
		sqlstoretest.MustVerify(t, env.DB)
	})
}

// countDue counts the client's jobs whose deadline has passed.
func countDue(tb testing.TB, env *jobEnv, clientID string) int {
	tb.Helper()
	jobs, _, err := env.Store.FindJobs(context.Background(), clientID, justpay.JobFilter{Role: "client", Page: justpay.Page{Page: 1, Limit: 100}})
	if err != nil {
		tb.Fatal(err)
	}
	n, now := 0, env.Clock.Now()
	for _, j := range jobs {
		if j.ExpiresAt != nil && !j.ExpiresAt.After(now) {
			n++
		}
	}
	return n
}

func TestAcceptDelivery(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		env := newJobEnv(t, b)
		seller := env.mustAgent(t, "seller", 2*usdc) // 1 USDC available
		client := env.mustAgent(t, "client", 11*usdc)
		outsider := env.mustAgent(t, "outsider", 2*usdc)
		svc := env.mustService(t, seller.ID, serviceFields(jobPrice))
		parties := []string{client.ID, seller.ID, outsider.ID}

		t.Run("OK", func(t *testing.T) {
			j := env.mustDelivered(t, client.ID, svc)
			client0, seller0, revenue0 := env.MustBalance(t, client.ID), env.MustBalance(t, seller.ID), env.revenue(t)
			env.Clock.Advance(justpay.ReviewWindow - time.Microsecond) // the last instant
			got, err := env.Store.AcceptDelivery(ctx, client.ID, j.ID)
			if err != nil || got.Status != justpay.JobCompleted || !timeEqual(got.FinishedAt, env.Clock.Now()) || got.ExpiresAt != nil {
				t.Fatalf("accept delivery = %+v, %v", got, err)
			}
			env.mustSettled(t, j, justpay.JobCompleted)
			client1, seller1, revenue1 := env.MustBalance(t, client.ID), env.MustBalance(t, seller.ID), env.revenue(t)
			if seller1.Available != seller0.Available+jobPrice || revenue1 != revenue0+jobFee {
				t.Fatalf("provider %d -> %d (want +%d), revenue %d -> %d (want +%d)",
					seller0.Available, seller1.Available, jobPrice, revenue0, revenue1, jobFee)
			}
			if client1.Available != client0.Available || client1.Escrowed != client0.Escrowed-jobCost {
				t.Fatalf("client %+v -> %+v, want only the escrow released", client0, client1)
			}
			txs, _, _ := env.Store.FindTransactions(ctx, seller.ID, justpay.TransactionFilter{Page: justpay.Page{Page: 1, Limit: 1}})
			if len(txs) != 1 || txs[0].Type != justpay.TxEarned || txs[0].Amount != jobPrice || txs[0].Direction != "in" {
				t.Fatalf("provider's newest transaction = %+v", txs)
			}
			if a, s := env.agent(t, seller.ID), env.service(t, svc.ID); a.CompletedJobs != 1 || s.CompletedJobs != 1 {
				t.Fatalf("completed jobs: agent %d, service %d; want 1 and 1", a.CompletedJobs, s.CompletedJobs)
			}
			env.mustEvent(t, seller.ID, "job.completed", j.ID)
			env.wantErr(t, justpay.ECONFLICT, func() error {
				_, err := env.Store.AcceptDelivery(ctx, client.ID, j.ID) // twice
				return err
			}, parties...)
			env.mustDue(t, 0)
		})
		t.Run("AutoAccept", func(t *testing.T) {
			j := env.mustDelivered(t, client.ID, svc)
			seller0, revenue0, client0 := env.available(t, seller.ID), env.revenue(t), env.available(t, client.ID)
			env.Clock.Advance(justpay.ReviewWindow - time.Microsecond)
			env.mustDue(t, 0)
			env.mustFind(t, client.ID, j.ID, justpay.JobDelivered)
			env.Clock.Advance(time.Microsecond)
			env.wantErr(t, justpay.ECONFLICT, func() error {
				_, err := env.Store.AcceptDelivery(ctx, client.ID, j.ID) // at the deadline: the timeout's
				return err
			}, parties...)
			env.mustDue(t, 1)
			env.mustSettled(t, j, justpay.JobCompleted)
			if got := env.available(t, seller.ID); got != seller0+jobPrice {
				t.Fatalf("provider available %d -> %d, want +%d", seller0, got, jobPrice)
			}
			if got := env.revenue(t); got != revenue0+jobFee {
				t.Fatalf("revenue %d -> %d, want +%d", revenue0, got, jobFee)
			}
			if got := env.available(t, client.ID); got != client0 {
				t.Fatalf("client available %d -> %d", client0, got)
			}
			if a, s := env.agent(t, seller.ID), env.service(t, svc.ID); a.CompletedJobs != 2 || s.CompletedJobs != 2 {
				t.Fatalf("completed jobs: agent %d, service %d; want 2 and 2", a.CompletedJobs, s.CompletedJobs)
			}
			env.mustDue(t, 0) // applied once
		})
		t.Run("ErrNotFound", func(t *testing.T) {
			j := env.mustDelivered(t, client.ID, svc)
			for _, c := range []struct{ agent, job string }{{outsider.ID, j.ID}, {client.ID, justpay.NewID(env.Clock.Now())}} {
				env.wantErr(t, justpay.ENOTFOUND, func() error {
					_, err := env.Store.AcceptDelivery(ctx, c.agent, c.job)
					return err
				}, parties...)
			}
		})
		t.Run("ErrForbidden", func(t *testing.T) {
			j := env.mustDelivered(t, client.ID, svc)
			env.wantErr(t, justpay.EFORBIDDEN, func() error {
				_, err := env.Store.AcceptDelivery(ctx, seller.ID, j.ID)
				return err
			}, parties...)
		})
		t.Run("ErrConflict", func(t *testing.T) {
			j := env.mustJob(t, client.ID, directJob(svc.ID)) // accepted, not delivered
			env.wantErr(t, justpay.ECONFLICT, func() error {
				_, err := env.Store.AcceptDelivery(ctx, client.ID, j.ID)
				return err
			}, parties...)
			if _, err := env.Store.CancelJob(ctx, client.ID, j.ID); err != nil {
				t.Fatal(err)
			}
			env.wantErr(t, justpay.ECONFLICT, func() error {
				_, err := env.Store.AcceptDelivery(ctx, client.ID, j.ID) // cancelled
				return err
			}, parties...)
		})
		sqlstoretest.MustVerify(t, env.DB)
	})
}

func TestCancelJob(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		env := newJobEnv(t, b)
		seller := env.mustAgent(t, "seller", 2*usdc)
		client := env.mustAgent(t, "client", 11*usdc)
		outsider := env.mustAgent(t, "outsider", 2*usdc)
		applicant := env.mustAgent(t, "applicant", 2*usdc)
		single := env.mustService(t, seller.ID, serviceFields(jobPrice, capacity(1, true, 5)))
		manual := env.mustService(t, seller.ID, serviceFields(jobPrice, manualAccept))
		parties := []string{client.ID, seller.ID, outsider.ID}

		// Each status a client may cancel in gets the whole cost back: amount and fee.
		running := env.mustJob(t, client.ID, directJob(single.ID))
		for _, tc := range []struct {
			name   string
			create func() *justpay.Job
			status string
		}{
			{"OKQueued", func() *justpay.Job { return env.mustJob(t, client.ID, directJob(single.ID)) }, justpay.JobQueued},
			{"OKPending", func() *justpay.Job { return env.mustJob(t, client.ID, directJob(manual.ID)) }, justpay.JobPending},
			{"OKOpen", func() *justpay.Job { return env.mustJob(t, client.ID, openJob(jobPrice)) }, justpay.JobOpenState},
			{"OKOpenWithApplications", func() *justpay.Job {
				j := env.mustJob(t, client.ID, openJob(jobPrice))
				if _, err := env.Store.ApplyToJob(ctx, applicant.ID, j.ID, "pick me"); err != nil {
					t.Fatal(err)
				}
				return j
			}, justpay.JobOpenState},
			{"OKAccepted", func() *justpay.Job { return env.mustJob(t, client.ID, directJob(manual.ID)) }, justpay.JobAccepted},
			{"OKAssigned", func() *justpay.Job {
				j := env.mustJob(t, client.ID, openJob(jobPrice))
				app, err := env.Store.ApplyToJob(ctx, applicant.ID, j.ID, "pick me")
				if err != nil {
					t.Fatal(err)
				}
				if _, err := env.Store.AcceptApplication(ctx, client.ID, j.ID, app.ID); err != nil {
					t.Fatal(err)
				}
				return j
			}, justpay.JobAccepted},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := env.MustBalance(t, client.ID)
				j := tc.create()
				if tc.name == "OKAccepted" {
					if _, err := env.Store.AcceptJob(ctx, seller.ID, j.ID); err != nil {
						t.Fatal(err)
					}
				}
				env.mustFind(t, client.ID, j.ID, tc.status)
				if mid := env.MustBalance(t, client.ID); mid.Available != before.Available-jobCost {
					t.Fatalf("available %d -> %d after creating, want -%d", before.Available, mid.Available, jobCost)
				}
				got, err := env.Store.CancelJob(ctx, client.ID, j.ID)
				if err != nil || got.Status != justpay.JobCancelled {
					t.Fatalf("cancel = %+v, %v", got, err)
				}
				env.mustSettled(t, j, justpay.JobCancelled)
				if after := env.MustBalance(t, client.ID); after != before {
					t.Fatalf("balance %+v -> %+v, want the full %d refunded", before, after, jobCost)
				}
				txs, _, _ := env.Store.FindTransactions(ctx, client.ID, justpay.TransactionFilter{Page: justpay.Page{Page: 1, Limit: 1}})
				if len(txs) != 1 || txs[0].Type != justpay.TxRefund || txs[0].Amount != jobCost || txs[0].Direction != "in" {
					t.Fatalf("client's newest transaction = %+v", txs)
				}
				env.wantErr(t, justpay.ECONFLICT, func() error {
					_, err := env.Store.CancelJob(ctx, client.ID, j.ID) // twice
					return err
				}, parties...)
			})
		}
		if _, err := env.Store.CancelJob(ctx, client.ID, running.ID); err != nil {
			t.Fatal(err)
		}
		t.Run("OKAfterDeadline", func(t *testing.T) {
			// Cancelling is allowed until the timeout applies: both refund in full, one of them wins.
			j := env.mustJob(t, client.ID, directJob(manual.ID))
			env.Clock.Advance(justpay.ProviderAcceptWindow)
			if _, err := env.Store.CancelJob(ctx, client.ID, j.ID); err != nil {
				t.Fatal(err)
			}
			env.mustDue(t, 0)
			env.mustSettled(t, j, justpay.JobCancelled)
		})
		t.Run("ErrNotFound", func(t *testing.T) {
			j := env.mustJob(t, client.ID, directJob(manual.ID))
			for _, c := range []struct{ agent, job string }{{outsider.ID, j.ID}, {client.ID, justpay.NewID(env.Clock.Now())}, {client.ID, ""}} {
				env.wantErr(t, justpay.ENOTFOUND, func() error {
					_, err := env.Store.CancelJob(ctx, c.agent, c.job)
					return err
				}, parties...)
			}
			env.Store.CancelJob(ctx, client.ID, j.ID)
		})
		t.Run("ErrForbidden", func(t *testing.T) {
			j := env.mustJob(t, client.ID, directJob(manual.ID))
			env.wantErr(t, justpay.EFORBIDDEN, func() error {
				_, err := env.Store.CancelJob(ctx, seller.ID, j.ID)
				return err
			}, parties...)
			env.Store.CancelJob(ctx, client.ID, j.ID)
		})
		t.Run("ErrConflict", func(t *testing.T) {
			delivered := env.mustDelivered(t, client.ID, single)
			completed := env.mustCompleted(t, client.ID, single)
			expired := env.mustJob(t, client.ID, directJob(manual.ID))
			env.Clock.Advance(justpay.ReviewWindow)
			env.mustDue(t, 2) // delivered auto-accepted, expired expired
			again := env.mustDelivered(t, client.ID, single)
			for _, id := range []string{again.ID, delivered.ID, completed.ID, expired.ID} {
				env.wantErr(t, justpay.ECONFLICT, func() error {
					_, err := env.Store.CancelJob(ctx, client.ID, id)
					return err
				}, parties...)
			}
		})
		sqlstoretest.MustVerify(t, env.DB)
	})
}

func TestOpenJob(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		env := newJobEnv(t, b)
		client := env.mustAgent(t, "poster", 11*usdc)
		alice := env.mustAgent(t, "alice", 2*usdc)
		bob := env.mustAgent(t, "bob", 2*usdc)
		carol := env.mustAgent(t, "carol", 2*usdc)
		outsider := env.mustAgent(t, "outsider", 5*usdc)
		parties := []string{client.ID, alice.ID, bob.ID, carol.ID}
		// Bob has a completed job as provider: it shows in his application.
		bobSvc := env.mustService(t, bob.ID, serviceFields(jobPrice))
		env.mustCompleted(t, outsider.ID, bobSvc)

		start := env.MustBalance(t, client.ID)
		j := env.mustJob(t, client.ID, openJob(jobPrice))
		env.mustHeld(t, j)
		if got := env.MustBalance(t, client.ID); got.Available != start.Available-jobCost || got.Escrowed != jobCost {
			t.Fatalf("balance %+v -> %+v, want %d locked at creation", start, got, jobCost)
		}

		t.Run("Listed", func(t *testing.T) {
			list, total, err := env.Store.FindOpenJobs(ctx, "image-generation", justpay.Page{Page: 1, Limit: 20})
			if err != nil || total != 1 || len(list) != 1 || list[0].Job.ID != j.ID || list[0].Client.Name != "poster" || list[0].Client.TrustScore() != 0.65 {
				t.Fatalf("open jobs = %+v (%d), %v", list, total, err)
			}
			if _, total, _ := env.Store.FindOpenJobs(ctx, "text-processing", justpay.Page{Page: 1, Limit: 20}); total != 0 {
				t.Fatalf("another category lists %d", total)
			}
			_, _, err = env.Store.FindOpenJobs(ctx, "", justpay.Page{Page: 0, Limit: 20})
			jobWantCode(t, err, justpay.EINVALID)
		})
		var apps []*justpay.Application
		t.Run("ApplyOK", func(t *testing.T) {
			for _, a := range []*justpay.Agent{alice, bob, carol} {
				env.Clock.Advance(time.Second) // applications in a known order
				app, err := env.Store.ApplyToJob(ctx, a.ID, j.ID, "I can do this: "+a.Name)
				if err != nil || app.JobID != j.ID || app.AgentID != a.ID || app.AgentName != a.Name || app.Status != justpay.ApplicationPending {
					t.Fatalf("apply = %+v, %v", app, err)
				}
				apps = append(apps, app)
			}
			if env.MustBalance(t, alice.ID) != (justpay.Balance{Available: usdc}) {
				t.Fatal("applying moved money")
			}
		})
		t.Run("ApplyErr", func(t *testing.T) {
			direct := env.mustJob(t, outsider.ID, directJob(bobSvc.ID))
			defer env.Store.CancelJob(ctx, outsider.ID, direct.ID)
			for _, tc := range []struct {
				name, agent, job, message, code string
			}{
				{"ErrForbiddenOwnJob", client.ID, j.ID, "me", justpay.EFORBIDDEN},
				{"ErrConflictTwice", alice.ID, j.ID, "again", justpay.ECONFLICT},
				{"ErrNotFound", alice.ID, justpay.NewID(env.Clock.Now()), "x", justpay.ENOTFOUND},
				{"ErrNotFoundDirect", alice.ID, direct.ID, "x", justpay.ENOTFOUND},
				{"ErrInvalidMessage", alice.ID, j.ID, strings.Repeat("m", justpay.MaxApplicationMessageLen+1), justpay.EINVALID},
			} {
				t.Run(tc.name, func(t *testing.T) {
					env.wantErr(t, tc.code, func() error {
						_, err := env.Store.ApplyToJob(ctx, tc.agent, tc.job, tc.message)
						return err
					}, append(parties, outsider.ID)...)
				})
			}
		})
		t.Run("ApplicationsShownToClientOnly", func(t *testing.T) {
			got := env.mustFind(t, client.ID, j.ID, justpay.JobOpenState)
			if len(got.Applications) != 3 {
				t.Fatalf("client sees %d applications, want 3", len(got.Applications))
			}
			for i, a := range got.Applications {
				want := apps[i]
				jobsDone := int64(0)
				if a.AgentID == bob.ID {
					jobsDone = 1
				}
				trust := env.agent(t, a.AgentID).TrustScore()
				if a.ID != want.ID || a.AgentName != want.AgentName || a.Message != want.Message || a.TrustScore != trust ||
					a.JobsDone != jobsDone || a.Status != justpay.ApplicationPending {
					t.Fatalf("application %d = %+v, want %+v with trust %v and %d completed jobs", i, a, want, trust, jobsDone)
				}
			}
			if got.Applications[1].TrustScore != 0.775 {
				t.Fatalf("bob's trust score = %v, want 0.775 after a completed job", got.Applications[1].TrustScore)
			}
			for _, who := range []string{alice.ID, outsider.ID} {
				_, err := env.Store.FindJobByID(ctx, who, j.ID)
				jobWantCode(t, err, justpay.ENOTFOUND)
			}
		})
		t.Run("AcceptApplicationErr", func(t *testing.T) {
			other := env.mustJob(t, outsider.ID, openJob(usdc))
			otherApp, err := env.Store.ApplyToJob(ctx, alice.ID, other.ID, "hi")
			if err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				name, agent, job, app, code string
			}{
				{"ErrNotFoundApplication", client.ID, j.ID, justpay.NewID(env.Clock.Now()), justpay.ENOTFOUND},
				{"ErrNotFoundMalformedApplication", client.ID, j.ID, "bogus", justpay.ENOTFOUND},
				{"ErrNotFoundOtherJobsApplication", client.ID, j.ID, otherApp.ID, justpay.ENOTFOUND},
				{"ErrNotFoundApplicant", alice.ID, j.ID, apps[0].ID, justpay.ENOTFOUND},
				{"ErrNotFoundOutsider", outsider.ID, j.ID, apps[0].ID, justpay.ENOTFOUND},
				{"ErrNotFoundJob", client.ID, justpay.NewID(env.Clock.Now()), apps[0].ID, justpay.ENOTFOUND},
			} {
				t.Run(tc.name, func(t *testing.T) {
					env.wantErr(t, tc.code, func() error {
						_, err := env.Store.AcceptApplication(ctx, tc.agent, tc.job, tc.app)
						return err
					}, append(parties, outsider.ID)...)
				})
			}
			env.Store.CancelJob(ctx, outsider.ID, other.ID)
		})
		t.Run("AcceptApplicationOK", func(t *testing.T) {
			before := env.MustBalance(t, client.ID)
			got, err := env.Store.AcceptApplication(ctx, client.ID, j.ID, apps[1].ID)
			now := env.Clock.Now()
			if err != nil || got.Status != justpay.JobAccepted || got.ProviderID != bob.ID || !timeEqual(got.AcceptedAt, now) ||
				!timeEqual(got.ExpiresAt, now.Add(300*time.Second)) {
				t.Fatalf("accept application = %+v, %v; want bob assigned with 300 s to deliver", got, err)
			}
			if after := env.MustBalance(t, client.ID); after != before {
				t.Fatalf("assigning moved money: %+v -> %+v (it was locked at creation)", before, after)
			}
			env.mustHeld(t, j)
			found := env.mustFind(t, client.ID, j.ID, justpay.JobAccepted)
			for _, a := range found.Applications {
				want := justpay.ApplicationRejected
				if a.ID == apps[1].ID {
					want = justpay.ApplicationAccepted
				}
				if a.Status != want {
					t.Fatalf("application of %s is %s, want %s", a.AgentName, a.Status, want)
				}
			}
			if p := env.mustFind(t, bob.ID, j.ID, justpay.JobAccepted); p.Applications != nil {
				t.Fatalf("the provider sees the applications: %+v", p.Applications)
			}
			_, err = env.Store.FindJobByID(ctx, alice.ID, j.ID)
			jobWantCode(t, err, justpay.ENOTFOUND)
			env.mustEvent(t, bob.ID, "job.assigned", j.ID)
			if _, total, _ := env.Store.FindOpenJobs(ctx, "", justpay.Page{Page: 1, Limit: 20}); total != 0 {
				t.Fatalf("an assigned job is still listed as open (%d)", total)
			}
			// Once assigned, the job takes no more applications or assignments.
			env.wantErr(t, justpay.ECONFLICT, func() error {
				_, err := env.Store.AcceptApplication(ctx, client.ID, j.ID, apps[2].ID)
				return err
			}, parties...)
			env.wantErr(t, justpay.ECONFLICT, func() error {
				_, err := env.Store.ApplyToJob(ctx, outsider.ID, j.ID, "late")
				return err
			}, append(parties, outsider.ID)...)
		})
		t.Run("ErrConflictApplyAsProvider", func(t *testing.T) {
			// The job is no longer open: ECONFLICT, as for any other agent, not "only the job's
			// client can apply it".
			env.wantErr(t, justpay.ECONFLICT, func() error {
				_, err := env.Store.ApplyToJob(ctx, bob.ID, j.ID, "again")
				return err
			}, parties...)
		})
		t.Run("DeliverAndAccept", func(t *testing.T) {
			// An open job has no output schema: any JSON is accepted.
			env.wantErr(t, justpay.ENOTFOUND, func() error {
				_, err := env.Store.DeliverJob(ctx, alice.ID, j.ID, goodOutput)
				return err
			}, parties...)
			if _, err := env.Store.DeliverJob(ctx, bob.ID, j.ID, json.RawMessage(`{"logo":"https://example.com/logo.png"}`)); err != nil {
				t.Fatal(err)
			}
			bob0, revenue0 := env.available(t, bob.ID), env.revenue(t)
			if _, err := env.Store.AcceptDelivery(ctx, client.ID, j.ID); err != nil {
				t.Fatal(err)
			}
			env.mustSettled(t, j, justpay.JobCompleted)
			if got := env.available(t, bob.ID); got != bob0+jobPrice {
				t.Fatalf("provider %d -> %d, want +%d", bob0, got, jobPrice)
			}
			if got := env.revenue(t); got != revenue0+jobFee {
				t.Fatalf("revenue %d -> %d, want +%d", revenue0, got, jobFee)
			}
			if got := env.MustBalance(t, client.ID); got.Available != start.Available-jobCost || got.Escrowed != 0 {
				t.Fatalf("client balance = %+v", got)
			}
			if a := env.agent(t, bob.ID); a.CompletedJobs != 2 {
				t.Fatalf("bob's completed jobs = %d, want 2", a.CompletedJobs)
			}
		})
		t.Run("WindowCloses", func(t *testing.T) {
			before := env.MustBalance(t, client.ID)
			nj := openJob(3 * usdc)
			w := 600
			nj.ApplicationWindow = &w
			j := env.mustJob(t, client.ID, nj)
			app, err := env.Store.ApplyToJob(ctx, alice.ID, j.ID, "me")
			if err != nil {
				t.Fatal(err)
			}
			env.Clock.Advance(600*time.Second - time.Microsecond)
			env.mustDue(t, 0)
			env.Clock.Advance(time.Microsecond)
			// The window closed: nothing may be done with it but cancelling, until the timeout applies.
			if _, total, _ := env.Store.FindOpenJobs(ctx, "", justpay.Page{Page: 1, Limit: 20}); total != 0 {
				t.Fatalf("a closed job is listed (%d)", total)
			}
			env.wantErr(t, justpay.ECONFLICT, func() error {
				_, err := env.Store.ApplyToJob(ctx, bob.ID, j.ID, "late")
				return err
			}, parties...)
			env.wantErr(t, justpay.ECONFLICT, func() error {
				_, err := env.Store.AcceptApplication(ctx, client.ID, j.ID, app.ID)
				return err
			}, parties...)
			env.mustDue(t, 1)
			env.mustSettled(t, j, justpay.JobExpired)
			if after := env.MustBalance(t, client.ID); after != before {
				t.Fatalf("balance %+v -> %+v, want the full %d refunded", before, after, 3*usdc+90_000)
			}
			if a := env.agent(t, alice.ID); a.ExpiredJobs != 0 {
				t.Fatalf("an applicant is charged an expired job")
			}
			if got := env.mustFind(t, client.ID, j.ID, justpay.JobExpired); len(got.Applications) != 1 || got.Applications[0].Status != justpay.ApplicationRejected {
				t.Fatalf("applications of an expired job: %+v, want the one rejected", got.Applications)
			}
		})
		sqlstoretest.MustVerify(t, env.DB)
	})
}

func TestJobCapacity(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		env := newJobEnv(t, b)
		seller := env.mustAgent(t, "seller", 2*usdc)
		client := env.mustAgent(t, "client", 21*usdc)

		for _, autoAccept := range []bool{true, false} {
			name, startStatus := "AutoAccept", justpay.JobAccepted
			if !autoAccept {
				name, startStatus = "ManualAccept", justpay.JobPending
			}
			t.Run("Queue"+name, func(t *testing.T) {
				svc := env.mustService(t, seller.ID, serviceFields(jobPrice, capacity(1, true, 2), func(f *justpay.ServiceFields) {
					f.AutoAccept = ptr(autoAccept)
				}))
				before := env.available(t, client.ID)
				first := env.mustJob(t, client.ID, directJob(svc.ID))
				env.Clock.Advance(time.Second)
				second := env.mustJob(t, client.ID, directJob(svc.ID))
				env.Clock.Advance(time.Second)
				third := env.mustJob(t, client.ID, directJob(svc.ID))
				if first.Status != startStatus || second.Status != justpay.JobQueued || third.Status != justpay.JobQueued {
					t.Fatalf("statuses %s %s %s, want %s queued queued", first.Status, second.Status, third.Status, startStatus)
				}
				if second.ExpiresAt != nil || second.AcceptedAt != nil {
					t.Fatalf("a queued job has a deadline: %+v", second)
				}
				env.mustHeld(t, second)
				env.mustHeld(t, third)
				if got := env.available(t, client.ID); got != before-3*jobCost {
					t.Fatalf("available %d -> %d, want 3 jobs locked", before, got)
				}
				// The queue is full: refused, nothing locked.
				env.wantErr(t, justpay.ECONFLICT, func() error {
					_, err := env.Store.CreateJob(ctx, client.ID, directJob(svc.ID))
					return err
				}, client.ID, seller.ID)
				// A queued job waits without a deadline however long it takes.
				env.Clock.Advance(time.Hour)
				env.mustDue(t, 1) // only the first
				env.mustSettled(t, first, justpay.JobExpired)
				// Its slot went to the oldest queued job, now running on a fresh deadline.
				now := env.Clock.Now()
				got := env.mustFind(t, client.ID, second.ID, startStatus)
				wantDeadline := now.Add(justpay.ProviderAcceptWindow)
				if autoAccept {
					wantDeadline = now.Add(60 * time.Second)
					if !timeEqual(got.AcceptedAt, now) {
						t.Fatalf("promoted job acceptedAt = %v, want %v", got.AcceptedAt, now)
					}
				}
				if !timeEqual(got.ExpiresAt, wantDeadline) {
					t.Fatalf("promoted job expiresAt = %v, want %v", got.ExpiresAt, wantDeadline)
				}
				env.mustFind(t, client.ID, third.ID, justpay.JobQueued)
				// The provider hears of the job when it is queued and again when it starts.
				var created []string
				events, _ := env.DB.FindEvents(ctx, seller.ID)
				for _, e := range events {
					if e.Type == "job.created" && e.Data["jobId"] == second.ID {
						created = append(created, e.Data["status"].(string))
						if rep, _ := e.Data["clientReputation"].(map[string]any); rep["agentId"] != client.ID {
							t.Errorf("job.created (%s) of the promoted job without the client's reputation: %v", e.Data["status"], e.Data)
						}
					}
				}
				if len(created) != 2 || !slices.Contains(created, justpay.JobQueued) || !slices.Contains(created, startStatus) {
					t.Fatalf("job.created events of the promoted job: %v", created)
				}
				// Delivering frees the slot too: the provider is no longer working on it.
				if !autoAccept {
					if _, err := env.Store.AcceptJob(ctx, seller.ID, second.ID); err != nil {
						t.Fatal(err)
					}
				}
				if _, err := env.Store.DeliverJob(ctx, seller.ID, second.ID, goodOutput); err != nil {
					t.Fatal(err)
				}
				env.mustFind(t, client.ID, third.ID, startStatus)
				// The queue has room again.
				fourth := env.mustJob(t, client.ID, directJob(svc.ID))
				if fourth.Status != justpay.JobQueued {
					t.Fatalf("fourth = %s, want queued", fourth.Status)
				}
				// Cancelling a queued job frees no slot and refunds it.
				if _, err := env.Store.CancelJob(ctx, client.ID, fourth.ID); err != nil {
					t.Fatal(err)
				}
				env.mustSettled(t, fourth, justpay.JobCancelled)
				// Cancelling the running one promotes nothing when nothing waits.
				if _, err := env.Store.CancelJob(ctx, client.ID, third.ID); err != nil {
					t.Fatal(err)
				}
				if _, err := env.Store.AcceptDelivery(ctx, client.ID, second.ID); err != nil {
					t.Fatal(err)
				}
				if got := env.available(t, client.ID); got != before-jobCost {
					t.Fatalf("available %d -> %d, want only the completed job paid", before, got)
				}
			})
		}
		t.Run("ErrConflictQueueDisabled", func(t *testing.T) {
			svc := env.mustService(t, seller.ID, serviceFields(jobPrice, capacity(1, false, 20)))
			j := env.mustJob(t, client.ID, directJob(svc.ID))
			err := env.wantErr(t, justpay.ECONFLICT, func() error {
				_, err := env.Store.CreateJob(ctx, client.ID, directJob(svc.ID))
				return err
			}, client.ID, seller.ID)
			if !strings.Contains(justpay.ErrorMessage(err), "capacity") {
				t.Fatalf("message %q", justpay.ErrorMessage(err))
			}
			env.Store.CancelJob(ctx, client.ID, j.ID)
			env.mustJob(t, client.ID, directJob(svc.ID)) // the slot is free again
		})
		t.Run("ErrConflictQueueSizeZero", func(t *testing.T) {
			svc := env.mustService(t, seller.ID, serviceFields(jobPrice, capacity(1, true, 0)))
			env.mustJob(t, client.ID, directJob(svc.ID))
			env.wantErr(t, justpay.ECONFLICT, func() error {
				_, err := env.Store.CreateJob(ctx, client.ID, directJob(svc.ID))
				return err
			}, client.ID, seller.ID)
		})
		t.Run("RaisedCapacityStartsQueued", func(t *testing.T) {
			// A queued job waits for a free slot. When the owner raises the service's capacity, the
			// slot is free at once: the oldest queued job must start, not wait for a running job to
			// leave while newer jobs are admitted ahead of it.
			svc := env.mustService(t, seller.ID, serviceFields(jobPrice, capacity(1, true, 5)))
			first := env.mustJob(t, client.ID, directJob(svc.ID))
			env.Clock.Advance(time.Second)
			waiting := env.mustJob(t, client.ID, directJob(svc.ID))
			if waiting.Status != justpay.JobQueued {
				t.Fatalf("second job = %s, want queued", waiting.Status)
			}
			if _, err := env.Store.UpdateService(ctx, seller.ID, svc.ID, justpay.ServiceFields{MaxConcurrentJobs: ptr(2)}); err != nil {
				t.Fatal(err)
			}
			env.Clock.Advance(time.Second)
			newer := env.mustJob(t, client.ID, directJob(svc.ID))
			got := env.job(t, client.ID, waiting.ID)
			if got.Status != justpay.JobAccepted {
				t.Fatalf("after raising the capacity to 2 the older job is %s and the newer one %s: the queue was overtaken",
					got.Status, newer.Status)
			}
			for _, j := range []*justpay.Job{first, waiting, newer} {
				env.Store.CancelJob(ctx, client.ID, j.ID)
			}
		})
		t.Run("ConcurrentAdmission", func(t *testing.T) {
			// Ten clients hire a service with 2 slots and a queue of 3 at once: exactly 2 run, 3
			// wait and 5 are refused with nothing locked.
			svc := env.mustService(t, seller.ID, serviceFields(jobPrice, capacity(2, true, 3)))
			var clients []*justpay.Agent
			for i := range 10 {
				clients = append(clients, env.mustAgent(t, fmt.Sprintf("rush-%d", i), usdc+jobCost))
			}
			results := make([]error, len(clients))
			statuses := make([]string, len(clients))
			done := make(chan struct{})
			start := make(chan struct{})
			for i, c := range clients {
				go func() {
					defer func() { done <- struct{}{} }()
					<-start
					j, err := env.Store.CreateJob(ctx, c.ID, directJob(svc.ID))
					results[i] = err
					if err == nil {
						statuses[i] = j.Status
					}
				}()
			}
			close(start)
			for range clients {
				<-done
			}
			count := map[string]int{}
			for i, err := range results {
				switch justpay.ErrorCode(err) {
				case "":
					count[statuses[i]]++
					if got := env.MustBalance(t, clients[i].ID); got.Available != 0 || got.Escrowed != jobCost {
						t.Fatalf("admitted client's balance = %+v", got)
					}
				case justpay.ECONFLICT:
					count["refused"]++
					if got := env.MustBalance(t, clients[i].ID); got.Available != jobCost || got.Escrowed != 0 {
						t.Fatalf("refused client's balance = %+v", got)
					}
				default:
					t.Fatalf("create job: %v", err)
				}
			}
			if count[justpay.JobAccepted] != 2 || count[justpay.JobQueued] != 3 || count["refused"] != 5 {
				t.Fatalf("outcomes = %v, want 2 accepted, 3 queued, 5 refused", count)
			}
		})
		sqlstoretest.MustVerify(t, env.DB)
	})
}

func TestFindJobs(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		env := newJobEnv(t, b)
		seller := env.mustAgent(t, "seller", 2*usdc)
		client := env.mustAgent(t, "client", 11*usdc)
		outsider := env.mustAgent(t, "outsider", 2*usdc)
		svc := env.mustService(t, seller.ID, serviceFields(jobPrice))

		// Oldest first: completed, cancelled, delivered, accepted, open; a second apart.
		var ids []string
		mk := func(nj justpay.NewJob) *justpay.Job {
			env.Clock.Advance(time.Second)
			j := env.mustJob(t, client.ID, nj)
			ids = append(ids, j.ID)
			return j
		}
		completed := mk(directJob(svc.ID))
		cancelled := mk(directJob(svc.ID))
		delivered := mk(directJob(svc.ID))
		mk(directJob(svc.ID))
		mk(openJob(usdc))
		env.Store.DeliverJob(ctx, seller.ID, completed.ID, goodOutput)
		env.Store.AcceptDelivery(ctx, client.ID, completed.ID)
		env.Store.CancelJob(ctx, client.ID, cancelled.ID)
		env.Store.DeliverJob(ctx, seller.ID, delivered.ID, goodOutput)
		// The seller is a client once too.
		env.Clock.Advance(time.Second)
		own := env.mustJob(t, seller.ID, openJob(usdc/2))

		page := func(p, limit int) justpay.Page { return justpay.Page{Page: p, Limit: limit} }
		newestFirst := []string{ids[4], ids[3], ids[2], ids[1], ids[0]}
		for _, tc := range []struct {
			name   string
			agent  string
			filter justpay.JobFilter
			want   []string
			total  int
		}{
			{"ClientAll", client.ID, justpay.JobFilter{Page: page(1, 20)}, newestFirst, 5},
			{"ClientRole", client.ID, justpay.JobFilter{Role: "client", Page: page(1, 20)}, newestFirst, 5},
			{"ClientAsProvider", client.ID, justpay.JobFilter{Role: "provider", Page: page(1, 20)}, nil, 0},
			{"ProviderRole", seller.ID, justpay.JobFilter{Role: "provider", Page: page(1, 20)}, newestFirst[1:], 4},
			{"ProviderAsClient", seller.ID, justpay.JobFilter{Role: "client", Page: page(1, 20)}, []string{own.ID}, 1},
			{"ProviderBoth", seller.ID, justpay.JobFilter{Page: page(1, 20)}, append([]string{own.ID}, newestFirst[1:]...), 5},
			{"StatusCompleted", client.ID, justpay.JobFilter{Status: justpay.JobCompleted, Page: page(1, 20)}, []string{completed.ID}, 1},
			{"StatusCancelledAsProvider", seller.ID, justpay.JobFilter{Role: "provider", Status: justpay.JobCancelled, Page: page(1, 20)}, []string{cancelled.ID}, 1},
			{"StatusOpen", client.ID, justpay.JobFilter{Status: justpay.JobOpenState, Page: page(1, 20)}, []string{ids[4]}, 1},
			{"StatusNone", client.ID, justpay.JobFilter{Status: justpay.JobExpired, Page: page(1, 20)}, nil, 0},
			{"Page1", client.ID, justpay.JobFilter{Page: page(1, 2)}, newestFirst[:2], 5},
			{"Page2", client.ID, justpay.JobFilter{Page: page(2, 2)}, newestFirst[2:4], 5},
			{"Page3", client.ID, justpay.JobFilter{Page: page(3, 2)}, newestFirst[4:], 5},
			{"PastTheEnd", client.ID, justpay.JobFilter{Page: page(4, 2)}, nil, 5},
			{"OtherAgent", outsider.ID, justpay.JobFilter{Page: page(1, 20)}, nil, 0},
		} {
			t.Run(tc.name, func(t *testing.T) {
				jobs, total, err := env.Store.FindJobs(ctx, tc.agent, tc.filter)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, j := range jobs {
					got = append(got, j.ID)
					if j.Applications != nil {
						t.Fatalf("a listed job carries applications")
					}
				}
				if total != tc.total || strings.Join(got, ",") != strings.Join(tc.want, ",") {
					t.Fatalf("jobs = %v (total %d), want %v (total %d)", got, total, tc.want, tc.total)
				}
			})
		}
		for _, tc := range []struct {
			name   string
			filter justpay.JobFilter
		}{
			{"ErrInvalidRole", justpay.JobFilter{Role: "admin", Page: page(1, 20)}},
			{"ErrInvalidStatus", justpay.JobFilter{Status: "done", Page: page(1, 20)}},
			{"ErrInvalidPage", justpay.JobFilter{Page: page(0, 20)}},
			{"ErrInvalidLimit", justpay.JobFilter{Page: page(1, 101)}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, _, err := env.Store.FindJobs(ctx, client.ID, tc.filter)
				jobWantCode(t, err, justpay.EINVALID)
			})
		}
		t.Run("FindJobByIDErrNotFound", func(t *testing.T) {
			for _, c := range []struct{ agent, job string }{
				{outsider.ID, completed.ID}, {outsider.ID, ids[4]}, {seller.ID, ids[4]}, {client.ID, justpay.NewID(env.Clock.Now())}, {client.ID, "x"},
				{"", ids[4]}, // no agent is not the missing provider of an open job
			} {
				_, err := env.Store.FindJobByID(ctx, c.agent, c.job)
				jobWantCode(t, err, justpay.ENOTFOUND)
			}
		})
		sqlstoretest.MustVerify(t, env.DB)
	})
}

func TestRateJob(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		env := newJobEnv(t, b)
		seller := env.mustAgent(t, "seller", 2*usdc)
		client := env.mustAgent(t, "client", 11*usdc)
		second := env.mustAgent(t, "second", 11*usdc)
		outsider := env.mustAgent(t, "outsider", 2*usdc)
		svc := env.mustService(t, seller.ID, serviceFields(jobPrice))
		parties := []string{client.ID, seller.ID, second.ID}
		j := env.mustCompleted(t, client.ID, svc)

		t.Run("OK", func(t *testing.T) {
			r, err := env.Store.RateJob(ctx, client.ID, j.ID, justpay.NewRating{Score: 5, Comment: "Fast and accurate", Tags: []string{"fast", "accurate"}})
			if err != nil || r.RaterID != client.ID || r.RateeID != seller.ID || r.Score != 5 || r.JobID != j.ID || len(r.Tags) != 2 {
				t.Fatalf("rate = %+v, %v", r, err)
			}
			r, err = env.Store.RateJob(ctx, seller.ID, j.ID, justpay.NewRating{Score: 4})
			if err != nil || r.RaterID != seller.ID || r.RateeID != client.ID || r.Tags == nil {
				t.Fatalf("provider's rating = %+v, %v", r, err)
			}
			list, total, err := env.Store.FindRatings(ctx, seller.ID, justpay.Page{Page: 1, Limit: 20})
			if err != nil || total != 1 || list[0].RaterName != "client" || list[0].Comment != "Fast and accurate" || strings.Join(list[0].Tags, ",") != "fast,accurate" {
				t.Fatalf("seller's ratings = %+v (%d), %v", list, total, err)
			}
		})
		t.Run("ErrConflictTwice", func(t *testing.T) {
			for _, who := range []string{client.ID, seller.ID} {
				env.wantErr(t, justpay.ECONFLICT, func() error {
					_, err := env.Store.RateJob(ctx, who, j.ID, justpay.NewRating{Score: 1})
					return err
				}, parties...)
			}
		})
		t.Run("ErrConflictNotCompleted", func(t *testing.T) {
			running := env.mustJob(t, second.ID, directJob(svc.ID))
			delivered := env.mustDelivered(t, second.ID, svc)
			cancelled := env.mustJob(t, second.ID, directJob(svc.ID))
			env.Store.CancelJob(ctx, second.ID, cancelled.ID)
			for _, id := range []string{running.ID, delivered.ID, cancelled.ID} {
				for _, who := range []string{second.ID, seller.ID} {
					env.wantErr(t, justpay.ECONFLICT, func() error {
						_, err := env.Store.RateJob(ctx, who, id, justpay.NewRating{Score: 3})
						return err
					}, parties...)
				}
			}
		})
		t.Run("ErrNotFound", func(t *testing.T) {
			for _, c := range []struct{ agent, job string }{{outsider.ID, j.ID}, {second.ID, j.ID}, {client.ID, justpay.NewID(env.Clock.Now())}} {
				env.wantErr(t, justpay.ENOTFOUND, func() error {
					_, err := env.Store.RateJob(ctx, c.agent, c.job, justpay.NewRating{Score: 3})
					return err
				}, append(parties, outsider.ID)...)
			}
		})
		t.Run("ErrInvalid", func(t *testing.T) {
			other := env.mustCompleted(t, second.ID, svc)
			for _, r := range []justpay.NewRating{
				{Score: 0}, {Score: 6}, {Score: -1},
				{Score: 3, Comment: strings.Repeat("c", justpay.MaxRatingComment+1)},
				{Score: 3, Tags: []string{"a", "b", "c", "d", "e", "f"}},
				{Score: 3, Tags: []string{""}},
			} {
				env.wantErr(t, justpay.EINVALID, func() error {
					_, err := env.Store.RateJob(ctx, second.ID, other.ID, r)
					return err
				}, parties...)
			}
		})
		t.Run("Averages", func(t *testing.T) {
			// The seller completes a third job; its clients rated 5 (above), 2 and 3: 10/3 on the agent
			// and on the service. The provider's ratings of its clients count on the clients only.
			jobs, _, _ := env.Store.FindJobs(ctx, second.ID, justpay.JobFilter{Status: justpay.JobCompleted, Page: justpay.Page{Page: 1, Limit: 20}})
			if len(jobs) != 1 {
				t.Fatalf("second's completed jobs = %d", len(jobs))
			}
			third := env.mustCompleted(t, second.ID, svc)
			for _, c := range []struct {
				job   string
				score int
			}{{jobs[0].ID, 2}, {third.ID, 3}} {
				if _, err := env.Store.RateJob(ctx, second.ID, c.job, justpay.NewRating{Score: c.score}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := env.Store.RateJob(ctx, seller.ID, third.ID, justpay.NewRating{Score: 1}); err != nil {
				t.Fatal(err)
			}
			a, s := env.agent(t, seller.ID), env.service(t, svc.ID)
			if a.RatingCount != 3 || a.RatingSum != 10 || a.CompletedJobs != 3 || s.RatingCount != 3 || s.RatingSum != 10 || s.CompletedJobs != 3 {
				t.Fatalf("seller %d/%d over %d jobs, service %d/%d over %d jobs; want 10/3 over 3", a.RatingSum, a.RatingCount, a.CompletedJobs,
					s.RatingSum, s.RatingCount, s.CompletedJobs)
			}
			if avg := *a.AverageRating(); math.Abs(avg-10.0/3) > 1e-9 || math.Abs(*s.AverageRating()-10.0/3) > 1e-9 {
				t.Fatalf("average = %v", avg)
			}
			// 3 completed, 0 failed; average 3.33: 0.25 + 0.25*(2.333/4) + 0.4 = 0.796.
			if got := a.TrustScore(); got != 0.796 {
				t.Fatalf("seller's trust score = %v, want 0.796", got)
			}
			if c := env.agent(t, second.ID); c.RatingCount != 1 || c.RatingSum != 1 || c.CompletedJobs != 0 {
				t.Fatalf("second: %d/%d, %d completed", c.RatingSum, c.RatingCount, c.CompletedJobs)
			}
			_, total, _ := env.Store.FindRatings(ctx, seller.ID, justpay.Page{Page: 1, Limit: 20})
			if total != 3 {
				t.Fatalf("seller's ratings = %d, want 3", total)
			}
		})
		t.Run("ConcurrentOnce", func(t *testing.T) {
			// Ten concurrent ratings of one job by its client: one lands.
			k := env.mustCompleted(t, second.ID, svc)
			var okN, conflictN int
			errs := make(chan error)
			for range 10 {
				go func() {
					_, err := env.Store.RateJob(ctx, second.ID, k.ID, justpay.NewRating{Score: 4})
					errs <- err
				}()
			}
			for range 10 {
				switch err := <-errs; justpay.ErrorCode(err) {
				case "":
					okN++
				case justpay.ECONFLICT:
					conflictN++
				default:
					t.Errorf("rate: %v", err)
				}
			}
			if okN != 1 || conflictN != 9 {
				t.Fatalf("ok=%d conflict=%d, want 1 and 9", okN, conflictN)
			}
			if s := env.service(t, svc.ID); s.RatingCount != 4 || s.RatingSum != 14 {
				t.Fatalf("service ratings %d/%d, want 14/4", s.RatingSum, s.RatingCount)
			}
		})
		sqlstoretest.MustVerify(t, env.DB)
	})
}

func TestJobStats(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		env := newJobEnv(t, b)
		seller := env.mustAgent(t, "seller", 2*usdc)
		client := env.mustAgent(t, "client", 11*usdc)
		env.MustRegister(t, "lurker") // not activated
		svc := env.mustService(t, seller.ID, serviceFields(jobPrice))
		gone := env.mustService(t, seller.ID, serviceFields(jobPrice))
		if _, err := env.Store.DeactivateService(ctx, seller.ID, gone.ID); err != nil {
			t.Fatal(err)
		}
		env.mustCompleted(t, client.ID, svc)
		env.mustCompleted(t, client.ID, svc)
		cancelled := env.mustJob(t, client.ID, directJob(svc.ID))
		env.Store.CancelJob(ctx, client.ID, cancelled.ID)
		env.mustJob(t, client.ID, openJob(3*usdc))
		env.mustDelivered(t, client.ID, svc)

		st, err := env.Store.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := justpay.Stats{AgentsTotal: 3, AgentsActivated: 2, ServicesActive: 1, JobsTotal: 5, JobsCompleted: 2, VolumeTotal: 2 * jobPrice}
		if *st != want {
			t.Fatalf("stats = %+v, want %+v", *st, want)
		}
		env.Clock.Advance(justpay.ReviewWindow)
		env.mustDue(t, 1) // the delivered job is auto-accepted
		st, _ = env.Store.Stats(ctx)
		if st.JobsCompleted != 3 || st.VolumeTotal != 3*jobPrice {
			t.Fatalf("stats after auto-accept = %+v", *st)
		}
		if r := sqlstoretest.MustVerify(t, env.DB); r.Totals[justpay.PlatformRevenue] != 2*justpay.ActivationFee+3*jobFee {
			t.Fatalf("revenue = %d, want 2 activation fees and 3 job fees", r.Totals[justpay.PlatformRevenue])
		}
	})
}

// jobWantCode checks an error's code.
func jobWantCode(tb testing.TB, err error, code string) {
	tb.Helper()
	if got := justpay.ErrorCode(err); got != code {
		tb.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

// The oldest queued job starts first even when its row is locked at that moment. Any request
// about a job locks its row before checking who asks (act: findJob FOR UPDATE, then
// CheckAction), so an outsider's refused request, or the client's, can hold the row of the oldest
// queued job exactly when a slot frees; a raw transaction holds that lock here. PostgreSQL only:
// SQLite has no row locks.
func TestQueuePromotionOrderUnderLock(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		if b.URL == "" {
			t.Skip("SQLite has no row locks")
		}
		ctx := context.Background()
		env := newJobEnv(t, b)
		seller := env.mustAgent(t, "seller", 2*usdc)
		client := env.mustAgent(t, "client", 11*usdc)
		svc := env.mustService(t, seller.ID, serviceFields(jobPrice, capacity(1, true, 5)))
		running := env.mustJob(t, client.ID, directJob(svc.ID))
		env.Clock.Advance(time.Second)
		oldest := env.mustJob(t, client.ID, directJob(svc.ID))
		env.Clock.Advance(time.Second)
		newer := env.mustJob(t, client.ID, directJob(svc.ID))

		lock, err := env.raw.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer lock.Rollback()
		if _, err := lock.ExecContext(ctx, `SELECT id FROM jobs WHERE id = $1 FOR UPDATE`, oldest.ID); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := env.Store.DeliverJob(ctx, seller.ID, running.ID, goodOutput)
			done <- err
		}()
		var deliverErr error
		select {
		case deliverErr = <-done:
			lock.Rollback()
		case <-time.After(500 * time.Millisecond):
			lock.Rollback() // the delivery waits for the lock: release it
			deliverErr = <-done
		}
		if deliverErr != nil {
			t.Fatal(deliverErr)
		}
		o, n := env.job(t, client.ID, oldest.ID), env.job(t, client.ID, newer.ID)
		if o.Status != justpay.JobAccepted || n.Status != justpay.JobQueued {
			t.Fatalf("after the slot freed: oldest queued job %s, newer %s; want the oldest started", o.Status, n.Status)
		}
		sqlstoretest.MustVerify(t, env.DB)
	})
}
