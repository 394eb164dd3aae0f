package sqlstore_test

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/justpay/justpay"
	"github.com/justpay/justpay/sqlstore"
	"github.com/justpay/justpay/sqlstore/sqlstoretest"
)

var jobSimSeed = flag.Uint64("jobseed", 20260211, "seed of TestJobSimulation; a failure logs the seed that reproduces it")

// jobSimConfig sizes a job simulation: groups of agents, each driven by its own worker, with
// services of their own, for rounds of steps separated by serial phases.
type jobSimConfig struct {
	groups, agents, services, rounds, steps int
}

// jobSimConfigFor sizes the simulation: 2,880 operations, 216 with -short, 480 under the race
// detector, which slows the pure-Go SQLite some tenfold; the ledger check after every step costs
// time in proportion to the ledger, so fewer steps also make each check cheaper.
func jobSimConfigFor(short, race bool) jobSimConfig {
	c := jobSimConfig{groups: 6, agents: 4, services: 3, rounds: 12, steps: 40}
	switch {
	case short:
		c.rounds, c.steps = 3, 12
	case race:
		c.groups, c.rounds, c.steps = 5, 6, 16
	}
	return c
}

// TestJobSimulation runs a seeded randomized job workload. Agents come in groups; a group's agents
// hire only the group's services and apply only to the group's open jobs, so each group's state
// is touched by its own worker alone and an independent model can predict every outcome: direct
// jobs (auto and manual accept, invalid input, untrusted clients, own and inactive services,
// full queues, insufficient funds), open jobs (applications, assignment, windows closing),
// delivery (valid and invalid output), acceptance, cancellation, ratings, wrong parties and
// outsiders. Within a group, some steps run two conflicting actions on one job at once (exactly
// one must win) or several clients hiring one service at once (admission must stay exact). The
// groups' workers run concurrently. Between rounds a serial phase moves the clock and, usually,
// runs the timeouts (expiry with refunds, auto-accept, promotion from queues); when it does not,
// the next round meets jobs whose deadline has passed but not been applied.
//
// After every step: the group's balances, escrows, jobs, applications and counters equal the
// model's; every finished job's escrow is closed at zero and every other one holds exactly the
// job's cost; a refused operation left the group's rows byte-identical; and a VerifyLedger that
// started after the step has passed (shared between steps that end together, see simVerifier).
// After every serial phase and at the end, when everything has been run to completion: the
// agents' available balances, the escrows and the platform's revenue add up to exactly what was
// deposited. Pass -jobseed to reproduce a failure.
func TestJobSimulation(t *testing.T) {
	seed, cfg := *jobSimSeed, jobSimConfigFor(testing.Short(), simRace())
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("reproduce with: go test ./sqlstore -run 'TestJobSimulation/%s' -jobseed %d", b.Name, seed)
			}
		})
		start := time.Now()
		s := newJobSim(t, b, seed, cfg)
		s.run(t)
		if t.Failed() {
			return
		}
		var stats = map[string]int{}
		var jobs int
		for _, g := range s.groups {
			for k, n := range g.stats {
				stats[k] += n
			}
			jobs += len(g.jobs)
		}
		t.Logf("seed %d: %d operations, %d jobs, %d agents in %v; %d ledger checks\n%s", seed,
			cfg.groups*cfg.rounds*cfg.steps, jobs, cfg.groups*cfg.agents, time.Since(start).Round(time.Millisecond),
			s.verifier.checks.Load(), simFormatStats(stats))
	})
}

// jobSim is one run of the simulation.
type jobSim struct {
	ctx      context.Context
	env      *sqlstoretest.Env
	raw      *sql.DB
	cfg      jobSimConfig
	serial   *rand.Rand
	groups   []*jsGroup
	verifier *simVerifier
	failed   atomic.Bool

	// The group snapshot's statements, prepared once.
	balancesStmt, countsStmt, jobsStmt, appsStmt, agentsStmt, servicesStmt *sql.Stmt
}

// jsAgent is an agent and what the model says it has.
type jsAgent struct {
	id, name  string
	available int64
	deposited int64
	// Counters on the agent row: completed and expired jobs as provider, ratings received.
	completed, expired, ratingCount, ratingSum int64
}

func (a *jsAgent) trust() float64 {
	return justpay.TrustScore(justpay.TrustInputs{JobsCompleted: a.completed, JobsFailed: a.expired,
		RatingCount: a.ratingCount, RatingSum: a.ratingSum})
}

// jsService is a service and its settings.
type jsService struct {
	id, label  string
	owner      *jsAgent
	price      int64
	autoAccept bool
	queue      bool
	maxConc    int
	maxQueue   int
	exec       int
	minTrust   float64
	active     bool
	completed  int64
	ratingCnt  int64
	ratingSum  int64
}

// jsJob is a job as the model sees it.
type jsJob struct {
	id, label        string
	svc              *jsService // nil for an open job
	client, provider *jsAgent   // provider nil until an open job is assigned
	amount, fee      int64
	status           string
	expires          time.Time // zero: no deadline
	created          time.Time
	apps             []*jsApp
	rated            map[*jsAgent]bool
}

func (j *jsJob) cost() int64 { return j.amount + j.fee }

func (j *jsJob) finished() bool {
	return j.status == justpay.JobCompleted || j.status == justpay.JobCancelled || j.status == justpay.JobExpired
}

func (j *jsJob) execSecs() int {
	if j.svc == nil {
		return int(justpay.OpenJobExecutionTime / time.Second)
	}
	return j.svc.exec
}

type jsApp struct {
	id     string
	agent  *jsAgent
	status string
}

// jsGroup is a set of agents, their services and jobs, driven by one worker.
type jsGroup struct {
	idx      int
	agents   []*jsAgent
	services []*jsService
	jobs     []*jsJob
	byID     map[string]*jsJob
	fees     int64 // job fees the platform earned from the group
	r        *rand.Rand
	last     string // the group's rows after its previous step
	steps    int
	history  []string
	stats    map[string]int
}

func (g *jsGroup) name(a *jsAgent) string {
	if a == nil {
		return "-"
	}
	return a.name
}

