package sqlstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/justpay/justpay"
	"github.com/justpay/justpay/sqlstore"
	"github.com/justpay/justpay/sqlstore/sqlstoretest"
)

// The dispute fee on a 0.50 USDC job: 5% is 0.025, below the 0.10 minimum.
const disputeFee = 100_000

func TestDisputeFee(t *testing.T) {
	for _, tc := range []struct{ amount, want int64 }{
		{0, 100_000}, {500_000, 100_000}, {2_000_000, 100_000}, {2_000_010, 100_001}, {10_000_000, 500_000},
		{100_000_000, 5_000_000}, {100_000_020, 5_000_000}, {1_000_000_000, 5_000_000},
	} {
		if got := justpay.DisputeFee(tc.amount); got != tc.want {
			t.Errorf("DisputeFee(%d) = %d, want %d", tc.amount, got, tc.want)
		}
	}
}

// Each outcome, filed by either party, moves the escrow exactly as ARCHITECTURE.md's fee table
// says, to the micro-unit; the fee is never refunded; the counters follow.
func TestResolveDispute(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		env := newJobEnv(t, b)
		seller := env.mustAgent(t, "seller", 11*usdc)
		// An odd price, to see where the odd micro-unit of a split goes.
		svc := env.mustService(t, seller.ID, serviceFields(500_001))
		const price, fee = 500_001, 15_000
		for _, tc := range []struct {
			claimant, outcome    string
			toProvider, toClient int64
			revenue              int64 // besides the dispute fee
			respondentLost       bool
		}{
			{"client", justpay.OutcomeClaimant, 0, price + fee, 0, true},
			{"client", justpay.OutcomeRespondent, price, 0, fee, false},
			{"client", justpay.OutcomeSplit, 250_001, 250_000, fee, false},
			{"provider", justpay.OutcomeClaimant, price, 0, fee, true},
			{"provider", justpay.OutcomeRespondent, 0, price + fee, 0, false},
			{"provider", justpay.OutcomeSplit, 250_001, 250_000, fee, false},
		} {
			t.Run(tc.claimant+"_"+tc.outcome, func(t *testing.T) {
				// A client of its own: three disputes would restrict one client.
				client := env.mustAgent(t, "client-"+tc.claimant+"-"+tc.outcome, 11*usdc)
				j := env.mustDelivered(t, client.ID, svc)
				claimant, respondent := client, seller
				if tc.claimant == "provider" {
					claimant, respondent = seller, client
				}
				before := env.agent(t, respondent.ID)
				c0 := env.available(t, claimant.ID)
				d, err := env.Store.FileDispute(ctx, claimant.ID, j.ID, justpay.NewDispute{Reason: "quality", Description: "off-topic"})
				if err != nil || d.Fee != disputeFee || d.Status != justpay.DisputeOpen || d.RespondentID != respondent.ID {
					t.Fatalf("file = %+v, %v", d, err)
				}
				if got := env.available(t, claimant.ID); got != c0-disputeFee {
					t.Fatalf("claimant %d -> %d, want the fee %d taken", c0, got, disputeFee)
				}
				got := env.mustFind(t, client.ID, j.ID, justpay.JobDisputed)
				if got.ExpiresAt != nil || got.Dispute == nil || got.Dispute.ID != d.ID {
					t.Fatalf("disputed job: expires %v, dispute %+v", got.ExpiresAt, got.Dispute)
				}
				ev := env.mustEvent(t, respondent.ID, "job.disputed", j.ID)
				role := "provider"
				if respondent.ID == client.ID {
					role = "client"
				}
				// Shaped like every job event (status is the job's), plus the dispute.
				for k, want := range map[string]any{"status": justpay.JobDisputed, "role": role, "disputeId": d.ID,
					"disputeStatus": justpay.DisputeOpen, "reason": "quality", "claimantAgentId": claimant.ID, "respondentAgentId": respondent.ID} {
					if ev.Data[k] != want {
						t.Errorf("job.disputed %s = %v, want %v", k, ev.Data[k], want)
					}
				}
				// Nothing is due any more: the review's auto-accept no longer applies.
				env.Clock.Advance(time.Hour)
				env.mustDue(t, 0)
				p0, cl0, rev0 := env.available(t, seller.ID), env.available(t, client.ID), env.revenue(t)
				r, err := env.Store.ResolveDispute(ctx, d.ID, justpay.Resolution{Outcome: tc.outcome, Note: "reviewed"})
				if err != nil || r.Status != justpay.DisputeResolved || r.Outcome != tc.outcome || r.ResolvedAt == nil {
					t.Fatalf("resolve = %+v, %v", r, err)
				}
				if got := env.available(t, seller.ID) - p0; got != tc.toProvider {
					t.Errorf("provider got %d, want %d", got, tc.toProvider)
				}
				if got := env.available(t, client.ID) - cl0; got != tc.toClient {
					t.Errorf("client got %d, want %d", got, tc.toClient)
				}
				if got := env.revenue(t) - rev0; got != tc.revenue {
					t.Errorf("platform got %d, want %d", got, tc.revenue)
				}
				env.mustSettled(t, j, justpay.JobResolved)
				after := env.agent(t, respondent.ID)
				lost := int64(0)
				if tc.respondentLost {
					lost = 1
				}
				if after.DisputesDefended != before.DisputesDefended+1 || after.DisputesLost != before.DisputesLost+lost {
					t.Errorf("respondent counters %d/%d -> %d/%d", before.DisputesDefended, before.DisputesLost, after.DisputesDefended, after.DisputesLost)
				}
				env.wantErr(t, justpay.ECONFLICT, func() error {
					_, err := env.Store.ResolveDispute(ctx, d.ID, justpay.Resolution{Outcome: justpay.OutcomeSplit})
					return err
				}, seller.ID, client.ID)
				sqlstoretest.MustVerify(t, env.DB)
			})
		}
		disputes, total, err := env.Store.FindDisputes(ctx, justpay.DisputeResolved, justpay.Page{Page: 1, Limit: 20})
		if err != nil || total != 6 || len(disputes) != 6 {
			t.Fatalf("resolved disputes: %d of %d, %v", len(disputes), total, err)
		}
		audit, total, err := env.Store.FindAudit(ctx, justpay.Page{Page: 1, Limit: 20})
		if err != nil || total != 6 || audit[0].Action != "dispute.resolve" {
			t.Fatalf("audit: %d records, %v", total, err)
		}
	})
}