func newJobSim(t *testing.T, b sqlstoretest.Backend, seed uint64, cfg jobSimConfig) *jobSim {
	t.Helper()
	ctx := context.Background()
	clock := sqlstoretest.NewClock()
	dbCfg := sqlstoretest.Config(t, b, clock)
	retries := &retryCounter{}
	dbCfg.Logger = slog.New(retries)
	db, err := sqlstore.Open(ctx, dbCfg)
	if err != nil {
		t.Fatalf("open %s: %v", b.Name, err)
	}
	t.Cleanup(func() { db.Close() })
	t.Cleanup(func() { retries.mustNoRetries(t) })
	env := sqlstoretest.Wire(t, db, clock)
	s := &jobSim{ctx: ctx, env: env, raw: simOpenRaw(t, dbCfg), cfg: cfg, serial: rand.New(rand.NewPCG(seed, 0)),
		verifier: newSimVerifier(env.DB)}

	in := make([]string, cfg.agents)
	for i := range in {
		in[i] = fmt.Sprintf("$%d", i+1)
	}
	agents := "(" + strings.Join(in, ", ") + ")"
	s.balancesStmt = simPrepare(t, s.raw, `SELECT account, balance, closed FROM ledger_balances WHERE agent_id IN `+agents+` ORDER BY account`)
	s.countsStmt = simPrepare(t, s.raw, `SELECT COUNT(*), COALESCE(SUM(amount), 0),
		(SELECT COUNT(*) FROM ratings WHERE rater_id IN `+agents+`),
		(SELECT COUNT(*) FROM events WHERE agent_id IN `+agents+`)
		FROM ledger_postings WHERE account IN (SELECT account FROM ledger_balances WHERE agent_id IN `+agents+`)`)
	s.jobsStmt = simPrepare(t, s.raw, `SELECT id, status, provider_id, expires_at, updated_at, COALESCE(CAST(output AS TEXT), '') FROM jobs
		WHERE client_id IN `+agents+` ORDER BY id`)
	s.appsStmt = simPrepare(t, s.raw, `SELECT id, job_id, agent_id, status FROM job_applications
		WHERE job_id IN (SELECT id FROM jobs WHERE client_id IN `+agents+`) ORDER BY id`)
	s.agentsStmt = simPrepare(t, s.raw, `SELECT id, completed_jobs, expired_jobs, rating_count, rating_sum FROM agents WHERE id IN `+agents+` ORDER BY id`)
	s.servicesStmt = simPrepare(t, s.raw, `SELECT id, active, completed_jobs, rating_count, rating_sum, updated_at FROM services
		WHERE agent_id IN `+agents+` ORDER BY id`)

	// Setup, serial: agents with a deposit each (some barely activated), and services with
	// random settings, some inactive.
	for gi := range cfg.groups {
		g := &jsGroup{idx: gi, byID: map[string]*jsJob{}, r: rand.New(rand.NewPCG(seed, uint64(gi)+1)), stats: map[string]int{}}
		for ai := range cfg.agents {
			a, _ := env.MustRegister(t, fmt.Sprintf("g%d-a%d", gi, ai))
			deposit := []int64{usdc + 300_000, 5 * usdc, 12 * usdc, 30 * usdc}[s.serial.IntN(4)]
			env.MustActivate(t, a, deposit)
			g.agents = append(g.agents, &jsAgent{id: a.ID, name: a.Name, available: deposit - justpay.ActivationFee, deposited: deposit})
		}
		for si := range cfg.services {
			r := s.serial
			svc := &jsService{label: fmt.Sprintf("s%d.%d", gi, si), owner: g.agents[r.IntN(len(g.agents))],
				price:      []int64{0, 1, 250_000, jobPrice, 999_999, 2 * usdc}[r.IntN(6)],
				autoAccept: r.IntN(2) == 0, queue: r.IntN(3) != 0, maxConc: 1 + r.IntN(3), maxQueue: r.IntN(4),
				exec: []int{30, 60, 120}[r.IntN(3)], minTrust: []float64{0, 0, 0, 0.6, 0.7, 0.8}[r.IntN(6)], active: true}
			created, err := env.Store.CreateService(ctx, svc.owner.id, serviceFields(svc.price, func(f *justpay.ServiceFields) {
				f.AutoAccept, f.QueueEnabled, f.MaxConcurrentJobs, f.MaxQueueSize = &svc.autoAccept, &svc.queue, &svc.maxConc, &svc.maxQueue
				f.MaxExecutionTimeSecs, f.MinClientTrustScore = &svc.exec, &svc.minTrust
			}))
			if err != nil {
				t.Fatalf("create service %+v: %v", svc, err)
			}
			svc.id = created.ID
			if r.IntN(8) == 0 {
				if _, err := env.Store.DeactivateService(ctx, svc.owner.id, svc.id); err != nil {
					t.Fatal(err)
				}
				svc.active = false
			}
			g.services = append(g.services, svc)
			g.history = append(g.history, fmt.Sprintf("setup %s owner=%s price=%d auto=%t conc=%d queue=%t/%d exec=%d trust=%.1f active=%t",
				svc.label, svc.owner.name, svc.price, svc.autoAccept, svc.maxConc, svc.queue, svc.maxQueue, svc.exec, svc.minTrust, svc.active))
		}
		snap, err := s.snapshot(g)
		if err != nil {
			t.Fatal(err)
		}
		g.last = snap.text
		s.groups = append(s.groups, g)
	}
	return s
}

func (s *jobSim) run(t *testing.T) {
	for round := range s.cfg.rounds {
		var wg sync.WaitGroup
		for _, g := range s.groups {
			wg.Go(func() {
				for range s.cfg.steps {
					if s.failed.Load() {
						return
					}
					if err := s.step(g); err != nil {
						s.fail(t, g, err)
						return
					}
				}
			})
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		s.serialPhase(t, round)
		if t.Failed() {
			return
		}
	}
	s.finish(t)
}

func (s *jobSim) fail(t *testing.T, g *jsGroup, err error) {
	if s.failed.Swap(true) {
		t.Errorf("group %d step %d: %v", g.idx, g.steps, err)
		return
	}
	tail := g.history[max(0, len(g.history)-12):]
	t.Errorf("group %d step %d: %v\nlast steps:\n  %s", g.idx, g.steps, err, strings.Join(tail, "\n  "))
}

// step runs one random operation in the group and checks the outcome and the invariants.
func (s *jobSim) step(g *jsGroup) error {
	g.steps++
	now := s.env.Clock.Now() // the clock stands still during a round
	var (
		desc    string
		changed bool
		err     error
	)
	switch x := g.r.IntN(100); {
	case x < 15:
		desc, changed, err = s.opCreateDirect(g, now)
	case x < 21:
		desc, changed, err = s.opCreateOpen(g, now)
	case x < 27:
		desc, changed, err = s.opAction(g, now, justpay.ActionAccept, justpay.JobPending)
	case x < 40:
		desc, changed, err = s.opAction(g, now, justpay.ActionDeliver, justpay.JobAccepted)
	case x < 50:
		desc, changed, err = s.opAction(g, now, justpay.ActionAcceptDelivery, justpay.JobDelivered)
	case x < 55:
		desc, changed, err = s.opAction(g, now, justpay.ActionCancel, "")
	case x < 63:
		desc, changed, err = s.opAction(g, now, justpay.ActionApply, justpay.JobOpenState)
	case x < 69:
		desc, changed, err = s.opAction(g, now, justpay.ActionAssign, justpay.JobOpenState)
	case x < 76:
		desc, changed, err = s.opAction(g, now, justpay.ActionRate, justpay.JobCompleted)
	case x < 82:
		desc, changed, err = s.opAction(g, now, "", "") // anyone, anything, any job
	case x < 89:
		desc, changed, err = s.opRace(g, now)
	case x < 94:
		desc, changed, err = s.opBurst(g, now)
	case x < 95:
		desc, changed, err = s.opDeactivate(g)
	default:
		desc, changed, err = s.opFind(g, now)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", desc, err)
	}
	if err := s.check(g, changed); err != nil {
		return fmt.Errorf("after %s: %w", desc, err)
	}
	if err := s.verifier.verifyAfter(s.ctx); err != nil {
		return fmt.Errorf("after %s: %w", desc, err)
	}
	g.history = append(g.history, fmt.Sprintf("%04d %s", g.steps, desc))
	return nil
}

func jsOutcome(code string) string {
	if code == "" {
		return "ok"
	}
	return code
}

// pick returns a random element of xs, or the zero value for none.
func pick[T any](r *rand.Rand, xs []T) T {
	var zero T
	if len(xs) == 0 {
		return zero
	}
	return xs[r.IntN(len(xs))]
}

// load counts a service's running (pending or accepted) and queued jobs.
func (g *jsGroup) load(svc *jsService) (running int, queued []*jsJob) {
	for _, j := range g.jobs {
		switch {
		case j.svc != svc:
		case j.status == justpay.JobPending || j.status == justpay.JobAccepted:
			running++
		case j.status == justpay.JobQueued:
			queued = append(queued, j)
		}
	}
	slices.SortFunc(queued, func(a, b *jsJob) int {
		return cmp.Or(a.created.Compare(b.created), strings.Compare(a.id, b.id))
	})
	return running, queued
}

// admit is where a new job of svc starts, or ECONFLICT.
func (g *jsGroup) admit(svc *jsService) (string, string) {
	running, queued := g.load(svc)
	switch {
	case running < svc.maxConc:
		return jsStart(svc), ""
	case !svc.queue, len(queued) >= svc.maxQueue:
		return "", justpay.ECONFLICT
	}
	return justpay.JobQueued, ""
}

func jsStart(svc *jsService) string {
	if svc.autoAccept {
		return justpay.JobAccepted
	}
	return justpay.JobPending
}

// setDeadline gives the job the deadline of its status, from now.
func (j *jsJob) setDeadline(now time.Time) {
	switch j.status {
	case justpay.JobPending:
		j.expires = now.Add(justpay.ProviderAcceptWindow)
	case justpay.JobAccepted:
		j.expires = now.Add(time.Duration(j.execSecs()) * time.Second)
	case justpay.JobDelivered:
		j.expires = now.Add(justpay.ReviewWindow)
	default:
		j.expires = time.Time{}
	}
}

func jsRunning(status string) bool {
	return status == justpay.JobPending || status == justpay.JobAccepted
}

// promote starts the oldest queued jobs of svc while it has free slots.
func (g *jsGroup) promote(svc *jsService, now time.Time) {
	running, queued := g.load(svc)
	for ; running < svc.maxConc && len(queued) > 0; running++ {
		j := queued[0]
		queued = queued[1:]
		j.status = jsStart(svc)
		j.setDeadline(now)
		g.stats["promoted"]++
	}
}

// move changes a job's status as the rules say: promotion when it frees a slot, and the money
// and counters of a finished job.
func (g *jsGroup) move(j *jsJob, status string, now time.Time) {
	from := j.status
	j.status = status
	j.setDeadline(now)
	if j.svc != nil && jsRunning(from) && !jsRunning(status) {
		g.promote(j.svc, now)
	}
	switch status {
	case justpay.JobCompleted:
		j.provider.available += j.amount
		j.provider.completed++
		g.fees += j.fee
		if j.svc != nil {
			j.svc.completed++
		}
	case justpay.JobCancelled, justpay.JobExpired:
		j.client.available += j.cost()
		if status == justpay.JobExpired && from == justpay.JobAccepted {
			j.provider.expired++
		}
		if from == justpay.JobOpenState { // nobody got it: every pending application is rejected
			for _, a := range j.apps {
				if a.status == justpay.ApplicationPending {
					a.status = justpay.ApplicationRejected
				}
			}
		}
	}
}

// timeout applies a passed deadline.
func (g *jsGroup) timeout(j *jsJob, now time.Time) {
	g.stats["timeout "+j.status]++
	if j.status == justpay.JobDelivered {
		g.move(j, justpay.JobCompleted, now)
		return
	}
	g.move(j, justpay.JobExpired, now)
}

func (g *jsGroup) addJob(j *justpay.Job, svc *jsService, client *jsAgent, now time.Time) *jsJob {
	m := &jsJob{id: j.ID, label: fmt.Sprintf("j%d.%d", g.idx, len(g.jobs)), svc: svc, client: client, amount: j.Amount,
		fee: j.PlatformFee, status: j.Status, created: now, rated: map[*jsAgent]bool{}}
	if svc != nil {
		m.provider = svc.owner
	}
	if j.ExpiresAt != nil {
		m.expires = *j.ExpiresAt
	}
	client.available -= m.cost()
	g.jobs = append(g.jobs, m)
	g.byID[m.id] = m
	return m
}

// checkNewJob compares a created job with what the model expects.
func checkNewJob(j *justpay.Job, want *jsJob) error {
	expires := time.Time{}
	if j.ExpiresAt != nil {
		expires = *j.ExpiresAt
	}
	provider := ""
	if want.provider != nil {
		provider = want.provider.id
	}
	if j.Status != want.status || j.Amount != want.amount || j.PlatformFee != want.fee || j.ProviderID != provider ||
		j.ClientID != want.client.id || !expires.Equal(want.expires) {
		return fmt.Errorf("job = %+v, want status %s amount %d fee %d provider %s expires %v", j, want.status, want.amount,
			want.fee, provider, want.expires)
	}
	return nil
}

// opCreateDirect hires one of the group's services: valid or invalid input, a malformed request,
// a service that does not exist; the model says which rule refuses it, if any.
func (s *jobSim) opCreateDirect(g *jsGroup, now time.Time) (string, bool, error) {
	r := g.r
	svc, client := pick(r, g.services), pick(r, g.agents)
	for client == svc.owner && r.IntN(5) != 0 {
		client = pick(r, g.agents) // mostly someone else's service
	}
	nj := directJob(svc.id)
	variant := "good"
	switch x := r.IntN(100); {
	case x < 12:
		nj.Input, variant = badInput, "bad-input"
	case x < 15:
		nj.ServiceID, variant = justpay.NewID(now), "no-such-service"
	case x < 18:
		nj.Amount, variant = 1, "malformed"
	}
	fee := justpay.JobFee(svc.price, justpay.DefaultJobFeeBps)
	var want, code string
	switch {
	case variant == "malformed":
		code = justpay.EINVALID
	case variant == "no-such-service":
		code = justpay.ENOTFOUND
	case !svc.active:
		code = justpay.ECONFLICT
	case svc.owner == client:
		code = justpay.EFORBIDDEN
	case client.trust() < svc.minTrust:
		code = justpay.EFORBIDDEN
	case variant == "bad-input":
		code = justpay.EINVALID
	default:
		if want, code = g.admit(svc); code == "" && client.available < svc.price+fee {
			code = justpay.EINSUFFICIENT
		}
	}
	desc := fmt.Sprintf("%s hires %s (%s, trust %.3f, avail %d) -> %s %s", client.name, svc.label, variant, client.trust(),
		client.available, want, jsOutcome(code))
	g.stats["create direct "+jsOutcome(code)]++
	j, err := s.env.Store.CreateJob(s.ctx, client.id, nj)
	if err := simCode(err, code); err != nil {
		return desc, false, err
	}
	if err != nil {
		return desc, false, nil
	}
	m := g.addJob(j, svc, client, now)
	desc += " " + m.label
	exp := &jsJob{svc: svc, status: want, amount: svc.price, fee: fee, provider: svc.owner, client: client}
	exp.setDeadline(now)
	return desc, true, checkNewJob(j, exp)
}

// opCreateOpen posts an open job: ordinary, more than the client has, or with a bad window.
func (s *jobSim) opCreateOpen(g *jsGroup, now time.Time) (string, bool, error) {
	r := g.r
	client := pick(r, g.agents)
	amount := []int64{1, 33, 150_000, 333_333, jobPrice, usdc}[r.IntN(6)]
	window := []int{60, 120, 300, 900}[r.IntN(4)]
	if r.IntN(7) == 0 {
		amount = client.available + 1
	}
	if r.IntN(20) == 0 {
		window = 59
	}
	nj := openJob(amount)
	nj.ApplicationWindow = &window
	fee := justpay.JobFee(amount, justpay.DefaultJobFeeBps)
	var code string
	switch {
	case window < justpay.MinApplicationWindowSecs:
		code = justpay.EINVALID
	case client.available < amount+fee:
		code = justpay.EINSUFFICIENT
	}
	desc := fmt.Sprintf("%s posts %d for %ds (avail %d) -> %s", client.name, amount, window, client.available, jsOutcome(code))
	g.stats["create open "+jsOutcome(code)]++
	j, err := s.env.Store.CreateJob(s.ctx, client.id, nj)
	if err := simCode(err, code); err != nil {
		return desc, false, err
	}
	if err != nil {
		return desc, false, nil
	}
	m := g.addJob(j, nil, client, now)
	desc += " " + m.label
	return desc, true, checkNewJob(j, &jsJob{status: justpay.JobOpenState, amount: amount, fee: fee, client: client,
		expires: now.Add(time.Duration(window) * time.Second)})
}

// jsRules are who may take each action, and from which statuses.
var jsRules = map[string]struct {
	who  string // client, provider, both or other
	from []string
}{
	justpay.ActionAccept:         {"provider", []string{justpay.JobPending}},
	justpay.ActionDeliver:        {"provider", []string{justpay.JobAccepted}},
	justpay.ActionAcceptDelivery: {"client", []string{justpay.JobDelivered}},
	justpay.ActionCancel:         {"client", []string{justpay.JobQueued, justpay.JobPending, justpay.JobOpenState, justpay.JobAccepted}},
	justpay.ActionApply:          {"other", []string{justpay.JobOpenState}},
	justpay.ActionAssign:         {"client", []string{justpay.JobOpenState}},
	justpay.ActionRate:           {"both", []string{justpay.JobCompleted}},
}

var jsActions = []string{justpay.ActionAccept, justpay.ActionDeliver, justpay.ActionAcceptDelivery, justpay.ActionCancel,
	justpay.ActionApply, justpay.ActionAssign, justpay.ActionRate}

// expect is the documented answer to actor taking action on j now, before the action's own checks.
func expect(j *jsJob, action string, actor *jsAgent, now time.Time) string {
	rule := jsRules[action]
	isClient, isProvider := actor == j.client, j.provider != nil && actor == j.provider
	if action == justpay.ActionApply {
		isProvider = false // an open job's assigned provider applies like anyone else: too late
	}
	switch {
	case action == justpay.ActionApply && isClient:
		return justpay.EFORBIDDEN
	case action == justpay.ActionApply && j.svc != nil:
		return justpay.ENOTFOUND
	case action != justpay.ActionApply && !isClient && !isProvider:
		return justpay.ENOTFOUND
	case rule.who == "client" && !isClient, rule.who == "provider" && !isProvider:
		return justpay.EFORBIDDEN
	case !slices.Contains(rule.from, j.status):
		return justpay.ECONFLICT
	case !j.expires.IsZero() && !now.Before(j.expires) && action != justpay.ActionCancel && action != justpay.ActionRate:
		return jsOverdue // the deadline passed; the timeout has not been applied yet
	}
	return ""
}

// jsOverdue is ECONFLICT for an action refused because the job's deadline passed, told apart
// in the statistics.
const jsOverdue = justpay.ECONFLICT + " (overdue)"

// jsCall is one job action with its arguments, what the model expects and what happened.
type jsCall struct {
	action string
	j      *jsJob
	actor  *jsAgent
	output json.RawMessage // deliver
	app    string          // assign: the application's ID
	appOf  *jsApp          // assign: the model's application, nil when it is not the job's
	rating justpay.NewRating
	msg    string // apply
	code   string // expected
	err    error  // got
	result any
}

func (c *jsCall) String() string {
	extra := ""
	switch c.action {
	case justpay.ActionDeliver:
		extra = " " + string(c.output)
	case justpay.ActionRate:
		extra = fmt.Sprintf(" %d", c.rating.Score)
	case justpay.ActionAssign:
		if c.appOf != nil {
			extra = " app of " + c.appOf.agent.name
		} else {
			extra = " foreign app"
		}
	}
	return fmt.Sprintf("%s %s %s(%s)%s", c.actor.name, c.action, c.j.label, c.j.status, extra)
}

// plan fills in what the model expects of the call.
func (c *jsCall) plan(now time.Time) {
	j := c.j
	c.code = expect(j, c.action, c.actor, now)
	switch c.action {
	case justpay.ActionDeliver:
		if len(c.output) == 0 {
			c.code = justpay.EINVALID // checked before anything
		} else if c.code == "" && j.svc != nil && string(c.output) != string(goodOutput) {
			c.code = justpay.EINVALID
		}
	case justpay.ActionApply:
		if len(c.msg) > justpay.MaxApplicationMessageLen {
			c.code = justpay.EINVALID
		} else if c.code == "" && slices.ContainsFunc(j.apps, func(a *jsApp) bool { return a.agent == c.actor }) {
			c.code = justpay.ECONFLICT
		}
	case justpay.ActionAssign:
		if c.code == "" && c.appOf == nil {
			c.code = justpay.ENOTFOUND
		}
	case justpay.ActionRate:
		if c.rating.Score < 1 || c.rating.Score > 5 {
			c.code = justpay.EINVALID
		} else if c.code == "" && j.rated[c.actor] {
			c.code = justpay.ECONFLICT
		}
	}
}

// call runs the action on the store.
func (s *jobSim) call(c *jsCall) {
	var err error
	var res any
	switch c.action {
	case justpay.ActionAccept:
		res, err = s.env.Store.AcceptJob(s.ctx, c.actor.id, c.j.id)
	case justpay.ActionDeliver:
		res, err = s.env.Store.DeliverJob(s.ctx, c.actor.id, c.j.id, c.output)
	case justpay.ActionAcceptDelivery:
		res, err = s.env.Store.AcceptDelivery(s.ctx, c.actor.id, c.j.id)
	case justpay.ActionCancel:
		res, err = s.env.Store.CancelJob(s.ctx, c.actor.id, c.j.id)
	case justpay.ActionApply:
		res, err = s.env.Store.ApplyToJob(s.ctx, c.actor.id, c.j.id, c.msg)
	case justpay.ActionAssign:
		res, err = s.env.Store.AcceptApplication(s.ctx, c.actor.id, c.j.id, c.app)
	case justpay.ActionRate:
		res, err = s.env.Store.RateJob(s.ctx, c.actor.id, c.j.id, c.rating)
	}
	c.err, c.result = err, res
}

// apply moves the model by a call that succeeded and checks what the store returned.
func (g *jsGroup) apply(c *jsCall, now time.Time) error {
	j := c.j
	switch c.action {
	case justpay.ActionAccept:
		g.move(j, justpay.JobAccepted, now)
	case justpay.ActionDeliver:
		g.move(j, justpay.JobDelivered, now)
	case justpay.ActionAcceptDelivery:
		g.move(j, justpay.JobCompleted, now)
	case justpay.ActionCancel:
		g.move(j, justpay.JobCancelled, now)
	case justpay.ActionApply:
		a := c.result.(*justpay.Application)
		if a.AgentID != c.actor.id || a.JobID != j.id || a.Status != justpay.ApplicationPending || a.AgentName != c.actor.name ||
			a.TrustScore != c.actor.trust() || a.JobsDone != c.actor.completed {
			return fmt.Errorf("application = %+v", a)
		}
		j.apps = append(j.apps, &jsApp{id: a.ID, agent: c.actor, status: justpay.ApplicationPending})
		return nil
	case justpay.ActionAssign:
		for _, a := range j.apps {
			a.status = justpay.ApplicationRejected
		}
		c.appOf.status = justpay.ApplicationAccepted
		j.provider = c.appOf.agent
		g.move(j, justpay.JobAccepted, now)
	case justpay.ActionRate:
		r := c.result.(*justpay.Rating)
		ratee := j.provider
		if c.actor == j.provider {
			ratee = j.client
		}
		if r.RaterID != c.actor.id || r.RateeID != ratee.id || r.Score != c.rating.Score {
			return fmt.Errorf("rating = %+v, want %s rating %s %d", r, c.actor.name, ratee.name, c.rating.Score)
		}
		j.rated[c.actor] = true
		ratee.ratingCount++
		ratee.ratingSum += int64(c.rating.Score)
		if j.svc != nil && c.actor == j.client {
			j.svc.ratingCnt++
			j.svc.ratingSum += int64(c.rating.Score)
		}
		return nil
	}
	got := c.result.(*justpay.Job)
	expires := time.Time{}
	if got.ExpiresAt != nil {
		expires = *got.ExpiresAt
	}
	if got.Status != j.status || !expires.Equal(j.expires) || (j.provider != nil && got.ProviderID != j.provider.id) {
		return fmt.Errorf("job = %s expires %v provider %s, want %s expires %v provider %s", got.Status, expires, got.ProviderID,
			j.status, j.expires, g.name(j.provider))
	}
	return nil
}

// newCall draws the arguments of an action by actor on j.
func (g *jsGroup) newCall(action string, j *jsJob, actor *jsAgent, now time.Time) *jsCall {
	r := g.r
	c := &jsCall{action: action, j: j, actor: actor}
	switch action {
	case justpay.ActionDeliver:
		switch x := r.IntN(100); {
		case x < 20:
			c.output = badOutput
		case x < 23:
			c.output = nil
		default:
			c.output = goodOutput
		}
	case justpay.ActionApply:
		c.msg = "I can do this"
		if r.IntN(40) == 0 {
			c.msg = strings.Repeat("m", justpay.MaxApplicationMessageLen+1)
		}
	case justpay.ActionAssign:
		switch x := r.IntN(100); {
		case x < 85 && len(j.apps) > 0:
			c.appOf = pick(r, j.apps)
			c.app = c.appOf.id
		case x < 92:
			for _, o := range g.jobs {
				if o != j && len(o.apps) > 0 {
					c.app = pick(r, o.apps).id // another job's application
				}
			}
			if c.app == "" {
				c.app = justpay.NewID(now)
			}
		default:
			c.app = justpay.NewID(now)
		}
	case justpay.ActionRate:
		c.rating = justpay.NewRating{Score: 1 + r.IntN(5), Comment: "ok"}
		if r.IntN(25) == 0 {
			c.rating.Score = []int{0, 6}[r.IntN(2)]
		}
	}
	c.plan(now)
	return c
}

// rightActor is the agent an action is meant for on j: its client, its provider, or an agent
// of the group that is neither (to apply).
func (g *jsGroup) rightActor(action string, j *jsJob) *jsAgent {
	switch jsRules[action].who {
	case "client":
		return j.client
	case "provider":
		if j.provider != nil {
			return j.provider
		}
	case "both":
		if j.provider != nil && g.r.IntN(2) == 0 {
			return j.provider
		}
		return j.client
	case "other":
		var others []*jsAgent
		for _, a := range g.agents {
			if a != j.client {
				others = append(others, a)
			}
		}
		if len(others) > 0 {
			return pick(g.r, others)
		}
	}
	return pick(g.r, g.agents)
}

// opAction runs one action: mostly by the right party on a job in the right status, sometimes
// by anyone on any job of the group. An empty action draws one.
func (s *jobSim) opAction(g *jsGroup, now time.Time, action, status string) (string, bool, error) {
	r := g.r
	if len(g.jobs) == 0 {
		return "no jobs yet", false, nil
	}
	wild := action == ""
	if wild {
		action = pick(r, jsActions)
	}
	var fits []*jsJob
	for _, j := range g.jobs {
		if status == "" && action == justpay.ActionCancel {
			if slices.Contains(jsRules[action].from, j.status) {
				fits = append(fits, j)
			}
		} else if j.status == status {
			fits = append(fits, j)
		}
	}
	if len(fits) == 0 && !wild && r.IntN(10) < 7 {
		return s.opCreateDirect(g, now) // nothing to do this to: hire something instead
	}
	j := pick(r, fits)
	if j == nil || wild || r.IntN(10) == 0 {
		j = pick(r, g.jobs)
	}
	actor := g.rightActor(action, j)
	if wild || r.IntN(10) == 0 {
		actor = pick(r, g.agents)
	}
	c := g.newCall(action, j, actor, now)
	desc := c.String() + " -> " + jsOutcome(c.code)
	kind := action
	if wild {
		kind = "any " + action
	}
	g.stats[kind+" "+jsOutcome(c.code)]++
	s.call(c)
	if err := simCode(c.err, strings.TrimSuffix(c.code, " (overdue)")); err != nil {
		return desc, false, err
	}
	if c.err != nil {
		return desc, false, nil
	}
	return desc, true, g.apply(c, now)
}

// opRace runs two actions on one job at once that would each succeed alone and exclude each
// other (the client cancelling while the provider delivers, the same action twice, two
// applications accepted): exactly one wins and the other gets ECONFLICT.
func (s *jobSim) opRace(g *jsGroup, now time.Time) (string, bool, error) {
	r := g.r
	type pair struct{ a, b *jsCall }
	var pairs []pair
	for _, j := range g.jobs {
		mk := func(action string, actor *jsAgent, set func(*jsCall)) *jsCall {
			c := &jsCall{action: action, j: j, actor: actor}
			if set != nil {
				set(c)
			}
			c.plan(now)
			return c
		}
		deliver := func(c *jsCall) { c.output = goodOutput }
		switch j.status {
		case justpay.JobPending:
			pairs = append(pairs, pair{mk(justpay.ActionAccept, j.provider, nil), mk(justpay.ActionAccept, j.provider, nil)},
				pair{mk(justpay.ActionCancel, j.client, nil), mk(justpay.ActionCancel, j.client, nil)})
		case justpay.JobAccepted:
			pairs = append(pairs, pair{mk(justpay.ActionDeliver, j.provider, deliver), mk(justpay.ActionCancel, j.client, nil)})
		case justpay.JobDelivered:
			pairs = append(pairs, pair{mk(justpay.ActionAcceptDelivery, j.client, nil), mk(justpay.ActionAcceptDelivery, j.client, nil)})
		case justpay.JobQueued:
			pairs = append(pairs, pair{mk(justpay.ActionCancel, j.client, nil), mk(justpay.ActionCancel, j.client, nil)})
		case justpay.JobCompleted:
			if !j.rated[j.client] {
				rate := func(c *jsCall) { c.rating = justpay.NewRating{Score: 4} }
				pairs = append(pairs, pair{mk(justpay.ActionRate, j.client, rate), mk(justpay.ActionRate, j.client, rate)})
			}
		case justpay.JobOpenState:
			if len(j.apps) >= 2 {
				a, b := j.apps[0], j.apps[1]
				pairs = append(pairs, pair{
					mk(justpay.ActionAssign, j.client, func(c *jsCall) { c.appOf, c.app = a, a.id }),
					mk(justpay.ActionAssign, j.client, func(c *jsCall) { c.appOf, c.app = b, b.id })})
			}
			pairs = append(pairs, pair{mk(justpay.ActionCancel, j.client, nil), mk(justpay.ActionCancel, j.client, nil)})
		}
	}
	pairs = slices.DeleteFunc(pairs, func(p pair) bool { return p.a.code != "" || p.b.code != "" })
	if len(pairs) == 0 {
		return "race: nothing to race", false, nil
	}
	p := pick(r, pairs)
	desc := fmt.Sprintf("race %s | %s", p.a, p.b)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, c := range []*jsCall{p.a, p.b} {
		wg.Go(func() {
			<-start
			s.call(c)
		})
	}
	close(start)
	wg.Wait()
	var winner *jsCall
	for _, c := range []*jsCall{p.a, p.b} {
		switch justpay.ErrorCode(c.err) {
		case "":
			if winner != nil {
				return desc, false, errors.New("both won")
			}
			winner = c
		case justpay.ECONFLICT:
		default:
			return desc, false, fmt.Errorf("%s: %v, want success or ECONFLICT", c, c.err)
		}
	}
	if winner == nil {
		return desc, false, fmt.Errorf("neither won: %v; %v", p.a.err, p.b.err)
	}
	desc += " -> " + winner.action + " won"
	g.stats["race "+winner.action+" won"]++
	return desc, true, g.apply(winner, now)
}

// opBurst has several of the group's clients hire one service at once. Each could hire it
// alone; the service's capacity decides who runs, who waits and who is refused, in whatever order
// they arrive, and the counts must be exact.
func (s *jobSim) opBurst(g *jsGroup, now time.Time) (string, bool, error) {
	r := g.r
	svc := pick(r, g.services)
	fee := justpay.JobFee(svc.price, justpay.DefaultJobFeeBps)
	var clients []*jsAgent
	for _, a := range g.agents {
		if svc.active && a != svc.owner && a.trust() >= svc.minTrust && a.available >= svc.price+fee {
			clients = append(clients, a)
		}
	}
	if len(clients) < 2 {
		return "burst on " + svc.label + ": fewer than 2 eligible clients", false, nil
	}
	r.Shuffle(len(clients), func(i, k int) { clients[i], clients[k] = clients[k], clients[i] })
	running, queued := g.load(svc)
	free := max(svc.maxConc-running, 0)
	room := 0
	if svc.queue {
		room = max(svc.maxQueue-len(queued), 0)
	}
	n := len(clients)
	wantStart, wantQueued := min(n, free), min(n-min(n, free), room)
	desc := fmt.Sprintf("burst %d clients on %s (free %d, room %d)", n, svc.label, free, room)
	jobs, errs := make([]*justpay.Job, n), make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() {
			<-start
			jobs[i], errs[i] = s.env.Store.CreateJob(s.ctx, c.id, directJob(svc.id))
		})
	}
	close(start)
	wg.Wait()
	count := map[string]int{}
	for i, err := range errs {
		switch justpay.ErrorCode(err) {
		case "":
			count[jobs[i].Status]++
		case justpay.ECONFLICT:
			count["refused"]++
		default:
			return desc, false, fmt.Errorf("%s: %v", clients[i].name, err)
		}
	}
	if count[jsStart(svc)] != wantStart || count[justpay.JobQueued] != wantQueued || count["refused"] != n-wantStart-wantQueued {
		return desc, false, fmt.Errorf("outcomes %v, want %d %s, %d queued, %d refused", count, wantStart, jsStart(svc), wantQueued,
			n-wantStart-wantQueued)
	}
	desc += fmt.Sprintf(" -> %v", count)
	g.stats["burst"]++
	for i, j := range jobs {
		if j == nil {
			continue
		}
		m := g.addJob(j, svc, clients[i], now)
		m.status = j.Status
		m.setDeadline(now)
		exp := &jsJob{svc: svc, status: j.Status, amount: svc.price, fee: fee, provider: svc.owner, client: clients[i]}
		exp.setDeadline(now)
		if err := checkNewJob(j, exp); err != nil {
			return desc, false, err
		}
	}
	return desc, count["refused"] < n, nil
}