func TestFileDisputeRefused(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		env := newJobEnv(t, b)
		seller := env.mustAgent(t, "seller", 2*usdc)
		client := env.mustAgent(t, "client", 21*usdc)
		outsider := env.mustAgent(t, "outsider", 2*usdc)
		svc := env.mustService(t, seller.ID, serviceFields(jobPrice))
		file := func(agentID, jobID string, nd justpay.NewDispute) func() error {
			return func() error { _, err := env.Store.FileDispute(ctx, agentID, jobID, nd); return err }
		}
		quality := justpay.NewDispute{Reason: "quality"}
		running := env.mustJob(t, client.ID, directJob(svc.ID))
		delivered := env.mustDelivered(t, client.ID, svc)
		for _, tc := range []struct {
			name, code string
			op         func() error
		}{
			{"BadReason", justpay.EINVALID, file(client.ID, delivered.ID, justpay.NewDispute{Reason: "meh"})},
			{"LongDescription", justpay.EINVALID, file(client.ID, delivered.ID, justpay.NewDispute{Reason: "other", Description: string(make([]byte, 1001))})},
			{"NotAParty", justpay.ENOTFOUND, file(outsider.ID, delivered.ID, quality)},
			{"UnknownJob", justpay.ENOTFOUND, file(client.ID, justpay.NewID(env.Clock.Now()), quality)},
			{"NotDelivered", justpay.ECONFLICT, file(client.ID, running.ID, quality)},
		} {
			t.Run(tc.name, func(t *testing.T) { env.wantErr(t, tc.code, tc.op, client.ID, seller.ID, outsider.ID) })
		}
		t.Run("InsufficientFunds", func(t *testing.T) {
			// The seller spends all it has; it cannot pay the fee, and nothing changes.
			poor := env.mustAgent(t, "poor", usdc+jobCost)
			j := env.mustDelivered(t, poor.ID, svc)
			env.wantErr(t, justpay.EINSUFFICIENT, file(poor.ID, j.ID, quality), poor.ID, seller.ID)
			env.mustFind(t, poor.ID, j.ID, justpay.JobDelivered)
		})
		t.Run("Twice", func(t *testing.T) {
			if _, err := env.Store.FileDispute(ctx, client.ID, delivered.ID, quality); err != nil {
				t.Fatal(err)
			}
			env.wantErr(t, justpay.ECONFLICT, file(seller.ID, delivered.ID, quality), client.ID, seller.ID)
		})
		t.Run("ReviewWindowClosed", func(t *testing.T) {
			j := env.mustDelivered(t, client.ID, svc)
			env.Clock.Advance(j.ExpiresAt.Sub(env.Clock.Now()))
			env.wantErr(t, justpay.ECONFLICT, file(client.ID, j.ID, quality), client.ID, seller.ID)
			if _, err := env.Store.RunDueJobs(ctx); err != nil {
				t.Fatal(err)
			}
			env.mustFind(t, client.ID, j.ID, justpay.JobCompleted)
		})
		sqlstoretest.MustVerify(t, env.DB)
	})
}

// An agent that files 3 disputes at a 40% rate or more may not hire or dispute; completing jobs
// brings the rate down and lifts the restriction by itself.
func TestClientRestriction(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		env := newJobEnv(t, b)
		seller := env.mustAgent(t, "seller", 2*usdc)
		client := env.mustAgent(t, "client", 21*usdc)
		svc := env.mustService(t, seller.ID, serviceFields(jobPrice))
		env.mustCompleted(t, client.ID, svc)
		env.mustCompleted(t, client.ID, svc)
		for range 2 {
			j := env.mustDelivered(t, client.ID, svc)
			if _, err := env.Store.FileDispute(ctx, client.ID, j.ID, justpay.NewDispute{Reason: "quality"}); err != nil {
				t.Fatal(err)
			}
		}
		// 2 disputes of 4: 50%, but fewer than 3 disputes: still free. Three more jobs are
		// under way when the third dispute restricts the client.
		third := env.mustDelivered(t, client.ID, svc)
		pending := []*justpay.Job{env.mustDelivered(t, client.ID, svc), env.mustDelivered(t, client.ID, svc), env.mustDelivered(t, client.ID, svc)}
		if _, err := env.Store.FileDispute(ctx, client.ID, third.ID, justpay.NewDispute{Reason: "quality"}); err != nil {
			t.Fatal(err)
		}
		a := env.agent(t, client.ID)
		if !a.ClientRestricted() || a.DisputesFiled != 3 || a.ClientDisputeRate() != 0.6 {
			t.Fatalf("after 3 of 5: restricted %v, filed %d, rate %v", a.ClientRestricted(), a.DisputesFiled, a.ClientDisputeRate())
		}
		env.wantErr(t, justpay.EFORBIDDEN, func() error { _, err := env.Store.CreateJob(ctx, client.ID, directJob(svc.ID)); return err }, client.ID)
		env.wantErr(t, justpay.EFORBIDDEN, func() error { _, err := env.Store.CreateJob(ctx, client.ID, openJob(usdc)); return err }, client.ID)
		env.wantErr(t, justpay.EFORBIDDEN, func() error {
			_, err := env.Store.FileDispute(ctx, client.ID, pending[0].ID, justpay.NewDispute{Reason: "quality"})
			return err
		}, client.ID)
		// The jobs under way complete: 3 disputes of 8 is 37.5%, and the restriction lifts.
		for i, j := range pending {
			if _, err := env.Store.AcceptDelivery(ctx, client.ID, j.ID); err != nil {
				t.Fatal(err)
			}
			if restricted := env.agent(t, client.ID).ClientRestricted(); restricted != (i < 2) {
				t.Fatalf("after %d more completed jobs: restricted %v", i+1, restricted)
			}
		}
		env.mustJob(t, client.ID, directJob(svc.ID))
		sqlstoretest.MustVerify(t, env.DB)
	})
}