// opDeactivate takes a service off the marketplace: by its owner, by another agent (ENOTFOUND),
// or again (ECONFLICT). Its running and queued jobs carry on.
func (s *jobSim) opDeactivate(g *jsGroup) (string, bool, error) {
	svc, actor := pick(g.r, g.services), pick(g.r, g.agents)
	if g.r.IntN(2) == 0 {
		actor = svc.owner
	}
	var code string
	switch {
	case actor != svc.owner:
		code = justpay.ENOTFOUND
	case !svc.active:
		code = justpay.ECONFLICT
	}
	desc := fmt.Sprintf("%s deactivates %s -> %s", actor.name, svc.label, jsOutcome(code))
	g.stats["deactivate "+jsOutcome(code)]++
	_, err := s.env.Store.DeactivateService(s.ctx, actor.id, svc.id)
	if err := simCode(err, code); err != nil {
		return desc, false, err
	}
	if err != nil {
		return desc, false, nil
	}
	svc.active = false
	return desc, true, nil
}

// opFind reads a job as one of the group's agents and an agent's job list, and compares them
// with the model: the parties see the job (its client with the applications), others do not.
func (s *jobSim) opFind(g *jsGroup, now time.Time) (string, bool, error) {
	r := g.r
	agent := pick(r, g.agents)
	role := []string{"", "client", "provider"}[r.IntN(3)]
	var want int
	for _, j := range g.jobs {
		if (role != "provider" && j.client == agent) || (role != "client" && j.provider == agent) {
			want++
		}
	}
	desc := fmt.Sprintf("%s lists its jobs as %q: %d", agent.name, role, want)
	_, total, err := s.env.Store.FindJobs(s.ctx, agent.id, justpay.JobFilter{Role: role, Page: justpay.Page{Page: 1, Limit: 1}})
	if err != nil || total != want {
		return desc, false, fmt.Errorf("total = %d, %v", total, err)
	}
	j := pick(r, g.jobs)
	if j == nil {
		return desc, false, nil
	}
	got, err := s.env.Store.FindJobByID(s.ctx, agent.id, j.id)
	if agent != j.client && agent != j.provider {
		return desc, false, simCode(err, justpay.ENOTFOUND)
	}
	if err != nil {
		return desc, false, err
	}
	if got.Status != j.status || got.TotalCost() != j.cost() {
		return desc, false, fmt.Errorf("job %s = %s cost %d, want %s cost %d", j.label, got.Status, got.TotalCost(), j.status, j.cost())
	}
	wantApps := -1 // none shown
	if j.svc == nil && agent == j.client {
		wantApps = len(j.apps)
	}
	if gotApps := len(got.Applications); (got.Applications == nil && wantApps != -1) || (got.Applications != nil && gotApps != wantApps) {
		return desc, false, fmt.Errorf("job %s shows %d applications to %s, want %d", j.label, gotApps, agent.name, wantApps)
	}
	return desc + fmt.Sprintf("; reads %s", j.label), false, nil
}

// jsSnapshot is a group's rows.
type jsSnapshot struct {
	text     string
	balances map[string][2]int64 // account -> balance, closed (0 or 1)
	jobs     map[string][3]string
	expires  map[string]time.Time
	apps     map[string]string
	agents   map[string][4]int64
	services map[string][4]int64
}

func (s *jobSim) snapshot(g *jsGroup) (*jsSnapshot, error) {
	args := make([]any, len(g.agents))
	for i, a := range g.agents {
		args[i] = a.id
	}
	snap := &jsSnapshot{balances: map[string][2]int64{}, jobs: map[string][3]string{}, expires: map[string]time.Time{},
		apps: map[string]string{}, agents: map[string][4]int64{}, services: map[string][4]int64{}}
	var b strings.Builder
	query := func(stmt *sql.Stmt, scan func(*sql.Rows) error) error {
		rows, err := stmt.QueryContext(s.ctx, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	}
	err := query(s.balancesStmt, func(rows *sql.Rows) error {
		var account string
		var balance int64
		var closed bool
		if err := rows.Scan(&account, &balance, &closed); err != nil {
			return err
		}
		c := int64(0)
		if closed {
			c = 1
		}
		snap.balances[account] = [2]int64{balance, c}
		fmt.Fprintf(&b, "%s=%d closed=%t\n", account, balance, closed)
		return nil
	})
	if err == nil {
		var postings, sum, ratings, events int64
		err = s.countsStmt.QueryRowContext(s.ctx, args...).Scan(&postings, &sum, &ratings, &events)
		fmt.Fprintf(&b, "postings=%d sum=%d ratings=%d events=%d\n", postings, sum, ratings, events)
	}
	if err == nil {
		err = query(s.jobsStmt, func(rows *sql.Rows) error {
			var id, status, provider, output string
			var expires sql.NullTime
			var updated time.Time
			if err := rows.Scan(&id, &status, &provider, &expires, &updated, &output); err != nil {
				return err
			}
			snap.jobs[id] = [3]string{status, provider, output}
			if expires.Valid {
				snap.expires[id] = expires.Time
			}
			fmt.Fprintf(&b, "job %s %s %s %v %s %s\n", id, status, provider, expires.Time.UnixMicro(), updated.Format(time.RFC3339Nano), output)
			return nil
		})
	}
	if err == nil {
		err = query(s.appsStmt, func(rows *sql.Rows) error {
			var id, job, agent, status string
			if err := rows.Scan(&id, &job, &agent, &status); err != nil {
				return err
			}
			snap.apps[id] = status
			fmt.Fprintf(&b, "app %s %s %s %s\n", id, job, agent, status)
			return nil
		})
	}
	if err == nil {
		err = query(s.agentsStmt, func(rows *sql.Rows) error {
			var id string
			var c [4]int64
			if err := rows.Scan(&id, &c[0], &c[1], &c[2], &c[3]); err != nil {
				return err
			}
			snap.agents[id] = c
			fmt.Fprintf(&b, "agent %s %v\n", id, c)
			return nil
		})
	}
	if err == nil {
		err = query(s.servicesStmt, func(rows *sql.Rows) error {
			var id string
			var active bool
			var c [4]int64
			var updated time.Time
			if err := rows.Scan(&id, &active, &c[1], &c[2], &c[3], &updated); err != nil {
				return err
			}
			if active {
				c[0] = 1
			}
			snap.services[id] = c
			fmt.Fprintf(&b, "service %s %v %s\n", id, c, updated.Format(time.RFC3339Nano))
			return nil
		})
	}
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	snap.text = b.String()
	return snap, nil
}

// check compares the group's rows with the model after a step that changed them or not.
func (s *jobSim) check(g *jsGroup, changed bool) error {
	snap, err := s.snapshot(g)
	if err != nil {
		return err
	}
	switch {
	case !changed && snap.text != g.last:
		return fmt.Errorf("a refused or read-only operation changed the group's rows:\nbefore:\n%safter:\n%s", g.last, snap.text)
	case changed && snap.text == g.last:
		return fmt.Errorf("a successful operation changed nothing")
	}
	if err := g.compare(snap); err != nil {
		return err
	}
	g.last = snap.text
	return nil
}

// compare checks a snapshot against the model: balances, escrows, jobs, applications, counters.
func (g *jsGroup) compare(snap *jsSnapshot) error {
	escrows := 0
	for account := range snap.balances {
		if strings.HasPrefix(account, "escrow:") {
			escrows++
		}
	}
	if escrows != len(g.jobs) || len(snap.jobs) != len(g.jobs) {
		return fmt.Errorf("%d escrow accounts and %d job rows, want %d", escrows, len(snap.jobs), len(g.jobs))
	}
	for _, a := range g.agents {
		if got := snap.balances[justpay.AgentAvailable(a.id)]; got[0] != a.available {
			return fmt.Errorf("%s available = %d, want %d", a.name, got[0], a.available)
		}
		if got := snap.balances[justpay.AgentPending(a.id)]; got[0] != 0 {
			return fmt.Errorf("%s pending = %d", a.name, got[0])
		}
		want := [4]int64{a.completed, a.expired, a.ratingCount, a.ratingSum}
		if got := snap.agents[a.id]; got != want {
			return fmt.Errorf("%s counters (completed, expired, ratings, sum) = %v, want %v", a.name, got, want)
		}
	}
	for _, j := range g.jobs {
		esc, ok := snap.balances[justpay.EscrowAccount("job", j.id)]
		switch {
		case !ok:
			return fmt.Errorf("job %s has no escrow account", j.label)
		case j.finished() && (esc[0] != 0 || esc[1] != 1):
			return fmt.Errorf("%s job %s: escrow holds %d, closed %d; want closed at zero", j.status, j.label, esc[0], esc[1])
		case !j.finished() && (esc[0] != j.cost() || esc[1] != 0):
			return fmt.Errorf("%s job %s: escrow holds %d, closed %d; want %d held", j.status, j.label, esc[0], esc[1], j.cost())
		}
		row := snap.jobs[j.id]
		provider := ""
		if j.provider != nil {
			provider = j.provider.id
		}
		if row[0] != j.status || row[1] != provider || !snap.expires[j.id].Equal(j.expires) {
			return fmt.Errorf("job %s = %s provider %s expires %v, want %s provider %s expires %v", j.label, row[0], row[1],
				snap.expires[j.id], j.status, g.name(j.provider), j.expires)
		}
		for _, a := range j.apps {
			if snap.apps[a.id] != a.status {
				return fmt.Errorf("job %s: application of %s is %q, want %q", j.label, a.agent.name, snap.apps[a.id], a.status)
			}
		}
	}
	for _, svc := range g.services {
		want := [4]int64{0, svc.completed, svc.ratingCnt, svc.ratingSum}
		if svc.active {
			want[0] = 1
		}
		if got := snap.services[svc.id]; got != want {
			return fmt.Errorf("service %s (active, completed, ratings, sum) = %v, want %v", svc.label, got, want)
		}
	}
	return nil
}

// serialPhase moves the clock and usually runs the timeouts, which the model predicts in the
// order the store applies them (deadline, then ID); then it checks every group and the whole
// ledger.
func (s *jobSim) serialPhase(t *testing.T, round int) {
	t.Helper()
	r := s.serial
	advance := []time.Duration{0, 10 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute,
		5 * time.Minute, 10 * time.Minute, 30 * time.Minute}[r.IntN(9)]
	now := s.env.Clock.Advance(advance)
	runDue := r.IntN(3) != 0
	applied := -1
	if runDue {
		applied = s.runDue(t, now)
	}
	for _, g := range s.groups {
		g.history = append(g.history, fmt.Sprintf("serial %d: advance %v, timeouts %d", round, advance, applied))
	}
	s.checkAll(t, "serial phase "+fmt.Sprint(round))
}

// runDue runs the timeouts due now on the store and the model, and checks that they agree.
func (s *jobSim) runDue(t *testing.T, now time.Time) int {
	t.Helper()
	want := 0
	for _, g := range s.groups {
		var due []*jsJob
		for _, j := range g.jobs {
			if !j.expires.IsZero() && !j.expires.After(now) {
				due = append(due, j)
			}
		}
		slices.SortFunc(due, func(a, b *jsJob) int { return cmp.Or(a.expires.Compare(b.expires), strings.Compare(a.id, b.id)) })
		for _, j := range due {
			g.timeout(j, now)
		}
		want += len(due)
	}
	n, err := s.env.Store.RunDueJobs(s.ctx)
	if err != nil || n != want {
		t.Fatalf("RunDueJobs = %d, %v; want %d", n, err, want)
	}
	return n
}

// checkAll compares every group with the model and checks the ledger and conservation: the
// agents' available balances, the escrows and the platform's revenue add up to what was
// deposited, and revenue is the activation fees plus the fees of completed jobs.
func (s *jobSim) checkAll(t *testing.T, when string) {
	t.Helper()
	var deposited, available, held, fees, activations int64
	for _, g := range s.groups {
		snap, err := s.snapshot(g)
		if err != nil {
			t.Fatal(err)
		}
		if err := g.compare(snap); err != nil {
			t.Fatalf("%s, group %d: %v", when, g.idx, err)
		}
		g.last = snap.text
		for _, a := range g.agents {
			deposited += a.deposited
			available += a.available
			activations += justpay.ActivationFee
		}
		for _, j := range g.jobs {
			if !j.finished() {
				held += j.cost()
			}
		}
		fees += g.fees
	}
	r := sqlstoretest.MustVerify(t, s.env.DB)
	revenue := r.Totals[justpay.PlatformRevenue]
	for _, c := range []struct {
		name      string
		got, want int64
	}{
		{"available", r.Totals["agent:*:available"], available},
		{"escrowed", r.Totals["escrow:job:*"], held},
		{"revenue", revenue, activations + fees},
		{"available + escrowed + revenue", available + held + revenue, deposited},
		{justpay.ExternalSolana, -r.Totals[justpay.ExternalSolana], deposited},
	} {
		if c.got != c.want {
			t.Fatalf("%s: %s = %d, want %d", when, c.name, c.got, c.want)
		}
	}
}

// finish runs every job to its end: the clock moves in hour steps and the timeouts apply until
// no job is left unfinished (queued jobs are promoted, then expire). Then every escrow is closed
// at zero and the agents and the platform hold exactly what was deposited.
func (s *jobSim) finish(t *testing.T) {
	t.Helper()
	for pass := 0; ; pass++ {
		open := 0
		for _, g := range s.groups {
			for _, j := range g.jobs {
				if !j.finished() {
					open++
				}
			}
		}
		if open == 0 {
			break
		}
		if pass > 2*s.cfg.services+10 {
			t.Fatalf("%d jobs still unfinished after %d passes", open, pass)
		}
		s.runDue(t, s.env.Clock.Advance(time.Hour))
	}
	s.checkAll(t, "the end")
	var unsettled int
	if err := s.raw.QueryRowContext(s.ctx, `SELECT COUNT(*) FROM jobs j JOIN ledger_balances b ON b.account = 'escrow:job:' || j.id
		WHERE b.balance <> 0 OR NOT b.closed OR j.status NOT IN ('completed', 'cancelled', 'expired')`).Scan(&unsettled); err != nil {
		t.Fatal(err)
	}
	if unsettled != 0 {
		t.Fatalf("%d jobs unfinished or with an escrow not closed at zero", unsettled)
	}
}

// timeoutRace is a user action that races a job's deadline.
type timeoutRace struct {
	name string
	// prepare brings a new job of svc to the state the race starts from.
	prepare func(t *testing.T, env *jobEnv, j *justpay.Job) *justpay.Job
	// act is the user's action, on the user's store.
	act func(store *sqlstore.Store, j *justpay.Job) error
	// userWins and timeoutWins are the job's status when each wins.
	userWins, timeoutWins string
	// deadlineRule: at the deadline instant the user's action is refused by rule, whoever locks
	// the job first (only cancelling is allowed until the timeout applies).
	deadlineRule bool
}

// TestTimeoutRaces races a job's deadline, applied by two schedulers at once (RunDueJobs, as on
// two servers), against the user action it competes with: the client accepting a delivery
// against the review deadline's auto-accept, the provider delivering and the client cancelling
// against the delivery deadline's expiry. Each trial is one job; a batch of jobs with the same
// deadline races at once, every action and both schedulers released together from a barrier.
// Half the batches run with the user's clock at exactly the deadline (one clock for everyone);
// the other half with the user's transactions reading the clock one microsecond before it (a
// second store on the same database with its own clock), so that both sides pass their checks
// and only the job's row lock and the guarded status update decide. Every trial has exactly one
// winner: the user's action succeeded and no timeout applied, or it got ECONFLICT and exactly
// one timeout applied; money moved once, to the micro-unit.
func TestTimeoutRaces(t *testing.T) {
	trials := 1000
	if simRace() || testing.Short() {
		trials = 200
	}
	const batch = 10
	races := []timeoutRace{
		{name: "AcceptDeliveryVsAutoAccept", userWins: justpay.JobCompleted, timeoutWins: justpay.JobCompleted, deadlineRule: true,
			prepare: func(t *testing.T, env *jobEnv, j *justpay.Job) *justpay.Job {
				j, err := env.Store.DeliverJob(context.Background(), j.ProviderID, j.ID, goodOutput)
				if err != nil {
					t.Fatal(err)
				}
				return j
			},
			act: func(store *sqlstore.Store, j *justpay.Job) error {
				_, err := store.AcceptDelivery(context.Background(), j.ClientID, j.ID)
				return err
			}},
		{name: "DeliverVsExpiry", userWins: justpay.JobDelivered, timeoutWins: justpay.JobExpired, deadlineRule: true,
			act: func(store *sqlstore.Store, j *justpay.Job) error {
				_, err := store.DeliverJob(context.Background(), j.ProviderID, j.ID, goodOutput)
				return err
			}},
		{name: "CancelVsExpiry", userWins: justpay.JobCancelled, timeoutWins: justpay.JobExpired,
			act: func(store *sqlstore.Store, j *justpay.Job) error {
				_, err := store.CancelJob(context.Background(), j.ClientID, j.ID)
				return err
			}},
	}
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		for _, race := range races {
			t.Run(race.name, func(t *testing.T) {
				start := time.Now()
				wins := runTimeoutRace(t, b, race, trials, batch)
				t.Logf("%d trials in %v: at the deadline %d user, %d timeout; user 1µs earlier %d user, %d timeout",
					trials, time.Since(start).Round(time.Millisecond), wins[0][0], wins[0][1], wins[1][0], wins[1][1])
			})
		}
	})
}