// The client disputes while the review window's auto-accept fires: exactly one wins, and money
// moves once (the fee only if the dispute won, the payment only if the auto-accept did). The
// client's store reads its clock a microsecond before the deadline, the scheduler's at it, so that
// both pass their checks and only the job's lock decides. (At the deadline itself the dispute is
// refused by rule: TestFileDisputeRefused.)
func TestDisputeVsAutoAccept(t *testing.T) {
	trials := 300
	if simRace() || testing.Short() {
		trials = 100
	}
	const batch = 10
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		clock := sqlstoretest.NewClock()
		cfg := sqlstoretest.Config(t, b, clock)
		db, err := sqlstore.Open(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		env := &jobEnv{Env: sqlstoretest.Wire(t, db, clock), raw: simOpenRaw(t, cfg)}
		// The client's store: the same database, its own clock.
		userClock := sqlstoretest.NewClock()
		userCfg := cfg
		userCfg.Clock = userClock
		userDB, err := sqlstore.Open(ctx, userCfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { userDB.Close() })
		user := sqlstoretest.Wire(t, userDB, userClock).Store
		seller := env.mustAgent(t, "seller", 2*usdc)
		svc := env.mustService(t, seller.ID, serviceFields(jobPrice, capacity(justpay.MaxMaxConcurrentJobs, false, 0)))
		disputed, completed := 0, 0
		for n := 0; n*batch < trials; n++ {
			// A client per trial: three won disputes would restrict a client.
			jobs := make([]*justpay.Job, batch)
			clients := make([]*justpay.Agent, batch)
			for i := range jobs {
				clients[i] = env.mustAgent(t, fmt.Sprintf("client%d-%d", n, i), usdc+jobCost+disputeFee)
				jobs[i] = env.mustDelivered(t, clients[i].ID, svc)
			}
			deadline := *jobs[0].ExpiresAt
			env.Clock.Advance(deadline.Sub(env.Clock.Now()))
			userClock.Advance(deadline.Add(-time.Microsecond).Sub(userClock.Now()))
			p0 := env.available(t, seller.ID)
			errs := make([]error, batch)
			var wg sync.WaitGroup
			gate := make(chan struct{})
			for i, j := range jobs {
				wg.Go(func() {
					<-gate
					_, errs[i] = user.FileDispute(ctx, j.ClientID, j.ID, justpay.NewDispute{Reason: "quality"})
				})
			}
			var applied int
			var schedErr error
			wg.Go(func() {
				<-gate
				applied, schedErr = env.Store.RunDueJobs(ctx)
			})
			close(gate)
			wg.Wait()
			if schedErr != nil {
				t.Fatal(schedErr)
			}
			won := 0
			for i, j := range jobs {
				got := env.job(t, j.ClientID, j.ID)
				left := env.available(t, j.ClientID)
				switch justpay.ErrorCode(errs[i]) {
				case "":
					won++
					if got.Status != justpay.JobDisputed || left != 0 {
						t.Fatalf("batch %d job %d: the dispute won but the job is %s and the client has %d left, want 0", n, i, got.Status, left)
					}
				case justpay.ECONFLICT:
					if got.Status != justpay.JobCompleted || left != disputeFee {
						t.Fatalf("batch %d job %d: the dispute lost but the job is %s and the client has %d left, want %d", n, i, got.Status, left, disputeFee)
					}
				default:
					t.Fatalf("batch %d job %d: %v", n, i, errs[i])
				}
			}
			if won+applied != batch {
				t.Fatalf("batch %d: %d disputes and %d auto-accepts for %d jobs", n, won, applied, batch)
			}
			if got := env.available(t, seller.ID); got != p0+int64(applied)*jobPrice {
				t.Fatalf("batch %d: provider %d -> %d, want +%d", n, p0, got, int64(applied)*jobPrice)
			}
			disputed, completed = disputed+won, completed+applied
		}
		t.Logf("%d trials: %d disputes won, %d auto-accepts won", trials, disputed, completed)
		sqlstoretest.MustVerify(t, env.DB)
	})
}