// runTimeoutRace runs the trials of one race and returns the wins of the user and of the
// timeout, at the deadline and with the user's clock a microsecond earlier.
func runTimeoutRace(t *testing.T, b sqlstoretest.Backend, race timeoutRace, trials, batch int) (wins [2][2]int) {
	ctx := context.Background()
	clock := sqlstoretest.NewClock()
	cfg := sqlstoretest.Config(t, b, clock)
	retries := &retryCounter{}
	cfg.Logger = slog.New(retries)
	db, err := sqlstore.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	t.Cleanup(func() { retries.mustNoRetries(t) })
	env := &jobEnv{Env: sqlstoretest.Wire(t, db, clock), raw: simOpenRaw(t, cfg)}
	// The user's store: the same database, its own clock.
	userClock := sqlstoretest.NewClock()
	userCfg := cfg
	userCfg.Clock = userClock
	userDB, err := sqlstore.Open(ctx, userCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { userDB.Close() })
	userStore := sqlstoretest.Wire(t, userDB, userClock).Store

	seller := env.mustAgent(t, "seller", 2*usdc)
	client := env.mustAgent(t, "client", usdc+int64(trials)*jobCost)
	svc := env.mustService(t, seller.ID, serviceFields(jobPrice, capacity(justpay.MaxMaxConcurrentJobs, false, 0), func(f *justpay.ServiceFields) {
		f.MaxExecutionTimeSecs = ptr(justpay.MinMaxExecutionTimeSecs)
	}))
	var completed, refunded, expired int64
	for n := 0; n*batch < trials; n++ {
		k := min(batch, trials-n*batch)
		earlier := n%2 == 1
		jobs := make([]*justpay.Job, k)
		for i := range jobs {
			jobs[i] = env.mustJob(t, client.ID, directJob(svc.ID))
			if race.prepare != nil {
				jobs[i] = race.prepare(t, env, jobs[i])
			}
		}
		deadline := *jobs[0].ExpiresAt
		env.Clock.Advance(deadline.Sub(env.Clock.Now()))
		user := env.Store
		if earlier {
			userClock.Advance(deadline.Add(-time.Microsecond).Sub(userClock.Now()))
			user = userStore
		}
		provider0, client0 := env.available(t, seller.ID), env.available(t, client.ID)

		errs := make([]error, k)
		var applied [2]int
		var schedErr [2]error
		gate := make(chan struct{})
		var wg sync.WaitGroup
		for i, j := range jobs {
			wg.Go(func() {
				<-gate
				errs[i] = race.act(user, j)
			})
		}
		for i := range applied {
			wg.Go(func() {
				<-gate
				applied[i], schedErr[i] = env.Store.RunDueJobs(ctx)
			})
		}
		close(gate)
		wg.Wait()
		if schedErr[0] != nil || schedErr[1] != nil {
			t.Fatalf("batch %d: RunDueJobs: %v; %v", n, schedErr[0], schedErr[1])
		}

		userWon := 0
		var ids []string
		var batchCompleted, batchRefunded int64
		for i, j := range jobs {
			got := env.job(t, client.ID, j.ID)
			switch justpay.ErrorCode(errs[i]) {
			case "":
				userWon++
				if got.Status != race.userWins {
					t.Fatalf("batch %d job %d: the user won but the job is %s, want %s", n, i, got.Status, race.userWins)
				}
			case justpay.ECONFLICT:
				if got.Status != race.timeoutWins {
					t.Fatalf("batch %d job %d: the user lost but the job is %s, want %s", n, i, got.Status, race.timeoutWins)
				}
			default:
				t.Fatalf("batch %d job %d: %v, want success or ECONFLICT", n, i, errs[i])
			}
			if got.Status == justpay.JobDelivered {
				// The delivery won; finish the job so that the next batch starts clean.
				if _, err := env.Store.AcceptDelivery(ctx, client.ID, j.ID); err != nil {
					t.Fatal(err)
				}
				got.Status = justpay.JobCompleted
			}
			switch got.Status {
			case justpay.JobCompleted:
				batchCompleted++
			case justpay.JobCancelled:
				batchRefunded++
			case justpay.JobExpired:
				batchRefunded++
				expired++
			}
			ids = append(ids, "'"+justpay.EscrowAccount("job", j.ID)+"'")
		}
		if userWon+applied[0]+applied[1] != k {
			t.Fatalf("batch %d: the user won %d, the schedulers applied %d and %d timeouts; want %d in all",
				n, userWon, applied[0], applied[1], k)
		}
		if race.deadlineRule && !earlier && userWon != 0 {
			t.Fatalf("batch %d: the user won %d at the deadline, where the timeout always wins", n, userWon)
		}
		mode := 0
		if earlier {
			mode = 1
		}
		wins[mode][0] += userWon
		wins[mode][1] += k - userWon

		completed, refunded = completed+batchCompleted, refunded+batchRefunded
		// Money moved once per job: the amount to the provider for each completed job, the whole
		// cost back to the client for each refunded one, and every escrow closed at zero.
		if got := env.available(t, seller.ID); got != provider0+batchCompleted*jobPrice {
			t.Fatalf("batch %d: provider %d -> %d, want +%d for %d completed jobs", n, provider0, got, batchCompleted*jobPrice, batchCompleted)
		}
		if got := env.available(t, client.ID); got != client0+batchRefunded*jobCost {
			t.Fatalf("batch %d: client %d -> %d, want +%d for %d refunded jobs", n, client0, got, batchRefunded*jobCost, batchRefunded)
		}
		var settled int
		if err := env.raw.QueryRow(`SELECT COUNT(*) FROM ledger_balances WHERE closed AND balance = 0 AND account IN (` +
			strings.Join(ids, ", ") + `)`).Scan(&settled); err != nil {
			t.Fatal(err)
		}
		if settled != k {
			t.Fatalf("batch %d: %d of %d escrows closed at zero", n, settled, k)
		}
	}
	r := sqlstoretest.MustVerify(t, env.DB)
	if got, want := r.Totals[justpay.PlatformRevenue], 2*justpay.ActivationFee+completed*jobFee; got != want {
		t.Fatalf("revenue = %d, want %d (%d completed jobs)", got, want, completed)
	}
	if got, want := env.available(t, seller.ID), usdc+completed*jobPrice; got != want {
		t.Fatalf("provider available = %d, want %d", got, want)
	}
	if got, want := env.available(t, client.ID), int64(trials)*jobCost-(completed)*jobCost; got != want || completed+refunded != int64(trials) {
		t.Fatalf("client available = %d, want %d (%d completed, %d refunded)", got, want, completed, refunded)
	}
	if a := env.agent(t, seller.ID); a.CompletedJobs != completed || a.ExpiredJobs != expired {
		t.Fatalf("provider's completed and expired jobs = %d and %d, want %d and %d", a.CompletedJobs, a.ExpiredJobs, completed, expired)
	}
	return wins
}

// retryCounter is a log handler that counts the transactions the store had to retry (a
// PostgreSQL deadlock or serialization failure, SQLite busy) and keeps the first error. Job paths
// take their locks in one order, so none should ever be needed.
type retryCounter struct {
	n     atomic.Int64
	mu    sync.Mutex
	first string
}

func (h *retryCounter) Enabled(context.Context, slog.Level) bool { return true }

func (h *retryCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "retrying transaction" {
		return nil
	}
	if h.n.Add(1) == 1 {
		h.mu.Lock()
		r.Attrs(func(a slog.Attr) bool {
			h.first += a.String() + " "
			return true
		})
		h.mu.Unlock()
	}
	return nil
}

func (h *retryCounter) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *retryCounter) WithGroup(string) slog.Handler      { return h }

// mustNoRetries fails the test if the store retried a transaction.
func (h *retryCounter) mustNoRetries(t *testing.T) {
	t.Helper()
	if n := h.n.Load(); n > 0 {
		h.mu.Lock()
		defer h.mu.Unlock()
		t.Errorf("%d transactions were retried (lock-order cycle or busy database); the first: %s", n, h.first)
	}
}
